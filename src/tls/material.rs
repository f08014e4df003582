//! Reading PEM files into rustls types, every error naming the config key and the file:
//! certificate chains, private keys (checked against their certificate), CA bundles and the
//! operating system's trusted roots.

use super::TlsError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A file a TLS setting reads, with the key path that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub key: String,
    pub path: PathBuf,
}

impl File {
    pub fn new(parent: &str, name: &str, path: &Path) -> File {
        File {
            key: format!("{parent}.{name}"),
            path: path.to_path_buf(),
        }
    }

    fn err(&self, message: impl std::fmt::Display) -> TlsError {
        TlsError::new(&self.key, format!("`{}`: {message}", self.path.display()))
    }
}

/// Reads every file, or names the first one that cannot be read.
pub fn read(files: &[File]) -> Result<Vec<Vec<u8>>, TlsError> {
    files
        .iter()
        .map(|f| std::fs::read(&f.path).map_err(|e| f.err(format!("cannot read the file: {e}"))))
        .collect()
}

fn pem_error(e: pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no PEM section found".into(),
        other => format!("not valid PEM: {other}"),
    }
}

/// The certificates of a PEM file (a chain, leaf first, or a CA bundle); at least one.
pub fn certs(f: &File, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| f.err(pem_error(e)))?;
    if certs.is_empty() {
        return Err(
            f.err("holds no certificate (expected a `-----BEGIN CERTIFICATE-----` section)")
        );
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn key(f: &File, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => f.err(
            "holds no private key (expected a `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` \
             or `EC PRIVATE KEY` section)",
        ),
        other => f.err(pem_error(other)),
    })
}

/// A certificate chain with its private key, checked to belong together.
pub fn certified_key(
    cert: (&File, &[u8]),
    key_file: (&File, &[u8]),
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certs(cert.0, cert.1)?;
    let der = key(key_file.0, key_file.1)?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| key_file.0.err(format!("unusable private key: {e}")))?;
    let ck = CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(ck))
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(key_file.0.err(format!(
                "this private key does not belong to the certificate in `{}` ({})",
                cert.0.path.display(),
                cert.0.key
            )))
        }
        Err(e) => Err(cert.0.err(format!("unusable certificate: {e}"))),
    }
}

/// A root store holding every certificate of a CA bundle.
pub fn roots(f: &File, pem: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for (i, c) in certs(f, pem)?.into_iter().enumerate() {
        store
            .add(c)
            .map_err(|e| f.err(format!("certificate #{} is not a usable CA: {e}", i + 1)))?;
    }
    Ok(Arc::new(store))
}

/// The operating system's trusted roots, read once per process.
pub fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Err(format!(
                    "no trusted CA certificates found in the operating system's store{why}: \
                     install the ca-certificates package, or set `ca_file`"
                ));
            }
            Ok(Arc::new(store))
        })
        .clone()
}
