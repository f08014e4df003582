//! OTLP/HTTP receiver: `POST /v1/traces` with protobuf or JSON bodies, optionally gzip- or
//! zstd-compressed.
//! Answers in the request's encoding; errors carry a `google.rpc.Status` body.

use super::body::{self, BodyError, Decoders, RequestLimits};
use super::inflight::Reservation;
use crate::otlp::json::json_to_protobuf;
use crate::pipeline::{Pipeline, Protocol, Refusal, RequestMeta};
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
use std::sync::Arc;

#[derive(Clone)]
struct Ctx {
    pipeline: Arc<Pipeline>,
    limits: RequestLimits,
}

/// The OTLP/HTTP routes.
pub fn router(pipeline: Arc<Pipeline>, limits: RequestLimits) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .with_state(Ctx { pipeline, limits })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
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
            crate::otlp::rpc::Status {
                code: grpc_code as i32,
                message,
                details: Vec::new(),
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

fn count(protocol: &'static str, outcome: &'static str) {
    metrics::counter!(names::RECEIVER_REQUESTS, "protocol" => protocol, "outcome" => outcome)
        .increment(1);
}

async fn export(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    let received = tokio::time::Instant::now();
    let Some(enc) = content_encoding(&headers) else {
        count("http_other", "unsupported");
        return error(
            Encoding::Protobuf,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            "Content-Type must be application/x-protobuf or application/json".into(),
        );
    };
    let protocol = match enc {
        Encoding::Protobuf => Protocol::HttpProtobuf,
        Encoding::Json => Protocol::HttpJson,
    };
    let label = protocol.label();
    let content_encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.as_bytes());
    let coding = match body::Coding::from_header(content_encoding) {
        Ok(c) => c,
        Err(()) => {
            count(label, "unsupported");
            return error(
                enc,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::InvalidArgument,
                format!(
                    "unsupported Content-Encoding `{}` (use gzip, zstd or none)",
                    String::from_utf8_lossy(content_encoding.unwrap_or_default())
                ),
            );
        }
    };
    // Refuse before reading the body when already overloaded.
    if let Some(r) = ctx.pipeline.overloaded() {
        count(label, "refused");
        return overloaded(enc, r);
    }
    let limits = &ctx.limits;
    let max = limits.max_request_bytes;
    let expected = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => {
                count(label, "invalid");
                return bad_request(enc, "invalid Content-Length".into());
            }
        },
    };
    let mut res = Reservation::new(&ctx.pipeline);
    let read = body::read_to_end(body, expected, max, &mut res, limits.body_read_timeout).await;
    let raw = match read {
        Ok(b) => b,
        Err(e) => return body_error(enc, label, e),
    };
    let raw = if let Some(coding) = coding {
        let clen = raw.len() as u64;
        let inflated = match body::inflate_request(&limits.decoders, coding, raw, max, res).await {
            Ok(r) => r,
            Err(r) => {
                count(label, "refused");
                return overloaded(enc, r);
            }
        };
        match inflated {
            Ok((b, r)) => {
                res = r;
                res.release(clen);
                b
            }
            Err(e) => return body_error(enc, label, e),
        }
    } else {
        raw
    };
    let pb = match enc {
        Encoding::Protobuf => raw,
        Encoding::Json => match transcode(&limits.decoders, raw, &mut res).await {
            Ok(pb) => pb,
            Err(TranscodeError::Refused(r)) => {
                count(label, "refused");
                return overloaded(enc, r);
            }
            Err(TranscodeError::Malformed(e)) => {
                count(label, "invalid");
                return bad_request(enc, format!("malformed OTLP/JSON request: {e}"));
            }
        },
    };
    let meta = RequestMeta::new(protocol, received, headers);
    match body::ingest(&ctx.pipeline, &limits.decoders, meta, pb, res).await {
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

enum TranscodeError {
    Refused(Refusal),
    Malformed(String),
}

/// OTLP/JSON to protobuf, off the async workers unless the body is small. The protobuf output
/// is reserved (as large as the JSON: protobuf is the denser encoding) before transcoding
/// starts; the JSON is released once it is done.
async fn transcode(
    decoders: &Decoders,
    json: Bytes,
    res: &mut Reservation,
) -> Result<Bytes, TranscodeError> {
    let jlen = json.len() as u64;
    res.grow(jlen).map_err(TranscodeError::Refused)?;
    let out = if json.len() < JSON_INLINE_BYTES {
        json_to_protobuf(&json).map_err(|e| e.to_string())
    } else {
        decoders
            .run(move || json_to_protobuf(&json).map_err(|e| e.to_string()))
            .await
            .map_err(TranscodeError::Refused)?
    };
    let pb = out.map_err(TranscodeError::Malformed)?;
    // The JSON and the reserved estimate are gone; the protobuf stays until ingested.
    let keep = res.bytes().saturating_sub(2 * jlen) + pb.len() as u64;
    if keep > res.bytes() {
        res.grow_to(keep).map_err(TranscodeError::Refused)?;
    } else {
        res.shrink_to(keep);
    }
    Ok(pb)
}

/// OTLP/JSON bodies smaller than this are transcoded on the async worker.
const JSON_INLINE_BYTES: usize = 16 * 1024;

/// The answer to a body that could not be read, counted.
fn body_error(enc: Encoding, label: &'static str, e: BodyError) -> Response {
    match e {
        BodyError::TooLarge { .. } => {
            count(label, "too_large");
            error(
                enc,
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::InvalidArgument,
                format!("{e} (receivers.otlp.http.max_request_bytes)"),
            )
        }
        BodyError::Overloaded(r) => {
            count(label, "refused");
            overloaded(enc, r)
        }
        BodyError::Timeout(_) => {
            count(label, "timeout");
            error(
                enc,
                StatusCode::REQUEST_TIMEOUT,
                tonic::Code::InvalidArgument,
                e.to_string(),
            )
        }
        BodyError::Invalid(m) => {
            count(label, "invalid");
            bad_request(enc, m)
        }
        BodyError::Decompress { .. } => {
            count(label, "invalid");
            bad_request(enc, e.to_string())
        }
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
