//! The storage log's part of the pipeline: append before ack, decisions restored and requests
//! replayed at start.

use super::{Pipeline, Refusal};
use crate::buffer::Output;
use crate::decide::{Decider, Verdict};
use crate::telemetry::names;
use bytes::Bytes;
use metrics::counter;
use std::sync::Arc;
use tokio::time::Instant;

impl Pipeline {
    /// Appends an accepted request to the log (storage on): its lease, and the record count to
    /// wait for under `fsync`. A log that cannot take it refuses the request, retryably.
    #[allow(clippy::type_complexity)]
    pub(super) fn append(
        &self,
        body: &Bytes,
    ) -> Result<(Option<Arc<crate::storage::Lease>>, Option<u64>), Refusal> {
        let Some(s) = &self.storage else {
            return Ok((None, None));
        };
        match s.append_request(body, std::time::SystemTime::now()) {
            Ok(a) => Ok((Some(a.lease), a.durable_after)),
            Err(e) => {
                counter!(names::STORAGE_REFUSED_REQUESTS, "reason" => e.refusal_label())
                    .increment(1);
                crate::warn_limited!(error = %e, "request refused (retryable): the storage log cannot take it");
                Err(Refusal::Overloaded(e.to_string()))
            }
        }
    }

    /// Puts decisions from before a restart back into the decision cache (rules by name).
    pub fn restore_decisions(&self, decisions: Vec<crate::proto::storage::v1::Decision>) {
        let engine = self.engine.load();
        let names = engine.rules.rule_names();
        for d in decisions {
            let Ok(id) = <[u8; 16]>::try_from(&d.trace_id[..]) else {
                continue;
            };
            let rule = names
                .iter()
                .position(|n| **n == *d.rule)
                .and_then(|i| u16::try_from(i).ok());
            let verdict = Verdict {
                rule,
                keep: d.keep,
                threshold: d.threshold,
                generation: engine.rules.generation(),
            };
            self.buffer.restore_decision(id, verdict);
        }
    }

    /// Puts a request read back from the log into the buffer as if received when it first
    /// was: a trace whose wait has passed is decided at the next tick. Returns its spans.
    pub fn replay(&self, r: crate::storage::Replayed) -> usize {
        let engine = self.engine.load();
        let ingested = match crate::otlp::ingest_leased(
            &r.body,
            engine.rules.interest(),
            Some(&self.retained),
            Some(r.lease),
        ) {
            Ok(i) => i,
            Err(e) => {
                counter!(names::STORAGE_DAMAGED, "kind" => "undecodable").increment(1);
                crate::warn_limited!(error = %e, "storage log: a stored request is not valid OTLP; skipped");
                return 0;
            }
        };
        let age = std::time::SystemTime::now()
            .duration_since(r.received)
            .unwrap_or_default();
        let now = Instant::now();
        let at = now
            .checked_sub(age)
            .or_else(|| now.checked_sub(self.buffer.config().decision_wait))
            .unwrap_or(now);
        let n = ingested.spans.len();
        counter!(names::STORAGE_REPLAYED_SPANS).increment(n as u64);
        if let Some(exporters) = &*self.exporters() {
            let mut out = Output::default();
            self.buffer
                .insert(ingested.spans, at, &*engine.rules, &mut out);
            self.settle(&mut out);
            self.emit(out, exporters, &engine);
        }
        n
    }
}
