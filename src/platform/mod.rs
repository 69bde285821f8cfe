//! Where workloads live. `local` runs them as processes on this host.

pub mod local;

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
        }
    }
}
