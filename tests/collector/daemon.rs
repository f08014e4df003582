//! The daemon running a Collector `tail_sampling:` block pasted as it is written for the
//! Collector (flow and block style, `\/` regex escapes, `10_000`): which traces reach the
//! backend, under which policy, and the per-policy metrics Collector dashboards translate to.

use crate::support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::collections::BTreeMap;
use support::*;
use tailsift::fixtures::{request, span, SpanBuilder};

const PASTED: &str = r#"
tail_sampling:
  decision_wait: 300ms
  num_traces: 1000
  decision_wait_after_root_received: 100ms
  decision_cache:
    sampled_cache_size: 10_000
    non_sampled_cache_size: 10_000
  policies:
    [
      {
        name: drop-health-checks,
        type: drop,
        drop: {
          drop_sub_policy:
            [
              {
                name: health-paths,
                type: string_attribute,
                string_attribute: {key: url.path, values: [\/health, \/ready], enabled_regex_matching: true}
              }
            ]
        }
      },
      {
        name: errors,
        type: status_code,
        status_code: {status_codes: [ERROR]}
      },
      {
        name: slow-traces,
        type: latency,
        latency: {threshold_ms: 1000}
      },
      {
        name: vip-customers,
        type: string_attribute,
        string_attribute: {key: customer.tier, values: [gold, platinum]}
      },
      {
        name: baseline,
        type: probabilistic,
        probabilistic: {sampling_percentage: 25}
      },
    ]
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "SINK"
    batch: { timeout: 20ms }
"#;

fn root(trace: u128, path: &str) -> SpanBuilder {
    span(trace, 1)
        .name("GET")
        .kind(SpanKind::Server)
        .attr("url.path", path)
        .at(0, 50)
}

fn child(trace: u128, id: u64) -> SpanBuilder {
    span(trace, id).name("db.query").parent(1).at(5, 20)
}

