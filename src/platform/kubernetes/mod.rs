//! The kubernetes platform: workloads that already run in a cluster, changed only through
//! its API. Nothing is started or stopped here; the platform connects, checks the
//! guardrails and the permissions, and resolves the named workloads to their pods.

mod client;
mod dependency;
pub mod discover;
mod dry_run;
mod evict;
mod exec;
mod preflight;
pub mod rbac;
mod restarts;
mod restore;
mod select;
mod track;
mod undo;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

pub use client::{Connection, connect, retry};
pub use dependency::{
    PROXY, ProxiedPort, TargetPort, Unproxiable, check_dependency, proxied_ports,
};
pub use dry_run::{DryRun, dry_run, for_review, manifest_file_name, server_message};
pub use evict::{evict, is_budget_refusal};
pub use exec::{ExecError, ExecOutput, exec_capture, exit_code};
pub use preflight::{Permission, Verb, check_permissions, required_permissions};
pub use restarts::{ContainerRecovery, RestartWatch, watch_restart};
pub use restore::{
    OWNER_POD, POD_ENV, RESTORE_RECORD, Recorded, RecordedIntent, RestoreRecord, delete_record,
    list_records, owner, pod_running, record_name, this_pod,
};
pub use select::{PodRef, check_opt_in, check_share, choose, label_selector};
pub use track::{PodRecovery, Tracker, track};
pub use undo::{
    ConfigKey, HelperState, SecretKey, SecretValue, Undo, apply_undo, helper_state,
    remove_created_file, selector_patch, sha256_hex,
};
pub use write::{ApiWrite, REDACTED, WriteAction};

use crate::spec::{KubernetesTarget, KubernetesWorkload, Spec, Use, WorkloadKind};

/// The label that marks every object firedrill creates.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGER: &str = "firedrill";
/// The label that carries the run id on every object firedrill creates or marks.
pub const RUN_ID: &str = "firedrill.dev/run-id";
/// The label put on quarantined pods, whose value names the NetworkPolicy that isolates them.
pub const QUARANTINE: &str = "firedrill.dev/quarantine";
/// The label put on pods whose egress a fault blocks, whose value names the NetworkPolicy.
pub const EGRESS_BLOCK: &str = "firedrill.dev/egress-block";
/// The annotation with the host and process id of the run that created an object.
pub const OWNER: &str = "firedrill.dev/owner";
/// The label of a verifier pod (the proof of effect of a NetworkPolicy fault): a pod that
/// carries it is never one of a workload's pods, even with the workload's labels.
pub const VERIFIER: &str = "firedrill.dev/verifier";
/// The template annotation a rollout restart changes, as `kubectl rollout restart` does.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// Page size of list requests.
pub const PAGE: u32 = 500;

/// How an error should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The experiment or the command line is wrong; nothing to retry.
    UserInput,
    /// The cluster or the connection refused or failed; the run aborts with rollback.
    Infrastructure,
    /// A transient failure (429, 5xx, a dropped connection): retried with back-off.
    Retriable,
}

/// What made the Kubernetes configuration unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The kubeconfig file could not be read (and, with no context named, this is not a pod
    /// with a service account either).
    #[error("cannot read the kubeconfig {}", path.display())]
    Read {
        /// The file: `KUBECONFIG`'s first entry, or `~/.kube/config`.
        path: std::path::PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be parsed, or its context could not be used.
    #[error(transparent)]
    Kubeconfig(kube::config::KubeconfigError),
    /// A token could not be set as the credentials.
    #[error(transparent)]
    Token(#[from] serde_json::Error),
    /// No client could be built from the configuration.
    #[error(transparent)]
    Client(#[from] kube::Error),
}

impl From<kube::config::KubeconfigError> for ConfigError {
    fn from(e: kube::config::KubeconfigError) -> Self {
        match e {
            // The file's path once, unquoted, and its cause once.
            kube::config::KubeconfigError::ReadConfig(source, path) => Self::Read { path, source },
            other => Self::Kubeconfig(other),
        }
    }
}

/// Why the kubernetes platform could not do something.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No kubeconfig or in-cluster configuration could be loaded.
    #[error("cannot load the Kubernetes configuration{}", context.as_ref().map(|c| format!(" (context `{c}`)")).unwrap_or_default())]
    Config {
        /// The context asked for.
        context: Option<String>,
        /// The cause.
        #[source]
        source: ConfigError,
    },
    /// The API server answered with an error, or could not be reached.
    #[error("{what}")]
    Api {
        /// What was being done, such as `list pods in shop`.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A guardrail refused a target.
    #[error("refused: {0}")]
    Refused(String),
    /// The run lacks permissions it needs.
    #[error("missing permissions, nothing was changed: {}", .0.join("; "))]
    Forbidden(Vec<String>),
    /// A workload does not exist or has nothing to act on.
    #[error("{0}")]
    NotFound(String),
    /// A PodDisruptionBudget blocked an eviction.
    #[error("eviction of pod {pod} blocked by a PodDisruptionBudget: {message}")]
    Disruption {
        /// `namespace/name`.
        pod: String,
        /// The API server's message, which names the budget.
        message: String,
    },
}

impl KubeError {
    /// How the error should be handled.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config { .. } | Self::Refused(_) | Self::NotFound(_) => ErrorKind::UserInput,
            Self::Forbidden(_) | Self::Disruption { .. } => ErrorKind::Infrastructure,
            Self::Api { source, .. } if client::is_retriable(source) => ErrorKind::Retriable,
            Self::Api { .. } => ErrorKind::Infrastructure,
        }
    }

    /// What the user can do about the error, in one line, when there is something to say.
    pub fn next_step(&self) -> Option<&'static str> {
        match self {
            Self::Config { .. } => Some(NO_CLUSTER_NEXT_STEP),
            Self::Api { .. }
            | Self::Refused(_)
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::Disruption { .. } => None,
        }
    }
}

