//! Semantic checks of a parsed [`Config`]: every problem is collected, each with its key path.
//! Receivers, sampling limits, telemetry and listen addresses live here; exporters and rules
//! have their own files.

use super::schema::{Config, ReceiverEndpoint, Receivers, Sampling, Telemetry};
use super::tail_sampling::PolicyCheck;
use super::units::Dur;
use super::{validate_exporters, validate_rules, validate_samplers, validate_tls};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One problem found by [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Key path of the offending value, e.g. `sampling.rules[1].probability`.
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Collects validation errors.
#[derive(Default)]
pub(super) struct Errors(pub(super) Vec<ValidationError>);

/// Largest `max_request_bytes` accepted.
const MAX_REQUEST_BYTES: u64 = 1 << 30;

impl Errors {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records "must be between LO and HI, got V" at `path` unless `range` holds `v`.
    pub(super) fn between<T: PartialOrd + std::fmt::Display>(
        &mut self,
        path: impl Into<String>,
        v: T,
        range: std::ops::RangeInclusive<T>,
    ) {
        if !range.contains(&v) {
            let (lo, hi) = range.into_inner();
            self.push(path, format!("must be between {lo} and {hi}, got {v}"));
        }
    }

    /// [`Errors::between`] for a duration, with the bounds as messages write them (`1s and 24h`).
    pub(super) fn between_durations(
        &mut self,
        path: impl Into<String>,
        v: Dur,
        range: std::ops::RangeInclusive<Duration>,
        bounds: &str,
    ) {
        if !range.contains(&v.get()) {
            self.push(path, format!("must be between {bounds}, got {}", dur(v)));
        }
    }
}

/// `parent.key`, or `parent["key"]` when the key itself contains characters (such as `.`)
/// that would make the path ambiguous.
pub(super) fn key(parent: &str, k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{k}")
    } else {
        format!("{parent}[{k:?}]")
    }
}

/// Human form of a duration for messages (`2s`, `500ms`, `1.5s`).
pub(super) fn dur(d: Dur) -> String {
    format!("{:?}", d.0)
}

/// Human form of a byte size for messages (`512MiB`, `1000 bytes`).
pub(super) fn size(b: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (n, unit) in UNITS {
        if b >= n && b.is_multiple_of(n) {
            return format!("{}{unit}", b / n);
        }
    }
    format!("{b} bytes")
}

impl Config {
    /// Checks everything the schema alone cannot express. Returns every problem found, each
    /// naming the key path it concerns; an empty list is never returned as an error.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errs = Errors::default();
        check_receivers(&self.receivers, &mut errs);
        if self.shutdown_timeout.get().is_zero() {
            errs.push(
                "shutdown_timeout",
                "must be greater than 0: exporters need time to deliver what was accepted",
            );
        }
        validate_exporters::check_exporters(&self.exporters, &mut errs);
        check_sampling(&self.sampling, &mut errs);
        validate_rules::check_rules(&self.sampling.rules, &self.fidelity, &mut errs);
        validate_samplers::check_accounting(&self.sampling, &mut errs);
        validate_rules::check_fidelity_profiles(&self.fidelity, &mut errs);
        check_telemetry(&self.telemetry, &mut errs);
        if let Some(s) = &self.storage {
            check_storage(s, &mut errs);
        }
        check_listen_conflicts(self, &mut errs);
        if let Some(ts) = &self.tail_sampling {
            errs.0.extend(ts.check_policies(self));
        }
        if let Some(c) = &self.cluster {
            super::validate_cluster::check_cluster(c, &mut errs);
        }
        if errs.0.is_empty() {
            Ok(())
        } else {
            Err(errs.0)
        }
    }
}

