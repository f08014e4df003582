//! Criterion benchmark of the accept path with durable storage: the same requests taken by the
//! pipeline memory-only, with `storage.sync: write` and with `storage.sync: fsync` (each
//! iteration accepts 8 requests, then waits for their durability, as 8 concurrent clients'
//! answers would, then ticks as the daemon does every 10ms). The rules drop every trace and
//! `max_traces` decides the oldest early, so the buffer, the log and its releases run in a
//! steady state with the same 20,000 traces buffered in every mode, as the same load (rate
//! times `decision_wait`) would hold. (Bounded by `max_buffer_bytes` instead, the modes would
//! hold different loads: with storage on, a summary takes a fifth of a span's bytes, so the
//! same bytes hold five times more traces.) Reported per span.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;
use tailsift::exporter::Exporters;
use tailsift::fixtures;
use tailsift::pipeline::{Pipeline, Protocol};

const TRACES_PER_REQUEST: u128 = 64;
const SPANS_PER_TRACE: u64 = 8;
const REQUESTS_PER_ITER: usize = 8;
const BODIES: u128 = 16;

/// A request of 64 realistic 8-span traces (as in `hot_path`), with the offsets of every
/// trace id in it, so each use can be given fresh trace ids (a live load never repeats them).
fn request_body(seed: u128) -> (Vec<u8>, Vec<usize>) {
    let ids: Vec<u128> = (0..TRACES_PER_REQUEST)
        .map(|t| {
            (seed * TRACES_PER_REQUEST + t + 1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        })
        .collect();
    let spans = ids
        .iter()
        .flat_map(|id| fixtures::pipeline_trace(*id, SPANS_PER_TRACE, false))
        .map(fixtures::SpanBuilder::build)
        .collect();
    let body = fixtures::encode(&fixtures::request_with("bench-svc", vec![], spans)).to_vec();
    let mut at = Vec::new();
    for id in ids {
        let needle = fixtures::trace_id(id);
        at.extend(
            body.windows(16)
                .enumerate()
                .filter(|(_, w)| *w == needle)
                .map(|(i, _)| i),
        );
    }
    (body, at)
}

/// `body` with the first 8 bytes of every trace id replaced by `n` (one copy of the body).
fn fresh(body: &(Vec<u8>, Vec<usize>), n: u64) -> Bytes {
    let mut b = body.0.clone();
    for &i in &body.1 {
        b[i..i + 8].copy_from_slice(&n.to_le_bytes());
    }
    Bytes::from(b)
}

fn pipeline(storage: &str, dir: &std::path::Path) -> Pipeline {
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
         exporters: {{ f: {{ protocol: file, path: {out} }} }}\n\
         sampling:\n  decision_wait: 60s\n  root_wait: 60s\n  max_traces: 20000\n  max_buffer_bytes: 1GiB\n  memory_limit: 2GiB\n\
         \x20 decision_cache: {{ kept: 0, dropped: 0 }}\n  rules:\n    - {{ name: all, drop: true }}\n{storage}",
        out = dir.join("out.jsonl").display(),
    );
    let cfg = tailsift::config::parse(&yaml, "bench").expect("valid bench config");
    let rules = tailsift::server::decider(&cfg).expect("rules compile");
    let exporters =
        Exporters::start(&cfg.exporters, cfg.storage.is_some()).expect("exporters start");
    let p = Pipeline::new(&cfg, rules, exporters);
    match &cfg.storage {
        Some(s) => {
            let (s, _replay) = tailsift::storage::Storage::open(s).expect("storage opens");
            p.with_storage(Arc::new(s))
        }
        None => p,
    }
}

fn bench_accept(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let bodies: Vec<(Vec<u8>, Vec<usize>)> = (0..BODIES).map(request_body).collect();
    let mut g = c.benchmark_group("accept");
    g.throughput(Throughput::Elements(
        TRACES_PER_REQUEST as u64 * SPANS_PER_TRACE * REQUESTS_PER_ITER as u64,
    ));
    g.sample_size(20);
    for (name, sync) in [
        ("memory_only", None),
        ("sync_write", Some("write")),
        ("sync_fsync", Some("fsync")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let storage = sync.map_or(String::new(), |s| {
            format!(
                "storage: {{ directory: \"{}\", max_bytes: 1GiB, sync: {s} }}\n",
                dir.path().join("log").display()
            )
        });
        let p = pipeline(&storage, dir.path());
        let mut next = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut last = None;
                for _ in 0..REQUESTS_PER_ITER {
                    let body = fresh(&bodies[next % bodies.len()], next as u64);
                    next += 1;
                    let a = p.accept(Protocol::Grpc, body).expect("accepted");
                    last = a.durable_after.or(last);
                }
                if let Some(n) = last {
                    rt.block_on(p.durable(n)).expect("flushed");
                }
                // The daemon ticks every 10ms: release marks, decisions carried forward,
                // released segments deleted.
                p.tick();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_accept);
criterion_main!(benches);
