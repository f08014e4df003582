//! Opening the directory: create it, take its lock, prove it writable, and list the segments an
//! earlier run left (files that are not segments of this log are reported and left alone).

use super::log::{Inner, Log, SegState};
use super::replay::Pending;
use super::segment::{self, Damage};
use super::StorageError;
use crate::config::StorageConfig;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The largest segment; smaller budgets get segments of a sixteenth of the budget (at least 1MiB).
const MAX_SEGMENT_BYTES: u64 = 64 << 20;
const LOCK_FILE: &str = "LOCK";

fn dir_error(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Directory { path, what, source }
}

/// Reports damage found at start: a log line and the counter.
pub(super) fn report(damage: Damage, path: &Path, detail: &str) {
    metrics::counter!(crate::telemetry::names::STORAGE_DAMAGED, "kind" => damage.label())
        .increment(1);
    tracing::warn!(path = %path.display(), damage = damage.label(), "storage log: {detail}");
}

/// Opens the log in `cfg.directory` and lists the segments to replay.
pub(super) fn open(cfg: &StorageConfig) -> Result<(Log, Pending), StorageError> {
    let dir = cfg.directory.clone();
    std::fs::create_dir_all(&dir).map_err(dir_error(&dir, "cannot create the directory"))?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(dir_error(
            &dir,
            "cannot create the LOCK file (is the directory writable?)",
        ))?;
    match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Err(StorageError::Locked { path: dir }),
        Err(e) => return Err(dir_error(&dir, "cannot lock the directory")(e.into())),
    }
    let probe = dir.join(".write-probe");
    let probed = std::fs::write(&probe, b"tailsift");
    let _ = std::fs::remove_file(&probe);
    match probed {
        // A full filesystem is not an unusable directory: replay frees space as it releases
        // what it delivers, and requests are refused (retryably) until there is room.
        Err(e) if super::is_disk_full(&e) => tracing::warn!(
            path = %dir.display(),
            error = %e,
            "storage.directory: the filesystem is full; requests are refused (retryable) until space returns"
        ),
        r => r.map_err(dir_error(&dir, "the directory is not writable"))?,
    }
    let (segments, files) = list(&dir)?;
    let disk_bytes = segments.values().map(|s| s.bytes).sum();
    let next_id = segments.keys().next_back().map_or(1, |id| id + 1);
    let segment_bytes = (cfg.max_bytes.0 / 16).clamp(1 << 20, MAX_SEGMENT_BYTES);
    let log = Log {
        dir,
        max_bytes: cfg.max_bytes.0,
        segment_bytes,
        sync: cfg.sync,
        lock,
        inner: Mutex::new(Inner {
            segments,
            active: None,
            active_decisions: None,
            next_id,
            marks: Vec::new(),
            replaying: true,
            closed: false,
            carry_on: false,
            carry: Vec::new(),
            written: 0,
            disk_bytes,
        }),
    };
    Ok((log, Pending { files }))
}

/// The directory's segments with their sizes, and their paths in id order. Other files are
/// reported; segment files too short to hold a header are deleted.
/// Segments by id, and their paths in id order.
type Listing = (BTreeMap<u64, SegState>, Vec<(u64, PathBuf)>);

fn list(dir: &Path) -> Result<Listing, StorageError> {
    let mut segments = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(dir_error(dir, "cannot list the directory"))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The lock, and the captures on demand kept beside the log (with their temporary file).
        let capture_files = [
            crate::capture::file_store::FILE.to_string(),
            format!("{}.tmp", crate::capture::file_store::FILE),
        ];
        if name == LOCK_FILE || capture_files.contains(&name) {
            continue;
        }
        let path = entry.path();
        let Some(id) = segment::parse_name(&name) else {
            report(
                Damage::ForeignFile,
                &path,
                "a file that is not a segment of this log; left alone",
            );
            continue;
        };
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if bytes < segment::HEADER_LEN as u64 {
            report(
                Damage::TruncatedFile,
                &path,
                "a segment shorter than its header holds nothing; deleted",
            );
            let _ = std::fs::remove_file(&path);
            continue;
        }
        segments.insert(id, SegState::new(bytes));
    }
    let files = segments
        .keys()
        .map(|id| (*id, segment::path(dir, *id)))
        .collect();
    Ok((segments, files))
}
