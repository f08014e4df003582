//! Maps the Collector's buffer settings onto tailsift's `sampling:` settings, with the
//! Collector's defaults where the block leaves a key out. A key given both in `tail_sampling:`
//! and as its `sampling:` twin is an error; `sampling:` keys without a Collector twin
//! (`max_buffer_bytes`, `max_spans_per_trace`, `shards`, ...) keep working.

use crate::config::units::Dur;
use crate::config::{Config, ValidationError};
use serde_yaml::Value;
use std::time::Duration;

/// The Collector's `decision_wait` default.
pub const DEFAULT_DECISION_WAIT: Duration = Duration::from_secs(30);
/// The Collector's `num_traces` default.
pub const DEFAULT_NUM_TRACES: usize = 50_000;

/// Whether the YAML document sets the key at `path`.
fn given(doc: &Value, path: &[&str]) -> bool {
    let mut v = doc;
    for k in path {
        match v.get(*k) {
            Some(next) => v = next,
            None => return false,
        }
    }
    !v.is_null()
}

/// Applies `tail_sampling` (if any) to `config.sampling`. `doc` is the parsed YAML document,
/// used to tell keys the user wrote from defaults. Values that `validate` rejects are not
/// applied, so each problem is reported once, under `tail_sampling`.
pub fn apply(config: &mut Config, doc: &Value) -> Vec<ValidationError> {
    let Some(ts) = config.tail_sampling.clone() else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut both = |ts_key: &[&str], s_key: &[&str]| {
        let twice = given(doc, &[&["tail_sampling"][..], ts_key].concat())
            && given(doc, &[&["sampling"][..], s_key].concat());
        if twice {
            errors.push(ValidationError {
                path: format!("tail_sampling.{}", ts_key.join(".")),
                message: format!(
                    "also given as `sampling.{}`: set it in one place (the tail_sampling key sets that setting)",
                    s_key.join(".")
                ),
            });
        }
        twice
    };
    let s = &mut config.sampling;

    let wait_clash = both(&["decision_wait"], &["decision_wait"]);
    match ts.decision_wait {
        Some(d) if !wait_clash && !d.0.is_zero() => s.decision_wait = Dur(d.0),
        None if !given(doc, &["sampling", "decision_wait"]) => {
            s.decision_wait = Dur(DEFAULT_DECISION_WAIT)
        }
        _ => {}
    }

    let traces_clash = both(&["num_traces"], &["max_traces"]);
    match ts.num_traces {
        Some(n) if !traces_clash && n.0 >= 1 => s.max_traces = n.0 as usize,
        None if !given(doc, &["sampling", "max_traces"]) => s.max_traces = DEFAULT_NUM_TRACES,
        _ => {}
    }

    let root_clash = both(&["decision_wait_after_root_received"], &["root_wait"]);
    // 0 turns the early decision off, as in the Collector.
    match ts
        .decision_wait_after_root_received
        .filter(|r| !r.0.is_zero())
    {
        // A longer value is reported by validate; the decision wait bounds it meanwhile.
        Some(r) if !root_clash => s.root_wait = Dur(r.0.min(s.decision_wait.0)),
        // The Collector decides `decision_wait` after the first span unless told otherwise.
        None if !root_clash && !given(doc, &["sampling", "root_wait"]) => {
            s.root_wait = s.decision_wait
        }
        _ => {}
    }

    if let Some(c) = &ts.decision_cache {
        let kept_clash = both(
            &["decision_cache", "sampled_cache_size"],
            &["decision_cache", "kept"],
        );
        if let Some(n) = c.sampled_cache_size.filter(|n| n.0 >= 0 && !kept_clash) {
            s.decision_cache.kept = n.0 as usize;
        }
        let dropped_clash = both(
            &["decision_cache", "non_sampled_cache_size"],
            &["decision_cache", "dropped"],
        );
        if let Some(n) = c
            .non_sampled_cache_size
            .filter(|n| n.0 >= 0 && !dropped_clash)
        {
            s.decision_cache.dropped = n.0 as usize;
        }
    }
    errors
}
