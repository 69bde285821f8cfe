//! Faults on the kubernetes platform, each acting only through the API: pod-delete,
//! pod-evict, scale, rollout-restart and quarantine. Every change to an existing object is
//! planned with its original value (`Intent::restore`) before it is made.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::effect::{API_EVERY, CHECK_WINDOW, within};
use super::{BuildFault, Built, Effect, Fault, FaultContext, FaultError, Intent, on_cluster};
use crate::platform::Platform;
use crate::platform::kubernetes::{
    ApiWrite, Cluster, KubeError, OWNER, PodRef, QUARANTINE, RESTARTED_AT, RUN_ID, Undo,
    WriteAction, apply_undo, check_share, choose, evict, retry,
};
use crate::spec::{self, KubernetesWorkload, WorkloadKind};

pub(super) fn kube_error(fault: &str) -> impl FnOnce(KubeError) -> FaultError + '_ {
    move |source| FaultError::Kubernetes {
        fault: fault.to_owned(),
        source,
    }
}

/// The workload a fault names; validation guarantees it exists.
pub(super) fn workload<'c>(
    cluster: &'c Cluster,
    fault: &str,
    name: &str,
) -> Result<&'c KubernetesWorkload, FaultError> {
    cluster
        .workload(name)
        .ok_or_else(|| FaultError::UnknownWorkload {
            fault: fault.to_owned(),
            workload: name.to_owned(),
        })
}

/// Chooses the pods a selector takes, every guardrail checked.
pub(super) async fn pick(
    cluster: &Cluster,
    fault: &str,
    select: &spec::Selector,
) -> Result<(Vec<PodRef>, usize), FaultError> {
    let w = workload(cluster, fault, select.workload())?;
    let pods = cluster.target_pods(w).await.map_err(kube_error(fault))?;
    let chosen = choose(&pods, select);
    if chosen.is_empty() {
        return Err(FaultError::NoTargets {
            fault: fault.to_owned(),
            workload: w.name.clone(),
        });
    }
    Ok((chosen, pods.len()))
}

/// Whether an API error is this HTTP status.
pub(super) fn is_status(e: &KubeError, code: u16) -> bool {
    matches!(e, KubeError::Api { source: kube::Error::Api(s), .. } if s.code == code)
}

/// What a create found.
pub(super) enum Created<K> {
    /// This run's object: created now, or by an earlier attempt of the same retried create.
    Ours(K),
    /// An object of that name this run did not create; the run id it carries, if any.
    Taken(Option<String>),
    /// An object of that name exists and could not be read to tell whose it is.
    Unread(KubeError),
}

