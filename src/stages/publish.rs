//! The stage gauges: how many stages are sketched, and the quantiles of the busiest ones.

use super::StageFamily;
use crate::telemetry::{describe, dynamic, names};
use std::sync::Arc;
use tokio::time::Instant;

/// Publishes `tailsift_stages` and the quantiles `slower_than` conditions read for the
/// [`names::STAGE_TOP`] stages with the most spans in their windows.
pub(super) fn publish(families: &[Arc<StageFamily>], now: Instant) {
    let stages: usize = families.iter().map(|f| f.len()).sum();
    metrics::gauge!(names::STAGES).set(stages as f64);
    // (count, service, name, quantile, seconds)
    let mut rows: Vec<(u64, String, String, f64, f64)> = Vec::new();
    for f in families {
        let qs = f
            .quantiles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for shard in f.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for st in shard.stages.values_mut() {
                let count = st.window.count();
                for &q in &qs {
                    if let Some(v) = st.window.quantile(q, 1, now, f.slot()) {
                        rows.push((count, st.service.to_string(), st.name.to_string(), q, v));
                    }
                }
            }
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    let mut stages_seen: Vec<(String, String)> = Vec::new();
    let mut series = Vec::new();
    for (_, service, name, q, v) in rows {
        let stage = (service.clone(), name.clone());
        if !stages_seen.contains(&stage) {
            if stages_seen.len() == names::STAGE_TOP {
                continue;
            }
            stages_seen.push(stage);
        }
        let q = q.to_string();
        let dup = series
            .iter()
            .any(|(l, _): &dynamic::Series| l[0].1 == service && l[1].1 == name && l[2].1 == q);
        if dup {
            continue;
        }
        series.push((
            vec![("service", service), ("name", name), ("quantile", q)],
            v,
        ));
    }
    dynamic::publish_all(
        names::STAGE_DURATION_QUANTILE,
        describe::help(names::STAGE_DURATION_QUANTILE).unwrap_or_default(),
        series,
    );
}
