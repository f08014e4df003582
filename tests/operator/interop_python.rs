//! Interoperability with the official OpenTelemetry Python SDK: `tests/interop/send_traces.py`
//! sends traces over OTLP/gRPC and OTLP/HTTP (with and without gzip) to the real daemon, which
//! writes kept traces to a file exporter; this test checks which traces came out and how.
//!
//! Needs the SDK from `tests/interop/requirements.txt`, installed by the README's test command
//! into `.venv` (the interpreter is `TAILSIFT_INTEROP_PYTHON` when set, else `.venv/bin/python`
//! when it exists, else `python3`). Without the SDK the test is skipped, or fails when `CI` is
//! set.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};
use tailsift::server::{run, Listeners};
use tokio::process::Command;
use tokio::time::timeout;

use crate::support;
use support::certs::{self, Ca};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/send_traces.py");
const IMPORTS: &str = "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, \
                       opentelemetry.exporter.otlp.proto.http";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(25);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The rules the script's cases are written against (see its `emit`).
const CONFIG: &str = r#"
receivers:
  otlp:
    grpc: { endpoint: "127.0.0.1:0" }
    http: { endpoint: "127.0.0.1:0" }
sampling:
  decision_wait: 5s
  root_wait: 300ms
  rules:
    - name: errors
      when: { span: { status: error } }
      keep: true
    - name: experiments
      when: { span: { attributes: { experiment.id: { exists: true } } } }
      keep: true
      fidelity: full
    - name: healthz
      when: { root: { name: "GET /healthz" } }
      drop: true
    - name: premium
      when: { root: { attributes: { user.tier: premium } } }
      probability: 1.0
      fidelity: lite
    - name: rest
      drop: true
fidelity:
  lite:
    hash_attributes: [prompt]
exporters:
  archive:
    protocol: file
    path: "@PATH@"
    batch: { timeout: 50ms }
shutdown_timeout: 10s
"#;

/// Case name, the rule expected to keep it (`None`: dropped), spans the script emits for it.
const CASES: &[(&str, Option<&str>, usize)] = &[
    ("error", Some("errors"), 4),
    ("healthz", None, 2),
    ("experiment", Some("experiments"), 4),
    ("premium", Some("premium"), 3),
    ("plain-0", None, 2),
    ("plain-1", None, 2),
    ("plain-2", None, 2),
];

/// (protocol, compression) of each client run.
const CLIENTS: &[(&str, &str)] = &[
    ("grpc", "none"),
    ("grpc", "gzip"),
    ("http", "none"),
    ("http", "gzip"),
];

/// What the script reports it sent (the last line of its stdout).
#[derive(Debug, Deserialize)]
struct Sent {
    protocol: String,
    compression: String,
    run_id: String,
    service: String,
    prompt: String,
    exported_spans: usize,
    export_calls: usize,
    traces: BTreeMap<String, SentTrace>,
}

#[derive(Debug, Deserialize)]
struct SentTrace {
    trace_id: String,
    spans: Vec<SentSpan>,
}

#[derive(Debug, Deserialize)]
struct SentSpan {
    span_id: String,
    parent_span_id: Option<String>,
    name: String,
}

/// One span as tailsift exported it, with its resource and scope.
struct Got {
    resource: Vec<KeyValue>,
    scope: String,
    span: Span,
}

/// The interpreter with the SDK: `TAILSIFT_INTEROP_PYTHON` when set, else the virtual
/// environment the README's test command makes (`.venv`), else `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("TAILSIFT_INTEROP_PYTHON") {
        return p;
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

/// A Python command with a clean OpenTelemetry environment and no proxy for loopback.
fn python_command(python: &str) -> Command {
    let mut cmd = Command::new(python);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(&key);
        }
    }
    // requests prefers these variables over the exporter's `certificate_file` (psf/requests
    // issue 3829): an SDK user with them set must unset them to trust a private CA.
    cmd.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Whether the SDK and both OTLP exporters can be imported; the reason when not.
async fn sdk_available(python: &str) -> Result<(), String> {
    let out = timeout(
        Duration::from_secs(30),
        python_command(python).args(["-c", IMPORTS]).output(),
    )
    .await;
    match out {
        Err(_) => Err("the import check timed out after 30s".into()),
        Ok(Err(e)) => Err(format!("cannot run `{python}`: {e}")),
        Ok(Ok(o)) if o.status.success() => Ok(()),
        Ok(Ok(o)) => Err(String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("import failed")
            .to_string()),
    }
}

