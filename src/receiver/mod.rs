//! OTLP receivers: gRPC and HTTP front doors into the pipeline, and the accept loop they share.

mod activity;
pub mod auth;
pub mod body;
pub mod fds;
pub mod grpc;
pub mod handshake;
pub mod http;
pub mod inflight;
pub mod meta;
pub mod serve;
