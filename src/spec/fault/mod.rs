//! The fault kinds of the experiment document, one file per family (mirroring
//! `src/fault/`).
//!
//! Security drills are among them: detection canaries (benign actions a working security
//! monitor must notice) and prevention checks (actions policy must refuse).
//! docs/security-drills.md describes each one: what it imitates, what a monitor must see,
//! and what catching or refusing it does not prove.

/// Implements [`FaultKind`]'s `name`, `at` and `duration` from the fields every fault has;
/// with `selected pods`, also `selector` and `workload` from a `select` field of pods, and
/// with `no selection`, `selector` and `workload` of a kind that selects nothing.
macro_rules! common_fields {
    () => {
        fn name(&self) -> &str {
            &self.name
        }
        fn at(&self) -> Duration {
            self.at
        }
        fn duration(&self) -> Duration {
            self.duration
        }
    };
    (selected pods) => {
        common_fields!();

        fn selector(&self) -> Option<&Selector> {
            Some(&self.select)
        }
        fn workload(&self) -> Option<&str> {
            Some(self.select.workload())
        }
    };
    (no selection) => {
        common_fields!();

        fn selector(&self) -> Option<&Selector> {
            None
        }
        fn workload(&self) -> Option<&str> {
            None
        }
    };
}

mod canary;
mod canary_kube;
mod config;
mod container;
mod dependency;
mod kubernetes;
mod memory;
mod network;
mod node;
mod pod_stress;
mod prevention;
mod process;
mod stress;

pub use canary::*;
pub use canary_kube::*;
pub use config::*;
pub use container::*;
pub use dependency::*;
pub use kubernetes::*;
pub use memory::*;
pub use network::*;
pub use node::*;
pub use pod_stress::*;
pub use prevention::*;
pub use process::*;
pub use stress::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::capability::{
    CANARY, CONTAINMENT_FAULT, CREDENTIAL_FAULT, DEPENDENCY_FAULT, PREVENTION_CHECK, PROCESS_FAULT,
};
use super::{
    Capability, Checker, Duration, KubernetesTarget, KubernetesWorkload, Scope, Selector, Target,
    Use, WorkloadKind,
};

