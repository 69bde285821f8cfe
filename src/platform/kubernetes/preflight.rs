//! Preflight: every permission a run needs, derived from its faults and probes, checked
//! with SelfSubjectAccessReview before anything changes.
//!
//! [`needs`] is the one table of what each use requires; the docs' permission table and
//! RBAC rules are generated from it (`required_permissions` on an experiment).

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use super::{KubeError, retry};
use crate::spec::{FaultSpec, Probe, Spec, Target, WorkloadKind};

/// An API verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read many objects.
    List,
    /// Follow changes.
    Watch,
    /// Create an object (or post to a subresource).
    Create,
    /// Change an object.
    Patch,
    /// Delete an object.
    Delete,
}

impl Verb {
    /// The verb as RBAC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
            Self::Create => "create",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// One permission: a verb on a resource (with its subresource) in a namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// The namespace.
    pub namespace: String,
    /// The API group, empty for core.
    pub group: &'static str,
    /// The resource, such as `pods`.
    pub resource: &'static str,
    /// The subresource, such as `eviction`, or empty.
    pub subresource: &'static str,
    /// The verb.
    pub verb: Verb,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        write!(f, "{} {}", self.verb.as_str(), self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        write!(f, " ({group}) in namespace {}", self.namespace)
    }
}

/// What a run does with the API, each needing its own permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Resolve a workload to its pods.
    Resolve(WorkloadKind),
    /// The pod-delete fault.
    PodDelete,
    /// The pod-evict fault.
    PodEvict,
    /// The scale fault on this kind.
    Scale(WorkloadKind),
    /// The rollout-restart fault on this kind.
    RolloutRestart(WorkloadKind),
    /// The quarantine fault.
    Quarantine,
    /// The workload-available probe on this kind.
    WorkloadAvailable(WorkloadKind),
    /// The object-exists probe on a resource of this group.
    ObjectExists(&'static str, &'static str),
    /// Per-pod recovery tracking of the pods a fault removes.
    Track,
    /// The kubernetes-event detection signal: Warning events of a namespace.
    WatchEvents,
}

/// The permission table: (verb, group, resource, subresource) for each use.
pub fn needs(u: Use) -> Vec<(Verb, &'static str, &'static str, &'static str)> {
    use Verb::*;
    match u {
        Use::Resolve(WorkloadKind::Pod) => vec![(Get, "", "pods", ""), (List, "", "pods", "")],
        Use::Resolve(k) => vec![(Get, k.group(), k.resource(), ""), (List, "", "pods", "")],
        Use::PodDelete => vec![(Delete, "", "pods", "")],
        Use::PodEvict => vec![(Create, "", "pods", "eviction")],
        Use::Scale(k) => vec![
            (Get, k.group(), k.resource(), "scale"),
            (Patch, k.group(), k.resource(), "scale"),
        ],
        Use::RolloutRestart(k) => vec![
            (Get, k.group(), k.resource(), ""),
            (Patch, k.group(), k.resource(), ""),
        ],
        Use::Quarantine => vec![
            (Create, "networking.k8s.io", "networkpolicies", ""),
            (Delete, "networking.k8s.io", "networkpolicies", ""),
            (Patch, "", "pods", ""),
        ],
        Use::WorkloadAvailable(k) => vec![(Get, k.group(), k.resource(), "")],
        Use::ObjectExists(group, resource) => vec![(Get, group, resource, "")],
        Use::Track => vec![(List, "", "pods", ""), (Watch, "", "pods", "")],
        Use::WatchEvents => vec![(List, "", "events", ""), (Watch, "", "events", "")],
    }
}

