//! Killing a container's main process through `pods/exec`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::{Duration, Selector, Signal};

/// Kill the main process of a container through `pods/exec` (a shell and `kill` must be in
/// the image); the kubelet restarts the container, and nothing is undone.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerKill {
    /// Unique name among the faults.
    pub name: String,
    /// The pods, among the workload's pods.
    pub select: Selector,
    /// The container; the pod's only container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The signal sent to PID 1 with `/bin/sh -c 'kill -s SIG 1'` (SIGTERM when absent;
    /// SIGKILL is refused: PID 1 of a PID namespace never receives it from inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// The command run instead, as a program and its arguments (e.g. to signal another PID).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the restarts are watched before the fault counts as over.
    #[serde(default)]
    pub duration: Duration,
}
