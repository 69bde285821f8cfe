//! Faults on local processes: kill with a signal, pause with SIGSTOP.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

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

impl FaultKind for ProcessKill {
    const TYPE_NAME: &'static str = "process-kill";
    const EFFECT_CHECK: &'static str = "each killed replica's process ends (gone, a zombie, or restarted as another process) within 5 s";
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        Some(&self.select)
    }
    fn workload(&self) -> Option<&str> {
        None
    }
    fn validate(&self, _path: &str, _check: &mut Checker<'_>) {}
    fn describe(&self) -> String {
        format!("{} to {}", self.signal.name(), replicas(&self.select))
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "restart any replica still down"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        Vec::new()
    }
    fn granted() -> Vec<(Scope, Use)> {
        Vec::new()
    }
}

impl FaultKind for ProcessPause {
    const TYPE_NAME: &'static str = "process-pause";
    const EFFECT_CHECK: &'static str =
        "each paused replica's process is in state T (stopped) in /proc";
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        Some(&self.select)
    }
    fn workload(&self) -> Option<&str> {
        None
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!("SIGSTOP {} for {}", replicas(&self.select), self.duration)
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "SIGCONT"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        Vec::new()
    }
    fn granted() -> Vec<(Scope, Use)> {
        Vec::new()
    }
}
