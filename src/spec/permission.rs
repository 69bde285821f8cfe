//! What a fault kind (or a probe or signal) does with the Kubernetes API, as plain data: the
//! platform turns each [`Use`] into permission rows (`needs` in
//! `platform/kubernetes/preflight.rs`), checked before a run and granted by the chart.
//!
//! These types live in the spec so that each fault kind can declare its own uses beside its
//! fields, without the spec importing the platform.

use super::WorkloadKind;

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
    /// The config-change fault.
    ConfigChange,
    /// The secret-rotate fault, and secret-revoke of one key.
    SecretKeys,
    /// The secret-revoke fault deleting the whole Secret (and creating it again).
    SecretDelete,
    /// The container-kill fault: the command through exec, and the restart watch.
    ContainerKill,
    /// Run firedrill's helper as an ephemeral container of a target pod, read it and stop
    /// it through `pods/exec` (pod-cpu-stress, pod-memory-stress, pod-disk-fill).
    PodHelper,
    /// A dependency fault: the fault proxy deployed in front of a Service.
    ClusterProxy,
    /// The egress-block and dns-outage faults, on the selected pods' namespace.
    EgressPolicy,
    /// The verifier pod of a proof of effect in the cluster (the NetworkPolicy faults, and
    /// the dependency faults through their proxy): created, read until it ends, and deleted,
    /// in the fault's namespace (whose pods it lists to pick its destinations).
    VerifierPod,
    /// Reading the pods an egress policy leaves out, in their namespace.
    ReadPeers,
    /// Cordoning a node and putting it back (cluster-wide).
    NodeCordon,
    /// Finding the pods on a node (cluster-wide).
    NodePods,
    /// The kubernetes-event detection signal: Warning events of a namespace.
    WatchEvents,
    /// A ServiceAccount a security drill creates, deletes and asks a token for.
    DrillServiceAccount,
    /// The canary-secret-read fault: the honeytoken Secret and the Role and RoleBinding
    /// that let its ServiceAccount read it. Creating a Role that grants `get` on Secrets
    /// needs the run to hold that permission itself (RBAC's escalation check).
    CanarySecretRead,
    /// A command run in pods through exec (canary-exec, canary-dns-lookup).
    CanaryExec,
    /// A prevention check's pod: created (policy should refuse) and deleted when accepted.
    PreventPod,
    /// Reading the Pod Security level a namespace enforces.
    ReadNamespace,
    /// A token of a ServiceAccount that exists (prevent-secret-read with `serviceAccount`).
    ExistingServiceAccount,
    /// The run's restore record (a Secret per run, `--restore-namespace`): created, added
    /// to before each change, deleted at the end; listed and applied by `firedrill cleanup`.
    RestoreRecords,
}

/// Where a group of rules applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Each namespace whose workloads the drills act on (a Role per namespace).
    Target,
    /// Namespaces read for peers outside the targets, such as the DNS pods in `kube-system`.
    Peers,
    /// Cluster-scoped (a ClusterRole).
    Cluster,
    /// The namespace of the runs' restore records (`--restore-namespace`; the chart's
    /// release namespace).
    Restore,
}

impl Scope {
    /// Every scope, in output order.
    pub const ALL: [Scope; 4] = [Scope::Target, Scope::Peers, Scope::Cluster, Scope::Restore];

    /// The key of the scope in YAML output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::Peers => "peers",
            Self::Cluster => "cluster",
            Self::Restore => "restore",
        }
    }
}
