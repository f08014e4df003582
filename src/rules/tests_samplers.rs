//! Rate-based actions (`adaptive`, `rate_limit`), the trace's randomness (`rv`), explanations,
//! and sample-rate accounting end to end: rule set -> suffix -> encoded span -> tracestate.

use super::*;
use crate::fixtures::{self, span, SpanBuilder};
use crate::otlp::{encode_request, ingest, tracestate, OutSpan};
use crate::output::accounting::{Accounting, SuffixCache};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;

fn rules(yaml_rules: &str) -> RuleSet {
    let config = super::tests::config_with(yaml_rules);
    config.validate().unwrap_or_else(|e| panic!("{e:?}"));
    RuleSet::compile(&config).unwrap()
}

/// Ingests one request and groups its spans by trace id, in first-seen order.
fn traces(rs: &RuleSet, service: &str, spans: Vec<SpanBuilder>) -> Vec<(TraceId, Vec<Span>)> {
    let req = fixtures::request(service, spans);
    let got = ingest(&fixtures::encode(&req), rs.interest()).unwrap();
    let mut out: Vec<(TraceId, Vec<Span>)> = Vec::new();
    for (id, s) in got.spans {
        match out.iter_mut().find(|(i, _)| *i == id) {
            Some((_, v)) => v.push(s),
            None => out.push((id, vec![s])),
        }
    }
    out
}

/// A trace id whose randomness (low 56 bits) is `r`.
fn id_with_randomness(high: u64, r: u64) -> u128 {
    ((high as u128) << 64) | (r as u128 & ((1 << 56) - 1))
}

#[test]
fn explicit_rv_replaces_the_trace_id_randomness() {
    let rs = rules("- name: half\n  probability: 0.5");
    let mut low = span(id_with_randomness(1, 0), 1);
    low.0.trace_state = "ot=rv:ffffffffffffff".into();
    let mut high = span(id_with_randomness(2, (1 << 56) - 1), 1);
    high.0.trace_state = "vendor=x,ot=rv:00000000000000".into();
    let plain_low = span(id_with_randomness(3, 0), 1);
    let t = traces(&rs, "svc", vec![low, high, plain_low]);
    let v: Vec<Verdict> = t.iter().map(|(id, s)| rs.decide(id, s)).collect();
    assert!(v[0].keep, "rv high: kept although the trace id says drop");
    assert_eq!(v[0].threshold, 1 << 55);
    assert!(
        !v[1].keep,
        "rv zero: dropped although the trace id says keep"
    );
    assert_eq!(v[1].threshold, 0);
    assert!(!v[2].keep, "no rv: the trace id decides");
}

#[test]
fn adaptive_rule_keeps_its_target_and_reports_thresholds() {
    let rs = rules(
        "- name: errors\n  when: { span: { status: error } }\n  keep: true\n\
         - name: rest\n  adaptive: { target_traces_per_sec: 10, key: [service, root.name], adjust_every: 5s }",
    );
    let base = Instant::now();
    let (mut kept, mut seen) = (0u32, 0u32);
    for i in 0..20_000u64 {
        // 500 traces/s for 40 s, two keys.
        let t = id_with_randomness(i + 1, i.wrapping_mul(0x9e3779b97f4a7c15) >> 8);
        let name = if i % 5 == 0 { "GET /rare" } else { "GET /hot" };
        let tr = traces(&rs, "svc", vec![span(t, 1).name(name)]);
        let now = base + Duration::from_micros(i * 2000);
        let v = rs.decide_at(&tr[0].0, &tr[0].1, now);
        assert_eq!(rs.name_of(v), "rest");
        if i >= 10_000 {
            // Both keys run above their share: kept ones carry their threshold.
            assert!(
                !v.keep || v.threshold > 0,
                "kept with a probability below 1"
            );
            seen += 1;
            kept += u32::from(v.keep);
        }
    }
    let rate = kept as f64 / 20.0;
    assert!((rate - 10.0).abs() <= 1.5, "kept {rate}/s of {seen}");
    let Action::Adaptive(a) = &rs.rules()[1].action else {
        panic!("adaptive action")
    };
    let snap = a.snapshot();
    assert_eq!(snap.len(), 2, "{snap:?}");
    assert_eq!(snap[0].0, "svc | GET /hot");
}