/// Every fault kind, once, in the order of the schema: `fault_kinds!(callback)` passes the
/// list to `callback!`, which generates what needs one piece per kind. The spec generates
/// [`FaultSpec`] from it; `fault::build` generates its dispatch from it. Each line is the
/// variant's doc comment (the schema's description of the type), the variant and its struct,
/// which implements [`FaultKind`].
macro_rules! fault_kinds {
    ($callback:ident) => {
        $callback! {
            /// Send a signal to the selected replicas (they come back by their restart policy).
            ProcessKill(ProcessKill),
            /// Stop the selected replicas with SIGSTOP for the duration, then SIGCONT.
            ProcessPause(ProcessPause),
            /// Burn CPU on this host for the duration.
            CpuStress(CpuStress),
            /// Hold memory on this host for the duration.
            MemoryPressure(MemoryPressure),
            /// Delay a dependency's data.
            DependencyLatency(DependencyLatency),
            /// Answer a share of a dependency's HTTP requests with an error status.
            DependencyErrors(DependencyErrors),
            /// Make a dependency unreachable.
            DependencyOutage(DependencyOutage),
            /// Limit a dependency's bandwidth.
            DependencyBandwidth(DependencyBandwidth),
            /// Delete pods of a Kubernetes workload (its controller replaces them).
            PodDelete(PodDelete),
            /// Evict pods of a Kubernetes workload through the Eviction API (PodDisruptionBudgets apply).
            PodEvict(PodEvict),
            /// Scale a Deployment or StatefulSet, restored at the end.
            Scale(Scale),
            /// Restart a controller's pods by changing its template's restart annotation, restored at the end.
            RolloutRestart(RolloutRestart),
            /// Cut pods off the network (ingress and egress) with a NetworkPolicy, pods kept.
            Quarantine(Quarantine),
            /// Set or remove keys of a ConfigMap, put back at the end.
            ConfigChange(ConfigChange),
            /// Replace a Secret key's value (random, or from an environment variable), put back at the end.
            SecretRotate(SecretRotate),
            /// Remove a Secret's key, or the whole Secret, put back at the end.
            SecretRevoke(SecretRevoke),
            /// Kill a container's main process through `pods/exec`; the kubelet restarts the container.
            ContainerKill(ContainerKill),
            PodCpuStress(PodCpuStress),
            PodMemoryStress(PodMemoryStress),
            PodDiskFill(PodDiskFill),
            /// Block the selected pods' egress to a dependency (an address range, or pods by label) with a NetworkPolicy.
            EgressBlock(EgressBlock),
            /// Block the selected pods' egress to the cluster DNS and to port 53 anywhere with a NetworkPolicy.
            DnsOutage(DnsOutage),
            /// Mark a node unschedulable for the duration, then schedulable again as it was.
            NodeCordon(NodeCordon),
            /// Cordon a node and evict its pods in the allowlisted namespaces; uncordoned at the end.
            NodeDrain(NodeDrain),
            /// Send requests carrying the canary marker to a local workload (a detection canary).
            CanaryRequest(CanaryRequest),
            /// Read a honeytoken file on this host (a detection canary).
            CanaryFileRead(CanaryFileRead),
            /// Read a honeytoken Secret with a dedicated ServiceAccount (a detection canary).
            CanarySecretRead(CanarySecretRead),
            /// Run a suspicious-looking but harmless command in pods through `pods/exec` (a detection canary).
            CanaryExec(CanaryExec),
            /// Look up a canary domain from pods (a detection canary).
            CanaryDnsLookup(CanaryDnsLookup),
            /// Send a burst of requests the API server must refuse (a detection canary).
            CanaryDeniedRequests(CanaryDeniedRequests),
            /// Try to create a privileged pod, which policy must refuse (a prevention check).
            PreventPrivilegedPod(PreventPrivilegedPod),
            /// Try to create a pod that mounts a host path, which policy must refuse (a prevention check).
            PreventHostPath(PreventHostPath),
            /// Try to create a pod that breaks the namespace's Pod Security level (a prevention check).
            PreventPodSecurity(PreventPodSecurity),
            /// Try to read a Secret as a ServiceAccount that must not read it (a prevention check).
            PreventSecretRead(PreventSecretRead),
        }
    };
}
pub(crate) use fault_kinds;

/// The platforms a fault kind acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platforms {
    /// Only this host's processes (`spec.target.platform: local`).
    Local,
    /// Only through the Kubernetes API.
    Kubernetes,
    /// Both: a dependency fault acts through the embedded proxy locally and through a proxy
    /// deployed in front of the dependency's Service on kubernetes.
    Both,
}

/// The check of a detection canary (docs/effects.md).
const CANARY_EFFECT_CHECK: &str = "the canary's action was performed (its outcome lists it)";
/// The check of a prevention check.
const PREVENTION_EFFECT_CHECK: &str =
    "the attempt was answered by the API server (refused or accepted)";
/// The check of a NetworkPolicy fault.
const POLICY_EFFECT_CHECK: &str = "a verifier pod in the cluster (the firedrill image, where the policy applies) tries a connection the policy blocks and one it allows: blocked and allowed is verified, the blocked one getting through is ineffective (the network plugin ignores NetworkPolicies)";
/// The check of a change to a ConfigMap or a Secret.
const CHANGE_EFFECT_CHECK: &str = "the object holds the change (keys set or removed, or the Secret gone), then the restart's check when the fault restarts a workload";

