//! The run's side of the people's decisions: the desk the listener serves, the chat
//! messages that tell a role a decision waits, the observations people see, the wait for
//! their answers after the last iteration, and the judgement of each answer in hindsight.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::stop::{Guard, Stop};
use super::{Progress, ProgressSink};
use crate::detection::webhook::WebhookServer;
use crate::error::chain;
use crate::journal::Journal;
use crate::notification::Deliverer;
use crate::response::{ChatMessage, Desk, GivenAnswer, Observed, Outcome, judge};
use crate::result::{
    ApprovalResult, ChatPostResult, DecisionResult, IterationResult, ResponseResult,
    ResponseRoleResult,
};
use crate::spec::{ChatFormat, Reach, Response, Spec};
use crate::time::{Clock, ms};

/// How often an automated runbook looks at the situation.
const RUNBOOK_TICK: Duration = Duration::from_millis(100);

/// A role's chat: its format and client, or why it cannot be posted to.
struct Chat {
    format: ChatFormat,
    deliverer: Result<Deliverer, String>,
}

/// What the chat task shares with the run: the links and the outcome of each post.
#[derive(Default)]
struct Chats {
    by_role: BTreeMap<String, Chat>,
    links: BTreeMap<String, String>,
    posted: Mutex<BTreeMap<String, Vec<ChatPostResult>>>,
}

/// What submits an approved draft: the exercise inbox, where the drafts are, and the
/// outcome of each submission.
struct Submit {
    deliverer: Option<Result<Deliverer, String>>,
    out_dir: Option<PathBuf>,
    /// The iteration of awareness (0 before it): its drafts are the ones approved.
    iteration: Arc<AtomicU32>,
    approvals: Vec<crate::spec::ApprovalSpec>,
    clock: Clock,
    done: Mutex<BTreeMap<String, crate::result::DeliveryResult>>,
    /// The mandatory flags each approved report leaves unknown, by report.
    flags_missing: Mutex<BTreeMap<String, Vec<String>>>,
    /// What drafts a report whose clock runs from an approved one.
    drafting: Arc<Drafting>,
}

/// What the reports drafted after awareness are written from: the notification's spec,
/// the incident as known at awareness, and what the run has observed since.
struct Drafting {
    notification: Option<crate::spec::Notification>,
    incident: Mutex<Option<crate::notification::Incident>>,
    progress: Arc<dyn ProgressSink>,
    /// The drafts written after awareness, for result.json.
    written: Mutex<Vec<crate::result::NotificationResult>>,
}

/// The people's side of a run, when the experiment puts decisions to roles.
pub(super) struct Responder {
    spec: Option<Response>,
    desk: Option<Arc<Desk>>,
    journal: Arc<Journal>,
    clock: Clock,
    progress: Arc<dyn ProgressSink>,
    experiment: String,
    /// The roles' chats, until the listener gives their links.
    chat_setup: BTreeMap<String, Chat>,
    chats: Arc<Chats>,
    /// The iteration of awareness: its observations are what people see.
    awareness_iteration: Option<u32>,
    answers_reported: BTreeSet<String>,
    task: Option<(CancellationToken, JoinHandle<()>)>,
    submit: Arc<Submit>,
    out_dir: Option<PathBuf>,
}

