//! `${env:VAR}` in configuration values, as in the OpenTelemetry Collector: secrets and
//! per-host settings stay out of the file.
//!
//! - A value that is exactly `${env:VAR}` becomes the variable's value read as YAML (so
//!   `PORT=4317` gives the number 4317); inside a longer string it is inserted as text.
//! - `${env:VAR:-default}` uses `default` when `VAR` is unset or empty.
//! - `$${...}` is a literal `${...}` (no expansion).
//! - An unset variable without a default is an error naming the key path and the variable
//!   (the Collector substitutes an empty string; an empty endpoint or header is never meant).
//! - Only values are expanded, never keys.

use super::validate::ValidationError;
use serde_yaml::Value;

/// Reads an environment variable (the process environment, or a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands every `${env:...}` in the values of `value`; `path` is the key path of `value`.
pub fn expand(value: &mut Value, path: &str, env: Env, errors: &mut Vec<ValidationError>) {
    match value {
        Value::String(s) if s.contains("${") => match expand_str(s, env) {
            Ok(Expanded::Whole(v)) => *value = v,
            Ok(Expanded::Text(t)) => *s = t,
            Err(message) => errors.push(ValidationError {
                path: display(path),
                message,
            }),
        },
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand(v, &format!("{path}[{i}]"), env, errors);
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let child = match k.as_str() {
                    Some(k) => super::validate::key(path, k),
                    None => format!("{path}[{k:?}]"),
                };
                expand(v, &child, env, errors);
            }
        }
        Value::Tagged(t) => expand(&mut t.value, path, env, errors),
        _ => {}
    }
}

fn display(path: &str) -> String {
    path.strip_prefix('.').unwrap_or(path).to_string()
}

enum Expanded {
    /// The whole value was one reference: its value read as YAML.
    Whole(Value),
    Text(String),
}

fn expand_str(s: &str, env: Env) -> Result<Expanded, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut whole = None;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${` is a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in `{s}`"))?;
        let reference = &after[..end];
        let value = lookup(reference, env)?;
        if at == 0 && end + 3 == rest.len() && out.is_empty() && rest.len() == s.len() {
            whole = Some(value.clone());
        }
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(match whole {
        Some(v) => Expanded::Whole(as_yaml(&v)),
        None => Expanded::Text(out),
    })
}

/// The value of `env:NAME` or `env:NAME:-default`.
fn lookup(reference: &str, env: Env) -> Result<String, String> {
    let Some(spec) = reference.strip_prefix("env:") else {
        return Err(format!(
            "`${{{reference}}}`: only `${{env:NAME}}` is supported (write `$${{...}}` for a literal `${{`)"
        ));
    };
    let (name, default) = match spec.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (spec, None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`${{{reference}}}`: `{name}` is not an environment variable name (letters, digits, `_`)"
        ));
    }
    match (env(name).filter(|v| !v.is_empty()), default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set (referenced as `${{env:{name}}}`; \
             give a default with `${{env:{name}:-value}}`)"
        )),
    }
}

/// A variable's value read as a YAML scalar (`4317` a number, `true` a boolean); anything
/// that does not read as one scalar stays a string.
fn as_yaml(v: &str) -> Value {
    match serde_yaml::from_str::<Value>(v) {
        Ok(parsed @ (Value::Number(_) | Value::Bool(_))) => parsed,
        _ => Value::String(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("0.0.0.0".into()),
            "TOKEN" => Some("s3cr3t: with colon".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(yaml: &str) -> (Value, Vec<ValidationError>) {
        let mut v: Value = serde_yaml::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        expand(&mut v, "", &env, &mut errors);
        (v, errors)
    }

    #[test]
    fn whole_values_are_read_as_yaml_and_embedded_ones_as_text() {
        let (v, e) = run(
            "a: ${env:PORT}\nb: ${env:HOST}:${env:PORT}\nc: { h: 'Bearer ${env:TOKEN}' }\nd: ['${env:TOKEN}']",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(v["a"], Value::Number(4317.into()));
        assert_eq!(v["b"], Value::String("0.0.0.0:4317".into()));
        assert_eq!(
            v["c"]["h"],
            Value::String("Bearer s3cr3t: with colon".into())
        );
        assert_eq!(v["d"][0], Value::String("s3cr3t: with colon".into()));
    }

    #[test]
    fn defaults_and_escapes() {
        let (v, e) =
            run("a: ${env:NOPE:-127.0.0.1:4317}\nb: $${env:PORT}\nc: ${env:EMPTY:-x}\nd: a$$b");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(v["a"], Value::String("127.0.0.1:4317".into()));
        assert_eq!(v["b"], Value::String("${env:PORT}".into()));
        assert_eq!(v["c"], Value::String("x".into()));
        assert_eq!(v["d"], Value::String("a$$b".into()));
    }

    #[test]
    fn errors_name_the_key_path_and_the_variable() {
        let (_, e) = run("exporters:\n  tempo:\n    headers: { Authorization: 'Bearer ${env:TEMPO_TOKEN}' }\nx: ${HOME}\ny: ${env:1A}\nz: ${env:PORT");
        let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].starts_with("exporters.tempo.headers.Authorization: environment variable `TEMPO_TOKEN` is not set"), "{}", msgs[0]);
        assert!(
            msgs[1].starts_with("x: `${HOME}`: only `${env:NAME}`"),
            "{}",
            msgs[1]
        );
        assert!(msgs[2].starts_with("y: `${env:1A}`"), "{}", msgs[2]);
        assert!(
            msgs[3].starts_with("z: `${` without a closing"),
            "{}",
            msgs[3]
        );
    }
}
