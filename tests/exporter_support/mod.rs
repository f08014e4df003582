//! Shared by the exporter integration tests: request fixtures, exporter configs, in-process OTLP sinks.
#![allow(dead_code)]

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tailsift::config::ExporterConfig;
use tailsift::exporter::{ExportItem, Exporters};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

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
    ExportItem {
        body: Bytes::from(request(trace, spans).encode_to_vec()),
        spans,
    }
}

/// All spans of a request, in order.
pub fn spans_of(r: &ExportTraceServiceRequest) -> Vec<Span> {
    r.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().cloned())
        .collect()
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
    Exporters::start(&configs).expect("exporters start")
}

/// An address where nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// What an in-process gRPC sink received: the request metadata and the decoded request.
pub type Received = Arc<Mutex<Vec<(MetadataMap, ExportTraceServiceRequest)>>>;

/// Scripted answers of a gRPC sink.
pub type Script = Arc<Mutex<VecDeque<Result<ExportTraceServiceResponse, Status>>>>;

/// An OTLP/gRPC TraceService that records requests and answers from a script (then OK).
#[derive(Clone, Default)]
pub struct GrpcSink {
    pub received: Received,
    pub script: Script,
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (metadata, _, body) = request.into_parts();
        self.received.lock().unwrap().push((metadata, body));
        let next = self.script.lock().unwrap().pop_front();
        next.unwrap_or(Ok(ExportTraceServiceResponse::default()))
            .map(Response::new)
    }
}

impl GrpcSink {
    pub fn scripted(script: Vec<Result<ExportTraceServiceResponse, Status>>) -> GrpcSink {
        GrpcSink {
            script: Arc::new(Mutex::new(script.into())),
            ..GrpcSink::default()
        }
    }

    /// Serves on 127.0.0.1:0 (accepting gzip); returns `http://addr`.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc =
            TraceServiceServer::new(self.clone()).accept_compressed(CompressionEncoding::Gzip);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        format!("http://{addr}")
    }

    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.1.clone())
            .collect()
    }

    pub fn received_spans(&self) -> usize {
        self.requests().iter().map(|r| spans_of(r).len()).sum()
    }

    /// Waits (polling, bounded) until the sink holds at least `spans` spans.
    pub async fn wait_for_spans(&self, spans: usize, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < until {
            if self.received_spans() >= spans {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}
