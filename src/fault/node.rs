//! Node faults on the kubernetes platform: node-cordon marks a node unschedulable, and
//! node-drain also evicts its pods through the Eviction API (PodDisruptionBudgets apply).
//! The node's `spec.unschedulable` before the change is recorded in the journal and put
//! back at the end. Only pods in the allowlisted namespaces are evicted; DaemonSet pods,
//! mirror pods, pods without a controller (eviction would delete them for good) and, when
//! the opt-in label is required, pods without it are left alone and counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

use super::kubernetes::{kube_error, lock, undo_all, workload};
use super::{BuildFault, Built, Fault, FaultContext, FaultError, Intent, on_cluster};
use crate::platform::Platform;
use crate::platform::kubernetes::{
    ApiWrite, Cluster, KubeError, PAGE, PodRef, Undo, WriteAction, check_share, retry,
};
use crate::spec::{self, KubernetesTarget, NodeChoice};

/// The annotation the kubelet puts on the API's copy of a static pod.
const MIRROR: &str = "kubernetes.io/config.mirror";

/// Why a pod on the node is not evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kept {
    /// Its namespace is not in `spec.target.namespaces`.
    OutsideAllowlist,
    /// A DaemonSet owns it (it would come back on the same node).
    DaemonSet,
    /// A mirror of a static pod (the kubelet owns it).
    Mirror,
    /// No controller would replace it.
    NoController,
    /// It lacks the opt-in label while the target requires it.
    NotOptedIn,
    /// It is already being deleted.
    Terminating,
}

impl Kept {
    fn describe(self) -> &'static str {
        match self {
            Self::OutsideAllowlist => "in namespaces outside spec.target.namespaces",
            Self::DaemonSet => "owned by a DaemonSet",
            Self::Mirror => "mirror pods of static pods",
            Self::NoController => "without a controller (eviction would delete them for good)",
            Self::NotOptedIn => "without the opt-in label",
            Self::Terminating => "already terminating",
        }
    }
}

/// Whether a drain evicts `pod`, or why it leaves it alone.
pub fn classify(pod: &Pod, target: &KubernetesTarget) -> Result<(), Kept> {
    let meta = &pod.metadata;
    if meta.deletion_timestamp.is_some() {
        return Err(Kept::Terminating);
    }
    let ns = meta.namespace.as_deref().unwrap_or_default();
    if !target.namespaces.iter().any(|n| n == ns) {
        return Err(Kept::OutsideAllowlist);
    }
    if meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR))
    {
        return Err(Kept::Mirror);
    }
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match controller {
        Some(o) if o.kind == "DaemonSet" => return Err(Kept::DaemonSet),
        Some(_) => {}
        None => return Err(Kept::NoController),
    }
    if target.require_opt_in {
        let label = &target.opt_in_label;
        let has = meta
            .labels
            .as_ref()
            .is_some_and(|l| l.get(&label.key) == Some(&label.value));
        if !has {
            return Err(Kept::NotOptedIn);
        }
    }
    Ok(())
}

/// The node of one of `pods`, chosen at random among those bound to a node.
pub fn node_of(pods: &[Pod]) -> Option<String> {
    let bound: Vec<&str> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()))
        .filter(|n| !n.is_empty())
        .collect();
    if bound.is_empty() {
        return None;
    }
    Some(bound[fastrand::usize(..bound.len())].to_owned())
}

/// What `plan` found, for `inject` and `affected`.
#[derive(Default)]
struct Planned {
    node: String,
    evict: Vec<PodRef>,
    /// Pods to evict per workload of the target.
    per_workload: BTreeMap<String, usize>,
}

family! {
    /// What a node fault does to its node.
    NodeChange {
        /// Cordon it.
        Cordon(spec::NodeCordon),
        /// Cordon it and evict its pods.
        Drain(spec::NodeDrain),
    }
}

/// Cordons a node, and for a drain evicts its pods; uncordons it at the end.
pub struct NodeFault {
    spec: NodeChange,
    cluster: Cluster,
    planned: Mutex<Planned>,
    restore: Mutex<Vec<Undo>>,
    active: Mutex<bool>,
}

impl NodeFault {
    /// A node-cordon or node-drain fault.
    pub fn new(spec: NodeChange, cluster: Cluster) -> Self {
        Self {
            spec,
            cluster,
            planned: Mutex::new(Planned::default()),
            restore: Mutex::new(Vec::new()),
            active: Mutex::new(false),
        }
    }

    fn choice(&self) -> &NodeChoice {
        match &self.spec {
            NodeChange::Cordon(f) => &f.node,
            NodeChange::Drain(f) => &f.node,
        }
    }

    fn drains(&self) -> bool {
        matches!(self.spec, NodeChange::Drain(_))
    }

