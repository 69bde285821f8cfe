//! Stress and disk faults inside target pods, without privilege: firedrill's own helper
//! (`firedrill internal ...` from `spec.target.helperImage`) runs as an ephemeral container
//! of each selected pod, shares the pod's cgroup (its load counts against the pod's own
//! limits) and stops by itself at the fault's end, even when firedrill is gone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::{Duration, Selector};

/// Keep CPU workers busy inside the selected pods.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodCpuStress {
    /// Unique name among the faults.
    pub name: String,
    /// The pods, among the workload's pods.
    pub select: Selector,
    /// The container whose security context (user and group) the helper takes; the pod's
    /// only container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Busy workers in each pod, 1 to 64.
    #[serde(default = "one")]
    pub workers: u32,
    /// Share of each worker's time spent busy, 1 to 100.
    #[serde(default = "hundred")]
    pub load: u8,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the stress lasts; the helper stops by itself then.
    pub duration: Duration,
}

/// Allocate, touch and hold memory inside the selected pods.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodMemoryStress {
    /// Unique name among the faults.
    pub name: String,
    /// The pods, among the workload's pods.
    pub select: Selector,
    /// The container whose memory limit bounds the size and whose security context the
    /// helper takes; the pod's only container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Memory held in each pod, in MiB (1 to 65536).
    pub size_mib: u64,
    /// Allow a size at or above 90% of the container's memory limit, where the kernel may
    /// kill the pod's processes (OOM): refused unless set.
    #[serde(default)]
    pub allow_oom: bool,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the memory is held; the helper stops by itself then.
    pub duration: Duration,
}

/// Fill a volume the selected pods mount with a file, removed at the fault's end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodDiskFill {
    /// Unique name among the faults.
    pub name: String,
    /// The pods, among the workload's pods.
    pub select: Selector,
    /// The container that mounts the volume, whose security context (user and group) the
    /// helper takes so that it may write where the container writes; the pod's only
    /// container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The pod volume to fill, by its name in the pod spec; the container must mount it.
    pub volume: String,
    /// How much to write, in MiB; or `fillToPercent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_mib: Option<u64>,
    /// Write until the volume is this full, in percent of its size (1 to 100); or `sizeMib`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_to_percent: Option<u8>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the file is kept; the helper removes it by itself then.
    pub duration: Duration,
}

fn one() -> u32 {
    1
}

fn hundred() -> u8 {
    100
}

/// The most workers a pod CPU stress may run in one pod.
pub const MAX_POD_WORKERS: u32 = 64;
/// The most memory a pod memory stress may hold in one pod, MiB.
pub const MAX_POD_MEMORY_MIB: u64 = 65_536;
/// The most a disk fill may write in one pod, MiB.
pub const MAX_POD_FILL_MIB: u64 = 1_048_576;

const POD_HELPER_UNDO: &str = "stop the helper through `pods/exec` (it stops by itself at the fault's end); the ephemeral container stays listed in the pod until the pod is replaced";

/// What every pod helper kind checks of itself.
fn check_helper(check: &mut Checker<'_>, path: &str, container: Option<&str>, duration: Duration) {
    check.container(&format!("{path}.container"), container);
    check.positive(&format!("{path}.duration"), duration);
    let Target::Kubernetes(kube) = &check.experiment().spec.target else {
        return;
    };
    if kube
        .helper_image
        .as_deref()
        .is_none_or(|i| i.trim().is_empty())
    {
        check.problem(
            "spec.target.helperImage",
            format!(
                "`{path}` runs firedrill's helper in the pods: set an image with `firedrill` on its PATH (examples/container/Dockerfile builds one)"
            ),
        );
    }
}

impl FaultKind for PodCpuStress {
    const TYPE_NAME: &'static str = "pod-cpu-stress";
    const EFFECT_CHECK: &'static str = "the helper's ephemeral container runs, and the helper (read through `pods/exec`) uses at least a quarter of the CPU time its workers would in 0.5 s, within the pod's CPU limit";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check_helper(check, path, self.container.as_deref(), self.duration);
        if !(1..=MAX_POD_WORKERS).contains(&self.workers) {
            check.problem(
                format!("{path}.workers"),
                format!(
                    "{} is out of range: write 1 to {MAX_POD_WORKERS}",
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
    }
    fn describe(&self) -> String {
        format!(
            "{} worker(s) at {}% in {} for {}",
            self.workers,
            self.load,
            pods(&self.select),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        POD_HELPER_UNDO
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::PodHelper])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PodHelper)]
    }
}

impl FaultKind for PodMemoryStress {
    const TYPE_NAME: &'static str = "pod-memory-stress";
    const EFFECT_CHECK: &'static str = "the helper's ephemeral container runs, and the helper (read through `pods/exec`) holds at least 90% of the memory asked as resident memory";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check_helper(check, path, self.container.as_deref(), self.duration);
        if !(1..=MAX_POD_MEMORY_MIB).contains(&self.size_mib) {
            check.problem(
                format!("{path}.sizeMib"),
                format!(
                    "{} is out of range: write 1 to {MAX_POD_MEMORY_MIB} (MiB)",
                    self.size_mib
                ),
            );
        }
    }
    fn describe(&self) -> String {
        format!(
            "hold {} MiB in {} for {}",
            self.size_mib,
            pods(&self.select),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        POD_HELPER_UNDO
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::PodHelper])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PodHelper)]
    }
}

impl FaultKind for PodDiskFill {
    const TYPE_NAME: &'static str = "pod-disk-fill";
    const EFFECT_CHECK: &'static str = "the helper's ephemeral container runs, and its file on the volume (read through `pods/exec`) holds at least 90% of the bytes asked, or the volume is full";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check_helper(check, path, self.container.as_deref(), self.duration);
        check.container(&format!("{path}.volume"), Some(&self.volume));
        match (self.size_mib, self.fill_to_percent) {
            (Some(_), Some(_)) => check.problem(
                format!("{path}.fillToPercent"),
                "`sizeMib` and `fillToPercent` exclude each other: give one",
            ),
            (None, None) => check.problem(
                path.to_owned(),
                "give how much to write: `sizeMib` (MiB) or `fillToPercent` (percent of the volume)",
            ),
            (Some(size), None) if !(1..=MAX_POD_FILL_MIB).contains(&size) => check.problem(
                format!("{path}.sizeMib"),
                format!("{size} is out of range: write 1 to {MAX_POD_FILL_MIB} (MiB)"),
            ),
            (None, Some(p)) if !(1..=100).contains(&p) => check.problem(
                format!("{path}.fillToPercent"),
                format!("{p} is out of range: write 1 to 100 (percent)"),
            ),
            _ => {}
        }
    }
    fn describe(&self) -> String {
        let amount = match (self.size_mib, self.fill_to_percent) {
            (Some(size), _) => format!("write {size} MiB"),
            (None, Some(p)) => format!("fill to {p}%"),
            (None, None) => "fill".to_owned(),
        };
        format!(
            "{amount} on volume {} of {} for {}",
            self.volume,
            pods(&self.select),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "stop the helper through `pods/exec`, which removes its file (it does so by itself at the fault's end); the ephemeral container stays listed in the pod until the pod is replaced"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::PodHelper])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PodHelper)]
    }
}
