//! Prevention checks: actions that policy (admission, RBAC) must refuse.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::Duration;

/// Try to create a privileged pod; policy must refuse it. An accepted pod is deleted at
/// once (it can never be scheduled: its node selector matches no node).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreventPrivilegedPod {
    /// Unique name among the faults.
    pub name: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The image of the pod's container (`registry.k8s.io/pause:3.10` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
}

/// Try to create a pod that mounts a host path; policy must refuse it. An accepted pod is
/// deleted at once (it can never be scheduled).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreventHostPath {
    /// Unique name among the faults.
    pub name: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The host path mounted, read-only (`/` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The image of the pod's container (`registry.k8s.io/pause:3.10` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
}

/// Try to create a pod that breaks the namespace's Pod Security level; the API server's
/// PodSecurity admission must refuse it. An accepted pod is deleted at once.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreventPodSecurity {
    /// Unique name among the faults.
    pub name: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The level the pod breaks; the namespace's `pod-security.kubernetes.io/enforce` label
    /// when absent (the check is refused when the namespace has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<PodSecurityLevel>,
    /// The image of the pod's container (`registry.k8s.io/pause:3.10` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
}

/// A Pod Security Standards level a prevention check breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PodSecurityLevel {
    /// Breaks `baseline` (and so `restricted`): the pod asks for the host network.
    Baseline,
    /// Breaks `restricted` only: the pod may run as root and sets no seccomp profile.
    Restricted,
}

/// Try to read a Secret as a ServiceAccount that must not read it; RBAC must refuse. A read
/// that succeeds is a finding (the value is never recorded).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreventSecretRead {
    /// Unique name among the faults.
    pub name: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The Secret that must stay out of reach.
    pub secret: String,
    /// The ServiceAccount that tries; a dedicated one with no permission, created for the
    /// check and deleted after it, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
}
