//! Configuration and credential faults on the kubernetes platform: `config-change` sets or
//! removes keys of a ConfigMap, `secret-rotate` replaces a Secret key's value and
//! `secret-revoke` removes a key or the whole Secret. The original values go into the
//! intent's `restore` (the journal's machine record) before anything changes; a Secret's
//! values go nowhere else: not in `changes`, `undo`, logs, reports or anything `plan` shows.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::{Value, json};

use super::kubernetes::{ControllerFault, kube_error, lock, undo_all};
use super::{BuildFault, Built, Fault, FaultContext, FaultError, Intent, on_cluster};
use crate::platform::Platform;
use crate::platform::kubernetes::{
    ApiWrite, Cluster, ConfigKey, KubeError, SecretKey, SecretValue, Undo, WriteAction, retry,
    sha256_hex,
};
use crate::spec;

/// Longest ConfigMap value quoted in a change's description.
const SHOWN: usize = 60;

/// A ConfigMap value as quoted in messages, shortened when long.
fn quoted(value: Option<&String>) -> String {
    match value {
        None => "absent".to_owned(),
        Some(v) if v.chars().count() > SHOWN => {
            format!(
                "`{}…` ({} bytes)",
                v.chars().take(SHOWN).collect::<String>(),
                v.len()
            )
        }
        Some(v) => format!("`{v}`"),
    }
}

/// Refuses an object without the opt-in label, unless the experiment turned the check off.
fn check_opt_in(
    cluster: &Cluster,
    fault: &str,
    id: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<(), FaultError> {
    let label = &cluster.target.opt_in_label;
    let carries = labels
        .and_then(|l| l.get(&label.key))
        .is_some_and(|v| *v == label.value);
    if cluster.target.require_opt_in && !carries {
        return Err(kube_error(fault)(KubeError::Refused(format!(
            "{id} does not carry the opt-in label {}={} (add it, or set spec.target.requireOptIn: false)",
            label.key, label.value
        ))));
    }
    Ok(())
}

/// The rollout restart a configuration fault asks for, planned and undone like the
/// `rollout-restart` fault.
fn restarter(fault: &str, workload: Option<&str>, cluster: &Cluster) -> Option<ControllerFault> {
    workload.map(|w| {
        ControllerFault::new(
            super::kubernetes::ControllerChange::Restart(spec::RolloutRestart {
                name: fault.to_owned(),
                workload: w.to_owned(),
                at: spec::Duration::default(),
                duration: spec::Duration::default(),
            }),
            cluster.clone(),
        )
    })
}

/// Adds the restart's plan to a configuration change's. Its undo goes first in `restore`,
/// so that it is undone last: the pods roll once more after the original is back, and
/// read it.
async fn with_restart(
    mut intent: Intent,
    restart: Option<&ControllerFault>,
) -> Result<Intent, FaultError> {
    let Some(r) = restart else {
        return Ok(intent);
    };
    let planned = r.plan().await?;
    intent.changes.extend(planned.changes);
    intent.undo.splice(0..0, planned.undo);
    intent.targets.extend(planned.targets);
    intent.restore.splice(0..0, planned.restore);
    intent.writes.extend(planned.writes);
    Ok(intent)
}

/// Whether an API error is a 409 Conflict (a resourceVersion precondition that failed).
fn is_conflict(e: &KubeError) -> bool {
    matches!(e, KubeError::Api { source: kube::Error::Api(s), .. } if s.code == 409)
}

/// The error of a change refused because the object changed after it was read.
fn changed_meanwhile(fault: &str, id: &str) -> FaultError {
    kube_error(fault)(KubeError::Refused(format!(
        "{id} changed between the plan and the injection (resourceVersion precondition failed); nothing was changed"
    )))
}

/// Whether an object's `data` holds what a merge patch of it wrote: each key set to its
/// value, each null key gone. Values are never shown: they may be secret.
fn data_written(id: &str, patch: &Value, data: &Value) -> super::Effect {
    let Some(keys) = patch.as_object() else {
        return super::Effect::unverified("the change wrote no data");
    };
    let wrong: Vec<&str> = keys
        .iter()
        .filter(|(k, v)| data.get(k.as_str()).unwrap_or(&Value::Null) != *v)
        .map(|(k, _)| k.as_str())
        .collect();
    let all: Vec<&str> = keys.keys().map(String::as_str).collect();
    if wrong.is_empty() {
        super::Effect::verified(format!(
            "{id} holds the change of key(s) {} (the pods see it when they read it again)",
            all.join(", ")
        ))
    } else {
        super::Effect::ineffective(format!(
            "{id} does not hold the change of key(s) {}",
            wrong.join(", ")
        ))
    }
}

/// The effect of a change and of the restart that follows it, when one does.
async fn with_restart_effect(
    written: super::Effect,
    restart: Option<&ControllerFault>,
) -> super::Effect {
    match restart {
        Some(r) => super::Effect::all([written, r.verify().await]),
        None => written,
    }
}

/// Sets or removes keys of a ConfigMap, then optionally restarts a workload.
pub struct ConfigChangeFault {
    spec: spec::ConfigChange,
    cluster: Cluster,
    restart: Option<ControllerFault>,
    patch: Mutex<Option<Value>>,
    restore: Mutex<Vec<Undo>>,
}

impl ConfigChangeFault {
    /// A config-change fault.
    pub fn new(spec: spec::ConfigChange, cluster: Cluster) -> Self {
        let restart = restarter(&spec.name, spec.restart_workload.as_deref(), &cluster);
        Self {
            spec,
            cluster,
            restart,
            patch: Mutex::new(None),
            restore: Mutex::new(Vec::new()),
        }
    }
}

/// The keys a config-change touches, with their values before and after.
fn config_keys(
    spec: &spec::ConfigChange,
    data: &BTreeMap<String, String>,
) -> BTreeMap<String, ConfigKey> {
    let mut keys: BTreeMap<String, ConfigKey> = spec
        .set
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                ConfigKey {
                    original: data.get(k).cloned(),
                    written: Some(v.clone()),
                },
            )
        })
        .collect();
    for k in &spec.remove {
        keys.insert(
            k.clone(),
            ConfigKey {
                original: data.get(k).cloned(),
                written: None,
            },
        );
    }
    keys
}

