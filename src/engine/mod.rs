//! The lifecycle of a run (docs/result.md): start the workloads, then for each iteration
//! baseline → inject → detect → revert → recover → cool down; whatever ends the run,
//! revert everything still injected and stop every process; then score the run and write
//! its files. The steps read here and in iterate.rs; each collaborator has a file of its own.

mod detect;
mod fault_phase;
mod inject;
mod inputs;
mod iterate;
mod iteration;
mod latency_log;
mod notify;
mod objectives;
mod record;
pub mod recover;
mod respond;
mod rollback;
mod schedule;
mod score;
mod signing;
mod start;
mod stop;
mod tally;
#[cfg(test)]
mod tests;
mod verdict;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use iteration::IterationState;
pub use rollback::{PendingIntent, Rollback, pending_intents};

use crate::detection::webhook::WebhookServer;
use crate::error::chain;
use crate::fault::{self, Fault, FaultContext};
use crate::journal::Journal;
use crate::measure::ProbeRecorders;
use crate::platform::Platform;
use crate::result::{
    ExperimentInfo, IterationStatus, ObjectiveResult, RollbackResult, RunResult, SCHEMA_VERSION,
    Settings,
};
use crate::spec::Experiment;
use crate::telemetry::TraceContext;
use crate::time::{Clock, ms};
use inputs::Inputs;
use notify::Notifier;
use record::Recorder;
use stop::{Guard, Stop};
use tally::Tally;
use verdict::Verdict;

/// How a run is carried out, apart from the experiment itself.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Folder for result.json, journal.jsonl, latency.hlog and logs; None writes nothing.
    pub out_dir: Option<PathBuf>,
    /// Overrides `spec.iterations`.
    pub iterations: Option<u32>,
    /// The firedrill binary, for `{firedrill}` and helper processes.
    pub firedrill: PathBuf,
    /// The file the experiment came from, for the record.
    pub source_file: Option<String>,
    /// An ed25519 private key (PKCS#8 PEM) to sign the journal's head with.
    pub sign_key: Option<PathBuf>,
    /// The kubeconfig context, overriding `spec.target.context`.
    pub context: Option<String>,
    /// On kubernetes, the namespace where the run keeps its restore record (its undo
    /// records, for `firedrill cleanup` when the journal is lost with the runner).
    pub restore_namespace: Option<String>,
    /// The run's stop button, when the caller keeps it (serve presses it for its token
    /// holders); the run makes its own otherwise.
    pub stop: Option<Arc<crate::detection::stop::StopButton>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            out_dir: None,
            iterations: None,
            firedrill: default_firedrill_path(),
            source_file: None,
            sign_key: None,
            context: None,
            restore_namespace: None,
            stop: None,
        }
    }
}

