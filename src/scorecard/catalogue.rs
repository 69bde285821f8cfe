//! The capabilities, where the law asks for them, their default weights, the fault mapping and
//! what a drill cannot evidence. Everything here is data copied from the regulatory reference.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::spec::Capability;

/// Where the law and the standards ask for a capability; each field is a table cell verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct References {
    /// Directive (EU) 2022/2555 (NIS2) articles.
    #[serde(rename = "nis2")]
    pub nis2: Cow<'static, str>,
    /// Commission Implementing Regulation (EU) 2024/2690, Annex points.
    #[serde(rename = "implementingRegulation2024_2690")]
    pub implementing_regulation_2024_2690: Cow<'static, str>,
    /// ISO/IEC 27001:2022 Annex A controls.
    #[serde(rename = "iso27001AnnexA")]
    pub iso_27001_annex_a: Cow<'static, str>,
    /// Regulation (EU) 2022/2554 (DORA) articles.
    #[serde(rename = "dora")]
    pub dora: Cow<'static, str>,
    /// NIST CSF 2.0 subcategories.
    #[serde(rename = "nistCsf2")]
    pub nist_csf_2: Cow<'static, str>,
}

const fn refs(
    nis2: &'static str,
    annex: &'static str,
    iso: &'static str,
    dora: &'static str,
    nist: &'static str,
) -> References {
    References {
        nis2: Cow::Borrowed(nis2),
        implementing_regulation_2024_2690: Cow::Borrowed(annex),
        iso_27001_annex_a: Cow::Borrowed(iso),
        dora: Cow::Borrowed(dora),
        nist_csf_2: Cow::Borrowed(nist),
    }
}

impl Capability {
    /// The references from the reference table, copied cell by cell.
    pub fn references(self) -> References {
        match self {
            Capability::Detection => refs(
                "21(2)(b); 23(4)",
                "3.2 monitoring & logging (3.2.2, 3.2.4, 3.2.6); 3.3; 3.4",
                "A.8.15, A.8.16, A.8.17, A.5.25, A.6.8",
                "Art 10; 17(3)(a)",
                "DE.CM-01/03/06/09; DE.AE-02..08",
            ),
            Capability::Containment => refs(
                "21(2)(b),(i),(j)",
                "3.5.2(a)(b); 6.7; 6.8; 11.2; 11.6.2(c)",
                "A.5.26, A.8.20, A.8.22, A.5.17, A.5.18",
                "11(2)(c)",
                "RS.MI-01/02; RS.MA-03/04",
            ),
            Capability::RecoveryContinuity => refs(
                "21(2)(c)",
                "4.1 (4.1.2(f) recovery objectives, 4.1.4 testing); 4.2 backup & redundancy; 4.3 crisis mgmt",
                "A.5.29, A.5.30, A.8.13, A.8.14",
                "Art 11, 12",
                "RC.RP-01..06; PR.IR-03/04",
            ),
            Capability::ReportingReadiness => refs(
                "23(1)-(4); 20",
                "3.1.2(b); 3.5.3(a)",
                "A.5.24, A.5.26, A.5.5",
                "17(3)(d)(e); 19",
                "RS.CO-02/03; RC.CO-03/04",
            ),
            Capability::ThirdPartyResilience => refs(
                "21(2)(d); 21(3); 22",
                "5.1 (5.1.4(d), 5.1.7); 5.2",
                "A.5.19-A.5.23, A.8.30",
                "Art 28 (28(8) exit), 30",
                "GV.SC-07/08/10; DE.CM-06",
            ),
            Capability::EvidenceTraceability => refs(
                "23(4)(d)",
                "3.2.5; 3.2.6; 3.5.4; 6.5.2(c)",
                "A.5.28, A.8.15, A.8.17, A.5.33",
                "11(8); 17(2)",
                "RS.AN-03/06/07/08",
            ),
            Capability::Coordination => refs(
                "20; 23(1)",
                "1.2; 3.1.2; 4.3.2",
                "A.5.24, A.5.26, A.5.5, A.5.6",
                "11(2)(e), 11(7), 14, 17(3)(e)",
                "RS.MA-01; RS.CO-02/03",
            ),
            Capability::ContinuousTesting => refs(
                "21(2)(f)",
                "7 (7.2); 6.5; 4.1.4; 4.3.4",
                "A.5.35, A.5.36, A.8.29",
                "24 (24(6) at least yearly), 25, 26",
                "ID.IM-01..04",
            ),
        }
    }

