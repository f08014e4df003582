//! CPU instructions the real daemon executes per request and per span, counted by callgrind, so
//! the figures do not depend on what else the machine runs.
//!
//! The `tailsift` binary runs under `valgrind --tool=callgrind` with the configuration users run
//! (OTLP/gRPC in and out, default export compression, keep errors + 10%, default tick and
//! shards) and takes the load shape of `benches/allocations.rs`: 4 services (4 resource groups
//! per request), 8-span traces split over two consecutive requests, 8 attributes and a 64-byte
//! prompt per span, 1% error traces. The client and a counting sink run in this process, outside
//! valgrind. For each request size (64, 512 and 8192 spans) the counters are zeroed after a
//! warm-up (`callgrind_control -z`), a fixed number of requests is sent one at a time, the
//! daemon is left to decide and export everything, and the counters are dumped
//! (`callgrind_control -d`). An idle window of the daemon then gives the instructions its timers
//! cost per second when there is no traffic (the decision tick, mostly), which are subtracted
//! for the time the measured window took, so the per-span cost does not depend on how slowly the
//! daemon ran under valgrind. A least-squares fit over the request sizes splits instructions per
//! request into a fixed cost per request and a cost per span.
//!
//! `cargo bench --bench instructions` (needs `valgrind`; `-- --quick` sends fewer spans;
//! `TAILSIFT_BIN=path` measures another build of the daemon with the same load;
//! `KEEP_CALLGRIND=1` keeps the dumps for `callgrind_annotate`).
//! Without `--bench` (as `cargo test --benches` runs it) it only checks that valgrind is there.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tailsift::fixtures;

#[path = "common/fit.rs"]
mod fit;
#[path = "common/sink.rs"]
mod sink;
use fit::fit;
use sink::Sink;

const SERVICES: usize = 4;
const SPANS_PER_TRACE: u64 = 8;
/// Requests sent before the counters are zeroed.
const WARMUP_REQUESTS: u64 = 2;
/// Length of the idle window that measures the timers' cost.
const IDLE: Duration = Duration::from_secs(4);

/// The daemon measured: `TAILSIFT_BIN` (to compare builds with the same client), else the
/// one this benchmark was built with.
fn daemon_binary() -> PathBuf {
    std::env::var_os("TAILSIFT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tailsift")))
}

/// The daemon under callgrind; killed when dropped.
struct Daemon {
    child: Child,
    out: PathBuf,
    dumps: u32,
}

impl Daemon {
    fn start(dir: &Path, config: &Path) -> Daemon {
        let out = dir.join("callgrind.out");
        let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
        let child = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--dump-instr=no",
                "--dump-line=no",
                "--compress-strings=no",
            ])
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(daemon_binary())
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("valgrind runs (is it installed?)");
        Daemon {
            child,
            out,
            dumps: 0,
        }
    }

    fn control(&self, flag: &str) {
        let ok = Command::new("callgrind_control")
            .arg(flag)
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .status()
            .expect("callgrind_control runs")
            .success();
        assert!(ok, "callgrind_control {flag} failed");
    }

    fn zero(&self) {
        self.control("-z");
    }

    /// Dumps the counters and returns the instructions counted since the last zeroing.
    fn dump(&mut self) -> u64 {
        self.control("-d");
        self.dumps += 1;
        let path = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        // callgrind_control returns once the request is taken; the file follows shortly.
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Some(n) = totals(&text) {
                    return n;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no callgrind dump at {}", path.display());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `totals:` instruction count of a callgrind dump (its `summary:` line is not the total
/// when collection was toggled).
fn totals(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Run {
    spans_per_request: u64,
    requests: u64,
    /// Instructions of the measured window, raw.
    raw: u64,
    /// Instructions per second of the idle daemon.
    idle_per_sec: f64,
    window: Duration,
}

impl Run {
    /// Instructions of the window without the idle daemon's timers.
    fn corrected(&self) -> f64 {
        self.raw as f64 - self.idle_per_sec * self.window.as_secs_f64()
    }
}

fn measure(rt: &tokio::runtime::Runtime, spans_per_request: u64, requests: u64) -> Run {
    let sink = Sink::default();
    let sink_addr = rt.block_on(sink.serve());
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = dir.path().join("tailsift.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers: {{ otlp: {{ grpc: {{ endpoint: \"127.0.0.1:{port}\" }} }} }}\n\
             sampling:\n  decision_wait: 300ms\n  root_wait: 100ms\n  rules:\n\
             \x20   - {{ name: errors, when: {{ span: {{ status: error }} }}, keep: true }}\n\
             \x20   - {{ name: rest, probability: 0.1 }}\n\
             exporters:\n  sink: {{ protocol: otlp_grpc, endpoint: \"http://{sink_addr}\" }}\n"
        ),
    )
    .expect("config written");
    let mut daemon = Daemon::start(dir.path(), &config);
    let traces = spans_per_request / SPANS_PER_TRACE;
    let bodies: Vec<_> = (0..WARMUP_REQUESTS + requests)
        .map(|seq| fixtures::split_trace_request(seq, traces, SERVICES))
        .collect();
    let mut bodies = bodies.into_iter();
    let url = format!("http://127.0.0.1:{port}");
    let mut client = rt.block_on(async {
        for _ in 0..600 {
            if let Ok(c) = TraceServiceClient::connect(url.clone()).await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the daemon under valgrind did not start listening");
    });
    rt.block_on(async {
        for body in bodies.by_ref().take(WARMUP_REQUESTS as usize) {
            client.export(body).await.expect("accepted");
        }
        sink.settle(1, 4).await;
    });
    let before = sink.spans();
    daemon.zero();
    let started = Instant::now();
    rt.block_on(async {
        for body in bodies {
            client.export(body).await.expect("accepted");
        }
        // Every trace is decided within decision_wait and exported within the batch timeout.
        sink.settle(before + 1, 4).await;
    });
    let raw = daemon.dump();
    sink.check_kept(before, requests * spans_per_request);
    let window = started.elapsed();
    daemon.zero();
    std::thread::sleep(IDLE);
    let idle = daemon.dump();
    if std::env::var_os("KEEP_CALLGRIND").is_some() {
        // For `callgrind_annotate`: the measured window is dump 1, the idle one dump 2.
        println!("callgrind dumps kept in {}", dir.keep().display());
    }
    Run {
        spans_per_request,
        requests,
        raw,
        idle_per_sec: idle as f64 / IDLE.as_secs_f64(),
        window,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let have_valgrind = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !args.iter().any(|a| a == "--bench") {
        println!("instructions: run with `cargo bench --bench instructions` (valgrind found: {have_valgrind})");
        return;
    }
    assert!(have_valgrind, "this benchmark needs valgrind");
    let spans_total: u64 = if quick { 32_768 } else { 131_072 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut points = Vec::new();
    println!(
        "spans/request  requests  window_s  idle_instr/s  instructions/request  instructions/span"
    );
    for size in [64u64, 512, 8192] {
        let requests = (spans_total / size).max(4);
        let r = measure(&rt, size, requests);
        let per_request = r.corrected() / r.requests as f64;
        println!(
            "{:>13}  {:>8}  {:>8.1}  {:>12.0}  {:>20.0}  {:>17.0}",
            size,
            r.requests,
            r.window.as_secs_f64(),
            r.idle_per_sec,
            per_request,
            per_request / size as f64,
        );
        points.push((r.spans_per_request as f64, per_request));
    }
    let (fixed, per_span) = fit(&points);
    println!("fit: {fixed:.0} instructions per request + {per_span:.0} per span");
}
