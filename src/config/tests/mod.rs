//! Tests of the config module: the README's configuration reference, every validation rejection, parse errors
//! and units.

mod cluster;
mod example;
mod exporters;
mod overrides;
mod parse_errors;
mod pipelines;
mod rules;
mod samplers;
mod sampling;
mod storage;
mod telemetry;
mod tls;
mod units;

use super::{parse, Config, ConfigError, ValidationError};

/// The README's configuration reference (the YAML block after its `config-reference` marker),
/// read from the README itself so the documented shape cannot drift: it must always parse and
/// validate with the values the tests below expect.
pub(super) static EXAMPLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let readme = include_str!("../../../README.md");
    let (_, after) = readme
        .split_once("<!-- config-reference")
        .expect("README.md marks its configuration reference");
    let block = after
        .split_once("```yaml\n")
        .and_then(|(_, b)| b.split_once("```"))
        .expect("a yaml block follows the marker")
        .0;
    block.to_string()
});

/// The smallest valid configuration; tests append keys to it.
pub(super) const BASE: &str = "\
receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }
exporters: { out: { protocol: file, path: out.jsonl } }
";

/// [`BASE`] with a `lite` fidelity profile and the rules `items` (YAML list items, one each).
pub(super) fn with_rules(items: &[&str]) -> String {
    let mut y =
        format!("{BASE}fidelity: {{ lite: {{ drop_events: true }} }}\nsampling:\n  rules:\n");
    for item in items {
        y.push_str("    - ");
        y.push_str(item);
        y.push('\n');
    }
    y
}

/// Validation errors of a config whose rules are the YAML list items `items`.
pub(super) fn invalid_rules(items: &[&str]) -> Vec<ValidationError> {
    invalid(&with_rules(items))
}

/// The example, parsed (and validated).
pub(super) fn example() -> Config {
    parse(&EXAMPLE, "example.yaml").unwrap_or_else(|e| panic!("example must be valid:\n{e}"))
}

/// Validation errors of `yaml`, which must parse but not validate.
pub(super) fn invalid(yaml: &str) -> Vec<ValidationError> {
    match parse(yaml, "config.yaml") {
        Err(ConfigError::Invalid { errors, .. }) => errors,
        Err(other) => panic!("expected validation errors, got a different error:\n{other}"),
        Ok(_) => panic!("expected validation errors, but the config is valid:\n{yaml}"),
    }
}

/// Validation errors of a config (built in code), which must not validate.
pub(super) fn invalid_config(c: &Config) -> Vec<ValidationError> {
    match c.validate() {
        Err(errors) => {
            assert!(!errors.is_empty(), "validate returned an empty error list");
            errors
        }
        Ok(()) => panic!("expected validation errors, but the config is valid"),
    }
}

/// Asserts that the example with `set(value)` is invalid at `path` for each of `bad` (the error
/// names the `range` and the value) and valid for each of `good`.
#[track_caller]
pub(super) fn assert_bounds<T: Copy + std::fmt::Display>(
    path: &str,
    range: &str,
    set: fn(&mut Config, T),
    bad: &[T],
    good: &[T],
) {
    for &value in bad {
        let mut c = example();
        set(&mut c, value);
        assert_has(&invalid_config(&c), path, &[range, &format!("got {value}")]);
    }
    for &value in good {
        let mut c = example();
        set(&mut c, value);
        assert_eq!(c.validate(), Ok(()), "{path}: {value}");
    }
}

/// Asserts that some error has exactly `path` and a message containing every one of `needles`.
#[track_caller]
pub(crate) fn assert_has(errors: &[ValidationError], path: &str, needles: &[&str]) {
    let found = errors
        .iter()
        .any(|e| e.path == path && needles.iter().all(|n| e.message.contains(n)));
    assert!(
        found,
        "no error at `{path}` containing {needles:?}; errors were:\n{}",
        errors
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Asserts [`assert_has`] for each line `path: needle | needle` of `expected` (blank lines are
/// skipped): a list of the errors a config must bring, one a line.
#[track_caller]
pub(crate) fn assert_errors(errors: &[ValidationError], expected: &str) {
    for line in expected.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (path, needles) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("expected `path: needle | needle`, got `{line}`"));
        let needles: Vec<&str> = needles.split(" | ").collect();
        assert_has(errors, path, &needles);
    }
}

/// Asserts that `yaml` fails to parse (before validation) and returns the error's parts.
#[track_caller]
pub(super) fn parse_failure(yaml: &str) -> (Option<String>, Option<usize>, String, String) {
    match parse(yaml, "config.yaml") {
        Err(e @ ConfigError::Parse { .. }) => {
            let shown = e.to_string();
            let ConfigError::Parse {
                path,
                line,
                message,
                ..
            } = e
            else {
                unreachable!()
            };
            (path, line, message, shown)
        }
        Err(other) => panic!("expected a parse error, got:\n{other}"),
        Ok(_) => panic!("expected a parse error, but the config is valid:\n{yaml}"),
    }
}

/// Asserts that no error's message contains `needle`; `why` says what that means.
#[track_caller]
pub(super) fn assert_none_say(errors: &[ValidationError], needle: &str, why: &str) {
    let bad: Vec<_> = errors
        .iter()
        .filter(|e| e.message.contains(needle))
        .collect();
    assert!(bad.is_empty(), "{why}: {bad:#?}");
}

/// [`assert_errors`], and that there are no other errors.
#[track_caller]
pub(super) fn assert_only(errors: &[ValidationError], expected: &str) {
    assert_errors(errors, expected);
    let lines = expected.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(errors.len(), lines, "{errors:#?}");
}

/// Asserts that `yaml` fails to parse at the key `path` with a message containing every one of
/// `needles`; returns the error's line and the error as shown.
#[track_caller]
pub(super) fn assert_parse_error(
    yaml: &str,
    path: &str,
    needles: &[&str],
) -> (Option<usize>, String) {
    let (at, line, message, shown) = parse_failure(yaml);
    assert_eq!(at.as_deref(), Some(path), "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "{path}: {needle:?} not in {message}"
        );
    }
    (line, shown)
}
