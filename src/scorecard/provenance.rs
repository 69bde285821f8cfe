//! Where the evidence comes from: the organisation, firedrill standing in for it, or
//! firedrill's own integrity, which is a precondition of the page rather than a score.

use serde::{Deserialize, Serialize};

/// Where a measurement or a gate comes from (docs/scorecard.md, "Provenance").
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Provenance {
    /// A signal or an actor outside firedrill: an alert of the organisation's monitoring, a
    /// Kubernetes Warning event, the system recovering by itself, a person's acknowledgement.
    /// Only this evidence scores a capability.
    Organisation,
    /// firedrill stands in for part of the organisation: its own probe as synthetic
    /// monitoring, a notification it drafted or delivered itself. Shown with its figure,
    /// never scored. Measurements recorded before formula 2.0.0 say nothing of where they
    /// came from and are read as simulated.
    #[default]
    Simulated,
}

impl Provenance {
    /// The name written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::Simulated => "simulated",
        }
    }
}

/// A check of firedrill's own integrity. When one fails, the page cannot be trusted and
/// shows no overall figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The evidence journal verifies (hash chain, signature) and ends with its last record.
    JournalIntact,
    /// Every injected fault's intent was journaled before the change and its revert after.
    FaultsTraced,
    /// Every fault was reverted when the run ended.
    FaultsReverted,
}

impl Check {
    /// What the check asks, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::JournalIntact => "the evidence journal verifies and is complete",
            Self::FaultsTraced => {
                "every fault was journaled before it was injected and after it was reverted"
            }
            Self::FaultsReverted => "every fault was reverted",
        }
    }
}

/// One integrity check and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Precondition {
    /// The check.
    pub check: Check,
    /// Whether it held.
    pub held: bool,
    /// What was found, in one sentence.
    pub detail: String,
    /// Where it was checked (the experiment, in a suite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Precondition {
    /// A check that held or not, with what was found.
    pub fn new(check: Check, held: bool, detail: impl Into<String>) -> Self {
        Self {
            check,
            held,
            detail: detail.into(),
            source: None,
        }
    }
}

/// One way the experiment changed the scorecard's defaults, shown in the overrides box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    /// What was changed, such as `weight of detection` or `target of time-to-detect`.
    pub setting: String,
    /// The default.
    pub default: String,
    /// The experiment's value.
    pub value: String,
    /// The experiment that changed it, in a suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}
