//! The adaptive sampler: keeps about `target_traces_per_sec` of the traces its rule sees,
//! shared fairly between keys of traffic (see [`super::allocate`]).
//!
//! Per key it counts traces in the current interval; every `adjust_every` it folds the counts
//! into moving averages of each key's rate and recomputes every key's probability. Between
//! adjustments a decision is a hash of the key, a map lookup and a counter under one small
//! mutex. A key seen for the first time gets its fair share divided by its rate estimated
//! online (traces so far over the time since it appeared, at least a second), so it is neither
//! kept whole nor starved until the next adjustment. When an interval's traffic runs at more
//! than twice the expected rate (a burst, or the first interval), the adjustment comes early.
//! Keys beyond `max_keys` share one bucket (`_other`); a key without traffic for three intervals
//! (or whose average falls below half a trace per interval) is forgotten. Decisions are consistent: keep when the
//! trace's randomness is at least the key's threshold.

use super::allocate::{fair_share, moving_average, probability};
use super::floor::{share_with_floor, Floor, MinPerKey};
use super::key::KeySpec;
use super::probability::{threshold_rounded, MAX_THRESHOLD};
use crate::config::{AdaptiveAction, KeyField};
use crate::otlp::{Interest, Span};
use crate::telemetry::{dynamic, names};
use hashbrown::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Significant hex digits of the keep fraction in the thresholds used (and written as `th`).
const PRECISION: u32 = 4;
/// Label of the bucket shared by keys beyond `max_keys`.
pub const OTHER_KEY: &str = "_other";
/// A new key's rate is estimated over at least this long.
const MIN_ESTIMATE_WINDOW: Duration = Duration::from_secs(1);
/// A key without traffic for this many intervals is forgotten.
const IDLE_INTERVALS: u32 = 3;
/// Traces an interval must have seen before it can end early.
const MIN_EARLY_TRACES: u64 = 20;

/// The adaptive sampler's parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub target: f64,
    pub interval: Duration,
    pub min_probability: f64,
    pub max_keys: usize,
    /// Key values in metric labels as they are; otherwise hashed ([`metric_label`]).
    pub expose_keys: bool,
    /// Traces kept per key per period at least ([`super::floor`]).
    pub min_per_key: Option<MinPerKey>,
}

impl Params {
    pub fn from_config(a: &AdaptiveAction) -> Params {
        Params {
            target: a.target_traces_per_sec,
            interval: a.adjust_every.get(),
            min_probability: a.min_probability,
            max_keys: a.max_keys.max(1),
            expose_keys: a.expose_keys,
            min_per_key: a.min_per_key.as_ref().map(|m| MinPerKey {
                traces: m.traces,
                every: m.every.get(),
            }),
        }
    }
}

#[derive(Debug)]
struct Entry {
    label: Box<str>,
    /// Traces seen in the current interval.
    seen: u64,
    /// Moving average of traces per second; `None` until the key's first adjustment.
    rate: Option<f64>,
    first_seen: Instant,
    last_seen: Instant,
    threshold: u64,
    floor: Floor,
}

impl Entry {
    fn new(label: Box<str>, now: Instant) -> Entry {
        Entry {
            label,
            seen: 0,
            rate: None,
            first_seen: now,
            last_seen: now,
            threshold: 0,
            floor: Floor::default(),
        }
    }
}

#[derive(Debug)]
struct State {
    /// Start of the current interval; `None` before the first decision.
    start: Option<Instant>,
    keys: HashMap<u64, Entry>,
    other: Entry,
    /// The fair share (traces/s per key) of the last adjustment; `None` before the first.
    share: Option<f64>,
    /// Sum of the keys' average rates at the last adjustment.
    expected_rate: f64,
    seen: u64,
    kept: u64,
    /// Traces kept by `min_per_key` that the probability alone would have dropped.
    floor_kept: u64,
}

/// What one decision found.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub keep: bool,
    /// The rejection threshold applied.
    pub threshold: u64,
    /// The key's label, when asked for (explanations).
    pub key: Option<String>,
}

/// What an adjustment publishes as metrics (outside the lock).
struct Published {
    kept_rate: f64,
    keys: usize,
    top: Vec<(String, f64)>,
}

/// One adaptive rule's sampler.
pub struct AdaptiveSampler {
    rule: Arc<str>,
    key: KeySpec,
    params: Params,
    state: Mutex<State>,
    /// The group whose target this is (`cluster:`); alone, the whole target is this
    /// instance's.
    group: std::sync::OnceLock<super::group::GroupShare>,
}