/// Creates `object`, telling this run's own object apart from someone else's. `retry`
/// repeats a create whose answer was lost (a 5xx or a dropped connection), so a 409, or a
/// final failure that is not the API server refusing the request, may hide an object the
/// first attempt made: it is this run's when it carries `run_id`.
pub(super) async fn create_owned<K>(
    api: &Api<K>,
    object: &K,
    run_id: &str,
) -> Result<Created<K>, KubeError>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let id = format!(
        "{} {}/{name}",
        K::kind(&()),
        object.meta().namespace.as_deref().unwrap_or_default()
    );
    let run_of = |o: &K| {
        o.meta()
            .labels
            .as_ref()
            .and_then(|l| l.get(RUN_ID))
            .cloned()
    };
    let post = PostParams::default();
    match retry(&format!("create {id}"), || api.create(&post, object)).await {
        Ok(created) => Ok(Created::Ours(created)),
        Err(e) if is_status(&e, 409) => {
            match retry(&format!("read {id}"), || api.get(&name)).await {
                Ok(existing) => match run_of(&existing) {
                    Some(r) if r == run_id => Ok(Created::Ours(existing)),
                    other => Ok(Created::Taken(other)),
                },
                Err(e) => Ok(Created::Unread(e)),
            }
        }
        Err(e) if answer_lost(&e) => {
            match retry(&format!("read {id}"), || api.get_opt(&name)).await {
                Ok(Some(existing)) if run_of(&existing).as_deref() == Some(run_id) => {
                    Ok(Created::Ours(existing))
                }
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether a failed request may have been carried out: a server error or no answer at all,
/// as opposed to the API server refusing it (4xx).
fn answer_lost(e: &KubeError) -> bool {
    match e {
        KubeError::Api {
            source: kube::Error::Api(s),
            ..
        } => s.code >= 500,
        KubeError::Api { .. } => true,
        _ => false,
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a pod the fault removed is gone, replaced or terminating.
pub(super) async fn pod_removed(cluster: &Cluster, p: &PodRef, verb: &str) -> Effect {
    // Listed by name, not read: `list` is what the run may do with pods already.
    let api = Api::<Pod>::namespaced(cluster.client.clone(), &p.namespace);
    let by_name = kube::api::ListParams::default().fields(&format!("metadata.name={}", p.name));
    let look = || {
        let (api, by_name) = (api.clone(), by_name.clone());
        async move {
            let found = api.list(&by_name).await.map(|l| l.items.into_iter().next());
            match found {
                Ok(None) => Some(Effect::verified(format!("pod {} is gone", p.id()))),
                Ok(Some(pod)) if pod.metadata.uid.as_deref() != Some(p.uid.as_str()) => {
                    Some(Effect::verified(format!(
                        "pod {} (uid {}) is gone; a new pod of that name replaced it",
                        p.id(),
                        p.uid
                    )))
                }
                Ok(Some(pod)) if pod.metadata.deletion_timestamp.is_some() => Some(
                    Effect::verified(format!("pod {} (uid {}) is terminating", p.id(), p.uid)),
                ),
                Ok(Some(_)) => None,
                Err(e) => Some(Effect::unverified(format!(
                    "pod {} cannot be read: {e}",
                    p.id()
                ))),
            }
        }
    };
    within(CHECK_WINDOW, API_EVERY, look, || {
        Effect::ineffective(format!(
            "pod {} (uid {}) is still there and not terminating {} s after its {verb}",
            p.id(),
            p.uid,
            CHECK_WINDOW.as_secs()
        ))
    })
    .await
}

family! {
    /// What a pod removal fault does to its pods.
    PodRemoval {
        /// Delete them.
        Delete(spec::PodDelete),
        /// Evict them through the Eviction API.
        Evict(spec::PodEvict),
    }
}

/// Deletes or evicts pods; the controller replaces them, so there is nothing to undo.
pub struct PodRemovalFault {
    spec: PodRemoval,
    cluster: Cluster,
    chosen: Mutex<Vec<PodRef>>,
    active: Mutex<bool>,
}

impl PodRemovalFault {
    /// A pod-delete or pod-evict fault.
    pub fn new(spec: PodRemoval, cluster: Cluster) -> Self {
        Self {
            spec,
            cluster,
            chosen: Mutex::new(Vec::new()),
            active: Mutex::new(false),
        }
    }

    /// The grace period a pod-delete asks for: zero when forced, else as written.
    fn grace_period_seconds(&self) -> Option<u32> {
        match &self.spec {
            PodRemoval::Delete(d) if d.force => Some(0),
            PodRemoval::Delete(d) => d
                .grace_period
                .map(|g| u32::try_from(g.get().as_secs()).unwrap_or(u32::MAX)),
            PodRemoval::Evict(_) => None,
        }
    }
}

#[async_trait]
impl Fault for PodRemovalFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let name = self.spec.name();
        let select = self.spec.selector().ok_or_else(|| FaultError::Unsafe {
            fault: name.to_owned(),
            message: "no selector".into(),
        })?;
        let (chosen, pool) = pick(&self.cluster, name, select).await?;
        let verb = match &self.spec {
            PodRemoval::Evict(_) => "evict",
            PodRemoval::Delete(_) => "delete",
        };
        let intent = Intent {
            fault: name.to_owned(),
            fault_type: self.spec.type_name().to_owned(),
            changes: chosen
                .iter()
                .map(|p| format!("{verb} pod {} (uid {})", p.id(), p.uid))
                .collect(),
            undo: vec!["nothing to undo: the pods' controller replaces them".to_owned()],
            targets: chosen.iter().map(PodRef::id).collect(),
            restore: Vec::new(),
            pool: Some(pool),
            writes: chosen
                .iter()
                .map(|p| {
                    let action = match &self.spec {
                        PodRemoval::Evict(_) => WriteAction::Evict,
                        PodRemoval::Delete(_) => WriteAction::Delete {
                            grace_period_seconds: self.grace_period_seconds(),
                        },
                    };
                    ApiWrite::of::<Pod>(&p.namespace, &p.name, action)
                })
                .collect(),
        };
        *lock(&self.chosen) = chosen;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let name = self.spec.name();
        let chosen = lock(&self.chosen).clone();
        *lock(&self.active) = true;
        for p in &chosen {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
            // The uid precondition keeps a replacement of the same name (a StatefulSet's) safe.
            let preconditions = Some(kube::api::Preconditions {
                uid: Some(p.uid.clone()),
                resource_version: None,
            });
            match &self.spec {
                PodRemoval::Evict(_) => {
                    let answer = evict(
                        &self.cluster.client,
                        &p.namespace,
                        &p.name,
                        Some(&p.uid),
                        false,
                    )
                    .await;
                    match answer {
                        Ok(()) => {}
                        // Gone already, or replaced (the uid precondition): nothing to evict.
                        Err(KubeError::Api {
                            source: kube::Error::Api(s),
                            ..
                        }) if s.code == 404 || s.code == 409 => {}
                        Err(e) => return Err(kube_error(name)(e)),
                    }
                }
                PodRemoval::Delete(_) => {
                    let params = DeleteParams {
                        grace_period_seconds: self.grace_period_seconds(),
                        preconditions,
                        ..DeleteParams::default()
                    };
                    let what = format!("delete pod {}", p.id());
                    let deleted = retry(&what, || api.delete(&p.name, &params)).await;
                    match deleted {
                        Ok(_) => {}
                        Err(KubeError::Api {
                            source: kube::Error::Api(s),
                            ..
                        }) if s.code == 404 => {}
                        Err(e) => return Err(kube_error(name)(e)),
                    }
                }
            }
        }
        Ok(())
    }

    fn outlives_revert(&self) -> bool {
        true
    }

    async fn verify(&self) -> Effect {
        let verb = match &self.spec {
            PodRemoval::Evict(_) => "eviction",
            PodRemoval::Delete(_) => "deletion",
        };
        let chosen = lock(&self.chosen).clone();
        let mut effects = Vec::new();
        for p in &chosen {
            effects.push(pod_removed(&self.cluster, p, verb).await);
        }
        Effect::all(effects)
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        *lock(&self.active) = false;
        Ok(vec![
            "nothing to undo: the controller replaces the pods".to_owned(),
        ])
    }

    fn affected(&self, workload: &str) -> usize {
        let held = *lock(&self.active);
        match self.spec.selector() {
            Some(s) if held && s.workload() == workload => lock(&self.chosen).len(),
            _ => 0,
        }
    }
}

family! {
    /// What a controller fault changes.
    ControllerChange {
        /// Its scale.
        Scale(spec::Scale),
        /// Its template's restart annotation.
        Restart(spec::RolloutRestart),
    }
}

/// Changes an existing controller (its scale or its template's restart annotation) and
/// puts it back as recorded.
pub struct ControllerFault {
    spec: ControllerChange,
    cluster: Cluster,
    restore: Mutex<Vec<Undo>>,
}

impl ControllerFault {
    /// A scale or rollout-restart fault.
    pub fn new(spec: ControllerChange, cluster: Cluster) -> Self {
        Self {
            spec,
            cluster,
            restore: Mutex::new(Vec::new()),
        }
    }

    fn target(&self) -> Result<(&KubernetesWorkload, String), FaultError> {
        let name = self.spec.name();
        let w = workload(
            &self.cluster,
            name,
            self.spec.kubernetes_workload().unwrap_or_default(),
        )?;
        let object = w.object_name.clone().ok_or_else(|| FaultError::Unsafe {
            fault: name.to_owned(),
            message: format!("workload `{}` names no object", w.name),
        })?;
        self.cluster
            .check_namespace(&w.namespace)
            .map_err(kube_error(name))?;
        Ok((w, object))
    }
}

#[async_trait]
impl Fault for ControllerFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let name = self.spec.name();
        let (w, object) = self.target()?;
        let ns = w.namespace.clone();
        let client = self.cluster.client.clone();
        // The guardrails hold for the pods a controller change touches too.
        self.cluster
            .target_pods(w)
            .await
            .map_err(kube_error(name))?;
        let id = format!("{} {ns}/{object}", w.kind.as_str());
        let (change, undo, write) = match &self.spec {
            ControllerChange::Scale(s) => {
                let what = format!("read the scale of {id}");
                let scale = match w.kind {
                    WorkloadKind::StatefulSet => {
                        let api = Api::<StatefulSet>::namespaced(client, &ns);
                        retry(&what, || api.get_scale(&object)).await
                    }
                    _ => {
                        let api = Api::<Deployment>::namespaced(client, &ns);
                        retry(&what, || api.get_scale(&object)).await
                    }
                }
                .map_err(kube_error(name))?;
                let current = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
                // Scaling down takes pods away like any other fault: the share applies.
                let target = i32::try_from(s.replicas).unwrap_or(i32::MAX);
                if target < current {
                    check_share(
                        name,
                        &w.name,
                        usize::try_from(current - target).unwrap_or_default(),
                        0,
                        usize::try_from(current).unwrap_or_default(),
                        self.cluster.max_affected_percent,
                    )
                    .map_err(kube_error(name))?;
                }
                (
                    format!("scale {id} from {current} to {} replicas", s.replicas),
                    Undo::ScaleTo {
                        kind: w.kind,
                        namespace: ns.clone(),
                        name: object.clone(),
                        replicas: current,
                    },
                    WriteAction::MergePatch {
                        subresource: Some("scale".to_owned()),
                        patch: json!({"spec": {"replicas": s.replicas}}),
                    },
                )
            }
            ControllerChange::Restart(_) => {
                let what = format!("read {id}");
                let template_annotations = match w.kind {
                    WorkloadKind::StatefulSet => {
                        let api = Api::<StatefulSet>::namespaced(client, &ns);
                        retry(&what, || api.get(&object)).await.map(|o| {
                            o.spec
                                .and_then(|s| s.template.metadata)
                                .and_then(|m| m.annotations)
                        })
                    }
                    WorkloadKind::DaemonSet => {
                        let api = Api::<DaemonSet>::namespaced(client, &ns);
                        retry(&what, || api.get(&object)).await.map(|o| {
                            o.spec
                                .and_then(|s| s.template.metadata)
                                .and_then(|m| m.annotations)
                        })
                    }
                    _ => {
                        let api = Api::<Deployment>::namespaced(client, &ns);
                        retry(&what, || api.get(&object)).await.map(|o| {
                            o.spec
                                .and_then(|s| s.template.metadata)
                                .and_then(|m| m.annotations)
                        })
                    }
                }
                .map_err(kube_error(name))?;
                let original = template_annotations.and_then(|a| a.get(RESTARTED_AT).cloned());
                (
                    format!(
                        "restart every pod of {id}: set the template annotation {RESTARTED_AT} (now {})",
                        original.as_deref().unwrap_or("absent")
                    ),
                    Undo::RestoreTemplateAnnotation {
                        kind: w.kind,
                        namespace: ns.clone(),
                        name: object.clone(),
                        key: RESTARTED_AT.to_owned(),
                        value: original,
                    },
                    WriteAction::MergePatch {
                        subresource: None,
                        patch: restart_patch(),
                    },
                )
            }
        };
        let intent = Intent {
            fault: name.to_owned(),
            fault_type: self.spec.type_name().to_owned(),
            changes: vec![change],
            undo: vec![undo.to_string()],
            targets: vec![id],
            restore: vec![undo.clone()],
            pool: None,
            writes: vec![controller_write(w.kind, &ns, &object, write)],
        };
        *lock(&self.restore) = vec![undo];
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let name = self.spec.name();
        let (w, object) = self.target()?;
        let client = self.cluster.client.clone();
        let ns = &w.namespace;
        let params = PatchParams::default();
        let what = format!("change {} {ns}/{object}", w.kind.as_str());
        let done = match (&self.spec, w.kind) {
            (ControllerChange::Scale(s), kind) => {
                let patch = Patch::Merge(json!({"spec": {"replicas": s.replicas}}));
                if kind == WorkloadKind::StatefulSet {
                    let api = Api::<StatefulSet>::namespaced(client, ns);
                    retry(&what, || api.patch_scale(&object, &params, &patch))
                        .await
                        .map(|_| ())
                } else {
                    let api = Api::<Deployment>::namespaced(client, ns);
                    retry(&what, || api.patch_scale(&object, &params, &patch))
                        .await
                        .map(|_| ())
                }
            }
            (ControllerChange::Restart(_), kind) => {
                let patch = Patch::Merge(restart_patch());
                match kind {
                    WorkloadKind::StatefulSet => {
                        let api = Api::<StatefulSet>::namespaced(client, ns);
                        retry(&what, || api.patch(&object, &params, &patch))
                            .await
                            .map(|_| ())
                    }
                    WorkloadKind::DaemonSet => {
                        let api = Api::<DaemonSet>::namespaced(client, ns);
                        retry(&what, || api.patch(&object, &params, &patch))
                            .await
                            .map(|_| ())
                    }
                    _ => {
                        let api = Api::<Deployment>::namespaced(client, ns);
                        retry(&what, || api.patch(&object, &params, &patch))
                            .await
                            .map(|_| ())
                    }
                }
            }
        };
        done.map_err(kube_error(name))
    }

    async fn verify(&self) -> Effect {
        let Ok((w, object)) = self.target() else {
            return Effect::unverified("the workload cannot be named");
        };
        let id = format!("{} {}/{object}", w.kind.as_str(), w.namespace);
        match &self.spec {
            ControllerChange::Scale(s) => {
                let wanted = usize::try_from(s.replicas).unwrap_or(usize::MAX);
                let seen = std::sync::atomic::AtomicUsize::new(0);
                let look = || {
                    let cluster = &self.cluster;
                    let seen = &seen;
                    let id = &id;
                    async move {
                        match cluster.target_pods(w).await {
                            Ok(pods) if pods.len() == wanted => Some(Some(Effect::verified(
                                format!("{id} has {wanted} pod(s), as scaled"),
                            ))),
                            Ok(pods) => {
                                seen.store(pods.len(), std::sync::atomic::Ordering::Relaxed);
                                None
                            }
                            Err(e) => Some(Some(Effect::unverified(format!(
                                "the pods of {id} cannot be listed: {e}"
                            )))),
                        }
                    }
                };
                let found = within(CHECK_WINDOW * 2, API_EVERY, look, || None).await;
                found.unwrap_or_else(|| {
                    Effect::unverified(format!(
                        "{id} is scaled to {wanted}, but {} pod(s) are there {} s later: the pods have not followed yet",
                        seen.load(std::sync::atomic::Ordering::Relaxed),
                        (CHECK_WINDOW * 2).as_secs()
                    ))
                })
            }
            ControllerChange::Restart(_) => {
                let pods = match self.cluster.pods(w).await {
                    Ok(pods) => pods,
                    Err(e) => {
                        return Effect::unverified(format!(
                            "the pods of {id} cannot be listed: {e}"
                        ));
                    }
                };
                let before: Vec<String> =
                    pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
                let look = || {
                    let cluster = &self.cluster;
                    let before = &before;
                    let id = &id;
                    async move {
                        let now = cluster.pods(w).await.ok()?;
                        now.iter()
                            .find(|p| {
                                p.metadata.uid.as_ref().is_some_and(|u| !before.contains(u))
                                    || p.metadata.deletion_timestamp.is_some()
                            })
                            .map(|p| {
                                Effect::verified(format!(
                                    "the rollout of {id} began: pod {} is {}",
                                    p.metadata.name.as_deref().unwrap_or_default(),
                                    if p.metadata.deletion_timestamp.is_some() {
                                        "terminating"
                                    } else {
                                        "new"
                                    }
                                ))
                            })
                    }
                };
                within(CHECK_WINDOW * 2, API_EVERY, look, || {
                    Effect::ineffective(format!(
                        "no pod of {id} was replaced {} s after its template changed",
                        (CHECK_WINDOW * 2).as_secs()
                    ))
                })
                .await
            }
        }
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, self.spec.name(), &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

/// The template annotation change that makes a controller replace its pods.
fn restart_patch() -> serde_json::Value {
    let now = crate::time::Timestamp::now();
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}})
}

