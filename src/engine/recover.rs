//! Undoing what a crashed or killed run left in place, from its journal alone: what
//! `firedrill rollback` does, and what `firedrill serve` does at its start for the runs it
//! finds unfinished.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::pending_intents;
use crate::journal::{self, Journal};
use crate::platform::kubernetes;
use crate::platform::local::process;

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
    let groups = left_groups(&report.records);
    if undos.is_empty() && groups.is_empty() {
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
    // What the kernel did not stop with the run: its replicas' children, orphaned.
    for group in &groups {
        let undo = format!(
            "stop what is left of {}'s process group {} ({} processes)",
            group.replica,
            group.pgid,
            group.pids.len()
        );
        log.record(
            "undo-started",
            json!({"replica": group.replica, "undo": undo}),
            true,
        );
        match process::stop_group(group.pgid) {
            Ok(()) => {
                let done = format!(
                    "{}: stopped process group {} ({} processes the killed run left)",
                    group.replica,
                    group.pgid,
                    group.pids.len()
                );
                log.record(
                    "undo-applied",
                    json!({"replica": group.replica, "done": done}),
                    true,
                );
                recovery.applied.push(done);
            }
            Err(e) => {
                let error = e.to_string();
                log.record(
                    "undo-failed",
                    json!({"replica": group.replica, "undo": undo, "error": error}),
                    true,
                );
                recovery
                    .failed
                    .push(format!("{}: FAILED to {undo}: {error}", group.replica));
            }
        }
    }
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

/// A replica's process group with processes of a killed run still in it.
#[derive(Debug)]
struct LeftGroup {
    replica: String,
    pgid: u32,
    pids: Vec<u32>,
}

/// The process groups that still hold processes the run started, once the run is not
/// running any more. Not only when it died before `processes-stopped`: a process that left
/// its replica's group is not stopped with the group.
fn left_groups(records: &[serde_json::Value]) -> Vec<LeftGroup> {
    let Some(start) = records.iter().find(|r| r["kind"] == "run-started") else {
        return Vec::new();
    };
    let (Some(run_pid), Some(started)) = (
        start["data"]["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok()),
        start["time"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok()),
    ) else {
        return Vec::new();
    };
    // A run still going owns its processes: rolling it back must not take them away.
    let running = std::fs::read(format!("/proc/{run_pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("firedrill"));
    if running {
        return Vec::new();
    }
    // Replicas by their process group, where the journal recorded them: a replica killed
    // with the run before its record was written is found by its mark all the same.
    let replicas: std::collections::BTreeMap<u64, &str> = records
        .iter()
        .filter(|r| r["kind"] == "replica-started")
        .filter_map(|r| Some((r["data"]["pgid"].as_u64()?, r["data"]["replica"].as_str()?)))
        .collect();
    process::left_by_run(run_pid, started)
        .into_iter()
        .map(|(pgid, pids)| LeftGroup {
            replica: replicas
                .get(&u64::from(pgid))
                .map_or_else(|| "a process of the run".to_owned(), |r| (*r).to_owned()),
            pgid,
            pids,
        })
        .collect()
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
