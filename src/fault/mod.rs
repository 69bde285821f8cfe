//! The fault catalogue. Each fault selects its targets, injects, and reverts; revert is
//! idempotent and safe to call twice.

mod canary;
mod canary_kube;
mod cluster_proxy;
mod config;
mod container;
mod dependency;
mod kubernetes;
mod memory;
mod network;
mod node;
mod prevention;
mod process;
pub mod security;
mod stress;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

pub use canary::{CANARY_HEADER, CanaryFileReadFault, CanaryRequestFault, canary_user_agent};
pub use canary_kube::{
    CANARY_LABEL, CanaryDeniedRequestsFault, CanaryExecFault, CanarySecretReadFault,
    default_canary_domain, default_exec_command,
};
pub use cluster_proxy::{
    ClusterProxyFault, ORIGINAL_SELECTOR, PROXIED_SERVICE, PROXY, ProxiedPort, TargetPort,
    check_dependency, derived_name, proxied_ports, proxy_file,
};
pub use config::{ConfigChangeFault, SecretFault, fresh_value};
pub use container::{ContainerKillFault, ExecError};
pub use dependency::DependencyFault;
pub use kubernetes::{ControllerFault, PodRemovalFault, QuarantineFault, owner};
pub use memory::{MemoryPressureFault, hold_memory};
pub use network::NetworkFault;
pub use node::NodeFault;
pub use prevention::{
    DEFAULT_IMAGE, ENFORCE_LABEL, NEVER_SCHEDULED, PreventPodFault, PreventSecretReadFault,
};
pub use process::{ProcessKillFault, ProcessPauseFault};
pub use stress::{CpuStressFault, burn_cpu};

use crate::platform::Platform;
use crate::spec::FaultSpec;

/// What a fault is about to change and how that is undone, written to the journal before
/// the change so that a crashed run can be rolled back.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// The fault's name.
    pub fault: String,
    /// The fault's type.
    #[serde(rename = "type")]
    pub fault_type: String,
    /// What will change, e.g. `SIGSTOP to process group 4242 (web/1)`.
    pub changes: Vec<String>,
    /// How each change is undone.
    pub undo: Vec<String>,
    /// The targets, e.g. `web/1`.
    pub targets: Vec<String>,
    /// Each change to an existing object or each object created, with what undoes it,
    /// so that `firedrill rollback` can undo it from the journal alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<crate::platform::kubernetes::Undo>,
    /// How many replicas or pods the targets were chosen from, when the fault counted
    /// them, so that the blast-radius bound need not count them again.
    #[serde(skip)]
    pub pool: Option<usize>,
    /// The API writes `inject` will make, in order, so that `firedrill plan` can dry-run
    /// them; empty on the local platform.
    #[serde(skip)]
    pub writes: Vec<crate::platform::kubernetes::ApiWrite>,
}

