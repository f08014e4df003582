//! The peers built by `tests/peers/build.sh` (the OpenTelemetry Collector and Jaeger v2): where
//! their binaries are, and each as a child process on free loopback ports, killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const COLLECTOR_VERSION: &str = "0.161.0";
pub const JAEGER_VERSION: &str = "1.75.0";

/// A peer program.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Collector,
    Jaeger,
}

impl Peer {
    fn env(self) -> &'static str {
        match self {
            Peer::Collector => "TAILSIFT_OTELCOL_BIN",
            Peer::Jaeger => "TAILSIFT_JAEGER_BIN",
        }
    }

    /// The path `build.sh` writes the binary to.
    fn built_path(self) -> PathBuf {
        let dir = std::env::var_os("TAILSIFT_PEERS_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| Path::new(&d).join("tailsift/peers"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|d| Path::new(&d).join(".cache/tailsift/peers"))
            })
            .unwrap_or_else(|| PathBuf::from("/nonexistent"));
        match self {
            Peer::Collector => dir.join(format!("otelcol-{COLLECTOR_VERSION}/otelcol-peer")),
            Peer::Jaeger => dir.join(format!("jaeger-{JAEGER_VERSION}/jaeger")),
        }
    }

    /// The binary, from its environment variable or `build.sh`'s path. Absent: `None` after
    /// printing why (the test then returns early), or a panic under `CI=true`, where `.ci/run`
    /// has built it and a missing peer must fail the run rather than skip it.
    pub fn binary(self) -> Option<PathBuf> {
        let path = std::env::var_os(self.env())
            .map(PathBuf::from)
            .unwrap_or_else(|| self.built_path());
        if path.is_file() {
            return Some(path);
        }
        let why = format!(
            "{self:?} binary not found at {} (run tests/peers/build.sh, or set {})",
            path.display(),
            self.env()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}");
        }
        eprintln!("SKIPPED: {why}");
        None
    }
}

/// A free loopback port (bound and released; the peer binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` distinct free loopback ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpListener::bind("127.0.0.1:0").unwrap());
    }
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A peer running as a child process with its config in a temporary directory.
pub struct PeerProc {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl PeerProc {
    /// Starts `bin --config <dir>/config.yaml` and waits until every port in `ready_ports`
    /// accepts connections (bounded: 60 s, the peers are quick but the machine may be busy).
    pub async fn start(bin: &Path, config: &str, ready_ports: &[u16]) -> PeerProc {
        let dir = tempfile::tempdir().unwrap();
        let mut p = PeerProc::spawn_in(dir, bin, config);
        p.wait_ready(ready_ports).await;
        p
    }

    fn spawn_in(dir: tempfile::TempDir, bin: &Path, config: &str) -> PeerProc {
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config).unwrap();
        let log = dir.path().join("peer.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(&path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        PeerProc { child, dir, log }
    }

    /// Replaces the config file and restarts the process on it (same directory).
    pub async fn restart(self, bin: &Path, config: &str, ready_ports: &[u16]) -> PeerProc {
        let mut old = self;
        old.stop();
        let dir = std::mem::replace(&mut old.dir, tempfile::tempdir().unwrap());
        let mut p = PeerProc::spawn_in(dir, bin, config);
        p.wait_ready(ready_ports).await;
        p
    }

    async fn wait_ready(&mut self, ports: &[u16]) {
        let until = Instant::now() + Duration::from_secs(60);
        for &port in ports {
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    panic!("peer exited at start ({status}):\n{}", self.log_text());
                }
                if tokio::net::TcpStream::connect(local(port)).await.is_ok() {
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "peer not listening on {port} within 60s:\n{}",
                    self.log_text()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then (after 10 s) SIGKILL; waits for the exit.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
