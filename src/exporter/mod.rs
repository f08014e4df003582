//! Exporters: fan-out of kept traces to every configured backend, each with its own batching, queue and retries.

pub mod ack;
mod batch;
pub mod compress;
mod file;
mod otlp_grpc;
mod otlp_http;
mod pipeline;
mod queue;
pub mod retry;
mod sink;
mod stats;

pub use ack::{Ack, Outcome};
pub use stats::{ExporterStats, FailReason};

use crate::config::ExporterConfig;
use batch::{BatchLimits, Batcher};
use pipeline::Delivery;
use queue::Queue;
use sink::Sink;
use stats::Recorder;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// After the shutdown deadline, how long the pipelines get to record what they abandon.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// One kept trace (or late spans of one), already encoded as a complete OTLP
/// `ExportTraceServiceRequest` protobuf message.
#[derive(Debug, Clone)]
pub struct ExportItem {
    pub body: bytes::Bytes,
    pub spans: usize,
    /// Completed once every exporter has delivered the item or given up on it.
    pub ack: Option<Ack>,
}

impl ExportItem {
    /// An item without an acknowledgement.
    pub fn new(body: bytes::Bytes, spans: usize) -> Self {
        ExportItem {
            body,
            spans,
            ack: None,
        }
    }
}

/// Errors of the exporter module: bad exporter settings at start, and failed export attempts
/// (which `retry::classify` sorts into retryable or not).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("exporter `{exporter}`: {reason}")]
    Config { exporter: String, reason: String },
    #[error("gRPC status {}: {}", .0.code(), .0.message())]
    Grpc(Box<tonic::Status>),
    #[error("HTTP status {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("transport: {0}")]
    Transport(String),
    #[error("attempt timed out after {0:?}")]
    Timeout(Duration),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed batch: {0}")]
    Malformed(String),
}

impl From<tonic::Status> for ExportError {
    fn from(s: tonic::Status) -> Self {
        ExportError::Grpc(Box::new(s))
    }
}

/// What happened to the exported spans, per exporter and in total (a span sent to two
/// exporters counts twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub sent_spans: u64,
    /// Spans that failed for any reason over the exporters' lifetime.
    pub failed_spans: u64,
    /// Part of `failed_spans`: still unsent when the deadline passed (reason `shutdown`).
    pub shutdown_failed_spans: u64,
    /// True when the deadline passed before everything was resolved.
    pub deadline_passed: bool,
    pub exporters: BTreeMap<String, ExporterStats>,
}

struct Handle {
    tx: mpsc::UnboundedSender<ExportItem>,
    queue: Arc<Queue>,
    recorder: Arc<Recorder>,
}

/// One pipeline (batcher + sender tasks) per configured exporter.
pub struct Exporters {
    handles: BTreeMap<String, Handle>,
    tasks: JoinSet<()>,
    abort: watch::Sender<bool>,
}

impl Exporters {
    /// Starts one pipeline per exporter. Must be called inside a tokio runtime. Connects lazily:
    /// a backend that is down at start only shows up as failed attempts. `durable`: storage is
    /// on, so batches are retried until delivered (an outage is absorbed by the log).
    pub fn start(
        configs: &BTreeMap<String, ExporterConfig>,
        durable: bool,
    ) -> Result<Exporters, ExportError> {
        let (abort, _) = watch::channel(false);
        let mut handles = BTreeMap::new();
        let mut tasks = JoinSet::new();
        for (name, cfg) in configs {
            let sink = Sink::new(name, cfg)?;
            let queue = Arc::new(Queue::new(name, cfg.queue.max_bytes.0));
            let recorder = Arc::new(Recorder::new(name, queue.clone()));
            let (tx, rx) = mpsc::unbounded_channel();
            let limits = BatchLimits {
                max_spans: cfg.batch.max_spans.max(1),
                max_bytes: usize::try_from(cfg.batch.max_bytes.0)
                    .unwrap_or(usize::MAX)
                    .max(1),
                timeout: cfg.batch.timeout.0,
            };
            let p = Arc::new(Delivery {
                sink,
                recorder: recorder.clone(),
                retry: cfg.retry.clone(),
                timeout: cfg.timeout.0,
                concurrency: cfg.queue.concurrency,
                durable,
            });
            tasks.spawn(pipeline::run(
                p,
                Batcher::new(limits, rx),
                abort.subscribe(),
            ));
            handles.insert(
                name.clone(),
                Handle {
                    tx,
                    queue,
                    recorder,
                },
            );
        }
        Ok(Exporters {
            handles,
            tasks,
            abort,
        })
    }

