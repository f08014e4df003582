//! The storage log's part of the pipeline: append before ack, spans buffered as summaries and
//! read back from the log when kept, decisions restored and requests replayed at start.

use super::{Pipeline, Refusal};
use crate::buffer::Output;
use crate::decide::{Decider, Verdict};
use crate::otlp::{Ingested, Interest, Span};
use crate::storage::Lease;
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

    /// Reads back the parked spans of `chunk`, once per request: of each request, only the
    /// spans at the offsets its entries hold (a request may have several entries).
    fn read_back(&self, chunk: &[Parked]) -> ReadBack {
        let mut stored = ReadBack::default();
        let Some(storage) = &self.storage else {
            return stored;
        };
        for (lease, offsets) in wanted_offsets(chunk) {
            let spans = self.read_request(storage, lease, &offsets);
            stored.requests.insert(Arc::as_ptr(lease) as usize, spans);
        }
        stored
    }

    /// The spans at `offsets` of the request `lease` holds, read back from the log as ingest
    /// makes them (the request's other spans are skipped undecoded).
    fn read_request(
        &self,
        storage: &crate::storage::Storage,
        lease: &Arc<crate::storage::Lease>,
        offsets: &[u32],
    ) -> Result<Vec<Span>, &'static str> {
        let body = storage.read_request(lease).map_err(|e| {
            crate::warn_limited!(error = %e, reason = e.label(), "storage log: a kept request could not be read back; its spans are counted in tailsift_storage_unreadable_spans_total and not exported");
            e.label()
        })?;
        // What was accepted at first is accepted again (no attributes are read this time).
        match crate::otlp::ingest_at(&body, offsets, Some(&self.retained), Some(lease.clone())) {
            Ok(i) => Ok(i.spans.into_iter().map(|(_, s)| s).collect()),
            Err(e) => {
                crate::warn_limited!(error = %e, "storage log: a kept request read back is not valid OTLP; its spans are counted in tailsift_storage_unreadable_spans_total and not exported");
                Err("undecodable")
            }
        }
    }

    /// Parks kept spans (storage on) until the exporter queues have room: a trace's spans (or
    /// a late span) with the verdict that kept them. Summaries are parked as their offsets in
    /// their stored request and dropped, which frees them (and their request's summary buffer
    /// once no buffered span uses it).
    pub(super) fn park(&self, kept: Vec<(Verdict, Vec<Span>)>) {
        // The traces decided together come from the shards in turn, and the spans of one
        // request are spread over them: grouped by request (and verdict), each request's kept
        // spans take one entry. (Their order among themselves is not an export order.)
        let mut spans: Vec<(Verdict, Span)> = kept
            .into_iter()
            .flat_map(|(v, spans)| spans.into_iter().map(move |s| (v, s)))
            .collect();
        spans.sort_by_cached_key(|(v, s)| {
            let lease = s.lease().map_or(0, |l| Arc::as_ptr(l) as usize);
            (lease, v.rule, v.threshold, v.generation, s.body_offset())
        });
        let mut unreadable = 0u64;
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        let before = parked.spans;
        for (verdict, s) in spans {
            if !s.is_summary() {
                parked.push_span(verdict, s);
            } else if let Some(lease) = s.lease() {
                parked.push_offset(verdict, lease, s.body_offset());
            } else {
                unreadable += 1;
            }
        }
        self.parked_spans
            .fetch_add((parked.spans - before) as u64, Ordering::AcqRel);
        self.parked_bytes
            .store(parked.bytes() as u64, Ordering::Release);
        drop(parked);
        if unreadable > 0 {
            counter!(names::STORAGE_UNREADABLE_SPANS, "reason" => "no_record")
                .increment(unreadable);
        }
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
            let chunk = {
                let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
                let chunk = parked.take(self.item_max_spans);
                let n: usize = chunk.iter().map(Parked::len).sum();
                self.parked_spans.fetch_sub(n as u64, Ordering::AcqRel);
                self.parked_bytes
                    .store(parked.bytes() as u64, Ordering::Release);
                chunk
            };
            if chunk.is_empty() {
                break;
            }
            let engine = self.engine.load();
            let stored = self.read_back(&chunk);
            let mut kept = super::Outgoing::default();
            for entry in chunk {
                match entry {
                    Parked::Spans { verdict, spans } => {
                        for s in spans {
                            self.push_kept(&engine, verdict, s, &mut kept, exporters);
                        }
                    }
                    Parked::Stored {
                        verdict,
                        lease,
                        offsets,
                    } => {
                        for s in stored.spans_at(&lease, &offsets) {
                            self.push_kept(&engine, verdict, s, &mut kept, exporters);
                        }
                    }
                }
            }
            self.flush(&mut kept, exporters);
        }
    }

    /// At shutdown: parked spans never found room; their records stay for the next start.
    pub(super) fn keep_parked_owed(&self) {
        let parked = {
            let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            self.parked_spans.store(0, Ordering::Release);
            let all = std::mem::take(&mut *parked);
            self.parked_bytes.store(0, Ordering::Release);
            all
        };
        if parked.spans == 0 {
            return;
        }
        tracing::warn!(
            spans = parked.spans,
            "kept spans never found room in the exporter queues before the shutdown deadline; \
             they stay in the storage log and are exported after the next start"
        );
        for entry in &parked.entries {
            match entry {
                Parked::Stored { lease, .. } => lease.keep_owed(),
                Parked::Spans { spans, .. } => {
                    for l in spans.iter().filter_map(Span::lease) {
                        l.keep_owed();
                    }
                }
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

/// Kept spans waiting for room in the exporter queues (storage on), oldest first. A summary
/// waits as the offset of its span in its stored request: consecutive kept spans of one request
/// with one verdict share an entry holding the request's lease (which keeps its record owed),
/// so a parked span costs about 4 bytes. Spans that are not summaries wait as they are.
#[derive(Default)]
pub(super) struct ParkedQueue {
    entries: VecDeque<Parked>,
    /// Spans in `entries`.
    spans: usize,
    /// Heap bytes the entries hold, as the allocator rounds them (see [`alloc_size`]).
    heap: usize,
}

/// One entry of the [`ParkedQueue`].
pub(super) enum Parked {
    /// Summaries' spans, by their offsets in the request `lease` holds.
    Stored {
        verdict: Verdict,
        lease: Arc<Lease>,
        offsets: Vec<u32>,
    },
    /// Spans that are not summaries.
    Spans { verdict: Verdict, spans: Vec<Span> },
}

/// The requests the stored entries of `chunk` hold, in the order they first appear (the log's
/// order, mostly), each with the offsets of its parked spans over all its entries (a request
/// has several when its spans were kept by different verdicts or parked at different ticks),
/// sorted and without duplicates.
fn wanted_offsets(chunk: &[Parked]) -> Vec<(&Arc<Lease>, Vec<u32>)> {
    let mut wanted: Vec<(&Arc<Lease>, Vec<u32>)> = Vec::new();
    let mut index = hashbrown::HashMap::<usize, usize>::new();
    for entry in chunk {
        if let Parked::Stored { lease, offsets, .. } = entry {
            let i = *index.entry(Arc::as_ptr(lease) as usize).or_insert_with(|| {
                wanted.push((lease, Vec::new()));
                wanted.len() - 1
            });
            wanted[i].1.extend_from_slice(offsets);
        }
    }
    for (_, offsets) in &mut wanted {
        offsets.sort_unstable();
        offsets.dedup();
    }
    wanted
}

/// What the allocator takes for `bytes` (glibc: an 8-byte header, 16-byte granules, 32 bytes
/// at least), so the accounting follows RSS rather than the bytes asked for.
fn alloc_size(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        ((bytes + 8 + 15) & !15).max(32)
    }
}

/// A lease's allocation (its `Arc`), counted with each entry that holds one.
const LEASE_BYTES: usize = 48;

impl Parked {
    fn len(&self) -> usize {
        match self {
            Parked::Stored { offsets, .. } => offsets.len(),
            Parked::Spans { spans, .. } => spans.len(),
        }
    }

    /// The heap bytes this entry holds.
    fn heap(&self) -> usize {
        match self {
            Parked::Stored { offsets, .. } => {
                LEASE_BYTES + alloc_size(offsets.capacity() * std::mem::size_of::<u32>())
            }
            Parked::Spans { spans, .. } => {
                alloc_size(spans.capacity() * std::mem::size_of::<Span>())
            }
        }
    }
}

impl ParkedQueue {
    /// Bytes held: the queue's allocation and what its entries hold (spans that are not
    /// summaries count in `retained` besides).
    pub(super) fn bytes(&self) -> usize {
        alloc_size(self.entries.capacity() * std::mem::size_of::<Parked>()) + self.heap
    }

    fn push_offset(&mut self, verdict: Verdict, lease: &Arc<Lease>, offset: u32) {
        self.spans += 1;
        let joins = matches!(self.entries.back(),
            Some(Parked::Stored { verdict: v, lease: l, .. }) if *v == verdict && Arc::ptr_eq(l, lease));
        if joins {
            self.with_back(|e| {
                if let Parked::Stored { offsets, .. } = e {
                    offsets.push(offset);
                }
            });
        } else {
            self.push(Parked::Stored {
                verdict,
                lease: lease.clone(),
                offsets: vec![offset],
            });
        }
    }

    fn push_span(&mut self, verdict: Verdict, span: Span) {
        self.spans += 1;
        let joins =
            matches!(self.entries.back(), Some(Parked::Spans { verdict: v, .. }) if *v == verdict);
        if joins {
            self.with_back(|e| {
                if let Parked::Spans { spans, .. } = e {
                    spans.push(span);
                }
            });
        } else {
            self.push(Parked::Spans {
                verdict,
                spans: vec![span],
            });
        }
    }

    /// Adds a new newest entry, after giving back the unused room of the one before it (a
    /// list grows by doubling: up to half of it would be empty for as long as it waits).
    fn push(&mut self, entry: Parked) {
        self.with_back(|e| {
            if let Parked::Stored { offsets, .. } = e {
                offsets.shrink_to_fit();
            }
        });
        self.heap += entry.heap();
        self.entries.push_back(entry);
    }

    /// Changes the newest entry with `f`, keeping `heap` in step with what it holds.
    fn with_back(&mut self, f: impl FnOnce(&mut Parked)) {
        if let Some(e) = self.entries.back_mut() {
            let before = e.heap();
            f(e);
            self.heap = self.heap + e.heap() - before;
        }
    }

    /// Takes the oldest entries, at least one and about `max_spans` spans; shrinks the queue's
    /// allocation once emptied (after an outage).
    fn take(&mut self, max_spans: usize) -> Vec<Parked> {
        let mut chunk = Vec::new();
        let mut n = 0;
        while n < max_spans {
            let Some(mut entry) = self.entries.pop_front() else {
                break;
            };
            self.heap -= entry.heap();
            // A long run is split at the item's size, so read-back stays an item at a time.
            if let Parked::Stored {
                verdict,
                lease,
                offsets,
            } = &mut entry
            {
                if n + offsets.len() > max_spans {
                    let rest = offsets.split_off(max_spans - n);
                    let rest = Parked::Stored {
                        verdict: *verdict,
                        lease: lease.clone(),
                        offsets: rest,
                    };
                    self.heap += rest.heap();
                    self.entries.push_front(rest);
                }
            }
            n += entry.len();
            chunk.push(entry);
        }
        self.spans -= n;
        if self.entries.is_empty() && self.entries.capacity() > 1024 {
            self.entries.shrink_to(1024);
        }
        chunk
    }
}

/// The requests of parked summaries, read back from the log (by lease): of each, the spans
/// parked, in body order.
#[derive(Default)]
pub(super) struct ReadBack {
    requests: hashbrown::HashMap<usize, Result<Vec<Span>, &'static str>>,
}

impl ReadBack {
    /// The spans at `offsets` of the request `lease` holds, as stored; those that cannot be
    /// found (their request could not be read back) are counted by why and left out, which
    /// lets their record go: no exporter owes them.
    fn spans_at<'a>(
        &'a self,
        lease: &Arc<Lease>,
        offsets: &'a [u32],
    ) -> impl Iterator<Item = Span> + 'a {
        let request = self
            .requests
            .get(&(Arc::as_ptr(lease) as usize))
            .map_or(Err("no_record"), |r| r.as_ref().map_err(|e| *e));
        if let Err(reason) = request {
            counter!(names::STORAGE_UNREADABLE_SPANS, "reason" => reason)
                .increment(offsets.len() as u64);
        }
        let spans: &[Span] = request.map_or(&[], Vec::as_slice);
        offsets.iter().filter_map(move |&at| {
            if spans.is_empty() {
                return None;
            }
            let found = crate::otlp::summary::find_at(spans, at).cloned();
            if found.is_none() {
                counter!(names::STORAGE_UNREADABLE_SPANS, "reason" => "not_found").increment(1);
            }
            found
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(rule: u16) -> Verdict {
        Verdict {
            rule: Some(rule),
            keep: true,
            threshold: 0,
            generation: 0,
        }
    }

    fn lease(storage: &crate::storage::Storage) -> Arc<Lease> {
        let body = Bytes::from_static(b"\x0a\x00");
        storage
            .append_request(&body, std::time::SystemTime::now())
            .unwrap()
            .lease
    }

    #[test]
    fn runs_of_one_request_and_verdict_share_an_entry_and_cost_about_4_bytes_a_span() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::Storage::open_for_tests(dir.path());
        let (a, b) = (lease(&storage), lease(&storage));
        let mut q = ParkedQueue::default();
        for at in 0..10_000 {
            q.push_offset(verdict(1), &a, at);
        }
        // Another verdict, another request, then the first request again: three more entries.
        q.push_offset(verdict(2), &a, 7);
        q.push_offset(verdict(2), &b, 8);
        q.push_offset(verdict(1), &a, 9);
        assert_eq!(q.entries.len(), 4);
        assert_eq!(q.spans, 10_003);
        // A finished entry's list holds no spare room.
        let Some(Parked::Stored { offsets, .. }) = q.entries.front() else {
            panic!("a stored entry first")
        };
        assert_eq!(offsets.capacity(), 10_000);
        let bytes = q.bytes();
        assert!((40_000..=41_000).contains(&bytes), "{bytes}");

        // Taken an item at a time: the long run is split, nothing is lost or reordered.
        let mut taken = Vec::new();
        while q.spans > 0 {
            let chunk = q.take(4096);
            let n: usize = chunk.iter().map(Parked::len).sum();
            assert!(n <= 4096, "{n}");
            for e in chunk {
                if let Parked::Stored {
                    verdict, offsets, ..
                } = e
                {
                    taken.extend(offsets.into_iter().map(|o| (verdict.rule, o)));
                }
            }
        }
        let mut want: Vec<_> = (0..10_000).map(|o| (Some(1), o)).collect();
        want.extend([(Some(2), 7), (Some(2), 8), (Some(1), 9)]);
        assert_eq!(taken, want);
        assert!(q.entries.is_empty());
        assert_eq!(q.heap, 0, "every entry's bytes were given back");
    }

    #[test]
    fn a_request_is_read_back_once_for_all_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::Storage::open_for_tests(dir.path());
        let (a, b) = (lease(&storage), lease(&storage));
        let stored = |v: u16, lease: &Arc<Lease>, offsets: &[u32]| Parked::Stored {
            verdict: verdict(v),
            lease: lease.clone(),
            offsets: offsets.to_vec(),
        };
        let chunk = vec![
            stored(1, &b, &[40, 90]),
            stored(1, &a, &[10, 30]),
            Parked::Spans {
                verdict: verdict(1),
                spans: Vec::new(),
            },
            stored(2, &b, &[20, 90, 60]),
            stored(2, &a, &[5]),
        ];
        let wanted = wanted_offsets(&chunk);
        assert_eq!(wanted.len(), 2);
        assert!(Arc::ptr_eq(wanted[0].0, &b) && Arc::ptr_eq(wanted[1].0, &a));
        assert_eq!(wanted[0].1, [20, 40, 60, 90]);
        assert_eq!(wanted[1].1, [5, 10, 30]);
        assert!(wanted_offsets(&[]).is_empty());
    }

    #[test]
    fn the_allocator_rounding_is_counted() {
        assert_eq!(alloc_size(0), 0);
        assert_eq!(alloc_size(1), 32);
        assert_eq!(alloc_size(24), 32);
        assert_eq!(alloc_size(25), 48);
        assert_eq!(alloc_size(4096), 4112);
    }
}
