//! OTLP/gRPC sink: sends a raw batch to `TraceService/Export` through a lazily connected tonic channel.

use super::sink::Accepted;
use super::ExportError;
use crate::config::{Compression, ExporterConfig};
use crate::otlp::grpc_codec::{ExportClientCodec, EXPORT_PATH};
use bytes::Bytes;
use http::uri::PathAndQuery;
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
    pub(crate) fn new(name: &str, cfg: &ExporterConfig) -> Result<GrpcSink, ExportError> {
        let bad = |reason: String| ExportError::Config {
            exporter: name.to_string(),
            reason,
        };
        let url = cfg
            .endpoint
            .clone()
            .ok_or_else(|| bad("otlp_grpc needs an `endpoint`".into()))?;
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| bad(format!("invalid endpoint `{url}`: {e}")))?
            .connect_timeout(cfg.timeout.0)
            .tcp_nodelay(true);
        let mut metadata = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| bad(format!("header name `{k}`: {e}")))?;
            let value = AsciiMetadataValue::try_from(v.as_str())
                .map_err(|e| bad(format!("header `{k}` value: {e}")))?;
            metadata.insert(key, value);
        }
        Ok(GrpcSink {
            channel: endpoint.connect_lazy(),
            metadata,
            gzip: cfg.compression.unwrap_or(Compression::Gzip) == Compression::Gzip,
            timeout: cfg.timeout.0,
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
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_static(EXPORT_PATH),
                ExportClientCodec,
            )
            .await?;
        Ok(Accepted::from_response(response.into_inner()))
    }
}
