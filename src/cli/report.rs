//! `firedrill report DIR`: renders every report of a results folder again.

use std::path::PathBuf;

use super::ExitStatus;
use crate::report::write::{WriteError, rerender};

/// Arguments of `firedrill report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A results folder: a run's (with result.json) or a suite's (with suite.json).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match rerender(&args.dir) {
        Ok(report) => {
            let scorecard = report.scorecard.as_ref().and_then(|c| c.overall.score);
            println!(
                "{}: {} — {}{}",
                args.dir.display(),
                report.title,
                report.status.as_str(),
                scorecard.map_or_else(String::new, |s| format!(", scorecard {s:.1}/100"))
            );
            for run in &report.runs {
                if !run.journal.intact {
                    say!("warning: {}: {}", run.journal.file, run.journal.detail);
                }
            }
            println!("wrote scorecard.md, junit.xml and report.html");
            Ok(ExitStatus::Success)
        }
        Err(error) if error.is_user_input() || matches!(error, WriteError::Read(..)) => {
            say!("error: {}", crate::error::chain(&error));
            Ok(ExitStatus::InvalidInput)
        }
        Err(error) => Err(error.into()),
    }
}
