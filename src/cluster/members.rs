//! Live membership of the group, learnt from heartbeats, and this instance's share of the
//! group's budgets. A member not heard for three of its own periods has left; one that says
//! it is leaving leaves at once. Each heartbeat carries the member's traffic sketch of the
//! last window ([`Sketch`]); the share is this instance's count over the union's.

use super::sketch::Sketch;
use crate::sampler::group::GroupShare;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Periods without a heartbeat after which a member counts as gone.
const MISSED: u32 = 3;
/// Fewer distinct traces than this in a window say too little: the share stays as it was.
const MIN_TRACES: f64 = 20.0;
/// Weight of a new window's share in the moving share.
const SMOOTHING: f64 = 0.5;

#[derive(Debug)]
struct Peer {
    at: Instant,
    period: Duration,
    /// Its last few windows' sketches, oldest first.
    sketches: VecDeque<(u64, Sketch)>,
}

#[derive(Debug)]
pub struct Members {
    peers: Mutex<HashMap<String, Peer>>,
    share: GroupShare,
}

impl Members {
    pub fn new(share: GroupShare) -> Self {
        Members {
            peers: Mutex::new(HashMap::new()),
            share,
        }
    }

    /// This instance's share of the group's budgets, which its samplers read.
    pub fn group(&self) -> &GroupShare {
        &self.share
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Peer>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A peer's heartbeat, with its sketch of `window` when it sent one.
    pub fn heard(
        &self,
        instance: &str,
        period: Duration,
        leaving: bool,
        window: u64,
        sketch: Option<Sketch>,
        now: Instant,
    ) {
        let mut peers = self.lock();
        if leaving {
            peers.remove(instance);
            return;
        }
        let p = peers.entry(instance.to_string()).or_insert_with(|| Peer {
            at: now,
            period,
            sketches: VecDeque::new(),
        });
        p.at = now;
        p.period = period;
        if let Some(s) = sketch {
            if p.sketches.back().is_none_or(|(w, _)| *w < window) {
                p.sketches.push_back((window, s));
                if p.sketches.len() > super::sketch::HISTORY {
                    p.sketches.pop_front();
                }
            }
        }
    }

    /// Forgets members gone silent and updates the share from this instance's sketch of
    /// `window` (a window every live member has reported: else the share stays); returns the
    /// live count (this instance included). While the bus is down nobody calls it, so the
    /// last share holds: peers are likely still running.
    pub fn refresh(&self, window: u64, own: Option<&Sketch>, now: Instant) -> u32 {
        let mut peers = self.lock();
        peers.retain(|_, p| now.saturating_duration_since(p.at) <= p.period * MISSED);
        let live = 1 + peers.len() as u32;
        let Some(own) = own else { return live };
        let mut union = own.clone();
        for p in peers.values() {
            match p.sketches.iter().find(|(w, _)| *w == window) {
                Some((_, s)) => union.merge(s),
                None => return live,
            }
        }
        let total = union.count();
        if total >= MIN_TRACES {
            let fraction = (own.count() / total).min(1.0);
            let old = self.share.fraction();
            self.share.set(old + SMOOTHING * (fraction - old));
        }
        live
    }

    pub fn share(&self) -> &GroupShare {
        &self.share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(ids: std::ops::Range<u64>) -> Sketch {
        let mut s = Sketch::default();
        for i in ids {
            let mut id = [0u8; 16];
            id[8..].copy_from_slice(&i.to_be_bytes());
            s.add(&id);
        }
        s
    }

    #[tokio::test(start_paused = true)]
    async fn members_join_leave_and_go_silent() {
        let m = Members::new(GroupShare::default());
        let s = Duration::from_secs(1);
        let t0 = Instant::now();
        m.heard("a", s, false, 7, None, t0);
        m.heard("b", s, false, 7, None, t0);
        assert_eq!(m.refresh(7, None, t0), 3);
        m.heard("a", s, true, 7, None, t0);
        assert_eq!(m.refresh(7, None, t0), 2, "a said it is leaving");
        assert_eq!(m.refresh(7, None, t0 + Duration::from_millis(2900)), 2);
        assert_eq!(
            m.refresh(7, None, t0 + Duration::from_millis(3100)),
            1,
            "b went silent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_share_is_the_traffic_seen_over_the_groups() {
        let m = Members::new(GroupShare::default());
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        // Disjoint traffic (a trace-aware balancer): a third each.
        m.heard("a", s, false, 7, Some(sketch(1000..2000)), t0);
        m.heard("b", s, false, 7, Some(sketch(2000..3000)), t0);
        for _ in 0..8 {
            m.refresh(7, Some(&sketch(0..1000)), t0);
        }
        let f = m.share().fraction();
        assert!((f - 1.0 / 3.0).abs() < 0.06, "{f}");
        // A member that has not reported the window yet: the share stays.
        m.heard("c", s, false, 6, Some(sketch(5000..9000)), t0);
        m.refresh(7, Some(&sketch(0..10)), t0);
        assert_eq!(m.share().fraction(), f);
        m.heard("c", s, true, 0, None, t0);
        // Every trace seen by everyone (spans spread at random): the whole budget each.
        m.heard("a", s, false, 8, Some(sketch(0..1000)), t0);
        m.heard("b", s, false, 8, Some(sketch(0..1000)), t0);
        for _ in 0..8 {
            m.refresh(8, Some(&sketch(0..1000)), t0);
        }
        assert!(m.share().fraction() > 0.95, "{}", m.share().fraction());
    }
}
