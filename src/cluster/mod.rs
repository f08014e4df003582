//! Decision sharing between instances of one group over a NATS bus, so that every instance
//! holding part of a trace applies the verdict one instance holding all of it would reach
//! (Hindsight's idea: move the decision, not the spans).
//!
//! Each instance decides its part as before ([`Decider`]) and publishes the verdicts peers need
//! ([`Standing::share`](crate::decide::Standing)). A verdict a peer could still override waits
//! `cluster.grace` (counted from when the trace was due at the latest) in [`State`]; the best
//! verdict heard by then is applied: same rule annotation, same threshold, same fidelity. A
//! peer's verdict on a trace this instance still buffers makes it decide its part at once. One
//! that arrives after the release and would have changed it counts as a split and becomes the
//! verdict late spans follow.
//!
//! The bus ([`bus`]) is optional at run time: while it is down the instance decides alone.

pub mod bus;
pub mod members;
pub mod sketch;
pub mod state;
pub mod wire;

use crate::buffer::{Buffer, Output, Reason};
use crate::config::ClusterConfig;
use crate::decide::{Decider, Verdict, DEFAULT_RULE};
use crate::sampler::group::GroupShare;
use crate::telemetry::names;
use arc_swap::ArcSwap;
use members::Members;
use metrics::{counter, gauge};
use state::{Effect, State};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;
use wire::{Heard, Outgoing};

/// Most decisions waiting to be published; past it the oldest are not published (counted).
const MAX_OUTBOX: usize = 1 << 16;

/// The decider in use, with the names peers' decisions are exchanged by.
struct Loaded {
    decider: Arc<dyn Decider>,
    /// Stamped on verdicts built from peers' decisions (see [`Verdict::generation`]).
    generation: u16,
    names: Vec<Arc<str>>,
    by_name: HashMap<Arc<str>, Option<u16>>,
}

impl Loaded {
    fn new(decider: Arc<dyn Decider>, generation: u16) -> Loaded {
        let names = decider.rule_names();
        let mut by_name: HashMap<Arc<str>, Option<u16>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), Some(i as u16)))
            .collect();
        by_name.insert(DEFAULT_RULE.into(), None);
        Loaded {
            decider,
            generation,
            names,
            by_name,
        }
    }
}

pub struct Cluster {
    pub instance: String,
    pub cfg: ClusterConfig,
    /// The rules loaded now (a config reload replaces them: [`Cluster::set_decider`]).
    current: ArcSwap<Loaded>,
    decision_wait: Duration,
    state: Mutex<State>,
    outbox: Mutex<Vec<Outgoing>>,
    up: AtomicBool,
    members: Members,
    /// Sketches of the traces decided here, per heartbeat window (group budgets).
    traffic: Mutex<sketch::Windows>,
}

impl Cluster {
    /// The cluster side of one instance; the bus is started separately ([`bus::run`]).
    pub fn new(
        cfg: &ClusterConfig,
        sampling: &crate::config::Sampling,
        decider: Arc<dyn Decider>,
        group: GroupShare,
    ) -> Self {
        let remember =
            (sampling.decision_cache.kept + sampling.decision_cache.dropped).max(1 << 16);
        let instance = format!("{:016x}", rand::random::<u64>());
        gauge!(names::CLUSTER_BUS_UP).set(0.0);
        gauge!(names::CLUSTER_MEMBERS).set(1.0);
        Cluster {
            instance,
            cfg: cfg.clone(),
            current: ArcSwap::from_pointee(Loaded::new(decider, 0)),
            decision_wait: sampling.decision_wait.get(),
            state: Mutex::new(State::new(remember)),
            outbox: Mutex::new(Vec::new()),
            up: AtomicBool::new(false),
            members: Members::new(group),
            traffic: Mutex::new(sketch::Windows::new(
                ((sampling.decision_wait.get() + cfg.grace.get()).as_millis()
                    / cfg.heartbeat.get().as_millis().max(1)) as u64
                    + 1,
            )),
        }
    }

    /// Decides with `decider` from now on (the pipeline's versioned decider, at start and
    /// after each config reload); verdicts from peers are stamped with `generation`.
    pub fn set_decider(&self, decider: Arc<dyn Decider>, generation: u16) {
        self.current
            .store(Arc::new(Loaded::new(decider, generation)));
    }

    /// The captures on demand of the rules loaded now, shared with the group.
    pub fn captures(&self) -> Option<Arc<crate::capture::Captures>> {
        self.current.load().decider.captures()
    }

