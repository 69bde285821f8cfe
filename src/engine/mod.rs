//! The lifecycle of a run: start the workloads, then for each iteration baseline →
//! inject → watch detection → revert → wait for recovery → cool down; and whatever ends
//! the run, revert everything still injected and stop every process.

mod iteration;
mod notify;
mod objectives;
mod rollback;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use iteration::IterationState;
pub use rollback::{PendingIntent, Rollback, pending_intents};

use crate::detection::poll::{PolledAlert, Poller, Source};
use crate::detection::webhook::{AlertStatus, ReceivedAlert, WebhookServer};
use crate::error::chain;
use crate::fault::security::SecurityOutcome;
use crate::fault::{self, Fault, FaultContext};
use crate::journal::Journal;
use crate::measure::{DurationRecorder, LogInterval, ProbeRecorders};
use crate::notification::{Acknowledgements, Deliverer};
use crate::platform::kubernetes::KubernetesPlatform;
use crate::platform::local::{Events, LocalOptions, LocalPlatform};
use crate::platform::{Platform, PlatformEvent};
use crate::probe::{self, Observation};
use crate::result::{
    DeliveryResult, Event, ExperimentInfo, FaultRecord, IterationResult, NotificationResult,
    RunResult, RunStatus, SCHEMA_VERSION, Settings, Summary,
};
use crate::spec::{Experiment, Phase, Target};
use crate::telemetry::TraceContext;
use crate::telemetry::metrics::run_metrics;
use crate::time::{Clock, ms};

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
        status: String,
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
}

/// Why the run stopped before its end.
enum Stop {
    Interrupted,
    Aborted(String),
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
    let (run_started_seq, _) = journal.record_with_seq(
        "run-started",
        json!({
            "runId": run_id,
            "experiment": exp.metadata.name,
            "file": opts.source_file,
            "firedrillVersion": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
        }),
        false,
    );
    let acks = exp.spec.coordination.as_ref().map(|c| {
        Arc::new(Acknowledgements::new(
            c.roles.clone(),
            journal.clone(),
            clock,
        ))
    });
    let mut runner = Runner {
        iterations: opts.iterations.unwrap_or(exp.spec.iterations).max(1),
        exp,
        opts,
        clock,
        journal,
        cancel,
        progress,
        rollback,
        run_events: Vec::new(),
        run_deadline: Instant::now(),
        run_id: run_id.clone(),
        run_started_seq,
        acks,
        acks_reported: BTreeSet::new(),
        acknowledge_url: None,
        notifications: Vec::new(),
        deliverer: None,
        deliveries: JoinSet::new(),
        pending_deliveries: HashMap::new(),
        pod_counts: BTreeMap::new(),
        trace,
        build_fault,
    };
    runner.run_deadline = Instant::now() + runner.exp.spec.safety.timeout.get();
    let result = runner.run(run_id).instrument(span.clone()).await;
    span.record("status", result.status.as_str());
    Ok(result)
}

struct Runner {
    exp: Experiment,
    opts: RunOptions,
    iterations: u32,
    clock: Clock,
    journal: Arc<Journal>,
    cancel: CancellationToken,
    progress: Arc<dyn ProgressSink>,
    rollback: Arc<Rollback>,
    run_events: Vec<Event>,
    run_deadline: Instant,
    run_id: String,
    /// The `run-started` record, which names the experiment: evidence of what it declares.
    run_started_seq: u64,
    acks: Option<Arc<Acknowledgements>>,
    acks_reported: BTreeSet<String>,
    acknowledge_url: Option<String>,
    notifications: Vec<NotificationResult>,
    /// The early warning's delivery, once the workloads' addresses are known.
    deliverer: Option<Result<Deliverer, String>>,
    deliveries: JoinSet<DeliveryResult>,
    pending_deliveries: HashMap<tokio::task::Id, notify::PendingDelivery>,
    /// Pods of each Kubernetes workload when the run started, for the record.
    pod_counts: BTreeMap<String, usize>,
    /// The run's trace id and the phase the probes' requests belong to.
    trace: Arc<TraceContext>,
    build_fault: FaultBuilder,
}

/// A probe's recorders of one iteration with the start and length of each phase.
type PhaseLog = (String, [(Duration, Duration); 3], ProbeRecorders, u32);

/// Channels the iterations listen on.
struct Inputs {
    observations: mpsc::Receiver<Observation>,
    platform: mpsc::UnboundedReceiver<PlatformEvent>,
    alerts: Option<broadcast::Receiver<ReceivedAlert>>,
    /// Alerts the polling signals saw start firing.
    polled: mpsc::UnboundedReceiver<PolledAlert>,
    polled_tx: Option<mpsc::UnboundedSender<PolledAlert>>,
    probe_tasks: JoinSet<()>,
}