/// Something the person watching the run may want to see.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Workloads are starting.
    Starting {
        /// How many replicas in all.
        replicas: usize,
    },
    /// The cluster is being connected to: with this context, or the current one.
    Connecting {
        /// The kubeconfig context asked for.
        context: Option<String>,
    },
    /// Every replica is ready.
    Ready {
        /// Service addresses.
        services: BTreeMap<String, String>,
        /// The webhook URL, if detection listens for alerts.
        webhook: Option<String>,
    },
    /// An iteration entered a phase.
    Phase {
        /// From 1.
        iteration: u32,
        /// Of how many.
        of: u32,
        /// The phase (or "cooldown").
        phase: &'static str,
    },
    /// A fault was injected.
    Injected {
        /// Fault name.
        fault: String,
        /// Its targets.
        targets: Vec<String>,
    },
    /// A fault was reverted.
    Reverted {
        /// Fault name.
        fault: String,
    },
    /// The iteration's fault was detected.
    Detected {
        /// From 1.
        iteration: u32,
        /// Time to detect.
        after: Duration,
        /// By which signal.
        by: String,
    },
    /// The steady state holds again.
    Recovered {
        /// From 1.
        iteration: u32,
        /// Time to recover.
        after: Duration,
    },
    /// An iteration ended.
    IterationDone {
        /// From 1.
        iteration: u32,
        /// Its status.
        status: IterationStatus,
    },
    /// The run is reverting faults and stopping processes.
    RollingBack {
        /// Why.
        reason: String,
    },
    /// Roles acknowledge the incident here (the URL has `{role}` in place of the role).
    AcknowledgeAt {
        /// Such as `http://127.0.0.1:PORT/acknowledge/{role}`.
        url: String,
        /// The roles.
        roles: Vec<String>,
    },
    /// A notification draft was written.
    Drafted {
        /// From 1.
        iteration: u32,
        /// Such as `nis2-early-warning`.
        kind: String,
        /// Its Markdown file, relative to the results folder.
        file: String,
        /// Time to draft, from detection.
        after: Duration,
    },
    /// The delivery of an early warning ended.
    Delivered {
        /// From 1.
        iteration: u32,
        /// The HTTP status, if an answer came.
        status: Option<u16>,
        /// Why it was not delivered.
        error: Option<String>,
        /// Time to deliver, from detection, when delivered.
        after: Option<Duration>,
    },
    /// A role acknowledged the incident.
    Acknowledged {
        /// The role.
        role: String,
        /// Who, as they said.
        by: Option<String>,
        /// Time to acknowledge, from awareness.
        after: Duration,
    },
    /// What the check of a fault found after its injection.
    Effect {
        /// The fault.
        fault: String,
        /// Verified, unverified or ineffective, with what was seen.
        effect: crate::fault::Effect,
    },
    /// The run's stop page (a secret link; never journaled).
    StopAt {
        /// `http://127.0.0.1:PORT/stop/TOKEN`.
        link: String,
    },
    /// The roles' links: each opens the role's page (a secret of the role's; never journaled).
    RespondAt {
        /// Role and link, in the experiment's order.
        links: Vec<(String, String)>,
        /// Why the listener is unsafe, when it is reachable beyond this machine.
        warning: Option<String>,
    },
    /// A decision was put to a role.
    DecisionAsked {
        /// The decision point.
        point: String,
        /// The role.
        role: String,
    },
    /// A role answered a decision.
    DecisionAnswered {
        /// The decision point.
        point: String,
        /// The role.
        role: String,
        /// The answer.
        answer: String,
        /// From the question, in exercise time.
        after: Duration,
    },
    /// The iterations are over; the run waits for these decisions.
    AwaitingDecisions {
        /// Open decision points, with their roles.
        open: Vec<String>,
        /// How long the run waits at most.
        left: Duration,
    },
    /// The iterations are over; the run waits for these roles to acknowledge.
    AwaitingAcknowledgements {
        /// Roles that have not acknowledged.
        missing: Vec<String>,
        /// Where they acknowledge (`{role}` in place of the role).
        url: String,
        /// How long the run waits at most.
        left: Duration,
    },
}

/// Receives progress; the CLI draws it, a library user may ignore it.
pub trait ProgressSink: Send + Sync {
    /// Called for each progress event, from the engine's task (or, for a delivery's outcome,
    /// from the delivery's own task).
    fn progress(&self, event: &Progress);
}

impl<F: Fn(&Progress) + Send + Sync> ProgressSink for F {
    fn progress(&self, event: &Progress) {
        self(event)
    }
}

