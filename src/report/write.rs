//! Completing a results folder: result.json written as the run scored it, the journal
//! checked for the reports, then every report rendered. Used at the end of `firedrill run`
//! and again by `firedrill report DIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::findings::{self, Finding};
use super::history::History;
use super::model::{Report, ReportRun};
use crate::journal::JournalCheck;
use crate::journal::seal::Sealing;
use crate::result::{RunResult, RunStatus};
use crate::review::{self, ReviewState};
use crate::scorecard::ScorecardInput;
use crate::scorecard::evidence::{combine, refresh_journal_preconditions};
use crate::scorecard::history::{HistoryEvidence, score_with_history};
use crate::scorecard::{Capability, Scorecard};
use crate::time::Timestamp;

/// The file that marks a suite's results folder.
pub const SUITE_FILE: &str = "suite.json";

/// Why a results folder could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A file could not be written.
    #[error("cannot write {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
    /// A file could not be read.
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    /// A file is not what firedrill writes.
    #[error("{} is not a firedrill result", .0.display())]
    Parse(PathBuf, #[source] serde_json::Error),
    /// A suite names a run folder that is not one of its own sub-folders.
    #[error("{}: run folder `{}` is not a sub-folder of the suite's folder", .0.display(), .1)]
    BadRunFolder(PathBuf, String),
    /// The folder holds neither result.json nor suite.json.
    #[error("{} holds neither result.json nor suite.json", .0.display())]
    NotResults(PathBuf),
    /// A figure the reports are made from changed after its journal sealed it.
    #[error("{}: {} is not what the journal sealed (record {}): the reports are not written again from edited figures (`firedrill verify` shows what changed)", .0.display(), .1, .2)]
    Edited(PathBuf, String, u64),
}

impl WriteError {
    /// Whether the problem is in what the user pointed at rather than in this host.
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Self::Parse(..) | Self::NotResults(_) | Self::BadRunFolder(..) | Self::Edited(..)
        )
    }
}

/// Why one report file was not written; the others are written all the same.
#[derive(Debug, thiserror::Error)]
enum ReportFileError {
    /// scorecard.md could not be rendered.
    #[error(transparent)]
    Markdown(#[from] super::markdown::MarkdownError),
    /// report.html could not be rendered.
    #[error(transparent)]
    Html(#[from] super::html::HtmlError),
    /// The file could not be written; the log line names it.
    #[error("{0}")]
    Write(std::io::Error),
}

/// `suite.json`: what a suite ran, where each run's results are, and the combined scorecard.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteResult {
    /// The result format's version, as in result.json.
    pub schema_version: u32,
    /// The suite's name.
    pub name: String,
    /// The suite's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The suite file, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The worst status over the runs.
    pub status: RunStatus,
    /// RFC 3339 UTC.
    pub started_at: Timestamp,
    /// RFC 3339 UTC.
    pub finished_at: Timestamp,
    /// Each experiment that ran, in order.
    pub runs: Vec<SuiteEntry>,
    /// Experiment files not run because the suite was interrupted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
    /// Every run's measurements, each marked with its experiment, and the suite's weights.
    pub scorecard_input: ScorecardInput,
    /// The combined scorecard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<Scorecard>,
    /// What the run history showed when the suite was scored with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryEvidence>,
    /// Files written next to this one.
    pub files: BTreeMap<String, String>,
}

/// One run of a suite.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteEntry {
    /// The run's folder, relative to the suite's.
    pub dir: String,
    /// The experiment's name.
    pub experiment: String,
    /// The run's status.
    pub status: RunStatus,
}