    /// Fans one item out to every exporter whatever their queues hold. Never blocks, never
    /// drops; the daemon's pipeline uses [`Exporters::try_send`], which keeps the bound.
    pub fn send(&self, item: ExportItem) {
        if let Some(ack) = &item.ack {
            ack.expect(self.handles.len());
        }
        for h in self.handles.values() {
            let (spans, bytes) = (item.spans, item.body.len());
            h.queue.add(spans, bytes);
            if let Err(lost) = h.tx.send(item.clone()) {
                // Only if the pipeline task died: account for the loss instead of hiding it.
                h.recorder
                    .fail_unbatched(spans, bytes, FailReason::Rejected);
                if let Some(ack) = &lost.0.ack {
                    ack.resolve(Some(FailReason::Rejected));
                }
            }
        }
    }

    /// Hands one item to every exporter if it fits in every queue (`queue.max_bytes`), else
    /// gives it back untouched: queues never grow past their bound.
    pub fn try_send(&self, item: ExportItem) -> Result<(), ExportItem> {
        let (spans, bytes) = (item.spans, item.body.len());
        for (i, h) in self.handles.values().enumerate() {
            if !h.queue.try_add(spans, bytes) {
                for done in self.handles.values().take(i) {
                    done.queue.remove(spans, bytes);
                }
                return Err(item);
            }
        }
        if let Some(ack) = &item.ack {
            ack.expect(self.handles.len());
        }
        for h in self.handles.values() {
            if let Err(lost) = h.tx.send(item.clone()) {
                h.recorder
                    .fail_unbatched(spans, bytes, FailReason::Rejected);
                if let Some(ack) = &lost.0.ack {
                    ack.resolve(Some(FailReason::Rejected));
                }
            }
        }
        Ok(())
    }

    /// Counts an item that never reached the queues as failed for `shutdown` by every exporter.
    /// Its acknowledgement completes as `Shutdown` (still owed).
    pub fn fail_unqueued(&self, item: &ExportItem) {
        if let Some(ack) = &item.ack {
            ack.expect(self.handles.len());
        }
        for h in self.handles.values() {
            h.queue.add(item.spans, item.body.len());
            h.recorder
                .fail_unbatched(item.spans, item.body.len(), FailReason::Shutdown);
            if let Some(ack) = &item.ack {
                ack.resolve(Some(FailReason::Shutdown));
            }
        }
    }

    /// Bytes waiting in all exporter queues together (including batches being retried).
    pub fn queued_bytes(&self) -> u64 {
        self.handles.values().map(|h| h.queue.bytes()).sum()
    }

    /// True while any exporter's queued bytes are at or above its `queue.max_bytes`.
    pub fn is_congested(&self) -> bool {
        self.handles.values().any(|h| h.queue.is_full())
    }

    /// Lifetime counters of every exporter so far.
    pub fn stats(&self) -> BTreeMap<String, ExporterStats> {
        self.handles
            .iter()
            .map(|(n, h)| (n.clone(), h.recorder.snapshot()))
            .collect()
    }

    /// Flushes everything queued (partial batches at once), then stops. Spans still unsent when
    /// `deadline` passes are counted as failed with reason `shutdown` and reported.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let Exporters {
            handles,
            mut tasks,
            abort,
        } = self;
        let handles: Vec<(String, Arc<Recorder>)> = handles
            .into_iter()
            .map(|(name, h)| (name, h.recorder)) // dropping `tx` closes each batcher's channel
            .collect();
        let drained = tokio::time::timeout(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !drained {
            let _ = abort.send(true);
            let settled = tokio::time::timeout(ABORT_GRACE, async {
                while tasks.join_next().await.is_some() {}
            })
            .await
            .is_ok();
            if !settled {
                tasks.shutdown().await;
            }
        }
        let mut report = ShutdownReport {
            deadline_passed: !drained,
            ..ShutdownReport::default()
        };
        for (name, rec) in handles {
            // Whatever is still counted in the queue was never resolved: it is lost to shutdown.
            let (spans, bytes) = (rec.queue.spans(), rec.queue.bytes());
            if spans > 0 || bytes > 0 {
                rec.fail_unbatched(spans as usize, bytes as usize, FailReason::Shutdown);
            }
            let s = rec.snapshot();
            if s.shutdown_failed_spans > 0 {
                tracing::warn!(exporter = %name, spans = s.shutdown_failed_spans,
                    "spans still unsent at the shutdown deadline");
            }
            report.sent_spans += s.sent_spans;
            report.failed_spans += s.failed_spans;
            report.shutdown_failed_spans += s.shutdown_failed_spans;
            report.exporters.insert(name, s);
        }
        report
    }
}
