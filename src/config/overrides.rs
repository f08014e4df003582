//! `--set key.path=value` on the command line: changes one value of the configuration without
//! editing the file (listen addresses on a host, a level for one run). The path is written as
//! error messages write it: `receivers.otlp.grpc.endpoint`, `sampling.rules[0].probability`,
//! `exporters["my.exporter"].endpoint` for a key with dots; the value is YAML
//! (`--set sampling.decision_wait=2m`, `--set 'exporters.tempo.headers={X-Scope-OrgID: a}'`);
//! a value that does not read as YAML, such as `[::]:4317`, is taken as a string.
//! Missing mappings on the way are created; later `--set`s win over earlier ones.

use serde_yaml::{Mapping, Value};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Splits `a.b[2]["c.d"]` into steps.
fn steps(path: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r
                .find("\"]")
                .ok_or_else(|| format!("`[\"` without a closing `\"]` in `{path}`"))?;
            out.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("`[` without a closing `]` in `{path}`"))?;
            let i = r[..end]
                .parse()
                .map_err(|_| format!("`[{}]` in `{path}` is not a list index", &r[..end]))?;
            out.push(Step::Index(i));
            rest = &r[end + 1..];
        } else {
            let r = if out.is_empty() {
                rest
            } else {
                rest.strip_prefix('.')
                    .ok_or_else(|| format!("expected `.` or `[` in `{path}` before `{rest}`"))?
            };
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(format!("empty key in `{path}`"));
            }
            out.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        }
    }
    if out.is_empty() {
        return Err("empty key path".to_string());
    }
    Ok(out)
}

/// Applies one `path=value` to `root`. The error names the path and what is in the way.
pub fn apply(root: &mut Value, assignment: &str) -> Result<(), String> {
    let (path, text) = assignment
        .split_once('=')
        .ok_or_else(|| format!("`--set {assignment}`: write it as `key.path=value`"))?;
    let path = path.trim();
    let fail = |m: String| format!("--set {path}: {m}");
    let steps = steps(path).map_err(fail)?;
    let value: Value = if text.trim().is_empty() {
        Value::String(String::new())
    } else {
        match serde_yaml::from_str(text) {
            Ok(v) => v,
            // `[::]:4317` is no YAML, but plainly an address: a string.
            Err(_) if !text.trim_start().starts_with('{') => Value::String(text.to_string()),
            Err(e) => return Err(fail(format!("the value is not YAML: {e}"))),
        }
    };
    let mut here = root;
    let mut walked = String::new();
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        if here.is_null() {
            *here = Value::Mapping(Mapping::new());
        }
        here = match (step, here) {
            (Step::Key(k), Value::Mapping(m)) => {
                let key = Value::String(k.clone());
                if last {
                    m.insert(key, value);
                    return Ok(());
                }
                m.entry(key).or_insert(Value::Null)
            }
            (Step::Index(n), Value::Sequence(items)) => {
                let len = items.len();
                let item = items.get_mut(*n).ok_or_else(|| {
                    fail(format!(
                        "`{walked}` has {len} entries, so there is no [{n}]"
                    ))
                })?;
                if last {
                    *item = value;
                    return Ok(());
                }
                item
            }
            (step, other) => {
                let what = match other {
                    Value::Mapping(_) => "a mapping",
                    Value::Sequence(_) => "a list",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "a value",
                };
                let want = match step {
                    Step::Key(_) => "a mapping",
                    Step::Index(_) => "a list",
                };
                let at = if walked.is_empty() {
                    "the top level"
                } else {
                    &walked
                };
                return Err(fail(format!("`{at}` is {what}, not {want}")));
            }
        };
        match step {
            Step::Key(k) if walked.is_empty() => walked.push_str(k),
            Step::Key(k) => walked = super::validate::key(&walked, k),
            Step::Index(n) => walked.push_str(&format!("[{n}]")),
        }
    }
    Ok(())
}

