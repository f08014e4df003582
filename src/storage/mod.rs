//! Durable storage: an append-only log of accepted requests and decisions in a directory of
//! segment files, released as spans are dropped or delivered, and replayed on start.
//!
//! # Why a segment log of its own
//!
//! The access pattern is append, sequential replay once at start, and deletion of whole
//! segments; no lookups by key, no compaction. Embedded key-value stores (sled, redb, fjall)
//! bring write amplification and background work this does not need, and queue crates do not
//! release records out of order. The log below is about 500 lines.
//!
//! # Invariants
//!
//! - **Append before ack.** A request is written to the log before the client hears success.
//!   Under `sync: write` the write reached the kernel (it survives the process being killed);
//!   under `sync: fsync` the answer also waits for a group-commit flush of the segment (it
//!   survives power loss). A request the log cannot take (budget reached, write failed, flush
//!   failed) is refused with a retryable answer, never acknowledged.
//! - **Records are self-checking.** A segment is a 16-byte header (magic, framing version)
//!   followed by frames `[u32 length][u32 CRC-32 of length and payload][payload]`; the payload
//!   is a `tailsift.storage.v1.Record` (see `proto/`). A frame is written with one `writev`
//!   (a request's body from where it is, not copied);
//!   a failed write is cut off again, so a segment only ever ends in a torn frame after a crash.
//! - **Only the newest segment is written.** Segments are never appended to once rolled, and a
//!   start never appends to a segment from before it; so a torn tail can only be at the end of
//!   a segment and never hides records written later.
//! - **Release, then delete whole segments.** Every request record has a [`Lease`]: held by the
//!   spans it carries while they are buffered, and by each export item holding its kept spans
//!   until every exporter resolved it. The record is released when the last holder lets go,
//!   unless some holder marked it owed (an export that ended with the shutdown deadline). A
//!   segment is deleted when it is not the active one and none of its requests is live.
//!   Release marks are logged so a restart does not replay what was already released; a lost
//!   mark only costs a duplicate (delivery is at least once).
//! - **Decisions are logged by rule name**, not position, so a reloaded, reordered rule set
//!   restores them correctly; a name no longer loaded restores as "no rule matched" with the
//!   same keep or drop.
//! - **Decisions have segments of their own** (at most 4MiB), never holding requests or
//!   release marks, so request segments go as soon as their requests are released. A sealed
//!   decisions segment is deleted once the decision cache has forgotten every decision in it:
//!   the cache forgets first in, first out, per part (each shard's kept and dropped cache), so
//!   once every part has taken in its capacity of decisions since the segment was sealed, none
//!   of the segment's decisions can still be remembered. Each decision is written once.
//!   (Request segments holding decisions, as earlier versions wrote them, have their
//!   still-remembered decisions carried into a decisions segment before they are deleted.)
//! - **Replay trusts nothing.** Damage (torn tail, bad checksum, undecodable record, foreign,
//!   truncated or newer files) is logged and counted; the rest of the log is replayed. Only a
//!   directory that cannot be created, locked or written stops the start, with its path named.
//! - **One daemon per directory**, enforced with an exclusive lock on `LOCK`.
//! - **The budget** (`max_bytes`) counts every segment byte on disk; requests are refused at it,
//!   while the small internal records (decisions, release marks) may pass it slightly.

mod carry;
mod lease;
mod log;
mod open;
mod read;
mod replay;
mod restore;
mod segment;
mod sync;

pub use lease::{Held, Lease};
pub use read::ReadError;
pub use replay::{Replay, Replayed};
pub use restore::replay_into;
pub use segment::Damage;

use crate::config::{StorageConfig, SyncMode};
use crate::proto::storage::v1::Record;
use crate::telemetry::names;
use log::{Log, Purpose};
use metrics::counter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors of the storage log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The directory cannot be used: the daemon does not start.
    #[error("storage.directory {path}: {what}: {source}")]
    Directory {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("storage.directory {path} is in use by another tailsift process (LOCK is held)")]
    Locked { path: PathBuf },
    #[error("the storage log is at its budget ({held} of {max} bytes on disk)")]
    Full { held: u64, max: u64 },
    #[error("writing the storage log failed: {0}")]
    Write(std::io::Error),
    #[error("flushing the storage log to disk failed")]
    Flush,
    #[error("the storage log is closed")]
    Closed,
}

