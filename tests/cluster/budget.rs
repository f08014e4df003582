//! Group budgets: an `adaptive` target is for the whole group. Three instances meet it
//! together within 25%, whether each trace's spans are spread over them at random or each
//! trace goes whole to one of them.

use crate::support::Sink;
use crate::traffic::Ledger;
use crate::whole::{settled, Group};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TARGET: f64 = 30.0;

const ADAPTIVE: &str = "
    - { name: sample, adaptive: { target_traces_per_sec: 30, key: [service], adjust_every: 1s } }
";

/// Sends 10 traces every 50 ms (about 200/s) for `for_`; returns the seconds it took.
async fn load(ledger: &mut Ledger, targets: &[SocketAddr], spread: bool, for_: Duration) -> f64 {
    let start = Instant::now();
    while start.elapsed() < for_ {
        ledger.send_spread(targets, 10, spread).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed().as_secs_f64()
}

async fn kept_rate(spread: bool, group: &str) -> f64 {
    let g = Group::start(3, group, ADAPTIVE).await;
    let (sink, targets) = (&g.sink, g.targets());
    // Warm-up: the samplers learn the rate and the members their shares.
    load(
        &mut Ledger::default(),
        &targets,
        spread,
        Duration::from_secs(4),
    )
    .await;
    let mut measured = Ledger::default();
    let secs = load(&mut measured, &targets, spread, Duration::from_secs(4)).await;
    settled(sink).await;
    let kept: BTreeSet<u128> = sink
        .spans()
        .iter()
        .map(crate::support::trace_of)
        .filter(|id| measured.0.contains_key(id))
        .collect();
    kept.len() as f64 / secs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_meet_the_groups_adaptive_target_within_a_quarter() {
    let spread = kept_rate(true, "budget-spread").await;
    assert!(
        (spread - TARGET).abs() <= TARGET * 0.25,
        "spans spread at random: {spread:.1} traces/s kept for a group target of {TARGET}"
    );
    let whole = kept_rate(false, "budget-whole").await;
    assert!(
        (whole - TARGET).abs() <= TARGET * 0.25,
        "traces whole to one instance: {whole:.1} traces/s kept for a group target of {TARGET}"
    );
}
