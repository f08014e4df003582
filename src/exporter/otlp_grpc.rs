//! OTLP/gRPC sink: sends a raw batch to `TraceService/Export` through a lazily connected tonic
//! channel. The call is framed here rather than by tonic's client so that the body is compressed
//! once per batch (not once per attempt), off the async workers, at the configured level (tonic
//! compresses every attempt, gzip at level 6 only).

use super::compress::compress_async;
use super::sink::Accepted;
use super::ExportError;
use crate::config::exporter::{BodyCompression, Otlp};
use crate::otlp::grpc_codec::{ResponseDecoder, EXPORT_PATH};
use crate::tls::connect::error_chain;
use crate::tls::Connector;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, TE};
use http_body::Frame;
use http_body_util::StreamBody;
use hyper_util::client::legacy::connect::HttpConnector;
use std::convert::Infallible;
use std::time::Duration;
use tonic::client::GrpcService;
use tonic::codec::{CompressionEncoding, Streaming};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Largest response message read (an `ExportTraceServiceResponse` is a few bytes).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

pub(crate) struct GrpcSink {
    channel: Channel,
    /// Every request's headers: the configured metadata, content type, `te`, `grpc-timeout`,
    /// `grpc-encoding`.
    headers: http::HeaderMap,
    compression: BodyCompression,
}

impl GrpcSink {
    /// Builds the sink without connecting: the daemon starts even when no backend is up.
    pub(crate) fn new(name: &str, cfg: &Otlp, timeout: Duration) -> Result<GrpcSink, ExportError> {
        let bad = |reason: String| ExportError::Config {
            exporter: name.to_string(),
            reason,
        };
        let url = cfg.endpoint.clone();
        let https = cfg.https;
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| bad(format!("invalid endpoint `{url}`: {e}")))?
            .connect_timeout(timeout)
            .tcp_nodelay(true);
        let channel = if https {
            let tls_key = format!("exporters.{name}.tls");
            let tls = crate::tls::start_client(cfg.tls.as_ref(), &tls_key, crate::tls::ALPN_GRPC)
                .map_err(|e| bad(e.to_string()))?;
            let mut http = HttpConnector::new();
            http.set_nodelay(true);
            http.set_connect_timeout(Some(timeout));
            let server_name = cfg
                .tls
                .as_ref()
                .and_then(|t| t.server_name_override.as_deref());
            let connector = Connector::new(http, Some(tls), server_name).map_err(bad)?;
            endpoint.connect_with_connector_lazy(connector)
        } else {
            endpoint.connect_lazy()
        };
        let mut metadata = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| bad(format!("header name `{k}`: {e}")))?;
            let value = AsciiMetadataValue::try_from(v.as_str())
                .map_err(|e| bad(format!("header `{k}` value: {e}")))?;
            metadata.insert(key, value);
        }
        let mut headers = metadata.into_headers();
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(
            "grpc-accept-encoding",
            HeaderValue::from_static("gzip,zstd"),
        );
        headers.insert(
            "grpc-timeout",
            HeaderValue::from_str(&grpc_timeout(timeout)).map_err(|e| bad(e.to_string()))?,
        );
        if let Some(encoding) = cfg.compression.encoding() {
            headers.insert("grpc-encoding", HeaderValue::from_static(encoding));
        }
        Ok(GrpcSink {
            channel,
            headers,
            compression: cfg.compression,
        })
    }

    /// The request message for a batch: compressed once, reused by every attempt.
    pub(crate) async fn prepare(&self, body: Bytes) -> Result<Bytes, ExportError> {
        Ok(compress_async(self.compression, body).await?)
    }

    /// One unary `Export` call carrying `message` (from [`GrpcSink::prepare`]).
    pub(crate) async fn export(&self, message: Bytes) -> Result<Accepted, ExportError> {
        let len = u32::try_from(message.len()).map_err(|_| {
            ExportError::Malformed(format!(
                "a gRPC message holds at most 4 GiB, the batch has {} bytes",
                message.len()
            ))
        })?;
        let mut prefix = [0u8; 5];
        prefix[0] = u8::from(self.compression != BodyCompression::None);
        prefix[1..].copy_from_slice(&len.to_be_bytes());
        let frames: [Result<Frame<Bytes>, Infallible>; 2] = [
            Ok(Frame::data(Bytes::copy_from_slice(&prefix))),
            Ok(Frame::data(message)),
        ];
        let body = tonic::body::Body::new(StreamBody::new(futures::stream::iter(frames)));
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .version(http::Version::HTTP_2)
            .uri(EXPORT_PATH)
            .body(body)
            .map_err(|e| ExportError::Malformed(e.to_string()))?;
        *request.headers_mut() = self.headers.clone();
        let mut channel = self.channel.clone();
        futures::future::poll_fn(|cx| {
            GrpcService::<tonic::body::Body>::poll_ready(&mut channel, cx)
        })
        .await
        .map_err(|e| ExportError::Transport(format!("gRPC channel not ready: {e}")))?;
        let response = GrpcService::call(&mut channel, request)
            .await
            .map_err(|e| ExportError::Transport(error_chain(&e)))?;
        // A trailers-only answer: the status is in the headers.
        if let Some(status) = Status::from_header_map(response.headers()) {
            if status.code() != Code::Ok {
                return Err(status.into());
            }
            return Ok(Accepted::default());
        }
        let encoding = match response
            .headers()
            .get("grpc-encoding")
            .map(|v| v.as_bytes())
        {
            None | Some(b"identity") => None,
            Some(b"gzip") => Some(CompressionEncoding::Gzip),
            // gRPC servers (grpc-go among them) answer in the encoding of the request.
            Some(b"zstd") => Some(CompressionEncoding::Zstd),
            Some(other) => {
                return Err(Status::internal(format!(
                    "response in grpc-encoding `{}`, which was not asked for",
                    String::from_utf8_lossy(other)
                ))
                .into())
            }
        };
        let http_status = response.status();
        let mut stream = Streaming::new_response(
            ResponseDecoder,
            response.into_body(),
            http_status,
            encoding,
            Some(MAX_RESPONSE_BYTES),
        );
        let reply = stream.message().await.map_err(status_error)?;
        stream.trailers().await.map_err(status_error)?;
        // An OK status without a message still means the backend took the request.
        Ok(reply.map(Accepted::from_response).unwrap_or_default())
    }
}

/// `grpc-timeout` for a duration: at most 8 digits, in the finest unit that fits.
fn grpc_timeout(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100_000_000 {
        format!("{}m", ms.max(1))
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    }
}

/// A status made from a connection failure carries the reason (refused, TLS certificate
/// problem) only in its source; keep it in the error that is logged.
fn status_error(s: tonic::Status) -> ExportError {
    match std::error::Error::source(&s) {
        Some(src) => ExportError::Transport(error_chain(src)),
        None => s.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::grpc_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeouts_fit_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000m");
        assert_eq!(grpc_timeout(Duration::from_micros(10)), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }
}
