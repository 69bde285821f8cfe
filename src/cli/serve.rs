//! `firedrill serve --schedules FILE --database PATH`: drills on cron schedules, their
//! history, and a read-only web interface and JSON API (docs/serve.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::serve::drill::{DrillPlan, EngineRunner, SuitePlan};
use crate::serve::http::AppState;
use crate::serve::pages::DrillInfo;
use crate::serve::scheduler::{Entry, Scheduler, SystemClock};
use crate::serve::store::Store;
use crate::spec;
use crate::telemetry::prometheus::Registry;

/// Arguments of `firedrill serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schedule file (`kind: Schedule`): which experiments and suites run when.
    #[arg(long, value_name = "FILE")]
    schedules: PathBuf,
    /// The SQLite file of the run history; created when missing, migrated when older.
    #[arg(long, value_name = "PATH")]
    database: PathBuf,
    /// Address of the web interface, JSON API and /metrics. An address other than loopback
    /// without --token-file is served with a warning.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file holding the bearer token every request but /healthz and /readyz must carry.
    #[arg(long, value_name = "FILE", env = "FIREDRILL_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Folder under which each run gets its results folder [default: `results` beside the
    /// database]
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// The kubeconfig context for experiments on the kubernetes platform.
    #[arg(long, value_name = "CONTEXT")]
    context: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Some(drills) = load_drills(&args.schedules) else {
        return Ok(ExitStatus::InvalidInput);
    };
    let token = match &args.token_file {
        Some(file) => match read_token(file) {
            Ok(token) => Some(AppState::digest(&token)),
            Err(message) => {
                say!("{}: {message}", file.display());
                return Ok(ExitStatus::InvalidInput);
            }
        },
        None => None,
    };
    if token.is_none() && !args.listen.ip().is_loopback() {
        say!(
            "warning: serving on {} without --token-file: anyone who can reach this address can read the run history",
            args.listen
        );
    }
    let store = match Store::open(&args.database) {
        Ok(store) => Arc::new(store),
        Err(error) if error.is_user_input() => {
            say!("error: {error}");
            return Ok(ExitStatus::InvalidInput);
        }
        Err(error) => {
            return Err(error).with_context(|| {
                format!("cannot open the run history {}", args.database.display())
            });
        }
    };
    let results = args.results.clone().unwrap_or_else(|| {
        args.database
            .parent()
            .unwrap_or(Path::new(""))
            .join("results")
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, drills, store, token, results))?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ExitStatus::Success)
}

/// A drill of the schedule with what it runs.
struct Loaded {
    drill: spec::Drill,
    plan: DrillPlan,
}

/// Loads the schedule and every file its drills name; every problem is printed, and any
/// problem means nothing is served.
fn load_drills(file: &Path) -> Option<Vec<Loaded>> {
    let schedule = match spec::load_schedule(file) {
        Ok(schedule) => schedule,
        Err(error) => {
            super::validate::print_spec_error(&error);
            return None;
        }
    };
    let mut ok = true;
    let mut loaded = Vec::new();
    for (i, drill) in schedule.spec.drills.into_iter().enumerate() {
        let Some(path) = drill.file(file) else {
            continue;
        };
        let Some(plan) = super::load::load_plan(std::slice::from_ref(&path)) else {
            say!(
                "{}: spec.drills[{i}]: {} has the problems above",
                file.display(),
                path.display()
            );
            ok = false;
            continue;
        };
        let field = if drill.suite.is_some() {
            "suite"
        } else {
            "experiment"
        };
        let is_suite = plan.suite_file.is_some();
        if is_suite != (field == "suite") {
            say!(
                "{}: spec.drills[{i}].{field}: {} is {}",
                file.display(),
                path.display(),
                if is_suite {
                    "a suite; name it with `suite:`"
                } else {
                    "an experiment; name it with `experiment:`"
                }
            );
            ok = false;
            continue;
        }
        let suite = plan.suite_file.clone().map(|suite_file| SuitePlan {
            name: plan.name.clone(),
            description: plan.description.clone(),
            file: suite_file,
            weights: plan.weights.clone().unwrap_or_default(),
        });
        loaded.push(Loaded {
            plan: DrillPlan {
                name: drill.name.clone(),
                suite,
                experiments: plan.experiments,
            },
            drill,
        });
    }
    ok.then_some(loaded)
}

