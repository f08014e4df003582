//! Rejections under `tls:` and `auth:` that need no files (those that read certificate and
//! token files are tested in `tests/security/tls_config.rs` with generated certificates).

use super::{assert_errors, assert_has, invalid, BASE};

const HTTP_OUT: &str = "exporters: { out: { protocol: file, path: out.jsonl } }\n";

fn receiver(tls: &str) -> Vec<crate::config::ValidationError> {
    invalid(&format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317, tls: {tls} }} }} }}\n{HTTP_OUT}"
    ))
}

fn exporter(endpoint: &str, tls: &str) -> Vec<crate::config::ValidationError> {
    invalid(&format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317 }} }} }}\n\
         exporters: {{ tempo: {{ protocol: otlp_grpc, endpoint: \"{endpoint}\", tls: {tls} }} }}\n"
    ))
}

#[test]
fn receiver_tls_needs_a_certificate_and_key() {
    let errs = receiver("{ client_ca_file: ca.pem }");
    assert_has(
        &errs,
        "receivers.otlp.grpc.tls.cert_file",
        &["missing", "`cert_file` and `key_file`"],
    );
    assert_has(&errs, "receivers.otlp.grpc.tls.key_file", &["missing"]);
}

#[test]
fn receiver_tls_refuses_exporter_keys() {
    let errs = receiver(
        "{ cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, insecure_skip_verify: true, \
         server_name_override: x }",
    );
    assert_errors(
        &errs,
        "
        receivers.otlp.grpc.tls.ca_file: exporters only | client_ca_file
        receivers.otlp.grpc.tls.insecure_skip_verify: exporters only
        receivers.otlp.grpc.tls.server_name_override: exporters only
        ",
    );
}

#[test]
fn tls_versions_and_reload_interval_are_checked() {
    let errs = receiver(
        "{ cert_file: c.pem, key_file: k.pem, min_version: \"1.1\", reload_interval: 10ms }",
    );
    assert_has(
        &errs,
        "receivers.otlp.grpc.tls.min_version",
        &["TLS 1.1 is not supported", "\"1.2\""],
    );
    assert_has(
        &errs,
        "receivers.otlp.grpc.tls.reload_interval",
        &["at least 100ms", "10ms"],
    );
    let errs = receiver("{ cert_file: c.pem, key_file: k.pem, min_version: tls13 }");
    assert_has(
        &errs,
        "receivers.otlp.grpc.tls.min_version",
        &["`tls13` is not a TLS version"],
    );
}

#[test]
fn a_receivers_missing_files_are_named() {
    let errs = receiver("{ cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem }");
    assert_has(
        &errs,
        "receivers.otlp.grpc.tls.cert_file",
        &["`/nonexistent/c.pem`", "cannot read the file"],
    );
}

#[test]
fn exporter_tls_needs_https() {
    let errs = exporter("http://tempo:4317", "{ ca_file: ca.pem }");
    assert_has(
        &errs,
        "exporters.tempo.tls",
        &["need an `https://` endpoint"],
    );
}

#[test]
fn exporter_tls_refuses_receiver_keys_and_conflicts() {
    let errs = exporter(
        "https://tempo:4317",
        "{ client_ca_file: ca.pem, insecure_skip_verify: true, ca_file: ca.pem, \
         server_name_override: \"not a name\", min_version: 1.0 }",
    );
    assert_errors(
        &errs,
        "
        exporters.tempo.tls.client_ca_file: receivers only | ca_file
        exporters.tempo.tls.insecure_skip_verify: remove one
        exporters.tempo.tls.server_name_override: `not a name`
        exporters.tempo.tls.min_version: TLS 1.0 is not supported
        ",
    );
}

#[test]
fn exporter_client_certificate_needs_its_key() {
    let errs = exporter("https://tempo:4317", "{ cert_file: c.pem }");
    assert_has(
        &errs,
        "exporters.tempo.tls.key_file",
        &["missing", "private key"],
    );
    let errs = exporter("https://tempo:4317", "{ key_file: k.pem }");
    assert_has(&errs, "exporters.tempo.tls.cert_file", &["missing"]);
}

#[test]
fn exporter_missing_ca_file_is_named() {
    let errs = exporter("https://tempo:4317", "{ ca_file: /nonexistent/ca.pem }");
    assert_has(
        &errs,
        "exporters.tempo.tls.ca_file",
        &["`/nonexistent/ca.pem`", "cannot read the file"],
    );
}

#[test]
fn file_exporter_refuses_tls() {
    let errs = invalid(
        "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n\
         exporters: { out: { protocol: file, path: x.jsonl, tls: { ca_file: ca.pem } } }\n",
    );
    assert_has(&errs, "exporters.out.tls", &["not used by protocol `file`"]);
}

#[test]
fn auth_token_file_must_exist_and_reload_interval_is_checked() {
    let errs = invalid(&format!(
        "{BASE}telemetry: {{ metrics: {{ endpoint: 127.0.0.1:8888, \
         auth: {{ bearer_token_file: /nonexistent/tokens, reload_interval: 1ms }} }} }}\n"
    ));
    assert_has(
        &errs,
        "telemetry.metrics.auth.bearer_token_file",
        &["`/nonexistent/tokens`", "cannot read the file"],
    );
    assert_has(
        &errs,
        "telemetry.metrics.auth.reload_interval",
        &["at least 100ms"],
    );
    let errs = invalid(&format!(
        "receivers: {{ otlp: {{ http: {{ endpoint: 127.0.0.1:4318, \
         auth: {{ bearer_token_file: /nonexistent/t }} }} }} }}\n{HTTP_OUT}"
    ));
    assert_has(
        &errs,
        "receivers.otlp.http.auth.bearer_token_file",
        &["cannot read"],
    );
}

#[test]
fn unknown_tls_keys_are_refused() {
    let (path, _, message, _) = super::parse_failure(&format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317, tls: {{ cert: c.pem }} }} }} }}\n{HTTP_OUT}"
    ));
    assert_eq!(
        path.as_deref(),
        Some("receivers.otlp.grpc.tls.cert"),
        "{message}"
    );
    assert!(message.contains("cert_file"), "{message}");
}
