//! The pipeline between receivers and exporters: ingest a request into the buffer, decide due
//! traces, apply fidelity to kept spans, encode them raw and hand them to the exporters.

use crate::buffer::{Buffer, BufferConfig, Output, Reason};
use crate::config::Config;
use crate::decide::versioned::Versioned;
use crate::decide::{Decider, Verdict};
use crate::exporter::{ExportItem, Exporters};
use crate::otlp::{encode_request, OutSpan, Retained, Span};
use crate::output::accounting::SuffixCache;
use crate::output::{Forwarder, NotForwarded};
use crate::receiver::inflight::{InFlight, Reservation};
use crate::telemetry::handles::{BufferGauges, LazyCounter, ReceiverCounters, RequestOutcome};
use crate::telemetry::late_errors::LateErrors;
use crate::telemetry::names;
use arc_swap::ArcSwap;
use bytes::Bytes;
use metrics::{counter, histogram, Counter, Histogram};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use tokio::time::Instant;

pub use crate::receiver::meta::{Protocol, RequestMeta};

/// Logs (at debug) a request refused as a whole: by which protocol and client it came, how
/// long after its arrival, and why.
pub(crate) fn log_refusal(meta: &RequestMeta, refusal: &Refusal) {
    tracing::debug!(
        protocol = meta.protocol.label(),
        waited_ms = meta.received.elapsed().as_millis() as u64,
        user_agent = meta.header("user-agent").unwrap_or(""),
        reason = %refusal,
        "request refused"
    );
}

/// Index and label of a protocol, for the receiver counters kept per protocol.
fn protocol_key(p: Protocol) -> (usize, &'static str) {
    (p as usize, p.label())
}

/// A request accepted (possibly in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub accepted_spans: usize,
    pub rejected_spans: usize,
    /// Why spans were rejected, for the OTLP partial-success answer.
    pub message: Option<String>,
    /// With `storage.sync: fsync`: the answer waits until this many log records are flushed
    /// (see [`Pipeline::durable`]).
    pub durable_after: Option<u64>,
}

/// A request refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Malformed(String),
    /// Retryable: memory or an exporter queue is full.
    #[error("{0}; retry later")]
    Overloaded(String),
    /// Retryable: the daemon is shutting down.
    #[error("tailsift is shutting down; retry against another instance")]
    ShuttingDown,
}

/// Most spans put in one export item, whatever the exporters' batch limits.
const MAX_SPANS_PER_ITEM: usize = 4096;

/// Kept spans on their way to one export item.
#[derive(Default)]
struct Outgoing {
    spans: Vec<OutSpan>,
    bytes: usize,
    suffixes: SuffixCache,
    /// Storage log records of the spans, released once the item is delivered.
    leases: crate::storage::Held,
}

struct RuleCounters {
    kept_traces: Counter,
    dropped_traces: Counter,
    kept_spans: Counter,
    dropped_spans: Counter,
}

impl RuleCounters {
    fn new(rule: &str) -> Self {
        let c = |name: &'static str, verdict: &'static str| counter!(name, "rule" => rule.to_string(), "verdict" => verdict);
        RuleCounters {
            kept_traces: c(names::DECIDED_TRACES, "kept"),
            dropped_traces: c(names::DECIDED_TRACES, "dropped"),
            kept_spans: c(names::DECIDED_SPANS, "kept"),
            dropped_spans: c(names::DECIDED_SPANS, "dropped"),
        }
    }
}

/// What a config reload replaces at once: the decider (with what earlier generations'
/// cached verdicts need), the annotation and accounting settings, the per-rule counters.
struct Engine {
    rules: Arc<Versioned>,
    /// Annotation, sample-rate accounting and fidelity of kept spans.
    forwarder: Forwarder,
    /// One set per rule, then one for the default (no rule matched).
    rule_counters: Vec<RuleCounters>,
}

impl Engine {
    fn new(rules: Arc<Versioned>, config: &Config) -> Engine {
        let mut rule_counters: Vec<RuleCounters> = rules
            .rule_names()
            .iter()
            .map(|name| RuleCounters::new(name))
            .collect();
        rule_counters.push(RuleCounters::new(crate::decide::DEFAULT_RULE));
        Engine {
            rules,
            forwarder: Forwarder::from_config(&config.sampling),
            rule_counters,
        }
    }

