//! Validation of `sampling.rules` (names, actions, reachability, conditions, regexes) and of
//! the `fidelity:` profiles they refer to.

use super::schema::{
    Condition, FidelityProfile, Rule, SpanMatcher, StringMatcher, TraceMatcher, ValueMatcher,
    MIN_MAX_ATTRIBUTE_BYTES,
};
use super::units::Dur;
use super::validate::{dur, key, Errors};
use std::collections::{BTreeMap, HashMap};

pub(super) fn check_rules(
    rules: &[Rule],
    profiles: &BTreeMap<String, FidelityProfile>,
    errs: &mut Errors,
) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut catch_all: Option<usize> = None;
    for (i, r) in rules.iter().enumerate() {
        let p = format!("sampling.rules[{i}]");
        if r.name.trim().is_empty() {
            errs.push(
                format!("{p}.name"),
                "a rule needs a non-empty `name` (it labels metrics and the `sampling.rule` attribute)",
            );
        } else if let Some(&j) = names.get(r.name.as_str()) {
            errs.push(
                format!("{p}.name"),
                format!(
                    "duplicate rule name `{}`: sampling.rules[{j}] and sampling.rules[{i}] both use it",
                    r.name
                ),
            );
        } else {
            names.insert(&r.name, i);
        }

        if let Some(j) = catch_all {
            errs.push(
                &p,
                format!(
                    "rule `{}` can never match: rule `{}` (sampling.rules[{j}]) before it has no \
                     `when`, so it decides every trace first",
                    r.name, rules[j].name
                ),
            );
        } else if r.when.is_none() {
            catch_all = Some(i);
        }

        check_action(r, &p, errs);
        check_rule_fidelity(r, &p, profiles, errs);
        if let Some(c) = &r.when {
            check_condition(c, &format!("{p}.when"), true, errs);
        }
    }
}

fn check_action(r: &Rule, p: &str, errs: &mut Errors) {
    if let Err(e) = r.action() {
        match e.key() {
            Some(k) => errs.push(format!("{p}.{k}"), e.to_string()),
            None => errs.push(p, e.to_string()),
        }
    }
    if let Some(a) = &r.adaptive {
        super::validate_samplers::check_adaptive(a, p, errs);
    }
    if let Some(rl) = &r.rate_limit {
        super::validate_samplers::check_rate_limit(rl, p, errs);
    }
    if let Some(prob) = r.probability {
        if !(prob.is_finite() && (0.0..=1.0).contains(&prob)) {
            errs.push(
                format!("{p}.probability"),
                format!("must be between 0 and 1, got {prob}"),
            );
        }
    }
}

fn check_rule_fidelity(
    r: &Rule,
    p: &str,
    profiles: &BTreeMap<String, FidelityProfile>,
    errs: &mut Errors,
) {
    let Some(f) = &r.fidelity else { return };
    if r.drop.is_some() {
        errs.push(
            format!("{p}.fidelity"),
            "a `drop` rule keeps nothing, so `fidelity` has no effect here: remove it",
        );
    } else if f != "full" && !profiles.contains_key(f) {
        let defined = if profiles.is_empty() {
            "no profile is defined under `fidelity:`".to_string()
        } else {
            let names: Vec<String> = profiles.keys().map(|k| format!("`{k}`")).collect();
            format!("defined profiles: {}", names.join(", "))
        };
        errs.push(
            format!("{p}.fidelity"),
            format!("unknown fidelity profile `{f}`: use `full` or a profile name ({defined})"),
        );
    }
}

fn check_condition(c: &Condition, p: &str, top: bool, errs: &mut Errors) {
    if c.span.is_none()
        && c.root.is_none()
        && c.trace.is_none()
        && c.any.is_none()
        && c.not.is_none()
    {
        let hint = if top {
            "; to match every trace, leave out `when`"
        } else {
            ""
        };
        errs.push(
            p,
            format!(
                "empty condition: give at least one of `span`, `root`, `trace`, `any` or `not`{hint}"
            ),
        );
    }
    if let Some(s) = &c.span {
        check_span(s, &format!("{p}.span"), errs);
    }
    if let Some(s) = &c.root {
        check_span(s, &format!("{p}.root"), errs);
    }
    if let Some(t) = &c.trace {
        check_trace(t, &format!("{p}.trace"), errs);
    }
    if let Some(any) = &c.any {
        if any.is_empty() {
            errs.push(
                format!("{p}.any"),
                "`any: []` can never hold: list at least one condition",
            );
        }
        for (i, sub) in any.iter().enumerate() {
            check_condition(sub, &format!("{p}.any[{i}]"), false, errs);
        }
    }
    if let Some(n) = &c.not {
        check_condition(n, &format!("{p}.not"), false, errs);
    }
}

