//! `string_attribute`: samples a trace when a resource or span has the attribute with one of
//! the values (exact, or unanchored regular expressions with `enabled_regex_matching`).

use super::{any_attr, AttrKey, Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::StringAttributeCfg;
use crate::otlp::model::AttrValue;
use regex::Regex;

/// Exact strings, or unanchored regexes (Go's `MatchString`).
#[derive(Debug)]
enum StrMatch {
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

#[derive(Debug)]
pub struct StringAttribute {
    key: AttrKey,
    values: StrMatch,
    invert: bool,
}

pub fn compile(c: &mut Compiler, cfg: StringAttributeCfg, path: &str) -> Option<Boxed> {
    let key = c.attr_key(&cfg.key, path);
    if cfg.values.0.is_empty() {
        c.error(format!("{path}.values"), "give at least one value");
    }
    let values = if cfg.enabled_regex_matching {
        let mut res = Vec::new();
        for (i, v) in cfg.values.0.iter().enumerate() {
            match Regex::new(v) {
                Ok(r) => res.push(r),
                Err(e) => c.error(
                    format!("{path}.values[{i}]"),
                    format!("invalid regular expression `{v}`: {e}"),
                ),
            }
        }
        StrMatch::Regex(res)
    } else {
        StrMatch::Exact(cfg.values.0.into_iter().filter(|v| !v.is_empty()).collect())
    };
    Some(Box::new(StringAttribute {
        key: key?,
        values,
        invert: cfg.invert_match,
    }))
}

/// A non-string value reads as `""`, as in the Collector.
fn str_of(v: &AttrValue) -> &str {
    v.as_str().unwrap_or("")
}

impl Policy for StringAttribute {
    fn eval(&self, t: &TraceView) -> Decision {
        let res = |v: &AttrValue| self.values.matches(str_of(v));
        let span = |v: &AttrValue| {
            let s = str_of(v);
            !s.is_empty() && self.values.matches(s)
        };
        Decision::of(any_attr(t, self.key, res, span) != self.invert)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge_attr, judge_with};
    use super::Decision;
    use crate::fixtures::{kv_str, span};

    #[test]
    fn exact_values_on_spans_and_resources() {
        let p = compile(
            "{ name: p, type: string_attribute, string_attribute: { key: tier, values: [gold] } }",
        );
        assert_eq!(judge_attr(&p, "tier", "gold"), Decision::Sampled);
        assert_eq!(judge_attr(&p, "tier", "golden"), Decision::NotSampled);
        assert_eq!(
            judge_with(&p, vec![kv_str("tier", "gold")], vec![span(1, 1)]),
            Decision::Sampled
        );
    }

    #[test]
    fn regexes_are_unanchored_and_invert_flips() {
        let p = compile("{ name: p, type: string_attribute, string_attribute: { key: url, values: [health], enabled_regex_matching: true, invert_match: true } }");
        assert_eq!(judge_attr(&p, "url", "/healthz"), Decision::NotSampled);
        assert_eq!(judge_attr(&p, "url", "/api"), Decision::Sampled);
    }

    #[test]
    fn a_bad_regex_is_named() {
        assert_error(
            "{ name: p, type: string_attribute, string_attribute: { key: k, values: ['('], enabled_regex_matching: true } }",
            ".string_attribute.values[0]",
            "invalid regular expression",
        );
    }
}
