//! What every report renders: the results of one experiment or of a suite, the combined
//! scorecard, and what the evidence journals say. Built at the end of a run and again by
//! `firedrill report DIR` from the files in a results folder.

use serde::{Deserialize, Serialize};

use crate::journal::JournalCheck;
use crate::result::{RunResult, RunStatus};
use crate::review::ReviewState;
use crate::scorecard::Scorecard;
use crate::scorecard::history::HistoryEvidence;
use crate::time::Timestamp;

/// One report: a suite of one or more experiment runs and their combined scorecard.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The suite's name, or the experiment's name for a single run.
    pub title: String,
    /// RFC 3339 UTC time at which the report was rendered.
    pub generated_at: Timestamp,
    /// The worst status over the runs.
    pub status: RunStatus,
    /// Each experiment's run, in the order they ran.
    pub runs: Vec<ReportRun>,
    /// The scorecard over every run (the run's own for a single experiment).
    pub scorecard: Option<Scorecard>,
    /// What the run history showed, when the scorecard was scored with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryEvidence>,
    /// The reviews recorded for these findings (review.jsonl), or why they do not count.
    #[serde(default)]
    pub reviews: ReviewState,
}

/// One experiment's run inside a report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRun {
    /// The run's folder relative to the report's folder (empty for a single run).
    pub dir: String,
    /// The result as written to result.json.
    pub result: RunResult,
    /// What checking the run's journal found.
    pub journal: JournalCheck,
}

impl RunStatus {
    /// How bad a status is, for the worst over a suite: passed < failed < aborted <
    /// interrupted < rollback failed.
    pub fn severity(self) -> u8 {
        match self {
            Self::Passed => 0,
            Self::Failed => 1,
            Self::Aborted => 2,
            Self::Interrupted => 3,
            Self::RollbackFailed => 4,
        }
    }
}
