//! The real binary: SIGTERM decides every buffered trace and flushes every exporter before a
//! clean exit; a second signal exits at once; `validate` and startup errors name the problem.

use crate::support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::proc::{free_port, Proc, BIN};
use support::*;
use tailsift::fixtures::{request, span};
use tokio::time::Instant;

fn trace_req(
    trace: u128,
    error: bool,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let mut last = span(trace, 3).parent(1).name("generate");
    if error {
        last = last.error();
    }
    request(
        "svc",
        [
            span(trace, 1).name("root").kind(SpanKind::Server),
            span(trace, 2).parent(1).name("retrieve"),
            last,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_decides_everything_buffered_and_flushes_before_a_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GrpcSink::default();
    let file = FileSink(dir.path().join("kept.jsonl"));
    let body = format!(
        r#"
sampling:
  decision_wait: 60s
  root_wait: 60s
{KEEP_ERRORS}exporters:
  backend:
    protocol: otlp_grpc
    endpoint: "{}"
    batch: {{ timeout: 1h }}
  archive:
    protocol: file
    path: kept.jsonl
shutdown_timeout: 10s
"#,
        sink.serve().await
    );
    let mut p = Proc::spawn(dir.path(), "", &body, None).await;

    let mut expected = BTreeMap::new();
    for i in 1..=8u128 {
        let trace = id128(0x5e, i);
        let error = i % 4 != 0;
        let req = trace_req(trace, error);
        if i % 2 == 0 {
            export_grpc(p.grpc, &req).await.expect("accepted over gRPC");
        } else {
            export_http(p.http, false, &req)
                .await
                .expect("accepted over HTTP");
        }
        if error {
            expected.insert(trace, (vec![1, 2, 3], vec!["errors".to_string()]));
        }
    }
    assert!(
        sink.spans().is_empty() && file.spans().is_empty(),
        "nothing is decided before decision_wait"
    );

    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "clean exit:\n{}", p.log());
    assert_eq!(
        summary(&sink.spans()),
        expected,
        "the backend got every kept span"
    );
    assert_eq!(summary(&file.spans()), expected, "so did the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_while_flushing() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let body = format!(
        r#"
sampling:
  decision_wait: 60s
  root_wait: 60s
exporters:
  dead:
    protocol: otlp_grpc
    endpoint: "http://127.0.0.1:{dead}"
    retry: {{ initial_interval: 1s, max_interval: 1s, max_elapsed: 10m }}
shutdown_timeout: 60s
"#
    );
    let mut p = Proc::spawn(dir.path(), "", &body, None).await;
    export_grpc(p.grpc, &trace_req(id128(0x5f, 1), true))
        .await
        .expect("accepted");

    p.signal("TERM");
    // Once the first signal is handled (readiness goes first), the flush hangs on the dead
    // backend for up to 60s.
    let metrics = p.metrics;
    let handled = wait_for_async(Duration::from_secs(10), || async move {
        let url = format!("http://{metrics}/readyz");
        let r = http_request(http::Method::GET, &url, &[], bytes::Bytes::new()).await;
        r.is_ok_and(|r| r.status == 503)
    })
    .await;
    assert!(handled, "not ready once shutting down:\n{}", p.log());
    let second = Instant::now();
    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(10)).await;
    assert!(second.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", p.log());
}

fn run_cli(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tailsift");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_accepts_the_example_config() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let (code, stdout, stderr) = run_cli(
        &["validate", "--config", example.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("valid (6 rules, 1 exporter)"), "{stdout}");
}

#[test]
fn an_unknown_key_is_named_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(
        &path,
        "receivers:\n  otlp:\n    grpc: { endpoint: \"127.0.0.1:4317\" }\nsampling:\n  rules:\n    - name: errors\n      when: { span: { stauts: error } }\n      keep: true\nexporters:\n  f: { protocol: file, path: out.jsonl }\n",
    )
    .unwrap();
    for args in [
        &["validate", "--config", path.to_str().unwrap()][..],
        &["--config", path.to_str().unwrap()][..],
    ] {
        let (code, stdout, stderr) = run_cli(args, dir.path());
        assert_ne!(code, 0, "{args:?}: {stdout}");
        assert!(stderr.contains("typo.yaml"), "names the file: {stderr}");
        assert!(stderr.contains("stauts"), "names the key: {stderr}");
        assert!(
            stderr.contains("sampling.rules[0].when.span"),
            "names the path: {stderr}"
        );
    }
    assert!(
        !dir.path().join("out.jsonl").exists(),
        "nothing started with a bad config"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_cli(&["--config", "no-such-tailsift.yaml"], dir.path());
    assert_ne!(code, 0);
    assert!(stderr.contains("no-such-tailsift.yaml"), "{stderr}");
    let (code, _, stderr) = run_cli(&[], dir.path());
    assert_ne!(code, 0);
    assert!(stderr.contains("--config"), "{stderr}");
}

#[test]
fn a_port_in_use_is_named_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let path = dir.path().join("busy.yaml");
    std::fs::write(
        &path,
        format!("receivers:\n  otlp:\n    grpc: {{ endpoint: \"127.0.0.1:{port}\" }}\nexporters:\n  f: {{ protocol: file, path: out.jsonl }}\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = run_cli(&["--config", path.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on the OTLP/gRPC receiver 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    drop(taken);
}
