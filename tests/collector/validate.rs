//! `tailsift validate` (the real binary) on the examples of the Collector's tailsamplingprocessor
//! documentation, pasted unchanged into `tests/collector_examples/`: each is accepted, except
//! one the Collector rejects as well, which gets an error naming the key.

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/collector_examples")
}

fn validate(file: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tailsift"))
        .arg("validate")
        .arg("--config")
        .arg(file)
        .output()
        .expect("run tailsift");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Examples written with a mistake, and what the error must say.
const REJECTED: [(&str, &[&str]); 1] = [(
    "readme_practical_example.yaml",
    &[
        "tail_sampling.policies[6].drop.drop_sub_policy[0].string_attribute",
        "unknown field `value`",
    ],
)];

#[test]
fn the_collector_documentation_examples_validate() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .expect("tests/collector_examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "examples: {files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let (ok, text) = validate(&file);
        match REJECTED.iter().find(|(n, _)| *n == name) {
            None => {
                assert!(ok, "{name} is rejected:\n{text}");
                assert!(text.contains(" tail_sampling polic"), "{text}");
            }
            Some((_, words)) => {
                assert!(!ok, "{name} is accepted, but has a mistake:\n{text}");
                for w in *words {
                    assert!(text.contains(w), "{name}: the error lacks {w:?}:\n{text}");
                }
            }
        }
    }
}

#[test]
fn validate_reports_policies_and_rejects_rules_with_tail_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("both.yaml");
    std::fs::write(
        &both,
        r#"
receivers: { otlp: { grpc: { endpoint: "0.0.0.0:4317" } } }
exporters: { archive: { protocol: file, path: kept-traces.jsonl } }
sampling:
  rules: [{ name: everything, keep: true }]
tail_sampling:
  policies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }]
"#,
    )
    .unwrap();
    let (ok, text) = validate(&both);
    assert!(!ok);
    assert!(
        text.contains("tail_sampling: both `sampling.rules` and `tail_sampling` are given"),
        "{text}"
    );
    let bad_ottl = dir.path().join("ottl.yaml");
    std::fs::write(
        &bad_ottl,
        r#"
receivers: { otlp: { grpc: { endpoint: "0.0.0.0:4317" } } }
exporters: { archive: { protocol: file, path: kept-traces.jsonl } }
tail_sampling:
  policies:
    - name: long-names
      type: ottl_condition
      ottl_condition:
        span: ['Len(name) > 100']
"#,
    )
    .unwrap();
    let (ok, text) = validate(&bad_ottl);
    assert!(!ok);
    assert!(
        text.contains("tail_sampling.policies[0].ottl_condition.span[0]")
            && text.contains("unsupported function `Len`"),
        "{text}"
    );
}

#[test]
fn the_readme_migration_example_validates() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("## Migrating from the OpenTelemetry Collector")
        .nth(1)
        .expect("the migration section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readme.yaml");
    std::fs::write(&file, yaml).unwrap();
    let (ok, text) = validate(&file);
    assert!(ok, "{text}\n{yaml}");
    assert!(text.contains("4 tail_sampling policies"), "{text}");
}
