//! `firedrill run FILE...`

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::engine::{self, Progress, ProgressSink, Rollback, RunOptions};
use crate::report::history::History;
use crate::result::{RunResult, RunStatus};
use crate::scorecard::history::score_with_history;
use crate::serve::store::{NewRun, Store};
use crate::spec;
use crate::time::Timestamp;

/// Arguments of `firedrill run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment files, or a suite file listing them; several run one after the other and
    /// are scored together.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Folder for result.json, journal.jsonl, the reports and the workloads' logs; a suite
    /// gets one sub-folder per experiment [default: ./firedrill-results/NAME-TIMESTAMP]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run this many iterations instead of `spec.iterations`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    iterations: Option<u32>,
    /// Print plain progress lines even on a terminal.
    #[arg(long)]
    plain: bool,
    /// Sign the journal's head with this ed25519 private key (PKCS#8 PEM, as made by
    /// `openssl genpkey -algorithm ed25519`), writing journal.sig.
    #[arg(long, value_name = "FILE", env = "FIREDRILL_SIGN_KEY")]
    sign_key: Option<PathBuf>,
    /// Time-stamp the journal's head with this RFC 3161 time-stamping authority when the
    /// run's files are sealed, writing journal.tst (docs/journal.md, "Time-stamping").
    #[arg(long, value_name = "URL", env = "FIREDRILL_TIMESTAMP_URL")]
    timestamp_url: Option<String>,
    /// The kubeconfig context for experiments on the kubernetes platform (overrides
    /// `spec.target.context`).
    #[arg(long, value_name = "CONTEXT")]
    context: Option<String>,
    /// On the kubernetes platform, also keep the run's undo records in a Secret
    /// (`firedrill-restore-RUN_ID`) in this namespace, written before each change and deleted
    /// when everything is reverted, so that `firedrill cleanup` can undo what a runner that
    /// died with its pod left in place (docs/helm.md, "When the runner dies")
    #[arg(long, value_name = "NAMESPACE", env = "FIREDRILL_RESTORE_NAMESPACE", value_parser = namespace_name)]
    restore_namespace: Option<String>,
    /// Record each run in this SQLite run history (created when missing; `firedrill serve`
    /// keeps the same kind) and score it with what the history shows: repeated runs, the
    /// trend, the days between drills (docs/scorecard.md, "Maturity").
    #[arg(long, value_name = "DB")]
    history: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    if let Some(url) = &args.timestamp_url
        && let Err(e) = crate::journal::timestamp::check_url(url)
    {
        say!("error: --timestamp-url: {e}");
        return Ok(ExitStatus::InvalidInput);
    }
    // Every file is loaded and checked before anything runs, and so is the history.
    let Some(plan) = super::load::load_plan(&args.files) else {
        return Ok(ExitStatus::InvalidInput);
    };
    let history = match &args.history {
        Some(path) => match super::history::open_for_scoring(
            path,
            true,
            Some(
                &plan
                    .experiments
                    .iter()
                    .map(|(_, e)| e.metadata.name.as_str())
                    .collect::<Vec<_>>(),
            ),
        )? {
            Ok(opened) => Some(opened),
            Err(status) => return Ok(status),
        },
        None => None,
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.name));
    // One thread: the run's work is light, and handing it between threads would cost more
    // CPU than it saves (probes at 10 ms intervals wake the runtime a hundred times a second).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let progress: Arc<dyn ProgressSink> = if std::io::stderr().is_terminal() && !args.plain {
        Arc::new(Live::new())
    } else {
        Arc::new(Plain {
            start: Instant::now(),
        })
    };
    let status = runtime.block_on(run_plan(
        &args,
        &plan,
        &out_dir,
        history.as_ref(),
        progress.clone(),
    ))?;
    drop(progress);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(status)
}

