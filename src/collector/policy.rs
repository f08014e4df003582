//! Compiled policies and their evaluation on a read-only view of a trace, with the Collector's
//! semantics for each policy type (see the module documentation for where tailsift differs).

use super::limits::{Bucket, PerSecond};
use super::ottl::{self, Scope};
use super::probabilistic;
use super::raw;
use crate::otlp::model::AttrValue;
use crate::otlp::{Span, TraceId};
use regex::Regex;
use tokio::time::Instant;

/// One policy's verdict on a trace. `invert_match` policies give plain `Sampled`/`NotSampled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    /// From a `drop` policy whose sub-policies all sampled: the trace is not sampled.
    Dropped,
}

impl Decision {
    /// Position in per-decision arrays: sampled, not_sampled, dropped.
    pub fn index(self) -> usize {
        match self {
            Decision::Sampled => 0,
            Decision::NotSampled => 1,
            Decision::Dropped => 2,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Decision::Sampled => "sampled",
            Decision::NotSampled => "not_sampled",
            Decision::Dropped => "dropped",
        }
    }
    fn of(b: bool) -> Decision {
        if b {
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

/// The trace being decided.
pub struct Trace<'a> {
    pub id: &'a TraceId,
    pub spans: &'a [Span],
    pub now: Instant,
}

impl Trace<'_> {
    /// Encoded bytes of the trace's spans.
    pub fn bytes(&self) -> u64 {
        self.spans.iter().map(|s| s.raw.len() as u64).sum()
    }
}

/// `string_attribute` values: exact strings, or unanchored regexes (Go's `MatchString`).
#[derive(Debug)]
pub enum StrMatch {
    Exact(Vec<String>),
    Regex(Vec<Regex>),
}

impl StrMatch {
    fn matches(&self, s: &str) -> bool {
        match self {
            StrMatch::Exact(v) => v.iter().any(|x| x == s),
            StrMatch::Regex(v) => v.iter().any(|r| r.is_match(s)),
        }
    }
}

/// Where an attribute policy looks: the key's index among span keys and resource keys.
#[derive(Debug, Clone, Copy)]
pub struct AttrKey {
    pub span: u16,
    pub resource: u16,
}

/// A compiled policy.
#[derive(Debug)]
pub enum Node {
    Always,
    /// Whole milliseconds; `upper == 0`: no upper bound.
    Latency {
        lower: i64,
        upper: i64,
    },
    Numeric {
        key: AttrKey,
        min: i64,
        max: i64,
        invert: bool,
    },
    Probabilistic {
        salt: Box<[u8]>,
        threshold: u64,
    },
    /// Bit mask of status codes.
    Status(u8),
    Str {
        key: AttrKey,
        values: StrMatch,
        invert: bool,
    },
    TraceState {
        key: String,
        values: Vec<String>,
    },
    TraceFlags,
    Rate(Bucket),
    Bytes(Bucket),
    /// `max == 0`: no upper bound.
    SpanCount {
        min: i64,
        max: i64,
    },
    Boolean {
        key: AttrKey,
        value: bool,
        invert: bool,
    },
    Ottl {
        span: Vec<ottl::Cond>,
        event: Vec<ottl::Cond>,
    },
    And(Vec<Node>),
    Not(Box<Node>),
    Drop(Vec<Node>),
    /// Sub-policies in evaluation order with their spans-per-second allocation.
    Composite {
        subs: Vec<(Node, i64)>,
        total: i64,
        counts: PerSecond,
    },
}

/// Some resource or span has the attribute and `pred` holds for it. The Collector reads a
/// non-matching type as the zero value (`""`, `0`, `false`), and skips empty span strings.
fn any_attr(
    t: &Trace,
    key: AttrKey,
    res: impl Fn(&AttrValue) -> bool,
    span: impl Fn(&AttrValue) -> bool,
) -> bool {
    t.spans.iter().any(|s| {
        s.resource_attr(key.resource).is_some_and(&res) || s.attr(key.span).is_some_and(&span)
    })
}

fn str_of(v: &AttrValue) -> &str {
    v.as_str().unwrap_or("")
}

fn int_of(v: &AttrValue) -> i64 {
    match v {
        AttrValue::Int(i) => *i,
        _ => 0,
    }
}

fn bool_of(v: &AttrValue) -> bool {
    matches!(v, AttrValue::Bool(true))
}

/// Earliest start to latest end, in whole milliseconds (truncated, as Go's `Milliseconds`).
fn duration_ms(spans: &[Span]) -> i64 {
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0) as i128;
    let end = spans.iter().map(|s| s.end).max().unwrap_or(0) as i128;
    ((end - start) / 1_000_000) as i64
}