    /// The node's name, from the spec or from a pod of the workload.
    async fn node(&self) -> Result<String, FaultError> {
        let name = self.spec.name();
        match self.choice() {
            NodeChoice::Named(n) => Ok(n.name.clone()),
            NodeChoice::OfWorkload(w) => {
                let w = workload(&self.cluster, name, &w.workload)?;
                // The guardrails hold for the pod that names the node.
                self.cluster
                    .target_pods(w)
                    .await
                    .map_err(kube_error(name))?;
                let pods = self.cluster.pods(w).await.map_err(kube_error(name))?;
                node_of(&pods).ok_or_else(|| FaultError::NoTargets {
                    fault: name.to_owned(),
                    workload: w.name.clone(),
                })
            }
        }
    }

    /// Every pod bound to `node`, in every namespace (to count those left alone too).
    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>, FaultError> {
        let api = Api::<Pod>::all(self.cluster.client.clone());
        let mut params = ListParams::default()
            .fields(&format!("spec.nodeName={node}"))
            .limit(PAGE);
        let what = format!("list the pods on node {node}");
        let mut pods = Vec::new();
        loop {
            let page = retry(&what, || api.list(&params))
                .await
                .map_err(kube_error(self.spec.name()))?;
            pods.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params.continue_token = Some(token),
                None => break,
            }
        }
        // The field selector is the server's; the check here keeps a server that ignores it safe.
        pods.retain(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node));
        Ok(pods)
    }

    async fn evict(&self, p: &PodRef) -> Result<(), FaultError> {
        let name = self.spec.name();
        let answer = crate::platform::kubernetes::evict(
            &self.cluster.client,
            &p.namespace,
            &p.name,
            Some(&p.uid),
            false,
        )
        .await;
        match answer {
            Ok(()) => Ok(()),
            // Gone already, or replaced (the uid precondition): nothing to evict.
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(kube_error(name)(e)),
        }
    }
}

#[async_trait]
impl Fault for NodeFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let name = self.spec.name().to_owned();
        if !self.cluster.target.allow_node_faults {
            return Err(FaultError::Unsafe {
                fault: name,
                message: "node faults need spec.target.allowNodeFaults: true".to_owned(),
            });
        }
        let node = self.node().await?;
        let api = Api::<Node>::all(self.cluster.client.clone());
        let what = format!("get node {node}");
        let found = retry(&what, || api.get_opt(&node))
            .await
            .map_err(kube_error(&name))?
            .ok_or_else(|| FaultError::Kubernetes {
                fault: name.clone(),
                source: KubeError::NotFound(format!("node {node} does not exist")),
            })?;
        let original = found.spec.and_then(|s| s.unschedulable);
        let undo = Undo::RestoreNodeUnschedulable {
            node: node.clone(),
            value: original,
        };
        let mut changes = vec![format!(
            "cordon node {node}: set spec.unschedulable to true (now {})",
            original.map_or_else(|| "absent".to_owned(), |v| v.to_string())
        )];
        let mut writes = vec![ApiWrite::of::<Node>(
            "",
            &node,
            WriteAction::MergePatch {
                subresource: None,
                patch: json!({"spec": {"unschedulable": true}}),
            },
        )];
        let mut targets = vec![format!("node/{node}")];
        let mut planned = Planned {
            node: node.clone(),
            ..Planned::default()
        };
        if self.drains() {
            let mut kept: BTreeMap<Kept, usize> = BTreeMap::new();
            for pod in self.pods_on(&node).await? {
                match classify(&pod, &self.cluster.target) {
                    Ok(()) => planned.evict.push(PodRef::from_pod(&pod)),
                    Err(why) => *kept.entry(why).or_default() += 1,
                }
            }
            // The share bound holds for each workload of the target the drain takes pods from.
            for w in &self.cluster.target.workloads {
                let Ok(pods) = self.cluster.pods(w).await else {
                    continue;
                };
                let uids: Vec<&str> = pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| p.metadata.uid.as_deref())
                    .collect();
                let taking = planned
                    .evict
                    .iter()
                    .filter(|p| uids.contains(&p.uid.as_str()))
                    .count();
                if taking > 0 {
                    check_share(
                        &name,
                        &w.name,
                        taking,
                        0,
                        uids.len(),
                        self.cluster.max_affected_percent,
                    )
                    .map_err(kube_error(&name))?;
                    planned.per_workload.insert(w.name.clone(), taking);
                }
            }
            for p in &planned.evict {
                changes.push(format!("evict pod {} (uid {})", p.id(), p.uid));
                writes.push(ApiWrite::of::<Pod>(
                    &p.namespace,
                    &p.name,
                    WriteAction::Evict,
                ));
                targets.push(p.id());
            }
            for (why, n) in &kept {
                changes.push(format!(
                    "leave alone {n} pod(s) on node {node} {}",
                    why.describe()
                ));
            }
        }
        let intent = Intent {
            fault: name,
            fault_type: self.spec.type_name().to_owned(),
            changes,
            undo: vec![undo.to_string()],
            targets,
            restore: vec![undo.clone()],
            pool: None,
            writes,
        };
        *lock(&self.restore) = vec![undo];
        *lock(&self.planned) = planned;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let name = self.spec.name();
        let (node, evict) = {
            let planned = lock(&self.planned);
            (planned.node.clone(), planned.evict.clone())
        };
        if node.is_empty() {
            return Ok(());
        }
        *lock(&self.active) = true;
        let api = Api::<Node>::all(self.cluster.client.clone());
        let patch = Patch::Merge(json!({"spec": {"unschedulable": true}}));
        let what = format!("cordon node {node}");
        let params = PatchParams::default();
        retry(&what, || api.patch(&node, &params, &patch))
            .await
            .map_err(kube_error(name))?;
        // Cordoned first, so that no evicted pod's replacement lands on the node again.
        for p in &evict {
            self.evict(p).await?;
        }
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        use super::Effect;
        let (node, evict) = {
            let planned = lock(&self.planned);
            (planned.node.clone(), planned.evict.clone())
        };
        if node.is_empty() {
            return Effect::unverified("no node was chosen");
        }
        let api = Api::<Node>::all(self.cluster.client.clone());
        let cordoned = match api.get_opt(&node).await {
            Ok(Some(n)) if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) => {
                Effect::verified(format!("node {node} is unschedulable"))
            }
            Ok(Some(_)) => Effect::ineffective(format!("node {node} is still schedulable")),
            Ok(None) => Effect::ineffective(format!("node {node} is gone")),
            Err(e) => Effect::unverified(format!("node {node} cannot be read: {e}")),
        };
        let mut effects = vec![cordoned];
        for p in &evict {
            effects.push(super::kubernetes::pod_removed(&self.cluster, p, "eviction").await);
        }
        Effect::all(effects)
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let done = undo_all(&self.cluster, self.spec.name(), &self.restore).await?;
        *lock(&self.active) = false;
        Ok(done)
    }

    fn affected(&self, workload: &str) -> usize {
        if !*lock(&self.active) {
            return 0;
        }
        lock(&self.planned)
            .per_workload
            .get(workload)
            .copied()
            .unwrap_or(0)
    }
}

