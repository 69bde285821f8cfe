//! How each change firedrill makes is undone, recorded in the journal before the change so
//! that `firedrill rollback` can undo it from the journal alone.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{KubeError, RUN_ID, retry};
use crate::spec::WorkloadKind;

/// One change to undo, with everything needed to undo it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Undo {
    /// Remove a file firedrill created on this host (a honeytoken), only while it still
    /// holds what firedrill wrote. Needs no cluster.
    #[serde(rename_all = "camelCase")]
    RemoveFile {
        /// The file's absolute path.
        path: String,
        /// SHA-256 of the content firedrill wrote, in hex.
        sha256: String,
    },
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
    /// Put keys of a ConfigMap back as they were, each only where it still holds what
    /// firedrill wrote.
    #[serde(rename_all = "camelCase")]
    RestoreConfigMapKeys {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its uid: a ConfigMap deleted and created again meanwhile is someone else's.
        uid: String,
        /// Each key changed, with its value before and the value firedrill wrote.
        keys: BTreeMap<String, ConfigKey>,
    },
    /// Put keys of a Secret back as they were, each only where it still holds what
    /// firedrill wrote.
    #[serde(rename_all = "camelCase")]
    RestoreSecretKeys {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its uid: a Secret deleted and created again meanwhile is someone else's.
        uid: String,
        /// Each key changed, with its value before and a digest of the value firedrill wrote.
        keys: BTreeMap<String, SecretKey>,
    },
    /// Create a Secret firedrill deleted again, as it was.
    #[serde(rename_all = "camelCase")]
    RecreateSecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its uid before the deletion.
        uid: String,
        /// Its type, such as `Opaque`.
        #[serde(rename = "type")]
        type_: Option<String>,
        /// Its labels.
        labels: BTreeMap<String, String>,
        /// Its annotations.
        annotations: BTreeMap<String, String>,
        /// Its data, base64 as the API carries it.
        data: BTreeMap<String, SecretValue>,
        /// Whether it was immutable.
        immutable: Option<bool>,
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
        /// The run that created it (its `firedrill.dev/run-id` label): an object of that name
        /// carrying another run's id, or none, is not this run's to delete. Absent in
        /// journals written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<String>,
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
    /// Put a node's `spec.unschedulable` back as it was (absent when `value` is none): uncordon.
    #[serde(rename_all = "camelCase")]
    RestoreNodeUnschedulable {
        /// The node's name.
        node: String,
        /// Its value before the change.
        value: Option<bool>,
    },
    /// Stop firedrill's helper running as an ephemeral container of a pod (it stops by
    /// itself at its deadline; a disk fill removes its file as it stops). The container
    /// itself cannot be removed: it stays listed in the pod until the pod is replaced.
    #[serde(rename_all = "camelCase")]
    StopPodHelper {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The pod's uid: a pod of that name with another uid is a replacement.
        uid: String,
        /// The ephemeral container, whose name also marks its helper (`--id`).
        container: String,
    },
}

impl Undo {
    /// Whether the change is on this host rather than in the cluster, so that undoing it
    /// needs no connection to one.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::RemoveFile { .. })
    }

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
            run_id: None,
        }
    }

    /// The same undo, limited to the object created by run `run_id`: a later run's object of
    /// the same name is left alone.
    pub fn of_run(mut self, run: &str) -> Self {
        if let Self::DeleteObject { run_id, .. } = &mut self {
            *run_id = Some(run.to_owned());
        }
        self
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

/// One ConfigMap key changed by a fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigKey {
    /// The value before the change; none when the key was absent.
    pub original: Option<String>,
    /// The value firedrill wrote; none when it removed the key.
    pub written: Option<String>,
}

/// One Secret key changed by a fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKey {
    /// The value before the change, base64; none when the key was absent.
    pub original: Option<SecretValue>,
    /// The SHA-256 (hex) of the bytes firedrill wrote; none when it removed the key. A
    /// digest, so that the new value itself is kept nowhere.
    pub written_sha256: Option<String>,
}

/// Secret material, base64 as the API carries it: kept for the journal's restore record,
/// shown nowhere (its Debug is redacted, and no message prints it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl SecretValue {
    /// The value of a Secret's key, as read from the API.
    pub fn of(bytes: &k8s_openapi::ByteString) -> Self {
        Self(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &bytes.0,
        ))
    }

    /// The bytes.
    pub fn bytes(&self) -> Vec<u8> {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &self.0)
            .unwrap_or_default()
    }
}

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::journal::hex(&sha2::Sha256::digest(bytes))
}

