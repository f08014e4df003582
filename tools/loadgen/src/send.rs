//! `send`: drives OTLP/gRPC Export requests from pre-encoded templates over several HTTP/2
//! connections, optionally measuring the process under test over a window after a warm-up.

use super::codec::{RawCodec, EXPORT_PATH};
use super::procfs;
use super::template::{Rng, Template, Templates, SPANS_PER_TRACE};
use bytes::Bytes;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

/// What `send` was asked to do.
pub struct SendOpts {
    pub endpoint: String,
    pub connections: usize,
    pub inflight: usize,
    pub duration: Option<Duration>,
    pub warmup: Duration,
    pub rate: Option<f64>,
    pub traces_per_request: usize,
    pub seed: u64,
    pub unique_traces: Option<u64>,
    pub timeout: Duration,
    pub pid: Option<u32>,
    pub clk_tck: u64,
    pub metrics_url: Option<String>,
    pub metrics_dump: Option<PathBuf>,
    pub refusal_pause: Duration,
}

#[derive(Default)]
struct Counters {
    req_ok: AtomicU64,
    req_refused: AtomicU64,
    req_failed: AtomicU64,
    spans_ok: AtomicU64,
    spans_refused: AtomicU64,
    spans_failed: AtomicU64,
    spans_rejected: AtomicU64,
    bytes_ok: AtomicU64,
    traces_completed: AtomicU64,
    error_traces: AtomicU64,
}

#[derive(Clone, Copy)]
struct Snap {
    at: Instant,
    req_ok: u64,
    req_refused: u64,
    req_failed: u64,
    spans_ok: u64,
    cpu: Option<procfs::Cpu>,
    own_cpu: Option<procfs::Cpu>,
}

impl Counters {
    fn snap(&self, pid: Option<u32>) -> Snap {
        Snap {
            at: Instant::now(),
            req_ok: self.req_ok.load(Relaxed),
            req_refused: self.req_refused.load(Relaxed),
            req_failed: self.req_failed.load(Relaxed),
            spans_ok: self.spans_ok.load(Relaxed),
            cpu: pid.and_then(procfs::cpu),
            own_cpu: procfs::cpu(std::process::id()),
        }
    }
}

enum Outcome {
    Ok { rejected: u64 },
    Refused,
    Failed(String),
}

async fn export(channel: &Channel, body: Bytes, timeout: Duration) -> Outcome {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(e) = grpc.ready().await {
        return Outcome::Failed(format!("channel not ready: {e}"));
    }
    let mut req = tonic::Request::new(body);
    req.set_timeout(timeout);
    match grpc
        .unary(
            req,
            PathAndQuery::from_static(EXPORT_PATH),
            RawCodec::default(),
        )
        .await
    {
        Ok(resp) => {
            let rejected = ExportTraceServiceResponse::decode(resp.into_inner())
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| p.rejected_spans.max(0) as u64);
            Outcome::Ok { rejected }
        }
        Err(s) if matches!(s.code(), Code::ResourceExhausted | Code::Unavailable) => {
            Outcome::Refused
        }
        Err(s) => Outcome::Failed(format!("{:?}: {}", s.code(), s.message())),
    }
}