#[async_trait]
impl Fault for ConfigChangeFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = &self.spec.name;
        let (ns, name) = (&self.spec.namespace, &self.spec.config_map);
        let id = format!("ConfigMap {ns}/{name}");
        self.cluster
            .check_namespace(ns)
            .map_err(kube_error(fault))?;
        let api = Api::<ConfigMap>::namespaced(self.cluster.client.clone(), ns);
        let cm = retry(&format!("get {id}"), || api.get_opt(name))
            .await
            .map_err(kube_error(fault))?
            .ok_or_else(|| {
                kube_error(fault)(KubeError::NotFound(format!("{id} does not exist")))
            })?;
        check_opt_in(&self.cluster, fault, &id, cm.metadata.labels.as_ref())?;
        if cm.immutable == Some(true) {
            return Err(kube_error(fault)(KubeError::Refused(format!(
                "{id} is immutable: its data cannot be changed"
            ))));
        }
        let binary = cm.binary_data.unwrap_or_default();
        let keys = config_keys(&self.spec, &cm.data.unwrap_or_default());
        if let Some(k) = keys.keys().find(|k| binary.contains_key(*k)) {
            return Err(kube_error(fault)(KubeError::Refused(format!(
                "key `{k}` of {id} is binary data; config-change sets text keys only"
            ))));
        }
        let changes = keys
            .iter()
            .map(|(k, key)| match &key.written {
                Some(v) => format!(
                    "set key `{k}` of {id} to {} (now {})",
                    quoted(Some(v)),
                    quoted(key.original.as_ref())
                ),
                None => format!(
                    "remove key `{k}` of {id} (now {})",
                    quoted(key.original.as_ref())
                ),
            })
            .collect();
        let data: serde_json::Map<String, Value> = keys
            .iter()
            .map(|(k, key)| {
                (
                    k.clone(),
                    key.written.clone().map_or(Value::Null, Value::String),
                )
            })
            .collect();
        // The resourceVersion read is a precondition: the originals recorded are exactly
        // the values replaced.
        let patch = json!({
            "metadata": {"resourceVersion": cm.metadata.resource_version},
            "data": data,
        });
        let undo = Undo::RestoreConfigMapKeys {
            namespace: ns.clone(),
            name: name.clone(),
            uid: cm.metadata.uid.unwrap_or_default(),
            keys,
        };
        let intent = Intent {
            fault: fault.clone(),
            fault_type: "config-change".to_owned(),
            changes,
            undo: vec![undo.to_string()],
            targets: vec![id],
            restore: vec![undo],
            pool: None,
            writes: vec![ApiWrite::of::<ConfigMap>(
                ns,
                name,
                WriteAction::MergePatch {
                    subresource: None,
                    patch: patch.clone(),
                },
            )],
        };
        let intent = with_restart(intent, self.restart.as_ref()).await?;
        *lock(&self.restore) = intent.restore.clone();
        *lock(&self.patch) = Some(patch);
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let fault = &self.spec.name;
        let (ns, name) = (&self.spec.namespace, &self.spec.config_map);
        let Some(patch) = lock(&self.patch).clone() else {
            return Ok(());
        };
        let api = Api::<ConfigMap>::namespaced(self.cluster.client.clone(), ns);
        let id = format!("ConfigMap {ns}/{name}");
        let patch = Patch::Merge(patch);
        let params = PatchParams::default();
        match retry(&format!("patch {id}"), || api.patch(name, &params, &patch)).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => return Err(changed_meanwhile(fault, &id)),
            Err(e) => return Err(kube_error(fault)(e)),
        }
        if let Some(r) = &self.restart {
            r.inject().await?;
        }
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        let (ns, name) = (&self.spec.namespace, &self.spec.config_map);
        let Some(patch) = lock(&self.patch).clone() else {
            return super::Effect::unverified("nothing was planned");
        };
        let api = Api::<ConfigMap>::namespaced(self.cluster.client.clone(), ns);
        let id = format!("ConfigMap {ns}/{name}");
        let data = match api.get_opt(name).await {
            Ok(Some(cm)) => serde_json::to_value(cm.data.unwrap_or_default()).unwrap_or_default(),
            Ok(None) => return super::Effect::ineffective(format!("{id} is gone")),
            Err(e) => return super::Effect::unverified(format!("{id} cannot be read: {e}")),
        };
        let written = data_written(&id, &patch["data"], &data);
        with_restart_effect(written, self.restart.as_ref()).await
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, &self.spec.name, &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

