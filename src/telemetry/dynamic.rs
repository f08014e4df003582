//! Gauges whose label sets come and go (the adaptive rules' per-key probabilities): each owner
//! replaces its whole set of series at once, and `/metrics` renders them after the recorder's
//! output, so the series of a key that fell out of the set disappear instead of lingering.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// (metric name, owner label value) -> (help, label name, series as (label value, value)).
type Sets = BTreeMap<(&'static str, String), (&'static str, &'static str, Vec<(String, f64)>)>;

fn sets() -> &'static Mutex<Sets> {
    static SETS: OnceLock<Mutex<Sets>> = OnceLock::new();
    SETS.get_or_init(Default::default)
}

/// Replaces the series of `metric` owned by `rule`: one per `(label value, value)`, labelled
/// `{rule="<rule>", <label>="<label value>"}`.
pub fn publish(
    metric: &'static str,
    help: &'static str,
    rule: &str,
    label: &'static str,
    series: Vec<(String, f64)>,
) {
    let mut s = sets().lock().unwrap_or_else(|p| p.into_inner());
    s.insert((metric, rule.to_string()), (help, label, series));
}

/// Escapes a label value for the Prometheus text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// One series of a gauge published whole: its labels and value.
pub type Series = (Vec<(&'static str, String)>, f64);

type Whole = BTreeMap<&'static str, (&'static str, Vec<Series>)>;

fn wholes() -> &'static Mutex<Whole> {
    static WHOLE: OnceLock<Mutex<Whole>> = OnceLock::new();
    WHOLE.get_or_init(Default::default)
}

/// Replaces every series of `metric` (a gauge with any labels) at once, e.g. the quantiles
/// of the busiest stages.
pub fn publish_all(metric: &'static str, help: &'static str, series: Vec<Series>) {
    let mut w = wholes().lock().unwrap_or_else(|p| p.into_inner());
    w.insert(metric, (help, series));
}

fn render_wholes(out: &mut String) {
    let w = wholes().lock().unwrap_or_else(|p| p.into_inner());
    for (metric, (help, series)) in w.iter() {
        let _ = writeln!(out, "# HELP {metric} {help}");
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for (labels, v) in series {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{metric}{{{}}} {}", labels.join(","), number(*v));
        }
    }
}

/// Renders every published set in the Prometheus text format (appended to `out`).
pub fn render(out: &mut String) {
    render_wholes(out);
    let s = sets().lock().unwrap_or_else(|p| p.into_inner());
    let mut last: Option<&str> = None;
    for ((metric, rule), (help, label, series)) in s.iter() {
        if last != Some(metric) {
            let _ = writeln!(out, "# HELP {metric} {help}");
            let _ = writeln!(out, "# TYPE {metric} gauge");
            last = Some(metric);
        }
        for (value_label, v) in series {
            let _ = writeln!(
                out,
                "{metric}{{rule=\"{}\",{label}=\"{}\"}} {}",
                escape(rule),
                escape(value_label),
                number(*v)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_sets_drop_old_series_and_labels_are_escaped() {
        const M: &str = "tailsift_test_dynamic_gauge";
        publish(
            M,
            "test",
            "r1",
            "key",
            vec![("a".into(), 0.5), ("b\"\\".into(), 1.0)],
        );
        let mut out = String::new();
        render(&mut out);
        assert!(
            out.contains("# TYPE tailsift_test_dynamic_gauge gauge"),
            "{out}"
        );
        assert!(out.contains("tailsift_test_dynamic_gauge{rule=\"r1\",key=\"a\"} 0.5"));
        assert!(out.contains("tailsift_test_dynamic_gauge{rule=\"r1\",key=\"b\\\"\\\\\"} 1"));
        publish(M, "test", "r1", "key", vec![("c".into(), 0.25)]);
        let mut out = String::new();
        render(&mut out);
        assert!(!out.contains("key=\"a\""), "{out}");
        assert!(out.contains("tailsift_test_dynamic_gauge{rule=\"r1\",key=\"c\"} 0.25"));
        assert_eq!(out.matches("# TYPE tailsift_test_dynamic_gauge").count(), 1);
    }
}
