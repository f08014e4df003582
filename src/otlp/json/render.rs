//! Rendering an encoded export request as OTLP/JSON (the `file` exporter's lines). The
//! opentelemetry-proto serde types write a double that is NaN or infinite as `null`, which
//! loses the value; proto3 JSON writes `"NaN"`, `"Infinity"` and `"-Infinity"`, so those are put
//! back by walking the request beside its JSON.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Av, AnyValue, KeyValue};
use prost::Message;
use serde_json::Value;

/// Renders an encoded export request as one line of OTLP/JSON.
pub fn protobuf_to_json(body: &[u8]) -> Result<String, prost::DecodeError> {
    let req = ExportTraceServiceRequest::decode(body)?;
    let mut json = serde_json::to_value(&req).expect("OTLP types always serialize");
    if has_non_finite(&req) {
        fix_request(&req, &mut json);
    }
    Ok(json.to_string())
}

fn non_finite_value(v: &AnyValue) -> bool {
    match &v.value {
        Some(Av::DoubleValue(d)) => !d.is_finite(),
        Some(Av::ArrayValue(a)) => a.values.iter().any(non_finite_value),
        Some(Av::KvlistValue(l)) => non_finite_kvs(&l.values),
        _ => false,
    }
}

fn non_finite_kvs(kvs: &[KeyValue]) -> bool {
    kvs.iter()
        .any(|kv| kv.value.as_ref().is_some_and(non_finite_value))
}

fn has_non_finite(req: &ExportTraceServiceRequest) -> bool {
    req.resource_spans.iter().any(|rs| {
        rs.resource
            .as_ref()
            .is_some_and(|r| non_finite_kvs(&r.attributes))
            || rs.scope_spans.iter().any(|ss| {
                ss.scope
                    .as_ref()
                    .is_some_and(|s| non_finite_kvs(&s.attributes))
                    || ss.spans.iter().any(|s| {
                        non_finite_kvs(&s.attributes)
                            || s.events.iter().any(|e| non_finite_kvs(&e.attributes))
                            || s.links.iter().any(|l| non_finite_kvs(&l.attributes))
                    })
            })
    })
}

/// `json[key][i]` for each `i`, when present.
fn items<'a>(json: &'a mut Value, key: &str) -> Vec<&'a mut Value> {
    match json.get_mut(key) {
        Some(Value::Array(a)) => a.iter_mut().collect(),
        _ => Vec::new(),
    }
}

fn fix_value(v: &AnyValue, json: &mut Value) {
    match &v.value {
        Some(Av::DoubleValue(d)) if !d.is_finite() => {
            let text = if d.is_nan() {
                "NaN"
            } else if *d > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            if let Some(obj) = json.as_object_mut() {
                obj.insert("doubleValue".into(), Value::String(text.into()));
            }
        }
        Some(Av::ArrayValue(a)) => {
            if let Some(arr) = json.get_mut("arrayValue") {
                for (v, j) in a.values.iter().zip(items(arr, "values")) {
                    fix_value(v, j);
                }
            }
        }
        Some(Av::KvlistValue(l)) => {
            if let Some(list) = json.get_mut("kvlistValue") {
                fix_kvs(&l.values, list, "values");
            }
        }
        _ => {}
    }
}

fn fix_kvs(kvs: &[KeyValue], json: &mut Value, key: &str) {
    for (kv, j) in kvs.iter().zip(items(json, key)) {
        if let (Some(v), Some(jv)) = (&kv.value, j.get_mut("value")) {
            fix_value(v, jv);
        }
    }
}

fn fix_request(req: &ExportTraceServiceRequest, json: &mut Value) {
    for (rs, jrs) in req.resource_spans.iter().zip(items(json, "resourceSpans")) {
        if let (Some(r), Some(jr)) = (&rs.resource, jrs.get_mut("resource")) {
            fix_kvs(&r.attributes, jr, "attributes");
        }
        for (ss, jss) in rs.scope_spans.iter().zip(items(jrs, "scopeSpans")) {
            if let (Some(s), Some(js)) = (&ss.scope, jss.get_mut("scope")) {
                fix_kvs(&s.attributes, js, "attributes");
            }
            for (span, js) in ss.spans.iter().zip(items(jss, "spans")) {
                fix_kvs(&span.attributes, js, "attributes");
                for (e, je) in span.events.iter().zip(items(js, "events")) {
                    fix_kvs(&e.attributes, je, "attributes");
                }
                for (l, jl) in span.links.iter().zip(items(js, "links")) {
                    fix_kvs(&l.attributes, jl, "attributes");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::json::json_to_protobuf;

    #[test]
    fn non_finite_doubles_render_as_proto3_json_strings_and_read_back() {
        let input = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"r","value":{"doubleValue":"-Infinity"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","attributes":[{"key":"a","value":{"doubleValue":"NaN"}},{"key":"b","value":{"arrayValue":{"values":[{"doubleValue":1.5},{"doubleValue":"Infinity"}]}}}],"events":[{"name":"e","attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"n","value":{"doubleValue":"NaN"}}]}}}]}]}]}]}]}"#;
        let body = json_to_protobuf(input.as_bytes()).unwrap();
        let json = protobuf_to_json(&body).unwrap();
        for s in [r#""NaN""#, r#""Infinity""#, r#""-Infinity""#, "1.5"] {
            assert!(json.contains(s), "{s} in {json}");
        }
        assert!(!json.contains(r#""doubleValue":null"#), "{json}");
        let again = json_to_protobuf(json.as_bytes()).unwrap();
        let (a, b) = (
            ExportTraceServiceRequest::decode(body).unwrap(),
            ExportTraceServiceRequest::decode(again).unwrap(),
        );
        assert_eq!(a.encode_to_vec(), b.encode_to_vec());
    }
}
