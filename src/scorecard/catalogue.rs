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
    /// ISO/IEC 27001:2022 clauses and Annex A controls (the JSON name predates the clauses).
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
                "21(2)(b)",
                "3.2 monitoring & logging (3.2.2, 3.2.4, 3.2.6); 3.3; 3.4",
                "A.8.15, A.8.16, A.5.25, A.6.8",
                "Art 10; 17(3)(a)",
                "DE.CM-01/03/06/09; DE.AE-02/03/04/06/07/08",
            ),
            Capability::Containment => refs(
                "21(2)(b)",
                "3.5.2(a)(b); 6.7; 6.8; 11.2; 11.6.2(c)",
                "A.5.26, A.8.20, A.8.22; A.5.18 (credential revocation)",
                "11(2)(c)",
                "RS.MI-01/02",
            ),
            Capability::RecoveryContinuity => refs(
                "21(2)(c)",
                "4.1 (4.1.2(f) recovery objectives, 4.1.4 testing); 4.2 backup & redundancy; 4.3 crisis mgmt",
                "A.5.29, A.5.30, A.8.13, A.8.14",
                "Art 11, 12",
                "RC.RP-01..06; PR.IR-03/04",
            ),
            Capability::ReportingReadiness => refs(
                "23(1)-(4)",
                "3.1.2(b); 3.5.3(a)",
                "A.5.24, A.5.26, A.5.5, A.6.8",
                "17(3)(d)(e); 18 (classification); 19",
                "RS.CO-02/03; RC.CO-03/04",
            ),
            Capability::ThirdPartyResilience => refs(
                "21(2)(d); 21(3)",
                "5.1 (5.1.4(d), 5.1.7); 5.2",
                "A.5.19-A.5.23",
                "Art 28 (28(8) exit strategies), 30",
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
                "21(2)(j) (secured and emergency communications); 23(1)",
                "1.2; 3.1.2; 4.3.2",
                "A.5.24, A.5.26, A.5.5, A.5.6",
                "11(2)(e), 11(7), 14, 17(3)(e)",
                "RS.MA-01/03/04; RS.CO-02/03",
            ),
            Capability::ContinuousTesting => refs(
                "21(2)(f)",
                "7 (7.2); 4.1.4; 4.3.4",
                "clauses 9.1, 9.3, 10.1, 10.2; A.5.27, A.5.30, A.5.36",
                "24 (24(6) at least yearly), 25; 11(6) (plans tested yearly)",
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

/// Whom Implementing Regulation (EU) 2024/2690 binds, stated wherever its Annex is cited.
pub const IMPLEMENTING_REGULATION_SCOPE: &str = "Implementing Regulation (EU) 2024/2690 binds only DNS service providers, TLD name registries, cloud computing, data centre and content delivery network providers, managed (security) service providers, online marketplaces, online search engines, social networking platforms and trust service providers; for every other entity its Annex is good practice.";

/// What a caught canary does not evidence, stated wherever a canary is scored.
pub const CANARY_CAVEAT: &str = "A caught canary proves that this known signal is detected; it does not prove that novel attacks would be.";

/// What a drill cannot evidence, to be stated in every report.
pub const CANNOT_EVIDENCE: [&str; 6] = [
    "A drill cannot evidence resilience against novel adversaries: it replays faults we chose.",
    "A drill cannot evidence coverage completeness: capabilities and paths it did not exercise are unknown.",
    "A drill cannot evidence the legal judgement of significance: whether an incident is significant or major is decided by people under the law.",
    "A drill cannot evidence board oversight: management bodies' approval and supervision lie outside it, so the scorecard does not cite NIS2 Art. 20.",
    "A drill cannot evidence suppliers' internal controls: it observes a dependency from the outside only.",
    "A scorecard is supporting evidence, not an attestation.",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of the capability table in docs/scorecard.md, column by column.
    const HEADER: [&str; 6] = [
        "Capability (`capability`)",
        "NIS2",
        "2024/2690 Annex",
        "ISO/IEC 27001:2022",
        "DORA",
        "NIST CSF 2.0",
    ];

    fn cells(line: &str) -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect()
    }

    /// The rows of the capability table in docs/scorecard.md, header first.
    fn documented_table() -> Vec<Vec<String>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scorecard.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let mut lines = doc
            .lines()
            .skip_while(|line| !line.starts_with("| Capability (`capability`) |"));
        let header = lines
            .next()
            .expect("docs/scorecard.md has the capability table");
        let separator = lines.next().unwrap();
        assert!(separator.starts_with("|---"), "{separator}");
        std::iter::once(header)
            .chain(lines.take_while(|line| line.starts_with('|')))
            .map(cells)
            .collect()
    }

    /// Every cell of the documented table equals the catalogue's, one row per capability.
    #[test]
    fn the_documented_references_are_the_catalogue_cell_by_cell() {
        let table = documented_table();
        assert_eq!(table[0], HEADER);
        let rows = &table[1..];
        let mut problems = Vec::new();
        for capability in Capability::ALL {
            let key = serde_json::to_value(capability).unwrap();
            let label = format!("{} (`{}`)", capability.name(), key.as_str().unwrap());
            let found: Vec<_> = rows.iter().filter(|row| row[0] == label).collect();
            let [row] = found.as_slice() else {
                problems.push(format!("{label}: {} rows", found.len()));
                continue;
            };
            let refs = capability.references();
            let expected = [
                &refs.nis2,
                &refs.implementing_regulation_2024_2690,
                &refs.iso_27001_annex_a,
                &refs.dora,
                &refs.nist_csf_2,
            ];
            if row.len() != HEADER.len() {
                problems.push(format!("{label}: {} cells", row.len()));
                continue;
            }
            for ((column, documented), catalogued) in
                HEADER[1..].iter().zip(&row[1..]).zip(expected)
            {
                if documented != catalogued {
                    problems.push(format!(
                        "{label}, {column}: the doc says {documented:?}, the catalogue {catalogued:?}"
                    ));
                }
            }
        }
        if rows.len() != Capability::ALL.len() {
            problems.push(format!(
                "{} rows for {} capabilities",
                rows.len(),
                Capability::ALL.len()
            ));
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