async fn send(
    python: &str,
    protocol: &str,
    compression: &str,
    endpoint: &str,
    extra: &[String],
) -> Sent {
    let run_id = format!("{protocol}-{compression}-{}", std::process::id());
    let started = Instant::now();
    let out = timeout(
        CLIENT_TIMEOUT,
        python_command(python)
            .arg(SCRIPT)
            .args(["--protocol", protocol, "--endpoint", endpoint])
            .args(["--run-id", &run_id, "--compression", compression])
            .args(extra)
            .output(),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("{protocol}/{compression} client still running after {CLIENT_TIMEOUT:?}")
    })
    .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{protocol}/{compression} client failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    if !stderr.trim().is_empty() {
        // The SDK logs retries and failed exports here; a clean run logs nothing.
        eprintln!("{protocol}/{compression} client stderr:\n{stderr}");
    }
    let last = stdout.lines().last().unwrap_or_default();
    let sent: Sent = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("bad report from {protocol} client ({e}): {stdout}"));
    assert_eq!(
        (sent.protocol.as_str(), sent.compression.as_str()),
        (protocol, compression)
    );
    assert_eq!(sent.run_id, run_id);
    eprintln!(
        "{protocol}/{compression}: {} spans in {} export calls, {:?}",
        sent.exported_spans,
        sent.export_calls,
        started.elapsed()
    );
    sent
}

fn read_exported(path: &Path) -> HashMap<String, Vec<Got>> {
    let text = std::fs::read_to_string(path).expect("the file exporter's output");
    let mut by_trace: HashMap<String, Vec<Got>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let req: ExportTraceServiceRequest = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not OTLP JSON: {e}", n + 1));
        for rs in req.resource_spans {
            let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
            for ss in rs.scope_spans {
                let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                for span in ss.spans {
                    by_trace
                        .entry(hex::encode(&span.trace_id))
                        .or_default()
                        .push(Got {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span,
                        });
                }
            }
        }
    }
    by_trace
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    let mut found = attrs.iter().filter(|kv| kv.key == key);
    let first = found.next()?;
    assert!(found.next().is_none(), "attribute `{key}` appears twice");
    first.value.as_ref()?.value.as_ref()
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn span_named<'a>(spans: &'a [Got], name: &str) -> &'a Span {
    let mut it = spans.iter().filter(|g| g.span.name == name);
    let s = it.next().unwrap_or_else(|| panic!("no span `{name}`"));
    assert!(it.next().is_none(), "two spans `{name}`");
    &s.span
}

fn event_attrs<'a>(span: &'a Span, event: &str) -> &'a [KeyValue] {
    let e = span
        .events
        .iter()
        .find(|e| e.name == event)
        .unwrap_or_else(|| panic!("span `{}` lost its event `{event}`", span.name));
    &e.attributes
}

