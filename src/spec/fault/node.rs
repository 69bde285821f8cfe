//! Node faults: cordon, and cordon with drain.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
