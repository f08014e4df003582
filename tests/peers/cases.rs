//! The oracle's `tail_sampling` configs: every policy type, and their combinations (`and`,
//! `not`, `drop`, `composite`, `sample_on_first_match`, `invert_match`), each pasted unchanged
//! into the Collector and into tailsift. A case whose verdicts may differ names the README's
//! listed difference and which traces it concerns.

use crate::corpus::Trace;

/// A difference the README lists ("Migrating from the OpenTelemetry Collector").
#[derive(Clone, Copy)]
pub enum Difference {
    /// `latency` with `upper_threshold_ms`: the Collector samples a trace when some prefix of its
    /// spans, in arrival order, spans a duration within (lower, upper]; tailsift judges the whole
    /// trace. Concerns traces with such a prefix whose whole duration is outside the bounds.
    LatencyPrefix { lower: u64, upper: u64 },
}

impl Difference {
    /// Whether the difference explains this disagreement (`collector` kept, or not).
    pub fn explains(&self, t: &Trace, collector_kept: bool) -> bool {
        match *self {
            Difference::LatencyPrefix { lower, upper } => {
                let d = t.prefix_durations_ms();
                let within = |ms: &u64| lower < *ms && *ms <= upper;
                collector_kept && d.iter().any(within) && !within(d.last().unwrap())
            }
        }
    }
}

pub struct Case {
    pub name: &'static str,
    /// The block under `tail_sampling:` (without the settings every case shares).
    pub body: &'static str,
    pub difference: Option<Difference>,
}

/// Shared by every case: decisions 1 s after a trace's first span, late spans of decided traces
/// follow the decision.
pub const COMMON: &str = "decision_wait: 1s\nnum_traces: 10000\ndecision_cache: { sampled_cache_size: 10000, non_sampled_cache_size: 10000 }\n";

const fn case(name: &'static str, body: &'static str) -> Case {
    Case {
        name,
        body,
        difference: None,
    }
}

