//! The daemon: binds listeners, runs receivers, the decision ticker and exporters, and shuts
//! down in stages (stop receiving, decide everything buffered, flush exporters by a deadline).

use crate::config::Config;
use crate::decide::Decider;
use crate::exporter::{ExportError, Exporters, ShutdownReport};
use crate::pipeline::Pipeline;
use crate::receiver;
use crate::receiver::handshake::Plain;
use crate::receiver::serve::{ConnLimits, Versions};
use crate::rules::CompileError;
use crate::supervise::Tasks;
use crate::telemetry::metrics::{self, Health};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {what} {endpoint}: {source}")]
    Bind {
        what: &'static str,
        endpoint: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Rules(#[from] CompileError),
    #[error("tail_sampling: {0}")]
    Policies(#[from] crate::collector::PolicyCompileError),
    #[error("exporters: {0}")]
    Exporter(#[from] ExportError),
    /// A receiver or the decision ticker stopped while the daemon ran; what was buffered was
    /// decided and flushed before returning.
    #[error("{reason}; buffered traces were decided and flushed before stopping")]
    TaskFailed {
        reason: String,
        export: ShutdownReport,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// How long a request waits for a decoding slot before it is refused retryably.
const DECODE_SLOT_WAIT: Duration = Duration::from_secs(1);

/// How long requests in flight may take to finish once shutdown begins.
const RECEIVER_GRACE: Duration = Duration::from_secs(5);

/// The daemon's bound sockets. Tests bind `127.0.0.1:0` and read the addresses back.
pub struct Listeners {
    pub grpc: Option<TcpListener>,
    pub http: Option<TcpListener>,
    pub metrics: Option<TcpListener>,
}

async fn bind(what: &'static str, endpoint: &str) -> Result<TcpListener, RunError> {
    TcpListener::bind(endpoint)
        .await
        .map_err(|source| RunError::Bind {
            what,
            endpoint: endpoint.to_string(),
            source,
        })
}

impl Listeners {
    /// Binds every endpoint the config names.
    pub async fn bind(config: &Config) -> Result<Listeners, RunError> {
        let r = &config.receivers.otlp;
        Ok(Listeners {
            grpc: match &r.grpc {
                Some(g) => Some(bind("the OTLP/gRPC receiver", &g.endpoint).await?),
                None => None,
            },
            http: match &r.http {
                Some(h) => Some(bind("the OTLP/HTTP receiver", &h.endpoint).await?),
                None => None,
            },
            metrics: match &config.telemetry.metrics {
                Some(m) => Some(bind("the metrics endpoint", &m.endpoint).await?),
                None => None,
            },
        })
    }

    /// The bound addresses (gRPC, HTTP, metrics).
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        let a = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        (a(&self.grpc), a(&self.http), a(&self.metrics))
    }
}

/// A listener's address as logged: `127.0.0.1:4317`.
fn local_addr(l: &TcpListener) -> String {
    l.local_addr()
        .map_or_else(|e| format!("unknown ({e})"), |a| a.to_string())
}

/// The decider the config asks for: the Collector-compatible `tail_sampling` policies or the
/// ordered rules.
pub fn decider(config: &Config) -> Result<Arc<dyn Decider>, RunError> {
    Ok(crate::reload::Engine::compile(config)?.decider())
}

/// A receiver's TLS config and tokens (`name`: grpc or http).
type Security = (Option<crate::tls::ServerTls>, Option<receiver::auth::Auth>);

/// Loads a receiver's TLS config and tokens; an error names the key and the file.
fn receiver_security(
    cfg: &crate::config::ReceiverEndpoint,
    name: &str,
) -> Result<Security, RunError> {
    let p = format!("receivers.otlp.{name}");
    let alpn = if name == "grpc" {
        crate::tls::ALPN_GRPC
    } else {
        crate::tls::ALPN_HTTP
    };
    let tls = match &cfg.tls {
        Some(t) => Some(crate::tls::start_server(t, &format!("{p}.tls"), alpn)?),
        None => None,
    };
    let auth = match &cfg.auth {
        Some(a) => Some(receiver::auth::start(a, &format!("{p}.auth"))?),
        None => None,
    };
    Ok((tls, auth))
}

/// Serves one receiver through the accept loop: plaintext, or TLS when `tls` is set.
async fn serve_receiver<S, B>(
    l: tokio::net::TcpListener,
    tls: Option<crate::tls::ServerTls>,
    svc: S,
    limits: ConnLimits,
    versions: Versions,
    label: &'static str,
    stop: impl Future<Output = ()>,
) where
    S: crate::receiver::serve::HttpService<B>,
    B: crate::receiver::serve::ResponseBody,
{
    match tls {
        Some(t) => {
            let h = crate::tls::TlsHandshake::new(t);
            receiver::serve::serve(l, h, svc, limits, versions, label, stop).await
        }
        None => receiver::serve::serve(l, Plain, svc, limits, versions, label, stop).await,
    }
}

/// What a clean shutdown accomplished.
#[derive(Debug)]
pub struct Summary {
    pub export: ShutdownReport,
    /// Storage was on: spans not delivered by `shutdown_timeout` stay in the log for the next
    /// start instead of being dropped.
    pub kept_on_disk: bool,
}

/// Faults a test can inject: when a sender fires (or is dropped), the named task panics, as a
/// bug would make it. The daemon must notice, turn `/readyz` to 503, decide and flush what it
/// holds, and return an error.
#[derive(Default)]
pub struct Faults {
    pub ticker: Option<oneshot::Receiver<()>>,
    pub receiver: Option<oneshot::Receiver<()>>,
}

/// Runs the daemon until `shutdown` completes, then shuts down in stages.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, RunError> {
    run_with_faults(config, listeners, shutdown, Faults::default()).await
}

/// Panics when `fault` fires; pending for ever without one.
async fn injected(fault: Option<oneshot::Receiver<()>>) {
    match fault {
        Some(rx) => {
            let _ = rx.await;
            panic!("fault injected by a test");
        }
        None => std::future::pending().await,
    }
}

/// [`run`], reloading the config from `source` on SIGHUP or when the file changes.
pub async fn run_reloadable(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    source: crate::reload::Source,
) -> Result<Summary, RunError> {
    run_inner(config, listeners, shutdown, Faults::default(), Some(source)).await
}

/// [`run`], with test faults.
pub async fn run_with_faults(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    faults: Faults,
) -> Result<Summary, RunError> {
    run_inner(config, listeners, shutdown, faults, None).await
}

async fn run_inner(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    faults: Faults,
    source: Option<crate::reload::Source>,
) -> Result<Summary, RunError> {
    let handle = metrics::recorder();
    crate::telemetry::startup::register(&config);
    let engine = crate::reload::Engine::compile(&config)?;
    let rules = engine.decider();
    let storage = config
        .storage
        .as_ref()
        .map(crate::storage::Storage::open)
        .transpose()?;
    let exporters = Exporters::start(&config.exporters, storage.is_some())?;
    let cluster = config.cluster.as_ref().map(|c| {
        let group = crate::sampler::group::GroupShare::default();
        rules.join_group(&group);
        Arc::new(crate::cluster::Cluster::new(
            c,
            &config.sampling,
            rules.clone(),
            group,
        ))
    });
    let mut pipeline = Pipeline::new(&config, rules, exporters);
    if let Some(c) = &cluster {
        pipeline = pipeline.with_cluster(c.clone());
    }
    let mut replay = None;
    if let Some((s, r)) = storage {
        pipeline = pipeline.with_storage(Arc::new(s));
        replay = Some(r);
    }
    let pipeline = Arc::new(pipeline);
    let health = Health::new({
        let p = Arc::downgrade(&pipeline);
        Arc::new(move || p.upgrade().is_some_and(|p| p.refusing()))
    });
    let (bus_stop_tx, bus_stop_rx) = watch::channel(false);
    let bus_task = cluster.as_ref().map(|c| {
        let detail = Arc::downgrade(c);
        health.set_detail(Arc::new(move || detail.upgrade().and_then(|c| c.readiness_detail())));
        tracing::info!(nats = %c.cfg.nats, group = %c.cfg.group, instance = %c.instance, "cluster: sharing decisions over NATS");
        tokio::spawn(crate::cluster::bus::run(c.clone(), bus_stop_rx))
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // TLS and tokens are loaded before anything is served: a bad file stops the start.
    let r = &config.receivers.otlp;
    let mut grpc_security = r
        .grpc
        .as_ref()
        .map(|c| receiver_security(c, "grpc"))
        .transpose()?;
    let mut http_security = r
        .http
        .as_ref()
        .map(|c| receiver_security(c, "http"))
        .transpose()?;
    let metrics_auth = match config
        .telemetry
        .metrics
        .as_ref()
        .and_then(|m| m.auth.as_ref())
    {
        Some(a) => Some(receiver::auth::start(a, "telemetry.metrics.auth")?),
        None => None,
    };
    let mut tasks = Tasks::default();
    let mut receiver_fault = Some(faults.receiver);
    let nofile = receiver::fds::raise_nofile_limit();
    let count = r.grpc.is_some() as u64 + r.http.is_some() as u64;
    let conn_limits = |cfg: &crate::config::ReceiverEndpoint| ConnLimits {
        max_connections: cfg
            .max_connections
            .unwrap_or_else(|| receiver::fds::default_max_connections(nofile, count)),
        header_read_timeout: cfg.header_read_timeout.get(),
        idle_timeout: cfg.idle_timeout.get(),
    };
    let request_limits = |cfg: &crate::config::ReceiverEndpoint| receiver::body::RequestLimits {
        max_request_bytes: cfg.max_request_bytes.get() as usize,
        body_read_timeout: cfg.body_read_timeout.get(),
        decoders: receiver::body::Decoders::new(
            cfg.decode_concurrency
                .unwrap_or_else(receiver::body::default_decode_slots),
            DECODE_SLOT_WAIT,
        ),
    };
    if let (Some(l), Some(cfg)) = (listeners.grpc, &r.grpc) {
        let addr = local_addr(&l);
        let svc = receiver::grpc::TraceService::new(pipeline.clone(), request_limits(cfg));
        let (tls, auth) = grpc_security.take().unwrap_or_default();
        let limits = conn_limits(cfg);
        let stop = stopped(stop_rx.clone());
        let fault = injected(receiver_fault.take().flatten());
        tracing::info!(%addr, tls = tls.is_some(), max_connections = limits.max_connections, "OTLP/gRPC receiver listening");
        tasks.spawn("the OTLP/gRPC receiver", async move {
            let serve = async move {
                match auth {
                    Some(a) => {
                        let svc = receiver::auth::RequireToken::new(svc, a);
                        serve_receiver(l, tls, svc, limits, Versions::Http2, "grpc", stop).await
                    }
                    None => {
                        serve_receiver(l, tls, svc, limits, Versions::Http2, "grpc", stop).await
                    }
                }
            };
            tokio::select! {
                _ = serve => Ok(()),
                _ = fault => Ok(()),
            }
        });
    }
    if let (Some(l), Some(cfg)) = (listeners.http, &r.http) {
        let addr = local_addr(&l);
        let mut app = receiver::http::router(pipeline.clone(), request_limits(cfg));
        let (tls, auth) = http_security.take().unwrap_or_default();
        if let Some(a) = auth {
            app = receiver::auth::require_token(app, a, &[], true);
        }
        let limits = conn_limits(cfg);
        let stop = stopped(stop_rx.clone());
        let fault = injected(receiver_fault.take().flatten());
        tracing::info!(%addr, tls = tls.is_some(), max_connections = limits.max_connections, "OTLP/HTTP receiver listening");
        tasks.spawn("the OTLP/HTTP receiver", async move {
            let serve = serve_receiver(l, tls, app, limits, Versions::Auto, "http", stop);
            tokio::select! {
                _ = serve => Ok(()),
                _ = fault => Ok(()),
            }
        });
    }
    let (metrics_stop_tx, metrics_stop_rx) = watch::channel(false);
    let metrics_task = listeners.metrics.map(|l| {
        let addr = local_addr(&l);
        let mut app = metrics::router(handle.clone(), health.clone());
        if pipeline.rules().captures().is_some() {
            // Behind the same token as /metrics; the rules loaded at each request (reloads).
            let p = Arc::downgrade(&pipeline);
            app = app.merge(crate::capture::api::router(Arc::new(move || {
                p.upgrade().and_then(|p| p.rules().captures())
            })));
        }
        if let Some(a) = metrics_auth.clone() {
            // /healthz and /readyz stay open for the kubelet's probes.
            app = receiver::auth::require_token(app, a, &["/healthz", "/readyz"], false);
        }
        let stop = stopped(metrics_stop_rx);
        tracing::info!(%addr, "metrics endpoint listening");
        tokio::spawn(receiver::serve::serve(
            l,
            Plain,
            app,
            ConnLimits::METRICS,
            Versions::Auto,
            "metrics",
            stop,
        ))
    });

    {
        let pipeline = pipeline.clone();
        let period = config.sampling.tick.get();
        let mut stop = stop_rx.clone();
        let fault = injected(faults.ticker);
        let prometheus = handle.clone();
        tasks.spawn("the decision ticker", async move {
            let mut fault = std::pin::pin!(fault);
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Histogram samples wait in the recorder until folded into their buckets; when
            // nobody scrapes `/metrics`, this is what keeps them from piling up.
            let mut upkeep = tokio::time::interval(metrics::UPKEEP_PERIOD);
            upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => pipeline.tick(),
                    _ = upkeep.tick() => prometheus.run_upkeep(),
                    _ = &mut fault => {},
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                }
            }
        });
    }

    // What an earlier run left in the storage log goes back in before /readyz says ready.
    if let Some(r) = replay {
        crate::storage::replay_into(&pipeline, r).await;
    }
    if let Some(source) = source {
        let r = crate::reload::Reloader::new(source, pipeline.clone(), config.clone(), engine);
        tasks.spawn("the config reloader", r.run(stopped(stop_rx.clone())));
    }

    health.set_ready(true);
    crate::telemetry::logs::started(&config);
    // Run until asked to stop, or until a task dies: then stop anyway, with an error.
    let mut failure = tokio::select! {
        _ = shutdown => None,
        end = tasks.next_end() => {
            let reason = end.reason();
            tracing::error!(task = end.task, "{reason}; shutting down");
            health.fail(reason.clone());
            Some(reason)
        }
    };

    // Stage 1: stop accepting; let requests in flight finish, but not for ever: a client
    // stalled mid-request must not hold up the flush of everything else.
    tracing::info!("shutting down: receivers stop accepting");
    health.set_ready(false);
    let _ = stop_tx.send(true);
    let grace = RECEIVER_GRACE.min(config.shutdown_timeout.get());
    let (failed, finished) = tasks.finish(grace).await;
    if !finished {
        tracing::warn!(
            grace_secs = grace.as_secs_f64(),
            "requests still in flight after the grace period; deciding the buffer without them (they will be refused as shutting down)"
        );
    }
    for end in failed {
        tracing::error!(task = end.task, "{}", end.reason());
        failure.get_or_insert(end.reason());
    }

    // Stage 2: decide every buffered trace with the rules (with storage on, the buffer stays
    // in the log instead: `Pipeline::drain` says so).
    if config.storage.is_none() {
        let buffered = pipeline.buffer().stats();
        tracing::info!(
            traces = buffered.traces,
            spans = buffered.spans,
            "deciding buffered traces"
        );
    }
    pipeline.rules().begin_shutdown();
    pipeline.drain();
    // With a cluster, drained traces a peer could still override wait for the peers.
    pipeline
        .settle_held(config.shutdown_timeout.get() / 2)
        .await;
    let _ = bus_stop_tx.send(true);
    if let Some(t) = bus_task {
        let _ = t.await;
    }

    // Stage 3: flush exporters within the deadline.
    let deadline: Duration = config.shutdown_timeout.get();
    let export = pipeline.shutdown_exporters(deadline).await;
    let config_had_storage = config.storage.is_some();
    if let Some(s) = pipeline.storage() {
        // What was not delivered stays in the log for the next start, and so do the
        // decisions the cache still remembers.
        s.close_carrying(|id, keep| pipeline.buffer().remembers(id, keep));
    }
    crate::telemetry::logs::flushed(&export);

    let _ = metrics_stop_tx.send(true);
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    match failure {
        Some(reason) => Err(RunError::TaskFailed { reason, export }),
        None => Ok(Summary {
            export,
            kept_on_disk: config_had_storage,
        }),
    }
}
