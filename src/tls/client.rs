//! Exporters' TLS: the rustls client config built from `tls:` (private CA or the system's
//! roots, client certificate for mTLS, minimum version, or no verification at all when asked),
//! kept current by [`Reloading`].

use super::material::{self, File};
use super::{provider, versions, Reloading, TlsError};
use crate::config::TlsConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Where each file sits in the list [`files`] returns.
#[derive(Clone, Copy)]
struct Layout {
    identity: Option<(usize, usize)>,
    ca: Option<usize>,
}

fn files(cfg: &TlsConfig, key: &str) -> Result<(Vec<File>, Layout), TlsError> {
    let mut files = Vec::new();
    let identity = match (&cfg.cert_file, &cfg.key_file) {
        (Some(c), Some(k)) => {
            files.push(File::new(key, "cert_file", c));
            files.push(File::new(key, "key_file", k));
            Some((0, 1))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(TlsError::new(
                format!("{key}.key_file"),
                "missing: a client certificate (`cert_file`) needs its private key",
            ))
        }
        (None, Some(_)) => {
            return Err(TlsError::new(
                format!("{key}.cert_file"),
                "missing: a private key (`key_file`) needs its client certificate",
            ))
        }
    };
    let ca = cfg.ca_file.as_deref().map(|p| {
        files.push(File::new(key, "ca_file", p));
        files.len() - 1
    });
    Ok((files, Layout { identity, ca }))
}

fn build(
    cfg: &TlsConfig,
    key: &str,
    files: &[File],
    layout: Layout,
    contents: &[Vec<u8>],
    alpn: &[&[u8]],
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let versions = versions(cfg.min_version.as_deref())
        .map_err(|m| TlsError::new(format!("{key}.min_version"), m))?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::new(format!("{key}.min_version"), e.to_string()))?;
    let builder = if cfg.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider.clone())))
    } else {
        let roots = match layout.ca {
            Some(i) => material::roots(&files[i], &contents[i])?,
            None => material::system_roots().map_err(|m| TlsError::new(key, m))?,
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match layout.identity {
        Some((c, k)) => {
            let ck = material::certified_key(
                (&files[c], &contents[c]),
                (&files[k], &contents[k]),
                &provider,
            )?;
            let chain = ck.cert.clone();
            let der = material::key(&files[k], &contents[k])?;
            builder
                .with_client_auth_cert(chain, der)
                .map_err(|e| TlsError::new(&files[k].key, e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Reads the files once and builds the client config of an exporter whose `tls:` is at `key`
/// (no `tls:`: the system's roots, no client certificate).
pub fn client_config(
    cfg: Option<&TlsConfig>,
    key: &str,
    alpn: &[&[u8]],
) -> Result<ClientConfig, TlsError> {
    let cfg = cfg.cloned().unwrap_or_default();
    let (files, layout) = files(&cfg, key)?;
    let contents = material::read(&files)?;
    build(&cfg, key, &files, layout, &contents, alpn)
}

/// An exporter's client config, reloaded when its files change.
pub type ClientTls = Arc<Reloading<ClientConfig>>;

/// Starts the reloading client config of the exporter whose `tls:` is at `key`.
pub fn start(
    cfg: Option<&TlsConfig>,
    key: &str,
    alpn: &'static [&'static [u8]],
) -> Result<ClientTls, TlsError> {
    let cfg = cfg.cloned().unwrap_or_default();
    let (files, layout) = files(&cfg, key)?;
    if cfg.insecure_skip_verify {
        tracing::warn!(config = %key, "insecure_skip_verify: the backend's certificate is not verified; the connection is encrypted but anyone on the path can pose as the backend");
    }
    let (c, k, f) = (cfg.clone(), key.to_string(), files.clone());
    Reloading::start(key, files, cfg.reload_interval.get(), move |contents| {
        let config = build(&c, &k, &f, layout, contents, alpn)?;
        if let Some((cert, _)) = layout.identity {
            if let Ok(chain) = material::certs(&f[cert], &contents[cert]) {
                super::expiry::observe(&k, &chain[0]);
            }
        }
        Ok(config)
    })
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake's signatures are
/// still checked (the connection is encrypted, not authenticated).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
