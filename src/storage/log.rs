//! The log's state on disk: the segment table with each segment's live records, the active
//! segment being appended to, the disk budget, release marks, and whole-segment deletion.

use super::segment::{self, HEADER_LEN};
use super::StorageError;
use crate::config::SyncMode;
use crate::proto::storage::v1::{record::Kind, Record, Released};
use crate::telemetry::names;
use metrics::{counter, gauge};
use prost::Message;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Bits of a record position that hold the byte offset in its segment.
const OFFSET_BITS: u32 = 40;

/// A record's position: its segment and byte offset in one number.
pub fn position(segment: u64, offset: u64) -> u64 {
    (segment << OFFSET_BITS) | offset
}

pub fn segment_of(position: u64) -> u64 {
    position >> OFFSET_BITS
}

/// The byte offset in its segment of the record at `position`.
pub fn offset_of(position: u64) -> u64 {
    position & ((1 << OFFSET_BITS) - 1)
}

/// Release marks written in one record at most.
const MAX_MARKS: usize = 65_536;

/// Size of a decisions segment at most: about 100,000 decisions, so that a segment's worth is
/// freed soon after the decision cache has forgotten them.
const DECISION_SEGMENT_BYTES: u64 = 4 << 20;

#[derive(Debug)]
pub(super) struct SegState {
    /// Request records not yet released.
    pub live: u64,
    /// File size.
    pub bytes: u64,
    /// A request segment that holds decision records too (written so by earlier versions):
    /// they are carried forward before the segment is deleted.
    pub decisions: bool,
    /// A decisions segment: it holds decisions only, is never released by requests, and is
    /// deleted once the decision cache has forgotten everything it held (see
    /// [`Log::expire_decisions`]).
    pub decisions_only: bool,
    /// For a sealed decisions segment: how many decisions each part of the cache had taken in
    /// when it was first seen sealed.
    pub cache_inserted: Option<Vec<u64>>,
}

impl SegState {
    pub fn new(bytes: u64) -> SegState {
        SegState {
            live: 0,
            bytes,
            decisions: false,
            decisions_only: false,
            cache_inserted: None,
        }
    }
}

pub(super) struct Active {
    pub id: u64,
    pub file: Arc<File>,
    pub len: u64,
}

pub(super) struct Inner {
    pub segments: BTreeMap<u64, SegState>,
    /// The segment requests (and release marks) are appended to.
    pub active: Option<Active>,
    /// The segment decisions are appended to.
    pub active_decisions: Option<Active>,
    pub next_id: u64,
    /// Positions released since the last mark was written.
    pub marks: Vec<u64>,
    /// While replaying, released segments are not deleted (their records are still read).
    pub replaying: bool,
    /// Once closed, nothing is appended, released or deleted: what is left stays for the next start.
    pub closed: bool,
    /// Decisions are carried forward before their segment is deleted (the pipeline's tick
    /// does it, knowing which decisions are still in the decision cache).
    pub carry_on: bool,
    /// Released segments holding decisions, waiting for them to be carried forward.
    pub carry: Vec<u64>,
    /// Records written so far (the group commit waits for a number of them to be flushed).
    pub written: u64,
    pub disk_bytes: u64,
}

pub(super) struct Log {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub segment_bytes: u64,
    pub sync: SyncMode,
    /// Holds the directory's exclusive lock for as long as the log lives.
    #[allow(dead_code)]
    pub lock: File,
    pub inner: Mutex<Inner>,
}

/// What an append is for: a request counts against the budget and stays live until released;
/// decisions go to decisions segments, which live as long as the decision cache remembers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Request,
    Internal,
    Decisions,
}

impl Inner {
    /// The segment being appended to: the decisions one, or the one of requests.
    fn slot(&mut self, decisions: bool) -> &mut Option<Active> {
        if decisions {
            &mut self.active_decisions
        } else {
            &mut self.active
        }
    }
}

