//! Reading recorded traces: OTLP JSON lines (tailsift's `file` exporter, the OpenTelemetry
//! Collector's file exporter) or length-prefixed protobuf (a 4-byte big-endian length before
//! each encoded `ExportTraceServiceRequest`, the Collector file exporter's `format: proto`).

use bytes::Bytes;
use std::path::Path;

/// The encoding of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Decide from the first byte: `{` is JSON lines, anything else protobuf.
    Auto,
    JsonLines,
    Protobuf,
}

/// A recording that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not an OTLP JSON trace export request: {message}")]
    Json {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: protobuf record {record} at byte {offset}: {message}")]
    Protobuf {
        path: String,
        record: usize,
        offset: usize,
        message: String,
    },
}

/// Reads a recording into encoded export requests.
pub fn read(path: &Path, format: InputFormat) -> Result<Vec<Bytes>, InputError> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| InputError::Io {
        path: shown.clone(),
        source,
    })?;
    parse(&data, format, &shown)
}

/// Parses a recording held in memory; `origin` names it in errors.
pub fn parse(data: &[u8], format: InputFormat, origin: &str) -> Result<Vec<Bytes>, InputError> {
    let format = match format {
        InputFormat::Auto => match data.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | None => InputFormat::JsonLines,
            Some(_) => InputFormat::Protobuf,
        },
        f => f,
    };
    match format {
        InputFormat::Protobuf => protobuf(data, origin),
        _ => json_lines(data, origin),
    }
}

fn json_lines(data: &[u8], origin: &str) -> Result<Vec<Bytes>, InputError> {
    let mut out = Vec::new();
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let body = crate::otlp::json::json_to_protobuf(line).map_err(|e| InputError::Json {
            path: origin.to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(body);
    }
    Ok(out)
}

fn protobuf(data: &[u8], origin: &str) -> Result<Vec<Bytes>, InputError> {
    let data = Bytes::copy_from_slice(data);
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let err = |message: String| InputError::Protobuf {
            path: origin.to_string(),
            record: out.len() + 1,
            offset: at,
            message,
        };
        let Some(prefix) = data.get(at..at + 4) else {
            return Err(err("truncated length prefix".into()));
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
        let start = at + 4;
        let Some(end) = start.checked_add(len).filter(|e| *e <= data.len()) else {
            return Err(err(format!(
                "length {len} runs past the end of the file ({} bytes left)",
                data.len() - start
            )));
        };
        out.push(data.slice(start..end));
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, span};

    #[test]
    fn reads_json_lines_and_length_prefixed_protobuf() {
        let body = fixtures::encode(&fixtures::request("svc", [span(1, 1)]));
        let json = crate::otlp::json::protobuf_to_json(&body).unwrap();
        let text = format!("{json}\n\n{json}\n");
        let got = parse(text.as_bytes(), InputFormat::Auto, "t").unwrap();
        assert_eq!(got, vec![body.clone(), body.clone()]);
        let mut proto = Vec::new();
        for _ in 0..3 {
            proto.extend_from_slice(&(body.len() as u32).to_be_bytes());
            proto.extend_from_slice(&body);
        }
        assert_eq!(parse(&proto, InputFormat::Auto, "t").unwrap().len(), 3);
    }

    #[test]
    fn errors_name_the_line_or_record() {
        let e = parse(
            b"{\"resourceSpans\": []}\n{oops\n",
            InputFormat::Auto,
            "f.jsonl",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f.jsonl:2: not an OTLP JSON"), "{e}");
        let e = parse(&[0, 0, 0, 9, 1, 2], InputFormat::Protobuf, "f.pb")
            .unwrap_err()
            .to_string();
        assert!(e.contains("record 1 at byte 0: length 9 runs past"), "{e}");
    }
}
