//! The adaptive sampler: keeps about `target_traces_per_sec` of the traces its rule sees,
//! shared fairly between keys of traffic (see [`super::allocate`]).
//!
//! Per key it counts traces in the current interval; every `adjust_every` it folds the counts
//! into moving averages of each key's rate and recomputes every key's probability. Between
//! adjustments a decision is a hash of the key, a lookup in a concurrent map that locks only
//! the key's shard, and one atomic add: the buffer's shards deciding at once meet only when
//! their traces share a key's shard. The last adjustment's results are an immutable snapshot
//! swapped in whole ([`ArcSwap`]); one decision at a time (the one that finds the interval
//! over) adjusts, the others go on with the previous probabilities meanwhile. A key seen for
//! the first time gets its fair share divided by its rate estimated online (traces so far over
//! the time since it appeared, at least a second), so it is neither kept whole nor starved
//! until the next adjustment. When an interval's traffic runs at more than twice the expected
//! rate (a burst, or the first interval), the adjustment comes early. Keys beyond `max_keys`
//! share one bucket (`_other`); a key without traffic for three intervals (or whose average
//! falls below half a trace per interval) is forgotten. Decisions are consistent: keep when
//! the trace's randomness is at least the key's threshold.

use super::allocate::{fair_share, moving_average, probability};
use super::floor::{share_with_floor, Floor, MinPerKey};
use super::group::GroupShare;
use super::key::KeySpec;
use super::probability::{threshold_rounded, MAX_THRESHOLD};
use crate::config::{AdaptiveAction, KeyField};
use crate::otlp::{Interest, Span};
use crate::telemetry::{dynamic, names};
use arc_swap::ArcSwap;
use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
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

#[derive(Debug, Clone)]
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

    /// Whether the `_other` bucket counts as a key of traffic.
    fn active(&self) -> bool {
        self.seen > 0 || self.rate.is_some()
    }
}

/// What the last adjustment decided, read by every decision.
#[derive(Debug, Clone, Copy)]
struct Interval {
    /// Start of the current interval; `None` before the first decision.
    start: Option<Instant>,
    /// The fair share (traces/s per key) of the last adjustment; `None` before the first.
    share: Option<f64>,
    /// Sum of the keys' average rates at the last adjustment.
    expected_rate: f64,
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

/// What an adjustment publishes as metrics (outside the locks).
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
    /// Per-key state by key hash; a decision locks its key's shard only.
    keys: DashMap<u64, Entry, hashbrown::DefaultHashBuilder>,
    /// Entries in `keys`: a decision reserves a slot before it adds a key, so they never
    /// exceed `max_keys`.
    key_count: AtomicUsize,
    /// The bucket shared by keys beyond `max_keys`.
    other: Mutex<Entry>,
    /// `other.active()`, readable without its lock.
    other_active: AtomicBool,
    /// The current interval and the last adjustment's share, replaced whole by an adjustment.
    interval: ArcSwap<Interval>,
    /// Traces seen and kept in the current interval.
    seen: AtomicU64,
    kept: AtomicU64,
    /// Traces kept by `min_per_key` that the probability alone would have dropped.
    floor_kept: AtomicU64,
    /// Held by the one decision or tick that adjusts.
    adjusting: Mutex<()>,
    /// The group whose target this is (`cluster:`); alone, the whole target is this
    /// instance's.
    group: OnceLock<GroupShare>,
}

