//! Gates: failures that cap a capability's score whatever its timings say.

use serde::{Deserialize, Serialize};

use super::catalogue::Capability;
use super::provenance::Provenance;
use crate::time::Timestamp;

/// The highest score a capability with a failed gate can have; below 40 so that maturity is level 1.
pub const GATE_CAP: f64 = 39.0;

/// A failure observed during a drill that caps one capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// The fault was never detected: caps detection at 0, as an infinite time to detect would.
    NoDetection,
    /// A rollback failed and left the fault in place: caps recovery / continuity at 39. Only
    /// read from results written before formula 2.0.0; a failed revert is now a failed
    /// precondition that voids the page.
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

/// A gate hit, with where the failure was seen and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateHit {
    /// The gate.
    pub gate: Gate,
    /// Whether the organisation's own signals missed it (or its policy let it through), or
    /// a signal firedrill stands in for.
    pub provenance: Provenance,
    /// When the run that hit it ended; evidence older than the scorecard's age limit no
    /// longer counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<Timestamp>,
}

impl GateHit {
    /// A gate hit seen by `provenance`, undated.
    pub fn new(gate: Gate, provenance: Provenance) -> Self {
        Self {
            gate,
            provenance,
            measured_at: None,
        }
    }
}

/// Results written before formula 2.0.0 hold bare gate names: read as simulated, since they
/// say nothing of where the failure was seen.
impl<'de> Deserialize<'de> for GateHit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Full {
            gate: Gate,
            #[serde(default)]
            provenance: Provenance,
            #[serde(default)]
            measured_at: Option<Timestamp>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Bare(Gate),
            Full(Full),
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Bare(gate) => GateHit::new(gate, Provenance::Simulated),
            Repr::Full(f) => GateHit {
                gate: f.gate,
                provenance: f.provenance,
                measured_at: f.measured_at,
            },
        })
    }
}