#[test]
fn rate_limit_rule_uses_the_decision_time() {
    let rs = rules("- name: rl\n  rate_limit: { traces_per_sec: 2, burst: 2 }");
    let base = Instant::now();
    let t = traces(&rs, "svc", (1..=10).map(|i| span(i, 1)).collect());
    let kept: Vec<bool> = t
        .iter()
        .enumerate()
        .map(|(i, (id, s))| {
            rs.decide_at(id, s, base + Duration::from_millis(100 * i as u64))
                .keep
        })
        .collect();
    // Burst of 2, then 2/s: one every 500 ms (at 500 and 1000 ms... refilled 0.2 per 100 ms).
    assert_eq!(kept.iter().filter(|k| **k).count(), 3, "{kept:?}");
    assert!(kept[0] && kept[1]);
    let v = rs.decide_at(&t[0].0, &t[0].1, base);
    assert_eq!(v.threshold, 0, "a rate limit is not a probability");
}

#[test]
fn explanation_names_the_rules_that_did_not_match_and_why() {
    let rs = rules(
        "- name: errors\n  when: { span: { status: error } }\n  keep: true\n\
         - name: slow\n  when: { trace: { min_duration: 1s }, root: { name: checkout } }\n  keep: true\n\
         - name: half\n  when: { root: { name: checkout } }\n  probability: 0.5",
    );
    let t = traces(&rs, "svc", vec![span(5, 1).name("checkout").at(0, 10)]);
    let e = rs.explain(&t[0].0, &t[0].1, Instant::now());
    assert_eq!(e.checks.len(), 3);
    assert_eq!(
        (e.checks[0].matched, e.checks[0].failed.clone()),
        (false, vec!["span"])
    );
    assert_eq!(
        (e.checks[1].matched, e.checks[1].failed.clone()),
        (false, vec!["trace"])
    );
    assert!(e.checks[2].matched);
    assert_eq!(e.rule, "half");
    assert_eq!(e.action, "probability: 0.5");
    assert!(matches!(
        e.sampling,
        SamplingDetail::Threshold { threshold, .. } if threshold == 1 << 55
    ));
    let text = e.to_string();
    assert!(
        text.contains("rule 0 `errors`: no match (did not hold: span)"),
        "{text}"
    );
    assert!(
        text.contains("decided by `half` (probability: 0.5)"),
        "{text}"
    );
    // The explanation decides exactly as decide does.
    assert_eq!(e.verdict, rs.decide(&t[0].0, &t[0].1));
}

/// The encoded output of kept spans, decoded: (trace id, tracestate) per span.
fn emitted(acc: &Accounting, rs: &RuleSet, kept: &[(Verdict, &Span)]) -> Vec<(Vec<u8>, String)> {
    let mut cache = SuffixCache::default();
    let out: Vec<OutSpan> = kept
        .iter()
        .map(|(v, s)| OutSpan {
            scope: s.scope.clone(),
            raw: s.raw_bytes(),
            suffix: acc.suffix(&mut cache, rs.annotation_of(*v), *v, s),
        })
        .collect();
    let req = ExportTraceServiceRequest::decode(encode_request(out.iter())).unwrap();
    fixtures::spans_of(&req)
        .into_iter()
        .map(|s| (s.trace_id.clone(), s.trace_state.clone()))
        .collect()
}

