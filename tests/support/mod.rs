//! Shared by the integration tests: the real daemon on 127.0.0.1:0 with a YAML config, clients
//! for its receivers, in-process OTLP sinks, bounded polling, and a `/metrics` parser.
#![allow(dead_code)]

pub mod certs;
pub mod client;
pub mod isolation;
pub mod logs;
pub mod proc;
pub mod prom;
pub mod sink;
pub mod tls_client;
pub mod yaml;

#[allow(unused_imports)]
pub use client::*;
#[allow(unused_imports)]
pub use isolation::{exclusive, shared};
#[allow(unused_imports)]
pub use prom::Metrics;
#[allow(unused_imports)]
pub use sink::{FileSink, GrpcSink, HttpSink, Sink};
#[allow(unused_imports)]
pub use yaml::{grpc_exporter, KEEP_ERRORS, QUICK_SAMPLING};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tailsift::server::{Listeners, RunError, Summary};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Receivers on free local ports, used unless the test's YAML has its own `receivers:`.
pub const RECEIVERS: &str = r#"
receivers:
  otlp:
    grpc: { endpoint: "127.0.0.1:0" }
    http: { endpoint: "127.0.0.1:0" }
"#;

/// The metrics endpoint on a free local port, used unless the YAML has its own `telemetry:`.
pub const TELEMETRY: &str = r#"
telemetry:
  metrics: { endpoint: "127.0.0.1:0" }
"#;

/// How long a test waits for something that should happen well within it.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The daemon (`tailsift::server::run`) running in this process's runtime.
pub struct Daemon {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<Summary, RunError>>>,
    _isolation: isolation::Shared,
}

impl Daemon {
    /// Parses (and validates) `yaml`, binds its listeners and runs the daemon. `receivers:` and
    /// `telemetry:` default to [`RECEIVERS`] and [`TELEMETRY`].
    pub async fn start(yaml: &str) -> Daemon {
        Daemon::start_with_faults(yaml, tailsift::server::Faults::default()).await
    }

    /// [`Daemon::start`], with faults the test can inject into the daemon's tasks.
    pub async fn start_with_faults(yaml: &str, faults: tailsift::server::Faults) -> Daemon {
        let isolation = isolation::shared().await;
        let mut text = String::new();
        let has = |key: &str| yaml.lines().any(|l| l.starts_with(key));
        if !has("receivers:") {
            text.push_str(RECEIVERS);
        }
        if !has("telemetry:") {
            text.push_str(TELEMETRY);
        }
        text.push_str(yaml);
        let config = tailsift::config::parse(&text, "test config")
            .unwrap_or_else(|e| panic!("invalid test config: {e}\n{text}"));
        let listeners = Listeners::bind(&config).await.expect("bind 127.0.0.1:0");
        let (grpc, http, metrics) = listeners.addrs();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(tailsift::server::run_with_faults(
            config,
            listeners,
            async move {
                let _ = rx.await;
            },
            faults,
        ));
        let daemon = Daemon {
            grpc: grpc.expect("gRPC receiver configured"),
            http: http.expect("HTTP receiver configured"),
            metrics: metrics.expect("metrics endpoint configured"),
            stop: Some(tx),
            task: Some(task),
            _isolation: isolation,
        };
        // The sockets accept at once; the daemon is started once it says it is ready.
        let ready = wait_for_async(PATIENCE, || async {
            http_get(daemon.metrics, "/readyz").await.status == 200
        })
        .await;
        assert!(ready, "/readyz is 200 within {PATIENCE:?} of the start");
        daemon
    }

    /// Triggers the staged shutdown and waits (bounded) for `run` to return.
    pub async fn stop(mut self) -> Summary {
        self.try_stop().await.expect("clean shutdown")
    }

    /// Like [`Daemon::stop`], returning `run`'s error instead of panicking on it.
    pub async fn try_stop(&mut self) -> Result<Summary, RunError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.finished().await
    }

    /// Waits (bounded) for `run` to return by itself, without asking it to stop.
    pub async fn finished(&mut self) -> Result<Summary, RunError> {
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the daemon stops within 30s")
            .expect("the daemon task does not panic")
    }

    /// Sends `req` over `t`; the answer (possibly a partial success) or the refusal.
    pub async fn send(
        &self,
        t: Transport,
        req: &ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, Refused> {
        match t {
            Transport::Grpc => export_grpc(self.grpc, req).await.map_err(Refused::Grpc),
            Transport::HttpProtobuf => export_http(self.http, false, req)
                .await
                .map_err(Refused::Http),
            Transport::HttpJson => export_http(self.http, true, req)
                .await
                .map_err(Refused::Http),
        }
    }

    /// Sends `req` over `t` and insists on a full success.
    pub async fn send_ok(&self, t: Transport, req: &ExportTraceServiceRequest) {
        match self.send(t, req).await {
            Ok(r) => assert!(
                r.partial_success.is_none(),
                "{t:?}: unexpected partial success {:?}",
                r.partial_success
            ),
            Err(e) => panic!("{t:?}: request refused: {e:?}"),
        }
    }

    /// Scrapes `/metrics`.
    pub async fn scrape(&self) -> Metrics {
        let r = http_get(self.metrics, "/metrics").await;
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        Metrics::parse(&r.text()).since_baseline()
    }
}

/// Polls `cond` every 10ms until it holds (true) or `within` passed (false).
pub async fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls an async `cond` every 20ms until it holds (true) or `within` passed (false).
pub async fn wait_for_async<F: Future<Output = bool>>(
    within: Duration,
    mut cond: impl FnMut() -> F,
) -> bool {
    let until = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A span's trace id as a number (the fixtures' `span(trace, ..)` argument).
pub fn trace_of(span: &Span) -> u128 {
    u128::from_be_bytes(
        span.trace_id
            .as_slice()
            .try_into()
            .expect("16-byte trace id"),
    )
}

/// A span's id as a number.
pub fn span_id_of(span: &Span) -> u64 {
    u64::from_be_bytes(span.span_id.as_slice().try_into().expect("8-byte span id"))
}

/// The `sampling.rule` annotation of a kept span.
pub fn rule_of(span: &Span) -> Option<&str> {
    tailsift::fixtures::attr_str(span, "sampling.rule")
}

/// The integer value of a span attribute.
pub fn attr_int(span: &Span, key: &str) -> Option<i64> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::IntValue(i) => Some(*i),
            _ => None,
        })
}

/// Spans grouped by trace id.
pub fn by_trace(spans: &[Span]) -> BTreeMap<u128, Vec<Span>> {
    let mut m: BTreeMap<u128, Vec<Span>> = BTreeMap::new();
    for s in spans {
        m.entry(trace_of(s)).or_default().push(s.clone());
    }
    m
}

/// For each trace: its span ids (sorted) and the `sampling.rule` values of its spans (deduped).
pub fn summary(spans: &[Span]) -> BTreeMap<u128, (Vec<u64>, Vec<String>)> {
    by_trace(spans)
        .into_iter()
        .map(|(t, spans)| {
            let mut ids: Vec<u64> = spans.iter().map(span_id_of).collect();
            ids.sort_unstable();
            let mut rules: Vec<String> = spans
                .iter()
                .map(|s| rule_of(s).unwrap_or("<none>").to_string())
                .collect();
            rules.sort();
            rules.dedup();
            (t, (ids, rules))
        })
        .collect()
}

/// A trace id with `tag` in the high 64 bits and `n` in the low 64 (randomness included).
pub fn id128(tag: u128, n: u128) -> u128 {
    (tag << 64) | n
}
