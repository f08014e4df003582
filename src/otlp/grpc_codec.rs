//! tonic codecs that move OTLP/gRPC request bodies as raw bytes: the exporter and the load
//! generator send pre-encoded requests, the counting sink reads them without decoding.

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
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

/// Writes a pre-encoded message whose size is known, into a buffer allocated once at that size
/// (tonic's default starts at 8 KiB and regrows, a copy each time, for large messages).
#[derive(Debug, Clone, Copy)]
pub struct SizedEncoder {
    buffer: usize,
}

/// Messages at least this large are yielded to the transport in one piece (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

impl Encoder for SizedEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(self.buffer, YIELD_THRESHOLD)
    }
}

/// The exporter's codec: sends one pre-encoded request of `len` bytes (its buffer sized for it
/// and the gRPC frame header) and reads the response.
#[derive(Debug, Clone, Copy)]
pub struct SizedExportCodec {
    encoder: SizedEncoder,
}

impl SizedExportCodec {
    pub fn new(len: usize) -> SizedExportCodec {
        SizedExportCodec {
            encoder: SizedEncoder {
                // The 5-byte frame header, and at least tonic's default.
                buffer: (len + 5).max(8 * 1024),
            },
        }
    }
}

impl Codec for SizedExportCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = SizedEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> SizedEncoder {
        self.encoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

/// Bytes both ways: for a load generator and a counting sink.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// A client sending pre-encoded requests and reading the response.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportClientCodec;

impl Codec for ExportClientCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}
