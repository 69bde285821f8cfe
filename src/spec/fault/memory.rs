//! Holding memory on this host.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

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

/// The most memory a memory-pressure fault may hold, in MiB.
const MAX_MEMORY_MIB: u64 = 4096;

impl FaultKind for MemoryPressure {
    const TYPE_NAME: &'static str = "memory-pressure";
    const EFFECT_CHECK: &'static str =
        "the helper process holds at least 90% of the memory asked as resident memory, within 5 s";
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!(no selection);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if !(1..=MAX_MEMORY_MIB).contains(&self.size_mib) {
            check.problem(
                format!("{path}.sizeMib"),
                format!(
                    "{} is out of range: write 1 to {MAX_MEMORY_MIB} (MiB)",
                    self.size_mib
                ),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!("hold {} MiB for {}", self.size_mib, self.duration)
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "stop the helper process"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        Vec::new()
    }
    fn granted() -> Vec<(Scope, Use)> {
        Vec::new()
    }
}
