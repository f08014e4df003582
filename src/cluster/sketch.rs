//! How much of the group's traffic this instance sees, for group budgets: a HyperLogLog
//! sketch of the trace ids it decided in each heartbeat window (windows aligned on the wall
//! clock, so every member's window `w` covers the same time). The union of the members'
//! sketches of one window counts the group's distinct traces even when one trace's spans
//! reach several instances; this instance's share of a group budget is its own count over
//! that union. A trace-aware balancer gives each of three members a third; a random spread,
//! where most traces touch every member, gives each nearly all (they keep the same traces,
//! since probabilities are consistent on the trace's randomness).

use crate::otlp::TraceId;

/// Registers (2^9): a relative error of about 4.6% per count.
const BITS: u32 = 9;
pub const REGISTERS: usize = 1 << BITS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch(pub Vec<u8>);

impl Default for Sketch {
    fn default() -> Self {
        Sketch(vec![0; REGISTERS])
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Sketch {
    /// A peer's registers; `None` unless there are exactly [`REGISTERS`].
    pub fn from_bytes(b: &[u8]) -> Option<Sketch> {
        (b.len() == REGISTERS).then(|| Sketch(b.to_vec()))
    }

    pub fn add(&mut self, id: &TraceId) {
        let hi = u64::from_be_bytes(id[..8].try_into().expect("8 bytes"));
        let lo = u64::from_be_bytes(id[8..].try_into().expect("8 bytes"));
        let h = mix(hi ^ mix(lo));
        let i = (h >> (64 - BITS)) as usize;
        let rank = ((h << BITS) | (1 << (BITS - 1))).leading_zeros() as u8 + 1;
        if self.0[i] < rank {
            self.0[i] = rank;
        }
    }

    pub fn merge(&mut self, o: &Sketch) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a = (*a).max(*b);
        }
    }

    /// Estimated distinct trace ids added.
    pub fn count(&self) -> f64 {
        let m = REGISTERS as f64;
        let sum: f64 = self.0.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
        let raw = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
        let zeros = self.0.iter().filter(|&&r| r == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(from: u64, n: u64) -> impl Iterator<Item = TraceId> {
        (from..from + n).map(|i| {
            let mut id = [0u8; 16];
            id[8..].copy_from_slice(&i.to_be_bytes());
            id
        })
    }

    #[test]
    fn counts_distinct_ids_within_a_few_percent() {
        for n in [50u64, 1000, 20_000] {
            let mut s = Sketch::default();
            for id in ids(0, n).chain(ids(0, n)) {
                s.add(&id);
            }
            let c = s.count();
            assert!((c - n as f64).abs() < n as f64 * 0.12, "{n}: {c}");
        }
    }

    #[test]
    fn the_union_of_overlapping_members_counts_each_trace_once() {
        let (mut a, mut b) = (Sketch::default(), Sketch::default());
        ids(0, 3000).for_each(|id| a.add(&id));
        ids(1000, 3000).for_each(|id| b.add(&id));
        a.merge(&b);
        let c = a.count();
        assert!((c - 4000.0).abs() < 400.0, "{c}");
        assert!(Sketch::from_bytes(&[0; 3]).is_none());
    }
}

/// A window's index and the sketch of its traffic.
pub type Window = (u64, Sketch);

/// Completed windows each peer's history keeps.
pub const HISTORY: usize = 4;

/// Sketches of traffic by the window a trace was first seen in. A window is complete once no
/// trace first seen in it can still be decided: `lag` windows after it ended.
#[derive(Debug)]
pub struct Windows {
    by_window: std::collections::BTreeMap<u64, Sketch>,
    lag: u64,
}

impl Windows {
    /// `lag`: windows a trace may take from its first span to its decision.
    pub fn new(lag: u64) -> Self {
        Windows {
            by_window: Default::default(),
            lag,
        }
    }

    /// Notes a trace first seen during `window`, as of window `now`.
    pub fn add(&mut self, window: u64, now: u64, id: &TraceId) {
        if window + self.lag + HISTORY as u64 >= now {
            self.by_window.entry(window).or_default().add(id);
        }
    }

    /// The last complete window as of `now`, with its sketch (empty without traffic); older
    /// windows beyond the history are forgotten.
    pub fn completed(&mut self, now: u64) -> Option<(u64, Sketch)> {
        let w = now.checked_sub(self.lag + 1)?;
        let keep_from = w.saturating_sub(HISTORY as u64);
        self.by_window = self.by_window.split_off(&keep_from);
        Some((w, self.by_window.get(&w).cloned().unwrap_or_default()))
    }

    /// The sketch of window `w` (empty without traffic).
    pub fn get(&self, w: u64) -> Sketch {
        self.by_window.get(&w).cloned().unwrap_or_default()
    }
}
