//! The Collector in front of a fleet: its `loadbalancing` exporter (`routing_key: traceID`,
//! static resolver) spreads traces over three tailsift instances, and its resolver list changes
//! under load (the Collector restarted on the rewritten config). Every span the Collector
//! accepted reaches exactly one instance's backend; a trace whose spans all passed the Collector
//! under one resolver list is whole at one instance.

use crate::bins::{free_port, Peer, PeerProc};
use crate::support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tailsift::fixtures::{request, span};

fn collector_config(port: u16, backends: &[&Daemon]) -> String {
    let hosts: Vec<String> = backends.iter().map(|d| format!("\"{}\"", d.grpc)).collect();
    format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{port}" }} }} }}
exporters:
  load_balancing:
    routing_key: traceID
    protocol:
      otlp: {{ tls: {{ insecure: true }}, compression: none, timeout: 5s }}
    resolver:
      static: {{ hostnames: [{}] }}
service:
  telemetry: {{ metrics: {{ level: none }}, logs: {{ level: warn }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [load_balancing] }}
"#,
        hosts.join(", ")
    )
}

/// Traces started per round (60 rounds, 30 ms apart).
const PER_ROUND: u128 = 32;

const KEEP_ALL: &str = r#"
sampling:
  decision_wait: 500ms
  root_wait: 200ms
  rules:
    - name: all
      keep: true
"#;

fn exporter(sink: &str) -> String {
    format!("exporters:\n  sink: {{ protocol: otlp_grpc, endpoint: \"{sink}\", compression: none, batch: {{ timeout: 20ms }} }}\n")
}

/// Sends `req` to the Collector until it accepts it (bounded: 100 tries, 50 ms apart; the
/// Collector is down while it restarts).
async fn send_until_accepted(
    port: u16,
    req: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) {
    for _ in 0..100 {
        if export_grpc_try(port, req).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Collector did not accept a request within 100 tries");
}

async fn export_grpc_try(
    port: u16,
    req: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> bool {
    let Ok(channel) = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
    else {
        return false;
    };
    let mut client = opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::new(channel);
    client.export(req.clone()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_balances_whole_traces_over_three_instances_through_a_resolver_change() {
    let Some(bin) = Peer::Collector.binary() else {
        return;
    };
    let sinks: Vec<GrpcSink> = (0..3).map(|_| GrpcSink::default()).collect();
    let mut daemons = Vec::new();
    for s in &sinks {
        let endpoint = s.serve().await;
        daemons.push(Daemon::start(&format!("{KEEP_ALL}{}", exporter(&endpoint))).await);
    }
    let port = free_port();
    let all: Vec<&Daemon> = daemons.iter().collect();
    let mut collector = PeerProc::start(&bin, &collector_config(port, &all), &[port]).await;

    // Under load: each trace's two halves are sent as two requests; the resolver list drops the
    // third instance after the first rounds, and gets it back later.
    let mut sent: BTreeMap<u128, (usize, Vec<u64>)> = BTreeMap::new(); // trace -> (generation of its first half, span ids)
    let mut straddled = BTreeSet::new();
    let mut generation = 0;
    let started = Instant::now();
    for round in 0..60u128 {
        if round == 20 || round == 40 {
            let backends: Vec<&Daemon> = if round == 20 {
                daemons[..2].iter().collect()
            } else {
                all.clone()
            };
            collector = collector
                .restart(&bin, &collector_config(port, &backends), &[port])
                .await;
            generation += 1;
        }
        let ids: Vec<u128> = (0..PER_ROUND)
            .map(|i| id128(0xF00D_0000 + round, i + 1))
            .collect();
        let first = request(
            "front",
            ids.iter()
                .flat_map(|&t| [span(t, 1).name("root"), span(t, 2).parent(1)]),
        );
        send_until_accepted(port, &first).await;
        for &t in &ids {
            sent.insert(t, (generation, vec![1, 2, 3, 4]));
        }
        // The second halves of the previous round's traces go with this round.
        if round > 0 {
            let prev: Vec<u128> = (0..PER_ROUND)
                .map(|i| id128(0xF00D_0000 + round - 1, i + 1))
                .collect();
            let second = request(
                "front",
                prev.iter()
                    .flat_map(|&t| [span(t, 3).parent(1), span(t, 4).parent(1).error()]),
            );
            send_until_accepted(port, &second).await;
            for t in prev {
                if sent[&t].0 != generation {
                    straddled.insert(t);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let last: Vec<u128> = (0..PER_ROUND)
        .map(|i| id128(0xF00D_0000 + 59, i + 1))
        .collect();
    send_until_accepted(
        port,
        &request(
            "front",
            last.iter()
                .flat_map(|&t| [span(t, 3).parent(1), span(t, 4).parent(1)]),
        ),
    )
    .await;
    let load = started.elapsed();

    let total: usize = sent.values().map(|(_, ids)| ids.len()).sum();
    let arrived = wait_for(Duration::from_secs(20), || {
        sinks.iter().map(GrpcSink::received_spans).sum::<usize>() >= total
    })
    .await;
    let per: Vec<BTreeMap<u128, Vec<u64>>> = sinks
        .iter()
        .map(|s| {
            summary(&s.spans())
                .into_iter()
                .map(|(t, (ids, _))| (t, ids))
                .collect()
        })
        .collect();
    assert!(
        arrived,
        "every span reaches a backend: {total} sent, {:?} received",
        sinks
            .iter()
            .map(GrpcSink::received_spans)
            .collect::<Vec<_>>()
    );

    let mut whole = 0;
    for (t, (generation_of_first, ids)) in &sent {
        let holders: Vec<usize> = (0..3).filter(|&i| per[i].contains_key(t)).collect();
        let mut got: Vec<u64> = holders.iter().flat_map(|&i| per[i][t].clone()).collect();
        got.sort_unstable();
        assert_eq!(&got, ids, "{t:032x}: every span once, across the instances");
        if straddled.contains(t) {
            continue;
        }
        assert_eq!(
            holders.len(),
            1,
            "{t:032x} (sent under one resolver list) is whole at one instance"
        );
        if *generation_of_first == 1 {
            assert_ne!(
                holders[0], 2,
                "{t:032x}: the removed instance gets no trace"
            );
        }
        whole += 1;
    }
    let used: Vec<usize> = per.iter().map(BTreeMap::len).collect();
    assert!(
        used.iter().all(|&n| n > 0),
        "every instance got traces: {used:?}"
    );
    eprintln!(
        "front: {} traces ({total} spans) in {load:?} through two resolver changes; {whole} whole at one instance, {} sent across a change, traces per instance {used:?}",
        sent.len(),
        straddled.len()
    );
    collector.stop();
    for d in daemons {
        d.stop().await;
    }
}
