//! `tailsift simulate` as operators run it: the real binary on the recorded fixture in
//! tests/fixtures/simulate, whose expected counts are worked out by hand in its README.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/simulate")
        .join(name)
}

fn simulate(input: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailsift"))
        .arg("simulate")
        .arg("--config")
        .arg(fixture("config.yaml"))
        .arg("--input")
        .arg(input)
        .args(extra)
        .output()
        .expect("run tailsift")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// (rule, matched, kept, dropped, spans kept, bytes matched, bytes kept), from the README.
const EXPECTED: [(&str, u64, u64, u64, u64, u64, u64); 4] = [
    ("errors", 2, 2, 0, 4, 268, 268),
    ("healthz", 1, 0, 1, 0, 62, 0),
    ("premium", 3, 2, 1, 3, 409, 302),
    ("rest", 2, 0, 2, 0, 345, 0),
];

fn check_json(v: &Value) {
    let rules = v["rules"].as_array().unwrap();
    for (i, (rule, matched, kept, dropped, spans_kept, bytes_matched, bytes_kept)) in
        EXPECTED.iter().enumerate()
    {
        let r = &rules[i];
        assert_eq!(r["rule"], *rule);
        assert_eq!(r["matched"], *matched, "{rule}");
        assert_eq!(r["kept"], *kept, "{rule}");
        assert_eq!(r["dropped"], *dropped, "{rule}");
        assert_eq!(r["spans_kept"], *spans_kept, "{rule}");
        assert_eq!(r["bytes_matched"], *bytes_matched, "{rule}");
        assert_eq!(r["bytes_kept"], *bytes_kept, "{rule}");
    }
    assert_eq!(rules[4]["rule"], "_default");
    assert_eq!(rules[4]["matched"], 0);
    let t = &v["totals"];
    assert_eq!(t["traces"], 8);
    assert_eq!(t["spans"], 15);
    assert_eq!(t["bytes"], 1084);
    assert_eq!(t["kept_traces"], 4);
    assert_eq!(t["kept_spans"], 7);
    assert_eq!(t["kept_bytes"], 570);
    assert_eq!(t["rejected_spans"], 0);
    let red = &v["reduction"];
    assert!((red["traces"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!((red["spans"].as_f64().unwrap() - 8.0 / 15.0).abs() < 1e-12);
    assert!((red["bytes"].as_f64().unwrap() - 514.0 / 1084.0).abs() < 1e-12);
}

#[test]
fn table_shows_the_hand_computed_counts() {
    let out = stdout(&simulate(&fixture("traces.jsonl"), &[]));
    assert!(
        out.starts_with(
            "replayed 7 requests: 8 traces, 15 spans, 1084 bytes, over 7.0 s of recorded time"
        ),
        "{out}"
    );
    let row = |name: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}:\n{out}"));
        line.split_whitespace().map(String::from).collect()
    };
    let tail = |r: Vec<String>| r[r.len() - 5..].to_vec();
    assert_eq!(tail(row("errors")), ["2", "2", "0", "4", "268"]);
    assert_eq!(tail(row("healthz")), ["1", "0", "1", "0", "0"]);
    assert_eq!(tail(row("premium")), ["3", "2", "1", "3", "302"]);
    assert_eq!(tail(row("rest")), ["2", "0", "2", "0", "0"]);
    assert_eq!(tail(row("total")), ["8", "4", "4", "7", "570"]);
    assert!(
        out.contains("reduction: traces 50.0%, spans 53.3%, bytes 47.4%"),
        "{out}"
    );
}

#[test]
fn json_shows_the_hand_computed_counts() {
    let out = stdout(&simulate(&fixture("traces.jsonl"), &["--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    check_json(&v);
}

#[test]
fn explain_names_the_deciding_rule_and_the_ones_before_it() {
    let out = stdout(&simulate(
        &fixture("traces.jsonl"),
        &[
            "--explain",
            "00000000000010030000000000000001",
            "--explain",
            "00000000000010080000000000000001",
        ],
    ));
    // Trace 3: a failing health check is caught by `errors`, the first rule.
    let t3 = out
        .split("trace 00000000000010030000000000000001:")
        .nth(1)
        .unwrap();
    assert!(
        t3.starts_with("\n  rule 0 `errors`: matched\n  decided by `errors` (keep): kept\n"),
        "{out}"
    );
    // Trace 8: premium, kept through the tracestate's rv.
    let t8 = out
        .split("trace 00000000000010080000000000000001:")
        .nth(1)
        .unwrap();
    assert!(t8.contains("rule 0 `errors`: no match (did not hold: span)"));
    assert!(t8.contains("rule 1 `healthz`: no match (did not hold: root)"));
    assert!(t8.contains("rule 2 `premium`: matched"));
    assert!(t8.contains("decided by `premium` (probability: 0.5): kept"));
    assert!(t8.contains("randomness 0xffffffffffffff is at or above the threshold"));
}

#[test]
fn length_prefixed_protobuf_gives_the_same_counts() {
    let text = std::fs::read_to_string(fixture("traces.jsonl")).unwrap();
    let mut proto = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let body = tailsift::otlp::json::json_to_protobuf(line.as_bytes()).unwrap();
        proto.extend_from_slice(&(body.len() as u32).to_be_bytes());
        proto.extend_from_slice(&body);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.pb");
    std::fs::write(&path, proto).unwrap();
    let out = stdout(&simulate(&path, &["--format", "json"]));
    check_json(&serde_json::from_str(&out).unwrap());
}

#[test]
fn bad_input_and_bad_trace_ids_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"resourceSpans\": []}\n{not json\n").unwrap();
    let o = simulate(&path, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.jsonl:2: not an OTLP JSON"), "{err}");
    let o = simulate(&fixture("traces.jsonl"), &["--explain", "xyz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("32 hex digits"));
    let o = simulate(&dir.path().join("missing.jsonl"), &[]);
    assert_eq!(o.status.code(), Some(1));
}

fn readme_section(title: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split(title).nth(1).expect("the README section");
    section.split("\n## ").next().unwrap().to_string()
}

#[test]
fn the_readme_adaptive_example_is_valid() {
    let section = readme_section("## Adaptive sampling");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    let text = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317 }} }} }}\n\
         exporters: {{ out: {{ protocol: file, path: out.jsonl }} }}\n\
         fidelity: {{ lite: {{ drop_events: true }} }}\n{yaml}"
    );
    let c = tailsift::config::parse(&text, "README.md").unwrap_or_else(|e| panic!("{e}"));
    tailsift::rules::RuleSet::compile(&c).unwrap();
}

#[test]
fn the_readme_walkthrough_shows_real_output() {
    let section = readme_section("## Trying a rule change: `tailsift simulate`");
    let shown = section
        .split("```\n$ tailsift simulate")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the walkthrough block");
    let printed = shown.split_once('\n').unwrap().1;
    let out = stdout(&simulate(&fixture("traces.jsonl"), &[]));
    assert_eq!(printed, out);
}