fn keys_list(keys: &BTreeMap<String, impl Sized>) -> String {
    keys.keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RemoveFile { path, .. } => write!(
                f,
                "remove the file {path} that firedrill created, if it still holds what firedrill wrote"
            ),
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
            Self::RestoreConfigMapKeys {
                namespace,
                name,
                keys,
                ..
            } => write!(
                f,
                "put the key(s) {} of ConfigMap {namespace}/{name} back as they were",
                keys_list(keys)
            ),
            // Never a value: this text goes to logs, reports and the journal's `undo`.
            Self::RestoreSecretKeys {
                namespace,
                name,
                keys,
                ..
            } => write!(
                f,
                "put the original value of the key(s) {} back in Secret {namespace}/{name} (kept in the journal's restore record)",
                keys_list(keys)
            ),
            Self::RecreateSecret {
                namespace, name, ..
            } => write!(
                f,
                "create Secret {namespace}/{name} again as it was (kept in the journal's restore record)"
            ),
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
            Self::RestoreNodeUnschedulable { node, value } => match value {
                Some(true) => write!(f, "leave node {node} cordoned as it was (unschedulable)"),
                Some(false) => write!(f, "uncordon node {node} (unschedulable: false)"),
                None => write!(f, "uncordon node {node}"),
            },
            Self::StopPodHelper {
                namespace,
                pod,
                container,
                ..
            } => write!(
                f,
                "stop firedrill's helper in ephemeral container {container} of pod {namespace}/{pod}"
            ),
        }
    }
}

