//! A backend outage with the real binary, with and without storage: the sink answers
//! UNAVAILABLE for a while under steady load from clients that retry as OTLP SDKs do. Nothing
//! accepted is lost (every span a client got a success for reaches the sink once the backend is
//! back), every refusal is retryable, and the metrics account for it. With storage, kept spans
//! wait in the log for the queue to have room, and nothing is refused at all.
//!
//! Scale: at 20,000 spans/s (about 330 B each) the default 128 MiB exporter queue fills about
//! 20 s into an outage, so a 90 s outage spends about 70 s refusing, a little over three
//! quarters of it. Here a 64 KiB queue fills with what was buffered when the backend went
//! down (within the first decision wait, 0.2 s), and the outage lasts at least 3 s (without
//! storage: until the clients were refused a few times), so most of it is spent refusing too,
//! and the backlog must drain once the backend returns.

use super::*;
use prost::Message;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::proc::Proc;
use tailsift::fixtures::request_with;
use tailsift::otlp::rpc;

const QUEUE_BYTES: u64 = 64 << 10;
const OUTAGE: Duration = Duration::from_secs(3);
const SENDERS: u64 = 4;
const TRACES_PER_REQUEST: u64 = 10;

fn body(dir: &Path, sink: &str, storage: bool) -> String {
    let storage = if storage {
        format!(
            "storage:\n  directory: \"{}\"\n",
            dir.join("data").display()
        )
    } else {
        String::new()
    };
    format!(
        r#"
sampling:
  decision_wait: 200ms
  root_wait: 100ms
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
    queue: {{ max_bytes: {QUEUE_BYTES} }}
    retry: {{ initial_interval: 50ms, max_interval: 500ms }}
{storage}"#
    )
}

/// Request `n` of sender `s`: ten two-span traces; span ids unique across senders.
fn load(s: u64, n: u64) -> ExportTraceServiceRequest {
    let first = (s << 32) | (n * TRACES_PER_REQUEST);
    let spans = (0..TRACES_PER_REQUEST)
        .flat_map(|i| {
            let t = first + i + 1;
            let base = t * 10;
            [
                span(u128::from(t), base + 1)
                    .name("root")
                    .kind(SpanKind::Server)
                    .attr("route", "/v1/generate")
                    .attr("prompt", &"p".repeat(300))
                    .build(),
                span(u128::from(t), base + 2)
                    .parent(base + 1)
                    .name("child")
                    .build(),
            ]
        })
        .collect();
    request_with("load", vec![], spans)
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    acked: Mutex<BTreeSet<u64>>,
    refused: AtomicU64,
}

/// The delay a RESOURCE_EXHAUSTED refusal asks for in its RetryInfo (OTLP SDKs retry it only
/// when it carries one).
fn retry_info(s: &tonic::Status) -> Duration {
    let status = rpc::Status::decode(s.details()).expect("a google.rpc.Status in the details");
    let info = status
        .details
        .iter()
        .find(|a| a.type_url == rpc::RETRY_INFO_TYPE_URL)
        .unwrap_or_else(|| panic!("RESOURCE_EXHAUSTED without RetryInfo is not retryable: {s:?}"));
    let d = rpc::RetryInfo::decode(info.value.as_slice())
        .unwrap()
        .retry_delay
        .expect("a retry delay");
    Duration::new(d.seconds as u64, d.nanos as u32)
}

/// Sends `req` until it is acknowledged, as an OTLP SDK does: retryable refusals are retried
/// after the delay the server asks for (or a backoff), anything else fails the test.
async fn send_like_an_sdk(p: &Proc, grpc: bool, req: &ExportTraceServiceRequest, seen: &Seen) {
    let mut backoff = Duration::from_millis(100);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < until, "a request was refused for a minute");
        let wait = if grpc {
            match export_grpc(p.grpc, req).await {
                Ok(_) => break,
                Err(s) if s.code() == tonic::Code::ResourceExhausted => retry_info(&s),
                Err(s) if s.code() == tonic::Code::Unavailable => backoff,
                Err(s) => panic!("not a retryable refusal: {s:?}"),
            }
        } else {
            match export_http(p.http, false, req).await {
                Ok(_) => break,
                Err(r) if r.status == 429 || r.status == 503 => {
                    let after = r
                        .header("retry-after")
                        .unwrap_or_else(|| panic!("{} without Retry-After", r.status));
                    Duration::from_secs(after.parse().expect("Retry-After in seconds"))
                }
                Err(r) => panic!("not a retryable refusal: {} {}", r.status, r.text()),
            }
        };
        seen.refused.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    let ids = req.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(span_id_of);
    seen.acked.lock().unwrap().extend(ids);
}