/// What one fault kind is: the answers every part of firedrill asks of a fault in the
/// document. Each kind's struct implements it in its family's file; the runtime side
/// (`fault::BuildFault`) builds it.
pub trait FaultKind {
    /// The `type` as written in experiment documents.
    const TYPE_NAME: &'static str;
    /// The platforms it acts on.
    const PLATFORMS: Platforms;
    /// The scorecard capabilities it exercises by default (never empty: a test checks).
    const CAPABILITIES: &'static [Capability];
    /// Whether it is a prevention check (an action policy must refuse).
    const PREVENTION_CHECK: bool = false;
    /// Whether it removes pods that their controller replaces, so that the run follows each
    /// replacement until it is Ready (the pod recovery of result.json).
    const REMOVES_PODS: bool = false;
    /// What the check after its injection observes to show it in force (docs/effects.md),
    /// as `plan` says it.
    const EFFECT_CHECK: &'static str;
    /// The same on the kubernetes platform, when it differs there.
    const EFFECT_CHECK_IN_CLUSTER: Option<&'static str> = None;

    /// The fault's name, unique among the experiment's faults.
    fn name(&self) -> &str;
    /// Offset from the start of the iteration's fault phase.
    fn at(&self) -> Duration;
    /// How long the fault stays in place before it is reverted.
    fn duration(&self) -> Duration;
    /// The replicas or pods it acts on, if it selects them.
    fn selector(&self) -> Option<&Selector>;
    /// The Kubernetes workload it acts on or restarts, if any.
    fn workload(&self) -> Option<&str>;
    /// The dependency it acts on, if it acts on one.
    fn dependency(&self) -> Option<&str> {
        None
    }
    /// The detection signals a detection canary names as noticing it; `None` for every
    /// fault that is not a canary.
    fn canary_signals(&self) -> Option<&[String]> {
        None
    }
    /// Its own checks, after the checks every fault gets (name, platform, selector,
    /// dependency, canary signals); `path` is `spec.faults[i]`.
    fn validate(&self, path: &str, check: &mut Checker<'_>);
    /// What `firedrill plan` says it does.
    fn describe(&self) -> String;
    /// What `firedrill plan` says undoes it on `target`'s platform.
    fn undo(&self, target: &Target) -> &'static str;
    /// What a run of it needs from the API on `target`, by namespace (empty for cluster-wide
    /// uses), for the preflight check.
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)>;
    /// What an installation grants its type, over every option and workload kind it accepts
    /// (`firedrill rbac`, the chart's rules); empty for a kind that never uses the API.
    fn granted() -> Vec<(Scope, Use)>;
}

/// What is known of a fault type without a fault of it.
#[derive(Clone, Debug)]
pub struct FaultType {
    /// The `type` as written in experiment documents.
    pub name: &'static str,
    /// The platforms it acts on.
    pub platforms: Platforms,
    /// The scorecard capabilities it exercises by default.
    pub capabilities: &'static [Capability],
    /// What an installation grants it.
    pub granted: Vec<(Scope, Use)>,
}

