//! Validation of the `tail_sampling:` section, every problem with its key path: the choice
//! between it and `sampling.rules`, the buffer settings, and each policy (through the same
//! compiler the daemon uses).

use super::compile::Compiler;
use super::RESERVED_NAMES;
use crate::config::tail_sampling::{PolicyCheck, TailSamplingConfig};
use crate::config::{Config, ValidationError};
use crate::otlp::Interest;

impl PolicyCheck for TailSamplingConfig {
    fn check_policies(&self, config: &Config) -> Vec<ValidationError> {
        check(self, config)
    }
}

/// Checks `ts`, the `tail_sampling` block of `config`.
fn check(ts: &TailSamplingConfig, config: &Config) -> Vec<ValidationError> {
    let mut interest = Interest::default();
    let mut c = Compiler::new(&mut interest);
    if !config.sampling.rules.is_empty() {
        c.error(
            "tail_sampling",
            "both `sampling.rules` and `tail_sampling` are given: use one or the other (tail_sampling policies replace the rules)",
        );
    }
    settings(ts, config, &mut c);
    policies(ts, &mut c);
    c.errors
}

fn settings(ts: &TailSamplingConfig, config: &Config, c: &mut Compiler) {
    const P: &str = "tail_sampling";
    if let Some(d) = ts.decision_wait {
        if d.0.is_zero() {
            c.error(format!("{P}.decision_wait"), "must be greater than 0");
        }
    }
    let wait = ts
        .decision_wait
        .map(|d| d.0)
        .filter(|d| !d.is_zero())
        .unwrap_or(config.sampling.decision_wait.0);
    if let Some(r) = ts.decision_wait_after_root_received {
        if r.0 > wait {
            c.error(
                format!("{P}.decision_wait_after_root_received"),
                format!(
                    "must not be longer than decision_wait ({wait:?}), got {:?}",
                    r.0
                ),
            );
        }
    }
    if let Some(n) = ts.num_traces {
        if n.0 < 1 {
            c.error(
                format!("{P}.num_traces"),
                format!("must be at least 1, got {}", n.0),
            );
        }
    }
    let non_negative = [
        (
            "expected_new_traces_per_sec",
            ts.expected_new_traces_per_sec,
        ),
        ("maximum_trace_size_bytes", ts.maximum_trace_size_bytes),
        (
            "decision_cache.sampled_cache_size",
            ts.decision_cache
                .as_ref()
                .and_then(|d| d.sampled_cache_size),
        ),
        (
            "decision_cache.non_sampled_cache_size",
            ts.decision_cache
                .as_ref()
                .and_then(|d| d.non_sampled_cache_size),
        ),
    ];
    for (key, v) in non_negative {
        if let Some(v) = v {
            c.non_negative(P, key, v.0);
        }
    }
}

fn policies(ts: &TailSamplingConfig, c: &mut Compiler) {
    if ts.policies.is_empty() {
        c.error(
            "tail_sampling.policies",
            "give at least one policy (e.g. `- { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }`)",
        );
    }
    if ts.policies.len() > u16::MAX as usize - RESERVED_NAMES.len() {
        c.error("tail_sampling.policies", "too many policies");
    }
    for (i, p) in ts.policies.iter().enumerate() {
        let path = format!("tail_sampling.policies[{i}]");
        if p.name.is_empty() {
            c.error(
                format!("{path}.name"),
                "required: a name, shown in metrics and in the `sampling.rule` attribute",
            );
        } else if ts.policies[..i].iter().any(|q| q.name == p.name) {
            c.error(
                format!("{path}.name"),
                format!("duplicate policy name `{}`", p.name),
            );
        } else if RESERVED_NAMES.contains(&p.name.as_str()) {
            c.error(
                format!("{path}.name"),
                format!(
                    "`{}` is reserved for tailsift's own metrics: choose another name",
                    p.name
                ),
            );
        }
        c.policy(p, &path, true);
    }
}
