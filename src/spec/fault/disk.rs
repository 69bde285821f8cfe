//! Filling disk space on this host.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::spec::Duration;

/// The largest file a disk-fill fault may write, in MiB.
const MAX_DISK_MIB: u64 = 4096;

/// Fill disk space: write a file of `sizeMib` MiB for the duration; firedrill removes the
/// file at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiskFill {
    /// Unique name among the faults.
    pub name: String,
    /// The file written, absolute or relative to the experiment file; it must not exist.
    pub path: String,
    /// The file's size, in MiB (1 to 4096).
    pub size_mib: u64,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the file stays.
    pub duration: Duration,
}

impl FaultKind for DiskFill {
    const TYPE_NAME: &'static str = "disk-fill";
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        None
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if self.path.trim().is_empty() {
            check.problem(format!("{path}.path"), "must name a file");
        }
        if !(1..=MAX_DISK_MIB).contains(&self.size_mib) {
            check.problem(
                format!("{path}.sizeMib"),
                format!(
                    "{} is out of range: write 1 to {MAX_DISK_MIB} (MiB)",
                    self.size_mib
                ),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "write {} MiB to {} for {}",
            self.size_mib, self.path, self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "remove the file firedrill wrote"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        Vec::new()
    }
    fn granted() -> Vec<(Scope, Use)> {
        Vec::new()
    }
}
