//! Export compression: CPU and bytes per level, on export batches shaped like what tailsift
//! sends (8192 spans, one `ExportTraceServiceRequest` per kept trace concatenated as the
//! exporter batches them, 4 services, 8-10 attributes and a 64-byte English-like prompt per
//! span, random ids and timestamps).
//!
//! Compared: gzip through flate2 on its zlib-rs backend (what the exporters use), the same
//! levels through miniz_oxide (flate2's default backend, raw deflate without the 18-byte gzip
//! header and CRC), and zstd.
//!
//! `cargo bench --bench compression` prints, per codec and level, the compressed size as a share
//! of the batch, then criterion's times; `-- --quick` for a short run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use prost::Message;
use std::hint::black_box;
use std::time::Duration;
use tailsift::config::exporter::BodyCompression;
use tailsift::exporter::compress::compress;
use tailsift::fixtures;

const SERVICES: [&str; 4] = ["genai-gateway", "retriever", "llm-router", "safety-filter"];
const BATCH_SPANS: usize = 8192;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One export batch: a request per kept trace, each with its spans grouped by service.
fn batch() -> Vec<u8> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    for _ in 0..BATCH_SPANS / 8 {
        let trace = ((rng.next() as u128) << 64) | rng.next() as u128;
        let shift = rng.next() % 60_000_000_000;
        let mut groups: Vec<Vec<_>> = vec![Vec::new(); SERVICES.len()];
        for (i, b) in fixtures::pipeline_trace(trace, 8, rng.next().is_multiple_of(100))
            .into_iter()
            .enumerate()
        {
            let mut s = b.build();
            s.span_id = rng.next().to_be_bytes().to_vec();
            s.start_time_unix_nano += shift;
            s.end_time_unix_nano += shift + rng.next() % 5_000_000;
            for kv in &mut s.attributes {
                if kv.key == "prompt" {
                    kv.value = Some(AnyValue {
                        value: Some(any_value::Value::StringValue(fixtures::english_prompt(
                            64,
                            || rng.next(),
                        ))),
                    });
                }
            }
            groups[i % SERVICES.len()].push(s);
        }
        let req = fixtures::services_request(SERVICES.iter().copied().zip(groups));
        req.encode(&mut out).expect("a Vec grows");
    }
    out
}

fn levels(c: &mut Criterion) {
    let data = bytes::Bytes::from(batch());
    println!(
        "export batch: {} spans, {} bytes ({:.0} B/span)",
        BATCH_SPANS,
        data.len(),
        data.len() as f64 / BATCH_SPANS as f64
    );
    let gzip: Vec<u32> = (1..=9).collect();
    let zstd: Vec<i32> = vec![1, 2, 3, 6, 9, 19];
    for &l in &gzip {
        let z = compress(BodyCompression::Gzip { level: l }, data.clone()).unwrap();
        let m = miniz_oxide::deflate::compress_to_vec(&data, l as u8);
        println!(
            "gzip level {l}: zlib-rs {:.2}% ({} B), miniz_oxide {:.2}% ({} B)",
            100.0 * z.len() as f64 / data.len() as f64,
            z.len(),
            100.0 * m.len() as f64 / data.len() as f64,
            m.len()
        );
    }
    for &l in &zstd {
        let z = compress(BodyCompression::Zstd { level: l }, data.clone()).unwrap();
        println!(
            "zstd level {l}: {:.2}% ({} B)",
            100.0 * z.len() as f64 / data.len() as f64,
            z.len()
        );
    }
    let mut g = c.benchmark_group("compress_8192_spans");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for &l in &gzip {
        g.bench_with_input(BenchmarkId::new("gzip_zlib_rs", l), &l, |b, &l| {
            b.iter(|| compress(BodyCompression::Gzip { level: l }, black_box(data.clone())))
        });
        g.bench_with_input(BenchmarkId::new("deflate_miniz_oxide", l), &l, |b, &l| {
            b.iter(|| miniz_oxide::deflate::compress_to_vec(black_box(&data), l as u8))
        });
    }
    for &l in &zstd {
        g.bench_with_input(BenchmarkId::new("zstd", l), &l, |b, &l| {
            b.iter(|| compress(BodyCompression::Zstd { level: l }, black_box(data.clone())))
        });
    }
    g.finish();
}

criterion_group!(benches, levels);
criterion_main!(benches);