/// Why a fault could not be injected or reverted.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// No target matched the selection when the fault was due.
    #[error("fault `{fault}`: no running replica of `{workload}` to act on")]
    NoTargets {
        /// The fault.
        fault: String,
        /// The workload.
        workload: String,
    },
    /// The fault names a workload that does not exist.
    #[error("fault `{fault}`: unknown workload `{workload}`")]
    UnknownWorkload {
        /// The fault.
        fault: String,
        /// The workload.
        workload: String,
    },
    /// The fault names a dependency that does not exist.
    #[error("fault `{fault}`: unknown dependency `{dependency}`")]
    UnknownDependency {
        /// The fault.
        fault: String,
        /// The dependency.
        dependency: String,
    },
    /// A signal could not be delivered.
    #[error("fault `{fault}`: cannot signal {target}")]
    Signal {
        /// The fault.
        fault: String,
        /// The replica.
        target: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A helper process could not be started.
    #[error("fault `{fault}`: cannot start its helper process")]
    Helper {
        /// The fault.
        fault: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The fault proxy refused a change.
    #[error("fault `{fault}`: the dependency proxy refused the change")]
    Proxy {
        /// The fault.
        fault: String,
        /// The cause.
        #[source]
        source: crate::proxy::ProxyError,
    },
    /// The Kubernetes API refused or failed, or a guardrail refused the targets.
    #[error("fault `{fault}`")]
    Kubernetes {
        /// The fault.
        fault: String,
        /// The cause.
        #[source]
        source: crate::platform::kubernetes::KubeError,
    },
    /// The fault would exceed a safety bound of this host.
    #[error("fault `{fault}`: {message}")]
    Unsafe {
        /// The fault.
        fault: String,
        /// Which bound.
        message: String,
    },
    /// A command run in a container through `pods/exec` failed or could not be run.
    #[error("fault `{fault}`: the command in {target} failed")]
    Exec {
        /// The fault.
        fault: String,
        /// `container C of pod NS/NAME`.
        target: String,
        /// The API server's or the command's answer.
        #[source]
        source: container::ExecError,
    },
    /// A detection canary could not be performed, so no monitor could have seen it.
    #[error("fault `{fault}`: {message}")]
    Canary {
        /// The fault.
        fault: String,
        /// What went wrong.
        message: String,
    },
    /// Something the fault started (a proxy in the cluster) did not become ready in time.
    #[error("fault `{fault}`: {message}")]
    NotReady {
        /// The fault.
        fault: String,
        /// What was not ready, and what was done about it.
        message: String,
    },
}

/// A fault bound to its targets on a platform.
#[async_trait]
pub trait Fault: Send + Sync {
    /// Chooses the targets and says what will change. Called once, before `inject`.
    async fn plan(&self) -> Result<Intent, FaultError>;
    /// Applies the change planned by `plan`.
    async fn inject(&self) -> Result<(), FaultError>;
    /// Undoes the change; does nothing when there is nothing left to undo.
    async fn revert(&self) -> Result<Vec<String>, FaultError>;
    /// Replicas of `workload` currently affected, for the blast-radius bound.
    fn affected(&self, workload: &str) -> usize;
    /// What a detection canary or a prevention check did when it was injected; `None` for
    /// every other fault. Read by the engine right after `inject`.
    fn security(&self) -> Option<security::SecurityOutcome> {
        None
    }
}

/// Run-wide values a fault may need.
#[derive(Clone, Debug)]
pub struct FaultContext {
    /// The firedrill binary, for helper processes.
    pub firedrill: PathBuf,
    /// The run's id, carried in the markers of security drills.
    pub run_id: String,
}

/// Builds the runtime fault of a spec fault on its platform.
pub fn build(
    spec: &FaultSpec,
    platform: &Platform,
    ctx: &FaultContext,
) -> Result<Arc<dyn Fault>, FaultError> {
    let platform = match platform {
        Platform::Local(p) => p,
        Platform::Kubernetes(k, _) => {
            let cluster = k.cluster().clone();
            return Ok(match spec {
                FaultSpec::PodDelete(_) | FaultSpec::PodEvict(_) => {
                    Arc::new(PodRemovalFault::new(spec.clone(), cluster))
                }
                FaultSpec::Scale(_) | FaultSpec::RolloutRestart(_) => {
                    Arc::new(ControllerFault::new(spec.clone(), cluster))
                }
                FaultSpec::Quarantine(q) => Arc::new(QuarantineFault::new(q.clone(), cluster)),
                FaultSpec::ConfigChange(c) => Arc::new(ConfigChangeFault::new(c.clone(), cluster)),
                FaultSpec::SecretRotate(_) | FaultSpec::SecretRevoke(_) => {
                    Arc::new(SecretFault::new(spec.clone(), cluster))
                }
                FaultSpec::ContainerKill(c) => Arc::new(ContainerKillFault::new(
                    c.clone(),
                    cluster,
                    k.events(),
                    k.stop_token(),
                )),
                FaultSpec::DependencyLatency(_)
                | FaultSpec::DependencyErrors(_)
                | FaultSpec::DependencyOutage(_)
                | FaultSpec::DependencyBandwidth(_) => {
                    Arc::new(ClusterProxyFault::new(spec.clone(), cluster))
                }
                FaultSpec::EgressBlock(_) | FaultSpec::DnsOutage(_) => {
                    Arc::new(NetworkFault::new(spec.clone(), cluster))
                }
                FaultSpec::NodeCordon(_) | FaultSpec::NodeDrain(_) => {
                    Arc::new(NodeFault::new(spec.clone(), cluster))
                }
                FaultSpec::CanarySecretRead(c) => Arc::new(CanarySecretReadFault::new(
                    c.clone(),
                    cluster,
                    k.connection().clone(),
                    ctx.run_id.clone(),
                )),
                FaultSpec::CanaryExec(c) => Arc::new(CanaryExecFault::exec(c, cluster)),
                FaultSpec::CanaryDnsLookup(c) => Arc::new(CanaryExecFault::dns_lookup(c, cluster)),
                FaultSpec::CanaryDeniedRequests(c) => Arc::new(CanaryDeniedRequestsFault::new(
                    c.clone(),
                    cluster,
                    k.connection().clone(),
                )),
                FaultSpec::PreventPrivilegedPod(_)
                | FaultSpec::PreventHostPath(_)
                | FaultSpec::PreventPodSecurity(_) => {
                    Arc::new(PreventPodFault::new(spec, cluster).ok_or_else(|| {
                        FaultError::Unsafe {
                            fault: spec.name().to_owned(),
                            message: "not a pod prevention check".to_owned(),
                        }
                    })?)
                }
                FaultSpec::PreventSecretRead(p) => Arc::new(PreventSecretReadFault::new(
                    p.clone(),
                    cluster,
                    k.connection().clone(),
                )),
                other => {
                    return Err(FaultError::Unsafe {
                        fault: other.name().to_owned(),
                        message: format!(
                            "`{}` does not act on the kubernetes platform",
                            other.type_name()
                        ),
                    });
                }
            });
        }
    };
    let replicas = |workload: &str| {
        platform
            .workload(workload)
            .map(<[_]>::to_vec)
            .ok_or_else(|| FaultError::UnknownWorkload {
                fault: spec.name().to_owned(),
                workload: workload.to_owned(),
            })
    };
    Ok(match spec {
        FaultSpec::ProcessKill(f) => Arc::new(ProcessKillFault::new(
            f.clone(),
            replicas(f.select.workload())?,
        )),
        FaultSpec::ProcessPause(f) => Arc::new(ProcessPauseFault::new(
            f.clone(),
            replicas(f.select.workload())?,
        )),
        FaultSpec::CpuStress(f) => Arc::new(CpuStressFault::new(f.clone(), ctx.firedrill.clone())),
        FaultSpec::MemoryPressure(f) => {
            Arc::new(MemoryPressureFault::new(f.clone(), ctx.firedrill.clone()))
        }
        FaultSpec::CanaryRequest(f) => {
            let url =
                crate::spec::placeholders::expand(&f.url, platform.template()).map_err(|e| {
                    FaultError::Canary {
                        fault: f.name.clone(),
                        message: format!("url `{}`: {e}", f.url),
                    }
                })?;
            Arc::new(CanaryRequestFault::new(f.clone(), url, &ctx.run_id))
        }
        FaultSpec::CanaryFileRead(f) => Arc::new(CanaryFileReadFault::new(
            f.clone(),
            platform.experiment_dir(),
            &ctx.run_id,
        )),
        FaultSpec::DependencyLatency(_)
        | FaultSpec::DependencyErrors(_)
        | FaultSpec::DependencyOutage(_)
        | FaultSpec::DependencyBandwidth(_) => {
            let missing = || FaultError::UnknownDependency {
                fault: spec.name().to_owned(),
                dependency: spec.dependency().unwrap_or_default().to_owned(),
            };
            Arc::new(DependencyFault::new(spec, platform.proxies().clone()).ok_or_else(missing)?)
        }
        FaultSpec::PodDelete(_)
        | FaultSpec::PodEvict(_)
        | FaultSpec::Scale(_)
        | FaultSpec::RolloutRestart(_)
        | FaultSpec::Quarantine(_)
        | FaultSpec::ConfigChange(_)
        | FaultSpec::SecretRotate(_)
        | FaultSpec::SecretRevoke(_)
        | FaultSpec::ContainerKill(_)
        | FaultSpec::EgressBlock(_)
        | FaultSpec::DnsOutage(_)
        | FaultSpec::NodeCordon(_)
        | FaultSpec::NodeDrain(_)
        | FaultSpec::CanarySecretRead(_)
        | FaultSpec::CanaryExec(_)
        | FaultSpec::CanaryDnsLookup(_)
        | FaultSpec::CanaryDeniedRequests(_)
        | FaultSpec::PreventPrivilegedPod(_)
        | FaultSpec::PreventHostPath(_)
        | FaultSpec::PreventPodSecurity(_)
        | FaultSpec::PreventSecretRead(_) => {
            return Err(FaultError::Unsafe {
                fault: spec.name().to_owned(),
                message: format!(
                    "`{}` acts on the kubernetes platform only",
                    spec.type_name()
                ),
            });
        }
    })
}
