//! Open-file limits: the soft `RLIMIT_NOFILE` is raised to the hard limit at start, and the
//! receivers' default connection caps are derived from it, leaving room for exporters, files and
//! the metrics endpoint.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept out of the receivers' caps: exporters' connections, the `file` exporter,
/// the metrics endpoint, logs and the runtime's own.
pub const RESERVED_FDS: u64 = 256;
/// Largest default cap of one receiver.
const MAX_DEFAULT_CONNECTIONS: u64 = 4096;
/// Smallest default cap of one receiver, however low the limit.
const MIN_DEFAULT_CONNECTIONS: u64 = 16;

/// Raises the soft open-file limit to the hard one (as far as allowed) and returns the soft
/// limit in force afterwards (`None` when unlimited or unknown).
pub fn raise_nofile_limit() -> Option<u64> {
    let lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The default `max_connections` of each of `receivers` receivers under an open-file limit of
/// `nofile`: what is left after [`RESERVED_FDS`], shared evenly, between 16 and 4096.
pub fn default_max_connections(nofile: Option<u64>, receivers: u64) -> usize {
    let Some(n) = nofile else {
        return MAX_DEFAULT_CONNECTIONS as usize;
    };
    let share = n.saturating_sub(RESERVED_FDS) / receivers.max(1);
    share.clamp(MIN_DEFAULT_CONNECTIONS, MAX_DEFAULT_CONNECTIONS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_caps_leave_room_for_everything_else() {
        assert_eq!(default_max_connections(Some(1024), 2), 384);
        assert_eq!(default_max_connections(Some(1024), 1), 768);
        assert_eq!(default_max_connections(Some(1_048_576), 2), 4096);
        assert_eq!(default_max_connections(Some(100), 2), 16);
        assert_eq!(default_max_connections(None, 2), 4096);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let before = getrlimit(Resource::Nofile).current;
        let after = raise_nofile_limit();
        match (before, after) {
            (Some(b), Some(a)) => assert!(a >= b),
            (_, None) => {}
            (None, Some(_)) => panic!("an unlimited limit was lowered"),
        }
    }
}
