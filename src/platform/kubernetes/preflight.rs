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

use super::{KubeError, discover, retry};
pub use crate::spec::Use;
use crate::spec::{KubernetesObjectProbe, Probe, Spec, Target, WorkloadKind};

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
    pub group: String,
    /// The resource, such as `pods` (any resource: a probe may read custom resources).
    pub resource: String,
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
            &self.group
        };
        write!(f, "{} {}", self.verb.as_str(), self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if self.namespace.is_empty() {
            write!(f, " ({group}) cluster-wide")
        } else {
            write!(f, " ({group}) in namespace {}", self.namespace)
        }
    }
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
        Use::ConfigChange => vec![(Get, "", "configmaps", ""), (Patch, "", "configmaps", "")],
        Use::SecretKeys => vec![(Get, "", "secrets", ""), (Patch, "", "secrets", "")],
        Use::SecretDelete => vec![
            (Get, "", "secrets", ""),
            (Delete, "", "secrets", ""),
            (Create, "", "secrets", ""),
        ],
        Use::ContainerKill => vec![
            (Get, "", "pods", ""),
            (Create, "", "pods", "exec"),
            (List, "", "pods", ""),
            (Watch, "", "pods", ""),
        ],
        Use::PodHelper => vec![
            (Get, "", "pods", ""),
            (List, "", "pods", ""),
            (Watch, "", "pods", ""),
            (Patch, "", "pods", "ephemeralcontainers"),
            (Create, "", "pods", "exec"),
        ],
        Use::ClusterProxy => vec![
            (Get, "", "services", ""),
            (Create, "", "services", ""),
            (Patch, "", "services", ""),
            (Delete, "", "services", ""),
            (Get, "", "configmaps", ""),
            (Create, "", "configmaps", ""),
            (Delete, "", "configmaps", ""),
            (Get, "apps", "deployments", ""),
            (Create, "apps", "deployments", ""),
            (Delete, "apps", "deployments", ""),
            (List, "", "pods", ""),
        ],
        Use::EgressPolicy => vec![
            (List, "networking.k8s.io", "networkpolicies", ""),
            (Create, "networking.k8s.io", "networkpolicies", ""),
            (Delete, "networking.k8s.io", "networkpolicies", ""),
            (Patch, "", "pods", ""),
        ],
        Use::VerifierPod => vec![
            (Get, "", "pods", ""),
            (List, "", "pods", ""),
            (Create, "", "pods", ""),
            (Delete, "", "pods", ""),
        ],
        Use::ReadPeers => vec![(List, "", "pods", "")],
        Use::NodeCordon => vec![(Get, "", "nodes", ""), (Patch, "", "nodes", "")],
        Use::NodePods => vec![(List, "", "pods", "")],
        Use::WatchEvents => vec![(List, "", "events", ""), (Watch, "", "events", "")],
        // Every object a drill creates is read again before its delete (the delete is
        // limited to this run's object), so each kind it deletes needs get too.
        Use::DrillServiceAccount => vec![
            (Get, "", "serviceaccounts", ""),
            (Create, "", "serviceaccounts", ""),
            (Delete, "", "serviceaccounts", ""),
            (Create, "", "serviceaccounts", "token"),
        ],
        Use::CanarySecretRead => vec![
            (Get, "", "secrets", ""),
            (Create, "", "secrets", ""),
            (Delete, "", "secrets", ""),
            (Get, "rbac.authorization.k8s.io", "roles", ""),
            (Create, "rbac.authorization.k8s.io", "roles", ""),
            (Delete, "rbac.authorization.k8s.io", "roles", ""),
            (Get, "rbac.authorization.k8s.io", "rolebindings", ""),
            (Create, "rbac.authorization.k8s.io", "rolebindings", ""),
            (Delete, "rbac.authorization.k8s.io", "rolebindings", ""),
        ],
        Use::CanaryExec => vec![
            (Get, "", "pods", ""),
            (List, "", "pods", ""),
            (Create, "", "pods", "exec"),
        ],
        Use::PreventPod => vec![
            (Get, "", "pods", ""),
            (Create, "", "pods", ""),
            (Delete, "", "pods", ""),
        ],
        // Granted in the namespace itself: RBAC checks a namespace's get in that namespace.
        Use::ReadNamespace => vec![(Get, "", "namespaces", "")],
        Use::ExistingServiceAccount => vec![
            (Get, "", "serviceaccounts", ""),
            (Create, "", "serviceaccounts", "token"),
        ],
        Use::RestoreRecords => vec![
            (Get, "", "secrets", ""),
            (List, "", "secrets", ""),
            (Create, "", "secrets", ""),
            (Patch, "", "secrets", ""),
            (Delete, "", "secrets", ""),
            // `cleanup` reads the pod a record names, to tell whether its run goes on.
            (Get, "", "pods", ""),
        ],
    }
}

/// What a kubernetes-object probe needs on the resource of its kind: a get by name, or a
/// list by labels. (Discovery reads non-resource URLs that every authenticated user may read
/// through the `system:discovery` ClusterRole, which a Role cannot grant.)
pub fn object_probe_verbs(probe: &KubernetesObjectProbe) -> Vec<Verb> {
    if probe.object_name.is_some() {
        vec![Verb::Get]
    } else {
        vec![Verb::List]
    }
}

/// Every permission a run of `spec` needs, sorted; empty on the local platform. The resource
/// of a kubernetes-object probe's kind is guessed from the kind (`Widget` is `widgets`), as
/// nothing here asks the cluster: see [`required_permissions_with`].
pub fn required_permissions(spec: &Spec) -> Vec<Permission> {
    required_permissions_with(spec, &|p| discover::guessed_plural(&p.api_version, &p.kind))
}