family! {
    /// What a secret fault changes.
    SecretChange {
        /// A key's value, replaced.
        Rotate(spec::SecretRotate),
        /// A key, or the whole Secret, removed.
        Revoke(spec::SecretRevoke),
    }
}

/// Replaces a Secret key's value, removes a key, or deletes the whole Secret, then
/// optionally restarts a workload.
pub struct SecretFault {
    spec: SecretChange,
    cluster: Cluster,
    restart: Option<ControllerFault>,
    action: Mutex<Option<SecretAction>>,
    restore: Mutex<Vec<Undo>>,
}

/// What inject sends, decided by plan.
#[derive(Clone)]
enum SecretAction {
    /// A merge patch of `data` (with the resourceVersion read as a precondition).
    Patch(Value),
    /// A delete with the uid and resourceVersion read as preconditions.
    Delete {
        uid: String,
        resource_version: Option<String>,
    },
}

/// What a secret fault asks for, out of its spec.
struct SecretTarget<'s> {
    name: &'s str,
    namespace: &'s str,
    secret: &'s str,
}

impl SecretFault {
    /// A secret-rotate or secret-revoke fault.
    pub fn new(spec: SecretChange, cluster: Cluster) -> Self {
        let restart = restarter(spec.name(), spec.kubernetes_workload(), &cluster);
        Self {
            spec,
            cluster,
            restart,
            action: Mutex::new(None),
            restore: Mutex::new(Vec::new()),
        }
    }

