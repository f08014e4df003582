//! `tailsift simulate`: replays recorded traces through the decider without any network and
//! counts what each rule would keep. Every trace is complete (no waits); traces are decided in
//! the order of their earliest span start, on a synthetic clock that follows the recorded
//! timestamps, so adaptive and rate-limit rules see the recorded traffic rates.

pub mod input;
mod render;

use crate::config::Config;
use crate::decide::explain::Explanation;
use crate::decide::{Decider, DEFAULT_RULE};
use crate::otlp::{ingest, MalformedRequest, OutSpan, Span, TraceId};
use crate::output::accounting::SuffixCache;
use crate::output::Forwarder;
use bytes::Bytes;
use hashbrown::HashMap;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

pub use input::{InputError, InputFormat};

/// Counts for one rule (or for [`DEFAULT_RULE`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleStats {
    pub rule: String,
    /// The action as written in the config, when known.
    pub action: String,
    /// Traces this rule decided (it was the first rule to match them).
    pub matched: u64,
    pub kept: u64,
    pub dropped: u64,
    pub spans_matched: u64,
    pub spans_kept: u64,
    /// Encoded bytes of the spans it decided, as received.
    pub bytes_matched: u64,
    /// Encoded bytes of the spans it kept, as they would be forwarded (after the fidelity
    /// profile, with the annotation and accounting fields).
    pub bytes_kept: u64,
    /// For adaptive rules: the configured target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_traces_per_sec: Option<f64>,
    /// For adaptive and rate-limit rules: kept traces over the recorded duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_traces_per_sec: Option<f64>,
}

/// Totals over the whole recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub traces: u64,
    pub spans: u64,
    pub bytes: u64,
    pub kept_traces: u64,
    pub kept_spans: u64,
    pub kept_bytes: u64,
    /// Spans with an invalid trace or span id (the receiver would reject them).
    pub rejected_spans: u64,
    /// Kept spans not forwarded: not valid OTLP in a part ingest does not read, or not
    /// decodable by their fidelity profile.
    pub fidelity_failed_spans: u64,
    /// Earliest to latest trace start, in seconds.
    pub duration_secs: f64,
}

impl Totals {
    /// Reduction as a fraction (0.9 = 90% less) of traces, spans and bytes.
    pub fn reduction(&self) -> (f64, f64, f64) {
        let r = |kept: u64, all: u64| {
            if all == 0 {
                0.0
            } else {
                1.0 - kept as f64 / all as f64
            }
        };
        (
            r(self.kept_traces, self.traces),
            r(self.kept_spans, self.spans),
            r(self.kept_bytes, self.bytes),
        )
    }
}

/// The result of a replay.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per rule in order, then [`DEFAULT_RULE`].
    pub rules: Vec<RuleStats>,
    pub totals: Totals,
    /// The traces asked about, with the explanation of their decision (`None`: not in the
    /// input).
    pub explanations: Vec<(TraceId, Option<Explanation>)>,
    /// What the decider says about the state it built ([`Decider::notes`]).
    pub notes: Vec<String>,
}

impl Report {
    /// The report as a table for people.
    pub fn table(&self) -> String {
        render::table(self)
    }
    /// The report as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        render::json(self)
    }
}

/// A replay that could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("request {index}: {source}")]
    Malformed {
        index: usize,
        source: MalformedRequest,
    },
}

/// Parses a trace id written as 32 hex digits.
pub fn parse_trace_id(s: &str) -> Option<TraceId> {
    let v = hex::decode(s.trim()).ok()?;
    v.try_into().ok()
}

/// A trace gathered from the recording.
struct Gathered {
    spans: Vec<Span>,
    start: u64,
    order: usize,
}

/// Replays encoded export requests through `decider`. `config` supplies the annotation and
/// accounting settings and, for `sampling.rules`, the actions shown; `explain` lists trace ids
/// whose decisions are explained.
pub fn replay(
    decider: &dyn Decider,
    config: &Config,
    requests: &[Bytes],
    explain: &[TraceId],
) -> Result<Report, SimulateError> {
    replay_forwarding(decider, config, requests, explain, |_| {})
}

