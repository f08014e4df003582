//! Rejections under `receivers:` and `exporters:`.

use super::{
    assert_bounds, assert_errors, assert_has, assert_only, example, invalid, invalid_config,
};
use crate::config::{ByteSize, Config};

const RECEIVERS: &str = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n";

/// Validation errors of a config with the given `exporters:` block (indented YAML).
fn exporters(block: &str) -> Vec<crate::config::ValidationError> {
    invalid(&format!("{RECEIVERS}exporters:\n{block}"))
}

// ---- receivers ----

#[test]
fn rejects_no_receiver() {
    let errs =
        invalid("receivers: { otlp: {} }\nexporters: { out: { protocol: file, path: x } }\n");
    assert_has(
        &errs,
        "receivers.otlp",
        &["no receiver configured", "grpc", "http"],
    );
}

#[test]
fn rejects_bad_receiver_endpoints() {
    // Each endpoint, given to both receivers, and the words of the error at each.
    let cases: &[(&str, &[&str])] = &[
        ("0.0.0.0", &["`0.0.0.0` has no port", "host:port"]),
        ("0.0.0.0:http", &["invalid port", "0 to 65535"]),
        ("0.0.0.0:70000", &["invalid port", "0 to 65535"]),
        ("localhost:", &["invalid port", "0 to 65535"]),
        ("http://0.0.0.0:4317", &["is a URL", "without a scheme"]),
        (":4317", &["`:4317` has no host"]),
        ("::1:4318", &["IPv6", "brackets"]),
        ("my host:4317", &["invalid host `my host`"]),
    ];
    for &(bad, needles) in cases {
        let mut c = example();
        c.receivers.otlp.grpc.as_mut().unwrap().endpoint = bad.into();
        c.receivers.otlp.http.as_mut().unwrap().endpoint = bad.into();
        let errs = invalid_config(&c);
        assert_has(&errs, "receivers.otlp.grpc.endpoint", needles);
        assert_has(&errs, "receivers.otlp.http.endpoint", needles);
    }
}

#[test]
fn accepts_host_names_ipv6_and_port_zero() {
    for (grpc, http) in [
        ("localhost:4317", "localhost:4318"),
        ("[::1]:4317", "[::]:4318"),
        ("127.0.0.1:0", "127.0.0.1:0"),
        ("tailsift-0.tailsift.svc:4317", "10.0.0.1:4318"),
    ] {
        let mut c = example();
        c.receivers.otlp.grpc.as_mut().unwrap().endpoint = grpc.into();
        c.receivers.otlp.http.as_mut().unwrap().endpoint = http.into();
        assert_eq!(c.validate(), Ok(()), "{grpc} / {http}");
    }
}

#[test]
fn rejects_zero_max_request_bytes() {
    let mut c = example();
    c.receivers.otlp.http.as_mut().unwrap().max_request_bytes = ByteSize(0);
    let errs = invalid_config(&c);
    assert_has(
        &errs,
        "receivers.otlp.http.max_request_bytes",
        &["greater than 0"],
    );
}

#[test]
fn rejects_receiver_limits_out_of_range() {
    use crate::config::Dur;
    let mut c = example();
    let g = c.receivers.otlp.grpc.as_mut().unwrap();
    g.max_connections = Some(0);
    g.header_read_timeout = Dur::millis(0);
    g.idle_timeout = Dur::millis(0);
    g.body_read_timeout = Dur::millis(0);
    g.decode_concurrency = Some(257);
    let errs = invalid_config(&c);
    assert_has(
        &errs,
        "receivers.otlp.grpc.max_connections",
        &["between 1 and 1000000", "got 0"],
    );
    for key in ["header_read_timeout", "idle_timeout", "body_read_timeout"] {
        assert_has(
            &errs,
            &format!("receivers.otlp.grpc.{key}"),
            &["greater than 0"],
        );
    }
    assert_has(
        &errs,
        "receivers.otlp.grpc.decode_concurrency",
        &["between 1 and 256", "got 257"],
    );
    let mut c = example();
    let h = c.receivers.otlp.http.as_mut().unwrap();
    h.max_connections = Some(2_000_000);
    h.decode_concurrency = Some(0);
    let errs = invalid_config(&c);
    assert_has(
        &errs,
        "receivers.otlp.http.max_connections",
        &["got 2000000"],
    );
    assert_has(&errs, "receivers.otlp.http.decode_concurrency", &["got 0"]);
}

#[test]
fn receiver_limits_parse_with_units() {
    let c = crate::config::parse(
        "receivers: { otlp: { http: { endpoint: '127.0.0.1:0', max_connections: 10, \
         header_read_timeout: 2s, idle_timeout: 500ms, body_read_timeout: 3s, decode_concurrency: 2 } } }\n\
         exporters: { out: { protocol: file, path: /tmp/x } }\n",
        "test.yaml",
    )
    .unwrap();
    let h = c.receivers.otlp.http.unwrap();
    assert_eq!(h.max_connections, Some(10));
    assert_eq!(
        h.header_read_timeout.get(),
        std::time::Duration::from_secs(2)
    );
    assert_eq!(h.idle_timeout.get(), std::time::Duration::from_millis(500));
    assert_eq!(h.body_read_timeout.get(), std::time::Duration::from_secs(3));
    assert_eq!(h.decode_concurrency, Some(2));
}

#[test]
fn rejects_two_listeners_on_one_port() {
    let mut c = example();
    c.receivers.otlp.http.as_mut().unwrap().endpoint = "127.0.0.1:4317".into();
    c.telemetry.metrics.as_mut().unwrap().endpoint = "0.0.0.0:4318".into();
    let errs = invalid_config(&c);
    assert_only(
        &errs,
        "receivers.otlp.http.endpoint: same port as receivers.otlp.grpc.endpoint | `0.0.0.0:4317`",
    );
}