    fn target(&self) -> SecretTarget<'_> {
        match &self.spec {
            SecretChange::Rotate(r) => SecretTarget {
                name: &r.name,
                namespace: &r.namespace,
                secret: &r.secret,
            },
            SecretChange::Revoke(r) => SecretTarget {
                name: &r.name,
                namespace: &r.namespace,
                secret: &r.secret,
            },
        }
    }
}

/// A fresh value of `len` random letters and digits, different from `original`.
pub fn fresh_value(len: usize, original: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    loop {
        let value: Vec<u8> = (0..len)
            .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())])
            .collect();
        if value != original {
            return value;
        }
    }
}

/// The new value of a rotation: the environment variable's, or a fresh one; never the
/// original (the rotation would change nothing).
fn new_value(
    fault: &str,
    id: &str,
    key: &str,
    from_env: Option<&str>,
    original: &[u8],
) -> Result<(Vec<u8>, String), FaultError> {
    let refused = |message: String| kube_error(fault)(KubeError::Refused(message));
    match from_env {
        Some(var) => {
            let value = std::env::var_os(var).ok_or_else(|| {
                refused(format!(
                    "the environment variable {var} (valueFromEnv) is not set in firedrill's environment"
                ))
            })?;
            let value = value.into_encoded_bytes();
            if value == original {
                return Err(refused(format!(
                    "the environment variable {var} holds the current value of key `{key}` of {id}: the rotation would change nothing"
                )));
            }
            let how = format!("the value of the environment variable {var}");
            Ok((value, how))
        }
        None if original.is_empty() => Err(refused(format!(
            "key `{key}` of {id} is empty: a fresh value of the same length would be empty too; give valueFromEnv"
        ))),
        None => Ok((
            fresh_value(original.len(), original),
            "a fresh random value of the same length".to_owned(),
        )),
    }
}

