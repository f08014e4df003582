//! The `storage:` section: the durable log that keeps accepted spans across crashes and restarts.

use super::units::ByteSize;
use serde::Deserialize;
use std::path::PathBuf;

/// `storage:`: durable storage of accepted spans. Off when the section is absent.
///
/// With storage on, every accepted request is appended to a log in `directory` before the
/// client gets its success answer, and stays there until each of its spans was dropped by a
/// decision or delivered to every exporter. Decisions are logged too. On start, what is still
/// in the log is replayed before `/readyz` reports ready: traces return to the buffer with
/// their original receive times, decisions are restored, and kept spans not yet delivered are
/// exported again (delivery is at least once).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The log's directory (created if missing; it must be writable). One daemon per directory:
    /// a second one started on it refuses to start.
    pub directory: PathBuf,
    /// Disk budget for the log (default `8GiB`, at least `4MiB`). At the budget, new requests
    /// are refused with OTLP's retryable answers until delivery or decisions free space.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// When a request is acknowledged: `write` (default) once it is written to the log
    /// (survives a crash or `kill -9` of the process, not a power loss); `fsync` once the
    /// write is also flushed to the device (survives power loss; requests arriving together
    /// share one flush).
    #[serde(default)]
    pub sync: SyncMode,
}

/// `storage.sync`: how durable a record is when its request is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Write,
    Fsync,
}

fn default_max_bytes() -> ByteSize {
    ByteSize(8 << 30)
}

/// The smallest disk budget accepted.
pub const MIN_STORAGE_BYTES: u64 = 4 << 20;
