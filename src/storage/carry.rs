//! Decisions outlive the segments of their requests. Decisions are written to segments of their
//! own, deleted once the decision cache has forgotten them ([`Storage::expire_decisions`]). A
//! request segment that holds decisions too (earlier versions wrote them among requests) has
//! the decisions the cache still remembers appended again, with their original times, to a
//! decisions segment before it is deleted ([`Storage::carry_decisions`]). Both are done by the
//! pipeline's tick, which can ask the cache.

use super::log::Purpose;
use super::segment::{self, FRAME_LEN, HEADER_LEN};
use super::{Storage, StorageError};
use crate::config::SyncMode;
use crate::proto::storage::v1::{record::Kind, Decision, Decisions, Record};
use crate::telemetry::names;
use metrics::counter;
use prost::Message;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Decisions per carried record at most (a record stays well under a megabyte).
const CHUNK: usize = 8192;

impl Storage {
    /// Has decisions carried forward before their segments are deleted (the pipeline does it
    /// on its tick with [`Storage::carry_decisions`]). Without it, segments are deleted at once.
    pub fn carry_decisions_forward(&self) {
        self.log.lock().carry_on = true;
    }

    /// Carries forward the decisions of released segments waiting for deletion, those for
    /// which `remembered(trace id, keep)` holds, then deletes the segments. Returns the
    /// decisions carried. A segment that cannot be read is deleted all the same (with a log
    /// line: its decisions are not restored after a restart); a failed append keeps the
    /// segments for the next try.
    pub fn carry_decisions(
        &self,
        remembered: impl Fn(&crate::otlp::TraceId, bool) -> bool,
    ) -> usize {
        let ids = {
            let mut inner = self.log.lock();
            if inner.carry.is_empty() || inner.closed {
                return 0;
            }
            std::mem::take(&mut inner.carry)
        };
        let mut carried: HashMap<crate::otlp::TraceId, Decision> = HashMap::new();
        for id in &ids {
            let path = segment::path(&self.log.dir, *id);
            let records = match decision_records(&path) {
                Ok(r) => r,
                Err(e) => {
                    crate::warn_limited!(path = %path.display(), error = %e, "storage log: cannot read a released segment to carry its decisions forward; they are not restored after a restart");
                    continue;
                }
            };
            for ds in records {
                for d in ds.decisions {
                    let Ok(trace) = <[u8; 16]>::try_from(&d.trace_id[..]) else {
                        continue;
                    };
                    if !remembered(&trace, d.keep) {
                        continue;
                    }
                    match carried.get(&trace) {
                        Some(held) if held.decided_unix_nanos > d.decided_unix_nanos => {}
                        _ => {
                            carried.insert(trace, d);
                        }
                    }
                }
            }
        }
        let n = carried.len();
        if let Err(e) = self.append_carried(carried.into_values().collect()) {
            if !matches!(e, StorageError::Closed) {
                crate::warn_limited!(error = %e, "storage log: decisions not carried forward; their segments stay until it succeeds");
            }
            let mut inner = self.log.lock();
            for id in ids {
                if !inner.carry.contains(&id) {
                    inner.carry.push(id);
                }
            }
            return 0;
        }
        counter!(names::STORAGE_CARRIED_DECISIONS).increment(n as u64);
        let mut inner = self.log.lock();
        for id in ids {
            // Still released (nothing leases a record of a segment once it is released).
            if inner.segments.get(&id).is_some_and(|s| s.live == 0) {
                self.log.delete(&mut inner, id);
            }
        }
        n
    }

    /// Deletes the decisions segments whose decisions the decision cache has all forgotten;
    /// `cache` gives, per part of the cache, the decisions it has taken in so far and its
    /// capacity (see [`crate::buffer::Buffer::cache_turnover`]). Called by the pipeline's tick.
    pub fn expire_decisions(&self, cache: impl FnOnce() -> Vec<(u64, u64)>) {
        self.log.expire_decisions(cache);
    }

    /// [`Storage::close`], after carrying forward the decisions of every released segment,
    /// so that only the segments still owed something, and the newest, stay on disk.
    pub fn close_carrying(&self, remembered: impl Fn(&crate::otlp::TraceId, bool) -> bool) {
        if let Err(e) = self.log.flush_marks() {
            if !matches!(e, StorageError::Closed) {
                crate::warn_limited!(error = %e, "release marks not logged; after a restart those records may be replayed again");
            }
        }
        {
            let mut inner = self.log.lock();
            if !inner.closed {
                self.log.delete_released(&mut inner);
            }
        }
        self.carry_decisions(remembered);
        self.close();
    }

    fn append_carried(&self, decisions: Vec<Decision>) -> Result<(), StorageError> {
        for chunk in decisions.chunks(CHUNK) {
            let record = Record {
                kind: Some(Kind::Decisions(Decisions {
                    decisions: chunk.to_vec(),
                })),
            };
            self.log.append(&record, Purpose::Decisions)?;
            counter!(names::STORAGE_APPENDED_RECORDS, "kind" => "decisions").increment(1);
        }
        // Under `fsync` the carried decisions reach the device before the old ones are deleted.
        if !decisions.is_empty() && self.log.sync == SyncMode::Fsync {
            let file = self
                .log
                .lock()
                .active_decisions
                .as_ref()
                .map(|a| a.file.clone());
            if let Some(f) = file {
                f.sync_data().map_err(StorageError::Write)?;
            }
        }
        Ok(())
    }
}

use segment::DECISIONS_TAG;

/// The `Decisions` records of the segment at `path`, read frame by frame without reading the
/// requests' payloads (most of a segment's bytes). Damaged frames are skipped and a torn tail
/// ends the reading, as in replay.
fn decision_records(path: &Path) -> std::io::Result<Vec<Decisions>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER_LEN];
    file.read_exact_at(&mut header, 0)?;
    if segment::check_header(&header).is_err() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut at = HEADER_LEN as u64;
    let mut head = [0u8; FRAME_LEN + 1];
    while at + (FRAME_LEN as u64) < len {
        file.read_exact_at(&mut head, at)?;
        let len_bytes: [u8; 4] = head[..4].try_into().expect("4 bytes");
        let n = u64::from(u32::from_le_bytes(len_bytes));
        let start = at + FRAME_LEN as u64;
        if start + n > len {
            break;
        }
        if head[FRAME_LEN] == DECISIONS_TAG {
            let mut payload = vec![0u8; n as usize];
            file.read_exact_at(&mut payload, start)?;
            let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
            if segment::checksum(len_bytes, &payload) == crc {
                if let Ok(Record {
                    kind: Some(Kind::Decisions(ds)),
                }) = Record::decode(&payload[..])
                {
                    out.push(ds);
                }
            }
        }
        at = start + n;
    }
    Ok(out)
}
