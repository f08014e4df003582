//! The pipeline between receivers and exporters: ingest a request into the buffer, decide due
//! traces, apply fidelity to kept spans, encode them raw and hand them to the exporters.

use crate::buffer::{Buffer, BufferConfig, Output, Reason};
use crate::config::Config;
use crate::exporter::{ExportItem, Exporters};
use crate::otlp::{encode_request, ingest, OutSpan, Span};
use crate::rules::{Decider, Verdict};
use crate::telemetry::names;
use bytes::Bytes;
use metrics::{counter, gauge, histogram, Counter};
use std::sync::Arc;
use tokio::time::Instant;

/// Where a request came from, for metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http_protobuf",
            Protocol::HttpJson => "http_json",
        }
    }
}

/// A request accepted (possibly in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub accepted_spans: usize,
    pub rejected_spans: usize,
    /// Why spans were rejected, for the OTLP partial-success answer.
    pub message: Option<String>,
}

/// A request refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Malformed(String),
    #[error("tailsift is over its memory limit ({held} of {limit} bytes held); retry later")]
    Overloaded { held: u64, limit: u64 },
}

/// Most spans put in one export item.
const MAX_SPANS_PER_ITEM: usize = 4096;

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

pub struct Pipeline {
    rules: Arc<dyn Decider>,
    buffer: Buffer,
    exporters: Exporters,
    annotate: bool,
    memory_limit: u64,
    /// One set per rule, then one for the default (no rule matched).
    rule_counters: Vec<RuleCounters>,
}

impl Pipeline {
    /// Builds the pipeline of a validated config. The exporters must already be started.
    pub fn new(config: &Config, rules: Arc<dyn Decider>, exporters: Exporters) -> Self {
        let mut rule_counters: Vec<RuleCounters> = rules
            .rule_names()
            .iter()
            .map(|name| RuleCounters::new(name))
            .collect();
        rule_counters.push(RuleCounters::new(crate::rules::DEFAULT_RULE));
        Pipeline {
            buffer: Buffer::new(BufferConfig::from_config(&config.sampling)),
            rules,
            exporters,
            annotate: config.sampling.annotate,
            memory_limit: config.sampling.memory_limit_bytes(),
            rule_counters,
        }
    }

    pub fn rules(&self) -> &dyn Decider {
        &*self.rules
    }

    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// Bytes held: buffered spans plus exporter queues.
    pub fn held_bytes(&self) -> u64 {
        self.buffer.stats().bytes + self.exporters.queued_bytes()
    }

    /// Whether new data would be refused now.
    pub fn overloaded(&self) -> Option<Refusal> {
        let held = self.held_bytes();
        if held >= self.memory_limit || self.exporters.is_congested() {
            Some(Refusal::Overloaded {
                held,
                limit: self.memory_limit,
            })
        } else {
            None
        }
    }

    /// Takes one encoded `ExportTraceServiceRequest` into the buffer.
    pub fn accept(&self, protocol: Protocol, body: Bytes) -> Result<Accepted, Refusal> {
        let p = protocol.label();
        if let Some(refusal) = self.overloaded() {
            counter!(names::RECEIVER_REQUESTS, "protocol" => p, "outcome" => "refused")
                .increment(1);
            return Err(refusal);
        }
        let ingested = match ingest(&body, self.rules.interest()) {
            Ok(i) => i,
            Err(e) => {
                counter!(names::RECEIVER_REQUESTS, "protocol" => p, "outcome" => "invalid")
                    .increment(1);
                return Err(Refusal::Malformed(e.to_string()));
            }
        };
        let message = ingested.rejection_message();
        for r in &ingested.rejected {
            counter!(names::RECEIVER_REFUSED_SPANS, "protocol" => p, "reason" => r.reason())
                .increment(1);
        }
        let accepted = ingested.spans.len();
        let rejected = ingested.rejected.len();
        counter!(names::RECEIVER_ACCEPTED_SPANS, "protocol" => p).increment(accepted as u64);
        let outcome = if rejected == 0 { "accepted" } else { "partial" };
        counter!(names::RECEIVER_REQUESTS, "protocol" => p, "outcome" => outcome).increment(1);
        if accepted > 0 {
            let mut out = Output::default();
            self.buffer
                .insert(ingested.spans, Instant::now(), &*self.rules, &mut out);
            self.emit(out);
        }
        Ok(Accepted {
            accepted_spans: accepted,
            rejected_spans: rejected,
            message,
        })
    }