async fn scrape(p: &Proc) -> Metrics {
    Metrics::parse(&http_get(p.metrics, "/metrics").await.text())
}

async fn outage(storage: bool) {
    let dir = tempfile::tempdir().unwrap();
    let sink = GrpcSink::default();
    let url = sink.serve().await;
    let p = Arc::new(Proc::spawn(dir.path(), "", &body(dir.path(), &url, storage), None).await);
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (p, seen, stop) = (p.clone(), seen.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    send_like_an_sdk(&p, s % 2 == 0, &load(s, n), &seen).await;
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.down.store(true, Ordering::SeqCst);
    let before = seen.acked.lock().unwrap().len();
    let down = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    // Without storage the queue is all there is: hold the outage until it has overflowed.
    while !storage
        && seen.refused.load(Ordering::Relaxed) < 8
        && down.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outage = down.elapsed();
    let during = seen.acked.lock().unwrap().len() - before;
    let m = scrape(&p).await;
    let queued = m.sum("tailsift_exporter_queue_bytes", &[]);
    let parked = m.sum("tailsift_export_parked_spans", &[]);
    let parked_bytes = m.sum("tailsift_export_parked_bytes", &[]);
    let refused_in_outage = seen.refused.load(Ordering::Relaxed);
    sink.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        tokio::time::timeout(Duration::from_secs(90), s)
            .await
            .expect("senders finish")
            .unwrap();
    }
    let acked = seen.acked.lock().unwrap().clone();
    let all = wait_for(Duration::from_secs(30), || {
        unique_span_ids(&sink).is_superset(&acked)
    })
    .await;
    let missing = acked.difference(&unique_span_ids(&sink)).count();
    assert!(
        all,
        "{missing} of {} acknowledged spans never reached the sink (storage: {storage}); log:\n{}",
        acked.len(),
        p.log()
    );
    let refused = seen.refused.load(Ordering::Relaxed);
    eprintln!(
        "outage (storage: {storage}): {} spans acknowledged: {before} before the {outage:?} \
         outage, {during} during it; {queued} bytes queued at its end (queue {QUEUE_BYTES}), \
         {parked} spans parked, {refused} retryable refusals",
        acked.len(),
    );
    let m = scrape(&p).await;
    // The daemon counts every refusal the clients saw, and nothing as failed.
    let counted = m.sum(
        "tailsift_receiver_requests_total",
        &[("outcome", "refused")],
    );
    assert_eq!(counted, refused as f64, "every refusal is counted");
    assert!(
        m.sum("tailsift_exporter_retries_total", &[]) >= 1.0,
        "the outage was retried"
    );
    assert_eq!(m.sum("tailsift_exporter_failed_spans_total", &[]), 0.0);
    assert!(m.sum("tailsift_exporter_sent_spans_total", &[]) >= acked.len() as f64);
    if !storage {
        // Without storage the queue is all there is: the outage fills it and clients are told
        // to come back.
        assert!(refused > 0, "the outage outlasted the queue");
        assert!(queued > 0.0, "the queue held the backlog");
    } else {
        // With storage the outage is absorbed on disk: kept spans wait in the log as
        // summaries, and nothing is refused while the disk budget and memory limit last.
        assert_eq!(
            refused_in_outage, 0,
            "no refusals while the disk budget lasts"
        );
        assert!(
            parked > 0.0,
            "kept spans waited in the log during the outage"
        );
        // A parked span is its position in the log: a few bytes, counted in memory_limit.
        assert!(
            parked_bytes > 0.0 && parked_bytes / parked < 24.0,
            "{parked_bytes} bytes held for {parked} parked spans"
        );
        assert_eq!(m.sum("tailsift_export_parked_spans", &[]), 0.0);
        // What is left is the queue's own allocation, kept for the next ticks.
        let left = m.sum("tailsift_export_parked_bytes", &[]);
        assert!(left < 65_536.0, "{left} bytes held with nothing parked");
    }
    assert_eq!(p.log().matches("panicked").count(), 0, "{}", p.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_outage_loses_nothing_accepted_without_storage() {
    outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_outage_loses_nothing_accepted_with_storage() {
    outage(true).await;
}