/// Checks one client's traces against what tailsift exported; returns the kept span count.
fn check_client(sent: &Sent, got: &HashMap<String, Vec<Got>>) -> usize {
    let who = format!("{}/{}", sent.protocol, sent.compression);
    let names: Vec<&str> = sent.traces.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    expected.sort();
    assert_eq!(names, expected, "{who}: the script's cases");
    let total: usize = CASES.iter().map(|c| c.2).sum();
    assert_eq!(sent.exported_spans, total, "{who}: spans the SDK exported");

    let hashed = format!(
        "sha256:{}",
        &hex::encode(Sha256::digest(sent.prompt.as_bytes()))[..16]
    );
    let mut kept_spans = 0;
    for &(case, rule, span_count) in CASES {
        let trace = &sent.traces[case];
        assert_eq!(trace.spans.len(), span_count, "{who} {case}: spans sent");
        let spans = got.get(&trace.trace_id).map(Vec::as_slice).unwrap_or(&[]);
        let Some(rule) = rule else {
            assert!(
                spans.is_empty(),
                "{who} {case}: trace {} should be dropped, {} spans exported",
                trace.trace_id,
                spans.len()
            );
            continue;
        };
        kept_spans += spans.len();

        // Every span exactly once, with its name and parent link.
        let mut want: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for s in &trace.spans {
            let parent = s.parent_span_id.as_deref().unwrap_or("");
            want.insert(&s.span_id, (&s.name, parent));
        }
        let mut have: BTreeMap<String, (String, String)> = BTreeMap::new();
        for g in spans {
            let id = hex::encode(&g.span.span_id);
            let v = (g.span.name.clone(), hex::encode(&g.span.parent_span_id));
            assert!(
                have.insert(id.clone(), v).is_none(),
                "{who} {case}: span {id} exported twice"
            );
        }
        let have: BTreeMap<&str, (&str, &str)> = have
            .iter()
            .map(|(k, (n, p))| (k.as_str(), (n.as_str(), p.as_str())))
            .collect();
        assert_eq!(have, want, "{who} {case}: spans (id -> name, parent)");
        let roots = spans.iter().filter(|g| g.span.parent_span_id.is_empty());
        assert_eq!(roots.count(), 1, "{who} {case}: one root span");

        for g in spans {
            let name = &g.span.name;
            assert_eq!(
                str_attr(&g.span.attributes, "sampling.rule"),
                Some(rule),
                "{who} {case}: `{name}` annotation"
            );
            assert_eq!(
                str_attr(&g.resource, "service.name"),
                Some(sent.service.as_str()),
                "{who} {case}: `{name}` resource"
            );
            assert_eq!(
                str_attr(&g.resource, "telemetry.sdk.language"),
                Some("python")
            );
            assert_eq!(
                str_attr(&g.resource, "interop.run_id"),
                Some(sent.run_id.as_str())
            );
            assert_eq!(g.scope, "tailsift.interop", "{who} {case}: `{name}` scope");
        }

        match case {
            "error" => {
                let s = span_named(spans, "generate");
                let status = s.status.as_ref().expect("status");
                assert_eq!(status.code, StatusCode::Error as i32, "{who}: error status");
                assert_eq!(status.message, "model timeout");
                let ev = event_attrs(s, "exception");
                assert_eq!(str_attr(ev, "exception.type"), Some("TimeoutError"));
            }
            "experiment" => {
                // Full fidelity: the payload and every attribute type arrive as sent.
                let s = span_named(spans, "expand prompt");
                let a = &s.attributes;
                assert_eq!(str_attr(a, "prompt"), Some(sent.prompt.as_str()), "{who}");
                assert!(attr(a, "prompt.length").is_none(), "{who}: full fidelity");
                assert_eq!(str_attr(a, "experiment.id"), Some("exp-42"));
                assert_eq!(attr(a, "llm.tokens"), Some(&Value::IntValue(512)));
                assert_eq!(attr(a, "llm.temperature"), Some(&Value::DoubleValue(0.7)));
                assert_eq!(attr(a, "llm.cached"), Some(&Value::BoolValue(false)));
                let Some(Value::ArrayValue(stages)) = attr(a, "pipeline.stages") else {
                    panic!("{who}: pipeline.stages is not an array");
                };
                let stages: Vec<_> = stages.values.iter().map(|v| v.value.clone()).collect();
                let want: Vec<_> = ["expand", "render", "upscale"]
                    .map(|s| Some(Value::StringValue(s.into())))
                    .to_vec();
                assert_eq!(stages, want, "{who}: array attribute");
                let ev = event_attrs(s, "llm.request");
                assert_eq!(str_attr(ev, "prompt"), Some(sent.prompt.as_str()));
            }
            "premium" => {
                // Lite fidelity: the prompt is hashed on the span and in its event, with its
                // length in bytes; other attributes are untouched.
                let s = span_named(spans, "generate");
                let a = &s.attributes;
                assert_eq!(str_attr(a, "prompt"), Some(hashed.as_str()), "{who}");
                let len = sent.prompt.len() as i64;
                assert_eq!(
                    attr(a, "prompt.length"),
                    Some(&Value::IntValue(len)),
                    "{who}"
                );
                assert_eq!(attr(a, "llm.tokens"), Some(&Value::IntValue(128)));
                let ev = event_attrs(s, "llm.request");
                assert_eq!(
                    str_attr(ev, "prompt"),
                    Some(hashed.as_str()),
                    "{who}: event"
                );
                assert_eq!(attr(ev, "prompt.length"), Some(&Value::IntValue(len)));
                for g in spans {
                    let json = serde_json::to_string(&g.span).expect("json");
                    assert!(!json.contains("cat surfs"), "{who}: prompt leaked: {json}");
                }
            }
            _ => {}
        }
    }
    kept_spans
}

