//! Restarts on the same directory: buffered traces come back with their receive times,
//! undelivered kept spans are exported again, decisions are restored.

use super::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_traces_survive_a_shutdown_and_are_decided_after_the_restart() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    // A long wait: at shutdown the traces are still buffered, so they stay on disk.
    let d = Daemon::start(&config(dir.path(), url, "2s", "")).await;
    for t in 1..=5 {
        d.send_ok(Transport::Grpc, &trace(t)).await;
    }
    let summary = d.stop().await;
    assert_eq!(
        summary.export.sent_spans, 0,
        "nothing decided before the shutdown"
    );
    assert!(
        !segments(dir.path()).is_empty(),
        "the log keeps the buffered spans"
    );
    // Past their wait by the time of the restart: decided at once after replay.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "2s", "")).await;
    assert_eq!(
        grew(&base, "tailsift_storage_replayed_spans_total", &[]),
        10.0
    );
    let all = wait_for(PATIENCE, || unique_span_ids(sink).len() == 10).await;
    assert!(
        all,
        "every replayed span is delivered: {:?}",
        unique_span_ids(sink)
    );
    assert_eq!(
        sink.received_spans(),
        10,
        "no duplicates after a clean shutdown"
    );
    d.stop().await;
    assert_eq!(
        requests_on_disk(dir.path()),
        0,
        "everything released: only the decisions stay on disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_undelivered_at_the_shutdown_deadline_stay_on_disk() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    sink.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "100ms", "")).await;
    for t in 1..=3 {
        d.send_ok(Transport::Grpc, &trace(t)).await;
    }
    let decided = wait_for_async(PATIENCE, || async {
        grew(
            &base,
            "tailsift_decided_spans_total",
            &[("verdict", "kept")],
        ) == 6.0
    })
    .await;
    assert!(decided);
    let summary = d.stop().await;
    assert_eq!(summary.export.sent_spans, 0);
    assert!(summary.export.shutdown_failed_spans > 0);
    sink.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let d = Daemon::start(&config(dir.path(), url, "100ms", "")).await;
    let all = wait_for(PATIENCE, || unique_span_ids(sink).len() == 6).await;
    assert!(
        all,
        "kept spans owed at shutdown are exported after the restart"
    );
    d.stop().await;
    assert_eq!(requests_on_disk(dir.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_trace_stays_dropped_for_its_late_spans_after_a_restart() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let rules = "  max_spans_per_trace: 2\n  rules:\n    - name: noise\n      when: { span: { name: noise } }\n      drop: true";
    let d = Daemon::start(&config(dir.path(), url, "30s", rules)).await;
    // Trace 1 reaches max_spans_per_trace and is dropped at once; trace 2 stays buffered,
    // which keeps the segment (and the decision logged in it) on disk.
    let noisy = request(
        "svc",
        [
            span(1, 11).name("noise"),
            span(1, 12).parent(11).name("noise"),
        ],
    );
    d.send_ok(Transport::Grpc, &noisy).await;
    d.send_ok(
        Transport::Grpc,
        &request("svc", [span(2, 21).name("other")]),
    )
    .await;
    d.stop().await;
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "30s", rules)).await;
    // A late span of trace 1 that no rule would drop on its own.
    d.send_ok(
        Transport::Grpc,
        &request("svc", [span(1, 13).parent(11).name("late")]),
    )
    .await;
    assert_eq!(
        grew(
            &base,
            "tailsift_late_spans_total",
            &[("verdict", "dropped")]
        ),
        1.0
    );
    assert_eq!(
        grew(&base, "tailsift_storage_replayed_spans_total", &[]),
        1.0,
        "trace 2 only: trace 1 was released"
    );
    let m = d.scrape().await;
    assert_eq!(
        m.sum("tailsift_buffer_traces", &[]),
        1.0,
        "only trace 2 is live"
    );
    d.stop().await;
    assert!(!unique_span_ids(sink).contains(&13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fsync_every_answer_waits_for_the_flush_and_survives_a_restart() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let yaml = config(dir.path(), url, "1s", "").replace("storage:\n", "storage:\n  sync: fsync\n");
    let base = Metrics::of_this_process();
    let d = Daemon::start(&yaml).await;
    // Concurrent requests over both transports share flushes.
    let sends = (1..=8u128).map(|t| {
        let d = &d;
        async move {
            let transport = if t % 2 == 0 {
                Transport::Grpc
            } else {
                Transport::HttpProtobuf
            };
            d.send_ok(transport, &trace(t)).await
        }
    });
    futures::future::join_all(sends).await;
    assert_eq!(
        grew(
            &base,
            "tailsift_storage_appended_records_total",
            &[("kind", "request")]
        ),
        8.0
    );
    d.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let d = Daemon::start(&yaml).await;
    assert!(wait_for(PATIENCE, || unique_span_ids(sink).len() == 16).await);
    d.stop().await;
}

/// A configuration with 1MiB segments (`max_bytes: 16MiB`) that drops spans named `noise`.
fn dropping_noise(dir: &std::path::Path, url: &str) -> String {
    let rules =
        "  rules:\n    - name: noise\n      when: { span: { name: noise } }\n      drop: true";
    config(dir, url, "100ms", rules).replace("storage:\n", "storage:\n  max_bytes: 16MiB\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_delivered_requests_free_their_segments() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let yaml = dropping_noise(dir.path(), url);
    let base = Metrics::of_this_process();
    let d = Daemon::start(&yaml).await;
    let big = "x".repeat(50_000);
    for t in 1..=100u128 {
        let name = if t % 2 == 0 { "noise" } else { "kept" };
        d.send_ok(
            Transport::Grpc,
            &request("svc", [span(t, 1).name(name).attr("payload", &big)]),
        )
        .await;
    }
    assert!(
        wait_for(PATIENCE, || unique_span_ids(sink).len() == 1
            && sink.received_spans() == 50)
        .await
    );
    // Segments before the active one (1MiB each) go once all their requests are released.
    let freed = wait_for_async(PATIENCE, || async {
        d.scrape().await.sum("tailsift_storage_bytes", &[]) < 1_100_000.0
    })
    .await;
    assert!(
        freed,
        "bytes on disk: {}",
        d.scrape().await.sum("tailsift_storage_bytes", &[])
    );
    // About 5MB went through 1MiB segments.
    assert!(grew(&base, "tailsift_storage_deleted_segments_total", &[]) >= 3.0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_outlive_the_request_segments_of_their_traces() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let yaml = dropping_noise(dir.path(), url);
    let base = Metrics::of_this_process();
    let d = Daemon::start(&yaml).await;
    d.send_ok(
        Transport::Grpc,
        &request("svc", [span(1, 11).name("noise")]),
    )
    .await;
    let dropped = wait_for(PATIENCE, || {
        grew(
            &base,
            "tailsift_decided_spans_total",
            &[("verdict", "dropped")],
        ) == 1.0
    })
    .await;
    assert!(
        dropped,
        "trace 1 is dropped (its request is in segment 1, its decision in a decisions segment)"
    );
    // Kept traffic fills and rolls segments; delivered, they are released and deleted.
    let big = "x".repeat(50_000);
    for t in 2..=60u128 {
        d.send_ok(
            Transport::Grpc,
            &request("svc", [span(t, 1).name("kept").attr("payload", &big)]),
        )
        .await;
    }
    assert!(wait_for(PATIENCE, || sink.received_spans() == 59).await);
    let first = dir.path().join("segment-0000000000000001.log");
    let freed = wait_for(PATIENCE, || !first.exists()).await;
    assert!(freed, "the segment holding trace 1's request is deleted");
    assert_eq!(
        grew(&base, "tailsift_storage_carried_decisions_total", &[]),
        0.0,
        "decisions are in segments of their own: nothing is rewritten"
    );
    d.stop().await;

    let base = Metrics::of_this_process();
    let d = Daemon::start(&yaml).await;
    // A late span of trace 1 that no rule would drop on its own, then a new trace.
    d.send_ok(
        Transport::Grpc,
        &request("svc", [span(1, 12).parent(11).name("late")]),
    )
    .await;
    d.send_ok(
        Transport::Grpc,
        &request("svc", [span(99, 991).name("new")]),
    )
    .await;
    assert!(wait_for(PATIENCE, || unique_span_ids(sink).contains(&991)).await);
    assert_eq!(
        grew(
            &base,
            "tailsift_late_spans_total",
            &[("verdict", "dropped")]
        ),
        1.0,
        "the late span follows the verdict taken before the restart"
    );
    assert!(!unique_span_ids(sink).contains(&12));
    d.stop().await;
}
