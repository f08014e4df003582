//! The real binary started on a config file the test owns (so it can edit, swap or break it),
//! with ports chosen before the file is written.

use crate::support::proc::{free_port, Proc, BIN};
use crate::support::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tailsift::fixtures::SpanBuilder;

/// Free local ports for the gRPC and HTTP receivers and the metrics endpoint.
pub struct Ports {
    pub grpc: u16,
    pub http: u16,
    pub metrics: u16,
}

impl Ports {
    pub fn free() -> Ports {
        loop {
            let p = Ports {
                grpc: free_port(),
                http: free_port(),
                metrics: free_port(),
            };
            if p.grpc != p.http && p.http != p.metrics && p.grpc != p.metrics {
                return p;
            }
        }
    }

    /// A config: these listeners, logs at info, then `body`.
    pub fn config(&self, body: &str) -> String {
        format!(
            "receivers:\n  otlp:\n    grpc: {{ endpoint: \"127.0.0.1:{}\" }}\n    http: {{ endpoint: \"127.0.0.1:{}\" }}\ntelemetry:\n  metrics: {{ endpoint: \"127.0.0.1:{}\" }}\n  logs: {{ level: info }}\n{body}",
            self.grpc, self.http, self.metrics
        )
    }
}

/// Starts the binary on `config` (in `dir`) with `args` and `env`, without waiting.
pub fn spawn(
    dir: &Path,
    ports: &Ports,
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    let log = dir.join("tailsift.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(config).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn tailsift");
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    Proc {
        child,
        log,
        grpc: addr(ports.grpc),
        http: addr(ports.http),
        metrics: addr(ports.metrics),
    }
}

/// Waits (bounded) for `/readyz` to answer 200.
pub async fn ready(p: &mut Proc) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            panic!("tailsift exited at start ({status}):\n{}", p.log());
        }
        let url = format!("http://{}/readyz", p.metrics);
        if let Ok(r) = http_request(http::Method::GET, &url, &[], bytes::Bytes::new()).await {
            if r.status == 200 {
                return;
            }
        }
        assert!(Instant::now() < until, "not ready within 10s:\n{}", p.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the binary and waits until it is ready.
pub async fn start(
    dir: &Path,
    ports: &Ports,
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    let mut p = spawn(dir, ports, config, args, env);
    ready(&mut p).await;
    p
}

/// A counter of the binary's `/metrics` (0 when absent).
pub async fn counter(p: &Proc, name: &str, labels: &[(&str, &str)]) -> f64 {
    let r = http_get(p.metrics, "/metrics").await;
    Metrics::parse(&r.text()).sum(name, labels)
}

/// Waits (bounded) until `tailsift_config_reloads_total{outcome}` reaches `n`.
pub async fn reloads(p: &Proc, outcome: &str, n: f64) {
    let ok = wait_for_async(Duration::from_secs(10), || async {
        counter(p, "tailsift_config_reloads_total", &[("outcome", outcome)]).await >= n
    })
    .await;
    assert!(ok, "no {n} {outcome} reload(s) within 10s:\n{}", p.log());
}

/// Sends one request of `spans` over OTLP/HTTP and insists on a full success.
pub async fn send(p: &Proc, spans: Vec<SpanBuilder>) {
    let req = tailsift::fixtures::request("svc", spans);
    let r = export_http(p.http, false, &req).await;
    assert!(r.is_ok(), "request refused: {r:?}");
}

/// Polls `/readyz` every 50ms until dropped; counts answers other than 200.
pub struct ReadyWatch {
    stop: Arc<AtomicBool>,
    pub failures: Arc<AtomicUsize>,
    pub polls: Arc<AtomicUsize>,
}

impl ReadyWatch {
    pub fn start(addr: SocketAddr) -> ReadyWatch {
        let w = ReadyWatch {
            stop: Arc::default(),
            failures: Arc::default(),
            polls: Arc::default(),
        };
        let (stop, failures, polls) = (w.stop.clone(), w.failures.clone(), w.polls.clone());
        tokio::spawn(async move {
            // Bounded: a test never runs longer than this.
            for _ in 0..2400 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let url = format!("http://{addr}/readyz");
                let ok = http_request(http::Method::GET, &url, &[], bytes::Bytes::new())
                    .await
                    .is_ok_and(|r| r.status == 200);
                polls.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        w
    }
}

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
