//! tonic codecs that move OTLP/gRPC request bodies as raw bytes: the exporter and the load
//! generator send pre-encoded requests, the counting sink reads them without decoding.

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// The method every OTLP/gRPC trace export calls.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Writes a pre-encoded message as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

/// Reads a message as bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

/// Reads an `ExportTraceServiceResponse`. The call's status was OK, so the backend took the
/// request: an unreadable body only loses the partial-success details, and reads as empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        use prost::Message;
        Ok(Some(
            ExportTraceServiceResponse::decode(src).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "undecodable OTLP/gRPC export response");
                ExportTraceServiceResponse::default()
            }),
        ))
    }
}

/// Writes pre-encoded requests as they are and reads the answers with `D`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendRaw<D>(D);

impl<D> Codec for SendRaw<D>
where
    D: Decoder<Error = Status> + Copy + Send + 'static,
    D::Item: Send + 'static,
{
    type Encode = Bytes;
    type Decode = D::Item;
    type Encoder = RawEncoder;
    type Decoder = D;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> D {
        self.0
    }
}

/// Bytes both ways: for a load generator and a counting sink.
pub type RawCodec = SendRaw<RawDecoder>;

/// A client sending pre-encoded requests and reading the response.
pub type ExportClientCodec = SendRaw<ResponseDecoder>;