/// Undoes one change; what is already undone (or gone) counts as done. Returns what was done.
pub async fn apply_undo(client: &kube::Client, undo: &Undo) -> Result<String, KubeError> {
    let what = undo.to_string();
    let merge = PatchParams::default();
    match undo {
        Undo::StopPodHelper {
            namespace,
            pod,
            uid,
            container,
        } => stop_pod_helper(client, namespace, pod, uid, container)
            .await
            .map(|done| format!("{what}: {done}")),
        Undo::RemoveFile { path, sha256 } => {
            remove_created_file(std::path::Path::new(path), sha256)
                .map_err(|e| KubeError::Refused(format!("cannot remove {path}: {e}")))
        }
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
        Undo::RestoreConfigMapKeys {
            namespace,
            name,
            uid,
            keys,
        } => {
            let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
            let id = format!("ConfigMap {namespace}/{name}");
            restore_keys(&what, &id, name, uid, &api, |cm: &ConfigMap| {
                let data = cm.data.clone().unwrap_or_default();
                keys.iter()
                    .map(|(k, key)| {
                        let now = data.get(k).cloned();
                        let state = if now == key.original {
                            KeyState::AsBefore
                        } else if now == key.written {
                            KeyState::AsWritten
                        } else {
                            KeyState::ChangedElsewhere
                        };
                        (
                            k.clone(),
                            state,
                            key.original.clone().map(serde_json::Value::String),
                        )
                    })
                    .collect()
            })
            .await
        }
        Undo::RestoreSecretKeys {
            namespace,
            name,
            uid,
            keys,
        } => {
            let api = Api::<Secret>::namespaced(client.clone(), namespace);
            let id = format!("Secret {namespace}/{name}");
            restore_keys(&what, &id, name, uid, &api, |s: &Secret| {
                let data = s.data.clone().unwrap_or_default();
                keys.iter()
                    .map(|(k, key)| {
                        let now = data.get(k).map(|b| b.0.clone());
                        let state = if now == key.original.as_ref().map(SecretValue::bytes) {
                            KeyState::AsBefore
                        } else if now.as_deref().map(sha256_hex) == key.written_sha256 {
                            KeyState::AsWritten
                        } else {
                            KeyState::ChangedElsewhere
                        };
                        (
                            k.clone(),
                            state,
                            key.original.clone().map(|v| serde_json::Value::String(v.0)),
                        )
                    })
                    .collect()
            })
            .await
        }
        Undo::RecreateSecret {
            namespace,
            name,
            uid,
            type_,
            labels,
            annotations,
            data,
            immutable,
        } => {
            let api = Api::<Secret>::namespaced(client.clone(), namespace);
            let wanted: BTreeMap<String, Vec<u8>> =
                data.iter().map(|(k, v)| (k.clone(), v.bytes())).collect();
            let secret = Secret {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(namespace.clone()),
                    labels: (!labels.is_empty()).then(|| labels.clone()),
                    annotations: (!annotations.is_empty()).then(|| annotations.clone()),
                    ..Default::default()
                },
                type_: type_.clone(),
                data: Some(
                    wanted
                        .iter()
                        .map(|(k, v)| (k.clone(), k8s_openapi::ByteString(v.clone())))
                        .collect(),
                ),
                immutable: *immutable,
                string_data: None,
            };
            let post = PostParams::default();
            // A create that races another (or a retried one that had reached the server)
            // answers 409: the Secret is then read and judged like one found at first.
            for _ in 0..2 {
                let found = retry(&what, || api.get_opt(name)).await?;
                match found {
                    None => match retry(&what, || api.create(&post, &secret)).await {
                        Ok(_) => return Ok(what),
                        Err(KubeError::Api {
                            source: kube::Error::Api(s),
                            ..
                        }) if s.code == 409 => continue,
                        Err(e) => return Err(e),
                    },
                    Some(s) if s.metadata.uid.as_deref() == Some(uid.as_str()) => {
                        return Ok(format!("{what}: it was never deleted"));
                    }
                    Some(s) => {
                        let now: BTreeMap<String, Vec<u8>> = s
                            .data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, v.0))
                            .collect();
                        if now == wanted {
                            return Ok(format!("{what}: already there with the same data"));
                        }
                        return Err(KubeError::Refused(format!(
                            "Secret {namespace}/{name} was created again by someone else with other data; left as it is (the original is in the journal's restore record)"
                        )));
                    }
                }
            }
            Err(KubeError::Refused(format!(
                "Secret {namespace}/{name} keeps being created and deleted by someone else; left as it is"
            )))
        }
        Undo::DeleteObject {
            api_version,
            kind,
            plural,
            namespace,
            name,
            run_id,
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
            let mut params = DeleteParams::foreground();
            if let Some(run) = run_id {
                let Some(current) = retry(&what, || api.get_opt(name)).await? else {
                    return Ok(format!("{what}: already gone"));
                };
                let owner = current.metadata.labels.as_ref().and_then(|l| l.get(RUN_ID));
                if owner != Some(run) {
                    return Ok(format!(
                        "left {kind} {namespace}/{name}: it is not this run's ({})",
                        owner.map_or("no run id".to_owned(), |o| format!("run {o}"))
                    ));
                }
                // Deleted and created again by another run between the read and the delete:
                // the uid no longer matches and the API answers 409.
                params.preconditions = Some(Preconditions {
                    uid: current.metadata.uid.clone(),
                    resource_version: None,
                });
            }
            match retry(&what, || api.delete(name, &params)).await {
                Err(KubeError::Api {
                    source: kube::Error::Api(status),
                    ..
                }) if status.code == 409 && run_id.is_some() => Ok(format!(
                    "left {kind} {namespace}/{name}: it was replaced meanwhile"
                )),
                done => gone_is_done(done.map(|_| ()), &what),
            }
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

/// Where a changed key stands when it is to be put back.
enum KeyState {
    /// It holds its original value (or is absent, as it was): nothing to do.
    AsBefore,
    /// It holds what firedrill wrote: put the original back.
    AsWritten,
    /// Someone else wrote it since: left alone.
    ChangedElsewhere,
}

/// Puts keys of a ConfigMap or Secret back: reads the object, checks its uid, puts back
/// only the keys that still hold what firedrill wrote, with the read resourceVersion as a
/// precondition (a 409 reads again). Keys someone else changed meanwhile are left as they
/// are and reported as a failure, so that nobody's newer value is clobbered blindly.
async fn restore_keys<K>(
    what: &str,
    id: &str,
    name: &str,
    uid: &str,
    api: &Api<K>,
    judge: impl Fn(&K) -> Vec<(String, KeyState, Option<serde_json::Value>)>,
) -> Result<String, KubeError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let merge = PatchParams::default();
    let mut last = None;
    for _ in 0..5 {
        let Some(object) = retry(what, || api.get_opt(name)).await? else {
            return Ok(format!("{what}: {id} is gone, nothing to put back"));
        };
        if object.meta().uid.as_deref() != Some(uid) {
            return Err(KubeError::Refused(format!(
                "{id} was deleted and created again by someone else since firedrill changed it; left as it is (the original is in the journal's restore record)"
            )));
        }
        let judged = judge(&object);
        let elsewhere: Vec<String> = judged
            .iter()
            .filter(|(_, s, _)| matches!(s, KeyState::ChangedElsewhere))
            .map(|(k, _, _)| format!("`{k}`"))
            .collect();
        let data: serde_json::Map<String, serde_json::Value> = judged
            .into_iter()
            .filter(|(_, s, _)| matches!(s, KeyState::AsWritten))
            .map(|(k, _, original)| (k, original.unwrap_or(serde_json::Value::Null)))
            .collect();
        let refused = || {
            KubeError::Refused(format!(
                "the key(s) {} of {id} were changed by someone else since firedrill changed them; left as they are (the originals are in the journal's restore record)",
                elsewhere.join(", ")
            ))
        };
        if data.is_empty() {
            return if elsewhere.is_empty() {
                Ok(format!("{what}: already as they were"))
            } else {
                Err(refused())
            };
        }
        let patch = Patch::Merge(json!({
            "metadata": {"resourceVersion": object.meta().resource_version},
            "data": data,
        }));
        match retry(what, || api.patch(name, &merge, &patch)).await {
            Ok(_) if elsewhere.is_empty() => return Ok(what.to_owned()),
            Ok(_) => return Err(refused()),
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 409 => last = Some(s),
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 => {
                return Ok(format!("{what}: {id} is gone, nothing to put back"));
            }
            Err(e) => return Err(e),
        }
    }
    Err(KubeError::Api {
        what: format!("{what}: the object kept changing"),
        source: kube::Error::Api(last.unwrap_or_default()),
    })
}