macro_rules! fault_spec {
    ($( $(#[$doc:meta])* $variant:ident($kind:ident), )*) => {
        /// One fault of the iteration's schedule.
        #[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
        #[serde(tag = "type", rename_all = "kebab-case")]
        pub enum FaultSpec {
            $( $(#[$doc])* $variant($kind), )*
        }

        /// Every fault type, in the order of the schema.
        pub const FAULT_TYPES: &[&str] = &[$(<$kind as FaultKind>::TYPE_NAME,)*];

        /// Every fault type with what is known of it, in the order of the schema.
        pub fn fault_types() -> Vec<FaultType> {
            vec![$(
                FaultType {
                    name: <$kind as FaultKind>::TYPE_NAME,
                    platforms: <$kind as FaultKind>::PLATFORMS,
                    capabilities: <$kind as FaultKind>::CAPABILITIES,
                    granted: <$kind as FaultKind>::granted(),
                },
            )*]
        }

        impl FaultSpec {
            /// The fault's name.
            pub fn name(&self) -> &str {
                match self { $(Self::$variant(f) => f.name(),)* }
            }

            /// The fault's type as written in the document.
            pub fn type_name(&self) -> &'static str {
                match self { $(Self::$variant(_) => <$kind as FaultKind>::TYPE_NAME,)* }
            }

            /// The platforms the fault acts on.
            pub fn platforms(&self) -> Platforms {
                match self { $(Self::$variant(_) => <$kind as FaultKind>::PLATFORMS,)* }
            }

            /// The scorecard capabilities the fault's type exercises by default.
            pub fn capabilities(&self) -> &'static [Capability] {
                match self { $(Self::$variant(_) => <$kind as FaultKind>::CAPABILITIES,)* }
            }

            /// Whether the fault is a prevention check (an action policy must refuse).
            pub fn is_prevention_check(&self) -> bool {
                match self { $(Self::$variant(_) => <$kind as FaultKind>::PREVENTION_CHECK,)* }
            }

            /// What the check after its injection observes (docs/effects.md); `in_cluster`
            /// on the kubernetes platform.
            pub fn effect_check(&self, in_cluster: bool) -> &'static str {
                match self { $(Self::$variant(_) => match <$kind as FaultKind>::EFFECT_CHECK_IN_CLUSTER {
                    Some(there) if in_cluster => there,
                    _ => <$kind as FaultKind>::EFFECT_CHECK,
                },)* }
            }

            /// Whether the fault removes pods that their controller replaces.
            pub fn removes_pods(&self) -> bool {
                match self { $(Self::$variant(_) => <$kind as FaultKind>::REMOVES_PODS,)* }
            }

            /// Offset from the start of the iteration's fault phase.
            pub fn at(&self) -> Duration {
                match self { $(Self::$variant(f) => f.at(),)* }
            }

            /// How long the fault stays in place before it is reverted.
            pub fn duration(&self) -> Duration {
                match self { $(Self::$variant(f) => f.duration(),)* }
            }

            /// The replicas the fault acts on, if it acts on replicas.
            pub fn selector(&self) -> Option<&Selector> {
                match self { $(Self::$variant(f) => f.selector(),)* }
            }

            /// The workload a Kubernetes fault acts on.
            pub fn kubernetes_workload(&self) -> Option<&str> {
                match self { $(Self::$variant(f) => f.workload(),)* }
            }

            /// The dependency the fault acts on, if it acts on one.
            pub fn dependency(&self) -> Option<&str> {
                match self { $(Self::$variant(f) => f.dependency(),)* }
            }

            /// The detection signals a detection canary names as noticing it; `None` for
            /// every fault that is not a canary.
            pub fn canary_signals(&self) -> Option<&[String]> {
                match self { $(Self::$variant(f) => f.canary_signals(),)* }
            }

            /// The fault's own checks (see [`FaultKind::validate`]).
            pub fn validate(&self, path: &str, check: &mut Checker<'_>) {
                match self { $(Self::$variant(f) => f.validate(path, check),)* }
            }

            /// What `firedrill plan` says the fault does.
            pub fn describe(&self) -> String {
                match self { $(Self::$variant(f) => f.describe(),)* }
            }

            /// What `firedrill plan` says undoes the fault on `target`'s platform.
            pub fn undo(&self, target: &Target) -> &'static str {
                match self { $(Self::$variant(f) => f.undo(target),)* }
            }

            /// What a run of the fault needs from the API on `target`, by namespace.
            pub fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
                match self { $(Self::$variant(f) => f.permissions(target),)* }
            }
        }
    };
}
fault_kinds!(fault_spec);

impl FaultSpec {
    /// Whether the fault acts through the Kubernetes API only (and needs the kubernetes
    /// platform).
    pub fn is_kubernetes(&self) -> bool {
        self.platforms() == Platforms::Kubernetes
    }
}

/// The controllers a rollout restart accepts (validation refuses a Pod workload).
const RESTARTABLE: [WorkloadKind; 3] = [
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
];

/// What an installation grants for restarting a workload of any kind that can be restarted.
fn restart_granted() -> Vec<(Scope, Use)> {
    RESTARTABLE
        .iter()
        .map(|&k| (Scope::Target, Use::RolloutRestart(k)))
        .collect()
}

/// The workload of `target` named `name`, if there is one.
fn workload_of<'a>(
    target: &'a KubernetesTarget,
    name: Option<&str>,
) -> Option<&'a KubernetesWorkload> {
    name.and_then(|n| target.workloads.iter().find(|w| w.name == n))
}