impl StorageError {
    /// The `reason` label of `tailsift_storage_refused_requests_total`.
    pub fn refusal_label(&self) -> &'static str {
        match self {
            StorageError::Full { .. } => "budget",
            StorageError::Flush => "fsync_error",
            StorageError::Write(e) if is_disk_full(e) => "disk_full",
            _ => "write_error",
        }
    }
}

/// Whether `e` says the filesystem is full (or the user's quota used up).
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// The durable log, shared by the pipeline and the leases of its records.
pub struct Storage {
    log: Arc<Log>,
    syncer: Option<Arc<sync::Syncer>>,
}

/// A request record appended: its lease, and (under `fsync`) the record number to wait for.
pub struct Appended {
    pub lease: Arc<Lease>,
    pub durable_after: Option<u64>,
}

/// The encoding of a `Record` holding `Decisions` of `entries`, all decided at `decided` (the
/// bytes prost would write, without building a message per decision).
fn encode_decisions(entries: &[DecisionEntry<'_>], decided: u64) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
    let decision_len = |e: &DecisionEntry<'_>| {
        let rule = e.rule.unwrap_or_default().len();
        (2 + e.trace_id.len())
            + if e.keep { 2 } else { 0 }
            + if rule > 0 {
                1 + encoded_len_varint(rule as u64) + rule
            } else {
                0
            }
            + if e.threshold != 0 { 9 } else { 0 }
            + if decided != 0 { 9 } else { 0 }
    };
    let decisions_len: usize = entries
        .iter()
        .map(|e| {
            let n = decision_len(e);
            1 + encoded_len_varint(n as u64) + n
        })
        .sum();
    let mut out = Vec::with_capacity(decisions_len + 1 + encoded_len_varint(decisions_len as u64));
    // Record.decisions (2) holding Decisions.decisions (1), repeated.
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint(decisions_len as u64, &mut out);
    for e in entries {
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(decision_len(e) as u64, &mut out);
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(e.trace_id.len() as u64, &mut out);
        out.extend_from_slice(&e.trace_id);
        if e.keep {
            encode_key(2, WireType::Varint, &mut out);
            out.push(1);
        }
        let rule = e.rule.unwrap_or_default();
        if !rule.is_empty() {
            encode_key(3, WireType::LengthDelimited, &mut out);
            encode_varint(rule.len() as u64, &mut out);
            out.extend_from_slice(rule.as_bytes());
        }
        if e.threshold != 0 {
            encode_key(4, WireType::SixtyFourBit, &mut out);
            out.extend_from_slice(&e.threshold.to_le_bytes());
        }
        if decided != 0 {
            encode_key(5, WireType::SixtyFourBit, &mut out);
            out.extend_from_slice(&decided.to_le_bytes());
        }
    }
    out
}

/// A decision to log: the trace, its verdict, and the deciding rule's name (`None`: no rule).
pub struct DecisionEntry<'a> {
    pub trace_id: crate::otlp::TraceId,
    pub keep: bool,
    pub rule: Option<&'a str>,
    pub threshold: u64,
}

#[cfg(test)]
impl Storage {
    /// A log in `dir` with a 16 MiB budget and `sync: write`, what it would replay discarded.
    pub(crate) fn open_for_tests(dir: &std::path::Path) -> Storage {
        let (s, replay) = Storage::open(&crate::config::StorageConfig {
            directory: dir.to_path_buf(),
            max_bytes: crate::config::ByteSize(16 << 20),
            sync: crate::config::SyncMode::Write,
        })
        .unwrap();
        drop(replay);
        s
    }
}

impl Storage {
    /// Opens (creating if needed) and locks the directory, and reads what an earlier run left,
    /// to be replayed with [`Replay`] before new data is accepted.
    pub fn open(cfg: &StorageConfig) -> Result<(Storage, Replay), StorageError> {
        register_metrics();
        let (log, replay) = open::open(cfg)?;
        let log = Arc::new(log);
        let syncer =
            (cfg.sync == SyncMode::Fsync).then(|| sync::Syncer::start(Arc::downgrade(&log)));
        let replay = replay.attach(log.clone());
        Ok((Storage { log, syncer }, replay))
    }

    /// Appends an accepted request (its protobuf body) received at `received`.
    pub fn append_request(
        &self,
        body: &bytes::Bytes,
        received: SystemTime,
    ) -> Result<Appended, StorageError> {
        let (position, written) = self.log.append_request(unix_nanos(received), body)?;
        counter!(names::STORAGE_APPENDED_RECORDS, "kind" => "request").increment(1);
        let durable_after = self.syncer.as_ref().map(|s| {
            s.notify();
            written
        });
        Ok(Appended {
            lease: Arc::new(Lease::new(self.log.clone(), position)),
            durable_after,
        })
    }

