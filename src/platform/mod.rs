//! Where workloads live. `local` runs them as processes on this host; `kubernetes` acts on
//! workloads that already run in a cluster, through its API; `prometheus` is the client of
//! the Prometheus and Alertmanager HTTP APIs that both platforms and their probes read.

pub mod kubernetes;
pub mod local;
pub mod prometheus;

/// Something that happened to a workload, reported to the engine for the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformEvent {
    /// A replica's process started.
    ReplicaStarted {
        /// `workload/index`.
        replica: String,
        /// Its process id.
        pid: u32,
    },
    /// A replica's process could not be started.
    ReplicaFailedToStart {
        /// `workload/index`.
        replica: String,
        /// Why.
        error: String,
    },
    /// A replica's process ended.
    ReplicaExited {
        /// `workload/index`.
        replica: String,
        /// Its process id.
        pid: u32,
        /// How it ended.
        status: String,
    },
    /// A replica passed its readiness check and receives traffic.
    ReplicaReady {
        /// `workload/index`.
        replica: String,
    },
    /// A replica failed its readiness check and receives no traffic.
    ReplicaUnready {
        /// `workload/index`.
        replica: String,
    },
    /// A pod removed by a fault was replaced and its replacement is Ready.
    PodRecovered(Box<kubernetes::PodRecovery>),
    /// A container killed by a fault was restarted by the kubelet and is Ready again.
    ContainerRestarted(Box<kubernetes::ContainerRecovery>),
    /// A Warning event that a `kubernetes-event` detection signal counts.
    KubernetesWarning(Box<crate::result::WarningEvent>),
}

impl PlatformEvent {
    /// A short kebab-case name of the event.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReplicaStarted { .. } => "replica-started",
            Self::ReplicaFailedToStart { .. } => "replica-failed-to-start",
            Self::ReplicaExited { .. } => "replica-exited",
            Self::ReplicaReady { .. } => "replica-ready",
            Self::ReplicaUnready { .. } => "replica-unready",
            Self::PodRecovered(_) => "pod-recovered",
            Self::ContainerRestarted(_) => "container-restarted",
            Self::KubernetesWarning(_) => "kubernetes-event",
        }
    }

    /// The replica concerned.
    pub fn replica(&self) -> &str {
        match self {
            Self::ReplicaStarted { replica, .. }
            | Self::ReplicaFailedToStart { replica, .. }
            | Self::ReplicaExited { replica, .. }
            | Self::ReplicaReady { replica }
            | Self::ReplicaUnready { replica } => replica,
            Self::PodRecovered(r) => &r.pod,
            Self::ContainerRestarted(r) => &r.pod,
            Self::KubernetesWarning(e) => &e.object,
        }
    }
}

/// The platform a run drives: one closed set, so the engine matches on it.
#[derive(Debug)]
pub enum Platform {
    /// Processes on this host.
    Local(local::LocalPlatform),
    /// A Kubernetes cluster, with the template of run-wide placeholders.
    Kubernetes(
        kubernetes::KubernetesPlatform,
        crate::spec::placeholders::Context,
    ),
}

impl Platform {
    /// Values for the placeholders of probes and other run-wide strings.
    pub fn template(&self) -> &crate::spec::placeholders::Context {
        match self {
            Self::Local(p) => p.template(),
            Self::Kubernetes(_, template) => template,
        }
    }

    /// The service address of each workload (none on kubernetes: URLs are written as reached).
    pub fn services(&self) -> std::collections::BTreeMap<String, String> {
        match self {
            Self::Local(p) => p
                .services()
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            Self::Kubernetes(..) => std::collections::BTreeMap::new(),
        }
    }

    /// How many replicas (pods) a workload has now, for the blast-radius bound.
    pub async fn workload_size(&self, name: &str) -> Option<usize> {
        match self {
            Self::Local(p) => p.workload(name).map(<[_]>::len),
            Self::Kubernetes(k, _) => {
                let w = k.cluster().workload(name)?;
                k.cluster().target_pods(w).await.ok().map(|p| p.len())
            }
        }
    }

    /// The cluster, on kubernetes.
    pub fn cluster(&self) -> Option<&kubernetes::Cluster> {
        match self {
            Self::Local(_) => None,
            Self::Kubernetes(k, _) => Some(k.cluster()),
        }
    }

    /// Stops what the platform started (on kubernetes, its watches).
    pub async fn shutdown(self) {
        match self {
            Self::Local(p) => p.shutdown().await,
            Self::Kubernetes(k, _) => k.stop(),
        }
    }
}