fn read_token(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read the token: {e}"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err("the token file is empty".to_owned());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token must be one line without spaces".to_owned());
    }
    Ok(token.to_owned())
}

async fn serve(
    args: Args,
    drills: Vec<Loaded>,
    store: Arc<Store>,
    token: Option<[u8; 32]>,
    results: PathBuf,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Registry::new());
    let mut entries = Vec::new();
    let mut infos = Vec::new();
    let mut plans = Vec::new();
    for Loaded { drill, plan } in drills {
        // Both were checked when the schedule was loaded.
        let cron = spec::parse_cron(&drill.cron)?;
        let zone = spec::parse_time_zone(&drill.time_zone)?;
        let entry = Entry {
            name: drill.name.clone(),
            cron,
            zone,
            missed: drill.missed,
            targets: plan.targets(),
            experiments: plan
                .experiments
                .iter()
                .map(|(_, e)| e.metadata.name.clone())
                .collect(),
            suite: plan.suite.as_ref().map(|s| s.name.clone()),
        };
        infos.push((
            DrillInfo {
                name: drill.name.clone(),
                runs: match (&drill.experiment, &drill.suite) {
                    (Some(file), _) => format!("experiment {file}"),
                    (_, Some(file)) => format!("suite {file}"),
                    _ => String::new(),
                },
                cron: drill.cron.clone(),
                time_zone: drill.time_zone.clone(),
                missed: match drill.missed {
                    spec::Missed::Skip => "skip",
                    spec::Missed::RunOnce => "run-once",
                }
                .to_owned(),
                enabled: drill.enabled,
                next_due: None,
            },
            drill.enabled.then(|| entry.clone()),
        ));
        if drill.enabled {
            entries.push(entry);
            plans.push(plan);
        }
    }
    // Runs a crash left unfinished are rolled back before anything new runs.
    let recovered =
        crate::serve::recover::recover_unfinished(&results, &store, args.context.clone()).await;
    for r in &recovered {
        say!(
            "{}: a run that did not finish: {}",
            r.dir.display(),
            r.summary
        );
    }
    let live = crate::serve::drill::LiveLinks::default();
    let runner = Arc::new(EngineRunner::new(
        plans,
        results,
        args.context.clone(),
        metrics.clone(),
        live.clone(),
    ));
    let scheduler = Scheduler::new(
        entries,
        store.clone(),
        metrics.clone(),
        runner,
        Arc::new(SystemClock),
    );
    let state = Arc::new(AppState {
        store,
        metrics,
        token,
        drills: infos,
        ready: true.into(),
        live,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("cannot read the address")?;
    say!("firedrill serve: listening on http://{address}");
    if state.drills.is_empty() {
        say!("firedrill serve: the schedule lists no drills: serving the history only");
    }
    let stop = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone(), state.clone()));
    let server = {
        let stop = stop.clone();
        let app = crate::serve::http::router(state.clone());
        let limits = crate::listener::Limits::new(crate::serve::http::MAX_BODY_BYTES);
        tokio::spawn(crate::listener::serve(
            listener,
            app,
            limits,
            stop.cancelled_owned(),
        ))
    };
    scheduler.run(stop.clone()).await;
    // The scheduler also returns when no drill can come due (none listed, or every cron
    // pattern past its last date); the history is still served until a signal stops it.
    stop.cancelled().await;
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => say!("warning: the web server stopped with an error: {error}"),
        Err(error) => say!("warning: the web server stopped unexpectedly: {error}"),
    }
    say!("firedrill serve: stopped");
    Ok(())
}

/// First SIGTERM or SIGINT: not ready, no new drills, running drills roll back, then exit 0.
/// A second SIGINT exits at once, killing every process firedrill started.
async fn watch_signals(stop: CancellationToken, state: Arc<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        say!("warning: cannot install signal handlers; SIGTERM will not roll back running drills");
        return;
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    say!("received {name}: no new drills; rolling back the running ones");
    state.ready.store(false, Ordering::SeqCst);
    stop.cancel();
    int.recv().await;
    let killed = crate::platform::local::process::kill_all_now();
    say!(
        "\n!!! EXITING AT ONCE: the rollback was NOT completed. {killed} process group(s) started by \
         firedrill were resumed and killed. Read journal.jsonl in each running drill's results \
         folder: a fault-intent record without a matching fault-reverted record is a change that \
         may still be in place. !!!"
    );
    std::process::exit(130);
}
