//! Unit tests of the OTTL subset: what parses, what is rejected (naming the construct), and
//! OTTL's comparison semantics on real spans.

use super::{parse, Context, Scope};
use crate::collector::raw;
use crate::fixtures::{kv_str, request_with, span};
use crate::otlp::{Interest, Span};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};

fn err(cond: &str, ctx: Context) -> String {
    match parse(cond, ctx, &mut Interest::default()) {
        Ok(c) => panic!("`{cond}` parsed as {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn parses_the_supported_forms() {
    let ok = [
        r#"attributes["test_attr_key_1"] == "test_attr_val_1""#,
        r#"attributes["http.status_code"] >= 500 and attributes["http.status_code"] < 600"#,
        r#"name == "GET /" or (kind == SPAN_KIND_SERVER and not status.code == STATUS_CODE_OK)"#,
        r#"IsMatch(attributes["url.path"], "^/api/v[0-9]+/") and resource.attributes["service.name"] != nil"#,
        r#"span.name == "x" and span.status.code == 2 and kind.string == "Server""#,
        r#"IsMatch(name, "health") == false"#,
        "true",
        r#"attributes["ratio"] > -0.5"#,
    ];
    for c in ok {
        parse(c, Context::Span, &mut Interest::default()).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    let events = [
        r#"name != "test_span_event_name""#,
        r#"attributes["exception.type"] == "Timeout" and span.name == "call""#,
        r#"spanevent.name == "exception" and resource.attributes["env"] == "prod""#,
    ];
    for c in events {
        parse(c, Context::SpanEvent, &mut Interest::default())
            .unwrap_or_else(|e| panic!("{c}: {e}"));
    }
}

#[test]
fn rejects_what_is_outside_the_subset_by_name() {
    let cases = [
        (r#"Len(attributes["a"]) > 3"#, "unsupported function `Len`"),
        ("trace_id == nil", "unsupported path `trace_id`"),
        (r#"attributes["a"] + 1 == 2"#, "arithmetic (`+`)"),
        (r#"attributes["a"]["b"] == 1"#, "nested indexing"),
        (r#"attributes["a"] == {"a": 1}"#, "map literals"),
        (r#"attributes["a"] = 1"#, "`=` is not a comparison"),
        (r#"attributes["a"]"#, "alone is not a condition"),
        (r#"name == "unclosed"#, "not closed"),
        ("attributes == nil", "needs a key"),
        (
            "SPAN_KIND_BOGUS == kind",
            "unknown constant `SPAN_KIND_BOGUS`",
        ),
        (r#"IsMatch(name, "(")"#, "IsMatch pattern"),
        (r#"name == "a" and"#, "missing at the end"),
        (r#"set(name, "x")"#, "unsupported function `set`"),
        (
            r#"status.message == "x""#,
            "unsupported path `status.message`",
        ),
    ];
    for (cond, want) in cases {
        let e = err(cond, Context::Span);
        assert!(e.contains(want), "`{cond}`: {e:?} lacks {want:?}");
    }
    // `spanevent.*` belongs to the span event context only.
    assert!(err(r#"spanevent.name == "x""#, Context::Span).contains("unsupported path"));
}

fn spans(builder: crate::fixtures::SpanBuilder, interest: &Interest) -> Vec<Span> {
    let req = request_with(
        "checkout",
        vec![kv_str("env", "prod")],
        vec![builder.build()],
    );
    crate::fixtures::ingested(&req, interest)
}

fn holds(cond: &str, ctx: Context, b: crate::fixtures::SpanBuilder) -> bool {
    let mut interest = Interest::default();
    let c = parse(cond, ctx, &mut interest).unwrap_or_else(|e| panic!("{cond}: {e}"));
    let spans = spans(b, &interest);
    let s = &spans[0];
    match ctx {
        Context::Span => c.eval(&Scope {
            span: s,
            event: None,
        }),
        Context::SpanEvent => raw::events(s.raw()).iter().any(|e| {
            c.eval(&Scope {
                span: s,
                event: Some(e),
            })
        }),
    }
}

#[test]
fn comparisons_follow_ottl() {
    let b = || {
        span(1, 1)
            .name("GET /api")
            .kind(SpanKind::Server)
            .error()
            .attr("tier", "gold")
            .attr_int("code", 503)
            .attr_value("ratio", Any::DoubleValue(0.25))
            .attr_value("flag", Any::BoolValue(true))
    };
    let s = Context::Span;
    assert!(holds(r#"attributes["tier"] == "gold""#, s, b()));
    assert!(
        holds(r#"attributes["missing"] != "gold""#, s, b()),
        "nil != x"
    );
    assert!(!holds(r#"attributes["missing"] == "gold""#, s, b()));
    assert!(holds(r#"attributes["missing"] == nil"#, s, b()));
    assert!(
        !holds(r#"attributes["missing"] > 1"#, s, b()),
        "nil is not ordered"
    );
    assert!(holds(r#"attributes["code"] >= 500"#, s, b()));
    assert!(
        holds(r#"attributes["code"] == 503.0"#, s, b()),
        "int vs double by value"
    );
    assert!(
        !holds(r#"attributes["code"] == "503""#, s, b()),
        "int never equals string"
    );
    assert!(holds(r#"attributes["code"] != "503""#, s, b()));
    assert!(holds(r#"attributes["ratio"] < 0.5"#, s, b()));
    assert!(holds(r#"attributes["flag"] == true"#, s, b()));
    assert!(
        !holds(r#"attributes["flag"] > false"#, s, b()),
        "bools are not ordered"
    );
    assert!(
        holds(r#"attributes["tier"] > "bronze""#, s, b()),
        "strings compare lexically"
    );
    assert!(holds(
        "kind == SPAN_KIND_SERVER and status.code == STATUS_CODE_ERROR",
        s,
        b()
    ));
    assert!(holds(r#"kind.string == "Server""#, s, b()));
    assert!(holds(r#"resource.attributes["env"] == "prod""#, s, b()));
    assert!(holds(r#"IsMatch(name, "api")"#, s, b()), "unanchored");
    assert!(!holds(r#"IsMatch(name, "^api")"#, s, b()));
    assert!(
        holds(r#"IsMatch(attributes["code"], "^5\\d\\d$")"#, s, b()),
        "ints as text"
    );
    assert!(
        !holds(r#"IsMatch(attributes["missing"], ".*")"#, s, b()),
        "nil never matches"
    );
    assert!(holds(
        r#"not (name == "x" or attributes["tier"] == "silver")"#,
        s,
        b()
    ));
    assert!(holds(
        r#"name == "x" or attributes["tier"] == "gold" and kind == 2"#,
        s,
        b()
    ));
    assert!(!holds(
        r#"(name == "x" or attributes["tier"] == "gold") and kind == 3"#,
        s,
        b()
    ));
}

#[test]
fn span_event_conditions_read_events() {
    let mut b = span(1, 1).name("call");
    b.0.events.push(Event {
        name: "exception".into(),
        attributes: vec![kv_str("exception.type", "Timeout")],
        ..Default::default()
    });
    let e = Context::SpanEvent;
    assert!(holds(r#"name == "exception""#, e, b.clone()));
    assert!(holds(
        r#"attributes["exception.type"] == "Timeout" and span.name == "call""#,
        e,
        b.clone()
    ));
    assert!(!holds(
        r#"attributes["exception.type"] == "Other""#,
        e,
        b.clone()
    ));
    assert!(
        !holds(r#"name == "exception""#, e, span(1, 1)),
        "no events, no match"
    );
}

proptest::proptest! {
    #[test]
    fn the_parser_never_panics(s in "\\PC{0,80}") {
        let _ = parse(&s, Context::Span, &mut Interest::default());
        let _ = parse(&s, Context::SpanEvent, &mut Interest::default());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let nest = |open: &str, close: &str, n: usize| {
        format!("{}name == \"x\"{}", open.repeat(n), close.repeat(n))
    };
    let limit = super::parse::MAX_NESTING as usize;
    for (open, close) in [("(", ")"), ("not ", ""), ("not (", ")")] {
        parse(
            &nest(open, close, limit / 2),
            Context::Span,
            &mut Interest::default(),
        )
        .unwrap_or_else(|e| panic!("{open}: {e}"));
        for n in [limit + 1, 100_000] {
            let e = err(&nest(open, close, n), Context::Span);
            assert!(
                e.contains("nested more than 64 levels"),
                "{open} x {n}: {e}"
            );
        }
    }
    let calls = format!(
        "{}name{}",
        "IsMatch(".repeat(100_000),
        ", \"x\")".repeat(100_000)
    );
    assert!(err(&calls, Context::Span).contains("nested more than 64 levels"));
}
