//! Compression of export request bodies: gzip (flate2 on its zlib-rs backend) or zstd, at a
//! configured level. A batch is compressed once, before its first attempt, and every retry
//! sends the same bytes.

use crate::config::exporter::BodyCompression;
use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cell::RefCell;

/// Bodies smaller than this are compressed on the async worker (tens of microseconds at
/// most); larger ones on the blocking pool.
pub(crate) const INLINE_COMPRESS_BYTES: usize = 64 * 1024;

/// `body` compressed as `how` says (`None`: `body` itself, without a copy).
///
/// Each thread keeps its compressor (its window and hash tables, a few hundred KiB) and resets
/// it for the next body: setting one up costs more than compressing a small batch, and its
/// fresh memory would be faulted in again every time.
pub fn compress(how: BodyCompression, body: Bytes) -> std::io::Result<Bytes> {
    match how {
        BodyCompression::None => Ok(body),
        BodyCompression::Gzip { level } => gzip(&body, level).map(Bytes::from),
        BodyCompression::Zstd { level } => ZSTD.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|(l, _)| *l != level) {
                *slot = Some((level, zstd::bulk::Compressor::new(level)?));
            }
            let (_, c) = slot.as_mut().expect("set above");
            // One frame with the content size in its header (the default), so a receiver
            // sizes its output (and its window: the content, not the level's window) exactly.
            c.compress(&body).map(Bytes::from)
        }),
    }
}

thread_local! {
    static DEFLATE: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// The gzip header (RFC 1952): deflate, no flags, no time, XFL as flate2 writes it for the
/// level, unknown OS.
fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9.. => 2,
        0..=1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// A gzip member: header, raw deflate of `body` by this thread's compressor, CRC-32 and size.
fn gzip(body: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some((l, c)) if *l == level => c.reset(),
            _ => *slot = Some((level, Compress::new(Compression::new(level), false))),
        }
        let (_, c) = slot.as_mut().expect("set above");
        let mut out = Vec::with_capacity(body.len() / 4 + 64);
        out.extend_from_slice(&gzip_header(level));
        loop {
            let read = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
            let rest = body.get(read..).unwrap_or_default();
            match c.compress_vec(rest, &mut out, FlushCompress::Finish)? {
                Status::StreamEnd => break,
                // The output is full (or could not move): room for more, and go on.
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(4096)),
            }
        }
        let mut crc = Crc::new();
        crc.update(body);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE: the input's size modulo 2^32.
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        Ok(out)
    })
}

/// [`compress`] off the async workers when the body is large.
pub(crate) async fn compress_async(how: BodyCompression, body: Bytes) -> std::io::Result<Bytes> {
    if how == BodyCompression::None || body.len() < INLINE_COMPRESS_BYTES {
        return compress(how, body);
    }
    tokio::task::spawn_blocking(move || compress(how, body))
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Bytes {
        Bytes::from(b"span span span attributes prompt ".repeat(4000))
    }

    #[test]
    fn gzip_round_trips_at_every_level() {
        let data = sample();
        let mut sizes = Vec::new();
        for level in 1..=9 {
            let packed = compress(BodyCompression::Gzip { level }, data.clone()).unwrap();
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&packed[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "level {level}");
            sizes.push(packed.len());
        }
        assert!(sizes.iter().all(|&n| n < data.len() / 20), "{sizes:?}");
    }

    #[test]
    fn a_reused_compressor_starts_afresh_and_matches_flate2s_encoder_in_size() {
        use std::io::Write;
        let data = sample();
        let small = Bytes::from_static(b"x");
        for level in [1, 6, 9, 1] {
            let mut enc =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            enc.write_all(&data).unwrap();
            let reference = enc.finish().unwrap();
            let first = compress(BodyCompression::Gzip { level }, data.clone()).unwrap();
            // Between the two, the thread's compressor takes another body.
            let packed = compress(BodyCompression::Gzip { level }, small.clone()).unwrap();
            let again = compress(BodyCompression::Gzip { level }, data.clone()).unwrap();
            assert_eq!(
                first, again,
                "level {level}: a reset compressor writes what a new one does"
            );
            assert_eq!(
                first[..10],
                reference[..10],
                "level {level}: the same header"
            );
            assert!(first.len().abs_diff(reference.len()) <= reference.len() / 100 + 8);
            for (p, want) in [(&first, &data), (&packed, &small)] {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&p[..])
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(&out[..], &want[..], "level {level}");
            }
        }
    }

    #[test]
    fn an_empty_body_is_a_valid_gzip_member() {
        let packed = compress(BodyCompression::Gzip { level: 1 }, Bytes::new()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn zstd_round_trips_and_declares_its_size() {
        let data = sample();
        for level in [1, 3, 19] {
            let packed = compress(BodyCompression::Zstd { level }, data.clone()).unwrap();
            assert!(packed.len() < data.len() / 20);
            assert_eq!(
                zstd::zstd_safe::get_frame_content_size(&packed).ok(),
                Some(Some(data.len() as u64))
            );
            assert_eq!(zstd::stream::decode_all(&packed[..]).unwrap(), data);
        }
    }

    #[test]
    fn none_is_the_body_itself() {
        let data = sample();
        let out = compress(BodyCompression::None, data.clone()).unwrap();
        assert_eq!(out.as_ptr(), data.as_ptr());
    }

    #[tokio::test]
    async fn large_bodies_are_compressed_on_the_blocking_pool_with_the_same_result() {
        let data = sample();
        assert!(data.len() > INLINE_COMPRESS_BYTES);
        let how = BodyCompression::Gzip { level: 1 };
        let a = compress_async(how, data.clone()).await.unwrap();
        let b = compress(how, data).unwrap();
        assert_eq!(a, b);
    }
}