pub(super) fn check_span(s: &SpanMatcher, p: &str, errs: &mut Errors) {
    if let Some(st) = &s.slower_than {
        super::validate_pipelines::check_slower_than(st, p, errs);
    }
    for (field, m) in [("name", &s.name), ("service", &s.service)] {
        if let Some(StringMatcher::Regex(re)) = m {
            if let Some(msg) = regex_problem(re) {
                errs.push(format!("{p}.{field}"), msg);
            }
        }
    }
    if s.kind.as_ref().is_some_and(|k| k.as_slice().is_empty()) {
        errs.push(
            format!("{p}.kind"),
            "the list is empty, so it never matches",
        );
    }
    if s.status.as_ref().is_some_and(|k| k.as_slice().is_empty()) {
        errs.push(
            format!("{p}.status"),
            "the list is empty, so it never matches",
        );
    }
    check_durations(s.min_duration, s.max_duration, p, "span", errs);
    for (field, attrs) in [("attributes", &s.attributes), ("resource", &s.resource)] {
        let Some(attrs) = attrs else { continue };
        let ap = format!("{p}.{field}");
        for (k, m) in attrs {
            check_value_matcher(k, m, &ap, errs);
        }
    }
}

fn check_value_matcher(k: &str, m: &ValueMatcher, parent: &str, errs: &mut Errors) {
    let p = key(parent, k);
    if k.is_empty() {
        errs.push(&p, "attribute key is empty");
    }
    match m {
        ValueMatcher::Regex(re) => {
            if let Some(msg) = regex_problem(re) {
                errs.push(&p, msg);
            }
        }
        ValueMatcher::Range { min, max }
            if min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan) =>
        {
            errs.push(&p, "`min` and `max` must be numbers, not NaN");
        }
        _ => {}
    }
}

fn check_trace(t: &TraceMatcher, p: &str, errs: &mut Errors) {
    super::validate_pipelines::check_aggregates(t, p, errs);
    check_durations(t.min_duration, t.max_duration, p, "trace", errs);
    if let (Some(lo), Some(hi)) = (t.min_spans, t.max_spans) {
        if lo > hi {
            errs.push(
                format!("{p}.min_spans"),
                format!("min_spans ({lo}) is greater than max_spans ({hi}): no trace can match"),
            );
        }
    }
}

/// Records at `p.min_duration` a `min_duration` longer than `max_duration`: no `what` (span,
/// trace) can match.
fn check_durations(min: Option<Dur>, max: Option<Dur>, p: &str, what: &str, errs: &mut Errors) {
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            errs.push(
                format!("{p}.min_duration"),
                format!(
                    "min_duration ({}) is longer than max_duration ({}): no {what} can match",
                    dur(lo),
                    dur(hi)
                ),
            );
        }
    }
}

/// `None` if `re` compiles; otherwise a one-line message with the regex crate's explanation.
fn regex_problem(re: &str) -> Option<String> {
    // The same compilation the daemon does (whole-string, on bytes).
    let err = super::matchers::whole(re).err()?;
    let detail = match &err {
        // The syntax error is a multi-line diagram ending in `error: <what>`; keep that part.
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .map(str::to_string)
            .unwrap_or_else(|| s.split_whitespace().collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    };
    Some(format!("invalid regex `{re}`: {detail}"))
}

pub(super) fn check_fidelity_profiles(
    profiles: &BTreeMap<String, FidelityProfile>,
    errs: &mut Errors,
) {
    for (name, prof) in profiles {
        let p = key("fidelity", name);
        if name == "full" {
            errs.push(
                &p,
                "the profile name `full` is reserved (it means spans are kept unchanged): choose another name",
            );
        } else if name.trim().is_empty() {
            errs.push(&p, "a fidelity profile needs a non-empty name");
        }
        for (i, pat) in prof.hash_attributes.iter().enumerate() {
            if pat.trim().is_empty() {
                errs.push(
                    format!("{p}.hash_attributes[{i}]"),
                    "empty pattern: write an attribute key, optionally with `*` wildcards",
                );
            }
        }
        if let Some(m) = &prof.media {
            super::validate_pipelines::check_media(m, &p, errs);
        }
        if let Some(max) = prof.max_attribute_bytes {
            if max.0 < MIN_MAX_ATTRIBUTE_BYTES {
                errs.push(
                    format!("{p}.max_attribute_bytes"),
                    format!(
                        "must be at least {MIN_MAX_ATTRIBUTE_BYTES} bytes, got {}: a smaller limit \
                         keeps too little of the value to be useful and leaves no room for the \
                         truncation marker",
                        max.0
                    ),
                );
            }
        }
    }
}
