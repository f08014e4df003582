//! OTLP/gRPC sink: sends a raw batch to `TraceService/Export` through a lazily connected tonic channel.

use super::sink::Accepted;
use super::ExportError;
use crate::config::exporter::Otlp;
use crate::otlp::grpc_codec::{SizedExportCodec, EXPORT_PATH};
use crate::tls::connect::error_chain;
use crate::tls::Connector;
use bytes::Bytes;
use http::uri::PathAndQuery;
use hyper_util::client::legacy::connect::HttpConnector;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};

pub(crate) struct GrpcSink {
    channel: Channel,
    metadata: MetadataMap,
    gzip: bool,
    timeout: Duration,
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
        Ok(GrpcSink {
            channel,
            metadata,
            gzip: cfg.gzip,
            timeout,
        })
    }

    pub(crate) async fn export(&self, body: Bytes) -> Result<Accepted, ExportError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .accept_compressed(CompressionEncoding::Gzip);
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|e| ExportError::Transport(format!("gRPC channel not ready: {e}")))?;
        let codec = SizedExportCodec::new(body.len());
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let response = grpc
            .unary(request, PathAndQuery::from_static(EXPORT_PATH), codec)
            .await
            .map_err(transport_reason)?;
        Ok(Accepted::from_response(response.into_inner()))
    }
}

/// A status made from a connection failure carries the reason (refused, TLS certificate
/// problem) only in its source; keep it in the error that is logged.
fn transport_reason(s: tonic::Status) -> ExportError {
    match std::error::Error::source(&s) {
        Some(src) => ExportError::Transport(error_chain(src)),
        None => s.into(),
    }
}