/// A write to a controller of the given kind.
fn controller_write(kind: WorkloadKind, ns: &str, name: &str, action: WriteAction) -> ApiWrite {
    match kind {
        WorkloadKind::StatefulSet => ApiWrite::of::<StatefulSet>(ns, name, action),
        WorkloadKind::DaemonSet => ApiWrite::of::<DaemonSet>(ns, name, action),
        WorkloadKind::Pod => ApiWrite::of::<Pod>(ns, name, action),
        WorkloadKind::Deployment => ApiWrite::of::<Deployment>(ns, name, action),
    }
}

/// Applies every recorded undo, newest first, forgetting each once done, so that a second
/// call does nothing.
pub(super) async fn undo_all(
    cluster: &Cluster,
    fault: &str,
    restore: &Mutex<Vec<Undo>>,
) -> Result<Vec<String>, FaultError> {
    let mut done = Vec::new();
    loop {
        let Some(next) = lock(restore).last().cloned() else {
            return Ok(done);
        };
        done.push(
            apply_undo(&cluster.client, &next)
                .await
                .map_err(kube_error(fault))?,
        );
        lock(restore).pop();
    }
}

/// Isolates pods with a deny-all NetworkPolicy, selecting them by a label put on each.
pub struct QuarantineFault {
    spec: spec::Quarantine,
    cluster: Cluster,
    chosen: Mutex<Vec<PodRef>>,
    restore: Mutex<Vec<Undo>>,
    /// The uid of the policy created, which owns the verifier pod.
    policy_uid: Mutex<Option<String>>,
}

