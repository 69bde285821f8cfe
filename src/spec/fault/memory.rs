//! Holding memory on this host.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::Duration;

/// Hold memory.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemoryPressure {
    /// Unique name among the faults.
    pub name: String,
    /// Memory allocated and touched, in MiB (at most half of the memory available at start).
    pub size_mib: u64,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the memory is held.
    pub duration: Duration,
}
