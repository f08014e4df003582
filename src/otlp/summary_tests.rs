use super::summarize;
use crate::collector::raw;
use crate::fixtures::{self, kv_str, span};
use crate::otlp::ingest::{ingest_retained, Interest};
use crate::otlp::model::{AttrValue, Retained, Span};
use opentelemetry_proto::tonic::trace::v1::span::Event;
use std::sync::Arc;

/// Spans of a request with a large attribute (a prompt), a long trace state, a far end, flags
/// and events: everything a summary must answer without the body.
fn request() -> bytes::Bytes {
    let prompt = "p".repeat(20_000);
    let mut far = span(1, 1)
        .name("generate")
        .at(0, 600_000)
        .attr("prompt", &prompt);
    far.0.trace_state = "ot=th:8".into();
    far.0.flags = 0x301;
    far.0.events.push(Event {
        name: "gen_ai.choice".into(),
        ..Default::default()
    });
    let mut backwards = span(1, 2).parent(1).error().attr("user.tier", "gold");
    backwards.0.start_time_unix_nano = 5_000;
    backwards.0.end_time_unix_nano = 4_000;
    let unnamed = span(2, 3).attr_int("n", 7);
    fixtures::encode(&fixtures::request_with(
        "svc",
        vec![kv_str("team", "video")],
        vec![far.build(), backwards.build(), unnamed.build()],
    ))
}

/// The interest of rules reading two span attributes and a resource attribute, and spans'
/// flags and events when `flags_and_events`.
fn interest(flags_and_events: bool) -> (Interest, u16, u16, u16) {
    let mut i = Interest::default();
    let tier = i.span_key("user.tier");
    let n = i.span_key("n");
    let team = i.resource_key("team");
    if flags_and_events {
        i.want_span_events();
        i.want_span_flags();
    }
    (i, tier, n, team)
}

#[test]
fn a_summary_answers_what_decisions_read_like_the_span() {
    let (interest, tier, n, team) = interest(true);
    let retained = Arc::new(Retained::default());
    let body = request();
    let spans = ingest_retained(&body, &interest, Some(&retained))
        .unwrap()
        .spans;
    let summaries = summarize(spans.clone(), &interest, &retained);
    assert_eq!(summaries.len(), 3);
    for ((id, s), (sid, m)) in spans.iter().zip(&summaries) {
        assert!(!s.is_summary() && m.is_summary());
        assert_eq!(id, sid);
        assert_eq!(m.name(), s.name());
        assert_eq!(m.trace_state(), s.trace_state());
        assert_eq!((m.start, m.end()), (s.start, s.end()));
        assert_eq!(m.duration_nanos(), s.duration_nanos());
        assert_eq!(
            (m.kind, m.status, m.is_root()),
            (s.kind, s.status, s.is_root())
        );
        assert_eq!(raw::flags(m.raw()), raw::flags(s.raw()));
        let names = |s: &Span| -> Vec<String> {
            raw::events(s.raw())
                .iter()
                .map(|e| e.name.to_string())
                .collect()
        };
        assert_eq!(names(m), names(s));
        assert_eq!(m.raw_len(), s.raw_len(), "the stored encoding's length");
        assert_eq!(m.body_offset(), s.body_offset());
        for i in [tier, n] {
            assert_eq!(m.attr(i), s.attr(i));
        }
        assert_eq!(m.resource_attr(team), s.resource_attr(team));
        assert_eq!(m.service(), Some("svc"));
        assert!(m.held_bytes() < 120, "{} bytes held", m.held_bytes());
    }
    assert_eq!(summaries[0].1.trace_state(), Some("ot=th:8"));
    assert_eq!(raw::flags(summaries[0].1.raw()), 0x301);
    assert_eq!(summaries[0].1.duration_nanos(), 600_000_000_000);
    assert_eq!(summaries[1].1.end(), 4_000);
    assert_eq!(
        summaries[1].1.attr(tier).and_then(AttrValue::as_str),
        Some("gold")
    );
    assert_eq!(summaries[2].1.attr(n), Some(&AttrValue::Int(7)));
    assert_eq!(
        summaries[2]
            .1
            .resource_attr(team)
            .and_then(AttrValue::as_str),
        Some("video")
    );
    // The summaries share one resource and one scope, as the spans did.
    assert!(Arc::ptr_eq(&summaries[0].1.scope, &summaries[2].1.scope));
}

