//! One segment file of the log: its header, the framing of records, and reading a segment back
//! with damage reported instead of trusted.

use crate::proto::storage::v1::Record;
use bytes::Bytes;
use prost::Message;
use std::path::{Path, PathBuf};

/// First bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"TSFTLOG\0";
/// The framing version this build writes and reads.
pub const VERSION: u32 = 1;
/// Magic, version, reserved.
pub const HEADER_LEN: usize = 16;
/// Length and checksum before each payload.
pub const FRAME_LEN: usize = 8;

/// The header of a new segment.
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// The file name of segment `id`.
pub fn file_name(id: u64) -> String {
    format!("segment-{id:016}.log")
}

pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}

/// The segment id a file name stands for, if it is one of ours.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".log")?;
    (digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The checksum of a frame: CRC-32 over the length bytes and the payload, so a damaged
/// length is caught as surely as a damaged payload.
pub fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// Appends the framed encoding of `record` to `out`.
pub fn frame(record: &Record, out: &mut Vec<u8>) {
    let len = record.encoded_len();
    let len_bytes = (len as u32).to_le_bytes();
    let start = out.len();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&[0; 4]);
    record.encode(out).expect("a Vec grows to hold any message");
    let crc = checksum(len_bytes, &out[start + FRAME_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The first byte of a `Record` holding `Decisions` (field 2, length-delimited).
pub const DECISIONS_TAG: u8 = 0x12;

/// Appends the frame of `record`, a `Record` already encoded, to `out`.
pub fn frame_encoded(record: &[u8], out: &mut Vec<u8>) {
    let len_bytes = (record.len() as u32).to_le_bytes();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&checksum(len_bytes, record).to_le_bytes());
    out.extend_from_slice(record);
}

/// Appends the frame of a `Record` holding `Request { received_unix_nanos, body }` to `out`,
/// all but the body's bytes, which follow it in the file (written from where they are, not
/// copied): the same bytes [`frame`] writes for that record.
pub fn frame_request_head(received_unix_nanos: u64, body: &[u8], out: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
    let received_len = if received_unix_nanos != 0 { 1 + 8 } else { 0 };
    let body_len = if body.is_empty() {
        0
    } else {
        1 + encoded_len_varint(body.len() as u64) + body.len()
    };
    let request_len = received_len + body_len;
    let len = 1 + encoded_len_varint(request_len as u64) + request_len;
    let len_bytes = (len as u32).to_le_bytes();
    let start = out.len();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&[0; 4]);
    // Record.request (1), then Request.received_unix_nanos (1, fixed64) and Request.body (2).
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(request_len as u64, out);
    if received_unix_nanos != 0 {
        encode_key(1, WireType::SixtyFourBit, out);
        out.extend_from_slice(&received_unix_nanos.to_le_bytes());
    }
    if !body.is_empty() {
        encode_key(2, WireType::LengthDelimited, out);
        encode_varint(body.len() as u64, out);
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&len_bytes);
    h.update(&out[start + FRAME_LEN..]);
    h.update(body);
    out[start + 4..start + 8].copy_from_slice(&h.finalize().to_le_bytes());
}

/// What can be wrong in the log; each kind is a label of `tailsift_storage_damaged_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The last record ends past the end of the file (a crash mid-write): the tail is ignored.
    TornTail,
    /// A record whose checksum does not match: skipped.
    Checksum,
    /// A record whose checksum matches but whose contents this build cannot read: skipped.
    Undecodable,
    /// A file in the directory that is not a segment of this log: left alone.
    ForeignFile,
    /// A segment file shorter than its header: it holds nothing and is deleted.
    TruncatedFile,
    /// A segment written by a newer framing version: left alone.
    UnknownVersion,
}

impl Damage {
    pub const ALL: [Damage; 6] = [
        Damage::TornTail,
        Damage::Checksum,
        Damage::Undecodable,
        Damage::ForeignFile,
        Damage::TruncatedFile,
        Damage::UnknownVersion,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Damage::TornTail => "torn_tail",
            Damage::Checksum => "checksum",
            Damage::Undecodable => "undecodable",
            Damage::ForeignFile => "foreign_file",
            Damage::TruncatedFile => "truncated_file",
            Damage::UnknownVersion => "unknown_version",
        }
    }
}

/// Checks a segment's header; `Ok` means its records can be read from [`HEADER_LEN`] on.
pub fn check_header(data: &[u8]) -> Result<(), Damage> {
    if data.len() < HEADER_LEN {
        return Err(if MAGIC.starts_with(&data[..data.len().min(8)]) {
            Damage::TruncatedFile
        } else {
            Damage::ForeignFile
        });
    }
    if &data[..8] != MAGIC {
        return Err(Damage::ForeignFile);
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(Damage::UnknownVersion);
    }
    Ok(())
}

