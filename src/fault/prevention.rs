//! Prevention checks on the kubernetes platform: an action policy must refuse, tried for
//! real, with the refusal (status, reason, message) kept as evidence.
//!
//! `prevent-privileged-pod`, `prevent-host-path` and `prevent-pod-security` create a pod that
//! could never run even if admitted (a node selector no node matches, a 60 s deadline, no
//! service account token); an accepted pod is deleted at once and the acceptance is a
//! finding. `prevent-secret-read` reads a Secret as a ServiceAccount that must not read it;
//! a read that succeeds is a finding, and the value is dropped unread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, Namespace, Pod, PodSpec, Secret, SecurityContext,
    ServiceAccount, Volume, VolumeMount,
};
use kube::Api;
use kube::api::{DeleteParams, Preconditions};

use super::canary_kube::{
    create_recorded, create_write, drill_meta, drill_service_account, service_account_token,
    status_of, user_of,
};
use super::kubernetes::{Created, create_owned, is_status, kube_error, lock, undo_all};
use super::security::{PreventionOutcome, SecurityOutcome, marker_name};
use super::{
    BuildFault, Built, Fault, FaultContext, FaultError, Intent, kubernetes_platform, on_cluster,
};
use crate::platform::Platform;
use crate::platform::kubernetes::{ApiWrite, Cluster, Connection, KubeError, Undo, retry};
use crate::spec::{self, PodSecurityLevel};

/// The image of a check's pod when none is given: it never runs anyway.
pub const DEFAULT_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// The node label a check's pod asks for, which no node carries.
pub const NEVER_SCHEDULED: (&str, &str) = ("firedrill.dev/prevention-check", "never-scheduled");
/// The label that sets the Pod Security level a namespace enforces.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// What makes a check's pod one that policy must refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Breach {
    /// A privileged container.
    Privileged,
    /// A read-only hostPath volume of this path.
    HostPath(String),
    /// What breaks this Pod Security level; the level is read from the namespace when none.
    PodSecurity(Option<PodSecurityLevel>),
}

/// `prevent-privileged-pod`, `prevent-host-path` and `prevent-pod-security`.
pub struct PreventPodFault {
    name: String,
    type_name: &'static str,
    namespace: String,
    image: String,
    breach: Breach,
    cluster: Cluster,
    /// The level the pod breaks, once known (pod-security only).
    level: Mutex<Option<PodSecurityLevel>>,
    restore: Mutex<Vec<Undo>>,
    outcome: Mutex<Option<SecurityOutcome>>,
}

family! {
    /// The pod a prevention check tries to create.
    PreventPod {
        /// A privileged pod.
        Privileged(spec::PreventPrivilegedPod),
        /// A pod that mounts a host path.
        HostPath(spec::PreventHostPath),
        /// A pod that breaks the namespace's Pod Security level.
        PodSecurity(spec::PreventPodSecurity),
    }
}

impl PreventPodFault {
    /// The check of a prevent-privileged-pod, prevent-host-path or prevent-pod-security
    /// fault.
    pub fn new(spec: &PreventPod, cluster: Cluster) -> Self {
        let (ns, image, breach) = match spec {
            PreventPod::Privileged(p) => (&p.namespace, &p.image, Breach::Privileged),
            PreventPod::HostPath(p) => (
                &p.namespace,
                &p.image,
                Breach::HostPath(p.path.clone().unwrap_or_else(|| "/".to_owned())),
            ),
            PreventPod::PodSecurity(p) => (&p.namespace, &p.image, Breach::PodSecurity(p.level)),
        };
        let level = match &breach {
            Breach::PodSecurity(l) => *l,
            _ => None,
        };
        Self {
            name: spec.name().to_owned(),
            type_name: spec.type_name(),
            namespace: ns.clone(),
            image: image.clone().unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
            breach,
            cluster,
            level: Mutex::new(level),
            restore: Mutex::new(Vec::new()),
            outcome: Mutex::new(None),
        }
    }

    fn pod_name(&self) -> String {
        marker_name(&self.name)
    }

    /// What the pod does wrong, for the journal.
    fn breach_text(&self) -> String {
        match (&self.breach, *lock(&self.level)) {
            (Breach::Privileged, _) => "privileged".to_owned(),
            (Breach::HostPath(p), _) => format!("mounts the host path {p} read-only"),
            (Breach::PodSecurity(_), Some(PodSecurityLevel::Baseline)) => {
                "breaks Pod Security baseline: hostNetwork".to_owned()
            }
            (Breach::PodSecurity(_), _) => {
                "breaks Pod Security restricted: may run as root, no seccomp profile, allowPrivilegeEscalation".to_owned()
            }
        }
    }

