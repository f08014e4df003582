//! The `gen_ai` fidelity preset: which attributes of the OpenTelemetry GenAI semantic
//! conventions carry message content (hashed, with their length kept) and which carry
//! metadata (token counts, models, finish reasons: kept as they are).

/// Span attributes holding content (current conventions).
const CONTENT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
];

/// Prefixes of the older content attributes: `gen_ai.prompt`, `gen_ai.completion`, and their
/// indexed forms (`gen_ai.prompt.0.content`, `gen_ai.completion.0.tool_calls...`).
const OLD_PREFIXES: &[&str] = &["gen_ai.prompt", "gen_ai.completion"];

/// Suffixes of the older indexed forms that are metadata.
const OLD_METADATA_SUFFIXES: &[&str] = &[".role", ".finish_reason"];

/// Attributes of `gen_ai.*` events that are metadata; every other attribute of such an
/// event (its `content`, `message`, `tool_calls`, `body`...) is content.
const EVENT_METADATA: &[&str] = &[
    "gen_ai.system",
    "gen_ai.provider.name",
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "event.name",
    "role",
    "index",
    "id",
    "finish_reason",
];

fn is_old_content(key: &str) -> bool {
    OLD_PREFIXES.iter().any(|p| {
        key.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }) && !OLD_METADATA_SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// Whether the preset hashes attribute `key`, of the span itself (`event: None`) or of a span
/// event named `event`.
pub fn is_content(event: Option<&str>, key: &str) -> bool {
    if CONTENT.contains(&key) || is_old_content(key) {
        return true;
    }
    match event {
        Some(name) if name.starts_with("gen_ai.") => {
            !(key.starts_with("gen_ai.usage.") || EVENT_METADATA.contains(&key))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_content;

    #[test]
    fn content_is_hashed_and_metadata_kept() {
        for k in [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
            "gen_ai.prompt",
            "gen_ai.completion",
            "gen_ai.prompt.0.content",
            "gen_ai.completion.1.tool_calls.0.arguments",
        ] {
            assert!(is_content(None, k), "{k}");
        }
        for k in [
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.response.finish_reasons",
            "gen_ai.prompt.0.role",
            "gen_ai.completion.0.finish_reason",
            "gen_ai.prompts_total",
            "prompt",
        ] {
            assert!(!is_content(None, k), "{k}");
        }
        assert!(is_content(Some("gen_ai.user.message"), "content"));
        assert!(is_content(Some("gen_ai.choice"), "message"));
        assert!(!is_content(Some("gen_ai.choice"), "finish_reason"));
        assert!(!is_content(
            Some("gen_ai.choice"),
            "gen_ai.usage.output_tokens"
        ));
        assert!(
            !is_content(Some("exception"), "content"),
            "other events untouched"
        );
    }
}

#[cfg(test)]
mod profile_tests {
    use crate::config::{parse, FidelityProfile};
    use crate::fixtures::{self, span};
    use crate::output::fidelity::{hash_value, Profile};
    use base64::Engine;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue};
    use opentelemetry_proto::tonic::trace::v1::{span::Event, Span};
    use prost::Message;

    fn profile(yaml: &str) -> Profile {
        let y = format!(
            "receivers: {{ otlp: {{ http: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
             exporters: {{ f: {{ protocol: file, path: /dev/null }} }}\nfidelity: {{ p: {yaml} }}\n"
        );
        let c = parse(&y, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let p: &FidelityProfile = &c.fidelity["p"];
        Profile::compile("p", p)
    }

    fn int(s: &Span, key: &str) -> Option<i64> {
        s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                Value::IntValue(i) => Some(*i),
                _ => None,
            }
        })
    }

    #[test]
    fn gen_ai_content_is_hashed_while_tokens_model_and_finish_reasons_stay() {
        let messages = Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(Value::StringValue("tell me a secret".into())),
            }],
        });
        let mut s = span(1, 1)
            .name("chat m-large")
            .attr_value("gen_ai.input.messages", messages.clone())
            .attr("gen_ai.prompt", "an old-style secret prompt")
            .attr("gen_ai.request.model", "m-large")
            .attr_int("gen_ai.usage.input_tokens", 1234)
            .attr_int("gen_ai.usage.output_tokens", 56)
            .attr_value(
                "gen_ai.response.finish_reasons",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("stop".into())),
                    }],
                }),
            )
            .build();
        s.events = vec![Event {
            name: "gen_ai.choice".into(),
            attributes: vec![
                fixtures::kv_str("message", "a secret answer"),
                fixtures::kv_str("finish_reason", "stop"),
            ],
            ..Default::default()
        }];
        let out = profile("{ presets: [gen_ai] }")
            .apply(&s.encode_to_vec())
            .unwrap()
            .expect("changed");
        let back = Span::decode(&out[..]).unwrap();
        let encoded_messages = AnyValue {
            value: Some(messages),
        }
        .encode_to_vec();
        assert_eq!(
            fixtures::attr_str(&back, "gen_ai.input.messages"),
            Some(hash_value(&encoded_messages).as_str())
        );
        assert_eq!(
            int(&back, "gen_ai.input.messages.length"),
            Some(encoded_messages.len() as i64)
        );
        assert!(fixtures::attr_str(&back, "gen_ai.prompt")
            .unwrap()
            .starts_with("sha256:"));
        assert_eq!(int(&back, "gen_ai.prompt.length"), Some(26));
        assert_eq!(int(&back, "gen_ai.usage.input_tokens"), Some(1234));
        assert_eq!(int(&back, "gen_ai.usage.output_tokens"), Some(56));
        assert_eq!(
            fixtures::attr_str(&back, "gen_ai.request.model"),
            Some("m-large")
        );
        let ev = &back.events[0].attributes;
        assert_eq!(
            ev[1].value.as_ref().unwrap().value,
            Some(Value::StringValue("stop".into()))
        );
        let bytes = back.encode_to_vec();
        for secret in [
            &b"secret prompt"[..],
            b"a secret answer",
            b"tell me a secret",
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "content leaked"
            );
        }
        assert!(
            bytes.windows(4).any(|w| w == b"stop"),
            "finish reasons stay"
        );
    }

    #[test]
    fn a_base64_image_under_an_unexpected_key_is_reduced() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.resize(30_000, 3);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
        let s = span(1, 1)
            .attr("debug.last_frame", &b64)
            .attr("caption", "a short caption")
            .build();
        let p = profile("{ media: { min_bytes: 1KiB } }");
        let out = p.apply(&s.encode_to_vec()).unwrap().expect("changed");
        let back = Span::decode(&out[..]).unwrap();
        assert_eq!(
            fixtures::attr_str(&back, "debug.last_frame"),
            Some(hash_value(b64.as_bytes()).as_str())
        );
        assert_eq!(int(&back, "debug.last_frame.size"), Some(b64.len() as i64));
        assert_eq!(
            fixtures::attr_str(&back, "debug.last_frame.media_type"),
            Some("image/png")
        );
        assert_eq!(
            fixtures::attr_str(&back, "caption"),
            Some("a short caption")
        );
        assert!(out.len() < 500, "30 KB of frame became {} bytes", out.len());
        let plain = span(1, 1).attr("caption", &"words ".repeat(1000)).build();
        assert!(
            p.apply(&plain.encode_to_vec()).unwrap().is_none(),
            "text is not media"
        );
    }
}
