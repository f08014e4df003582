//! What the decision bus costs: bytes published per byte of spans received (the bound
//! is 1%), and the time to encode a compressed batch. Realistic 8-span pipeline traces (see
//! `hot_path.rs`), 1% errors, the rules `errors` (keep) and `rest` (probability 0.1); each
//! trace's spans spread at random over three instances, or whole to one. Only decisions a peer
//! needs are published (`Standing::share`): keeps, not the catch-all's drops.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::sync::Arc;
use tailsift::cluster::wire::{encode_batch, Outgoing};
use tailsift::config;
use tailsift::decide::Decider;
use tailsift::fixtures;
use tailsift::otlp::{ingest, Interest};
use tailsift::rules::RuleSet;
use tokio::time::Instant;

const TRACES: u128 = 20_000;
const SPANS: u64 = 8;
const INSTANCES: usize = 3;
/// Decisions per published batch: about 20 ms (`batch_wait`) of a busy instance's decisions.
const BATCH: usize = 256;

fn rules() -> RuleSet {
    let yaml = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:0 } } }\n\
                exporters: { f: { protocol: file, path: x.jsonl } }\n\
                sampling:\n  rules:\n\
                \x20   - { name: errors, when: { span: { status: error } }, keep: true }\n\
                \x20   - { name: rest, probability: 0.1 }\n";
    let c = config::parse(yaml, "bench.yaml").expect("valid");
    RuleSet::compile(&c).expect("compiles")
}

/// One instance's view: the request bytes it received and the decisions it publishes.
fn instance_view(spread: bool, rules: &RuleSet) -> (usize, Vec<Outgoing>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let names = rules.rule_names();
    let (mut received, mut out) = (0usize, Vec::new());
    let now = Instant::now();
    for t in 0..TRACES {
        let id = (t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        let trace = fixtures::pipeline_trace(id, SPANS, t % 100 == 0);
        let whole_to = rng.random_range(0..INSTANCES);
        let mine: Vec<_> = trace
            .into_iter()
            .filter(|_| {
                let i = if spread {
                    rng.random_range(0..INSTANCES)
                } else {
                    whole_to
                };
                i == 0
            })
            .map(fixtures::SpanBuilder::build)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let body = fixtures::encode(&fixtures::request_with("bench-svc", vec![], mine));
        received += body.len();
        let spans: Vec<_> = ingest(&body, rules.interest()).expect("valid").spans;
        let part: Vec<_> = spans.into_iter().map(|(_, s)| s).collect();
        let trace_id = id.to_be_bytes();
        let v = Decider::decide(rules, &trace_id, &part, now);
        if Decider::standing(rules, v).share {
            out.push(Outgoing {
                trace_id,
                rule: v
                    .rule
                    .map_or_else(|| "_default".into(), |i| names[usize::from(i)].clone()),
                keep: v.keep,
                threshold: v.threshold,
                fidelity: None,
            });
        }
    }
    (received, out)
}

fn bus_bytes(c: &mut Criterion) {
    let rules = rules();
    let _ = Interest::default();
    for (label, spread) in [("spread over 3", true), ("whole to one of 3", false)] {
        let (received, decisions) = instance_view(spread, &rules);
        let sent: usize = decisions
            .chunks(BATCH)
            .map(|b| encode_batch("0123456789abcdef", b).len())
            .sum();
        println!(
            "cluster bus, {label}: {} decisions published, {sent} bus bytes for {received} span bytes received = {:.3}%",
            decisions.len(),
            100.0 * sent as f64 / received as f64
        );
    }
    let (_, decisions) = instance_view(true, &rules);
    let batch: Vec<Outgoing> = decisions.iter().take(BATCH).cloned().collect();
    let name: Arc<str> = "0123456789abcdef".into();
    let mut g = c.benchmark_group("cluster_bus");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("encode_batch", |b| {
        b.iter(|| black_box(encode_batch(&name, black_box(&batch))))
    });
    g.finish();
}

criterion_group!(benches, bus_bytes);
criterion_main!(benches);