impl Runner {
    async fn run(&mut self, run_id: String) -> RunResult {
        let replicas: usize = match &self.exp.spec.target {
            Target::Local(target) => target.workloads.iter().map(|w| w.replicas as usize).sum(),
            Target::Kubernetes(_) => 0,
        };
        self.progress.progress(&Progress::Starting { replicas });

        let mut outcome: Option<Stop> = None;
        let mut iterations: Vec<IterationResult> = Vec::new();
        let mut totals: Vec<ProbeRecorders> =
            vec![ProbeRecorders::default(); self.exp.spec.steady_state.probes.len()];
        let mut log_intervals: Vec<PhaseLog> = Vec::new();
        let mut ttd = DurationRecorder::default();
        let mut ttr = DurationRecorder::default();
        let mut outage = DurationRecorder::default();
        let mut failed_reason: Option<String> = None;
        let mut services = BTreeMap::new();
        let (mut after_count, mut after_errors) = (0u64, 0u64);

        // Detection webhook first: workloads (an Alertmanager, say) may need its URL.
        let webhook = match self.start_webhook().await {
            Ok(w) => w,
            Err(reason) => {
                outcome = Some(Stop::Aborted(reason));
                None
            }
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let stop_probes = CancellationToken::new();
        let mut platform = None;
        if outcome.is_none() {
            match self.start_platform(webhook.as_ref(), events_tx).await {
                Ok(p) => {
                    self.prepare_delivery(&p);
                    platform = Some(p);
                }
                Err(stop) => outcome = Some(stop),
            }
        }
        let (obs_tx, obs_rx) = mpsc::channel(1024);
        let (polled_tx, polled_rx) = mpsc::unbounded_channel();
        let mut inputs = Inputs {
            observations: obs_rx,
            platform: events_rx,
            alerts: webhook.as_ref().map(WebhookServer::subscribe),
            polled: polled_rx,
            polled_tx: Some(polled_tx),
            probe_tasks: JoinSet::new(),
        };
        if let (None, Some(p)) = (&outcome, &platform) {
            outcome = self
                .start_probes(
                    p,
                    &options_log_dir(&self.opts),
                    obs_tx,
                    &stop_probes,
                    &mut inputs,
                )
                .await
                .err();
            services = p.services();
        }
        if let (None, Some(p)) = (&outcome, &platform) {
            self.progress.progress(&Progress::Ready {
                services: services.clone(),
                webhook: self.alert_url(webhook.as_ref()),
            });
            if let Some(w) = &webhook {
                self.note_acknowledge_url(w);
            }
            self.run_event("workloads-ready", format!("services {services:?}"));
            let ctx = FaultContext {
                firedrill: self.opts.firedrill.clone(),
                run_id: self.run_id.clone(),
            };
            for n in 1..=self.iterations {
                let span = tracing::info_span!(
                    "iteration",
                    experiment.name = %self.exp.metadata.name,
                    run.id = %self.run_id,
                    iteration = n,
                    status = tracing::field::Empty,
                );
                let (mut result, state, stop) = self
                    .iteration(n, p, &ctx, &mut inputs)
                    .instrument(span.clone())
                    .await;
                span.record("status", result.status.as_str());
                result.span_id = crate::telemetry::trace::span_id(&span);
                let bounds = self.phase_bounds(&state, Instant::now());
                for (i, probe) in self.exp.spec.steady_state.probes.iter().enumerate() {
                    totals[i].merge(&state.recorders[i]);
                    log_intervals.push((
                        probe.name().to_owned(),
                        bounds,
                        state.recorders[i].clone(),
                        n,
                    ));
                }
                let (c, e) = state.recovery.counts();
                after_count += c;
                after_errors += e;
                let completed = stop.is_none() && result.status != "baseline_failed";
                if completed {
                    let metrics = run_metrics();
                    let exp = &self.exp.metadata.name;
                    if let Some(v) = result.time_to_detect_ms {
                        metrics.detected(exp, Duration::from_secs_f64(v / 1e3));
                    }
                    if let Some(v) = result.time_to_recover_ms {
                        metrics.recovered(exp, Duration::from_secs_f64(v / 1e3));
                    }
                    ttd.record(
                        result
                            .time_to_detect_ms
                            .map(|v| Duration::from_secs_f64(v / 1e3)),
                    );
                    ttr.record(
                        result
                            .time_to_recover_ms
                            .map(|v| Duration::from_secs_f64(v / 1e3)),
                    );
                    outage.record(Some(Duration::from_secs_f64(result.outage_ms / 1e3)));
                }
                if let Some(finding) = prevention_finding(&result) {
                    failed_reason.get_or_insert(format!("iteration {n}: {finding}"));
                }
                if result.status == "baseline_failed" {
                    failed_reason = Some(format!(
                        "iteration {n}: the steady state did not hold at baseline, so no fault was injected"
                    ));
                } else if result.recovered_at.is_none() && completed {
                    failed_reason.get_or_insert(format!(
                        "iteration {n}: the steady state did not come back within the recovery timeout"
                    ));
                }
                self.report_acknowledgements();
                self.progress.progress(&Progress::IterationDone {
                    iteration: n,
                    status: result.status.clone(),
                });
                let baseline_failed = result.status == "baseline_failed";
                iterations.push(result);
                if stop.is_some() {
                    outcome = stop;
                    break;
                }
                if baseline_failed {
                    break;
                }
            }
        }

        // Whatever happened above, nothing injected survives this point.
        let reason = match &outcome {
            Some(Stop::Interrupted) => "interrupted".to_owned(),
            Some(Stop::Aborted(r)) => format!("aborted: {r}"),
            None => "run finished".to_owned(),
        };
        self.progress.progress(&Progress::RollingBack {
            reason: reason.clone(),
        });
        stop_probes.cancel();
        let rollback = self.rollback.revert_all(&self.journal).await;
        // Probe threads end at their next tick, or when they find nobody listening.
        let Inputs {
            observations,
            mut probe_tasks,
            ..
        } = inputs;
        drop(observations);
        while probe_tasks.join_next().await.is_some() {}
        if let Some(p) = platform {
            p.shutdown().await;
        }
        self.journal.record("processes-stopped", json!({}), false);
        // Everything is reverted; people may still be answering. Wait for them only after
        // a run that went to its end.
        if let Some(stop) = self.await_acknowledgements(outcome.is_none()).await {
            outcome = Some(stop);
        }
        self.finish_deliveries().await;
        if let Some(w) = webhook {
            w.shutdown().await;
        }

        let objectives = objectives::evaluate(
            &self.exp.spec,
            &totals,
            &ttd,
            &ttr,
            completed_count(&iterations),
        );
        let status = if !rollback.failed.is_empty() {
            RunStatus::RollbackFailed
        } else {
            match &outcome {
                Some(Stop::Interrupted) => RunStatus::Interrupted,
                Some(Stop::Aborted(_)) => RunStatus::Aborted,
                None if failed_reason.is_some() || objectives.iter().any(|o| !o.met) => {
                    RunStatus::Failed
                }
                None => RunStatus::Passed,
            }
        };
        let reason = match (&status, &outcome) {
            (RunStatus::RollbackFailed, _) => Some(format!(
                "rollback failed, the target may be left changed: {}",
                rollback.failed.join("; ")
            )),
            (_, Some(Stop::Interrupted)) => {
                Some("interrupted by a signal; everything was reverted".to_owned())
            }
            (_, Some(Stop::Aborted(r))) => Some(format!("{r}; everything was reverted")),
            (RunStatus::Failed, None) => failed_reason.or_else(|| {
                let missed: Vec<_> = objectives
                    .iter()
                    .filter(|o| !o.met)
                    .map(|o| o.name.clone())
                    .collect();
                Some(format!("objectives missed: {}", missed.join(", ")))
            }),
            _ => None,
        };
        let finished = Instant::now();
        self.journal.record(
            "run-finished",
            json!({"status": status.as_str(), "reason": reason}),
            true,
        );

        let mut files = BTreeMap::new();
        if let Some(dir) = &self.opts.out_dir.clone() {
            files.insert("journal".to_owned(), "journal.jsonl".to_owned());
            if let Some(key) = &self.opts.sign_key {
                let journal = dir.join("journal.jsonl");
                match crate::journal::sign_head(
                    &journal,
                    key,
                    self.journal.len(),
                    &self.journal.head(),
                ) {
                    Ok(_) => {
                        files.insert("signature".to_owned(), "journal.sig".to_owned());
                    }
                    Err(e) => {
                        let error = chain(&e);
                        tracing::warn!(%error, "cannot sign the journal; the run goes on");
                    }
                }
            }
            files.insert("logs".to_owned(), "logs/".to_owned());
            if !self.notifications.is_empty() {
                files.insert("notifications".to_owned(), "notifications/".to_owned());
            }
            let intervals: Vec<LogInterval<'_>> = log_intervals
                .iter()
                .flat_map(|(probe, bounds, rec, n)| {
                    Phase::ALL
                        .iter()
                        .zip(bounds)
                        .map(move |(ph, (start, length))| LogInterval {
                            tag: format!("{probe}.{}.{n}", ph.as_str()),
                            start: *start,
                            length: *length,
                            histogram: rec.phase(*ph).histogram(),
                        })
                })
                .collect();
            let path = dir.join("latency.hlog");
            let written = std::fs::File::create(&path).and_then(|mut f| {
                crate::measure::write_interval_log(&mut f, self.clock.wall_origin(), &intervals)
            });
            match written {
                Ok(()) => {
                    files.insert("histograms".to_owned(), "latency.hlog".to_owned());
                }
                Err(error) => tracing::warn!(%error, "cannot write latency.hlog; the run goes on"),
            }
            files.insert("result".to_owned(), "result.json".to_owned());
        }

        let detected = iterations
            .iter()
            .filter(|i| i.detected_at.is_some())
            .count() as u32;
        let recovered = iterations
            .iter()
            .filter(|i| i.recovered_at.is_some())
            .count() as u32;
        RunResult {
            schema_version: SCHEMA_VERSION,
            run_id,
            trace_id: Some(self.trace.trace_id()),
            firedrill_version: env!("CARGO_PKG_VERSION").to_owned(),
            experiment: ExperimentInfo {
                name: self.exp.metadata.name.clone(),
                description: self.exp.metadata.description.clone(),
                labels: self.exp.metadata.labels.clone(),
                file: self.opts.source_file.clone(),
            },
            status,
            reason,
            started_at: crate::time::rfc3339(self.clock.wall_origin()),
            finished_at: self.clock.rfc3339(finished),
            duration_ms: self.clock.offset_ms(finished),
            settings: Settings {
                probe_interval_ms: ms(self.exp.spec.steady_state.interval.get()),
                baseline_ms: ms(self.exp.spec.steady_state.baseline.get()),
                iterations: self.iterations,
                stable_for_ms: ms(self.exp.spec.recovery.stable_for.get()),
                services,
            },
            probes: self.probe_summaries(&totals),
            summary: Summary {
                iterations: completed_count(&iterations),
                detected,
                recovered,
                time_to_detect_ms: ttd.summary(),
                time_to_recover_ms: ttr.summary(),
                outage_ms: outage.summary(),
                availability: crate::measure::availability(after_count, after_errors),
                pod_recovery: crate::result::PodRecoverySummary::of(&iterations),
            },
            iterations,
            objectives,
            rollback,
            events: std::mem::take(&mut self.run_events),
            files,
            scorecard_input: None,
            scorecard: None,
            notifications: std::mem::take(&mut self.notifications),
            coordination: self.acks.as_ref().map(|a| {
                a.result(
                    self.exp
                        .spec
                        .coordination
                        .as_ref()
                        .map_or(Duration::ZERO, |c| c.timeout.get()),
                )
            }),
        }
    }

    /// Probe name → phase → summary.
    fn probe_summaries(
        &self,
        recorders: &[ProbeRecorders],
    ) -> BTreeMap<String, BTreeMap<String, crate::measure::LatencySummary>> {
        self.exp
            .spec
            .steady_state
            .probes
            .iter()
            .zip(recorders)
            .map(|(p, r)| (p.name().to_owned(), r.summaries()))
            .collect()
    }

    /// Start (since the run's origin) and length of each phase of an iteration that ended
    /// at `end`.
    fn phase_bounds(&self, st: &IterationState, end: Instant) -> [(Duration, Duration); 3] {
        let injected = st.injected.unwrap_or(end);
        let fault_end = st.fault_ended.unwrap_or(end).max(injected);
        let span =
            |a: Instant, b: Instant| (self.clock.since_origin(a), b.saturating_duration_since(a));
        [
            span(st.started, injected),
            span(injected, fault_end),
            span(fault_end, end),
        ]
    }

    /// Whether a detection signal listens for alerts on the webhook.
    fn alerts_wanted(&self) -> bool {
        self.exp.spec.detection.as_ref().is_some_and(|d| {
            d.signals
                .iter()
                .any(|s| matches!(s, crate::spec::DetectionSignal::Webhook(_)))
        })
    }

    /// The alert URL, when a signal listens for alerts (the webhook may serve only
    /// acknowledgements).
    fn alert_url(&self, webhook: Option<&WebhookServer>) -> Option<String> {
        webhook
            .filter(|_| self.alerts_wanted())
            .map(WebhookServer::url)
    }

    async fn start_webhook(&mut self) -> Result<Option<WebhookServer>, String> {
        let alerts = self.alerts_wanted();
        if !alerts && self.acks.is_none() {
            return Ok(None);
        }
        let listen = self
            .exp
            .spec
            .detection
            .as_ref()
            .map_or("127.0.0.1:0", |d| d.webhook_listen.as_str());
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|e| format!("invalid detection.webhookListen: {e}"))?;
        let server = WebhookServer::bind_with(addr, self.acks.clone())
            .await
            .map_err(|e| {
                format!(
                    "the detection webhook cannot listen on {addr}: {}",
                    chain(&e)
                )
            })?;
        if alerts {
            self.run_event("webhook-listening", server.url());
        }
        Ok(Some(server))
    }

