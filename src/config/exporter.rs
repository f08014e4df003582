//! The typed shape of one exporter: the flat `exporters.<name>` struct (kept flat, with
//! `deny_unknown_fields`, for good parse errors) converted once into one variant per protocol,
//! carrying only that protocol's settings. Validation and the exporters both go through
//! [`ExporterConfig::target`], so what validation accepts is what the exporters build.

use super::schema::{Compression, ExportProtocol, ExporterConfig};
use super::schema_tls::TlsConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where an exporter sends kept spans, per protocol.
#[derive(Debug, Clone)]
pub enum Target {
    OtlpGrpc(Otlp),
    OtlpHttp(Otlp),
    File { path: PathBuf },
}

/// An OTLP destination (gRPC or HTTP).
#[derive(Debug, Clone)]
pub struct Otlp {
    /// `http[s]://host[:port][/path]`, checked.
    pub endpoint: String,
    /// Whether `endpoint` is `https://`.
    pub https: bool,
    /// Valid HTTP header names and values (with `headers_from_file` merged in).
    pub headers: BTreeMap<String, String>,
    pub compression: BodyCompression,
    pub tls: Option<TlsConfig>,
}

/// How export request bodies are compressed, with the level checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCompression {
    None,
    /// flate2 level, 1..=9.
    Gzip {
        level: u32,
    },
    /// zstd level, 1..=22.
    Zstd {
        level: i32,
    },
}

/// gzip level when `compression_level` is not set: the cheapest in CPU (README, "Compression").
pub const DEFAULT_GZIP_LEVEL: u32 = 1;
/// zstd level when `compression_level` is not set (README, "Compression").
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// Accepted levels per compression.
pub const GZIP_LEVELS: std::ops::RangeInclusive<i64> = 1..=9;
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i64> = 1..=22;

impl BodyCompression {
    /// The compression and level an exporter's keys ask for.
    pub fn from_keys(
        compression: Option<Compression>,
        level: Option<i64>,
    ) -> Result<BodyCompression, ExporterError> {
        let check = |name: &'static str, range: std::ops::RangeInclusive<i64>, default: i64| {
            let l = level.unwrap_or(default);
            if range.contains(&l) {
                Ok(l)
            } else {
                Err(ExporterError::Level {
                    compression: name,
                    level: l,
                    min: *range.start(),
                    max: *range.end(),
                })
            }
        };
        match compression.unwrap_or(Compression::Gzip) {
            Compression::None if level.is_some() => Err(ExporterError::LevelWithoutCompression),
            Compression::None => Ok(BodyCompression::None),
            Compression::Gzip => check("gzip", GZIP_LEVELS, DEFAULT_GZIP_LEVEL.into())
                .map(|l| BodyCompression::Gzip { level: l as u32 }),
            Compression::Zstd => check("zstd", ZSTD_LEVELS, DEFAULT_ZSTD_LEVEL.into())
                .map(|l| BodyCompression::Zstd { level: l as i32 }),
        }
    }

    /// The name OTLP uses for it (`Content-Encoding`, `grpc-encoding`); `None` when not compressed.
    pub fn encoding(self) -> Option<&'static str> {
        match self {
            BodyCompression::None => None,
            BodyCompression::Gzip { .. } => Some("gzip"),
            BodyCompression::Zstd { .. } => Some("zstd"),
        }
    }
}

/// Why an exporter's protocol-specific keys do not fit together. [`ExporterError::key`] is the
/// key it concerns, under `exporters.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExporterError {
    #[error("missing: protocol {protocol} needs `endpoint: http://host:port`")]
    MissingEndpoint { protocol: &'static str },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("`path` is only for protocol `file`; protocol {protocol} sends to `endpoint`")]
    PathNotForOtlp { protocol: &'static str },
    #[error("`{name}` is not a valid HTTP header name (letters, digits and `-`, no spaces)")]
    HeaderName { name: String },
    #[error("the value of header `{name}` is not a valid HTTP header value (visible ASCII and spaces only, no line breaks)")]
    HeaderValue { name: String },
    #[error("missing: protocol file needs `path: <file name>`")]
    MissingPath,
    #[error("must not be empty")]
    EmptyPath,
    #[error("`{key}` is not used by protocol `file`: remove it")]
    NotForFile { key: &'static str },
    #[error("{compression} levels go from {min} to {max}, got {level}")]
    Level {
        compression: &'static str,
        level: i64,
        min: i64,
        max: i64,
    },
    #[error("needs `compression: gzip` or `compression: zstd` (compression is `none`)")]
    LevelWithoutCompression,
}

/// Why an OTLP endpoint is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{endpoint}` is not a valid URL: {reason}")]
    NotUrl { endpoint: String, reason: String },
    #[error("`{endpoint}` has the unsupported scheme `{scheme}`: use http://host:port or https://host:port")]
    Scheme { endpoint: String, scheme: String },
    #[error("`{0}` has no scheme: write it as `http://{0}`")]
    NoScheme(String),
    #[error("`{0}` has no host: write it as `http://host:port`")]
    NoHost(String),
    #[error("`{endpoint}` has an invalid port `{port}`: use a number from 1 to 65535")]
    Port { endpoint: String, port: String },
}

impl ExporterError {
    /// The key concerned, relative to `exporters.<name>` (`endpoint`, `headers.<name>`, ...).
    pub fn key(&self) -> String {
        match self {
            ExporterError::MissingEndpoint { .. } | ExporterError::Endpoint(_) => "endpoint".into(),
            ExporterError::PathNotForOtlp { .. }
            | ExporterError::MissingPath
            | ExporterError::EmptyPath => "path".into(),
            ExporterError::HeaderName { name } | ExporterError::HeaderValue { name } => {
                super::validate::key("headers", name)
            }
            ExporterError::NotForFile { key } => (*key).into(),
            ExporterError::Level { .. } | ExporterError::LevelWithoutCompression => {
                "compression_level".into()
            }
        }
    }
}

impl ExportProtocol {
    pub fn name(self) -> &'static str {
        match self {
            ExportProtocol::OtlpGrpc => "otlp_grpc",
            ExportProtocol::OtlpHttp => "otlp_http",
            ExportProtocol::File => "file",
        }
    }
}

