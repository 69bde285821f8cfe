//! Burning CPU on this host.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::Duration;

/// Burn CPU.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CpuStress {
    /// Unique name among the faults.
    pub name: String,
    /// Busy workers (at most twice the number of CPUs).
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Share of each worker's time spent busy, 1 to 100.
    #[serde(default = "default_load")]
    pub load: u8,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the stress lasts.
    pub duration: Duration,
}

fn default_workers() -> u32 {
    1
}

fn default_load() -> u8 {
    100
}
