//! Fidelity profiles: the one place a kept span's contents are rewritten (payload attributes
//! hashed or truncated, events dropped) for rules that ask for reduced fidelity.

use crate::config::FidelityProfile;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Marker appended to truncated strings.
pub const TRUNCATION_MARKER: &str = "…";
/// Hex digits of the SHA-256 digest kept in a hashed value.
pub const HASH_HEX_DIGITS: usize = 16;

/// A compiled fidelity profile.
#[derive(Debug)]
pub struct Profile {
    pub name: Arc<str>,
    hash: Vec<Glob>,
    max_bytes: Option<usize>,
    drop_events: bool,
    /// The `gen_ai` preset's content attributes are hashed too (see [`super::genai`]).
    gen_ai: bool,
    /// `media.min_bytes`: encoded media under any key is reduced (see [`super::media`]).
    media: Option<usize>,
    media_reduced: metrics::Counter,
    /// `tailsift_fidelity_rewritten_spans_total{profile}`, resolved once.
    pub rewritten: metrics::Counter,
    /// `tailsift_fidelity_failed_spans_total{profile}`, resolved once.
    pub failed: metrics::Counter,
}

/// A key pattern with `*` wildcards.
#[derive(Debug)]
struct Glob(Vec<String>);

impl Glob {
    fn new(p: &str) -> Self {
        Glob(p.split('*').map(str::to_string).collect())
    }