/// One item read from a segment: a record at its byte offset, or damage found at an offset.
#[derive(Debug)]
pub enum Item {
    Record(u64, Record),
    Damaged(u64, Damage),
}

/// The records of a segment whose header was checked, in order. After a torn tail nothing
/// more is read; a record with a bad checksum is skipped by its stated length.
pub struct Records {
    data: Bytes,
    at: usize,
}

impl Records {
    pub fn new(data: Bytes) -> Records {
        Records {
            data,
            at: HEADER_LEN,
        }
    }
}

impl Iterator for Records {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let rest = self.data.len().checked_sub(self.at)?;
        if rest == 0 {
            return None;
        }
        let at = self.at;
        if rest < FRAME_LEN {
            self.at = self.data.len();
            return Some(Item::Damaged(at as u64, Damage::TornTail));
        }
        let len_bytes: [u8; 4] = self.data[at..at + 4].try_into().expect("4 bytes");
        let len = u32::from_le_bytes(len_bytes) as usize;
        let crc = u32::from_le_bytes(self.data[at + 4..at + 8].try_into().expect("4 bytes"));
        let start = at + FRAME_LEN;
        if len > rest - FRAME_LEN {
            self.at = self.data.len();
            return Some(Item::Damaged(at as u64, Damage::TornTail));
        }
        self.at = start + len;
        let payload = self.data.slice(start..start + len);
        if checksum(len_bytes, &payload) != crc {
            return Some(Item::Damaged(at as u64, Damage::Checksum));
        }
        match Record::decode(payload) {
            Ok(r) if r.kind.is_some() => Some(Item::Record(at as u64, r)),
            _ => Some(Item::Damaged(at as u64, Damage::Undecodable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::storage::v1::{record::Kind, Released};

    fn record(n: u64) -> Record {
        Record {
            kind: Some(Kind::Released(Released {
                positions: vec![n; 3],
            })),
        }
    }

    fn segment(records: &[Record]) -> Vec<u8> {
        let mut out = header().to_vec();
        for r in records {
            frame(r, &mut out);
        }
        out
    }

    fn read(data: Vec<u8>) -> Vec<Item> {
        check_header(&data).unwrap();
        Records::new(Bytes::from(data)).collect()
    }

    #[test]
    fn a_request_frame_head_and_its_body_are_the_request_record_framed() {
        use crate::proto::storage::v1::Request;
        for received in [0, 1, 1_765_000_000_000_000_000] {
            for n in [0usize, 1, 127, 128, 16_383, 16_384, 200_000] {
                let body: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
                let mut want = Vec::new();
                frame(
                    &Record {
                        kind: Some(Kind::Request(Request {
                            received_unix_nanos: received,
                            body: Bytes::from(body.clone()),
                        })),
                    },
                    &mut want,
                );
                let mut got = vec![9, 9];
                frame_request_head(received, &body, &mut got);
                got.extend_from_slice(&body);
                assert_eq!(got[2..], want[..], "received {received}, {n} bytes");
            }
        }
    }

    #[test]
    fn reads_back_what_was_framed() {
        let items = read(segment(&[record(1), record(2)]));
        assert!(
            matches!(&items[..], [Item::Record(16, a), Item::Record(_, b)] if *a == record(1) && *b == record(2))
        );
    }

    #[test]
    fn a_torn_tail_ends_the_segment_after_the_good_records() {
        let mut data = segment(&[record(1), record(2)]);
        data.truncate(data.len() - 3);
        let items = read(data);
        assert!(matches!(
            &items[..],
            [Item::Record(..), Item::Damaged(_, Damage::TornTail)]
        ));
    }

    #[test]
    fn a_flipped_bit_skips_only_its_record() {
        let mut data = segment(&[record(1), record(2), record(3)]);
        let second = HEADER_LEN + FRAME_LEN + record(1).encoded_len();
        data[second + FRAME_LEN + 2] ^= 0x10;
        let items = read(data);
        assert!(matches!(
            &items[..],
            [Item::Record(_, a), Item::Damaged(_, Damage::Checksum), Item::Record(_, c)]
                if *a == record(1) && *c == record(3)
        ));
    }

    #[test]
    fn headers_tell_foreign_truncated_and_newer_files_apart() {
        assert_eq!(
            check_header(b"hello world, not a log"),
            Err(Damage::ForeignFile)
        );
        assert_eq!(check_header(&MAGIC[..5]), Err(Damage::TruncatedFile));
        let mut newer = header();
        newer[8] = 2;
        assert_eq!(check_header(&newer), Err(Damage::UnknownVersion));
        assert_eq!(check_header(&header()), Ok(()));
    }

    #[test]
    fn names_round_trip_and_others_are_not_segments() {
        assert_eq!(parse_name(&file_name(42)), Some(42));
        for other in [
            "segment-1.log",
            "LOCK",
            "segment-00000000000000aa.log",
            "x.log",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }
}
