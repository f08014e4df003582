//! Connection limits: idle and slowloris connections are closed by the timeouts, connections over
//! the cap are closed at once, oversized requests are answered at once, and with a small
//! open-file limit the daemon still delivers every acknowledged trace to a `file` exporter,
//! while well-behaved clients and `/healthz` keep working throughout.

use crate::support;

use bytes::Bytes;
use futures::future::join_all;
use prost::Message;
use std::time::{Duration, Instant};
use support::proc::Proc;
use support::*;
use tailsift::fixtures::{request, span};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;

/// Receivers with short timeouts (and `extra` keys) for these tests.
fn receivers(extra: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    grpc: {{ endpoint: "127.0.0.1:0", header_read_timeout: 1s, idle_timeout: 2s, body_read_timeout: 1s{extra} }}
    http: {{ endpoint: "127.0.0.1:0", header_read_timeout: 1s, idle_timeout: 2s, body_read_timeout: 1s{extra} }}
"#
    )
}

const BODY: &str = r#"
sampling:
  decision_wait: 200ms
  root_wait: 50ms
  tick: 10ms
  rules:
    - name: all
      keep: true
exporters:
  out: { protocol: file, path: /dev/null }
"#;

/// Waits (bounded) until the server closes `s`: true if it did within `within`.
async fn closed_within(mut s: TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an error response before closing
        }
    }
}