/// Every permission a run of `spec` needs, sorted; empty on the local platform.
pub fn required_permissions(spec: &Spec) -> Vec<Permission> {
    let Target::Kubernetes(target) = &spec.target else {
        return Vec::new();
    };
    let mut set = BTreeSet::new();
    let mut add = |ns: &str, u: Use| {
        for (verb, group, resource, subresource) in needs(u) {
            set.insert(Permission {
                namespace: ns.to_owned(),
                group,
                resource,
                subresource,
                verb,
            });
        }
    };
    let workload = |name: &str| target.workloads.iter().find(|w| w.name == name);
    for w in &target.workloads {
        add(&w.namespace, Use::Resolve(w.kind));
    }
    for f in &spec.faults {
        let Some(w) = f.kubernetes_workload().and_then(workload) else {
            continue;
        };
        let u = match f {
            FaultSpec::PodDelete(_) => Use::PodDelete,
            FaultSpec::PodEvict(_) => Use::PodEvict,
            FaultSpec::Scale(_) => Use::Scale(w.kind),
            FaultSpec::RolloutRestart(_) => Use::RolloutRestart(w.kind),
            FaultSpec::Quarantine(_) => Use::Quarantine,
            _ => continue,
        };
        add(&w.namespace, u);
        if matches!(f, FaultSpec::PodDelete(_) | FaultSpec::PodEvict(_)) {
            add(&w.namespace, Use::Track);
        }
    }
    for p in &spec.steady_state.probes {
        match p {
            Probe::WorkloadAvailable(p) => {
                if let Some(w) = workload(&p.workload) {
                    add(&w.namespace, Use::WorkloadAvailable(w.kind));
                }
            }
            Probe::PodReady(p) => {
                if let Some(w) = workload(&p.workload) {
                    add(&w.namespace, Use::Resolve(w.kind));
                }
            }
            Probe::ObjectExists(p) => {
                let (group, _, resource) = p.kind.api();
                add(&p.namespace, Use::ObjectExists(group, resource));
            }
            Probe::Http(_) | Probe::Tcp(_) | Probe::Command(_) => {}
        }
    }
    for s in spec.detection.iter().flat_map(|d| &d.signals) {
        if let crate::spec::DetectionSignal::KubernetesEvent(s) = s
            && let Some(w) = workload(&s.workload)
        {
            add(&w.namespace, Use::WatchEvents);
        }
    }
    set.into_iter().collect()
}

/// Asks the API server, for each permission, whether this client has it; fails naming
/// every one it lacks.
pub async fn check_permissions(
    client: &kube::Client,
    permissions: &[Permission],
) -> Result<(), KubeError> {
    let api = Api::<SelfSubjectAccessReview>::all(client.clone());
    let mut missing = Vec::new();
    let post = PostParams::default();
    for p in permissions {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(p.namespace.clone()),
                    group: Some(p.group.to_owned()),
                    resource: Some(p.resource.to_owned()),
                    subresource: (!p.subresource.is_empty()).then(|| p.subresource.to_owned()),
                    verb: Some(p.verb.as_str().to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = retry(&format!("review the permission to {p}"), || {
            api.create(&post, &review)
        })
        .await?;
        let status = answer.status.unwrap_or_default();
        if !status.allowed {
            let why = status.reason.filter(|r| !r.is_empty());
            missing.push(match why {
                Some(r) => format!("{p} ({r})"),
                None => p.to_string(),
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KubeError::Forbidden(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permissions_follow_the_faults_and_probes() {
        let exp: crate::spec::Experiment = serde_saphyr::from_str(
            r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: k}
spec:
  target:
    platform: kubernetes
    namespaces: [shop]
    workloads:
      - {name: web, namespace: shop, kind: Deployment, objectName: web}
  steadyState:
    probes:
      - {name: up, type: workload-available, workload: web}
  faults:
    - {name: evict, type: pod-evict, select: {mode: one, workload: web}}
    - {name: down, type: scale, workload: web, replicas: 0, duration: 1s}
  detection:
    signals:
      - {name: crash, type: kubernetes-event, workload: web, reasons: [BackOff]}
"#,
        )
        .unwrap();
        let perms: Vec<String> = required_permissions(&exp.spec)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            perms,
            [
                "list events (core) in namespace shop",
                "watch events (core) in namespace shop",
                "list pods (core) in namespace shop",
                "watch pods (core) in namespace shop",
                "create pods/eviction (core) in namespace shop",
                "get deployments (apps) in namespace shop",
                "get deployments/scale (apps) in namespace shop",
                "patch deployments/scale (apps) in namespace shop",
            ]
        );
    }
}
