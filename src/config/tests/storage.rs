//! The `storage:` section: defaults, and every rejection with its key path.

use super::{assert_has, assert_parse_error, invalid, parse_failure, BASE};
use crate::config::{parse, SyncMode};

#[test]
fn absent_means_off_and_defaults_fill_in() {
    let c = parse(BASE, "config.yaml").unwrap();
    assert!(c.storage.is_none());
    let c = parse(
        &format!("{BASE}storage: {{ directory: /var/lib/tailsift }}\n"),
        "config.yaml",
    )
    .unwrap();
    let s = c.storage.unwrap();
    assert_eq!(s.directory, std::path::Path::new("/var/lib/tailsift"));
    assert_eq!(s.max_bytes.0, 8 << 30);
    assert_eq!(s.sync, SyncMode::Write);
    let c = parse(
        &format!("{BASE}storage: {{ directory: d, max_bytes: 64MiB, sync: fsync }}\n"),
        "config.yaml",
    )
    .unwrap();
    let s = c.storage.unwrap();
    assert_eq!((s.max_bytes.0, s.sync), (64 << 20, SyncMode::Fsync));
}

#[test]
fn rejects_an_empty_directory_and_a_budget_below_the_minimum() {
    let errs = invalid(&format!(
        "{BASE}storage: {{ directory: \"\", max_bytes: 1MiB }}\n"
    ));
    assert_has(&errs, "storage.directory", &["must not be empty"]);
    assert_has(&errs, "storage.max_bytes", &["at least 4MiB", "got 1MiB"]);
}

#[test]
fn rejects_unknown_sync_mode_and_keys_and_a_missing_directory() {
    assert_parse_error(
        &format!("{BASE}storage: {{ directory: d, sync: always }}\n"),
        "storage.sync",
        &["`write`", "`fsync`"],
    );
    assert_parse_error(
        &format!("{BASE}storage: {{ directory: d, dir: e }}\n"),
        "storage.dir",
        &[],
    );
    let (_, _, message, _) = parse_failure(&format!("{BASE}storage: {{ max_bytes: 1GiB }}\n"));
    assert!(message.contains("missing field `directory`"), "{message}");
}
