//! The worst balancer and the oracle: traces whose spans are sent to instances chosen at
//! random, the verdict one instance holding every span would reach, and a check of what the
//! sink received against it (whole or absent, rule annotation, threshold, fidelity).

use crate::support::{export_grpc, rule_of, trace_of};
use opentelemetry_proto::tonic::trace::v1::Span;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use tailsift::fixtures::{attr_str, request, span};
use tailsift::sampler::probability::{keeps, threshold};

/// Probability of the catch-all rule `rest`.
pub const REST: f64 = 0.25;
pub const PROMPT: &str = "Describe the picture of a harbour at dusk in five sentences, please.";

/// The rules of the whole-trace tests: errors kept in full, a consistent sample of the rest
/// at reduced fidelity.
pub const RULES: &str = "
    - { name: errors, when: { span: { status: error } }, keep: true }
    - { name: rest, probability: 0.25, fidelity: lite }
";

/// The shared config body (rules, fidelity, exporter, cluster) of every instance.
pub fn config(nats: &str, sink: &str, group: &str) -> String {
    config_with(nats, sink, group, RULES)
}

/// [`config`] with other rules.
pub fn config_with(nats: &str, sink: &str, group: &str, rules: &str) -> String {
    format!(
        r#"
fidelity:
  lite: {{ hash_attributes: [prompt] }}
sampling:
  decision_wait: 1s
  root_wait: 500ms
  tick: 20ms
  rules:{rules}exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
    batch: {{ timeout: 20ms }}
cluster:
  nats: {nats}
  group: {group}
  grace: 1s
  heartbeat: 200ms
shutdown_timeout: 10s
"#
    )
}

/// What was accepted of one trace.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    pub spans: BTreeSet<u64>,
    pub error: bool,
    /// Some of its spans were refused: it is left out of the check.
    pub refused: bool,
}

/// Every trace sent, by id.
#[derive(Debug, Default)]
pub struct Ledger(pub BTreeMap<u128, Sent>);

impl Ledger {
    /// The rule that keeps `id` when one instance holds all of it; `None`: dropped.
    pub fn expected(&self, id: u128) -> Option<&'static str> {
        let t = &self.0[&id];
        if t.error {
            Some("errors")
        } else if keeps(&id.to_be_bytes(), threshold(REST)) {
            Some("rest")
        } else {
            None
        }
    }

    /// Sends `n` new traces of 2 to 6 spans, each span to an instance of `targets` chosen at
    /// random (one request per instance). About one trace in eight has an error span.
    pub async fn send(&mut self, targets: &[SocketAddr], n: usize) {
        self.send_spread(targets, n, true).await
    }

    /// [`Ledger::send`]; with `spread` false each trace goes whole to one instance (a
    /// trace-aware balancer).
    pub async fn send_spread(&mut self, targets: &[SocketAddr], n: usize, spread: bool) {
        let mut rng = rand::rng();
        let mut per: Vec<Vec<_>> = vec![Vec::new(); targets.len()];
        let mut placed: Vec<Vec<(u128, u64)>> = vec![Vec::new(); targets.len()];
        for _ in 0..n {
            let id: u128 = rng.random::<u128>() | 1;
            let spans = rng.random_range(2..=6u64);
            let error_at = rng.random_bool(0.125).then(|| rng.random_range(1..=spans));
            let whole_to = rng.random_range(0..targets.len());
            let mut sent = Sent {
                error: error_at.is_some(),
                ..Sent::default()
            };
            for s in 1..=spans {
                let mut b = span(id, s)
                    .name(&format!("stage-{s}"))
                    .attr("prompt", PROMPT);
                if s > 1 {
                    b = b.parent(1);
                }
                if error_at == Some(s) {
                    b = b.error();
                }
                let i = if spread {
                    rng.random_range(0..targets.len())
                } else {
                    whole_to
                };
                per[i].push(b);
                placed[i].push((id, s));
                sent.spans.insert(s);
            }
            self.0.insert(id, sent);
        }
        for (i, spans) in per.into_iter().enumerate() {
            if spans.is_empty() {
                continue;
            }
            let req = request("svc", spans);
            if export_grpc(targets[i], &req).await.is_err() {
                for (id, _) in &placed[i] {
                    if let Some(t) = self.0.get_mut(id) {
                        t.refused = true;
                    }
                }
            }
        }
    }
}

/// How the sink's spans compare with the oracle.
#[derive(Debug, Default)]
pub struct Report {
    pub checked: usize,
    pub kept: usize,
    /// Traces that reached the sink in part.
    pub split: Vec<u128>,
    /// Traces whole but kept against the oracle, dropped against it, or kept under another
    /// rule, threshold or fidelity.
    pub wrong: Vec<(u128, String)>,
}

/// Whether a kept span carries what its rule gives: `rest` a threshold and the `lite`
/// fidelity (the prompt hashed), `errors` no threshold and the prompt as sent.
fn looks_right(s: &Span, rule: &str) -> Result<(), String> {
    let prompt = attr_str(s, "prompt").unwrap_or_default();
    let th = s.trace_state.contains("th:");
    match rule {
        "rest" if th && prompt.starts_with("sha256:") => Ok(()),
        "errors" if !th && prompt == PROMPT => Ok(()),
        _ => Err(format!(
            "rule {rule}: tracestate `{}`, prompt `{prompt}`",
            s.trace_state
        )),
    }
}

pub fn check(ledger: &Ledger, received: &[Span]) -> Report {
    let mut got: BTreeMap<u128, Vec<&Span>> = BTreeMap::new();
    for s in received {
        got.entry(trace_of(s)).or_default().push(s);
    }
    let mut r = Report::default();
    for (&id, sent) in &ledger.0 {
        if sent.refused {
            continue;
        }
        r.checked += 1;
        let spans = got.remove(&id).unwrap_or_default();
        let ids: BTreeSet<u64> = spans
            .iter()
            .map(|s| u64::from_be_bytes(s.span_id.as_slice().try_into().unwrap_or_default()))
            .collect();
        let want = ledger.expected(id);
        if spans.is_empty() {
            if let Some(rule) = want {
                r.wrong
                    .push((id, format!("dropped, expected kept by {rule}")));
            }
            continue;
        }
        if ids != sent.spans || spans.len() != sent.spans.len() {
            r.split.push(id);
            continue;
        }
        r.kept += 1;
        let Some(rule) = want else {
            r.wrong.push((id, "kept, expected dropped".into()));
            continue;
        };
        for s in &spans {
            let annotated = rule_of(s).unwrap_or("none");
            if annotated != rule {
                r.wrong
                    .push((id, format!("annotated {annotated}, expected {rule}")));
                break;
            }
            if let Err(e) = looks_right(s, rule) {
                r.wrong.push((id, e));
                break;
            }
        }
    }
    r
}
