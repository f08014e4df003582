//! With storage on, buffered spans are summaries and their bytes stay in the log: kept spans
//! are read back and exported exactly as without storage; late spans and replayed requests
//! take the same path; a record damaged after acceptance is counted, never a panic, and let go.

use super::*;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use prost::Message;
use std::time::Duration;
use tailsift::fixtures::{kv_str, request_with};

/// Rules that read attributes (span and resource), keep some traces at a fidelity profile,
/// keep others as they are, and drop the rest; with annotation on.
const RULES: &str = r#"  annotate: true
  rules:
    - name: gold
      when: { span: { attributes: { user.tier: gold }, resource: { team: video } } }
      keep: true
      fidelity: light
    - name: errors
      when: { span: { status: error } }
      keep: true
    - name: noise
      when: { span: { name: noise } }
      drop: true
fidelity:
  light:
    max_attribute_bytes: 64"#;

/// Request `n`: two resources, traces `n*10+1..=n*10+3` (gold at a profile, an error, noise),
/// with a large prompt, a trace state, flags and events.
fn varied(n: u128) -> ExportTraceServiceRequest {
    let t = n * 10;
    let id = |t: u128, s: u64| (t as u64) * 10 + s;
    let mut gold = span(t + 1, id(t + 1, 1))
        .name("generate")
        .attr("user.tier", "gold")
        .attr("prompt", &"p".repeat(5_000))
        .build();
    gold.trace_state = "ot=th:8".into();
    gold.flags = 0x301;
    gold.events.push(Event {
        name: "gen_ai.choice".into(),
        attributes: vec![kv_str("text", &"c".repeat(300))],
        ..Default::default()
    });
    let mut far = span(t + 2, id(t + 2, 1))
        .name("synth")
        .at(0, 700_000)
        .error();
    far.0.trace_state = "vendor=1".into();
    let mut req = request_with(
        "video",
        vec![kv_str("team", "video")],
        vec![
            gold,
            span(t + 1, id(t + 1, 2))
                .parent(id(t + 1, 1))
                .name("child")
                .build(),
            far.build(),
        ],
    );
    let other = request_with(
        "batch",
        vec![kv_str("team", "batch")],
        vec![
            span(t + 3, id(t + 3, 1)).name("noise").build(),
            span(t + 2, id(t + 2, 2))
                .parent(id(t + 2, 1))
                .name("upscale")
                .attr("prompt", &"q".repeat(3_000))
                .build(),
        ],
    );
    req.resource_spans.extend(other.resource_spans);
    req
}