/// What to do when no cluster configuration could be loaded.
pub const NO_CLUSTER_NEXT_STEP: &str = "point KUBECONFIG at a kubeconfig file or name a context with --context; `firedrill plan --offline FILE` reads the drill without a cluster";

/// What faults and probes need to act on the cluster: the client and the guardrails.
#[derive(Clone)]
pub struct Cluster {
    /// The API client.
    pub client: kube::Client,
    /// The target as written in the experiment.
    pub target: Arc<KubernetesTarget>,
    /// This run's id, put on every object created.
    pub run_id: String,
    /// `spec.safety.maxAffectedPercent`.
    pub max_affected_percent: f64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The workload named `name` in the target.
    pub fn workload(&self, name: &str) -> Option<&KubernetesWorkload> {
        self.target.workloads.iter().find(|w| w.name == name)
    }

    /// The labels every object firedrill creates carries.
    pub fn ownership_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY.to_owned(), MANAGER.to_owned()),
            (RUN_ID.to_owned(), self.run_id.clone()),
        ])
    }

    /// The pods of a workload, read with server-side label selectors and paged lists.
    pub async fn pods(&self, w: &KubernetesWorkload) -> Result<Vec<Pod>, KubeError> {
        select::pods_of(&self.client, w).await
    }

    /// The pods of a workload that a fault may act on: every guardrail checked.
    pub async fn target_pods(&self, w: &KubernetesWorkload) -> Result<Vec<PodRef>, KubeError> {
        self.check_namespace(&w.namespace)?;
        let pods = self.pods(w).await?;
        let refs: Vec<PodRef> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(PodRef::from_pod)
            .collect();
        if self.target.require_opt_in {
            check_opt_in(&refs, &self.target.opt_in_label)?;
        }
        Ok(refs)
    }

    /// Refuses a namespace outside the allowlist, or a system namespace not allowed.
    pub fn check_namespace(&self, ns: &str) -> Result<(), KubeError> {
        select::check_namespace(&self.target, ns)
    }
}

/// A connected cluster, checked and ready for a run.
#[derive(Debug)]
pub struct KubernetesPlatform {
    cluster: Cluster,
    connection: Connection,
    // Boxed: most runs keep none, and the platform enum stays small.
    restore: Option<Box<RestoreRecord>>,
    events: tokio::sync::mpsc::UnboundedSender<crate::platform::PlatformEvent>,
    stop: tokio_util::sync::CancellationToken,
}

