//! Bearer-token auth on the receivers and `/metrics`: a missing or wrong token is refused before
//! the request body is sent (the answer comes while the client still holds the body back), the
//! right token is accepted, and a rewritten token file applies without a restart.

use crate::support;

use bytes::Bytes;
use futures::SinkExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;
use support::{http_request, wait_for_async, Daemon, PATIENCE};
use tailsift::fixtures;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tokens(dir: &Path, text: &str) -> String {
    support::certs::write(dir, "tokens", text)
        .display()
        .to_string()
}

fn config(tokens: &str) -> String {
    let auth = format!("auth: {{ bearer_token_file: \"{tokens}\", reload_interval: 100ms }}");
    format!(
        "receivers:\n  otlp:\n    grpc: {{ endpoint: \"127.0.0.1:0\", {auth} }}\n    \
         http: {{ endpoint: \"127.0.0.1:0\", {auth} }}\n\
         exporters: {{ out: {{ protocol: file, path: /dev/null }} }}\n"
    )
}

fn request() -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    fixtures::request("auth-test", vec![fixtures::span(7, 1)])
}

async fn grpc(d: &Daemon, token: Option<&str>) -> Result<(), tonic::Status> {
    let mut req = tonic::Request::new(request());
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    support::grpc_client(d.grpc)
        .await
        .export(req)
        .await
        .map(|_| ())
}

async fn http(d: &Daemon, token: Option<&str>) -> support::HttpResponse {
    use prost::Message;
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/x-protobuf")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    support::post_traces(d.http, &headers, request().encode_to_vec()).await
}

#[tokio::test]
async fn only_requests_with_a_listed_token_are_accepted_and_refusals_are_counted() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(&tokens(dir.path(), "# ingest\nalpha\nbeta\n"))).await;
    for t in ["alpha", "beta"] {
        grpc(&d, Some(t)).await.expect("right token");
        assert_eq!(http(&d, Some(t)).await.status, 200);
    }
    let refused = |m: support::Metrics, p: &str| {
        m.sum(
            "tailsift_receiver_requests_total",
            &[("protocol", p), ("outcome", "unauthenticated")],
        )
    };
    // Other tests in this process count too: compare before and after.
    let before = d.scrape().await;
    let before = (
        refused(before.clone(), "grpc"),
        refused(before, "http_protobuf"),
    );
    for t in [None, Some("gamma"), Some("alph")] {
        let e = grpc(&d, t).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
        let r = http(&d, t).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let m = d.scrape().await;
    let after = (refused(m.clone(), "grpc"), refused(m, "http_protobuf"));
    assert!(
        after.0 - before.0 >= 3.0 && after.1 - before.1 >= 3.0,
        "{before:?} -> {after:?}"
    );
    d.stop().await;
}

#[tokio::test]
async fn http_refusal_comes_before_the_body_is_sent() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(&tokens(dir.path(), "alpha\n"))).await;
    let mut tcp = tokio::net::TcpStream::connect(d.http).await.unwrap();
    // Headers announcing 1 MB, then nothing: the answer must not wait for the body.
    let head = "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
                authorization: Bearer wrong\r\ncontent-length: 1000000\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("answered within 2s, body unsent")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(answer.contains("www-authenticate: bearer"), "{answer}");
    d.stop().await;
}

#[tokio::test]
async fn grpc_refusal_comes_before_the_body_is_sent() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config(&tokens(dir.path(), "alpha\n"))).await;
    let tcp = tokio::net::TcpStream::connect(d.grpc).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    // The body stream stays open and empty: only the headers are sent.
    let (mut body_tx, body_rx) =
        futures::channel::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let req = http::Request::post(format!("http://{}{}", d.grpc, support::EXPORT_PATH))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", "Bearer wrong")
        .body(StreamBody::new(body_rx))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(2), sender.send_request(req))
        .await
        .expect("answered within 2s, body unsent")
        .unwrap();
    let status = resp
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        status.as_deref(),
        Some("16"),
        "UNAUTHENTICATED in the headers: {:?}",
        resp.headers()
    );
    let _ = body_tx.close().await;
    let _ = resp.into_body().collect().await;
    d.stop().await;
}

#[tokio::test]
async fn a_rewritten_token_file_applies_without_a_restart() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let file = tokens(dir.path(), "old\n");
    let d = Daemon::start(&config(&file)).await;
    grpc(&d, Some("old")).await.expect("old token");
    tokens(dir.path(), "new\n");
    let rotated = wait_for_async(PATIENCE, || async {
        grpc(&d, Some("new")).await.is_ok() && http(&d, Some("new")).await.status == 200
    })
    .await;
    assert!(rotated, "the new token is accepted");
    assert_eq!(
        grpc(&d, Some("old")).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(http(&d, Some("old")).await.status, 401);
    // An emptied file keeps the previous tokens (and says so in the logs and metrics).
    tokens(dir.path(), "\n");
    let failed = wait_for_async(PATIENCE, || async {
        d.scrape().await.sum(
            "tailsift_reloads_total",
            &[
                ("config", "receivers.otlp.grpc.auth"),
                ("outcome", "failed"),
            ],
        ) >= 1.0
    })
    .await;
    assert!(failed);
    grpc(&d, Some("new")).await.expect("previous tokens kept");
    d.stop().await;
}

#[tokio::test]
async fn metrics_needs_a_token_and_probes_stay_open() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let file = tokens(dir.path(), "scraper\n");
    let d = Daemon::start(&format!(
        "telemetry:\n  metrics: {{ endpoint: \"127.0.0.1:0\", auth: {{ bearer_token_file: \"{file}\" }} }}\n\
         exporters: {{ out: {{ protocol: file, path: /dev/null }} }}\n"
    ))
    .await;
    let get = |path: &str, token: Option<&str>| {
        let url = format!("http://{}{path}", d.metrics);
        let auth = token.map(|t| format!("Bearer {t}"));
        async move {
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            http_request(http::Method::GET, &url, &headers, "")
                .await
                .unwrap()
        }
    };
    let r = get("/metrics", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(get("/metrics", Some("nope")).await.status, 401);
    let r = get("/metrics", Some("scraper")).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("tailsift_"), "{}", r.text());
    assert_eq!(get("/healthz", None).await.status, 200);
    assert_eq!(get("/readyz", None).await.status, 200);
    d.stop().await;
}
