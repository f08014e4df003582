//! Reading one request record back by its position, for a reader that did not keep the
//! request's bytes in memory: the frame is read with positional reads (no shared file offset,
//! no log lock), its checksum checked and the record decoded. Whatever is wrong is an error
//! naming why, for the caller to count; never a panic, and never an allocation larger than
//! the segment file.

use super::log::segment_of;
use super::segment::{self, FRAME_LEN};
use super::{Lease, Storage};
use crate::proto::storage::v1::{record::Kind, Record};
use bytes::Bytes;
use prost::Message;
use std::os::unix::fs::FileExt;

/// Why a record could not be read back; each is a label for the metric that counts it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the storage log failed: {0}")]
    Io(#[from] std::io::Error),
    /// The frame ends past the end of its segment file.
    #[error("the record ends past the end of its segment")]
    Truncated,
    #[error("the record's checksum does not match")]
    Checksum,
    #[error("the record cannot be decoded")]
    Undecodable,
    /// A record that is not a request (the position does not name one).
    #[error("the record is not a request")]
    NotARequest,
}

impl ReadError {
    pub fn label(&self) -> &'static str {
        match self {
            ReadError::Io(_) => "io_error",
            ReadError::Truncated => "truncated",
            ReadError::Checksum => "checksum",
            ReadError::Undecodable => "undecodable",
            ReadError::NotARequest => "not_a_request",
        }
    }
}

impl Storage {
    /// The body of the request record `lease` holds, read back from its segment.
    pub fn read_request(&self, lease: &Lease) -> Result<Bytes, ReadError> {
        read_request_at(&self.log.dir, lease.position())
    }
}

/// [`Storage::read_request`] for the record at `position` of the log in `dir`.
pub(super) fn read_request_at(dir: &std::path::Path, position: u64) -> Result<Bytes, ReadError> {
    let file = std::fs::File::open(segment::path(dir, segment_of(position)))?;
    let offset = super::log::offset_of(position);
    let file_len = file.metadata()?.len();
    let mut head = [0u8; FRAME_LEN];
    if offset + FRAME_LEN as u64 > file_len {
        return Err(ReadError::Truncated);
    }
    file.read_exact_at(&mut head, offset)?;
    let len_bytes: [u8; 4] = head[..4].try_into().expect("4 bytes");
    let len = u64::from(u32::from_le_bytes(len_bytes));
    let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    let start = offset + FRAME_LEN as u64;
    if start + len > file_len {
        return Err(ReadError::Truncated);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, start)?;
    if segment::checksum(len_bytes, &payload) != crc {
        return Err(ReadError::Checksum);
    }
    match Record::decode(Bytes::from(payload)) {
        Ok(Record {
            kind: Some(Kind::Request(r)),
        }) => Ok(r.body),
        Ok(_) => Err(ReadError::NotARequest),
        Err(_) => Err(ReadError::Undecodable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn open(dir: &std::path::Path) -> Storage {
        Storage::open_for_tests(dir)
    }

    #[test]
    fn a_request_reads_back_as_appended() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let bodies: Vec<Bytes> = (0..50u8)
            .map(|i| Bytes::from(vec![i; 100 + i as usize]))
            .collect();
        let leases: Vec<_> = bodies
            .iter()
            .map(|b| s.append_request(b, SystemTime::now()).unwrap().lease)
            .collect();
        // Decisions between requests do not disturb the positions.
        s.append_decisions(&[]);
        for (b, l) in bodies.iter().zip(&leases) {
            assert_eq!(&s.read_request(l).unwrap(), b);
        }
    }

    #[test]
    fn damage_is_an_error_naming_why() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let lease = s
            .append_request(&Bytes::from(vec![7u8; 500]), SystemTime::now())
            .unwrap()
            .lease;
        let pos = lease.position();
        let path = segment::path(dir.path(), segment_of(pos));
        let at = super::super::log::offset_of(pos) as usize;
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        flipped[at + FRAME_LEN + 100] ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(s.read_request(&lease), Err(ReadError::Checksum)));

        std::fs::write(&path, &good[..at + FRAME_LEN + 10]).unwrap();
        assert!(matches!(s.read_request(&lease), Err(ReadError::Truncated)));

        // A length that claims more than the file holds is not allocated.
        let mut huge = good.clone();
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        assert!(matches!(s.read_request(&lease), Err(ReadError::Truncated)));

        std::fs::remove_file(&path).unwrap();
        let e = s.read_request(&lease).unwrap_err();
        assert_eq!(e.label(), "io_error");
        // The lease's release must not fail on the missing file either.
        lease.keep_owed();
        drop(lease);
    }
}
