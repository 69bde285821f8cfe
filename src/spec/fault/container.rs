//! Killing a container's main process through `pods/exec`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

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

impl FaultKind for ContainerKill {
    const TYPE_NAME: &'static str = "container-kill";
    const EFFECT_CHECK: &'static str =
        "the container's restart count rises (or its pod is replaced) within 10 s";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.container(&format!("{path}.container"), self.container.as_deref());
        if self.signal == Some(Signal::Kill) {
            check.problem(
                format!("{path}.signal"),
                "SIGKILL never reaches PID 1 from inside its PID namespace (the kernel drops it): use SIGTERM, or a `command` that kills another process",
            );
        }
        if !self.command.is_empty() {
            if self.signal.is_some() {
                check.problem(
                    format!("{path}.command"),
                    "`command` and `signal` exclude each other: the command is run instead of `kill -s SIGNAL 1`",
                );
            }
            check.exec_command(&format!("{path}.command"), &self.command);
        }
    }
    fn describe(&self) -> String {
        format!(
            "{} to PID 1 of {} through exec",
            if self.command.is_empty() {
                self.signal.unwrap_or(Signal::Term).name().to_owned()
            } else {
                format!("`{}`", self.command.join(" "))
            },
            self.container.as_deref().map_or_else(
                || format!("the container of {}", pods(&self.select)),
                |c| format!("container {c} of {}", pods(&self.select))
            )
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "nothing to undo: the kubelet restarts the container"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::ContainerKill])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::ContainerKill)]
    }
}