    /// The group's share of budgets, for rule sets loaded by a reload to join.
    pub fn group(&self) -> &GroupShare {
        self.members.group()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the bus is connected (else this instance decides alone).
    pub fn bus_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn set_bus_up(&self, up: bool) {
        if self.up.swap(up, Ordering::AcqRel) != up {
            gauge!(names::CLUSTER_BUS_UP).set(if up { 1.0 } else { 0.0 });
            if up {
                tracing::info!(group = %self.cfg.group, "cluster bus connected: sharing decisions with the group");
            } else {
                tracing::warn!(group = %self.cfg.group, "cluster bus down: deciding alone until it is back");
            }
        }
    }

    /// What `/readyz` adds: the bus is down (the data path still works).
    pub fn readiness_detail(&self) -> Option<String> {
        (!self.bus_up())
            .then(|| format!("cluster bus {} unreachable: deciding alone", self.cfg.nats))
    }

    pub fn members(&self) -> &Members {
        &self.members
    }

    /// Traces decided here and waiting for peers.
    pub fn held(&self) -> usize {
        self.state().held()
    }

    /// Settles what the buffer just decided (in `out.decided`) with the group: decides the
    /// parts of traces peers decided, publishes what peers need, holds what a peer could still
    /// override and releases (back into `out.decided`) what is final or waited long enough.
    pub fn settle(&self, out: &mut Output, buffer: &Buffer, now: Instant) {
        let loaded = self.current.load();
        let d = &*loaded.decider;
        let ids = std::mem::take(&mut self.state().decide_now);
        if !ids.is_empty() {
            buffer.decide_now(&ids, now, d, out);
        }
        let alone = !self.bus_up();
        let decided = std::mem::take(&mut out.decided);
        if !decided.is_empty() {
            let (w, wall) = (self.window(), std::time::SystemTime::now());
            let mut traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner());
            for d in &decided {
                let first = wall - now.saturating_duration_since(d.trace.first);
                traffic.add(self.window_of(first), w, &d.trace_id);
            }
        }
        let mut publish = Vec::new();
        let overrides = {
            let mut st = self.state();
            for dec in decided {
                if !alone && d.standing(dec.verdict).share {
                    publish.push(self.outgoing(&loaded, dec.trace_id, dec.verdict));
                }
                let until = self.hold_until(&dec, now);
                st.decided(d, dec, alone, until, &mut out.decided);
            }
            if alone {
                st.release_all(&mut out.decided);
            } else {
                st.release(now, &mut out.decided);
            }
            gauge!(names::CLUSTER_HELD_TRACES).set(st.held() as f64);
            std::mem::take(&mut st.overrides)
        };
        if !overrides.is_empty() {
            counter!(names::CLUSTER_OVERRIDDEN_TRACES).increment(overrides.len() as u64);
            for (id, v) in overrides {
                buffer.remember(id, v);
            }
        }
        if !publish.is_empty() {
            let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            outbox.extend(publish);
            if outbox.len() > MAX_OUTBOX {
                let n = outbox.len() - MAX_OUTBOX;
                outbox.drain(..n);
                counter!(names::CLUSTER_UNPUBLISHED_DECISIONS).increment(n as u64);
            }
        }
    }

    /// When a trace decided now stops waiting for peers: `grace` after it was due at the
    /// latest (a root span makes it due early here, while peers without the root wait the
    /// whole `decision_wait`).
    fn hold_until(&self, d: &crate::buffer::Decided, now: Instant) -> Instant {
        let latest = match d.reason {
            Reason::Due | Reason::Shutdown => (d.trace.first + self.decision_wait).max(now),
            _ => now,
        };
        latest + self.cfg.grace.get()
    }

    fn outgoing(&self, loaded: &Loaded, trace_id: crate::otlp::TraceId, v: Verdict) -> Outgoing {
        let rule = v
            .rule
            .and_then(|i| loaded.names.get(usize::from(i)).cloned())
            .unwrap_or_else(|| DEFAULT_RULE.into());
        Outgoing {
            trace_id,
            rule,
            keep: v.keep,
            threshold: v.threshold,
            fidelity: loaded.decider.fidelity_of(v).map(|p| p.name.clone()),
        }
    }

    /// The heartbeat window now: wall-clock milliseconds over the period, so that every
    /// member's window `w` covers the same time.
    pub fn window(&self) -> u64 {
        self.window_of(std::time::SystemTime::now())
    }

    fn window_of(&self, t: std::time::SystemTime) -> u64 {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        ms / (self.cfg.heartbeat.get().as_millis() as u64).max(1)
    }

    /// The sketch of the last complete window of traffic decided here (for the heartbeat),
    /// and the one before it (which every live peer has reported by now: for the share).
    /// Traces count in the window they were first seen in, which is nearly the same moment
    /// on every instance a trace's spans reach.
    pub fn completed_windows(&self) -> (Option<sketch::Window>, Option<sketch::Window>) {
        let w = self.window();
        let mut traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner());
        let last = traffic.completed(w);
        let before = last
            .as_ref()
            .and_then(|(w, _)| w.checked_sub(1))
            .map(|b| (b, traffic.get(b)));
        (last, before)
    }

    /// Decisions waiting to be published, oldest first.
    pub(crate) fn take_outbox(&self) -> Vec<Outgoing> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Peers' decisions from one batch.
    pub fn heard(&self, decisions: Vec<Heard>) {
        let loaded = self.current.load();
        let d = &*loaded.decider;
        let (mut splits, mut unknown) = (0u64, 0u64);
        let mut st = self.state();
        for h in decisions {
            let Some(&rule) = loaded.by_name.get(h.rule.as_str()) else {
                unknown += 1;
                continue;
            };
            let v = Verdict {
                rule,
                keep: h.keep,
                threshold: if h.keep { h.threshold } else { 0 },
                generation: loaded.generation,
            };
            if st.peer(d, h.trace_id, v) == Effect::Split {
                splits += 1;
            }
        }
        drop(st);
        if splits > 0 {
            counter!(names::CLUSTER_SPLIT_TRACES).increment(splits);
        }
        if unknown > 0 {
            crate::warn_limited!(unknown, "peers decided by rules this instance does not have (configs differ across the group); those decisions are ignored");
            counter!(names::CLUSTER_UNKNOWN_RULE_DECISIONS).increment(unknown);
        }
    }

    /// Releases every held trace into `out` (shutdown after peers had their chance).
    pub fn release_all(&self, out: &mut Output) {
        self.state().release_all(&mut out.decided);
        gauge!(names::CLUSTER_HELD_TRACES).set(0.0);
    }

    /// The longest a trace decided now may wait for peers: what shutdown waits at most.
    pub fn longest_wait(&self) -> Duration {
        self.decision_wait + self.cfg.grace.get()
    }
}

#[cfg(test)]
mod tests;