impl QuarantineFault {
    /// A quarantine fault.
    pub fn new(spec: spec::Quarantine, cluster: Cluster) -> Self {
        Self {
            spec,
            cluster,
            chosen: Mutex::new(Vec::new()),
            restore: Mutex::new(Vec::new()),
            policy_uid: Mutex::new(None),
        }
    }

    /// The verifier: outside the quarantined pods, in their namespace, it connects to a
    /// quarantined pod (blocked: the policy denies its ingress) and to a pod left out
    /// (allowed).
    async fn verifier(&self) -> Result<super::verifier::Verifier, Effect> {
        use super::verifier::{Destination, Verifier, image, is_verifier};
        let image =
            image(&self.cluster).ok_or_else(|| Effect::unverified(super::verifier::NO_IMAGE))?;
        let chosen = lock(&self.chosen).clone();
        let Some(first) = chosen.first() else {
            return Err(Effect::unverified("no pod was quarantined"));
        };
        let ns = first.namespace.clone();
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &ns);
        let params = kube::api::ListParams::default().limit(crate::platform::kubernetes::PAGE);
        let pods = retry(&format!("list the pods in {ns}"), || api.list(&params))
            .await
            .map_err(|e| Effect::unverified(format!("the pods of {ns} cannot be listed: {e}")))?
            .items;
        let quarantined = |p: &Pod| {
            chosen
                .iter()
                .any(|c| Some(c.uid.as_str()) == p.metadata.uid.as_deref())
        };
        let blocked = pods
            .iter()
            .filter(|p| quarantined(p))
            .find_map(|p| Destination::of_pod(p, None))
            .ok_or_else(|| Effect::unverified("no quarantined pod has an address to connect to"))?;
        let allowed = pods
            .iter()
            .filter(|p| !quarantined(p) && !is_verifier(p))
            .filter(|p| !p.metadata.labels.as_ref().is_some_and(|l| l.contains_key(QUARANTINE)))
            .find_map(|p| Destination::of_pod(p, None))
            .ok_or_else(|| {
                Effect::unverified(format!(
                    "no pod of namespace {ns} is left out of the quarantine with an address: nothing shows that the verifier pod's network works"
                ))
            })?;
        Ok(Verifier {
            namespace: ns.clone(),
            policy: self.policy_name(),
            policy_uid: lock(&self.policy_uid).clone(),
            fault: self.spec.name.clone(),
            labels: BTreeMap::new(),
            image,
            blocked,
            allowed,
            standing: "outside the quarantined pods".to_owned(),
        })
    }

    /// The policy's name: the fault's and the run's, so runs never collide.
    fn policy_name(&self) -> String {
        let run = self.cluster.run_id.to_lowercase();
        let name = format!("firedrill-{}-{run}", self.spec.name);
        name.chars().take(253).collect()
    }

    /// The label that puts a pod under the policy.
    fn label_patch(&self) -> serde_json::Value {
        json!({"metadata": {"labels": {QUARANTINE: self.policy_name()}}})
    }

    /// The policy, as created.
    pub fn policy(&self, namespace: &str) -> NetworkPolicy {
        let name = self.policy_name();
        let mut labels = self.cluster.ownership_labels();
        labels.insert("firedrill.dev/fault".to_owned(), self.spec.name.clone());
        NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([(OWNER.to_owned(), owner())])),
                ..ObjectMeta::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(QUARANTINE.to_owned(), name)])),
                    match_expressions: None,
                }),
                policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
                ingress: None,
                egress: None,
            }),
        }
    }
}

