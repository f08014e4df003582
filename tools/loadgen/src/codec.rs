//! The raw-bytes codec the load generator and the counting sink use (the library's).

pub use tailsift::otlp::grpc_codec::{RawCodec, EXPORT_PATH};
