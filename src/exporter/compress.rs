//! Compression of export request bodies: gzip (flate2 on its zlib-rs backend) or zstd, at a
//! configured level. A batch is compressed once, before its first attempt, and every retry
//! sends the same bytes.

use crate::config::exporter::BodyCompression;
use bytes::Bytes;
use std::io::Write;

/// Bodies smaller than this are compressed on the async worker (tens of microseconds at
/// most); larger ones on the blocking pool.
pub(crate) const INLINE_COMPRESS_BYTES: usize = 64 * 1024;

/// `body` compressed as `how` says (`None`: `body` itself, without a copy).
pub fn compress(how: BodyCompression, body: Bytes) -> std::io::Result<Bytes> {
    match how {
        BodyCompression::None => Ok(body),
        BodyCompression::Gzip { level } => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4 + 64),
                flate2::Compression::new(level),
            );
            enc.write_all(&body)?;
            Ok(Bytes::from(enc.finish()?))
        }
        BodyCompression::Zstd { level } => {
            // One frame with the content size in its header, so a receiver sizes its output
            // (and its window: the content, not the level's window) exactly.
            zstd::bulk::compress(&body, level).map(Bytes::from)
        }
    }
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
