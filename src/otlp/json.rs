//! OTLP/JSON: conversion between the JSON encoding (hex ids, camelCase, enums as numbers) and protobuf.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Parses an OTLP/JSON export request and returns its protobuf encoding.
pub fn json_to_protobuf(json: &[u8]) -> Result<Bytes, serde_json::Error> {
    let req: ExportTraceServiceRequest = serde_json::from_slice(json)?;
    Ok(Bytes::from(req.encode_to_vec()))
}

/// Renders an encoded export request as one line of OTLP/JSON.
pub fn protobuf_to_json(body: &[u8]) -> Result<String, prost::DecodeError> {
    let req = ExportTraceServiceRequest::decode(body)?;
    Ok(serde_json::to_string(&req).expect("OTLP types always serialize"))
}