#[test]
fn summaries_do_not_keep_the_body_and_account_for_what_they_hold() {
    let (interest, ..) = interest(false);
    let retained = Arc::new(Retained::default());
    let body = request();
    let spans = ingest_retained(&body, &interest, Some(&retained))
        .unwrap()
        .spans;
    assert_eq!(retained.bytes(), body.len() as u64);
    let summaries = summarize(spans, &interest, &retained);
    let held = retained.bytes();
    assert!(held > 0, "summaries are accounted");
    // Three 40-byte spans, one resource and one scope, names, a trace state, flags, strings.
    assert!(
        held < 600,
        "{held} bytes held for a {} byte request",
        body.len()
    );
    // No string of a summary points into the request body.
    let inside = |p: *const u8| {
        let b = body.as_ptr() as usize;
        (b..b + body.len()).contains(&(p as usize))
    };
    for (_, s) in &summaries {
        assert!(!inside(s.raw().as_ptr()));
        assert!(!inside(s.service_bytes().unwrap().as_ptr()));
        assert!(!inside(s.scope.resource.body.as_ptr()));
    }
    // Without events and flags in the interest, a summary has neither (events may be large;
    // no span field past the name and trace state is walked then).
    assert!(raw::events(summaries[0].1.raw()).is_empty());
    assert_eq!(raw::flags(summaries[0].1.raw()), 0);
    drop(summaries);
    assert_eq!(retained.bytes(), 0);
}

#[test]
fn summarizing_is_idempotent_and_empty_requests_are_untouched() {
    let (interest, ..) = interest(false);
    let retained = Arc::new(Retained::default());
    assert!(summarize(Vec::new(), &interest, &retained).is_empty());
    let spans = ingest_retained(&request(), &interest, Some(&retained))
        .unwrap()
        .spans;
    let once = summarize(spans, &interest, &retained);
    let held = retained.bytes();
    let twice = summarize(once.clone(), &interest, &retained);
    assert_eq!(retained.bytes(), held);
    for ((_, a), (_, b)) in once.iter().zip(&twice) {
        assert!(Arc::ptr_eq(&a.scope, &b.scope));
        assert_eq!(a.raw(), b.raw());
    }
}

#[test]
fn a_span_is_still_forty_bytes() {
    assert_eq!(std::mem::size_of::<Span>(), 32);
}

mod reload {
    use super::*;
    use crate::otlp::ingest_leased;
    use crate::otlp::repick::Repicker;
    use crate::storage::Storage;

    fn storage(dir: &std::path::Path) -> Storage {
        Storage::open_for_tests(dir)
    }

    /// Summaries made for rules that read nothing, as accept makes them.
    fn buffered(s: &Storage, retained: &Arc<Retained>) -> Vec<Span> {
        let body = request();
        let lease = s
            .append_request(&body, std::time::SystemTime::now())
            .unwrap()
            .lease;
        let none = Interest::default();
        let spans = ingest_leased(&body, &none, Some(retained), Some(lease))
            .unwrap()
            .spans;
        summarize(spans, &none, retained)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    #[test]
    fn a_reload_that_reads_new_attributes_makes_summaries_again_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path());
        let retained = Arc::new(Retained::default());
        let mut spans = buffered(&s, &retained);
        let before: Vec<Vec<u8>> = spans.iter().map(|s| s.raw().to_vec()).collect();
        let (new, tier, n, team) = interest(true);
        let mut r = Repicker::new(&new).reading(&s, &retained);
        for span in &mut spans {
            r.span(span);
        }
        drop(r);
        assert!(spans.iter().all(Span::is_summary));
        assert_eq!(
            spans[1].attr(tier).and_then(AttrValue::as_str),
            Some("gold")
        );
        assert_eq!(spans[2].attr(n), Some(&AttrValue::Int(7)));
        assert_eq!(
            spans[0].resource_attr(team).and_then(AttrValue::as_str),
            Some("video")
        );
        // The new rules read events: the summaries have them now.
        assert_eq!(raw::events(spans[0].raw()).len(), 1);
        assert_eq!(spans[1].raw(), before[1].as_slice());
        assert!(Arc::ptr_eq(&spans[0].scope, &spans[2].scope));
        let held = retained.bytes();
        assert!(held > 0 && held < 1_000, "{held} bytes: summaries only");
        drop(spans);
        assert_eq!(retained.bytes(), 0);
    }

    #[test]
    fn a_request_that_cannot_be_read_back_keeps_its_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path());
        let retained = Arc::new(Retained::default());
        let mut spans = buffered(&s, &retained);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let (new, tier, ..) = interest(false);
        let mut r = Repicker::new(&new).reading(&s, &retained);
        for span in &mut spans {
            r.span(span);
        }
        assert!(spans.iter().all(Span::is_summary));
        assert_eq!(spans[1].attr(tier), None, "not read: as before the reload");
        assert_eq!(spans[0].name(), "generate");
    }
}
