//! Without storage, a shutdown that had to drop accepted spans (not delivered by
//! `shutdown_timeout`) says how many and exits with status 3; one that delivered everything
//! exits 0.

use super::bin::{self, Ports};
use crate::support::*;
use std::time::Duration;
use tailsift::fixtures::span;

/// A backend that accepts connections and never answers; holds them until the test ends.
async fn silent_backend() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: the daemon opens a handful of connections at most.
        while held.len() < 64 {
            match l.accept().await {
                Ok((c, _)) => held.push(c),
                Err(_) => return,
            }
        }
    });
    (format!("http://{addr}"), task)
}

fn config(endpoint: &str) -> String {
    format!("shutdown_timeout: 1s\nexporters:\n  backend:\n    protocol: otlp_http\n    endpoint: \"{endpoint}\"\n    timeout: 30s\n    batch: {{ timeout: 20ms }}\nsampling:\n  decision_wait: 100ms\n  root_wait: 100ms\n  tick: 20ms\n  rules:\n    - {{ name: all, keep: true }}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_that_drops_accepted_spans_says_how_many_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let (endpoint, _backend) = silent_backend().await;
    let ports = Ports::free();
    let path = dir.path().join("tailsift.yaml");
    std::fs::write(&path, ports.config(&config(&endpoint))).unwrap();
    let mut p = bin::start(dir.path(), &ports, &path, &[], &[]).await;
    bin::send(&p, vec![span(1, 11), span(1, 12), span(2, 21)]).await;
    let decided = wait_for_async(Duration::from_secs(10), || async {
        bin::counter(&p, "tailsift_decided_spans_total", &[("verdict", "kept")]).await == 3.0
    })
    .await;
    assert!(decided, "{}", p.log());
    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(20)).await;
    let log = p.log();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(
        log.contains(
            "3 accepted spans were dropped: not delivered by shutdown_timeout (backend: 3)"
        ),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_that_delivered_everything_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::default();
    let endpoint = sink.serve().await;
    let ports = Ports::free();
    let path = dir.path().join("tailsift.yaml");
    std::fs::write(&path, ports.config(&config(&endpoint))).unwrap();
    let mut p = bin::start(dir.path(), &ports, &path, &[], &[]).await;
    bin::send(&p, vec![span(1, 11), span(2, 21)]).await;
    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", p.log());
    assert_eq!(sink.spans().len(), 2);
    assert!(!p.log().contains("were dropped"));
}
