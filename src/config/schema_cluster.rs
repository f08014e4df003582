//! The `cluster:` block: the NATS decision bus that instances of one group share.

use super::units::{millis, secs, Dur};
use serde::Deserialize;

/// `cluster:`: share decisions with the other instances of a group over NATS, so every
/// instance holding part of a trace applies the verdict one instance holding all of it would
/// reach. Absent: this instance decides alone. See the README, "Topologies".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS server (or a comma-separated list of a cluster's servers), e.g.
    /// `nats://127.0.0.1:4222`. Required. The bus being down never stops the data path: the
    /// instance decides alone until it is back.
    pub nats: String,
    /// The group: instances with the same group share decisions and budgets (subjects
    /// `tailsift.<group>.*`). Letters, digits, `-` and `_`. Default `tailsift`.
    #[serde(default = "default_group")]
    pub group: String,
    /// How long a trace this instance would drop (or could still lose to a peer's earlier
    /// rule) waits for the peers' decisions before its spans are released. It covers the
    /// spread of one trace's arrival over instances plus the bus's delay. Default `1s`.
    #[serde(default = "secs::<1>")]
    pub grace: Dur,
    /// How often this instance announces itself; a member not heard for three periods has
    /// left, and the group's budgets are shared among the members heard. Default `1s`.
    #[serde(default = "secs::<1>")]
    pub heartbeat: Dur,
    /// Longest a decision waits to be published with others in one compressed batch.
    /// Default `20ms`; must be well below `grace`.
    #[serde(default = "millis::<20>")]
    pub batch_wait: Dur,
}

fn default_group() -> String {
    "tailsift".to_string()
}
