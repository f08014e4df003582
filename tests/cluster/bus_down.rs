//! nats-server stopped and restarted mid-run: instances say so (`/readyz` detail, still
//! ready), decide alone meanwhile, lose no accepted span, and share decisions again once the
//! bus is back.

use crate::support::{http_get, wait_for_async, Metrics, Sink};
use crate::traffic::{check, Ledger};
use crate::whole::{members, send_for, settled, Group};
use std::net::SocketAddr;
use std::time::Duration;

async fn readyz(p: SocketAddr) -> (u16, String) {
    let r = http_get(p, "/readyz").await;
    (r.status, r.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_mid_run_loses_nothing_and_the_group_recovers() {
    let Group {
        mut nats,
        sink,
        procs,
        ..
    } = Group::start(3, "restart", crate::traffic::RULES).await;
    let all: Vec<_> = procs.iter().collect();
    let targets: Vec<SocketAddr> = procs.iter().map(|p| p.grpc).collect();
    let mut before = Ledger::default();
    send_for(&mut before, &targets, 15, Duration::from_secs(1)).await;

    nats.stop();
    let down = wait_for_async(Duration::from_secs(5), || async {
        for p in &procs {
            let (status, text) = readyz(p.metrics).await;
            if status != 200 || !text.contains("deciding alone") {
                return false;
            }
        }
        true
    })
    .await;
    assert!(down, "every instance reports the bus down and stays ready");
    let mut during = Ledger::default();
    send_for(&mut during, &targets, 15, Duration::from_secs(1)).await;

    nats.restart();
    let up = wait_for_async(Duration::from_secs(10), || async {
        for p in &procs {
            if readyz(p.metrics).await != (200, "ready\n".to_string()) {
                return false;
            }
        }
        true
    })
    .await;
    assert!(up, "every instance reconnects");
    assert!(members(&all, 3).await, "the group is whole again");
    let mut after = Ledger::default();
    send_for(&mut after, &targets, 15, Duration::from_secs(1)).await;
    settled(&sink).await;

    // Nothing lost: every accepted span was decided (kept or dropped) or followed a decision.
    for p in &procs {
        let accounted = wait_for_async(Duration::from_secs(10), || async {
            let m = Metrics::parse(&http_get(p.metrics, "/metrics").await.text());
            let accepted = m.sum("tailsift_receiver_accepted_spans_total", &[]);
            let decided = m.sum("tailsift_decided_spans_total", &[]);
            let late = m.sum("tailsift_late_spans_total", &[]);
            accepted > 0.0 && accepted == decided + late
        })
        .await;
        assert!(accounted, "every accepted span accounted for:\n{}", p.log());
    }
    // Traces sent once the bus was back are whole with the oracle's verdict.
    let r = check(&after, &sink.spans());
    assert!(r.checked > 100, "{} checked", r.checked);
    assert!(
        r.split.is_empty(),
        "{} of {} split after recovery",
        r.split.len(),
        r.checked
    );
    assert!(r.wrong.is_empty(), "{:?}", &r.wrong[..r.wrong.len().min(5)]);
    // Every kept span reached the sink (none lost on the way out during the outage).
    let mut kept_spans = 0.0;
    for p in &procs {
        let m = Metrics::parse(&http_get(p.metrics, "/metrics").await.text());
        kept_spans += m.sum("tailsift_decided_spans_total", &[("verdict", "kept")])
            + m.sum("tailsift_late_spans_total", &[("verdict", "kept")]);
    }
    assert_eq!(
        sink.spans().len() as f64,
        kept_spans,
        "kept spans all exported"
    );
    let _ = (before, during);
}