/// The report files every results folder gets, by role.
fn report_files() -> BTreeMap<String, String> {
    [
        ("scorecard", "scorecard.md"),
        ("junit", "junit.xml"),
        ("report", "report.html"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Completes a run's folder: writes result.json, scored by the run already, and the
/// reports. `rel` is the folder as a suite names it ("" for a run of its own).
///
/// The files are then sealed: their SHA-256 digests become the journal's last record,
/// signed and time-stamped as `sealing` says (`journal::seal`).
pub fn finish_run(
    dir: &Path,
    rel: &str,
    mut result: RunResult,
    sealing: Sealing<'_>,
) -> Result<ReportRun, WriteError> {
    let journal = JournalCheck::of(&dir.join("journal.jsonl"), &join(rel, "journal.jsonl"));
    result.files.extend(report_files());
    write_json(&dir.join("result.json"), &result)?;
    let run = ReportRun {
        dir: rel.to_owned(),
        result,
        journal,
    };
    let mut own = single_report(run.clone());
    own.runs[0].journal.file = "journal.jsonl".to_owned();
    write_reports(dir, &own);
    seal_run(dir, "run finished", sealing);
    Ok(run)
}

/// Seals the files of a run's folder in its journal (`journal::seal`); a failure is logged:
/// the files are written, only not bound to the journal, which `firedrill verify` says. So
/// is a time-stamping authority that fails: the journal is then sealed (and signed) but not
/// time-stamped, and the run's verdict stands.
fn seal_run(dir: &Path, why: &str, sealing: Sealing<'_>) {
    if !dir.join("journal.jsonl").is_file() {
        return;
    }
    match crate::journal::seal::seal(dir, why, sealing) {
        Err(error) => {
            let error = crate::error::chain(&error);
            tracing::warn!(%error, dir = %dir.display(), "cannot seal the run's files in its journal");
        }
        Ok(sealed) => match sealed.timestamp {
            Some(Err(error)) => {
                let error = crate::error::chain(&error);
                tracing::warn!(%error, dir = %dir.display(), "cannot time-stamp the journal; it is sealed, not time-stamped");
            }
            Some(Ok(token)) => {
                tracing::info!(time = %token.gen_time, dir = %dir.display(), "journal time-stamped");
            }
            None => {}
        },
    }
}

/// Whether a run's journal was signed: regenerated pages then need the key to be covered.
pub fn is_signed(dir: &Path) -> bool {
    crate::journal::signature_path(&dir.join("journal.jsonl")).is_file()
}

/// Whether a run's journal was time-stamped: a new seal then needs a new time-stamp.
pub fn is_timestamped(dir: &Path) -> bool {
    crate::journal::timestamp::token_path(&dir.join("journal.jsonl")).is_file()
}

/// The report of a run of its own.
pub fn single_report(run: ReportRun) -> Report {
    Report {
        title: run.result.experiment.name.clone(),
        generated_at: Timestamp::now(),
        status: run.result.status,
        scorecard: run.result.scorecard.clone(),
        history: run.result.history.clone(),
        runs: vec![run],
        reviews: ReviewState::default(),
    }
}

/// The report of a suite: the runs, and one scorecard over all of them, with the history's
/// evidence when there is one.
pub fn suite_report(
    name: &str,
    runs: Vec<ReportRun>,
    weights: Option<&BTreeMap<Capability, f64>>,
    history: Option<HistoryEvidence>,
) -> (Report, ScorecardInput) {
    let input = combine(
        runs.iter().filter_map(|r| {
            r.result
                .scorecard_input
                .as_ref()
                .map(|i| (r.result.experiment.name.as_str(), i))
        }),
        weights,
    );
    let status = runs
        .iter()
        .map(|r| r.result.status)
        .max_by_key(|s| s.severity())
        .unwrap_or(RunStatus::Aborted);
    let report = Report {
        title: name.to_owned(),
        generated_at: Timestamp::now(),
        status,
        scorecard: score_with_history(&input, history.as_ref(), Some(Timestamp::now())),
        history,
        runs,
        reviews: ReviewState::default(),
    };
    (report, input)
}

/// Writes scorecard.md, junit.xml and report.html; a report that cannot be rendered or
/// written is logged and the others are still written.
pub fn write_reports(dir: &Path, report: &Report) {
    let rendered: [(&str, Result<String, ReportFileError>); 3] = [
        (
            "scorecard.md",
            super::markdown::render(report).map_err(ReportFileError::from),
        ),
        ("junit.xml", Ok(super::junit::render(report))),
        (
            "report.html",
            super::html::render(report).map_err(ReportFileError::from),
        ),
    ];
    for (file, text) in rendered {
        let path = dir.join(file);
        let written =
            text.and_then(|text| std::fs::write(&path, text).map_err(ReportFileError::Write));
        if let Err(error) = written {
            let error = crate::error::chain(&error);
            tracing::warn!(%error, path = %path.display(), "cannot write a report; the others are still written");
        }
    }
}

/// Writes the suite's own files: suite.json and the combined reports.
pub fn finish_suite(
    dir: &Path,
    suite: &mut SuiteResult,
    report: &Report,
) -> Result<(), WriteError> {
    suite.files.extend(report_files());
    write_json(&dir.join(SUITE_FILE), suite)?;
    write_reports(dir, report);
    Ok(())
}

/// Re-renders every report of a results folder (a run or a suite) from its result files and
/// journals; returns the folder's report. With a run history, each scorecard is scored with
/// what the history shows up to its run; without one, with what was recorded when it ran.
///
/// Every run folder whose pages are written again is sealed again (`why` says what wrote
/// them), signed and time-stamped as `sealing` says.
pub fn rerender(
    dir: &Path,
    history: Option<&History>,
    why: &str,
    sealing: Sealing<'_>,
) -> Result<Report, WriteError> {
    let suite_path = dir.join(SUITE_FILE);
    if suite_path.exists() {
        let mut suite: SuiteResult = read_json(&suite_path)?;
        let mut runs = Vec::new();
        for entry in &suite.runs {
            check_run_folder(&suite_path, &entry.dir)?;
            let run_dir = dir.join(&entry.dir);
            let run = rerender_run(&run_dir, &entry.dir, history)?;
            let mut own = single_report(run.clone());
            own.runs[0].journal.file = "journal.jsonl".to_owned();
            apply_run_reviews(&run_dir, &mut own);
            write_reports(&run_dir, &own);
            seal_run(&run_dir, why, sealing);
            runs.push(run);
        }
        let weights = suite.scorecard_input.weights.clone();
        let evidence = match history {
            Some(history) => {
                let dirs: Vec<PathBuf> = runs.iter().map(|r| dir.join(&r.dir)).collect();
                let current: Vec<(&RunResult, &Path)> = runs
                    .iter()
                    .zip(&dirs)
                    .map(|(r, d)| (&r.result, d.as_path()))
                    .collect();
                history.evidence_in(&current)
            }
            None => suite.history.clone(),
        };
        let (mut report, input) = suite_report(&suite.name, runs, Some(&weights), evidence);
        suite.scorecard_input = input;
        suite.scorecard = report.scorecard.clone();
        suite.history = report.history.clone();
        write_json(&suite_path, &suite)?;
        let subject = review::suite_subject(&suite.name, suite.started_at);
        let input = Some(&suite.scorecard_input);
        apply_reviews(dir, &subject, suite.finished_at, input, &mut report);
        write_reports(dir, &report);
        return Ok(report);
    }
    if dir.join("result.json").exists() {
        let run = rerender_run(dir, "", history)?;
        let mut report = single_report(run);
        apply_run_reviews(dir, &mut report);
        write_reports(dir, &report);
        seal_run(dir, why, sealing);
        return Ok(report);
    }
    Err(WriteError::NotResults(dir.to_owned()))
}

/// A run's folder is one plain sub-folder: reports are written there, so a suite.json
/// naming `/etc` or `../..` must not send them anywhere else.
fn check_run_folder(suite_path: &Path, dir: &str) -> Result<(), WriteError> {
    let mut parts = Path::new(dir).components();
    if matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) {
        Ok(())
    } else {
        Err(WriteError::BadRunFolder(
            suite_path.to_owned(),
            dir.to_owned(),
        ))
    }
}

/// What `firedrill review` works on in a results folder.
#[derive(Clone, Debug)]
pub struct ReviewTarget {
    /// What its reviews are recorded for: the run's id, or the suite's name and start.
    pub subject: String,
    /// The head of the run's evidence journal, when it verifies (none for a suite).
    pub evidence_head: Option<String>,
    /// The findings of the run's own evidence, before any review: those a review covers.
    pub findings: Vec<Finding>,
    /// When the run (or the suite) ended, the start of the time to review.
    pub finished_at: Timestamp,
}

/// Reads a results folder for `firedrill review`, writing nothing: the subject of its
/// reviews and the findings they cover.
pub fn review_target(dir: &Path) -> Result<ReviewTarget, WriteError> {
    let suite_path = dir.join(SUITE_FILE);
    if suite_path.exists() {
        let suite: SuiteResult = read_json(&suite_path)?;
        let mut runs = Vec::new();
        for entry in &suite.runs {
            check_run_folder(&suite_path, &entry.dir)?;
            runs.push(rerender_run(&dir.join(&entry.dir), &entry.dir, None)?);
        }
        let weights = suite.scorecard_input.weights.clone();
        let (report, _) = suite_report(&suite.name, runs, Some(&weights), suite.history.clone());
        return Ok(ReviewTarget {
            subject: review::suite_subject(&suite.name, suite.started_at),
            evidence_head: None,
            findings: findings::of(&report),
            finished_at: suite.finished_at,
        });
    }
    if dir.join("result.json").exists() {
        let run = rerender_run(dir, "", None)?;
        let evidence_head = run.journal.head.clone().filter(|_| run.journal.intact);
        let report = single_report(run);
        let result = &report.runs[0].result;
        return Ok(ReviewTarget {
            subject: result.run_id.clone(),
            evidence_head,
            finished_at: result.finished_at,
            findings: findings::of(&report),
        });
    }
    Err(WriteError::NotResults(dir.to_owned()))
}

/// [`apply_reviews`] for the report of a run of its own.
fn apply_run_reviews(dir: &Path, report: &mut Report) {
    let Some(run) = report.runs.first() else {
        return;
    };
    let subject = run.result.run_id.clone();
    let finished_at = run.result.finished_at;
    let input = run.result.scorecard_input.clone();
    apply_reviews(dir, &subject, finished_at, input.as_ref(), report);
}

/// Adds to a report the reviews that the folder's review.jsonl records for `subject`: they
/// are shown beside the findings, and what they evidence for Evidence & traceability is
/// scored with `input`. The findings reviewed are the report's before this step, computed
/// without review evidence, so that a review never evidences itself. A broken review
/// journal is shown as broken and counts for nothing.
pub fn apply_reviews(
    dir: &Path,
    subject: &str,
    finished_at: Timestamp,
    input: Option<&ScorecardInput>,
    report: &mut Report,
) {
    report.reviews = ReviewState::of(dir, subject);
    let ReviewState::Recorded(reviews) = &report.reviews else {
        return;
    };
    let observations = review::observations(&findings::of(report), reviews, finished_at);
    if let Some(input) = input.filter(|_| !observations.is_empty()) {
        let mut input = input.clone();
        input.input.capability_metrics.extend(observations);
        report.scorecard =
            score_with_history(&input, report.history.as_ref(), Some(Timestamp::now()));
    }
}

/// Reads a run's result.json and checks its journal again; the scorecard is recomputed from
/// the recorded input with the journal as it is now, so a journal changed since the run shows.
fn rerender_run(dir: &Path, rel: &str, history: Option<&History>) -> Result<ReportRun, WriteError> {
    unedited_figures(dir)?;
    let mut result: RunResult = read_json(&dir.join("result.json"))?;
    let journal = JournalCheck::of(&dir.join("journal.jsonl"), &join(rel, "journal.jsonl"));
    if let Some(history) = history {
        result.history = history.evidence_in(&[(&result, dir)]);
    }
    if let Some(input) = result.scorecard_input.as_mut() {
        refresh_journal_preconditions(input, &journal);
        result.scorecard =
            score_with_history(input, result.history.as_ref(), Some(Timestamp::now()));
    }
    Ok(ReportRun {
        dir: rel.to_owned(),
        result,
        journal,
    })
}

/// Refuses a run folder whose figures (result.json, latency.hlog, the notifications) are not
/// what its journal's last seal holds; the pages themselves are about to be written again.
fn unedited_figures(dir: &Path) -> Result<(), WriteError> {
    use crate::journal::seal::{self, FileState};
    let Ok(records) = crate::journal::read_verified(&dir.join("journal.jsonl")) else {
        return Ok(());
    };
    let Some(check) = seal::check(dir, &records) else {
        return Ok(());
    };
    let pages = ["scorecard.md", "report.html", "junit.xml"];
    let edited = check
        .files
        .iter()
        .find(|(f, state)| *state != FileState::AsSealed && !pages.contains(&f.as_str()));
    match edited {
        Some((file, _)) => Err(WriteError::Edited(dir.to_owned(), file.clone(), check.seq)),
        None => Ok(()),
    }
}

fn join(rel: &str, file: &str) -> String {
    if rel.is_empty() {
        file.to_owned()
    } else {
        format!("{rel}/{file}")
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), WriteError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| WriteError::Write(path.to_owned(), std::io::Error::other(e)))?;
    std::fs::write(path, bytes).map_err(|e| WriteError::Write(path.to_owned(), e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, WriteError> {
    let bytes = std::fs::read(path).map_err(|e| WriteError::Read(path.to_owned(), e))?;
    serde_json::from_slice(&bytes).map_err(|e| WriteError::Parse(path.to_owned(), e))
}
