//! Faults on a dependency, through the fault proxy in front of it (locally, or deployed in
//! front of its Service on kubernetes).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::Duration;

/// Delay a dependency: every chunk of data on the chosen stream waits `latency` ± `jitter`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyLatency {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// Added delay.
    pub latency: Duration,
    /// Random variation, plus or minus.
    #[serde(default)]
    pub jitter: Duration,
    /// Delay each HTTP request instead of each chunk of data.
    #[serde(default)]
    pub per_request: bool,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the delay lasts.
    pub duration: Duration,
}

/// Answer a share of a dependency's HTTP requests with an error status, without
/// forwarding them.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyErrors {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// The status answered, 400 to 599.
    #[serde(default = "default_error_status")]
    pub status: u16,
    /// Share of requests answered with it, above 0 and at most 1.
    pub rate: f64,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the errors last.
    pub duration: Duration,
}

fn default_error_status() -> u16 {
    503
}

/// How a dependency outage looks to its clients.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OutageMode {
    /// Connections are refused.
    #[default]
    Refuse,
    /// Connections are accepted, then reset.
    Reset,
    /// Connections are accepted and nothing ever comes back.
    Blackhole,
}

/// Make a dependency unreachable.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyOutage {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// How the outage looks.
    #[serde(default)]
    pub mode: OutageMode,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the outage lasts.
    pub duration: Duration,
}

/// Limit a dependency's bandwidth, both ways.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyBandwidth {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// The limit, in KB/s (at least 1).
    pub rate_kbps: u64,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the limit lasts.
    pub duration: Duration,
}