    /// Starts the local workloads, or connects to the cluster and checks every guardrail
    /// and permission; nothing is changed in a cluster here.
    async fn start_platform(
        &mut self,
        webhook: Option<&WebhookServer>,
        events_tx: mpsc::UnboundedSender<PlatformEvent>,
    ) -> Result<Platform, Stop> {
        match self.exp.spec.target.clone() {
            Target::Local(target) => {
                let options = LocalOptions {
                    firedrill: self.opts.firedrill.clone(),
                    webhook: self.alert_url(webhook),
                    log_dir: self.opts.out_dir.as_ref().map(|d| d.join("logs")),
                    base_dir: self
                        .opts
                        .source_file
                        .as_deref()
                        .and_then(|f| std::path::Path::new(f).parent())
                        .map(std::path::Path::to_path_buf),
                };
                LocalPlatform::start(&target, &options, Events(events_tx))
                    .await
                    .map(Platform::Local)
                    .map_err(|e| Stop::Aborted(format!("workloads did not start: {}", chain(&e))))
            }
            Target::Kubernetes(target) => {
                let spec = self.exp.spec.clone();
                let started = tokio::select! {
                    started = KubernetesPlatform::start(&spec, &target, self.opts.context.as_deref(), &self.run_id, events_tx) => started,
                    () = self.cancel.cancelled() => return Err(Stop::Interrupted),
                };
                let platform = started.map_err(|e| {
                    let reason = format!(
                        "the cluster was not ready for the run, nothing was changed: {}",
                        chain(&e)
                    );
                    self.journal
                        .record("preflight-failed", json!({"error": reason}), true);
                    Stop::Aborted(reason)
                })?;
                let c = platform.connection().clone();
                self.pod_counts = platform.pod_counts().await;
                self.run_event_with(
                    "kubernetes-connected",
                    json!({"context": c.context, "server": c.server, "runId": self.run_id, "pods": self.pod_counts}),
                    format!("context {} at {}; permissions and guardrails checked", c.context, c.server),
                );
                let template = crate::spec::placeholders::Context {
                    firedrill: self.opts.firedrill.display().to_string(),
                    webhook: self.alert_url(webhook),
                    ..crate::spec::placeholders::Context::default()
                };
                Ok(Platform::Kubernetes(platform, template))
            }
        }
    }

    async fn start_probes(
        &mut self,
        platform: &Platform,
        log_dir: &Option<PathBuf>,
        obs_tx: mpsc::Sender<Observation>,
        stop: &CancellationToken,
        inputs: &mut Inputs,
    ) -> Result<(), Stop> {
        if let (Target::Local(target), Platform::Local(local)) =
            (self.exp.spec.target.clone(), platform)
        {
            self.run_event(
                "workloads-starting",
                format!("{} workload(s)", target.workloads.len()),
            );
            local
                .wait_ready(
                    target.startup_timeout.get(),
                    &self.cancel,
                    log_dir.as_deref(),
                )
                .await
                .map_err(|e| match e {
                    crate::platform::local::PlatformError::Cancelled => Stop::Interrupted,
                    e => Stop::Aborted(chain(&e)),
                })?;
        }
        // What happened while starting belongs to the run, not to the first iteration.
        while let Ok(ev) = inputs.platform.try_recv() {
            let (data, detail) = describe_platform_event(&ev);
            self.run_event_with(ev.kind(), data, detail);
        }
        let interval = self.exp.spec.steady_state.interval.get();
        for (i, spec) in self.exp.spec.steady_state.probes.iter().enumerate() {
            let cluster = platform
                .cluster()
                .map(|c| (c, tokio::runtime::Handle::current()));
            let probe = probe::build(spec, platform.template(), cluster, &self.trace)
                .map_err(|e| Stop::Aborted(chain(&e)))?;
            inputs.probe_tasks.spawn(probe::run(
                i,
                spec.name().to_owned(),
                self.trace.clone(),
                probe,
                interval,
                spec.timeout().get(),
                obs_tx.clone(),
                stop.child_token(),
            ));
        }
        self.start_pollers(platform, stop, inputs)
    }