    /// The default weight of the capability in the overall figure.
    pub fn default_weight(self) -> f64 {
        match self {
            Capability::Detection => 20.0,
            Capability::RecoveryContinuity => 20.0,
            Capability::Containment => 15.0,
            Capability::ReportingReadiness => 15.0,
            Capability::ThirdPartyResilience => 10.0,
            Capability::EvidenceTraceability => 10.0,
            Capability::Coordination => 5.0,
            Capability::ContinuousTesting => 5.0,
        }
    }
}

/// The default weights of the overall figure, one per capability.
pub fn default_weights() -> BTreeMap<Capability, f64> {
    Capability::ALL
        .iter()
        .map(|capability| (*capability, capability.default_weight()))
        .collect()
}

/// The capabilities a fault type (kebab-case, as in experiments) exercises by default, as its
/// kind declares them; empty when unknown.
pub fn default_capabilities_for_fault(fault_type: &str) -> &'static [Capability] {
    crate::spec::fault_types()
        .into_iter()
        .find(|t| t.name == fault_type)
        .map_or(&[], |t| t.capabilities)
}

/// The fault types this crate maps by default: every kind of the document.
pub const DEFAULT_MAPPED_FAULT_TYPES: &[&str] = crate::spec::FAULT_TYPES;

/// A mapping from fault types to the capabilities they exercise, starting from the defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultCapabilities {
    map: BTreeMap<String, Vec<Capability>>,
}

impl Default for FaultCapabilities {
    fn default() -> Self {
        let map = DEFAULT_MAPPED_FAULT_TYPES
            .iter()
            .map(|fault| {
                (
                    (*fault).to_owned(),
                    default_capabilities_for_fault(fault).to_vec(),
                )
            })
            .collect();
        Self { map }
    }
}

impl FaultCapabilities {
    /// The capabilities a fault type exercises; empty when the type is not mapped.
    pub fn capabilities(&self, fault_type: &str) -> &[Capability] {
        self.map.get(fault_type).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Replaces the capabilities of one fault type (an empty list unmaps it).
    pub fn set(&mut self, fault_type: impl Into<String>, capabilities: Vec<Capability>) {
        self.map.insert(fault_type.into(), capabilities);
    }

    /// Every capability that at least one of the fault types exercises.
    pub fn exercised<'a>(
        &self,
        fault_types: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<Capability> {
        fault_types
            .into_iter()
            .flat_map(|fault| self.capabilities(fault).iter().copied())
            .collect()
    }
}

/// What a caught canary does not evidence, stated wherever a canary is scored.
pub const CANARY_CAVEAT: &str = "A caught canary proves that this known signal is detected; it does not prove that novel attacks would be.";

/// What a drill cannot evidence, to be stated in every report.
pub const CANNOT_EVIDENCE: [&str; 6] = [
    "A drill cannot evidence resilience against novel adversaries: it replays faults we chose.",
    "A drill cannot evidence coverage completeness: capabilities and paths it did not exercise are unknown.",
    "A drill cannot evidence the legal judgement of significance: whether an incident is significant or major is decided by people under the law.",
    "A drill cannot evidence board oversight: management bodies' approval and supervision lie outside it.",
    "A drill cannot evidence suppliers' internal controls: it observes a dependency from the outside only.",
    "A scorecard is supporting evidence, not an attestation.",
];
