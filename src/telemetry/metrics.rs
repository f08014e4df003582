//! The Prometheus recorder (installed once per process) and the HTTP endpoints that serve it
//! together with `/healthz` and `/readyz`.

use super::names;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

const LATENESS_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
];

/// How often histogram samples are folded into their buckets (also done at each scrape).
pub const UPKEEP_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the global Prometheus recorder (first call) and returns its handle.
pub fn recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::DECISION_DELAY.into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(names::EXPORTER_REQUEST_DURATION.into()),
                        LATENCY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(names::DECISION_LATENESS.into()),
                        LATENESS_BUCKETS,
                    )
                })
                .expect("static bucket lists are not empty");
            let recorder = builder.build_recorder();
            super::describe::describe(&recorder);
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Shared readiness: ready once serving, not ready while overloaded or shutting down, or
/// once one of the daemon's tasks has failed (then `/readyz` says which).
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    overloaded: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    failed: Arc<Mutex<Option<String>>>,
    /// A remark `/readyz` adds while ready (the cluster bus is down).
    detail: Arc<Mutex<Option<Detail>>>,
}

/// What `/readyz` adds to its answer, asked at each probe.
pub type Detail = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl Health {
    pub fn new(overloaded: Arc<dyn Fn() -> bool + Send + Sync>) -> Self {
        Health {
            ready: Arc::new(AtomicBool::new(false)),
            overloaded: Some(overloaded),
            failed: Arc::default(),
            detail: Arc::default(),
        }
    }
    /// Sets the remark `/readyz` adds (it stays ready).
    pub fn set_detail(&self, detail: Detail) {
        *self.detail.lock().unwrap_or_else(|p| p.into_inner()) = Some(detail);
    }
    fn detail(&self) -> Option<String> {
        let d = self
            .detail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        d.and_then(|f| f())
    }
    /// Not ready for good: a task the daemon needs has stopped.
    pub fn fail(&self, reason: String) {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        self.set_ready(false);
    }
    /// Why the daemon is not ready, when a task failed.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.overloaded.as_ref().is_some_and(|f| f())
    }
}

#[derive(Clone)]
struct Ctx {
    handle: PrometheusHandle,
    health: Health,
}

/// `/metrics`, `/healthz` and `/readyz`.
pub fn router(handle: PrometheusHandle, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(Ctx { handle, health })
}

async fn render(State(ctx): State<Ctx>) -> impl IntoResponse {
    ctx.handle.run_upkeep();
    let mut body = ctx.handle.render();
    super::dynamic::render(&mut body);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn ready(State(ctx): State<Ctx>) -> impl IntoResponse {
    if ctx.health.is_ready() {
        match ctx.health.detail() {
            Some(d) => (StatusCode::OK, format!("ready ({d})\n")),
            None => (StatusCode::OK, "ready\n".to_string()),
        }
    } else if let Some(why) = ctx.health.failure() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string())
    }
}