/// Runs each experiment of the plan in turn, each into its own folder when there are several,
/// and writes the combined reports of a suite. An interruption stops the suite after the
/// current experiment has been rolled back.
async fn run_plan(
    args: &Args,
    plan: &super::load::Plan,
    out_dir: &Path,
    history: Option<&(Store, History)>,
    progress: Arc<dyn ProgressSink>,
) -> anyhow::Result<ExitStatus> {
    let cancel = CancellationToken::new();
    tokio::spawn(watch_signals(cancel.clone()));
    let started = crate::time::Timestamp::now();
    let count = plan.experiments.len();
    let mut runs = Vec::new();
    let mut not_run = Vec::new();
    for (i, (file, exp)) in plan.experiments.iter().enumerate() {
        if cancel.is_cancelled() {
            not_run.push(file.display().to_string());
            continue;
        }
        let rel = if plan.is_suite {
            format!("{:02}-{}", i + 1, exp.metadata.name)
        } else {
            String::new()
        };
        let dir = out_dir.join(&rel);
        if plan.is_suite {
            say!(
                "experiment {}/{count}: {} ({})",
                i + 1,
                exp.metadata.name,
                file.display()
            );
        }
        let options = RunOptions {
            out_dir: Some(dir.clone()),
            iterations: args.iterations,
            firedrill: engine::default_firedrill_path(),
            source_file: Some(file.display().to_string()),
            sign_key: args.sign_key.clone(),
            context: args.context.clone(),
            restore_namespace: args.restore_namespace.clone(),
            stop: None,
        };
        let mut result = drive(exp.clone(), options, progress.clone(), cancel.clone()).await?;
        if let Some((_, history)) = history {
            result.history = history.evidence(&[&result]);
            result.scorecard = result.scorecard_input.as_ref().and_then(|input| {
                score_with_history(input, result.history.as_ref(), Some(Timestamp::now()))
            });
        }
        let sealing = crate::journal::seal::Sealing {
            sign_key: args.sign_key.as_deref(),
            timestamp_url: args.timestamp_url.as_deref(),
        };
        let run = crate::report::write::finish_run(&dir, &rel, result, sealing)
            .with_context(|| format!("cannot complete the results in {}", dir.display()))?;
        if let Some((store, _)) = history {
            record(store, plan, &dir, &run.result);
        }
        // A closed standard output (`| head`) must not turn a finished run into a panic: the
        // results are on disk, and the exit code still tells the verdict.
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", crate::report::summary::render(&run.result));
        let _ = writeln!(stdout, "results: {}", dir.display());
        if run.result.status == RunStatus::Interrupted {
            cancel.cancel();
        }
        runs.push(run);
    }
    if !plan.is_suite {
        let status = runs.first().map_or(RunStatus::Aborted, |r| r.result.status);
        return Ok(exit_status(status));
    }
    let evidence = history.and_then(|(_, history)| {
        history.evidence(&runs.iter().map(|r| &r.result).collect::<Vec<_>>())
    });
    let (report, input) =
        crate::report::write::suite_report(&plan.name, runs, plan.weights.as_ref(), evidence);
    let mut suite = crate::report::write::SuiteResult {
        schema_version: crate::result::SCHEMA_VERSION,
        name: plan.name.clone(),
        description: plan.description.clone(),
        file: plan.suite_file.clone(),
        status: report.status,
        started_at: started,
        finished_at: crate::time::Timestamp::now(),
        runs: report
            .runs
            .iter()
            .map(|r| crate::report::write::SuiteEntry {
                dir: r.dir.clone(),
                experiment: r.result.experiment.name.clone(),
                status: r.result.status,
            })
            .collect(),
        not_run,
        scorecard_input: input,
        scorecard: report.scorecard.clone(),
        history: report.history.clone(),
        files: Default::default(),
    };
    crate::report::write::finish_suite(out_dir, &mut suite, &report)
        .with_context(|| format!("cannot write the suite's results in {}", out_dir.display()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", crate::report::summary::render_suite(&suite));
    let _ = writeln!(stdout, "results: {}", out_dir.display());
    Ok(exit_status(suite.status))
}

/// Records a finished run in the history; a run that cannot be recorded is said, and its
/// results stay on disk.
fn record(store: &Store, plan: &super::load::Plan, dir: &Path, result: &RunResult) {
    let report_html = std::fs::read_to_string(dir.join("report.html")).ok();
    let suite = plan.is_suite.then_some(plan.name.as_str());
    let run = NewRun::finished(None, suite, result.clone(), dir, report_html);
    if let Err(error) = store.insert(&run) {
        say!(
            "warning: cannot record the run in the history {}: {}",
            store.path().display(),
            crate::error::chain(&error)
        );
    }
}

/// Maps a run status to the process exit status.
pub fn exit_status(status: RunStatus) -> ExitStatus {
    match status {
        RunStatus::Passed => ExitStatus::Success,
        RunStatus::Failed => ExitStatus::ObjectivesMissed,
        RunStatus::Aborted => ExitStatus::Aborted,
        RunStatus::Interrupted => ExitStatus::Interrupted,
        RunStatus::RollbackFailed => ExitStatus::RollbackFailed,
    }
}

async fn drive(
    exp: spec::Experiment,
    options: RunOptions,
    progress: Arc<dyn ProgressSink>,
    cancel: CancellationToken,
) -> anyhow::Result<RunResult> {
    let rollback = Rollback::new();
    let task = tokio::spawn(engine::run(
        exp,
        options,
        cancel.clone(),
        progress,
        rollback.clone(),
    ));
    match task.await {
        Ok(result) => Ok(result?),
        Err(join) => {
            // The run panicked: revert what it left, then stop every process it started.
            say!("error: the run failed unexpectedly ({join}); reverting what was injected");
            let rolled = rollback.revert_all_emergency().await;
            crate::platform::local::process::kill_all_now();
            anyhow::bail!(
                "the run panicked; reverted {:?}, failed to revert {:?}",
                rolled.reverted,
                rolled.failed
            )
        }
    }
}

/// First SIGINT or SIGTERM: cancel the run, which reverts and exits 130. Second SIGINT:
/// exit at once, killing every process we started.
async fn watch_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        say!("warning: cannot install signal handlers; Ctrl-C will not roll back");
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    say!(
        "\ninterrupted: reverting every fault and stopping every process (Ctrl-C again to exit at once)"
    );
    cancel.cancel();
    int.recv().await;
    let killed = crate::platform::local::process::kill_all_now();
    say!(
        "\n!!! EXITING AT ONCE: the rollback was NOT completed. {killed} process group(s) started by \
         firedrill were resumed and killed. Read journal.jsonl in the results folder: a fault-intent \
         record without a matching fault-reverted record is a change that may still be in place. !!!"
    );
    std::process::exit(130);
}

fn default_out_dir(name: &str) -> PathBuf {
    let stamp = crate::time::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    Path::new("firedrill-results").join(format!("{name}-{stamp}"))
}

/// Plain progress lines, for logs and pipes.
struct Plain {
    start: Instant,
}

impl ProgressSink for Plain {
    fn progress(&self, event: &Progress) {
        if let Some(line) = describe(event) {
            say!("[{:>7.2}s] {line}", self.start.elapsed().as_secs_f64());
        }
    }
}

/// A live status line on a terminal, with events printed above it.
struct Live {
    bar: indicatif::ProgressBar,
}

impl Live {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Self { bar }
    }
}

