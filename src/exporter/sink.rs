//! The three export destinations behind one enum, and what a successful attempt reports.

use super::file::FileSink;
use super::otlp_grpc::GrpcSink;
use super::otlp_http::HttpSink;
use super::ExportError;
use crate::config::exporter::Target;
use crate::config::ExporterConfig;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

/// A successful attempt; `rejected_spans > 0` is an OTLP partial success.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub rejected_spans: usize,
    pub error_message: String,
}

impl Accepted {
    pub(crate) fn from_response(r: ExportTraceServiceResponse) -> Accepted {
        match r.partial_success {
            Some(p) => Accepted {
                rejected_spans: p.rejected_spans.max(0) as usize,
                error_message: p.error_message,
            },
            None => Accepted::default(),
        }
    }
}

pub(crate) enum Sink {
    Grpc(GrpcSink),
    Http(Box<HttpSink>),
    File(FileSink),
    #[cfg(test)]
    Fake(std::sync::Arc<fake::FakeSink>),
}

impl Sink {
    pub(crate) fn new(name: &str, cfg: &ExporterConfig) -> Result<Sink, ExportError> {
        // Validation accepted the config: a problem here means it was built another way.
        let target = cfg.target().map_err(|problems| ExportError::Config {
            exporter: name.to_string(),
            reason: problems
                .iter()
                .map(|p| format!("{}: {p}", p.key()))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        let timeout = cfg.timeout.get();
        Ok(match target {
            Target::OtlpGrpc(o) => Sink::Grpc(GrpcSink::new(name, &o, timeout)?),
            Target::OtlpHttp(o) => Sink::Http(Box::new(HttpSink::new(name, &o, timeout)?)),
            Target::File { path } => Sink::File(FileSink::new(name, path)?),
        })
    }

    /// Turns a batch into what every attempt sends (compressed once).
    pub(crate) async fn prepare(&self, body: Bytes) -> Result<Bytes, ExportError> {
        match self {
            Sink::Grpc(s) => s.prepare(body).await,
            Sink::Http(s) => s.prepare(body).await,
            _ => Ok(body),
        }
    }

    /// One attempt. The caller bounds it with the exporter's timeout.
    pub(crate) async fn export(&self, body: Bytes) -> Result<Accepted, ExportError> {
        match self {
            Sink::Grpc(s) => s.export(body).await,
            Sink::Http(s) => s.export(body).await,
            Sink::File(s) => s.export(body).await,
            #[cfg(test)]
            Sink::Fake(s) => s.export(body).await,
        }
    }
}

/// A scripted sink for testing the pipeline under paused time.
#[cfg(test)]
pub(crate) mod fake {
    use super::{Accepted, ExportError};
    use bytes::Bytes;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::time::Instant;

    #[derive(Default)]
    pub(crate) struct FakeSink {
        /// Answers in order; once empty, every attempt succeeds.
        pub script: Mutex<VecDeque<Result<Accepted, ExportError>>>,
        /// How long each attempt takes.
        pub latency: Duration,
        /// When each attempt started, with the body it carried.
        pub calls: Mutex<Vec<(Instant, Bytes)>>,
        inflight: AtomicUsize,
        pub max_inflight: AtomicUsize,
    }

    impl FakeSink {
        pub(crate) fn new(
            latency: Duration,
            script: Vec<Result<Accepted, ExportError>>,
        ) -> FakeSink {
            FakeSink {
                script: Mutex::new(script.into()),
                latency,
                ..FakeSink::default()
            }
        }

        pub(crate) fn call_times(&self) -> Vec<Instant> {
            self.calls.lock().unwrap().iter().map(|c| c.0).collect()
        }

        pub(crate) async fn export(&self, body: Bytes) -> Result<Accepted, ExportError> {
            self.calls.lock().unwrap().push((Instant::now(), body));
            let now = self.inflight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_inflight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.latency).await;
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            self.script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok(Accepted::default()))
        }
    }
}
