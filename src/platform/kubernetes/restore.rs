//! The restore record: a run's undo records kept in the cluster as well as in its journal.
//!
//! A runner in a pod keeps its journal on the pod's disk, which dies with the pod (an OOM
//! kill, an eviction, a lost node). With `--restore-namespace`, the run also keeps one Secret
//! per run, `firedrill-restore-RUN_ID`, holding under `intent-SEQ` the undo records of each
//! intent, written before the change as the journal's intent is; `firedrill cleanup` applies
//! the records of runs that are no longer live. A Secret rather than a ConfigMap because the
//! undo of `secret-rotate` and `secret-revoke` holds the Secret's original values, which must
//! not become readable to whoever may read ConfigMaps (the built-in `view` role, for one).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{KubeError, MANAGED_BY, MANAGER, OWNER, RUN_ID, Undo, retry};

/// The label that marks a restore record (value `true`).
pub const RESTORE_RECORD: &str = "firedrill.dev/restore-record";
/// The annotation naming the pod a run ran in (`namespace/name`), when it ran in one.
pub const OWNER_POD: &str = "firedrill.dev/owner-pod";
/// The type of a restore record's Secret.
pub const RECORD_TYPE: &str = "firedrill.dev/restore-record";
/// The environment variables (the downward API's) naming the pod firedrill runs in.
pub const POD_ENV: (&str, &str) = ("POD_NAMESPACE", "POD_NAME");
/// The prefix of a record's keys, followed by the intent's `seq` in the journal.
const KEY_PREFIX: &str = "intent-";

/// The host and process id of this process, `HOST/PID`: what an owner annotation holds.
pub fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("{host}/{}", std::process::id())
}

/// The pod this process runs in, `namespace/name`, from the downward API's variables.
pub fn this_pod() -> Option<String> {
    let ns = std::env::var(POD_ENV.0).ok().filter(|v| !v.is_empty())?;
    let name = std::env::var(POD_ENV.1).ok().filter(|v| !v.is_empty())?;
    Some(format!("{ns}/{name}"))
}

/// The name of run `run_id`'s restore record.
pub fn record_name(run_id: &str) -> String {
    format!("firedrill-restore-{run_id}")
}

/// What one key of a record holds: an intent's fault and its undo records, in the order the
/// journal's intent lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedIntent {
    /// The fault's name.
    pub fault: String,
    /// How to undo what it is about to change.
    pub restore: Vec<Undo>,
}

/// A run's restore record, written as the run goes: created with its first intent.
#[derive(Debug)]
pub struct RestoreRecord {
    api: Api<Secret>,
    namespace: String,
    name: String,
    run_id: String,
    created: AtomicBool,
}

impl RestoreRecord {
    /// The record of run `run_id` in `namespace`; nothing is written before [`Self::add`].
    pub fn new(client: &kube::Client, namespace: &str, run_id: &str) -> Self {
        Self {
            api: Api::namespaced(client.clone(), namespace),
            namespace: namespace.to_owned(),
            name: record_name(run_id),
            run_id: run_id.to_owned(),
            created: AtomicBool::new(false),
        }
    }