impl Responder {
    /// The responder of `spec`; no desk when the experiment names no role.
    pub(super) fn new(
        spec: &Spec,
        experiment: &str,
        run_id: &str,
        out_dir: Option<PathBuf>,
        journal: Arc<Journal>,
        clock: Clock,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Self, String> {
        let response = spec.response.clone().filter(|r| !r.roles.is_empty());
        let entity_states = spec
            .notification
            .as_ref()
            .and_then(|n| n.entity.as_ref())
            .map(|e| e.member_states.clone())
            .unwrap_or_default();
        let desk = match &response {
            Some(r) => Some(Arc::new(
                Desk::new(
                    experiment,
                    run_id,
                    r,
                    &entity_states,
                    spec.notification.as_ref().is_some_and(|n| n.dora),
                    journal.clone(),
                    clock,
                )
                .map_err(|e| format!("cannot set up the roles' links: {}", chain(&e)))?,
            )),
            None => None,
        };
        Ok(Self {
            spec: response,
            desk,
            journal,
            clock,
            progress: progress.clone(),
            experiment: experiment.to_owned(),
            chat_setup: BTreeMap::new(),
            chats: Arc::new(Chats::default()),
            awareness_iteration: None,
            answers_reported: BTreeSet::new(),
            task: None,
            submit: Arc::new(Submit {
                deliverer: None,
                out_dir: out_dir.clone(),
                iteration: Arc::new(AtomicU32::new(0)),
                approvals: spec
                    .response
                    .as_ref()
                    .map(|r| r.approvals.clone())
                    .unwrap_or_default(),
                clock,
                done: Mutex::new(BTreeMap::new()),
                flags_missing: Mutex::new(BTreeMap::new()),
                drafting: Arc::new(Drafting {
                    notification: spec.notification.clone(),
                    incident: Mutex::new(None),
                    progress: progress.clone(),
                    written: Mutex::new(Vec::new()),
                }),
            }),
            out_dir,
        })
    }

    /// The desk the listener serves.
    pub(super) fn desk(&self) -> Option<Arc<Desk>> {
        self.desk.clone()
    }

    /// Prepares the roles' chats once the workloads' addresses are known (a webhook URL may
    /// name them); a chat that cannot be posted to is recorded, and the run goes on.
    pub(super) fn prepare_chats(
        &mut self,
        template: &crate::spec::placeholders::Context,
        notification: Option<&crate::spec::Notification>,
    ) {
        let Some(spec) = &self.spec else {
            return;
        };
        // The approved early warning goes where the notification's delivery goes.
        let deliverer = notification.and_then(|n| n.deliver.as_ref()).map(|d| {
            crate::spec::placeholders::expand(&d.url, template)
                .map_err(|e| chain(&e))
                .and_then(|url| Deliverer::new(&url, d.timeout.get()).map_err(|e| chain(&e)))
        });
        self.submit = Arc::new(Submit {
            deliverer,
            out_dir: self.out_dir.clone(),
            iteration: self.submit.iteration.clone(),
            approvals: spec.approvals.clone(),
            clock: self.clock,
            done: Mutex::new(BTreeMap::new()),
            flags_missing: Mutex::new(BTreeMap::new()),
            drafting: self.submit.drafting.clone(),
        });
        for role in &spec.roles {
            let Reach::Chat(chat) = &role.reach else {
                continue;
            };
            let deliverer = crate::spec::placeholders::expand(&chat.url, template)
                .map_err(|e| chain(&e))
                .and_then(|url| Deliverer::new(&url, chat.timeout.get()).map_err(|e| chain(&e)));
            self.chat_setup.insert(
                role.name.clone(),
                Chat {
                    format: chat.format,
                    deliverer,
                },
            );
        }
    }

    /// The listener serves the roles' pages: prints each role's link (never journaled),
    /// warns when the listener is reachable beyond this machine, and starts telling the
    /// roles of each decision as it is put.
    pub(super) fn listen(&mut self, server: &WebhookServer) {
        let Some(desk) = self.desk.clone() else {
            return;
        };
        // In the experiment's order, for the people reading them.
        let ordered: Vec<(String, String)> = desk
            .roles()
            .into_iter()
            .filter_map(|role| {
                let link = server.link(&desk.link_path(&role)?);
                Some((role, link))
            })
            .collect();
        let links: BTreeMap<String, String> = ordered.iter().cloned().collect();
        let loopback = server.local_addr().ip().is_loopback();
        let warning = (!loopback).then(|| {
            format!(
                "the roles' pages are served on {} without TLS: anyone on the network path can read the links and answer; listen on 127.0.0.1 unless a TLS-terminating proxy is in front",
                server.local_addr()
            )
        });
        if let Some(w) = &warning {
            tracing::warn!("{w}");
        }
        self.journal.record(
            "response-listening",
            json!({
                "roles": desk.roles(),
                "address": server.local_addr().to_string(),
                "loopback": loopback,
                "tls": false,
                "timeScale": desk.time_scale().factor(),
            }),
            false,
        );
        self.progress.progress(&Progress::RespondAt {
            links: ordered,
            warning,
        });
        let chats = Arc::new(Chats {
            by_role: std::mem::take(&mut self.chat_setup),
            links,
            posted: Mutex::new(BTreeMap::new()),
        });
        self.chats = chats.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(tell_roles(
            desk,
            chats,
            self.submit.clone(),
            self.journal.clone(),
            self.progress.clone(),
            self.experiment.clone(),
            stop.clone(),
        ));
        self.task = Some((stop, task));
    }

    /// At an iteration's first detection: the run's awareness (the first detection only).
    pub(super) fn set_awareness(&mut self, iteration: u32, at: Instant, by: &str) {
        if let Some(desk) = &self.desk
            && desk.set_awareness(at, by)
        {
            self.awareness_iteration = Some(iteration);
            self.submit.iteration.store(iteration, Ordering::SeqCst);
        }
    }

    /// The incident as known at awareness: what the reports drafted later start from.
    pub(super) fn set_incident(&self, incident: &crate::notification::Incident) {
        if self.watches(incident.iteration)
            && let Ok(mut slot) = self.submit.drafting.incident.lock()
        {
            *slot = Some(incident.clone());
        }
    }

    /// The drafts written after awareness (reports whose clock runs from an approved one).
    pub(super) fn take_drafts(&self) -> Vec<crate::result::NotificationResult> {
        self.submit
            .drafting
            .written
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Whether observations of iteration `n` are what people see.
    pub(super) fn watches(&self, n: u32) -> bool {
        self.awareness_iteration == Some(n)
    }

    /// The observations people see from now on.
    pub(super) fn observe(&self, observed: Observed) {
        if let Some(desk) = &self.desk {
            desk.observe(observed);
        }
    }

    /// Reports the answers that arrived since the last call.
    pub(super) fn report_answers(&mut self) {
        let Some(desk) = &self.desk else {
            return;
        };
        for point in desk.lifecycle() {
            let Some(answer) = point.answer else {
                continue;
            };
            if self.answers_reported.insert(point.id.clone()) {
                self.progress.progress(&Progress::DecisionAnswered {
                    point: point.id,
                    role: answer.role,
                    answer: answer.answer,
                    after: answer.after,
                });
            }
        }
    }

    /// After the last iteration: waits until every decision that was put is answered, or
    /// stops being worth waiting for (budget times 4 after it was put), or the run's safety
    /// timeout, whichever comes first (only when `wait`: after a run that went to its end).
    pub(super) async fn await_answers(&mut self, wait: bool, guard: &Guard) -> Option<Stop> {
        let desk = self.desk.clone()?;
        let mut changed = desk.subscribe();
        let mut stop = None;
        loop {
            if !wait {
                break;
            }
            self.report_answers();
            let Some(until) = desk.wait_until(Instant::now()) else {
                break;
            };
            let until = until.min(guard.deadline());
            if Instant::now() >= until {
                break;
            }
            let open: Vec<String> = desk
                .lifecycle()
                .into_iter()
                .filter(|p| p.answer.is_none() && p.asked_at.is_some())
                .map(|p| format!("{} ({})", p.id, p.decided_by))
                .collect();
            self.progress.progress(&Progress::AwaitingDecisions {
                open,
                left: until.saturating_duration_since(Instant::now()),
            });
            tokio::select! {
                biased;
                halted = guard.halted() => {
                    stop = Some(halted);
                    break;
                }
                _ = changed.changed() => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
        self.report_answers();
        stop
    }

    /// Ends the links and the chat task; posts in flight are abandoned after 5 s.
    pub(super) async fn close(&mut self) {
        if let Some(desk) = &self.desk {
            desk.close();
        }
        if let Some((stop, mut task)) = self.task.take() {
            stop.cancel();
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// The result: each role and decision, judged against the iteration of awareness.
    pub(super) fn result(&self, iterations: &[IterationResult]) -> Option<ResponseResult> {
        let desk = self.desk.as_ref()?;
        let spec = self.spec.as_ref()?;
        let scale = desk.time_scale();
        let iteration = self
            .awareness_iteration
            .and_then(|n| iterations.iter().find(|it| it.index == n));
        let outcome = outcome(spec, iteration, scale.factor());
        let posted = self
            .chats
            .posted
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let roles = desk
            .opened()
            .into_iter()
            .map(|(role, function, chat, opened)| ResponseRoleResult {
                chat: posted.get(&role).cloned().unwrap_or_default(),
                role,
                function,
                reach: if chat { "chat" } else { "none" }.to_owned(),
                link_opened_at: opened.map(|t| self.clock.at(t)),
            })
            .collect();
        let decisions = desk
            .lifecycle()
            .into_iter()
            .map(|p| {
                let given = p.answer.as_ref().map(|a| GivenAnswer {
                    answer: a.answer.clone(),
                    after: a.after,
                    unknown_share: a.unknown_share,
                });
                let judgement = judge(&p.point, given.as_ref(), &outcome).ok();
                let mut findings = Vec::new();
                if p.asked_at.is_none() {
                    findings.push("never put: what triggers it did not happen".to_owned());
                }
                for f in judgement.iter().flat_map(|j| &j.findings) {
                    findings.push(finding_text(f, p.asked_at.is_some()));
                }
                findings.retain(|f| !f.is_empty());
                let (consistency, hindsight) =
                    match judgement.as_ref().and_then(|j| j.consistency.as_ref()) {
                        Some(crate::response::Consistency::Consistent) => (
                            Some("consistent".to_owned()),
                            p.answer.as_ref().map(|a| a.answer.clone()),
                        ),
                        Some(crate::response::Consistency::Inconsistent { hindsight }) => {
                            (Some("inconsistent".to_owned()), Some(hindsight.clone()))
                        }
                        Some(crate::response::Consistency::Undecidable) => {
                            (Some("undecidable".to_owned()), None)
                        }
                        None => (None, None),
                    };
                DecisionResult {
                    point: p.id,
                    decision: p.decision,
                    question: p.question,
                    decided_by: p.decided_by,
                    handed_from: p.handed_from,
                    budget_ms: ms(p.budget),
                    asked_at: p.asked_at.map(|t| self.clock.at(t)),
                    answer: p.answer.as_ref().map(|a| a.answer.clone()),
                    rationale: p.answer.as_ref().map(|a| a.rationale.clone()),
                    by: p.answer.as_ref().and_then(|a| a.by.clone()),
                    answered_at: p.answer.as_ref().map(|a| a.answered_at),
                    time_to_decide_ms: p.answer.as_ref().map(|a| ms(a.after)),
                    snapshot: p.answer.as_ref().map(|a| a.snapshot.clone()),
                    unknown_share: p.answer.as_ref().map(|a| a.unknown_share),
                    timely: judgement.as_ref().is_some_and(|j| j.timely),
                    consistency,
                    hindsight,
                    timeliness: judgement.as_ref().map_or(0.0, |j| j.timeliness),
                    score: judgement.as_ref().map_or(0.0, |j| j.score),
                    findings,
                    journal_seq: p.answer.as_ref().map(|a| a.journal_seq),
                }
            })
            .collect();
        let lifecycle = desk.lifecycle();
        let milestones = desk.milestones();
        let flags_missing = self
            .submit
            .flags_missing
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        let submitted = self
            .submit
            .done
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        let approvals = spec
            .approvals
            .iter()
            .map(|a| {
                let (review_id, approve_id) = a.report.point_ids();
                let answer_of = |id: &str| {
                    lifecycle
                        .iter()
                        .find(|p| p.id == id)
                        .and_then(|p| p.answer.clone())
                };
                let approve = answer_of(&approve_id);
                let approved = approve
                    .as_ref()
                    .is_some_and(|x| x.answer == crate::response::APPROVAL_ANSWERS[0]);
                let clock = ReportClock::of(a.report, &milestones);
                let since = approve.as_ref().and_then(|x| {
                    desk.awareness()
                        .map(|aw| scale.to_exercise(x.at.saturating_duration_since(aw)))
                });
                let asked = lifecycle
                    .iter()
                    .any(|p| p.asked_at.is_some() && (p.id == approve_id || p.id == review_id));
                ApprovalResult {
                    report: a.report.id().to_owned(),
                    reviewed_by: a.reviewed_by.clone(),
                    review: answer_of(&review_id).map(|x| x.answer),
                    approved_by: a.approved_by.clone(),
                    outcome: match (&approve, approved) {
                        (Some(_), true) => "approved",
                        (Some(_), false) => "rejected",
                        (None, _) if asked => "not-approved",
                        (None, _) => "not-put",
                    }
                    .to_owned(),
                    decided_at: approve.as_ref().map(|x| x.answered_at),
                    clock_started_ms: clock.map(|c| ms(c.start)),
                    time_to_approve_ms: since
                        .filter(|_| approved)
                        .zip(clock)
                        .map(|(s, c)| ms(s.saturating_sub(c.start))),
                    deadline_ms: ms(clock.map_or(a.report.span(), |c| c.allowed())),
                    within_deadline: approved && since.zip(clock).is_some_and(|(s, c)| s <= c.due),
                    submission: submitted.get(a.report.id()).cloned(),
                    mandatory_flags_missing: flags_missing
                        .get(a.report.id())
                        .cloned()
                        .unwrap_or_default(),
                }
            })
            .collect();
        Some(ResponseResult {
            responders: if desk.runbook() { "runbook" } else { "people" }.to_owned(),
            approvals,
            time_scale: scale.factor(),
            awareness_at: desk.awareness().map(|t| self.clock.at(t)),
            judged_on_iteration: self.awareness_iteration,
            roles,
            decisions,
        })
    }
}

/// A finding of hindsight in words.
fn finding_text(finding: &crate::response::Finding, asked: bool) -> String {
    use crate::response::Finding;
    match finding {
        Finding::NotAnswered if asked => "never answered".to_owned(),
        Finding::NotAnswered => String::new(),
        Finding::Late { by } => format!(
            "answered {} of exercise time after its budget",
            humantime::format_duration(Duration::from_secs(by.as_secs()))
        ),
        Finding::InconsistentWithHindsight {
            hindsight,
            unknown_share,
        } => format!(
            "hindsight gives `{hindsight}`, and {:.0}% of what mattered was known when it was answered",
            (1.0 - unknown_share) * 100.0
        ),
    }
}

/// What the drill knows for sure after the iteration of awareness, in exercise time.
fn outcome(spec: &Response, iteration: Option<&IterationResult>, scale: f64) -> Outcome {
    let failed: BTreeSet<&str> = iteration
        .map(|it| {
            it.probes
                .iter()
                .filter(|(_, phases)| {
                    ["fault", "recovery"]
                        .iter()
                        .any(|p| phases.get(*p).is_some_and(|s| s.errors > 0))
                })
                .map(|(name, _)| name.as_str())
                .collect()
        })
        .unwrap_or_default();
    let affected: Vec<&crate::spec::ServiceSpec> = spec
        .services
        .iter()
        .filter(|s| s.probes.iter().any(|p| failed.contains(p.as_str())))
        .collect();
    let declared = !spec.services.is_empty() && iteration.is_some();
    Outcome {
        outage: iteration.map(|it| Duration::from_secs_f64(it.outage_ms * scale / 1e3)),
        lowest_availability: iteration.and_then(lowest_availability),
        significant_outage: spec
            .significance
            .as_ref()
            .and_then(|s| s.outage)
            .map(|d| d.get()),
        availability_floor: spec
            .significance
            .as_ref()
            .and_then(|s| s.availability_below),
        major_outage: spec.major_outage.map(|d| d.get()),
        recovery_objective: spec.recovery_objective.map(|d| d.get()),
        member_states: declared.then(|| {
            affected
                .iter()
                .flat_map(|s| s.member_states.iter().cloned())
                .collect()
        }),
        malicious_scenario: spec.scenario.as_ref().map(|s| s.malicious),
        customer_facing_affected: declared.then(|| affected.iter().any(|s| s.customer_facing)),
    }
}

/// The lowest availability of any probe from the injection to the end of recovery.
fn lowest_availability(it: &IterationResult) -> Option<f64> {
    it.probes
        .values()
        .filter_map(|phases| {
            let (count, errors) = ["fault", "recovery"]
                .iter()
                .filter_map(|p| phases.get(*p))
                .fold((0, 0), |(c, e), s| (c + s.count, e + s.errors));
            crate::measure::availability(count, errors)
        })
        .reduce(f64::min)
        .or(it.availability)
}

/// Tells each role reached by chat of each decision as it is put; stops on `stop`.
async fn tell_roles(
    desk: Arc<Desk>,
    chats: Arc<Chats>,
    submit: Arc<Submit>,
    journal: Arc<Journal>,
    progress: Arc<dyn ProgressSink>,
    experiment: String,
    stop: CancellationToken,
) {
    let mut changed = desk.subscribe();
    let mut posts = tokio::task::JoinSet::new();
    let mut approved: BTreeSet<String> = BTreeSet::new();
    loop {
        let now = Instant::now();
        for (point, role) in desk.newly_asked(now) {
            progress.progress(&Progress::DecisionAsked {
                point: point.clone(),
                role: role.clone(),
            });
            let (Some(chat), Some(link)) = (chats.by_role.get(&role), chats.links.get(&role))
            else {
                continue;
            };
            let Some(p) = desk.lifecycle().into_iter().find(|p| p.id == point) else {
                continue;
            };
            let scale = desk.time_scale();
            let budget = if scale.factor() == 1.0 {
                humantime::format_duration(p.budget).to_string()
            } else {
                format!(
                    "{} of exercise time ({} real time)",
                    humantime::format_duration(p.budget),
                    humantime::format_duration(Duration::from_secs(
                        scale.to_real(p.budget).as_secs()
                    ))
                )
            };
            let body = ChatMessage {
                experiment: &experiment,
                role: &role,
                question: &p.question,
                budget: &budget,
                link,
            }
            .body(chat.format);
            let chats = chats.clone();
            let journal = journal.clone();
            let deliverer = match &chat.deliverer {
                Ok(d) => Ok(d.clone()),
                Err(e) => Err(e.clone()),
            };
            posts.spawn(async move {
                let (url, status, error) = match deliverer {
                    Ok(d) => {
                        let url = d.shown_url();
                        let bytes = serde_json::to_vec(&body).unwrap_or_default();
                        match d.post_json(bytes).await {
                            Ok(posted) if posted.delivered() => (url, Some(posted.status), None),
                            Ok(posted) => (
                                url,
                                Some(posted.status),
                                Some(format!("the chat answered HTTP {}", posted.status)),
                            ),
                            Err(e) => (url, None, Some(chain(&e))),
                        }
                    }
                    Err(e) => (String::new(), None, Some(format!("the chat cannot be posted to: {e}"))),
                };
                let kind = if error.is_none() { "chat-posted" } else { "chat-post-failed" };
                let (seq, _) = journal.record_with_seq(
                    kind,
                    json!({"role": role, "point": point, "url": url, "status": status, "error": error}),
                    false,
                );
                if let Ok(mut posted) = chats.posted.lock() {
                    posted.entry(role).or_default().push(ChatPostResult {
                        point,
                        url,
                        status,
                        error,
                        journal_seq: seq,
                    });
                }
            });
        }
        for (report, approve) in newly_approved(&desk, &submit, &mut approved) {
            posts.spawn(submit_approved(
                submit.clone(),
                journal.clone(),
                desk.clone(),
                report,
                approve,
            ));
        }
        // An automated runbook looks at the situation as it changes.
        let runbook = desk.runbook();
        if runbook {
            desk.run_runbook(Instant::now());
        }
        let next = desk
            .next_ask(Instant::now())
            .into_iter()
            .chain(runbook.then(|| Instant::now() + RUNBOOK_TICK))
            .min();
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = changed.changed() => {}
            () = sleep_until_opt(next) => {}
            Some(_) = posts.join_next(), if !posts.is_empty() => {}
        }
    }
    // Posts in flight get their own timeouts; the caller bounds the wait.
    while posts.join_next().await.is_some() {}
}

/// A report's clock in exercise time since awareness: when it started and when it falls
/// due.
#[derive(Clone, Copy, Debug)]
struct ReportClock {
    start: Duration,
    due: Duration,
}

impl ReportClock {
    /// The clock of `report`, once it has started.
    fn of(report: crate::spec::Report, m: &crate::response::Milestones) -> Option<Self> {
        Some(Self {
            start: m.clock_start(report)?,
            due: m.due_at(report)?,
        })
    }

    /// The time the law gives from the clock's start.
    fn allowed(self) -> Duration {
        self.due.saturating_sub(self.start)
    }
}

/// The approval points answered since the last call, with their report.
fn newly_approved(
    desk: &Desk,
    submit: &Submit,
    seen: &mut BTreeSet<String>,
) -> Vec<(crate::spec::Report, crate::response::RecordedAnswer)> {
    let mut found = Vec::new();
    for point in desk.lifecycle() {
        let Some(answer) = point.answer else {
            continue;
        };
        let Some(a) = submit
            .approvals
            .iter()
            .find(|a| a.report.point_ids().1 == point.id)
        else {
            continue;
        };
        if seen.insert(point.id) {
            found.push((a.report, answer));
        }
    }
    found
}

/// The judgements people made that a draft states, with the field each fills.
const DECIDED_FIELDS: [(&str, &str); 3] = [
    ("nis2-suspected-malicious", "suspectedMalicious"),
    ("nis2-cross-border", "crossBorderImpact"),
    ("nis2-significant-incident", "severity"),
];

/// The approved report: its draft with the judgements the people made since (suspected
/// malicious act, cross-border impact, significance) in place of what the experiment
/// declared or left unknown, and who approved it; written beside the draft as
/// `*.approved.json`, journaled with its hash, and returned with its file to be submitted.
async fn approved_draft(
    dir: &std::path::Path,
    file: &str,
    desk: &Desk,
    approval: &crate::response::RecordedAnswer,
    journal: &Journal,
) -> Result<(String, Vec<u8>, u64), String> {
    let bytes = tokio::fs::read(dir.join(file))
        .await
        .map_err(|e| format!("cannot read {file}: {e}"))?;
    let mut draft: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{file} is not json: {e}"))?;
    let mut decided = Vec::new();
    for (decision, key) in DECIDED_FIELDS {
        let Some((point, answer)) = desk
            .lifecycle()
            .into_iter()
            .filter(|p| p.decision == decision)
            .find_map(|p| p.answer.map(|a| (p.id, a)))
        else {
            continue;
        };
        let field = draft["fields"]
            .as_array_mut()
            .and_then(|fields| fields.iter_mut().find(|f| f["key"] == key));
        if let Some(field) = field {
            field["value"] = if key == "severity" {
                json!(if answer.answer == "yes" {
                    "significant"
                } else {
                    "not significant"
                })
            } else {
                json!(answer.answer == "yes")
            };
            field["status"] = json!("known");
            field["evidence"] = json!([answer.journal_seq]);
            field["note"] = json!(format!(
                "decided by {} (`{point}`): {}",
                answer.role, answer.rationale
            ));
            decided.push(key);
        }
    }
    draft["approvedAt"] = json!(approval.answered_at);
    draft["approvedBy"] = json!(approval.role);
    let mut out = serde_json::to_vec_pretty(&draft).unwrap_or_default();
    out.push(b'\n');
    let approved_file = file.replace(".json", ".approved.json");
    tokio::fs::write(dir.join(&approved_file), &out)
        .await
        .map_err(|e| format!("cannot write {approved_file}: {e}"))?;
    let (seq, _) = journal.record_with_seq(
        "notification-approved-draft",
        json!({
            "file": approved_file,
            "from": file,
            "sha256": crate::journal::hex(&<sha2::Sha256 as sha2::Digest>::digest(&out)),
            "decided": decided,
            "approval": approval.journal_seq,
        }),
        false,
    );
    Ok((approved_file, out, seq))
}

/// Records an approval's outcome; an approved report is written as approved, the reports
/// whose clocks its submission starts are drafted, and it is submitted to the exercise
/// inbox when the notification names one.
async fn submit_approved(
    submit: Arc<Submit>,
    journal: Arc<Journal>,
    desk: Arc<Desk>,
    report: crate::spec::Report,
    answer: crate::response::RecordedAnswer,
) {
    let approved = answer.answer == crate::response::APPROVAL_ANSWERS[0];
    let awareness = desk.awareness();
    let scale = desk.time_scale();
    let since = awareness
        .map(|a| scale.to_exercise(answer.at.saturating_duration_since(a)))
        .unwrap_or_default();
    let clock = ReportClock::of(report, &desk.milestones());
    journal.record(
        if approved {
            "notification-approved"
        } else {
            "notification-rejected"
        },
        json!({
            "report": report.id(),
            "role": answer.role,
            "by": answer.by,
            "at": answer.answered_at,
            "afterAwarenessMs": ms(since),
            "clockStartedMs": clock.map(|c| ms(c.start)),
            "deadlineMs": ms(clock.map_or(report.span(), |c| c.allowed())),
            "withinDeadline": clock.is_some_and(|c| since <= c.due),
            "decision": answer.journal_seq,
        }),
        false,
    );
    if !approved {
        return;
    }
    let iteration = submit.iteration.load(Ordering::SeqCst);
    let file = format!("notifications/iteration-{iteration}-{}.json", report.id());
    let approved_file = match &submit.out_dir {
        Some(dir) => approved_draft(dir, &file, &desk, &answer, &journal).await,
        None => Err("the run keeps no results folder".to_owned()),
    };
    if let Err(error) = &approved_file {
        journal.record(
            "notification-approved-draft-failed",
            json!({"report": report.id(), "file": file, "error": error}),
            false,
        );
    }
    let approved_file = approved_file.ok();
    // What the approved report still leaves unknown of what the law asks it to state is the
    // organisation's omission now, not firedrill's.
    if let Some((_, bytes, _)) = &approved_file
        && let Ok(approved) = serde_json::from_slice::<crate::notification::Draft>(bytes)
        && let Ok(mut missing) = submit.flags_missing.lock()
    {
        missing.insert(report.id().to_owned(), approved.mandatory_flags_missing());
    }
    draft_followers(
        &submit,
        &journal,
        &desk,
        report,
        &answer,
        approved_file.as_ref(),
    );
    let Some(deliverer) = &submit.deliverer else {
        return;
    };
    let outcome = match (deliverer, approved_file) {
        (Err(e), _) => Err((
            String::new(),
            format!("the exercise inbox cannot be posted to: {e}"),
        )),
        (Ok(d), None) => Err((d.shown_url(), format!("{file} could not be approved"))),
        (Ok(d), Some((approved_file, body, _))) => match d.post_json(body).await {
            Ok(posted) if posted.delivered() => Ok((d.shown_url(), posted, approved_file)),
            Ok(posted) => Err((
                d.shown_url(),
                format!("the exercise inbox answered HTTP {}", posted.status),
            )),
            Err(e) => Err((d.shown_url(), chain(&e))),
        },
    };
    let result = match outcome {
        Ok((url, posted, approved_file)) => {
            let delivered_at = submit.clock.at(posted.at);
            journal.record(
                "notification-submitted",
                json!({"report": report.id(), "file": approved_file, "url": url, "status": posted.status, "at": delivered_at}),
                false,
            );
            crate::result::DeliveryResult {
                url,
                delivered_at: Some(delivered_at),
                time_to_deliver_ms: awareness.map(|a| ms(posted.at.saturating_duration_since(a))),
                status: Some(posted.status),
                error: None,
            }
        }
        Err((url, error)) => {
            journal.record(
                "notification-submission-failed",
                json!({"report": report.id(), "file": file, "url": url, "error": error}),
                false,
            );
            crate::result::DeliveryResult {
                url,
                delivered_at: None,
                time_to_deliver_ms: None,
                status: None,
                error: Some(error),
            }
        }
    };
    if let Ok(mut done) = submit.done.lock() {
        done.insert(report.id().to_owned(), result);
    }
}

/// Drafts each listed report whose clock the submission of `report` starts: from the
/// incident as known at awareness, with the observations summed up to now (journaled first,
/// so that they are evidence), pointing at the approved report it follows.
fn draft_followers(
    submit: &Submit,
    journal: &Journal,
    desk: &Desk,
    report: crate::spec::Report,
    approval: &crate::response::RecordedAnswer,
    approved_file: Option<&(String, Vec<u8>, u64)>,
) {
    let drafting = &submit.drafting;
    let followers: Vec<crate::spec::Report> = submit
        .approvals
        .iter()
        .map(|a| a.report)
        .filter(|r| r.follows() == Some(report))
        .collect();
    let (Some(spec), Some(mut incident)) = (
        drafting.notification.as_ref(),
        drafting.incident.lock().ok().and_then(|i| i.clone()),
    ) else {
        return;
    };
    if followers.is_empty() {
        return;
    }
    let now = Instant::now();
    let observed = desk.observed();
    let (seq, _) = journal.record_with_seq(
        "observations-summarised",
        json!({
            "iteration": incident.iteration,
            "at": submit.clock.at(now),
            "observations": observed.observations,
            "failures": observed.failures,
            "outageMs": ms(observed.outage),
            "ongoing": observed.ongoing,
            "failedProbes": observed.failed_probes,
        }),
        false,
    );
    incident.observations = observed.observations;
    incident.failures = observed.failures;
    incident.outage = observed.outage;
    incident.ongoing = observed.ongoing;
    incident.failed_probes = observed.failed_probes;
    incident.observations_seq = Some(seq);
    incident.observed_until = Some(submit.clock.at(now));
    let (file, seq) = match approved_file {
        Some((file, _, seq)) => (file.clone(), *seq),
        None => (
            format!(
                "notifications/iteration-{}-{}.json",
                incident.iteration,
                report.id()
            ),
            approval.journal_seq,
        ),
    };
    for follower in followers {
        let draft = crate::notification::build(
            follower,
            &incident,
            spec,
            submit.clock.at(Instant::now()),
            Some(crate::notification::Earlier {
                file: &file,
                seq,
                submitted_at: Some(approval.answered_at),
            }),
        );
        let sink = super::notify::DraftSink {
            out_dir: submit.out_dir.as_deref(),
            journal,
            progress: drafting.progress.as_ref(),
        };
        if let Some(written) = super::notify::write_draft(&sink, &draft, approval.at, None)
            && let Ok(mut all) = drafting.written.lock()
        {
            all.push(written.result);
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
