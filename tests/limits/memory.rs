//! Hostile input against the real binary under `memory_limit: 256MiB`: gzip bombs of OTLP/JSON
//! and concurrent huge gRPC requests keep its memory (VmRSS) under the limit plus a margin, are
//! refused retryably when they do not fit, and cost a well-behaved client little.

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::proc::{percentile, Proc};
use support::*;
use tailsift::fixtures::{request, span};
use tonic::Code;

const MIB: u64 = 1024 * 1024;
const LIMIT: u64 = 256 * MIB;
/// RSS allowed above `memory_limit`: the process's own baseline (runtime, code, metrics) and
/// allocator slack. Everything a request can make it allocate is counted under the limit.
const MARGIN: u64 = 64 * MIB;

const CONFIG: &str = r#"
sampling:
  decision_wait: 1s
  root_wait: 1s
  max_buffer_bytes: 192MiB
  memory_limit: 256MiB
  rules:
    - name: errors
      when: { span: { status: error } }
      keep: true
    - name: rest
      drop: true
exporters:
  out: { protocol: file, path: kept.jsonl }
"#;

/// Samples the child's VmRSS every 10ms until stopped; returns the largest.
fn watch_rss(p: &Proc, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let pid = p.child.id();
    tokio::spawn(async move {
        let mut max = 0;
        while !stop.load(Ordering::Relaxed) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
                * 1024;
            max = max.max(rss);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        max
    })
}

