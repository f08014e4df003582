//! Edits of the config file while the daemon runs: a changed rule decides what is decided after
//! the swap (buffered traces included, on attributes the old rules did not read), a late span
//! follows its trace's old verdict, nothing is lost and `/readyz` stays 200; an invalid edit
//! keeps the running rules; a ConfigMap-style symlink swap is seen, with `--set` and
//! `${env:VAR}` applied again.

use super::bin::{self, Ports, ReadyWatch};
use crate::support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tailsift::fixtures::span;

const WAITS: &str = "  decision_wait: 4s\n  root_wait: 4s\n  tick: 50ms\n";

fn v1() -> String {
    format!("exporters:\n  out: {{ protocol: file, path: out.jsonl }}\nsampling:\n{WAITS}  rules:\n    - {{ name: old, keep: true }}\n")
}

fn v2() -> String {
    format!("exporters:\n  out: {{ protocol: file, path: out.jsonl }}\nsampling:\n{WAITS}  rules:\n    - name: gold\n      when: {{ span: {{ attributes: {{ tier: gold }} }} }}\n      keep: true\n    - {{ name: rest, drop: true }}\n")
}

/// Exported spans by span id: their `sampling.rule`.
fn exported(dir: &Path) -> BTreeMap<u64, String> {
    FileSink(dir.join("out.jsonl"))
        .spans()
        .iter()
        .map(|s| (span_id_of(s), rule_of(s).unwrap_or("").to_string()))
        .collect()
}

