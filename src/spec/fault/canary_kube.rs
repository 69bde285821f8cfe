//! Detection canaries in a cluster: a honeytoken Secret read, a suspicious command, a
//! canary domain lookup, requests the API server must refuse.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use super::canary::one;
use crate::spec::{Duration, Selector};

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

fn twenty() -> u32 {
    20
}

impl FaultKind for CanarySecretRead {
    const TYPE_NAME: &'static str = "canary-secret-read";
    const EFFECT_CHECK: &'static str = super::CANARY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CANARY;
    common_fields!(no selection);

    fn canary_signals(&self) -> Option<&[String]> {
        Some(&self.detected_by)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        if let Some(secret) = &self.secret {
            check.object_name(&format!("{path}.secret"), secret);
        }
        check.count(&format!("{path}.reads"), self.reads, 100);
    }
    fn describe(&self) -> String {
        format!(
            "read the honeytoken Secret {}/{} {} time(s) with a dedicated ServiceAccount",
            self.namespace,
            self.secret
                .clone()
                .unwrap_or_else(|| format!("{}-{}", MARKER, self.name)),
            self.reads
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "delete the ServiceAccount, Role, RoleBinding and honeytoken Secret firedrill created"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        vec![
            (self.namespace.clone(), Use::DrillServiceAccount),
            (self.namespace.clone(), Use::CanarySecretRead),
        ]
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Target, Use::DrillServiceAccount),
            (Scope::Target, Use::CanarySecretRead),
        ]
    }
}

impl FaultKind for CanaryExec {
    const TYPE_NAME: &'static str = "canary-exec";
    const EFFECT_CHECK: &'static str = super::CANARY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CANARY;
    common_fields!(selected pods);

    fn canary_signals(&self) -> Option<&[String]> {
        Some(&self.detected_by)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.container(&format!("{path}.container"), self.container.as_deref());
        if !self.command.is_empty() {
            check.exec_command(&format!("{path}.command"), &self.command);
        }
    }
    fn describe(&self) -> String {
        format!(
            "run a suspicious-looking, harmless command in {}",
            pods(&self.select)
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        NOTHING_LEFT
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::CanaryExec])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::CanaryExec)]
    }
}

impl FaultKind for CanaryDnsLookup {
    const TYPE_NAME: &'static str = "canary-dns-lookup";
    const EFFECT_CHECK: &'static str = super::CANARY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CANARY;
    common_fields!(selected pods);

    fn canary_signals(&self) -> Option<&[String]> {
        Some(&self.detected_by)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.container(&format!("{path}.container"), self.container.as_deref());
        if let Some(domain) = &self.domain {
            check.canary_domain(&format!("{path}.domain"), domain);
        }
    }
    fn describe(&self) -> String {
        format!(
            "look up {} from {}",
            self.domain
                .clone()
                .unwrap_or_else(|| format!("{}.invalid", MARKER)),
            pods(&self.select)
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        NOTHING_LEFT
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        in_workload_namespace(target, self.workload(), |_| vec![Use::CanaryExec])
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::CanaryExec)]
    }
}

impl FaultKind for CanaryDeniedRequests {
    const TYPE_NAME: &'static str = "canary-denied-requests";
    const EFFECT_CHECK: &'static str = super::CANARY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CANARY;
    common_fields!(no selection);

    fn canary_signals(&self) -> Option<&[String]> {
        Some(&self.detected_by)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.count(&format!("{path}.count"), self.count, 500);
    }
    fn describe(&self) -> String {
        format!(
            "send {} requests the API server must refuse (list Secrets in {} with no permission)",
            self.count, self.namespace
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "delete the ServiceAccount firedrill created"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        vec![(self.namespace.clone(), Use::DrillServiceAccount)]
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::DrillServiceAccount)]
    }
}