#[test]
fn written_thresholds_decode_to_the_probability_used_and_adjusted_counts_add_up() {
    let rs = rules(
        "- name: tenth\n  when: { span: { service: svc-0 } }\n  probability: 0.1\n\
         - name: rest\n  adaptive: { target_traces_per_sec: 40, key: [service], adjust_every: 5s }",
    );
    let acc = Accounting::new(Some("SampleRate"));
    let base = Instant::now();
    let mut rng = fixtures::SplitMix64(99);
    let mut next = || rng.next_u64();
    // 1000 traces/s for 60 s over 8 services with skewed weights, two spans per trace.
    let weights = [1u64, 1, 2, 4, 8, 16, 32, 64];
    let total_w: u64 = weights.iter().sum();
    let (mut seen, mut adjusted, mut kept_traces) = (0u64, 0f64, 0u64);
    let mut used: HashMap<Vec<u8>, u64> = HashMap::new();
    for batch in 0..60u64 {
        let mut by_service: Vec<Vec<SpanBuilder>> = vec![Vec::new(); weights.len()];
        for i in 0..1000u64 {
            let r = next() % total_w;
            let svc = weights
                .iter()
                .scan(0, |acc, w| {
                    *acc += w;
                    Some(*acc)
                })
                .position(|c| r < c)
                .unwrap();
            let t = ((next() as u128) << 64) | next() as u128;
            let at = batch * 1000 + i;
            by_service[svc].push(span(t, 1).name("root").at(at, 5));
            by_service[svc].push(span(t, 2).parent(1).at(at, 2));
        }
        let mut kept: Vec<(Verdict, Span)> = Vec::new();
        let mut all: Vec<(u64, TraceId, Vec<Span>)> = Vec::new();
        for (svc, spans) in by_service.into_iter().enumerate() {
            for (id, s) in traces(&rs, &format!("svc-{svc}"), spans) {
                let start_ms = (s[0].start - fixtures::T0) / 1_000_000;
                all.push((start_ms, id, s));
            }
        }
        all.sort_by_key(|(t, _, _)| *t);
        for (start_ms, id, s) in all {
            seen += 1;
            let v = rs.decide_at(&id, &s, base + Duration::from_millis(start_ms));
            if v.keep {
                kept_traces += 1;
                used.insert(id.to_vec(), v.threshold);
                kept.extend(s.into_iter().map(|s| (v, s)));
            }
        }
        let refs: Vec<(Verdict, &Span)> = kept.iter().map(|(v, s)| (*v, s)).collect();
        let out = emitted(&acc, &rs, &refs);
        for (i, (id, ts)) in out.iter().enumerate() {
            // No th: kept with probability 1 (a rare key).
            let th = tracestate::read(ts).th.unwrap_or(0);
            assert_eq!(Some(&th), used.get(id), "th decodes to the threshold used");
            if i % 2 == 0 {
                // One span of two per trace counts the trace.
                adjusted += tracestate::adjusted_count(th);
            }
        }
    }
    let ratio = adjusted / seen as f64;
    eprintln!(
        "{seen} traces seen, {kept_traces} kept, adjusted counts sum to {adjusted:.0} ({ratio:.4})"
    );
    assert!((ratio - 1.0).abs() <= 0.05, "ratio {ratio}");
}

#[test]
fn incoming_thresholds_are_never_lowered() {
    let rs = rules("- name: half\n  probability: 0.5");
    let acc = Accounting::new(None);
    let mut b = span(id_with_randomness(1, (1 << 56) - 1), 1);
    b.0.trace_state = "ot=th:e;rv:ffffffffffffff,other=1".into();
    let mut c = span(id_with_randomness(2, (1 << 56) - 1), 1);
    c.0.trace_state = "ot=th:4".into();
    let t = traces(&rs, "svc", vec![b, c]);
    let kept: Vec<(Verdict, &Span)> = t.iter().map(|(id, s)| (rs.decide(id, s), &s[0])).collect();
    assert!(kept.iter().all(|(v, _)| v.keep));
    let out = emitted(&acc, &rs, &kept);
    assert_eq!(out[0].1, "ot=th:e;rv:ffffffffffffff,other=1");
    assert_eq!(out[1].1, "ot=th:8");
}