impl KubernetesPlatform {
    /// Connects, checks every permission the run needs, and resolves every workload with
    /// its guardrails; any failure stops the run before anything changes. With
    /// `restore_namespace`, the run keeps its undo records in a restore record there.
    pub async fn start(
        spec: &Spec,
        target: &KubernetesTarget,
        context: Option<&str>,
        restore_namespace: Option<&str>,
        run_id: &str,
        events: tokio::sync::mpsc::UnboundedSender<crate::platform::PlatformEvent>,
    ) -> Result<Self, KubeError> {
        let context = context.or(target.context.as_deref());
        let (client, connection) = connect(context).await?;
        let cluster = Cluster {
            client,
            target: Arc::new(target.clone()),
            run_id: run_id.to_owned(),
            max_affected_percent: spec.safety.max_affected_percent,
        };
        // A kind the cluster does not serve stops the run here, naming it; the resources
        // discovery finds are those whose permissions are checked.
        let mut resources = BTreeMap::new();
        for p in &spec.steady_state.probes {
            if let crate::spec::Probe::KubernetesObject(p) = p {
                let resource =
                    discover::namespaced_resource(&cluster.client, &p.api_version, &p.kind)
                        .await
                        .map_err(|e| match e {
                            discover::DiscoverError::Api { source, .. } => KubeError::Api {
                                what: format!("discover the kind {} of probe `{}`", p.kind, p.name),
                                source,
                            },
                            e => KubeError::NotFound(format!("probe `{}`: {e}", p.name)),
                        })?;
                resources.insert((p.api_version.clone(), p.kind.clone()), resource.plural);
            }
        }
        let permissions = preflight::required_permissions_with(spec, &|p| {
            resources
                .get(&(p.api_version.clone(), p.kind.clone()))
                .cloned()
                .unwrap_or_else(|| discover::guessed_plural(&p.api_version, &p.kind))
        });
        let mut permissions = permissions;
        if let Some(ns) = restore_namespace {
            permissions.extend(restore_permissions(ns));
        }
        check_permissions(&cluster.client, &permissions).await?;
        for w in &target.workloads {
            check_workload(&cluster, w).await?;
        }
        // A Service the proxy cannot stand in front of stops the run before any fault.
        for d in &target.dependencies {
            if d.proxy.is_some() && spec.faults.iter().any(|f| f.dependency() == Some(&d.name)) {
                check_dependency(&cluster, d).await?;
            }
        }
        // The share each fault would take is checked against the pods that exist now, so
        // that an experiment that could never respect it stops before any change.
        for f in &spec.faults {
            if let (Some(sel), Some(w)) = (
                f.selector(),
                f.kubernetes_workload().and_then(|n| cluster.workload(n)),
            ) {
                let pods = cluster.target_pods(w).await?;
                check_share(
                    f.name(),
                    &w.name,
                    sel.count(pods.len()),
                    0,
                    pods.len(),
                    spec.safety.max_affected_percent,
                )?;
            }
        }
        let restore =
            restore_namespace.map(|ns| Box::new(RestoreRecord::new(&cluster.client, ns, run_id)));
        Ok(Self {
            cluster,
            connection,
            restore,
            events,
            stop: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Watches a workload's pods from now on and reports, as platform events, how each of
    /// `targets` (`namespace/name`) is replaced; returns once the watch has listed them.
    pub async fn track(
        &self,
        workload: &str,
        targets: Vec<String>,
        limit: std::time::Duration,
    ) -> Result<(), KubeError> {
        let Some(w) = self.cluster.workload(workload) else {
            return Ok(());
        };
        track(
            &self.cluster,
            w,
            targets,
            self.events.clone(),
            self.stop.child_token(),
            limit,
        )
        .await
    }

    /// Ends every watch.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Where watches started by faults report what they see.
    pub fn events(&self) -> tokio::sync::mpsc::UnboundedSender<crate::platform::PlatformEvent> {
        self.events.clone()
    }

    /// Cancelled when the run ends, for watches started by faults.
    pub fn stop_token(&self) -> tokio_util::sync::CancellationToken {
        self.stop.child_token()
    }

    /// The client and guardrails for faults and probes.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The run's restore record in the cluster, when it keeps one.
    pub fn restore_record(&self) -> Option<&RestoreRecord> {
        self.restore.as_deref()
    }

    /// Where the run is connected to.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Pod count of each workload, for the record.
    pub async fn pod_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for w in &self.cluster.target.workloads {
            if let Ok(pods) = self.cluster.pods(w).await {
                counts.insert(w.name.clone(), pods.len());
            }
        }
        counts
    }
}

/// Checks that a workload exists, lies in an allowed namespace, has pods, and that every
/// pod carries the opt-in label.
async fn check_workload(cluster: &Cluster, w: &KubernetesWorkload) -> Result<(), KubeError> {
    cluster.check_namespace(&w.namespace)?;
    if let Some(name) = &w.object_name {
        let ns = &w.namespace;
        let c = cluster.client.clone();
        let what = format!("get {} {ns}/{name}", w.kind.as_str());
        let found = match w.kind {
            WorkloadKind::Deployment => {
                let api = Api::<Deployment>::namespaced(c, ns);
                retry(&what, || api.get_opt(name)).await?.is_some()
            }
            WorkloadKind::StatefulSet => {
                let api = Api::<StatefulSet>::namespaced(c, ns);
                retry(&what, || api.get_opt(name)).await?.is_some()
            }
            WorkloadKind::DaemonSet => {
                let api = Api::<DaemonSet>::namespaced(c, ns);
                retry(&what, || api.get_opt(name)).await?.is_some()
            }
            WorkloadKind::Pod => {
                let api = Api::<Pod>::namespaced(c, ns);
                retry(&what, || api.get_opt(name)).await?.is_some()
            }
        };
        if !found {
            return Err(KubeError::NotFound(format!(
                "workload `{}`: {} {ns}/{name} does not exist",
                w.name,
                w.kind.as_str()
            )));
        }
    }
    let pods = cluster.target_pods(w).await?;
    if pods.is_empty() && w.kind != WorkloadKind::DaemonSet {
        return Err(KubeError::NotFound(format!(
            "workload `{}` has no pod in {}",
            w.name, w.namespace
        )));
    }
    Ok(())
}

/// What a run that keeps a restore record in `namespace` needs there: its own record
/// created, added to and deleted (listing is `firedrill cleanup`'s).
fn restore_permissions(namespace: &str) -> Vec<Permission> {
    preflight::needs(Use::RestoreRecords)
        .into_iter()
        .filter(|(verb, _, resource, _)| *resource == "secrets" && *verb != Verb::List)
        .filter(|(verb, ..)| *verb != Verb::Get)
        .map(|(verb, group, resource, subresource)| Permission {
            namespace: namespace.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource,
            verb,
        })
        .collect()
}