impl ProgressSink for Live {
    fn progress(&self, event: &Progress) {
        match event {
            Progress::Phase {
                iteration,
                of,
                phase,
            } => {
                self.bar
                    .set_message(format!("iteration {iteration}/{of} · {phase}"));
            }
            other => {
                if let Some(line) = describe(other) {
                    self.bar.println(line);
                }
            }
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn describe(event: &Progress) -> Option<String> {
    let ms = |d: &std::time::Duration| crate::report::summary::fmt_ms(d.as_secs_f64() * 1e3);
    Some(match event {
        Progress::Starting { replicas } => format!("starting {replicas} replica(s)"),
        Progress::Connecting { context } => match context {
            Some(c) => format!("connecting to the cluster of context {c}"),
            None => "connecting to the cluster of the current context".to_owned(),
        },
        Progress::Ready { services, webhook } => {
            let mut s: Vec<String> = services
                .iter()
                .map(|(k, v)| format!("{k} at {v}"))
                .collect();
            if let Some(w) = webhook {
                s.push(format!("webhook at {w}"));
            }
            format!("ready: {}", s.join(", "))
        }
        Progress::Phase {
            iteration,
            of,
            phase,
        } => format!("iteration {iteration}/{of}: {phase}"),
        Progress::Injected { fault, targets } => {
            format!("  injected {fault} on {}", targets.join(", "))
        }
        Progress::Reverted { fault } => format!("  reverted {fault}"),
        Progress::Detected {
            iteration,
            after,
            by,
        } => {
            format!(
                "  iteration {iteration}: detected by {by} after {}",
                ms(after)
            )
        }
        Progress::Recovered { iteration, after } => {
            format!("  iteration {iteration}: recovered after {}", ms(after))
        }
        Progress::IterationDone { iteration, status } => format!("iteration {iteration}: {status}"),
        Progress::RollingBack { reason } => format!("{reason}: reverting and stopping processes"),
        Progress::AcknowledgeAt { url, roles } => {
            format!("acknowledge at {url} (roles: {})", roles.join(", "))
        }
        Progress::Drafted {
            iteration,
            kind,
            file,
            after,
        } => format!(
            "  iteration {iteration}: drafted {kind} ({file}) {} after detection",
            ms(after)
        ),
        Progress::Delivered {
            iteration,
            status,
            error,
            after,
        } => match (after, error) {
            (Some(after), _) => format!(
                "  iteration {iteration}: early warning delivered (HTTP {}) {} after detection",
                status.unwrap_or_default(),
                ms(after)
            ),
            (None, error) => format!(
                "  iteration {iteration}: early warning not delivered: {}",
                error.as_deref().unwrap_or("no answer")
            ),
        },
        Progress::Acknowledged { role, by, after } => format!(
            "  acknowledged by {role}{} {} after awareness",
            by.as_ref().map(|b| format!(" ({b})")).unwrap_or_default(),
            ms(after)
        ),
        Progress::RespondAt { links, warning } => {
            let mut lines: Vec<String> = links
                .iter()
                .map(|(role, link)| format!("respond as {role}: {link}"))
                .collect();
            if let Some(w) = warning {
                lines.push(format!("warning: {w}"));
            }
            lines.join("\n")
        }
        Progress::StopAt { link } => format!("stop the drill (and roll back) at: {link}"),
        Progress::Effect { fault, effect } => match effect {
            crate::fault::Effect::Ineffective { observed } => {
                format!("  fault {fault} NOT in force: {observed}")
            }
            crate::fault::Effect::Verified { observed } => {
                format!("  fault {fault} in force: {observed}")
            }
            crate::fault::Effect::Unverified { why } => {
                format!("  fault {fault} not checked: {why}")
            }
        },
        Progress::DecisionAsked { point, role } => {
            format!("  decision `{point}` put to {role}")
        }
        Progress::DecisionAnswered {
            point,
            role,
            answer,
            after,
        } => format!(
            "  {role} answered `{point}`: {answer} ({} of exercise time)",
            ms(after)
        ),
        Progress::AwaitingDecisions { open, left } => format!(
            "waiting up to {} for decisions: {}",
            ms(left),
            open.join(", ")
        ),
        Progress::AwaitingAcknowledgements { missing, url, left } => format!(
            "waiting up to {} for acknowledgements from {} at {url}",
            ms(left),
            missing.join(", ")
        ),
    })
}

/// A namespace name as Kubernetes accepts it (an RFC 1123 label), refused here rather than by
/// the API server in the middle of a run.
fn namespace_name(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "`{value}` is not a namespace name: lower-case letters, digits and `-`, at most 63, starting and ending with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::namespace_name;

    #[test]
    fn a_restore_namespace_must_be_a_namespace_name() {
        assert_eq!(namespace_name("drills-1").as_deref(), Ok("drills-1"));
        for bad in ["", "Drills", "-x", "x-", "a_b", &"a".repeat(64)] {
            assert!(namespace_name(bad).is_err(), "{bad:?}");
        }
    }
}