/// Trace ids whose FNV-1a hash (salt `default-hash-seed`) is at most 25% of the range, and
/// ids whose hash is above it: the Collector keeps exactly the first ones at 25%. Computed
/// outside tailsift.
const BASELINE_KEPT: [u128; 5] = [
    0x63e6a7772b3d3d222cb1bee2e71e1bc0,
    0xb960a3d411ceaa94fa84ca093d13bda5,
    0xf8daa436432022bff1573816d628d849,
    0xcabcb318b1160e9b34be8e06d5a6f1d6,
    0x740b86d80777771ba784da7bf9f0c62f,
];
const BASELINE_DROPPED: [u128; 7] = [
    0xfda577423eb71791c3eab527f539a06a,
    0xb63baad777d034cfe5d7ca02e91bf30b,
    0x768566cac7bba7bbb62e864ea9d71275,
    0x0bdde1151cdd8228fbd854facbe3ffac,
    0x7a62fe1c1d8268911f8cc25a73e36f51,
    0x4dced64cbe27d83e16be24d49ca76cff,
    0x186e6a0ed6186566dc6730f2bc3919b7,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_collector_config_decides_like_the_collector() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let daemon = Daemon::start(&PASTED.replace("SINK", &endpoint)).await;

    // (trace, spans, the policy expected to keep it, or None when it must not reach the sink)
    let mut cases: Vec<(u128, Vec<SpanBuilder>, Option<&str>)> = vec![
        (
            0xe001,
            vec![root(0xe001, "/v1/checkout"), child(0xe001, 2).error()],
            Some("errors"),
        ),
        (
            0xe002,
            vec![root(0xe002, "/v1/search").at(0, 1500), child(0xe002, 2)],
            Some("slow-traces"),
        ),
        (
            0xe003,
            vec![root(0xe003, "/v1/cart").attr("customer.tier", "gold")],
            Some("vip-customers"),
        ),
        (
            0xe004,
            vec![root(0xe004, "/health"), child(0xe004, 2)],
            None,
        ),
        // The drop policy wins even over an error, as in the Collector.
        (
            0xe005,
            vec![root(0xe005, "/ready"), child(0xe005, 2).error()],
            None,
        ),
        // Unanchored regex: any path containing /health.
        (0xe006, vec![root(0xe006, "/internal/health/deep")], None),
    ];
    for id in BASELINE_KEPT {
        cases.push((
            id,
            vec![root(id, "/v1/home"), child(id, 2)],
            Some("baseline"),
        ));
    }
    for id in BASELINE_DROPPED {
        cases.push((id, vec![root(id, "/v1/home"), child(id, 2)], None));
    }

    let mut expected: BTreeMap<u128, (Vec<u64>, Vec<String>)> = BTreeMap::new();
    for (id, spans, kept_by) in &cases {
        daemon
            .send_ok(Transport::Grpc, &request("shop", spans.clone()))
            .await;
        if let Some(policy) = kept_by {
            let ids = (1..=spans.len() as u64).collect();
            expected.insert(*id, (ids, vec![policy.to_string()]));
        }
    }
    let kept_spans: usize = expected.values().map(|(ids, _)| ids.len()).sum();
    assert!(
        sink.wait_for_spans(kept_spans, PATIENCE).await,
        "kept traces reach the sink; got {:?}",
        summary(&sink.spans())
    );
    // Every trace decided (root arrived: 100ms after its last span).
    let rules = [
        "drop-health-checks",
        "errors",
        "slow-traces",
        "vip-customers",
        "baseline",
        "_not_sampled",
    ];
    let decided = wait_for_async(PATIENCE, || async {
        let m = daemon.scrape().await;
        let n: f64 = rules
            .iter()
            .map(|r| m.sum("tailsift_decided_traces_total", &[("rule", r)]))
            .sum();
        n >= cases.len() as f64
    })
    .await;
    assert!(decided, "all {} traces decided", cases.len());
    let m = daemon.scrape().await;
    daemon.stop().await;

    assert_eq!(summary(&sink.spans()), expected, "what reaches the backend");

    // Collector-style per-policy metrics under the policy names.
    let policy = |p: &str, d: &str| {
        m.sum(
            "tailsift_policy_decisions_total",
            &[("policy", p), ("decision", d)],
        )
    };
    let n = cases.len() as f64;
    assert_eq!(policy("drop-health-checks", "dropped"), 3.0);
    assert_eq!(policy("drop-health-checks", "not_sampled"), n - 3.0);
    // Dropped traces stop the evaluation: the others saw n - 3 traces.
    assert_eq!(policy("errors", "sampled"), 1.0);
    assert_eq!(
        policy("errors", "sampled") + policy("errors", "not_sampled"),
        n - 3.0
    );
    assert_eq!(policy("vip-customers", "sampled"), 1.0);
    let decided = |rule: &str, verdict: &str| {
        m.sum(
            "tailsift_decided_traces_total",
            &[("rule", rule), ("verdict", verdict)],
        )
    };
    assert_eq!(decided("errors", "kept"), 1.0);
    assert_eq!(decided("slow-traces", "kept"), 1.0);
    assert_eq!(decided("vip-customers", "kept"), 1.0);
    assert_eq!(decided("baseline", "kept"), BASELINE_KEPT.len() as f64);
    assert_eq!(decided("drop-health-checks", "dropped"), 3.0);
    assert_eq!(
        decided("_not_sampled", "dropped"),
        BASELINE_DROPPED.len() as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_pending_traces_on_shutdown_drops_instead_of_deciding() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    for drop_pending in [true, false] {
        let sink = GrpcSink::default();
        let endpoint = sink.serve().await;
        let policy = format!("keep-all-{drop_pending}");
        let yaml = format!(
            r#"
tail_sampling:
  decision_wait: 1m
  drop_pending_traces_on_shutdown: {drop_pending}
  policies: [{{ name: {policy}, type: always_sample }}]
exporters:
  sink: {{ protocol: otlp_grpc, endpoint: "{endpoint}", batch: {{ timeout: 20ms }} }}
"#
        );
        let daemon = Daemon::start(&yaml).await;
        let trace = 0xd000 + drop_pending as u128;
        daemon
            .send_ok(Transport::Grpc, &request("svc", vec![root(trace, "/x")]))
            .await;
        daemon.stop().await;
        let got = sink.spans().len();
        if drop_pending {
            assert_eq!(got, 0, "pending traces are dropped on shutdown");
        } else {
            assert_eq!(got, 1, "pending traces are decided on shutdown");
            assert_eq!(rule_of(&sink.spans()[0]), Some(policy.as_str()));
        }
    }
    let m = Metrics::of_this_process();
    assert!(
        m.sum(
            "tailsift_decided_traces_total",
            &[
                ("rule", "_drop_pending_traces_on_shutdown"),
                ("verdict", "dropped")
            ],
        ) >= 1.0,
        "counted under the reason"
    );
}