impl std::fmt::Debug for AdaptiveSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveSampler")
            .field("rule", &self.rule)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            keys: DashMap::with_hasher(hashbrown::DefaultHashBuilder::default()),
            key_count: AtomicUsize::new(0),
            other: Mutex::new(Entry::new(OTHER_KEY.into(), Instant::now())),
            other_active: AtomicBool::new(false),
            interval: ArcSwap::from_pointee(Interval {
                start: None,
                share: None,
                expected_rate: 0.0,
            }),
            seen: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            floor_kept: AtomicU64::new(0),
            adjusting: Mutex::new(()),
            group: OnceLock::new(),
        }
    }

    /// Shares the target with the live members of `group` from now on.
    pub fn join_group(&self, group: &GroupShare) {
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
        let _mine = lock(&self.adjusting);
        let _theirs = lock(&old.adjusting);
        self.keys.clear();
        let mut n = 0;
        for e in old.keys.iter() {
            self.keys.insert(*e.key(), e.value().clone());
            n += 1;
        }
        self.key_count.store(n, Relaxed);
        let other = lock(&old.other).clone();
        self.other_active.store(other.active(), Relaxed);
        *lock(&self.other) = other;
        self.interval.store(old.interval.load_full());
        self.seen.store(old.seen.load(Relaxed), Relaxed);
        self.kept.store(old.kept.load(Relaxed), Relaxed);
        self.floor_kept.store(old.floor_kept.load(Relaxed), Relaxed);
    }

    /// Decides one trace from its spans and randomness at time `now`; `explain` also returns
    /// the key's label.
    pub fn decide(&self, spans: &[Span], randomness: u64, now: Instant, explain: bool) -> Decision {
        let hash = self.key.hash(spans);
        let mut iv = **self.interval.load();
        if iv.start.is_none() {
            iv = self.start(now);
        } else if self.due(&iv, now) {
            if let Some(next) = self.try_adjust(now) {
                iv = next;
            }
        }
        // The keys counted for a new key's first share: those tracked before it (itself when
        // already tracked) and the `_other` bucket when in use.
        let others = || usize::from(self.other_active.load(Relaxed));
        let decision = if let Some(mut e) = self.keys.get_mut(&hash) {
            let active = || self.key_count.load(Relaxed) + others();
            self.decide_entry(&mut e, &iv, randomness, now, explain, active)
        } else if let Ok(before) = self.key_count.fetch_update(Relaxed, Relaxed, |n| {
            (n < self.params.max_keys).then_some(n + 1)
        }) {
            let label = self.key.label(spans).into_boxed_str();
            let mut e = match self.keys.entry(hash) {
                dashmap::Entry::Occupied(o) => {
                    // Added meanwhile by another decision: its slot is taken already.
                    self.key_count.fetch_sub(1, Relaxed);
                    o.into_ref()
                }
                dashmap::Entry::Vacant(v) => v.insert(Entry::new(label, now)),
            };
            self.decide_entry(&mut e, &iv, randomness, now, explain, || before + others())
        } else {
            let mut other = lock(&self.other);
            let active = self.key_count.load(Relaxed) + usize::from(other.active());
            let d = self.decide_entry(&mut other, &iv, randomness, now, explain, || active);
            self.other_active.store(true, Relaxed);
            d
        };
        self.seen.fetch_add(1, Relaxed);
        if decision.keep {
            self.kept.fetch_add(1, Relaxed);
        }
        decision
    }

    /// The decision for the key of `e` (locked by the caller); `active` counts the keys for a
    /// new key's first share.
    fn decide_entry(
        &self,
        e: &mut Entry,
        iv: &Interval,
        randomness: u64,
        now: Instant,
        explain: bool,
        active: impl FnOnce() -> usize,
    ) -> Decision {
        e.seen += 1;
        e.last_seen = now;
        let threshold = match e.rate {
            Some(_) => e.threshold,
            None => {
                let share = iv
                    .share
                    .unwrap_or_else(|| self.target() / (active().max(1) as f64));
                let window = now
                    .saturating_duration_since(e.first_seen)
                    .max(MIN_ESTIMATE_WINDOW);
                let rate = e.seen as f64 / window.as_secs_f64();
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
            if e.floor.owed(spec, now) {
                if !keep {
                    keep = true;
                    threshold = 0;
                    self.floor_kept.fetch_add(1, Relaxed);
                }
                e.floor.record_kept();
            } else if keep {
                e.floor.record_kept();
            }
        }
        Decision {
            keep,
            threshold,
            key: explain.then(|| e.label.to_string()),
        }
    }

    /// Starts the first interval at `now` (unless a concurrent decision did).
    fn start(&self, now: Instant) -> Interval {
        let _adjusting = lock(&self.adjusting);
        let current = **self.interval.load();
        if current.start.is_some() {
            return current;
        }
        let next = Interval {
            start: Some(now),
            ..current
        };
        self.interval.store(Arc::new(next));
        next
    }

    /// Ends the current interval if it is over and no other caller is ending it; returns the
    /// interval now current, or `None` when another caller is adjusting.
    fn try_adjust(&self, now: Instant) -> Option<Interval> {
        let guard = match self.adjusting.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let current = **self.interval.load();
        if current.start.is_none() || !self.due(&current, now) {
            return Some(current);
        }
        let (next, published) = self.adjust(&current, now);
        self.interval.store(Arc::new(next));
        drop(guard);
        self.publish(published);
        Some(next)
    }

    /// Ends the current interval if it is over, even when no trace arrives: a rule whose
    /// traffic stopped still ages out its keys and reports a kept rate of zero. Called by the
    /// daemon's decision ticker, outside the buffer's locks.
    pub fn tick(&self, now: Instant) {
        let iv = **self.interval.load();
        if iv.start.is_some() && self.due(&iv, now) {
            self.try_adjust(now);
        }
    }

    /// Whether the interval `iv` ends now: it is over, or its traffic runs at more than twice
    /// the expected rate.
    fn due(&self, iv: &Interval, now: Instant) -> bool {
        let Some(start) = iv.start else {
            return false;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= self.params.interval {
            return true;
        }
        let seen = self.seen.load(Relaxed);
        elapsed >= self.params.interval / 10
            && seen >= MIN_EARLY_TRACES
            && seen as f64 > 2.0 * iv.expected_rate * elapsed.as_secs_f64() + 10.0
    }

    /// Ends the interval `iv`: updates each key's average, forgets idle keys, and assigns
    /// new probabilities. Called with `adjusting` held; decisions go on meanwhile, each key's
    /// shard locked in turn.
    fn adjust(&self, iv: &Interval, now: Instant) -> (Interval, Published) {
        let start = iv.start.unwrap_or(now);
        let elapsed = now.saturating_duration_since(start);
        let secs = elapsed.as_secs_f64().max(1e-3);
        let fraction = secs / self.params.interval.as_secs_f64();
        let min_window = elapsed.min(MIN_ESTIMATE_WINDOW);
        let kept = self.kept.swap(0, Relaxed);
        self.seen.store(0, Relaxed);
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
        let mut rates = Vec::with_capacity(self.key_count.load(Relaxed) + 1);
        let mut forgotten = 0;
        self.keys.retain(|_, e| {
            let forget = idle(e);
            update(e);
            e.seen = 0;
            if forget {
                forgotten += 1;
            } else {
                rates.extend(e.rate);
            }
            !forget
        });
        self.key_count.fetch_sub(forgotten, Relaxed);
        let other_rate = {
            let mut other = lock(&self.other);
            if idle(&other) {
                *other = Entry::new(OTHER_KEY.into(), now);
            } else {
                update(&mut other);
                other.seen = 0;
            }
            self.other_active.store(other.active(), Relaxed);
            other.rate.unwrap_or(0.0)
        };
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
        // Rates by key hash (`None`: the `_other` bucket), for the busiest keys' metrics.
        let mut by_rate: Vec<(f64, Option<u64>)> = Vec::with_capacity(rates.len());
        for mut e in self.keys.iter_mut() {
            assign(&mut e);
            by_rate.push((e.rate.unwrap_or(0.0), Some(*e.key())));
        }
        let other_shown = {
            let mut other = lock(&self.other);
            assign(&mut other);
            (
                metric_label(OTHER_KEY, true),
                threshold_probability(other.threshold),
            )
        };
        if other_rate > 0.0 {
            by_rate.push((other_rate, None));
        }
        by_rate.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top = by_rate
            .iter()
            .take(names::ADAPTIVE_TOP_KEYS)
            .filter_map(|(_, hash)| match hash {
                Some(h) => self.keys.get(h).map(|e| {
                    (
                        metric_label(&e.label, self.params.expose_keys),
                        threshold_probability(e.threshold),
                    )
                }),
                None => Some(other_shown.clone()),
            })
            .collect();
        let next = Interval {
            start: Some(now),
            share: Some(share),
            expected_rate: rates.iter().sum(),
        };
        let published = Published {
            kept_rate: kept as f64 / secs,
            keys: self.key_count.load(Relaxed),
            top,
        };
        (next, published)
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
        self.floor_kept.load(Relaxed)
    }

    /// The keys tracked, with their average rates (traces/s) and current probabilities, busiest
    /// first (for tests and explanations).
    pub fn snapshot(&self) -> Vec<(String, f64, f64)> {
        let shown = |e: &Entry| {
            (
                e.label.to_string(),
                e.rate.unwrap_or(0.0),
                threshold_probability(e.threshold),
            )
        };
        let mut v: Vec<(String, f64, f64)> = self.keys.iter().map(|e| shown(&e)).collect();
        let other = lock(&self.other);
        if other.rate.is_some() {
            v.push(shown(&other));
        }
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