    /// Starts a poller for each polling detection signal; it runs until `stop`.
    fn start_pollers(
        &mut self,
        platform: &Platform,
        stop: &CancellationToken,
        inputs: &mut Inputs,
    ) -> Result<(), Stop> {
        let Some(tx) = inputs.polled_tx.take() else {
            return Ok(());
        };
        let signals = self
            .exp
            .spec
            .detection
            .as_ref()
            .map(|d| d.signals.clone())
            .unwrap_or_default();
        for signal in &signals {
            let (source, s) = match signal {
                crate::spec::DetectionSignal::AlertmanagerAlert(s) => (Source::Alertmanager, s),
                crate::spec::DetectionSignal::PrometheusAlert(s) => (Source::Prometheus, s),
                _ => continue,
            };
            let url = crate::spec::placeholders::expand(&s.url, platform.template())
                .map_err(|e| Stop::Aborted(format!("signal `{}`: {}", s.name, chain(&e))))?;
            let poller =
                Poller::new(&s.name, source, &url, s.matchers.clone(), s.interval.get())
                    .map_err(|e| Stop::Aborted(format!("signal `{}`: {}", s.name, chain(&e))))?;
            self.run_event(
                "alert-polling",
                format!("signal {} polls {url} every {}", s.name, s.interval),
            );
            // Pollers end with the probes; nothing waits for them.
            tokio::spawn(poller.run(tx.clone(), stop.child_token()));
        }
        Ok(())
    }

    fn run_event(&mut self, kind: &str, detail: String) {
        self.run_event_with(kind, json!({ "detail": detail }), detail);
    }

    fn run_event_with(&mut self, kind: &str, data: serde_json::Value, detail: String) {
        let now = Instant::now();
        self.journal.record(kind, data, false);
        self.run_events.push(Event {
            at: self.clock.rfc3339(now),
            offset_ms: self.clock.offset_ms(now),
            kind: kind.to_owned(),
            detail,
        });
    }

    /// One iteration. Returns its result, its measurements, and why the run must stop.
    async fn iteration(
        &mut self,
        n: u32,
        platform: &Platform,
        ctx: &FaultContext,
        inputs: &mut Inputs,
    ) -> (IterationResult, IterationState, Option<Stop>) {
        let spec = self.exp.spec.clone();
        let start = Instant::now();
        let mut it = Iteration {
            n,
            state: IterationState::new(&spec, start),
            events: Vec::new(),
            faults: Vec::new(),
            fault_evidence: Vec::new(),
            alert_seq: None,
            status: "passed",
            pending_pods: BTreeSet::new(),
            pod_recovery: Vec::new(),
            event_watches: None,
            detection_event: None,
            phase: tracing::Span::none(),
        };
        let of = self.iterations;
        self.enter_phase(&mut it, "baseline");
        self.progress.progress(&Progress::Phase {
            iteration: n,
            of,
            phase: "baseline",
        });
        self.event(
            &mut it,
            "baseline-started",
            json!({}),
            format!("iteration {n}"),
        );

        // Baseline: its duration, and at least one observation of every probe (a probe
        // slower than the baseline still gets its say).
        let baseline_end = start + spec.steady_state.baseline.get();
        let mut baseline_elapsed = false;
        loop {
            if baseline_elapsed && it.state.baseline_observed() {
                break;
            }
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return self.finish(it, Some(Stop::Interrupted)),
                () = tokio::time::sleep_until(self.run_deadline) => {
                    return self.finish(it, Some(Stop::Aborted("the run's safety timeout passed".into())));
                }
                () = sleep_until_opt((!baseline_elapsed).then_some(baseline_end)) => baseline_elapsed = true,
                Some(joined) = inputs.probe_tasks.join_next() => {
                    return self.finish(it, Some(probe_task_ended(joined)));
                }
                Some(obs) = inputs.observations.recv() => {
                    self.observed(&it, &obs);
                    it.state.observe(&obs);
                }
                Some(ev) = inputs.platform.recv() => self.platform_event(&mut it, &ev),
                Some(alert) = recv_alert(&mut inputs.alerts) => self.alert(&mut it, alert),
                Some(alert) = inputs.polled.recv() => self.polled_alert(&mut it, alert),
            }
        }
        let failures = it.state.baseline_failures(&spec);
        if !failures.is_empty() {
            it.status = "baseline_failed";
            self.event(
                &mut it,
                "baseline-failed",
                json!({"failures": failures}),
                failures.join("; "),
            );
            return self.finish(it, None);
        }
        self.event(
            &mut it,
            "baseline-held",
            json!({}),
            "steady state held".into(),
        );