    /// Waits until record number `n` is on the device (`sync: fsync`; at once otherwise).
    pub async fn durable(&self, n: u64) -> Result<(), StorageError> {
        match &self.syncer {
            Some(s) if !sync::wait(s.subscribe(), n).await => Err(StorageError::Flush),
            _ => Ok(()),
        }
    }

    /// Logs decisions (not waited for: a lost decision is taken again after a restart).
    pub fn append_decisions(&self, entries: &[DecisionEntry<'_>]) {
        if entries.is_empty() {
            return;
        }
        let record = encode_decisions(entries, unix_nanos(SystemTime::now()));
        match self.log.append_encoded(&record, Purpose::Decisions) {
            Ok(_) => counter!(names::STORAGE_APPENDED_RECORDS, "kind" => "decisions").increment(1),
            Err(StorageError::Closed) => {}
            Err(e) => {
                crate::warn_limited!(error = %e, "decisions not logged; after a restart these traces may be decided again")
            }
        }
    }

    /// Logs the decisions in `decided`, naming rules by `names` (indexed by `Verdict::rule`).
    pub fn log_decided(&self, decided: &[crate::buffer::Decided], names: &[Arc<str>]) {
        let entries: Vec<DecisionEntry<'_>> = decided
            .iter()
            .map(|d| DecisionEntry {
                trace_id: d.trace_id,
                keep: d.verdict.keep,
                rule: d
                    .verdict
                    .rule
                    .and_then(|i| names.get(usize::from(i)))
                    .map(|n| &**n),
                threshold: d.verdict.threshold,
            })
            .collect();
        self.append_decisions(&entries);
    }

    /// Writes pending release marks (called periodically).
    pub fn flush_marks(&self) {
        if let Err(e) = self.log.flush_marks() {
            if !matches!(e, StorageError::Closed) {
                crate::warn_limited!(error = %e, "release marks not logged; after a restart those records may be replayed again");
            }
        }
    }

    /// Bytes of the log on disk.
    pub fn bytes(&self) -> u64 {
        self.log.lock().disk_bytes
    }

    /// Stops the log at shutdown: what is still live stays on disk for the next start.
    pub fn close(&self) {
        self.log.close();
        if let Some(s) = &self.syncer {
            s.stop();
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(s) = &self.syncer {
            s.stop();
        }
    }
}

/// Reads a segment file's bytes as replay does: the records it holds, and the damage found
/// (a header damage ends the reading). For fuzzing and inspection tools.
pub fn read_segment(data: bytes::Bytes) -> (Vec<Record>, Vec<Damage>) {
    if let Err(d) = segment::check_header(&data) {
        return (Vec::new(), vec![d]);
    }
    let (mut records, mut damage) = (Vec::new(), Vec::new());
    for item in segment::Records::new(data) {
        match item {
            segment::Item::Record(_, r) => records.push(r),
            segment::Item::Damaged(_, d) => damage.push(d),
        }
    }
    (records, damage)
}

/// A segment holding `records`, as the log writes them (for fuzzing and tests).
pub fn write_segment(records: &[Record]) -> Vec<u8> {
    let mut out = segment::header().to_vec();
    for r in records {
        segment::frame(r, &mut out);
    }
    out
}

/// The storage series at zero from the start (with storage on), for every label value.
fn register_metrics() {
    use metrics::gauge;
    gauge!(names::STORAGE_BYTES).increment(0.0);
    gauge!(names::STORAGE_SEGMENTS).increment(0.0);
    for k in ["request", "decisions", "released"] {
        counter!(names::STORAGE_APPENDED_RECORDS, "kind" => k).increment(0);
    }
    for r in ["budget", "disk_full", "write_error", "fsync_error"] {
        counter!(names::STORAGE_REFUSED_REQUESTS, "reason" => r).increment(0);
    }
    counter!(names::STORAGE_REPLAYED_SPANS).increment(0);
    counter!(names::STORAGE_DELETED_SEGMENTS).increment(0);
    counter!(names::STORAGE_CARRIED_DECISIONS).increment(0);
    for d in Damage::ALL {
        counter!(names::STORAGE_DAMAGED, "kind" => d.label()).increment(0);
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
