//! Compiled value tests: strings (exact, any-of, regex) and attribute values (exact, any-of,
//! exists, regex, numeric range).

use crate::config::matchers::whole;
use crate::config::{Scalar, StringMatcher, ValueMatcher};
use crate::otlp::AttrValue;
use regex::bytes::Regex;

/// A compiled string test.
#[derive(Debug, Clone)]
pub enum StrTest {
    Exact(String),
    OneOf(Vec<String>),
    Regex(Regex),
}

impl StrTest {
    pub fn compile(m: &StringMatcher) -> Result<Self, regex::Error> {
        Ok(match m {
            StringMatcher::Exact(s) => StrTest::Exact(s.clone()),
            StringMatcher::OneOf(v) => StrTest::OneOf(v.clone()),
            StringMatcher::Regex(r) => StrTest::Regex(whole(r)?),
        })
    }

    #[inline]
    pub fn matches(&self, s: &[u8]) -> bool {
        match self {
            StrTest::Exact(e) => e.as_bytes() == s,
            StrTest::OneOf(v) => v.iter().any(|e| e.as_bytes() == s),
            StrTest::Regex(r) => r.is_match(s),
        }
    }
}

/// A compiled attribute-value test.
#[derive(Debug, Clone)]
pub enum ValTest {
    Exact(Scalar),
    OneOf(Vec<Scalar>),
    Exists(bool),
    Regex(Regex),
    Range { min: f64, max: f64 },
}

impl ValTest {
    pub fn compile(m: &ValueMatcher) -> Result<Self, regex::Error> {
        Ok(match m {
            ValueMatcher::Exact(s) => ValTest::Exact(s.clone()),
            ValueMatcher::OneOf(v) => ValTest::OneOf(v.clone()),
            ValueMatcher::Exists(b) => ValTest::Exists(*b),
            ValueMatcher::Regex(r) => ValTest::Regex(whole(r)?),
            ValueMatcher::Range { min, max } => ValTest::Range {
                min: min.unwrap_or(f64::NEG_INFINITY),
                max: max.unwrap_or(f64::INFINITY),
            },
        })
    }

    /// Tests a value that may be missing. Only `exists: false` matches a missing attribute.
    #[inline]
    pub fn matches(&self, v: Option<&AttrValue>) -> bool {
        match (self, v) {
            (ValTest::Exists(want), v) => v.is_some() == *want,
            (_, None) => false,
            (ValTest::Exact(s), Some(v)) => scalar_eq(s, v),
            (ValTest::OneOf(list), Some(v)) => list.iter().any(|s| scalar_eq(s, v)),
            (ValTest::Regex(r), Some(AttrValue::Str(s))) => r.is_match(s),
            (ValTest::Regex(_), Some(_)) => false,
            (ValTest::Range { min, max }, Some(v)) => {
                v.as_f64().is_some_and(|x| x >= *min && x <= *max)
            }
        }
    }
}

/// Equality of a config scalar and an attribute value. Numbers compare by value across int and
/// double; strings, booleans and numbers never equal one another.
fn scalar_eq(s: &Scalar, v: &AttrValue) -> bool {
    match (s, v) {
        (Scalar::Str(a), AttrValue::Str(b)) => a.as_bytes() == &b[..],
        (Scalar::Bool(a), AttrValue::Bool(b)) => a == b,
        (Scalar::Int(a), AttrValue::Int(b)) => a == b,
        (Scalar::Int(a), AttrValue::Double(b)) => (*a as f64) == *b,
        (Scalar::Float(a), AttrValue::Int(b)) => *a == *b as f64,
        (Scalar::Float(a), AttrValue::Double(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn s(v: &str) -> AttrValue {
        AttrValue::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn string_tests() {
        assert!(StrTest::compile(&StringMatcher::Exact("a".into()))
            .unwrap()
            .matches(b"a"));
        assert!(!StrTest::compile(&StringMatcher::Exact("a".into()))
            .unwrap()
            .matches(b"ab"));
        let one_of = StrTest::compile(&StringMatcher::OneOf(vec!["x".into(), "y".into()])).unwrap();
        assert!(one_of.matches(b"y") && !one_of.matches(b"z"));
        let re = StrTest::compile(&StringMatcher::Regex("^GET /(health|ready)z$".into())).unwrap();
        assert!(re.matches(b"GET /healthz") && !re.matches(b"GET /healthz/x"));
        let partial = StrTest::compile(&StringMatcher::Regex("GET".into())).unwrap();
        assert!(
            partial.matches(b"GET") && !partial.matches(b"GET /"),
            "regexes match the whole string"
        );
        let alt = StrTest::compile(&StringMatcher::Regex("a|b".into())).unwrap();
        assert!(
            alt.matches(b"b") && !alt.matches(b"ab"),
            "alternation stays inside the anchors"
        );
        assert!(StrTest::compile(&StringMatcher::Regex("(".into())).is_err());
    }

    #[test]
    fn value_exact_and_lists() {
        let t = ValTest::compile(&ValueMatcher::Exact(Scalar::Str("premium".into()))).unwrap();
        assert!(t.matches(Some(&s("premium"))));
        assert!(!t.matches(Some(&s("free"))));
        assert!(!t.matches(None));
        let n = ValTest::compile(&ValueMatcher::Exact(Scalar::Int(500))).unwrap();
        assert!(n.matches(Some(&AttrValue::Int(500))));
        assert!(n.matches(Some(&AttrValue::Double(500.0))));
        assert!(!n.matches(Some(&s("500"))), "strings never equal numbers");
        let b = ValTest::compile(&ValueMatcher::Exact(Scalar::Bool(true))).unwrap();
        assert!(
            b.matches(Some(&AttrValue::Bool(true))) && !b.matches(Some(&AttrValue::Bool(false)))
        );
        let l = ValTest::compile(&ValueMatcher::OneOf(vec![
            Scalar::Str("a".into()),
            Scalar::Int(3),
        ]))
        .unwrap();
        assert!(
            l.matches(Some(&s("a")))
                && l.matches(Some(&AttrValue::Int(3)))
                && !l.matches(Some(&s("b")))
        );
    }

    #[test]
    fn value_exists_regex_range() {
        let e = ValTest::Exists(true);
        assert!(e.matches(Some(&AttrValue::Other)) && !e.matches(None));
        let ne = ValTest::Exists(false);
        assert!(ne.matches(None) && !ne.matches(Some(&s(""))));
        let r = ValTest::compile(&ValueMatcher::Regex("^exp-[0-9]+$".into())).unwrap();
        assert!(r.matches(Some(&s("exp-42"))) && !r.matches(Some(&s("exp-x"))));
        assert!(!r.matches(Some(&AttrValue::Int(42))));
        let range = ValTest::compile(&ValueMatcher::Range {
            min: Some(500.0),
            max: Some(599.0),
        })
        .unwrap();
        assert!(range.matches(Some(&AttrValue::Int(500))));
        assert!(range.matches(Some(&AttrValue::Int(599))));
        assert!(!range.matches(Some(&AttrValue::Int(600))));
        assert!(range.matches(Some(&AttrValue::Double(550.5))));
        assert!(!range.matches(Some(&s("550"))));
        let open = ValTest::compile(&ValueMatcher::Range {
            min: Some(1.0),
            max: None,
        })
        .unwrap();
        assert!(open.matches(Some(&AttrValue::Int(i64::MAX))));
    }
}
