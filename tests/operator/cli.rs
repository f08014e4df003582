//! What an operator sees from the real binary: `--set` and `${env:...}` override the file (the
//! same for `validate` and the daemon), logs written to a file are plain text with plain
//! addresses, counted plurals, limits as parsed and a shutdown summary as fields, and a failed
//! stage that outlasts `decision_wait` is reported in the logs and in a counter.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;
use tailsift::fixtures::{request, span};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_tailsift");

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary on `config` with `args`, its stdout and stderr in one file, killed when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn ready(&mut self, metrics: u16) {
        let until = Instant::now() + Duration::from_secs(15);
        let url = format!("http://127.0.0.1:{metrics}/readyz");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("tailsift exited at start ({status}):\n{}", self.log());
            }
            if let Ok(r) = http_request(http::Method::GET, &url, &[], bytes::Bytes::new()).await {
                if r.status == 200 {
                    return;
                }
            }
            assert!(Instant::now() < until, "not ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then a bounded wait for a clean exit.
    async fn stop(mut self) -> String {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.log());
                return self.log();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no exit after SIGTERM:\n{}", self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn(dir: &Path, args: &[String], env: &[(&str, String)]) -> Proc {
    let log = dir.join("tailsift.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn tailsift");
    Proc { child, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_runs_on_overridden_addresses_and_logs_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, metrics) = (free_port(), free_port(), free_port());
    let args = vec![
        "--config".to_string(),
        example().display().to_string(),
        format!("--set=receivers.otlp.grpc.endpoint=127.0.0.1:{grpc}"),
        "--set".to_string(),
        "receivers.otlp.http.endpoint=${env:TEST_HTTP_ENDPOINT}".to_string(),
        format!("--set=telemetry.metrics={{ endpoint: '127.0.0.1:{metrics}' }}"),
    ];
    let mut p = spawn(
        dir.path(),
        &args,
        &[("TEST_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))],
    );
    p.ready(metrics).await;
    let resp = post_traces(
        std::net::SocketAddr::from(([127, 0, 0, 1], http)),
        &[("content-type", "application/json")],
        r#"{"resourceSpans":[]}"#,
    )
    .await;
    assert_eq!(
        resp.status, 200,
        "the HTTP receiver is on the overridden port"
    );
    let log = p.stop().await;
    assert!(!log.contains('\x1b'), "no ANSI codes in a file:\n{log}");
    assert!(!log.contains("Some("), "{log}");
    for want in [
        format!("addr=127.0.0.1:{grpc}"),
        format!("addr=127.0.0.1:{http}"),
        format!("addr=127.0.0.1:{metrics}"),
        "tailsift started: 6 rules, 1 exporter".to_string(),
        "memory_limit=768MiB (805306368 bytes)".to_string(),
        "decision_wait=2m".to_string(),
        "exporter=archive".to_string(),
        "1 exporter flushed".to_string(),
    ] {
        assert!(log.contains(&want), "log lacks {want:?}:\n{log}");
    }
    assert!(!log.contains("ShutdownReport"), "{log}");
}

fn run_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_applies_the_same_overrides_and_notes() {
    let dir = tempfile::tempdir().unwrap();
    let example = example();
    let c = example.to_str().unwrap();
    let (code, out, err) = run_cli(
        dir.path(),
        &[
            "validate",
            "-c",
            c,
            "--set",
            "sampling.max_buffer_bytes=512MB",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "note: sampling.max_buffer_bytes: `512MB` is a decimal size: 512,000,000 bytes"
        ),
        "{out}"
    );
    let (code, _, err) = run_cli(
        dir.path(),
        &["validate", "-c", c, "--set", "sampling.root_wait=5m"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("config.example.yaml: sampling.root_wait:"),
        "{err}"
    );
    let (code, _, err) = run_cli(
        dir.path(),
        &[
            "validate",
            "-c",
            c,
            "--set",
            "exporters.archive.headers_from_file={A: /nonexistent}",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("exporters.archive.headers_from_file"), "{err}");
    let (code, _, err) = run_cli(
        dir.path(),
        &[
            "validate",
            "-c",
            c,
            "--set",
            "telemetry.metrics.endpoint=${env:TAILSIFT_TEST_UNSET}",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "telemetry.metrics.endpoint: environment variable `TAILSIFT_TEST_UNSET` is not set"
        ),
        "{err}"
    );
    let (code, out, err) = run_cli(
        dir.path(),
        &[
            "validate",
            "-c",
            c,
            "--set",
            "telemetry.metrics.endpoint=${env:TAILSIFT_TEST_SET}",
        ],
        &[("TAILSIFT_TEST_SET", "127.0.0.1:9999")],
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// A stage that fails after its trace was decided and dropped: the error span is dropped with
/// the trace (the decision stands), but a warning says so, once per 10 s with a count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_error_spans_of_dropped_traces_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, metrics) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("c.yaml"),
        format!(
            "receivers: {{ otlp: {{ grpc: {{ endpoint: '127.0.0.1:{grpc}' }} }} }}\n\
             telemetry: {{ metrics: {{ endpoint: '127.0.0.1:{metrics}' }} }}\n\
             sampling:\n  decision_wait: 200ms\n  root_wait: 50ms\n  rules:\n\
             \x20   - {{ name: errors, when: {{ span: {{ status: error }} }}, keep: true }}\n\
             \x20   - {{ name: rest, drop: true }}\n\
             exporters: {{ archive: {{ protocol: file, path: kept.jsonl }} }}\n"
        ),
    )
    .unwrap();
    let mut p = spawn(dir.path(), &["-c".into(), "c.yaml".into()], &[]);
    p.ready(metrics).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], grpc));
    let mut client = grpc_client(addr).await;
    let traces = [0x51u128, 0x52, 0x53];
    let roots: Vec<_> = traces
        .iter()
        .map(|&t| span(id128(t, 1), 1).name("pipeline"))
        .collect();
    client.export(request("svc", roots)).await.unwrap();
    let url = format!("http://127.0.0.1:{metrics}/metrics");
    let scrape = || async {
        let r = http_request(http::Method::GET, &url, &[], bytes::Bytes::new())
            .await
            .unwrap();
        Metrics::parse(&r.text())
    };
    let until = Instant::now() + PATIENCE;
    while scrape()
        .await
        .sum("tailsift_decided_traces_total", &[("rule", "rest")])
        < 3.0
    {
        assert!(Instant::now() < until, "not decided:\n{}", p.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The slow stage of each trace ends, failed; three requests, so the warning is rate-limited.
    for &t in &traces {
        let late = span(id128(t, 1), 2).parent(1).name("video_synth").error();
        client.export(request("svc", [late])).await.unwrap();
    }
    let m = scrape().await;
    assert_eq!(
        m.get("tailsift_late_dropped_error_spans_total", &[]),
        Some(3.0)
    );
    assert_eq!(
        m.get("tailsift_late_spans_total", &[("verdict", "dropped")]),
        Some(3.0)
    );
    let log = p.stop().await;
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("error spans arrived after their trace was decided and dropped"))
        .collect();
    assert_eq!(warnings.len(), 1, "one line per 10s:\n{log}");
    let w = warnings[0];
    assert!(w.contains("WARN") && w.contains("count=1"), "{w}");
    assert!(
        w.contains("span=video_synth") && w.contains("decision_wait=200ms"),
        "{w}"
    );
    assert!(
        w.contains(&format!("trace_id={:032x}", id128(0x51, 1))),
        "{w}"
    );
}
