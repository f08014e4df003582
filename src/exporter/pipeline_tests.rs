//! Delivery behaviour under paused time with a scripted sink: retries, backoff, give-up, concurrency, abort.

use super::*;
use crate::config::Dur;
use crate::exporter::batch::BatchLimits;
use crate::exporter::queue::Queue;
use crate::exporter::sink::fake::FakeSink;
use crate::exporter::sink::Accepted;
use crate::exporter::stats::ExporterStats;
use crate::exporter::{Ack, ExportError, ExportItem, Outcome};
use bytes::Bytes;
use tokio::sync::mpsc;

struct Harness {
    fake: Arc<FakeSink>,
    recorder: Arc<Recorder>,
    tx: Option<mpsc::UnboundedSender<ExportItem>>,
    abort: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn retry(enabled: bool, initial_ms: u64, max_ms: u64, elapsed_ms: u64) -> RetryConfig {
    RetryConfig {
        enabled,
        initial_interval: Dur::millis(initial_ms),
        max_interval: Dur::millis(max_ms),
        max_elapsed: Dur::millis(elapsed_ms),
    }
}

fn start(fake: FakeSink, retry: RetryConfig, concurrency: usize, max_spans: usize) -> Harness {
    start_with(fake, retry, concurrency, max_spans, false)
}

fn start_with(
    fake: FakeSink,
    retry: RetryConfig,
    concurrency: usize,
    max_spans: usize,
    durable: bool,
) -> Harness {
    let fake = Arc::new(fake);
    let queue = Arc::new(Queue::new("test", 1 << 30));
    let recorder = Arc::new(Recorder::new("test", queue));
    let p = Arc::new(Delivery {
        sink: Sink::Fake(fake.clone()),
        recorder: recorder.clone(),
        retry,
        timeout: Duration::from_secs(5),
        concurrency,
        durable,
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let limits = BatchLimits {
        max_spans,
        max_bytes: 1 << 20,
        timeout: Duration::from_millis(100),
    };
    let (abort, abort_rx) = watch::channel(false);
    let task = tokio::spawn(run(p, Batcher::new(limits, rx), abort_rx));
    Harness {
        fake,
        recorder,
        tx: Some(tx),
        abort,
        task,
    }
}

impl Harness {
    fn send(&self, spans: usize) {
        let item = ExportItem::new(Bytes::from(vec![1u8; 10]), spans);
        self.recorder.queue.add(item.spans, item.body.len());
        self.tx.as_ref().unwrap().send(item).unwrap();
    }

    /// Sends an item with an acknowledgement (this exporter is its only one).
    fn send_acked(&self, spans: usize) -> tokio::sync::oneshot::Receiver<Outcome> {
        let (ack, rx) = Ack::channel();
        ack.expect(1);
        let mut item = ExportItem::new(Bytes::from(vec![1u8; 10]), spans);
        item.ack = Some(ack);
        self.recorder.queue.add(item.spans, item.body.len());
        self.tx.as_ref().unwrap().send(item).unwrap();
        rx
    }

    /// Closes the channel and waits for the pipeline to finish by itself.
    async fn finish(mut self) -> (ExporterStats, Arc<FakeSink>, Arc<Recorder>) {
        self.tx = None;
        self.task.await.unwrap();
        (self.recorder.snapshot(), self.fake, self.recorder)
    }
}

fn unavailable() -> Result<Accepted, ExportError> {
    Err(tonic::Status::unavailable("down").into())
}

#[tokio::test(start_paused = true)]
async fn retries_with_growing_backoff_then_delivers() {
    let fake = FakeSink::new(
        Duration::ZERO,
        vec![unavailable(), unavailable(), unavailable()],
    );
    let h = start(fake, retry(true, 1000, 30_000, 300_000), 1, 1);
    h.send(1);
    let (stats, fake, rec) = h.finish().await;
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.retries),
        (1, 0, 3)
    );
    let t = fake.call_times();
    let gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    // Equal jitter: retry n waits within [base/2, base], base = 1s, 2s, 4s.
    for (n, gap) in gaps.iter().enumerate() {
        let base = Duration::from_millis(1000 << n);
        assert!(*gap >= base / 2 && *gap <= base, "retry {n}: {gap:?}");
    }
    assert_eq!(
        (rec.queue.spans(), rec.queue.bytes()),
        (0, 0),
        "queue released"
    );
}

#[tokio::test(start_paused = true)]
async fn server_delay_overrides_backoff() {
    let throttled = Err(ExportError::Http {
        status: 429,
        retry_after: Some(Duration::from_secs(7)),
        message: String::new(),
    });
    let fake = FakeSink::new(Duration::ZERO, vec![throttled]);
    let h = start(fake, retry(true, 10, 100, 60_000), 1, 1);
    h.send(2);
    let (stats, fake, _) = h.finish().await;
    let t = fake.call_times();
    assert_eq!(t.len(), 2);
    assert_eq!(t[1] - t[0], Duration::from_secs(7));
    assert_eq!((stats.sent_spans, stats.retries), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_elapsed() {
    let fake = FakeSink::new(Duration::ZERO, (0..100).map(|_| unavailable()).collect());
    let h = start(fake, retry(true, 1000, 2000, 10_000), 1, 1);
    h.send(3);
    let started = Instant::now();
    let (stats, fake, rec) = h.finish().await;
    assert!(started.elapsed() <= Duration::from_secs(10));
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.batches_failed),
        (0, 3, 1)
    );
    assert_eq!(stats.retries as usize + 1, fake.call_times().len());
    assert!(
        stats.retries >= 4,
        "1s..2s backoffs fit at least 4 retries in 10s"
    );
    assert_eq!(rec.queue.spans(), 0);
}

/// With storage on the log holds the batch's spans, so an outage longer than `max_elapsed`
/// is retried through until the backend is back.
#[tokio::test(start_paused = true)]
async fn with_storage_retries_go_on_past_max_elapsed_until_delivered() {
    let fake = FakeSink::new(Duration::ZERO, (0..30).map(|_| unavailable()).collect());
    let h = start_with(fake, retry(true, 1000, 2000, 10_000), 1, 1, true);
    h.send(3);
    let started = Instant::now();
    let (stats, fake, rec) = h.finish().await;
    assert!(
        started.elapsed() > Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.batches_failed),
        (3, 0, 0)
    );
    assert_eq!(fake.call_times().len(), 31);
    assert_eq!(rec.queue.spans(), 0);
}

