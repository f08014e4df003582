//! Damage in the log: counted and logged, the rest replayed, the daemon still starts; an
//! unusable directory stops the start with its path named.

use super::*;
use std::io::Write;
use std::time::Duration;

/// Leaves `n` two-span traces on disk (still buffered at shutdown), one request each.
async fn leave_traces(dir: &Path, url: &str, n: u128) {
    let d = Daemon::start(&config(dir, url, "1s", "")).await;
    for t in 1..=n {
        d.send_ok(Transport::Grpc, &trace(t)).await;
    }
    d.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_counted_and_the_records_before_it_replayed() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    leave_traces(dir.path(), url, 3).await;
    // A crash in the middle of writing a frame: its length says more than the file holds.
    let seg = segments(dir.path()).pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
    drop(f);
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "1s", "")).await;
    assert_eq!(
        grew(
            &base,
            "tailsift_storage_damaged_total",
            &[("kind", "torn_tail")]
        ),
        1.0
    );
    assert!(wait_for(PATIENCE, || unique_span_ids(sink).len() == 6).await);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_loses_only_its_record() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    leave_traces(dir.path(), url, 3).await;
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    // Inside the first record's payload (header 16 bytes, frame 8).
    data[16 + 8 + 30] ^= 0x04;
    std::fs::write(&seg, data).unwrap();
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "1s", "")).await;
    assert_eq!(
        grew(
            &base,
            "tailsift_storage_damaged_total",
            &[("kind", "checksum")]
        ),
        1.0
    );
    assert_eq!(
        grew(&base, "tailsift_storage_replayed_spans_total", &[]),
        4.0
    );
    assert!(wait_for(PATIENCE, || unique_span_ids(sink).len() == 4).await);
    let ids = unique_span_ids(sink);
    assert!(ids.is_superset(&[21, 22, 31, 32].into()), "{ids:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_truncated_files_are_reported_and_the_daemon_starts() {
    let t = setup().await;
    let (dir, sink, url) = (&t.dir, &t.sink, &t.url);
    leave_traces(dir.path(), url, 1).await;
    std::fs::write(dir.path().join("notes.txt"), b"an operator's file").unwrap();
    std::fs::write(dir.path().join("segment-0000000000000099.log"), b"TSF").unwrap();
    std::fs::write(
        dir.path().join("segment-0000000000000098.log"),
        b"not a log at all, longer than a header",
    )
    .unwrap();
    let base = Metrics::of_this_process();
    let d = Daemon::start(&config(dir.path(), url, "1s", "")).await;
    let damaged = |k| grew(&base, "tailsift_storage_damaged_total", &[("kind", k)]);
    assert_eq!(damaged("foreign_file"), 2.0);
    assert_eq!(damaged("truncated_file"), 1.0);
    assert!(wait_for(PATIENCE, || unique_span_ids(sink).len() == 2).await);
    d.stop().await;
    assert!(
        dir.path().join("notes.txt").exists(),
        "files not ours are left alone"
    );
    // The truncated file was deleted; the run may have written a segment of that number since.
    let s99 = std::fs::read(dir.path().join("segment-0000000000000099.log")).unwrap_or_default();
    assert!(
        s99.is_empty() || (s99.len() > 16 && s99.starts_with(b"TSFTLOG\0")),
        "{s99:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_disk_budget_requests_are_refused_retryably() {
    let t = setup().await;
    let (dir, url) = (&t.dir, &t.url);
    let yaml =
        config(dir.path(), url, "60s", "").replace("storage:\n", "storage:\n  max_bytes: 4MiB\n");
    let d = Daemon::start(&yaml).await;
    let big = "x".repeat(60_000);
    let mut refused = None;
    for t in 1..=200u128 {
        let req = request("svc", [span(t, 1).attr("payload", &big)]);
        if let Err(e) = d.send(Transport::Grpc, &req).await {
            refused = Some((t, e));
            break;
        }
    }
    let (t, e) = refused.expect("the budget is reached within 200 requests of 60KB");
    assert!(t > 40, "about 4MiB accepted first, refused at request {t}");
    match e {
        Refused::Grpc(s) => {
            assert_eq!(s.code(), tonic::Code::ResourceExhausted, "retryable: {s:?}");
            assert!(
                s.message().contains("storage log is at its budget"),
                "{s:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let m = d.scrape().await;
    assert!(
        m.sum(
            "tailsift_storage_refused_requests_total",
            &[("reason", "budget")]
        ) >= 1.0
    );
    assert!(m.sum("tailsift_storage_segments", &[]) >= 1.0);
    assert!(m.sum("tailsift_storage_bytes", &[]) <= (4 << 20) as f64);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_directory_stops_the_start_and_names_the_path() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("log");
    let yaml = format!(
        "{RECEIVERS}{TELEMETRY}exporters: {{ out: {{ protocol: file, path: \"{}\" }} }}\nstorage: {{ directory: \"{}\" }}\n",
        dir.path().join("out.jsonl").display(),
        path.display()
    );
    let config = tailsift::config::parse(&yaml, "test").unwrap();
    let listeners = tailsift::server::Listeners::bind(&config).await.unwrap();
    let e = tailsift::server::run(config, listeners, std::future::pending())
        .await
        .expect_err("refuses to start");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.starts_with("storage.directory"), "{msg}");
}