    fn matches(&self, s: &str) -> bool {
        let parts = &self.0;
        if parts.len() == 1 {
            return parts[0] == s;
        }
        let (first, last) = (&parts[0], &parts[parts.len() - 1]);
        if !s.starts_with(first.as_str()) || !s[first.len()..].ends_with(last.as_str()) {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for mid in &parts[1..parts.len() - 1] {
            match rest.find(mid.as_str()) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }
}

impl Profile {
    pub fn compile(name: &str, p: &FidelityProfile) -> Self {
        Profile {
            name: name.into(),
            hash: p.hash_attributes.iter().map(|s| Glob::new(s)).collect(),
            max_bytes: p.max_attribute_bytes.map(|b| b.0 as usize),
            drop_events: p.drop_events,
            gen_ai: p.presets.contains(&crate::config::FidelityPreset::GenAi),
            media: p.media.as_ref().map(|m| m.min_bytes.0 as usize),
            media_reduced: metrics::counter!(crate::telemetry::names::FIDELITY_MEDIA_REDUCED, "profile" => name.to_string()),
            rewritten: metrics::counter!(crate::telemetry::names::FIDELITY_REWRITTEN_SPANS, "profile" => name.to_string()),
            failed: metrics::counter!(crate::telemetry::names::FIDELITY_FAILED_SPANS, "profile" => name.to_string()),
        }
    }

    /// Rewrites one encoded span. Returns `None` when the span needs no change.
    pub fn apply(&self, raw: &[u8]) -> Result<Option<Vec<u8>>, prost::DecodeError> {
        let mut span = Span::decode(raw)?;
        let mut changed = self.rewrite_attributes(&mut span.attributes, None);
        if self.drop_events && !span.events.is_empty() {
            span.dropped_events_count = span
                .dropped_events_count
                .saturating_add(span.events.len() as u32);
            span.events.clear();
            changed = true;
        } else {
            for ev in &mut span.events {
                changed |= self.rewrite_attributes(&mut ev.attributes, Some(&ev.name));
            }
        }
        Ok(changed.then(|| span.encode_to_vec()))
    }

    fn rewrite_attributes(&self, attrs: &mut Vec<KeyValue>, event: Option<&str>) -> bool {
        let mut changed = false;
        let mut lengths = Vec::new();
        let mut added = Vec::new();
        let hashed = |k: &str| {
            self.hash.iter().any(|g| g.matches(k))
                || (self.gen_ai && super::genai::is_content(event, k))
        };
        for kv in attrs.iter_mut() {
            let Some(value) = kv.value.as_mut().and_then(|v| v.value.as_mut()) else {
                continue;
            };
            // Idempotent (see `super::tiers`): what a tailsift added, or already hashed, stays.
            if super::tiers::added_by_tailsift(&kv.key, hashed)
                || matches!(&*value, Value::StringValue(s) if hashed(&kv.key) && super::tiers::is_digest(s))
            {
                continue;
            }
            if hashed(&kv.key) {
                // Strings hash their bytes; any other value (bytes, arrays and maps such as
                // structured chat messages) hashes its encoding, so no payload slips through.
                let (digest, len) = match &*value {
                    Value::StringValue(s) => (hash_value(s.as_bytes()), s.len()),
                    Value::BytesValue(b) => (hash_value(b), b.len()),
                    other => {
                        let encoded = AnyValue {
                            value: Some(other.clone()),
                        }
                        .encode_to_vec();
                        (hash_value(&encoded), encoded.len())
                    }
                };
                lengths.push((format!("{}.length", kv.key), len as i64));
                *value = Value::StringValue(digest);
                changed = true;
                continue;
            }
            if let Some(min) = self.media {
                let reduced = super::media::reduce_attribute(&kv.key, value, min, &mut added);
                if reduced > 0 {
                    self.media_reduced.increment(reduced as u64);
                    changed = true;
                }
            }
            if let Some(max) = self.max_bytes {
                changed |= truncate_value(value, max);
            }
        }
        attrs.extend(added);
        for (key, len) in lengths {
            if attrs.iter().any(|kv| kv.key == key) {
                continue;
            }
            attrs.push(KeyValue {
                key,
                value: Some(AnyValue {
                    value: Some(Value::IntValue(len)),
                }),
                ..Default::default()
            });
        }
        changed
    }
}

/// Truncates long strings and bytes in a value, including inside arrays and maps.
fn truncate_value(value: &mut Value, max: usize) -> bool {
    match value {
        Value::StringValue(s) if s.len() > max => {
            truncate(s, max);
            true
        }
        Value::BytesValue(b) if b.len() > max => {
            b.truncate(max);
            true
        }
        Value::ArrayValue(a) => a
            .values
            .iter_mut()
            .filter_map(|v| v.value.as_mut())
            .fold(false, |changed, v| truncate_value(v, max) | changed),
        Value::KvlistValue(m) => m
            .values
            .iter_mut()
            .filter_map(|kv| kv.value.as_mut().and_then(|v| v.value.as_mut()))
            .fold(false, |changed, v| truncate_value(v, max) | changed),
        _ => false,
    }
}

/// `sha256:<first 16 hex digits>` of the value.
pub fn hash_value(v: &[u8]) -> String {
    let digest = Sha256::digest(v);
    format!("sha256:{}", &hex::encode(digest)[..HASH_HEX_DIGITS])
}

/// Truncates to at most `max` bytes on a UTF-8 boundary, ending with [`TRUNCATION_MARKER`].
pub fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut cut = max.saturating_sub(TRUNCATION_MARKER.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str(TRUNCATION_MARKER);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteSize;
    use crate::fixtures::{self, span};
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    fn profile(hash: &[&str], max: Option<u64>, drop_events: bool) -> Profile {
        Profile::compile(
            "lite",
            &FidelityProfile {
                hash_attributes: hash.iter().map(|s| s.to_string()).collect(),
                max_attribute_bytes: max.map(ByteSize),
                drop_events,
                ..Default::default()
            },
        )
    }

    #[test]
    fn globs() {
        assert!(Glob::new("payload.*").matches("payload.image"));
        assert!(!Glob::new("payload.*").matches("payloads"));
        assert!(Glob::new("*.prompt").matches("gen_ai.prompt"));
        assert!(Glob::new("a*b*c").matches("axxbyyc"));
        assert!(!Glob::new("a*b*c").matches("acb"));
        assert!(Glob::new("prompt").matches("prompt") && !Glob::new("prompt").matches("prompts"));
        assert!(Glob::new("*").matches("anything"));
    }

    #[test]
    fn hashes_matching_keys_and_records_length() {
        let long_prompt = "a cat riding a bicycle ".repeat(40);
        let s = span(1, 1)
            .attr("prompt", &long_prompt)
            .attr("payload.caption", "caption text")
            .attr("model", "m")
            .build();
        let out = profile(&["prompt", "payload.*"], None, false)
            .apply(&s.encode_to_vec())
            .unwrap()
            .expect("changed");
        let back = Span::decode(&out[..]).unwrap();
        assert_eq!(
            fixtures::attr_str(&back, "prompt"),
            Some(hash_value(long_prompt.as_bytes()).as_str())
        );
        assert!(fixtures::attr_str(&back, "payload.caption")
            .unwrap()
            .starts_with("sha256:"));
        assert_eq!(fixtures::attr_str(&back, "model"), Some("m"));
        let len = fixtures::attr(&back, "prompt.length");
        assert_eq!(len, Some(&Value::IntValue(long_prompt.len() as i64)));
        assert_eq!(hash_value(b"x").len(), "sha256:".len() + HASH_HEX_DIGITS);
    }

    #[test]
    fn truncates_long_strings_on_char_boundary() {
        let text = "é".repeat(200); // 400 bytes
        let s = span(1, 1)
            .attr("caption", &text)
            .attr("short", "ok")
            .build();
        let out = profile(&[], Some(64), false)
            .apply(&s.encode_to_vec())
            .unwrap()
            .unwrap();
        let back = Span::decode(&out[..]).unwrap();
        let cut = fixtures::attr_str(&back, "caption").unwrap();
        assert!(cut.len() <= 64 && cut.ends_with(TRUNCATION_MARKER), "{cut}");
        assert_eq!(fixtures::attr_str(&back, "short"), Some("ok"));
    }

    #[test]
    fn drops_events_and_counts_them() {
        let mut s = span(1, 1).build();
        s.events = vec![
            Event {
                name: "gen_ai.content.prompt".into(),
                ..Default::default()
            };
            3
        ];
        let out = profile(&[], None, true)
            .apply(&s.encode_to_vec())
            .unwrap()
            .unwrap();
        let back = Span::decode(&out[..]).unwrap();
        assert!(back.events.is_empty());
        assert_eq!(back.dropped_events_count, 3);
    }

    #[test]
    fn event_attributes_are_hashed_too() {
        let mut s = span(1, 1).build();
        s.events = vec![Event {
            name: "gen_ai.content.prompt".into(),
            attributes: vec![fixtures::kv_str("prompt", "secret words")],
            ..Default::default()
        }];
        let out = profile(&["prompt"], None, false)
            .apply(&s.encode_to_vec())
            .unwrap()
            .unwrap();
        let back = Span::decode(&out[..]).unwrap();
        let v = &back.events[0].attributes[0];
        assert_eq!(
            v.value.as_ref().unwrap().value,
            Some(Value::StringValue(hash_value(b"secret words")))
        );
    }

    #[test]
    fn structured_and_bytes_payloads_are_hashed_and_nested_strings_truncated() {
        use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
        let messages = Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: vec![fixtures::kv_str("content", "a secret prompt")],
                })),
            }],
        });
        let s = span(1, 1)
            .attr_value("prompt", messages)
            .attr_value("payload.image", Value::BytesValue(vec![7; 1000]))
            .attr_value(
                "captions",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("c".repeat(500))),
                    }],
                }),
            )
            .build();
        let out = profile(&["prompt", "payload.*"], Some(64), false)
            .apply(&s.encode_to_vec())
            .unwrap()
            .unwrap();
        let back = Span::decode(&out[..]).unwrap();
        assert!(fixtures::attr_str(&back, "prompt")
            .unwrap()
            .starts_with("sha256:"));
        assert!(fixtures::attr_str(&back, "payload.image")
            .unwrap()
            .starts_with("sha256:"));
        let len = fixtures::attr(&back, "payload.image.length");
        assert_eq!(len, Some(&Value::IntValue(1000)));
        let encoded = back.encode_to_vec();
        assert!(
            !encoded.windows(15).any(|w| w == b"a secret prompt"),
            "payload leaked"
        );
        let Some(Value::ArrayValue(a)) = fixtures::attr(&back, "captions") else {
            panic!("captions stay an array")
        };
        let Some(Value::StringValue(c)) = &a.values[0].value else {
            panic!("a string inside")
        };
        assert!(c.len() <= 64 && c.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn a_second_tier_changes_nothing_more() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        let p = profile(&["prompt", "payload.*"], Some(16), false);
        let s = crate::fixtures::span(1, 1)
            .attr("prompt", &"p".repeat(100))
            .attr("payload.negative_prompt", &"n".repeat(100))
            .attr("sampling.rule", "errors")
            .build()
            .encode_to_vec();
        let once = p.apply(&s).unwrap().expect("rewritten");
        assert_eq!(
            p.apply(&once).unwrap(),
            None,
            "the second pass finds nothing to do"
        );
        let span = Span::decode(once.as_slice()).unwrap();
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "prompt",
                "payload.negative_prompt",
                "sampling.rule",
                "prompt.length",
                "payload.negative_prompt.length"
            ]
        );
        let len = span.attributes[3]
            .value
            .as_ref()
            .and_then(|v| v.value.clone());
        assert_eq!(len, Some(V::IntValue(100)));
    }

    #[test]
    fn untouched_span_is_not_reencoded() {
        let s = span(1, 1).attr("model", "m").build();
        assert!(profile(&["prompt"], Some(256), false)
            .apply(&s.encode_to_vec())
            .unwrap()
            .is_none());
    }
}