#[async_trait]
impl Fault for SecretFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let t = self.target();
        let fault = t.name;
        let (ns, name) = (t.namespace, t.secret);
        let id = format!("Secret {ns}/{name}");
        self.cluster
            .check_namespace(ns)
            .map_err(kube_error(fault))?;
        let api = Api::<Secret>::namespaced(self.cluster.client.clone(), ns);
        let secret = retry(&format!("get {id}"), || api.get_opt(name))
            .await
            .map_err(kube_error(fault))?
            .ok_or_else(|| {
                kube_error(fault)(KubeError::NotFound(format!("{id} does not exist")))
            })?;
        check_opt_in(&self.cluster, fault, &id, secret.metadata.labels.as_ref())?;
        let uid = secret.metadata.uid.clone().unwrap_or_default();
        let rv = secret.metadata.resource_version.clone();
        let data = secret.data.clone().unwrap_or_default();
        let refused = |message: String| kube_error(fault)(KubeError::Refused(message));
        let key_of = |key: &str| {
            if secret.immutable == Some(true) {
                return Err(refused(format!(
                    "{id} is immutable: its keys cannot be changed (deleteSecret: true can revoke it)"
                )));
            }
            data.get(key)
                .ok_or_else(|| {
                    kube_error(fault)(KubeError::NotFound(format!("{id} has no key `{key}`")))
                })
                .map(|v| v.0.clone())
        };
        let (change, undo, action, write) = match &self.spec {
            SecretChange::Rotate(r) => {
                let original = key_of(&r.key)?;
                let (value, how) =
                    new_value(fault, &id, &r.key, r.value_from_env.as_deref(), &original)?;
                let encoded =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &value);
                let patch = json!({
                    "metadata": {"resourceVersion": rv},
                    "data": {r.key.as_str(): encoded},
                });
                let undo = Undo::RestoreSecretKeys {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    uid,
                    keys: BTreeMap::from([(
                        r.key.clone(),
                        SecretKey {
                            original: Some(SecretValue::of(&k8s_openapi::ByteString(
                                original.clone(),
                            ))),
                            written_sha256: Some(sha256_hex(&value)),
                        },
                    )]),
                };
                (
                    format!(
                        "replace the value of key `{}` of {id} ({} bytes) with {how}",
                        r.key,
                        original.len()
                    ),
                    undo,
                    SecretAction::Patch(patch.clone()),
                    WriteAction::MergePatch {
                        subresource: None,
                        patch,
                    },
                )
            }
            SecretChange::Revoke(r) if !r.delete_secret => {
                let key = r.key.clone().unwrap_or_default();
                let original = key_of(&key)?;
                let patch = json!({
                    "metadata": {"resourceVersion": rv},
                    "data": {key.as_str(): null},
                });
                let undo = Undo::RestoreSecretKeys {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    uid,
                    keys: BTreeMap::from([(
                        key.clone(),
                        SecretKey {
                            original: Some(SecretValue::of(&k8s_openapi::ByteString(original))),
                            written_sha256: None,
                        },
                    )]),
                };
                (
                    format!("remove key `{key}` of {id}"),
                    undo,
                    SecretAction::Patch(patch.clone()),
                    WriteAction::MergePatch {
                        subresource: None,
                        patch,
                    },
                )
            }
            SecretChange::Revoke(_) => {
                let undo = Undo::RecreateSecret {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    uid: uid.clone(),
                    type_: secret.type_.clone(),
                    labels: secret.metadata.labels.clone().unwrap_or_default(),
                    annotations: secret.metadata.annotations.clone().unwrap_or_default(),
                    data: data
                        .iter()
                        .map(|(k, v)| (k.clone(), SecretValue::of(v)))
                        .collect(),
                    immutable: secret.immutable,
                };
                (
                    format!("delete {id} (uid {uid}, {} key(s))", data.len()),
                    undo,
                    SecretAction::Delete {
                        uid,
                        resource_version: rv,
                    },
                    WriteAction::Delete {
                        grace_period_seconds: None,
                    },
                )
            }
        };
        let intent = Intent {
            fault: fault.to_owned(),
            fault_type: self.spec.type_name().to_owned(),
            changes: vec![change],
            undo: vec![undo.to_string()],
            targets: vec![id],
            restore: vec![undo],
            pool: None,
            writes: vec![ApiWrite::of::<Secret>(ns, name, write)],
        };
        let intent = with_restart(intent, self.restart.as_ref()).await?;
        *lock(&self.restore) = intent.restore.clone();
        *lock(&self.action) = Some(action);
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let t = self.target();
        let fault = t.name;
        let (ns, name) = (t.namespace, t.secret);
        let id = format!("Secret {ns}/{name}");
        let Some(action) = lock(&self.action).clone() else {
            return Ok(());
        };
        let api = Api::<Secret>::namespaced(self.cluster.client.clone(), ns);
        let done = match action {
            SecretAction::Patch(patch) => {
                let patch = Patch::Merge(patch);
                let params = PatchParams::default();
                retry(&format!("patch {id}"), || api.patch(name, &params, &patch))
                    .await
                    .map(|_| ())
            }
            SecretAction::Delete {
                uid,
                resource_version,
            } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version,
                    }),
                    ..DeleteParams::default()
                };
                retry(&format!("delete {id}"), || api.delete(name, &params))
                    .await
                    .map(|_| ())
            }
        };
        match done {
            Ok(()) => {}
            Err(e) if is_conflict(&e) => return Err(changed_meanwhile(fault, &id)),
            Err(e) => return Err(kube_error(fault)(e)),
        }
        if let Some(r) = &self.restart {
            r.inject().await?;
        }
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        use super::Effect;
        let t = self.target();
        let (ns, name) = (t.namespace, t.secret);
        let id = format!("Secret {ns}/{name}");
        let Some(action) = lock(&self.action).clone() else {
            return Effect::unverified("nothing was planned");
        };
        let api = Api::<Secret>::namespaced(self.cluster.client.clone(), ns);
        let read = api.get_opt(name).await;
        let written = match (action, read) {
            (_, Err(e)) => Effect::unverified(format!("{id} cannot be read: {e}")),
            (SecretAction::Delete { .. }, Ok(None)) => Effect::verified(format!("{id} is gone")),
            (SecretAction::Delete { uid, .. }, Ok(Some(s))) => {
                if s.metadata.uid.as_deref() != Some(uid.as_str()) {
                    Effect::verified(format!("{id} was deleted; another of that name exists now"))
                } else if s.metadata.deletion_timestamp.is_some() {
                    Effect::verified(format!("{id} is being deleted"))
                } else {
                    Effect::ineffective(format!("{id} is still there"))
                }
            }
            (SecretAction::Patch(_), Ok(None)) => Effect::ineffective(format!("{id} is gone")),
            (SecretAction::Patch(patch), Ok(Some(s))) => {
                let data = serde_json::to_value(s.data.unwrap_or_default()).unwrap_or_default();
                data_written(&id, &patch["data"], &data)
            }
        };
        with_restart_effect(written, self.restart.as_ref()).await
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, self.target().name, &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

