//! The `cluster:` block: defaults and every rejection.

use super::{assert_errors, assert_has, assert_parse_error, invalid, parse_failure, BASE};
use crate::config::parse;
use std::time::Duration;

#[test]
fn defaults_fill_in_group_grace_and_periods() {
    let c = parse(
        &format!("{BASE}cluster: {{ nats: nats://127.0.0.1:4222 }}\n"),
        "t.yaml",
    )
    .expect("valid");
    let cl = c.cluster.expect("cluster");
    assert_eq!(cl.group, "tailsift");
    assert_eq!(cl.grace.get(), Duration::from_secs(1));
    assert_eq!(cl.heartbeat.get(), Duration::from_secs(1));
    assert_eq!(cl.batch_wait.get(), Duration::from_millis(20));
}

#[test]
fn rejects_a_bad_server_group_and_waits() {
    let errs = invalid(&format!(
        "{BASE}cluster: {{ nats: 'http://h:4222', group: 'a.b', grace: 0s, heartbeat: 1ms, batch_wait: 0s }}\n"
    ));
    assert_errors(
        &errs,
        "
        cluster.nats: not a NATS server address
        cluster.group: letters, digits | `a.b`
        cluster.grace: greater than 0
        cluster.heartbeat: between 10ms and 60s
        cluster.batch_wait: quarter of cluster.grace
        ",
    );
}

#[test]
fn rejects_an_empty_server_and_a_grace_too_long() {
    let errs = invalid(&format!("{BASE}cluster: {{ nats: '', grace: 2m }}\n"));
    assert_has(&errs, "cluster.nats", &["must name a NATS server"]);
    assert_has(&errs, "cluster.grace", &["at most 60s"]);
}

#[test]
fn rejects_unknown_keys_and_a_missing_server() {
    assert_parse_error(
        &format!("{BASE}cluster: {{ nats: nats://h:4222, peers: 3 }}\n"),
        "cluster.peers",
        &["unknown field `peers`"],
    );
    let (_, _, message, _) = parse_failure(&format!("{BASE}cluster: {{ group: g }}\n"));
    assert!(message.contains("missing field `nats`"), "{message}");
}
