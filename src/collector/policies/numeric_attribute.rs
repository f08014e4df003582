//! `numeric_attribute`: samples a trace when a resource or span has the integer attribute
//! within `[min_value, max_value]` (0 counts as not set, as in the Collector).

use super::{any_attr, AttrKey, Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::NumericAttributeCfg;
use crate::otlp::model::AttrValue;

#[derive(Debug)]
pub struct NumericAttribute {
    key: AttrKey,
    min: i64,
    max: i64,
    invert: bool,
}

pub fn compile(c: &mut Compiler, cfg: NumericAttributeCfg, path: &str) -> Option<Boxed> {
    let key = c.attr_key(&cfg.key, path);
    // As in the Collector, 0 means "not set".
    let min = cfg.min_value.map(|v| v.0).filter(|&v| v != 0);
    let max = cfg.max_value.map(|v| v.0).filter(|&v| v != 0);
    match (min, max) {
        (None, None) => c.error(
            path,
            "give min_value, max_value or both (a value of 0 counts as not set, as in the Collector)",
        ),
        (Some(lo), Some(hi)) if lo > hi => c.error(
            format!("{path}.min_value"),
            format!("({lo}) is greater than max_value ({hi})"),
        ),
        _ => {}
    }
    Some(Box::new(NumericAttribute {
        key: key?,
        min: min.unwrap_or(i64::MIN),
        max: max.unwrap_or(i64::MAX),
        invert: cfg.invert_match,
    }))
}

/// A non-integer value reads as 0, as in the Collector.
fn int_of(v: &AttrValue) -> i64 {
    match v {
        AttrValue::Int(i) => *i,
        _ => 0,
    }
}

impl Policy for NumericAttribute {
    fn eval(&self, t: &TraceView) -> Decision {
        let inside = |v: &AttrValue| (self.min..=self.max).contains(&int_of(v));
        Decision::of(any_attr(t, self.key, inside, inside) != self.invert)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_inside_the_bounds_and_inverts() {
        let p = compile("{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 500, max_value: 599 } }");
        assert_eq!(
            judge(&p, vec![span(1, 1).attr_int("code", 503)]),
            Decision::Sampled
        );
        assert_eq!(
            judge(&p, vec![span(1, 1).attr_int("code", 200)]),
            Decision::NotSampled
        );
        let p = compile("{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 500, invert_match: true } }");
        assert_eq!(
            judge(&p, vec![span(1, 1).attr_int("code", 200)]),
            Decision::Sampled
        );
    }

    #[test]
    fn needs_a_bound() {
        assert_error(
            "{ name: p, type: numeric_attribute, numeric_attribute: { key: code } }",
            ".numeric_attribute",
            "min_value, max_value or both",
        );
    }
}
