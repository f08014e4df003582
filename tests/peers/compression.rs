//! Compressed OTLP both ways between tailsift and the real Collector: the Collector's receivers
//! take what tailsift's exporters send (gzip at a configured level, zstd; gRPC and HTTP), and
//! tailsift's receivers take what the Collector's exporters send with zstd (gRPC and HTTP).

use crate::bins::{free_ports, Peer, PeerProc};
use crate::support::*;
use std::collections::BTreeSet;
use std::time::Duration;
use tailsift::fixtures::{request, span};

const KEEP_ALL: &str = r#"
sampling:
  decision_wait: 300ms
  root_wait: 100ms
  rules:
    - name: all
      keep: true
"#;

/// `traces` traces of 4 spans each, with payloads that compress (and some that do not).
fn traces(
    tag: u128,
    traces: u128,
) -> Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest> {
    (0..traces)
        .map(|t| {
            let id = id128(tag, t);
            request(
                "compressed",
                (1..=4u64).map(|i| {
                    let b = span(id, i)
                        .name("stage")
                        .attr(
                            "prompt",
                            &format!("summarize the report {t} for customer {i} ").repeat(4),
                        )
                        .attr(
                            "noise",
                            &format!("{:x}", id.wrapping_mul(0x9e37_79b9_7f4a_7c15 + i as u128)),
                        );
                    if i == 1 {
                        b
                    } else {
                        b.parent(1)
                    }
                }),
            )
        })
        .collect()
}

fn span_ids(sink: &GrpcSink) -> BTreeSet<(u128, u64)> {
    sink.spans()
        .iter()
        .map(|s| (trace_of(s), span_id_of(s)))
        .collect()
}