/// A 404 means there is nothing left to undo.
/// How a pod helper's ephemeral container stands, from its pod's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperState {
    /// The pod is gone or was replaced: its helper went with it.
    PodGone,
    /// Not started yet, with the kubelet's reason and message when it gave one.
    Waiting(Option<String>),
    /// Running.
    Running,
    /// Ended: its exit code, reason and message.
    Ended(String),
}

/// The state of ephemeral container `container` in `pod`, which must have uid `uid`.
pub fn helper_state(pod: Option<&Pod>, uid: &str, container: &str) -> HelperState {
    let Some(pod) = pod.filter(|p| p.metadata.uid.as_deref() == Some(uid)) else {
        return HelperState::PodGone;
    };
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.ephemeral_container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == container));
    let Some(state) = status.and_then(|c| c.state.as_ref()) else {
        return HelperState::Waiting(None);
    };
    if let Some(t) = &state.terminated {
        let mut ended = format!("exit code {}", t.exit_code);
        for part in [&t.reason, &t.message].into_iter().flatten() {
            ended.push_str(&format!(", {}", part.trim()));
        }
        return HelperState::Ended(ended);
    }
    if state.running.is_some() {
        return HelperState::Running;
    }
    let why = state.waiting.as_ref().and_then(|w| {
        let reason = w.reason.clone()?;
        Some(match &w.message {
            Some(m) => format!("{reason}: {m}"),
            None => reason,
        })
    });
    HelperState::Waiting(why)
}

