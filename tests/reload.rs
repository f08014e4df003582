//! Config reload without restart, against the real binary: SIGHUP, edits of the config file, a
//! Kubernetes-style symlink swap, invalid edits; and the exit status of a shutdown that had to
//! drop accepted spans.

mod support;

#[path = "reload/bin.rs"]
mod bin;
#[path = "reload/edits.rs"]
mod edits;
#[path = "reload/shutdown.rs"]
mod shutdown;
#[path = "reload/signals.rs"]
mod signals;