/// Notes for the operator about values that are valid but easy to misread: sizes written with
/// a decimal unit (`512MB` is 512,000,000 bytes, not 512 MiB). Attribute values that happen to
/// look like sizes are left alone.
pub fn notes(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        // Only sizes: the keys that end in `bytes`, and `memory_limit`.
        Value::String(s) if path.ends_with("bytes") || path.ends_with("memory_limit") => {
            let t = s.trim();
            let number = t
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .trim_end();
            let binary = match t[t.len()
                - t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                    .len()..]
                .trim()
            {
                "KB" | "kB" => "KiB",
                "MB" => "MiB",
                "GB" => "GiB",
                _ => return,
            };
            let (Ok(bytes), Ok(meant)) = (
                super::units::parse_size(t),
                super::units::parse_size(&format!("{number}{binary}")),
            ) else {
                return;
            };
            out.push(format!(
                "{}: `{t}` is a decimal size: {} bytes (write `{number}{binary}` for {} bytes)",
                path.strip_prefix('.').unwrap_or(path),
                super::units::group_digits(bytes),
                super::units::group_digits(meant),
            ));
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                notes(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m {
                if let Some(k) = k.as_str() {
                    notes(v, &super::validate::key(path, k), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(yaml: &str, assignment: &str) -> Result<Value, String> {
        let mut v: Value = serde_yaml::from_str(yaml).unwrap();
        apply(&mut v, assignment).map(|_| v)
    }

    #[test]
    fn sets_values_creating_mappings_on_the_way() {
        let v = set(
            "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }",
            "receivers.otlp.grpc.endpoint=0.0.0.0:4317",
        )
        .unwrap();
        assert_eq!(
            v["receivers"]["otlp"]["grpc"]["endpoint"],
            Value::String("0.0.0.0:4317".into())
        );
        let v = set("a: 1", "telemetry.metrics.endpoint=[::]:8888").unwrap();
        assert_eq!(
            v["telemetry"]["metrics"]["endpoint"],
            Value::String("[::]:8888".into())
        );
        let v = set(
            "s: { rules: [ { name: a }, { name: b } ] }",
            "s.rules[1].probability=0.25",
        )
        .unwrap();
        assert_eq!(
            v["s"]["rules"][1]["probability"],
            serde_yaml::from_str::<Value>("0.25").unwrap()
        );
        let v = set("e: {}", "e[\"my.exp\"].headers={X-A: b}").unwrap();
        assert_eq!(
            v["e"]["my.exp"]["headers"]["X-A"],
            Value::String("b".into())
        );
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = set("a: { b: text }", "a.b.c=1").unwrap_err();
        assert_eq!(e, "--set a.b.c: `a.b` is a string, not a mapping");
        let e = set("s: { rules: [ {} ] }", "s.rules[3].name=x").unwrap_err();
        assert_eq!(
            e,
            "--set s.rules[3].name: `s.rules` has 1 entries, so there is no [3]"
        );
        assert!(set("a: 1", "a.b").unwrap_err().contains("key.path=value"));
        assert!(set("a: 1", "a..b=1").unwrap_err().contains("empty key"));
        assert!(set("a: 1", "a[x]=1")
            .unwrap_err()
            .contains("not a list index"));
        assert!(set("a: 1", "b={x")
            .unwrap_err()
            .starts_with("--set b: the value is not YAML"));
    }

    #[test]
    fn decimal_sizes_get_a_note() {
        let v: Value = serde_yaml::from_str(
            "sampling: { memory_limit: 512MB, max_buffer_bytes: 256MiB, rules: [{ when: { span: { attributes: { size: 5MB } } } }] }\nexporters: { t: { queue: { max_bytes: 2GB } } }",
        )
        .unwrap();
        let mut out = Vec::new();
        notes(&v, "", &mut out);
        assert_eq!(out, vec![
            "sampling.memory_limit: `512MB` is a decimal size: 512,000,000 bytes (write `512MiB` for 536,870,912 bytes)".to_string(),
            "exporters.t.queue.max_bytes: `2GB` is a decimal size: 2,000,000,000 bytes (write `2GiB` for 2,147,483,648 bytes)".to_string(),
        ]);
    }
}
