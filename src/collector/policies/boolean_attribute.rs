//! `boolean_attribute`: samples a trace when a resource or span has the boolean attribute with
//! the given value (a non-boolean reads as `false`, as in the Collector).

use super::{any_attr, AttrKey, Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::BooleanAttributeCfg;
use crate::otlp::model::AttrValue;

#[derive(Debug)]
pub struct BooleanAttribute {
    key: AttrKey,
    value: bool,
    invert: bool,
}

pub fn compile(c: &mut Compiler, cfg: BooleanAttributeCfg, path: &str) -> Option<Boxed> {
    Some(Box::new(BooleanAttribute {
        key: c.attr_key(&cfg.key, path)?,
        value: cfg.value,
        invert: cfg.invert_match,
    }))
}

impl Policy for BooleanAttribute {
    fn eval(&self, t: &TraceView) -> Decision {
        let eq = |v: &AttrValue| matches!(v, AttrValue::Bool(true)) == self.value;
        Decision::of(any_attr(t, self.key, eq, eq) != self.invert)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    #[test]
    fn samples_on_the_value() {
        let p = compile(
            "{ name: p, type: boolean_attribute, boolean_attribute: { key: debug, value: true } }",
        );
        let on = span(1, 1).attr_value("debug", Value::BoolValue(true));
        let off = span(1, 1).attr_value("debug", Value::BoolValue(false));
        assert_eq!(judge(&p, vec![on]), Decision::Sampled);
        assert_eq!(judge(&p, vec![off]), Decision::NotSampled);
    }

    #[test]
    fn needs_a_key() {
        assert_error(
            "{ name: p, type: boolean_attribute, boolean_attribute: { value: true } }",
            ".boolean_attribute.key",
            "required",
        );
    }
}
