//! TLS with rustls (ring provider): server configs for receivers (with mTLS), client configs for
//! exporters, certificates reloaded when their files change, the receivers' TLS handshake and
//! the exporters' connector. Errors name the config key and the file.

mod client;
pub mod connect;
mod expiry;
pub mod listen;
pub mod material;
mod reload;
mod server;

pub use client::{client_config, start as start_client, ClientTls};
pub use connect::Connector;
pub use material::File;
pub use reload::Reloading;
pub use server::{server_config, start as start_server, ServerTls, TlsHandshake};

/// ALPN of the OTLP/gRPC receiver and exporter.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of the OTLP/HTTP receiver and exporter (HTTP/1.1 only).
pub const ALPN_HTTP: &[&[u8]] = &[b"http/1.1"];

use std::sync::Arc;

/// A problem with TLS settings or files, with the key path it concerns (e.g.
/// `receivers.otlp.grpc.tls.key_file`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsError {
    pub key: String,
    pub message: String,
}

impl TlsError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> TlsError {
        TlsError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The one crypto provider used everywhere (ring: no C toolchain beyond cc needed).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions allowed by `min_version` (`None`: 1.2 and 1.3).
pub fn versions(
    min_version: Option<&str>,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion], String> {
    static BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY_13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    match min_version.map(str::trim) {
        None | Some("1.2") => Ok(BOTH),
        Some("1.3") => Ok(ONLY_13),
        Some(v @ ("1.0" | "1.1")) => Err(format!(
            "TLS {v} is not supported (it is deprecated by RFC 8996): use \"1.2\" or \"1.3\""
        )),
        Some(other) => Err(format!(
            "`{other}` is not a TLS version: use \"1.2\" or \"1.3\" (quoted, so YAML keeps it a string)"
        )),
    }
}
