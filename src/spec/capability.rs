//! The cybersecurity capabilities a drill can evidence, as written in documents; the
//! scorecard (`crate::scorecard`) holds their references, weights and scoring.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cybersecurity capability a drill can evidence.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Detection of faults and incidents.
    Detection,
    /// Containment of an incident.
    Containment,
    /// Recovery and business continuity.
    RecoveryContinuity,
    /// Readiness to notify the authorities in time.
    ReportingReadiness,
    /// Resilience to the failure of a supplier or dependency.
    ThirdPartyResilience,
    /// Evidence and traceability of what happened.
    EvidenceTraceability,
    /// Coordination inside and outside the organisation.
    Coordination,
    /// Continuous testing of the measures.
    ContinuousTesting,
}

impl Capability {
    /// Every capability, in the order of the reference table.
    pub const ALL: [Capability; 8] = [
        Capability::Detection,
        Capability::Containment,
        Capability::RecoveryContinuity,
        Capability::ReportingReadiness,
        Capability::ThirdPartyResilience,
        Capability::EvidenceTraceability,
        Capability::Coordination,
        Capability::ContinuousTesting,
    ];

    /// The display name, as in the reference table.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Detection => "Detection",
            Capability::Containment => "Containment",
            Capability::RecoveryContinuity => "Recovery / continuity",
            Capability::ReportingReadiness => "Reporting readiness",
            Capability::ThirdPartyResilience => "Third-party resilience",
            Capability::EvidenceTraceability => "Evidence & traceability",
            Capability::Coordination => "Coordination",
            Capability::ContinuousTesting => "Continuous testing",
        }
    }
}

/// A fault that stops or strains a service: does it recover, and is that noticed.
pub(super) const PROCESS_FAULT: &[Capability] = &[
    Capability::RecoveryContinuity,
    Capability::Detection,
    Capability::ContinuousTesting,
];

/// A dependency made slow, faulty or unreachable: does the service cope with its supplier failing.
pub(super) const DEPENDENCY_FAULT: &[Capability] = &[
    Capability::ThirdPartyResilience,
    Capability::Detection,
    Capability::RecoveryContinuity,
    Capability::ContinuousTesting,
];

/// Cutting pods off: is an incident contained.
pub(super) const CONTAINMENT_FAULT: &[Capability] = &[
    Capability::Containment,
    Capability::Detection,
    Capability::ContinuousTesting,
];

/// Rotating or revoking a credential: can the service contain a leaked one without an outage.
pub(super) const CREDENTIAL_FAULT: &[Capability] = &[
    Capability::Containment,
    Capability::RecoveryContinuity,
    Capability::Detection,
    Capability::ContinuousTesting,
];

/// A detection canary: does security monitoring notice a known, benign signal.
pub(super) const CANARY: &[Capability] = &[Capability::Detection, Capability::ContinuousTesting];

/// A prevention check: does policy refuse what it must.
pub(super) const PREVENTION_CHECK: &[Capability] =
    &[Capability::Containment, Capability::ContinuousTesting];
