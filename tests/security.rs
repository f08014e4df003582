//! TLS (receivers, exporters, configuration) and bearer-token authentication.
//!
//! One test binary per area (modules under `tests/security/`), so `support/` is compiled once per
//! area rather than once per file.

mod exporter_support;
mod support;

#[path = "security/auth.rs"]
mod auth;
#[path = "security/tls_config.rs"]
mod tls_config;
#[path = "security/tls_exporters.rs"]
mod tls_exporters;
#[path = "security/tls_receivers.rs"]
mod tls_receivers;
