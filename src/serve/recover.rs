//! What `firedrill serve` does at its start for the runs a crash left unfinished: each run
//! folder under its results folder whose journal has no `run-finished` (serve, or the
//! machine, was killed during it) is rolled back from its journal, as `firedrill rollback`
//! does, and stored in the history as interrupted, saying so. A rollback that could not
//! complete (a cluster out of reach) is tried again at the next start.

use std::path::{Path, PathBuf};

use crate::engine::recover::{roll_back_journal, rolled_back};
use crate::journal;
use crate::serve::store::{DrillStatus, NewRun, Store};
use crate::time::Timestamp;

/// What the start-up recovery did with one unfinished run.
#[derive(Debug)]
pub struct Recovered {
    /// The run's folder.
    pub dir: PathBuf,
    /// Whether everything it left was undone.
    pub complete: bool,
    /// What was done, in one line.
    pub summary: String,
}

/// Every run folder under `results` (a drill's, and each run of a suite's) with a journal.
fn run_folders(results: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(drills) = std::fs::read_dir(results) else {
        return found;
    };
    for drill in drills.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        if drill.join("journal.jsonl").is_file() {
            found.push(drill.clone());
        }
        if let Ok(runs) = std::fs::read_dir(&drill) {
            found.extend(
                runs.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("journal.jsonl").is_file()),
            );
        }
    }
    found.sort();
    found
}

/// The drill a results folder belongs to: its name is `DRILL-STAMP` (a suite's runs are
/// one level below).
fn drill_of(results: &Path, dir: &Path) -> Option<String> {
    let top = dir.strip_prefix(results).ok()?.components().next()?;
    let name = top.as_os_str().to_str()?;
    // The stamp has no `-`: `20261207T101500.123Z`.
    name.rsplit_once('-').map(|(drill, _)| drill.to_owned())
}

/// Rolls back every run under `results` that a crash left unfinished and stores each in
/// `store`; returns what was done.
pub async fn recover_unfinished(
    results: &Path,
    store: &Store,
    context: Option<String>,
) -> Vec<Recovered> {
    let mut done = Vec::new();
    for dir in run_folders(results) {
        let Ok(report) = journal::verify(&dir.join("journal.jsonl"), None) else {
            continue;
        };
        if report.finished || rolled_back(&dir) {
            continue;
        }
        let started = report.records.first();
        let data = |key: &str| {
            started
                .filter(|r| r["kind"] == "run-started")
                .and_then(|r| r["data"][key].as_str())
                .map(str::to_owned)
        };
        let recovery = match roll_back_journal(&dir, context.clone()).await {
            Ok(r) => r,
            Err(e) => {
                let error = crate::error::chain(&e);
                tracing::error!(dir = %dir.display(), %error, "cannot roll back an unfinished run");
                done.push(Recovered {
                    dir,
                    complete: false,
                    summary: error,
                });
                continue;
            }
        };
        let complete = recovery.complete();
        let summary = match (&recovery.log, complete) {
            (None, _) => "nothing recorded was left to undo".to_owned(),
            (Some(log), true) => format!(
                "{} change(s) undone, recorded in {}",
                recovery.applied.len(),
                log.file_name().unwrap_or_default().to_string_lossy()
            ),
            (Some(_), false) => format!(
                "{} change(s) undone, {} NOT undone ({}); tried again at the next start",
                recovery.applied.len(),
                recovery.failed.len() + usize::from(recovery.unreachable.is_some()),
                recovery
                    .failed
                    .iter()
                    .chain(&recovery.unreachable)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        if complete {
            tracing::warn!(dir = %dir.display(), %summary, "rolled back a run that did not finish");
            let at = started
                .and_then(|r| r["time"].as_str())
                .and_then(|t| t.parse::<Timestamp>().ok())
                .unwrap_or_else(Timestamp::now);
            let run = NewRun {
                run_id: data("runId"),
                drill: drill_of(results, &dir),
                experiment: data("experiment").unwrap_or_else(|| "unknown".to_owned()),
                suite: None,
                status: DrillStatus::Interrupted,
                reason: Some(format!(
                    "the run did not finish (firedrill was killed); serve rolled it back from its journal at its next start: {summary}"
                )),
                started: at,
                finished: Timestamp::now(),
                results_dir: Some(dir.display().to_string()),
                result: None,
                report_html: None,
            };
            if let Err(e) = store.insert(&run) {
                let error = crate::error::chain(&e);
                tracing::error!(%error, "cannot store the rolled-back run in the history");
            }
        } else {
            tracing::error!(dir = %dir.display(), %summary, "a run that did not finish could not be rolled back");
        }
        done.push(Recovered {
            dir,
            complete,
            summary,
        });
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drill_is_the_folders_name_without_its_stamp() {
        let results = Path::new("/r");
        assert_eq!(
            drill_of(results, Path::new("/r/nightly-db-20261207T101500.123Z")).as_deref(),
            Some("nightly-db")
        );
        assert_eq!(
            drill_of(results, Path::new("/r/weekly-20261207T101500.123Z/01-web")).as_deref(),
            Some("weekly")
        );
    }
}
