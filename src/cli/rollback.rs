//! `firedrill rollback RESULTS_DIR`: undoes what a crashed or killed run left in place,
//! from its journal alone.

use std::path::PathBuf;

use anyhow::Context;

use super::ExitStatus;
use crate::engine::recover::{RecoverError, roll_back_journal};

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let recovery = match runtime.block_on(roll_back_journal(&args.dir, args.context.clone())) {
        Ok(r) => r,
        Err(RecoverError::Read(path, e)) => {
            say!("error: cannot read {}: {e}", path.display());
            return Ok(ExitStatus::InvalidInput);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(broken) = &recovery.broken {
        say!("warning: {broken}");
    }
    for line in &recovery.nothing_recorded {
        println!("{line}");
    }
    let Some(log) = &recovery.log else {
        println!("nothing to roll back in {}", args.dir.display());
        return Ok(ExitStatus::Success);
    };
    for line in &recovery.applied {
        println!("{line}");
    }
    for line in &recovery.failed {
        say!("{line}");
    }
    if let Some(error) = &recovery.unreachable {
        say!("error: {error}");
    }
    println!("record of this rollback: {}", log.display());
    Ok(if recovery.complete() {
        ExitStatus::Success
    } else {
        ExitStatus::RollbackFailed
    })
}
