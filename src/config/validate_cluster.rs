//! Validation of the `cluster:` block.

use super::schema_cluster::ClusterConfig;
use super::validate::Errors;
use std::time::Duration;

/// Longest `cluster.grace`: traces waiting for peers hold memory.
const MAX_GRACE: Duration = Duration::from_secs(60);

pub(super) fn check_cluster(c: &ClusterConfig, errs: &mut Errors) {
    let servers: Vec<&str> = c.nats.split(',').map(str::trim).collect();
    if c.nats.trim().is_empty() {
        errs.push(
            "cluster.nats",
            "must name a NATS server, e.g. `nats://127.0.0.1:4222`",
        );
    } else {
        for s in servers {
            if let Err(e) = s.parse::<async_nats::ServerAddr>() {
                errs.push(
                    "cluster.nats",
                    format!("`{s}` is not a NATS server address (nats://host:port): {e}"),
                );
            }
        }
    }
    let group_ok = !c.group.is_empty()
        && c.group.len() <= 64
        && c.group
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !group_ok {
        errs.push(
            "cluster.group",
            format!(
                "must be 1 to 64 letters, digits, `-` or `_` (it names NATS subjects), got `{}`",
                c.group
            ),
        );
    }
    let grace = c.grace.get();
    if grace.is_zero() || grace > MAX_GRACE {
        errs.push(
            "cluster.grace",
            format!("must be greater than 0 and at most 60s, got {grace:?}"),
        );
    }
    let heartbeat = Duration::from_millis(10)..=MAX_GRACE;
    errs.between_durations("cluster.heartbeat", c.heartbeat, heartbeat, "10ms and 60s");
    let batch = c.batch_wait.get();
    if batch.is_zero() || batch * 4 > grace {
        errs.push(
            "cluster.batch_wait",
            format!(
                "must be greater than 0 and at most a quarter of cluster.grace ({grace:?}), got {batch:?}"
            ),
        );
    }
}