/// Why a run could not even start. Everything after the start is reported in the result.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The results folder could not be prepared.
    #[error("cannot create the results folder {0}")]
    OutDir(PathBuf, #[source] std::io::Error),
    /// The journal could not be created.
    #[error("cannot create the journal")]
    Journal(#[source] crate::journal::JournalError),
    /// The roles' links could not be made.
    #[error("{0}")]
    Response(String),
}

/// Runs an experiment to the end and returns its result, after reverting everything.
///
/// `cancel` interrupts the run (the CLI cancels it on SIGINT or SIGTERM); faults are still
/// reverted and processes stopped before this returns. `rollback` is shared so that a
/// caller can revert whatever is left should this future panic.
pub async fn run(
    exp: Experiment,
    opts: RunOptions,
    cancel: CancellationToken,
    progress: Arc<dyn ProgressSink>,
    rollback: Arc<Rollback>,
) -> Result<RunResult, EngineError> {
    run_with(
        exp,
        opts,
        cancel,
        progress,
        rollback,
        Arc::new(fault::build),
    )
    .await
}

/// Builds the runtime fault of a spec fault: `fault::build`, or a stand-in in the engine's
/// own tests.
type FaultBuilder = Arc<
    dyn Fn(
            &crate::spec::FaultSpec,
            &Platform,
            &FaultContext,
        ) -> Result<Arc<dyn Fault>, fault::FaultError>
        + Send
        + Sync,
>;

async fn run_with(
    exp: Experiment,
    opts: RunOptions,
    cancel: CancellationToken,
    progress: Arc<dyn ProgressSink>,
    rollback: Arc<Rollback>,
    build_fault: FaultBuilder,
) -> Result<RunResult, EngineError> {
    let clock = Clock::start();
    if let Some(dir) = &opts.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::OutDir(dir.clone(), e))?;
    }
    let journal = Arc::new(match &opts.out_dir {
        Some(dir) => Journal::create(&dir.join("journal.jsonl")).map_err(EngineError::Journal)?,
        None => Journal::discard(),
    });
    rollback.attach_journal(journal.clone());
    let run_id = format!(
        "{}-{:08x}",
        clock
            .wall_origin()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        fastrand::u32(..)
    );
    rollback.attach_run(&exp.metadata.name, &run_id);
    let span = tracing::info_span!(
        "run",
        experiment.name = %exp.metadata.name,
        run.id = %run_id,
        status = tracing::field::Empty,
    );
    let trace = TraceContext::for_run(&span);
    let (started_seq, _) = journal.record_with_seq(
        "run-started",
        json!({
            "runId": run_id,
            "experiment": exp.metadata.name,
            "file": opts.source_file,
            "firedrillVersion": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            // The clock the legal deadlines and the people's responses run on.
            "timeScale": crate::spec::Response::time_scale_of(exp.spec.response.as_ref()),
        }),
        false,
    );
    let notifier = Notifier::new(
        &exp.spec,
        opts.out_dir.clone(),
        journal.clone(),
        clock,
        progress.clone(),
    );
    let responder = respond::Responder::new(
        &exp.spec,
        &exp.metadata.name,
        &run_id,
        opts.out_dir.clone(),
        journal.clone(),
        clock,
        progress.clone(),
    )
    .map_err(EngineError::Response)?;
    let deadline = Instant::now() + exp.spec.safety.timeout.get();
    let button = match opts.stop.clone() {
        Some(button) => button,
        None => Arc::new(
            crate::detection::stop::StopButton::new()
                .map_err(|e| EngineError::Response(format!("cannot make the stop button: {e}")))?,
        ),
    };
    button.attach(journal.clone(), clock);
    let ended = button.clone();
    let mut runner = Runner {
        iterations: opts.iterations.unwrap_or(exp.spec.iterations).max(1),
        exp,
        opts,
        ids: RunIds {
            run_id,
            started_seq,
            trace,
        },
        record: Recorder::new(journal, clock, progress),
        guard: Guard::new(cancel, deadline).with_button(button),
        faults: Faults {
            rollback,
            build: build_fault,
        },
        notifier,
        responder,
        pod_counts: BTreeMap::new(),
        next_step: None,
        traffic: None,
    };
    let result = runner.run().instrument(span.clone()).await;
    // Nothing is left to stop: the link says so from now on.
    ended.end();
    span.record("status", result.status.as_str());
    Ok(result)
}

/// A run under way: the experiment and its collaborators.
struct Runner {
    exp: Experiment,
    opts: RunOptions,
    /// How many iterations (`--iterations` or `spec.iterations`).
    iterations: u32,
    ids: RunIds,
    record: Recorder,
    guard: Guard,
    faults: Faults,
    notifier: Notifier,
    responder: respond::Responder,
    /// Pods of each Kubernetes workload when the run started, for the record.
    pod_counts: BTreeMap<String, usize>,
    /// What the user can do about the error that stopped the run, when there is something.
    next_step: Option<String>,
    /// The traffic, while the iterations run (`spec.traffic`).
    traffic: Option<crate::traffic::Traffic>,
}

/// Who the run is, in the journal and in the traces.
struct RunIds {
    run_id: String,
    /// The `run-started` record, which names the experiment: evidence of what it declares.
    started_seq: u64,
    /// The run's trace id and the phase the probes' requests belong to.
    trace: Arc<TraceContext>,
}

/// How runtime faults are made, and the registry that reverts them whatever happens.
struct Faults {
    rollback: Arc<Rollback>,
    build: FaultBuilder,
}

/// What the start step brought up, and why the run cannot go on, if it cannot.
struct Started {
    webhook: Option<WebhookServer>,
    platform: Option<Platform>,
    inputs: Inputs,
    stop_probes: CancellationToken,
    services: BTreeMap<String, String>,
    stop: Option<Stop>,
}

