//! Hostile input costs other clients nothing: a mutation fuzzer sends thousands of damaged
//! requests over every transport (OTLP/HTTP protobuf and JSON, with and without gzip, and
//! OTLP/gRPC raw frames) while a well-behaved client sends valid traces with error spans at a
//! steady rate. Then: every good trace the daemon acknowledged arrives complete at a backend
//! that refuses invalid batches as a real one does; the daemon never answered 5xx, never
//! panicked, and `/healthz` kept answering; its memory accounting returns to 0.
//!
//! The run is bounded (about 8 s and a fixed number of requests) and seeded: the seed is
//! printed, and `TAILSIFT_ATTACK_SEED=<seed>` replays it. (Its own test binary: it installs a
//! panic hook and reads process-wide metrics.)
//!
//! Among the attacks are the poisons that once cost other clients their batches: a
//! `Resource.entity_refs` no decoder accepts, and spans with an unknown field numbered over
//! protobuf's limit or an overflowing varint. See README.md, "Fuzzing".

use crate::attack;
use crate::support;

use attack::mutate::HOSTILE_TAG;
use attack::Tally;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tailsift::fixtures::request_with;

/// How long the attack lasts, and how many hostile requests it sends at most.
const ATTACK_FOR: Duration = Duration::from_secs(8);
const BUDGET: usize = 5000;
const ATTACKERS: u64 = 4;
/// The well-behaved client's pace.
const GOOD_EVERY: Duration = Duration::from_millis(20);
/// Longest a `/healthz` poll may take.
const HEALTH_WITHIN: Duration = Duration::from_secs(2);

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
}

fn seed() -> u64 {
    match std::env::var("TAILSIFT_ATTACK_SEED") {
        Ok(s) => s.parse().expect("TAILSIFT_ATTACK_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64,
    }
}

/// A good trace: a server root and an error child (kept by the `errors` rule).
fn good_trace(n: u64) -> (u128, ExportTraceServiceRequest) {
    let id = (0x600d_u128 << 112) | ((n as u128) << 8) | 0x42;
    let req = request_with("good", vec![], attack::mutate::trace(id, 2));
    (id, req)
}

#[derive(Default)]
struct Good {
    acked: Vec<u128>,
    refused_retryable: usize,
    failures: Vec<String>,
}

/// Sends one good request over the `n`th transport; Ok(true) when acknowledged in full,
/// Ok(false) when refused retryably (overload), Err otherwise.
async fn send_good(
    daemon: &Daemon,
    n: u64,
    req: &ExportTraceServiceRequest,
) -> Result<bool, String> {
    use prost::Message;
    let retryable_http = |s: u16| s == 429 || s == 503;
    let retryable_grpc =
        |c: tonic::Code| matches!(c, tonic::Code::ResourceExhausted | tonic::Code::Unavailable);
    let answer = |r: Result<_, Refused>| match r {
        Ok(r) => match r {
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse {
                partial_success: None,
            } => Ok(true),
            r => Err(format!("partial success: {r:?}")),
        },
        Err(Refused::Http(h)) if retryable_http(h.status) => Ok(false),
        Err(Refused::Grpc(s)) if retryable_grpc(s.code()) => Ok(false),
        Err(e) => Err(format!("refused: {e:?}")),
    };
    match n % 5 {
        0 => answer(daemon.send(Transport::Grpc, req).await),
        1 => answer(daemon.send(Transport::HttpProtobuf, req).await),
        2 => answer(daemon.send(Transport::HttpJson, req).await),
        3 => {
            let r = export_grpc_raw(daemon.grpc, Bytes::from(req.encode_to_vec()), true).await;
            answer(r.map_err(Refused::Grpc))
        }
        _ => {
            let json = n.is_multiple_of(2);
            let (ct, body) = if json {
                ("application/json", serde_json::to_vec(req).expect("JSON"))
            } else {
                ("application/x-protobuf", req.encode_to_vec())
            };
            let body = attack::send::gzip(&body);
            let headers = [("content-type", ct), ("content-encoding", "gzip")];
            let r = post_traces(daemon.http, &headers, body).await;
            match r.status {
                200 => Ok(true),
                s if retryable_http(s) => Ok(false),
                _ => Err(format!("gzip {ct}: {} {}", r.status, r.text())),
            }
        }
    }
}

async fn good_client(daemon: Arc<Daemon>, stop: Arc<AtomicBool>) -> Good {
    let mut good = Good::default();
    let mut tick = tokio::time::interval(GOOD_EVERY);
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        n += 1;
        let (id, req) = good_trace(n);
        match send_good(&daemon, n, &req).await {
            Ok(true) => good.acked.push(id),
            Ok(false) => good.refused_retryable += 1,
            Err(e) => good.failures.push(format!("good request {n}: {e}")),
        }
    }
    good
}

