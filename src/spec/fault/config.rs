//! Faults on configuration and credentials: a ConfigMap's keys, a Secret's key or the
//! whole Secret.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::Duration;

/// Set or remove keys of a ConfigMap; the original values are recorded before the change and
/// put back at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigChange {
    /// Unique name among the faults.
    pub name: String,
    /// The ConfigMap's namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The ConfigMap's name; it must carry the opt-in label unless `requireOptIn` is false.
    pub config_map: String,
    /// Keys to set, with their values while the fault is in place.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Keys to remove while the fault is in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// A workload to rollout-restart after the change so that its pods read it (and again
    /// after the change is undone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_workload: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the change holds.
    pub duration: Duration,
}

/// Replace the value of one key of a Secret; the original is kept in the journal's restore
/// record (never in a log or a report) and put back at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRotate {
    /// Unique name among the faults.
    pub name: String,
    /// The Secret's namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The Secret's name; it must carry the opt-in label unless `requireOptIn` is false.
    pub secret: String,
    /// The key whose value is replaced.
    pub key: String,
    /// The environment variable of firedrill's own process holding the new value; a fresh
    /// random value of the same length when absent. Never written in the experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_env: Option<String>,
    /// A workload to rollout-restart after the change so that its pods read it (and again
    /// after the change is undone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_workload: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the new value holds.
    pub duration: Duration,
}

/// Remove one key of a Secret, or delete the whole Secret; what was removed is kept in the
/// journal's restore record (never in a log or a report) and put back at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRevoke {
    /// Unique name among the faults.
    pub name: String,
    /// The Secret's namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// The Secret's name; it must carry the opt-in label unless `requireOptIn` is false.
    pub secret: String,
    /// The key to remove; give either this or `deleteSecret: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Delete the whole Secret (created again, as it was, at the end).
    #[serde(default)]
    pub delete_secret: bool,
    /// A workload to rollout-restart after the change so that its pods read it (and again
    /// after the change is undone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_workload: Option<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the credential stays revoked.
    pub duration: Duration,
}

/// The rollout restart a configuration fault may add, in its workload's namespace.
fn restart_permissions(target: &KubernetesTarget, workload: Option<&str>) -> Vec<(String, Use)> {
    in_workload_namespace(target, workload, |w| vec![Use::RolloutRestart(w.kind)])
}

/// Whether `name` can be an environment variable's name.
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl FaultKind for ConfigChange {
    const TYPE_NAME: &'static str = "config-change";
    const EFFECT_CHECK: &'static str = super::CHANGE_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = PROCESS_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        self.restart_workload.as_deref()
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.object_name(&format!("{path}.configMap"), &self.config_map);
        if self.set.is_empty() && self.remove.is_empty() {
            check.problem(
                path.to_owned(),
                "changes nothing: give keys to `set`, to `remove`, or both",
            );
        }
        for key in self.set.keys() {
            check.data_key(&format!("{path}.set.{key}"), key);
        }
        let mut seen = BTreeSet::new();
        for (i, key) in self.remove.iter().enumerate() {
            let at = format!("{path}.remove[{i}]");
            check.data_key(&at, key);
            if self.set.contains_key(key) {
                check.problem(
                    at,
                    format!("`{key}` is also in `set`: a key is either set or removed"),
                );
            } else if !seen.insert(key) {
                check.problem(at, format!("`{key}` is listed twice"));
            }
        }
        check.restart_workload(path, self.restart_workload.as_deref());
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        let mut what: Vec<String> = self.set.keys().map(|k| format!("set `{k}`")).collect();
        what.extend(self.remove.iter().map(|k| format!("remove `{k}`")));
        format!(
            "{} in ConfigMap {}/{} for {}{}",
            what.join(", "),
            self.namespace,
            self.config_map,
            self.duration,
            restarting(self.restart_workload.as_deref())
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "put the keys back as recorded, where they still hold what firedrill wrote"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        let mut uses = vec![(self.namespace.clone(), Use::ConfigChange)];
        uses.extend(restart_permissions(target, self.workload()));
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        let mut uses = vec![(Scope::Target, Use::ConfigChange)];
        uses.extend(restart_granted());
        uses
    }
}

