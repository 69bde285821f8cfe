//! Faults on a Kubernetes workload's pods and controller: delete, evict, scale, rollout
//! restart, quarantine.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::{Duration, Selector};

/// Delete pods; their controller creates replacements.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodDelete {
    /// Unique name among the faults.
    pub name: String,
    /// The pods to delete, among the workload's pods.
    pub select: Selector,
    /// The grace period given to the pods; the pod's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<Duration>,
    /// Delete at once, without a grace period (grace period 0).
    #[serde(default)]
    pub force: bool,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this fault (nothing is restored: the controller does it).
    #[serde(default)]
    pub duration: Duration,
}

/// Evict pods through the Eviction API, which refuses when a PodDisruptionBudget would be broken.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodEvict {
    /// Unique name among the faults.
    pub name: String,
    /// The pods to evict, among the workload's pods.
    pub select: Selector,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this fault (nothing is restored: the controller does it).
    #[serde(default)]
    pub duration: Duration,
}

/// Scale a Deployment or StatefulSet to `replicas` (0 is an outage); the original count is
/// restored at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scale {
    /// Unique name among the faults.
    pub name: String,
    /// The workload, a Deployment or StatefulSet.
    pub workload: String,
    /// The replica count while the fault is in place.
    pub replicas: u32,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the new count holds.
    pub duration: Duration,
}

/// Restart every pod of a controller, as `kubectl rollout restart` does; the template's
/// annotation is put back at the end (which rolls the pods once more).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutRestart {
    /// Unique name among the faults.
    pub name: String,
    /// The workload, a Deployment, StatefulSet or DaemonSet.
    pub workload: String,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long until the annotation is put back.
    pub duration: Duration,
}

/// Isolate pods with a deny-all NetworkPolicy (ingress and egress); the pods are kept for
/// forensics, and the policy and the pods' quarantine label are removed at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Quarantine {
    /// Unique name among the faults.
    pub name: String,
    /// The pods to isolate, among the workload's pods.
    pub select: Selector,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the pods stay isolated.
    pub duration: Duration,
}

impl FaultKind for PodDelete {
    const TYPE_NAME: &'static str = "pod-delete";
    const EFFECT_CHECK: &'static str =
        "each pod is gone, replaced (another uid) or terminating within 5 s";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    const REMOVES_PODS: bool = true;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if self.force && self.grace_period.is_some() {
            check.problem(
                format!("{path}.gracePeriod"),
                "force deletes with a grace period of 0; leave gracePeriod out or force off",
            );
        }
    }
    fn describe(&self) -> String {
        format!(
            "delete {}{}",
            pods(&self.select),
            if self.force {
                " at once (force)".to_owned()
            } else {
                self.grace_period
                    .map(|g| format!(" with a grace period of {g}"))
                    .unwrap_or_default()
            }
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "nothing to undo: the controller replaces the pods"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| {
            vec![Use::PodDelete, Use::Track]
        })
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PodDelete), (Scope::Target, Use::Track)]
    }
}

impl FaultKind for PodEvict {
    const TYPE_NAME: &'static str = "pod-evict";
    const EFFECT_CHECK: &'static str =
        "each pod is gone, replaced (another uid) or terminating within 5 s";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    const REMOVES_PODS: bool = true;
    common_fields!(selected pods);

    fn validate(&self, _path: &str, _check: &mut Checker<'_>) {}
    fn describe(&self) -> String {
        format!("evict {} (PodDisruptionBudgets apply)", pods(&self.select))
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "nothing to undo: the controller replaces the pods"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::PodEvict, Use::Track])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PodEvict), (Scope::Target, Use::Track)]
    }
}

/// The most replicas a scale fault may ask for.
const MAX_SCALE_REPLICAS: u32 = 1000;

impl FaultKind for Scale {
    const TYPE_NAME: &'static str = "scale";
    const EFFECT_CHECK: &'static str = "the workload has as many pods as asked within 10 s";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        Some(&self.workload)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if let Some(w) = check.kubernetes_workload(&format!("{path}.workload"), &self.workload)
            && !matches!(w.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
        {
            check.problem(
                format!("{path}.workload"),
                format!(
                    "`{}` is a {}; only a Deployment or a StatefulSet can be scaled",
                    self.workload,
                    w.kind.as_str()
                ),
            );
        }
        if self.replicas > MAX_SCALE_REPLICAS {
            check.problem(
                format!("{path}.replicas"),
                format!(
                    "{} is out of range: write 0 to {MAX_SCALE_REPLICAS}",
                    self.replicas
                ),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "scale {} to {} for {}",
            self.workload, self.replicas, self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "scale back to the replica count recorded before"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |w| vec![Use::Scale(w.kind)])
    }
    fn granted() -> Vec<(Scope, Use)> {
        [WorkloadKind::Deployment, WorkloadKind::StatefulSet]
            .iter()
            .map(|&k| (Scope::Target, Use::Scale(k)))
            .collect()
    }
}

impl FaultKind for RolloutRestart {
    const TYPE_NAME: &'static str = "rollout-restart";
    const EFFECT_CHECK: &'static str =
        "a pod of the workload is replaced or terminating within 10 s";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        Some(&self.workload)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if let Some(w) = check.kubernetes_workload(&format!("{path}.workload"), &self.workload)
            && w.kind == WorkloadKind::Pod
        {
            check.problem(
                format!("{path}.workload"),
                format!("`{}` is a Pod workload; a rollout restart needs a Deployment, StatefulSet or DaemonSet", self.workload),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!("rollout restart of {}", self.workload)
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "put the template's restart annotation back as recorded (the pods roll once more)"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |w| {
            vec![Use::RolloutRestart(w.kind)]
        })
    }
    fn granted() -> Vec<(Scope, Use)> {
        restart_granted()
    }
}

impl FaultKind for Quarantine {
    const TYPE_NAME: &'static str = "quarantine";
    const EFFECT_CHECK: &'static str = super::POLICY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CONTAINMENT_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "deny-all NetworkPolicy on {} for {}",
            pods(&self.select),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "delete the NetworkPolicy and remove the quarantine label from the pods"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| {
            vec![Use::Quarantine, Use::VerifierPod]
        })
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Target, Use::Quarantine),
            (Scope::Target, Use::VerifierPod),
        ]
    }
}
