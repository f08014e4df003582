//! The OTLP/gRPC backend the end-to-end benchmarks export to: it counts the spans it receives.
//! Included by `allocations.rs` and `instructions.rs` (`#[path]`), not a benchmark itself.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tailsift::fixtures;

/// Counts the spans it receives.
#[derive(Clone, Default)]
pub struct Sink(Arc<AtomicU64>);

impl Sink {
    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Serves OTLP/gRPC on a free port of 127.0.0.1 (on the current runtime); returns the
    /// address.
    pub async fn serve(&self) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let incoming = futures::stream::unfold(l, |l| async move {
            let accepted = l.accept().await.map(|(s, _)| s);
            Some((accepted, l))
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()))
                .serve_with_incoming(incoming),
        );
        addr
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n = fixtures::spans_of(req.get_ref()).len();
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}