        // Fault schedule: every inject and revert at its offset from the phase start.
        let mut faults: Vec<Option<Arc<dyn Fault>>> = Vec::new();
        for f in &spec.faults {
            match (self.build_fault)(f, platform, ctx) {
                Ok(built) => faults.push(Some(built)),
                Err(e) => return self.finish(it, Some(Stop::Aborted(chain(&e)))),
            }
        }
        let mut schedule: Vec<(Duration, usize, bool)> = spec
            .faults
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                [
                    (f.at().get(), i, true),
                    (f.at().get() + f.duration().get(), i, false),
                ]
            })
            .collect();
        // Injections before reverts at the same offset, then in document order.
        schedule.sort_by_key(|(at, i, inject)| (*at, !*inject, *i));
        let mut schedule = schedule.into_iter().peekable();
        let phase_start = Instant::now();
        self.enter_phase(&mut it, "fault");
        self.progress.progress(&Progress::Phase {
            iteration: n,
            of,
            phase: "fault",
        });
        let mut recovery_deadline: Option<Instant> = None;
        // Pods removed by the faults are waited for up to the recovery timeout, so that
        // their figures belong to this iteration.
        let mut pods_deadline: Option<Instant> = None;
        // A deadline that has passed stays ready: arm each one once, or the biased select
        // below would take it again and again and never reach the observations.
        let mut detection_deadline_seen: Option<Instant> = None;
        loop {
            let next_action = schedule.peek().map(|(at, _, _)| phase_start + *at);
            let detection_deadline = it
                .state
                .injected
                .and_then(|t| it.state.detection.deadline(t))
                .filter(|d| Some(*d) != detection_deadline_seen);
            // Each canary leaves the wait once its deadline is taken, so this one is
            // never offered twice.
            let canary_deadline = it.state.detection.canary_deadline();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return self.finish(it, Some(Stop::Interrupted)),
                () = tokio::time::sleep_until(self.run_deadline) => {
                    return self.finish(it, Some(Stop::Aborted("the run's safety timeout passed".into())));
                }
                () = sleep_until_opt(next_action) => {
                    let Some((_, i, inject)) = schedule.next() else { continue };
                    let Some(f) = faults[i].clone() else { continue };
                    if inject {
                        let span = tracing::info_span!(
                            parent: &it.phase,
                            "fault",
                            experiment.name = %self.exp.metadata.name,
                            run.id = %self.run_id,
                            iteration = n,
                            fault.name = %spec.faults[i].name(),
                            "fault.type" = spec.faults[i].type_name(),
                            error = tracing::field::Empty,
                        );
                        let injected = self.inject(&mut it, &spec, i, f, platform).instrument(span).await;
                        if let Err(stop) = injected {
                            return self.finish(it, Some(stop));
                        }
                    } else {
                        faults[i] = None;
                        let phase = it.phase.clone();
                        self.revert(&mut it, spec.faults[i].name(), &f).instrument(phase).await;
                    }
                    if schedule.peek().is_none() {
                        let now = Instant::now();
                        it.state.fault_ended = Some(now);
                        recovery_deadline = Some(now + spec.recovery.timeout.get());
                        pods_deadline = recovery_deadline;
                        self.enter_phase(&mut it, "recovery");
                        self.progress.progress(&Progress::Phase { iteration: n, of, phase: "recovery" });
                        self.event(&mut it, "recovery-started", json!({}), "all faults reverted".into());
                        it.state.recovery.check(now, it.state.fault_ended);
                    }
                }
                () = sleep_until_opt(detection_deadline) => {
                    // Timed out; `resolved` now reports it and the loop may end.
                    detection_deadline_seen = detection_deadline;
                }
                () = sleep_until_opt(canary_deadline) => {
                    self.note_missed_canaries(&mut it, Instant::now());
                }
                () = sleep_until_opt(recovery_deadline.filter(|_| it.state.recovery.recovered.is_none())) => {
                    self.event(&mut it, "not-recovered", json!({"timeout": spec.recovery.timeout.to_string()}),
                        format!("steady state did not hold for {} within {}", spec.recovery.stable_for, spec.recovery.timeout));
                    recovery_deadline = None;
                }
                () = sleep_until_opt(pods_deadline.filter(|_| !it.pending_pods.is_empty())) => {
                    let pods: Vec<String> = it.pending_pods.iter().cloned().collect();
                    self.event(&mut it, "pods-not-recovered", json!({"pods": pods}),
                        format!("{} not replaced by a Ready pod within {}", pods.join(", "), spec.recovery.timeout));
                    pods_deadline = None;
                }
                Some(joined) = inputs.probe_tasks.join_next() => {
                    return self.finish(it, Some(probe_task_ended(joined)));
                }
                Some(obs) = inputs.observations.recv() => {
                    self.observed(&it, &obs);
                    let before_detect = it.state.detection.detected.is_some();
                    let before_recover = it.state.recovery.recovered.is_some();
                    if let Some(reason) = it.state.observe(&obs) {
                        self.event(&mut it, "abort-condition", json!({"reason": reason}), reason.clone());
                        return self.finish(it, Some(Stop::Aborted(reason)));
                    }
                    self.note_progress(&mut it, before_detect, before_recover);
                }
                Some(ev) = inputs.platform.recv() => self.platform_event(&mut it, &ev),
                Some(alert) = recv_alert(&mut inputs.alerts) => {
                    let before = it.state.detection.detected.is_some();
                    self.alert(&mut it, alert);
                    let recovered = it.state.recovery.recovered.is_some();
                    self.note_progress(&mut it, before, recovered);
                }
                Some(alert) = inputs.polled.recv() => {
                    let before = it.state.detection.detected.is_some();
                    self.polled_alert(&mut it, alert);
                    let recovered = it.state.recovery.recovered.is_some();
                    self.note_progress(&mut it, before, recovered);
                }
            }
            let now = Instant::now();
            let done = it.state.fault_ended.is_some()
                && (it.state.recovery.recovered.is_some() || recovery_deadline.is_none())
                && (it.pending_pods.is_empty() || pods_deadline.is_none())
                && it
                    .state
                    .injected
                    .is_none_or(|inj| it.state.detection.resolved(inj, now));
            if done {
                break;
            }
        }
        if let Some(inj) = it.state.injected
            && it.state.detection.detected.is_none()
            && it.state.detection.deadline(inj).is_some()
        {
            self.event(
                &mut it,
                "not-detected",
                json!({}),
                "no detection signal fired before the timeout".into(),
            );
        }
        if it.state.recovery.recovered.is_none() {
            it.status = "failed";
        }

        // Cool down between iterations: observations are drained, not recorded.
        if n < self.iterations && !spec.cooldown.is_zero() {
            self.enter_phase(&mut it, "cooldown");
            self.progress.progress(&Progress::Phase {
                iteration: n,
                of,
                phase: "cooldown",
            });
            let until = Instant::now() + spec.cooldown.get();
            loop {
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => return self.finish(it, Some(Stop::Interrupted)),
                    () = tokio::time::sleep_until(until) => break,
                    Some(_) = inputs.observations.recv() => {}
                    Some(ev) = inputs.platform.recv() => self.platform_event(&mut it, &ev),
                    Some(_) = recv_alert(&mut inputs.alerts) => {}
                    Some(_) = inputs.polled.recv() => {}
                }
            }
        }
        self.finish(it, None)
    }

    async fn inject(
        &mut self,
        it: &mut Iteration,
        spec: &crate::spec::Spec,
        i: usize,
        f: Arc<dyn Fault>,
        platform: &Platform,
    ) -> Result<(), Stop> {
        let fspec = &spec.faults[i];
        let intent = match f.plan().await {
            Ok(intent) => intent,
            Err(e) => {
                let msg = chain(&e);
                self.event(
                    it,
                    "fault-refused",
                    json!({"fault": fspec.name(), "error": msg}),
                    msg.clone(),
                );
                return Err(Stop::Aborted(msg));
            }
        };
        // Blast radius: what active faults already hold plus what this one would take.
        if let Some(sel) = fspec.selector() {
            let total = match intent.pool {
                Some(pool) => pool,
                None => platform.workload_size(sel.workload()).await.unwrap_or(0),
            };
            let held: usize = self.rollback.affected(sel.workload());
            let limit = (total as f64 * spec.safety.max_affected_percent / 100.0).floor() as usize;
            if held + intent.targets.len() > limit.max(1).min(total) {
                let _ = f.revert().await;
                let reason = format!(
                    "fault `{}` would affect {} of {} replicas of `{}` with {} already affected, above safety.maxAffectedPercent {}%",
                    fspec.name(),
                    intent.targets.len(),
                    total,
                    sel.workload(),
                    held,
                    spec.safety.max_affected_percent
                );
                return Err(Stop::Aborted(reason));
            }
        }
        // Listed before the first change, so that only events that come after it count.
        if let Err(reason) = self.watch_warnings(it, platform).await {
            let _ = f.revert().await;
            return Err(Stop::Aborted(reason));
        }
        // Written (and synced) before the change, so a crashed run can be rolled back.
        let (intent_seq, _) = self.journal.record_with_seq(
            "fault-intent",
            serde_json::to_value(&intent).unwrap_or_default(),
            true,
        );
        self.rollback
            .push(fspec.name(), fspec.type_name(), f.clone());
        if let (
            Platform::Kubernetes(k, _),
            crate::spec::FaultSpec::PodDelete(_) | crate::spec::FaultSpec::PodEvict(_),
        ) = (platform, fspec)
            && let Some(w) = fspec.kubernetes_workload()
        {
            // Started before the change so that it sees every pod go and come.
            let limit = fspec.duration().get()
                + spec.recovery.timeout.get()
                + spec
                    .detection
                    .as_ref()
                    .map_or(Duration::ZERO, |d| d.timeout.get());
            match k.track(w, intent.targets.clone(), limit).await {
                Ok(()) => {
                    // A bare pod has no controller to replace it: nothing to wait for.
                    if k.cluster()
                        .workload(w)
                        .is_some_and(|w| w.kind != crate::spec::WorkloadKind::Pod)
                    {
                        it.pending_pods.extend(intent.targets.iter().cloned());
                    }
                }
                Err(e) => {
                    let msg = chain(&e);
                    self.event(
                        it,
                        "tracking-unavailable",
                        json!({"fault": fspec.name(), "error": msg}),
                        format!("per-pod recovery is not measured: {msg}"),
                    );
                }
            }
        }
        // A canary's action begins inside `inject`; an alert may answer it before the call
        // returns, so its time to detect counts from here.
        let began = Instant::now();
        // An injection may take long (a canary's burst of requests, an API that is slow to
        // answer): a stop or the run's deadline cuts it short. The fault is registered for
        // rollback already, so whatever it changed is reverted.
        let injected = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(Stop::Interrupted),
            () = tokio::time::sleep_until(self.run_deadline) => {
                return Err(Stop::Aborted(format!(
                    "the run's safety timeout passed while `{}` was being injected",
                    fspec.name()
                )));
            }
            injected = f.inject() => injected,
        };
        let now = Instant::now();
        let mut record = FaultRecord {
            name: fspec.name().to_owned(),
            fault_type: fspec.type_name().to_owned(),
            targets: intent.targets.clone(),
            injected_at: None,
            reverted_at: None,
            error: None,
            security: None,
            detected_at: None,
            detected_by: None,
            time_to_detect_ms: None,
        };
        match injected {
            Ok(()) => {
                run_metrics().injected(&self.exp.metadata.name, fspec.type_name());
                it.state.mark_injected(now);
                record.injected_at = Some(self.clock.rfc3339(now));
                let injected_seq = self.event(
                    it,
                    "fault-injected",
                    json!({"fault": fspec.name(), "type": fspec.type_name(), "targets": intent.targets, "changes": intent.changes}),
                    format!("{} ({}) on {}", fspec.name(), fspec.type_name(), intent.targets.join(", ")),
                );
                self.progress.progress(&Progress::Injected {
                    fault: fspec.name().to_owned(),
                    targets: intent.targets,
                });
                let mut evidence = vec![intent_seq, injected_seq];
                if let Some(outcome) = f.security() {
                    evidence.push(self.security_event(it, fspec.name(), &outcome));
                    match &outcome {
                        SecurityOutcome::Canary(_) => {
                            it.state.detection.add_canary(
                                it.faults.len(),
                                fspec.name(),
                                fspec.canary_signals().unwrap_or_default(),
                                began,
                            );
                        }
                        // A finding: policy let through what it must refuse.
                        SecurityOutcome::Prevention(p) if !p.refused => it.status = "failed",
                        SecurityOutcome::Prevention(_) => {}
                    }
                    record.security = Some(outcome);
                }
                it.faults.push(record);
                it.fault_evidence.push(evidence);
                Ok(())
            }
            Err(e) => {
                let msg = chain(&e);
                tracing::Span::current().record("error", msg.as_str());
                record.error = Some(msg.clone());
                it.faults.push(record);
                it.fault_evidence.push(vec![intent_seq]);
                self.event(
                    it,
                    "fault-injection-failed",
                    json!({"fault": fspec.name(), "error": msg}),
                    msg.clone(),
                );
                Err(Stop::Aborted(msg))
            }
        }
    }

    /// Journals what a canary did or what a prevention check met: a refusal is the
    /// evidence that policy holds, an acceptance is a finding.
    fn security_event(
        &mut self,
        it: &mut Iteration,
        fault: &str,
        outcome: &crate::fault::security::SecurityOutcome,
    ) -> u64 {
        let (kind, detail) = match outcome {
            SecurityOutcome::Canary(c) => (
                "canary-performed",
                format!("{fault}: {}", c.actions.join("; ")),
            ),
            SecurityOutcome::Prevention(p) if p.refused => (
                "prevention-refused",
                format!(
                    "{fault}: {} was refused ({}): {}",
                    p.action,
                    p.status
                        .map_or_else(|| "no status".to_owned(), |s| s.to_string()),
                    p.message
                ),
            ),
            SecurityOutcome::Prevention(p) => (
                "prevention-accepted",
                format!(
                    "{fault}: {} was ACCEPTED ({}); undone at once: {}",
                    p.action,
                    p.status
                        .map_or_else(|| "no status".to_owned(), |s| s.to_string()),
                    p.undone.join("; ")
                ),
            ),
        };
        let mut data = serde_json::to_value(outcome).unwrap_or_default();
        if let Some(obj) = data.as_object_mut() {
            obj.insert("fault".into(), json!(fault));
        }
        self.event(it, kind, data, detail)
    }

    async fn revert(&mut self, it: &mut Iteration, name: &str, f: &Arc<dyn Fault>) {
        let result = self.rollback.revert_one(name, f, &self.journal).await;
        let now = Instant::now();
        if let Some(rec) = it.faults.iter_mut().rev().find(|r| r.name == name) {
            rec.reverted_at = Some(self.clock.rfc3339(now));
            if let Err(e) = &result {
                rec.error = Some(e.clone());
            }
        }
        // The rollback registry has journaled the revert; the iteration keeps it too.
        let (kind, detail) = match &result {
            Ok(done) => ("fault-reverted", format!("{name}: {}", done.join("; "))),
            Err(e) => ("fault-revert-failed", format!("{name}: {e}")),
        };
        it.events.push(Event {
            at: self.clock.rfc3339(now),
            offset_ms: self.clock.offset_ms(now),
            kind: kind.to_owned(),
            detail,
        });
        if result.is_ok() {
            self.progress.progress(&Progress::Reverted {
                fault: name.to_owned(),
            });
        }
    }

    fn note_progress(&mut self, it: &mut Iteration, was_detected: bool, was_recovered: bool) {
        self.note_canaries(it);
        let Some(inj) = it.state.injected else { return };
        if !was_detected && let Some((at, by)) = it.state.detection.detected.clone() {
            let after = at.saturating_duration_since(inj);
            self.progress.progress(&Progress::Detected {
                iteration: it.n,
                after,
                by: by.clone(),
            });
            let seq = self.event_at(
                it,
                at,
                "detected",
                json!({"signal": by, "timeToDetectMs": ms(after)}),
                format!("by {by} after {}", fmt_ms(after)),
            );
            self.on_detection(it, at, &by, seq);
        }
        if !was_recovered && let Some(at) = it.state.recovery.recovered {
            let after = at.saturating_duration_since(inj);
            self.progress.progress(&Progress::Recovered {
                iteration: it.n,
                after,
            });
            self.event_at(
                it,
                at,
                "recovered",
                json!({"timeToRecoverMs": ms(after)}),
                format!(
                    "steady state holds again since {} after injection",
                    fmt_ms(after)
                ),
            );
        }
    }

    /// Journals each canary a signal has noticed since the last call.
    fn note_canaries(&mut self, it: &mut Iteration) {
        for c in it.state.detection.take_noticed() {
            let Some((at, by)) = c.noticed else { continue };
            let after = at.saturating_duration_since(c.started);
            self.event_at(
                it,
                at,
                "canary-detected",
                json!({"fault": c.name, "signal": by, "timeToDetectMs": ms(after)}),
                format!("canary {} noticed by {by} after {}", c.name, fmt_ms(after)),
            );
        }
    }

    /// Journals each canary whose wait ended at `now` with no signal that counts for it.
    fn note_missed_canaries(&mut self, it: &mut Iteration, now: Instant) {
        for c in it.state.detection.take_missed(now) {
            let waited = c.deadline.saturating_duration_since(c.started);
            let signals = if c.signals.is_empty() {
                "any detection signal".to_owned()
            } else {
                c.signals.join(", ")
            };
            self.event_at(
                it,
                c.deadline,
                "canary-missed",
                json!({"fault": c.name, "signals": c.signals, "waitedMs": ms(waited)}),
                format!(
                    "canary {} not noticed by {signals} within {}",
                    c.name,
                    fmt_ms(waited)
                ),
            );
        }
    }

    fn platform_event(&mut self, it: &mut Iteration, ev: &PlatformEvent) {
        match ev {
            PlatformEvent::KubernetesWarning(e) => return self.warning_event(it, e),
            PlatformEvent::PodRecovered(r) if it.pending_pods.remove(&r.pod) => {
                it.pod_recovery.push((**r).clone());
            }
            _ => {}
        }
        let (data, detail) = describe_platform_event(ev);
        self.event(it, ev.kind(), data, detail);
    }

    /// A Warning event a kubernetes-event signal counts: recorded, and the detection if it
    /// is the first signal to fire.
    fn warning_event(
        &mut self,
        it: &mut Iteration,
        e: &crate::detection::kubernetes::WarningEvent,
    ) {
        let (Some(inj), Some((started, _))) = (it.state.injected, &it.event_watches) else {
            return;
        };
        let observed = e.observed.unwrap_or_else(Instant::now);
        // Left over from an earlier iteration's watch.
        if observed < *started {
            return;
        }
        // Seen while the injection call was still running: the fault had begun.
        let at = observed.max(inj);
        let mut e = e.clone();
        e.time_to_detect_ms = Some(at.saturating_duration_since(inj).as_millis() as u64);
        e.server_time_to_detect_ms = e.event_wall.map(|w| {
            let injected = self.clock.wall(inj);
            match w.duration_since(injected) {
                Ok(d) => d.as_millis() as i64,
                Err(before) => -(before.duration().as_millis() as i64),
            }
        });
        let before = it.state.detection.detected.is_some();
        let recovered = it.state.recovery.recovered.is_some();
        let seq = self.event(
            it,
            "kubernetes-event",
            serde_json::to_value(&e).unwrap_or_default(),
            format!(
                "Warning {} on {}: {} (signal {}; event time {}, observed {})",
                e.reason,
                e.object,
                e.message,
                e.signal,
                e.event_time.as_deref().unwrap_or("unknown"),
                e.observed_at
            ),
        );
        // A canary counts the event from when it was observed, even while the injection
        // call that performed it was still running.
        it.state.detection.fire_canaries(observed, &e.signal);
        if it.state.detection.detect(at, inj, &e.signal) {
            it.alert_seq = Some(seq);
            it.detection_event = Some(e);
        }
        self.note_progress(it, before, recovered);
    }

    /// Starts the watches of the kubernetes-event signals, once per iteration, before its
    /// first change; the reason to abort when one cannot start.
    async fn watch_warnings(
        &mut self,
        it: &mut Iteration,
        platform: &Platform,
    ) -> Result<(), String> {
        if it.event_watches.is_some() {
            return Ok(());
        }
        let mut tokens = Vec::new();
        let started = Instant::now();
        if let Platform::Kubernetes(k, _) = platform {
            let signals: Vec<crate::spec::KubernetesEventSignal> = self
                .exp
                .spec
                .detection
                .iter()
                .flat_map(|d| &d.signals)
                .filter_map(|s| match s {
                    crate::spec::DetectionSignal::KubernetesEvent(k) => Some(k.clone()),
                    _ => None,
                })
                .collect();
            for signal in &signals {
                match crate::detection::kubernetes::watch_warnings(k, signal).await {
                    Ok(token) => tokens.push(token),
                    Err(e) => {
                        tokens.iter().for_each(CancellationToken::cancel);
                        let msg = format!(
                            "the event watch of signal `{}` did not start, nothing was changed: {}",
                            signal.name,
                            chain(&e)
                        );
                        self.event(
                            it,
                            "detection-unavailable",
                            json!({"signal": signal.name, "error": msg}),
                            msg.clone(),
                        );
                        return Err(msg);
                    }
                }
            }
        }
        it.event_watches = Some((started, tokens));
        Ok(())
    }

    fn alert(&mut self, it: &mut Iteration, alert: ReceivedAlert) {
        let Some(inj) = it.state.injected else { return };
        if alert.received_at < watch_from(it, inj) || alert.status != AlertStatus::Firing {
            return;
        }
        let all_matched: Vec<String> = it
            .state
            .detection
            .webhook_signals()
            .filter(|s| crate::detection::webhook::matches(&alert.labels, &s.matchers))
            .map(|s| s.name.clone())
            .collect();
        let matched = all_matched.first().cloned();
        let seq = self.event(
            it,
            "alert-received",
            // `at` is when the engine took the alert in; `receivedAt` when it arrived, the
            // instant detection is timed from.
            json!({
                "labels": alert.labels,
                "matched": matched,
                "receivedAt": self.clock.rfc3339(alert.received_at),
            }),
            format!(
                "alert {}{}",
                alert
                    .labels
                    .get("alertname")
                    .map_or("(no alertname)", String::as_str),
                matched
                    .as_ref()
                    .map_or(String::new(), |name| format!(" matched {name}"))
            ),
        );
        if let Some(signal) = matched {
            let before = it.state.detection.detected.is_some();
            it.state.detection.fire(alert.received_at, inj, &signal);
            if !before && it.state.detection.detected.is_some() {
                it.alert_seq = Some(seq);
            }
        }
        // The iteration counts the first signal that matches; a canary counts any of its
        // own that do.
        for name in all_matched.iter().skip(1) {
            it.state.detection.fire_canaries(alert.received_at, name);
        }
    }

    /// Starts the span of a phase (closing the previous one); the probes' requests belong
    /// to it from now on.
    fn enter_phase(&self, it: &mut Iteration, name: &'static str) {
        it.phase = tracing::info_span!(
            "phase",
            experiment.name = %self.exp.metadata.name,
            run.id = %self.run_id,
            iteration = it.n,
            phase = name,
        );
        self.trace.enter_phase(&it.phase);
    }

    /// Records an observation's latency in the exported metrics, by the phase it fell in.
    fn observed(&self, it: &Iteration, obs: &Observation) {
        let Some(phase) = it.state.phase_of(obs.started, obs.finished) else {
            return;
        };
        let probe = self.exp.spec.steady_state.probes[obs.probe].name();
        run_metrics().observed(
            &self.exp.metadata.name,
            probe,
            phase.as_str(),
            obs.latency(),
            obs.outcome.ok,
        );
    }

    /// An alert a polling signal saw start firing; after the injection it detects the fault.
    fn polled_alert(&mut self, it: &mut Iteration, alert: PolledAlert) {
        let Some(inj) = it.state.injected else { return };
        if alert.at < watch_from(it, inj) {
            return;
        }
        let seq = self.event_at(
            it,
            alert.at,
            "alert-seen",
            json!({"signal": alert.signal, "labels": alert.labels}),
            format!(
                "alert {} firing, seen by {}",
                alert
                    .labels
                    .get("alertname")
                    .map_or("(no alertname)", String::as_str),
                alert.signal
            ),
        );
        let before = it.state.detection.detected.is_some();
        it.state.detection.fire(alert.at, inj, &alert.signal);
        if !before && it.state.detection.detected.is_some() {
            it.alert_seq = Some(seq);
        }
    }

    /// Journals an event of the iteration and returns its record's `seq`.
    fn event(
        &mut self,
        it: &mut Iteration,
        kind: &str,
        data: serde_json::Value,
        detail: String,
    ) -> u64 {
        self.event_at(it, Instant::now(), kind, data, detail)
    }

    fn event_at(
        &mut self,
        it: &mut Iteration,
        at: Instant,
        kind: &str,
        mut data: serde_json::Value,
        detail: String,
    ) -> u64 {
        if let Some(obj) = data.as_object_mut() {
            obj.insert("iteration".into(), json!(it.n));
            obj.insert("at".into(), json!(self.clock.rfc3339(at)));
        }
        let (seq, _) = self.journal.record_with_seq(kind, data, false);
        it.events.push(Event {
            at: self.clock.rfc3339(at),
            offset_ms: self.clock.offset_ms(at),
            kind: kind.to_owned(),
            detail,
        });
        seq
    }

    fn finish(
        &mut self,
        mut it: Iteration,
        stop: Option<Stop>,
    ) -> (IterationResult, IterationState, Option<Stop>) {
        self.trace.leave();
        match &stop {
            Some(Stop::Interrupted) => it.status = "interrupted",
            Some(Stop::Aborted(_)) => it.status = "aborted",
            None => {}
        }
        if let Some((_, tokens)) = &it.event_watches {
            tokens.iter().for_each(CancellationToken::cancel);
        }
        let mut pod_recovery = std::mem::take(&mut it.pod_recovery);
        // Removed and not replaced (or not Ready) by the end of the iteration.
        pod_recovery.extend(std::mem::take(&mut it.pending_pods).into_iter().map(|pod| {
            crate::platform::kubernetes::PodRecovery {
                pod,
                ..Default::default()
            }
        }));
        for c in it.state.detection.canaries() {
            let Some(record) = it.faults.get_mut(c.record) else {
                continue;
            };
            let noticed = c.noticed.as_ref();
            record.detected_at = Some(noticed.map(|(at, _)| self.clock.rfc3339(*at)));
            record.detected_by = Some(noticed.map(|(_, by)| by.clone()));
            record.time_to_detect_ms =
                Some(noticed.map(|(at, _)| ms(at.saturating_duration_since(c.started))));
        }
        let st = &it.state;
        let inj = st.injected;
        let detected = st.detection.detected.clone();
        let recovered = st.recovery.recovered;
        let result = IterationResult {
            index: it.n,
            status: it.status.to_owned(),
            started_at: self.clock.rfc3339(st.started),
            injected_at: inj.map(|t| self.clock.rfc3339(t)),
            detected_at: detected.as_ref().map(|(t, _)| self.clock.rfc3339(*t)),
            detected_by: detected.as_ref().map(|(_, s)| s.clone()),
            recovered_at: recovered.map(|t| self.clock.rfc3339(t)),
            time_to_detect_ms: inj
                .zip(detected.as_ref())
                .map(|(i, (d, _))| ms(d.saturating_duration_since(i))),
            time_to_recover_ms: inj
                .zip(recovered)
                .map(|(i, r)| ms(r.saturating_duration_since(i))),
            outage_ms: ms(if recovered.is_some() {
                st.recovery.outage
            } else {
                st.recovery.outage_until(Instant::now())
            }),
            availability: st.recovery.availability(),
            faults: std::mem::take(&mut it.faults),
            probes: self.probe_summaries(&st.recorders),
            events: std::mem::take(&mut it.events),
            pod_recovery,
            detection_event: it.detection_event.take(),
            span_id: None,
        };
        (result, it.state, stop)
    }
}

