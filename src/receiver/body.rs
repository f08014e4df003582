//! Reading request bodies under the receivers' limits: bytes reserved before they are buffered,
//! a size limit checked before buffering, a read deadline; gzip and zstd inflation that reserves
//! what it produces; and the bounded pool that runs CPU-heavy decoding off the async workers.

use super::inflight::Reservation;
use crate::pipeline::Refusal;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge { size: u64, limit: usize },
    #[error("{0}")]
    Overloaded(Refusal),
    #[error("request body not received within {}s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("{0}")]
    Invalid(String),
    /// The body is not in its declared coding (gzip, zstd), or is truncated.
    #[error("invalid {coding} body: {source}")]
    Decompress {
        coding: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl From<Refusal> for BodyError {
    fn from(r: Refusal) -> Self {
        BodyError::Overloaded(r)
    }
}

/// Data chunks of a body, trailers skipped. The body is pinned where the reader lives (no
/// allocation per request).
pub struct Chunks<'a, B>(std::pin::Pin<&'a mut B>);

impl<'a, B> Chunks<'a, B>
where
    B: http_body::Body,
    B::Data: Buf,
    B::Error: std::fmt::Display,
{
    pub fn new(body: std::pin::Pin<&'a mut B>) -> Self {
        Chunks(body)
    }

    async fn next(&mut self) -> Option<Result<Bytes, BodyError>> {
        loop {
            match self.0.frame().await? {
                Ok(f) => {
                    if let Ok(mut d) = f.into_data() {
                        let n = d.remaining();
                        if n > 0 {
                            return Some(Ok(d.copy_to_bytes(n)));
                        }
                    }
                }
                Err(e) => {
                    return Some(Err(BodyError::Invalid(format!(
                        "request body could not be read: {e}"
                    ))))
                }
            }
        }
    }
}

/// Reads a whole body of at most `max` bytes. With `expected` (Content-Length) the bytes are
/// reserved at once, else the reservation grows with the buffer.
pub async fn read_to_end<B>(
    body: B,
    expected: Option<u64>,
    max: usize,
    res: &mut Reservation,
    deadline: Duration,
) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
    B::Data: Buf,
    B::Error: std::fmt::Display,
{
    if let Some(n) = expected {
        if n > max as u64 {
            return Err(BodyError::TooLarge {
                size: n,
                limit: max,
            });
        }
        res.grow_to(n)?;
    }
    let body = std::pin::pin!(body);
    let mut chunks = Chunks::new(body);
    let read = async {
        let mut buf = BytesMut::with_capacity(expected.unwrap_or(0) as usize);
        while let Some(chunk) = chunks.next().await {
            append(&mut buf, &chunk?, max, res)?;
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| BodyError::Timeout(deadline))?
}

/// Appends a chunk, reserving the buffer's growth first.
fn append(
    buf: &mut BytesMut,
    chunk: &[u8],
    max: usize,
    res: &mut Reservation,
) -> Result<(), BodyError> {
    let size = buf.len() + chunk.len();
    if size > max {
        return Err(BodyError::TooLarge {
            size: size as u64,
            limit: max,
        });
    }
    if size > buf.capacity() {
        let cap = size.max(buf.capacity() * 2).min(max);
        res.grow_to(cap as u64)?;
        buf.reserve(cap - buf.len());
    }
    buf.extend_from_slice(chunk);
    Ok(())
}

/// One gRPC message: the compressed flag and the message bytes.
#[derive(Debug)]
pub struct GrpcMessage {
    pub compressed: bool,
    pub bytes: Bytes,
}

/// Reads the one message of a unary gRPC request. Its length prefix is checked against `max`
/// and reserved before the message is buffered.
pub async fn read_grpc_message<B>(
    body: B,
    max: usize,
    res: &mut Reservation,
    deadline: Duration,
) -> Result<GrpcMessage, BodyError>
where
    B: http_body::Body,
    B::Data: Buf,
    B::Error: std::fmt::Display,
{
    let body = std::pin::pin!(body);
    let mut chunks = Chunks::new(body);
    let read = async {
        let mut head = [0u8; 5];
        let mut have = 0;
        let mut rest = Bytes::new();
        while have < 5 {
            let Some(chunk) = chunks.next().await else {
                return Err(BodyError::Invalid(
                    "request ended before a complete gRPC message".into(),
                ));
            };
            let mut chunk = chunk?;
            let take = (5 - have).min(chunk.len());
            head[have..have + take].copy_from_slice(&chunk.split_to(take));
            have += take;
            rest = chunk;
        }
        let compressed = match head[0] {
            0 => false,
            1 => true,
            f => return Err(BodyError::Invalid(format!("invalid gRPC message flag {f}"))),
        };
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > max {
            return Err(BodyError::TooLarge {
                size: len as u64,
                limit: max,
            });
        }
        res.grow_to(len as u64)?;
        // Copied into a buffer of its own even when one chunk holds it all: its spans keep the
        // body alive, and a slice would keep the connection's whole read buffer with it.
        let mut buf = BytesMut::with_capacity(len);
        let mut next = Some(Ok(rest));
        while let Some(chunk) = next {
            let chunk = chunk?;
            if buf.len() + chunk.len() > len {
                return Err(BodyError::Invalid(
                    "a unary request carries exactly one gRPC message".into(),
                ));
            }
            buf.extend_from_slice(&chunk);
            next = chunks.next().await;
        }
        if buf.len() < len {
            return Err(BodyError::Invalid(format!(
                "request ended after {} of the {len} bytes its gRPC message header announced",
                buf.len()
            )));
        }
        Ok(GrpcMessage {
            compressed,
            bytes: buf.freeze(),
        })
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| BodyError::Timeout(deadline))?
}

/// Inflation's output starts with this much room (reserved), then doubles (reserved first).
const INFLATE_STEP: usize = 256 * 1024;

/// A request body's content coding (`Content-Encoding`, `grpc-encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Zstd,
}