impl ExporterConfig {
    /// The protocol's settings, or every reason they do not fit together.
    pub fn target(&self) -> Result<Target, Vec<ExporterError>> {
        match self.protocol {
            ExportProtocol::OtlpGrpc => self.otlp().map(Target::OtlpGrpc),
            ExportProtocol::OtlpHttp => self.otlp().map(Target::OtlpHttp),
            ExportProtocol::File => self.file(),
        }
    }

    fn otlp(&self) -> Result<Otlp, Vec<ExporterError>> {
        let protocol = self.protocol.name();
        let mut errs = Vec::new();
        let endpoint = match &self.endpoint {
            None => Err(ExporterError::MissingEndpoint { protocol }),
            Some(ep) => check_otlp_endpoint(ep)
                .map(|https| (ep.clone(), https))
                .map_err(ExporterError::from),
        };
        let endpoint = endpoint.map_err(|e| errs.push(e)).ok();
        if self.path.is_some() {
            errs.push(ExporterError::PathNotForOtlp { protocol });
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errs.push(ExporterError::HeaderName { name: name.clone() });
            }
            if http::HeaderValue::from_str(value).is_err() {
                errs.push(ExporterError::HeaderValue { name: name.clone() });
            }
        }
        let compression = BodyCompression::from_keys(self.compression, self.compression_level)
            .map_err(|e| errs.push(e))
            .ok();
        match (endpoint, compression) {
            (Some((endpoint, https)), Some(compression)) if errs.is_empty() => Ok(Otlp {
                endpoint,
                https,
                headers: self.headers.clone(),
                compression,
                tls: self.tls.clone(),
            }),
            _ => Err(errs),
        }
    }

    fn file(&self) -> Result<Target, Vec<ExporterError>> {
        let mut errs = Vec::new();
        let path = match &self.path {
            None => Err(ExporterError::MissingPath),
            Some(p) if p.as_os_str().is_empty() => Err(ExporterError::EmptyPath),
            Some(p) => Ok(p.clone()),
        };
        let path = path.map_err(|e| errs.push(e)).ok();
        let unused = [
            ("endpoint", self.endpoint.is_some()),
            ("headers", !self.headers.is_empty()),
            ("compression", self.compression.is_some()),
            ("compression_level", self.compression_level.is_some()),
            ("tls", self.tls.is_some()),
        ];
        for (key, set) in unused {
            if set {
                errs.push(ExporterError::NotForFile { key });
            }
        }
        match path {
            Some(path) if errs.is_empty() => Ok(Target::File { path }),
            _ => Err(errs),
        }
    }
}

