//! Values read from outside the configuration file when it is loaded: exporter header values
//! from files (`headers_from_file`), merged into `headers` so the exporters see one map.

use super::schema::{Config, ExportProtocol};
use super::validate::{key, ValidationError};

/// Reads every `exporters.<name>.headers_from_file` entry into that exporter's `headers`.
/// Problems are returned with the key path of the entry; a value never appears in a message.
pub fn resolve_header_files(config: &mut Config) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (name, e) in config.exporters.iter_mut() {
        let p = key("exporters", name);
        let files = std::mem::take(&mut e.headers_from_file);
        if !files.is_empty() && e.protocol == ExportProtocol::File {
            errors.push(err(
                format!("{p}.headers_from_file"),
                "`headers_from_file` is not allowed for protocol `file`".into(),
            ));
            continue;
        }
        for (header, path) in files {
            let hp = key(&format!("{p}.headers_from_file"), &header);
            match read(&header, &path, e.headers.contains_key(&header)) {
                Ok(value) => {
                    e.headers.insert(header, value);
                }
                Err(m) => errors.push(err(hp, m)),
            }
        }
    }
    errors
}

fn err(path: String, message: String) -> ValidationError {
    ValidationError { path, message }
}

fn read(header: &str, path: &std::path::Path, in_headers: bool) -> Result<String, String> {
    if in_headers {
        return Err(format!(
            "header `{header}` is also given in `headers`: give it in one place"
        ));
    }
    if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
        return Err(format!(
            "`{header}` is not a valid HTTP header name (letters, digits and `-`, no spaces)"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("`{}` is empty", path.display()));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "`{}` does not hold a valid HTTP header value (visible ASCII and spaces only, one line)",
            path.display()
        ));
    }
    Ok(value.to_string())
}
