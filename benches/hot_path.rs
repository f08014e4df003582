//! Criterion micro-benchmarks of the span hot path: ingest (bytes -> summaries), rule evaluation
//! per trace, buffer insert + decide, and raw re-encoding of kept traces. Reported per span.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use tailsift::buffer::{Buffer, BufferConfig, Output};
use tailsift::config;
use tailsift::fixtures;
use tailsift::otlp::{encode_request, ingest, OutSpan, Span, TraceId};
use tailsift::rules::RuleSet;
use tokio::time::Instant;

const TRACES_PER_REQUEST: u128 = 64;
const SPANS_PER_TRACE: u64 = 8;

/// A request of 64 realistic 8-span traces (8-10 attributes, one 64-byte payload), 1% errors.
fn request_body(seed: u128) -> Bytes {
    request_body_of("bench-svc", seed)
}

/// [`request_body`] from service `service`.
fn request_body_of(service: &str, seed: u128) -> Bytes {
    let spans = (0..TRACES_PER_REQUEST)
        .flat_map(|t| {
            let id = (seed * TRACES_PER_REQUEST + t + 1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            fixtures::pipeline_trace(
                id,
                SPANS_PER_TRACE,
                (seed * TRACES_PER_REQUEST + t).is_multiple_of(100),
            )
        })
        .map(fixtures::SpanBuilder::build)
        .collect();
    fixtures::encode(&fixtures::request_with(service, vec![], spans))
}

fn rules(yaml_rules: &str) -> RuleSet {
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
         exporters: {{ f: {{ protocol: file, path: x.jsonl }} }}\n\
         fidelity: {{ lite: {{ hash_attributes: [prompt] }} }}\n\
         sampling:\n  rules:\n{yaml_rules}"
    );
    let cfg = config::parse(&yaml, "bench").expect("valid bench config");
    RuleSet::compile(&cfg).expect("rules compile")
}

/// The README example rule set (errors, slow stage, experiments, healthz, premium, rest).
fn example_rules() -> RuleSet {
    rules(
        "    - { name: errors, when: { span: { status: error } }, keep: true }\n\
         \x20   - { name: slow-rerank, when: { span: { name: rerank, min_duration: 1s } }, keep: true }\n\
         \x20   - { name: experiments, when: { span: { attributes: { experiment.id: { exists: true } } } }, keep: true }\n\
         \x20   - { name: healthz, when: { root: { name: GET /healthz } }, drop: true }\n\
         \x20   - { name: premium, when: { root: { attributes: { user.tier: premium } } }, probability: 0.5, fidelity: lite }\n\
         \x20   - { name: rest, probability: 0.1 }\n",
    )
}

fn spans_per_request() -> u64 {
    TRACES_PER_REQUEST as u64 * SPANS_PER_TRACE
}

fn by_trace(spans: Vec<(TraceId, Span)>) -> Vec<(TraceId, Vec<Span>)> {
    let mut out: Vec<(TraceId, Vec<Span>)> = Vec::new();
    for (id, s) in spans {
        match out.last_mut() {
            Some((last, v)) if *last == id => v.push(s),
            _ => out.push((id, vec![s])),
        }
    }
    out
}

fn bench_ingest(c: &mut Criterion) {
    let body = request_body(1);
    let rs = example_rules();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(spans_per_request()));
    g.bench_function("example_rules", |b| {
        b.iter(|| black_box(ingest(black_box(&body), rs.interest()).unwrap()))
    });
    g.bench_function("prost_full_decode_for_comparison", |b| {
        use prost::Message;
        b.iter(|| {
            black_box(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body.clone())
                    .unwrap(),
            )
        })
    });
    g.finish();
}

fn bench_rules(c: &mut Criterion) {
    let rs = example_rules();
    let traces = by_trace(ingest(&request_body(2), rs.interest()).unwrap().spans);
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(spans_per_request()));
    g.bench_function("example_rules_64_traces", |b| {
        b.iter(|| {
            for (id, spans) in &traces {
                black_box(rs.decide(id, spans));
            }
        })
    });
    // The same rules with `rest` adaptive (key: service, root name, route): one hash, one
    // lock and one map lookup per trace that reaches it.
    let adaptive = rules(
        "    - { name: errors, when: { span: { status: error } }, keep: true }\n\
         \x20   - { name: healthz, when: { root: { name: GET /healthz } }, drop: true }\n\
         \x20   - { name: rest, adaptive: { target_traces_per_sec: 50, key: [service, root.name, root.attributes.http.route] } }\n",
    );
    let t0 = Instant::now();
    g.bench_function("adaptive_rest_64_traces", |b| {
        b.iter(|| {
            for (id, spans) in &traces {
                black_box(adaptive.decide_at(id, spans, t0));
            }
        })
    });
    g.finish();
}

