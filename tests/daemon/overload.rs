//! Overload: over `memory_limit` or with an exporter queue full, receivers refuse with retryable
//! answers (gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 429 with Retry-After), `/readyz` says
//! 503, nothing accepted is lost, and once the backend is back the daemon recovers.
//! (Its own test binary: it checks process-wide counters; the tests here run one at a time.)

use crate::support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;
use tailsift::fixtures::{request, span};
use tokio::sync::Mutex;
use tonic::Code;

/// The tests of this file compare process-wide counters, so they run one after the other.
static SERIAL: Mutex<()> = Mutex::const_new(());

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// A kept trace (an error) of two spans with some payload.
fn kept_trace(trace: u128) -> ExportTraceServiceRequest {
    request(
        "svc",
        [
            span(trace, 1)
                .name("root")
                .kind(SpanKind::Server)
                .attr("prompt", &"p".repeat(200)),
            span(trace, 2).parent(1).error(),
        ],
    )
}

fn dropped_trace(trace: u128) -> ExportTraceServiceRequest {
    request("svc", [span(trace, 1).name("GET /")])
}

/// `limits`: (memory_limit, the exporter's queue.max_bytes).
fn config(limits: (&str, &str), endpoint: &str, retry_initial: &str, shutdown: &str) -> String {
    let (memory_limit, queue) = limits;
    format!(
        r#"
sampling:
  decision_wait: 200ms
  root_wait: 20ms
  tick: 10ms
  max_buffer_bytes: 2KiB
  memory_limit: {memory_limit}
{KEEP_ERRORS}exporters:
  backend:
    protocol: otlp_grpc
    endpoint: "{endpoint}"
    timeout: 500ms
    batch: {{ timeout: 10ms }}
    queue: {{ max_bytes: {queue} }}
    retry: {{ initial_interval: {retry_initial}, max_interval: {retry_initial}, max_elapsed: 10m }}
shutdown_timeout: {shutdown}
"#
    )
}

