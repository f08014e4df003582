//! Validation of `tls:` and `auth:`: which keys each side takes, versions and intervals, then
//! the files themselves, read and parsed as the daemon will, so `validate` reports a missing
//! file, unreadable PEM or a key that does not match its certificate before a deploy.

use super::schema_tls::{AuthConfig, TlsConfig};
use super::validate::{dur, Errors};
use std::time::Duration;

/// Shortest accepted `reload_interval`.
const MIN_RELOAD: Duration = Duration::from_millis(100);

fn common(t: &TlsConfig, p: &str, errs: &mut Errors) {
    if let Err(m) = crate::tls::versions(t.min_version.as_deref()) {
        errs.push(format!("{p}.min_version"), m);
    }
    if t.reload_interval.get() < MIN_RELOAD {
        errs.push(
            format!("{p}.reload_interval"),
            format!("must be at least 100ms, got {}", dur(t.reload_interval)),
        );
    }
}

/// `receivers.otlp.<grpc|http>.tls` (`p`); `alpn` as the receiver serves it.
pub(super) fn check_receiver_tls(t: &TlsConfig, p: &str, alpn: &[&[u8]], errs: &mut Errors) {
    let before = errs.0.len();
    common(t, p, errs);
    for (name, set) in [
        ("cert_file", t.cert_file.is_some()),
        ("key_file", t.key_file.is_some()),
    ] {
        if !set {
            errs.push(
                format!("{p}.{name}"),
                "missing: a receiver's TLS needs `cert_file` and `key_file` (PEM)",
            );
        }
    }
    let exporter_only = |name: &str, errs: &mut Errors, why: &str| {
        errs.push(
            format!("{p}.{name}"),
            format!("is for exporters only: {why}"),
        );
    };
    if t.ca_file.is_some() {
        exporter_only(
            "ca_file",
            errs,
            "to require client certificates, set `client_ca_file`",
        );
    }
    if t.insecure_skip_verify {
        exporter_only(
            "insecure_skip_verify",
            errs,
            "a receiver verifies nothing unless `client_ca_file` is set",
        );
    }
    if t.server_name_override.is_some() {
        exporter_only(
            "server_name_override",
            errs,
            "a receiver presents `cert_file` to every client",
        );
    }
    if errs.0.len() == before {
        if let Err(e) = crate::tls::server_config(t, p, alpn) {
            errs.push(e.key, e.message);
        }
    }
}

/// `exporters.<name>.tls` (`p`) of an OTLP exporter whose endpoint is `https` or not.
pub(super) fn check_exporter_tls(
    t: Option<&TlsConfig>,
    https: bool,
    p: &str,
    alpn: &[&[u8]],
    errs: &mut Errors,
) {
    let before = errs.0.len();
    if let Some(t) = t {
        if !https {
            errs.push(
                p,
                "TLS settings need an `https://` endpoint (the endpoint is `http://`, plaintext)",
            );
            return;
        }
        common(t, p, errs);
        if t.client_ca_file.is_some() {
            errs.push(
                format!("{p}.client_ca_file"),
                "is for receivers only: to trust a private CA for the backend, set `ca_file`",
            );
        }
        if t.insecure_skip_verify && t.ca_file.is_some() {
            errs.push(
                format!("{p}.insecure_skip_verify"),
                "`ca_file` is not used when the certificate is not verified: remove one of them",
            );
        }
        if let Some(n) = &t.server_name_override {
            if rustls::pki_types::ServerName::try_from(n.as_str()).is_err() {
                errs.push(
                    format!("{p}.server_name_override"),
                    format!("`{n}` is not a valid DNS name or IP address"),
                );
            }
        }
    }
    if https && errs.0.len() == before {
        if let Err(e) = crate::tls::client_config(t, p, alpn) {
            errs.push(e.key, e.message);
        }
    }
}

/// `auth:` at `p` (a receiver's or `telemetry.metrics.auth`).
pub(super) fn check_auth(a: &AuthConfig, p: &str, errs: &mut Errors) {
    if a.reload_interval.get() < MIN_RELOAD {
        errs.push(
            format!("{p}.reload_interval"),
            format!("must be at least 100ms, got {}", dur(a.reload_interval)),
        );
    }
    if let Err(e) = crate::receiver::auth::load(a, p) {
        errs.push(e.key, e.message);
    }
}