/// How the run ended, for its result.
struct Ending {
    verdict: Verdict,
    objectives: Vec<ObjectiveResult>,
    rollback: RollbackResult,
    files: BTreeMap<String, String>,
    finished: Instant,
}

impl Runner {
    /// The lifecycle: start, the iterations, then revert whatever is left, wait for the
    /// people, conclude, write the run's own files and score it.
    async fn run(&mut self) -> RunResult {
        let mut started = self.start().await;
        let mut tally = Tally::new(self.probe_names());
        if started.stop.is_none() {
            started.stop = self.iterate(&mut started, &mut tally).await;
        }
        // After iterations that went to their end every fault is reverted: the traffic's
        // last requests end before the processes stop. A run stopped early rolls back
        // first, and waits for them after.
        if started.stop.is_none() {
            self.stop_traffic(&mut tally).await;
        }
        // Whatever happened above, nothing injected survives this point.
        let rollback = self.roll_back(&mut started).await;
        self.stop_traffic(&mut tally).await;
        let mut stop = started.stop.take();
        // Everything is reverted; people may still be answering. Wait for them only after
        // a run that went to its end.
        let awaited = self
            .notifier
            .await_acknowledgements(stop.is_none(), &self.guard);
        if let Some(s) = awaited.await {
            stop = Some(s);
        }
        if let Some(s) = self
            .responder
            .await_answers(stop.is_none(), &self.guard)
            .await
        {
            stop = Some(s);
        }
        self.notifier.finish_deliveries(&self.guard).await;
        // The links are refused from here on, before the listener stops.
        self.responder.close().await;
        if let Some(w) = started.webhook.take() {
            w.shutdown().await;
        }
        let ending = self.conclude(&mut tally, rollback, stop.as_ref());
        let mut result = self.result(tally, ending, std::mem::take(&mut started.services));
        // A run stopped before its first injection measured nothing to score.
        if let Some(dir) = &self.opts.out_dir
            && !result.stopped_before_injection()
        {
            score::score(&self.exp.spec, &mut result, &dir.join("journal.jsonl"));
        }
        result
    }

    /// Runs the iterations under the traffic, if the experiment has one; why the run
    /// stopped early, if it did.
    async fn iterate(&mut self, started: &mut Started, tally: &mut Tally) -> Option<Stop> {
        let platform = started.platform.as_ref()?;
        if let Err(stop) = self.start_traffic(platform).await {
            return Some(stop);
        }
        let stop = self.iterations_(started, tally).await;
        // Nothing more is sent; the requests in flight are waited for before the rollback,
        // or after it when the run stopped early, which they must not delay.
        if let Some(t) = &mut self.traffic {
            t.end(Instant::now());
        }
        stop
    }

    /// Starts the traffic of `spec.traffic`, its URLs expanded as the probes' are.
    async fn start_traffic(&mut self, platform: &Platform) -> Result<(), Stop> {
        let Some(spec) = &self.exp.spec.traffic else {
            return Ok(());
        };
        let base = self
            .opts
            .source_file
            .as_deref()
            .and_then(|f| std::path::Path::new(f).parent())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let traffic = crate::traffic::Traffic::start(
            spec,
            self.exp.spec.slo.as_ref(),
            platform.template(),
            &base,
            self.record.clock.origin(),
            self.opts.out_dir.as_deref(),
        )
        .await
        .map_err(|e| Stop::Aborted(format!("the traffic cannot start: {}", chain(&e))))?;
        let detail = match &spec.model {
            crate::spec::TrafficModel::Open(m) => format!("{} requests/s", m.rate),
            crate::spec::TrafficModel::Closed(m) => format!("{} requests in flight", m.concurrency),
        };
        self.record.run_event("traffic-started", detail);
        self.traffic = Some(traffic);
        Ok(())
    }

    /// Stops the traffic and gives each iteration its figures.
    async fn stop_traffic(&mut self, tally: &mut Tally) {
        let Some(traffic) = self.traffic.take() else {
            return;
        };
        let report = traffic.stop(Instant::now()).await;
        if let Some(error) = &report.series_error {
            tracing::warn!(error = %error, "the traffic's time series could not be written");
        }
        let mut iterations = report.iterations;
        for it in &mut tally.iterations {
            it.traffic = iterations.remove(&it.index);
        }
        let detail = if report.summary.sustained {
            "every phase carried the traffic asked".to_owned()
        } else {
            format!("not sustained: {}", report.summary.shortfalls.join("; "))
        };
        self.record.run_event_with(
            "traffic-stopped",
            json!({"sustained": report.summary.sustained, "shortfalls": report.summary.shortfalls}),
            detail,
        );
        tally.traffic = Some(report.summary);
    }

