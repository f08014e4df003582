//! Reading the configuration file: YAML to [`Config`] with errors that name the file, the key
//! path and the line, then validation with every problem reported at once.

use super::expand::{self, Env};
use super::schema::Config;
use super::validate::ValidationError;
use super::{overrides, secrets};
use std::fmt;
use std::path::Path;

/// Why a configuration could not be loaded. The `Display` form is meant for the operator: it
/// starts with the file name (`origin`), then the line and column when known, then the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{origin}: cannot read the configuration file: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML, or does not fit the schema (unknown key, wrong type, bad unit).
    #[error("{}", ParseDisplay(self))]
    Parse {
        /// File name or other description of where the text came from.
        origin: String,
        /// Key path such as `sampling.rules[2].when.span.status`; `None` at the top level.
        path: Option<String>,
        /// 1-based line, when the YAML parser knows it.
        line: Option<usize>,
        /// 1-based column, when the YAML parser knows it.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The file parsed, but some values are not acceptable. One line per problem.
    #[error("{}", InvalidDisplay(self))]
    Invalid {
        origin: String,
        errors: Vec<ValidationError>,
    },
}

struct ParseDisplay<'a>(&'a ConfigError);

impl fmt::Display for ParseDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError::Parse {
            origin,
            path,
            line,
            column,
            message,
        } = self.0
        else {
            return Ok(());
        };
        f.write_str(origin)?;
        match (line, column) {
            (Some(l), Some(c)) => write!(f, ":{l}:{c}")?,
            (Some(l), None) => write!(f, ":{l}")?,
            _ => {}
        }
        if let Some(p) = path {
            write!(f, ": {p}")?;
        }
        write!(f, ": {message}")
    }
}

struct InvalidDisplay<'a>(&'a ConfigError);

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError::Invalid { origin, errors } = self.0 else {
            return Ok(());
        };
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{origin}: {e}")?;
        }
        Ok(())
    }
}

/// Reads, parses and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &[])
}

/// Like [`load`], with `--set key.path=value` assignments applied over the file (in order).
pub fn load_with(path: &Path, set: &[String]) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        origin: origin.clone(),
        source,
    })?;
    parse_with(text.as_str(), &origin, set, &process_env)
}

/// Parses and validates configuration text. `origin` names the source in error messages
/// (usually the file name). `${env:VAR}` references are expanded from the process environment.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_with(text, origin, &[], &process_env)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// [`parse`] with `--set` assignments and the environment `${env:VAR}` is read from.
pub fn parse_with(
    text: &str,
    origin: &str,
    set: &[String],
    env: Env,
) -> Result<Config, ConfigError> {
    let invalid = |errors| ConfigError::Invalid {
        origin: origin.to_string(),
        errors,
    };
    // First pass into a generic YAML value: catches syntax errors and duplicate keys (which
    // would otherwise silently overwrite each other in maps such as `exporters`), and tells
    // an empty file apart from one with missing keys.
    let value: serde_yaml::Value =
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(|e| parse_error(origin, e))?;
    if value.is_null() && set.is_empty() {
        return Err(ConfigError::Parse {
            origin: origin.to_string(),
            path: None,
            line: None,
            column: None,
            message: "the configuration is empty: it needs at least `receivers` and `exporters`"
                .to_string(),
        });
    }
    let mut effective = value.clone();
    for assignment in set {
        overrides::apply(&mut effective, assignment).map_err(|message| ConfigError::Parse {
            origin: origin.to_string(),
            path: None,
            line: None,
            column: None,
            message,
        })?;
    }
    let mut errors = Vec::new();
    expand::expand(&mut effective, "", env, &mut errors);
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    // Second pass from the text again (not from the value) so that errors keep line numbers;
    // from the value when `--set` or `${env:...}` changed it (errors then have key paths only).
    let mut config: Config = if effective == value {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
    } else {
        serde_path_to_error::deserialize(effective.clone())
    }
    .map_err(|e| parse_error(origin, e))?;
    overrides::notes(&effective, "", &mut config.notes);
    // A Collector `tail_sampling:` block sets the matching `sampling:` settings.
    let mut errors = super::tail_sampling_settings::apply(&mut config, &effective);
    errors.extend(secrets::resolve_header_files(&mut config));
    errors.extend(config.validate().err().unwrap_or_default());
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(config)
}

fn parse_error(origin: &str, e: serde_path_to_error::Error<serde_yaml::Error>) -> ConfigError {
    let path = clean_path(&e.path().to_string());
    let location = e.inner().location();
    let message = clean_message(&e.inner().to_string(), path.as_deref(), location.as_ref());
    ConfigError::Parse {
        origin: origin.to_string(),
        path,
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message,
    }
}

/// `serde_path_to_error` writes `.` for the top level and `?` for a key it could not read
/// (a YAML syntax error); neither helps the reader.
fn clean_path(p: &str) -> Option<String> {
    let mut p = p;
    while let Some(rest) = p.strip_suffix(".?").or_else(|| p.strip_suffix("?")) {
        p = rest;
    }
    if p.is_empty() || p == "." {
        None
    } else {
        Some(p.to_string())
    }
}

/// serde_yaml's message carries its own (less precise) key path as a prefix and the location
/// as a suffix; both are reported separately, so strip them.
fn clean_message(msg: &str, path: Option<&str>, loc: Option<&serde_yaml::Location>) -> String {
    let mut m = msg;
    if let Some(l) = loc {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        m = m.strip_suffix(suffix.as_str()).unwrap_or(m);
    }
    if let Some(p) = path {
        // serde_yaml's prefix is the full path or one of its ancestors, followed by ": ".
        let cuts = p
            .char_indices()
            .filter(|&(_, c)| c == '.' || c == '[')
            .map(|(i, _)| i)
            .chain(std::iter::once(p.len()));
        for cut in cuts.collect::<Vec<_>>().into_iter().rev() {
            if let Some(rest) = m.strip_prefix(&p[..cut]).and_then(|r| r.strip_prefix(": ")) {
                m = rest;
                break;
            }
        }
    }
    m.to_string()
}
