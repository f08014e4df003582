//! Certificates generated for a test (rcgen): CAs, server and client certificates signed by
//! them, expired ones, written as PEM files in a temporary directory; and rustls configs for
//! test clients and sinks built straight from them.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate authority.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, as PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    pub fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).unwrap()
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // What strict verifiers (OpenSSL 3 with X509_STRICT, as Python 3.13 uses) insist on.
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1, with this serial number.
    pub fn server(&self, serial: u64) -> Leaf {
        self.leaf(serial, &["localhost", "127.0.0.1"], false, false)
    }

    /// A client certificate (for mTLS).
    pub fn client(&self, serial: u64) -> Leaf {
        self.leaf(serial, &[], true, false)
    }

    /// A server certificate that expired in 2021.
    pub fn expired_server(&self, serial: u64) -> Leaf {
        self.leaf(serial, &["localhost", "127.0.0.1"], false, true)
    }

    fn leaf(&self, serial: u64, names: &[&str], client: bool, expired: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("test leaf {serial}"));
        params.serial_number = Some(SerialNumber::from(serial));
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Writes `contents` to `dir/name` (replacing it) and returns the path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    // Write then rename, as Kubernetes and cert-manager do, so readers never see half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn roots(ca_pem: &str) -> Arc<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        store.add(c.unwrap()).unwrap();
    }
    Arc::new(store)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test client's config: trusts `ca_pem`, presents `client` when given, offers `alpn`.
pub fn client_config(ca_pem: &str, client: Option<&Leaf>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca_pem));
    let mut c = match client {
        Some(l) => b
            .with_client_auth_cert(
                vec![l.der()],
                PrivateKeyDer::from_pem_slice(l.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    c
}

/// A test sink's config: presents `server`; requires a client certificate from
/// `client_ca_pem` when given.
pub fn server_config(
    server: &Leaf,
    client_ca_pem: Option<&str>,
    alpn: &[&[u8]],
) -> rustls::ServerConfig {
    let b = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = match client_ca_pem {
        Some(ca) => b.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
                .build()
                .unwrap(),
        ),
        None => b.with_no_client_auth(),
    };
    let mut c = b
        .with_single_cert(
            vec![server.der()],
            PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    c
}
