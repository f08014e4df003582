//! Replays built in code: recorded timestamps drive adaptive rules, ordering, explanations.

use super::*;
use crate::fixtures::{self, span};
use crate::rules::RuleSet;

fn config(rules: &str) -> Config {
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
         exporters: {{ f: {{ protocol: file, path: x.jsonl }} }}\n\
         sampling:\n  annotate: false\n  rules:\n{}",
        rules
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    crate::config::parse(&yaml, "sim.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(c: &Config, requests: &[Bytes], explain: &[TraceId]) -> Report {
    let rs = RuleSet::compile(c).unwrap();
    replay(&rs, c, requests, explain).unwrap()
}

#[test]
fn adaptive_rules_replay_at_the_recorded_rate() {
    let c = config(
        "- name: rest\n  adaptive: { target_traces_per_sec: 10, key: [service, root.name], adjust_every: 5s }",
    );
    // 200 traces/s for 60 s of recorded time, three routes with unequal traffic, in requests
    // of 100 traces (out of order inside each request).
    let mut requests = Vec::new();
    for batch in 0..120u64 {
        let spans: Vec<_> = (0..100u64)
            .rev()
            .map(|i| {
                let n = batch * 100 + i;
                let t = (n as u128 + 1).wrapping_mul(0x9e3779b97f4a7c15_f39cc0605cedc834) | 1;
                let route =
                    ["GET /a", "GET /b", "GET /b", "GET /c", "GET /c", "GET /c"][n as usize % 6];
                span(t, 1).name(route).at(n * 5, 3)
            })
            .collect();
        requests.push(fixtures::encode(&fixtures::request("svc", spans)));
    }
    let r = run(&c, &requests, &[]);
    assert_eq!(r.totals.traces, 12_000);
    assert!((r.totals.duration_secs - 59.995).abs() < 1e-6);
    let rate = r.rules[0].kept_traces_per_sec.unwrap();
    assert!(
        (rate - 10.0).abs() <= 1.5,
        "kept {rate}/s for a target of 10/s"
    );
    assert_eq!(r.rules[0].target_traces_per_sec, Some(10.0));
    let text = r.table();
    assert!(text.contains("adaptive `rest`: kept"), "{text}");
    assert!(text.contains("for a target of 10.00 traces/s"), "{text}");
}

#[test]
fn explains_asked_traces_and_reports_missing_ones() {
    let c = config(
        "- name: errors\n  when: { span: { status: error } }\n  keep: true\n- name: rest\n  drop: true",
    );
    let req = fixtures::request("svc", [span(7, 1), span(8, 1).error()]);
    let missing = fixtures::trace_id(99);
    let r = run(
        &c,
        &[fixtures::encode(&req)],
        &[fixtures::trace_id(7), missing],
    );
    let e = r.explanations[0].1.as_ref().unwrap();
    assert_eq!(e.rule, "rest");
    assert!(!e.verdict.keep);
    assert!(r.explanations[1].1.is_none());
    let text = r.table();
    assert!(
        text.contains("rule 0 `errors`: no match (did not hold: span)"),
        "{text}"
    );
    assert!(text.contains("decided by `rest` (drop): dropped"), "{text}");
    assert!(
        text.contains(&format!("trace {}: not in the input", hex::encode(missing))),
        "{text}"
    );
    let json = r.json();
    assert_eq!(json["explanations"][0]["rule"], "rest");
    assert_eq!(json["explanations"][0]["checks"][0]["failed"][0], "span");
    assert_eq!(json["explanations"][1]["found"], false);
    assert_eq!(json["rules"][0]["kept"], 1);
    assert_eq!(json["totals"]["traces"], 2);
}

#[test]
fn rejected_spans_and_the_default_rule_are_counted() {
    let c = config("- name: errors\n  when: { span: { status: error } }\n  drop: true");
    let mut bad = span(3, 1);
    bad.0.trace_id = vec![1, 2, 3];
    let req = fixtures::request("svc", [span(1, 1), span(2, 1).error(), bad]);
    let r = run(&c, &[fixtures::encode(&req)], &[]);
    assert_eq!(r.totals.rejected_spans, 1);
    assert_eq!(r.rules[1].rule, DEFAULT_RULE);
    assert_eq!((r.rules[1].matched, r.rules[1].kept), (1, 1));
    assert_eq!((r.rules[0].matched, r.rules[0].dropped), (1, 1));
    assert!(r.table().contains("_default"));
}

#[test]
fn slower_than_warms_up_on_the_recording_then_decides() {
    let c = config(
        "- name: slow\n  when: { span: { slower_than: { quantile: 0.99, min_samples: 200 } } }\n  keep: true\n- name: rest\n  drop: true",
    );
    // 250 traces of an 8 s stage over 250 s, then one of 45 s; the slow one comes first in
    // the recording, when the stage had no samples yet.
    let mut spans = vec![span(9999, 1).name("video_synth").at(0, 45_000)];
    spans.extend((0..250u64).map(|i| {
        span(i as u128 + 1, 1)
            .name("video_synth")
            .at(1000 + i * 1000, 7_900 + (i % 3) * 100)
    }));
    let requests = vec![fixtures::encode(&fixtures::request("video", spans))];
    let r = run(&c, &requests, &[]);
    assert_eq!(r.rules[0].kept, 1, "only the 45 s synthesis: {:?}", r.rules);
    assert_eq!(r.rules[1].dropped, 250);
    assert!(
        r.notes.iter().any(|n| n.contains("1 stages sketched")),
        "{:?}",
        r.notes
    );
    assert!(r.table().contains("slower_than: 1 stages sketched"));
}

#[test]
fn min_per_key_is_shown() {
    let c = config(
        "- name: rest\n  adaptive: { target_traces_per_sec: 0.5, key: [root.name], min_per_key: { traces: 1, every: 1m } }",
    );
    let spans: Vec<_> = (0..600u64)
        .map(|i| {
            let name = if i % 100 == 0 { "rare" } else { "busy" };
            span(i as u128 + 1, 1).name(name).at(i * 1000, 10)
        })
        .collect();
    let r = run(
        &c,
        &[fixtures::encode(&fixtures::request("svc", spans))],
        &[],
    );
    let note = r.notes.iter().find(|n| n.contains("min_per_key")).unwrap();
    assert!(
        note.starts_with("adaptive `rest`: min_per_key (1 per 1m) kept"),
        "{note}"
    );
    assert!(r.table().contains(note.as_str()));
    assert_eq!(r.json()["notes"][0], serde_json::json!(note));
}
