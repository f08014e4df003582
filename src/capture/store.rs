//! The seam where captures are kept beyond this process: a [`CaptureStore`] hears of every
//! capture added and removed, and gives back the ones to activate at start. The in-memory
//! store keeps nothing; persistence across restarts (the storage log) and sharing with the
//! other instances (the cluster bus) are stores that hook in here.

use super::Capture;

/// Where captures go besides this process's memory.
pub trait CaptureStore: Send + Sync {
    /// A capture was added here.
    fn saved(&self, capture: &Capture);
    /// A capture was removed or expired here.
    fn removed(&self, id: &str);
    /// Captures to activate when the daemon starts (those already expired are skipped).
    fn load(&self) -> Vec<Capture>;
}

/// Captures kept in this process's memory: they survive a rule set being rebuilt (a
/// configuration reload hands the same store to the new rule set), not a restart.
#[derive(Debug, Default)]
pub struct MemoryStore(std::sync::Mutex<Vec<Capture>>);

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Capture>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CaptureStore for MemoryStore {
    fn saved(&self, capture: &Capture) {
        self.lock().push(capture.clone());
    }
    fn removed(&self, id: &str) {
        self.lock().retain(|c| c.id != id);
    }
    fn load(&self) -> Vec<Capture> {
        self.lock().clone()
    }
}