impl Log {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `record` (after any pending release marks) at the end of the active segment.
    /// Returns its position and the number of records written once it is.
    pub fn append(&self, record: &Record, purpose: Purpose) -> Result<(u64, u64), StorageError> {
        self.append_payload(Payload::Record(record), purpose)
    }

    /// [`Log::append`] of a record already encoded (`record`: a `Record`'s protobuf bytes).
    pub fn append_encoded(
        &self,
        record: &[u8],
        purpose: Purpose,
    ) -> Result<(u64, u64), StorageError> {
        self.append_payload(Payload::Encoded(record), purpose)
    }

    /// [`Log::append`] of a `Request` record, its body written from where it is.
    pub fn append_request(
        &self,
        received_unix_nanos: u64,
        body: &[u8],
    ) -> Result<(u64, u64), StorageError> {
        self.append_payload(
            Payload::Request {
                received_unix_nanos,
                body,
            },
            Purpose::Request,
        )
    }

    fn append_payload(
        &self,
        payload: Payload<'_>,
        purpose: Purpose,
    ) -> Result<(u64, u64), StorageError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(StorageError::Closed);
        }
        // One allocation for the frame(s): the record is most of it. Release marks go with
        // requests (decisions segments outlive the segments the marks are about).
        let n = if purpose == Purpose::Decisions {
            0
        } else {
            inner.marks.len().min(MAX_MARKS)
        };
        let head = match payload {
            Payload::Record(r) => r.encoded_len(),
            Payload::Encoded(r) => r.len(),
            Payload::Request { .. } => 32,
        };
        let mut buf = Vec::with_capacity(head + 2 * segment::FRAME_LEN + 16 + 9 * n);
        let marks: Vec<u64> = inner.marks.drain(..n).collect();
        if !marks.is_empty() {
            segment::frame(&released(marks.clone()), &mut buf);
        }
        let record_at = buf.len() as u64;
        let (tail, decisions): (&[u8], bool) = match payload {
            Payload::Record(record) => {
                segment::frame(record, &mut buf);
                (&[], matches!(record.kind, Some(Kind::Decisions(_))))
            }
            Payload::Encoded(record) => {
                segment::frame_encoded(record, &mut buf);
                (&[], record.first() == Some(&segment::DECISIONS_TAG))
            }
            Payload::Request {
                received_unix_nanos,
                body,
            } => {
                segment::frame_request_head(received_unix_nanos, body, &mut buf);
                (body, false)
            }
        };
        let result = self.write(&mut inner, &[&buf, tail], purpose, record_at, decisions);
        if result.is_err() {
            // A refused or failed append keeps the marks for the next one.
            inner.marks.extend(marks);
        } else if !marks.is_empty() {
            counter!(names::STORAGE_APPENDED_RECORDS, "kind" => "released").increment(1);
        }
        result
    }

    /// Writes `parts` (frames, the record's at `record_at`) at the end of the active segment,
    /// with one `writev` as a rule.
    fn write(
        &self,
        inner: &mut Inner,
        parts: &[&[u8]],
        purpose: Purpose,
        record_at: u64,
        decisions: bool,
    ) -> Result<(u64, u64), StorageError> {
        let len = parts.iter().map(|p| p.len() as u64).sum::<u64>();
        if purpose == Purpose::Request && inner.disk_bytes + len > self.max_bytes {
            return Err(StorageError::Full {
                held: inner.disk_bytes,
                max: self.max_bytes,
            });
        }
        let to_decisions = purpose == Purpose::Decisions;
        let limit = if to_decisions {
            self.segment_bytes.min(DECISION_SEGMENT_BYTES)
        } else {
            self.segment_bytes
        };
        let needs_roll = match inner.slot(to_decisions) {
            None => true,
            Some(a) => a.len > HEADER_LEN as u64 && a.len + len > limit,
        };
        if needs_roll {
            self.roll(inner, to_decisions)?;
        }
        let active = inner.slot(to_decisions).as_mut().expect("rolled");
        let at = active.len;
        if let Err(e) = write_all_vectored(&active.file, parts) {
            // Cut off whatever part was written, so the segment stays readable to its end;
            // if even that fails, the next append starts a new segment.
            let cut = active.file.set_len(at).is_ok()
                && (&*active.file).seek(SeekFrom::Start(at)).is_ok();
            if !cut {
                *inner.slot(to_decisions) = None;
            }
            return Err(StorageError::Write(e));
        }
        active.len += len;
        let id = active.id;
        inner.disk_bytes += len;
        inner.written += 1;
        let seg = inner
            .segments
            .get_mut(&id)
            .expect("active segment is listed");
        seg.bytes += len;
        if purpose == Purpose::Request {
            seg.live += 1;
        }
        seg.decisions |= decisions && !to_decisions;
        gauge!(names::STORAGE_BYTES).set(inner.disk_bytes as f64);
        Ok((position(id, at + record_at), inner.written))
    }

    /// Seals the active segment (or the active decisions segment) (flushed first under
    /// `fsync`) and starts a new one.
    fn roll(&self, inner: &mut Inner, decisions: bool) -> Result<(), StorageError> {
        if let Some(old) = inner.slot(decisions).take() {
            if self.sync == SyncMode::Fsync {
                old.file.sync_data().map_err(StorageError::Write)?;
            }
            self.delete_if_released(inner, old.id);
        }
        let id = inner.next_id;
        let path = segment::path(&self.dir, id);
        let mut file = File::options()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(StorageError::Write)?;
        if let Err(e) = file.write_all(&segment::header()) {
            let _ = std::fs::remove_file(&path);
            return Err(StorageError::Write(e));
        }
        if self.sync == SyncMode::Fsync {
            file.sync_all().map_err(StorageError::Write)?;
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
        }
        inner.next_id += 1;
        inner.disk_bytes += HEADER_LEN as u64;
        let mut seg = SegState::new(HEADER_LEN as u64);
        seg.decisions_only = decisions;
        inner.segments.insert(id, seg);
        *inner.slot(decisions) = Some(Active {
            id,
            file: Arc::new(file),
            len: HEADER_LEN as u64,
        });
        gauge!(names::STORAGE_SEGMENTS).set(inner.segments.len() as f64);
        Ok(())
    }

    /// Takes a request record back: when its segment holds no live record any more (and is
    /// not the one being appended to), the segment file is deleted.
    pub fn release(&self, position: u64) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        let id = segment_of(position);
        let Some(seg) = inner.segments.get_mut(&id) else {
            return;
        };
        seg.live = seg.live.saturating_sub(1);
        if seg.live == 0 && !inner.replaying {
            self.delete_if_released(&mut inner, id);
        }
        if inner.segments.contains_key(&id) {
            inner.marks.push(position);
        }
    }

    /// Deletes segment `id` if it holds no live record and is not active; one holding
    /// decisions waits for them to be carried forward (and stays on disk after close).
    pub fn delete_if_released(&self, inner: &mut Inner, id: u64) {
        let active = inner.active.as_ref().map(|a| a.id);
        let Some(seg) = inner.segments.get(&id) else {
            return;
        };
        if seg.live > 0 || active == Some(id) || inner.replaying || seg.decisions_only {
            return;
        }
        if seg.decisions && inner.carry_on {
            if !inner.closed && !inner.carry.contains(&id) {
                inner.carry.push(id);
            }
            return;
        }
        self.delete(inner, id);
    }

    /// Deletes segment `id` (released, its decisions carried forward if need be).
    pub fn delete(&self, inner: &mut Inner, id: u64) {
        let Some(seg) = inner.segments.get(&id) else {
            return;
        };
        let path = segment::path(&self.dir, id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                crate::warn_limited!(path = %path.display(), error = %e, "cannot delete a released storage segment; it stays until the next start");
                return;
            }
        }
        let bytes = seg.bytes;
        inner.segments.remove(&id);
        inner.disk_bytes = inner.disk_bytes.saturating_sub(bytes);
        inner.marks.retain(|p| segment_of(*p) != id);
        counter!(names::STORAGE_DELETED_SEGMENTS).increment(1);
        gauge!(names::STORAGE_BYTES).set(inner.disk_bytes as f64);
        gauge!(names::STORAGE_SEGMENTS).set(inner.segments.len() as f64);
    }

    /// Deletes every segment with no live record (after replay; at close).
    pub fn delete_released(&self, inner: &mut Inner) {
        let ids: Vec<u64> = inner.segments.keys().copied().collect();
        for id in ids {
            self.delete_if_released(inner, id);
        }
    }

    /// Writes pending release marks, if any (the decision ticker calls this).
    pub fn flush_marks(&self) -> Result<(), StorageError> {
        if self.lock().marks.is_empty() {
            return Ok(());
        }
        // An empty `Released` record: `append` writes the marks before it.
        self.append(&released(Vec::new()), Purpose::Internal)
            .map(|_| ())
    }

    /// Deletes the sealed decisions segments whose decisions the decision cache has all
    /// forgotten. The cache forgets first in, first out, in parts (a kept and a dropped cache
    /// per buffer shard); `cache` gives, per part, how many decisions it has taken in so far
    /// and how many it holds at most. A segment is first stamped with the counts it is seen
    /// sealed at; once every part has taken in at least its capacity since, every decision in
    /// the segment was pushed out (or replaced by a later one, logged later). Asked only while
    /// a sealed decisions segment exists.
    pub fn expire_decisions(&self, cache: impl FnOnce() -> Vec<(u64, u64)>) {
        let mut inner = self.lock();
        if inner.closed || inner.replaying {
            return;
        }
        let active = inner.active_decisions.as_ref().map(|a| a.id);
        let sealed: Vec<u64> = inner
            .segments
            .iter()
            .filter(|(id, s)| s.decisions_only && Some(**id) != active)
            .map(|(id, _)| *id)
            .collect();
        if sealed.is_empty() {
            return;
        }
        let now = cache();
        let mut expired = Vec::new();
        for id in sealed {
            let seg = inner.segments.get_mut(&id).expect("listed");
            match &seg.cache_inserted {
                None => seg.cache_inserted = Some(now.iter().map(|(n, _)| *n).collect()),
                Some(then) => {
                    let forgotten = then.len() == now.len()
                        && then
                            .iter()
                            .zip(&now)
                            .all(|(then, (n, cap))| n.saturating_sub(*then) >= *cap);
                    if forgotten {
                        expired.push(id);
                    }
                }
            }
        }
        for id in expired {
            self.delete(&mut inner, id);
        }
    }

    /// Stops the log: pending release marks are written, segments without live records are
    /// deleted, and from then on nothing changes on disk.
    pub fn close(&self) {
        let _ = self.flush_marks();
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        for a in [inner.active.take(), inner.active_decisions.take()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = a.file.sync_data() {
                tracing::warn!(error = %e, "flushing the storage log at shutdown failed");
            }
        }
        self.delete_released(&mut inner);
        inner.closed = true;
    }
}

/// What is appended: a record, or a request whose body is written from where it is.
enum Payload<'a> {
    Record(&'a Record),
    Encoded(&'a [u8]),
    Request {
        received_unix_nanos: u64,
        body: &'a [u8],
    },
}

/// Writes all of `parts`, in order, with as few `writev` calls as the kernel allows.
fn write_all_vectored(mut file: &File, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| std::io::IoSlice::new(p))
        .collect();
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn released(positions: Vec<u64>) -> Record {
    Record {
        kind: Some(Kind::Released(Released { positions })),
    }
}