struct Iteration {
    n: u32,
    state: IterationState,
    events: Vec<Event>,
    faults: Vec<FaultRecord>,
    /// For each entry of `faults`, its `fault-intent` and `fault-injected` records.
    fault_evidence: Vec<Vec<u64>>,
    /// The `alert-received` record of the alert that detected the fault, if one did.
    alert_seq: Option<u64>,
    status: &'static str,
    /// Pods removed by a fault whose replacement is not yet Ready, `namespace/name`.
    pending_pods: BTreeSet<String>,
    /// The recovery of each removed pod, as reported.
    pod_recovery: Vec<crate::platform::kubernetes::PodRecovery>,
    /// The watches of the kubernetes-event signals, once started, and when.
    event_watches: Option<(Instant, Vec<CancellationToken>)>,
    /// The Warning event that detected the fault.
    detection_event: Option<crate::detection::kubernetes::WarningEvent>,
    /// The span of the current phase: faults and reverts are its children.
    phase: tracing::Span,
}

/// The prevention checks of an iteration that policy let through, in one sentence; none
/// when every check was refused.
fn prevention_finding(result: &IterationResult) -> Option<String> {
    let accepted: Vec<String> = result
        .faults
        .iter()
        .filter_map(|f| {
            let p = f.prevention().filter(|p| !p.refused)?;
            let undone = if p.undone.is_empty() {
                String::new()
            } else {
                format!("; undone at once ({})", p.undone.join(", "))
            };
            Some(format!(
                "prevention check `{}` was accepted: {}{undone}",
                f.name, p.action
            ))
        })
        .collect();
    (!accepted.is_empty()).then(|| accepted.join("; and "))
}