/// Sends kept traces (and a dropped one now and then) over gRPC until one is refused; returns
/// the accepted kept traces and the refusal.
async fn fill(daemon: &Daemon, tag: u128) -> (Vec<u128>, tonic::Status) {
    let mut kept = Vec::new();
    for i in 1..=2000u128 {
        let trace = id128(tag, i);
        let req = if i % 5 == 0 {
            dropped_trace(trace)
        } else {
            kept_trace(trace)
        };
        match export_grpc(daemon.grpc, &req).await {
            Ok(r) => {
                assert!(r.partial_success.is_none());
                if i % 5 != 0 {
                    kept.push(trace);
                }
            }
            Err(status) => return (kept, status),
        }
        // Let the ticker decide and queue what was sent.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never refused after 2000 requests");
}

/// The gRPC refusal is RESOURCE_EXHAUSTED with a google.rpc.Status carrying RetryInfo.
fn assert_retryable_refusal(status: &tonic::Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry later"), "{status:?}");
    assert!(!status.details().is_empty(), "details carry RetryInfo");
    let details = RpcStatus::decode(status.details()).expect("google.rpc.Status details");
    assert_eq!(details.code, Code::ResourceExhausted as i32);
    let info = details
        .details
        .iter()
        .find(|a| a.type_url == "type.googleapis.com/google.rpc.RetryInfo")
        .expect("a RetryInfo detail (OTLP clients retry RESOURCE_EXHAUSTED only with it)");
    let delay = RetryInfo::decode(info.value.as_slice())
        .unwrap()
        .retry_delay
        .expect("retry_delay");
    assert!(delay.seconds >= 1, "{delay:?}");
}

/// Both HTTP encodings get 429 with Retry-After while overloaded. A request may still fit just
/// after a refusal (the ticker frees a decided dropped trace's bytes meanwhile), so each
/// encoding sends kept traces until one is refused, a bounded number of times; the accepted
/// ones are returned so the caller accounts for them.
async fn assert_http_refused(daemon: &Daemon, tag: u128) -> Vec<u128> {
    let mut accepted = Vec::new();
    for json in [false, true] {
        let mut refused = None;
        for i in 0..50u128 {
            let trace = id128(tag, 9000 + i + if json { 500 } else { 0 });
            match export_http(daemon.http, json, &kept_trace(trace)).await {
                Ok(_) => accepted.push(trace),
                Err(r) => {
                    refused = Some(r);
                    break;
                }
            }
        }
        let r = refused.unwrap_or_else(|| panic!("json={json}: 50 requests, none refused"));
        assert_eq!(r.status, 429, "json={json}: {}", r.text());
        let after: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("Retry-After in seconds");
        assert!(after >= 1);
        assert!(r.text().contains("retry later"), "{}", r.text());
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_daemon_refuses_retryably_and_loses_nothing_it_accepted() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let _serial = SERIAL.lock().await;
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // The exporter queue may grow to 1MiB: the 8KiB memory limit is what refuses.
    let daemon = Daemon::start(&config(("8KiB", "1MiB"), &dead, "10s", "500ms")).await;
    assert_eq!(http_get(daemon.metrics, "/readyz").await.status, 200);
    let before = daemon.scrape().await;

    let (mut kept, refusal) = fill(&daemon, 0x0e).await;
    assert!(
        !kept.is_empty(),
        "some traces were accepted before the refusal"
    );
    assert_retryable_refusal(&refusal);
    let held: u64 = refusal
        .message()
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(' '))
        .and_then(|(held, _)| held.parse().ok())
        .unwrap_or_else(|| panic!("bytes held in {:?}", refusal.message()));
    // Refused either because the request would not fit (what is held plus its bytes pass the
    // limit), or because decisions moved held bytes into the queue past it.
    let m = refusal.message();
    match m
        .split_once("; ")
        .and_then(|(_, rest)| rest.split_once(" more would pass"))
    {
        Some((asked, _)) => {
            let asked: u64 = asked
                .parse()
                .unwrap_or_else(|_| panic!("bytes asked in {m:?}"));
            assert!(held + asked > 8192, "{m}");
        }
        None => assert!(held >= 8192, "{m}"),
    }
    kept.extend(assert_http_refused(&daemon, 0x0e).await);
    assert_eq!(
        http_get(daemon.metrics, "/readyz").await.status,
        503,
        "not ready while overloaded"
    );
    assert_eq!(http_get(daemon.metrics, "/healthz").await.status, 200);

    let m = daemon.scrape().await;
    let refused = |m: &Metrics, p| {
        m.sum(
            "tailsift_receiver_requests_total",
            &[("protocol", p), ("outcome", "refused")],
        )
    };
    assert!(refused(&m, "grpc") - refused(&before, "grpc") >= 1.0);
    assert!(
        refused(&m, "http_protobuf") - refused(&before, "http_protobuf") >= 1.0,
        "HTTP refusals are counted too"
    );
    assert!(refused(&m, "http_json") - refused(&before, "http_json") >= 1.0);

    let summary = daemon.stop().await;
    let report = &summary.export.exporters["backend"];
    assert_eq!(report.sent_spans, 0);
    assert_eq!(
        report.failed_spans,
        2 * kept.len() as u64,
        "every kept span is accounted for as failed"
    );
    assert_eq!(report.shutdown_failed_spans, report.failed_spans);
    assert!(summary.export.deadline_passed);

    // The counters after shutdown: every accepted span was decided, every kept one is counted
    // as failed with a reason.
    let m = Metrics::of_this_process();
    let accepted = m.sum("tailsift_receiver_accepted_spans_total", &[]);
    let decided = m.sum("tailsift_decided_spans_total", &[]);
    assert!(accepted > 0.0);
    assert_eq!(accepted, decided, "accepted spans == decided spans");
    assert_eq!(m.sum("tailsift_buffer_spans", &[]), 0.0);
    let kept_spans = m.sum("tailsift_decided_spans_total", &[("verdict", "kept")]);
    let exported = m.sum("tailsift_exporter_sent_spans_total", &[])
        + m.sum("tailsift_exporter_failed_spans_total", &[]);
    assert_eq!(kept_spans, exported, "kept spans == sent + failed spans");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_congested_exporter_refuses_input_until_its_backend_is_back() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let _serial = SERIAL.lock().await;
    let sink = GrpcSink::default();
    sink.down.store(true, Ordering::SeqCst);
    let endpoint = sink.serve().await;
    // A memory limit far away: the exporter queue (4KiB) is what fills.
    let daemon = Daemon::start(&config(("64MiB", "4KiB"), &endpoint, "20ms", "5s")).await;

    let (mut kept, refusal) = fill(&daemon, 0x0f).await;
    assert_retryable_refusal(&refusal);
    kept.extend(assert_http_refused(&daemon, 0x0f).await);
    assert_eq!(http_get(daemon.metrics, "/readyz").await.status, 503);

    sink.down.store(false, Ordering::SeqCst);
    assert!(
        wait_for_async(PATIENCE, || async {
            http_get(daemon.metrics, "/readyz").await.status == 200
        })
        .await,
        "ready again once the queue drains"
    );
    let late = id128(0x0f, 5000);
    daemon.send_ok(Transport::HttpJson, &kept_trace(late)).await;
    kept.push(late);
    assert!(sink.wait_for_spans(2 * kept.len(), PATIENCE).await);

    let summary = daemon.stop().await;
    assert_eq!(summary.export.failed_spans, 0);
    let got = summary_of(&sink);
    kept.sort_unstable();
    assert_eq!(got, kept, "every accepted kept trace arrived exactly once");
    assert_eq!(sink.spans().len(), 2 * kept.len());
}

fn summary_of(sink: &GrpcSink) -> Vec<u128> {
    support::summary(&sink.spans()).into_keys().collect()
}

/// Decisions never push an exporter's queue past `queue.max_bytes`: kept traces that do not fit
/// wait (counted against `memory_limit`), receivers refuse meanwhile, and every one is delivered
/// once the backend is back. (Before, a buffer full of due traces was moved into a stalled
/// exporter's queue at once, taking it to several times its bound.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_never_push_an_exporter_queue_past_its_bound() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let _serial = SERIAL.lock().await;
    let sink = GrpcSink::default();
    sink.down.store(true, Ordering::SeqCst);
    let endpoint = sink.serve().await;
    let cfg = config(("64MiB", "4KiB"), &endpoint, "20ms", "5s")
        .replace("max_buffer_bytes: 2KiB", "max_buffer_bytes: 1MiB")
        .replace("decision_wait: 200ms", "decision_wait: 1s")
        .replace("root_wait: 20ms", "root_wait: 1s");
    let daemon = Daemon::start(&cfg).await;
    let queue_bytes = |m: &Metrics| m.sum("tailsift_exporter_queue_bytes", &[]);
    // The gauge is process-wide: what earlier tests' daemons left in it is not this daemon's.
    let baseline = queue_bytes(&daemon.scrape().await);
    // 40 kept traces (about 12KiB once encoded for export), all accepted before any is due.
    let mut kept: Vec<u128> = (1..=40u128).map(|i| id128(0x10, i)).collect();
    let sends = kept.iter().map(|&t| async move {
        export_grpc(daemon.grpc, &kept_trace(t))
            .await
            .expect("accepted while nothing is queued")
    });
    futures::future::join_all(sends).await;
    let mut max_queued = 0.0f64;
    let sampling = std::time::Instant::now();
    while sampling.elapsed() < Duration::from_millis(1600) {
        max_queued = max_queued.max(queue_bytes(&daemon.scrape().await) - baseline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(max_queued > 0.0, "decisions queued something");
    assert!(
        max_queued <= 4096.0,
        "the queue stayed within queue.max_bytes (4096): {max_queued}"
    );
    let refusal = export_grpc(daemon.grpc, &kept_trace(id128(0x10, 999)))
        .await
        .expect_err("refused while decided traces wait for queue room");
    assert_retryable_refusal(&refusal);

    sink.down.store(false, Ordering::SeqCst);
    assert!(
        sink.wait_for_spans(2 * kept.len(), PATIENCE).await,
        "every accepted kept trace is delivered once the backend is back"
    );
    let summary = daemon.stop().await;
    assert_eq!(summary.export.failed_spans, 0);
    kept.sort_unstable();
    assert_eq!(summary_of(&sink), kept);
    assert_eq!(sink.spans().len(), 2 * kept.len());
}
