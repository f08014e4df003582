//! OTLP/HTTP receiver: `POST /v1/traces` with protobuf or JSON bodies, optionally gzip-compressed.
//! Answers in the request's encoding; errors carry a `google.rpc.Status` body.

use crate::otlp::json::json_to_protobuf;
use crate::pipeline::{Pipeline, Protocol, Refusal};
use crate::telemetry::names;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use std::io::Read;
use std::sync::Arc;

/// Longest time a client may take to send a request body.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
struct Ctx {
    pipeline: Arc<Pipeline>,
    max_request_bytes: usize,
}

/// The OTLP/HTTP routes.
pub fn router(pipeline: Arc<Pipeline>, max_request_bytes: usize) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .with_state(Ctx {
            pipeline,
            max_request_bytes,
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status` without details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

pub(super) fn error(
    enc: Encoding,
    status: StatusCode,
    grpc_code: tonic::Code,
    message: String,
) -> Response {
    let (ctype, body) = match enc {
        Encoding::Protobuf => (
            "application/x-protobuf",
            RpcStatus {
                code: grpc_code as i32,
                message,
            }
            .encode_to_vec(),
        ),
        Encoding::Json => (
            "application/json",
            serde_json::to_vec(
                &serde_json::json!({ "code": grpc_code as i32, "message": message }),
            )
            .expect("json"),
        ),
    };
    (status, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

fn bad_request(enc: Encoding, message: String) -> Response {
    error(
        enc,
        StatusCode::BAD_REQUEST,
        tonic::Code::InvalidArgument,
        message,
    )
}

pub(super) fn content_encoding(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// Inflates a gzip body, refusing output larger than `max` bytes.
fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    flate2::read::GzDecoder::new(body)
        .take((max as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid gzip body: {e}"))?;
    if out.len() > max {
        return Err(format!(
            "decompressed body is larger than the limit of {max} bytes"
        ));
    }
    Ok(out)
}

fn count(protocol: &'static str, outcome: &'static str) {
    metrics::counter!(names::RECEIVER_REQUESTS, "protocol" => protocol, "outcome" => outcome)
        .increment(1);
}

async fn export(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    let Some(enc) = content_encoding(&headers) else {
        count("http_other", "unsupported");
        return error(
            Encoding::Protobuf,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            "Content-Type must be application/x-protobuf or application/json".into(),
        );
    };
    let max = ctx.max_request_bytes;
    let label = match enc {
        Encoding::Protobuf => Protocol::HttpProtobuf,
        Encoding::Json => Protocol::HttpJson,
    }
    .label();
    // Refuse before reading the body when already overloaded.
    if let Some(r) = ctx.pipeline.overloaded() {
        count(label, "refused");
        return overloaded(enc, r);
    }
    let raw = match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Err(_) => {
            count(label, "invalid");
            return error(
                enc,
                StatusCode::REQUEST_TIMEOUT,
                tonic::Code::InvalidArgument,
                format!(
                    "request body not received within {}s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            );
        }
        Ok(Err(_)) => {
            count(label, "too_large");
            return error(
                enc,
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::InvalidArgument,
                format!(
                    "request body is larger than the limit of {max} bytes (or could not be read)"
                ),
            );
        }
    };
    let raw: Bytes = match headers.get(header::CONTENT_ENCODING).map(|v| v.as_bytes()) {
        None | Some(b"identity") => raw,
        Some(b"gzip") => match gunzip(&raw, max) {
            Ok(v) => Bytes::from(v),
            Err(m) if m.starts_with("decompressed body is larger") => {
                count(label, "too_large");
                return error(
                    enc,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    tonic::Code::InvalidArgument,
                    m,
                );
            }
            Err(m) => {
                count(label, "invalid");
                return bad_request(enc, m);
            }
        },
        Some(other) => {
            count(label, "unsupported");
            return error(
                enc,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::InvalidArgument,
                format!(
                    "unsupported Content-Encoding `{}` (use gzip or none)",
                    String::from_utf8_lossy(other)
                ),
            );
        }
    };
    let (protocol, pb) = match enc {
        Encoding::Protobuf => (Protocol::HttpProtobuf, raw),
        Encoding::Json => match json_to_protobuf(&raw) {
            Ok(pb) => (Protocol::HttpJson, pb),
            Err(e) => {
                count(label, "invalid");
                return bad_request(enc, format!("malformed OTLP/JSON request: {e}"));
            }
        },
    };
    match ctx.pipeline.accept(protocol, pb) {
        Ok(a) => {
            let resp = ExportTraceServiceResponse {
                partial_success: a.message.map(|error_message| ExportTracePartialSuccess {
                    rejected_spans: a.rejected_spans as i64,
                    error_message,
                }),
            };
            match enc {
                Encoding::Protobuf => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    resp.encode_to_vec(),
                )
                    .into_response(),
                Encoding::Json => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    // Proto3 JSON leaves out unset fields: a full success is `{}`.
                    if resp.partial_success.is_some() {
                        serde_json::to_vec(&resp).expect("json")
                    } else {
                        b"{}".to_vec()
                    },
                )
                    .into_response(),
            }
        }
        Err(Refusal::Malformed(m)) => bad_request(enc, m),
        Err(r) => overloaded(enc, r),
    }
}

/// A retryable refusal: 429 when overloaded, 503 while shutting down; both with Retry-After.
fn overloaded(enc: Encoding, r: Refusal) -> Response {
    let (status, code) = match r {
        Refusal::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, tonic::Code::Unavailable),
        _ => (
            StatusCode::TOO_MANY_REQUESTS,
            tonic::Code::ResourceExhausted,
        ),
    };
    let mut resp = error(enc, status, code, r.to_string());
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(super::grpc::RETRY_AFTER_SECS),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gunzip_limits_output() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&vec![0u8; 10_000]).unwrap();
        let gz = e.finish().unwrap();
        assert_eq!(gunzip(&gz, 10_000).unwrap().len(), 10_000);
        let err = gunzip(&gz, 9_999).unwrap_err();
        assert!(err.contains("larger than the limit"), "{err}");
        assert!(gunzip(b"not gzip", 100)
            .unwrap_err()
            .starts_with("invalid gzip body"));
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(content_encoding(&h) == Some(Encoding::Json));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        assert!(content_encoding(&h) == Some(Encoding::Protobuf));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(content_encoding(&h).is_none());
    }
}