/// Every permission a run of `spec` needs, with `resource_of` naming the resource (plural)
/// that serves each kubernetes-object probe's kind, as the cluster's discovery found it.
pub fn required_permissions_with(
    spec: &Spec,
    resource_of: &dyn Fn(&KubernetesObjectProbe) -> String,
) -> Vec<Permission> {
    let Target::Kubernetes(target) = &spec.target else {
        return Vec::new();
    };
    let mut set = BTreeSet::new();
    let mut add = |ns: &str, u: Use| {
        for (verb, group, resource, subresource) in needs(u) {
            set.insert(Permission {
                namespace: ns.to_owned(),
                group: group.to_owned(),
                resource: resource.to_owned(),
                subresource,
                verb,
            });
        }
    };
    let mut objects = BTreeSet::new();
    let workload = |name: &str| target.workloads.iter().find(|w| w.name == name);
    for w in &target.workloads {
        add(&w.namespace, Use::Resolve(w.kind));
    }
    for f in &spec.faults {
        for (ns, u) in f.permissions(target) {
            add(&ns, u);
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
            Probe::KubernetesObject(p) => {
                let (group, _) = discover::group_version(&p.api_version);
                for verb in object_probe_verbs(p) {
                    objects.insert(Permission {
                        namespace: p.namespace.clone(),
                        group: group.to_owned(),
                        resource: resource_of(p),
                        subresource: "",
                        verb,
                    });
                }
            }
            Probe::Http(_) | Probe::Tcp(_) | Probe::Command(_) | Probe::Prometheus(_) => {}
        }
    }
    for s in spec.detection.iter().flat_map(|d| &d.signals) {
        if let crate::spec::DetectionSignal::KubernetesEvent(s) = s
            && let Some(w) = workload(&s.workload)
        {
            add(&w.namespace, Use::WatchEvents);
        }
    }
    set.extend(objects);
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
                    namespace: (!p.namespace.is_empty()).then(|| p.namespace.clone()),
                    group: Some(p.group.clone()),
                    resource: Some(p.resource.clone()),
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

    /// A created object's undo reads it before deleting it (`Undo::of_run`): without get,
    /// the revert would be refused and the object left behind.
    #[test]
    fn every_kind_a_drill_creates_and_deletes_can_also_be_read() {
        for u in [
            Use::ClusterProxy,
            Use::DrillServiceAccount,
            Use::CanarySecretRead,
            Use::PreventPod,
        ] {
            let rows = needs(u);
            for (verb, group, resource, sub) in &rows {
                if *verb == Verb::Delete {
                    assert!(
                        rows.contains(&(Verb::Get, *group, *resource, *sub)),
                        "{u:?} deletes {resource} without get"
                    );
                }
            }
        }
    }

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

    #[test]
    fn configuration_and_container_faults_ask_for_least_privilege() {
        let exp: crate::spec::Experiment = serde_saphyr::from_str(
            r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: k}
spec:
  target:
    platform: kubernetes
    namespaces: [shop, conf]
    workloads:
      - {name: web, namespace: shop, kind: Deployment, objectName: web}
  steadyState:
    probes:
      - {name: up, type: workload-available, workload: web}
  faults:
    - {name: c, type: config-change, namespace: conf, configMap: cfg, set: {a: b}, duration: 1s}
    - {name: r, type: secret-revoke, namespace: conf, secret: s, deleteSecret: true, restartWorkload: web, duration: 1s}
    - {name: k, type: container-kill, select: {mode: one, workload: web}}
"#,
        )
        .unwrap();
        let perms: Vec<String> = required_permissions(&exp.spec)
            .iter()
            .map(ToString::to_string)
            .collect();
        for want in [
            "get configmaps (core) in namespace conf",
            "patch configmaps (core) in namespace conf",
            "delete secrets (core) in namespace conf",
            "create secrets (core) in namespace conf",
            "patch deployments (apps) in namespace shop",
            "create pods/exec (core) in namespace shop",
            "watch pods (core) in namespace shop",
        ] {
            assert!(
                perms.iter().any(|p| p == want),
                "{want} missing from {perms:#?}"
            );
        }
        assert!(
            !perms.iter().any(|p| p.contains("patch secrets")),
            "{perms:#?}"
        );
    }

    #[test]
    fn network_and_node_faults_need_their_rows_cluster_wide_for_nodes() {
        let exp: crate::spec::Experiment = serde_saphyr::from_str(
            r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: k}
spec:
  target:
    platform: kubernetes
    namespaces: [shop]
    allowNodeFaults: true
    workloads:
      - {name: web, namespace: shop, kind: Deployment, objectName: web}
  steadyState:
    probes:
      - {name: up, type: workload-available, workload: web}
  faults:
    - {name: no-dns, type: dns-outage, select: {mode: one, workload: web}, duration: 1s}
    - {name: drain, type: node-drain, node: {type: named, name: node-1}, duration: 1s}
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
                "get nodes (core) cluster-wide",
                "patch nodes (core) cluster-wide",
                "list pods (core) cluster-wide",
                "list pods (core) in namespace kube-system",
                "get pods (core) in namespace shop",
                "list pods (core) in namespace shop",
                "create pods (core) in namespace shop",
                "patch pods (core) in namespace shop",
                "delete pods (core) in namespace shop",
                "create pods/eviction (core) in namespace shop",
                "get deployments (apps) in namespace shop",
                "list networkpolicies (networking.k8s.io) in namespace shop",
                "create networkpolicies (networking.k8s.io) in namespace shop",
                "delete networkpolicies (networking.k8s.io) in namespace shop",
            ]
        );
    }
}
