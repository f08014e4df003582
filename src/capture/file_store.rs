//! Captures kept in the storage directory, so that they survive a restart: with `storage:` on,
//! `captures.json` in `storage.directory` holds the active captures, rewritten (to a temporary
//! file, then renamed over the old one) each time one is added, removed or expires. A file that
//! cannot be read or parsed is reported and the daemon starts with no captures; one that cannot
//! be written is reported and the captures stay active in memory.

use super::{Capture, CaptureStore};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file's name in `storage.directory`.
pub const FILE: &str = "captures.json";

pub struct FileStore {
    path: PathBuf,
    captures: Mutex<Vec<Capture>>,
}

impl FileStore {
    /// Reads the captures `dir` holds from an earlier run (none when the file is absent).
    pub fn open(dir: &Path) -> FileStore {
        let path = dir.join(FILE);
        let captures = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "captures file is not valid; starting without the captures it held");
                Vec::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "captures file cannot be read; starting without the captures it held");
                Vec::new()
            }
        };
        FileStore {
            path,
            captures: Mutex::new(captures),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Capture>)) {
        let mut captures = self.captures.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut captures);
        if let Err(e) = self.write(&captures) {
            crate::warn_limited!(path = %self.path.display(), error = %e, "captures file cannot be written; the captures stay active until a restart");
        }
    }

    fn write(&self, captures: &[Capture]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(captures).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}

impl CaptureStore for FileStore {
    fn saved(&self, capture: &Capture) {
        self.update(|c| {
            c.retain(|old| old.id != capture.id);
            c.push(capture.clone());
        });
    }
    fn removed(&self, id: &str) {
        self.update(|c| c.retain(|old| old.id != id));
    }
    fn load(&self) -> Vec<Capture> {
        self.captures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureMatch;

    fn capture(id: &str) -> Capture {
        Capture {
            id: id.into(),
            matcher: CaptureMatch {
                user: Some("u-42".into()),
                ..Default::default()
            },
            fidelity: "full".into(),
            created_unix_ms: 1,
            expires_unix_ms: u64::MAX,
        }
    }

    #[test]
    fn captures_survive_a_reopen_and_removals_too() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path());
        assert!(s.load().is_empty());
        s.saved(&capture("a"));
        s.saved(&capture("b"));
        s.removed("a");
        let again = FileStore::open(dir.path());
        assert_eq!(again.load(), vec![capture("b")]);
    }

    #[test]
    fn a_damaged_file_starts_empty_and_is_replaced_on_the_next_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{ not json").unwrap();
        let s = FileStore::open(dir.path());
        assert!(s.load().is_empty());
        s.saved(&capture("c"));
        assert_eq!(FileStore::open(dir.path()).load(), vec![capture("c")]);
    }
}
