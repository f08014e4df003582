//! Receivers' TLS: the rustls server config built from `tls:` (mTLS when `client_ca_file` is
//! set), kept current by [`Reloading`], and the handshake that receivers run per connection.

use super::material::{self, File};
use super::{provider, versions, Reloading, TlsError};
use crate::config::TlsConfig;
use crate::receiver::handshake::{Handshake, HandshakeFuture};
use rustls::server::{ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::sync::Arc;
use tokio::net::TcpStream;

/// The files a receiver's `tls:` reads, in the order [`build`] expects them.
fn files(cfg: &TlsConfig, key: &str) -> Result<Vec<File>, TlsError> {
    let need = |name: &str, v: &Option<std::path::PathBuf>| {
        v.as_deref()
            .map(|p| File::new(key, name, p))
            .ok_or_else(|| {
                TlsError::new(
                    format!("{key}.{name}"),
                    "missing: a receiver's TLS needs `cert_file` and `key_file`",
                )
            })
    };
    let mut f = vec![
        need("cert_file", &cfg.cert_file)?,
        need("key_file", &cfg.key_file)?,
    ];
    if let Some(ca) = &cfg.client_ca_file {
        f.push(File::new(key, "client_ca_file", ca));
    }
    Ok(f)
}

/// The server config for these file contents.
fn build(
    cfg: &TlsConfig,
    key: &str,
    files: &[File],
    contents: &[Vec<u8>],
    alpn: &[&[u8]],
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let certified = material::certified_key(
        (&files[0], &contents[0]),
        (&files[1], &contents[1]),
        &provider,
    )?;
    let versions = versions(cfg.min_version.as_deref())
        .map_err(|m| TlsError::new(format!("{key}.min_version"), m))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::new(format!("{key}.min_version"), e.to_string()))?;
    let builder = match (files.get(2), contents.get(2)) {
        (Some(f), Some(pem)) => {
            let roots = material::roots(f, pem)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsError::new(&f.key, format!("`{}`: {e}", f.path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(Fixed(certified)));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Reads the files once and builds the server config (what `validate` checks).
pub fn server_config(cfg: &TlsConfig, key: &str, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
    let files = files(cfg, key)?;
    let contents = material::read(&files)?;
    build(cfg, key, &files, &contents, alpn)
}

/// A receiver's server config, reloaded when its files change.
pub type ServerTls = Arc<Reloading<ServerConfig>>;

/// Starts the reloading server config of the receiver whose `tls:` is at `key`
/// (e.g. `receivers.otlp.grpc.tls`). `alpn`: `h2` for gRPC, `http/1.1` for HTTP.
pub fn start(
    cfg: &TlsConfig,
    key: &str,
    alpn: &'static [&'static [u8]],
) -> Result<ServerTls, TlsError> {
    let files = files(cfg, key)?;
    let (c, k, f) = (cfg.clone(), key.to_string(), files.clone());
    Reloading::start(key, files, cfg.reload_interval.get(), move |contents| {
        let config = build(&c, &k, &f, contents, alpn)?;
        if let Ok(chain) = material::certs(&f[0], &contents[0]) {
            super::expiry::observe(&k, &chain[0]);
        }
        Ok(config)
    })
}

/// The TLS handshake of a receiver: each connection gets the certificate current at its start.
#[derive(Clone)]
pub struct TlsHandshake {
    pub(crate) tls: ServerTls,
}

impl TlsHandshake {
    pub fn new(tls: ServerTls) -> TlsHandshake {
        TlsHandshake { tls }
    }
}

impl Handshake for TlsHandshake {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    fn handshake(&self, tcp: TcpStream) -> HandshakeFuture<Self::Io> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.get());
        Box::pin(async move { acceptor.accept(tcp).await })
    }
}
