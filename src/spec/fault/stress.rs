//! Burning CPU on this host.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

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

impl FaultKind for CpuStress {
    const TYPE_NAME: &'static str = "cpu-stress";
    const EFFECT_CHECK: &'static str =
        "the helper process uses at least a quarter of the CPU time its workers would in 0.5 s";
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!(no selection);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max = u32::try_from(2 * cpus).unwrap_or(u32::MAX);
        if !(1..=max).contains(&self.workers) {
            check.problem(
                format!("{path}.workers"),
                format!(
                    "{} is out of range: write 1 to {max} (twice the {cpus} CPUs of this host)",
                    self.workers
                ),
            );
        }
        if !(1..=100).contains(&self.load) {
            check.problem(
                format!("{path}.load"),
                format!("{} is out of range: write 1 to 100 (percent)", self.load),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "{} worker(s) at {}% for {}",
            self.workers, self.load, self.duration
        )
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
