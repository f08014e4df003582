//! `/metrics` as Prometheus sees it, before any traffic: every metric has HELP and TYPE and the
//! series operators query exist at zero (`promtool check metrics` passes on a real scrape), and a
//! real Prometheus server scraping the daemon every second returns
//! `tailsift_receiver_accepted_spans_total` from its query API.
//!
//! Needs Debian's `prometheus` package (`prometheus` and `promtool` on `PATH`; `.ci/run` installs
//! it). Without them the checks that need them are skipped with a message, or fail when `CI` is
//! set. (Its own test binary: the Prometheus recorder is process-wide, so "no traffic" holds.)

use crate::support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const CONFIG: &str = r#"
sampling:
  memory_limit: 96MiB
  max_buffer_bytes: 64MiB
  max_traces: 5000
  rules:
    - name: errors
      when: { span: { status: error } }
      keep: true
    - name: rest
      adaptive: { target_traces_per_sec: 20 }
exporters:
  archive: { protocol: file, path: "@PATH@", queue: { max_bytes: 8MiB } }
"#;

/// How long Prometheus gets to start and scrape once.
const PROMETHEUS_PATIENCE: Duration = Duration::from_secs(40);

/// `name` on `PATH`; `None` (after a skip message) when absent, a panic when `CI` is set.
fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!(
            "`{name}` is not on PATH; install Debian's prometheus package \
             (apt-get install -y prometheus), as .ci/run does"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{test}: {msg}");
        }
        eprintln!("\n!!!!!!!!!!\n!!! {test} SKIPPED: {msg}\n!!!!!!!!!!\n");
    }
    found
}

async fn start() -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.jsonl");
    let daemon = Daemon::start(&CONFIG.replace("@PATH@", &path.display().to_string())).await;
    (daemon, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_has_help_and_the_known_series_exist_before_traffic() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let (daemon, _dir) = start().await;
    let text = http_get(daemon.metrics, "/metrics").await.text();
    let m = Metrics::parse(&text);
    for p in ["grpc", "http_protobuf", "http_json"] {
        assert_eq!(
            m.get("tailsift_receiver_accepted_spans_total", &[("protocol", p)]),
            Some(0.0),
            "{p}:\n{text}"
        );
    }
    let zero = [
        ("tailsift_receiver_requests_total", ("outcome", "refused")),
        ("tailsift_late_spans_total", ("verdict", "dropped")),
        (
            "tailsift_early_decided_traces_total",
            ("reason", "max_traces"),
        ),
        (
            "tailsift_exporter_failed_spans_total",
            ("reason", "retries_exhausted"),
        ),
        ("tailsift_decided_traces_total", ("rule", "errors")),
    ];
    for (name, label) in zero {
        assert_eq!(m.get(name, &[label]), Some(0.0), "{name} {label:?}");
    }
    let limits = [
        ("tailsift_memory_limit_bytes", 96.0 * 1048576.0),
        ("tailsift_buffer_max_bytes", 64.0 * 1048576.0),
        ("tailsift_buffer_max_traces", 5000.0),
        ("tailsift_decision_wait_seconds", 10.0),
        ("tailsift_exporter_queue_max_bytes", 8.0 * 1048576.0),
        ("tailsift_buffer_retained_bytes", 0.0),
        ("tailsift_adaptive_target_rate", 20.0),
        ("tailsift_adaptive_kept_rate", 0.0),
    ];
    for (name, want) in limits {
        assert_eq!(m.get(name, &[]), Some(want), "{name}");
    }
    // Every family has its HELP and TYPE, and HELP is the text of describe.rs.
    let types: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert!(types.len() >= 25, "{text}");
    for name in types {
        let help = tailsift::telemetry::describe::help(name)
            .unwrap_or_else(|| panic!("{name} is not described"));
        assert!(
            text.contains(&format!("# HELP {name} {help}\n")),
            "no HELP for {name}:\n{text}"
        );
    }

    if let Some(promtool) = tool("promtool", "promtool check metrics") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run promtool");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
        drop(stdin);
        let out = tokio::time::timeout(PATIENCE * 4, child.wait_with_output())
            .await
            .expect("promtool finishes")
            .unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && report.trim().is_empty(),
            "promtool check metrics: {report}"
        );
    }
    daemon.stop().await;
}

/// A free loopback port (bound and released; Prometheus binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_gets_the_accepted_spans_series_before_any_traffic() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let Some(prometheus) = tool("prometheus", "real Prometheus scrape") else {
        return;
    };
    let (daemon, dir) = start().await;
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
             scrape_configs:\n  - job_name: tailsift\n    static_configs:\n      - targets: ['{}']\n",
            daemon.metrics
        ),
    )
    .unwrap();
    let port = free_port();
    let mut child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let api: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let query = "/api/v1/query?query=tailsift_receiver_accepted_spans_total";
    let started = Instant::now();
    let mut last = String::new();
    let mut series = Vec::new();
    while started.elapsed() < PROMETHEUS_PATIENCE {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("prometheus exited early: {status}");
        }
        if let Ok(Ok(r)) = tokio::time::timeout(
            Duration::from_secs(2),
            client::http_request(
                http::Method::GET,
                &format!("http://{api}{query}"),
                &[],
                bytes::Bytes::new(),
            ),
        )
        .await
        {
            last = r.text();
            let v: serde_json::Value = serde_json::from_str(&last).unwrap_or_default();
            series = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if !series.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.start_kill();
    let _ = tokio::time::timeout(PATIENCE, child.wait()).await;
    assert!(
        !series.is_empty(),
        "no tailsift_receiver_accepted_spans_total from Prometheus within {PROMETHEUS_PATIENCE:?}; last answer: {last}"
    );
    let protocols: Vec<&str> = series
        .iter()
        .filter_map(|s| s["metric"]["protocol"].as_str())
        .collect();
    assert!(protocols.contains(&"grpc"), "{series:?}");
    for s in &series {
        assert_eq!(s["metric"]["job"], "tailsift", "{s}");
        assert_eq!(s["value"][1], "0", "no traffic was sent: {s}");
    }
    daemon.stop().await;
}
