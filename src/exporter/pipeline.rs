//! One exporter's tasks: the batcher loop, at most `concurrency` deliveries in flight, retries, abort at the deadline.

use super::ack::resolve_all;
use super::batch::{Batch, Batcher};
use super::retry::{classify, Backoff, Retry};
use super::sink::Sink;
use super::stats::{FailReason, Recorder, Warn};
use crate::config::RetryConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the delivery tasks of one exporter share.
pub(crate) struct Delivery {
    pub(crate) sink: Sink,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) retry: RetryConfig,
    pub(crate) timeout: Duration,
    pub(crate) concurrency: usize,
    /// Storage is on: the log holds every undelivered span, so retryable failures are retried
    /// until delivered (or the shutdown deadline), whatever `retry.max_elapsed` says.
    pub(crate) durable: bool,
}

/// Resolves once the shutdown deadline has passed (never, if the signal's owner is gone).
pub(crate) async fn aborted(abort: &mut watch::Receiver<bool>) {
    if abort.wait_for(|a| *a).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Batches items and hands batches to delivery tasks until the channel closes and everything
/// in flight is resolved, or until the abort signal, after which the rest fails as `shutdown`.
pub(crate) async fn run(p: Arc<Delivery>, mut batcher: Batcher, mut abort: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(p.concurrency.max(1)));
    let mut inflight = JoinSet::new();
    loop {
        let batch = tokio::select! {
            b = batcher.next() => b,
            _ = aborted(&mut abort) => break,
        };
        let Some(batch) = batch else { break };
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s,
            _ = aborted(&mut abort) => {
                p.recorder.failed(&batch, FailReason::Shutdown);
                resolve_all(&batch.acks, Some(FailReason::Shutdown));
                break;
            }
        };
        let Ok(slot) = slot else { break };
        let (p2, abort2) = (p.clone(), abort.clone());
        inflight.spawn(async move {
            deliver(&p2, batch, abort2).await;
            drop(slot);
        });
        while inflight.try_join_next().is_some() {}
    }
    let (spans, bytes, acks) = batcher.abandon();
    if spans > 0 || bytes > 0 {
        p.recorder
            .fail_unbatched(spans, bytes, FailReason::Shutdown);
    }
    resolve_all(&acks, Some(FailReason::Shutdown));
    while inflight.join_next().await.is_some() {}
}

/// Sends one batch, retrying retryable failures with backoff until `retry.max_elapsed` (with
/// storage on, until delivered).
async fn deliver(p: &Delivery, mut batch: Batch, mut abort: watch::Receiver<bool>) {
    let rec = &p.recorder;
    let mut salvaged = false;
    let mut body = match p.sink.prepare(batch.body.clone()).await {
        Ok(body) => body,
        Err(e) => return give_up(p, &batch, FailReason::NotRetryable, &e.to_string()),
    };
    let backoff = Backoff {
        initial: p.retry.initial_interval.0,
        max: p.retry.max_interval.0,
    };
    let first = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            r = tokio::time::timeout(p.timeout, p.sink.export(body.clone())) => r,
            _ = aborted(&mut abort) => return give_up(p, &batch, FailReason::Shutdown, "shutdown deadline passed"),
        };
        rec.attempt_took(started.elapsed());
        let err = match result {
            Ok(Ok(accepted)) => {
                if accepted.rejected_spans > 0 {
                    crate::warn_limited!(exporter = %rec.name, rejected_spans = accepted.rejected_spans,
                        spans = batch.spans, message = %accepted.error_message,
                        "backend rejected part of an export batch");
                } else {
                    tracing::debug!(exporter = %rec.name, spans = batch.spans, items = batch.items,
                        bytes = batch.body.len(), attempts = attempt + 1, "export batch sent");
                }
                rec.sent(&batch, accepted.rejected_spans);
                return resolve_all(&batch.acks, None);
            }
            Ok(Err(e)) => e,
            Err(_) => super::ExportError::Timeout(p.timeout),
        };
        let after = match classify(&err) {
            Retry::No if !salvaged => {
                // Perhaps a malformed span spoils the batch: take such spans out and try once more.
                salvaged = true;
                match crate::otlp::salvage::salvage(&batch.body) {
                    Some(s) => {
                        crate::warn_limited!(exporter = %rec.name, removed = s.removed, error = %err,
                            "export batch refused; retrying without its malformed spans");
                        rec.fail_unbatched(
                            s.removed,
                            batch.body.len() - s.body.len().min(batch.body.len()),
                            FailReason::Malformed,
                        );
                        batch = Batch {
                            body: s.body,
                            spans: s.spans,
                            items: batch.items,
                            acks: batch.acks,
                        };
                        body = match p.sink.prepare(batch.body.clone()).await {
                            Ok(body) => body,
                            Err(e) => {
                                return give_up(p, &batch, FailReason::NotRetryable, &e.to_string())
                            }
                        };
                        continue;
                    }
                    None => return give_up(p, &batch, FailReason::NotRetryable, &err.to_string()),
                }
            }
            Retry::No => return give_up(p, &batch, FailReason::NotRetryable, &err.to_string()),
            Retry::Yes { after } => after,
        };
        if !p.retry.enabled {
            return give_up(p, &batch, FailReason::RetriesExhausted, &err.to_string());
        }
        let delay = after.unwrap_or_else(|| backoff.delay(attempt, &mut rand::rng()));
        if !p.durable && first.elapsed().saturating_add(delay) > p.retry.max_elapsed.0 {
            return give_up(p, &batch, FailReason::RetriesExhausted, &err.to_string());
        }
        rec.retry();
        if let Some(suppressed) = rec.may_warn(Warn::Retry) {
            tracing::warn!(exporter = %rec.name, error = %err, retry_in = ?delay, attempt = attempt + 1,
                suppressed, "export attempt failed, retrying");
        }
        attempt += 1;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = aborted(&mut abort) => return give_up(p, &batch, FailReason::Shutdown, &err.to_string()),
        }
    }
}

fn give_up(p: &Delivery, batch: &Batch, reason: FailReason, error: &str) {
    let rec = &p.recorder;
    if let Some(suppressed) = rec.may_warn(Warn::Failure) {
        tracing::warn!(exporter = %rec.name, reason = reason.as_str(), spans = batch.spans, error,
            suppressed, "export batch failed");
    }
    rec.failed(batch, reason);
    resolve_all(&batch.acks, Some(reason));
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
