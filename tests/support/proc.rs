//! The real `tailsift` binary as a child process, for tests that measure its memory (VmRSS),
//! limit its open files, or must see it exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tailsift");

/// The binary to run: `TAILSIFT_BIN` when set (e.g. a release build, to run the load tests at
/// full speed: `TAILSIFT_BIN=target/release/tailsift cargo test --test storage kill9`), else
/// the one cargo built with the tests.
pub fn bin() -> String {
    std::env::var("TAILSIFT_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// A running `tailsift` process; killed when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub metrics: SocketAddr,
}

/// A port free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Proc {
    /// Starts the binary with `receivers` (the keys under each receiver besides `endpoint`, as
    /// YAML flow-map entries, e.g. `max_connections: 10`) and `body` (the rest of the config),
    /// with at most `nofile` open files when given, and waits for `/readyz`.
    pub async fn spawn(dir: &Path, receivers: &str, body: &str, nofile: Option<u64>) -> Proc {
        for attempt in 0..5 {
            let ports = [free_port(), free_port(), free_port()];
            if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
                continue;
            }
            let extra = if receivers.is_empty() {
                String::new()
            } else {
                format!(", {receivers}")
            };
            let yaml = format!(
                "receivers:\n  otlp:\n    grpc: {{ endpoint: \"127.0.0.1:{}\"{extra} }}\n    http: {{ endpoint: \"127.0.0.1:{}\"{extra} }}\ntelemetry:\n  metrics: {{ endpoint: \"127.0.0.1:{}\" }}\n  logs: {{ level: warn }}\n{body}",
                ports[0], ports[1], ports[2]
            );
            let config = dir.join("tailsift.yaml");
            std::fs::write(&config, yaml).unwrap();
            let log = dir.join(format!("tailsift-{attempt}.log"));
            let out = std::fs::File::create(&log).unwrap();
            let mut cmd = match nofile {
                // `ulimit -n` sets the soft and the hard limit: the daemon cannot raise it.
                Some(n) => {
                    let mut c = Command::new("sh");
                    c.arg("-c")
                        .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                        .arg(bin());
                    c
                }
                None => Command::new(bin()),
            };
            let child = cmd
                .arg("--config")
                .arg(&config)
                .current_dir(dir)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("spawn tailsift");
            let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
            let mut p = Proc {
                child,
                log,
                grpc: addr(ports[0]),
                http: addr(ports[1]),
                metrics: addr(ports[2]),
            };
            let until = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = p.child.try_wait().unwrap() {
                    let log = p.log();
                    if log.contains("cannot listen") {
                        break;
                    }
                    panic!("tailsift exited at start ({status}):\n{log}");
                }
                let url = format!("http://{}/readyz", p.metrics);
                if let Ok(r) =
                    super::http_request(http::Method::GET, &url, &[], bytes::Bytes::new()).await
                {
                    if r.status == 200 {
                        return p;
                    }
                }
                assert!(Instant::now() < until, "not ready within 10s:\n{}", p.log());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("no free ports after 5 attempts");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident memory in bytes (`VmRSS` of /proc/PID/status).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub async fn terminate(&mut self, within: Duration) {
        self.signal("TERM");
        let status = self.wait_exit(within).await;
        assert!(status.success(), "exit status {status}:\n{}", self.log());
    }

    /// Sends signal `name` (`TERM`, `HUP`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits (bounded) for the process to exit; its status.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no exit within {within:?}:\n{}", self.log());
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

/// Percentile `p` (0..=100) of `samples` (sorted here).
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let i = ((samples.len() - 1) as f64 * p / 100.0).round() as usize;
    samples[i]
}
