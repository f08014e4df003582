//! Heap allocations per request of the real daemon, as users run it: `tailsift::server::run`
//! with an OTLP/gRPC receiver and exporter (default compression), keep errors + 10%, fed the
//! load shape that costs most per span (4 services, so 4 resource groups per request; 8-span
//! traces split over two consecutive requests; 8 attributes and a 64-byte prompt per span; 1%
//! error traces), at 64, 512 and 8192 spans per request.
//!
//! A counting global allocator counts only on the daemon's threads (its runtime's workers and
//! blocking threads); the client and the sink run on a runtime of their own, not counted.
//! Counts are deterministic up to scheduling, so unlike timings they do not depend on what else
//! the machine runs. A least-squares fit over the request sizes splits them into a fixed cost
//! per request and a cost per span.
//!
//! `cargo bench --bench allocations` (prints a table; `-- --quick` sends fewer requests).

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use tailsift::fixtures;

#[path = "common/fit.rs"]
mod fit;
#[path = "common/sink.rs"]
mod sink;
use fit::fit;
use sink::Sink;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count(size: usize) {
    if COUNTED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting only reads a
// thread-local flag and bumps atomics, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVICES: usize = 4;
const SPANS_PER_TRACE: u64 = 8;

/// Request `seq` of a stream: the second halves of the traces request `seq - 1` started and
/// the first halves of `traces` new ones, spread over [`SERVICES`] resource groups.
fn request(seq: u64, traces: u64) -> ExportTraceServiceRequest {
    fixtures::split_trace_request(seq, traces, SERVICES)
}

struct Run {
    spans_per_request: u64,
    requests: u64,
    allocations: u64,
    bytes: u64,
}

fn measure(client_rt: &tokio::runtime::Runtime, spans_per_request: u64, requests: u64) -> Run {
    let sink = Sink::default();
    let sink_addr = client_rt.block_on(sink.serve());
    let daemon_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(|| COUNTED.with(|c| c.set(true)))
        .build()
        .unwrap();
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: \"127.0.0.1:0\" }} }} }}\n\
         sampling:\n  decision_wait: 300ms\n  root_wait: 100ms\n  rules:\n\
         \x20   - {{ name: errors, when: {{ span: {{ status: error }} }}, keep: true }}\n\
         \x20   - {{ name: rest, probability: 0.1 }}\n\
         exporters:\n  sink: {{ protocol: otlp_grpc, endpoint: \"http://{sink_addr}\" }}\n"
    );
    let config = tailsift::config::parse(&yaml, "allocations bench").expect("valid config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let daemon = daemon_rt.spawn(async move {
        let listeners = tailsift::server::Listeners::bind(&config).await.unwrap();
        addr_tx.send(listeners.addrs().0.unwrap()).unwrap();
        tailsift::server::run(config, listeners, async move {
            let _ = stopped.await;
        })
        .await
    });
    let grpc = addr_rx.recv().unwrap();
    let traces = spans_per_request / SPANS_PER_TRACE;
    let bodies: Vec<_> = (0..requests + 1).map(|seq| request(seq, traces)).collect();
    let before = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    client_rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        // Request 0 only starts traces; the measured ones carry halves of two generations.
        for body in bodies {
            client.export(body).await.expect("accepted");
        }
        // Every trace is decided within decision_wait; wait until the sink stops growing.
        sink.settle(1, 2).await;
    });
    let after = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    sink.check_kept(0, (requests + 1) * spans_per_request);
    let _ = stop.send(());
    daemon_rt
        .block_on(daemon)
        .expect("daemon task")
        .expect("clean stop");
    Run {
        spans_per_request,
        requests: requests + 1,
        allocations: after.0 - before.0,
        bytes: after.1 - before.1,
    }
}

/// Allocations per request against spans per request, for [`fit`].
fn points(runs: &[Run]) -> Vec<(f64, f64)> {
    runs.iter()
        .map(|r| {
            let per_request = r.allocations as f64 / r.requests as f64;
            (r.spans_per_request as f64, per_request)
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, quickly.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let spans_total: u64 = if smoke {
        4_096
    } else if quick {
        65_536
    } else {
        262_144
    };
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut runs = Vec::new();
    println!("spans/request  requests  allocations/request  allocations/span  bytes/span");
    for size in [64u64, 512, 8192] {
        let requests = (spans_total / size).max(4);
        let r = measure(&client_rt, size, requests);
        let spans = (r.requests * size) as f64;
        println!(
            "{:>13}  {:>8}  {:>19.1}  {:>16.2}  {:>10.0}",
            size,
            r.requests,
            r.allocations as f64 / r.requests as f64,
            r.allocations as f64 / spans,
            r.bytes as f64 / spans
        );
        runs.push(r);
    }
    let (fixed, per_span) = fit(&points(&runs));
    println!("fit: {fixed:.0} allocations per request + {per_span:.2} per span");
}
