//! Validation of `exporters:`: protocol-specific keys, endpoint URLs, headers, batching,
//! queueing and retry limits.

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
    match e.protocol {
        ExportProtocol::OtlpGrpc | ExportProtocol::OtlpHttp => {
            let proto = if e.protocol == ExportProtocol::OtlpGrpc {
                "otlp_grpc"
            } else {
                "otlp_http"
            };
            match &e.endpoint {
                None => errs.push(
                    format!("{p}.endpoint"),
                    format!("missing: protocol {proto} needs `endpoint: http://host:port`"),
                ),
                Some(ep) => match check_otlp_endpoint(ep) {
                    Err(m) => errs.push(format!("{p}.endpoint"), m),
                    Ok(https) => {
                        let alpn = if e.protocol == ExportProtocol::OtlpGrpc {
                            crate::tls::ALPN_GRPC
                        } else {
                            crate::tls::ALPN_HTTP
                        };
                        check_exporter_tls(e.tls.as_ref(), https, &format!("{p}.tls"), alpn, errs);
                    }
                },
            }
            if e.path.is_some() {
                errs.push(
                    format!("{p}.path"),
                    format!(
                        "`path` is only for protocol `file`; protocol {proto} sends to `endpoint`"
                    ),
                );
            }
            for (name, value) in &e.headers {
                let hp = key(&format!("{p}.headers"), name);
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    errs.push(
                        &hp,
                        format!("`{name}` is not a valid HTTP header name (letters, digits and `-`, no spaces)"),
                    );
                }
                if http::HeaderValue::from_str(value).is_err() {
                    errs.push(
                        &hp,
                        format!("the value of header `{name}` is not a valid HTTP header value (visible ASCII and spaces only, no line breaks)"),
                    );
                }
            }
        }
        ExportProtocol::File => {
            match &e.path {
                None => errs.push(
                    format!("{p}.path"),
                    "missing: protocol file needs `path: <file name>`",
                ),
                Some(path) if path.as_os_str().is_empty() => {
                    errs.push(format!("{p}.path"), "must not be empty")
                }
                Some(_) => {}
            }
            const NOT_FOR_FILE: &str = "is not used by protocol `file`: remove it";
            if e.endpoint.is_some() {
                errs.push(
                    format!("{p}.endpoint"),
                    format!("`endpoint` {NOT_FOR_FILE}"),
                );
            }
            if !e.headers.is_empty() {
                errs.push(format!("{p}.headers"), format!("`headers` {NOT_FOR_FILE}"));
            }
            if e.compression.is_some() {
                errs.push(
                    format!("{p}.compression"),
                    format!("`compression` {NOT_FOR_FILE}"),
                );
            }
            if e.tls.is_some() {
                errs.push(format!("{p}.tls"), format!("`tls` {NOT_FOR_FILE}"));
            }
        }
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
    if !(1..=MAX_CONCURRENCY).contains(&e.queue.concurrency) {
        errs.push(
            format!("{p}.queue.concurrency"),
            format!(
                "must be between 1 and {MAX_CONCURRENCY}, got {}",
                e.queue.concurrency
            ),
        );
    }
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

/// An OTLP endpoint: `http[s]://host[:port][/path]`; whether it is `https`.
fn check_otlp_endpoint(ep: &str) -> Result<bool, String> {
    let uri: http::Uri = ep
        .parse()
        .map_err(|e| format!("`{ep}` is not a valid URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(format!(
                "`{ep}` has the unsupported scheme `{other}`: use http://host:port or https://host:port"
            ))
        }
        None => return Err(format!("`{ep}` has no scheme: write it as `http://{ep}`")),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "`{ep}` has no host: write it as `http://host:port`"
        ));
    }
    // `http::Uri` accepts any digits as a port; a port above 65535 would fail only when sending.
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if let Some((_, port)) = host_port.rsplit_once(':') {
        if !host_port.ends_with(']') && !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(format!(
                "`{ep}` has an invalid port `{port}`: use a number from 1 to 65535"
            ));
        }
    }
    Ok(https)
}