    /// Decides the traces that are due.
    pub fn tick(&self) {
        let mut out = Output::default();
        self.buffer.take_due(Instant::now(), &*self.rules, &mut out);
        self.emit(out);
        self.update_gauges();
    }

    /// Decides every buffered trace now (shutdown).
    pub fn drain(&self) {
        let mut out = Output::default();
        self.buffer.drain(Instant::now(), &*self.rules, &mut out);
        self.emit(out);
        self.update_gauges();
    }

    pub fn update_gauges(&self) {
        let s = self.buffer.stats();
        gauge!(names::BUFFER_TRACES).set(s.traces as f64);
        gauge!(names::BUFFER_SPANS).set(s.spans as f64);
        gauge!(names::BUFFER_BYTES).set(s.bytes as f64);
    }

    /// Flushes the exporters and stops them.
    pub async fn shutdown_exporters(
        self,
        deadline: std::time::Duration,
    ) -> crate::exporter::ShutdownReport {
        self.exporters.shutdown(deadline).await
    }

    fn counters(&self, v: Verdict) -> &RuleCounters {
        let i = v.rule.map_or(self.rule_counters.len() - 1, usize::from);
        &self.rule_counters[i]
    }

    /// Acts on decisions: counts them and sends kept spans on.
    fn emit(&self, out: Output) {
        if out.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut kept: Vec<OutSpan> = Vec::new();
        for d in out.decided {
            let c = self.counters(d.verdict);
            let n = d.trace.spans.len() as u64;
            if d.verdict.keep {
                c.kept_traces.increment(1);
                c.kept_spans.increment(n);
            } else {
                c.dropped_traces.increment(1);
                c.dropped_spans.increment(n);
            }
            if let Some(reason) = d.reason.early_label() {
                counter!(names::EARLY_DECISIONS, "reason" => reason).increment(1);
            }
            histogram!(names::DECISION_DELAY)
                .record(now.saturating_duration_since(d.trace.first).as_secs_f64());
            if d.reason == Reason::Due {
                histogram!(names::DECISION_LATENESS).record(
                    now.saturating_duration_since(d.trace.deadline())
                        .as_secs_f64(),
                );
            }
            if d.verdict.keep {
                for s in d.trace.spans {
                    self.push_kept(d.verdict, s, &mut kept);
                }
            }
            self.flush_if_full(&mut kept);
        }
        if out.late_dropped > 0 {
            counter!(names::LATE_SPANS, "verdict" => "dropped").increment(out.late_dropped as u64);
        }
        if !out.late_kept.is_empty() {
            counter!(names::LATE_SPANS, "verdict" => "kept").increment(out.late_kept.len() as u64);
            for (v, s) in out.late_kept {
                self.push_kept(v, s, &mut kept);
                self.flush_if_full(&mut kept);
            }
        }
        self.flush(&mut kept);
    }

    fn push_kept(&self, v: Verdict, span: Span, kept: &mut Vec<OutSpan>) {
        let mut raw = span.raw;
        if let Some(profile) = self.rules.fidelity_of(v) {
            match profile.apply(&raw) {
                Ok(Some(rewritten)) => {
                    counter!(names::FIDELITY_REWRITTEN_SPANS, "profile" => profile.name.to_string()).increment(1);
                    raw = Bytes::from(rewritten);
                }
                Ok(None) => {}
                Err(e) => {
                    // A span that cannot be decoded cannot be reduced; forwarding it would leak
                    // the payload the profile exists to remove.
                    counter!(names::FIDELITY_FAILED_SPANS, "profile" => profile.name.to_string())
                        .increment(1);
                    tracing::warn!(profile = %profile.name, error = %e, "span could not be decoded for its fidelity profile; not forwarded");
                    return;
                }
            }
        }
        let suffix = if self.annotate {
            self.rules.annotation_of(v).clone()
        } else {
            Bytes::new()
        };
        kept.push(OutSpan {
            scope: span.scope,
            raw,
            suffix,
        });
    }

    fn flush_if_full(&self, kept: &mut Vec<OutSpan>) {
        if kept.len() >= MAX_SPANS_PER_ITEM {
            self.flush(kept);
        }
    }

    fn flush(&self, kept: &mut Vec<OutSpan>) {
        if kept.is_empty() {
            return;
        }
        let body = encode_request(kept.iter());
        self.exporters.send(ExportItem {
            body,
            spans: kept.len(),
        });
        kept.clear();
    }
}
