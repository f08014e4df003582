//! Sending hostile requests over every transport, and judging the daemon's answers: any 4xx
//! (or a gRPC client-error code) is a fine answer to bad input; a 5xx, a gRPC INTERNAL or
//! UNKNOWN for well-framed input, or a dropped connection is a failure of the daemon.

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::transport::Channel;

use crate::support::EXPORT_PATH;

/// An HTTP/1.1 client keeping its connections alive between requests.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// How long one hostile request may take before it counts as a failure (the daemon must not
/// hang on bad input).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// `POST /v1/traces`; `Err` describes a failure of the daemon. A connection that fails is
/// tried once more on a fresh connection (a pooled keep-alive connection may be closed just as
/// it is reused); a request the daemon drops twice is a failure.
pub async fn http(
    client: &HttpClient,
    addr: SocketAddr,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: Vec<u8>,
) -> Result<u16, String> {
    let body = Bytes::from(body);
    let first = post(client, addr, content_type, content_encoding, body.clone()).await;
    let (status, text) = match first {
        Err(e) if e.starts_with("connection failed") => {
            post(&http_client(), addr, content_type, content_encoding, body)
                .await
                .map_err(|again| format!("{e}; on a fresh connection: {again}"))?
        }
        other => other?,
    };
    if status >= 500 {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&text)));
    }
    Ok(status)
}

async fn post(
    client: &HttpClient,
    addr: SocketAddr,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let mut req = http::Request::post(format!("http://{addr}/v1/traces"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(ce) = content_encoding {
        req = req.header("content-encoding", ce);
    }
    let req = req.body(Full::new(body)).expect("request");
    let call = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("connection failed: {e:?}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?;
        Ok::<_, String>((status, body.to_bytes()))
    };
    tokio::time::timeout(ANSWER_WITHIN, call)
        .await
        .map_err(|_| format!("no answer within {ANSWER_WITHIN:?}"))?
}

/// One gRPC length-prefixed message frame.
pub fn frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(compressed as u8);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.to_vec()
}

/// A gRPC `TraceService/Export` call with raw headers and body (frames as given, possibly
/// lying); returns the grpc-status. `well_framed` says whether the frames are honest, so that
/// INTERNAL (tonic's answer to a broken frame) counts as a failure only then.
pub async fn grpc(
    channel: &mut Channel,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
    well_framed: bool,
) -> Result<i32, String> {
    use tonic::codegen::Service;
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://attack{EXPORT_PATH}"))
        .header("content-type", content_type)
        .header("te", "trailers");
    if let Some(e) = encoding {
        req = req.header("grpc-encoding", e);
    }
    let req = req
        .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
        .expect("request");
    let call = async {
        futures::future::poll_fn(|cx| channel.poll_ready(cx))
            .await
            .map_err(|e| format!("channel: {e}"))?;
        let resp = channel.call(req).await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let head = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e:?}"))?;
        let trailers = body.trailers().cloned().unwrap_or_default();
        Ok::<_, String>((status, head, trailers))
    };
    let (status, head, trailers) = tokio::time::timeout(ANSWER_WITHIN, call)
        .await
        .map_err(|_| format!("no answer within {ANSWER_WITHIN:?}"))??;
    if status >= 500 {
        return Err(format!("HTTP {status} on the gRPC port"));
    }
    let code = head
        .get("grpc-status")
        .or_else(|| trailers.get("grpc-status"))
        .and_then(|v| v.to_str().ok()?.parse::<i32>().ok());
    let message = head
        .get("grpc-message")
        .or_else(|| trailers.get("grpc-message"))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    match code {
        None if status == 200 => Err("no grpc-status".to_string()),
        None => Ok(-(status as i32)),
        // UNKNOWN: a handler that failed without saying why (a panic, in tonic).
        Some(2) => Err(format!("UNKNOWN: {message}")),
        Some(13) if well_framed => Err(format!("INTERNAL for well-framed input: {message}")),
        Some(c) => Ok(c),
    }
}

/// A channel to the gRPC receiver (connects lazily, reconnects after a connection is reset).
pub fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy()
}
