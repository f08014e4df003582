//! Clients of the daemon's receivers and endpoints: OTLP over gRPC (typed, or raw bytes for
//! malformed input), OTLP over HTTP (protobuf or JSON), and plain HTTP GETs.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::net::SocketAddr;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::Status;

use tailsift::otlp::grpc_codec::ExportClientCodec;
pub use tailsift::otlp::grpc_codec::EXPORT_PATH;

/// How a request reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

pub const TRANSPORTS: [Transport; 3] = [
    Transport::Grpc,
    Transport::HttpProtobuf,
    Transport::HttpJson,
];

/// A request the daemon did not accept.
#[derive(Debug)]
pub enum Refused {
    Grpc(Status),
    Http(HttpResponse),
}

/// An HTTP answer, body read in full.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn http_request(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<HttpResponse, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(body.into()))
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(HttpResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

pub async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_request(
        http::Method::GET,
        &format!("http://{addr}{path}"),
        &[],
        Bytes::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `POST /v1/traces` with the given headers and body, as is.
pub async fn post_traces(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> HttpResponse {
    http_request(
        http::Method::POST,
        &format!("http://{addr}/v1/traces"),
        headers,
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("POST /v1/traces: {e}"))
}

pub async fn grpc_client(addr: SocketAddr) -> TraceServiceClient<Channel> {
    TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("gRPC connect")
}

/// Sends an export request over gRPC (typed client, fresh connection).
pub async fn export_grpc(
    addr: SocketAddr,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, Status> {
    grpc_client(addr)
        .await
        .export(req.clone())
        .await
        .map(|r| r.into_inner())
}

/// Sends an export request over OTLP/HTTP, protobuf or JSON, and decodes the success answer.
pub async fn export_http(
    addr: SocketAddr,
    json: bool,
    req: &ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, HttpResponse> {
    let (ctype, body) = if json {
        (
            "application/json",
            serde_json::to_vec(req).expect("OTLP JSON"),
        )
    } else {
        ("application/x-protobuf", req.encode_to_vec())
    };
    let resp = post_traces(addr, &[("content-type", ctype)], body).await;
    if resp.status != 200 {
        return Err(resp);
    }
    let decoded = if json {
        serde_json::from_slice(&resp.body).expect("JSON ExportTraceServiceResponse")
    } else {
        ExportTraceServiceResponse::decode(resp.body.clone()).expect("protobuf response")
    };
    Ok(decoded)
}

/// Sends bytes as the body of a gRPC `TraceService/Export` call (gzip-compressed on the wire
/// when `gzip`), so tests can send what no typed client would.
pub async fn export_grpc_raw(
    addr: SocketAddr,
    body: Bytes,
    gzip: bool,
) -> Result<ExportTraceServiceResponse, Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("gRPC connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    if gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
    grpc.unary(
        tonic::Request::new(body),
        path,
        ExportClientCodec::default(),
    )
    .await
    .map(|r| r.into_inner())
}
