//! OTLP/JSON: conversion between the JSON encoding (hex ids, camelCase, enums as numbers) and
//! protobuf. Incoming JSON is transcoded in one streaming pass (no message is built in memory),
//! so a hostile body costs about its own size; outgoing JSON (the file exporter, `simulate`)
//! goes through prost's types, since it renders batches tailsift encoded itself.

mod fields;
mod render;
mod scalar;
mod transcode;

use bytes::Bytes;
use serde::de::DeserializeSeed;

/// Deepest JSON nesting (objects and arrays) accepted: `serde_json`'s recursion limit. It is
/// above what a request that passes ingest's checks needs (attribute values nested
/// `validate::MAX_DEPTH` deep take about 11 + 3 x 32 levels).
pub const MAX_NESTING: usize = 128;

/// Why an OTLP/JSON body could not be transcoded.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("JSON nested deeper than {MAX_NESTING} levels (line {line}, column {column})")]
    TooDeep { line: usize, column: usize },
    #[error("{0}")]
    Invalid(serde_json::Error),
}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        if e.to_string().starts_with("recursion limit exceeded") {
            JsonError::TooDeep {
                line: e.line(),
                column: e.column(),
            }
        } else {
            JsonError::Invalid(e)
        }
    }
}

/// Transcodes an OTLP/JSON `ExportTraceServiceRequest` to its protobuf encoding.
///
/// Follows the OTLP/JSON rules: lowerCamelCase keys (the proto's snake_case names are accepted
/// too), ids in hex, enums as numbers or names, 64-bit integers as numbers or strings, doubles
/// as numbers or `"NaN"`, `"Infinity"`, `"-Infinity"`, bytes in base64, unknown keys ignored,
/// `null` as an absent field. A span id, trace id or parent span id that is not hex does not
/// refuse the request: that span is encoded with an empty id, which ingest rejects alone
/// (partial success). The output is never larger than about the input.
pub fn json_to_protobuf(json: &[u8]) -> Result<Bytes, JsonError> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    transcode::Msg {
        out: &mut out,
        kind: fields::Kind::Request,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(Bytes::from(out))
}

pub use render::protobuf_to_json;

#[cfg(test)]
mod tests;