    fn counters(&self, v: Verdict) -> &RuleCounters {
        let default = self.rule_counters.len() - 1;
        let i = v.rule.map_or(default, usize::from).min(default);
        &self.rule_counters[i]
    }
}

pub struct Pipeline {
    /// Swapped whole by a config reload ([`Pipeline::reload`]).
    engine: ArcSwap<Engine>,
    buffer: Buffer,
    /// `None` once shut down. Every request holds the read lock while it is ingested, decided
    /// and handed to the exporters, so shutdown (the write lock) never strands accepted spans.
    exporters: RwLock<Option<Exporters>>,
    /// Cleared (under the write lock) when shutdown starts deciding the buffer: requests still
    /// arriving are refused from then on, so none can add spans to an already drained buffer.
    accepting: AtomicBool,
    /// Request bytes kept alive by spans not yet released; with the exporter queues, what
    /// `memory_limit` counts.
    retained: Arc<Retained>,
    /// Bytes of requests being received, reserved before they are read.
    inflight: InFlight,
    /// Export items decided while an exporter queue had no room for them, oldest first. They
    /// count against `memory_limit`, and receivers refuse while any wait.
    pending: Mutex<VecDeque<ExportItem>>,
    pending_bytes: AtomicU64,
    /// With storage on, kept spans (summaries) on their way to the exporters, oldest first:
    /// they leave an item at a time while the queues have room, and otherwise wait here with
    /// their bytes in the log (unreleased), so an outage is absorbed on disk, within
    /// `storage.max_bytes`, instead of refused.
    parked: Mutex<storage_glue::ParkedQueue>,
    parked_spans: AtomicU64,
    /// What `parked` holds ([`storage_glue::ParkedQueue::bytes`]), counted in `memory_limit`.
    parked_bytes: AtomicU64,
    /// When a request was last refused for memory (milliseconds since `started`; 0: never).
    memory_refused_at: std::sync::atomic::AtomicU64,
    started: std::time::Instant,
    decision_delay: Histogram,
    decision_lateness: Histogram,
    memory_limit: u64,
    /// Export items never exceed the smallest exporter batch limits, so one decision tick
    /// cannot produce a request larger than a batch may be.
    item_max_spans: usize,
    item_max_bytes: usize,
    /// Error spans lost with their dropped trace: counted and warned about.
    late_errors: LateErrors,
    /// The durable log, when `storage:` is configured.
    storage: Option<Arc<crate::storage::Storage>>,
    /// Decision sharing with the group (`cluster:`), if configured.
    cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Metric handles of the per-request path and the tick, looked up once.
    counters: ReceiverCounters,
    gauges: BufferGauges,
    late_kept: LazyCounter,
    late_dropped: LazyCounter,
    /// By [`Reason`].
    early: [LazyCounter; 6],
}