    /// The pod tried: it can never run even if admitted.
    pub fn pod(&self) -> Pod {
        let mut container = Container {
            name: "check".to_owned(),
            image: Some(self.image.clone()),
            ..Container::default()
        };
        let mut spec = PodSpec {
            node_selector: Some(BTreeMap::from([(
                NEVER_SCHEDULED.0.to_owned(),
                NEVER_SCHEDULED.1.to_owned(),
            )])),
            active_deadline_seconds: Some(60),
            automount_service_account_token: Some(false),
            restart_policy: Some("Never".to_owned()),
            termination_grace_period_seconds: Some(0),
            ..PodSpec::default()
        };
        match (&self.breach, *lock(&self.level)) {
            (Breach::Privileged, _) => {
                container.security_context = Some(SecurityContext {
                    privileged: Some(true),
                    ..SecurityContext::default()
                });
            }
            (Breach::HostPath(path), _) => {
                spec.volumes = Some(vec![Volume {
                    name: "host".to_owned(),
                    host_path: Some(HostPathVolumeSource {
                        path: path.clone(),
                        type_: None,
                    }),
                    ..Volume::default()
                }]);
                container.volume_mounts = Some(vec![VolumeMount {
                    name: "host".to_owned(),
                    mount_path: "/host".to_owned(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                }]);
            }
            (Breach::PodSecurity(_), Some(PodSecurityLevel::Baseline)) => {
                spec.host_network = Some(true);
            }
            (Breach::PodSecurity(_), _) => {
                // Allowed by baseline, refused by restricted only: the check tests exactly
                // the level the namespace enforces.
                container.security_context = Some(SecurityContext {
                    allow_privilege_escalation: Some(true),
                    ..SecurityContext::default()
                });
            }
        }
        spec.containers = vec![container];
        Pod {
            metadata: drill_meta(&self.cluster, &self.name, &self.namespace, &self.pod_name()),
            spec: Some(spec),
            status: None,
        }
    }

    /// The namespace's enforced level, when the spec names none.
    async fn level(&self) -> Result<Option<PodSecurityLevel>, FaultError> {
        if let Some(l) = *lock(&self.level) {
            return Ok(Some(l));
        }
        if !matches!(self.breach, Breach::PodSecurity(_)) {
            return Ok(None);
        }
        let ns = &self.namespace;
        let api = Api::<Namespace>::all(self.cluster.client.clone());
        let namespace = retry(&format!("get namespace {ns}"), || api.get(ns))
            .await
            .map_err(kube_error(&self.name))?;
        let label = namespace
            .metadata
            .labels
            .unwrap_or_default()
            .get(ENFORCE_LABEL)
            .cloned();
        let level = match label.as_deref() {
            Some("baseline") => PodSecurityLevel::Baseline,
            Some("restricted") => PodSecurityLevel::Restricted,
            other => {
                return Err(FaultError::Unsafe {
                    fault: self.name.clone(),
                    message: format!(
                        "namespace {ns} enforces no Pod Security level a pod can break ({ENFORCE_LABEL} is {}): label it baseline or restricted, or name the level in the fault's `level`",
                        other.map_or_else(|| "absent".to_owned(), |v| format!("`{v}`"))
                    ),
                });
            }
        };
        *lock(&self.level) = Some(level);
        Ok(Some(level))
    }

    /// Deletes an accepted pod at once, only if it is still the one created.
    async fn undo_accepted(&self, uid: Option<String>) -> Vec<String> {
        let ns = &self.namespace;
        let name = self.pod_name();
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), ns);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let what = format!("delete pod {ns}/{name}");
        match retry(&what, || api.delete(&name, &params)).await {
            Ok(_) => {
                lock(&self.restore).clear();
                vec![format!(
                    "deleted pod {ns}/{name} (uid {}) at once, grace period 0",
                    uid.unwrap_or_default()
                )]
            }
            Err(e) if is_status(&e, 404) => {
                lock(&self.restore).clear();
                vec![format!("pod {ns}/{name} was already gone")]
            }
            // Left in the restore list: the fault's revert tries again.
            Err(e) => vec![format!(
                "FAILED to delete pod {ns}/{name} at once ({}); the fault's revert deletes it",
                crate::platform::kubernetes::server_message(&e)
            )],
        }
    }
}

/// Whether an API answer is policy refusing the action: a 4xx from authorization,
/// admission or validation, and not one that says something else went wrong.
fn is_refusal(code: u16) -> bool {
    (400..500).contains(&code) && !matches!(code, 401 | 404 | 405 | 409 | 410 | 415 | 429)
}

