//! File sink: appends each batch as one line of OTLP JSON (an `ExportTraceServiceRequest`).

use super::sink::Accepted;
use super::ExportError;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) struct FileSink {
    path: PathBuf,
    /// Serialises writers so that concurrent batches never interleave within a line.
    lock: Arc<Mutex<()>>,
}

impl FileSink {
    /// Checks at start that the file can be opened for appending (creating it if needed).
    pub(crate) fn new(name: &str, path: PathBuf) -> Result<FileSink, ExportError> {
        let bad = |reason: String| ExportError::Config {
            exporter: name.to_string(),
            reason,
        };
        open(&path).map_err(|e| bad(format!("cannot open `{}`: {e}", path.display())))?;
        Ok(FileSink {
            path,
            lock: Arc::new(Mutex::new(())),
        })
    }

    pub(crate) async fn export(&self, body: Bytes) -> Result<Accepted, ExportError> {
        let path = self.path.clone();
        let lock = self.lock.clone();
        tokio::task::spawn_blocking(move || {
            let request = ExportTraceServiceRequest::decode(body)
                .map_err(|e| ExportError::Malformed(e.to_string()))?;
            let mut line =
                serde_json::to_vec(&request).map_err(|e| ExportError::Malformed(e.to_string()))?;
            line.push(b'\n');
            let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            // Reopened per batch so that a rotated file is picked up.
            let mut file = open(&path)?;
            file.write_all(&line)?;
            file.flush()?;
            Ok(Accepted::default())
        })
        .await
        .map_err(|e| ExportError::Io(std::io::Error::other(e)))?
    }
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new().create(true).append(true).open(path)
}