/// A good client's request over HTTP (fresh connection) and a `/healthz`, both answered.
async fn good_client_works(d: &Daemon, n: u128) {
    let req = request("good", [span(id128(0x70, n), 1).name("GET /")]);
    let t = Instant::now();
    let r = post_traces(
        d.http,
        &[("content-type", "application/x-protobuf")],
        req.encode_to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(http_get(d.metrics, "/healthz").await.status, 200);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_connections_are_closed_while_good_clients_work() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let started = Instant::now();
    let d = Daemon::start(&format!("{}{BODY}", receivers(""))).await;
    // 2,000 connections that never send anything (HTTP and gRPC).
    let mut idle = Vec::new();
    for i in 0..2000 {
        let addr = if i % 4 == 0 { d.grpc } else { d.http };
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // 300 slowloris clients: one byte of a request head every 300ms.
    let head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n";
    let slow: Vec<_> = (0..300)
        .map(|_| {
            let addr = d.http;
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let t = Instant::now();
                for b in head.iter() {
                    if s.write_all(&[*b]).await.is_err() {
                        return t.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                panic!("a slowloris client sent its whole head");
            })
        })
        .collect();
    for n in 0..5 {
        good_client_works(&d, n).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = join_all(
        idle.into_iter()
            .map(|s| closed_within(s, Duration::from_secs(3))),
    )
    .await;
    assert!(closed.iter().all(|c| *c), "every idle connection is closed");
    for s in slow {
        let lived = s.await.unwrap();
        assert!(
            lived < Duration::from_secs(3),
            "a slowloris client was cut after {lived:?}"
        );
    }
    good_client_works(&d, 9).await;
    let m = d.scrape().await;
    let timed_out = |reason| {
        m.sum(
            "tailsift_receiver_connections_timed_out_total",
            &[("reason", reason)],
        )
    };
    assert!(
        timed_out("header_read_timeout") >= 2300.0,
        "{}",
        timed_out("header_read_timeout")
    );
    d.stop().await;
    println!("idle + slowloris test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let d = Daemon::start(&format!("{}{BODY}", receivers(""))).await;
    let mut s = TcpStream::connect(d.http).await.unwrap();
    s.write_all(b"GET /v1/traces HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 405"));
    // Past the header timeout (1s) the idle keep-alive connection is still open...
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut probe = [0u8; 1];
    assert!(
        matches!(s.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "still open after 1.5s"
    );
    // ...and closed by the idle timeout (2s).
    assert!(closed_within(s, Duration::from_secs(2)).await);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_once_and_counted() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let d = Daemon::start(&format!("{}{BODY}", receivers(", max_connections: 20"))).await;
    let before = d.scrape().await.sum(
        "tailsift_receiver_connections_refused_total",
        &[("protocol", "http"), ("reason", "max_connections")],
    );
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(d.http).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let over: Vec<_> = join_all((0..20).map(|_| TcpStream::connect(d.http)))
        .await
        .into_iter()
        .map(|s| s.unwrap())
        .collect();
    let closed = join_all(
        over.into_iter()
            .map(|s| closed_within(s, Duration::from_millis(500))),
    )
    .await;
    assert!(closed.iter().all(|c| *c), "over the cap: closed at once");
    // The metrics endpoint has its own budget.
    assert_eq!(http_get(d.metrics, "/healthz").await.status, 200);
    let m = d.scrape().await;
    let refused = m.sum(
        "tailsift_receiver_connections_refused_total",
        &[("protocol", "http"), ("reason", "max_connections")],
    );
    assert!(refused - before >= 20.0, "{refused}");
    // (The gauge is process-wide: other tests' daemons may hold connections too.)
    assert!(m.sum("tailsift_receiver_connections", &[("protocol", "http")]) >= 20.0);
    // Once the idle ones time out, slots are free again.
    let closed = join_all(
        held.into_iter()
            .map(|s| closed_within(s, Duration::from_secs(3))),
    )
    .await;
    assert!(closed.iter().all(|c| *c));
    good_client_works(&d, 1).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_stalled_bodies_are_answered_at_once_or_by_the_body_timeout() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let d = Daemon::start(&format!("{}{BODY}", receivers(", max_request_bytes: 1MiB"))).await;
    // Content-Length of 2^31 with a 3-byte body: 413 at once, without waiting for the body.
    let mut s = TcpStream::connect(d.http).await.unwrap();
    s.write_all(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 2147483648\r\n\r\nabc",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf))
        .await
        .expect("answered at once")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(t.elapsed() < Duration::from_millis(500));

    // A body that stalls: 408 once body_read_timeout (1s) passes.
    let mut s = TcpStream::connect(d.http).await.unwrap();
    s.write_all(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\nabc",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("answered by the body timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // gRPC: a message over the limit, and a gzip bomb, are INVALID_ARGUMENT (not retried),
    // counted as too_large.
    let before = d.scrape().await.sum(
        "tailsift_receiver_requests_total",
        &[("protocol", "grpc"), ("outcome", "too_large")],
    );
    let err = export_grpc_raw(d.grpc, Bytes::from(vec![0u8; 2 << 20]), false)
        .await
        .expect_err("too large");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = export_grpc_raw(d.grpc, Bytes::from(vec![0u8; 8 << 20]), true)
        .await
        .expect_err("a gzip bomb");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.details().is_empty(), "no RetryInfo");
    let m = d.scrape().await;
    let after = m.sum(
        "tailsift_receiver_requests_total",
        &[("protocol", "grpc"), ("outcome", "too_large")],
    );
    assert_eq!(after - before, 2.0);
    assert_eq!(m.sum("tailsift_receiver_inflight_bytes", &[]), 0.0);
    good_client_works(&d, 2).await;
    d.stop().await;
}

/// With 160 open files at most (soft and hard), idle floods on both receivers leave room for the
/// `file` exporter and `/healthz`: every acknowledged trace is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_few_file_descriptors_every_acked_trace_reaches_the_file_exporter() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let body = "sampling:\n  decision_wait: 200ms\n  root_wait: 50ms\n  tick: 10ms\n  rules:\n    - name: all\n      keep: true\nexporters:\n  out: { protocol: file, path: kept.jsonl, batch: { timeout: 10ms } }\n";
    let mut p = Proc::spawn(
        dir.path(),
        "header_read_timeout: 1s, idle_timeout: 2s",
        body,
        Some(160),
    )
    .await;
    // The good client connects first and keeps its HTTP/2 connection busy.
    let mut client = grpc_client(p.grpc).await;
    let flood: Vec<_> = [p.http, p.grpc]
        .into_iter()
        .map(|addr| {
            tokio::spawn(async move {
                let mut open = Vec::new();
                for _ in 0..600 {
                    if let Ok(s) = TcpStream::connect(addr).await {
                        open.push(s);
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                open.len()
            })
        })
        .collect();
    let mut acked = Vec::new();
    for i in 0..100u128 {
        let trace = id128(0x71, i);
        let req = request(
            "good",
            [span(trace, 1).name("GET /"), span(trace, 2).parent(1)],
        );
        match client.export(req).await {
            Ok(_) => acked.push(trace),
            Err(s) => assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}"),
        }
        if i % 20 == 0 {
            let r = http_request(
                http::Method::GET,
                &format!("http://{}/healthz", p.metrics),
                &[],
                Bytes::new(),
            )
            .await
            .expect("/healthz reachable during the flood");
            assert_eq!(r.status, 200);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for f in flood {
        assert!(f.await.unwrap() > 0);
    }
    assert!(
        acked.len() >= 90,
        "the good client is served: {}",
        acked.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.terminate(Duration::from_secs(10)).await;
    let text = std::fs::read_to_string(dir.path().join("kept.jsonl")).unwrap();
    let mut written = std::collections::BTreeSet::new();
    for line in text.lines() {
        let r: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
            serde_json::from_str(line).unwrap();
        for s in support::sink::spans_of(&r) {
            written.insert(trace_of(&s));
        }
    }
    for t in &acked {
        assert!(written.contains(t), "acked trace {t:x} was written");
    }
    assert!(!p.log().contains("not_retryable"), "{}", p.log());
    println!(
        "EMFILE test: {} acked traces all written; took {:?}",
        acked.len(),
        started.elapsed()
    );
}
