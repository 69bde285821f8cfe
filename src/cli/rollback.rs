//! `firedrill rollback RESULTS_DIR`: undoes what a crashed or killed run left in place,
//! from its journal alone.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use super::ExitStatus;
use crate::engine::pending_intents;
use crate::journal::{self, Journal};
use crate::platform::kubernetes;

/// Arguments of `firedrill rollback`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results folder of the run (holding journal.jsonl).
    #[arg(value_name = "RESULTS_DIR")]
    dir: PathBuf,
    /// The kubeconfig context to undo in [default: the context the run recorded]
    #[arg(long, value_name = "CONTEXT")]
    context: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let path = args.dir.join("journal.jsonl");
    let report = match journal::verify(&path, None) {
        Ok(r) => r,
        Err(e) => {
            say!("error: cannot read {}: {e}", path.display());
            return Ok(ExitStatus::InvalidInput);
        }
    };
    if let Some(b) = &report.broken {
        say!(
            "warning: {} is broken at line {} ({b}); using the {} records before it",
            path.display(),
            b.line,
            report.records.len()
        );
    }
    let pending = pending_intents(&report.records);
    let recorded_context = report
        .records
        .iter()
        .find(|r| r["kind"] == "kubernetes-connected")
        .and_then(|r| r["data"]["context"].as_str())
        .filter(|c| *c != "in-cluster" && *c != "current")
        .map(str::to_owned);
    let context = args.context.clone().or(recorded_context);
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
    for p in &pending {
        if p.intent.restore.is_empty() {
            println!(
                "{} (journal record {}): nothing recorded to undo ({})",
                p.intent.fault,
                p.seq,
                p.intent.undo.join("; ")
            );
        }
    }
    if undos.is_empty() {
        println!("nothing to roll back in {}", args.dir.display());
        return Ok(ExitStatus::Success);
    }
    let log_path = free_name(&args.dir);
    let log = Journal::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let failed = runtime.block_on(async {
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
        let mut failed = 0;
        // Changes on this host first: they need no cluster, and an unreachable cluster
        // must not keep them in place.
        let (local, cluster): (Vec<_>, Vec<_>) = undos.iter().partition(|(_, u)| u.is_local());
        for (fault, undo) in &local {
            log.record("undo-started", json!({"fault": fault, "undo": undo}), true);
            let kubernetes::Undo::RemoveFile { path, sha256 } = undo else {
                continue;
            };
            match crate::platform::kubernetes::remove_created_file(Path::new(path), sha256) {
                Ok(done) => {
                    println!("{fault}: {done}");
                    log.record("undo-applied", json!({"fault": fault, "done": done}), true);
                }
                Err(e) => {
                    failed += 1;
                    let error = e.to_string();
                    say!("{fault}: FAILED to {undo}: {error}");
                    log.record("undo-failed", json!({"fault": fault, "undo": undo, "error": error}), true);
                }
            }
        }
        if cluster.is_empty() {
            log.record("rollback-finished", json!({"failed": failed}), true);
            return failed;
        }
        let client = match kubernetes::connect(context.as_deref()).await {
            Ok((client, _)) => client,
            Err(e) => {
                let error = crate::error::chain(&e);
                log.record("rollback-finished", json!({"error": error}), true);
                say!("error: {error}");
                return usize::MAX;
            }
        };
        for (fault, undo) in &cluster {
            log.record(
                "undo-started",
                json!({"fault": fault, "undo": undo}),
                true,
            );
            match kubernetes::apply_undo(&client, undo).await {
                Ok(done) => {
                    println!("{fault}: {done}");
                    log.record("undo-applied", json!({"fault": fault, "done": done}), true);
                }
                Err(e) => {
                    failed += 1;
                    let error = crate::error::chain(&e);
                    say!("{fault}: FAILED to {undo}: {error}");
                    log.record("undo-failed", json!({"fault": fault, "undo": undo, "error": error}), true);
                }
            }
        }
        log.record("rollback-finished", json!({"failed": failed}), true);
        failed
    });
    println!("record of this rollback: {}", log_path.display());
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::RollbackFailed
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