impl BuildFault for spec::ConfigChange {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, ConfigChangeFault::new)
    }
}

impl BuildFault for spec::SecretRotate {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            SecretFault::new(SecretChange::Rotate(s), c)
        })
    }
}

impl BuildFault for spec::SecretRevoke {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            SecretFault::new(SecretChange::Revoke(s), c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_value_has_the_length_and_never_the_original() {
        for len in [1, 2, 8, 40] {
            let original = vec![b'a'; len];
            for _ in 0..200 {
                let v = fresh_value(len, &original);
                assert_eq!(v.len(), len);
                assert_ne!(v, original);
                assert!(v.iter().all(u8::is_ascii_alphanumeric));
            }
        }
    }

    #[test]
    fn config_keys_record_each_original_and_what_is_written() {
        let spec: spec::ConfigChange = serde_json::from_value(json!({
            "name": "c", "namespace": "shop", "configMap": "cfg",
            "set": {"mode": "slow", "fresh": "1"}, "remove": ["ttl"], "duration": "1s"
        }))
        .unwrap();
        let data = BTreeMap::from([
            ("mode".to_owned(), "fast".to_owned()),
            ("ttl".to_owned(), "30".to_owned()),
        ]);
        let keys = config_keys(&spec, &data);
        assert_eq!(
            keys["mode"],
            ConfigKey {
                original: Some("fast".into()),
                written: Some("slow".into())
            }
        );
        assert_eq!(
            keys["fresh"],
            ConfigKey {
                original: None,
                written: Some("1".into())
            }
        );
        assert_eq!(
            keys["ttl"],
            ConfigKey {
                original: Some("30".into()),
                written: None
            }
        );
    }

    #[test]
    fn a_rotation_from_the_environment_refuses_an_unset_or_unchanged_value() {
        let err = new_value(
            "r",
            "Secret shop/db",
            "password",
            Some("FIREDRILL_TEST_UNSET_VAR_42"),
            b"x",
        )
        .unwrap_err();
        assert!(crate::error::chain(&err).contains("FIREDRILL_TEST_UNSET_VAR_42"));
        let err = new_value("r", "Secret shop/db", "password", None, b"").unwrap_err();
        assert!(crate::error::chain(&err).contains("empty"));
        let (v, how) = new_value("r", "Secret shop/db", "password", None, b"hunter2").unwrap();
        assert_eq!(v.len(), 7);
        assert!(how.contains("random"));
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(200);
        let shown = quoted(Some(&long));
        assert!(shown.len() < 100 && shown.contains("200 bytes"), "{shown}");
        assert_eq!(quoted(None), "absent");
    }
}