impl FaultKind for SecretRotate {
    const TYPE_NAME: &'static str = "secret-rotate";
    const EFFECT_CHECK: &'static str = super::CHANGE_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CREDENTIAL_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        self.restart_workload.as_deref()
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.object_name(&format!("{path}.secret"), &self.secret);
        check.data_key(&format!("{path}.key"), &self.key);
        if let Some(var) = &self.value_from_env
            && !is_env_name(var)
        {
            check.problem(
                format!("{path}.valueFromEnv"),
                format!(
                    "`{var}` is not an environment variable name: letters, digits and `_`, not starting with a digit"
                ),
            );
        }
        check.restart_workload(path, self.restart_workload.as_deref());
        check.positive(&format!("{path}.duration"), self.duration);
    }
    // Never a value: only where the new one comes from.
    fn describe(&self) -> String {
        format!(
            "replace the value of `{}` in Secret {}/{} with {} for {}{}",
            self.key,
            self.namespace,
            self.secret,
            self.value_from_env.as_deref().map_or_else(
                || "a fresh random value of the same length".to_owned(),
                |v| format!("the value of ${v}")
            ),
            self.duration,
            restarting(self.restart_workload.as_deref())
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "put the original value back from the journal, where the key still holds what firedrill wrote"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        let mut uses = vec![(self.namespace.clone(), Use::SecretKeys)];
        uses.extend(restart_permissions(target, self.workload()));
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        let mut uses = vec![(Scope::Target, Use::SecretKeys)];
        uses.extend(restart_granted());
        uses
    }
}

impl FaultKind for SecretRevoke {
    const TYPE_NAME: &'static str = "secret-revoke";
    const EFFECT_CHECK: &'static str = super::CHANGE_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = CREDENTIAL_FAULT;
    common_fields!();

    fn selector(&self) -> Option<&Selector> {
        None
    }
    fn workload(&self) -> Option<&str> {
        self.restart_workload.as_deref()
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.allowed_namespace(&format!("{path}.namespace"), &self.namespace);
        check.object_name(&format!("{path}.secret"), &self.secret);
        match (&self.key, self.delete_secret) {
            (Some(key), false) => check.data_key(&format!("{path}.key"), key),
            (Some(_), true) => check.problem(
                format!("{path}.key"),
                "`key` and `deleteSecret: true` exclude each other: remove one key, or delete the whole Secret",
            ),
            (None, false) => check.problem(
                path.to_owned(),
                "revokes nothing: give the `key` to remove, or `deleteSecret: true`",
            ),
            (None, true) => {}
        }
        check.restart_workload(path, self.restart_workload.as_deref());
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "{} for {}{}",
            match &self.key {
                Some(k) if !self.delete_secret => {
                    format!(
                        "remove `{k}` from Secret {}/{}",
                        self.namespace, self.secret
                    )
                }
                _ => format!("delete Secret {}/{}", self.namespace, self.secret),
            },
            self.duration,
            restarting(self.restart_workload.as_deref())
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        if self.delete_secret {
            "create the Secret again as recorded in the journal"
        } else {
            "put the key back from the journal, unless someone else has set it meanwhile"
        }
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        let u = if self.delete_secret {
            Use::SecretDelete
        } else {
            Use::SecretKeys
        };
        let mut uses = vec![(self.namespace.clone(), u)];
        uses.extend(restart_permissions(target, self.workload()));
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        let mut uses = vec![
            (Scope::Target, Use::SecretKeys),
            (Scope::Target, Use::SecretDelete),
        ];
        uses.extend(restart_granted());
        uses
    }
}