    /// `namespace/name` of the record.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Adds intent `seq` with its undo records: one request (the record's creation, the
    /// first time). An error means the cluster does not know how to undo the change, which
    /// must then not be made.
    pub async fn add(&self, seq: u64, intent: &RecordedIntent) -> Result<(), KubeError> {
        let value = ByteString(serde_json::to_vec(intent).unwrap_or_default());
        let key = format!("{KEY_PREFIX}{seq}");
        if !self.created.load(Ordering::SeqCst) {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    labels: Some(BTreeMap::from([
                        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
                        (RUN_ID.to_owned(), self.run_id.clone()),
                        (RESTORE_RECORD.to_owned(), "true".to_owned()),
                    ])),
                    annotations: Some(owner_annotations()),
                    ..ObjectMeta::default()
                },
                type_: Some(RECORD_TYPE.to_owned()),
                data: Some(BTreeMap::from([(key.clone(), value.clone())])),
                ..Secret::default()
            };
            let what = format!("create the restore record {}", self.path());
            let post = PostParams::default();
            match retry(&what, || self.api.create(&post, &secret)).await {
                Ok(_) => {
                    self.created.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                // A retried create that the server had carried out: add the key below.
                Err(KubeError::Api {
                    source: kube::Error::Api(s),
                    ..
                }) if s.code == 409 => self.created.store(true, Ordering::SeqCst),
                Err(e) => return Err(e),
            }
        }
        let patch = json!({"data": {key: value}});
        let what = format!("add intent {seq} to the restore record {}", self.path());
        let params = PatchParams::default();
        let patch = Patch::Merge(&patch);
        retry(&what, || self.api.patch(&self.name, &params, &patch)).await?;
        Ok(())
    }

    /// Deletes the record once everything it names is undone; false when none was created.
    pub async fn delete(&self) -> Result<bool, KubeError> {
        if !self.created.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let what = format!("delete the restore record {}", self.path());
        let params = DeleteParams::default();
        match retry(&what, || self.api.delete(&self.name, &params)).await {
            Ok(_) => Ok(true),
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// The owner annotations of this process: host and pid, and the pod when in one.
fn owner_annotations() -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([(OWNER.to_owned(), owner())]);
    if let Some(pod) = this_pod() {
        annotations.insert(OWNER_POD.to_owned(), pod);
    }
    annotations
}

/// A restore record found in the cluster.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid, so that only this record is deleted.
    pub uid: Option<String>,
    /// The run's id.
    pub run_id: String,
    /// `HOST/PID` of the run.
    pub owner: String,
    /// `namespace/name` of the run's pod, when it ran in one.
    pub pod: Option<String>,
    /// Each intent by its `seq`, oldest first.
    pub intents: Vec<(u64, RecordedIntent)>,
    /// Keys that could not be read, with why: their changes cannot be undone from here.
    pub unreadable: Vec<String>,
}

impl Recorded {
    /// Reads a record's Secret.
    pub fn of(secret: &Secret) -> Self {
        let meta = &secret.metadata;
        let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key)).cloned();
        let mut intents = Vec::new();
        let mut unreadable = Vec::new();
        for (key, value) in secret.data.iter().flatten() {
            let seq = key
                .strip_prefix(KEY_PREFIX)
                .and_then(|s| s.parse::<u64>().ok());
            match (seq, serde_json::from_slice::<RecordedIntent>(&value.0)) {
                (Some(seq), Ok(intent)) => intents.push((seq, intent)),
                (None, _) => unreadable.push(format!("key `{key}` is not an intent")),
                (Some(_), Err(e)) => unreadable.push(format!("key `{key}`: {e}")),
            }
        }
        intents.sort_by_key(|(seq, _)| *seq);
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            run_id: meta
                .labels
                .as_ref()
                .and_then(|l| l.get(RUN_ID))
                .cloned()
                .unwrap_or_default(),
            owner: annotation(OWNER).unwrap_or_default(),
            pod: annotation(OWNER_POD),
            intents,
            unreadable,
        }
    }

    /// Every undo, in the order to apply them: the newest intent first, and each intent's
    /// records in reverse, as `firedrill rollback` does.
    pub fn undo_order(&self) -> Vec<(&str, &Undo)> {
        self.intents
            .iter()
            .rev()
            .flat_map(|(_, i)| i.restore.iter().rev().map(|u| (i.fault.as_str(), u)))
            .collect()
    }

    /// `namespace/name`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The restore records in `namespace` (every namespace when none).
pub async fn list_records(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<Recorded>, KubeError> {
    let api: Api<Secret> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let params =
        ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER},{RESTORE_RECORD}=true"));
    let list = retry("list restore records", || api.list(&params)).await?;
    Ok(list
        .items
        .iter()
        .filter(|s| s.type_.as_deref() == Some(RECORD_TYPE))
        .map(Recorded::of)
        .collect())
}

