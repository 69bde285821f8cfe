//! Security drills in the experiment document: detection canaries (benign actions a working
//! security monitor must notice) and prevention checks (actions policy must refuse).
//! docs/security-drills.md describes each one: what it imitates, what a monitor must see,
//! and what catching or refusing it does not prove.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, Selector};

/// The fixed marker every canary and prevention check carries in the names of what it
/// creates and in its payloads, so that a security team can tell a drill from an attack.
pub const MARKER: &str = "firedrill-canary";

/// Send requests carrying the canary marker to a local workload (the demo counts them in
/// `firedrill_demo_canary_requests_total`, which a Prometheus alert can watch).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryRequest {
    /// Unique name among the faults.
    pub name: String,
    /// The URL requested, with placeholders (`http://{workload.checkout}/admin/.env`).
    pub url: String,
    /// The HTTP method (GET when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// How many requests are sent (1 to 1000).
    #[serde(default = "one")]
    pub count: u32,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

/// Read a honeytoken file on this host; firedrill creates it (with the marker inside) when
/// it does not exist, and removes what it created at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryFileRead {
    /// Unique name among the faults.
    pub name: String,
    /// The honeytoken file, absolute or relative to the experiment file.
    pub path: String,
    /// How many times the file is opened and read (1 to 1000).
    #[serde(default = "one")]
    pub count: u32,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

/// Read a honeytoken Secret with a dedicated ServiceAccount: firedrill creates the
/// ServiceAccount, a Role that allows `get` on that one Secret and its RoleBinding (and the
/// Secret itself unless it exists), asks for a short-lived token and reads the Secret with
/// it; everything it created is deleted at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanarySecretRead {
    /// Unique name among the faults.
    pub name: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The honeytoken Secret's name (`firedrill-canary-<fault name>` when absent). An
    /// existing Secret of that name is read and left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// How many times the Secret is read (1 to 100).
    #[serde(default = "one")]
    pub reads: u32,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

/// Run a suspicious-looking but harmless command in the selected pods through `pods/exec`
/// (by default: read `/etc/shadow` into nothing and start a shell).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryExec {
    /// Unique name among the faults.
    pub name: String,
    /// The pods, among the workload's pods.
    pub select: Selector,
    /// The container; the pod's only container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The command run instead of the default, as a program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

/// Look up a canary domain from the selected pods through `pods/exec` (`nslookup`, or
/// `getent hosts` when the image has no `nslookup`); the answer does not matter.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryDnsLookup {
    /// Unique name among the faults.
    pub name: String,
    /// The pods, among the workload's pods.
    pub select: Selector,
    /// The container; the pod's only container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The domain looked up; it must contain the marker (`firedrill-canary.invalid` when
    /// absent: `.invalid` never resolves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

/// Send a burst of requests the API server must refuse: a dedicated ServiceAccount with no
/// permission lists Secrets in the namespace; each 403 is counted.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryDeniedRequests {
    /// Unique name among the faults.
    pub name: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// How many requests are sent (1 to 500).
    #[serde(default = "twenty")]
    pub count: u32,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

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

fn one() -> u32 {
    1
}

fn twenty() -> u32 {
    20
}
