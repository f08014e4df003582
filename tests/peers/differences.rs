//! The differences the README lists ("Migrating from the OpenTelemetry Collector"), each shown
//! against the real Collector: the same block, the same traces, and what each does instead.
//! (The `latency` bounds difference is shown by the oracle's `latency_upper` case.)

use crate::bins::{free_ports, Peer};
use crate::pair::{collector_config, Pair};
use crate::support::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tailsift::fixtures::{request, span};

/// A full buffer: the Collector evicts its oldest traces undecided (always_sample keeps only
/// what still fits), tailsift decides them early with the policies (all kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_decided_early_where_the_collector_evicts() {
    let block =
        "decision_wait: 2s\nnum_traces: 10\npolicies: [ { name: all, type: always_sample } ]\n";
    let Some(pair) = Pair::start(block).await else {
        return;
    };
    let ids: Vec<u128> = (1..=40).map(|n| id128(0xB0FF, n)).collect();
    for chunk in ids.chunks(4) {
        pair.send(&request("svc", chunk.iter().map(|&t| span(t, 1))))
            .await;
    }
    let [collector, tailsift] = pair.kept(Duration::from_secs(4)).await;
    assert_eq!(tailsift.len(), 40, "tailsift decides every trace");
    assert!(
        collector.len() < 40,
        "the Collector evicted some undecided: kept {}",
        collector.len()
    );
    let early = pair.daemon.scrape().await.sum(
        "tailsift_early_decided_traces_total",
        &[("reason", "max_traces")],
    );
    assert!(early >= 30.0, "decided early for max_traces: {early}");
    // Kept spans name their policy in tailsift; the Collector adds nothing (no recordpolicy gate).
    for s in pair.sinks[1].spans() {
        assert_eq!(rule_of(&s), Some("all"));
    }
    for s in pair.sinks[0].spans() {
        assert!(s
            .attributes
            .iter()
            .all(|kv| kv.key != "sampling.rule" && kv.key != "tailsampling.policy"));
    }
    eprintln!(
        "buffer full: the Collector kept {} of 40, tailsift 40 ({early} decided early)",
        collector.len()
    );
}

/// `decision_wait_after_root_received`: tailsift waits that long after the trace's last span
/// (once the root arrived), the Collector after the root. Spans arriving steadily after the
/// root, the last one an error: tailsift sees it, the Collector decided before it came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_wait_counts_from_the_last_span_where_the_collector_counts_from_the_root() {
    let block = "decision_wait: 10s\ndecision_wait_after_root_received: 1s\ndecision_cache: { sampled_cache_size: 1000, non_sampled_cache_size: 1000 }\npolicies: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } } ]\n";
    let Some(pair) = Pair::start(block).await else {
        return;
    };
    let t = id128(0x2007, 1);
    pair.send(&request("svc", [span(t, 1).name("root")])).await;
    for i in 2..=20u64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = span(t, i).parent(1);
        pair.send(&request("svc", [if i == 20 { s.error() } else { s }]))
            .await;
    }
    let [collector, tailsift] = pair.kept(Duration::from_secs(2)).await;
    assert_eq!(
        tailsift.get(&t).map(Vec::len),
        Some(20),
        "tailsift keeps the whole trace"
    );
    assert!(
        !collector.contains_key(&t),
        "the Collector decided at root + 1 s, before the error"
    );
}

/// `composite` evaluates its sub-policies in `policy_order` in tailsift; the Collector in the
/// order `composite_sub_policy` lists them. Both sub-policies sample everything; the one
/// listed first has 2 spans a second, the one ordered first 98.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_follows_policy_order_where_the_collector_follows_the_list() {
    let block = "decision_wait: 1s\npolicies: [ { name: comp, type: composite, composite: { max_total_spans_per_second: 100, policy_order: [wide, narrow], composite_sub_policy: [ { name: narrow, type: always_sample }, { name: wide, type: always_sample } ], rate_allocation: [ { policy: narrow, percent: 2 }, { policy: wide, percent: 98 } ] } } ]\n";
    let Some(pair) = Pair::start(block).await else {
        return;
    };
    let ids: Vec<u128> = (1..=30).map(|n| id128(0xC0C0, n)).collect();
    pair.send(&request("svc", ids.iter().map(|&t| span(t, 1))))
        .await;
    let [collector, tailsift] = pair.kept(Duration::from_secs(3)).await;
    assert_eq!(
        tailsift.len(),
        30,
        "98 spans a second for `wide`, evaluated first"
    );
    assert!(
        collector.len() <= 4,
        "2 spans a second for `narrow`, listed first: {}",
        collector.len()
    );
}

/// Whether the Collector starts on `config` (its receiver on `port` accepts connections) or
/// exits (its `validate` command passes some configs it then refuses at start); with its log.
async fn collector_starts(bin: &Path, config: &Path, port: u16) -> (bool, String) {
    let log = config.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let started = loop {
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        if tokio::net::TcpStream::connect(crate::bins::local(port))
            .await
            .is_ok()
            || Instant::now() > until
        {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    (started, std::fs::read_to_string(&log).unwrap_or_default())
}

/// Configs one accepts and the other rejects: `and` nested in `and` (tailsift accepts, the
/// Collector's schema has no such key), and an OTTL function outside tailsift's subset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_and_and_unsupported_ottl_are_judged_differently() {
    let Some(bin) = Peer::Collector.binary() else {
        return;
    };
    let nested = "decision_wait: 1s\npolicies: [ { name: a, type: and, and: { and_sub_policy: [ { name: inner, type: and, and: { and_sub_policy: [ { name: x, type: always_sample } ] } } ] } } ]\n";
    let ottl = "decision_wait: 1s\npolicies: [ { name: o, type: ottl_condition, ottl_condition: { span: [ 'IsString(attributes[\"k\"])' ] } } ]\n";
    for (block, collector_ok, tailsift_ok) in [(nested, false, true), (ottl, true, false)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let port = free_ports(1);
        std::fs::write(
            &path,
            collector_config(
                &[("v", block.to_string())],
                &port,
                &["http://127.0.0.1:1".into()],
            ),
        )
        .unwrap();
        let (accepted, log) = collector_starts(&bin, &path, port[0]).await;
        assert_eq!(accepted, collector_ok, "the Collector on {block}: {log}");
        let ours = tailsift::config::parse(
            &format!(
                "{RECEIVERS}{}",
                crate::pair::tailsift_config(block, "http://127.0.0.1:1")
            ),
            "test",
        );
        assert_eq!(
            ours.is_ok(),
            tailsift_ok,
            "tailsift on {block}: {:?}",
            ours.err().map(|e| e.to_string())
        );
    }
}
