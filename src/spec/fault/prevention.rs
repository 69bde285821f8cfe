//! Prevention checks: actions that policy (admission, RBAC) must refuse.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

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

/// Implements the parts every prevention check shares: it happens once, at `at`, and lasts
/// no time.
macro_rules! prevention_check {
    () => {
        const PLATFORMS: Platforms = Platforms::Kubernetes;
        const CAPABILITIES: &'static [Capability] = PREVENTION_CHECK;
        const PREVENTION_CHECK: bool = true;

        fn name(&self) -> &str {
            &self.name
        }
        fn at(&self) -> Duration {
            self.at
        }
        fn duration(&self) -> Duration {
            Duration::from_millis(0)
        }
        fn selector(&self) -> Option<&Selector> {
            None
        }
        fn workload(&self) -> Option<&str> {
            None
        }
    };
}

/// What undoes a prevention check's pod.
const ACCEPTED_POD_DELETED: &str = "nothing when refused; an accepted pod is deleted at once";

impl FaultKind for PreventPrivilegedPod {
    const TYPE_NAME: &'static str = "prevent-privileged-pod";
    const EFFECT_CHECK: &'static str = super::PREVENTION_EFFECT_CHECK;
    prevention_check!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.image(&format!("{path}.image"), self.image.as_deref());
    }
    fn describe(&self) -> String {
        format!("try to create a privileged pod in {}", self.namespace)
    }
    fn undo(&self, _target: &Target) -> &'static str {
        ACCEPTED_POD_DELETED
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        vec![(self.namespace.clone(), Use::PreventPod)]
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PreventPod)]
    }
}

impl FaultKind for PreventHostPath {
    const TYPE_NAME: &'static str = "prevent-host-path";
    const EFFECT_CHECK: &'static str = super::PREVENTION_EFFECT_CHECK;
    prevention_check!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.image(&format!("{path}.image"), self.image.as_deref());
        if let Some(p) = &self.path
            && !p.starts_with('/')
        {
            check.problem(
                format!("{path}.path"),
                format!("`{p}` is not an absolute path: a host path starts with `/`"),
            );
        }
    }
    fn describe(&self) -> String {
        format!(
            "try to create a pod mounting the host path {} in {}",
            self.path.as_deref().unwrap_or("/"),
            self.namespace
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        ACCEPTED_POD_DELETED
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        vec![(self.namespace.clone(), Use::PreventPod)]
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Target, Use::PreventPod)]
    }
}

impl FaultKind for PreventPodSecurity {
    const TYPE_NAME: &'static str = "prevent-pod-security";
    const EFFECT_CHECK: &'static str = super::PREVENTION_EFFECT_CHECK;
    prevention_check!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.image(&format!("{path}.image"), self.image.as_deref());
    }
    fn describe(&self) -> String {
        format!(
            "try to create a pod that breaks the Pod Security level {} of {}",
            match self.level {
                Some(PodSecurityLevel::Baseline) => "baseline",
                Some(PodSecurityLevel::Restricted) => "restricted",
                None => "(the namespace's enforce label)",
            },
            self.namespace
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        ACCEPTED_POD_DELETED
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        let mut uses = vec![(self.namespace.clone(), Use::PreventPod)];
        if self.level.is_none() {
            uses.push((self.namespace.clone(), Use::ReadNamespace));
        }
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Target, Use::PreventPod),
            (Scope::Target, Use::ReadNamespace),
        ]
    }
}

impl FaultKind for PreventSecretRead {
    const TYPE_NAME: &'static str = "prevent-secret-read";
    const EFFECT_CHECK: &'static str = super::PREVENTION_EFFECT_CHECK;
    prevention_check!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.object_name(&format!("{path}.secret"), &self.secret);
        if let Some(sa) = &self.service_account {
            check.object_name(&format!("{path}.serviceAccount"), sa);
        }
    }
    fn describe(&self) -> String {
        format!(
            "try to read the Secret {}/{} as {}",
            self.namespace,
            self.secret,
            self.service_account.as_deref().map_or_else(
                || "a ServiceAccount with no permission".to_owned(),
                |sa| format!("the ServiceAccount {sa}")
            )
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "delete the ServiceAccount firedrill created, if it created one"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        let u = if self.service_account.is_some() {
            Use::ExistingServiceAccount
        } else {
            Use::DrillServiceAccount
        };
        vec![(self.namespace.clone(), u)]
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Target, Use::DrillServiceAccount),
            (Scope::Target, Use::ExistingServiceAccount),
        ]
    }
}
