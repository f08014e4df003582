//! `sink`: an OTLP/gRPC TraceService that only counts. It walks the protobuf wire format
//! (ResourceSpans -> ScopeSpans -> Span) without decoding, so it costs little CPU next to the
//! process under test. Counts go to a JSON file every 200 ms and to stdout on SIGTERM/SIGINT.

use super::codec::{RawCodec, EXPORT_PATH};
use bytes::Bytes;
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tailsift::otlp::wire::{Reader, WireError, WireType};
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::codegen::{http, BoxFuture, Service};
use tonic::Status;

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    malformed: AtomicU64,
}

/// Spans in an encoded `ExportTraceServiceRequest`.
pub fn count_spans(body: &[u8]) -> Result<u64, WireError> {
    fn each_len(
        body: &[u8],
        range: (usize, usize),
        field: u32,
        mut f: impl FnMut((usize, usize)) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        let mut r = Reader::within(body, range);
        while let Some((n, wt)) = r.next_field()? {
            if n == field && wt == WireType::Len {
                f(r.len_range()?)?;
            } else {
                r.skip(wt)?;
            }
        }
        Ok(())
    }
    let mut spans = 0;
    each_len(body, (0, body.len()), 1, |rs| {
        each_len(body, rs, 2, |ss| {
            each_len(body, ss, 2, |_| {
                spans += 1;
                Ok(())
            })
        })
    })?;
    Ok(spans)
}

struct CountMethod(Arc<Counts>);

impl tonic::server::UnaryService<Bytes> for CountMethod {
    type Response = Bytes;
    type Future = std::future::Ready<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let body = request.into_inner();
        let c = &self.0;
        std::future::ready(match count_spans(&body) {
            Ok(n) => {
                c.spans.fetch_add(n, Relaxed);
                c.requests.fetch_add(1, Relaxed);
                c.bytes.fetch_add(body.len() as u64, Relaxed);
                // An empty ExportTraceServiceResponse encodes to no bytes: full success.
                Ok(tonic::Response::new(Bytes::new()))
            }
            Err(e) => {
                c.malformed.fetch_add(1, Relaxed);
                Err(Status::invalid_argument(format!("malformed request: {e}")))
            }
        })
    }
}

#[derive(Clone)]
struct SinkService(Arc<Counts>);

impl tonic::server::NamedService for SinkService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for SinkService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async move {
                Ok(Status::unimplemented("only TraceService/Export is served").into_http())
            });
        }
        let method = CountMethod(self.0.clone());
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(RawCodec::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(256 << 20), None);
            Ok(grpc.unary(method, req).await)
        })
    }
}

fn snapshot(c: &Counts, started: Instant) -> serde_json::Value {
    json!({
        "spans": c.spans.load(Relaxed),
        "requests": c.requests.load(Relaxed),
        "bytes": c.bytes.load(Relaxed),
        "malformed": c.malformed.load(Relaxed),
        "uptime_s": started.elapsed().as_secs_f64(),
    })
}

fn write_atomically(path: &PathBuf, text: &str) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Serves until SIGTERM/SIGINT, then prints the final counts as JSON.
pub async fn run(listen: SocketAddr, stats_file: Option<PathBuf>) -> Result<(), String> {
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("tailsift-loadgen sink listening on {addr}");
    if let Some(path) = stats_file.clone() {
        let c = counts.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                write_atomically(&path, &snapshot(&c, started).to_string());
            }
        });
    }
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .add_service(SinkService(counts.clone()))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("sink server: {e}"))?;
    let last = snapshot(&counts, started).to_string();
    if let Some(path) = &stats_file {
        write_atomically(path, &last);
    }
    println!("{last}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailsift::fixtures;

    #[test]
    fn counts_spans_across_resources_and_scopes() {
        let mut req = fixtures::request("a", fixtures::pipeline_trace(1, 5, false));
        let more = fixtures::request("b", fixtures::pipeline_trace(2, 3, true));
        req.resource_spans.extend(more.resource_spans);
        let mut scope = req.resource_spans[0].scope_spans[0].clone();
        scope.spans.truncate(2);
        req.resource_spans[0].scope_spans.push(scope);
        assert_eq!(count_spans(&fixtures::encode(&req)), Ok(10));
        assert_eq!(count_spans(&[]), Ok(0));
        assert!(count_spans(&[0x0a, 0x05, 1]).is_err());
    }
}
