//! Minimal protobuf wire-format reading and writing: just what lazy span decoding and raw re-emission need.

use bytes::BufMut;
use thiserror::Error;

/// A structural error in protobuf input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("truncated message")]
    Truncated,
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    #[error("unsupported wire type {0}")]
    WireType(u8),
    #[error("field number 0 is invalid")]
    FieldZero,
    #[error("{0}")]
    Invalid(&'static str),
}

/// Wire types that OTLP uses (groups are rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A cursor over one encoded message inside a larger buffer. Positions are absolute offsets
/// into that buffer, so a field can become a zero-copy `Bytes` slice of it on demand, and
/// nested messages are read in place without creating (reference-counted) slices.
///
/// `buf` ends where the message does (it starts at the larger buffer's start), so a read is
/// one bounds check against `buf.len()`. Keys of fields 1 to 15 and varints of one or two
/// bytes (every OTLP field number the hot path reads, and most lengths) are read inline; the
/// rest out of line.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads all of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Reads the message at `range` of `buf` (a range returned by [`Reader::len_range`]).
    #[inline]
    pub fn within(buf: &'a [u8], range: (usize, usize)) -> Self {
        Reader {
            buf: &buf[..range.1],
            pos: range.0,
        }
    }

    /// The absolute offset of the next byte to read.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Reads the next field key, or `None` at the end of the message.
    #[inline(always)]
    pub fn next_field(&mut self) -> Result<Option<(u32, WireType)>, WireError> {
        let Some(&b) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        if b < 0x80 {
            self.pos += 1;
            return key_of(u64::from(b)).map(Some);
        }
        self.next_field_slow()
    }

    #[inline(never)]
    fn next_field_slow(&mut self) -> Result<Option<(u32, WireType)>, WireError> {
        let key = self.varint()?;
        // As prost and Go: a key wider than 32 bits (a field number over 2^29 - 1) is invalid.
        if key > u32::MAX as u64 {
            return Err(WireError::Invalid("field key is wider than 32 bits"));
        }
        key_of(key).map(Some)
    }

    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
            if let Some(&c) = self.buf.get(self.pos + 1) {
                if c < 0x80 {
                    self.pos += 2;
                    return Ok(u64::from(b & 0x7f) | (u64::from(c) << 7));
                }
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let bytes = self.buf.get(self.pos..).unwrap_or_default();
        let mut value: u64 = 0;
        for (i, &b) in bytes.iter().take(10).enumerate() {
            value |= ((b & 0x7f) as u64) << (7 * i);
            // The tenth byte holds the 64th bit only: more overflows u64 (prost and Go refuse it).
            if i == 9 && b > 1 {
                return Err(WireError::VarintOverflow);
            }
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if bytes.len() < 10 {
            Err(WireError::Truncated)
        } else {
            Err(WireError::VarintOverflow)
        }
    }

    /// The next `N` bytes, for a fixed-width field.
    #[inline]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let Some(s) = self.buf.get(self.pos..self.pos + N) else {
            return Err(WireError::Truncated);
        };
        self.pos += N;
        Ok(s.try_into().expect("N bytes"))
    }

    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        self.fixed().map(u64::from_le_bytes)
    }

    #[inline]
    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        self.fixed().map(u32::from_le_bytes)
    }

    /// Reads a length-delimited field as an absolute byte range of the buffer.
    #[inline]
    pub fn len_range(&mut self) -> Result<(usize, usize), WireError> {
        let len = self.varint()?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok((start, end))
    }

    /// Reads a length-delimited field as a borrowed slice.
    #[inline]
    pub fn slice(&mut self) -> Result<&'a [u8], WireError> {
        let (s, e) = self.len_range()?;
        Ok(&self.buf[s..e])
    }

    /// Skips a field's value.
    #[inline]
    pub fn skip(&mut self, wt: WireType) -> Result<(), WireError> {
        match wt {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
            WireType::Len => self.len_range().map(drop),
        }
    }
}

/// The field number and wire type of a key (at most 32 bits wide).
#[inline(always)]
fn key_of(key: u64) -> Result<(u32, WireType), WireError> {
    let field = (key >> 3) as u32;
    if field == 0 {
        return Err(WireError::FieldZero);
    }
    let wt = match key & 7 {
        0 => WireType::Varint,
        1 => WireType::Fixed64,
        2 => WireType::Len,
        5 => WireType::Fixed32,
        other => return Err(WireError::WireType(other as u8)),
    };
    Ok((field, wt))
}

/// Size of `v` as a varint.
#[inline]
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub fn put_varint(out: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Writes the key of a length-delimited field and its length.
#[inline]
pub fn put_len_key(out: &mut impl BufMut, field: u32, len: usize) {
    put_varint(out, ((field as u64) << 3) | 2);
    put_varint(out, len as u64);
}

/// Encoded size of a length-delimited field holding `len` bytes (field numbers < 16).
#[inline]
pub fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_roundtrip(v: u64) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.varint().unwrap(), v);
        }

        #[test]
        fn reader_never_panics(data: Vec<u8>) {
            let mut r = Reader::new(&data);
            while let Ok(Some((_, wt))) = r.next_field() {
                if r.skip(wt).is_err() { break; }
            }
        }
    }

    #[test]
    fn truncated_length_is_an_error() {
        let b = [0x0a, 0x05, 1, 2];
        let mut r = Reader::new(&b);
        assert_eq!(r.next_field().unwrap(), Some((1, WireType::Len)));
        assert_eq!(r.len_range(), Err(WireError::Truncated));
    }

    #[test]
    fn groups_are_rejected() {
        let b = [0x0b];
        let mut r = Reader::new(&b);
        assert_eq!(r.next_field(), Err(WireError::WireType(3)));
    }

    #[test]
    fn varint_over_64_bits_is_an_error() {
        let mut b = [0xff; 10];
        b[9] = 0x01;
        assert_eq!(Reader::new(&b).varint(), Ok(u64::MAX));
        b[9] = 0x02;
        assert_eq!(Reader::new(&b).varint(), Err(WireError::VarintOverflow));
        // A key of 2^32 (field number 2^29) is invalid, as in prost.
        let mut key = Vec::new();
        put_varint(&mut key, 1 << 32);
        assert!(Reader::new(&key).next_field().is_err());
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let b = [0xff; 11];
        let mut r = Reader::new(&b);
        assert_eq!(r.varint(), Err(WireError::VarintOverflow));
    }
}