impl Coding {
    /// The coding a header names: `Ok(None)` when absent or `identity`, `Err(())` when unknown.
    #[allow(clippy::result_unit_err)]
    pub fn from_header(value: Option<&[u8]>) -> Result<Option<Coding>, ()> {
        match value {
            None | Some(b"identity") => Ok(None),
            Some(b"gzip") => Ok(Some(Coding::Gzip)),
            Some(b"zstd") => Ok(Some(Coding::Zstd)),
            Some(_) => Err(()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Zstd => "zstd",
        }
    }
}

/// Largest zstd window accepted, as a power of two: 8 MiB, what zstd's own levels use up to 19
/// and what Go's zstd encoder (the Collector's) uses by default. A frame asking for more is
/// refused as invalid rather than allocating its window.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// A zstd decoder's memory besides its window (block buffers, tables), reserved with it.
const ZSTD_DECODER_OVERHEAD: u64 = 256 * 1024;

/// Inflates a gzip or zstd body of at most `max` bytes once inflated, reserving its output as
/// it grows (and, for zstd, the decoder's window while it works).
pub fn inflate(
    coding: Coding,
    input: &[u8],
    max: usize,
    res: &mut Reservation,
) -> Result<Bytes, BodyError> {
    let invalid = |source| BodyError::Decompress {
        coding: coding.name(),
        source,
    };
    match coding {
        Coding::Gzip => read_bounded(flate2::read::GzDecoder::new(input), max, res, invalid),
        Coding::Zstd => {
            // Reserve the decoder's window before it is allocated: the first frame's own window
            // (from its header) when the body is that one frame, else the largest accepted, since
            // a later frame may ask for more. A body that is not zstd, or whose frame asks for
            // a window over the largest accepted, is refused as invalid before anything is
            // reserved: retrying it cannot help.
            let window_max = 1u64 << ZSTD_WINDOW_LOG_MAX;
            let first = zstd_window(input).map_err(|e| invalid(std::io::Error::other(e)))?;
            if first > window_max {
                return Err(invalid(std::io::Error::other(format!(
                    "the frame asks for a {first}-byte window, more than the {window_max} accepted"
                ))));
            }
            let single = zstd::zstd_safe::find_frame_compressed_size(input) == Ok(input.len());
            let window = if single { first } else { window_max } + ZSTD_DECODER_OVERHEAD;
            res.grow(window)?;
            let out = zstd::stream::read::Decoder::with_buffer(input)
                .and_then(|mut d| {
                    d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                    Ok(d)
                })
                .map_err(invalid)
                .and_then(|d| read_bounded(d, max, res, invalid));
            res.release(window);
            out
        }
    }
}

/// The window a zstd frame's header asks for (RFC 8878, 3.1.1.1): its content size for a
/// single-segment frame, else what its window descriptor says.
fn zstd_window(frame: &[u8]) -> Result<u64, String> {
    const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    if frame.len() < 6 || frame[..4] != MAGIC {
        return Err("not a zstd frame".into());
    }
    let descriptor = frame[4];
    if descriptor & 0x20 != 0 {
        return match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) => Ok(n),
            _ => Err("a single-segment zstd frame without a readable content size".into()),
        };
    }
    let window = frame[5];
    let log = 10 + u32::from(window >> 3);
    let base = 1u64 << log;
    Ok(base + (base / 8) * u64::from(window & 7))
}

/// Reads `reader` to its end into a buffer of at most `max` bytes (`TooLarge` past it),
/// reserving the buffer before it grows.
fn read_bounded(
    reader: impl Read,
    max: usize,
    res: &mut Reservation,
    invalid: impl Fn(std::io::Error) -> BodyError,
) -> Result<Bytes, BodyError> {
    let mut out: Vec<u8> = Vec::new();
    let mut reader = reader.take(max as u64 + 1);
    loop {
        if out.capacity() - out.len() < INFLATE_STEP / 2 {
            let cap = (out.capacity() * 2).max(INFLATE_STEP).min(max + 1);
            res.grow(cap.saturating_sub(out.capacity()) as u64)?;
            out.reserve_exact(cap - out.len());
        }
        let room = (out.capacity() - out.len()) as u64;
        // Bounded by the spare capacity, so the vector never grows past what was reserved.
        let n = (&mut reader)
            .take(room)
            .read_to_end(&mut out)
            .map_err(&invalid)?;
        if out.len() > max {
            return Err(BodyError::TooLarge {
                size: out.len() as u64,
                limit: max,
            });
        }
        if n == 0 {
            // The body lives as long as its spans are buffered: it keeps its length, not the
            // (at least 256 KiB) room it was inflated into. Shrinking gives the tail back in
            // place, without a copy.
            if out.capacity() > out.len() + out.len() / 8 {
                let room = out.capacity();
                out.shrink_to_fit();
                res.release(room.saturating_sub(out.capacity()) as u64);
            }
            return Ok(Bytes::from(out));
        }
    }
}

