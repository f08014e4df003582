//! SIGHUP reloads the config and never ends the process, from the moment the binary starts.

use super::bin::{self, Ports};
use crate::support::*;
use std::time::{Duration, Instant};
use tailsift::fixtures::span;

/// Whether the process catches SIGHUP (bit 0 of `SigCgt` in /proc/PID/status).
fn catches_sighup(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & 1 == 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_never_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let config = dir.path().join("tailsift.yaml");
    let body = |rule: &str| {
        format!("exporters:\n  out: {{ protocol: file, path: out.jsonl }}\nsampling:\n  decision_wait: 200ms\n  root_wait: 200ms\n  rules:\n    - {{ name: {rule}, keep: true }}\n")
    };
    std::fs::write(&config, ports.config(&body("first"))).unwrap();
    let mut p = bin::spawn(dir.path(), &ports, &config, &[], &[]);
    // The handler is in place before the daemon is ready: a SIGHUP while it starts is a
    // reload, not the default action (the end of the process).
    let pid = p.child.id();
    let until = Instant::now() + Duration::from_secs(10);
    while !catches_sighup(pid) {
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "exited:\n{}",
            p.log()
        );
        assert!(Instant::now() < until, "SIGHUP never caught");
        std::thread::sleep(Duration::from_millis(1));
    }
    p.signal("HUP");
    bin::ready(&mut p).await;
    bin::reloads(&p, "applied", 1.0).await;

    std::fs::write(&config, ports.config(&body("second"))).unwrap();
    // One at a time: two signals sent back to back may be delivered as one (a pending signal
    // is not queued twice), which is a reload, not two.
    p.signal("HUP");
    bin::reloads(&p, "applied", 2.0).await;
    p.signal("HUP");
    bin::reloads(&p, "applied", 3.0).await;
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the process:\n{}",
        p.log()
    );
    assert!(p.log().contains("trigger=\"SIGHUP\""), "{}", p.log());
    assert_eq!(http_get(p.metrics, "/readyz").await.status, 200);
    bin::send(&p, vec![span(1, 11)]).await;
    let out = FileSink(dir.path().join("out.jsonl"));
    assert!(
        wait_for(Duration::from_secs(10), || out.spans().len() == 1).await,
        "{}",
        p.log()
    );
    assert_eq!(rule_of(&out.spans()[0]), Some("second"));
    p.terminate(Duration::from_secs(10)).await;
}
