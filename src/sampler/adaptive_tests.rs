//! Statistical tests of the adaptive sampler on synthetic streams driven by a synthetic clock
//! (no real time passes), with fixed seeds and stated tolerances.

use super::*;
use crate::config::KeyField;
use crate::fixtures::{self, span};
use crate::otlp::tracestate;

/// A deterministic generator (splitmix64) with the draws these tests need.
struct Rng(fixtures::SplitMix64);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        Rng(fixtures::SplitMix64(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// 56 random bits: a trace's randomness.
    fn randomness(&mut self) -> u64 {
        self.next() >> 8
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn params(target: f64, max_keys: usize) -> Params {
    Params {
        target,
        interval: Duration::from_secs(15),
        min_probability: 1e-4,
        max_keys,
        expose_keys: true,
        min_per_key: None,
    }
}

fn sampler(p: Params) -> (AdaptiveSampler, Interest) {
    let mut interest = Interest::default();
    let key = [KeyField::Service, KeyField::RootName];
    let s = AdaptiveSampler::new("rest".into(), &key, p, &mut interest);
    (s, interest)
}

/// A sampler and the spans of one trace of each of keys `0..keys`.
fn with_keys(p: Params, keys: usize) -> (AdaptiveSampler, Vec<Vec<Span>>) {
    let (s, interest) = sampler(p);
    (s, (0..keys).map(|k| key_spans(&interest, k)).collect())
}

/// [`with_keys`], a generator seeded with `seed` and the start of time.
fn setup(p: Params, keys: usize, seed: u64) -> (AdaptiveSampler, Vec<Vec<Span>>, Rng, Instant) {
    let (s, keys) = with_keys(p, keys);
    (s, keys, Rng::seeded(seed), Instant::now())
}

/// The spans of one trace of key `k` (service `svc`, root named `op-k`).
fn key_spans(interest: &Interest, k: usize) -> Vec<Span> {
    let req = fixtures::request("svc", [span(1, 1).name(&format!("op-{k}"))]);
    fixtures::ingested(&req, interest)
}

#[derive(Debug, Default, Clone)]
struct Tally {
    seen: u64,
    kept: u64,
    /// Sum of the adjusted counts of kept traces.
    adjusted: f64,
}

/// Replays a stream from `from` to `to` seconds: arrivals at the total rate, evenly spaced,
/// each of a key drawn at random by its rate. Returns one tally per key.
#[allow(clippy::too_many_arguments)]
fn replay(
    s: &AdaptiveSampler,
    keys: &[Vec<Span>],
    rates: &[f64],
    base: Instant,
    from: f64,
    to: f64,
    rng: &mut Rng,
) -> Vec<Tally> {
    let total: f64 = rates.iter().sum();
    let cumulative: Vec<f64> = rates
        .iter()
        .scan(0.0, |acc, r| {
            *acc += r / total;
            Some(*acc)
        })
        .collect();
    let mut tallies = vec![Tally::default(); keys.len()];
    let n = ((to - from) * total).round() as u64;
    for i in 0..n {
        let t = from + i as f64 / total;
        let u = rng.unit();
        let k = cumulative
            .iter()
            .position(|c| u < *c)
            .unwrap_or(keys.len() - 1);
        let now = base + Duration::from_secs_f64(t);
        let d = s.decide(&keys[k], rng.randomness(), now, false);
        let tally = &mut tallies[k];
        tally.seen += 1;
        if d.keep {
            tally.kept += 1;
            tally.adjusted += tracestate::adjusted_count(d.threshold);
        }
    }
    tallies
}

fn sum(t: &[Tally]) -> Tally {
    t.iter().fold(Tally::default(), |a, b| Tally {
        seen: a.seen + b.seen,
        kept: a.kept + b.kept,
        adjusted: a.adjusted + b.adjusted,
    })
}

/// 10 keys, geometric rates with a 1000:1 spread, 20,000 traces/s in total.
fn spread_rates() -> Vec<f64> {
    let w: Vec<f64> = (0..10).map(|k| 1000f64.powf(k as f64 / 9.0)).collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total * 20_000.0).collect()
}

#[test]
fn meets_the_target_within_ten_percent_after_two_intervals() {
    let (s, keys) = with_keys(params(50.0, 500), 10);
    let rates = spread_rates();
    assert!((rates[9] / rates[0] - 1000.0).abs() < 1e-6);
    let mut rng = Rng::seeded(7);
    let base = Instant::now();
    let warmup = replay(&s, &keys, &rates, base, 0.0, 30.0, &mut rng);
    let measured = replay(&s, &keys, &rates, base, 30.0, 90.0, &mut rng);
    let all = sum(&measured);
    let kept_rate = all.kept as f64 / 60.0;
    eprintln!(
        "warm-up kept {}/s; after two intervals kept {kept_rate:.2}/s of {} seen/s; per key: {:?}",
        sum(&warmup).kept as f64 / 30.0,
        all.seen / 60,
        measured.iter().map(|t| t.kept).collect::<Vec<_>>()
    );
    assert!(
        (kept_rate - 50.0).abs() <= 5.0,
        "kept {kept_rate}/s, target 50/s"
    );
    // Every key (the rarest has ~10.7 traces/s) keeps some, and about its fair share.
    for (k, t) in measured.iter().enumerate() {
        assert!(t.kept > 0, "key {k} kept nothing: {t:?}");
    }
    // The rarest key is kept at a higher probability than the hottest.
    let p = |t: &Tally| t.kept as f64 / t.seen as f64;
    assert!(p(&measured[0]) > 100.0 * p(&measured[9]));
    // The first interval (cold start) is not wildly over the target either.
    assert!(sum(&warmup).kept as f64 / 30.0 < 100.0);
}

#[test]
fn every_key_with_one_trace_per_second_keeps_some() {
    let (s, keys) = with_keys(params(50.0, 500), 10);
    let rates = [
        1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 6000.0, 9556.0,
    ];
    let mut rng = Rng::seeded(11);
    let base = Instant::now();
    replay(&s, &keys, &rates, base, 0.0, 30.0, &mut rng);
    let measured = replay(&s, &keys, &rates, base, 30.0, 90.0, &mut rng);
    // Fair share: 1 and 3 fit, (50 - 4) / 8 = 5.75 for each of the others.
    for (k, t) in measured.iter().enumerate() {
        let expected = rates[k].min(5.75) * 60.0;
        assert!(t.kept > 0, "key {k} ({}/s) kept nothing", rates[k]);
        assert!(
            (t.kept as f64 - expected).abs() <= 0.35 * expected + 5.0,
            "key {k} ({}/s): kept {} expected about {expected}",
            rates[k],
            t.kept
        );
    }
    // The 1/s key is kept whole.
    assert_eq!(measured[0].kept, measured[0].seen);
    let kept_rate = sum(&measured).kept as f64 / 60.0;
    assert!((kept_rate - 50.0).abs() <= 5.0, "kept {kept_rate}/s");
}

#[test]
fn adjusted_counts_sum_to_the_traces_seen() {
    let (s, keys) = with_keys(params(500.0, 500), 10);
    let rates = spread_rates();
    let mut rng = Rng::seeded(23);
    let all = sum(&replay(
        &s,
        &keys,
        &rates,
        Instant::now(),
        0.0,
        120.0,
        &mut rng,
    ));
    let ratio = all.adjusted / all.seen as f64;
    eprintln!(
        "{} seen, {} kept, adjusted counts sum to {:.0} ({ratio:.4} of seen)",
        all.seen, all.kept, all.adjusted
    );
    assert!((ratio - 1.0).abs() <= 0.05, "ratio {ratio}");
}

#[test]
fn a_burst_is_followed_within_one_interval() {
    let (s, keys, mut rng, base) = setup(params(50.0, 500), 4, 5);
    let calm = [100.0, 200.0, 300.0, 400.0];
    replay(&s, &keys, &calm, base, 0.0, 45.0, &mut rng);
    // The busiest key jumps 20x at t=45 (an adjustment was due at 46.5 with mostly calm counts).
    let burst = [100.0, 200.0, 300.0, 8000.0];
    let during = sum(&replay(&s, &keys, &burst, base, 45.0, 60.0, &mut rng));
    let after = sum(&replay(&s, &keys, &burst, base, 60.0, 90.0, &mut rng));
    let during_rate = during.kept as f64 / 15.0;
    let after_rate = after.kept as f64 / 30.0;
    eprintln!("burst interval kept {during_rate:.1}/s, the next ones {after_rate:.1}/s");
    // Without following the burst, the first interval would keep ~86/s and the next ~250/s.
    assert!(
        during_rate < 50.0 * 1.7,
        "burst interval kept {during_rate}/s"
    );
    assert!(
        (after_rate - 50.0).abs() <= 5.0,
        "after the burst kept {after_rate}/s"
    );
}

#[test]
fn a_new_key_starts_at_a_sane_probability() {
    let (s, keys, mut rng, base) = setup(params(50.0, 500), 3, 9);
    replay(&s, &keys[..2], &[500.0, 500.0], base, 0.0, 45.0, &mut rng);
    // A third key appears at 500/s mid-interval (t=52.5).
    let t = replay(
        &s,
        &keys,
        &[500.0, 500.0, 500.0],
        base,
        52.5,
        60.0,
        &mut rng,
    );
    // Its share is 25/s; in 7.5 s it keeps about 190 plus a little for the first second.
    assert!(t[2].kept > 50, "new key starved: {:?}", t[2]);
    assert!(t[2].kept < 400, "new key kept too much: {:?}", t[2]);
}

#[test]
fn idle_keys_age_out_and_extra_keys_share_a_bucket() {
    let (s, keys, mut rng, base) = setup(params(20.0, 3), 6, 3);
    let rates = [100.0; 6];
    let t = sum(&replay(&s, &keys, &rates, base, 0.0, 60.0, &mut rng));
    let snap = s.snapshot();
    assert_eq!(snap.len(), 4, "three keys and the shared bucket: {snap:?}");
    assert!(snap.iter().any(|(k, _, _)| k == OTHER_KEY));
    let measured = sum(&replay(&s, &keys, &rates, base, 60.0, 120.0, &mut rng));
    let kept_rate = measured.kept as f64 / 60.0;
    assert!(
        (kept_rate - 20.0).abs() <= 2.0,
        "kept {kept_rate}/s ({t:?})"
    );
    // Only key 0 goes on; the others age out after a few intervals.
    replay(&s, &keys[..1], &[100.0], base, 120.0, 300.0, &mut rng);
    let snap = s.snapshot();
    let labels: Vec<&str> = snap.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(labels.contains(&"svc | op-0"), "{labels:?}");
    assert!(
        labels.len() <= 2,
        "idle keys should have aged out: {labels:?}"
    );
}

#[test]
fn decisions_are_consistent_on_the_randomness() {
    let (s, keys, mut rng, base) = setup(params(10.0, 500), 2, 1);
    replay(&s, &keys, &[1000.0, 10.0], base, 0.0, 40.0, &mut rng);
    let now = base + Duration::from_secs(41);
    let d = s.decide(&keys[0], 0, now, true);
    assert_eq!(d.key.as_deref(), Some("svc | op-0"));
    assert!(d.threshold > 0);
    assert!(s.decide(&keys[0], d.threshold, now, false).keep);
    assert!(!s.decide(&keys[0], d.threshold - 1, now, false).keep);
}

#[test]
fn when_traffic_stops_the_ticker_still_ends_intervals() {
    let (s, keys, mut rng, base) = setup(params(20.0, 10), 3, 5);
    replay(&s, &keys, &[50.0; 3], base, 0.0, 60.0, &mut rng);
    assert_eq!(s.snapshot().len(), 3);
    // No trace for five intervals: without ticks the state would stay as it was.
    for i in 1..=5 {
        s.tick(base + Duration::from_secs(60 + 15 * i));
    }
    assert!(
        s.snapshot().is_empty(),
        "idle keys aged out: {:?}",
        s.snapshot()
    );
    // Ticking before an interval is over changes nothing.
    let (s, _) = sampler(params(20.0, 10));
    replay(&s, &keys, &[50.0; 3], base, 0.0, 14.0, &mut rng);
    let before = s.snapshot();
    s.tick(base + Duration::from_secs(14));
    assert_eq!(s.snapshot().len(), before.len());
}

/// 20 keys at 1 trace/s share 0.4 traces/s: about 1.2 kept per key per minute, so without a
/// floor some minutes keep nothing of a key. `min_per_key: 1 per 1m` keeps every key every
/// minute, and the total stays at the target.
#[test]
fn min_per_key_keeps_every_key_every_interval_within_the_target() {
    let run = |floor: Option<MinPerKey>| {
        let mut p = params(0.4, 100);
        p.min_per_key = floor;
        let (s, keys) = with_keys(p, 20);
        let base = Instant::now();
        let mut rng = Rng::seeded(7);
        let minutes = 30;
        // kept[minute][key]
        let mut kept = vec![vec![0u32; 20]; minutes];
        let mut total = 0u64;
        for tick in 0..(minutes * 60 * 20) {
            let key = tick % 20;
            let at = base + Duration::from_micros(tick as u64 * 50_000 + key as u64);
            let d = s.decide(&keys[key], rng.randomness(), at, false);
            if d.keep {
                kept[tick / (60 * 20)][key] += 1;
                total += 1;
            }
        }
        let secs = (minutes * 60) as f64;
        // Minutes after the first few (the rates are being learnt) with a key kept 0 times.
        let empty = kept[5..].iter().flatten().filter(|n| **n == 0).count();
        (empty, total as f64 / secs, s.floor_kept())
    };
    let (empty, rate, _) = run(None);
    assert!(
        empty > 20,
        "without a floor some key-minutes keep nothing: {empty}"
    );
    assert!((rate - 0.4).abs() < 0.1, "{rate}");
    let floor = MinPerKey {
        traces: 1,
        every: Duration::from_secs(60),
    };
    let (empty, rate, forced) = run(Some(floor));
    assert_eq!(empty, 0, "every key is kept every minute");
    assert!(forced > 0);
    assert!(
        (rate - 0.4).abs() < 0.1,
        "the floor counts against the target: {rate}"
    );
}

/// Four threads deciding at once over 64 keys, with `max_keys: 16` and clocks that disagree
/// (each thread's times run on their own): no decision panics or blocks, the map never holds
/// more keys than allowed, and the rule still keeps about its target.
#[test]
fn concurrent_deciders_share_the_keys_and_count_every_trace() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let (s, keys) = with_keys(params(20.0, 16), 64);
    let base = Instant::now();
    let kept = AtomicU64::new(0);
    const PER_THREAD: u64 = 60_000;
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (s, keys, kept) = (&s, &keys, &kept);
            scope.spawn(move || {
                let mut rng = Rng::seeded(t + 1);
                // 60 s at 1000 traces/s per thread: four intervals.
                for i in 0..PER_THREAD {
                    let at = base + Duration::from_micros(i * 1000 + t * 7);
                    let k = (rng.next() % 64) as usize;
                    if s.decide(&keys[k], rng.randomness(), at, false).keep {
                        kept.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert!(s.keys.len() <= 16, "{} keys", s.keys.len());
    assert_eq!(s.key_count.load(Relaxed), s.keys.len());
    let snap = s.snapshot();
    assert!(
        snap.iter().any(|(k, ..)| k == OTHER_KEY),
        "the keys beyond 16 share `_other`: {snap:?}"
    );
    // 4000 traces/s offered for 60 s against a target of 20/s: about 1200 kept, more while the
    // first interval learns the rates. How the threads interleave moves interval boundaries
    // (each thread's clock is its own), so on a loaded machine fewer are kept (590 was seen),
    // or more when one thread runs far ahead and the others' earlier times land in intervals
    // still learning (8,705 was seen, 3.6%): the bounds catch a rule that keeps almost nothing
    // or ignores its target (which keeps a large share of the 240,000), not the scheduling.
    let kept = kept.into_inner();
    assert!(
        (300..=24_000).contains(&kept),
        "kept {kept} of {}",
        4 * PER_THREAD
    );
}
