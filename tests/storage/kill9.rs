//! `kill -9` of the real binary under load, then a restart on the same directory: every span
//! the client got a success for reaches the sink at least once. The load is offered at 20,000
//! spans/s (four concurrent clients, 20 spans a request), so requests are appended, and under
//! `fsync` flushed in groups, while the process dies; the rate reached is printed.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::proc::Proc;
use tailsift::fixtures::request_with;

/// Concurrent clients, and the spans per second they offer together.
const SENDERS: u64 = 4;
const SPANS_PER_SECOND: u64 = 20_000;
/// Load before the kill: at least this long, and at least this many spans acknowledged (a
/// debug build on a loaded machine reaches far less than the rate offered).
const LOAD_FOR: Duration = Duration::from_secs(2);
const ACKED_BEFORE_KILL: usize = 4000;
const TRACES_PER_REQUEST: u64 = 10;

fn body(dir: &Path, sink: &str, sync: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: 1s
  root_wait: 200ms
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
    retry: {{ initial_interval: 50ms, max_interval: 200ms }}
storage:
  directory: "{}"
  sync: {sync}
"#,
        dir.join("data").display()
    )
}

/// Request `n` of sender `s`: ten two-span traces, ids unique across senders.
fn load(s: u64, n: u64) -> ExportTraceServiceRequest {
    let first = (s << 32) | (n * TRACES_PER_REQUEST);
    let spans = (0..TRACES_PER_REQUEST)
        .flat_map(|i| {
            let t = u128::from(first + i + 1);
            let base = (t as u64) * 10;
            [
                span(t, base + 1)
                    .name("root")
                    .kind(SpanKind::Server)
                    .build(),
                span(t, base + 2).parent(base + 1).name("child").build(),
            ]
        })
        .collect();
    request_with("load", vec![], spans)
}

async fn kill_9_under_load(sync: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sink = GrpcSink::default();
    let url = sink.serve().await;
    let mut p = Proc::spawn(dir.path(), "", &body(dir.path(), &url, sync), None).await;
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // Each sender paces its requests so that together they offer SPANS_PER_SECOND.
    let every = Duration::from_secs_f64(
        (SENDERS * TRACES_PER_REQUEST * 2) as f64 / SPANS_PER_SECOND as f64,
    );
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (acked, stop, addr) = (acked.clone(), stop.clone(), p.grpc);
            tokio::spawn(async move {
                let mut client = grpc_client(addr).await;
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                for n in 0.. {
                    tick.tick().await;
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let req = load(s, n);
                    match client.export(req.clone()).await {
                        Ok(_) => acked.lock().unwrap().extend(
                            req.resource_spans[0].scope_spans[0]
                                .spans
                                .iter()
                                .map(span_id_of),
                        ),
                        Err(_) => break, // the process is gone
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(LOAD_FOR).await;
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.child.kill().unwrap(); // SIGKILL
    p.child.wait().unwrap();
    let rate = acked.lock().unwrap().len() as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
    }
    let acked: BTreeSet<u64> = acked.lock().unwrap().iter().copied().collect();
    eprintln!(
        "kill -9 (sync: {sync}): {} spans acknowledged in {:?}, {rate:.0} spans/s",
        acked.len(),
        started.elapsed()
    );
    assert!(
        acked.len() >= ACKED_BEFORE_KILL,
        "load was acknowledged before the kill"
    );
    let before = unique_span_ids(&sink).len();
    assert!(
        before < acked.len(),
        "the kill left spans undelivered ({before} of {})",
        acked.len()
    );

    let p2 = Proc::spawn(dir.path(), "", &body(dir.path(), &url, sync), None).await;
    let all = support::wait_for(Duration::from_secs(30), || {
        unique_span_ids(&sink).is_superset(&acked)
    })
    .await;
    let got = unique_span_ids(&sink);
    let missing = acked.difference(&got).count();
    assert!(
        all,
        "{missing} of {} acknowledged spans never reached the sink; log:\n{}",
        acked.len(),
        p2.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_span() {
    kill_9_under_load("write").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_with_fsync_loses_no_acknowledged_span() {
    kill_9_under_load("fsync").await;
}