    /// From `at` on, the traffic's requests belong to iteration `n`'s `period`.
    pub(super) fn traffic_mark(&self, at: Instant, n: u32, period: crate::traffic::Period) {
        if let Some(t) = &self.traffic {
            t.mark(at, n, period);
        }
    }

    /// The iterations; why the run stopped early, if it did.
    async fn iterations_(&mut self, started: &mut Started, tally: &mut Tally) -> Option<Stop> {
        let platform = started.platform.as_ref()?;
        let ctx = FaultContext {
            firedrill: self.opts.firedrill.clone(),
            run_id: self.ids.run_id.clone(),
        };
        for n in 1..=self.iterations {
            let span = tracing::info_span!(
                "iteration",
                experiment.name = %self.exp.metadata.name,
                run.id = %self.ids.run_id,
                iteration = n,
                status = tracing::field::Empty,
            );
            let (mut result, state, stop) = self
                .iteration(n, platform, &ctx, &mut started.inputs)
                .instrument(span.clone())
                .await;
            span.record("status", result.status.as_str());
            result.span_id = crate::telemetry::trace::span_id(&span);
            let bounds = self.phase_bounds(&state, Instant::now());
            self.notifier.report_acknowledgements();
            self.responder.report_answers();
            self.record.progress(&Progress::IterationDone {
                iteration: n,
                status: result.status,
            });
            let baseline_failed = result.status == IterationStatus::BaselineFailed;
            let name = &self.exp.metadata.name;
            tally.add(name, result, &state, bounds, stop.is_some());
            if stop.is_some() {
                return stop;
            }
            if baseline_failed {
                break;
            }
        }
        None
    }

    /// Reverts every fault still in place, then stops the probes and every process.
    async fn roll_back(&mut self, started: &mut Started) -> RollbackResult {
        self.record.progress(&Progress::RollingBack {
            reason: Stop::rollback_reason(started.stop.as_ref()),
        });
        started.stop_probes.cancel();
        let rollback = self.faults.rollback.revert_all(&self.record.journal).await;
        self.drop_restore_record(started.platform.as_ref(), &rollback)
            .await;
        started.inputs.close().await;
        if let Some(p) = started.platform.take() {
            p.shutdown().await;
        }
        self.record
            .journal
            .record("processes-stopped", json!({}), false);
        rollback
    }

    /// Objectives and verdict; the journal's last record; the run's own files.
    fn conclude(
        &mut self,
        tally: &mut Tally,
        rollback: RollbackResult,
        stop: Option<&Stop>,
    ) -> Ending {
        let objectives = objectives::evaluate(
            &self.exp.spec,
            &tally.totals,
            &tally.ttd,
            &tally.ttr,
            tally.completed(),
            objectives::TrafficFigures {
                summary: tally.traffic.as_ref(),
                iterations: &tally.iterations,
            },
        );
        let verdict = verdict::verdict(&rollback, stop, tally.failed_reason.take(), &objectives);
        let finished = Instant::now();
        self.record.journal.record(
            "run-finished",
            json!({"status": verdict.status.as_str(), "reason": verdict.reason}),
            true,
        );
        let files = self.write_files(tally);
        Ending {
            verdict,
            objectives,
            rollback,
            files,
            finished,
        }
    }