#[async_trait]
impl Fault for PreventPodFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let ns = &self.namespace;
        self.cluster
            .check_namespace(ns)
            .map_err(kube_error(&self.name))?;
        self.level().await?;
        let name = self.pod_name();
        let pod = self.pod();
        let restore = vec![Undo::delete_of::<Pod>(ns, &name).of_run(&self.cluster.run_id)];
        Ok(Intent {
            fault: self.name.clone(),
            fault_type: self.type_name.to_owned(),
            changes: vec![format!(
                "try to create pod {ns}/{name} that {} (it can never be scheduled); policy must refuse it",
                self.breach_text()
            )],
            undo: vec![format!(
                "nothing when refused; an accepted pod is deleted at once ({})",
                restore[0]
            )],
            targets: vec![format!("{ns}/{name}")],
            restore,
            pool: None,
            writes: vec![create_write(ns, &name, &pod).expecting_refusal()],
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let ns = &self.namespace;
        let name = self.pod_name();
        let pod = self.pod();
        // The delete is recorded only once the pod is known to be this run's: a pod of that
        // name without this run's id is someone else's and revert must not touch it.
        lock(&self.restore).clear();
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), ns);
        let action = format!("create pod {ns}/{name} ({})", self.breach_text());
        let created = match create_owned(&api, &pod, &self.cluster.run_id).await {
            Ok(Created::Ours(p)) => {
                lock(&self.restore)
                    .push(Undo::delete_of::<Pod>(ns, &name).of_run(&self.cluster.run_id));
                p
            }
            Ok(Created::Unread(e)) => return Err(kube_error(&self.name)(e)),
            Ok(Created::Taken(_)) => {
                return Err(FaultError::Unsafe {
                    fault: self.name.clone(),
                    message: format!(
                        "pod {ns}/{name} already exists: a leftover of an earlier run (undo it with `firedrill rollback` on that run's results) or someone else's; left as it is"
                    ),
                });
            }
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if is_refusal(s.code) => {
                *lock(&self.outcome) = Some(SecurityOutcome::Prevention(PreventionOutcome {
                    action,
                    refused: true,
                    status: Some(s.code),
                    reason: Some(s.reason.clone()).filter(|r| !r.is_empty()),
                    message: s.message.clone(),
                    undone: Vec::new(),
                    markers: vec![name],
                }));
                return Ok(());
            }
            Err(e) => return Err(kube_error(&self.name)(e)),
        };
        let uid = created.metadata.uid;
        let undone = self.undo_accepted(uid).await;
        *lock(&self.outcome) = Some(SecurityOutcome::Prevention(PreventionOutcome {
            action,
            refused: false,
            status: Some(201),
            reason: None,
            message: "the API server admitted the pod: nothing in the admission chain refused it"
                .to_owned(),
            undone,
            markers: vec![name],
        }));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, &self.name, &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

/// `prevent-secret-read`.
pub struct PreventSecretReadFault {
    spec: spec::PreventSecretRead,
    cluster: Cluster,
    connection: Connection,
    restore: Mutex<Vec<Undo>>,
    outcome: Mutex<Option<SecurityOutcome>>,
}

impl PreventSecretReadFault {
    /// A prevent-secret-read fault; `connection` builds the ServiceAccount's own client.
    pub fn new(spec: spec::PreventSecretRead, cluster: Cluster, connection: Connection) -> Self {
        Self {
            spec,
            cluster,
            connection,
            restore: Mutex::new(Vec::new()),
            outcome: Mutex::new(None),
        }
    }

    /// The ServiceAccount that tries, and whether firedrill creates it.
    fn account(&self) -> (String, bool) {
        match &self.spec.service_account {
            Some(sa) => (sa.clone(), false),
            None => (marker_name(&self.spec.name), true),
        }
    }
}

