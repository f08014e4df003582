//! Settling through a real buffer and rule set, without a bus: holds, peers' verdicts,
//! splits and the decision cache.

use super::*;
use crate::buffer::{Buffer, BufferConfig, Output};
use crate::fixtures::{self, span, SpanBuilder};
use crate::otlp::{ingest, Interest, Span, TraceId};
use crate::rules::RuleSet;

const RULES: &str = "\
receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }
exporters: { out: { protocol: file, path: out.jsonl } }
cluster: { nats: nats://127.0.0.1:4222, grace: 1s }
sampling:
  decision_wait: 2s
  root_wait: 2s
  rules:
    - { name: errors, when: { span: { status: error } }, keep: true }
    - { name: rest, probability: 0.0 }
";

fn setup() -> (Cluster, Buffer) {
    let cfg = crate::config::parse(RULES, "t.yaml").expect("valid");
    let rules: Arc<dyn Decider> = Arc::new(RuleSet::compile(&cfg).expect("compiles"));
    let c = Cluster::new(
        cfg.cluster.as_ref().expect("cluster"),
        &cfg.sampling,
        rules,
        GroupShare::default(),
    );
    c.set_bus_up(true);
    (c, Buffer::new(BufferConfig::from_config(&cfg.sampling)))
}

fn spans(b: Vec<SpanBuilder>) -> Vec<(TraceId, Span)> {
    let req = fixtures::request("svc", b);
    ingest(&fixtures::encode(&req), &Interest::default())
        .expect("valid")
        .spans
}

fn heard(id: u128, rule: &str, keep: bool) -> Heard {
    Heard {
        trace_id: fixtures::trace_id(id),
        rule: rule.into(),
        keep,
        threshold: 0,
        fidelity: None,
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Inserts, takes what is due at `at` and settles.
fn step(c: &Cluster, b: &Buffer, add: Vec<(TraceId, Span)>, t0: Instant, at: f64) -> Output {
    let mut out = Output::default();
    let d = c.current.load().decider.clone();
    b.insert(add, t0, &*d, &mut out);
    b.take_due(t0 + secs(at), &*d, &mut out);
    c.settle(&mut out, b, t0 + secs(at));
    out
}

#[tokio::test(start_paused = true)]
async fn a_drop_waits_for_a_peers_error_keep_and_applies_it() {
    let (c, b) = setup();
    let t0 = Instant::now();
    // Due at 2s, dropped here by `rest`: held, not published (nothing ranks after it).
    let out = step(&c, &b, spans(vec![span(1, 1).parent(9)]), t0, 2.0);
    assert!(out.decided.is_empty());
    assert_eq!(c.held(), 1);
    assert!(c.take_outbox().is_empty());
    c.heard(vec![heard(1, "errors", true)]);
    let out = step(&c, &b, vec![], t0, 2.1);
    assert_eq!(out.decided.len(), 1, "a final keep releases at once");
    let v = out.decided[0].verdict;
    assert_eq!((v.rule, v.keep), (Some(0), true));
    // Late spans follow the group's verdict.
    let out = step(&c, &b, spans(vec![span(1, 2).parent(9)]), t0, 2.2);
    assert_eq!(out.late_kept.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_drop_is_released_after_grace_and_a_late_keep_is_a_split() {
    let (c, b) = setup();
    let t0 = Instant::now();
    assert!(step(&c, &b, spans(vec![span(2, 1)]), t0, 2.0)
        .decided
        .is_empty());
    assert_eq!(c.held(), 1);
    assert!(step(&c, &b, vec![], t0, 2.9).decided.is_empty());
    let out = step(&c, &b, vec![], t0, 3.0);
    assert_eq!(out.decided.len(), 1);
    assert!(!out.decided[0].verdict.keep);
    c.heard(vec![heard(2, "errors", true)]);
    // The next settle (a tick) files the group's verdict for late spans.
    step(&c, &b, vec![], t0, 3.05);
    let out = step(&c, &b, spans(vec![span(2, 3).parent(1)]), t0, 3.1);
    assert_eq!(
        out.late_kept.len(),
        1,
        "after a split, later spans follow the keep"
    );
}

#[tokio::test(start_paused = true)]
async fn a_peers_verdict_decides_this_instances_part_at_once() {
    let (c, b) = setup();
    let t0 = Instant::now();
    step(&c, &b, spans(vec![span(3, 1).parent(9)]), t0, 0.0);
    c.heard(vec![heard(3, "errors", true)]);
    let out = step(&c, &b, vec![], t0, 0.1);
    assert_eq!(out.decided.len(), 1);
    assert_eq!(out.decided[0].reason, Reason::Peer);
    assert_eq!(out.decided[0].verdict.rule, Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_keep_of_the_first_rule_is_final_and_published_by_name() {
    let (c, b) = setup();
    let t0 = Instant::now();
    let out = step(&c, &b, spans(vec![span(4, 1).error()]), t0, 2.0);
    assert_eq!(out.decided.len(), 1);
    let sent = c.take_outbox();
    assert_eq!(sent.len(), 1);
    assert_eq!((&*sent[0].rule, sent[0].keep), ("errors", true));
}

#[tokio::test(start_paused = true)]
async fn alone_nothing_waits_and_unknown_rules_are_ignored() {
    let (c, b) = setup();
    c.set_bus_up(false);
    let t0 = Instant::now();
    c.heard(vec![heard(5, "no-such-rule", true)]);
    let out = step(&c, &b, spans(vec![span(5, 1)]), t0, 2.0);
    assert_eq!(out.decided.len(), 1);
    assert!(!out.decided[0].verdict.keep);
    assert!(c
        .readiness_detail()
        .is_some_and(|d| d.contains("deciding alone")));
}
