//! Rendering a simulation report: an aligned table for people, or one JSON document.

use super::Report;
use crate::decide::explain::{Explanation, SamplingDetail};
use crate::sampler::probability::probability;
use serde_json::{json, Value};
use std::fmt::Write;

fn percent(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

fn rate(r: f64) -> String {
    format!("{r:.2}")
}

pub(super) fn table(r: &Report) -> String {
    let t = &r.totals;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replayed {} requests: {} traces, {} spans, {} bytes, over {:.1} s of recorded time",
        t.requests, t.traces, t.spans, t.bytes, t.duration_secs
    );
    if t.rejected_spans > 0 {
        let _ = writeln!(
            out,
            "{} spans with an invalid trace or span id were left out (the receiver rejects them)",
            t.rejected_spans
        );
    }
    out.push('\n');
    let header = [
        "rule",
        "action",
        "matched",
        "kept",
        "dropped",
        "spans kept",
        "bytes kept",
    ];
    let mut rows: Vec<[String; 7]> = r
        .rules
        .iter()
        .filter(|s| s.matched > 0 || s.rule != crate::decide::DEFAULT_RULE)
        .map(|s| {
            [
                s.rule.clone(),
                s.action.clone(),
                s.matched.to_string(),
                s.kept.to_string(),
                s.dropped.to_string(),
                s.spans_kept.to_string(),
                s.bytes_kept.to_string(),
            ]
        })
        .collect();
    rows.push([
        "total".into(),
        String::new(),
        t.traces.to_string(),
        t.kept_traces.to_string(),
        (t.traces - t.kept_traces).to_string(),
        t.kept_spans.to_string(),
        t.kept_bytes.to_string(),
    ]);
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i < 2 {
                let _ = write!(l, "{cell:<w$}  ");
            } else {
                let _ = write!(l, "{cell:>w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    for row in &rows {
        line(&mut out, row);
    }
    let (tr, sp, by) = t.reduction();
    let _ = writeln!(
        out,
        "\nreduction: traces {}, spans {}, bytes {}",
        percent(tr),
        percent(sp),
        percent(by)
    );
    for s in &r.rules {
        match (s.target_traces_per_sec, s.kept_traces_per_sec) {
            (Some(target), Some(kept)) => {
                let _ = writeln!(
                    out,
                    "adaptive `{}`: kept {} traces/s for a target of {} traces/s",
                    s.rule,
                    rate(kept),
                    rate(target)
                );
            }
            (None, Some(kept)) => {
                let _ = writeln!(out, "`{}`: kept {} traces/s", s.rule, rate(kept));
            }
            _ => {}
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "{n}");
    }
    if t.fidelity_failed_spans > 0 {
        let _ = writeln!(
            out,
            "{} kept spans are not valid OTLP or could not be decoded for their fidelity profile, and would not be forwarded",
            t.fidelity_failed_spans
        );
    }
    for (id, e) in &r.explanations {
        let _ = writeln!(out);
        match e {
            Some(e) => {
                let _ = writeln!(out, "trace {}:\n{e}", hex::encode(id));
            }
            None => {
                let _ = writeln!(out, "trace {}: not in the input", hex::encode(id));
            }
        }
    }
    out
}

fn explanation(e: &Explanation) -> Value {
    let checks: Vec<Value> = e
        .checks
        .iter()
        .map(|c| {
            json!({
                "index": c.index,
                "rule": c.name.as_ref(),
                "matched": c.matched,
                "failed": c.failed,
            })
        })
        .collect();
    let mut v = json!({
        "rule": e.rule,
        "action": e.action,
        "kept": e.verdict.keep,
        "checks": checks,
    });
    match &e.sampling {
        SamplingDetail::None => {}
        SamplingDetail::Threshold {
            key,
            randomness,
            threshold,
        } => {
            v["randomness"] = json!(format!("{randomness:014x}"));
            v["threshold"] = json!(format!("{threshold:014x}"));
            v["probability"] = json!(probability(*threshold));
            if let Some(k) = key {
                v["key"] = json!(k);
            }
        }
        SamplingDetail::RateLimit { admitted } => v["admitted"] = json!(admitted),
    }
    v
}

pub(super) fn json(r: &Report) -> Value {
    let (tr, sp, by) = r.totals.reduction();
    let explanations: Vec<Value> = r
        .explanations
        .iter()
        .map(|(id, e)| {
            let mut v = e
                .as_ref()
                .map_or_else(|| json!({"found": false}), explanation);
            v["trace_id"] = json!(hex::encode(id));
            if e.is_some() {
                v["found"] = json!(true);
            }
            v
        })
        .collect();
    json!({
        "rules": r.rules,
        "totals": r.totals,
        "reduction": { "traces": tr, "spans": sp, "bytes": by },
        "explanations": explanations,
        "notes": r.notes,
    })
}
