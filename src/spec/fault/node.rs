//! Node faults: cordon, and cordon with drain.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::Duration;

/// Mark a node unschedulable (`spec.unschedulable: true`) for the duration; its value
/// before is recorded and put back at the end. Pods already on it keep running.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeCordon {
    /// Unique name among the faults.
    pub name: String,
    /// The node.
    pub node: NodeChoice,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the node stays cordoned.
    pub duration: Duration,
}

/// Cordon a node, then evict (PodDisruptionBudgets apply) its pods in the allowlisted
/// namespaces, except DaemonSet and mirror pods; the node is uncordoned at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeDrain {
    /// Unique name among the faults.
    pub name: String,
    /// The node.
    pub node: NodeChoice,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the node stays cordoned after the evictions.
    pub duration: Duration,
}

/// How a node fault picks its node.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum NodeChoice {
    /// The node with this name.
    Named(NamedNode),
    /// The node one pod of a workload runs on, the pod chosen at random.
    OfWorkload(NodeOfWorkload),
}

impl NodeChoice {
    /// The workload whose pod picks the node, if a workload does.
    pub fn workload(&self) -> Option<&str> {
        match self {
            Self::Named(_) => None,
            Self::OfWorkload(w) => Some(&w.workload),
        }
    }
}

/// A node by name.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedNode {
    /// The node's name.
    pub name: String,
}

/// The node of a pod of a workload.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeOfWorkload {
    /// The workload's name.
    pub workload: String,
}

/// The checks both node faults share.
fn check_node(
    type_name: &str,
    path: &str,
    node: &NodeChoice,
    duration: Duration,
    check: &mut Checker<'_>,
) {
    if let Target::Kubernetes(kube) = &check.experiment().spec.target
        && !kube.allow_node_faults
    {
        check.problem(
            format!("{path}.type"),
            format!(
                "`{type_name}` changes a node, which reaches beyond the allowlisted namespaces; set spec.target.allowNodeFaults: true to allow it"
            ),
        );
    }
    match node {
        NodeChoice::Named(n) => {
            if n.name.trim().is_empty() {
                check.problem(format!("{path}.node.name"), "must not be empty");
            }
        }
        NodeChoice::OfWorkload(w) => {
            check.kubernetes_workload(&format!("{path}.node.workload"), &w.workload);
        }
    }
    check.positive(&format!("{path}.duration"), duration);
}

/// What both node faults undo.
const UNCORDON: &str = "put the node's spec.unschedulable back as recorded (uncordon)";

impl FaultKind for NodeCordon {
    const TYPE_NAME: &'static str = "node-cordon";
    const EFFECT_CHECK: &'static str = "the node is unschedulable";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        self.node.workload()
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check_node(Self::TYPE_NAME, path, &self.node, self.duration, check);
    }
    fn describe(&self) -> String {
        format!("cordon {} for {}", node(&self.node), self.duration)
    }
    fn undo(&self, _target: &Target) -> &'static str {
        UNCORDON
    }
    // Nodes are cluster-scoped: these rows name no namespace.
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        vec![(String::new(), Use::NodeCordon)]
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![(Scope::Cluster, Use::NodeCordon)]
    }
}

impl FaultKind for NodeDrain {
    const TYPE_NAME: &'static str = "node-drain";
    const EFFECT_CHECK: &'static str = "the node is unschedulable and each evicted pod is gone, replaced or terminating within 5 s";
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        self.node.workload()
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check_node(Self::TYPE_NAME, path, &self.node, self.duration, check);
    }
    fn describe(&self) -> String {
        format!(
            "cordon and drain {} (evictions, PodDisruptionBudgets apply), uncordoned after {}",
            node(&self.node),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        UNCORDON
    }
    // Nodes are cluster-scoped; the evictions happen in every allowlisted namespace.
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        let mut uses = vec![
            (String::new(), Use::NodeCordon),
            (String::new(), Use::NodePods),
        ];
        uses.extend(
            target
                .namespaces
                .iter()
                .map(|ns| (ns.clone(), Use::PodEvict)),
        );
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Cluster, Use::NodeCordon),
            (Scope::Cluster, Use::NodePods),
            (Scope::Target, Use::PodEvict),
        ]
    }
}