#[async_trait]
impl Fault for PreventSecretReadFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = &self.spec.name;
        let ns = &self.spec.namespace;
        self.cluster
            .check_namespace(ns)
            .map_err(kube_error(fault))?;
        let (account, dedicated) = self.account();
        let mut changes = Vec::new();
        let mut restore = Vec::new();
        let mut writes: Vec<ApiWrite> = Vec::new();
        if dedicated {
            let sa = drill_service_account(&self.cluster, fault, ns, &account);
            restore
                .push(Undo::delete_of::<ServiceAccount>(ns, &account).of_run(&self.cluster.run_id));
            writes.push(create_write(ns, &account, &sa));
            changes.push(format!(
                "create ServiceAccount {ns}/{account} (no permission of its own)"
            ));
        } else {
            let api = Api::<ServiceAccount>::namespaced(self.cluster.client.clone(), ns);
            let found = retry(&format!("get ServiceAccount {ns}/{account}"), || {
                api.get_opt(&account)
            })
            .await
            .map_err(kube_error(fault))?;
            if found.is_none() {
                return Err(kube_error(fault)(KubeError::NotFound(format!(
                    "ServiceAccount {ns}/{account} does not exist: name one that does, or leave `serviceAccount` out for a dedicated one"
                ))));
            }
        }
        changes.push(format!(
            "try to get Secret {ns}/{} as {} with a short-lived token; RBAC must refuse it (the value is never kept)",
            self.spec.secret,
            user_of(ns, &account)
        ));
        Ok(Intent {
            fault: fault.clone(),
            fault_type: "prevent-secret-read".to_owned(),
            changes,
            undo: if restore.is_empty() {
                vec!["nothing to undo: a read changes nothing".to_owned()]
            } else {
                restore.iter().map(ToString::to_string).collect()
            },
            targets: vec![format!("{ns}/{}", self.spec.secret)],
            restore,
            pool: None,
            writes,
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let fault = &self.spec.name;
        let ns = &self.spec.namespace;
        let secret = &self.spec.secret;
        let (account, dedicated) = self.account();
        if dedicated {
            create_recorded(
                &self.cluster,
                fault,
                &drill_service_account(&self.cluster, fault, ns, &account),
                &self.restore,
            )
            .await?;
        }
        let token = service_account_token(&self.cluster, ns, &account)
            .await
            .map_err(kube_error(fault))?;
        let client = self
            .connection
            .client_with_token(&token)
            .map_err(kube_error(fault))?;
        drop(token);
        let user = user_of(ns, &account);
        let action = format!("get Secret {ns}/{secret} as {user}");
        let api = Api::<Secret>::namespaced(client, ns);
        let mut markers = Vec::new();
        if dedicated {
            markers.push(account.clone());
        }
        let outcome = match api.get(secret).await {
            // The value is dropped here, unread: the finding is that it could be read.
            Ok(read) => {
                drop(read);
                PreventionOutcome {
                    action,
                    refused: false,
                    status: Some(200),
                    reason: None,
                    message: format!(
                        "RBAC let {user} read Secret {ns}/{secret} (the value was not kept)"
                    ),
                    undone: Vec::new(),
                    markers,
                }
            }
            // Authorization comes before the lookup: a 404 means the read was allowed.
            Err(kube::Error::Api(s)) if s.code == 404 => PreventionOutcome {
                action,
                refused: false,
                status: Some(404),
                reason: Some(s.reason.clone()).filter(|r| !r.is_empty()),
                message: format!(
                    "RBAC let {user} get Secrets named {secret} in {ns}; the Secret does not exist ({})",
                    s.message
                ),
                undone: Vec::new(),
                markers,
            },
            Err(kube::Error::Api(s)) if s.code == 403 => PreventionOutcome {
                action,
                refused: true,
                status: Some(s.code),
                reason: Some(s.reason.clone()).filter(|r| !r.is_empty()),
                message: s.message.clone(),
                undone: Vec::new(),
                markers,
            },
            Err(source) => {
                let (_, _, message) = status_of(&source);
                return Err(kube_error(fault)(KubeError::Api {
                    what: format!("{action}: {message}"),
                    source,
                }));
            }
        };
        *lock(&self.outcome) = Some(SecurityOutcome::Prevention(outcome));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, &self.spec.name, &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

impl BuildFault for spec::PreventPrivilegedPod {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            PreventPodFault::new(&PreventPod::Privileged(s), c)
        })
    }
}

impl BuildFault for spec::PreventHostPath {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            PreventPodFault::new(&PreventPod::HostPath(s), c)
        })
    }
}

impl BuildFault for spec::PreventPodSecurity {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            PreventPodFault::new(&PreventPod::PodSecurity(s), c)
        })
    }
}

impl BuildFault for spec::PreventSecretRead {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let k = kubernetes_platform(self, platform)?;
        Ok(Arc::new(PreventSecretReadFault::new(
            self.clone(),
            k.cluster().clone(),
            k.connection().clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_policy_answers_only() {
        for code in [400, 403, 422] {
            assert!(is_refusal(code), "{code}");
        }
        for code in [200, 201, 401, 404, 409, 429, 500, 503] {
            assert!(!is_refusal(code), "{code}");
        }
    }
}