#[tokio::test(start_paused = true)]
async fn disabled_retry_makes_the_first_failure_final() {
    let fake = FakeSink::new(Duration::ZERO, vec![unavailable()]);
    let h = start(fake, retry(false, 10, 100, 60_000), 1, 1);
    h.send(4);
    let (stats, fake, _) = h.finish().await;
    assert_eq!(fake.call_times().len(), 1);
    assert_eq!((stats.failed_spans, stats.retries), (4, 0));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let fake = FakeSink::new(
        Duration::ZERO,
        vec![Err(tonic::Status::invalid_argument("bad").into())],
    );
    let h = start(fake, retry(true, 10, 100, 60_000), 1, 1);
    h.send(5);
    let (stats, fake, _) = h.finish().await;
    assert_eq!(fake.call_times().len(), 1);
    assert_eq!(
        (stats.failed_spans, stats.batches_failed, stats.retries),
        (5, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn partial_success_counts_rejected_spans_as_failed() {
    let partial = Ok(Accepted {
        rejected_spans: 2,
        error_message: "too old".into(),
    });
    let fake = FakeSink::new(Duration::ZERO, vec![partial]);
    let h = start(fake, retry(true, 10, 100, 60_000), 1, 10);
    h.send(5);
    let (stats, _, _) = h.finish().await;
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.batches_sent),
        (3, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn in_flight_requests_are_bounded_by_concurrency() {
    let fake = FakeSink::new(Duration::from_secs(1), vec![]);
    let h = start(fake, retry(true, 10, 100, 60_000), 2, 1);
    for _ in 0..6 {
        h.send(1);
    }
    let started = Instant::now();
    let (stats, fake, _) = h.finish().await;
    assert_eq!(stats.sent_spans, 6);
    assert_eq!(
        fake.max_inflight.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "6 batches, 2 at a time, 1s each"
    );
}

#[tokio::test(start_paused = true)]
async fn abort_fails_in_flight_retrying_and_queued_spans_as_shutdown() {
    let fake = FakeSink::new(Duration::from_secs(3600), vec![]);
    let h = start(fake, retry(true, 10, 100, 60_000), 1, 1);
    for _ in 0..3 {
        h.send(2); // one in flight (hanging), one waiting for a slot, one in the channel
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.abort.send(true).unwrap();
    let (stats, _, rec) = h.finish().await;
    assert_eq!(
        (
            stats.sent_spans,
            stats.failed_spans,
            stats.shutdown_failed_spans
        ),
        (0, 6, 6)
    );
    assert_eq!((rec.queue.spans(), rec.queue.bytes()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn each_ack_completes_once_delivered_or_failed_with_the_reason() {
    let refused = || Err(tonic::Status::invalid_argument("bad batch").into());
    // Batches of one item: the first fails twice then goes through (the backend recovers),
    // the second is refused for good, the third goes through at once.
    let fake = FakeSink::new(
        Duration::ZERO,
        vec![
            unavailable(),
            unavailable(),
            Ok(Accepted::default()),
            refused(),
        ],
    );
    let h = start(fake, retry(true, 100, 1000, 60_000), 1, 1);
    let recovered = h.send_acked(1);
    // One at a time, so the script's answers go to the items in order.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let refused_for_good = h.send_acked(1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at_once = h.send_acked(1);
    let (stats, _, _) = h.finish().await;
    assert_eq!(recovered.await, Ok(Outcome::Delivered));
    assert_eq!(
        refused_for_good.await,
        Ok(Outcome::Failed(FailReason::NotRetryable))
    );
    assert_eq!(at_once.await, Ok(Outcome::Delivered));
    assert_eq!((stats.sent_spans, stats.failed_spans), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn items_still_owed_at_the_deadline_fail_as_shutdown() {
    let fake = FakeSink::new(Duration::ZERO, (0..1000).map(|_| unavailable()).collect());
    let h = start(fake, retry(true, 1000, 1000, 3_600_000), 1, 1);
    let retrying = h.send_acked(1);
    let queued = h.send_acked(1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = h.abort.send(true);
    let Harness { task, .. } = h;
    task.await.unwrap();
    assert_eq!(retrying.await, Ok(Outcome::Failed(FailReason::Shutdown)));
    assert_eq!(queued.await, Ok(Outcome::Failed(FailReason::Shutdown)));
}