async fn wait_spans(sinks: &[&GrpcSink], want: usize) -> bool {
    wait_for(Duration::from_secs(30), || {
        sinks.iter().all(|s| s.received_spans() >= want)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_accepts_what_our_exporters_compress() {
    let Some(bin) = Peer::Collector.binary() else {
        return;
    };
    let _only = exclusive().await;
    // (exporter protocol, compression, level): one Collector receiver and sink per case.
    let cases = [
        ("otlp_grpc", "gzip", Some(9)),
        ("otlp_grpc", "zstd", Some(3)),
        ("otlp_http", "gzip", None),
        ("otlp_http", "zstd", Some(19)),
    ];
    let sinks: Vec<GrpcSink> = cases.iter().map(|_| GrpcSink::default()).collect();
    let mut sink_eps = Vec::new();
    for s in &sinks {
        sink_eps.push(s.serve().await);
    }
    let ports = free_ports(cases.len());
    let (mut r, mut e, mut p, mut x) = (String::new(), String::new(), String::new(), String::new());
    for (i, (proto, compression, level)) in cases.iter().enumerate() {
        let kind = if *proto == "otlp_grpc" {
            "grpc"
        } else {
            "http"
        };
        r.push_str(&format!(
            "  otlp/c{i}: {{ protocols: {{ {kind}: {{ endpoint: \"127.0.0.1:{}\" }} }} }}\n",
            ports[i]
        ));
        e.push_str(&format!(
            "  otlp_grpc/c{i}: {{ endpoint: \"{}\", tls: {{ insecure: true }}, compression: none }}\n",
            sink_eps[i].trim_start_matches("http://")
        ));
        p.push_str(&format!(
            "    traces/c{i}: {{ receivers: [otlp/c{i}], exporters: [otlp_grpc/c{i}] }}\n"
        ));
        let level = level.map_or(String::new(), |l| format!(", compression_level: {l}"));
        x.push_str(&format!(
            "  c{i}: {{ protocol: {proto}, endpoint: \"http://127.0.0.1:{}\", compression: {compression}{level}, batch: {{ timeout: 20ms }} }}\n",
            ports[i]
        ));
    }
    let config = format!(
        "receivers:\n{r}exporters:\n{e}service:\n  telemetry: {{ metrics: {{ level: none }}, logs: {{ level: warn }} }}\n  pipelines:\n{p}"
    );
    let collector = PeerProc::start(&bin, &config, &ports).await;
    let daemon = Daemon::start(&format!("{KEEP_ALL}exporters:\n{x}")).await;
    let sent = traces(0xc0, 64);
    for req in &sent {
        daemon.send_ok(Transport::Grpc, req).await;
    }
    let want = 64 * 4;
    let refs: Vec<&GrpcSink> = sinks.iter().collect();
    let arrived = wait_spans(&refs, want).await;
    // The Collector forwards a batch before tailsift has read its answer: wait (bounded) for
    // every exporter to count what it sent.
    let all_counted = |m: &crate::support::prom::Metrics| {
        (0..cases.len()).all(|i| {
            m.sum(
                "tailsift_exporter_sent_spans_total",
                &[("exporter", &format!("c{i}"))],
            ) == want as f64
        })
    };
    let mut m = daemon.scrape().await;
    for _ in 0..100 {
        if all_counted(&m) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        m = daemon.scrape().await;
    }
    assert!(
        arrived,
        "spans per case {:?} of {want}; exporter failures {}; Collector log:\n{}",
        sinks
            .iter()
            .map(GrpcSink::received_spans)
            .collect::<Vec<_>>(),
        m.sum("tailsift_exporter_failed_spans_total", &[]),
        collector.log_text()
    );
    let expected: BTreeSet<(u128, u64)> = sent
        .iter()
        .flat_map(|r| {
            tailsift::fixtures::spans_of(r)
                .into_iter()
                .map(|s| (trace_of(s), span_id_of(s)))
                .collect::<Vec<_>>()
        })
        .collect();
    for (i, s) in sinks.iter().enumerate() {
        assert_eq!(span_ids(s), expected, "case {:?}", cases[i]);
        assert_eq!(
            s.received_spans(),
            want,
            "case {:?}: no duplicates",
            cases[i]
        );
    }
    for (i, _) in cases.iter().enumerate() {
        let name = format!("c{i}");
        assert_eq!(
            m.sum("tailsift_exporter_sent_spans_total", &[("exporter", &name)]),
            want as f64,
            "case {:?}",
            cases[i]
        );
    }
    assert_eq!(m.sum("tailsift_exporter_failed_spans_total", &[]), 0.0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_receivers_accept_the_collectors_zstd() {
    let Some(bin) = Peer::Collector.binary() else {
        return;
    };
    let _only = exclusive().await;
    let sink = GrpcSink::default();
    let sink_ep = sink.serve().await;
    let daemon = Daemon::start(&format!(
        "{KEEP_ALL}exporters:\n  sink: {{ protocol: otlp_grpc, endpoint: \"{sink_ep}\", compression: none, batch: {{ timeout: 20ms }} }}\n"
    ))
    .await;
    let port = free_ports(1)[0];
    // Two pipelines, so each span reaches tailsift once over gRPC and once over HTTP, both
    // zstd-compressed by the Collector.
    let config = format!(
        r#"
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{port}" }} }} }}
exporters:
  otlp_grpc: {{ endpoint: "{}", tls: {{ insecure: true }}, compression: zstd }}
  otlp_http: {{ endpoint: "http://{}", compression: zstd }}
service:
  telemetry: {{ metrics: {{ level: none }}, logs: {{ level: warn }} }}
  pipelines:
    traces/grpc: {{ receivers: [otlp], exporters: [otlp_grpc] }}
    traces/http: {{ receivers: [otlp], exporters: [otlp_http] }}
"#,
        daemon.grpc, daemon.http
    );
    let collector = PeerProc::start(&bin, &config, &[port]).await;
    let sent = traces(0xc1, 32);
    for req in &sent {
        export_grpc(crate::bins::local(port), req)
            .await
            .expect("the Collector accepts the request");
    }
    let want = 32 * 4 * 2;
    let arrived = wait_spans(&[&sink], want).await;
    let m = daemon.scrape().await;
    assert!(
        arrived,
        "{} of {want} spans; receiver requests {:?}; Collector log:\n{}",
        sink.received_spans(),
        (
            m.sum(
                "tailsift_receiver_requests_total",
                &[("outcome", "invalid")]
            ),
            m.sum(
                "tailsift_receiver_requests_total",
                &[("outcome", "unsupported")]
            )
        ),
        collector.log_text()
    );
    assert_eq!(
        m.sum(
            "tailsift_receiver_accepted_spans_total",
            &[("protocol", "grpc")]
        ),
        (32 * 4) as f64
    );
    assert_eq!(
        m.sum(
            "tailsift_receiver_accepted_spans_total",
            &[("protocol", "http_protobuf")]
        ),
        (32 * 4) as f64
    );
    assert_eq!(
        m.sum(
            "tailsift_receiver_requests_total",
            &[("outcome", "invalid")]
        ) + m.sum(
            "tailsift_receiver_requests_total",
            &[("outcome", "unsupported")]
        ),
        0.0
    );
    daemon.stop().await;
}
