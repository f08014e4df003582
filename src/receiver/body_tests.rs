//! Reading bodies under reservations: growth, refusal, release to zero, limits checked before
//! buffering.

use super::*;
use crate::pipeline::Pipeline;
use futures::{stream, StreamExt};
use http_body::Frame;
use http_body_util::StreamBody;
use std::convert::Infallible;
use std::io::Write;

/// A pipeline whose `memory_limit` is `limit`, with nothing held.
fn pipeline(limit: &str) -> Arc<Pipeline> {
    let cfg = crate::config::parse(
        &format!(
            "receivers: {{ otlp: {{ http: {{ endpoint: '127.0.0.1:0' }} }} }}\n\
             sampling: {{ max_buffer_bytes: 1KiB, memory_limit: {limit} }}\n\
             exporters: {{ out: {{ protocol: file, path: /dev/null }} }}\n"
        ),
        "test",
    )
    .unwrap();
    let rules = crate::server::decider(&cfg).unwrap();
    let exporters = crate::exporter::Exporters::start(&cfg.exporters, false).unwrap();
    Arc::new(Pipeline::new(&cfg, rules, exporters))
}

fn chunks(parts: Vec<&'static [u8]>) -> impl http_body::Body<Data = Bytes, Error = Infallible> {
    StreamBody::new(stream::iter(
        parts
            .into_iter()
            .map(|p| Ok::<_, Infallible>(Frame::data(Bytes::from_static(p)))),
    ))
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn chunked_bodies_reserve_as_they_grow_and_release_to_zero() {
    let p = pipeline("64KiB");
    let mut res = Reservation::new(&p);
    let body = chunks(vec![b"abc", b"defgh", b"ij"]);
    let b = read_to_end(body, None, 1024, &mut res, T).await.unwrap();
    assert_eq!(&b[..], b"abcdefghij");
    assert!(res.bytes() >= 10 && res.bytes() <= 1024, "{}", res.bytes());
    assert_eq!(p.inflight().bytes(), res.bytes());
    drop(res);
    assert_eq!(p.inflight().bytes(), 0);
}

#[tokio::test]
async fn a_content_length_is_reserved_before_reading_and_refused_when_it_does_not_fit() {
    let p = pipeline("1KiB");
    let mut first = Reservation::new(&p);
    first.grow(600).unwrap();
    let mut second = Reservation::new(&p);
    let err = read_to_end(chunks(vec![b"x"]), Some(600), 4096, &mut second, T)
        .await
        .unwrap_err();
    assert!(matches!(err, BodyError::Overloaded(_)), "{err}");
    assert!(err.to_string().contains("memory limit"), "{err}");
    assert_eq!(second.bytes(), 0, "nothing reserved by a refusal");
    assert!(p.refusing(), "readiness reports the refusal");
    // Over max_request_bytes: too large, whatever memory is free.
    let err = read_to_end(chunks(vec![]), Some(5000), 4096, &mut second, T)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BodyError::TooLarge { size: 5000, .. }),
        "{err}"
    );
    drop(first);
    assert_eq!(p.inflight().bytes(), 0);
}