/// [`replay`], handing every span that would be forwarded, exactly as the daemon would encode
/// it, to `forwarded` (traces in the order they are decided).
pub fn replay_forwarding(
    decider: &dyn Decider,
    config: &Config,
    requests: &[Bytes],
    explain: &[TraceId],
    mut forwarded: impl FnMut(&OutSpan),
) -> Result<Report, SimulateError> {
    let names = decider.rule_names();
    let uses_rules = config.tail_sampling.is_none();
    let mut rules: Vec<RuleStats> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let r = config.sampling.rules.get(i).filter(|_| uses_rules);
            RuleStats {
                rule: n.to_string(),
                action: r
                    .and_then(|r| r.action().ok())
                    .map(|a| a.describe())
                    .unwrap_or_default(),
                target_traces_per_sec: r
                    .and_then(|r| r.adaptive.as_ref())
                    .map(|a| a.target_traces_per_sec),
                ..Default::default()
            }
        })
        .collect();
    rules.push(RuleStats {
        rule: DEFAULT_RULE.to_string(),
        action: "keep (no rule matched)".into(),
        ..Default::default()
    });
    let mut totals = Totals {
        requests: requests.len() as u64,
        ..Default::default()
    };

    // Gather every span by trace id.
    let mut traces: HashMap<TraceId, Gathered> = HashMap::new();
    for (index, body) in requests.iter().enumerate() {
        let got = ingest(body, decider.interest())
            .map_err(|source| SimulateError::Malformed { index, source })?;
        totals.rejected_spans += got.rejected.len() as u64;
        for (id, span) in got.spans {
            let next = traces.len();
            let t = traces.entry(id).or_insert_with(|| Gathered {
                spans: Vec::new(),
                start: u64::MAX,
                order: next,
            });
            t.start = t.start.min(span.start);
            t.spans.push(span);
        }
    }
    let mut ordered: Vec<(TraceId, Gathered)> = traces.into_iter().collect();
    ordered.sort_by_key(|(_, t)| (t.start, t.order));
    let first = ordered.first().map_or(0, |(_, t)| t.start);
    let last = ordered.last().map_or(0, |(_, t)| t.start);
    totals.duration_secs = last.saturating_sub(first) as f64 / 1e9;

    let base = Instant::now();
    let forwarder = Forwarder::from_config(&config.sampling);
    let mut suffixes = SuffixCache::default();
    let mut explanations: Vec<(TraceId, Option<Explanation>)> =
        explain.iter().map(|id| (*id, None)).collect();
    let at = |start: u64| {
        base.checked_add(Duration::from_nanos(start.saturating_sub(first)))
            .unwrap_or(base)
    };
    // The stage sketches warm up on the whole recording first (in the daemon, a trace's
    // decision waits while later traffic arrives), then every trace is decided.
    for (id, t) in &ordered {
        let arrived: Vec<(TraceId, Span)> = t.spans.iter().map(|s| (*id, s.clone())).collect();
        decider.observe(&arrived, at(t.start));
    }
    for (id, t) in ordered {
        let now = at(t.start);
        let verdict = match explanations.iter_mut().find(|(e, _)| *e == id) {
            Some((_, slot)) => {
                let e = decider.explain(&id, &t.spans, now);
                let v = e.verdict;
                *slot = Some(e);
                v
            }
            None => decider.decide(&id, &t.spans, now),
        };
        let row = verdict
            .rule
            .map_or(rules.len() - 1, |i| usize::from(i).min(rules.len() - 1));
        let stats = &mut rules[row];
        let n = t.spans.len() as u64;
        let bytes: u64 = t.spans.iter().map(|s| s.raw_len() as u64).sum();
        totals.traces += 1;
        totals.spans += n;
        totals.bytes += bytes;
        stats.matched += 1;
        stats.spans_matched += n;
        stats.bytes_matched += bytes;
        if !verdict.keep {
            stats.dropped += 1;
            continue;
        }
        stats.kept += 1;
        totals.kept_traces += 1;
        for span in t.spans {
            match forwarder.forward(decider, verdict, span, &mut suffixes) {
                Ok(out) => {
                    let len = out.encoded_len() as u64;
                    stats.spans_kept += 1;
                    stats.bytes_kept += len;
                    totals.kept_spans += 1;
                    totals.kept_bytes += len;
                    forwarded(&out);
                }
                Err(_) => totals.fidelity_failed_spans += 1,
            }
        }
    }
    if totals.duration_secs > 0.0 {
        for (i, r) in rules.iter_mut().enumerate() {
            let rated = config
                .sampling
                .rules
                .get(i)
                .filter(|_| uses_rules)
                .and_then(|r| r.action().ok())
                .is_some_and(|a| a.is_rated());
            if rated {
                r.kept_traces_per_sec = Some(r.kept as f64 / totals.duration_secs);
            }
        }
    }
    // Capture slots decide nothing in a replay (captures are added at run time).
    rules.retain(|r| !(r.rule.starts_with("_capture") && r.matched == 0));
    Ok(Report {
        rules,
        totals,
        explanations,
        notes: decider.notes(),
    })
}

#[cfg(test)]
mod tests;