/// Deletes a record found by [`list_records`], only while it is that record (its uid).
pub async fn delete_record(client: &kube::Client, record: &Recorded) -> Result<(), KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &record.namespace);
    let params = DeleteParams {
        preconditions: record.uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let what = format!("delete the restore record {}", record.path());
    match retry(&what, || api.delete(&record.name, &params)).await {
        Ok(_) => Ok(()),
        Err(KubeError::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether the pod `namespace/name` may still be running its run: it exists and has not
/// ended. A pod being deleted still counts, since its run reverts within its grace period.
pub async fn pod_running(client: &kube::Client, pod: &str) -> Result<bool, KubeError> {
    let Some((ns, name)) = pod.split_once('/') else {
        return Ok(false);
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let found = retry(&format!("read pod {pod}"), || api.get_opt(name)).await?;
    Ok(found.is_some_and(|p| pod_is_running(&p)))
}

/// Whether a pod has not ended (phase neither `Succeeded` nor `Failed`).
fn pod_is_running(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::WorkloadKind;

    fn scale(replicas: i32) -> Undo {
        Undo::ScaleTo {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: "web".into(),
            replicas,
        }
    }

    fn secret_with(data: &[(&str, serde_json::Value)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("firedrill-restore-r1".into());
        s.metadata.namespace = Some("drills".into());
        s.metadata.labels = Some([(RUN_ID.to_owned(), "r1".to_owned())].into());
        s.metadata.annotations = Some(
            [
                (OWNER.to_owned(), "runner-abc/1".to_owned()),
                (OWNER_POD.to_owned(), "drills/runner-abc".to_owned()),
            ]
            .into(),
        );
        s.data = Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(serde_json::to_vec(v).unwrap())))
                .collect(),
        );
        s
    }

    #[test]
    fn a_record_is_undone_newest_intent_first_and_each_intent_in_reverse() {
        let first = RecordedIntent {
            fault: "outage".into(),
            restore: vec![scale(3), scale(2)],
        };
        let second = RecordedIntent {
            fault: "later".into(),
            restore: vec![scale(5)],
        };
        // Keys sort as text ("intent-10" before "intent-9"); the order is by seq.
        let secret = secret_with(&[
            ("intent-10", serde_json::to_value(&second).unwrap()),
            ("intent-9", serde_json::to_value(&first).unwrap()),
        ]);
        let record = Recorded::of(&secret);
        assert_eq!(record.run_id, "r1");
        assert_eq!(record.owner, "runner-abc/1");
        assert_eq!(record.pod.as_deref(), Some("drills/runner-abc"));
        assert_eq!(record.path(), "drills/firedrill-restore-r1");
        let order: Vec<(&str, Undo)> = record
            .undo_order()
            .into_iter()
            .map(|(f, u)| (f, u.clone()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("later", scale(5)),
                ("outage", scale(2)),
                ("outage", scale(3))
            ]
        );
        assert!(record.unreadable.is_empty());
    }

    #[test]
    fn a_key_that_is_not_an_intent_is_reported_not_applied() {
        let secret = secret_with(&[
            (
                "intent-1",
                json!({"fault": "x", "restore": [{"action": "explode"}]}),
            ),
            ("notes", json!("hello")),
        ]);
        let record = Recorded::of(&secret);
        assert!(record.intents.is_empty());
        assert_eq!(record.unreadable.len(), 2, "{:?}", record.unreadable);
    }

    #[test]
    fn an_ended_pod_is_not_running_and_a_terminating_one_is() {
        let mut pod = Pod::default();
        assert!(pod_is_running(&pod), "no status yet: pending");
        for (phase, running) in [
            ("Pending", true),
            ("Running", true),
            ("Failed", false),
            ("Succeeded", false),
        ] {
            pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            });
            assert_eq!(pod_is_running(&pod), running, "{phase}");
        }
    }

    #[test]
    fn the_record_is_named_after_the_run() {
        assert_eq!(
            record_name("1765140000-0badf00d"),
            "firedrill-restore-1765140000-0badf00d"
        );
    }
}