/// Compressed bodies up to this size are first inflated on the async worker, into at most
/// [`INLINE_INFLATE_OUTPUT`] bytes (tens of microseconds): cheaper than the two thread
/// hand-offs of the blocking pool, which an SDK's small batches would otherwise pay on every
/// request. A body that inflates past that is inflated again, whole, on the pool.
pub const INLINE_INFLATE_INPUT: usize = 16 * 1024;
/// See [`INLINE_INFLATE_INPUT`].
pub const INLINE_INFLATE_OUTPUT: usize = 64 * 1024;

/// Inflates a request body of `coding`, bounded by `max` and reserved in `res`: on the async
/// worker when it is small (see [`INLINE_INFLATE_INPUT`]), else on the blocking pool through
/// `decoders` (`Err` when no decoding slot freed up in time). The reservation is handed back
/// with the body.
pub async fn inflate_request(
    decoders: &Decoders,
    coding: Coding,
    compressed: Bytes,
    max: usize,
    mut res: Reservation,
) -> Result<Result<(Bytes, Reservation), BodyError>, Refusal> {
    if compressed.len() <= INLINE_INFLATE_INPUT {
        let cap = max.min(INLINE_INFLATE_OUTPUT);
        let held = res.bytes();
        match inflate(coding, &compressed, cap, &mut res) {
            // More than the inline share: inflated again on the pool, up to `max`.
            Err(BodyError::TooLarge { .. }) if cap < max => res.shrink_to(held),
            done => return Ok(done.map(|b| (b, res))),
        }
    }
    decoders
        .run(move || inflate(coding, &compressed, max, &mut res).map(|b| (b, res)))
        .await
}

/// What a receiver (gRPC or HTTP) needs to serve a request.
#[derive(Clone)]
pub struct RequestLimits {
    pub max_request_bytes: usize,
    pub body_read_timeout: std::time::Duration,
    pub decoders: Decoders,
}

/// Runs CPU-heavy decoding (gzip inflation, OTLP/JSON transcoding) on the blocking pool, at most
/// `slots` at once. A request waits at most `wait` for a slot: short bursts are smoothed, while
/// a sustained flood is refused retryably instead of queueing without bound (a waiting request
/// holds its reserved body).
#[derive(Clone)]
pub struct Decoders {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Decoders {
    pub fn new(slots: usize, wait: Duration) -> Decoders {
        Decoders {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// Runs `f` off the async workers once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let busy = || {
            Refusal::Overloaded(
                "every decoding slot is busy (receivers' decode_concurrency)".to_string(),
            )
        };
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| Refusal::Overloaded(format!("decoding task failed: {e}")))
    }
}

/// The default decode slots: half the CPUs (at least one), so decoding floods leave the other
/// half to the async workers serving cheap requests and `/healthz`.
pub fn default_decode_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Protobuf bodies at least this large are ingested off the async workers (a request of many
/// tiny messages costs milliseconds to walk).
pub const INLINE_INGEST_BYTES: usize = 256 * 1024;

/// Ingests a request into the pipeline, off the async workers (through `decoders`) when large.
pub async fn ingest(
    pipeline: &Arc<crate::pipeline::Pipeline>,
    decoders: &Decoders,
    meta: crate::pipeline::RequestMeta,
    body: Bytes,
    res: Reservation,
) -> Result<crate::pipeline::Accepted, Refusal> {
    let accepted = if body.len() < INLINE_INGEST_BYTES {
        pipeline.accept_reserved(meta, body, Some(res))?
    } else {
        let p = pipeline.clone();
        let (protocol, received) = (meta.protocol, meta.received);
        match decoders
            .run(move || p.accept_reserved(meta, body, Some(res)))
            .await
        {
            Ok(r) => r?,
            Err(refusal) => {
                metrics::counter!(crate::telemetry::names::RECEIVER_REQUESTS,
                    "protocol" => protocol.label(), "outcome" => "refused")
                .increment(1);
                let meta =
                    crate::pipeline::RequestMeta::new(protocol, received, Default::default());
                crate::pipeline::log_refusal(&meta, &refusal);
                return Err(refusal);
            }
        }
    };
    // With `storage.sync: fsync`, success is answered once the log record is on the device.
    if let Some(n) = accepted.durable_after {
        pipeline.durable(n).await?;
    }
    Ok(accepted)
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
