//! The daemon's receivers over TLS, with certificates generated in the test: OTLP/gRPC and
//! OTLP/HTTP served over TLS, mTLS refusing clients without a valid certificate in the
//! handshake, and certificates rotated on disk picked up by new connections without a restart.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::certs::{self, Ca, Leaf};
use support::tls_client::{export_grpc_tls, http_request_tls, peer_leaf, tls_connect};
use support::{wait_for_async, Daemon, PATIENCE};
use tailsift::fixtures;

const H2: &[&[u8]] = &[b"h2"];
const H1: &[&[u8]] = &[b"http/1.1"];

struct Files {
    cert: PathBuf,
    key: PathBuf,
}

fn write_leaf(dir: &Path, leaf: &Leaf) -> Files {
    Files {
        cert: certs::write(dir, "server.pem", &leaf.cert_pem),
        key: certs::write(dir, "server.key", &leaf.key_pem),
    }
}

fn config(files: &Files, extra: &str) -> String {
    let tls = format!(
        "{{ cert_file: \"{}\", key_file: \"{}\", reload_interval: 100ms{extra} }}",
        files.cert.display(),
        files.key.display()
    );
    format!(
        "receivers:\n  otlp:\n    grpc: {{ endpoint: \"127.0.0.1:0\", tls: {tls} }}\n    \
         http: {{ endpoint: \"127.0.0.1:0\", tls: {tls} }}\n\
         exporters: {{ out: {{ protocol: file, path: /dev/null }} }}\n"
    )
}

fn request(n: u8) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    fixtures::request("tls-test", vec![fixtures::span(n as u128 + 1, 1)])
}

async fn post(d: &Daemon, c: &Arc<rustls::ClientConfig>) -> std::io::Result<u16> {
    use prost::Message;
    http_request_tls(
        d.http,
        c.clone(),
        http::Method::POST,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        request(2).encode_to_vec(),
    )
    .await
    .map(|r| r.status)
}

#[tokio::test]
async fn grpc_and_http_receivers_serve_tls_and_refuse_plaintext() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("receiver CA");
    let d = Daemon::start(&config(&write_leaf(dir.path(), &ca.server(1)), "")).await;
    let grpc = Arc::new(certs::client_config(&ca.pem, None, H2));
    let http = Arc::new(certs::client_config(&ca.pem, None, H1));
    export_grpc_tls(d.grpc, grpc, &request(1), None)
        .await
        .expect("gRPC over TLS");
    assert_eq!(post(&d, &http).await.unwrap(), 200, "HTTP over TLS");

    // A plaintext client gets no HTTP answer from a TLS port.
    let r = support::http_request(
        http::Method::GET,
        &format!("http://{}/v1/traces", d.http),
        &[],
        "",
    )
    .await;
    assert!(r.is_err(), "plaintext answered: {r:?}");
    let counted = wait_for_async(PATIENCE, || async {
        d.scrape().await.sum(
            "tailsift_receiver_tls_handshake_failures_total",
            &[("receiver", "http")],
        ) >= 1.0
    })
    .await;
    assert!(counted, "the failed handshake is counted");
    // rcgen's certificates are valid until 4096-01-01.
    let expiry = d.scrape().await.get(
        "tailsift_tls_certificate_expiry_timestamp_seconds",
        &[("config", "receivers.otlp.grpc.tls")],
    );
    assert_eq!(expiry, Some(67_090_118_400.0));
    d.stop().await;
}

