//! Faults on a Kubernetes workload's pods and controller: delete, evict, scale, rollout
//! restart, quarantine.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
