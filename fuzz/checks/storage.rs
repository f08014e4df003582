//! The storage log's segment reader: any bytes as a segment file. Beyond "no panic": at most
//! one item per frame header's worth of bytes; a torn tail is the last thing reported; the
//! records read back, written into a fresh segment, read back identically and without damage.

use bytes::Bytes;
use tailsift::storage::{read_segment, write_segment, Damage};

pub fn check(data: &[u8]) {
    let (records, damage) = read_segment(Bytes::copy_from_slice(data));
    assert!(records.len() + damage.len() <= data.len() / 8 + 1);
    if let Some(i) = damage.iter().position(|d| *d == Damage::TornTail) {
        assert_eq!(i, damage.len() - 1, "nothing is read after a torn tail");
    }
    let again = write_segment(&records);
    let (back, damage) = read_segment(Bytes::from(again));
    assert!(damage.is_empty(), "{damage:?}");
    assert_eq!(back, records);
}