pub fn all() -> Vec<Case> {
    vec![
        case("always_sample", "policies: [ { name: all, type: always_sample } ]"),
        case("latency", "policies: [ { name: slow, type: latency, latency: { threshold_ms: 100 } } ]"),
        case("latency_1000", "policies: [ { name: slow, type: latency, latency: { threshold_ms: 1000 } } ]"),
        Case {
            difference: Some(Difference::LatencyPrefix { lower: 100, upper: 1000 }),
            ..case("latency_upper", "policies: [ { name: band, type: latency, latency: { threshold_ms: 100, upper_threshold_ms: 1000 } } ]")
        },
        case("numeric_attribute", "policies: [ { name: 5xx, type: numeric_attribute, numeric_attribute: { key: http.status_code, min_value: 500, max_value: 599 } } ]"),
        case("numeric_min_only", "policies: [ { name: big, type: numeric_attribute, numeric_attribute: { key: http.status_code, min_value: 500 } } ]"),
        case("numeric_resource", "policies: [ { name: prio, type: numeric_attribute, numeric_attribute: { key: tenant.priority, min_value: 5, max_value: 10 } } ]"),
        case("numeric_double", "policies: [ { name: score, type: numeric_attribute, numeric_attribute: { key: score, min_value: 1, max_value: 100 } } ]"),
        case("numeric_invert_alone", "policies: [ { name: not-5xx, type: numeric_attribute, numeric_attribute: { key: http.status_code, min_value: 500, max_value: 599, invert_match: true } } ]"),
        // In v0.161.0 an inverted policy's "not sampled" no longer vetoes the others (older
        // Collectors' InvertNotSampled did): tailsift and the Collector agree.
        case("numeric_invert_with_errors", "policies: [ { name: not-5xx, type: numeric_attribute, numeric_attribute: { key: http.status_code, min_value: 500, max_value: 599, invert_match: true } }, { name: errors, type: status_code, status_code: { status_codes: [ERROR] } } ]"),
        case("probabilistic", "policies: [ { name: p30, type: probabilistic, probabilistic: { sampling_percentage: 30 } } ]"),
        case("probabilistic_salt", "policies: [ { name: p50, type: probabilistic, probabilistic: { hash_salt: oracle, sampling_percentage: 50 } } ]"),
        case("status_error", "policies: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } } ]"),
        case("status_ok_unset", "policies: [ { name: fine, type: status_code, status_code: { status_codes: [OK, UNSET] } } ]"),
        case("string_exact_resource", "policies: [ { name: checkout, type: string_attribute, string_attribute: { key: service.name, values: [checkout, gen] } } ]"),
        case("string_regex", "policies: [ { name: api, type: string_attribute, string_attribute: { key: http.route, values: [\"/api/v[0-9]/.*\", \"deep$\"], enabled_regex_matching: true } } ]"),
        case("string_invert_alone", "policies: [ { name: not-health, type: string_attribute, string_attribute: { key: http.route, values: [/health], invert_match: true } } ]"),
        case("string_invert_with_slow", "policies: [ { name: not-health, type: string_attribute, string_attribute: { key: http.route, values: [/health], invert_match: true } }, { name: slow, type: latency, latency: { threshold_ms: 1000 } } ]"),
        case("trace_state", "policies: [ { name: vendor, type: trace_state, trace_state: { key: vendor, values: [a, b] } } ]"),
        case("trace_flags", "policies: [ { name: sampled, type: trace_flags } ]"),
        case("rate_limiting_roomy", "policies: [ { name: rl, type: rate_limiting, rate_limiting: { spans_per_second: 100000 } } ]"),
        case("bytes_limiting_roomy", "policies: [ { name: bl, type: bytes_limiting, bytes_limiting: { bytes_per_second: 100000000 } } ]"),
        case("span_count", "policies: [ { name: mid, type: span_count, span_count: { min_spans: 3, max_spans: 5 } } ]"),
        case("span_count_min", "policies: [ { name: many, type: span_count, span_count: { min_spans: 4 } } ]"),
        case("boolean_attribute", "policies: [ { name: hit, type: boolean_attribute, boolean_attribute: { key: cache.hit, value: true } } ]"),
        case("boolean_invert", "policies: [ { name: not-hit, type: boolean_attribute, boolean_attribute: { key: cache.hit, value: true, invert_match: true } } ]"),
        case("ottl_condition", "policies: [ { name: ottl, type: ottl_condition, ottl_condition: { error_mode: ignore, span: [ 'attributes[\"http.status_code\"] >= 500', 'name == \"llm.generate\" and status.code == STATUS_CODE_ERROR', 'resource.attributes[\"deployment.environment\"] == \"staging\" and kind == SPAN_KIND_SERVER' ] } } ]"),
        case("and", "policies: [ { name: gen-errors, type: and, and: { and_sub_policy: [ { name: e, type: status_code, status_code: { status_codes: [ERROR] } }, { name: gen, type: string_attribute, string_attribute: { key: service.name, values: [gen] } } ] } } ]"),
        case("and_not", "policies: [ { name: slow-fine, type: and, and: { and_sub_policy: [ { name: slow, type: latency, latency: { threshold_ms: 100 } }, { name: no-errors, type: not, not: { not_sub_policy: { name: e, type: status_code, status_code: { status_codes: [ERROR] } } } } ] } } ]"),
        case("not", "policies: [ { name: not-prod, type: not, not: { not_sub_policy: { name: prod, type: string_attribute, string_attribute: { key: deployment.environment, values: [prod] } } } } ]"),
        case("drop_then_keep", "policies: [ { name: drop-health, type: drop, drop: { drop_sub_policy: [ { name: health, type: string_attribute, string_attribute: { key: http.route, values: [/health, /ready], enabled_regex_matching: true } } ] } }, { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: p40, type: probabilistic, probabilistic: { sampling_percentage: 40 } } ]"),
        case("drop_and", "policies: [ { name: drop-search-hits, type: drop, drop: { drop_sub_policy: [ { name: search, type: string_attribute, string_attribute: { key: service.name, values: [search] } }, { name: hit, type: boolean_attribute, boolean_attribute: { key: cache.hit, value: true } } ] } }, { name: all, type: always_sample } ]"),
        case("composite", "policies: [ { name: comp, type: composite, composite: { max_total_spans_per_second: 100000, policy_order: [errors, slow, gen-fine, rest], composite_sub_policy: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: slow, type: latency, latency: { threshold_ms: 1000 } }, { name: gen-fine, type: and, and: { and_sub_policy: [ { name: gen, type: string_attribute, string_attribute: { key: service.name, values: [gen] } }, { name: ok, type: status_code, status_code: { status_codes: [OK] } } ] } }, { name: rest, type: probabilistic, probabilistic: { sampling_percentage: 10 } } ], rate_allocation: [ { policy: errors, percent: 40 }, { policy: slow, percent: 30 }, { policy: gen-fine, percent: 20 }, { policy: rest, percent: 10 } ] } } ]"),
        case("first_match", "sample_on_first_match: true\npolicies: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: slow, type: latency, latency: { threshold_ms: 1000 } }, { name: p20, type: probabilistic, probabilistic: { sampling_percentage: 20 } } ]"),
        case("many_policies", "policies: [ { name: drop-ready, type: drop, drop: { drop_sub_policy: [ { name: ready, type: string_attribute, string_attribute: { key: http.route, values: [/ready] } } ] } }, { name: vendor, type: trace_state, trace_state: { key: vendor, values: [c] } }, { name: few, type: span_count, span_count: { min_spans: 1, max_spans: 1 } }, { name: staging-5xx, type: and, and: { and_sub_policy: [ { name: staging, type: string_attribute, string_attribute: { key: deployment.environment, values: [staging] } }, { name: 5xx, type: numeric_attribute, numeric_attribute: { key: http.status_code, min_value: 500, max_value: 599 } } ] } } ]"),
    ]
}
