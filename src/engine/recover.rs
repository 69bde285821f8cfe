//! Undoing what a crashed or killed run left in place, from its journal alone: what
//! `firedrill rollback` does, and what `firedrill serve` does at its start for the runs it
//! finds unfinished.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::pending_intents;
use crate::journal::{self, Journal};
use crate::platform::kubernetes;

/// What a rollback from a journal did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// A line per change undone.
    pub applied: Vec<String>,
    /// A line per change that could not be undone.
    pub failed: Vec<String>,
    /// A line per fault whose intent recorded nothing to undo.
    pub nothing_recorded: Vec<String>,
    /// The record of the rollback (`rollback.jsonl`), when there was anything to undo.
    pub log: Option<PathBuf>,
    /// Why the cluster could not be reached, when it could not.
    pub unreachable: Option<String>,
    /// Where the journal broke, when it did: only the records before were used.
    pub broken: Option<String>,
}

impl Recovery {
    /// Whether everything recorded was undone.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.unreachable.is_none()
    }
}

/// Why a journal could not be rolled back at all.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The journal could not be read.
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] journal::JournalError),
    /// The rollback's own record could not be created.
    #[error("cannot create {}", .0.display())]
    Log(PathBuf, #[source] journal::JournalError),
}

/// Undoes, newest first, every change of `dir/journal.jsonl` that has an intent and no
/// revert, in the kubeconfig `context` (default: the one the run recorded); each step is
/// journaled in `rollback.jsonl` (or `rollback-N.jsonl`) beside it.
pub async fn roll_back_journal(
    dir: &Path,
    context: Option<String>,
) -> Result<Recovery, RecoverError> {
    let path = dir.join("journal.jsonl");
    let report = journal::verify(&path, None).map_err(|e| RecoverError::Read(path.clone(), e))?;
    let mut recovery = Recovery {
        broken: report.broken.as_ref().map(|b| {
            format!(
                "{} is broken at line {} ({b}); the {} records before it were used",
                path.display(),
                b.line,
                report.records.len()
            )
        }),
        ..Recovery::default()
    };
    let pending = pending_intents(&report.records);
    let recorded_context = report
        .records
        .iter()
        .find(|r| r["kind"] == "kubernetes-connected")
        .and_then(|r| r["data"]["context"].as_str())
        .filter(|c| *c != "in-cluster" && *c != "current")
        .map(str::to_owned);
    let context = context.or(recorded_context);
    let undos: Vec<(String, kubernetes::Undo)> = pending
        .iter()
        .rev()
        .flat_map(|p| {
            p.intent
                .restore
                .iter()
                .rev()
                .map(|u| (p.intent.fault.clone(), u.clone()))
        })
        .collect();
    for p in pending.iter().filter(|p| p.intent.restore.is_empty()) {
        recovery.nothing_recorded.push(format!(
            "{} (journal record {}): nothing recorded to undo ({})",
            p.intent.fault,
            p.seq,
            p.intent.undo.join("; ")
        ));
    }
    if undos.is_empty() {
        return Ok(recovery);
    }
    let log_path = free_name(dir);
    let log = Journal::create(&log_path).map_err(|e| RecoverError::Log(log_path.clone(), e))?;
    recovery.log = Some(log_path);
    log.record(
        "rollback-started",
        json!({
            "journal": path.display().to_string(),
            "journalHead": report.records.last().and_then(|r| r["hash"].as_str()),
            "context": context,
            "pending": pending.iter().map(|p| json!({"seq": p.seq, "fault": p.intent.fault})).collect::<Vec<_>>(),
        }),
        true,
    );
    // Changes on this host first: they need no cluster, and an unreachable cluster must
    // not keep them in place.
    let (local, cluster): (Vec<_>, Vec<_>) = undos.iter().partition(|(_, u)| u.is_local());
    let mut outcome =
        |fault: &str, undo: &kubernetes::Undo, done: Result<String, String>| match done {
            Ok(done) => {
                log.record("undo-applied", json!({"fault": fault, "done": done}), true);
                recovery.applied.push(format!("{fault}: {done}"));
            }
            Err(error) => {
                log.record(
                    "undo-failed",
                    json!({"fault": fault, "undo": undo, "error": error}),
                    true,
                );
                recovery
                    .failed
                    .push(format!("{fault}: FAILED to {undo}: {error}"));
            }
        };
    for (fault, undo) in &local {
        log.record("undo-started", json!({"fault": fault, "undo": undo}), true);
        let kubernetes::Undo::RemoveFile { path, sha256 } = undo else {
            continue;
        };
        let done =
            kubernetes::remove_created_file(Path::new(path), sha256).map_err(|e| e.to_string());
        outcome(fault, undo, done);
    }
    if !cluster.is_empty() {
        match kubernetes::connect(context.as_deref()).await {
            Ok((client, _)) => {
                for (fault, undo) in &cluster {
                    log.record("undo-started", json!({"fault": fault, "undo": undo}), true);
                    let done = kubernetes::apply_undo(&client, undo)
                        .await
                        .map_err(|e| crate::error::chain(&e));
                    outcome(fault, undo, done);
                }
            }
            Err(e) => {
                let error = crate::error::chain(&e);
                log.record("rollback-finished", json!({"error": error}), true);
                recovery.unreachable = Some(error);
                return Ok(recovery);
            }
        }
    }
    log.record(
        "rollback-finished",
        json!({"failed": recovery.failed.len()}),
        true,
    );
    Ok(recovery)
}

/// Whether an earlier rollback of `dir` finished with nothing failed.
pub fn rolled_back(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("rollback")
            && name.ends_with(".jsonl")
            && journal::read_verified(&e.path()).is_ok_and(|records| {
                records.last().is_some_and(|r| {
                    r["kind"] == "rollback-finished" && r["data"]["failed"].as_u64() == Some(0)
                })
            })
    })
}

/// `rollback.jsonl`, or `rollback-2.jsonl` and so on when earlier rollbacks left theirs.
fn free_name(dir: &Path) -> PathBuf {
    let first = dir.join("rollback.jsonl");
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("rollback-{n}.jsonl")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}
