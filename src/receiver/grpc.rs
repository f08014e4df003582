//! OTLP/gRPC receiver: `TraceService/Export`. The one message of a call is read by its length
//! prefix (checked against `max_request_bytes` and reserved against `memory_limit` before it is
//! buffered), inflated off the async workers, and handed to the pipeline as bytes, so spans
//! are sliced out of it without a decode into owned structs.

use super::body::{inflate_request, ingest, read_grpc_message, BodyError, Coding, RequestLimits};
use super::inflight::Reservation;
use crate::otlp::rpc;
use crate::pipeline::{Pipeline, Protocol, Refusal, RequestMeta};
use crate::telemetry::names;
use bytes::{Buf, Bytes};
use http_body::Frame;
use http_body_util::StreamBody;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::{http, BoxFuture, Service};
use tonic::{Code, Status};

pub use crate::otlp::grpc_codec::EXPORT_PATH;

/// RESOURCE_EXHAUSTED carrying a RetryInfo, which OTLP clients treat as retryable.
pub fn overloaded_status(message: String, retry_after_secs: i64) -> Status {
    let details = rpc::Status {
        code: Code::ResourceExhausted as i32,
        message: message.clone(),
        details: vec![rpc::RetryInfo::any_after_secs(retry_after_secs)],
    };
    Status::with_details(
        Code::ResourceExhausted,
        message,
        Bytes::from(details.encode_to_vec()),
    )
}

/// The retryable status for a refusal: RESOURCE_EXHAUSTED with RetryInfo when overloaded,
/// UNAVAILABLE while shutting down.
pub fn refusal_status(r: &Refusal) -> Status {
    match r {
        Refusal::ShuttingDown => Status::unavailable(r.to_string()),
        _ => overloaded_status(r.to_string(), RETRY_AFTER_SECS),
    }
}

/// Seconds clients are asked to wait after an overload refusal.
pub const RETRY_AFTER_SECS: i64 = 1;

/// The TraceService, as a tower service for the accept loop.
#[derive(Clone)]
pub struct TraceService {
    pipeline: Arc<Pipeline>,
    limits: RequestLimits,
}

impl TraceService {
    pub fn new(pipeline: Arc<Pipeline>, limits: RequestLimits) -> Self {
        TraceService { pipeline, limits }
    }
}

impl<B> Service<http::Request<B>> for TraceService
where
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: std::fmt::Display + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (pipeline, limits) = (self.pipeline.clone(), self.limits.clone());
        Box::pin(async move {
            Ok(match export(pipeline, limits, req).await {
                Ok(resp) => ok_response(resp),
                Err(status) => status.into_http(),
            })
        })
    }
}

fn count(outcome: &'static str) {
    metrics::counter!(names::RECEIVER_REQUESTS, "protocol" => "grpc", "outcome" => outcome)
        .increment(1);
}

/// Serves one `Export` call; errors are answered as gRPC statuses.
async fn export<B>(
    pipeline: Arc<Pipeline>,
    limits: RequestLimits,
    req: http::Request<B>,
) -> Result<ExportTraceServiceResponse, Status>
where
    B: http_body::Body + Send + 'static,
    B::Data: Buf + Send,
    B::Error: std::fmt::Display + Send,
{
    let received = tokio::time::Instant::now();
    if req.uri().path() != EXPORT_PATH {
        return Err(Status::unimplemented("only TraceService/Export is served"));
    }
    let header = req.headers().get("grpc-encoding").map(|v| v.as_bytes());
    let coding = match Coding::from_header(header) {
        Ok(c) => c,
        Err(()) => {
            count("unsupported");
            return Err(Status::unimplemented(format!(
                "unsupported grpc-encoding `{}` (use gzip, zstd or identity)",
                String::from_utf8_lossy(header.unwrap_or_default())
            )));
        }
    };
    // Refuse before reading the body when already overloaded.
    if let Some(r) = pipeline.overloaded() {
        count("refused");
        return Err(refusal_status(&r));
    }
    let max = limits.max_request_bytes;
    let mut res = Reservation::new(&pipeline);
    let (parts, body) = req.into_parts();
    let meta = RequestMeta::new(Protocol::Grpc, received, parts.headers);
    let msg = read_grpc_message(body, max, &mut res, limits.body_read_timeout)
        .await
        .map_err(body_status)?;
    let body = if msg.compressed {
        let Some(coding) = coding else {
            count("invalid");
            return Err(Status::internal(
                "compressed message without a grpc-encoding header",
            ));
        };
        let compressed = msg.bytes;
        let clen = compressed.len() as u64;
        let inflated = inflate_request(&limits.decoders, coding, compressed, max, res)
            .await
            .map_err(|r| {
                count("refused");
                refusal_status(&r)
            })?;
        let (body, r) = inflated.map_err(body_status)?;
        res = r;
        res.release(clen);
        body
    } else {
        msg.bytes
    };
    match ingest(&pipeline, &limits.decoders, meta, body, res).await {
        Ok(a) => Ok(ExportTraceServiceResponse {
            partial_success: a.message.map(|error_message| ExportTracePartialSuccess {
                rejected_spans: a.rejected_spans as i64,
                error_message,
            }),
        }),
        Err(Refusal::Malformed(m)) => Err(Status::invalid_argument(m)),
        Err(r) => Err(refusal_status(&r)),
    }
}

/// The status for a body that could not be read, counted. A message over the limit stays over
/// it, so it is not retryable (INVALID_ARGUMENT); running out of memory is.
fn body_status(e: BodyError) -> Status {
    match e {
        BodyError::TooLarge { .. } => {
            count("too_large");
            Status::invalid_argument(format!("{e} (receivers.otlp.grpc.max_request_bytes)"))
        }
        BodyError::Overloaded(r) => {
            count("refused");
            refusal_status(&r)
        }
        BodyError::Timeout(_) => {
            count("timeout");
            Status::deadline_exceeded(e.to_string())
        }
        BodyError::Invalid(m) => {
            count("invalid");
            Status::invalid_argument(m)
        }
        BodyError::Decompress { .. } => {
            count("invalid");
            Status::invalid_argument(e.to_string())
        }
    }
}

/// A successful answer: one uncompressed message, then `grpc-status: 0` in the trailers.
fn ok_response(resp: ExportTraceServiceResponse) -> http::Response<tonic::body::Body> {
    // Full success is an empty message: its frame is five zero bytes, shared.
    let framed = if resp.partial_success.is_none() {
        Bytes::from_static(&[0; 5])
    } else {
        let msg = resp.encode_to_vec();
        let mut framed = Vec::with_capacity(5 + msg.len());
        framed.push(0);
        framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        framed.extend_from_slice(&msg);
        Bytes::from(framed)
    };
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames: [Result<Frame<Bytes>, Infallible>; 2] =
        [Ok(Frame::data(framed)), Ok(Frame::trailers(trailers))];
    let body = StreamBody::new(futures::stream::iter(frames));
    let mut r = http::Response::new(tonic::body::Body::new(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    r.headers_mut().insert(
        "grpc-accept-encoding",
        http::HeaderValue::from_static("gzip,zstd,identity"),
    );
    r
}
