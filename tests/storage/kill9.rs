//! `kill -9` of the real binary under load, then a restart on the same directory: every span
//! the client got a success for reaches the sink at least once.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::proc::Proc;
use tailsift::fixtures::request_with;

/// Requests sent at most, and how many must be acknowledged before the kill.
const REQUESTS: u64 = 2000;
const ACKED_BEFORE_KILL: usize = 300;
const TRACES_PER_REQUEST: u64 = 10;

fn body(dir: &Path, sink: &str) -> String {
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
"#,
        dir.join("data").display()
    )
}

/// Request `n`: ten two-span traces with ids derived from `n`.
fn load(n: u64) -> ExportTraceServiceRequest {
    let spans = (0..TRACES_PER_REQUEST)
        .flat_map(|i| {
            let t = u128::from(n * TRACES_PER_REQUEST + i + 1);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().unwrap();
    let sink = GrpcSink::default();
    let url = sink.serve().await;
    let mut p = Proc::spawn(dir.path(), "", &body(dir.path(), &url), None).await;
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop, addr) = (acked.clone(), stop.clone(), p.grpc);
        tokio::spawn(async move {
            let mut client = grpc_client(addr).await;
            for n in 0..REQUESTS {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let req = load(n);
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
    };
    let until = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL * 20 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.child.kill().unwrap(); // SIGKILL
    p.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    let _ = tokio::time::timeout(Duration::from_secs(10), sender).await;
    let acked: BTreeSet<u64> = acked.lock().unwrap().iter().copied().collect();
    assert!(
        acked.len() >= ACKED_BEFORE_KILL * 20,
        "load was acknowledged before the kill"
    );
    let before = unique_span_ids(&sink).len();
    assert!(
        before < acked.len(),
        "the kill left spans undelivered ({before} of {})",
        acked.len()
    );

    let p2 = Proc::spawn(dir.path(), "", &body(dir.path(), &url), None).await;
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
