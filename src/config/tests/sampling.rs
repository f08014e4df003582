//! Rejections under `sampling:` (other than rules) and `fidelity:`.

use super::{
    assert_bounds, assert_errors, assert_has, assert_only, example, invalid, invalid_config, BASE,
};
use crate::config::{ByteSize, Config, Dur, FidelityProfile};

#[test]
fn rejects_zero_decision_wait() {
    let mut c = example();
    c.sampling.decision_wait = Dur::secs(0);
    c.sampling.root_wait = Dur::secs(0);
    let errs = invalid_config(&c);
    assert_only(&errs, "sampling.decision_wait: greater than 0");
}

#[test]
fn rejects_root_wait_longer_than_decision_wait() {
    let errs = invalid(&format!(
        "{BASE}sampling: {{ decision_wait: 5s, root_wait: 6s }}\n"
    ));
    assert_has(
        &errs,
        "sampling.root_wait",
        &["must not be longer than decision_wait (5s), got 6s"],
    );
}

#[test]
fn rejects_zero_counts_and_sizes() {
    let mut c = example();
    c.sampling.max_spans_per_trace = 0;
    c.sampling.max_traces = 0;
    c.sampling.max_buffer_bytes = ByteSize(0);
    let errs = invalid_config(&c);
    assert_errors(
        &errs,
        "
        sampling.max_spans_per_trace: at least 1
        sampling.max_traces: at least 1
        sampling.max_buffer_bytes: greater than 0
        ",
    );
}

#[test]
fn rejects_memory_limit_below_buffer() {
    let errs = invalid(&format!(
        "{BASE}sampling: {{ max_buffer_bytes: 512MiB, memory_limit: 256MiB }}\n"
    ));
    assert_has(
        &errs,
        "sampling.memory_limit",
        &["at least max_buffer_bytes (512MiB), got 256MiB"],
    );
    let mut c = example();
    c.sampling.memory_limit = Some(ByteSize::mib(512));
    assert_eq!(c.validate(), Ok(()), "equal to the buffer is allowed");
}

#[test]
fn rejects_shards_out_of_range() {
    let set = |c: &mut Config, n| c.sampling.shards = n;
    assert_bounds(
        "sampling.shards",
        "between 1 and 4096",
        set,
        &[0, 4097],
        &[1, 4096],
    );
}

#[test]
fn rejects_tick_out_of_range() {
    for (tick, shown) in [("0s", "got 0ns"), ("0.5ms", "got 500µs"), ("2s", "got 2s")] {
        let errs = invalid(&format!("{BASE}sampling: {{ tick: {tick} }}\n"));
        assert_has(&errs, "sampling.tick", &["between 1ms and 1s", shown]);
    }
    for ok in [Dur::millis(1), Dur::secs(1)] {
        let mut c = example();
        c.sampling.tick = ok;
        assert_eq!(c.validate(), Ok(()));
    }
}

#[test]
fn accepts_zero_decision_cache_sizes() {
    let mut c = example();
    c.sampling.decision_cache.kept = 0;
    c.sampling.decision_cache.dropped = 0;
    assert_eq!(c.validate(), Ok(()));
}

// ---- fidelity profiles ----

#[test]
fn rejects_profiles_named_full_or_empty() {
    let mut c = example();
    c.fidelity.insert("full".into(), FidelityProfile::default());
    c.fidelity.insert(" ".into(), FidelityProfile::default());
    let errs = invalid_config(&c);
    assert_has(&errs, "fidelity.full", &["`full` is reserved"]);
    assert_has(&errs, "fidelity[\" \"]", &["non-empty name"]);
}

#[test]
fn rejects_empty_hash_attribute_pattern() {
    let errs = invalid(&format!(
        "{BASE}fidelity:\n  lite: {{ hash_attributes: [prompt, \"\", \"  \"] }}\n"
    ));
    assert_only(
        &errs,
        "
        fidelity.lite.hash_attributes[1]: empty pattern
        fidelity.lite.hash_attributes[2]: empty pattern
        ",
    );
}

#[test]
fn rejects_tiny_max_attribute_bytes() {
    let errs = invalid(&format!(
        "{BASE}fidelity:\n  lite: {{ max_attribute_bytes: 15 }}\n"
    ));
    assert_has(
        &errs,
        "fidelity.lite.max_attribute_bytes",
        &["at least 16 bytes, got 15", "truncation marker"],
    );
    let mut c = example();
    c.fidelity.get_mut("lite").unwrap().max_attribute_bytes = Some(ByteSize(16));
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn rejects_zero_shutdown_timeout_and_huge_request_limits() {
    let yaml =
        "receivers: { otlp: { grpc: { endpoint: '127.0.0.1:0', max_request_bytes: 2GiB } } }\n\
                exporters: { f: { protocol: file, path: x.jsonl } }\n\
                shutdown_timeout: 0s\n";
    let err = crate::config::parse(yaml, "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.yaml: shutdown_timeout: must be greater than 0"),
        "{err}"
    );
    assert!(
        err.contains("receivers.otlp.grpc.max_request_bytes: must be at most 1GiB"),
        "{err}"
    );
}
