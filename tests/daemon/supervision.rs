//! Supervised tasks: when the decision ticker or a receiver dies (a panic injected through the
//! test fault hooks), `/readyz` turns 503 and says why, what was buffered is decided and
//! flushed, and `run` returns an error instead of serving on without the task.

use crate::support;

use std::time::Duration;
use support::*;
use tailsift::fixtures::{request, span};
use tailsift::server::{Faults, RunError};
use tokio::sync::oneshot;

/// One exporter that delivers (where the flushed traces are checked) and one whose backend is
/// down, so the flush lasts `shutdown_timeout` and `/readyz` can be seen meanwhile.
fn config(good: &str, down: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: 1h
  rules:
    - name: errors
      when: {{ span: {{ status: error }} }}
      keep: true
exporters:
  good:
    protocol: otlp_grpc
    endpoint: "{good}"
    batch: {{ timeout: 10ms }}
  down:
    protocol: otlp_grpc
    endpoint: "{down}"
    batch: {{ timeout: 10ms }}
    retry: {{ initial_interval: 50ms, max_interval: 100ms }}
shutdown_timeout: 1s
"#
    )
}

async fn injected_fault_stops_the_daemon(which: &str) {
    let good = GrpcSink::default();
    let good_url = good.serve().await;
    let down = GrpcSink::default();
    down.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let down_url = down.serve().await;
    let (fire, fault) = oneshot::channel();
    let faults = match which {
        "ticker" => Faults {
            ticker: Some(fault),
            ..Faults::default()
        },
        _ => Faults {
            receiver: Some(fault),
            ..Faults::default()
        },
    };
    let mut daemon = Daemon::start_with_faults(&config(&good_url, &down_url), faults).await;
    // Buffered for an hour: only the shutdown after the failure decides it.
    let trace = request("api", [span(7, 1).error(), span(7, 2).parent(1)]);
    daemon.send_ok(Transport::HttpProtobuf, &trace).await;

    fire.send(()).unwrap();
    let metrics = daemon.metrics;
    let not_ready = wait_for_async(PATIENCE, || async move {
        http_get(metrics, "/readyz").await.status == 503
    })
    .await;
    assert!(not_ready, "/readyz turns 503 once the {which} died");
    let seen = http_get(metrics, "/readyz").await.text();
    assert!(
        seen.contains("panicked: fault injected by a test"),
        "/readyz says why: {seen:?}"
    );

    let err = daemon.finished().await.expect_err("run ends with an error");
    match &err {
        RunError::TaskFailed { reason, .. } => assert!(
            reason.contains("panicked"),
            "the error names the failure: {reason}"
        ),
        other => panic!("unexpected error: {other:?}"),
    }
    assert!(
        good.wait_for_spans(2, Duration::from_secs(1)).await,
        "the buffered trace was decided and flushed before run returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_decision_ticker_turns_readyz_503_and_ends_run_with_an_error_after_flushing() {
    injected_fault_stops_the_daemon("ticker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_turns_readyz_503_and_ends_run_with_an_error_after_flushing() {
    injected_fault_stops_the_daemon("receiver").await;
}