#[tokio::test]
async fn mtls_receivers_refuse_clients_without_a_valid_certificate() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("receiver CA");
    let clients = Ca::new("client CA");
    let strangers = Ca::new("stranger CA");
    let client_ca = certs::write(dir.path(), "clients.pem", &clients.pem);
    let extra = format!(", client_ca_file: \"{}\"", client_ca.display());
    let d = Daemon::start(&config(&write_leaf(dir.path(), &ca.server(1)), &extra)).await;

    let good = clients.client(10);
    for alpn in [H2, H1] {
        let with_cert = Arc::new(certs::client_config(&ca.pem, Some(&good), alpn));
        let without = Arc::new(certs::client_config(&ca.pem, None, alpn));
        let wrong = Arc::new(certs::client_config(
            &ca.pem,
            Some(&strangers.client(11)),
            alpn,
        ));
        if alpn == H2 {
            export_grpc_tls(d.grpc, with_cert, &request(1), None)
                .await
                .expect("client certificate accepted");
            let e = export_grpc_tls(d.grpc, without, &request(1), None)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("CertificateRequired"), "{e}");
            let e = export_grpc_tls(d.grpc, wrong, &request(1), None)
                .await
                .unwrap_err();
            assert!(
                e.to_string().contains("UnknownCA") || e.to_string().contains("BadCertificate"),
                "{e}"
            );
        } else {
            assert_eq!(post(&d, &with_cert).await.unwrap(), 200);
            let e = post(&d, &without).await.unwrap_err();
            assert!(e.to_string().contains("CertificateRequired"), "{e}");
            assert!(post(&d, &wrong).await.is_err());
        }
    }
    let m = d.scrape().await;
    for receiver in ["grpc", "http"] {
        for reason in ["no_client_certificate", "bad_client_certificate"] {
            assert!(
                m.sum(
                    "tailsift_receiver_tls_handshake_failures_total",
                    &[("receiver", receiver), ("reason", reason)]
                ) >= 1.0,
                "{receiver}/{reason} counted"
            );
        }
    }
    d.stop().await;
}

#[tokio::test]
async fn rotated_certificates_reach_new_connections_without_a_restart() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("receiver CA");
    let (first, second) = (ca.server(1), ca.server(2));
    let files = write_leaf(dir.path(), &first);
    let d = Daemon::start(&config(&files, "")).await;
    let client = Arc::new(certs::client_config(&ca.pem, None, H1));
    let no_alpn = Arc::new(certs::client_config(&ca.pem, None, &[]));
    for addr in [d.grpc, d.http] {
        let s = tls_connect(addr, no_alpn.clone()).await.unwrap();
        assert_eq!(peer_leaf(&s), first.der());
    }

    write_leaf(dir.path(), &second);
    for addr in [d.grpc, d.http] {
        let rotated = wait_for_async(PATIENCE, || async {
            let s = tls_connect(addr, no_alpn.clone()).await.unwrap();
            peer_leaf(&s) == second.der()
        })
        .await;
        assert!(rotated, "{addr}: new connections get the new certificate");
    }
    assert_eq!(post(&d, &client).await.unwrap(), 200);

    // A broken rotation (a key that belongs to another certificate) keeps the last good one.
    certs::write(dir.path(), "server.key", &ca.server(3).key_pem);
    let failed = wait_for_async(PATIENCE, || async {
        d.scrape().await.sum(
            "tailsift_reloads_total",
            &[("config", "receivers.otlp.http.tls"), ("outcome", "failed")],
        ) >= 1.0
    })
    .await;
    assert!(failed, "the failed reload is counted");
    let s = tls_connect(d.http, client.clone()).await.unwrap();
    assert_eq!(
        peer_leaf(&s),
        second.der(),
        "still the last good certificate"
    );
    assert_eq!(post(&d, &client).await.unwrap(), 200);
    d.stop().await;
}

#[tokio::test]
async fn a_client_stalled_in_its_handshake_holds_up_no_one() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("receiver CA");
    let d = Daemon::start(&config(&write_leaf(dir.path(), &ca.server(1)), "")).await;
    // Connections that never send a ClientHello, on both receivers.
    let mut stalled = Vec::new();
    for addr in [d.grpc, d.http] {
        for _ in 0..20 {
            stalled.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
    }
    let grpc = Arc::new(certs::client_config(&ca.pem, None, H2));
    let http = Arc::new(certs::client_config(&ca.pem, None, H1));
    let served = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        export_grpc_tls(d.grpc, grpc, &request(3), None)
            .await
            .expect("gRPC");
        post(&d, &http).await.expect("HTTP")
    })
    .await
    .expect("served at once, while 40 handshakes are pending");
    assert_eq!(served, 200);
    drop(stalled);
    d.stop().await;
}
