//! OTLP receivers: gRPC and HTTP front doors into the pipeline.

pub mod auth;
pub mod grpc;
pub mod handshake;
pub mod http;