impl BuildFault for spec::NodeCordon {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            NodeFault::new(NodeChange::Cordon(s), c)
        })
    }
}

impl BuildFault for spec::NodeDrain {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            NodeFault::new(NodeChange::Drain(s), c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::OptInLabel;

    fn target() -> KubernetesTarget {
        KubernetesTarget {
            context: None,
            namespaces: vec!["shop".into()],
            allow_system_namespaces: false,
            opt_in_label: OptInLabel::default(),
            require_opt_in: true,
            workloads: Vec::new(),
            allow_node_faults: true,
            helper_image: None,
            dependencies: Vec::new(),
        }
    }

    fn pod(v: serde_json::Value) -> Pod {
        let mut base = json!({
            "metadata": {"name": "p", "namespace": "shop", "uid": "u",
                "labels": {"firedrill.dev/chaos": "allowed"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs", "controller": true}]},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]},
        });
        json_patch(&mut base, v);
        serde_json::from_value(base).unwrap()
    }

    /// A JSON merge patch, as the API server applies it.
    fn json_patch(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        b.remove(&k);
                    } else {
                        json_patch(b.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
            (b, p) => *b = p,
        }
    }

    #[test]
    fn a_drain_evicts_controlled_opted_in_pods_of_the_allowlist_only() {
        let t = target();
        assert_eq!(classify(&pod(json!({})), &t), Ok(()));
        assert_eq!(
            classify(&pod(json!({"metadata": {"namespace": "billing"}})), &t),
            Err(Kept::OutsideAllowlist)
        );
        assert_eq!(
            classify(
                &pod(
                    json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds", "controller": true}]}})
                ),
                &t
            ),
            Err(Kept::DaemonSet)
        );
        assert_eq!(
            classify(
                &pod(json!({"metadata": {"annotations": {MIRROR: "abc"}}})),
                &t
            ),
            Err(Kept::Mirror)
        );
        assert_eq!(
            classify(&pod(json!({"metadata": {"ownerReferences": null}})), &t),
            Err(Kept::NoController)
        );
        assert_eq!(
            classify(&pod(json!({"metadata": {"labels": null}})), &t),
            Err(Kept::NotOptedIn)
        );
        let mut open = target();
        open.require_opt_in = false;
        assert_eq!(
            classify(&pod(json!({"metadata": {"labels": null}})), &open),
            Ok(())
        );
        assert_eq!(
            classify(
                &pod(json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})),
                &t
            ),
            Err(Kept::Terminating)
        );
    }

    #[test]
    fn the_node_of_a_workload_is_one_its_pods_are_bound_to() {
        let pods = vec![
            pod(json!({"spec": {"nodeName": null}})),
            pod(json!({"spec": {"nodeName": "node-2"}})),
            pod(
                json!({"spec": {"nodeName": "node-3"}, "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            ),
        ];
        for _ in 0..20 {
            assert_eq!(node_of(&pods).as_deref(), Some("node-2"));
        }
        assert_eq!(node_of(&pods[..1]), None);
        let both = vec![
            pod(json!({"spec": {"nodeName": "node-1"}})),
            pod(json!({"spec": {"nodeName": "node-2"}})),
        ];
        let seen: std::collections::BTreeSet<String> =
            (0..200).filter_map(|_| node_of(&both)).collect();
        assert_eq!(seen.len(), 2, "either node can be picked: {seen:?}");
    }
}
