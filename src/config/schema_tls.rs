//! Schema of `tls:` (receivers and exporters, with the OpenTelemetry Collector's key names) and
//! `auth:` (bearer tokens on receivers and `/metrics`).

use super::units::{secs, Dur};
use serde::Deserialize;
use std::path::PathBuf;

/// `tls:` on a receiver (`receivers.otlp.grpc.tls`, `receivers.otlp.http.tls`) or an exporter
/// (`exporters.<name>.tls`). The key names are the OpenTelemetry Collector's. Files are PEM;
/// they are read at start (a missing or broken file is an error naming its key) and checked
/// again every `reload_interval`: when one changed, new connections use the new certificate
/// without a restart, and a broken new file keeps the previous one (logged as an error).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (leaf first). Required on a receiver; on an exporter, the client
    /// certificate presented to the backend (mTLS), given together with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Private key of `cert_file` (PKCS#8, PKCS#1 or SEC1). Must match the certificate.
    pub key_file: Option<PathBuf>,
    /// Exporters only: CA certificates that the backend's certificate must chain to (a private
    /// CA). Not set: the operating system's trusted roots.
    pub ca_file: Option<PathBuf>,
    /// Receivers only: require a client certificate chaining to these CA certificates (mTLS);
    /// a client without a valid certificate is refused during the handshake.
    pub client_ca_file: Option<PathBuf>,
    /// Exporters only: do not verify the backend's certificate (default false). For tests
    /// against self-signed backends; the connection is encrypted but not authenticated.
    pub insecure_skip_verify: bool,
    /// Lowest TLS version accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default, deserialize_with = "version")]
    pub min_version: Option<String>,
    /// Exporters only: the name the backend's certificate is checked against (and sent as
    /// SNI), instead of the endpoint's host.
    pub server_name_override: Option<String>,
    /// How often the files are checked for changes (default `1m`, at least `100ms`).
    pub reload_interval: Dur,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            ca_file: None,
            client_ca_file: None,
            insecure_skip_verify: false,
            min_version: None,
            server_name_override: None,
            reload_interval: Dur::secs(60),
        }
    }
}

/// `"1.2"` or `1.2`: YAML reads an unquoted version as a number.
fn version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        F(f64),
    }
    Ok(Option::<V>::deserialize(d)?.map(|v| match v {
        V::S(s) => s,
        V::F(f) => format!("{f:.1}"),
    }))
}

/// `auth:` on a receiver (`receivers.otlp.grpc.auth`, `receivers.otlp.http.auth`) or on the
/// metrics endpoint (`telemetry.metrics.auth`): every request must carry
/// `Authorization: Bearer <token>` with one of the file's tokens. Refused requests are answered
/// before their body is read: gRPC `UNAUTHENTICATED`, HTTP 401 with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// File of accepted tokens, one per line (surrounding spaces, empty lines and lines
    /// starting with `#` are ignored). Must hold at least one token. Checked for changes every
    /// `reload_interval`: tokens added or removed apply to the next request; a file that
    /// becomes unreadable or empty keeps the previous tokens (logged as an error).
    pub bearer_token_file: PathBuf,
    /// How often the file is checked for changes (default `5s`, at least `100ms`).
    #[serde(default = "secs::<5>")]
    pub reload_interval: Dur,
}