struct Worker {
    channel: Channel,
    templates: Templates,
    rng: Rng,
    variant: usize,
    /// Traces this worker still has to start (`None`: unlimited).
    remaining: Option<u64>,
    /// Per-worker pace in spans per second.
    rate: Option<f64>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    timeout: Duration,
    refusal_pause: Duration,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

impl Worker {
    async fn run(mut self) -> (Vec<u32>, Option<String>) {
        let t = self.templates.traces_per_request;
        let start = Instant::now();
        let mut sent_spans: u64 = 0;
        let mut pending: Vec<[u8; 16]> = Vec::new();
        loop {
            let stopping = self.stop.load(Relaxed) || self.remaining == Some(0);
            if stopping && pending.is_empty() {
                break;
            }
            let n_new = if stopping {
                0
            } else {
                self.remaining.map_or(t, |r| r.min(t as u64) as usize)
            };
            let fresh: Vec<[u8; 16]> = (0..n_new).map(|_| self.rng.trace_id()).collect();
            let tpl = self.pick(n_new, pending.len());
            if let Some(rate) = self.rate {
                let due = start + Duration::from_secs_f64(sent_spans as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            let body = tpl.render(&fresh, &pending);
            let len = body.len() as u64;
            let began = Instant::now();
            let outcome = export(&self.channel, body, self.timeout).await;
            self.latencies_us
                .push(began.elapsed().as_micros().min(u32::MAX as u128) as u32);
            let spans = tpl.spans as u64;
            sent_spans += spans;
            let c = &self.counters;
            match outcome {
                Outcome::Ok { rejected } => {
                    c.req_ok.fetch_add(1, Relaxed);
                    c.spans_ok.fetch_add(spans - rejected.min(spans), Relaxed);
                    c.spans_rejected.fetch_add(rejected, Relaxed);
                    c.bytes_ok.fetch_add(len, Relaxed);
                    c.traces_completed.fetch_add(pending.len() as u64, Relaxed);
                    c.error_traces.fetch_add(tpl.error_traces as u64, Relaxed);
                }
                Outcome::Refused => {
                    c.req_refused.fetch_add(1, Relaxed);
                    c.spans_refused.fetch_add(spans, Relaxed);
                    tokio::time::sleep(self.refusal_pause).await;
                }
                Outcome::Failed(e) => {
                    c.req_failed.fetch_add(1, Relaxed);
                    c.spans_failed.fetch_add(spans, Relaxed);
                    self.first_error.get_or_insert(e);
                    tokio::time::sleep(self.refusal_pause).await;
                }
            }
            if let Some(r) = self.remaining.as_mut() {
                *r -= n_new as u64;
            }
            pending = fresh;
        }
        (self.latencies_us, self.first_error)
    }

    fn pick(&mut self, first: usize, second: usize) -> Arc<Template> {
        let t = self.templates.traces_per_request;
        match (first, second) {
            (f, s) if f == t && s == t => {
                self.variant = (self.variant + 1) % self.templates.full.len();
                self.templates.full[self.variant].clone()
            }
            (f, 0) if f == t => self.templates.first_only.clone(),
            (0, s) if s == t => self.templates.second_only.clone(),
            (f, s) => self.templates.odd(f, s),
        }
    }
}

async fn connect(endpoint: &str) -> Result<Channel, String> {
    let ep = Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| format!("invalid endpoint `{endpoint}`: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut last = String::new();
    // The server under test may still be starting: retry for a few seconds.
    for _ in 0..50 {
        match ep.connect().await {
            Ok(c) => return Ok(c),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("cannot connect to {endpoint}: {last}"))
}

async fn dump_metrics(opts: &SendOpts, name: &str) {
    let (Some(url), Some(dir)) = (&opts.metrics_url, &opts.metrics_dump) else {
        return;
    };
    match procfs::http_get(url).await {
        Ok(text) => {
            let path = dir.join(name);
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("tailsift-loadgen: cannot write {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("tailsift-loadgen: metrics: {e}"),
    }
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// Runs the load and returns the JSON summary.
pub async fn run(opts: SendOpts) -> Result<Value, String> {
    let templates = Templates::new(opts.traces_per_request, opts.seed);
    let mean_span_bytes = templates.mean_span_bytes();
    let mean_request_bytes = templates.full.iter().map(|t| t.body.len()).sum::<usize>() as f64
        / templates.full.len() as f64;
    let workers_n = opts.connections.max(1) * opts.inflight.max(1);
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut channels = Vec::new();
    for _ in 0..opts.connections.max(1) {
        channels.push(connect(&opts.endpoint).await?);
    }
    let mut seeder = Rng::new(opts.seed);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers_n {
        let remaining = opts.unique_traces.map(|n| {
            let base = n / workers_n as u64;
            base + u64::from((w as u64) < n % workers_n as u64)
        });
        let worker = Worker {
            channel: channels[w % channels.len()].clone(),
            templates: templates.clone(),
            rng: Rng::new(seeder.next_u64()),
            variant: w,
            remaining,
            rate: opts.rate.map(|r| r / workers_n as f64),
            counters: counters.clone(),
            stop: stop.clone(),
            timeout: opts.timeout,
            refusal_pause: opts.refusal_pause,
            latencies_us: Vec::new(),
            first_error: None,
        };
        handles.push(tokio::spawn(worker.run()));
    }

    let mut window = None;
    if opts.unique_traces.is_none() {
        tokio::time::sleep(opts.warmup).await;
        dump_metrics(&opts, "metrics-start.txt").await;
        let s0 = counters.snap(opts.pid);
        tokio::time::sleep(opts.duration.unwrap_or(Duration::from_secs(20))).await;
        let s1 = counters.snap(opts.pid);
        dump_metrics(&opts, "metrics-end.txt").await;
        stop.store(true, Relaxed);
        window = Some((s0, s1));
    } else if let Some(d) = opts.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.store(true, Relaxed);
        });
    }
    let mut latencies = Vec::new();
    let mut first_error = None;
    for h in handles {
        let (l, e) = h.await.map_err(|e| format!("worker panicked: {e}"))?;
        latencies.extend(l);
        if first_error.is_none() {
            first_error = e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let c = &counters;
    let spans_ok = c.spans_ok.load(Relaxed);
    let mut out = json!({
        "endpoint": opts.endpoint,
        "connections": opts.connections,
        "inflight_per_connection": opts.inflight,
        "traces_per_request": opts.traces_per_request,
        "spans_per_trace": SPANS_PER_TRACE,
        "elapsed_s": elapsed,
        "requests_ok": c.req_ok.load(Relaxed),
        "requests_refused": c.req_refused.load(Relaxed),
        "requests_failed": c.req_failed.load(Relaxed),
        "spans_sent": spans_ok,
        "spans_refused": c.spans_refused.load(Relaxed),
        "spans_failed": c.spans_failed.load(Relaxed),
        "spans_rejected_partial": c.spans_rejected.load(Relaxed),
        "traces_completed": c.traces_completed.load(Relaxed),
        "error_traces": c.error_traces.load(Relaxed),
        "spans_per_s": spans_ok as f64 / elapsed.max(1e-9),
        "bytes_sent": c.bytes_ok.load(Relaxed),
        "mean_span_bytes": mean_span_bytes,
        "mean_request_bytes": mean_request_bytes,
        "request_latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p99": percentile(&latencies, 0.99),
            "max": percentile(&latencies, 1.0),
        },
        "first_error": first_error,
    });
    if let Some((s0, s1)) = window {
        let secs = (s1.at - s0.at).as_secs_f64();
        let spans = s1.spans_ok - s0.spans_ok;
        let tick_us = 1e6 / opts.clk_tck as f64;
        let mut w = json!({
            "elapsed_s": secs,
            "spans_ok": spans,
            "spans_per_s": spans as f64 / secs.max(1e-9),
            "requests_ok": s1.req_ok - s0.req_ok,
            "requests_refused": s1.req_refused - s0.req_refused,
            "requests_failed": s1.req_failed - s0.req_failed,
        });
        let secs_of = |ticks: u64| ticks as f64 * tick_us / 1e6;
        if let (Some(a), Some(b)) = (s0.own_cpu, s1.own_cpu) {
            w["loadgen_cpu_s"] = json!(secs_of(b.ticks() - a.ticks()));
        }
        if let (Some(pid), Some(a), Some(b)) = (opts.pid, s0.cpu, s1.cpu) {
            let ticks = b.ticks() - a.ticks();
            w["pid"] = json!(pid);
            w["cpu_ticks"] = json!(ticks);
            w["cpu_s"] = json!(secs_of(ticks));
            w["cpu_user_s"] = json!(secs_of(b.utime - a.utime));
            w["cpu_sys_s"] = json!(secs_of(b.stime - a.stime));
            w["minor_faults"] = json!(b.minflt - a.minflt);
            w["cpu_cores"] = json!(secs_of(ticks) / secs.max(1e-9));
            w["cpu_us_per_span"] = json!(ticks as f64 * tick_us / spans.max(1) as f64);
            w["vm_hwm_kib"] = json!(procfs::status_kib(pid, "VmHWM"));
            w["vm_rss_kib"] = json!(procfs::status_kib(pid, "VmRSS"));
        }
        out["window"] = w;
    }
    Ok(out)
}
