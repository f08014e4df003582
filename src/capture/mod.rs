//! Capture on demand: temporary rules, added and removed at run time over the telemetry
//! endpoint's API (or `tailsift capture`), that keep every matching trace ahead of the
//! configured rules until they expire. What is active lives here; where captures are kept
//! across restarts and how they reach other instances is a [`CaptureStore`]'s business.

pub mod api;
pub mod cli;
pub mod file_store;
mod matcher;
mod store;

pub use file_store::FileStore;
pub use matcher::{CaptureMatch, Compiled};
pub use store::{CaptureStore, MemoryStore};

use crate::config::CaptureSettings;
use crate::otlp::Span;
use crate::telemetry::names;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// A capture as added, listed and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    pub id: String,
    #[serde(rename = "match")]
    pub matcher: CaptureMatch,
    /// `full` or a fidelity profile's name.
    pub fidelity: String,
    /// When it was added and when it expires, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    pub expires_unix_ms: u64,
}

/// The captures one instance shares with its group: the active ones, and the ids (with their
/// expiry, Unix ms) of those removed before they expired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    pub captures: Vec<Capture>,
    pub removed: Vec<(String, u64)>,
}

/// A capture that is active: compiled, with its deadline and hits.
struct Active {
    capture: Capture,
    compiled: Compiled,
    expires: Instant,
    /// Index of its fidelity among the capture slots (0: full; `i + 1`: profile `i`).
    slot: u16,
    hits: AtomicU64,
}

/// What a listing shows of one capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    #[serde(flatten)]
    pub capture: Capture,
    /// Traces it kept so far (on this instance).
    pub hits: u64,
    /// Seconds until it expires.
    pub expires_in_secs: u64,
}

/// Why a capture was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CaptureError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} captures are active, the most `sampling.capture.max_captures` allows: remove one first")]
    Full(usize),
}