/// An OTLP endpoint: `http[s]://host[:port][/path]`; whether it is `https`.
pub(super) fn check_otlp_endpoint(ep: &str) -> Result<bool, EndpointError> {
    let uri: http::Uri = ep
        .parse()
        .map_err(|e: http::uri::InvalidUri| EndpointError::NotUrl {
            endpoint: ep.to_string(),
            reason: e.to_string(),
        })?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(EndpointError::Scheme {
                endpoint: ep.to_string(),
                scheme: other.to_string(),
            })
        }
        None => return Err(EndpointError::NoScheme(ep.to_string())),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(EndpointError::NoHost(ep.to_string()));
    }
    // `http::Uri` accepts any digits as a port; a port above 65535 would fail only when sending.
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if let Some((_, port)) = host_port.rsplit_once(':') {
        if !host_port.ends_with(']') && !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(EndpointError::Port {
                endpoint: ep.to_string(),
                port: port.to_string(),
            });
        }
    }
    Ok(https)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn exporter(yaml: &str) -> ExporterConfig {
        let text = format!("receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317 }} }} }}\nexporters: {{ out: {yaml} }}\n");
        let cfg = parse(&text, "test").expect("valid");
        cfg.exporters["out"].clone()
    }

    #[test]
    fn each_protocol_keeps_only_its_settings() {
        let g = exporter(
            "{ protocol: otlp_grpc, endpoint: \"https://tempo:4317\", compression: none }",
        );
        match g.target() {
            Ok(Target::OtlpGrpc(o)) => {
                assert!(
                    o.https
                        && o.compression == BodyCompression::None
                        && o.endpoint == "https://tempo:4317"
                )
            }
            other => panic!("{other:?}"),
        }
        let f = exporter("{ protocol: file, path: kept.jsonl }");
        assert!(
            matches!(f.target(), Ok(Target::File { path }) if path == std::path::Path::new("kept.jsonl"))
        );
    }

    #[test]
    fn every_problem_is_a_typed_error_with_its_key() {
        let mut e = exporter("{ protocol: file, path: kept.jsonl }");
        e.endpoint = Some("http://x:1".into());
        e.compression = Some(Compression::Gzip);
        e.path = None;
        let errs = e.target().unwrap_err();
        assert_eq!(
            errs,
            [
                ExporterError::MissingPath,
                ExporterError::NotForFile { key: "endpoint" },
                ExporterError::NotForFile { key: "compression" }
            ]
        );
        let keys: Vec<String> = errs.iter().map(ExporterError::key).collect();
        assert_eq!(keys, ["path", "endpoint", "compression"]);
        let mut o = exporter("{ protocol: otlp_http, endpoint: \"http://x:1\" }");
        o.endpoint = Some("ftp://x:1".into());
        o.headers.insert("bad name".into(), "v".into());
        let errs = o.target().unwrap_err();
        assert!(
            matches!(
                &errs[0],
                ExporterError::Endpoint(EndpointError::Scheme { .. })
            ),
            "{errs:?}"
        );
        assert_eq!(errs[1].key(), "headers[\"bad name\"]");
    }

    #[test]
    fn compression_and_level_default_and_are_checked() {
        let body = |yaml: &str| match exporter(yaml).target() {
            Ok(Target::OtlpGrpc(o)) | Ok(Target::OtlpHttp(o)) => o.compression,
            other => panic!("{other:?}"),
        };
        let ep = "protocol: otlp_grpc, endpoint: \"http://x:1\"";
        assert_eq!(
            body(&format!("{{ {ep} }}")),
            BodyCompression::Gzip {
                level: DEFAULT_GZIP_LEVEL
            }
        );
        assert_eq!(
            body(&format!(
                "{{ {ep}, compression: gzip, compression_level: 9 }}"
            )),
            BodyCompression::Gzip { level: 9 }
        );
        assert_eq!(
            body(&format!("{{ {ep}, compression: zstd }}")),
            BodyCompression::Zstd {
                level: DEFAULT_ZSTD_LEVEL
            }
        );
        assert_eq!(
            body(
                "{ protocol: otlp_http, endpoint: \"http://x:1\", compression: zstd, compression_level: 22 }"
            ),
            BodyCompression::Zstd { level: 22 }
        );
        // A level with compression left at its default (gzip) applies to gzip.
        assert_eq!(
            body(&format!("{{ {ep}, compression_level: 6 }}")),
            BodyCompression::Gzip { level: 6 }
        );
        let problems = |c: Option<Compression>, l: Option<i64>| {
            let mut e = exporter(&format!("{{ {ep} }}"));
            e.compression = c;
            e.compression_level = l;
            e.target().unwrap_err()
        };
        let cases = [
            (
                Some(Compression::Gzip),
                0,
                "gzip levels go from 1 to 9, got 0",
            ),
            (None, 10, "gzip levels go from 1 to 9, got 10"),
            (
                Some(Compression::Zstd),
                23,
                "zstd levels go from 1 to 22, got 23",
            ),
            (
                Some(Compression::Zstd),
                -1,
                "zstd levels go from 1 to 22, got -1",
            ),
            (
                Some(Compression::None),
                1,
                "needs `compression: gzip` or `compression: zstd` (compression is `none`)",
            ),
        ];
        for (c, l, message) in cases {
            let errs = problems(c, Some(l));
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(errs[0].key(), "compression_level");
            assert_eq!(errs[0].to_string(), message);
        }
        let mut f = exporter("{ protocol: file, path: kept.jsonl }");
        f.compression_level = Some(3);
        assert_eq!(
            f.target().unwrap_err(),
            [ExporterError::NotForFile {
                key: "compression_level"
            }]
        );
    }
}
