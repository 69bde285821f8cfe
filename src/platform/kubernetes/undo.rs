//! How each change firedrill makes is undone, recorded in the journal before the change so
//! that `firedrill rollback` can undo it from the journal alone.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
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
    /// Delete an object firedrill created, of any resource.
    #[serde(rename_all = "camelCase")]
    DeleteObject {
        /// `v1` or `group/version`.
        api_version: String,
        /// Its kind, such as `ConfigMap`.
        kind: String,
        /// Its resource (plural), such as `configmaps`.
        plural: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Put a Service's selector back: the recorded labels again, the ones firedrill added
    /// removed.
    #[serde(rename_all = "camelCase")]
    RestoreServiceSelector {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The selector before the change.
        selector: BTreeMap<String, String>,
        /// Selector keys firedrill added, removed again.
        added: Vec<String>,
    },
}

impl Undo {
    /// Deleting the object `namespace/name` of the resource `K`, which firedrill created.
    pub fn delete_of<K>(namespace: &str, name: &str) -> Self
    where
        K: kube::Resource<DynamicType = ()>,
    {
        Self::DeleteObject {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            plural: K::plural(&()).into_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// The merge patch that gives a Service the selector `selector`, without the keys `removed`.
pub fn selector_patch(
    selector: &BTreeMap<String, String>,
    removed: &[String],
) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for key in removed {
        map.insert(key.clone(), serde_json::Value::Null);
    }
    for (k, v) in selector {
        map.insert(k.clone(), json!(v));
    }
    json!({"spec": {"selector": map}})
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
            Self::DeleteObject {
                kind,
                namespace,
                name,
                ..
            } => write!(f, "delete {kind} {namespace}/{name}"),
            Self::RestoreServiceSelector {
                namespace,
                name,
                selector,
                ..
            } => write!(
                f,
                "put the selector {} back on Service {namespace}/{name}",
                super::label_selector(selector)
            ),
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
        Undo::DeleteObject {
            api_version,
            kind,
            plural,
            namespace,
            name,
        } => {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let resource = ApiResource {
                group: group.to_owned(),
                version: version.to_owned(),
                api_version: api_version.clone(),
                kind: kind.clone(),
                plural: plural.clone(),
            };
            let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource);
            // Foreground: a Deployment's ReplicaSets and pods go with it, not after.
            let params = DeleteParams::foreground();
            let done = retry(&what, || api.delete(name, &params)).await.map(|_| ());
            gone_is_done(done, &what)
        }
        Undo::RestoreServiceSelector {
            namespace,
            name,
            selector,
            added,
        } => {
            let api = Api::<Service>::namespaced(client.clone(), namespace);
            let patch = Patch::Merge(selector_patch(selector, added));
            let done = retry(&what, || api.patch(name, &merge, &patch))
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
    }
}