/// From when a signal can count: the first injection, or the start of a canary's action
/// when that came first (an alert may answer a canary before its `inject` returns).
fn watch_from(it: &Iteration, injected: Instant) -> Instant {
    it.state
        .detection
        .first_canary()
        .map_or(injected, |c| c.min(injected))
}

fn completed_count(iterations: &[IterationResult]) -> u32 {
    iterations
        .iter()
        .filter(|i| i.status == "passed" || i.status == "failed")
        .count() as u32
}

fn options_log_dir(opts: &RunOptions) -> Option<PathBuf> {
    opts.out_dir.as_ref().map(|d| d.join("logs"))
}

fn probe_task_ended(joined: Result<(), tokio::task::JoinError>) -> Stop {
    match joined {
        Err(e) if e.is_panic() => Stop::Aborted("a probe task panicked".into()),
        _ => Stop::Aborted("a probe task ended unexpectedly".into()),
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn recv_alert(rx: &mut Option<broadcast::Receiver<ReceivedAlert>>) -> Option<ReceivedAlert> {
    let Some(r) = rx.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match r.recv().await {
            Ok(a) => return Some(a),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                *rx = None;
                return std::future::pending().await;
            }
        }
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

fn describe_platform_event(ev: &PlatformEvent) -> (serde_json::Value, String) {
    match ev {
        PlatformEvent::ReplicaStarted { replica, pid } => (
            json!({"replica": replica, "pid": pid, "pgid": pid}),
            format!("{replica} started as pid {pid}"),
        ),
        PlatformEvent::ReplicaFailedToStart { replica, error } => (
            json!({"replica": replica, "error": error}),
            format!("{replica} failed to start: {error}"),
        ),
        PlatformEvent::ReplicaExited {
            replica,
            pid,
            status,
        } => (
            json!({"replica": replica, "pid": pid, "status": status}),
            format!("{replica} (pid {pid}) {status}"),
        ),
        PlatformEvent::ReplicaReady { replica } => {
            (json!({"replica": replica}), format!("{replica} ready"))
        }
        PlatformEvent::ReplicaUnready { replica } => {
            (json!({"replica": replica}), format!("{replica} not ready"))
        }
        PlatformEvent::PodRecovered(r) => {
            let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| format!("{v}ms"));
            let server = |v: Option<i64>| v.map_or("?".to_owned(), |v| format!("{v}ms"));
            (
                serde_json::to_value(r).unwrap_or_default(),
                format!(
                    "{} replaced by {}: rescheduled in {} (API server {}), ready in {} (API server {})",
                    r.pod,
                    r.replacement.as_deref().unwrap_or("?"),
                    opt(r.reschedule_ms),
                    server(r.server_reschedule_ms),
                    opt(r.ready_ms),
                    server(r.server_ready_ms)
                ),
            )
        }
        PlatformEvent::ContainerRestarted(r) => {
            let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| format!("{v}ms"));
            (
                serde_json::to_value(r).unwrap_or_default(),
                format!(
                    "container {} of {} restarted (restartCount {} → {}) in {} (runtime {}), ready in {}",
                    r.container,
                    r.pod,
                    r.restart_count_before,
                    r.restart_count,
                    opt(r.restart_ms),
                    r.server_restart_ms
                        .map_or("?".to_owned(), |v| format!("{v}ms")),
                    opt(r.ready_ms)
                ),
            )
        }
        PlatformEvent::KubernetesWarning(e) => (
            serde_json::to_value(e).unwrap_or_default(),
            format!("Warning {} on {}: {}", e.reason, e.object, e.message),
        ),
    }
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.0}ms", d.as_secs_f64() * 1e3)
}
