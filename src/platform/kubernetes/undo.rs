//! How each change firedrill makes is undone, recorded in the journal before the change so
//! that `firedrill rollback` can undo it from the journal alone.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{KubeError, retry};
use crate::spec::WorkloadKind;

/// One change to undo, with everything needed to undo it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Undo {
    /// Scale a Deployment or StatefulSet back to its recorded replica count.
    #[serde(rename_all = "camelCase")]
    ScaleTo {
        /// Deployment or StatefulSet.
        kind: WorkloadKind,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The count before the change.
        replicas: i32,
    },
    /// Put a pod template annotation back as it was (absent when `value` is none).
    #[serde(rename_all = "camelCase")]
    RestoreTemplateAnnotation {
        /// Deployment, StatefulSet or DaemonSet.
        kind: WorkloadKind,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The annotation's key.
        key: String,
        /// Its value before the change.
        value: Option<String>,
    },
    /// Delete a NetworkPolicy firedrill created.
    #[serde(rename_all = "camelCase")]
    DeleteNetworkPolicy {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Remove a label firedrill put on a pod.
    #[serde(rename_all = "camelCase")]
    RemovePodLabel {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The label's key.
        key: String,
    },
    /// Put a node's `spec.unschedulable` back as it was (absent when `value` is none): uncordon.
    #[serde(rename_all = "camelCase")]
    RestoreNodeUnschedulable {
        /// The node's name.
        node: String,
        /// Its value before the change.
        value: Option<bool>,
    },
}

impl std::fmt::Display for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ScaleTo {
                kind,
                namespace,
                name,
                replicas,
            } => {
                write!(
                    f,
                    "scale {} {namespace}/{name} back to {replicas}",
                    kind.as_str()
                )
            }
            Self::RestoreTemplateAnnotation {
                kind,
                namespace,
                name,
                key,
                value,
            } => match value {
                Some(v) => write!(
                    f,
                    "set the template annotation {key}={v} on {} {namespace}/{name} again",
                    kind.as_str()
                ),
                None => write!(
                    f,
                    "remove the template annotation {key} from {} {namespace}/{name}",
                    kind.as_str()
                ),
            },
            Self::DeleteNetworkPolicy { namespace, name } => {
                write!(f, "delete NetworkPolicy {namespace}/{name}")
            }
            Self::RemovePodLabel {
                namespace,
                pod,
                key,
            } => {
                write!(f, "remove the label {key} from pod {namespace}/{pod}")
            }
            Self::RestoreNodeUnschedulable { node, value } => match value {
                Some(true) => write!(f, "leave node {node} cordoned as it was (unschedulable)"),
                Some(false) => write!(f, "uncordon node {node} (unschedulable: false)"),
                None => write!(f, "uncordon node {node}"),
            },
        }
    }
}

/// Undoes one change; what is already undone (or gone) counts as done. Returns what was done.
pub async fn apply_undo(client: &kube::Client, undo: &Undo) -> Result<String, KubeError> {
    let what = undo.to_string();
    let merge = PatchParams::default();
    match undo {
        Undo::ScaleTo {
            kind,
            namespace,
            name,
            replicas,
        } => {
            let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
            let done = match kind {
                WorkloadKind::StatefulSet => {
                    let api = Api::<StatefulSet>::namespaced(client.clone(), namespace);
                    retry(&what, || api.patch_scale(name, &merge, &patch))
                        .await
                        .map(|_| ())
                }
                _ => {
                    let api = Api::<Deployment>::namespaced(client.clone(), namespace);
                    retry(&what, || api.patch_scale(name, &merge, &patch))
                        .await
                        .map(|_| ())
                }
            };
            gone_is_done(done, &what)
        }
        Undo::RestoreTemplateAnnotation {
            kind,
            namespace,
            name,
            key,
            value,
        } => {
            let patch = Patch::Merge(
                json!({"spec": {"template": {"metadata": {"annotations": {key.as_str(): value}}}}}),
            );
            let done = match kind {
                WorkloadKind::StatefulSet => {
                    let api = Api::<StatefulSet>::namespaced(client.clone(), namespace);
                    retry(&what, || api.patch(name, &merge, &patch))
                        .await
                        .map(|_| ())
                }
                WorkloadKind::DaemonSet => {
                    let api = Api::<DaemonSet>::namespaced(client.clone(), namespace);
                    retry(&what, || api.patch(name, &merge, &patch))
                        .await
                        .map(|_| ())
                }
                _ => {
                    let api = Api::<Deployment>::namespaced(client.clone(), namespace);
                    retry(&what, || api.patch(name, &merge, &patch))
                        .await
                        .map(|_| ())
                }
            };
            gone_is_done(done, &what)
        }
        Undo::DeleteNetworkPolicy { namespace, name } => {
            let api = Api::<NetworkPolicy>::namespaced(client.clone(), namespace);
            let params = DeleteParams::default();
            let done = retry(&what, || api.delete(name, &params)).await.map(|_| ());
            gone_is_done(done, &what)
        }
        Undo::RemovePodLabel {
            namespace,
            pod,
            key,
        } => {
            let api = Api::<Pod>::namespaced(client.clone(), namespace);
            let patch = Patch::Merge(json!({"metadata": {"labels": {key.as_str(): null}}}));
            let done = retry(&what, || api.patch(pod, &merge, &patch))
                .await
                .map(|_| ());
            gone_is_done(done, &what)
        }
        Undo::RestoreNodeUnschedulable { node, value } => {
            let api = Api::<Node>::all(client.clone());
            let patch = Patch::Merge(json!({"spec": {"unschedulable": value}}));
            let done = retry(&what, || api.patch(node, &merge, &patch))
                .await
                .map(|_| ());
            gone_is_done(done, &what)
        }
    }
}

/// A 404 means there is nothing left to undo.
fn gone_is_done(result: Result<(), KubeError>, what: &str) -> Result<String, KubeError> {
    match result {
        Ok(()) => Ok(what.to_owned()),
        Err(KubeError::Api {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 404 => Ok(format!("{what}: already gone")),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_records_round_trip_through_json() {
        let undo = Undo::ScaleTo {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: "web".into(),
            replicas: 3,
        };
        let v = serde_json::to_value(&undo).unwrap();
        assert_eq!(
            v,
            json!({"action": "scale-to", "kind": "Deployment", "namespace": "shop", "name": "web", "replicas": 3})
        );
        assert_eq!(serde_json::from_value::<Undo>(v).unwrap(), undo);
        let restore = Undo::RestoreTemplateAnnotation {
            kind: WorkloadKind::DaemonSet,
            namespace: "shop".into(),
            name: "agent".into(),
            key: "k".into(),
            value: None,
        };
        assert_eq!(
            restore.to_string(),
            "remove the template annotation k from DaemonSet shop/agent"
        );
        let uncordon = Undo::RestoreNodeUnschedulable {
            node: "node-1".into(),
            value: None,
        };
        let v = serde_json::to_value(&uncordon).unwrap();
        assert_eq!(
            v,
            json!({"action": "restore-node-unschedulable", "node": "node-1", "value": null})
        );
        assert_eq!(serde_json::from_value::<Undo>(v).unwrap(), uncordon);
        assert_eq!(uncordon.to_string(), "uncordon node node-1");
    }
}