fn check_receivers(r: &Receivers, errs: &mut Errors) {
    let otlp = &r.otlp;
    if otlp.grpc.is_none() && otlp.http.is_none() {
        errs.push(
            "receivers.otlp",
            "no receiver configured: give `grpc`, `http`, or both (e.g. `grpc: { endpoint: 0.0.0.0:4317 }`)",
        );
    }
    for (name, ep) in [("grpc", &otlp.grpc), ("http", &otlp.http)] {
        let Some(ep) = ep else { continue };
        let p = format!("receivers.otlp.{name}");
        if let Err(m) = check_listen_addr(&ep.endpoint) {
            errs.push(format!("{p}.endpoint"), m);
        }
        if ep.max_request_bytes.0 == 0 {
            errs.push(format!("{p}.max_request_bytes"), "must be greater than 0");
        } else if ep.max_request_bytes.0 > MAX_REQUEST_BYTES {
            errs.push(
                format!("{p}.max_request_bytes"),
                format!(
                    "must be at most 1GiB (got {} bytes); split larger batches in the sender",
                    ep.max_request_bytes.0
                ),
            );
        }
        let alpn = if name == "grpc" {
            crate::tls::ALPN_GRPC
        } else {
            crate::tls::ALPN_HTTP
        };
        if let Some(t) = &ep.tls {
            validate_tls::check_receiver_tls(t, &format!("{p}.tls"), alpn, errs);
        }
        if let Some(a) = &ep.auth {
            validate_tls::check_auth(a, &format!("{p}.auth"), errs);
        }
        check_receiver_limits(&p, ep, errs);
    }
}

/// Connection limits and timeouts of one receiver.
fn check_receiver_limits(p: &str, ep: &ReceiverEndpoint, errs: &mut Errors) {
    if let Some(n) = ep.max_connections {
        if !(1..=1_000_000).contains(&n) {
            errs.push(
                format!("{p}.max_connections"),
                format!("must be between 1 and 1000000 (got {n})"),
            );
        }
    }
    for (key, d) in [
        ("header_read_timeout", ep.header_read_timeout),
        ("idle_timeout", ep.idle_timeout),
        ("body_read_timeout", ep.body_read_timeout),
    ] {
        if d.0.is_zero() {
            errs.push(format!("{p}.{key}"), "must be greater than 0");
        }
    }
    if let Some(n) = ep.decode_concurrency {
        if !(1..=256).contains(&n) {
            errs.push(
                format!("{p}.decode_concurrency"),
                format!("must be between 1 and 256 (got {n})"),
            );
        }
    }
}

/// Checks a listen address: `host:port` with a numeric port (0 picks a free port). The host is
/// an IP address (IPv6 in brackets: `[::1]:4317`) or a host name such as `localhost`, resolved
/// when the daemon binds.
pub(super) fn check_listen_addr(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    if s.contains("://") {
        return Err(format!(
            "`{s}` is a URL: a listen address is `host:port` without a scheme, e.g. `0.0.0.0:4317`"
        ));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "`{s}` has no port: write it as `host:port`, e.g. `0.0.0.0:4317`"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "`{s}` has no host: write e.g. `0.0.0.0{s}` (all interfaces) or `127.0.0.1{s}`"
        ));
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(format!(
            "`{s}` is not a valid address: an IPv6 address goes in brackets, e.g. `[::1]:4317`"
        ));
    }
    if port.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!(
            "`{s}` has an invalid port `{port}`: use a number from 0 to 65535"
        ));
    }
    let host_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if !host_ok {
        return Err(format!(
            "`{s}` has an invalid host `{host}`: use an IP address or a host name"
        ));
    }
    Ok(())
}

fn check_sampling(s: &Sampling, errs: &mut Errors) {
    const P: &str = "sampling";
    super::validate_pipelines::check_capture(&s.capture, errs);
    if s.decision_wait.0.is_zero() {
        errs.push(format!("{P}.decision_wait"), "must be greater than 0");
    }
    if s.root_wait > s.decision_wait {
        errs.push(
            format!("{P}.root_wait"),
            format!(
                "must not be longer than decision_wait ({}), got {}",
                dur(s.decision_wait),
                dur(s.root_wait)
            ),
        );
    }
    if s.max_spans_per_trace == 0 {
        errs.push(format!("{P}.max_spans_per_trace"), "must be at least 1");
    }
    if s.max_traces == 0 {
        errs.push(format!("{P}.max_traces"), "must be at least 1");
    }
    if s.max_buffer_bytes.0 == 0 {
        errs.push(format!("{P}.max_buffer_bytes"), "must be greater than 0");
    }
    if let Some(limit) = s.memory_limit {
        if limit < s.max_buffer_bytes {
            errs.push(
                format!("{P}.memory_limit"),
                format!(
                    "must be at least max_buffer_bytes ({}), got {}",
                    size(s.max_buffer_bytes.0),
                    size(limit.0)
                ),
            );
        }
    }
    errs.between(format!("{P}.shards"), s.shards, 1..=4096);
    let tick = Duration::from_millis(1)..=Duration::from_secs(1);
    errs.between_durations(format!("{P}.tick"), s.tick, tick, "1ms and 1s");
}

