//! Reading the log back at start: a first pass collects decisions and release marks (and
//! reports damage), a second yields the requests still owed, each with a fresh [`Lease`] on
//! its record. Segments are read one at a time.

use super::log::{self, Log};
use super::open::report;
use super::segment::{self, Item, Records};
use super::Lease;
use crate::proto::storage::v1::{record::Kind, Decision};
use bytes::Bytes;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Segments found at open, not yet read.
pub(super) struct Pending {
    pub files: Vec<(u64, PathBuf)>,
}

/// A request read back from the log.
pub struct Replayed {
    /// When it was first received (wall clock).
    pub received: SystemTime,
    /// The `ExportTraceServiceRequest` protobuf.
    pub body: Bytes,
    /// Its record's lease, held by its spans as at first acceptance.
    pub lease: Arc<Lease>,
}

/// What an earlier run left in the log. Dropping it ends the replay: segments with nothing
/// left to deliver are deleted then.
pub struct Replay {
    log: Arc<Log>,
    files: std::vec::IntoIter<(u64, PathBuf)>,
    current: Option<(u64, Records)>,
    decisions: HashMap<crate::otlp::TraceId, Decision>,
    released: HashSet<u64>,
}

impl Pending {
    pub fn attach(self, log: Arc<Log>) -> Replay {
        let mut decisions = HashMap::new();
        let mut released = HashSet::new();
        let mut readable = Vec::new();
        for (id, path) in self.files {
            let Some(records) = read(&log, id, &path) else {
                continue;
            };
            readable.push((id, path.clone()));
            let (mut requests, mut has_decisions) = (false, false);
            for item in records {
                match item {
                    Item::Damaged(at, d) => report(
                        d,
                        &path,
                        &format!(
                            "damaged record at byte {at}; the rest of the log is still replayed"
                        ),
                    ),
                    Item::Record(_, r) => match r.kind {
                        Some(Kind::Request(_)) => requests = true,
                        Some(Kind::Decisions(ds)) => {
                            has_decisions = true;
                            for d in ds.decisions {
                                let Ok(id) = <[u8; 16]>::try_from(&d.trace_id[..]) else {
                                    continue;
                                };
                                // The latest decision wins (a carried one keeps its time).
                                match decisions.entry(id) {
                                    Entry::Occupied(mut e) => {
                                        let held: &Decision = e.get();
                                        if d.decided_unix_nanos >= held.decided_unix_nanos {
                                            e.insert(d);
                                        }
                                    }
                                    Entry::Vacant(e) => {
                                        e.insert(d);
                                    }
                                }
                            }
                        }
                        Some(Kind::Released(r)) => released.extend(r.positions),
                        None => {}
                    },
                }
            }
            // A segment of decisions alone waits for the decision cache to forget them; one
            // that also holds requests (as earlier versions wrote) has its decisions carried
            // forward before it is deleted.
            if let Some(s) = log.lock().segments.get_mut(&id) {
                s.decisions_only = has_decisions && !requests;
                s.decisions = has_decisions && requests;
            }
        }
        Replay {
            log,
            files: readable.into_iter(),
            current: None,
            decisions,
            released,
        }
    }
}

/// A segment's records, or `None` (reported, and dropped from the log's table) when its header
/// is not one this build reads.
fn read(log: &Log, id: u64, path: &PathBuf) -> Option<Records> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "storage log: cannot read a segment; it is skipped");
            return None;
        }
    };
    if let Err(d) = segment::check_header(&data) {
        report(d, path, "not a segment this build can read; left alone");
        let mut inner = log.lock();
        if let Some(s) = inner.segments.remove(&id) {
            inner.disk_bytes = inner.disk_bytes.saturating_sub(s.bytes);
        }
        return None;
    }
    Some(Records::new(Bytes::from(data)))
}

impl Replay {
    /// The decisions logged, latest per trace.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions).into_values().collect()
    }

    fn lease(&self, position: u64) -> Arc<Lease> {
        let mut inner = self.log.lock();
        if let Some(s) = inner.segments.get_mut(&log::segment_of(position)) {
            s.live += 1;
        }
        drop(inner);
        Arc::new(Lease::new(self.log.clone(), position))
    }
}

impl Iterator for Replay {
    type Item = Replayed;

    fn next(&mut self) -> Option<Replayed> {
        loop {
            if self.current.is_none() {
                let (id, path) = self.files.next()?;
                self.current = read(&self.log, id, &path).map(|r| (id, r));
                continue;
            }
            let (id, records) = self.current.as_mut().expect("checked");
            let id = *id;
            match records.next() {
                None => self.current = None,
                Some(Item::Record(at, r)) => {
                    let position = log::position(id, at);
                    if let Some(Kind::Request(req)) = r.kind {
                        if !self.released.contains(&position) {
                            return Some(Replayed {
                                received: UNIX_EPOCH
                                    + Duration::from_nanos(req.received_unix_nanos),
                                body: req.body,
                                lease: self.lease(position),
                            });
                        }
                    }
                }
                Some(Item::Damaged(..)) => {}
            }
        }
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let mut inner = self.log.lock();
        inner.replaying = false;
        self.log.delete_released(&mut inner);
    }
}