impl std::fmt::Debug for AdaptiveSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveSampler")
            .field("rule", &self.rule)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl AdaptiveSampler {
    /// Builds the sampler of rule `rule`, registering the attributes its key reads.
    pub fn new(
        rule: Arc<str>,
        key: &[KeyField],
        params: Params,
        interest: &mut Interest,
    ) -> AdaptiveSampler {
        // The rule's series exist from the start, before its first interval ends.
        let r = rule.to_string();
        metrics::gauge!(names::ADAPTIVE_TARGET_RATE, "rule" => r.clone()).set(params.target);
        metrics::gauge!(names::ADAPTIVE_KEPT_RATE, "rule" => r.clone()).set(0.0);
        metrics::gauge!(names::ADAPTIVE_KEYS, "rule" => r).set(0.0);
        AdaptiveSampler {
            rule,
            key: KeySpec::compile(key, interest),
            params,
            state: Mutex::new(State {
                start: None,
                keys: HashMap::new(),
                other: Entry::new(OTHER_KEY.into(), Instant::now()),
                share: None,
                expected_rate: 0.0,
                seen: 0,
                kept: 0,
                floor_kept: 0,
            }),
            group: std::sync::OnceLock::new(),
        }
    }

    /// Shares the target with the live members of `group` from now on.
    pub fn join_group(&self, group: &super::group::GroupShare) {
        let _ = self.group.set(group.clone());
    }

    /// This instance's share of the target (traces/s).
    fn target(&self) -> f64 {
        self.group
            .get()
            .map_or(self.params.target, |g| g.share(self.params.target))
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Takes over `old`'s per-key rates, thresholds and interval, for a config reload that
    /// kept this rule and its key: the new parameters apply from the next adjustment.
    pub fn adopt(&self, old: &AdaptiveSampler) {
        let mut mine = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut theirs = old.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *mine, &mut *theirs);
    }

    /// Decides one trace from its spans and randomness at time `now`; `explain` also returns
    /// the key's label.
    pub fn decide(&self, spans: &[Span], randomness: u64, now: Instant, explain: bool) -> Decision {
        let hash = self.key.hash(spans);
        let mut published = None;
        let decision = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.start.is_none() {
                st.start = Some(now);
            } else if self.due(&st, now) {
                published = Some(self.adjust(&mut st, now));
            }
            let st = &mut *st;
            let active = st.keys.len() + usize::from(st.other.seen > 0 || st.other.rate.is_some());
            let entry = if let Some(e) = st.keys.get_mut(&hash) {
                e
            } else if st.keys.len() < self.params.max_keys {
                let label = self.key.label(spans).into_boxed_str();
                st.keys.entry(hash).or_insert(Entry::new(label, now))
            } else {
                &mut st.other
            };
            entry.seen += 1;
            entry.last_seen = now;
            let threshold = match entry.rate {
                Some(_) => entry.threshold,
                None => {
                    let share = st.share.unwrap_or(self.target() / (active.max(1) as f64));
                    let window = now
                        .saturating_duration_since(entry.first_seen)
                        .max(MIN_ESTIMATE_WINDOW);
                    let rate = entry.seen as f64 / window.as_secs_f64();
                    threshold_rounded(
                        probability(rate, share, self.params.min_probability),
                        PRECISION,
                    )
                }
            };
            let mut keep = randomness >= threshold;
            let mut threshold = threshold;
            if let Some(spec) = &self.params.min_per_key {
                // Owed keeps are kept outright (no threshold: their adjusted count is 1).
                if entry.floor.owed(spec, now) {
                    if !keep {
                        keep = true;
                        threshold = 0;
                        st.floor_kept += 1;
                    }
                    entry.floor.record_kept();
                } else if keep {
                    entry.floor.record_kept();
                }
            }
            st.seen += 1;
            st.kept += u64::from(keep);
            Decision {
                keep,
                threshold,
                key: explain.then(|| entry.label.to_string()),
            }
        };
        if let Some(p) = published {
            self.publish(p);
        }
        decision
    }

    /// Ends the current interval if it is over, even when no trace arrives: a rule whose
    /// traffic stopped still ages out its keys and reports a kept rate of zero. Called by the
    /// daemon's decision ticker, outside the buffer's locks.
    pub fn tick(&self, now: Instant) {
        let published = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.start.is_some() && self.due(&st, now) {
                Some(self.adjust(&mut st, now))
            } else {
                None
            }
        };
        if let Some(p) = published {
            self.publish(p);
        }
    }

    /// Whether the current interval ends now: it is over, or its traffic runs at more than
    /// twice the expected rate.
    fn due(&self, st: &State, now: Instant) -> bool {
        let Some(start) = st.start else {
            return false;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= self.params.interval {
            return true;
        }
        elapsed >= self.params.interval / 10
            && st.seen >= MIN_EARLY_TRACES
            && st.seen as f64 > 2.0 * st.expected_rate * elapsed.as_secs_f64() + 10.0
    }

    /// Ends the current interval: updates each key's average, forgets idle keys, and assigns
    /// new probabilities.
    fn adjust(&self, st: &mut State, now: Instant) -> Published {
        let start = st.start.unwrap_or(now);
        let elapsed = now.saturating_duration_since(start);
        let secs = elapsed.as_secs_f64().max(1e-3);
        let fraction = secs / self.params.interval.as_secs_f64();
        let min_window = elapsed.min(MIN_ESTIMATE_WINDOW);
        let update = |e: &mut Entry| {
            let observed = match e.rate {
                Some(_) => e.seen as f64 / secs,
                None => {
                    let w = now
                        .saturating_duration_since(e.first_seen)
                        .max(min_window)
                        .as_secs_f64()
                        .max(1e-3);
                    e.seen as f64 / w
                }
            };
            e.rate = Some(moving_average(e.rate, observed, fraction));
        };
        let interval_secs = self.params.interval.as_secs_f64();
        let idle_after = self.params.interval * IDLE_INTERVALS;
        // Idle: no traffic this interval, and none for a while or hardly any on average.
        let idle = |e: &Entry| {
            e.seen == 0
                && (now.saturating_duration_since(e.last_seen) >= idle_after
                    || e.rate.unwrap_or(0.0) * interval_secs < 0.5)
        };
        st.keys.retain(|_, e| {
            let forget = idle(e);
            update(e);
            e.seen = 0;
            !forget
        });
        if idle(&st.other) {
            st.other = Entry::new(OTHER_KEY.into(), now);
        } else {
            update(&mut st.other);
            st.other.seen = 0;
        }
        let other_rate = st.other.rate.unwrap_or(0.0);
        let mut rates: Vec<f64> = st.keys.values().filter_map(|e| e.rate).collect();
        if other_rate > 0.0 {
            rates.push(other_rate);
        }
        let share = match &self.params.min_per_key {
            Some(m) => share_with_floor(&rates, self.target(), m.rate()),
            None => fair_share(&rates, self.target()),
        };
        let min_p = self.params.min_probability;
        let assign = |e: &mut Entry| {
            let p = probability(e.rate.unwrap_or(0.0), share, min_p);
            e.threshold = threshold_rounded(p, PRECISION);
        };
        st.keys.values_mut().for_each(assign);
        assign(&mut st.other);
        st.share = Some(share);
        st.expected_rate = rates.iter().sum();
        let kept_rate = st.kept as f64 / secs;
        st.seen = 0;
        st.kept = 0;
        st.start = Some(now);

        let mut by_rate: Vec<(&Entry, f64)> = st
            .keys
            .values()
            .chain(std::iter::once(&st.other).filter(|_| other_rate > 0.0))
            .map(|e| (e, e.rate.unwrap_or(0.0)))
            .collect();
        by_rate.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top = by_rate
            .iter()
            .take(names::ADAPTIVE_TOP_KEYS)
            .map(|(e, _)| {
                let label = metric_label(&e.label, self.params.expose_keys);
                (label, threshold_probability(e.threshold))
            })
            .collect();
        Published {
            kept_rate,
            keys: st.keys.len(),
            top,
        }
    }

    fn publish(&self, p: Published) {
        let rule = self.rule.to_string();
        metrics::gauge!(names::ADAPTIVE_KEPT_RATE, "rule" => rule.clone()).set(p.kept_rate);
        metrics::gauge!(names::ADAPTIVE_TARGET_RATE, "rule" => rule.clone()).set(self.target());
        metrics::gauge!(names::ADAPTIVE_KEYS, "rule" => rule.clone()).set(p.keys as f64);
        dynamic::publish(
            names::ADAPTIVE_PROBABILITY,
            crate::telemetry::describe::help(names::ADAPTIVE_PROBABILITY).unwrap_or_default(),
            &rule,
            "key",
            p.top,
        );
    }

    /// Traces kept by `min_per_key` that the keys' probabilities alone would have dropped.
    pub fn floor_kept(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .floor_kept
    }

    /// The keys tracked, with their average rates (traces/s) and current probabilities, busiest
    /// first (for tests and explanations).
    pub fn snapshot(&self) -> Vec<(String, f64, f64)> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, f64, f64)> = st
            .keys
            .values()
            .chain(std::iter::once(&st.other).filter(|e| e.rate.is_some()))
            .map(|e| {
                (
                    e.label.to_string(),
                    e.rate.unwrap_or(0.0),
                    threshold_probability(e.threshold),
                )
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// A key as shown in the `key` label of [`names::ADAPTIVE_PROBABILITY`]: as it is when
/// `expose` (or for `_other`), else `sha256:` and the first 12 hex digits of its SHA-256.
pub fn metric_label(label: &str, expose: bool) -> String {
    use sha2::Digest;
    if expose || label == OTHER_KEY {
        return label.to_string();
    }
    let digest = sha2::Sha256::digest(label.as_bytes());
    format!("sha256:{}", &hex::encode(&digest[..6]))
}

fn threshold_probability(t: u64) -> f64 {
    super::probability::probability(t.min(MAX_THRESHOLD))
}

#[cfg(test)]
#[path = "adaptive_tests.rs"]
mod tests;
