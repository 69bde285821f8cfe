//! The fault catalogue. Each fault selects its targets, injects, and reverts; revert is
//! idempotent and safe to call twice.

/// Declares the spec of a runtime fault that serves several kinds of one family: an enum
/// over the kinds' own spec structs, with the questions the runtime asks of any of them
/// answered by the kind (`spec::FaultKind`).
macro_rules! family {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident($kind:ty),)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub enum $name {
            $($(#[$vdoc])* $variant($kind),)*
        }

        // Not every family asks every question of its kinds.
        #[allow(dead_code)]
        impl $name {
            /// The fault's name.
            pub fn name(&self) -> &str {
                match self { $(Self::$variant(f) => crate::spec::FaultKind::name(f),)* }
            }
            /// The fault's type as written in the document.
            pub fn type_name(&self) -> &'static str {
                match self { $(Self::$variant(_) => <$kind as crate::spec::FaultKind>::TYPE_NAME,)* }
            }
            /// The replicas or pods the fault acts on, if it selects them.
            pub fn selector(&self) -> Option<&crate::spec::Selector> {
                match self { $(Self::$variant(f) => crate::spec::FaultKind::selector(f),)* }
            }
            /// The Kubernetes workload the fault acts on, if any.
            pub fn kubernetes_workload(&self) -> Option<&str> {
                match self { $(Self::$variant(f) => crate::spec::FaultKind::workload(f),)* }
            }
            /// The dependency the fault acts on, if any.
            pub fn dependency(&self) -> Option<&str> {
                match self { $(Self::$variant(f) => crate::spec::FaultKind::dependency(f),)* }
            }
        }
    };
}

mod canary;
mod canary_kube;
mod cluster_proxy;
mod config;
mod container;
mod dependency;
pub mod effect;
pub mod helper;
mod kubernetes;
mod memory;
mod network;
mod node;
mod pod_stress;
mod prevention;
mod process;
pub mod security;
mod stress;
pub mod verifier;

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
pub use config::{ConfigChangeFault, SecretChange, SecretFault, fresh_value};
pub use container::{ContainerKillFault, ExecError};
pub use dependency::{DependencyChange, DependencyFault};
pub use effect::Effect;
pub use kubernetes::{
    ControllerChange, ControllerFault, PodRemoval, PodRemovalFault, QuarantineFault, owner,
};
pub use memory::{MemoryPressureFault, hold_memory};
pub use network::{EgressChange, NetworkFault};
pub use node::{NodeChange, NodeFault};
pub use pod_stress::{PodHelperChange, PodHelperFault};
pub use prevention::{
    DEFAULT_IMAGE, ENFORCE_LABEL, NEVER_SCHEDULED, PreventPod, PreventPodFault,
    PreventSecretReadFault,
};
pub use process::{ProcessKillFault, ProcessPauseFault};
pub use stress::{CpuStressFault, burn_cpu};

use crate::platform::Platform;
use crate::platform::kubernetes::{Cluster, KubernetesPlatform};
use crate::platform::local::LocalPlatform;
use crate::spec::{FaultKind, FaultSpec};

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
    /// Looks, right after `inject`, for what shows the change in force (docs/effects.md);
    /// answers within [`effect::CHECK_WINDOW`] or so.
    async fn verify(&self) -> Effect;
    /// Whether the change outlasts `revert` (a deleted pod stays deleted, a killed process
    /// stays killed), so that the check may finish after the fault's end; otherwise a check
    /// still looking when the fault ends can no longer see it.
    fn outlives_revert(&self) -> bool {
        false
    }
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

/// A runtime fault built from its spec, or why it could not be built.
pub type Built = Result<Arc<dyn Fault>, FaultError>;

/// How a fault kind of the document becomes a runtime fault: each kind implements it in
/// its family's file, beside the runtime fault it builds.
pub trait BuildFault {
    /// The runtime fault of this spec fault on `platform`.
    fn build(&self, platform: &Platform, ctx: &FaultContext) -> Built;
}

macro_rules! build_dispatch {
    ($( $(#[$doc:meta])* $variant:ident($kind:ident), )*) => {
        /// Builds the runtime fault of a spec fault on its platform.
        pub fn build(
            spec: &FaultSpec,
            platform: &Platform,
            ctx: &FaultContext,
        ) -> Built {
            match spec {
                $( FaultSpec::$variant(f) => f.build(platform, ctx), )*
            }
        }
    };
}
crate::spec::fault_kinds!(build_dispatch);

/// The local platform a local kind acts on; an error on the kubernetes platform.
fn local_platform<'p, K: FaultKind>(
    fault: &K,
    platform: &'p Platform,
) -> Result<&'p LocalPlatform, FaultError> {
    match platform {
        Platform::Local(p) => Ok(p),
        Platform::Kubernetes(..) => Err(FaultError::Unsafe {
            fault: fault.name().to_owned(),
            message: format!("`{}` does not act on the kubernetes platform", K::TYPE_NAME),
        }),
    }
}

/// The cluster a Kubernetes kind acts on; an error on the local platform.
fn kubernetes_platform<'p, K: FaultKind>(
    fault: &K,
    platform: &'p Platform,
) -> Result<&'p KubernetesPlatform, FaultError> {
    match platform {
        Platform::Kubernetes(k, _) => Ok(k),
        Platform::Local(_) => Err(FaultError::Unsafe {
            fault: fault.name().to_owned(),
            message: format!("`{}` acts on the kubernetes platform only", K::TYPE_NAME),
        }),
    }
}

/// The runtime fault of a Kubernetes kind made by `new` from the kind's spec and the
/// cluster, as most Kubernetes kinds are; an error on the local platform.
fn on_cluster<K: FaultKind + Clone, F: Fault + 'static>(
    fault: &K,
    platform: &Platform,
    new: impl FnOnce(K, Cluster) -> F,
) -> Built {
    let k = kubernetes_platform(fault, platform)?;
    Ok(Arc::new(new(fault.clone(), k.cluster().clone())))
}

/// The replicas of a local workload a fault selects from.
fn local_replicas(
    platform: &LocalPlatform,
    fault: &str,
    workload: &str,
) -> Result<Vec<Arc<crate::platform::local::Replica>>, FaultError> {
    platform
        .workload(workload)
        .map(<[_]>::to_vec)
        .ok_or_else(|| FaultError::UnknownWorkload {
            fault: fault.to_owned(),
            workload: workload.to_owned(),
        })
}
