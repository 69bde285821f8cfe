//! Faults on configuration and credentials: a ConfigMap's keys, a Secret's key or the
//! whole Secret.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
