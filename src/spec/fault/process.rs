//! Faults on local processes: kill with a signal, pause with SIGSTOP.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::{Duration, Selector, Signal};

/// Kill replicas with a signal.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessKill {
    /// Unique name among the faults.
    pub name: String,
    /// The replicas to kill.
    pub select: Selector,
    /// The signal sent to each selected replica's process group.
    #[serde(default)]
    pub signal: Signal,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this fault; at its end a replica that is still
    /// down (restart policy `never`) is started again.
    #[serde(default)]
    pub duration: Duration,
}

/// Pause replicas.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessPause {
    /// Unique name among the faults.
    pub name: String,
    /// The replicas to pause.
    pub select: Selector,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the replicas stay stopped.
    pub duration: Duration,
}
