//! The OTTL condition parser: any text, in both contexts. Beyond "no panic": an accepted
//! condition evaluates on a real span (and its event) without panicking, and parsing is
//! deterministic (the same text registers the same attribute keys and parses again).

use tailsift::collector::ottl::{parse, Context, Scope};
use tailsift::collector::raw::events;
use tailsift::fixtures::{encode, kv_str, request_with, span};
use tailsift::otlp::{ingest, Interest};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for ctx in [Context::Span, Context::SpanEvent] {
        let mut interest = Interest::default();
        let Ok(cond) = parse(text, ctx, &mut interest) else {
            continue;
        };
        let mut twice = Interest::default();
        assert!(
            parse(text, ctx, &mut twice).is_ok(),
            "parsing is deterministic"
        );
        assert_eq!(format!("{interest:?}"), format!("{twice:?}"));

        let mut s = span(7, 1)
            .name("GET /v1/generate")
            .attr("http.route", "/v1/generate")
            .attr_int("http.status_code", 503)
            .error()
            .build();
        s.events
            .push(opentelemetry_proto::tonic::trace::v1::span::Event {
                name: "exception".into(),
                attributes: vec![kv_str("exception.type", "Timeout")],
                ..Default::default()
            });
        let req = request_with(
            "svc",
            vec![kv_str("deployment.environment", "prod")],
            vec![s],
        );
        let got = ingest(&encode(&req), &interest).expect("a fixture request");
        for (_, sp) in &got.spans {
            let _ = cond.eval(&Scope {
                span: sp,
                event: None,
            });
            for ev in events(sp.raw()) {
                let _ = cond.eval(&Scope {
                    span: sp,
                    event: Some(&ev),
                });
            }
        }
    }
}
