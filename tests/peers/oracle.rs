//! The OpenTelemetry Collector as oracle: the corpus goes to the real Collector (one pipeline
//! per case, each with its own `tail_sampling` processor) and to tailsift (one daemon per case,
//! the same block pasted at the top level); the traces each keeps, with every span including
//! the late ones, must be the same, except where a listed difference explains it.

use crate::bins::{free_ports, Peer, PeerProc};
use crate::cases::{self, Case, COMMON};
use crate::corpus::{self, Trace};
use crate::pair::{collector_config, kept, settle, tailsift_config};
use crate::support::*;
use std::collections::BTreeMap;
use std::time::Duration;

const TRACES: usize = 240;

fn block(case: &Case) -> String {
    format!("{COMMON}{}\n", case.body)
}

/// One case's comparison.
struct Outcome {
    collector: usize,
    tailsift: usize,
    listed: usize,
    unlisted: Vec<String>,
}

fn compare(
    case: &Case,
    traces: &[Trace],
    collector: &BTreeMap<u128, Vec<u64>>,
    tailsift: &BTreeMap<u128, Vec<u64>>,
) -> Outcome {
    let mut o = Outcome {
        collector: collector.len(),
        tailsift: tailsift.len(),
        listed: 0,
        unlisted: vec![],
    };
    for t in traces {
        let (c, s) = (collector.get(&t.id), tailsift.get(&t.id));
        if c == s {
            continue;
        }
        if let (Some(c), Some(s)) = (c, s) {
            o.unlisted.push(format!(
                "{:032x}: both keep it, spans differ: collector {c:?}, tailsift {s:?} (sent {:?})",
                t.id,
                t.span_ids()
            ));
            continue;
        }
        if case.difference.is_some_and(|d| d.explains(t, c.is_some())) {
            o.listed += 1;
            continue;
        }
        let who = if c.is_some() {
            "only the Collector"
        } else {
            "only tailsift"
        };
        o.unlisted.push(format!(
            "{:032x} kept by {who}; spans {:?}",
            t.id,
            describe(t)
        ));
    }
    o
}

fn describe(t: &Trace) -> Vec<String> {
    t.spans
        .iter()
        .map(|s| {
            let attrs: Vec<String> = s
                .attributes
                .iter()
                .map(|kv| {
                    format!(
                        "{}={:?}",
                        kv.key,
                        kv.value.as_ref().and_then(|v| v.value.as_ref())
                    )
                })
                .collect();
            let ms = (s.end_time_unix_nano - s.start_time_unix_nano) / 1_000_000;
            format!(
                "{} {}ms status={:?} flags={:#x} state={:?} {}",
                s.name,
                ms,
                s.status.as_ref().map(|x| x.code),
                s.flags,
                s.trace_state,
                attrs.join(",")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_and_tailsift_keep_the_same_traces() {
    let Some(bin) = Peer::Collector.binary() else {
        return;
    };
    let cases = cases::all();
    let traces = corpus::generate(13, TRACES);
    let requests = corpus::requests(&traces, 24);

    let mut sinks = Vec::new();
    let mut endpoints = Vec::new();
    for _ in 0..cases.len() * 2 {
        let s = GrpcSink::default();
        endpoints.push(s.serve().await);
        sinks.push(s);
    }
    let ports = free_ports(cases.len());
    let blocks: Vec<(&str, String)> = cases.iter().map(|c| (c.name, block(c))).collect();
    let config = collector_config(&blocks, &ports, &endpoints[..cases.len()]);
    let collector = PeerProc::start(&bin, &config, &ports).await;
    let mut daemons = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        daemons.push(Daemon::start(&tailsift_config(&block(c), &endpoints[cases.len() + i])).await);
    }

    for req in &requests {
        for (i, d) in daemons.iter().enumerate() {
            export_grpc(crate::bins::local(ports[i]), req)
                .await
                .expect("the Collector accepts the corpus");
            d.send_ok(Transport::Grpc, req).await;
        }
    }
    // Decided: decision_wait (1 s) plus the Collector's 1 s tick, then quiet.
    settle(&sinks, Duration::from_secs(4), Duration::from_millis(1500)).await;
    let late = corpus::late_request(&traces);
    for (i, d) in daemons.iter().enumerate() {
        export_grpc(crate::bins::local(ports[i]), &late)
            .await
            .expect("late spans accepted");
        d.send_ok(Transport::Grpc, &late).await;
    }
    settle(&sinks, Duration::from_secs(1), Duration::from_millis(1500)).await;

    let (mut decisions, mut agree, mut listed) = (0, 0, 0);
    let mut failures = Vec::new();
    eprintln!(
        "{:<28} {:>9} {:>9} {:>7} {:>8}",
        "case", "collector", "tailsift", "listed", "unlisted"
    );
    for (i, c) in cases.iter().enumerate() {
        let o = compare(c, &traces, &kept(&sinks[i]), &kept(&sinks[cases.len() + i]));
        eprintln!(
            "{:<28} {:>9} {:>9} {:>7} {:>8}",
            c.name,
            o.collector,
            o.tailsift,
            o.listed,
            o.unlisted.len()
        );
        decisions += traces.len();
        agree += traces.len() - o.listed - o.unlisted.len();
        listed += o.listed;
        if c.difference.is_some() && o.listed == 0 {
            failures.push(format!(
                "{}: the listed difference did not show on this corpus",
                c.name
            ));
        }
        failures.extend(o.unlisted.iter().map(|u| format!("{}: {u}", c.name)));
    }
    eprintln!(
        "oracle: {} cases x {} traces = {decisions} decisions; {agree} agree ({:.2}%), {listed} differ as listed, {} differ otherwise",
        cases.len(),
        traces.len(),
        100.0 * agree as f64 / decisions as f64,
        failures.len()
    );
    // The comparison is not vacuous: with always_sample the Collector delivered every span of
    // every trace, the late ones included (and tailsift, equal to it, too).
    let all = cases
        .iter()
        .position(|c| c.name == "always_sample")
        .expect("an always_sample case");
    let delivered = kept(&sinks[all]);
    for t in &traces {
        assert_eq!(
            delivered.get(&t.id),
            Some(&t.span_ids()),
            "always_sample, the Collector: {:032x}",
            t.id
        );
    }
    for d in daemons {
        d.stop().await;
    }
    drop(collector);
    assert!(
        failures.is_empty(),
        "disagreements outside the README's list:\n{}",
        failures.join("\n")
    );
}
