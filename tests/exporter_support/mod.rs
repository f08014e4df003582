//! Shared by the exporter integration tests: request fixtures and exporter configs. The
//! in-process OTLP sinks live in `tests/support/sink.rs`, shared with the daemon tests.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use crate::support::sink::{spans_of, GrpcSink, HttpSink, Sink};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tailsift::config::ExporterConfig;
use tailsift::exporter::{ExportItem, Exporters};

/// A request holding one trace (`trace` fills its id) of `spans` spans under one resource.
pub fn request(trace: u8, spans: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![trace; 16],
            span_id: vec![trace, i as u8 + 1, 0, 0, 0, 0, 0, 1],
            name: format!("stage-{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_500_000_000,
            ..Default::default()
        })
        .collect();
    let service = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!("svc-{trace}"))),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![service],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn item(trace: u8, spans: usize) -> ExportItem {
    ExportItem::new(Bytes::from(request(trace, spans).encode_to_vec()), spans)
}

/// An exporter config from a JSON value (same keys as the YAML file); unset keys get defaults.
pub fn exporter(value: serde_json::Value) -> ExporterConfig {
    serde_json::from_value(value).expect("valid exporter config")
}

pub fn start(exporters: Vec<(&str, serde_json::Value)>) -> Exporters {
    let configs: BTreeMap<String, ExporterConfig> = exporters
        .into_iter()
        .map(|(name, v)| (name.to_string(), exporter(v)))
        .collect();
    Exporters::start(&configs, false).expect("exporters start")
}

/// An address where nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}
