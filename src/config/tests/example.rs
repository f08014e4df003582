//! The README example parses into the expected values; defaults; loading from a file; how
//! errors are displayed.

use super::{example, BASE, EXAMPLE};
use crate::config::{
    load, parse, ConfigError, ExportProtocol, LogFormat, OneOrMany, Scalar, StatusCode,
    StringMatcher, ValidationError, ValueMatcher,
};
use std::time::Duration;

#[test]
fn example_parses_with_expected_values() {
    let c = example();
    assert_eq!(
        c.receivers.otlp.grpc.as_ref().unwrap().endpoint,
        "0.0.0.0:4317"
    );
    assert_eq!(
        c.receivers.otlp.http.as_ref().unwrap().endpoint,
        "0.0.0.0:4318"
    );
    let s = &c.sampling;
    assert_eq!(s.decision_wait.0, Duration::from_secs(10));
    assert_eq!(s.root_wait.0, Duration::from_secs(2));
    assert_eq!(s.max_spans_per_trace, 10_000);
    assert_eq!(s.max_traces, 200_000);
    assert_eq!(s.max_buffer_bytes.0, 512 * 1024 * 1024);
    assert_eq!(s.memory_limit_bytes(), 768 * 1024 * 1024);
    assert_eq!(
        (s.decision_cache.kept, s.decision_cache.dropped),
        (100_000, 1_000_000)
    );
    assert!(s.annotate);

    let names: Vec<&str> = s.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "errors",
            "slow-rerank",
            "experiments",
            "healthz",
            "premium",
            "rest"
        ]
    );
    let errors = s.rules[0].when.as_ref().unwrap().span.as_ref().unwrap();
    assert_eq!(errors.status, Some(OneOrMany::One(StatusCode::Error)));
    let slow = s.rules[1].when.as_ref().unwrap().span.as_ref().unwrap();
    assert_eq!(slow.name, Some(StringMatcher::Exact("rerank".into())));
    assert_eq!(slow.min_duration.unwrap().0, Duration::from_secs(1));
    let exp = s.rules[2].when.as_ref().unwrap().span.as_ref().unwrap();
    assert_eq!(
        exp.attributes.as_ref().unwrap().get("experiment.id"),
        Some(&ValueMatcher::Exists(true))
    );
    assert_eq!(s.rules[2].fidelity.as_deref(), Some("full"));
    let healthz = s.rules[3].when.as_ref().unwrap().root.as_ref().unwrap();
    assert_eq!(
        healthz.name,
        Some(StringMatcher::Exact("GET /healthz".into()))
    );
    assert_eq!(s.rules[3].drop, Some(true));
    let premium = &s.rules[4];
    assert_eq!(premium.probability, Some(0.5));
    assert_eq!(premium.fidelity.as_deref(), Some("lite"));
    assert_eq!(
        premium
            .when
            .as_ref()
            .unwrap()
            .root
            .as_ref()
            .unwrap()
            .attributes
            .as_ref()
            .unwrap()["user.tier"],
        ValueMatcher::Exact(Scalar::Str("premium".into()))
    );
    assert!(s.rules[5].when.is_none());

    let lite = &c.fidelity["lite"];
    assert_eq!(lite.hash_attributes, ["prompt", "payload.*"]);
    assert_eq!(lite.max_attribute_bytes.unwrap().0, 256);
    assert!(!lite.drop_events);

    assert_eq!(c.exporters.len(), 3);
    let tempo = &c.exporters["tempo"];
    assert_eq!(tempo.protocol, ExportProtocol::OtlpGrpc);
    assert_eq!(tempo.endpoint.as_deref(), Some("http://tempo:4317"));
    assert_eq!(tempo.headers["X-Scope-OrgID"], "team-a");
    assert_eq!(c.exporters["jaeger"].protocol, ExportProtocol::OtlpHttp);
    let archive = &c.exporters["archive"];
    assert_eq!(archive.protocol, ExportProtocol::File);
    assert_eq!(
        archive.path.as_deref(),
        Some(std::path::Path::new("kept-traces.jsonl"))
    );

    assert_eq!(
        c.telemetry.metrics.as_ref().unwrap().endpoint,
        "0.0.0.0:8888"
    );
    assert_eq!(c.telemetry.logs.level, "info");
    assert_eq!(c.telemetry.logs.format, LogFormat::Text);
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = parse(BASE, "base.yaml").unwrap();
    let s = &c.sampling;
    assert_eq!(s.decision_wait.0, Duration::from_secs(10));
    assert_eq!(s.root_wait.0, Duration::from_secs(2));
    assert_eq!(s.shards, 64);
    assert_eq!(s.tick.0, Duration::from_millis(10));
    assert!(s.rules.is_empty());
    let out = &c.exporters["out"];
    assert_eq!(out.timeout.0, Duration::from_secs(10));
    assert_eq!(out.batch.max_spans, 8192);
    assert_eq!(out.queue.concurrency, 4);
    assert!(out.retry.enabled);
    assert_eq!(
        c.receivers.otlp.grpc.as_ref().unwrap().max_request_bytes.0,
        16 << 20
    );
    assert_eq!(c.telemetry.logs.level, "info");
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, &*EXAMPLE).unwrap();
    assert_eq!(load(&good).unwrap().exporters.len(), 3);

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, format!("{BASE}sampling: {{ shards: 0 }}\n")).unwrap();
    let msg = load(&bad).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: sampling.shards: must be between 1 and 4096, got 0",
            bad.display()
        )
    );

    let missing = dir.path().join("missing.yaml");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("cannot read"), "{msg}");
}

#[test]
fn all_validation_errors_are_reported_one_per_line() {
    let yaml = format!(
        "{BASE}sampling:\n  shards: 0\n  rules:\n    - {{ name: a, probability: 1.5 }}\n    - {{ name: a, keep: true }}\n"
    );
    let err = parse(&yaml, "config.yaml").unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines.contains(&"config.yaml: sampling.shards: must be between 1 and 4096, got 0"));
    assert!(lines
        .contains(&"config.yaml: sampling.rules[0].probability: must be between 0 and 1, got 1.5"));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("config.yaml: sampling.rules[1].name: duplicate")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("config.yaml: sampling.rules[1]: rule `a` can never match")));
    let ConfigError::Invalid { errors, .. } = err else {
        panic!("expected Invalid");
    };
    assert_eq!(errors.len(), 4);
}

#[test]
fn validation_error_display_is_path_then_message() {
    let e = ValidationError {
        path: "sampling.rules[1].probability".into(),
        message: "must be between 0 and 1, got 1.5".into(),
    };
    assert_eq!(
        e.to_string(),
        "sampling.rules[1].probability: must be between 0 and 1, got 1.5"
    );
}