/// The uses of a fault on the pods of its workload: each of `uses` in the workload's
/// namespace, none when the workload is unknown (validation reports it).
fn in_workload_namespace(
    target: &KubernetesTarget,
    name: Option<&str>,
    uses: impl FnOnce(&KubernetesWorkload) -> Vec<Use>,
) -> Vec<(String, Use)> {
    workload_of(target, name).map_or_else(Vec::new, |w| {
        uses(w)
            .into_iter()
            .map(|u| (w.namespace.clone(), u))
            .collect()
    })
}

/// "one replica of web", as `plan` names a selection of local replicas.
fn replicas(s: &Selector) -> String {
    match s {
        Selector::One(x) => format!("one replica of {}", x.workload),
        Selector::All(x) => format!("every replica of {}", x.workload),
        Selector::Fixed(x) => format!("{} replica(s) of {}", x.count, x.workload),
        Selector::Percent(x) => format!("{}% of the replicas of {}", x.percent, x.workload),
    }
}

/// "one pod of web", as `plan` names a selection of pods.
fn pods(s: &Selector) -> String {
    match s {
        Selector::One(x) => format!("one pod of {}", x.workload),
        Selector::All(x) => format!("every pod of {}", x.workload),
        Selector::Fixed(x) => format!("{} pod(s) of {}", x.count, x.workload),
        Selector::Percent(x) => format!("{}% of the pods of {}", x.percent, x.workload),
    }
}

/// Pods by label, as `plan` names them.
fn peer(p: &PodPeer) -> String {
    if p.match_labels.is_empty() {
        format!("every pod in {}", p.namespace)
    } else {
        let labels: Vec<String> = p
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("pods {} in {}", labels.join(","), p.namespace)
    }
}

/// A node choice, as `plan` names it.
fn node(n: &NodeChoice) -> String {
    match n {
        NodeChoice::Named(x) => format!("node {}", x.name),
        NodeChoice::OfWorkload(x) => format!("the node of one pod of {}", x.workload),
    }
}

/// The rollout restart a configuration fault adds, as a clause.
fn restarting(workload: Option<&str>) -> String {
    workload
        .map(|w| format!(", then rollout restart of {w}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// A kind that maps to no capability would count toward nothing on the scorecard.
    #[test]
    fn every_kind_exercises_a_scorecard_capability() {
        for t in fault_types() {
            assert!(
                !t.capabilities.is_empty(),
                "`{}` exercises no scorecard capability: give it CAPABILITIES",
                t.name
            );
        }
    }

    /// A kind that acts through the API needs rows in the permission table, or preflight,
    /// `firedrill rbac` and the chart's rules would leave it out.
    #[test]
    fn every_kind_that_uses_the_api_is_granted_its_permissions() {
        for t in fault_types() {
            if t.platforms != Platforms::Local {
                assert!(
                    !t.granted.is_empty(),
                    "`{}` acts on kubernetes but is granted nothing: list its uses in `granted`",
                    t.name
                );
            }
        }
    }

    fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }

    /// Every kind is shown in use by at least one example in experiments/.
    #[test]
    fn every_kind_has_an_example() {
        let mut files = Vec::new();
        yaml_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments"),
            &mut files,
        );
        let mut used = BTreeSet::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            // Suites list experiments and have no faults of their own.
            if let Ok(exp) = serde_saphyr::from_str::<crate::spec::Experiment>(&text) {
                used.extend(exp.spec.faults.iter().map(FaultSpec::type_name));
            }
        }
        for name in FAULT_TYPES {
            assert!(
                used.contains(name),
                "no example in experiments/ uses `type: {name}`"
            );
        }
    }

    /// The type names the kinds declare are the tags serde reads and the schema shows.
    #[test]
    fn the_type_names_are_the_schema_tags() {
        let schema = serde_json::to_value(schemars::schema_for!(crate::spec::Experiment)).unwrap();
        let tags: Vec<&str> = schema["$defs"]["FaultSpec"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["properties"]["type"]["const"].as_str().unwrap())
            .collect();
        assert_eq!(tags, FAULT_TYPES);
    }
}
