//! The storage log's part of the pipeline: append before ack, spans buffered as summaries and
//! read back from the log when kept, decisions restored and requests replayed at start.

use super::{Pipeline, Refusal};
use crate::buffer::Output;
use crate::decide::{Decider, Verdict};
use crate::otlp::{Ingested, Interest, Span};
use crate::telemetry::names;
use bytes::Bytes;
use metrics::counter;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
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

    /// With storage on, replaces the spans of a request just appended by summaries: the buffer
    /// then holds what decisions read, and the body is read back from the log when kept.
    pub(super) fn summarize(&self, ingested: &mut Ingested, interest: &Interest) {
        if self.storage.is_some() {
            let spans = std::mem::take(&mut ingested.spans);
            ingested.spans = crate::otlp::summary::summarize(spans, interest, &self.retained);
        }
    }

    /// Reads back the requests of the summaries among `kept`, once per request.
    pub(super) fn read_back<'a>(&self, kept: impl Iterator<Item = &'a Span>) -> ReadBack {
        let mut stored = ReadBack::default();
        let Some(storage) = &self.storage else {
            return stored;
        };
        for s in kept.filter(|s| s.is_summary()) {
            let Some(lease) = s.lease() else {
                continue;
            };
            stored
                .requests
                .entry(Arc::as_ptr(lease) as usize)
                .or_insert_with(|| self.read_request(storage, lease));
        }
        stored
    }

    /// The spans of the request `lease` holds, read back from the log as ingest makes them.
    fn read_request(
        &self,
        storage: &crate::storage::Storage,
        lease: &Arc<crate::storage::Lease>,
    ) -> Result<Vec<Span>, &'static str> {
        let body = storage.read_request(lease).map_err(|e| {
            crate::warn_limited!(error = %e, reason = e.label(), "storage log: a kept request could not be read back; its spans are counted in tailsift_storage_unreadable_spans_total and not exported");
            e.label()
        })?;
        // What was accepted at first is accepted again (no attributes are read this time).
        match crate::otlp::ingest_leased(
            &body,
            &Interest::default(),
            Some(&self.retained),
            Some(lease.clone()),
        ) {
            Ok(i) => Ok(i.spans.into_iter().map(|(_, s)| s).collect()),
            Err(e) => {
                crate::warn_limited!(error = %e, "storage log: a kept request read back is not valid OTLP; its spans are counted in tailsift_storage_unreadable_spans_total and not exported");
                Err("undecodable")
            }
        }
    }

    /// Parks kept spans (storage on) until the exporter queues have room: a trace's spans (or
    /// a late span) with the verdict that kept them.
    pub(super) fn park(&self, spans: Vec<Parked>) {
        let n: usize = spans.iter().map(|(_, s)| s.len()).sum();
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        self.parked_spans.fetch_add(n as u64, Ordering::AcqRel);
        parked.extend(spans);
        self.note_parked_allocation(&mut parked);
    }

    /// Accounts for the parked queue's allocation (shrunk once emptied, after an outage); the
    /// spans themselves count in `retained`.
    fn note_parked_allocation(&self, parked: &mut VecDeque<Parked>) {
        if parked.is_empty() && parked.capacity() > 1024 {
            parked.shrink_to(1024);
        }
        let bytes = parked.capacity() * std::mem::size_of::<Parked>();
        self.parked_bytes.store(bytes as u64, Ordering::Release);
    }

    /// Exports parked spans, oldest first, an item at a time while the exporter queues have
    /// room: their requests are read back (once per request and item) and they take the
    /// output path as any kept span. Only an item's worth of read-back bytes is in memory at
    /// once, however many traces were decided together.
    pub(super) fn unpark(&self, exporters: &crate::exporter::Exporters) {
        while self.parked_spans.load(Ordering::Acquire) > 0
            && !exporters.is_congested()
            && self.pending_bytes.load(Ordering::Acquire) == 0
        {
            let chunk: Vec<Parked> = {
                let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
                let (mut chunk, mut n) = (Vec::new(), 0);
                while n < self.item_max_spans {
                    let Some(entry) = parked.pop_front() else {
                        break;
                    };
                    n += entry.1.len();
                    chunk.push(entry);
                }
                self.parked_spans.fetch_sub(n as u64, Ordering::AcqRel);
                self.note_parked_allocation(&mut parked);
                chunk
            };
            if chunk.is_empty() {
                break;
            }
            let engine = self.engine.load();
            let stored = self.read_back(chunk.iter().flat_map(|(_, s)| s.iter()));
            let mut kept = super::Outgoing::default();
            for (v, spans) in chunk {
                for s in spans {
                    self.push_kept(&engine, v, &stored, s, &mut kept, exporters);
                }
            }
            self.flush(&mut kept, exporters);
        }
    }

    /// At shutdown: parked spans never found room; their records stay for the next start.
    pub(super) fn keep_parked_owed(&self) {
        let parked: Vec<Parked> = {
            let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            self.parked_spans.store(0, Ordering::Release);
            let all = parked.drain(..).collect();
            self.note_parked_allocation(&mut parked);
            all
        };
        let spans: Vec<&Span> = parked.iter().flat_map(|(_, s)| s.iter()).collect();
        if spans.is_empty() {
            return;
        }
        tracing::warn!(
            spans = spans.len(),
            "kept spans never found room in the exporter queues before the shutdown deadline; \
             they stay in the storage log and are exported after the next start"
        );
        for s in spans {
            if let Some(l) = s.lease() {
                l.keep_owed();
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
        let mut ingested = match crate::otlp::ingest_leased(
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
        self.summarize(&mut ingested, engine.rules.interest());
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

/// Kept spans waiting for the exporters: a trace's spans, or a late span, with their verdict.
pub(super) type Parked = (Verdict, Vec<Span>);

/// The requests of one batch of kept summaries, read back from the log (by lease).
#[derive(Default)]
pub(super) struct ReadBack {
    requests: hashbrown::HashMap<usize, Result<Vec<Span>, &'static str>>,
}

impl ReadBack {
    /// The span as stored, for a summary (the span itself otherwise); `None`, counted by why,
    /// when its request could not be read back. Dropping the summary lets its record go: no
    /// exporter owes it.
    pub(super) fn materialize(&self, span: Span) -> Option<Span> {
        if !span.is_summary() {
            return Some(span);
        }
        let found = span
            .lease()
            .and_then(|l| self.requests.get(&(Arc::as_ptr(l) as usize)))
            .map_or(Err("no_record"), |r| r.as_ref().map_err(|e| *e))
            .and_then(|spans| {
                crate::otlp::summary::find_at(spans, span.body_offset()).ok_or("not_found")
            });
        match found {
            Ok(s) => Some(s.clone()),
            Err(reason) => {
                counter!(names::STORAGE_UNREADABLE_SPANS, "reason" => reason).increment(1);
                None
            }
        }
    }
}
