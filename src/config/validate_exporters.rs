//! Validation of `exporters:`: protocol-specific keys, endpoint URLs, headers, batching,
//! queueing and retry limits.

use super::exporter::check_otlp_endpoint;
use super::schema::{ExportProtocol, ExporterConfig};
use super::validate::{dur, key, Errors};
use super::validate_tls::check_exporter_tls;
use std::collections::BTreeMap;

/// Most export requests one exporter may keep in flight.
const MAX_CONCURRENCY: usize = 64;

pub(super) fn check_exporters(exporters: &BTreeMap<String, ExporterConfig>, errs: &mut Errors) {
    if exporters.is_empty() {
        errs.push(
            "exporters",
            "no exporter configured: kept traces would have nowhere to go (add e.g. \
             `tempo: { protocol: otlp_grpc, endpoint: http://tempo:4317 }`)",
        );
    }
    for (name, e) in exporters {
        let p = key("exporters", name);
        if name.trim().is_empty() {
            errs.push(&p, "an exporter needs a non-empty name");
        }
        check_exporter(e, &p, errs);
    }
}

fn check_exporter(e: &ExporterConfig, p: &str, errs: &mut Errors) {
    if let Err(problems) = e.target() {
        for problem in problems {
            errs.push(format!("{p}.{}", problem.key()), problem.to_string());
        }
    }
    // TLS is checked whenever the endpoint itself is usable, whatever else is wrong.
    let alpn = match e.protocol {
        ExportProtocol::OtlpGrpc => crate::tls::ALPN_GRPC,
        ExportProtocol::OtlpHttp => crate::tls::ALPN_HTTP,
        ExportProtocol::File => &[],
    };
    if let (false, Some(Ok(https))) = (
        alpn.is_empty(),
        e.endpoint.as_deref().map(check_otlp_endpoint),
    ) {
        check_exporter_tls(e.tls.as_ref(), https, &format!("{p}.tls"), alpn, errs);
    }
    if e.timeout.0.is_zero() {
        errs.push(format!("{p}.timeout"), "must be greater than 0");
    }
    if e.batch.max_spans == 0 {
        errs.push(format!("{p}.batch.max_spans"), "must be at least 1");
    }
    if e.batch.max_bytes.0 == 0 {
        errs.push(format!("{p}.batch.max_bytes"), "must be greater than 0");
    }
    if e.queue.max_bytes.0 == 0 {
        errs.push(format!("{p}.queue.max_bytes"), "must be greater than 0");
    }
    let concurrency = e.queue.concurrency;
    errs.between(
        format!("{p}.queue.concurrency"),
        concurrency,
        1..=MAX_CONCURRENCY,
    );
    let r = &e.retry;
    if r.initial_interval > r.max_interval {
        errs.push(
            format!("{p}.retry.initial_interval"),
            format!(
                "must not be longer than retry.max_interval ({}), got {}",
                dur(r.max_interval),
                dur(r.initial_interval)
            ),
        );
    }
    if r.enabled && r.initial_interval.0.is_zero() {
        errs.push(
            format!("{p}.retry.initial_interval"),
            "must be greater than 0 while retry is enabled (a zero backoff retries in a busy loop)",
        );
    }
}