impl Node {
    pub fn eval(&self, t: &Trace) -> Decision {
        match self {
            Node::Always => Decision::Sampled,
            Node::Latency { lower, upper } => {
                let d = duration_ms(t.spans);
                Decision::of(if *upper == 0 {
                    d >= *lower
                } else {
                    *lower < d && d <= *upper
                })
            }
            Node::Numeric {
                key,
                min,
                max,
                invert,
            } => {
                let inside = |v: &AttrValue| (*min..=*max).contains(&int_of(v));
                Decision::of(any_attr(t, *key, inside, inside) != *invert)
            }
            Node::Probabilistic { salt, threshold } => {
                Decision::of(probabilistic::hash(salt, t.id) <= *threshold)
            }
            Node::Status(mask) => Decision::of(
                t.spans
                    .iter()
                    .any(|s| s.status < 8 && mask & (1 << s.status) != 0),
            ),
            Node::Str {
                key,
                values,
                invert,
            } => {
                let res = |v: &AttrValue| values.matches(str_of(v));
                let span = |v: &AttrValue| {
                    let s = str_of(v);
                    !s.is_empty() && values.matches(s)
                };
                Decision::of(any_attr(t, *key, res, span) != *invert)
            }
            Node::TraceState { key, values } => Decision::of(t.spans.iter().any(|s| {
                s.trace_state()
                    .and_then(|ts| raw::trace_state_get(ts, key))
                    .is_some_and(|v| values.iter().any(|x| x == v))
            })),
            Node::TraceFlags => {
                Decision::of(t.spans.iter().any(|s| raw::flags(&s.raw) & 0x01 != 0))
            }
            Node::Rate(bucket) => Decision::of(bucket.allow(t.now, t.spans.len() as u64)),
            Node::Bytes(bucket) => Decision::of(bucket.allow(t.now, t.bytes())),
            Node::SpanCount { min, max } => {
                let n = t.spans.len() as i64;
                Decision::of(n >= *min && (*max == 0 || n <= *max))
            }
            Node::Boolean { key, value, invert } => {
                let eq = |v: &AttrValue| bool_of(v) == *value;
                Decision::of(any_attr(t, *key, eq, eq) != *invert)
            }
            Node::Ottl { span, event } => Decision::of(t.spans.iter().any(|s| {
                let scope = Scope {
                    span: s,
                    event: None,
                };
                if span.iter().any(|c| c.eval(&scope)) {
                    return true;
                }
                !event.is_empty()
                    && raw::events(&s.raw).iter().any(|e| {
                        let scope = Scope {
                            span: s,
                            event: Some(e),
                        };
                        event.iter().any(|c| c.eval(&scope))
                    })
            })),
            Node::And(subs) => Decision::of(subs.iter().all(|n| n.eval(t) == Decision::Sampled)),
            Node::Not(sub) => Decision::of(sub.eval(t) != Decision::Sampled),
            Node::Drop(subs) => {
                if subs.iter().all(|n| n.eval(t) == Decision::Sampled) {
                    Decision::Dropped
                } else {
                    Decision::NotSampled
                }
            }
            Node::Composite {
                subs,
                total,
                counts,
            } => {
                for (i, (node, allocated)) in subs.iter().enumerate() {
                    if node.eval(t) == Decision::Sampled {
                        let spans = t.spans.len() as i64;
                        return Decision::of(counts.admit(t.now, i, spans, *allocated, *total));
                    }
                }
                Decision::NotSampled
            }
        }
    }
}
