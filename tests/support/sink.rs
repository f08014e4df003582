//! In-process OTLP backends for tests: a gRPC sink, an HTTP sink (protobuf, gzip) and a reader
//! for the file exporter's JSON lines, all seen through [`Sink`] as decoded export requests.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// A backend whose received export requests can be read back decoded.
pub trait Sink {
    /// Every export request received so far, in order.
    fn requests(&self) -> Vec<ExportTraceServiceRequest>;

    /// Every span received so far, in order.
    fn spans(&self) -> Vec<Span> {
        self.requests().iter().flat_map(spans_of).collect()
    }

    /// Waits (polling, bounded) until at least `n` spans arrived; false when `within` passed.
    #[allow(async_fn_in_trait)]
    async fn wait_for_spans(&self, n: usize, within: Duration) -> bool {
        super::wait_for(within, || self.spans().len() >= n).await
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

/// What an in-process gRPC sink received: the request metadata and the decoded request.
pub type Received = Arc<Mutex<Vec<(MetadataMap, ExportTraceServiceRequest)>>>;

/// Scripted answers of a gRPC sink.
pub type Script = Arc<Mutex<VecDeque<Result<ExportTraceServiceResponse, Status>>>>;

/// An OTLP/gRPC TraceService that records requests and answers from a script (then OK).
/// While `down` is set it answers UNAVAILABLE and records nothing (a backend that is down).
#[derive(Clone, Default)]
pub struct GrpcSink {
    pub received: Received,
    pub script: Script,
    pub down: Arc<AtomicBool>,
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Status::unavailable("sink is down"));
        }
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

    /// Serves over TLS on 127.0.0.1:0 with `tls` (h2 ALPN set by the caller); returns
    /// `https://127.0.0.1:port`.
    pub async fn serve_tls(&self, tls: rustls::ServerConfig) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming =
            tailsift::tls::listen::incoming(listener, FixedTls::new(tls), "sink").unwrap();
        let svc =
            TraceServiceServer::new(self.clone()).accept_compressed(CompressionEncoding::Gzip);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming),
        );
        format!("https://{addr}")
    }

    pub fn received_spans(&self) -> usize {
        self.spans().len()
    }
}

impl Sink for GrpcSink {
    fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        let received = self.received.lock().unwrap();
        received.iter().map(|r| r.1.clone()).collect()
    }
}

/// Scripted answers of an HTTP sink: (status, Retry-After).
pub type HttpScript = Arc<Mutex<VecDeque<(u16, Option<&'static str>)>>>;

/// An OTLP/HTTP backend: `POST /v1/traces`, recording (arrival, headers, raw body) and answering
/// from a script (then 200 with an empty protobuf response).
#[derive(Clone, Default)]
pub struct HttpSink {
    pub received: Arc<Mutex<Vec<(Instant, HeaderMap, Bytes)>>>,
    /// (status, Retry-After) answers in order; then 200.
    pub script: HttpScript,
    /// Refuses (400, not recorded) a body that is not a valid protobuf request, as a real
    /// backend does; counts the refusals.
    pub strict: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl HttpSink {
    /// A sink that refuses invalid batches with 400, like a real OTLP/HTTP backend.
    pub fn strict() -> HttpSink {
        HttpSink {
            strict: Some(Arc::default()),
            ..HttpSink::default()
        }
    }

    /// How many batches a strict sink refused as invalid.
    pub fn refused_invalid(&self) -> usize {
        self.strict.as_ref().map_or(0, |n| n.load(Ordering::SeqCst))
    }

    /// Serves `POST /v1/traces` on 127.0.0.1:0; returns `http://addr`.
    pub async fn serve(&self) -> String {
        self.serve_with(None).await
    }

    /// Serves over TLS with `tls`; returns `https://addr`.
    pub async fn serve_tls(&self, tls: rustls::ServerConfig) -> String {
        self.serve_with(Some(tls)).await
    }

    async fn serve_with(&self, tls: Option<rustls::ServerConfig>) -> String {
        let me = self.clone();
        let app = Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: Bytes| async move {
                if let Some(refused) = &me.strict {
                    if let Err(e) = decode_body(&headers, &body) {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return (StatusCode::BAD_REQUEST, e).into_response();
                    }
                }
                me.received
                    .lock()
                    .unwrap()
                    .push((Instant::now(), headers, body));
                let next = me.script.lock().unwrap().pop_front();
                match next {
                    Some((status, retry_after)) => {
                        let mut h = HeaderMap::new();
                        if let Some(v) = retry_after {
                            h.insert("retry-after", v.parse().unwrap());
                        }
                        (StatusCode::from_u16(status).unwrap(), h, Bytes::new()).into_response()
                    }
                    None => (
                        [("content-type", "application/x-protobuf")],
                        Bytes::new(), // an empty ExportTraceServiceResponse
                    )
                        .into_response(),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        match tls {
            None => {
                tokio::spawn(async move { axum::serve(listener, app).await });
                format!("http://{addr}")
            }
            Some(tls) => {
                let incoming =
                    tailsift::tls::listen::incoming(listener, FixedTls::new(tls), "sink").unwrap();
                tokio::spawn(async move { axum::serve(incoming, app).await });
                format!("https://{addr}")
            }
        }
    }
}

impl Sink for HttpSink {
    /// Decodes every received body (gunzipped when `Content-Encoding: gzip`); panics on a body
    /// that is not an OTLP protobuf request, since the exporter must only send those.
    fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|(_, headers, body)| {
                let raw = match headers.get("content-encoding").map(|v| v.as_bytes()) {
                    Some(b"gzip") => gunzip(body),
                    _ => body.to_vec(),
                };
                ExportTraceServiceRequest::decode(raw.as_slice()).expect("OTLP protobuf body")
            })
            .collect()
    }
}

/// Decodes an OTLP/HTTP protobuf body (gunzipped when `Content-Encoding: gzip`).
fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let raw = match headers.get("content-encoding").map(|v| v.as_bytes()) {
        Some(b"gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .map_err(|e| format!("invalid gzip: {e}"))?;
            out
        }
        _ => body.to_vec(),
    };
    ExportTraceServiceRequest::decode(raw.as_slice()).map_err(|e| format!("invalid request: {e}"))
}

/// The JSON-lines file written by a `file` exporter.
pub struct FileSink(pub PathBuf);

impl Sink for FileSink {
    fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n')) // a line still being written is not complete yet
            .map(|l| serde_json::from_str(l).expect("each line is an OTLP/JSON request"))
            .collect()
    }
}

pub fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A sink's TLS handshake with a fixed rustls config (the daemon's reloading one is not used,
/// so the sink checks the exporter independently).
#[derive(Clone)]
pub struct FixedTls(tokio_rustls::TlsAcceptor);

impl FixedTls {
    pub fn new(config: rustls::ServerConfig) -> FixedTls {
        FixedTls(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl tailsift::receiver::handshake::Handshake for FixedTls {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    fn handshake(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> tailsift::receiver::handshake::HandshakeFuture<Self::Io> {
        let acceptor = self.0.clone();
        Box::pin(async move { acceptor.accept(tcp).await })
    }
}