/// Polls `/healthz` until `stop`; returns the failures (non-200 or slower than HEALTH_WITHIN)
/// and the number of polls.
async fn health_poller(daemon: Arc<Daemon>, stop: Arc<AtomicBool>) -> (Vec<String>, usize) {
    let (mut failures, mut polls) = (Vec::new(), 0);
    let url = format!("http://{}/healthz", daemon.metrics);
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let call = http_request(http::Method::GET, &url, &[], Bytes::new());
        match tokio::time::timeout(HEALTH_WITHIN, call).await {
            Ok(Ok(r)) if r.status == 200 => {}
            Ok(Ok(r)) => failures.push(format!("/healthz answered {}", r.status)),
            Ok(Err(e)) => failures.push(format!("/healthz failed: {e}")),
            Err(_) => failures.push(format!("/healthz took over {HEALTH_WITHIN:?}")),
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(50).saturating_sub(started.elapsed())).await;
    }
    (failures, polls)
}

/// Memory the daemon accounts for: buffered, retained request bodies, exporter queues.
async fn held(daemon: &Daemon) -> BTreeMap<&'static str, f64> {
    let m = daemon.scrape().await;
    [
        "tailsift_buffer_bytes",
        "tailsift_buffer_retained_bytes",
        "tailsift_exporter_queue_bytes",
    ]
    .into_iter()
    .map(|name| {
        assert!(m.has(name), "/metrics has {name}");
        (name, m.sum(name, &[]))
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_cost_good_clients_nothing() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    count_panics();
    let seed = seed();
    println!("daemon_attack: seed {seed} (replay with TAILSIFT_ATTACK_SEED={seed})");

    let sink = HttpSink::strict();
    let yaml = format!(
        r#"
receivers:
  otlp:
    grpc: {{ endpoint: "127.0.0.1:0", max_request_bytes: 256KiB }}
    http: {{ endpoint: "127.0.0.1:0", max_request_bytes: 256KiB }}
{QUICK_SAMPLING}{KEEP_ERRORS}exporters:
  backend:
    protocol: otlp_http
    endpoint: "{}"
    batch: {{ timeout: 50ms }}
"#,
        sink.serve().await
    );
    let daemon = Arc::new(Daemon::start(&yaml).await);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());

    let health = tokio::spawn(health_poller(daemon.clone(), stop.clone()));
    let good = tokio::spawn(good_client(daemon.clone(), stop.clone()));
    let plan = Arc::new(attack::Plan {
        http: daemon.http,
        grpc: daemon.grpc,
        budget: BUDGET,
        stop: stop.clone(),
        tally: tally.clone(),
        bomb: Arc::new(attack::bomb()),
    });
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|i| tokio::spawn(attack::run(plan.clone(), seed.wrapping_add(i))))
        .collect();
    let started = Instant::now();
    tokio::time::sleep(ATTACK_FOR).await;
    stop.store(true, Ordering::SeqCst);
    for a in attackers {
        a.await.expect("attacker task");
    }
    let attack_took = started.elapsed();
    let good = good.await.expect("good client task");
    let (health_failures, polls) = health.await.expect("health poller task");
    let sent = tally.sent.load(Ordering::SeqCst).min(BUDGET);
    println!(
        "daemon_attack: {sent} hostile requests in {attack_took:?} ({} accepted); {} good traces acknowledged, {} refused as overload; {polls} /healthz polls",
        tally.accepted.load(Ordering::SeqCst),
        good.acked.len(),
        good.refused_retryable,
    );

    // Every acknowledged good trace arrives complete: its root and its error span.
    let want: BTreeSet<u128> = good.acked.iter().copied().collect();
    let complete = |spans: &[opentelemetry_proto::tonic::trace::v1::Span]| -> BTreeSet<u128> {
        summary(spans)
            .into_iter()
            .filter(|(t, (ids, _))| want.contains(t) && ids == &vec![1, 2])
            .map(|(t, _)| t)
            .collect()
    };
    wait_for(PATIENCE, || complete(&sink.spans()).len() == want.len()).await;
    let arrived = complete(&sink.spans());
    let lost: Vec<String> = want
        .difference(&arrived)
        .map(|t| format!("{t:032x}"))
        .collect();

    // Memory accounting returns to 0 once the hostile traces are decided and exported.
    let mut memory = held(&daemon).await;
    for _ in 0..100 {
        if memory.values().all(|v| *v == 0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        memory = held(&daemon).await;
    }
    let hostile_kept = sink
        .spans()
        .iter()
        .filter(|s| trace_of(s) >> 112 == HOSTILE_TAG)
        .count();
    let refused_batches = sink.refused_invalid();
    let daemon = Arc::try_unwrap(daemon).ok().expect("the tasks are done");
    daemon.stop().await;

    println!(
        "daemon_attack: {hostile_kept} hostile spans delivered; the backend refused {refused_batches} invalid batches"
    );
    println!(
        "daemon_attack: slowest answers: {:?}",
        tally.slowest.lock().unwrap()
    );

    // Every check is made, and every failed one reported, before the test fails.
    let mut problems = Vec::new();
    let attack_failures = tally.failures.lock().unwrap().clone();
    if !attack_failures.is_empty() {
        problems.push(format!(
            "the daemon failed hostile requests (5xx, INTERNAL/UNKNOWN for well-framed input, no answer):\n  {}",
            attack_failures.join("\n  ")
        ));
    }
    if !good.failures.is_empty() {
        problems.push(format!(
            "good requests failed:\n  {}",
            good.failures.join("\n  ")
        ));
    }
    if !lost.is_empty() {
        problems.push(format!(
            "{} of {} acknowledged good traces did not arrive complete (the backend refused {refused_batches} invalid batches), e.g. {:?}",
            lost.len(),
            want.len(),
            &lost[..lost.len().min(3)]
        ));
    }
    if !health_failures.is_empty() {
        problems.push(format!(
            "/healthz did not keep answering: {health_failures:?}"
        ));
    }
    if memory.values().any(|v| *v != 0.0) {
        problems.push(format!("memory accounting did not return to 0: {memory:?}"));
    }
    let panics = PANICS.load(Ordering::SeqCst);
    if panics > 0 {
        problems.push(format!(
            "the daemon panicked {panics} time(s) (see the output)"
        ));
    }
    // The run itself was what it claims to be.
    if polls < 10 {
        problems.push(format!("/healthz was polled {polls} times only"));
    }
    if good.acked.len() < 100 {
        problems.push(format!(
            "the good client was not served: {} acknowledged, {} refused as overload",
            good.acked.len(),
            good.refused_retryable
        ));
    }
    if sent < 500 {
        problems.push(format!("the attack sent {sent} requests only"));
    }
    assert!(
        problems.is_empty(),
        "seed {seed} (replay with TAILSIFT_ATTACK_SEED={seed}):\n- {}",
        problems.join("\n- ")
    );
}

/// The attacker's hand-encoded parts are what they claim to be: valid protobuf where meant.
#[test]
fn hand_encoded_parts_decode() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;
    let mut span = attack::mutate::trace(7, 1).pop().unwrap().encode_to_vec();
    span.extend_from_slice(&attack::mutate::deep_attribute(10));
    let body = attack::mutate::wrap(&attack::mutate::resource("svc"), &[span]);
    let req = ExportTraceServiceRequest::decode(body.as_slice()).expect("valid protobuf");
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    let deep = span
        .attributes
        .iter()
        .find(|kv| kv.key == "deep")
        .expect("deep");
    let mut v = deep.value.clone().unwrap();
    let mut depth = 0;
    while let Some(Value::ArrayValue(a)) = v.value {
        v = a.values[0].clone();
        depth += 1;
    }
    assert_eq!(depth, 10);
    assert_eq!(v.value, Some(Value::StringValue("leaf".into())));
}
