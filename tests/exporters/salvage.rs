//! A batch holding a resource group that is not valid OTLP (as a batch from elsewhere might:
//! ingest rejects such groups) is refused by a backend that decodes with prost and by the
//! `file` exporter; both take the group out, count its spans as `malformed`, and deliver the
//! rest.

use crate::exporter_support;
use crate::support;

use exporter_support::*;
use opentelemetry_proto::tonic::common::v1::EntityRef;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
use prost::Message;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use support::{trace_of, FileSink, GrpcSink, Sink};
use tailsift::exporter::ExportItem;
use tailsift::fixtures::{kv_str, span};
use tailsift::otlp::wire::put_len_key;

fn group(resource: &[u8], traces: &[u128]) -> Vec<u8> {
    let ss = ScopeSpans {
        spans: traces.iter().map(|&t| span(t, 1).build()).collect(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut rs = Vec::new();
    put_len_key(&mut rs, 1, resource.len());
    rs.extend_from_slice(resource);
    put_len_key(&mut rs, 2, ss.len());
    rs.extend_from_slice(&ss);
    rs
}

fn resource(id_key: &str) -> Vec<u8> {
    Resource {
        attributes: vec![kv_str("service.name", "svc")],
        entity_refs: vec![EntityRef {
            r#type: "service".into(),
            id_keys: vec![id_key.into()],
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_resource_group_is_taken_out_and_the_rest_delivered() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    // Installs the process's recorder before the exporters resolve their counters.
    let _ = support::Metrics::of_this_process();
    let mut poison = resource("POISON-KEY");
    let at = poison.windows(10).position(|w| w == b"POISON-KEY").unwrap();
    poison[at] = 0xff;
    let mut body = Vec::new();
    for rs in [
        group(&resource("k"), &[1, 2]),
        group(&poison, &[3, 4, 5]),
        group(&resource("k"), &[6]),
    ] {
        put_len_key(&mut body, 1, rs.len());
        body.extend_from_slice(&rs);
    }

    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.jsonl");
    let exporters = start(vec![
        (
            "grpc",
            json!({ "protocol": "otlp_grpc", "endpoint": endpoint, "batch": { "timeout": "20ms" } }),
        ),
        (
            "file",
            json!({ "protocol": "file", "path": path, "batch": { "timeout": "20ms" } }),
        ),
    ]);
    exporters.send(ExportItem::new(body.into(), 6));
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    for name in ["grpc", "file"] {
        let s = &report.exporters[name];
        assert_eq!((s.sent_spans, s.failed_spans), (3, 3), "{name}: {s:?}");
    }
    let expected: BTreeSet<u128> = [1, 2, 6].into();
    let traces = |spans: Vec<_>| spans.iter().map(trace_of).collect::<BTreeSet<u128>>();
    assert_eq!(traces(sink.spans()), expected);
    assert_eq!(traces(FileSink(path).spans()), expected);
    let metrics = support::Metrics::of_this_process();
    for name in ["grpc", "file"] {
        assert_eq!(
            metrics.sum(
                "tailsift_exporter_failed_spans_total",
                &[("exporter", name), ("reason", "malformed")]
            ),
            3.0,
            "{name}"
        );
    }
}
