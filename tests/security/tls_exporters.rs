//! Exporters over TLS against in-process sinks with generated certificates: a private CA, mTLS
//! to the backend, and the failures an operator must be able to tell apart (wrong CA, expired
//! certificate, missing client certificate), each with rustls's reason in the failure log.

use crate::exporter_support;
use crate::support;

use exporter_support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::certs::{self, Ca, Leaf};
use tailsift::exporter::ShutdownReport;

const H2: &[&[u8]] = &[b"h2"];
const H1: &[&[u8]] = &[b"http/1.1"];

fn exporter(protocol: &str, endpoint: &str, tls: Value) -> Value {
    json!({
        "protocol": protocol,
        "endpoint": endpoint,
        "tls": tls,
        "timeout": "2s",
        "batch": { "max_spans": 1000, "timeout": "20ms" },
        "retry": { "initial_interval": "20ms", "max_interval": "50ms", "max_elapsed": "300ms" },
    })
}

/// Both sinks serving `server` (requiring a client certificate of `client_ca` when given).
async fn sinks(server: &Leaf, client_ca: Option<&str>) -> (GrpcSink, String, HttpSink, String) {
    let g = GrpcSink::default();
    let ge = g
        .serve_tls(certs::server_config(server, client_ca, H2))
        .await;
    let h = HttpSink::default();
    let he = h
        .serve_tls(certs::server_config(server, client_ca, H1))
        .await;
    (g, ge, h, he)
}

async fn send_one(exporters: Vec<(&str, Value)>) -> ShutdownReport {
    let e = start(exporters);
    e.send(item(7, 3));
    e.shutdown(Duration::from_secs(5)).await
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn otlp_grpc_and_http_deliver_over_tls_to_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("private CA");
    let ca_file = certs::write(dir.path(), "ca.pem", &ca.pem);
    let (g, ge, h, he) = sinks(&ca.server(1), None).await;
    let tls = json!({ "ca_file": path(&ca_file), "min_version": "1.3" });
    let report = send_one(vec![
        ("grpc", exporter("otlp_grpc", &ge, tls.clone())),
        ("http", exporter("otlp_http", &he, tls)),
    ])
    .await;
    assert_eq!(
        (report.sent_spans, report.failed_spans),
        (6, 0),
        "{report:?}"
    );
    assert_eq!(g.spans().len(), 3);
    assert_eq!(h.spans().len(), 3);
}

#[tokio::test]
async fn mtls_to_the_backend_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let client = clients.client(2);
    let tls = json!({
        "ca_file": path(&certs::write(dir.path(), "ca.pem", &ca.pem)),
        "cert_file": path(&certs::write(dir.path(), "client.pem", &client.cert_pem)),
        "key_file": path(&certs::write(dir.path(), "client.key", &client.key_pem)),
    });
    let (g, ge, h, he) = sinks(&ca.server(1), Some(&clients.pem)).await;
    let report = send_one(vec![
        ("grpc", exporter("otlp_grpc", &ge, tls.clone())),
        ("http", exporter("otlp_http", &he, tls)),
    ])
    .await;
    assert_eq!(
        (report.sent_spans, report.failed_spans),
        (6, 0),
        "{report:?}"
    );
    assert_eq!((g.spans().len(), h.spans().len()), (3, 3));
}

/// Sends one item to both sinks with `tls`; every span fails and the failure log names `why`.
async fn fails_with(server: &Leaf, client_ca: Option<&str>, tls: Value, why: &[&str]) {
    let (g, ge, h, he) = sinks(server, client_ca).await;
    for (name, protocol, endpoint) in [("grpc", "otlp_grpc", &ge), ("http", "otlp_http", &he)] {
        let (logs, guard) = support::logs::capture();
        let report = send_one(vec![(name, exporter(protocol, endpoint, tls.clone()))]).await;
        drop(guard);
        assert_eq!(
            (report.sent_spans, report.failed_spans),
            (0, 3),
            "{name}: {report:?}"
        );
        let text = logs.text();
        let failure = text
            .lines()
            .find(|l| l.contains("export batch failed"))
            .unwrap_or_else(|| panic!("{name}: no failure logged:\n{text}"));
        for w in why {
            assert!(
                failure.contains(w),
                "{name}: `{w}` not in the failure log:\n{failure}"
            );
        }
        assert!(
            failure.contains("reason=\"retries_exhausted\"")
                || failure.contains("reason=retries_exhausted"),
            "{failure}"
        );
    }
    assert_eq!(
        (g.spans().len(), h.spans().len()),
        (0, 0),
        "nothing delivered"
    );
}

#[tokio::test]
async fn a_wrong_ca_fails_with_unknown_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let other = Ca::new("some other CA");
    let tls = json!({ "ca_file": path(&certs::write(dir.path(), "other.pem", &other.pem)) });
    let ca = Ca::new("server CA");
    fails_with(
        &ca.server(1),
        None,
        tls,
        &[
            "TLS handshake with 127.0.0.1:",
            "invalid peer certificate",
            "UnknownIssuer",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_expired_backend_certificate_fails_with_expired() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let tls = json!({ "ca_file": path(&certs::write(dir.path(), "ca.pem", &ca.pem)) });
    fails_with(
        &ca.expired_server(1),
        None,
        tls,
        &["invalid peer certificate", "expired"],
    )
    .await;
}

#[tokio::test]
async fn a_missing_client_certificate_fails_with_the_backends_alert() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let tls = json!({ "ca_file": path(&certs::write(dir.path(), "ca.pem", &ca.pem)) });
    fails_with(
        &ca.server(1),
        Some(&clients.pem),
        tls,
        &["CertificateRequired"],
    )
    .await;
}

#[tokio::test]
async fn insecure_skip_verify_delivers_to_an_untrusted_backend() {
    let ca = Ca::new("untrusted CA");
    let (g, ge, _h, _he) = sinks(&ca.expired_server(1), None).await;
    let report = send_one(vec![(
        "grpc",
        exporter("otlp_grpc", &ge, json!({ "insecure_skip_verify": true })),
    )])
    .await;
    assert_eq!(
        (report.sent_spans, report.failed_spans),
        (3, 0),
        "{report:?}"
    );
    assert_eq!(g.spans().len(), 3);
}

#[tokio::test]
async fn server_name_override_is_what_the_certificate_is_checked_against() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let ca_file = path(&certs::write(dir.path(), "ca.pem", &ca.pem));
    // The certificate names localhost and 127.0.0.1, not tempo.example.
    let (_g, ge, ..) = sinks(&ca.server(1), None).await;
    let wrong = json!({ "ca_file": ca_file, "server_name_override": "tempo.example" });
    let (logs, guard) = support::logs::capture();
    let report = send_one(vec![("grpc", exporter("otlp_grpc", &ge, wrong))]).await;
    drop(guard);
    assert_eq!(report.failed_spans, 3, "{report:?}");
    assert!(
        logs.text()
            .contains("certificate not valid for name \\\"tempo.example\\\""),
        "{}",
        logs.text()
    );
    let right = json!({ "ca_file": ca_file, "server_name_override": "localhost" });
    let report = send_one(vec![("grpc", exporter("otlp_grpc", &ge, right))]).await;
    assert_eq!(
        (report.sent_spans, report.failed_spans),
        (3, 0),
        "{report:?}"
    );
}
