//! What a review is about: a finding of a report, with its stable id. The report computes
//! findings (`crate::report::findings`); the type lives here, below the report, so that the
//! report can read the reviews recorded for them.

use serde::Serialize;

/// How much a finding matters; the board shows the most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The page itself cannot be trusted.
    Critical,
    /// The organisation failed at something a regulator asks for.
    High,
    /// A capability below its target, or evidenced by firedrill's simulation alone.
    Medium,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable from run to run: kind, then what it is about.
    pub id: String,
    /// How much it matters.
    pub severity: Severity,
    /// What was found, in one sentence.
    pub what: String,
    /// What to do about it, in plain words.
    pub action: String,
}

impl Finding {
    /// A finding with its id, severity, what was found and what to do.
    pub fn new(id: String, severity: Severity, what: String, action: impl Into<String>) -> Self {
        Self {
            id,
            severity,
            what,
            action: action.into(),
        }
    }
}
