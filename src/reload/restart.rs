//! The settings a reload cannot change: the listeners, the exporters, telemetry, the buffer's
//! shape and limits, storage and the cluster bus. A reload that changes them applies the rest and names these in a warning.

use crate::config::Config;
use std::fmt::Debug;

/// Whether two values differ. The config types have no `PartialEq`; their `Debug` forms
/// show every field, which is what a comparison needs.
fn differ(a: &impl Debug, b: &impl Debug) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

/// The key paths of settings that differ between `running` (what the daemon started with) and
/// `new`, and that only a restart applies.
pub fn changed(running: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |path: &str, changed: bool| {
        if changed {
            out.push(path.to_string());
        }
    };
    let (r, n) = (&running.receivers.otlp, &new.receivers.otlp);
    check("receivers.otlp.grpc", differ(&r.grpc, &n.grpc));
    check("receivers.otlp.http", differ(&r.http, &n.http));
    check(
        "telemetry.metrics",
        differ(&running.telemetry.metrics, &new.telemetry.metrics),
    );
    check(
        "telemetry.logs",
        differ(&running.telemetry.logs, &new.telemetry.logs),
    );
    check(
        "shutdown_timeout",
        running.shutdown_timeout.get() != new.shutdown_timeout.get(),
    );
    let (s, t) = (&running.sampling, &new.sampling);
    check(
        "sampling.decision_wait",
        s.decision_wait.get() != t.decision_wait.get(),
    );
    check("sampling.root_wait", s.root_wait.get() != t.root_wait.get());
    check(
        "sampling.max_spans_per_trace",
        s.max_spans_per_trace != t.max_spans_per_trace,
    );
    check("sampling.max_traces", s.max_traces != t.max_traces);
    check(
        "sampling.max_buffer_bytes",
        s.max_buffer_bytes.get() != t.max_buffer_bytes.get(),
    );
    check(
        "sampling.memory_limit",
        s.memory_limit_bytes() != t.memory_limit_bytes(),
    );
    check(
        "sampling.decision_cache",
        differ(&s.decision_cache, &t.decision_cache),
    );
    check("sampling.shards", s.shards != t.shards);
    check("sampling.tick", s.tick.get() != t.tick.get());
    // The log is opened (and locked) once; the bus connection and group are joined once.
    check("storage", differ(&running.storage, &new.storage));
    check("cluster", differ(&running.cluster, &new.cluster));
    for name in running.exporters.keys().chain(new.exporters.keys()) {
        let (a, b) = (running.exporters.get(name), new.exporters.get(name));
        let path = format!("exporters.{name}");
        if differ(&a, &b) && !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const BASE: &str = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\nexporters: { out: { protocol: file, path: /dev/null } }\n";

    #[test]
    fn rules_and_fidelity_are_not_restart_settings() {
        let a = parse(BASE, "a").unwrap();
        let b = parse(
            &format!("{BASE}sampling: {{ annotate: false, rules: [{{ name: x, drop: true }}] }}\n"),
            "b",
        )
        .unwrap();
        assert!(changed(&a, &b).is_empty(), "{:?}", changed(&a, &b));
    }

    #[test]
    fn names_each_changed_restart_setting() {
        let a = parse(BASE, "a").unwrap();
        let b = parse(
            "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4999 } } }\nexporters: { out: { protocol: file, path: /tmp/x }, more: { protocol: file, path: /dev/null } }\nsampling: { decision_wait: 3s }\nstorage: { directory: /tmp/ts }\ncluster: { nats: \"nats://127.0.0.1:4222\" }\n",
            "b",
        )
        .unwrap();
        assert_eq!(
            changed(&a, &b),
            [
                "receivers.otlp.grpc",
                "sampling.decision_wait",
                "storage",
                "cluster",
                "exporters.out",
                "exporters.more"
            ]
        );
    }
}
