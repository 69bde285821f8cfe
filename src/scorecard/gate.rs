//! Gates: failures that cap a capability's score whatever its timings say.

use serde::{Deserialize, Serialize};

use super::catalogue::Capability;

/// The highest score a capability with a failed gate can have; below 40 so that maturity is level 1.
pub const GATE_CAP: f64 = 39.0;

/// A failure observed during a drill that caps one capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// The fault was never detected: caps detection at 0, as an infinite time to detect would.
    NoDetection,
    /// A rollback failed and left the fault in place: caps recovery / continuity at 39.
    FailedRollback,
    /// A mandatory notification flag (e.g. suspected malicious act, cross-border impact) was missing: caps reporting readiness at 39.
    MissingMandatoryNotificationFlag,
    /// A prevention check's action was accepted where policy must refuse it: caps containment at 39.
    PreventionBypassed,
}

impl Gate {
    /// The capability the gate caps.
    pub fn capability(self) -> Capability {
        match self {
            Gate::NoDetection => Capability::Detection,
            Gate::FailedRollback => Capability::RecoveryContinuity,
            Gate::MissingMandatoryNotificationFlag => Capability::ReportingReadiness,
            Gate::PreventionBypassed => Capability::Containment,
        }
    }

    /// The highest score the capability can have once the gate is hit.
    pub fn cap(self) -> f64 {
        match self {
            Gate::NoDetection => 0.0,
            Gate::FailedRollback
            | Gate::MissingMandatoryNotificationFlag
            | Gate::PreventionBypassed => GATE_CAP,
        }
    }
}
