//! The `google.rpc` messages OTLP uses for errors, declared once: `Status` (the body of an
//! OTLP/HTTP error, the details of a gRPC status), `Any`, `RetryInfo` and
//! `google.protobuf.Duration`.

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: how long a client should wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<Duration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The type URL of [`RetryInfo`] inside an [`Any`].
pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RetryInfo {
    /// `RetryInfo` with a delay of `seconds`, packed in an [`Any`].
    pub fn any_after_secs(seconds: i64) -> Any {
        use prost::Message;
        let info = RetryInfo {
            retry_delay: Some(Duration { seconds, nanos: 0 }),
        };
        Any {
            type_url: RETRY_INFO_TYPE_URL.into(),
            value: info.encode_to_vec(),
        }
    }
}