/// The active captures of one daemon.
pub struct Captures {
    settings: CaptureSettings,
    /// Capture slot names after `full`: the fidelity profiles, in config order.
    profiles: Vec<String>,
    store: Arc<dyn CaptureStore>,
    active: RwLock<Vec<Arc<Active>>>,
    /// Fast path for the common case: no capture active.
    any: AtomicBool,
    /// Span and resource interest indices of `settings.attributes`, in that order.
    keys: Vec<(u16, u16)>,
    /// Captures removed before their expiry (id -> expiry, Unix ms), so that a peer that has
    /// not heard of the removal yet cannot bring them back ([`Captures::merge_shared`]).
    removed: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Captures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captures")
            .field("active", &self.len())
            .finish_non_exhaustive()
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Captures {
    /// An empty set for `settings`; `keys` are the interest indices of its attributes and
    /// `profiles` the fidelity profiles a capture may name. Captures the store kept (from a
    /// previous run, or other instances) and that have not expired are activated.
    pub fn new(
        settings: CaptureSettings,
        keys: Vec<(u16, u16)>,
        profiles: Vec<String>,
        store: Arc<dyn CaptureStore>,
    ) -> Self {
        let c = Captures {
            settings,
            profiles,
            store,
            active: RwLock::new(Vec::new()),
            any: AtomicBool::new(false),
            keys,
            removed: Mutex::default(),
        };
        let now_ms = unix_ms();
        for saved in c.store.load() {
            if saved.expires_unix_ms > now_ms {
                let ttl = Duration::from_millis(saved.expires_unix_ms - now_ms);
                let _ = c.activate(saved, ttl);
            }
        }
        c
    }

    /// The capture slots' names: `_capture` (full fidelity), then `_capture:<profile>`.
    pub fn slot_names(profiles: &[String]) -> Vec<String> {
        std::iter::once("_capture".to_string())
            .chain(profiles.iter().map(|p| format!("_capture:{p}")))
            .collect()
    }

    /// The store, to hand to a rule set rebuilt on reload.
    pub fn store(&self) -> Arc<dyn CaptureStore> {
        self.store.clone()
    }

    pub fn settings(&self) -> &CaptureSettings {
        &self.settings
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Active>>> {
        self.active.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Active>>> {
        self.active.write().unwrap_or_else(|p| p.into_inner())
    }

    fn slot_of(&self, fidelity: &str) -> Result<u16, CaptureError> {
        if fidelity == "full" {
            return Ok(0);
        }
        match self.profiles.iter().position(|p| p == fidelity) {
            Some(i) => Ok(i as u16 + 1),
            None => Err(CaptureError::Invalid(format!(
                "unknown fidelity `{fidelity}`: use `full` or a profile under `fidelity:` ({})",
                self.profiles.join(", ")
            ))),
        }
    }

    fn activate(&self, capture: Capture, ttl: Duration) -> Result<(), CaptureError> {
        let compiled = capture
            .matcher
            .compile(&self.settings.attributes, &self.keys)
            .map_err(CaptureError::Invalid)?;
        let slot = self.slot_of(&capture.fidelity)?;
        let mut active = self.write();
        if active.len() >= self.settings.max_captures {
            return Err(CaptureError::Full(active.len()));
        }
        active.push(Arc::new(Active {
            capture,
            compiled,
            expires: Instant::now() + ttl,
            slot,
            hits: AtomicU64::new(0),
        }));
        self.any.store(true, Ordering::Release);
        metrics::gauge!(names::CAPTURES).set(active.len() as f64);
        Ok(())
    }

    /// Adds a capture for `ttl` (at most `max_ttl`); returns it with its new id.
    pub fn add(
        &self,
        matcher: CaptureMatch,
        ttl: Duration,
        fidelity: &str,
    ) -> Result<Capture, CaptureError> {
        let max = self.settings.max_ttl.get();
        if ttl.is_zero() || ttl > max {
            return Err(CaptureError::Invalid(format!(
                "ttl must be above 0 and at most {} (sampling.capture.max_ttl)",
                crate::config::units::format_duration(max)
            )));
        }
        let now = unix_ms();
        let capture = Capture {
            id: format!("c-{:012x}", rand::random::<u64>() >> 16),
            matcher,
            fidelity: fidelity.to_string(),
            created_unix_ms: now,
            expires_unix_ms: now + ttl.as_millis() as u64,
        };
        self.activate(capture.clone(), ttl)?;
        self.store.saved(&capture);
        metrics::counter!(names::CAPTURE_EVENTS, "event" => "added").increment(1);
        tracing::info!(id = %capture.id, ttl = %crate::config::units::format_duration(ttl), "capture added");
        Ok(capture)
    }

    /// Removes a capture by id; false when there is none.
    pub fn remove(&self, id: &str) -> bool {
        let removed = self.take(|a| a.capture.id == id);
        for a in &removed {
            self.tombstones()
                .insert(a.capture.id.clone(), a.capture.expires_unix_ms);
            self.store.removed(&a.capture.id);
            metrics::counter!(names::CAPTURE_EVENTS, "event" => "removed").increment(1);
        }
        !removed.is_empty()
    }

    /// Removes the captures whose time is up.
    pub fn expire(&self, now: Instant) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        for a in self.take(|a| a.expires <= now) {
            self.store.removed(&a.capture.id);
            metrics::counter!(names::CAPTURE_EVENTS, "event" => "expired").increment(1);
            tracing::info!(id = %a.capture.id, hits = a.hits.load(Ordering::Relaxed), "capture expired");
        }
    }

    fn tombstones(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.removed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What this instance shares with its group (`crate::cluster`): the active captures, and
    /// those removed before their expiry.
    pub fn shared_state(&self) -> Shared {
        let now = unix_ms();
        let mut tombstones = self.tombstones();
        tombstones.retain(|_, expires| *expires > now);
        Shared {
            captures: self.read().iter().map(|a| a.capture.clone()).collect(),
            removed: tombstones
                .iter()
                .map(|(id, expires)| (id.clone(), *expires))
                .collect(),
        }
    }

    /// Applies a peer's [`Shared`] state: its removals remove here, and its captures that are
    /// neither active, removed nor expired here become active (and are kept in the store).
    /// Returns how many captures were added.
    pub fn merge_shared(&self, peer: Shared) -> usize {
        for (id, expires) in peer.removed {
            self.tombstones().entry(id.clone()).or_insert(expires);
            if !self.take(|a| a.capture.id == id).is_empty() {
                self.store.removed(&id);
                metrics::counter!(names::CAPTURE_EVENTS, "event" => "removed").increment(1);
                tracing::info!(%id, "capture removed by a peer");
            }
        }
        let now = unix_ms();
        let mut added = 0;
        for c in peer.captures {
            let known = self.read().iter().any(|a| a.capture.id == c.id)
                || self.tombstones().contains_key(&c.id);
            if known || c.expires_unix_ms <= now {
                continue;
            }
            let ttl = Duration::from_millis(c.expires_unix_ms - now);
            match self.activate(c.clone(), ttl) {
                Ok(()) => {
                    self.store.saved(&c);
                    metrics::counter!(names::CAPTURE_EVENTS, "event" => "shared").increment(1);
                    tracing::info!(id = %c.id, "capture added by a peer");
                    added += 1;
                }
                Err(e) => {
                    crate::warn_limited!(id = %c.id, error = %e, "a peer's capture cannot be activated here (configs differ across the group?)");
                }
            }
        }
        added
    }

    /// Takes over the removals `old` knows of (a config reload rebuilds the set).
    pub fn adopt_removals(&self, old: &Captures) {
        let old = old.tombstones().clone();
        self.tombstones().extend(old);
    }

    fn take(&self, pick: impl Fn(&Active) -> bool) -> Vec<Arc<Active>> {
        let mut active = self.write();
        let (gone, kept): (Vec<_>, Vec<_>) = active.drain(..).partition(|a| pick(a));
        *active = kept;
        self.any.store(!active.is_empty(), Ordering::Release);
        metrics::gauge!(names::CAPTURES).set(active.len() as f64);
        gone
    }

    /// The active captures with their hits, oldest first.
    pub fn list(&self, now: Instant) -> Vec<Listed> {
        self.read()
            .iter()
            .map(|a| Listed {
                capture: a.capture.clone(),
                hits: a.hits.load(Ordering::Relaxed),
                expires_in_secs: a.expires.saturating_duration_since(now).as_secs(),
            })
            .collect()
    }

    /// The slot of the first unexpired capture matching the trace (its hit counted), if any.
    #[inline]
    pub fn matching(&self, spans: &[Span], now: Instant) -> Option<(u16, String)> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let active = self.read();
        let a = active
            .iter()
            .find(|a| a.expires > now && a.compiled.matches(spans))?;
        a.hits.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::CAPTURE_HITS).increment(1);
        Some((a.slot, a.capture.id.clone()))
    }
}

#[cfg(test)]
mod tests;
