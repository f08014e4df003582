//! Checks and compiles one policy tree. Every problem is collected with its key path, so the
//! same code serves `validate` (errors only) and the daemon (compiled policies).

use super::limits::{Bucket, PerSecond};
use super::ottl::{self, Context};
use super::policy::{AttrKey, Node, StrMatch};
use super::probabilistic;
use super::schema::{CompositeCfg, PolicyCfg, PolicyType};
use crate::config::ValidationError;
use crate::otlp::Interest;
use regex::Regex;

pub struct Compiler<'a> {
    pub interest: &'a mut Interest,
    pub errors: Vec<ValidationError>,
}

fn status_bit(code: &str) -> Option<u8> {
    match code {
        "UNSET" => Some(1 << crate::otlp::model::status::UNSET),
        "OK" => Some(1 << crate::otlp::model::status::OK),
        "ERROR" => Some(1 << crate::otlp::model::status::ERROR),
        _ => None,
    }
}

impl Compiler<'_> {
    pub fn new(interest: &mut Interest) -> Compiler<'_> {
        Compiler {
            interest,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn attr_key(&mut self, key: &str, path: &str) -> Option<AttrKey> {
        if key.is_empty() {
            self.error(
                format!("{path}.key"),
                "required: the attribute key to look at",
            );
            return None;
        }
        Some(AttrKey {
            span: self.interest.span_key(key),
            resource: self.interest.resource_key(key),
        })
    }

    /// Compiles the policy at `path`; `None` when it has errors (all of them are recorded).
    /// `top`: at the top level of `policies`, where `drop` is allowed.
    pub fn policy(&mut self, p: &PolicyCfg, path: &str, top: bool) -> Option<Node> {
        let before = self.errors.len();
        let ty = p.kind.key();
        for block in p.blocks() {
            if block != ty {
                self.error(
                    format!("{path}.{block}"),
                    format!("given, but this policy's type is `{ty}`: settings go in the block named after the type (change `type` or remove this block)"),
                );
            }
        }
        let node = self.node(p, path, top);
        if self.errors.len() > before {
            None
        } else {
            node
        }
    }

    fn node(&mut self, p: &PolicyCfg, path: &str, top: bool) -> Option<Node> {
        let at = |block: &str| format!("{path}.{block}");
        Some(match p.kind {
            PolicyType::AlwaysSample => Node::Always,
            PolicyType::TraceFlags => Node::TraceFlags,
            PolicyType::Latency => {
                let c = p.latency.clone().unwrap_or_default();
                let (lower, upper) = (c.threshold_ms.0, c.upper_threshold_ms.0);
                if lower < 0 {
                    self.error(
                        at("latency.threshold_ms"),
                        format!("must not be negative, got {lower}"),
                    );
                }
                if upper < 0 {
                    self.error(
                        at("latency.upper_threshold_ms"),
                        format!("must not be negative, got {upper}"),
                    );
                } else if upper != 0 && upper <= lower {
                    self.error(
                        at("latency.upper_threshold_ms"),
                        format!("({upper}) must be greater than threshold_ms ({lower}): a trace is sampled when threshold_ms < duration <= upper_threshold_ms"),
                    );
                }
                Node::Latency { lower, upper }
            }
            PolicyType::NumericAttribute => {
                let c = p.numeric_attribute.clone().unwrap_or_default();
                let key = self.attr_key(&c.key, &at("numeric_attribute"));
                // As in the Collector, 0 means "not set".
                let min = c.min_value.map(|v| v.0).filter(|&v| v != 0);
                let max = c.max_value.map(|v| v.0).filter(|&v| v != 0);
                match (min, max) {
                    (None, None) => self.error(
                        at("numeric_attribute"),
                        "give min_value, max_value or both (a value of 0 counts as not set, as in the Collector)",
                    ),
                    (Some(lo), Some(hi)) if lo > hi => self.error(
                        at("numeric_attribute.min_value"),
                        format!("({lo}) is greater than max_value ({hi})"),
                    ),
                    _ => {}
                }
                Node::Numeric {
                    key: key?,
                    min: min.unwrap_or(i64::MIN),
                    max: max.unwrap_or(i64::MAX),
                    invert: c.invert_match,
                }
            }
            PolicyType::Probabilistic => {
                let c = p.probabilistic.clone().unwrap_or_default();
                let pct = c.sampling_percentage;
                if !pct.is_finite() || pct < 0.0 {
                    self.error(
                        at("probabilistic.sampling_percentage"),
                        format!("must be a percentage from 0 to 100, got {pct}"),
                    );
                }
                let salt = if c.hash_salt.is_empty() {
                    probabilistic::DEFAULT_SALT
                } else {
                    &c.hash_salt
                };
                Node::Probabilistic {
                    salt: salt.as_bytes().into(),
                    threshold: probabilistic::threshold(pct / 100.0),
                }
            }
            PolicyType::StatusCode => {
                let codes = p.status_code.clone().unwrap_or_default().status_codes.0;
                if codes.is_empty() {
                    self.error(
                        at("status_code.status_codes"),
                        "give at least one of OK, ERROR, UNSET",
                    );
                }
                let mut mask = 0u8;
                for (i, code) in codes.iter().enumerate() {
                    match status_bit(code) {
                        Some(b) => mask |= b,
                        None => self.error(
                            format!("{path}.status_code.status_codes[{i}]"),
                            format!(
                                "unknown status code `{code}`: use OK, ERROR or UNSET (upper case)"
                            ),
                        ),
                    }
                }
                Node::Status(mask)
            }
            PolicyType::StringAttribute => {
                let c = p.string_attribute.clone().unwrap_or_default();
                let key = self.attr_key(&c.key, &at("string_attribute"));
                if c.values.0.is_empty() {
                    self.error(at("string_attribute.values"), "give at least one value");
                }
                let values = if c.enabled_regex_matching {
                    let mut res = Vec::new();
                    for (i, v) in c.values.0.iter().enumerate() {
                        match Regex::new(v) {
                            Ok(r) => res.push(r),
                            Err(e) => self.error(
                                format!("{path}.string_attribute.values[{i}]"),
                                format!("invalid regular expression `{v}`: {e}"),
                            ),
                        }
                    }
                    StrMatch::Regex(res)
                } else {
                    StrMatch::Exact(c.values.0.into_iter().filter(|v| !v.is_empty()).collect())
                };
                Node::Str {
                    key: key?,
                    values,
                    invert: c.invert_match,
                }
            }
            PolicyType::TraceState => {
                let c = p.trace_state.clone().unwrap_or_default();
                if c.key.is_empty() {
                    self.error(
                        at("trace_state.key"),
                        "required: the tracestate key to look at",
                    );
                }
                if c.values.0.is_empty() {
                    self.error(at("trace_state.values"), "give at least one value");
                }
                let key_len = c.key.len();
                Node::TraceState {
                    values: c
                        .values
                        .0
                        .into_iter()
                        .filter(|v| !v.is_empty() && key_len + v.len() < 256)
                        .collect(),
                    key: c.key,
                }
            }
            PolicyType::RateLimiting => {
                let c = p.rate_limiting.clone().unwrap_or_default();
                let (rate, burst) = self.bucket(
                    c.spans_per_second.0,
                    c.burst_capacity.map(|b| b.0),
                    &at("rate_limiting"),
                    "spans_per_second",
                );
                Node::Rate(Bucket::new(rate, burst))
            }
            PolicyType::BytesLimiting => {
                let c = p.bytes_limiting.clone().unwrap_or_default();
                let (rate, burst) = self.bucket(
                    c.bytes_per_second.0,
                    c.burst_capacity.map(|b| b.0),
                    &at("bytes_limiting"),
                    "bytes_per_second",
                );
                Node::Bytes(Bucket::new(rate, burst))
            }
            PolicyType::SpanCount => {
                let c = p.span_count.clone().unwrap_or_default();
                let (min, max) = (c.min_spans.0, c.max_spans.0);
                if min < 0 {
                    self.error(
                        at("span_count.min_spans"),
                        format!("must not be negative, got {min}"),
                    );
                }
                if max < 0 {
                    self.error(
                        at("span_count.max_spans"),
                        format!("must not be negative, got {max}"),
                    );
                } else if max != 0 && max < min {
                    self.error(
                        at("span_count.max_spans"),
                        format!("({max}) is less than min_spans ({min}); 0 means no upper bound"),
                    );
                }
                Node::SpanCount { min, max }
            }
            PolicyType::BooleanAttribute => {
                let c = p.boolean_attribute.clone().unwrap_or_default();
                Node::Boolean {
                    key: self.attr_key(&c.key, &at("boolean_attribute"))?,
                    value: c.value,
                    invert: c.invert_match,
                }
            }
            PolicyType::OttlCondition => {
                let c = p.ottl_condition.clone().unwrap_or_default();
                if c.span.0.is_empty() && c.spanevent.0.is_empty() {
                    self.error(
                        at("ottl_condition"),
                        "give at least one condition under `span` or `spanevent`",
                    );
                }
                let span = self.conditions(&c.span.0, Context::Span, &at("ottl_condition.span"));
                let event = self.conditions(
                    &c.spanevent.0,
                    Context::SpanEvent,
                    &at("ottl_condition.spanevent"),
                );
                Node::Ottl { span, event }
            }
            PolicyType::And => {
                let subs = p.and.clone().unwrap_or_default().and_sub_policy;
                Node::And(self.subs(&subs, &at("and.and_sub_policy"))?)
            }
            PolicyType::Drop => {
                if !top {
                    self.error(
                        at("type"),
                        "`drop` is only allowed at the top level of `policies` (its verdict overrides the others)",
                    );
                }
                let subs = p.drop.clone().unwrap_or_default().drop_sub_policy;
                Node::Drop(self.subs(&subs, &at("drop.drop_sub_policy"))?)
            }
            PolicyType::Not => match &p.not {
                Some(n) => {
                    let sub = self.policy(&n.not_sub_policy, &at("not.not_sub_policy"), false);
                    Node::Not(Box::new(sub?))
                }
                None => {
                    self.error(
                        at("not"),
                        "required: `not: { not_sub_policy: { name: ..., type: ... } }`",
                    );
                    return None;
                }
            },
            PolicyType::Composite => {
                let c = p.composite.clone().unwrap_or_default();
                self.composite(&c, &at("composite"))?
            }
        })
    }

    fn bucket(&mut self, rate: i64, burst: Option<i64>, path: &str, rate_key: &str) -> (f64, f64) {
        if rate <= 0 {
            self.error(
                format!("{path}.{rate_key}"),
                format!("must be greater than 0, got {rate}"),
            );
        }
        if let Some(b) = burst.filter(|&b| b < 0) {
            self.error(
                format!("{path}.burst_capacity"),
                format!("must not be negative, got {b}"),
            );
        }
        // As in the Collector: not set (or 0) means twice the rate.
        let burst = burst.filter(|&b| b > 0).unwrap_or(rate.saturating_mul(2));
        (rate as f64, burst as f64)
    }

    fn conditions(&mut self, conds: &[String], ctx: Context, path: &str) -> Vec<ottl::Cond> {
        let mut out = Vec::new();
        for (i, c) in conds.iter().enumerate() {
            match ottl::parse(c, ctx, self.interest) {
                Ok(c) => out.push(c),
                Err(e) => self.error(format!("{path}[{i}]"), format!("`{c}`: {e}")),
            }
        }
        out
    }

    fn subs(&mut self, subs: &[PolicyCfg], path: &str) -> Option<Vec<Node>> {
        if subs.is_empty() {
            self.error(path, "give at least one sub-policy");
            return None;
        }
        let nodes: Vec<Option<Node>> = subs
            .iter()
            .enumerate()
            .map(|(i, s)| self.policy(s, &format!("{path}[{i}]"), false))
            .collect();
        nodes.into_iter().collect()
    }

    fn composite(&mut self, c: &CompositeCfg, path: &str) -> Option<Node> {
        let total = c.max_total_spans_per_second.0;
        if total <= 0 {
            self.error(
                format!("{path}.max_total_spans_per_second"),
                format!("must be greater than 0, got {total}"),
            );
        }
        let subs = &c.composite_sub_policy;
        let sub_path = format!("{path}.composite_sub_policy");
        if subs.is_empty() {
            self.error(&sub_path, "give at least one sub-policy");
            return None;
        }
        let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                self.error(
                    format!("{sub_path}[{i}].name"),
                    "required: rate_allocation and policy_order refer to sub-policies by name",
                );
            } else if names[..i].contains(n) {
                self.error(
                    format!("{sub_path}[{i}].name"),
                    format!("`{n}` is used by another sub-policy of this composite"),
                );
            }
        }
        let mut order: Vec<usize> = Vec::new();
        for (i, n) in c.policy_order.0.iter().enumerate() {
            match names.iter().position(|x| x == n) {
                Some(j) if order.contains(&j) => self.error(
                    format!("{path}.policy_order[{i}]"),
                    format!("`{n}` is listed twice"),
                ),
                Some(j) => order.push(j),
                None => self.error(
                    format!("{path}.policy_order[{i}]"),
                    format!("`{n}` is not the name of a composite_sub_policy"),
                ),
            }
        }
        let rest: Vec<usize> = (0..subs.len()).filter(|j| !order.contains(j)).collect();
        order.extend(rest);
        let equal = total as f64 / subs.len() as f64;
        let mut alloc = vec![equal; subs.len()];
        for (i, a) in c.rate_allocation.iter().enumerate() {
            let pct = a.percent.0;
            if !(0..=100).contains(&pct) {
                self.error(
                    format!("{path}.rate_allocation[{i}].percent"),
                    format!("must be from 0 to 100, got {pct}"),
                );
            }
            match names.iter().position(|x| *x == a.policy) {
                Some(j) if pct > 0 => alloc[j] = pct as f64 / 100.0 * total as f64,
                Some(_) => {}
                None => self.error(
                    format!("{path}.rate_allocation[{i}].policy"),
                    format!("`{}` is not the name of a composite_sub_policy", a.policy),
                ),
            }
        }
        let mut nodes: Vec<Option<Node>> = subs
            .iter()
            .enumerate()
            .map(|(i, s)| self.policy(s, &format!("{sub_path}[{i}]"), false))
            .collect();
        let mut ordered = Vec::with_capacity(order.len());
        for j in order {
            ordered.push((nodes[j].take()?, alloc[j] as i64));
        }
        Some(Node::Composite {
            counts: PerSecond::new(ordered.len()),
            subs: ordered,
            total,
        })
    }
}