/// `host/pid` of this process, so that `firedrill cleanup` can tell a live run's objects.
pub fn owner() -> String {
    crate::platform::kubernetes::owner()
}

#[async_trait]
impl Fault for QuarantineFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let (chosen, pool) = pick(&self.cluster, &self.spec.name, &self.spec.select).await?;
        let ns = chosen[0].namespace.clone();
        let policy = self.policy_name();
        let mut restore = vec![Undo::DeleteNetworkPolicy {
            namespace: ns.clone(),
            name: policy.clone(),
        }];
        restore.extend(chosen.iter().map(|p| Undo::RemovePodLabel {
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
            key: QUARANTINE.to_owned(),
        }));
        // Recorded before it exists, undone first.
        restore.push(super::verifier::undo(&self.cluster, &ns, &policy));
        let mut changes = vec![format!(
            "create NetworkPolicy {ns}/{policy} denying all ingress and egress of pods labelled {QUARANTINE}={policy}"
        )];
        changes.extend(
            chosen
                .iter()
                .map(|p| format!("label pod {} with {QUARANTINE}={policy}", p.id())),
        );
        changes.push(format!(
            "create verifier pod {ns}/{} (outside the quarantine) for the proof of effect, deleted once it has checked",
            super::verifier::name_for(&policy)
        ));
        let intent = Intent {
            fault: self.spec.name.clone(),
            fault_type: "quarantine".to_owned(),
            changes,
            undo: restore.iter().map(ToString::to_string).collect(),
            targets: chosen.iter().map(PodRef::id).collect(),
            restore: restore.clone(),
            pool: Some(pool),
            writes: std::iter::once(ApiWrite::of::<NetworkPolicy>(
                &ns,
                &policy,
                WriteAction::Create(serde_json::to_value(self.policy(&ns)).unwrap_or_default()),
            ))
            .chain(chosen.iter().map(|p| {
                ApiWrite::of::<Pod>(
                    &p.namespace,
                    &p.name,
                    WriteAction::MergePatch {
                        subresource: None,
                        patch: self.label_patch(),
                    },
                )
            }))
            .collect(),
        };
        // Undone newest first: the labels, then the policy.
        *lock(&self.restore) = restore;
        *lock(&self.chosen) = chosen;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let name = &self.spec.name;
        let chosen = lock(&self.chosen).clone();
        let Some(first) = chosen.first() else {
            return Ok(());
        };
        let ns = first.namespace.clone();
        let policy = self.policy(&ns);
        let api = Api::<NetworkPolicy>::namespaced(self.cluster.client.clone(), &ns);
        let what = format!("create NetworkPolicy {ns}/{}", self.policy_name());
        let post = PostParams::default();
        match retry(&what, || api.create(&post, &policy)).await {
            Ok(created) => *lock(&self.policy_uid) = created.metadata.uid,
            // A retried create that had reached the server the first time.
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 409 => {}
            Err(e) => return Err(kube_error(name)(e)),
        }
        let patch = Patch::Merge(self.label_patch());
        let params = PatchParams::default();
        for p in &chosen {
            let pods = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
            let what = format!("label pod {}", p.id());
            retry(&what, || pods.patch(&p.name, &params, &patch))
                .await
                .map_err(kube_error(name))?;
        }
        Ok(())
    }

    async fn verify(&self) -> Effect {
        match self.verifier().await {
            Ok(v) => super::verifier::run(&self.cluster, &v).await,
            Err(why) => why,
        }
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let done = undo_all(&self.cluster, &self.spec.name, &self.restore).await?;
        lock(&self.chosen).clear();
        Ok(done)
    }

    fn affected(&self, workload: &str) -> usize {
        if self.spec.select.workload() == workload {
            lock(&self.chosen).len()
        } else {
            0
        }
    }
}

impl BuildFault for spec::PodDelete {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            PodRemovalFault::new(PodRemoval::Delete(s), c)
        })
    }
}

impl BuildFault for spec::PodEvict {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            PodRemovalFault::new(PodRemoval::Evict(s), c)
        })
    }
}

impl BuildFault for spec::Scale {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            ControllerFault::new(ControllerChange::Scale(s), c)
        })
    }
}

impl BuildFault for spec::RolloutRestart {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            ControllerFault::new(ControllerChange::Restart(s), c)
        })
    }
}

impl BuildFault for spec::Quarantine {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, QuarantineFault::new)
    }
}
