//! The OTLP/gRPC backend the end-to-end benchmarks export to: it takes what the daemon's
//! exporter sends by default (gzip; zstd too), counts the spans, and lets a benchmark wait
//! until everything decided has arrived and check that it did. Included by `allocations.rs`
//! and `instructions.rs` (`#[path]`), not a benchmark itself.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic::codec::CompressionEncoding;

/// Counts the spans it receives.
#[derive(Clone, Default)]
pub struct Sink(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n = tailsift::fixtures::spans_of(req.get_ref()).len();
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Sink {
    /// Serves OTLP/gRPC on a free port of 127.0.0.1 (on the current runtime); returns the
    /// address.
    pub async fn serve(&self) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let incoming = futures::stream::unfold(l, |l| async move {
            let accepted = l.accept().await.map(|(s, _)| s);
            Some((accepted, l))
        });
        let service = TraceServiceServer::new(self.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        addr
    }

    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Waits until the count has stayed the same for `stable` polls in a row, at least `min`
    /// spans have arrived, or about five minutes have passed.
    pub async fn settle(&self, min: u64, stable: u32) {
        let (mut last, mut same) = (u64::MAX, 0);
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.spans();
            if now == last && now >= min {
                same += 1;
                if same >= stable {
                    return;
                }
            } else {
                same = 0;
            }
            last = now;
        }
    }

    /// Panics unless the spans received since `before` are what keeping errors + 10% of
    /// `sent` spans gives (between 5% and 20% of them): a benchmark whose exports failed would
    /// measure the failure path, not the daemon's.
    pub fn check_kept(&self, before: u64, sent: u64) {
        let got = self.spans() - before;
        let share = got as f64 / sent as f64;
        assert!(
            (0.05..=0.2).contains(&share),
            "the sink received {got} of {sent} spans sent ({:.1}%), not about 11%: exports failed?",
            share * 100.0
        );
    }
}
