//! Command-line interface: clap arguments, one file per command, and printing.

/// `eprintln!` that ignores a failing standard error. `eprintln!` panics when stderr is a
/// closed pipe; in a signal handler that panic would stop the shutdown and the rollback it
/// starts, so no message may ever be allowed to fail.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // One write per line: stderr is unbuffered, so writeln! would make a system call for
        // every piece of the format string.
        let mut line = format!($($arg)*);
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

mod cleanup;
mod completions;
mod demo;
mod history;
mod internal;
mod load;
mod plan;
mod proxy;
mod rbac;
mod report;
mod respond;
mod review;
mod rollback;
mod run;
mod schema;
mod serve;
mod validate;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status of the firedrill command, documented in README.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: every objective met.
    Success,
    /// 1: an objective was missed or the steady state deviated.
    ObjectivesMissed,
    /// 2: invalid input or usage.
    InvalidInput,
    /// 3: aborted by a safety condition or a platform error, after rollback.
    Aborted,
    /// 4: rollback failed; the target may be left changed.
    RollbackFailed,
    /// 130: interrupted, after rollback.
    Interrupted,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::ObjectivesMissed => 1,
            Self::InvalidInput => 2,
            Self::Aborted => 3,
            Self::RollbackFailed => 4,
            Self::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s.code())
    }
}

/// firedrill: declarative chaos drills that measure time to detect and time to recover.
#[derive(Debug, Parser)]
#[command(name = "firedrill", version, about, long_about = None)]
pub struct Cli {
    /// Format of log lines on standard error (`RUST_LOG` selects which): `json` writes one
    /// object per line with the span's fields. Progress and results are not log lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run experiments or a suite: inject, measure, revert, score, report.
    Run(run::Args),
    /// Render every report of a results folder again from result.json and the journal.
    Report(report::Args),
    /// List a results folder's findings, or record one's owner, due date and decision.
    Review(review::Args),
    /// Answer a decision the drill puts to your role, or show it, through the role's link.
    Respond(respond::Args),
    /// Show what a run would do, changing nothing.
    Plan(plan::Args),
    /// Undo what a crashed or killed run left in place, from its results folder's journal.
    Rollback(rollback::Args),
    /// Remove objects firedrill created in a cluster that no live run owns.
    Cleanup(cleanup::Args),
    /// Check experiment files; exit 0 when all are valid, 2 with every problem listed.
    Validate(validate::Args),
    /// Check an evidence journal: exit 0 when intact, 1 at the first record changed,
    /// removed, inserted or reordered, or a bad signature.
    Verify(verify::Args),
    /// Print the JSON Schema of the experiment document.
    Schema(schema::Args),
    /// Print the RBAC rules that fault, probe and signal types need in a cluster.
    Rbac(rbac::Args),
    /// Print shell completions.
    Completions(completions::Args),
    /// Run the built-in demo workload.
    Demo(demo::Args),
    /// Run the fault-injection proxy with a Toxiproxy-compatible admin API.
    Proxy(proxy::Args),
    /// Run drills on cron schedules, keep their history, and serve it over HTTP.
    Serve(serve::Args),
    /// List the runs in the history of `firedrill serve`.
    History(history::HistoryArgs),
    /// Time to detect and recover per experiment, and the scorecard today, from the history.
    Trend(history::TrendArgs),
    /// Helper processes started by faults.
    #[command(hide = true)]
    Internal(internal::Args),
}

/// For long-running commands that only serve (demo, proxy): cancels `stop` on the first
/// SIGTERM or SIGINT.
fn shutdown_signals(
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context as _;
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        say!("received {name}, shutting down");
        stop.cancel();
    }))
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitStatus::InvalidInput.into(),
            };
        }
    };
    // The provider first: the OTLP exporter's HTTP client is built with rustls.
    crate::tls::install_crypto_provider();
    let telemetry = crate::telemetry::init(match cli.log_format {
        LogFormat::Text => crate::telemetry::LogFormat::Text,
        LogFormat::Json => crate::telemetry::LogFormat::Json,
    });
    if matches!(
        cli.command,
        Command::Plan(_)
            | Command::Validate(_)
            | Command::Verify(_)
            | Command::Schema(_)
            | Command::Rbac(_)
            | Command::Completions(_)
            | Command::History(_)
            | Command::Trend(_)
    ) {
        // These only print: a closed pipe (`| head`) ends them quietly, as it does any Unix
        // filter. Commands that change things handle write errors themselves.
        // SAFETY: setting a signal disposition to its default has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let status = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Cleanup(args) => cleanup::run(args),
        Command::Report(args) => report::run(args),
        Command::Review(args) => review::run(args),
        Command::Respond(args) => respond::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Internal(args) => internal::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Rbac(args) => rbac::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Serve(args) => serve::run(args),
        Command::History(args) => history::history(args),
        Command::Trend(args) => history::trend(args),
    };
    // Every way out passes here, interrupted runs included (after their rollback).
    telemetry.shutdown();
    match status {
        Ok(status) => status.into(),
        Err(err) => {
            say!("error: {err}");
            for cause in err.chain().skip(1) {
                say!("  caused by: {cause}");
            }
            ExitStatus::Aborted.into()
        }
    }
}