fn check_storage(s: &super::StorageConfig, errs: &mut Errors) {
    if s.directory.as_os_str().is_empty() {
        errs.push("storage.directory", "must not be empty");
    }
    if s.max_bytes.0 < super::schema_storage::MIN_STORAGE_BYTES {
        errs.push(
            "storage.max_bytes",
            format!(
                "must be at least {}, got {}",
                size(super::schema_storage::MIN_STORAGE_BYTES),
                size(s.max_bytes.0)
            ),
        );
    }
}

const LOG_LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

fn check_telemetry(t: &Telemetry, errs: &mut Errors) {
    if let Some(m) = &t.metrics {
        if let Err(msg) = check_listen_addr(&m.endpoint) {
            errs.push("telemetry.metrics.endpoint", msg);
        }
        if let Some(a) = &m.auth {
            validate_tls::check_auth(a, "telemetry.metrics.auth", errs);
        }
    }
    if let Err(msg) = check_log_level(&t.logs.level) {
        errs.push("telemetry.logs.level", msg);
    }
}

/// A level name, or a `tracing` filter directive such as `info,tailsift::buffer=debug`. A bare
/// word that is not a level (`warning`, `verbose`) is rejected even though the filter syntax
/// would read it as a target name: that is almost always a typo that would silence all logs.
fn check_log_level(level: &str) -> Result<(), String> {
    let l = level.trim();
    if l.is_empty() {
        return Err("empty: use error, warn, info, debug or trace".to_string());
    }
    if LOG_LEVELS.contains(&l.to_ascii_lowercase().as_str()) {
        return Ok(());
    }
    if !l.contains(['=', ',', '[', ':']) {
        return Err(format!(
            "`{l}` is not a log level: use error, warn, info, debug or trace, or a filter \
             directive such as `info,tailsift=debug` (a target alone is written `{l}=trace`)"
        ));
    }
    tracing_subscriber::EnvFilter::try_new(l)
        .map(|_| ())
        .map_err(|e| format!("`{l}` is not a valid log filter directive: {e}"))
}

/// Two listeners on the same port, one of them on all interfaces (or both on the same host),
/// would fail at startup with "address in use"; say so now, naming both keys.
fn check_listen_conflicts(c: &Config, errs: &mut Errors) {
    let otlp = &c.receivers.otlp;
    let mut addrs: Vec<(&str, &str)> = Vec::new();
    if let Some(g) = &otlp.grpc {
        addrs.push(("receivers.otlp.grpc.endpoint", &g.endpoint));
    }
    if let Some(h) = &otlp.http {
        addrs.push(("receivers.otlp.http.endpoint", &h.endpoint));
    }
    if let Some(m) = &c.telemetry.metrics {
        addrs.push(("telemetry.metrics.endpoint", &m.endpoint));
    }
    for i in 0..addrs.len() {
        for j in 0..i {
            let (pa, a) = addrs[j];
            let (pb, b) = addrs[i];
            if listen_conflict(a, b) {
                errs.push(
                    pb,
                    format!(
                        "`{b}` uses the same port as {pa} (`{a}`): give each listener its own port"
                    ),
                );
            }
        }
    }
}

fn split_listen(s: &str) -> Option<(String, u16, bool)> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some((sa.ip().to_string(), sa.port(), sa.ip().is_unspecified()));
    }
    let (host, port) = s.rsplit_once(':')?;
    Some((host.to_ascii_lowercase(), port.parse().ok()?, false))
}

fn listen_conflict(a: &str, b: &str) -> bool {
    match (split_listen(a), split_listen(b)) {
        (Some((ha, pa, ua)), Some((hb, pb, ub))) => pa != 0 && pa == pb && (ha == hb || ua || ub),
        _ => false,
    }
}