    /// The run's own files beside result.json: the journal's signature and latency.hlog;
    /// the files of the results folder, by role.
    fn write_files(&self, tally: &Tally) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        let Some(dir) = &self.opts.out_dir else {
            return files;
        };
        let mut add = |role: &str, file: &str| files.insert(role.to_owned(), file.to_owned());
        add("journal", "journal.jsonl");
        let journal = dir.join("journal.jsonl");
        if let Some(key) = &self.opts.sign_key
            && signing::sign_journal(&journal, key, &self.record.journal)
        {
            add("signature", "journal.sig");
        }
        add("logs", "logs/");
        if self.notifier.has_notifications() {
            add("notifications", "notifications/");
        }
        let origin = self.record.clock.wall_origin();
        if latency_log::write(&dir.join("latency.hlog"), origin, &tally.log) {
            add("histograms", "latency.hlog");
        }
        if tally
            .traffic
            .as_ref()
            .is_some_and(|t| t.series_file.is_some())
        {
            add("traffic", crate::traffic::SERIES_FILE);
        }
        add("result", "result.json");
        files
    }

    /// The run's result, before scoring.
    fn result(
        &mut self,
        tally: Tally,
        ending: Ending,
        services: BTreeMap<String, String>,
    ) -> RunResult {
        let clock = self.record.clock;
        let response = self.responder.result(&tally.iterations);
        let mut notifications = self.notifier.take_notifications();
        notifications.extend(self.responder.take_drafts());
        // A report that needed approval was submitted when approved.
        for a in response.iter().flat_map(|r| &r.approvals) {
            if let Some(n) = notifications.iter_mut().find(|n| {
                n.kind == a.report
                    && Some(n.iteration) == response.as_ref().and_then(|r| r.judged_on_iteration)
            }) && a.submission.is_some()
            {
                n.delivery = a.submission.clone();
            }
        }
        let spec = &self.exp.spec;
        RunResult {
            schema_version: SCHEMA_VERSION,
            run_id: self.ids.run_id.clone(),
            trace_id: Some(self.ids.trace.trace_id()),
            firedrill_version: env!("CARGO_PKG_VERSION").to_owned(),
            experiment: ExperimentInfo {
                name: self.exp.metadata.name.clone(),
                description: self.exp.metadata.description.clone(),
                labels: self.exp.metadata.labels.clone(),
                file: self.opts.source_file.clone(),
            },
            status: ending.verdict.status,
            reason: ending.verdict.reason,
            next_step: self.next_step.take(),
            started_at: crate::time::Timestamp::from(clock.wall_origin()),
            finished_at: clock.at(ending.finished),
            duration_ms: clock.offset_ms(ending.finished),
            settings: Settings {
                probe_interval_ms: ms(spec.steady_state.interval.get()),
                baseline_ms: ms(spec.steady_state.baseline.get()),
                iterations: self.iterations,
                stable_for_ms: ms(spec.recovery.stable_for.get()),
                services,
            },
            probes: self.probe_summaries(&tally.totals),
            summary: tally.summary(),
            traffic: tally.traffic.clone(),
            iterations: tally.iterations,
            objectives: ending.objectives,
            rollback: ending.rollback,
            events: self.record.take_run_events(),
            files: ending.files,
            scorecard_input: None,
            scorecard: None,
            history: None,
            notifications,
            coordination: self.notifier.coordination(),
            response,
        }
    }

    /// The probes' names, in the spec's order.
    fn probe_names(&self) -> Vec<String> {
        let probes = &self.exp.spec.steady_state.probes;
        probes.iter().map(|p| p.name().to_owned()).collect()
    }

    /// Probe name → phase → summary.
    fn probe_summaries(
        &self,
        recorders: &[ProbeRecorders],
    ) -> BTreeMap<String, BTreeMap<String, crate::measure::LatencySummary>> {
        self.probe_names()
            .into_iter()
            .zip(recorders)
            .map(|(p, r)| (p, r.summaries()))
            .collect()
    }

    /// Start (since the run's origin) and length of each phase of an iteration that ended
    /// at `end`.
    fn phase_bounds(&self, st: &IterationState, end: Instant) -> [(Duration, Duration); 3] {
        let injected = st.injected.unwrap_or(end);
        let fault_end = st.fault_ended.unwrap_or(end).max(injected);
        let clock = self.record.clock;
        let span = |a: Instant, b: Instant| (clock.since_origin(a), b.saturating_duration_since(a));
        [
            span(st.started, injected),
            span(injected, fault_end),
            span(fault_end, end),
        ]
    }
}

/// Resolves at `t`, or never.
async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The firedrill binary that `{firedrill}` and helper processes use: `FIREDRILL_BIN`, else
/// this executable when it is firedrill, else a `firedrill` next to it or one folder up
/// (where cargo puts examples and tests), else `firedrill` from PATH.
pub fn default_firedrill_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FIREDRILL_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "firedrill") {
            return exe;
        }
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("firedrill");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("firedrill")
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.0}ms", d.as_secs_f64() * 1e3)
}