/// Samples `tailsift_receiver_inflight_bytes` every 20ms until stopped; returns the largest.
fn watch_inflight(p: &Proc, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<f64> {
    let metrics = p.metrics;
    tokio::spawn(async move {
        let mut max = 0.0f64;
        while !stop.load(Ordering::Relaxed) {
            let m = Metrics::parse(&http_get(metrics, "/metrics").await.text());
            max = max.max(m.sum("tailsift_receiver_inflight_bytes", &[]));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        max
    })
}

/// 16 MiB of `{},` inside a valid `{"resourceSpans":[...]}`, gzip-compressed (about 16 KB).
fn json_bomb() -> Bytes {
    let target = 16 * MIB as usize - 64;
    let mut json = Vec::with_capacity(target + 32);
    json.extend_from_slice(b"{\"resourceSpans\":[");
    while json.len() < target {
        json.extend_from_slice(b"{},");
    }
    json.extend_from_slice(b"{}]}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).unwrap();
    Bytes::from(gz.finish().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_gzip_bombs_stay_under_memory_limit_and_a_good_client_keeps_its_latency() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::spawn(dir.path(), "", CONFIG, None).await;
    let baseline = p.rss();
    let bomb = json_bomb();
    assert!(bomb.len() < 40_000, "the bomb is small: {}", bomb.len());

    let stop = Arc::new(AtomicBool::new(false));
    let rss = watch_rss(&p, stop.clone());
    let inflight = watch_inflight(&p, stop.clone());
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = format!("http://{}/v1/traces", p.http);
    // Eight senders, each sending bombs back to back.
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (bomb, url, stop) = (bomb.clone(), url.clone(), stop.clone());
            let (ok, refused) = (ok.clone(), refused.clone());
            tokio::spawn(async move {
                let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
                while !stop.load(Ordering::Relaxed) {
                    let req = http::Request::post(&url)
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(Full::new(bomb.clone()))
                        .unwrap();
                    let Ok(resp) = client.request(req).await else {
                        continue;
                    };
                    let status = resp.status().as_u16();
                    let _ = resp.into_body().collect().await;
                    match status {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        429 => refused.fetch_add(1, Ordering::Relaxed),
                        s => panic!("a bomb got {s}"),
                    };
                }
            })
        })
        .collect();

    // The well-behaved client: small valid traces, one at a time, over one connection.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut latencies = Vec::new();
    let good_until = Instant::now() + Duration::from_secs(5);
    let mut n = 0u128;
    while Instant::now() < good_until {
        n += 1;
        let body = request("good", [span(id128(0x60, n), 1).name("GET /")]).encode_to_vec();
        let req = http::Request::post(&url)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let t = Instant::now();
        let resp = client.request(req).await.expect("good request answered");
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        latencies.push(t.elapsed());
        assert!(status == 200 || status == 429, "good client got {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let max_rss = rss.await.unwrap();
    let max_inflight = inflight.await.unwrap();
    // Bombs still being decoded are not waited for (a debug build takes seconds per bomb).
    for s in &senders {
        s.abort();
    }
    let p50 = percentile(&mut latencies, 50.0);
    let p99 = percentile(&mut latencies, 99.0);
    println!(
        "json bombs: {} answered 200, {} refused 429, up to {} MiB in flight; RSS baseline {} MiB, max {} MiB (limit 256 MiB); \
         good client: {} requests, p50 {p50:?}, p99 {p99:?}; test took {:?}",
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        max_inflight as u64 / MIB,
        baseline / MIB,
        max_rss / MIB,
        latencies.len(),
        started.elapsed()
    );
    // Bombs were inflated and transcoded (not only refused): their bytes were in flight.
    assert!(
        max_inflight >= 16.0 * MIB as f64,
        "bombs decoded: at most {max_inflight} bytes in flight"
    );
    assert!(
        max_rss < LIMIT + MARGIN,
        "RSS {} MiB over memory_limit + margin",
        max_rss / MIB
    );
    // Release build: 50ms. The debug build decodes an order of magnitude slower on the same
    // two cores, so its bound is looser; both are far below the seconds seen before decoding
    // left the async workers.
    let bound = if cfg!(debug_assertions) {
        Duration::from_millis(250)
    } else {
        Duration::from_millis(50)
    };
    assert!(p99 < bound, "good client p99 {p99:?} >= {bound:?}");
}

/// A request of about `size` bytes: one dropped span with a large attribute.
fn big_request(trace: u128, size: usize) -> Bytes {
    let req = request(
        "big",
        [span(trace, 1)
            .name("upload")
            .attr("payload", &"x".repeat(size))],
    );
    Bytes::from(req.encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_huge_grpc_requests_never_hold_more_than_the_limit() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::spawn(dir.path(), "", CONFIG, None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let rss = watch_rss(&p, stop.clone());
    // What the daemon says it holds, sampled while the requests arrive.
    let held = {
        let (stop, metrics) = (stop.clone(), p.metrics);
        tokio::spawn(async move {
            let mut max = 0.0f64;
            while !stop.load(Ordering::Relaxed) {
                let m = Metrics::parse(&http_get(metrics, "/metrics").await.text());
                let h = m.sum("tailsift_receiver_inflight_bytes", &[])
                    + m.sum("tailsift_buffer_retained_bytes", &[])
                    + m.sum("tailsift_exporter_queue_bytes", &[]);
                max = max.max(h);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            max
        })
    };
    let calls: Vec<_> = (0..32u128)
        .map(|i| {
            let body = big_request(id128(0x61, i), 15 * MIB as usize);
            let addr = p.grpc;
            tokio::spawn(async move { export_grpc_raw(addr, body, false).await })
        })
        .collect();
    let (mut accepted, mut refused) = (0, 0);
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                assert!(!s.details().is_empty(), "RetryInfo: {s:?}");
                refused += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (max_rss, max_held) = (rss.await.unwrap(), held.await.unwrap());
    println!(
        "32 x 15 MiB gRPC: {accepted} accepted, {refused} refused; held at most {} MiB; \
         RSS max {} MiB; test took {:?}",
        max_held as u64 / MIB,
        max_rss / MIB,
        started.elapsed()
    );
    assert!(accepted > 0 && refused > 0, "some fit, some are refused");
    assert!(max_held <= LIMIT as f64, "held {max_held} > limit");
    assert!(
        max_rss < LIMIT + MARGIN,
        "RSS {} MiB over memory_limit + margin",
        max_rss / MIB
    );
    // Everything reserved is handed over or released.
    let m = Metrics::parse(&http_get(p.metrics, "/metrics").await.text());
    assert_eq!(m.sum("tailsift_receiver_inflight_bytes", &[]), 0.0);
}
