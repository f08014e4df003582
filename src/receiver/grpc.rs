//! OTLP/gRPC receiver: `TraceService/Export` served with a codec that hands the request body
//! to the pipeline as bytes, so spans are sliced out of it without a decode into owned structs.

use crate::pipeline::{Pipeline, Protocol, Refusal};
use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Service};
use tonic::{Code, Status};

pub use crate::otlp::grpc_codec::EXPORT_PATH;

/// Decodes a request message as raw bytes; encodes the response with prost.
#[derive(Debug, Clone, Copy)]
struct RawRequestCodec {
    max_request_bytes: usize,
}

/// Refuses requests over the configured limit with INVALID_ARGUMENT, which OTLP clients do not
/// retry (tonic's own limit, set higher as a memory backstop, answers OUT_OF_RANGE).
struct RawDecoder {
    max_request_bytes: usize,
}
struct ResponseEncoder;

impl Codec for RawRequestCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder {
            max_request_bytes: self.max_request_bytes,
        }
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        if n > self.max_request_bytes {
            metrics::counter!(crate::telemetry::names::RECEIVER_REQUESTS, "protocol" => "grpc", "outcome" => "too_large")
                .increment(1);
            return Err(Status::invalid_argument(format!(
                "request of {n} bytes is larger than the limit of {} bytes (receivers.otlp.grpc.max_request_bytes)",
                self.max_request_bytes
            )));
        }
        Ok(Some(src.copy_to_bytes(n)))
    }
}

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;
    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(&mut dst.writer().get_mut())
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// `google.rpc.RetryInfo`, sent with refusals so clients know when to retry.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types_duration::Duration>,
}

mod prost_types_duration {
    /// `google.protobuf.Duration`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// `google.rpc.Status` with details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// RESOURCE_EXHAUSTED carrying a RetryInfo, which OTLP clients treat as retryable.
pub fn overloaded_status(message: String, retry_after_secs: i64) -> Status {
    let info = RetryInfo {
        retry_delay: Some(prost_types_duration::Duration {
            seconds: retry_after_secs,
            nanos: 0,
        }),
    };
    let details = RpcStatus {
        code: Code::ResourceExhausted as i32,
        message: message.clone(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
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

struct ExportMethod(Arc<Pipeline>);

impl tonic::server::UnaryService<Bytes> for ExportMethod {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let pipeline = self.0.clone();
        Box::pin(async move {
            match pipeline.accept(Protocol::Grpc, request.into_inner()) {
                Ok(a) => {
                    let partial_success =
                        a.message.map(|error_message| ExportTracePartialSuccess {
                            rejected_spans: a.rejected_spans as i64,
                            error_message,
                        });
                    Ok(tonic::Response::new(ExportTraceServiceResponse {
                        partial_success,
                    }))
                }
                Err(Refusal::Malformed(m)) => Err(Status::invalid_argument(m)),
                Err(r) => Err(refusal_status(&r)),
            }
        })
    }
}

/// The TraceService, as a tower service for tonic's server.
#[derive(Clone)]
pub struct TraceService {
    pipeline: Arc<Pipeline>,
    max_request_bytes: usize,
}

impl TraceService {
    pub fn new(pipeline: Arc<Pipeline>, max_request_bytes: usize) -> Self {
        TraceService {
            pipeline,
            max_request_bytes,
        }
    }
}

impl tonic::server::NamedService for TraceService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for TraceService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async move {
                Ok(Status::unimplemented("only TraceService/Export is served").into_http())
            });
        }
        // Refuse before reading the body when already overloaded.
        if let Some(r) = self.pipeline.overloaded() {
            metrics::counter!(crate::telemetry::names::RECEIVER_REQUESTS, "protocol" => "grpc", "outcome" => "refused")
                .increment(1);
            let status = refusal_status(&r);
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let method = ExportMethod(self.pipeline.clone());
        let max = self.max_request_bytes;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec {
                max_request_bytes: max,
            })
            .apply_compression_config(
                {
                    let mut e = tonic::codec::EnabledCompressionEncodings::default();
                    e.enable(CompressionEncoding::Gzip);
                    e
                },
                tonic::codec::EnabledCompressionEncodings::default(),
            )
            .apply_max_message_size_config(Some(max.saturating_mul(4)), None);
            Ok(too_large_is_not_retryable(grpc.unary(method, req).await))
        })
    }
}

/// tonic refuses a message over the size limit with OUT_OF_RANGE, which OTLP clients retry; a
/// request that is too large stays too large, so answer INVALID_ARGUMENT (not retried) instead.
fn too_large_is_not_retryable(
    resp: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    match Status::from_header_map(resp.headers()) {
        Some(s) if s.code() == Code::OutOfRange => {
            Status::invalid_argument(s.message().to_string()).into_http()
        }
        _ => resp,
    }
}
