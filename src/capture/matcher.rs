//! What a capture matches: a span (any span of the trace) by user, session, experiment, any
//! capturable attribute, span name or service; compiled against the decoded attributes.

use crate::otlp::{AttrValue, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A capture's matcher as written in the API. Every given field must hold on one span.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureMatch {
    /// `user.id` (span or resource attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `session.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `experiment.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The span name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The resource's `service.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Any of `sampling.capture.attributes`: key -> value (compared as text: `42` matches
    /// the integer 42).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// A compiled matcher.
#[derive(Debug, Clone)]
pub struct Compiled {
    name: Option<String>,
    service: Option<String>,
    /// (span interest index, resource interest index, value).
    attrs: Vec<(u16, u16, String)>,
}

fn text_eq(v: Option<&AttrValue>, want: &str) -> bool {
    match v {
        Some(AttrValue::Str(b)) => &b[..] == want.as_bytes(),
        Some(AttrValue::Int(i)) => want.parse::<i64>() == Ok(*i),
        Some(AttrValue::Double(d)) => want.parse::<f64>() == Ok(*d),
        Some(AttrValue::Bool(b)) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

impl CaptureMatch {
    /// Compiles against the capturable attribute keys (`allowed`, whose span and resource
    /// interest indices are `keys`).
    pub fn compile(&self, allowed: &[String], keys: &[(u16, u16)]) -> Result<Compiled, String> {
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        for (key, v) in [
            ("user.id", &self.user),
            ("session.id", &self.session),
            ("experiment.id", &self.experiment),
        ] {
            if let Some(v) = v {
                wanted.push((key, v));
            }
        }
        wanted.extend(
            self.attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let mut attrs = Vec::new();
        for (key, v) in wanted {
            let Some(i) = allowed.iter().position(|a| a == key) else {
                return Err(format!(
                    "attribute `{key}` is not capturable: add it to sampling.capture.attributes \
                     (now: {})",
                    allowed.join(", ")
                ));
            };
            let (s, r) = keys[i];
            attrs.push((s, r, v.to_string()));
        }
        if attrs.is_empty() && self.name.is_none() && self.service.is_none() {
            return Err(
                "empty match: give user, session, experiment, attributes, name or service"
                    .to_string(),
            );
        }
        Ok(Compiled {
            name: self.name.clone(),
            service: self.service.clone(),
            attrs,
        })
    }
}

impl Compiled {
    fn span_matches(&self, s: &Span) -> bool {
        self.name
            .as_ref()
            .is_none_or(|n| s.name_bytes() == n.as_bytes())
            && self
                .service
                .as_ref()
                .is_none_or(|n| s.service_bytes() == Some(n.as_bytes()))
            && self
                .attrs
                .iter()
                .all(|(si, ri, v)| text_eq(s.attr(*si), v) || text_eq(s.resource_attr(*ri), v))
    }

    /// Whether some span of the trace matches.
    pub fn matches(&self, spans: &[Span]) -> bool {
        spans.iter().any(|s| self.span_matches(s))
    }
}