/// Several threads deciding at once with one adaptive rule, as the buffer's shards do on a
/// busy daemon: every thread decides its own 64 traces per iteration. With one key all threads
/// meet on that key's state; with a key per service (64 services) they mostly do not.
fn bench_adaptive_contended(c: &mut Criterion) {
    const THREADS: usize = 4;
    let adaptive = rules(
        "    - { name: rest, adaptive: { target_traces_per_sec: 50, key: [service, root.name] } }\n",
    );
    let one_key: Vec<Vec<(TraceId, Vec<Span>)>> = (0..THREADS as u128)
        .map(|t| {
            by_trace(
                ingest(&request_body(10 + t), adaptive.interest())
                    .unwrap()
                    .spans,
            )
        })
        .collect();
    // 16 services per thread, 4 traces of each per request.
    let many_keys: Vec<Vec<(TraceId, Vec<Span>)>> = (0..THREADS as u128)
        .map(|t| {
            (0..16u128)
                .flat_map(|s| {
                    let body = request_body_of(&format!("svc-{t}-{s}"), 20 + t * 16 + s);
                    let traces = by_trace(ingest(&body, adaptive.interest()).unwrap().spans);
                    traces.into_iter().take(4)
                })
                .collect()
        })
        .collect();
    let t0 = Instant::now();
    let mut g = c.benchmark_group("adaptive_contended");
    g.throughput(Throughput::Elements(THREADS as u64 * spans_per_request()));
    for (name, sets) in [
        ("4_threads_one_key", &one_key),
        ("4_threads_64_keys", &many_keys),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for traces in sets.iter() {
                        let rs = &adaptive;
                        s.spawn(move || {
                            for _ in 0..iters {
                                for (id, spans) in traces {
                                    black_box(rs.decide_at(id, spans, t0));
                                }
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn bench_buffer(c: &mut Criterion) {
    let rs = example_rules();
    let bodies: Vec<Bytes> = (0..16).map(request_body).collect();
    let cfg = BufferConfig {
        decision_wait: std::time::Duration::from_secs(10),
        root_wait: std::time::Duration::from_secs(2),
        max_spans_per_trace: 10_000,
        tick: std::time::Duration::from_millis(10),
        max_traces: 1_000_000,
        max_bytes: 1 << 34,
        shards: 64,
        cache_kept: 100_000,
        cache_dropped: 1_000_000,
    };
    let mut g = c.benchmark_group("buffer");
    g.throughput(Throughput::Elements(
        spans_per_request() * bodies.len() as u64,
    ));
    g.bench_function("insert_then_decide_1024_traces", |b| {
        b.iter_batched(
            || {
                let spans: Vec<_> = bodies
                    .iter()
                    .map(|body| ingest(body, rs.interest()).unwrap().spans)
                    .collect();
                (Buffer::new(cfg.clone()), spans)
            },
            |(buf, requests)| {
                let t0 = Instant::now();
                let mut out = Output::default();
                for spans in requests {
                    buf.insert(spans, t0, &rs, &mut out);
                }
                // Every trace has its root, so all are due at root_wait (2 s).
                buf.take_due(t0 + std::time::Duration::from_secs(2), &rs, &mut out);
                black_box(out.decided.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let rs = example_rules();
    let ingested = ingest(&request_body(3), rs.interest()).unwrap();
    let annotation = tailsift::otlp::encode::string_attribute_field("sampling.rule", "errors");
    let out: Vec<OutSpan> = ingested
        .spans
        .iter()
        .map(|(_, s)| OutSpan {
            scope: Arc::clone(&s.scope),
            raw: s.raw_bytes(),
            suffix: annotation.clone(),
        })
        .collect();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(out.len() as u64));
    g.bench_function("full_span_check_for_salvage", |b| {
        b.iter(|| {
            for o in &out {
                black_box(tailsift::otlp::validate::span(&o.raw).is_ok());
            }
        })
    });
    g.bench_function("raw_reemit_with_annotation", |b| {
        b.iter(|| black_box(encode_request(out.iter())))
    });
    let profile = rs.rules()[4]
        .fidelity
        .clone()
        .expect("premium has lite fidelity");
    g.bench_function("lite_fidelity_rewrite", |b| {
        b.iter(|| {
            for o in &out {
                black_box(profile.apply(&o.raw).unwrap());
            }
        })
    });
    g.finish();
}

/// The conditions and options for AI pipelines, each on the same 64 traces: the cost per span
/// of feeding the stage sketches at ingest, and of deciding with each new condition.
fn bench_pipelines(c: &mut Criterion) {
    use tailsift::decide::Decider;
    let mut g = c.benchmark_group("pipelines");
    g.throughput(Throughput::Elements(spans_per_request()));
    let slow = rules(
        "    - { name: slow, when: { span: { slower_than: { quantile: 0.99, min_samples: 100 } } }, keep: true }\n\
         \x20   - { name: rest, probability: 0.1 }\n",
    );
    let t0 = Instant::now();
    let warm = ingest(&request_body(3), slow.interest()).unwrap().spans;
    for _ in 0..20 {
        slow.observe(&warm, t0);
    }
    g.bench_function("stage_sketch_observe_512_spans", |b| {
        b.iter(|| slow.observe(black_box(&warm), t0))
    });
    let traces = by_trace(ingest(&request_body(2), slow.interest()).unwrap().spans);
    g.bench_function("slower_than_64_traces", |b| {
        b.iter(|| {
            for (id, spans) in &traces {
                black_box(slow.decide_at(id, spans, t0));
            }
        })
    });
    let decide_all = |name: &str, rs: &RuleSet, g: &mut criterion::BenchmarkGroup<'_, _>| {
        let traces = by_trace(ingest(&request_body(2), rs.interest()).unwrap().spans);
        g.bench_function(name, |b| {
            b.iter(|| {
                for (id, spans) in &traces {
                    black_box(rs.decide_at(id, spans, t0));
                }
            })
        });
    };
    let sums = rules(
        "    - { name: tokens, when: { trace: { sum: { attribute: tokens, min: 50000 } } }, keep: true }\n\
         \x20   - { name: calls, when: { trace: { count: { span: { name: generate }, min: 20 } } }, keep: true }\n\
         \x20   - { name: rest, probability: 0.1 }\n",
    );
    decide_all("token_sum_and_call_count_64_traces", &sums, &mut g);
    let floor = rules(
        "    - { name: rest, adaptive: { target_traces_per_sec: 50, key: [service, root.name], min_per_key: { traces: 1, every: 15m } } }\n",
    );
    decide_all("adaptive_min_per_key_64_traces", &floor, &mut g);
    let captured = rules("    - { name: rest, probability: 0.1 }\n");
    let m = tailsift::capture::CaptureMatch {
        user: Some("u-not-here".into()),
        ..Default::default()
    };
    captured
        .captures()
        .add(m, std::time::Duration::from_secs(3600), "full")
        .unwrap();
    decide_all("one_capture_active_64_traces", &captured, &mut g);
    g.finish();
}

fn bench_genai_fidelity(c: &mut Criterion) {
    let yaml = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:0 } } }\n\
                exporters: { f: { protocol: file, path: x.jsonl }}\n\
                fidelity: { light: { presets: [gen_ai], media: { min_bytes: 4KiB }, hash_attributes: [prompt] } }\n";
    let cfg = config::parse(yaml, "bench").expect("valid bench config");
    let profile = tailsift::output::fidelity::Profile::compile("light", &cfg.fidelity["light"]);
    let spans = ingest(&request_body(4), &Default::default()).unwrap().spans;
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(spans_per_request()));
    g.bench_function("gen_ai_and_media_fidelity_rewrite", |b| {
        b.iter(|| {
            for (_, s) in &spans {
                black_box(profile.apply(s.raw()).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_ingest,
    bench_rules,
    bench_adaptive_contended,
    bench_buffer,
    bench_encode,
    bench_pipelines,
    bench_genai_fidelity
);
criterion_main!(benches);