/// The SDK, or why the test is skipped (it fails instead when `CI` is set).
async fn sdk_or_skip() -> Option<String> {
    let python = python();
    if let Err(why) = sdk_available(&python).await {
        let msg = format!(
            "the OpenTelemetry Python SDK is not importable with `{python}` ({why}); \
             run: python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!!!!\n!!! interop_python SKIPPED: {msg}\n!!!!!!!!!!\n");
        return None;
    }
    Some(python)
}

/// Runs every client of [`CLIENTS`] against the daemon (`CONFIG` with `receivers` instead of
/// its own, URLs with `scheme`, `extra` arguments for the script) and checks what came out.
async fn interop(python: &str, receivers: Option<&str>, scheme: &str, extra: &[String]) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kept.jsonl");
    let mut yaml = CONFIG.replace("@PATH@", &out.display().to_string());
    if let Some(r) = receivers {
        let plain = &yaml[yaml.find("receivers:").unwrap()..yaml.find("sampling:").unwrap()];
        yaml = yaml.replace(plain, r);
    }
    let config = tailsift::config::parse(&yaml, "interop config").expect("valid config");
    let listeners = Listeners::bind(&config).await.expect("bind");
    let (grpc, http, _) = listeners.addrs();
    let (grpc, http) = (grpc.expect("grpc addr"), http.expect("http addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(config, listeners, async move {
        let _ = stop_rx.await;
    }));

    let clients = CLIENTS.iter().map(|&(protocol, compression)| {
        let endpoint = match protocol {
            "grpc" => format!("{scheme}://{grpc}"),
            _ => format!("{scheme}://{http}/v1/traces"),
        };
        async move { send(python, protocol, compression, &endpoint, extra).await }
    });
    let sent = futures::future::join_all(clients).await;

    let _ = stop_tx.send(());
    let summary = timeout(SHUTDOWN_TIMEOUT, daemon)
        .await
        .expect("the daemon shuts down in time")
        .expect("daemon task")
        .expect("clean shutdown");
    assert_eq!(summary.export.failed_spans, 0, "{summary:?}");

    let got = read_exported(&out);
    let mut kept = 0;
    for s in &sent {
        kept += check_client(s, &got);
    }
    let exported: usize = got.values().map(Vec::len).sum();
    assert_eq!(exported, kept, "spans exported that no case accounts for");
    assert_eq!(summary.export.sent_spans as usize, kept, "{summary:?}");
    eprintln!(
        "interop_python ({scheme}): {} clients, {kept} spans kept, {:?}",
        sent.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_traces_are_sampled_over_grpc_and_http() {
    if let Some(python) = sdk_or_skip().await {
        interop(&python, None, "http", &[]).await;
    }
}

/// The SDK's exporters over TLS to receivers that require a client certificate (mTLS) and a
/// bearer token: gRPC with `grpc.ssl_channel_credentials`, HTTP with `certificate_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_sends_over_mtls_with_a_bearer_token() {
    let Some(python) = sdk_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("interop server CA");
    let clients = Ca::new("interop client CA");
    let (server, client) = (ca.server(1), clients.client(2));
    let file = |name: &str, text: &str| certs::write(dir.path(), name, text).display().to_string();
    let tls = format!(
        "tls: {{ cert_file: \"{}\", key_file: \"{}\", client_ca_file: \"{}\" }}",
        file("server.pem", &server.cert_pem),
        file("server.key", &server.key_pem),
        file("clients.pem", &clients.pem),
    );
    let auth = format!(
        "auth: {{ bearer_token_file: \"{}\" }}",
        file("tokens", "s3cret\n")
    );
    let receivers = format!(
        "receivers:\n  otlp:\n    grpc: {{ endpoint: \"127.0.0.1:0\", {tls}, {auth} }}\n    \
         http: {{ endpoint: \"127.0.0.1:0\", {tls}, {auth} }}\n"
    );
    let extra = [
        "--ca-file".to_string(),
        file("ca.pem", &ca.pem),
        "--client-cert".into(),
        file("client.pem", &client.cert_pem),
        "--client-key".into(),
        file("client.key", &client.key_pem),
        "--token".into(),
        "s3cret".into(),
    ];
    interop(&python, Some(&receivers), "https", &extra).await;
}