/// Stops a pod helper through `pods/exec` (`firedrill internal stop`); one that ended, or
/// whose pod is gone, counts as stopped.
async fn stop_pod_helper(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
) -> Result<String, KubeError> {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    let what = format!("get pod {namespace}/{pod}");
    let found = retry(&what, || api.get_opt(pod)).await?;
    match helper_state(found.as_ref(), uid, container) {
        HelperState::PodGone => return Ok("the pod is gone, and its helper with it".to_owned()),
        HelperState::Ended(how) => return Ok(format!("it had already stopped ({how})")),
        HelperState::Waiting(why) => {
            return Ok(format!(
                "it never started{}; should it start later, it stops by itself at the fault's deadline",
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            ));
        }
        HelperState::Running => {}
    }
    let command: Vec<String> = ["firedrill", "internal", "stop", "--id", container]
        .map(str::to_owned)
        .to_vec();
    let refused = |e: String| KubeError::Refused(format!("cannot stop the helper: {e}"));
    let out = super::exec_capture(client, namespace, pod, container, &command)
        .await
        .map_err(|e| match e {
            // kube's own message repeats the status; the server's message says it all.
            super::ExecError::Api(kube::Error::Api(status)) => refused(status.message),
            e => refused(e.to_string()),
        })?;
    let failed = out
        .status
        .as_ref()
        .filter(|s| s.status.as_deref() != Some("Success"));
    if let Some(s) = failed {
        // The container may have ended between the read and the exec.
        let again = retry(&what, || api.get_opt(pod)).await?;
        if let HelperState::Ended(how) = helper_state(again.as_ref(), uid, container) {
            return Ok(format!("it had stopped ({how})"));
        }
        let stderr = out.stderr.trim();
        return Err(refused(format!(
            "{}{}",
            s.message.as_deref().unwrap_or("the command failed"),
            if stderr.is_empty() {
                String::new()
            } else {
                format!(" (stderr: {stderr})")
            }
        )));
    }
    // `{"stopped": [PID...], "running": [PID...]}`, as `firedrill internal stop` prints it.
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    let count = |key: &str| report[key].as_array().map_or(0, Vec::len);
    Ok(match (count("stopped"), count("running")) {
        (0, _) => "no helper was running".to_owned(),
        (_, 0) => "stopped".to_owned(),
        (_, n) => format!("{n} helper process(es) still ending"),
    })
}

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

/// Removes a file firedrill created, only while its content still has the SHA-256 it was
/// written with: a file replaced meanwhile is someone else's and stays. Idempotent: a file
/// already gone is fine. Used by the fault's revert and by `firedrill rollback`.
pub fn remove_created_file(path: &std::path::Path, sha256: &str) -> Result<String, std::io::Error> {
    let shown = path.display();
    let content = match std::fs::read(path) {
        Ok(content) => content,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!("{shown} was already gone"));
        }
        Err(e) => return Err(e),
    };
    if sha256_hex(&content) != sha256 {
        return Ok(format!(
            "{shown} was left in place: its content changed after firedrill created it"
        ));
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(format!("removed {shown}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(format!("{shown} was already gone"))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_names_its_run_and_older_records_still_read() {
        let undo = Undo::delete_of::<Secret>("shop", "token").of_run("run-1");
        let json = serde_json::to_value(&undo).unwrap();
        assert_eq!(json["runId"], "run-1");
        assert_eq!(serde_json::from_value::<Undo>(json).unwrap(), undo);
        let mut older = serde_json::to_value(Undo::delete_of::<Secret>("shop", "token")).unwrap();
        assert!(older.get("runId").is_none());
        older.as_object_mut().unwrap().remove("runId");
        let read: Undo = serde_json::from_value(older).unwrap();
        assert!(matches!(read, Undo::DeleteObject { run_id: None, .. }));
        // Only a delete carries a run.
        let scale = Undo::RestoreNodeUnschedulable {
            node: "n".into(),
            value: None,
        };
        assert_eq!(scale.clone().of_run("run-1"), scale);
    }

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

    #[test]
    fn secret_values_stay_in_the_machine_record_only() {
        let original = SecretValue::of(&k8s_openapi::ByteString(b"hunter2".to_vec()));
        let undos = [
            Undo::RestoreSecretKeys {
                namespace: "shop".into(),
                name: "db".into(),
                uid: "u1".into(),
                keys: BTreeMap::from([(
                    "password".into(),
                    SecretKey {
                        original: Some(original.clone()),
                        written_sha256: Some(sha256_hex(b"new")),
                    },
                )]),
            },
            Undo::RecreateSecret {
                namespace: "shop".into(),
                name: "db".into(),
                uid: "u1".into(),
                type_: Some("Opaque".into()),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                data: BTreeMap::from([("password".into(), original.clone())]),
                immutable: None,
            },
        ];
        for undo in undos {
            let shown = format!("{undo} {undo:?}");
            assert!(
                !shown.contains("hunter2") && !shown.contains(&original.0),
                "{shown}"
            );
            let record = serde_json::to_string(&undo).unwrap();
            assert!(record.contains(&original.0), "{record}");
            assert_eq!(serde_json::from_str::<Undo>(&record).unwrap(), undo);
        }
        assert_eq!(original.bytes(), b"hunter2");
    }
}