#[tokio::test]
async fn a_grpc_length_prefix_over_the_limit_is_refused_before_the_message_arrives() {
    let p = pipeline("64KiB");
    let mut res = Reservation::new(&p);
    // The header announces 1 MiB, then the body never continues.
    let head: &'static [u8] = &[0, 0, 0x10, 0, 0];
    let body = StreamBody::new(
        stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(head)))])
            .chain(stream::pending()),
    );
    let err = read_grpc_message(body, 1024, &mut res, T)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BodyError::TooLarge { size: 1048576, .. }),
        "{err}"
    );
    assert_eq!(res.bytes(), 0);
    // A message that fits is reserved by its prefix and read whole.
    let msg: &'static [u8] = &[0, 0, 0, 0, 3, b'a', b'b', b'c'];
    let m = read_grpc_message(
        chunks(vec![&msg[..2], &msg[2..6], &msg[6..]]),
        1024,
        &mut res,
        T,
    )
    .await
    .unwrap();
    assert_eq!((m.compressed, &m.bytes[..]), (false, &b"abc"[..]));
    assert_eq!(res.bytes(), 3);
    // Two messages in a unary call are refused.
    let two: &'static [u8] = &[0, 0, 0, 0, 1, b'a', 0, 0, 0, 0, 1, b'b'];
    let err = read_grpc_message(chunks(vec![two]), 1024, &mut res, T)
        .await
        .unwrap_err();
    assert!(matches!(err, BodyError::Invalid(_)), "{err}");
    drop(res);
    assert_eq!(p.inflight().bytes(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_times_out() {
    let p = pipeline("64KiB");
    let mut res = Reservation::new(&p);
    let body = StreamBody::new(stream::pending::<Result<Frame<Bytes>, Infallible>>());
    let err = read_to_end(body, Some(10), 1024, &mut res, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, BodyError::Timeout(_)), "{err}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn inflation_reserves_its_output_and_stops_at_the_limit() {
    let p = pipeline("4MiB");
    let gz = gzip(&vec![7u8; 1 << 20]);
    let mut res = Reservation::new(&p);
    let out = inflate(Coding::Gzip, &gz, 1 << 20, &mut res).unwrap();
    assert_eq!(out.len(), 1 << 20);
    assert!(res.bytes() >= out.len() as u64, "output reserved");
    assert!(res.bytes() <= (1 << 20) + 1, "no more than the limit + 1");
    drop(res);
    // A bomb: stops one byte past the limit.
    let mut res = Reservation::new(&p);
    let err = inflate(Coding::Gzip, &gz, (1 << 20) - 1, &mut res).unwrap_err();
    assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
    // Inflation past memory_limit is refused retryably.
    let big = gzip(&vec![0u8; 8 << 20]);
    let mut res2 = Reservation::new(&p);
    let err = inflate(Coding::Gzip, &big, 16 << 20, &mut res2).unwrap_err();
    assert!(matches!(err, BodyError::Overloaded(_)), "{err}");
    let err = inflate(Coding::Gzip, b"not gzip", 100, &mut res2).unwrap_err();
    assert!(
        matches!(err, BodyError::Decompress { coding: "gzip", .. }),
        "{err}"
    );
    drop((res, res2));
    assert_eq!(p.inflight().bytes(), 0);
}

#[tokio::test]
async fn decoders_refuse_when_every_slot_stays_busy() {
    let d = Decoders::new(1, Duration::from_millis(50));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let busy = {
        let d = d.clone();
        tokio::spawn(async move { d.run(move || rx.recv().ok()).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = d.run(|| 1).await.unwrap_err();
    assert!(err.to_string().contains("decoding slot"), "{err}");
    tx.send(()).unwrap();
    assert!(busy.await.unwrap().is_ok());
    assert_eq!(d.run(|| 2).await.unwrap(), 2);
}

/// Log output captured in memory (for the current thread's subscriber).
#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn request_metadata_reaches_the_pipeline_with_its_protocol_and_receive_time() {
    use crate::pipeline::{Protocol, RequestMeta};
    let p = pipeline("64KiB");
    let decoders = Decoders::new(1, Duration::from_millis(50));
    let logs = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);
    // A length-delimited field longer than the body: malformed, refused by the pipeline, which
    // logs the refusal with what it got of the request.
    let body = Bytes::from_static(&[0x0a, 0x05, 0x01]);
    for (protocol, waited) in [(Protocol::HttpJson, 1500), (Protocol::Grpc, 250)] {
        let received = tokio::time::Instant::now();
        tokio::time::advance(Duration::from_millis(waited)).await;
        let mut headers = http::HeaderMap::new();
        headers.insert("user-agent", "sdk-test/1.0".parse().unwrap());
        headers.insert("authorization", "Bearer hunter2".parse().unwrap());
        let meta = RequestMeta::new(protocol, received, headers);
        let res = Reservation::new(&p);
        let err = ingest(&p, &decoders, meta, body.clone(), res)
            .await
            .unwrap_err();
        assert!(matches!(err, Refusal::Malformed(_)), "{err}");
        let out = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let line = out
            .lines()
            .rfind(|l| l.contains("request refused"))
            .unwrap_or_else(|| panic!("no refusal logged: {out}"));
        assert!(
            line.contains(&format!("protocol=\"{}\"", protocol.label())),
            "{line}"
        );
        assert!(line.contains(&format!("waited_ms={waited}")), "{line}");
        assert!(line.contains("user_agent=\"sdk-test/1.0\""), "{line}");
        assert!(
            !out.contains("hunter2"),
            "credentials never leave the receiver"
        );
    }
    assert_eq!(p.inflight().bytes(), 0);
}

#[tokio::test]
async fn zstd_inflation_reserves_its_output_and_window_and_stops_at_the_limit() {
    let p = pipeline("4MiB");
    let data = vec![7u8; 1 << 20];
    let zs = zstd::bulk::compress(&data, 3).unwrap();
    let mut res = Reservation::new(&p);
    assert_eq!(
        zstd_window(&zs),
        Ok(1 << 20),
        "a one-shot frame's window is its content"
    );
    let out = inflate(Coding::Zstd, &zs, 1 << 20, &mut res).unwrap();
    assert_eq!(&out[..], &data[..]);
    assert!(res.bytes() >= out.len() as u64, "output reserved");
    assert!(
        res.bytes() <= (1 << 20) + 1,
        "the window is released after decoding"
    );
    drop(res);
    // A bomb: stops one byte past the limit.
    let mut res = Reservation::new(&p);
    let err = inflate(Coding::Zstd, &zs, (1 << 20) - 1, &mut res).unwrap_err();
    assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
    drop(res);
    // Past memory_limit: refused retryably.
    let big = zstd::bulk::compress(&vec![0u8; 8 << 20], 1).unwrap();
    let mut res = Reservation::new(&p);
    let err = inflate(Coding::Zstd, &big, 16 << 20, &mut res).unwrap_err();
    assert!(matches!(err, BodyError::Overloaded(_)), "{err}");
    drop(res);
    // A frame asking for a 128 MiB window is refused, not allocated.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(27).unwrap();
    enc.long_distance_matching(true).unwrap();
    enc.write_all(&data).unwrap();
    let wide = enc.finish().unwrap();
    assert_eq!(zstd_window(&wide), Ok(1 << 27));
    let roomy = pipeline("64MiB");
    let mut res = Reservation::new(&roomy);
    let err = inflate(Coding::Zstd, &wide, 16 << 20, &mut res).unwrap_err();
    assert!(
        matches!(err, BodyError::Decompress { coding: "zstd", .. }),
        "{err}"
    );
    let mut res2 = Reservation::new(&p);
    let err = inflate(Coding::Zstd, b"not zstd", 100, &mut res2).unwrap_err();
    assert!(
        matches!(err, BodyError::Decompress { coding: "zstd", .. }),
        "{err}"
    );
    drop((res, res2));
    assert_eq!(p.inflight().bytes(), 0);
    assert_eq!(roomy.inflight().bytes(), 0);
}

#[test]
fn codings_from_headers() {
    assert_eq!(Coding::from_header(None), Ok(None));
    assert_eq!(Coding::from_header(Some(b"identity")), Ok(None));
    assert_eq!(Coding::from_header(Some(b"gzip")), Ok(Some(Coding::Gzip)));
    assert_eq!(Coding::from_header(Some(b"zstd")), Ok(Some(Coding::Zstd)));
    assert_eq!(Coding::from_header(Some(b"br")), Err(()));
}

/// Small compressed bodies are inflated in place (they are served even while every decoding
/// slot is busy); one that inflates past the in-place share is inflated again, whole, on the
/// pool; either way the body keeps its length, not the room it was inflated into, and the
/// reservation holds the compressed input plus the output, nothing of the abandoned attempt.
#[tokio::test]
async fn small_bodies_inflate_in_place_and_large_ratios_go_to_the_pool() {
    let p = pipeline("64MiB");
    let small = (0..20_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
    let gz_small = Bytes::from(gzip(&small));
    assert!(gz_small.len() <= INLINE_INFLATE_INPUT);
    let busy = Decoders::new(1, Duration::from_millis(50));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let d = busy.clone();
        tokio::spawn(async move { d.run(move || rx.recv().ok()).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut res = Reservation::new(&p);
    res.grow(gz_small.len() as u64).unwrap();
    let (out, res) = inflate_request(&busy, Coding::Gzip, gz_small.clone(), 4 << 20, res)
        .await
        .expect("no slot needed")
        .expect("valid");
    assert_eq!(&out[..], &small[..]);
    assert!(res.bytes() >= (gz_small.len() + small.len()) as u64);
    drop(res);

    // 2 MiB from a few KiB: past the in-place share, so it needs the (busy) pool...
    let big = vec![9u8; 2 << 20];
    let gz_big = Bytes::from(gzip(&big));
    assert!(gz_big.len() <= INLINE_INFLATE_INPUT, "{}", gz_big.len());
    let mut res = Reservation::new(&p);
    res.grow(gz_big.len() as u64).unwrap();
    let err = inflate_request(&busy, Coding::Gzip, gz_big.clone(), 4 << 20, res)
        .await
        .err()
        .expect("the pool is busy");
    assert!(err.to_string().contains("decoding slot"), "{err}");
    assert_eq!(
        p.inflight().bytes(),
        0,
        "the abandoned attempt gave its share back"
    );
    tx.send(()).unwrap();
    assert!(holder.await.unwrap().is_ok());

    // ...and comes back whole from it, reserved once.
    let mut res = Reservation::new(&p);
    res.grow(gz_big.len() as u64).unwrap();
    let (out, res) = inflate_request(&busy, Coding::Gzip, gz_big.clone(), 4 << 20, res)
        .await
        .expect("a free slot")
        .expect("valid");
    assert_eq!(out.len(), big.len());
    assert!(out.iter().all(|b| *b == 9));
    let reserved = res.bytes();
    assert!(
        reserved <= (gz_big.len() + big.len() + 1) as u64 + INFLATE_STEP as u64,
        "{reserved}"
    );
    drop(res);
    // Over the request limit either way: too large, not retried.
    let res = Reservation::new(&p);
    let err = inflate_request(&busy, Coding::Gzip, gz_big, 1 << 20, res)
        .await
        .expect("a free slot")
        .err()
        .expect("too large");
    assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
    assert_eq!(p.inflight().bytes(), 0);
}

/// An inflated body keeps its own length of memory, not the 256 KiB it was inflated into.
#[tokio::test]
async fn an_inflated_body_is_shrunk_to_its_length() {
    let p = pipeline("16MiB");
    let data = vec![3u8; 10_000];
    let mut res = Reservation::new(&p);
    let out = inflate(Coding::Gzip, &gzip(&data), 4 << 20, &mut res).unwrap();
    assert_eq!(out.len(), data.len());
    let v: Vec<u8> = out.into();
    assert!(v.capacity() < 2 * data.len(), "capacity {}", v.capacity());
}