// ---- exporters ----

#[test]
fn rejects_no_exporter() {
    let errs = invalid(&format!("{RECEIVERS}exporters: {{}}\n"));
    assert_has(&errs, "exporters", &["no exporter configured"]);
}

#[test]
fn rejects_exporters_missing_or_misusing_keys() {
    let errs = exporters(
        "  \"\": { protocol: file, path: x }\n  \
         tempo: { protocol: otlp_grpc }\n  \
         jaeger: { protocol: otlp_http }\n  \
         no_scheme: { protocol: otlp_grpc, endpoint: \"tempo:4317\" }\n  \
         grpc_scheme: { protocol: otlp_grpc, endpoint: \"grpc://tempo:4317\" }\n  \
         with_path: { protocol: otlp_grpc, endpoint: \"http://tempo:4317\", path: x.jsonl }\n  \
         archive: { protocol: file }\n  \
         empty_path: { protocol: file, path: \"\" }\n",
    );
    assert_errors(
        &errs,
        "
        exporters[\"\"]: non-empty name
        exporters.tempo.endpoint: missing | otlp_grpc | http://host:port
        exporters.jaeger.endpoint: missing | otlp_http
        exporters.no_scheme.endpoint: no scheme | `http://tempo:4317`
        exporters.grpc_scheme.endpoint: unsupported scheme `grpc`
        exporters.with_path.path: only for protocol `file`
        exporters.archive.path: missing | protocol file needs `path
        exporters.empty_path.path: must not be empty
        ",
    );
}

#[test]
fn rejects_malformed_endpoint_urls() {
    let errs = exporters(
        "  a: { protocol: otlp_grpc, endpoint: \"http://\" }\n  \
         b: { protocol: otlp_grpc, endpoint: \"http://te mpo:4317\" }\n  \
         c: { protocol: otlp_grpc, endpoint: \"http://:4317\" }\n  \
         d: { protocol: otlp_grpc, endpoint: \"http://tempo:99999\" }\n",
    );
    assert_errors(
        &errs,
        "
        exporters.a.endpoint: not a valid URL
        exporters.b.endpoint: not a valid URL
        exporters.c.endpoint: has no host
        exporters.d.endpoint: invalid port `99999`
        ",
    );
}

#[test]
fn rejects_network_keys_on_file_exporter() {
    let errs = exporters(
        "  archive:\n    protocol: file\n    path: x.jsonl\n    endpoint: http://tempo:4317\n    \
         headers: { a: b }\n    compression: gzip\n",
    );
    assert_only(
        &errs,
        "
        exporters.archive.endpoint: `endpoint` is not used by protocol `file`
        exporters.archive.headers: `headers` is not used by protocol `file`
        exporters.archive.compression: `compression` is not used
        ",
    );
}

#[test]
fn rejects_invalid_header_name_and_value() {
    let errs = exporters(
        "  tempo:\n    protocol: otlp_grpc\n    endpoint: http://tempo:4317\n    \
         headers: { \"X Org\": a, x-ok: \"line\\nbreak\" }\n",
    );
    assert_has(
        &errs,
        "exporters.tempo.headers[\"X Org\"]",
        &["`X Org` is not a valid HTTP header name"],
    );
    assert_has(
        &errs,
        "exporters.tempo.headers.x-ok",
        &["value of header `x-ok`", "not a valid"],
    );
}

#[test]
fn rejects_zero_batch_and_queue_sizes() {
    let mut c = example();
    let t = c.exporters.get_mut("tempo").unwrap();
    t.batch.max_spans = 0;
    t.batch.max_bytes = ByteSize(0);
    t.queue.max_bytes = ByteSize(0);
    let errs = invalid_config(&c);
    assert_errors(
        &errs,
        "
        exporters.tempo.batch.max_spans: at least 1
        exporters.tempo.batch.max_bytes: greater than 0
        exporters.tempo.queue.max_bytes: greater than 0
        ",
    );
}

#[test]
fn rejects_concurrency_out_of_range() {
    let set = |c: &mut Config, n| c.exporters.get_mut("jaeger").unwrap().queue.concurrency = n;
    let path = "exporters.jaeger.queue.concurrency";
    assert_bounds(path, "between 1 and 64", set, &[0, 65], &[1, 64]);
}

#[test]
fn rejects_retry_initial_interval_above_max() {
    let errs = exporters(
        "  tempo:\n    protocol: otlp_grpc\n    endpoint: http://tempo:4317\n    \
         retry: { initial_interval: 1m, max_interval: 30s }\n",
    );
    assert_has(
        &errs,
        "exporters.tempo.retry.initial_interval",
        &["max_interval (30s)", "got 60s"],
    );
}

#[test]
fn rejects_zero_retry_interval_only_when_enabled() {
    let errs = exporters(
        "  tempo: { protocol: otlp_grpc, endpoint: \"http://tempo:4317\", retry: { initial_interval: 0 } }\n",
    );
    assert_has(
        &errs,
        "exporters.tempo.retry.initial_interval",
        &["greater than 0", "busy loop"],
    );
    let mut c = example();
    let r = &mut c.exporters.get_mut("tempo").unwrap().retry;
    r.enabled = false;
    r.initial_interval = crate::config::Dur::millis(0);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn rejects_zero_timeout() {
    let errs = exporters("  out: { protocol: file, path: x, timeout: 0s }\n");
    assert_has(&errs, "exporters.out.timeout", &["greater than 0"]);
}
