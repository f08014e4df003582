//! A filesystem that really fills (a 2 MiB tmpfs under the log): the write error is logged and
//! counted, requests are refused retryably and never acknowledged unwritten, nothing panics,
//! and the daemon recovers by itself once space returns, losing no acknowledged span.

use super::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::proc::Proc;

/// A size-limited tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`) at `dir`; `None` when mounting is not permitted
    /// (not root, or no `CAP_SYS_ADMIN` in a container). A loop-mounted image needs the same
    /// privilege, so there is no other real full filesystem to fall back to.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn body(dir: &Path, sink: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: 300ms
  root_wait: 300ms
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
    retry: {{ initial_interval: 50ms, max_interval: 200ms }}
storage:
  directory: "{}"
  max_bytes: 64MiB
"#,
        dir.display()
    )
}

/// Request `n`: one single-span trace carrying 20 KB, span id `n`.
fn heavy(n: u64) -> ExportTraceServiceRequest {
    request(
        "svc",
        [span(u128::from(n), n).attr("payload", &"x".repeat(20_000))],
    )
}

async fn scrape(p: &Proc) -> Metrics {
    Metrics::parse(&http_get(p.metrics, "/metrics").await.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_retryably_and_recovers_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("mnt"), "2m") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: this test needs to mount a tmpfs (run as root or with CAP_SYS_ADMIN)"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let mnt = fs.0.clone();
    // Most of the filesystem taken by another file: about 500 KiB left for the log.
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![7u8; 1536 << 10]).unwrap();
    let sink = GrpcSink::default();
    let url = sink.serve().await;
    let log_dir = mnt.join("log");
    let mut p = Proc::spawn(tmp.path(), "", &body(&log_dir, &url), None).await;
    let mut client = grpc_client(p.grpc).await;

    let mut acked = BTreeSet::new();
    let (mut refused, mut refused_ids) = (Vec::new(), BTreeSet::new());
    for n in 1..=200u64 {
        match client.export(heavy(n)).await {
            Ok(_) if refused.is_empty() => {
                acked.insert(n);
            }
            Ok(_) => {
                panic!("request {n} acknowledged after the disk filled, before space returned")
            }
            Err(s) => {
                refused.push(s);
                refused_ids.insert(n);
                if refused.len() == 5 {
                    break;
                }
            }
        }
    }
    assert!(
        acked.len() > 10 && acked.len() < 30,
        "about 500 KiB of 20 KB requests accepted before the disk filled: {}",
        acked.len()
    );
    assert_eq!(refused.len(), 5, "the full disk refuses every request");
    for s in &refused {
        assert_eq!(s.code(), tonic::Code::ResourceExhausted, "retryable: {s:?}");
        assert!(
            s.message().contains("writing the storage log failed")
                && s.message().contains("No space left on device"),
            "{s:?}"
        );
    }
    let m = scrape(&p).await;
    assert_eq!(
        m.sum(
            "tailsift_storage_refused_requests_total",
            &[("reason", "disk_full")]
        ),
        5.0
    );
    let log = p.log();
    assert!(
        log.contains("the storage log cannot take it") && log.contains("No space left on device"),
        "the write error is logged:\n{log}"
    );

    // Space returns: the daemon takes requests again by itself.
    std::fs::remove_file(&filler).unwrap();
    for n in 1001..=1010u64 {
        client
            .export(heavy(n))
            .await
            .unwrap_or_else(|s| panic!("accepted once space returned: {s:?}"));
        acked.insert(n);
    }
    let all = wait_for(Duration::from_secs(10), || {
        let got: BTreeSet<u64> = unique_span_ids(&sink);
        got.is_superset(&acked)
    })
    .await;
    assert!(
        all,
        "every acknowledged span is delivered: missing {:?}",
        acked
            .difference(&unique_span_ids(&sink))
            .collect::<Vec<_>>()
    );
    let got = unique_span_ids(&sink);
    assert!(
        got.is_disjoint(&refused_ids),
        "a refused request was never written, so never delivered"
    );
    assert!(!p.log().contains("panicked"), "{}", p.log());

    // The log stayed readable: a restart finds no damage (the cut-off partial write left no
    // torn record) and nothing to replay beyond what was already delivered.
    p.terminate(Duration::from_secs(10)).await;
    let p2 = Proc::spawn(tmp.path(), "", &body(&log_dir, &url), None).await;
    let m = scrape(&p2).await;
    assert_eq!(
        m.sum("tailsift_storage_damaged_total", &[]),
        0.0,
        "{}",
        p2.log()
    );
    drop(p2);
}