async fn wait_exported(dir: &Path, n: usize, log: impl Fn() -> String) -> BTreeMap<u64, String> {
    let ok = wait_for(Duration::from_secs(15), || exported(dir).len() >= n).await;
    assert!(ok, "{n} spans not exported: {:?}\n{}", exported(dir), log());
    exported(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_edited_on_disk_decides_what_is_decided_after_the_swap() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let config = dir.path().join("tailsift.yaml");
    std::fs::write(&config, ports.config(&v1())).unwrap();
    let p = bin::start(dir.path(), &ports, &config, &[], &[]).await;
    let ready = ReadyWatch::start(p.metrics);

    // Decided under v1 (`old`): traces 1 (gold) and 2 (silver).
    bin::send(
        &p,
        vec![
            span(1, 11).attr("tier", "gold"),
            span(2, 21).attr("tier", "silver"),
        ],
    )
    .await;
    let seen = wait_exported(dir.path(), 2, || p.log()).await;
    assert_eq!(seen.values().collect::<Vec<_>>(), ["old", "old"]);

    // Buffered when the file changes: decided by v2, on an attribute v1 never read.
    bin::send(
        &p,
        vec![
            span(3, 31).attr("tier", "gold"),
            span(4, 41).attr("tier", "silver"),
        ],
    )
    .await;
    std::fs::write(&config, ports.config(&v2())).unwrap();
    bin::reloads(&p, "applied", 1.0).await;
    // A late span of trace 1 follows its trace's verdict, annotated as its trace was.
    bin::send(&p, vec![span(1, 12).attr("tier", "silver")]).await;
    // Received after the swap.
    bin::send(
        &p,
        vec![
            span(5, 51).attr("tier", "gold"),
            span(6, 61).attr("tier", "silver"),
        ],
    )
    .await;

    let seen = wait_exported(dir.path(), 5, || p.log()).await;
    let want: BTreeMap<u64, String> = [
        (11, "old"),
        (21, "old"),
        (12, "old"),
        (31, "gold"),
        (51, "gold"),
    ]
    .into_iter()
    .map(|(id, r)| (id, r.to_string()))
    .collect();
    // Every accepted span is exported or dropped by a rule's verdict: none is lost.
    let ok = wait_for_async(Duration::from_secs(10), || async {
        bin::counter(
            &p,
            "tailsift_decided_spans_total",
            &[("rule", "rest"), ("verdict", "dropped")],
        )
        .await
            == 2.0
    })
    .await;
    assert!(ok, "spans 41 and 61 dropped by `rest`:\n{}", p.log());
    assert_eq!(seen, want, "{}", p.log());
    assert!(ready.polls.load(Ordering::Relaxed) > 20);
    assert_eq!(
        ready.failures.load(Ordering::Relaxed),
        0,
        "/readyz not 200 during the reload"
    );
    assert_eq!(
        bin::counter(
            &p,
            "tailsift_config_reloads_total",
            &[("outcome", "rejected")]
        )
        .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_edit_keeps_the_running_rules() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let config = dir.path().join("tailsift.yaml");
    let fast = v1().replace("4s", "200ms");
    std::fs::write(&config, ports.config(&fast)).unwrap();
    let p = bin::start(dir.path(), &ports, &config, &[], &[]).await;
    let broken = fast.replace("{ name: old, keep: true }", "{ name: old, probability: 2 }");
    std::fs::write(&config, ports.config(&broken)).unwrap();
    bin::reloads(&p, "rejected", 1.0).await;
    let log = p.log();
    assert!(log.contains("configuration reload rejected"), "{log}");
    assert!(
        log.contains("sampling.rules[0].probability"),
        "the key path is named:\n{log}"
    );
    bin::send(&p, vec![span(1, 11)]).await;
    let seen = wait_exported(dir.path(), 1, || p.log()).await;
    assert_eq!(seen[&11], "old", "the old rules still decide");
    assert_eq!(
        bin::counter(
            &p,
            "tailsift_config_reloads_total",
            &[("outcome", "applied")]
        )
        .await,
        0.0
    );
    // A listener change is applied to nothing but named: only a restart moves a listener.
    let moved = ports
        .config(&fast)
        .replace(&format!("127.0.0.1:{}\"", ports.http), "127.0.0.1:1\"");
    std::fs::write(&config, moved).unwrap();
    bin::reloads(&p, "applied", 1.0).await;
    let ok = wait_for(Duration::from_secs(5), || {
        p.log()
            .contains("take effect only after a restart: receivers.otlp.http")
    })
    .await;
    assert!(ok, "{}", p.log());
    bin::send(&p, vec![span(2, 21)]).await;
}

/// Kubernetes mounts a ConfigMap as `key -> ..data/key`, `..data -> ..<timestamp>`, and
/// updates it by pointing a new `..data` symlink at a new directory (an atomic rename).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_symlink_swap_reloads_with_the_same_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("config");
    std::fs::create_dir(&mount).unwrap();
    let ports = Ports::free();
    let version = |name: &str, body: &str| {
        let d = mount.join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("tailsift.yaml"), ports.config(body)).unwrap();
    };
    let out = dir.path().join("kept.jsonl");
    // `${env:VAR}` and `--set` must be applied on every reload as at start, or the exporter
    // and the decision wait would differ and a restart warning would say so.
    let body = |rule: &str| {
        format!("exporters:\n  out: {{ protocol: file, path: \"${{env:RELOAD_OUT}}\" }}\nsampling:\n  decision_wait: 30s\n  root_wait: 30s\n  rules:\n    - {{ name: {rule}, keep: true }}\n")
    };
    version("..2026_01", &body("first"));
    std::os::unix::fs::symlink("..2026_01", mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tailsift.yaml", mount.join("tailsift.yaml")).unwrap();
    let args = [
        "--set",
        "sampling.decision_wait=200ms",
        "--set",
        "sampling.root_wait=200ms",
    ];
    let env = [("RELOAD_OUT", out.to_str().unwrap())];
    let p = bin::start(
        dir.path(),
        &ports,
        &mount.join("tailsift.yaml"),
        &args,
        &env,
    )
    .await;

    version("..2026_02", &body("second"));
    std::os::unix::fs::symlink("..2026_02", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_01")).unwrap();
    bin::reloads(&p, "applied", 1.0).await;
    bin::send(&p, vec![span(1, 11)]).await;
    let ok = wait_for(Duration::from_secs(10), || {
        FileSink(out.clone()).spans().len() == 1
    })
    .await;
    assert!(ok, "{}", p.log());
    assert_eq!(rule_of(&FileSink(out.clone()).spans()[0]), Some("second"));
    let log = p.log();
    assert!(
        !log.contains("only after a restart"),
        "overrides and env applied again:\n{log}"
    );
    assert!(log.contains("configuration reloaded"), "{log}");
}
