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
    /// Score with this run history (written by `run --history` or `firedrill serve`): the
    /// runs it holds up to the reported one give repeatability, the trend and the days
    /// between drills. Read only.
    #[arg(long, value_name = "DB")]
    history: Option<PathBuf>,
    /// Sign the journal's new seal of the regenerated files with this ed25519 private key
    /// (PKCS#8 PEM), as `run --sign-key` signed the run. Without it, a signed run's journal
    /// ends in a seal the signature does not cover, and `firedrill verify` says so.
    #[arg(long, value_name = "FILE", env = "FIREDRILL_SIGN_KEY")]
    sign_key: Option<PathBuf>,
    /// Time-stamp the journal's new seal with this RFC 3161 time-stamping authority, as
    /// `run --timestamp-url` did, writing journal.tst (docs/journal.md, "Time-stamping").
    #[arg(long, value_name = "URL", env = "FIREDRILL_TIMESTAMP_URL")]
    timestamp_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let history = match super::history::read_for_scoring(args.history.as_deref())? {
        Ok(history) => history,
        Err(status) => return Ok(status),
    };
    if let Some(key) = &args.sign_key
        && let Err(e) = crate::journal::check_private_key(key)
    {
        say!("error: --sign-key: {}", crate::error::chain(&e));
        return Ok(ExitStatus::InvalidInput);
    }
    if let Some(url) = &args.timestamp_url
        && let Err(e) = crate::journal::timestamp::check_url(url)
    {
        say!("error: --timestamp-url: {e}");
        return Ok(ExitStatus::InvalidInput);
    }
    let unsigned_seal = args.sign_key.is_none() && crate::report::write::is_signed(&args.dir);
    let unstamped_seal =
        args.timestamp_url.is_none() && crate::report::write::is_timestamped(&args.dir);
    match rerender(
        &args.dir,
        history.as_ref(),
        "reports written again by firedrill report",
        crate::journal::seal::Sealing {
            sign_key: args.sign_key.as_deref(),
            timestamp_url: args.timestamp_url.as_deref(),
        },
    ) {
        Ok(report) => {
            println!(
                "{}: {} — {}{}",
                args.dir.display(),
                report.title,
                report.status.as_str(),
                report
                    .scorecard
                    .as_ref()
                    .map_or_else(String::new, |c| format!(
                        ", scorecard: {}",
                        crate::report::board::headline(&c.overall)
                    ))
            );
            for run in &report.runs {
                if !run.journal.intact {
                    say!("warning: {}: {}", run.journal.file, run.journal.detail);
                }
            }
            println!(
                "wrote scorecard.md, junit.xml and report.html, sealed in the journal{}",
                if args.sign_key.is_some() {
                    " and signed"
                } else {
                    ""
                }
            );
            if unsigned_seal {
                say!(
                    "note: the journal was signed, and its new seal is not: `firedrill verify` will report a record added after signing; run again with --sign-key to sign it"
                );
            }
            if unstamped_seal {
                say!(
                    "note: the journal was time-stamped, and its new seal is not: `firedrill verify` will report records added after the time-stamp; run again with --timestamp-url to time-stamp it"
                );
            }
            Ok(ExitStatus::Success)
        }
        Err(error) if error.is_user_input() || matches!(error, WriteError::Read(..)) => {
            say!("error: {}", crate::error::chain(&error));
            Ok(ExitStatus::InvalidInput)
        }
        Err(error) => Err(error.into()),
    }
}