impl Pipeline {
    /// Builds the pipeline of a validated config. The exporters must already be started.
    pub fn new(config: &Config, rules: Arc<dyn Decider>, exporters: Exporters) -> Self {
        let batches = config.exporters.values().map(|e| &e.batch);
        let item_max_spans = batches
            .clone()
            .map(|b| b.max_spans)
            .min()
            .unwrap_or(MAX_SPANS_PER_ITEM)
            .clamp(1, MAX_SPANS_PER_ITEM);
        // Nor larger than the smallest queue bound, so an item always fits in an empty queue.
        let queues = config.exporters.values().map(|e| e.queue.max_bytes.get());
        let item_max_bytes = batches
            .map(|b| b.max_bytes.get())
            .chain(queues)
            .min()
            .map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX))
            .max(1);
        Pipeline {
            buffer: Buffer::new(BufferConfig::from_config(&config.sampling)),
            engine: ArcSwap::from_pointee(Engine::new(Arc::new(Versioned::first(rules)), config)),
            exporters: RwLock::new(Some(exporters)),
            accepting: AtomicBool::new(true),
            retained: Arc::new(Retained::default()),
            inflight: InFlight::default(),
            pending: Mutex::new(VecDeque::new()),
            pending_bytes: AtomicU64::new(0),
            parked: Mutex::new(storage_glue::ParkedQueue::default()),
            parked_spans: AtomicU64::new(0),
            parked_bytes: AtomicU64::new(0),
            memory_refused_at: Default::default(),
            started: std::time::Instant::now(),
            decision_delay: histogram!(names::DECISION_DELAY),
            decision_lateness: histogram!(names::DECISION_LATENESS),
            memory_limit: config.sampling.memory_limit_bytes(),
            item_max_spans,
            item_max_bytes,
            late_errors: LateErrors::new(config.sampling.decision_wait.get()),
            storage: None,
            cluster: None,
            counters: ReceiverCounters::default(),
            gauges: BufferGauges::new(),
            late_kept: LazyCounter::default(),
            late_dropped: LazyCounter::default(),
            early: Default::default(),
        }
    }

    /// Shares decisions with the group: every decision passes through [`Pipeline::settle`].
    pub fn with_cluster(mut self, cluster: Arc<crate::cluster::Cluster>) -> Self {
        let engine = self.engine.load();
        cluster.set_decider(engine.rules.clone(), engine.rules.generation());
        self.cluster = Some(cluster);
        self
    }

    /// Lets the group settle what the buffer just decided (holds, peers' verdicts).
    fn settle(&self, out: &mut Output) {
        if let Some(c) = &self.cluster {
            c.settle(out, &self.buffer, Instant::now());
        }
    }

    /// Shutdown with a cluster: decisions of the drained buffer wait for peers (at most
    /// `decision_wait + grace`, and never past `deadline`), then whatever still waits is
    /// released with the best verdict heard.
    pub async fn settle_held(&self, deadline: std::time::Duration) {
        let Some(c) = &self.cluster else { return };
        let until = Instant::now() + c.longest_wait().min(deadline);
        while c.held() > 0 && Instant::now() < until {
            tokio::time::sleep(self.buffer.config().tick).await;
            self.tick();
        }
        if let Some(exporters) = &*self.exporters() {
            let mut out = Output::default();
            c.release_all(&mut out);
            let engine = self.engine.load();
            self.emit(out, exporters, &engine);
        }
    }

    /// The pipeline with durable storage: requests are appended before they are acknowledged.
    pub fn with_storage(mut self, storage: Arc<crate::storage::Storage>) -> Self {
        let cache = self.buffer.config();
        if cache.cache_kept > 0 || cache.cache_dropped > 0 {
            // Decisions the cache remembers outlive their segments (none with the cache off).
            storage.carry_decisions_forward();
        }
        self.storage = Some(storage);
        self
    }

    pub fn storage(&self) -> Option<&Arc<crate::storage::Storage>> {
        self.storage.as_ref()
    }

    /// Waits until `n` log records are on the device (`Accepted::durable_after`).
    pub async fn durable(&self, n: u64) -> Result<(), Refusal> {
        let Some(s) = &self.storage else {
            return Ok(());
        };
        s.durable(n).await.map_err(|e| {
            counter!(names::STORAGE_REFUSED_REQUESTS, "reason" => e.refusal_label()).increment(1);
            Refusal::Overloaded(e.to_string())
        })
    }

    fn exporters(&self) -> RwLockReadGuard<'_, Option<Exporters>> {
        self.exporters.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The decider loaded now.
    pub fn rules(&self) -> Arc<dyn Decider> {
        self.engine.load().rules.current().clone()
    }

    /// Replaces the decider and the output settings of `config` (a config reload), between
    /// requests: accepts and decision ticks finish first, and none start until the swap is
    /// done. When the new rules read other attributes, buffered spans have theirs read again,
    /// so buffered traces are decided by the new rules on what those rules read. Returns the
    /// new generation, or `None` once shutdown has begun.
    pub fn reload(&self, config: &Config, rules: Arc<dyn Decider>) -> Option<u16> {
        let guard = self.exporters.write().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() || !self.accepting.load(Ordering::Acquire) {
            return None;
        }
        let old = self.engine.load();
        let next = old.rules.succeed(rules);
        if next.interest() != old.rules.interest() {
            let mut repick = crate::otlp::repick::Repicker::new(next.interest());
            if let Some(s) = &self.storage {
                repick = repick.reading(s, &self.retained);
            }
            self.buffer.for_each_span_mut(|s| repick.span(s));
        }
        let generation = next.generation();
        let next = Arc::new(next);
        if let Some(c) = &self.cluster {
            // The group's budgets and the names peers' decisions use follow the new rules.
            next.join_group(c.group());
            c.set_decider(next.clone(), generation);
        }
        self.engine.store(Arc::new(Engine::new(next, config)));
        Some(generation)
    }

    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// Bytes held: buffered spans, exporter queues and items waiting for queue room (with
    /// storage on, parked spans' entries too).
    pub fn held_bytes(&self) -> u64 {
        let queued = self.exporters().as_ref().map_or(0, Exporters::queued_bytes);
        self.retained.bytes() + queued + self.waiting_bytes()
    }

    /// Bytes of kept spans waiting for the exporters: items waiting for queue room, and the
    /// parked spans' queue (their summaries count in `retained`).
    fn waiting_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Acquire) + self.parked_bytes.load(Ordering::Acquire)
    }

    /// Bytes reserved by requests being received.
    pub fn inflight(&self) -> &InFlight {
        &self.inflight
    }

    /// Records that a request was refused because its bytes would not fit under the limit.
    pub fn note_memory_refusal(&self) {
        let ms = self.started.elapsed().as_millis() as u64 + 1;
        self.memory_refused_at.store(ms, Ordering::Relaxed);
    }

    /// Whether new data is being refused: overloaded now, or a request was refused for memory
    /// within the last second (what `/readyz` reports).
    pub fn refusing(&self) -> bool {
        let at = self.memory_refused_at.load(Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64 + 1;
        self.overloaded().is_some() || (at > 0 && now.saturating_sub(at) < 1000)
    }

    /// `sampling.memory_limit` in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// Whether new data would be refused now, and why (bytes being received count too).
    pub fn overloaded(&self) -> Option<Refusal> {
        match &*self.exporters() {
            _ if !self.accepting.load(Ordering::Acquire) => Some(Refusal::ShuttingDown),
            None => Some(Refusal::ShuttingDown),
            Some(e) => {
                let inflight = self.inflight.bytes();
                let held =
                    self.retained.bytes() + e.queued_bytes() + self.waiting_bytes() + inflight;
                if inflight > 0 && held >= self.memory_limit {
                    return Some(Refusal::Overloaded(format!(
                        "tailsift is over its memory limit ({held} of {} bytes held, {inflight} of them being received)",
                        self.memory_limit
                    )));
                }
                self.overloaded_with(e)
            }
        }
    }

    fn overloaded_with(&self, exporters: &Exporters) -> Option<Refusal> {
        let pending = self.pending_bytes.load(Ordering::Acquire);
        let held = self.retained.bytes() + exporters.queued_bytes() + self.waiting_bytes();
        if held >= self.memory_limit {
            Some(Refusal::Overloaded(format!(
                "tailsift is over its memory limit ({held} of {} bytes held)",
                self.memory_limit
            )))
        } else if self.storage.is_none() && (exporters.is_congested() || pending > 0) {
            // With storage on, kept spans wait in the log instead (see `parked`): only the
            // disk budget and the memory limit refuse.
            Some(Refusal::Overloaded(
                "an exporter's queue is full (its backend is slow or down)".to_string(),
            ))
        } else {
            None
        }
    }

    /// Takes one encoded `ExportTraceServiceRequest` into the buffer.
    pub fn accept(&self, protocol: Protocol, body: Bytes) -> Result<Accepted, Refusal> {
        self.accept_reserved(RequestMeta::now(protocol), body, None)
    }

    /// [`Pipeline::accept`] for a request received with `meta` whose bytes are reserved in
    /// flight: once its spans hold the body (counted in `Retained`), the reservation is
    /// released, before the spans are inserted and decisions emitted.
    pub fn accept_reserved(
        &self,
        meta: RequestMeta,
        body: Bytes,
        reservation: Option<Reservation>,
    ) -> Result<Accepted, Refusal> {
        let p = protocol_key(meta.protocol);
        let refused = |refusal: Refusal, outcome: RequestOutcome| {
            self.counters.request(p, outcome).increment(1);
            log_refusal(&meta, &refusal);
            Err(refusal)
        };
        let guard = self.exporters();
        let Some(exporters) = guard
            .as_ref()
            .filter(|_| self.accepting.load(Ordering::Acquire))
        else {
            return refused(Refusal::ShuttingDown, RequestOutcome::Refused);
        };
        if let Some(refusal) = self.overloaded_with(exporters) {
            return refused(refusal, RequestOutcome::Refused);
        }
        let (lease, durable_after) = match self.append(&body) {
            Ok(a) => a,
            Err(refusal) => return refused(refusal, RequestOutcome::Refused),
        };
        let engine = self.engine.load();
        let interest = engine.rules.interest();
        let mut ingested =
            match crate::otlp::ingest_leased(&body, interest, Some(&self.retained), lease) {
                Ok(i) => i,
                Err(e) => {
                    return refused(Refusal::Malformed(e.to_string()), RequestOutcome::Invalid)
                }
            };
        self.summarize(&mut ingested, interest);
        drop(reservation);
        let message = ingested.rejection_message();
        let mut rejected_by_reason: Vec<(&'static str, u64)> = Vec::new();
        for r in &ingested.rejected {
            match rejected_by_reason
                .iter_mut()
                .find(|(k, _)| *k == r.reason())
            {
                Some((_, n)) => *n += 1,
                None => rejected_by_reason.push((r.reason(), 1)),
            }
        }
        for (reason, n) in rejected_by_reason {
            self.counters.refused_spans(p, reason, n);
        }
        let accepted = ingested.spans.len();
        let rejected = ingested.rejected.len();
        self.counters.accepted_spans(p).increment(accepted as u64);
        self.counters
            .request(
                p,
                if rejected == 0 {
                    RequestOutcome::Accepted
                } else {
                    RequestOutcome::Partial
                },
            )
            .increment(1);
        if accepted > 0 {
            let now = Instant::now();
            engine.rules.observe(&ingested.spans, now);
            let mut out = Output::default();
            self.buffer
                .insert(ingested.spans, now, &*engine.rules, &mut out);
            self.settle(&mut out);
            self.emit(out, exporters, &engine);
        }
        Ok(Accepted {
            accepted_spans: accepted,
            rejected_spans: rejected,
            message,
            durable_after,
        })
    }

    /// Decides the traces that are due.
    pub fn tick(&self) {
        let engine = self.engine.load();
        engine.rules.tick(Instant::now());
        if let Some(s) = &self.storage {
            s.flush_marks();
            s.carry_decisions(|id, keep| self.buffer.remembers(id, keep));
            s.expire_decisions(|| self.buffer.cache_turnover());
        }
        if let Some(exporters) = &*self.exporters() {
            self.send_pending(exporters);
            let mut out = Output::default();
            self.buffer
                .take_due(Instant::now(), &*engine.rules, &mut out);
            self.settle(&mut out);
            self.emit(out, exporters, &engine);
        }
        self.update_gauges();
    }

    /// Decides every buffered trace now (shutdown).
    pub fn drain(&self) {
        // Wait for requests being accepted (they hold the read lock), then refuse new ones.
        {
            let _no_readers = self.exporters.write().unwrap_or_else(|p| p.into_inner());
            self.accepting.store(false, Ordering::Release);
        }
        if self.storage.is_some() {
            // Undecided traces stay in the log and are replayed with their receive times.
            let s = self.buffer.stats();
            tracing::info!(
                traces = s.traces,
                spans = s.spans,
                "storage on: buffered traces stay in the storage log for the next start"
            );
        } else if let Some(exporters) = &*self.exporters() {
            let engine = self.engine.load();
            let mut out = Output::default();
            self.buffer.drain(Instant::now(), &*engine.rules, &mut out);
            self.settle(&mut out);
            self.emit(out, exporters, &engine);
        }
        self.update_gauges();
    }

    pub fn update_gauges(&self) {
        let s = self.buffer.stats();
        let g = &self.gauges;
        g.traces.set(s.traces as f64);
        g.retained_bytes.set(self.retained.bytes() as f64);
        g.pending_bytes.set(self.pending_bytes() as f64);
        metrics::gauge!(names::EXPORT_PARKED_SPANS)
            .set(self.parked_spans.load(Ordering::Acquire) as f64);
        metrics::gauge!(names::EXPORT_PARKED_BYTES)
            .set(self.parked_bytes.load(Ordering::Acquire) as f64);
        g.spans.set(s.spans as f64);
        g.bytes.set(s.bytes as f64);
    }

    /// Flushes the exporters and stops them. Requests being accepted finish first (they hold
    /// the read lock); later ones are refused as shutting down.
    pub async fn shutdown_exporters(
        &self,
        deadline: std::time::Duration,
    ) -> crate::exporter::ShutdownReport {
        // Items waiting for queue room go first, as room frees up, until the deadline.
        let start = std::time::Instant::now();
        while (self.pending_bytes.load(Ordering::Acquire) > 0
            || self.parked_spans.load(Ordering::Acquire) > 0)
            && start.elapsed() < deadline
        {
            if let Some(e) = &*self.exporters() {
                self.send_pending(e);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let exporters = self
            .exporters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match exporters {
            Some(e) => {
                self.keep_parked_owed();
                let left = self.take_pending();
                if !left.is_empty() {
                    let spans: usize = left.iter().map(|i| i.spans).sum();
                    tracing::warn!(spans, "kept spans never found room in the exporter queues before the shutdown deadline");
                }
                for item in &left {
                    e.fail_unqueued(item);
                }
                e.shutdown(deadline.saturating_sub(start.elapsed())).await
            }
            None => crate::exporter::ShutdownReport::default(),
        }
    }

    /// Acts on decisions: counts them and sends kept spans on.
    fn emit(&self, out: Output, exporters: &Exporters, engine: &Engine) {
        if out.is_empty() {
            return;
        }
        let now = Instant::now();
        // Room for every kept span at once (up to one item's worth), so the list never regrows.
        let keeping = if self.storage.is_some() {
            0
        } else {
            out.decided
                .iter()
                .filter(|d| d.verdict.keep)
                .map(|d| d.trace.spans.len())
                .sum::<usize>()
                + out.late_kept.len()
        };
        let mut kept = Outgoing {
            spans: Vec::with_capacity(keeping.min(self.item_max_spans)),
            ..Outgoing::default()
        };
        if let Some(s) = &self.storage {
            if !out.decided.is_empty() {
                s.log_decided(&out.decided, &engine.rules.rule_names());
            }
        }
        // With storage on, kept spans are summaries: they join the parked ones, which go out
        // an item at a time (their requests read back once each, outside any shard lock)
        // while the exporter queues have room, and wait in the log otherwise.
        let park = self.storage.is_some();
        let mut parking = Vec::new();
        for d in out.decided {
            let c = engine.counters(d.verdict);
            let n = d.trace.spans.len() as u64;
            if d.verdict.keep {
                c.kept_traces.increment(1);
                c.kept_spans.increment(n);
            } else {
                c.dropped_traces.increment(1);
                c.dropped_spans.increment(n);
            }
            if let Some(reason) = d.reason.early_label() {
                self.early[d.reason as usize]
                    .get(|| counter!(names::EARLY_DECISIONS, "reason" => reason))
                    .increment(1);
            }
            self.decision_delay
                .record(now.saturating_duration_since(d.trace.first).as_secs_f64());
            if d.reason == Reason::Due {
                self.decision_lateness.record(
                    now.saturating_duration_since(d.trace.deadline())
                        .as_secs_f64(),
                );
            }
            if d.verdict.keep && park {
                parking.push((d.verdict, d.trace.spans));
            } else if d.verdict.keep {
                for s in d.trace.spans {
                    self.push_kept(engine, d.verdict, s, &mut kept, exporters);
                }
            }
        }
        if out.late_dropped > 0 {
            self.late_dropped
                .get(|| counter!(names::LATE_SPANS, "verdict" => "dropped"))
                .increment(out.late_dropped as u64);
        }
        if let Some((trace_id, span)) = &out.late_dropped_error_example {
            self.late_errors
                .report(out.late_dropped_errors as u64, trace_id, span, now);
        }
        if !out.late_kept.is_empty() {
            self.late_kept
                .get(|| counter!(names::LATE_SPANS, "verdict" => "kept"))
                .increment(out.late_kept.len() as u64);
            if park {
                parking.extend(out.late_kept.into_iter().map(|(v, s)| (v, vec![s])));
            } else {
                for (v, s) in out.late_kept {
                    self.push_kept(engine, v, s, &mut kept, exporters);
                }
            }
        }
        self.flush(&mut kept, exporters);
        if !parking.is_empty() {
            self.park(parking);
            self.unpark(exporters);
        }
    }

    fn push_kept(
        &self,
        engine: &Engine,
        v: Verdict,
        span: Span,
        kept: &mut Outgoing,
        exporters: &Exporters,
    ) {
        let lease = span.lease().cloned();
        let out = match engine
            .forwarder
            .forward(&*engine.rules, v, span, &mut kept.suffixes)
        {
            Ok(out) => out,
            // One rate-limited line per reason.
            Err(e @ NotForwarded::Malformed(_)) => {
                crate::warn_limited!(error = %e, "kept span not forwarded");
                return;
            }
            Err(e @ NotForwarded::Unreducible { .. }) => {
                crate::warn_limited!(error = %e, "kept span not forwarded");
                return;
            }
        };
        // Encoded size of the span inside the request (plus wrapper overhead, roughly).
        let size = out.encoded_len() + 8;
        if !kept.spans.is_empty()
            && (kept.spans.len() >= self.item_max_spans || kept.bytes + size > self.item_max_bytes)
        {
            self.flush(kept, exporters);
        }
        kept.bytes += size;
        kept.spans.push(out);
        if let Some(l) = &lease {
            kept.leases.add(l);
        }
    }

    fn flush(&self, kept: &mut Outgoing, exporters: &Exporters) {
        if kept.spans.is_empty() {
            return;
        }
        let body = encode_request(kept.spans.iter());
        let mut item = ExportItem::new(body, kept.spans.len());
        if !kept.leases.is_empty() {
            item.ack = Some(std::mem::take(&mut kept.leases).into_ack());
        }
        self.hand_over(item, exporters);
        kept.spans.clear();
        kept.bytes = 0;
    }
}

/// Hand-off to the exporters under their queue bounds.
impl Pipeline {
    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<ExportItem>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an item, or keeps it (in order, counted) until the exporter queues have room.
    fn hand_over(&self, item: ExportItem, exporters: &Exporters) {
        let mut pending = self.pending();
        let item = if pending.is_empty() {
            match exporters.try_send(item) {
                Ok(()) => return,
                Err(item) => item,
            }
        } else {
            item
        };
        self.pending_bytes
            .fetch_add(item.body.len() as u64, Ordering::AcqRel);
        pending.push_back(item);
    }

    /// Moves waiting items into the exporter queues, oldest first, while they fit; then
    /// parked spans, while the queues have room.
    fn send_pending(&self, exporters: &Exporters) {
        {
            let mut pending = self.pending();
            while let Some(item) = pending.pop_front() {
                let len = item.body.len() as u64;
                match exporters.try_send(item) {
                    Ok(()) => {
                        self.pending_bytes.fetch_sub(len, Ordering::AcqRel);
                    }
                    Err(item) => {
                        pending.push_front(item);
                        return;
                    }
                }
            }
        }
        self.unpark(exporters);
    }

    fn take_pending(&self) -> Vec<ExportItem> {
        let mut pending = self.pending();
        self.pending_bytes.store(0, Ordering::Release);
        pending.drain(..).collect()
    }

    /// Bytes of decided items waiting for room in the exporter queues.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Acquire)
    }
}

#[path = "pipeline_storage.rs"]
mod storage_glue;