/// The daemon's metrics once its gauges show `spans` buffered spans.
async fn with_buffered(d: &Daemon, spans: f64) -> Metrics {
    let mut m = d.scrape().await;
    for _ in 0..200 {
        if m.sum("tailsift_buffer_spans", &[]) == spans {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        m = d.scrape().await;
    }
    assert_eq!(m.sum("tailsift_buffer_spans", &[]), spans);
    m
}

/// An exported span: its id, then its resource, scope and itself, encoded.
type Exported = (u64, Vec<u8>, Vec<u8>, Vec<u8>);

/// Every exported span with its resource and scope, in span id order.
fn exported(sink: &GrpcSink) -> Vec<Exported> {
    let mut out: Vec<_> = sink
        .requests()
        .iter()
        .flat_map(|r| r.resource_spans.iter())
        .flat_map(|rs| {
            let resource = rs.resource.as_ref().map(|r| r.encode_to_vec());
            rs.scope_spans.iter().flat_map(move |ss| {
                let resource = resource.clone().unwrap_or_default();
                let scope = ss.scope.as_ref().map(|s| s.encode_to_vec());
                ss.spans.iter().map(move |s| {
                    (
                        span_id_of(s),
                        resource.clone(),
                        scope.clone().unwrap_or_default(),
                        s.encode_to_vec(),
                    )
                })
            })
        })
        .collect();
    out.sort();
    out
}

/// Sends `requests` varied requests to a daemon with `yaml` and returns what it exported once
/// `want` spans arrived.
async fn run(yaml: &str, sink: &GrpcSink, requests: u128, want: usize) -> Vec<Exported> {
    sink.received.lock().unwrap().clear();
    let d = Daemon::start(yaml).await;
    for n in 1..=requests {
        d.send_ok(Transport::Grpc, &varied(n)).await;
    }
    assert!(wait_for(PATIENCE, || sink.received_spans() >= want).await);
    d.stop().await;
    exported(sink)
}

/// Starts a daemon on `dir` and checks that the log held nothing to replay: every record was
/// released.
async fn nothing_left(dir: &Path, url: &str) {
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir, url, "1s", RULES)).await;
    assert_eq!(
        grew(&base, "tailsift_storage_replayed_spans_total", &[]),
        0.0
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_spans_are_exported_as_they_are_without_storage() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let with = config(dir.path(), url, "300ms", RULES);
    let base = Metrics::of_this_process();
    // Per request: the gold and error traces' four spans; the noise trace dropped.
    let stored = run(&with, sink, 5, 20).await;
    assert_eq!(
        grew(&base, "tailsift_storage_unreadable_spans_total", &[]),
        0.0
    );
    let without = with.split("storage:").next().unwrap().to_string();
    let memory = run(&without, sink, 5, 20).await;
    assert_eq!(stored.len(), 20);
    assert!(
        stored == memory,
        "storage on exports the same bytes as storage off"
    );
    // The profile did rewrite the gold spans and the annotation is there: the comparison saw them.
    let gold: Vec<_> = sink
        .spans()
        .into_iter()
        .filter(|s| s.name == "generate")
        .collect();
    assert_eq!(gold.len(), 5);
    assert!(gold
        .iter()
        .all(|s| s.encoded_len() < 1_500 && rule_of(s) == Some("gold")));
    nothing_left(dir.path(), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_summaries_hold_a_fraction_of_the_request_bytes() {
    let t = setup().await;
    let (dir, url) = (&t.dir, &t.url);
    let d = Daemon::start(&config(dir.path(), url, "30s", RULES)).await;
    let mut sent = 0;
    for n in 1..=20 {
        let req = varied(n);
        sent += req.encoded_len();
        d.send_ok(Transport::Grpc, &req).await;
    }
    let m = with_buffered(&d, 100.0).await;
    let retained = m.sum("tailsift_buffer_retained_bytes", &[]);
    // 100 spans of 40 bytes, names, trace states, copies of the picked values, per request a
    // resource and scope: far less than the 9 KB each request carries.
    assert!(
        retained > 0.0 && retained < sent as f64 / 10.0,
        "{retained} bytes retained for {sent} bytes received"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_spans_of_a_kept_trace_are_read_back_and_exported() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let d = Daemon::start(&config(dir.path(), url, "200ms", RULES)).await;
    d.send_ok(Transport::Grpc, &varied(1)).await;
    assert!(wait_for(PATIENCE, || sink.received_spans() == 4).await);
    // A late child of the gold trace (kept at the profile) and of the dropped noise trace.
    let late = request_with(
        "video",
        vec![kv_str("team", "video")],
        vec![
            span(11, 113)
                .parent(111)
                .name("late")
                .attr("prompt", &"l".repeat(2_000))
                .build(),
            span(13, 132).parent(131).name("late noise").build(),
        ],
    );
    d.send_ok(Transport::Grpc, &late).await;
    assert!(wait_for(PATIENCE, || sink.received_spans() == 5).await);
    let got = sink.spans().into_iter().find(|s| s.name == "late").unwrap();
    assert_eq!(
        rule_of(&got),
        Some("gold"),
        "the verdict that kept its trace"
    );
    assert!(
        got.encoded_len() < 500,
        "the profile applied: {}",
        got.encoded_len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.received_spans(),
        5,
        "the late noise span follows the drop"
    );
    d.stop().await;
    nothing_left(dir.path(), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_requests_are_summaries_and_export_the_same_bytes() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let yaml = config(dir.path(), url, "1s", RULES);
    let d = Daemon::start(&yaml).await;
    for n in 1..=3 {
        d.send_ok(Transport::Grpc, &varied(n)).await;
    }
    d.stop().await;
    assert_eq!(sink.received_spans(), 0);
    let base = Metrics::of_this_process();
    let d = Daemon::start(&yaml.replace("1s", "30s")).await;
    assert_eq!(
        grew(&base, "tailsift_storage_replayed_spans_total", &[]),
        15.0
    );
    // Replayed spans wait as summaries (their waits restart from their receive times).
    let m = with_buffered(&d, 15.0).await;
    assert!(m.sum("tailsift_buffer_retained_bytes", &[]) < 3_000.0);
    d.stop().await;
    let replayed = run(&yaml, sink, 0, 12).await;
    let without = yaml.split("storage:").next().unwrap().to_string();
    let memory = run(&without, sink, 3, 12).await;
    assert_eq!(replayed.len(), 12);
    assert!(replayed == memory, "replayed spans export the same bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_damaged_after_acceptance_is_counted_and_released() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "1s", RULES)).await;
    d.send_ok(Transport::Grpc, &varied(1)).await;
    d.send_ok(Transport::Grpc, &varied(2)).await;
    // A bit flips in the first request's record while its spans wait (header 16, frame 8).
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    data[16 + 8 + 200] ^= 0x04;
    std::fs::write(&seg, data).unwrap();
    assert!(wait_for(PATIENCE, || sink.received_spans() == 4).await);
    let unreadable = wait_for(PATIENCE, || {
        grew(
            &base,
            "tailsift_storage_unreadable_spans_total",
            &[("reason", "checksum")],
        ) == 4.0
    })
    .await;
    assert!(
        unreadable,
        "the four kept spans of the damaged record are counted"
    );
    let ids = unique_span_ids(sink);
    assert_eq!(
        ids,
        [211, 212, 221, 222].into(),
        "the other request is exported"
    );
    let m = with_buffered(&d, 0.0).await;
    assert_eq!(m.sum("tailsift_buffer_retained_bytes", &[]), 0.0);
    d.stop().await;
    // Released, not owed: nothing of it is replayed.
    nothing_left(dir.path(), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_spans_parked_at_shutdown_stay_in_the_log_for_the_next_start() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    let yaml = config(dir.path(), url, "100ms", "")
        .replace("    retry:", "    queue: { max_bytes: 64KiB }\n    retry:");
    sink.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let d = Daemon::start(&yaml).await;
    let payload = "x".repeat(2_000);
    for t in 1..=100u128 {
        let base = (t as u64) * 10;
        let req = request(
            "svc",
            [
                span(t, base + 1).name("root").attr("payload", &payload),
                span(t, base + 2).parent(base + 1).attr("payload", &payload),
            ],
        );
        // The queue is full early on: nothing is refused, the rest waits in the log.
        d.send_ok(Transport::Grpc, &req).await;
    }
    let parked = wait_for_async(PATIENCE, || async {
        d.scrape().await.sum("tailsift_export_parked_spans", &[]) > 100.0
    })
    .await;
    assert!(parked, "kept spans wait in the log while the queue is full");
    let m = d.scrape().await;
    assert!(
        m.sum("tailsift_buffer_retained_bytes", &[]) < 100_000.0,
        "parked spans are summaries: {} bytes retained for 400 KB of spans",
        m.sum("tailsift_buffer_retained_bytes", &[])
    );
    d.stop().await;
    sink.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let d = Daemon::start(&yaml).await;
    let all = wait_for(PATIENCE, || unique_span_ids(sink).len() == 200).await;
    assert!(
        all,
        "{} of 200 spans delivered",
        unique_span_ids(sink).len()
    );
    d.stop().await;
}
