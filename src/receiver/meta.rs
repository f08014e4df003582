//! What a received request carries to the pipeline besides its body: the protocol it came by,
//! when it arrived, and its headers, for whatever later stage routes or records by them. The
//! headers are the request's own map moved out of it, never copied; credentials are removed
//! here, before the metadata leaves the receiver.

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName};
use tokio::time::Instant;

/// How a request arrived (and its `protocol` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http_protobuf",
            Protocol::HttpJson => "http_json",
        }
    }
}

/// Headers that never travel past the receiver.
const CREDENTIALS: [HeaderName; 3] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE];

/// A request's metadata, from the receiver through ingest to the pipeline.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub protocol: Protocol,
    /// When the receiver had the request's headers, before its body was read.
    pub received: Instant,
    /// The request's headers without credentials (for gRPC, its metadata).
    pub headers: HeaderMap,
}

impl RequestMeta {
    /// The metadata of a request received at `received` by `protocol` with `headers`.
    pub fn new(protocol: Protocol, received: Instant, mut headers: HeaderMap) -> RequestMeta {
        for name in &CREDENTIALS {
            headers.remove(name);
        }
        RequestMeta {
            protocol,
            received,
            headers,
        }
    }

    /// A request without headers received now (replays, tests, benchmarks); its empty map
    /// does not allocate.
    pub fn now(protocol: Protocol) -> RequestMeta {
        RequestMeta::new(protocol, Instant::now(), HeaderMap::new())
    }

    /// The value of header `name`, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_in_the_receiver() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Bearer secret".parse().unwrap());
        h.insert(COOKIE, "session=1".parse().unwrap());
        h.insert("x-tenant", "acme".parse().unwrap());
        let m = RequestMeta::new(Protocol::HttpJson, Instant::now(), h);
        assert_eq!(m.header("x-tenant"), Some("acme"));
        assert_eq!(m.header("authorization"), None);
        assert_eq!(m.header("cookie"), None);
        assert_eq!(m.headers.len(), 1);
    }
}
