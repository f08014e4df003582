//! `composite`: sub-policies in `policy_order`, each with a share of
//! `max_total_spans_per_second` (`rate_allocation`, in percent; unlisted ones share the rest
//! equally); the first sub-policy that samples a trace keeps it while its share of the
//! current second has room for the trace's spans.

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::collector::limits::PerSecond;
use crate::config::tail_sampling::CompositeCfg;

/// Sub-policies in evaluation order with their spans-per-second allocation.
#[derive(Debug)]
pub struct Composite {
    subs: Vec<(Boxed, i64)>,
    total: i64,
    counts: PerSecond,
}

pub fn compile(c: &mut Compiler, cfg: CompositeCfg, path: &str) -> Option<Boxed> {
    let total = cfg.max_total_spans_per_second.0;
    if total <= 0 {
        c.error(
            format!("{path}.max_total_spans_per_second"),
            format!("must be greater than 0, got {total}"),
        );
    }
    let subs = &cfg.composite_sub_policy;
    let sub_path = format!("{path}.composite_sub_policy");
    if subs.is_empty() {
        c.error(&sub_path, "give at least one sub-policy");
        return None;
    }
    let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            c.error(
                format!("{sub_path}[{i}].name"),
                "required: rate_allocation and policy_order refer to sub-policies by name",
            );
        } else if names[..i].contains(n) {
            c.error(
                format!("{sub_path}[{i}].name"),
                format!("`{n}` is used by another sub-policy of this composite"),
            );
        }
    }
    let mut order: Vec<usize> = Vec::new();
    for (i, n) in cfg.policy_order.0.iter().enumerate() {
        match names.iter().position(|x| x == n) {
            Some(j) if order.contains(&j) => c.error(
                format!("{path}.policy_order[{i}]"),
                format!("`{n}` is listed twice"),
            ),
            Some(j) => order.push(j),
            None => c.error(
                format!("{path}.policy_order[{i}]"),
                format!("`{n}` is not the name of a composite_sub_policy"),
            ),
        }
    }
    let rest: Vec<usize> = (0..subs.len()).filter(|j| !order.contains(j)).collect();
    order.extend(rest);
    let equal = total as f64 / subs.len() as f64;
    let mut alloc = vec![equal; subs.len()];
    for (i, a) in cfg.rate_allocation.iter().enumerate() {
        let pct = a.percent.0;
        if !(0..=100).contains(&pct) {
            c.error(
                format!("{path}.rate_allocation[{i}].percent"),
                format!("must be from 0 to 100, got {pct}"),
            );
        }
        match names.iter().position(|x| *x == a.policy) {
            Some(j) if pct > 0 => alloc[j] = pct as f64 / 100.0 * total as f64,
            Some(_) => {}
            None => c.error(
                format!("{path}.rate_allocation[{i}].policy"),
                format!("`{}` is not the name of a composite_sub_policy", a.policy),
            ),
        }
    }
    let mut nodes: Vec<Option<Boxed>> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| c.policy(s, &format!("{sub_path}[{i}]"), false))
        .collect();
    let mut ordered = Vec::with_capacity(order.len());
    for j in order {
        ordered.push((nodes[j].take()?, alloc[j] as i64));
    }
    Some(Box::new(Composite {
        counts: PerSecond::new(ordered.len()),
        subs: ordered,
        total,
    }))
}

impl Policy for Composite {
    fn eval(&self, t: &TraceView) -> Decision {
        for (i, (policy, allocated)) in self.subs.iter().enumerate() {
            if policy.eval(t) == Decision::Sampled {
                let spans = t.spans.len() as i64;
                return Decision::of(self.counts.admit(t.now, i, spans, *allocated, self.total));
            }
        }
        Decision::NotSampled
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    const TWO: &str = "{ name: p, type: composite, composite: { max_total_spans_per_second: 4, policy_order: [errors, all], composite_sub_policy: [{ name: all, type: always_sample }, { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }], rate_allocation: [{ policy: errors, percent: 50 }] } }";

    #[test]
    fn the_first_sampling_sub_policy_spends_its_share_of_the_second() {
        let p = compile(TWO);
        // `errors` comes first in policy_order and has 2 spans per second.
        assert_eq!(
            judge(&p, vec![span(1, 1).error(), span(1, 2)]),
            Decision::Sampled
        );
        assert_eq!(judge(&p, vec![span(2, 1).error()]), Decision::NotSampled);
        // `all` has the other half.
        assert_eq!(judge(&p, vec![span(3, 1), span(3, 2)]), Decision::Sampled);
        assert_eq!(judge(&p, vec![span(4, 1)]), Decision::NotSampled);
    }

    #[test]
    fn names_in_policy_order_must_exist() {
        assert_error(
            "{ name: p, type: composite, composite: { max_total_spans_per_second: 4, policy_order: [nope], composite_sub_policy: [{ name: all, type: always_sample }] } }",
            ".composite.policy_order[0]",
            "not the name of a composite_sub_policy",
        );
    }
}
