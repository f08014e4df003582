//! Buffer timing, limits, late spans and conservation of spans.

use super::*;
use crate::fixtures::{self, span, SpanBuilder};
use crate::otlp::{ingest, Interest};
use proptest::prelude::*;

/// Keeps traces that have a span named "keep".
struct ByName;

impl Judge for ByName {
    fn judge(&self, _: &TraceId, spans: &[Span], _: Instant) -> Verdict {
        Verdict::new(Some(0), spans.iter().any(|s| s.name() == "keep"))
    }
}

fn cfg() -> BufferConfig {
    BufferConfig {
        decision_wait: Duration::from_secs(10),
        root_wait: Duration::from_secs(2),
        max_spans_per_trace: 100,
        tick: Duration::from_millis(10),
        max_traces: 1000,
        max_bytes: 1 << 30,
        shards: 4,
        cache_kept: 100,
        cache_dropped: 100,
    }
}

fn spans(b: Vec<SpanBuilder>) -> Vec<(TraceId, Span)> {
    let req = fixtures::request("svc", b);
    ingest(&fixtures::encode(&req), &Interest::default())
        .unwrap()
        .spans
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn ids(out: &Output) -> Vec<(u128, Reason)> {
    out.decided
        .iter()
        .map(|d| (u128::from_be_bytes(d.trace_id), d.reason))
        .collect()
}

#[test]
fn decided_after_decision_wait_without_root() {
    let b = Buffer::new(cfg());
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(spans(vec![span(1, 2).parent(1)]), t0, &ByName, &mut out);
    b.take_due(t0 + secs(9.99), &ByName, &mut out);
    assert!(out.decided.is_empty());
    assert_eq!(b.next_deadline(), Some(t0 + secs(10.0)));
    b.take_due(t0 + secs(10.0), &ByName, &mut out);
    assert_eq!(ids(&out), vec![(1, Reason::Due)]);
    assert_eq!(
        b.stats(),
        Stats {
            traces: 0,
            spans: 0,
            bytes: 0
        }
    );
}

#[test]
fn root_wait_counts_from_the_last_span_and_is_capped() {
    let b = Buffer::new(cfg());
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(spans(vec![span(1, 2).parent(1)]), t0, &ByName, &mut out);
    b.insert(spans(vec![span(1, 1)]), t0 + secs(1.0), &ByName, &mut out);
    b.insert(
        spans(vec![span(1, 3).parent(1)]),
        t0 + secs(2.5),
        &ByName,
        &mut out,
    );
    b.take_due(t0 + secs(4.4), &ByName, &mut out);
    assert!(
        out.decided.is_empty(),
        "the root's deadline moved with the later span"
    );
    b.take_due(t0 + secs(4.5), &ByName, &mut out);
    assert_eq!(ids(&out), vec![(1, Reason::Due)]);
    assert_eq!(out.decided[0].trace.spans.len(), 3);

    // Spans keep arriving every second: the decision still comes at decision_wait.
    let mut out = Output::default();
    b.insert(spans(vec![span(2, 1)]), t0, &ByName, &mut out);
    for i in 1..12 {
        let now = t0 + secs(i as f64);
        b.insert(
            spans(vec![span(2, 10 + i).parent(1)]),
            now,
            &ByName,
            &mut out,
        );
        b.take_due(now, &ByName, &mut out);
        if i < 10 {
            assert!(out.decided.is_empty(), "decided early at {i}s");
        }
    }
    assert_eq!(ids(&out), vec![(2, Reason::Due)]);
    assert_eq!(
        out.decided[0].trace.spans.len(),
        11,
        "the root and the spans of 1..=10s"
    );
    assert_eq!(
        out.late_dropped, 1,
        "the span at 11s followed the drop verdict"
    );
}

#[test]
fn max_spans_per_trace_decides_at_once() {
    let b = Buffer::new(BufferConfig {
        max_spans_per_trace: 3,
        ..cfg()
    });
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(
        spans(vec![
            span(1, 1),
            span(1, 2),
            span(1, 3),
            span(1, 4).name("keep"),
        ]),
        t0,
        &ByName,
        &mut out,
    );
    assert_eq!(ids(&out), vec![(1, Reason::MaxSpansPerTrace)]);
    assert_eq!(out.decided[0].trace.spans.len(), 3);
    assert_eq!(
        out.late_dropped, 1,
        "the fourth span follows the verdict of the first three"
    );
}

#[test]
fn max_traces_decides_the_oldest_early() {
    let b = Buffer::new(BufferConfig {
        max_traces: 3,
        shards: 1,
        ..cfg()
    });
    let t0 = Instant::now();
    let mut out = Output::default();
    for t in 1..=5u128 {
        b.insert(
            spans(vec![span(t, 2).parent(1)]),
            t0 + secs(t as f64),
            &ByName,
            &mut out,
        );
    }
    assert_eq!(
        ids(&out),
        vec![(1, Reason::MaxTraces), (2, Reason::MaxTraces)]
    );
    assert_eq!(b.stats().traces, 3);
}

#[test]
fn max_bytes_decides_early() {
    let one = spans(vec![span(1, 2).parent(1)])[0].1.held_bytes() as u64;
    let b = Buffer::new(BufferConfig {
        max_bytes: one * 2,
        shards: 1,
        ..cfg()
    });
    let t0 = Instant::now();
    let mut out = Output::default();
    for t in 1..=3u128 {
        b.insert(
            spans(vec![span(t, 2).parent(1)]),
            t0 + secs(t as f64),
            &ByName,
            &mut out,
        );
    }
    assert_eq!(ids(&out), vec![(1, Reason::MaxBufferBytes)]);
    assert!(b.stats().bytes <= one * 2);
}

#[test]
fn late_spans_follow_the_cached_verdict() {
    let b = Buffer::new(cfg());
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(
        spans(vec![span(1, 1).name("keep"), span(2, 1)]),
        t0,
        &ByName,
        &mut out,
    );
    b.take_due(t0 + secs(2.0), &ByName, &mut out);
    assert_eq!(out.decided.len(), 2);
    let mut late = Output::default();
    b.insert(
        spans(vec![
            span(1, 5).parent(1),
            span(2, 5).parent(1),
            span(2, 6).parent(1),
        ]),
        t0 + secs(3.0),
        &ByName,
        &mut late,
    );
    assert!(late.decided.is_empty());
    assert_eq!(late.late_kept.len(), 1);
    assert!(late.late_kept[0].0.keep);
    assert_eq!(late.late_dropped, 2);
    assert_eq!(late.late_dropped_errors, 0);
    assert!(late.late_dropped_error_example.is_none());
    assert_eq!(b.stats().traces, 0, "late spans do not revive a trace");
}

#[test]
fn late_error_spans_of_dropped_traces_are_counted_with_an_example() {
    let b = Buffer::new(cfg());
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(
        spans(vec![span(1, 1).name("keep"), span(2, 1), span(3, 1)]),
        t0,
        &ByName,
        &mut out,
    );
    b.take_due(t0 + secs(2.0), &ByName, &mut out);
    let mut late = Output::default();
    b.insert(
        spans(vec![
            span(1, 5).parent(1).error(),
            span(2, 5).parent(1).name("video_synth").error(),
            span(2, 6).parent(1),
            span(3, 7).parent(1).error(),
            span(3, 8).parent(1).error(),
        ]),
        t0 + secs(3.0),
        &ByName,
        &mut late,
    );
    assert_eq!(
        late.late_kept.len(),
        1,
        "the kept trace's error is forwarded"
    );
    assert_eq!(late.late_dropped, 4);
    assert_eq!(late.late_dropped_errors, 3);
    let (id, example) = late.late_dropped_error_example.expect("an example");
    assert_eq!(id, fixtures::trace_id(2));
    assert_eq!(example.name(), "video_synth");
}

#[test]
fn drain_decides_everything() {
    let b = Buffer::new(cfg());
    let t0 = Instant::now();
    let mut out = Output::default();
    for t in 1..=50u128 {
        b.insert(spans(vec![span(t, 2).parent(1)]), t0, &ByName, &mut out);
    }
    b.drain(t0, &ByName, &mut out);
    assert_eq!(out.decided.len(), 50);
    assert!(out.decided.iter().all(|d| d.reason == Reason::Shutdown));
    assert_eq!(
        b.stats(),
        Stats {
            traces: 0,
            spans: 0,
            bytes: 0
        }
    );
    assert_eq!(b.next_deadline(), None);
}

proptest! {
    /// No silent loss: every span inserted comes out exactly once, decided or late.
    #[test]
    fn every_span_comes_out_once(
        ops in proptest::collection::vec((1u128..40, 1u64..6, any::<bool>(), 0u64..3000), 1..200),
        max_traces in 1usize..20,
        max_spans in 1usize..6,
    ) {
        let b = Buffer::new(BufferConfig { max_traces, max_spans_per_trace: max_spans, shards: 3, cache_kept: 5, cache_dropped: 5, ..cfg() });
        let t0 = Instant::now();
        let mut out = Output::default();
        let mut now = t0;
        let mut inserted = 0usize;
        for (t, id, keep, advance_ms) in ops {
            now += Duration::from_millis(advance_ms);
            let s = span(t, id).name(if keep { "keep" } else { "x" });
            let s = if id == 1 { s } else { s.parent(1) };
            b.insert(spans(vec![s]), now, &ByName, &mut out);
            b.take_due(now, &ByName, &mut out);
            inserted += 1;
        }
        b.drain(t0, &ByName, &mut out);
        let decided: usize = out.decided.iter().map(|d| d.trace.spans.len()).sum();
        prop_assert_eq!(decided + out.late_kept.len() + out.late_dropped, inserted);
        prop_assert_eq!(b.stats(), Stats { traces: 0, spans: 0, bytes: 0 });
    }
}

#[test]
fn limits_apply_to_the_whole_buffer_not_a_shards_share() {
    let one = spans(vec![span(1, 2).parent(1)])[0].1.held_bytes() as u64;
    // A trace of 20 spans in one of 64 shards: far above 1/64 of the limit, well under all of it.
    let b = Buffer::new(BufferConfig {
        max_bytes: one * 40,
        shards: 64,
        ..cfg()
    });
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(
        spans((2..22).map(|i| span(7, i).parent(1)).collect()),
        t0,
        &ByName,
        &mut out,
    );
    assert!(
        out.decided.is_empty(),
        "decided early although the buffer is half empty"
    );
    assert_eq!(b.stats().spans, 20);

    let b = Buffer::new(BufferConfig {
        max_traces: 5,
        shards: 4,
        ..cfg()
    });
    let mut out = Output::default();
    for t in 1..=12u128 {
        b.insert(
            spans(vec![span(t, 2).parent(1)]),
            t0 + secs(t as f64),
            &ByName,
            &mut out,
        );
    }
    assert_eq!(out.decided.len(), 7);
    assert!(out.decided.iter().all(|d| d.reason == Reason::MaxTraces));
    assert_eq!(b.stats().traces, 5);
}

#[test]
fn deadlines_beyond_one_lap_of_the_wheel_still_hold() {
    // 600 s at 1 ms ticks is far more slots than the wheel has: entries come round early and
    // are put back until their deadline.
    let b = Buffer::new(BufferConfig {
        decision_wait: Duration::from_secs(600),
        tick: Duration::from_millis(1),
        ..cfg()
    });
    let t0 = Instant::now();
    let mut out = Output::default();
    b.insert(spans(vec![span(1, 2).parent(1)]), t0, &ByName, &mut out);
    for s in (1..600).step_by(7) {
        b.take_due(t0 + secs(s as f64), &ByName, &mut out);
        assert!(out.decided.is_empty(), "decided at {s}s");
    }
    b.take_due(t0 + secs(600.0), &ByName, &mut out);
    assert_eq!(ids(&out), vec![(1, Reason::Due)]);
}
