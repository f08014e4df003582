//! Live membership of the group, learnt from heartbeats: a member not heard for three of its
//! own periods has left; one that says it is leaving leaves at once. The count (this instance
//! included) sizes the group's budgets ([`GroupSize`]).

use crate::sampler::group::GroupSize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Periods without a heartbeat after which a member counts as gone.
const MISSED: u32 = 3;

#[derive(Debug)]
pub struct Members {
    peers: Mutex<HashMap<String, (Instant, Duration)>>,
    size: GroupSize,
}

impl Members {
    pub fn new(size: GroupSize) -> Self {
        Members {
            peers: Mutex::new(HashMap::new()),
            size,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Duration)>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A peer's heartbeat.
    pub fn heard(&self, instance: &str, period: Duration, leaving: bool, now: Instant) {
        let mut peers = self.lock();
        if leaving {
            peers.remove(instance);
        } else {
            peers.insert(instance.to_string(), (now, period));
        }
        let n = Self::live(&mut peers, now);
        self.size.set(n);
    }

    /// Forgets members gone silent; returns the live count (this instance included). While
    /// the bus is down, callers keep the last count instead: peers are likely still running.
    pub fn refresh(&self, now: Instant) -> u32 {
        let n = Self::live(&mut self.lock(), now);
        self.size.set(n);
        n
    }

    fn live(peers: &mut HashMap<String, (Instant, Duration)>, now: Instant) -> u32 {
        peers.retain(|_, (at, period)| now.saturating_duration_since(*at) <= *period * MISSED);
        1 + peers.len() as u32
    }

    pub fn size(&self) -> &GroupSize {
        &self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn members_join_leave_and_go_silent() {
        let m = Members::new(GroupSize::default());
        let s = Duration::from_secs(1);
        let t0 = Instant::now();
        m.heard("a", s, false, t0);
        m.heard("b", s, false, t0);
        assert_eq!(m.size().members(), 3);
        m.heard("a", s, true, t0);
        assert_eq!(m.size().members(), 2, "a said it is leaving");
        assert_eq!(m.refresh(t0 + Duration::from_millis(2900)), 2);
        assert_eq!(
            m.refresh(t0 + Duration::from_millis(3100)),
            1,
            "b went silent"
        );
    }
}
