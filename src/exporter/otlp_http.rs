//! OTLP/HTTP sink: POSTs a batch as `application/x-protobuf` (gzip by default, or zstd) with the
//! hyper-util client.

use super::compress::compress_async;
use super::retry::parse_retry_after;
use super::sink::Accepted;
use super::ExportError;
use crate::config::exporter::{BodyCompression, Otlp};
use crate::tls::connect::error_chain;
use crate::tls::Connector;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use std::time::Duration;
use std::time::SystemTime;

/// Response bodies larger than this are not read (only their status matters then).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

pub(crate) struct HttpSink {
    client: Client<Connector, Full<Bytes>>,
    uri: Uri,
    headers: HeaderMap,
    compression: BodyCompression,
}

impl HttpSink {
    pub(crate) fn new(name: &str, cfg: &Otlp, timeout: Duration) -> Result<HttpSink, ExportError> {
        let bad = |reason: String| ExportError::Config {
            exporter: name.to_string(),
            reason,
        };
        let url = cfg.endpoint.as_str();
        let uri = traces_uri(url).map_err(|e| bad(format!("invalid endpoint `{url}`: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => None,
            Some("https") => Some(
                crate::tls::start_client(
                    cfg.tls.as_ref(),
                    &format!("exporters.{name}.tls"),
                    crate::tls::ALPN_HTTP,
                )
                .map_err(|e| bad(e.to_string()))?,
            ),
            _ => {
                return Err(bad(format!(
                    "endpoint `{url}` must be an http:// or https:// URL"
                )))
            }
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| bad(format!("header name `{k}`: {e}")))?;
            let value =
                HeaderValue::from_str(v).map_err(|e| bad(format!("header `{k}` value: {e}")))?;
            headers.insert(name, value);
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        if let Some(encoding) = cfg.compression.encoding() {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let server_name = cfg
            .tls
            .as_ref()
            .and_then(|t| t.server_name_override.as_deref());
        let connector = Connector::new(connector, tls, server_name).map_err(bad)?;
        Ok(HttpSink {
            client: Client::builder(TokioExecutor::new()).build(connector),
            uri,
            headers,
            compression: cfg.compression,
        })
    }

    /// The request body for a batch: compressed once, reused by every attempt.
    pub(crate) async fn prepare(&self, body: Bytes) -> Result<Bytes, ExportError> {
        Ok(compress_async(self.compression, body).await?)
    }

    pub(crate) async fn export(&self, body: Bytes) -> Result<Accepted, ExportError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .body(Full::new(body))
            .map_err(|e| ExportError::Transport(e.to_string()))?;
        *request.headers_mut() = self.headers.clone();
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ExportError::Transport(error_chain(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            use prost::Message;
            let parsed = ExportTraceServiceResponse::decode(body).unwrap_or_default();
            return Ok(Accepted::from_response(parsed));
        }
        Err(ExportError::Http {
            status: status.as_u16(),
            retry_after,
            message: String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned(),
        })
    }
}

/// `<endpoint>/v1/traces`, unless the endpoint already names a path.
fn traces_uri(endpoint: &str) -> Result<Uri, http::uri::InvalidUri> {
    let uri: Uri = endpoint.parse()?;
    if uri.path() != "/" && !uri.path().is_empty() {
        return Ok(uri);
    }
    format!("{}/v1/traces", endpoint.trim_end_matches('/')).parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_path_is_appended_only_to_root_urls() {
        let cases = [
            ("http://host:4318", "http://host:4318/v1/traces"),
            ("http://host:4318/", "http://host:4318/v1/traces"),
            (
                "http://host:4318/custom/traces",
                "http://host:4318/custom/traces",
            ),
            ("http://host/otlp/v1/traces", "http://host/otlp/v1/traces"),
        ];
        for (input, expected) in cases {
            assert_eq!(traces_uri(input).unwrap().to_string(), expected, "{input}");
        }
    }
}
