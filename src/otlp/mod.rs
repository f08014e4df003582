//! OTLP trace data: lazy span decoding, raw re-encoding, and OTLP JSON.

pub mod any_value;
pub mod encode;
pub mod grpc_codec;
pub mod ingest;
pub mod ingest_at;
mod ingest_span;
pub mod json;
pub mod model;
pub mod rejection;
pub mod repick;
pub mod rpc;
pub mod salvage;
pub mod summary;
pub mod tracestate;
pub mod validate;
pub mod wire;

pub use encode::{encode_request, OutSpan};
pub use ingest::{
    ingest, ingest_leased, ingest_retained, Ingested, Interest, MalformedRequest, Rejection,
};
pub use ingest_at::ingest_at;
pub use model::{AttrValue, Resource, Retained, Scope, Span, SpanId, TraceId};

#[cfg(test)]
mod ingest_at_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_groups;
