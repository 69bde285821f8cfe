//! The response desk of one run: the roles' tokens, the decision points and when each is
//! put, the situation each role sees, and the answers, journaled with the snapshot they were
//! taken on. Shared by the run's listener, which shows pages and takes answers, and the
//! engine, which sets awareness, feeds observations, and waits for the answers.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::catalogue::{CatalogueError, CustomDecision, DecisionKind};
use super::hindsight::{DecisionPoint, GivenAnswer, LATE_LIMIT_MULTIPLE};
use super::situation::{FieldKey, Milestones, Report, Situation, SituationField, TimeScale};
use super::token::{RoleTokens, TokenError};
use super::view::{AnswerView, PointState, PointView, RoleView, RunState};
use crate::journal::Journal;
use crate::spec::{Reach, Response, Trigger};
use crate::time::{Clock, Timestamp, ms};

/// The largest answer body accepted: an answer, a rationale and a name.
pub const MAX_ANSWER_BODY_BYTES: usize = 8 * 1024;
/// The longest rationale, in characters.
pub const MAX_RATIONALE_CHARS: usize = 2000;
/// The longest name of whoever answers, in characters.
pub const MAX_BY_CHARS: usize = 100;
/// Who an automated runbook's answers are by.
pub const RUNBOOK: &str = "automated runbook";

/// An answer about to be recorded.
struct Given {
    answer: String,
    rationale: String,
    by: Option<String>,
    situation: Situation,
    shown: bool,
}

/// A rule in words, for the answer's rationale.
fn describe_rule(rule: &crate::spec::RunbookRule) -> String {
    let w = &rule.when;
    let mut parts = Vec::new();
    if let Some(a) = w.availability_below {
        parts.push(format!("availability below {}%", a * 100.0));
    }
    if let Some(o) = w.outage_over {
        parts.push(format!("outage over {o}"));
    }
    if let Some(p) = &w.failed_probe {
        parts.push(format!("probe {p} failed"));
    }
    if let Some(g) = w.ongoing {
        parts.push(
            if g {
                "still ongoing"
            } else {
                "no longer ongoing"
            }
            .to_owned(),
        );
    }
    let when = if parts.is_empty() {
        "always".to_owned()
    } else {
        parts.join(" and ")
    };
    if rule.held_for.is_zero() {
        format!("{when}, answer {}", rule.answer)
    } else {
        format!("{when} for {}, answer {}", rule.held_for, rule.answer)
    }
}

/// The answers of a draft's review.
pub const REVIEW_ANSWERS: [&str; 2] = ["ready for approval", "changes needed"];
/// The answers of a draft's approval; the first approves it.
pub const APPROVAL_ANSWERS: [&str; 2] = ["approve", "reject"];

/// Snapshots kept per decision point for answers to name; older ones are forgotten.
const SHOWN_PER_POINT: usize = 64;

/// The legal clocks a page shows: NIS2's, and DORA's when the entity is under DORA.
const NIS2_CLOCKS: [Report; 3] = [
    Report::Nis2EarlyWarning,
    Report::Nis2IncidentNotification,
    Report::Nis2FinalReport,
];
const DORA_CLOCKS: [Report; 6] = Report::ALL;

/// Why an answer was refused; nothing is recorded and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The link's token is wrong, or the run has ended.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The body is not what an answer looks like.
    #[error("{0}")]
    Body(String),
    /// Nothing has been detected yet: no question is put.
    #[error("nothing has been detected yet: no question is put")]
    NotAware,
    /// The point names no decision point of this role.
    #[error("unknown decision point `{given}`; yours are {yours}")]
    UnknownPoint {
        /// The point named.
        given: String,
        /// The role's points, comma-separated.
        yours: String,
    },
    /// The point is not asked yet.
    #[error("`{point}` is not asked yet: it waits for {waiting_for}")]
    NotAsked {
        /// The point.
        point: String,
        /// What it waits for.
        waiting_for: String,
    },
    /// The point was answered already; the first answer stands.
    #[error("`{0}` was answered already; the first answer stands")]
    AlreadyAnswered(String),
    /// The answer is not one the decision allows.
    #[error(transparent)]
    Answer(#[from] CatalogueError),
    /// The snapshot named was not shown to this role for this point.
    #[error(
        "the snapshot `{0}` was not shown for this decision point: reload the page and answer again"
    )]
    UnknownSnapshot(String),
}

impl AnswerError {
    /// The HTTP status that says what went wrong.
    pub fn status(&self) -> u16 {
        match self {
            Self::Token(TokenError::Revoked) => 410,
            Self::Token(TokenError::Refused) => 404,
            Self::Token(_) => 500,
            Self::Body(_) | Self::Answer(_) | Self::UnknownSnapshot(_) => 422,
            Self::UnknownPoint { .. } => 404,
            Self::NotAware | Self::NotAsked { .. } | Self::AlreadyAnswered(_) => 409,
        }
    }
}

/// An answer as sent: JSON (`firedrill respond`, scripts) or a form (the page).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// The decision point's id.
    pub point: String,
    /// One of the allowed answers.
    pub answer: String,
    /// Why, in the person's words.
    pub rationale: String,
    /// The snapshot's hash the page showed; without it the situation is taken now.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Who answers, as they say.
    #[serde(default)]
    pub by: Option<String>,
}

impl AnswerRequest {
    /// Reads a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, AnswerError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| AnswerError::Body(format!("body is not json: {e}")))?;
        if !value.is_object() {
            return Err(AnswerError::Body(
                r#"body must be a json object such as {"point": "significance", "answer": "yes", "rationale": "..."}"#.into(),
            ));
        }
        serde_json::from_value(value).map_err(|e| AnswerError::Body(format!("invalid answer: {e}")))
    }

    /// Reads a form body (`application/x-www-form-urlencoded`); empty optional fields are
    /// left out.
    pub fn from_form(body: &[u8]) -> Result<Self, AnswerError> {
        let mut request: Self = serde_urlencoded::from_bytes(body)
            .map_err(|e| AnswerError::Body(format!("invalid form: {e}")))?;
        request.snapshot = request.snapshot.filter(|s| !s.trim().is_empty());
        request.by = request.by.filter(|s| !s.trim().is_empty());
        Ok(request)
    }

    fn check(&self) -> Result<(), AnswerError> {
        let rationale = self.rationale.trim();
        if rationale.is_empty() {
            return Err(AnswerError::Body(
                "the rationale is empty: say in a sentence why".into(),
            ));
        }
        if rationale.chars().count() > MAX_RATIONALE_CHARS {
            return Err(AnswerError::Body(format!(
                "the rationale is longer than {MAX_RATIONALE_CHARS} characters"
            )));
        }
        if let Some(by) = &self.by
            && by.chars().count() > MAX_BY_CHARS
        {
            return Err(AnswerError::Body(format!(
                "the name is longer than {MAX_BY_CHARS} characters"
            )));
        }
        Ok(())
    }
}

/// What the run has observed since the injection, as the engine last reported it. Times
/// are real time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Probe observations since the injection.
    pub observations: u64,
    /// Of which failed.
    pub failures: u64,
    /// Time the steady state has not held.
    pub outage: Duration,
    /// Probes that failed at least once.
    pub failed_probes: Vec<String>,
    /// Whether the steady state has not come back.
    pub ongoing: bool,
}

/// A role of the run.
#[derive(Clone, Debug)]
struct RoleEntry {
    name: String,
    function: String,
    chat: bool,
}

/// A decision point of the run.
#[derive(Clone, Debug)]
struct PointEntry {
    id: String,
    point: DecisionPoint,
    decided_by: String,
    after: Trigger,
    /// Real time from the trigger to the question.
    delay: Duration,
    /// The report this point approves, for an approval point.
    approves: Option<Report>,
    /// Whether the point waits for the earlier point's approval, not just its answer: the
    /// first step of a report whose clock runs from another's submission.
    needs_approval: bool,
}

/// An answer as recorded.
#[derive(Clone, Debug)]
pub struct RecordedAnswer {
    /// The point's id.
    pub point: String,
    /// The role that answered.
    pub role: String,
    /// The allowed answer.
    pub answer: String,
    /// Why.
    pub rationale: String,
    /// Who, as they said.
    pub by: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// The same in UTC.
    pub answered_at: Timestamp,
    /// Exercise time from the question to the answer.
    pub after: Duration,
    /// The snapshot's hash.
    pub snapshot: String,
    /// Whether the snapshot is one a page showed (else it was taken at the answer).
    pub shown: bool,
    /// The share of the decision's fields unknown in the snapshot.
    pub unknown_share: f64,
    /// The `decision-answered` record.
    pub journal_seq: u64,
}

#[derive(Debug, Default)]
struct State {
    awareness: Option<Instant>,
    detected_by: Option<String>,
    observed: Observed,
    /// Per point: whether its `decision-asked` record is written.
    asked_journaled: Vec<bool>,
    /// Per point: whether [`Desk::newly_asked`] has returned it.
    told: Vec<bool>,
    /// Per point: the snapshots shown, newest last.
    shown: Vec<VecDeque<Situation>>,
    answers: Vec<Option<RecordedAnswer>>,
    /// Per role: the first time its link was opened.
    opened: Vec<Option<Instant>>,
    /// Per point and runbook rule: since when its condition has held.
    held_since: Vec<Vec<Option<Instant>>>,
}

/// One point's lifecycle as [`Desk::lifecycle`] reports it.
#[derive(Clone, Debug)]
pub struct PointLifecycle {
    /// The point's id.
    pub id: String,
    /// The catalogued decision's id, or `custom`.
    pub decision: String,
    /// The question.
    pub question: String,
    /// The role that decides.
    pub decided_by: String,
    /// The role whose answer puts this point, when it is another role (a hand-off).
    pub handed_from: Option<String>,
    /// The budget, exercise time.
    pub budget: Duration,
    /// The decision point, for hindsight.
    pub point: DecisionPoint,
    /// When it was asked, if it was.
    pub asked_at: Option<Instant>,
    /// The answer, if one came.
    pub answer: Option<RecordedAnswer>,
}

/// The people's side of one run; see the module's documentation.
pub struct Desk {
    experiment: String,
    run_id: String,
    scale: TimeScale,
    roles: Vec<RoleEntry>,
    points: Vec<PointEntry>,
    services: Vec<crate::spec::ServiceSpec>,
    entity_member_states: Vec<String>,
    dora: bool,
    /// Per point, its runbook rules, when a runbook answers.
    runbook: Option<Vec<Vec<crate::spec::RunbookRule>>>,
    tokens: RoleTokens,
    journal: Arc<Journal>,
    clock: Clock,
    state: Mutex<State>,
    changed: watch::Sender<usize>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("experiment", &self.experiment)
            .field("roles", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// Why a desk could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// Tokens could not be issued.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A decision point of the experiment is not valid (validation lets none through).
    #[error("decision point `{id}`: {error}")]
    Point {
        /// The point.
        id: String,
        /// Why.
        error: String,
    },
}

impl Desk {
    /// The desk of a run of `experiment` under `spec`; `entity_member_states` are the
    /// notification entity's, used when no service says where it is provided; `dora` adds
    /// DORA's clock to the pages.
    pub fn new(
        experiment: &str,
        run_id: &str,
        spec: &Response,
        entity_member_states: &[String],
        dora: bool,
        journal: Arc<Journal>,
        clock: Clock,
    ) -> Result<Self, DeskError> {
        let scale = TimeScale::new(spec.time_scale).unwrap_or_default();
        let tokens = RoleTokens::issue(spec.roles.iter().map(|r| r.name.as_str()))?;
        let roles = spec
            .roles
            .iter()
            .map(|r| RoleEntry {
                name: r.name.clone(),
                function: r.function.trim().to_owned(),
                chat: matches!(r.reach, Reach::Chat(_)),
            })
            .collect::<Vec<_>>();
        let mut points = Vec::new();
        for p in &spec.decisions {
            let fail = |error: String| DeskError::Point {
                id: p.id.clone(),
                error,
            };
            let kind = match (&p.decision, &p.question) {
                (Some(d), _) => DecisionKind::Catalogued(*d),
                (None, Some(q)) => DecisionKind::Custom(
                    CustomDecision::new(q.clone(), p.answers.clone())
                        .map_err(|e| fail(e.to_string()))?,
                ),
                (None, None) => return Err(fail("no decision and no question".into())),
            };
            let point =
                DecisionPoint::new(kind, p.budget.get()).map_err(|e| fail(e.to_string()))?;
            points.push(PointEntry {
                id: p.id.clone(),
                point,
                decided_by: p.decided_by.clone(),
                after: p.after.clone(),
                delay: scale.to_real(p.delay.get()),
                approves: None,
                needs_approval: false,
            });
        }
        for a in &spec.approvals {
            let (review, approve) = a.report.point_ids();
            let fail = |error: String| DeskError::Point {
                id: approve.clone(),
                error,
            };
            let custom = |question: String, answers: [&str; 2]| {
                CustomDecision::new(question, answers.map(str::to_owned).to_vec())
                    .map(DecisionKind::Custom)
                    .map_err(|e| fail(e.to_string()))
                    .and_then(|kind| {
                        DecisionPoint::new(kind, a.budget.get()).map_err(|e| fail(e.to_string()))
                    })
            };
            let label = a.report.label();
            // A report whose clock runs from another's submission is put when that one is
            // approved; validation makes sure its approval is listed.
            let first = match a.report.follows() {
                Some(earlier) => Trigger::Decision(earlier.point_ids().1),
                None => Trigger::Detection,
            };
            let chained = a.report.follows().is_some();
            let mut after = first.clone();
            let mut needs_approval = chained;
            if let Some(reviewer) = &a.reviewed_by {
                points.push(PointEntry {
                    id: review.clone(),
                    point: custom(
                        format!(
                            "Review the draft of {label} (notifications/ of the results folder): is it ready for approval?"
                        ),
                        REVIEW_ANSWERS,
                    )?,
                    decided_by: reviewer.clone(),
                    after: first,
                    delay: Duration::ZERO,
                    approves: None,
                    needs_approval: chained,
                });
                after = Trigger::Decision(review);
                needs_approval = false;
            }
            points.push(PointEntry {
                id: approve.clone(),
                point: custom(
                    format!(
                        "Approve {label} for submission? In this exercise it goes to the exercise inbox, never to an authority."
                    ),
                    APPROVAL_ANSWERS,
                )?,
                decided_by: a.approved_by.clone(),
                after,
                delay: Duration::ZERO,
                approves: Some(a.report),
                needs_approval,
            });
        }
        let n = points.len();
        let runbook = (spec.responders == crate::spec::Responders::Runbook).then(|| {
            let mut rules: Vec<Vec<crate::spec::RunbookRule>> =
                spec.decisions.iter().map(|d| d.runbook.clone()).collect();
            rules.resize(n, Vec::new());
            rules
        });
        let state = State {
            held_since: runbook
                .iter()
                .flatten()
                .map(|r| vec![None; r.len()])
                .collect(),
            asked_journaled: vec![false; n],
            told: vec![false; n],
            shown: vec![VecDeque::new(); n],
            answers: vec![None; n],
            opened: vec![None; roles.len()],
            ..State::default()
        };
        Ok(Self {
            experiment: experiment.to_owned(),
            run_id: run_id.to_owned(),
            scale,
            roles,
            points,
            services: spec.services.clone(),
            entity_member_states: entity_member_states.to_vec(),
            dora,
            runbook,
            tokens,
            journal,
            clock,
            state: Mutex::new(state),
            changed: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an automated runbook answers, not people.
    pub fn runbook(&self) -> bool {
        self.runbook.is_some()
    }

    /// The run's time scale.
    pub fn time_scale(&self) -> TimeScale {
        self.scale
    }

    /// The roles' names, in the experiment's order.
    pub fn roles(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }

    /// Whether `role` is reached through a chat.
    pub fn reached_by_chat(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.name == role && r.chat)
    }

    /// The path of a role's link, such as `/respond/TOKEN`; a secret of the role's.
    pub fn link_path(&self, role: &str) -> Option<String> {
        self.tokens
            .token(role)
            .map(|t| format!("/respond/{}", t.expose()))
    }

    /// Sets awareness and the signal that gave it, unless set already; returns whether it
    /// was set now.
    pub fn set_awareness(&self, at: Instant, detected_by: &str) -> bool {
        let mut state = self.lock();
        if state.awareness.is_some() {
            return false;
        }
        state.awareness = Some(at);
        state.detected_by = Some(detected_by.to_owned());
        drop(state);
        self.changed.send_modify(|n| *n += 1);
        true
    }

    /// The run's observations so far, for the situation people see.
    pub fn observe(&self, observed: Observed) {
        self.lock().observed = observed;
    }

    /// The observations people see now.
    pub fn observed(&self) -> Observed {
        self.lock().observed.clone()
    }

    /// A receiver that changes with awareness and every answer.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.changed.subscribe()
    }

    /// Refuses every link from now on: the run has ended. Journals it once.
    pub fn close(&self) {
        if !self.tokens.is_revoked() {
            self.tokens.revoke();
            self.journal.record(
                "response-closed",
                json!({"roles": self.roles(), "reason": "the run ended: the roles' links no longer take answers"}),
                false,
            );
        }
    }

    /// When point `i` is (or was) asked, once its trigger has happened.
    fn asked_at(&self, state: &State, i: usize) -> Option<Instant> {
        let p = &self.points[i];
        let from = match &p.after {
            Trigger::Detection => state.awareness?,
            Trigger::Decision(earlier) => {
                let j = self.points.iter().position(|q| &q.id == earlier)?;
                let answer = state.answers[j].as_ref()?;
                if p.needs_approval && answer.answer != APPROVAL_ANSWERS[0] {
                    return None;
                }
                answer.at
            }
        };
        Some(from + p.delay)
    }

    /// What has started or stopped a legal clock so far: each report approved (in an
    /// exercise, submission is approval), and DORA's classification as major.
    fn milestones_of(&self, state: &State) -> Milestones {
        let mut m = Milestones::default();
        let Some(awareness) = state.awareness else {
            return m;
        };
        for (p, answer) in self.points.iter().zip(&state.answers) {
            let Some(a) = answer else {
                continue;
            };
            let at = self
                .scale
                .to_exercise(a.at.saturating_duration_since(awareness));
            if let Some(report) = p.approves
                && a.answer == APPROVAL_ANSWERS[0]
            {
                m.submitted.insert(report, at);
            }
            let major = matches!(
                p.point.kind(),
                DecisionKind::Catalogued(crate::spec::Decision::DoraMajorIncident)
            );
            if major && a.answer == "yes" {
                m.classified_major = Some(m.classified_major.map_or(at, |c| c.min(at)));
            }
        }
        m
    }

    /// The legal clocks' milestones so far, in exercise time since awareness.
    pub fn milestones(&self) -> Milestones {
        self.milestones_of(&self.lock())
    }

    fn waiting_for(&self, state: &State, i: usize, now: Instant) -> String {
        let p = &self.points[i];
        match &p.after {
            Trigger::Detection if state.awareness.is_none() => "the first detection".to_owned(),
            Trigger::Decision(earlier)
                if self
                    .points
                    .iter()
                    .position(|q| &q.id == earlier)
                    .is_none_or(|j| state.answers[j].is_none()) =>
            {
                if p.needs_approval {
                    format!("the approval `{earlier}`")
                } else {
                    format!("the answer to `{earlier}`")
                }
            }
            Trigger::Decision(earlier) if self.asked_at(state, i).is_none() => {
                format!("the approval `{earlier}`, which was not given: this is not put")
            }
            _ => {
                let left = self
                    .asked_at(state, i)
                    .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
                format!(
                    "{} of exercise time",
                    humantime::format_duration(round_secs(self.scale.to_exercise(left)))
                )
            }
        }
    }

    /// The next time a point not yet asked will be, when its trigger has happened.
    pub fn next_ask(&self, now: Instant) -> Option<Instant> {
        let state = self.lock();
        (0..self.points.len())
            .filter(|&i| !state.asked_journaled[i])
            .filter_map(|i| self.asked_at(&state, i))
            .filter(|t| *t > now)
            .min()
    }

    /// The points asked by `now` that no earlier call returned, as (point id, role), so
    /// that the caller can tell the roles; each is journaled first if it is not yet.
    pub fn newly_asked(&self, now: Instant) -> Vec<(String, String)> {
        let mut state = self.lock();
        self.journal_asked(&mut state, now);
        let mut asked = Vec::new();
        for i in 0..self.points.len() {
            if state.asked_journaled[i] && !state.told[i] {
                state.told[i] = true;
                let p = &self.points[i];
                asked.push((p.id.clone(), p.decided_by.clone()));
            }
        }
        asked
    }

    /// Journals the points asked by `now` that are not yet.
    fn journal_asked(&self, state: &mut State, now: Instant) {
        let Some(awareness) = state.awareness else {
            return;
        };
        for i in 0..self.points.len() {
            if state.asked_journaled[i] {
                continue;
            }
            let Some(at) = self.asked_at(state, i).filter(|t| *t <= now) else {
                continue;
            };
            state.asked_journaled[i] = true;
            let p = &self.points[i];
            self.journal.record(
                "decision-asked",
                json!({
                    "point": p.id,
                    "decision": p.point.kind().id(),
                    "role": p.decided_by,
                    "at": self.clock.at(at),
                    "askedAtMs": ms(self.scale.to_exercise(at.saturating_duration_since(awareness))),
                    "budgetMs": ms(p.point.budget()),
                    "timeScale": self.scale.factor(),
                }),
                false,
            );
        }
    }

    /// The role whose link `token` is; refused after the run.
    fn role_of(&self, token: &str) -> Result<usize, AnswerError> {
        let role = self.tokens.authenticate(token)?;
        Ok(self
            .roles
            .iter()
            .position(|r| r.name == role)
            .unwrap_or_default())
    }

    /// The page of the role whose link `token` is, at `now`; every open point's snapshot
    /// is kept so that an answer can name it.
    pub fn view(&self, token: &str, now: Instant) -> Result<RoleView, AnswerError> {
        let r = self.role_of(token)?;
        let mut state = self.lock();
        if state.opened[r].is_none() {
            state.opened[r] = Some(now);
            self.journal.record(
                "response-link-opened",
                json!({"role": self.roles[r].name, "at": self.clock.at(now)}),
                false,
            );
        }
        self.journal_asked(&mut state, now);
        let role = &self.roles[r];
        let awareness = state.awareness;
        let mut points = Vec::new();
        for i in 0..self.points.len() {
            let p = &self.points[i];
            if p.decided_by != role.name {
                continue;
            }
            let kind = p.point.kind();
            let asked = self.asked_at(&state, i).filter(|t| *t <= now);
            let mut view = PointView {
                id: p.id.clone(),
                decision: kind.id().to_owned(),
                question: kind.question().to_owned(),
                answers: kind.answers().iter().map(|a| (*a).to_owned()).collect(),
                provisions: kind.provisions().iter().map(|a| (*a).to_owned()).collect(),
                state: PointState::Pending,
                waiting_for: None,
                asked_at_ms: None,
                budget_ms: millis(p.point.budget()),
                remaining_ms: None,
                situation: None,
                snapshot: None,
                answer: None,
            };
            match (asked, &state.answers[i], awareness) {
                (_, Some(a), _) => {
                    view.state = PointState::Answered;
                    view.answer = Some(AnswerView {
                        answer: a.answer.clone(),
                        rationale: a.rationale.clone(),
                        by: a.by.clone(),
                        after_ms: millis(a.after),
                        within_budget: a.after <= p.point.budget(),
                        snapshot: a.snapshot.clone(),
                        journal_seq: a.journal_seq,
                    });
                }
                (Some(asked), None, Some(awareness)) => {
                    let elapsed = self.scale.to_exercise(now.saturating_duration_since(asked));
                    view.state = PointState::Open;
                    view.asked_at_ms = Some(millis(
                        self.scale
                            .to_exercise(asked.saturating_duration_since(awareness)),
                    ));
                    view.remaining_ms = Some(
                        i64::try_from(millis(p.point.budget())).unwrap_or(i64::MAX)
                            - i64::try_from(millis(elapsed)).unwrap_or(i64::MAX),
                    );
                    let situation = self.situation(&state, now, awareness);
                    view.snapshot = situation.hash().ok();
                    view.situation = situation.to_json().ok();
                    let shown = &mut state.shown[i];
                    if shown.len() == SHOWN_PER_POINT {
                        shown.pop_front();
                    }
                    shown.push_back(situation);
                }
                _ => view.waiting_for = Some(self.waiting_for(&state, i, now)),
            }
            if let Some(asked) = asked
                && let Some(awareness) = awareness
            {
                view.asked_at_ms = Some(millis(
                    self.scale
                        .to_exercise(asked.saturating_duration_since(awareness)),
                ));
            }
            points.push(view);
        }
        Ok(RoleView {
            experiment: self.experiment.clone(),
            run_id: self.run_id.clone(),
            role: role.name.clone(),
            function: role.function.clone(),
            time_scale: self.scale.factor(),
            state: if awareness.is_some() {
                RunState::Live
            } else {
                RunState::Waiting
            },
            now_ms: awareness
                .map(|a| millis(self.scale.to_exercise(now.saturating_duration_since(a)))),
            points,
        })
    }

    /// Records the answer of the role whose link `token` is, arrived `now`.
    pub fn answer(
        &self,
        token: &str,
        request: AnswerRequest,
        now: Instant,
    ) -> Result<RecordedAnswer, AnswerError> {
        let r = self.role_of(token)?;
        let role = &self.roles[r];
        request.check()?;
        let mut state = self.lock();
        let awareness = state.awareness.ok_or(AnswerError::NotAware)?;
        let i = self
            .points
            .iter()
            .position(|p| p.id == request.point && p.decided_by == role.name)
            .ok_or_else(|| AnswerError::UnknownPoint {
                given: request.point.chars().take(80).collect(),
                yours: self
                    .points
                    .iter()
                    .filter(|p| p.decided_by == role.name)
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let p = &self.points[i];
        if state.answers[i].is_some() {
            return Err(AnswerError::AlreadyAnswered(p.id.clone()));
        }
        let Some(asked) = self.asked_at(&state, i).filter(|t| *t <= now) else {
            return Err(AnswerError::NotAsked {
                point: p.id.clone(),
                waiting_for: self.waiting_for(&state, i, now),
            });
        };
        let answer = p.point.kind().check_answer(&request.answer)?.to_owned();
        let (situation, shown) = match &request.snapshot {
            Some(hash) => {
                let found = state.shown[i]
                    .iter()
                    .rev()
                    .find(|s| s.hash().is_ok_and(|h| &h == hash))
                    .cloned()
                    .ok_or_else(|| AnswerError::UnknownSnapshot(hash.chars().take(64).collect()))?;
                (found, true)
            }
            None => (self.situation(&state, now, awareness), false),
        };
        let recorded = self.record(
            &mut state,
            i,
            Given {
                answer,
                rationale: request.rationale.trim().to_owned(),
                by: request.by.map(|b| b.trim().to_owned()),
                situation,
                shown,
            },
            asked,
            now,
        );
        drop(state);
        self.changed.send_modify(|n| *n += 1);
        Ok(recorded)
    }

    /// Journals and keeps the answer to point `i`, asked `asked`, given `now`.
    fn record(
        &self,
        state: &mut State,
        i: usize,
        given: Given,
        asked: Instant,
        now: Instant,
    ) -> RecordedAnswer {
        let p = &self.points[i];
        self.journal_asked(state, now);
        let Given {
            answer,
            rationale,
            by,
            situation,
            shown,
        } = given;
        let given = GivenAnswer::in_situation(
            answer.clone(),
            self.scale.to_exercise(now.saturating_duration_since(asked)),
            p.point.kind(),
            &situation,
        );
        let hash = situation.hash().unwrap_or_default();
        let answered_at = self.clock.at(now);
        let (journal_seq, _) = self.journal.record_with_seq(
            "decision-answered",
            json!({
                "point": p.id,
                "decision": p.point.kind().id(),
                "role": p.decided_by,
                "by": by,
                "answer": answer,
                "rationale": rationale,
                "at": answered_at,
                "afterMs": ms(given.after),
                "afterRealMs": ms(now.saturating_duration_since(asked)),
                "budgetMs": ms(p.point.budget()),
                "timeScale": self.scale.factor(),
                "responders": if self.runbook.is_some() { "runbook" } else { "people" },
                "snapshot": hash,
                "snapshotShown": shown,
                "situation": situation.to_json().unwrap_or(Value::Null),
                "unknownShare": given.unknown_share,
            }),
            false,
        );
        let recorded = RecordedAnswer {
            point: p.id.clone(),
            role: p.decided_by.clone(),
            answer,
            rationale,
            by,
            at: now,
            answered_at,
            after: given.after,
            snapshot: hash,
            shown,
            unknown_share: given.unknown_share,
            journal_seq,
        };
        state.answers[i] = Some(recorded.clone());
        // An answer may put the next question at once.
        self.journal_asked(state, now);
        recorded
    }

    /// With `responders: runbook`: answers each open point whose rule has held long enough,
    /// as the automated runbook; the answers given.
    pub fn run_runbook(&self, now: Instant) -> Vec<RecordedAnswer> {
        let Some(rules) = &self.runbook else {
            return Vec::new();
        };
        let mut state = self.lock();
        let Some(awareness) = state.awareness else {
            return Vec::new();
        };
        self.journal_asked(&mut state, now);
        let mut given = Vec::new();
        for (i, point_rules) in rules.iter().enumerate() {
            if state.answers[i].is_some() {
                continue;
            }
            let Some(asked) = self.asked_at(&state, i).filter(|t| *t <= now) else {
                continue;
            };
            let mut fired = None;
            for (j, rule) in point_rules.iter().enumerate() {
                if self.holds(&state.observed, &rule.when) {
                    let since = *state.held_since[i][j].get_or_insert(now);
                    let held = self.scale.to_exercise(now.saturating_duration_since(since));
                    if fired.is_none() && held >= rule.held_for.get() {
                        fired = Some((j, rule));
                    }
                } else {
                    state.held_since[i][j] = None;
                }
            }
            let Some((j, rule)) = fired else {
                continue;
            };
            let Ok(answer) = self.points[i].point.kind().check_answer(&rule.answer) else {
                continue;
            };
            let answer = answer.to_owned();
            let situation = self.situation(&state, now, awareness);
            let rationale = format!("automated runbook, rule {}: {}", j + 1, describe_rule(rule));
            given.push(self.record(
                &mut state,
                i,
                Given {
                    answer,
                    rationale,
                    by: Some(RUNBOOK.to_owned()),
                    situation,
                    shown: false,
                },
                asked,
                now,
            ));
        }
        drop(state);
        if !given.is_empty() {
            self.changed.send_modify(|n| *n += 1);
        }
        given
    }

    /// Whether `when` holds on what is observed now.
    fn holds(&self, o: &Observed, when: &crate::spec::RunbookCondition) -> bool {
        let availability = crate::measure::availability(o.observations, o.failures);
        when.availability_below
            .is_none_or(|x| availability.is_some_and(|a| a < x))
            && when
                .outage_over
                .is_none_or(|x| self.scale.to_exercise(o.outage) > x.get())
            && when
                .failed_probe
                .as_ref()
                .is_none_or(|p| o.failed_probes.contains(p))
            && when.ongoing.is_none_or(|g| g == o.ongoing)
    }

    /// The situation at `now`: what the organisation knows, not what the drill knows.
    fn situation(&self, state: &State, now: Instant, awareness: Instant) -> Situation {
        let o = &state.observed;
        let mut fields = Vec::new();
        fields.push(
            match crate::measure::availability(o.observations, o.failures) {
                Some(a) => SituationField::known(FieldKey::AvailabilitySoFar, json!(a)),
                None => SituationField::unknown(
                    FieldKey::AvailabilitySoFar,
                    "no probe observation since the injection",
                ),
            },
        );
        let outage = self.scale.to_exercise(o.outage);
        fields.push(if o.ongoing {
            SituationField::estimated(
                FieldKey::OutageSoFar,
                json!(millis(outage)),
                "the steady state has not come back: the outage goes on",
            )
        } else {
            SituationField::known(FieldKey::OutageSoFar, json!(millis(outage)))
        });
        fields.push(SituationField::known(
            FieldKey::FailedProbes,
            json!(o.failed_probes),
        ));
        let failed: BTreeSet<&str> = o.failed_probes.iter().map(String::as_str).collect();
        let affected: Vec<&crate::spec::ServiceSpec> = self
            .services
            .iter()
            .filter(|s| s.probes.iter().any(|p| failed.contains(p.as_str())))
            .collect();
        if self.services.is_empty() {
            fields.push(SituationField::unknown(
                FieldKey::AffectedServices,
                "the experiment maps no probe to a service",
            ));
        } else {
            fields.push(SituationField::known(
                FieldKey::AffectedServices,
                json!(affected.iter().map(|s| &s.name).collect::<Vec<_>>()),
            ));
        }
        let states: BTreeSet<&str> = affected
            .iter()
            .flat_map(|s| &s.member_states)
            .map(String::as_str)
            .collect();
        fields.push(if !states.is_empty() {
            SituationField::known(FieldKey::MemberStates, json!(states))
        } else if !self.entity_member_states.is_empty() {
            SituationField::estimated(
                FieldKey::MemberStates,
                json!(self.entity_member_states),
                "the entity's member states: which services are affected where is not known",
            )
        } else {
            SituationField::unknown(
                FieldKey::MemberStates,
                "no service or entity says where it is provided",
            )
        });
        fields.push(SituationField::known(FieldKey::Ongoing, json!(o.ongoing)));
        fields.push(match &state.detected_by {
            Some(by) => SituationField::known(FieldKey::DetectedBy, json!(by)),
            None => SituationField::unknown(FieldKey::DetectedBy, "nothing detected yet"),
        });
        fields.push(SituationField::unknown(
            FieldKey::IndicatorsOfCompromise,
            "no forensic finding has been reported in this drill",
        ));
        let at = self
            .scale
            .to_exercise(now.saturating_duration_since(awareness));
        // Fields are built above without repeats or missing values: this cannot fail.
        let clocks: &[Report] = if self.dora {
            &DORA_CLOCKS
        } else {
            &NIS2_CLOCKS
        };
        let milestones = self.milestones_of(state);
        Situation::new(at, self.scale, fields, clocks, &milestones).unwrap_or_else(|_| {
            Situation::new(at, self.scale, Vec::new(), &[], &Milestones::default())
                .expect("an empty situation is valid")
        })
    }

    /// Whether every point that can still be asked has been answered, or when the last
    /// one still open stops being worth waiting for (its budget times
    /// [`LATE_LIMIT_MULTIPLE`] after it was asked). `None` when nothing is left to wait for.
    pub fn wait_until(&self, now: Instant) -> Option<Instant> {
        let state = self.lock();
        state.awareness?;
        let mut until: Option<Instant> = None;
        for i in 0..self.points.len() {
            if state.answers[i].is_some() {
                continue;
            }
            let Some(asked) = self.asked_at(&state, i) else {
                continue;
            };
            let limit = asked
                + self
                    .scale
                    .to_real(self.points[i].point.budget() * LATE_LIMIT_MULTIPLE);
            if limit > now {
                until = Some(until.map_or(limit, |u| u.max(limit)));
            }
        }
        until
    }

    /// Each point with when it was asked and its answer, in the experiment's order.
    pub fn lifecycle(&self) -> Vec<PointLifecycle> {
        let state = self.lock();
        self.points
            .iter()
            .enumerate()
            .map(|(i, p)| PointLifecycle {
                id: p.id.clone(),
                decision: p.point.kind().id().to_owned(),
                question: p.point.kind().question().to_owned(),
                decided_by: p.decided_by.clone(),
                handed_from: match &p.after {
                    Trigger::Decision(earlier) => self
                        .points
                        .iter()
                        .find(|q| &q.id == earlier)
                        .map(|q| q.decided_by.clone())
                        .filter(|role| role != &p.decided_by),
                    Trigger::Detection => None,
                },
                budget: p.point.budget(),
                point: p.point.clone(),
                asked_at: self.asked_at(&state, i),
                answer: state.answers[i].clone(),
            })
            .collect()
    }

    /// Awareness, once something was detected.
    pub fn awareness(&self) -> Option<Instant> {
        self.lock().awareness
    }

    /// When each role first opened its link, in the experiment's order.
    pub fn opened(&self) -> Vec<(String, String, bool, Option<Instant>)> {
        let state = self.lock();
        self.roles
            .iter()
            .zip(&state.opened)
            .map(|(r, o)| (r.name.clone(), r.function.clone(), r.chat, *o))
            .collect()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_millis() >= 500))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
timeScale: 60
services:
  - {name: checkout, probes: [api], memberStates: [DE, FR], customerFacing: true}
roles:
  - {name: incident-commander, function: cyber}
  - {name: legal, function: legal}
decisions:
  - {id: significance, decision: nis2-significant-incident, decidedBy: incident-commander, budget: 30m}
  - {id: notify, decision: notify-authority, decidedBy: legal, after: {decision: significance}, delay: 6m, budget: 1h}
  - {id: status-page, question: "Post on the status page?", answers: [now, later], decidedBy: legal, budget: 1h}
"#;

    fn desk_in(dir: &std::path::Path) -> (Desk, Arc<Journal>) {
        let spec: Response = serde_saphyr::from_str(SPEC).unwrap();
        let journal = Arc::new(Journal::create(&dir.join("journal.jsonl")).unwrap());
        let desk = Desk::new(
            "e",
            "run-1",
            &spec,
            &[],
            false,
            journal.clone(),
            Clock::start(),
        )
        .unwrap();
        (desk, journal)
    }

    fn token(desk: &Desk, role: &str) -> String {
        desk.link_path(role)
            .unwrap()
            .trim_start_matches("/respond/")
            .to_owned()
    }

    fn request(point: &str, answer: &str, snapshot: Option<String>) -> AnswerRequest {
        AnswerRequest {
            point: point.into(),
            answer: answer.into(),
            rationale: "because".into(),
            snapshot,
            by: Some("alice".into()),
        }
    }

    fn kinds(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn nothing_is_put_before_awareness_and_links_are_per_role() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, _) = desk_in(dir.path());
        let (ic, legal) = (token(&desk, "incident-commander"), token(&desk, "legal"));
        assert_ne!(ic, legal);
        let now = Instant::now();
        let view = desk.view(&ic, now).unwrap();
        assert_eq!(view.state, RunState::Waiting);
        assert_eq!(view.points.len(), 1, "only the role's own points");
        assert_eq!(view.points[0].state, PointState::Pending);
        assert_eq!(
            view.points[0].waiting_for.as_deref(),
            Some("the first detection")
        );
        let err = desk
            .answer(&ic, request("significance", "yes", None), now)
            .unwrap_err();
        assert!(matches!(err, AnswerError::NotAware), "{err}");
        assert_eq!(err.status(), 409);
        assert!(matches!(
            desk.view("not-a-token", now).unwrap_err(),
            AnswerError::Token(TokenError::Refused)
        ));
    }

    #[test]
    fn an_answer_puts_the_next_question_after_its_delay_on_the_shown_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, _) = desk_in(dir.path());
        let (ic, legal) = (token(&desk, "incident-commander"), token(&desk, "legal"));
        let t0 = Instant::now();
        assert!(desk.set_awareness(t0, "monitor"));
        desk.observe(Observed {
            observations: 10,
            failures: 4,
            outage: Duration::from_secs(2),
            failed_probes: vec!["api".into()],
            ongoing: true,
        });
        let told = desk.newly_asked(t0);
        assert_eq!(
            told,
            [
                ("significance".to_owned(), "incident-commander".to_owned()),
                ("status-page".to_owned(), "legal".to_owned())
            ]
        );
        assert!(desk.newly_asked(t0).is_empty(), "each point is told once");
        // 10 s real is 10 min of exercise time at scale 60.
        let shown_at = t0 + Duration::from_secs(10);
        let view = desk.view(&ic, shown_at).unwrap();
        let point = &view.points[0];
        assert_eq!(point.state, PointState::Open);
        assert_eq!(point.remaining_ms, Some(20 * 60_000));
        let situation = point.situation.as_ref().unwrap();
        assert_eq!(situation["atMs"], 600_000);
        let field = |key: &str| {
            situation["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["key"] == key)
                .unwrap()
                .clone()
        };
        assert_eq!(field("availability-so-far")["value"], 0.6);
        assert_eq!(field("outage-so-far")["value"], 120_000);
        assert_eq!(field("outage-so-far")["certainty"], "estimated");
        assert_eq!(field("affected-services")["value"], json!(["checkout"]));
        assert_eq!(field("member-states")["value"], json!(["DE", "FR"]));
        assert_eq!(field("indicators-of-compromise")["certainty"], "unknown");

        // The legal point waits for the answer.
        let pending = desk.view(&legal, shown_at).unwrap();
        let notify = pending.points.iter().find(|p| p.id == "notify").unwrap();
        assert_eq!(notify.state, PointState::Pending);
        assert_eq!(
            notify.waiting_for.as_deref(),
            Some("the answer to `significance`")
        );
        let err = desk
            .answer(&legal, request("notify", "yes", None), shown_at)
            .unwrap_err();
        assert!(matches!(err, AnswerError::NotAsked { .. }), "{err}");

        // Things change; the answer names what was on the screen.
        desk.observe(Observed {
            observations: 20,
            failures: 4,
            outage: Duration::from_secs(3),
            failed_probes: vec!["api".into()],
            ongoing: false,
        });
        let answered_at = t0 + Duration::from_secs(20);
        let recorded = desk
            .answer(
                &ic,
                request("significance", " YES ", point.snapshot.clone()),
                answered_at,
            )
            .unwrap();
        assert_eq!(recorded.answer, "yes");
        assert!(recorded.shown);
        assert_eq!(Some(&recorded.snapshot), point.snapshot.as_ref());
        assert_eq!(recorded.after, Duration::from_secs(20 * 60));
        let again = desk
            .answer(&ic, request("significance", "no", None), answered_at)
            .unwrap_err();
        assert!(matches!(again, AnswerError::AlreadyAnswered(_)));

        // Six minutes of exercise time later (6 s real) legal's question is put.
        let view = desk
            .view(&legal, answered_at + Duration::from_secs(5))
            .unwrap();
        assert_eq!(view.points[0].state, PointState::Pending);
        assert!(
            view.points[0]
                .waiting_for
                .as_deref()
                .unwrap()
                .ends_with("of exercise time"),
            "{:?}",
            view.points[0].waiting_for
        );
        assert_eq!(
            desk.next_ask(answered_at),
            Some(answered_at + Duration::from_secs(6))
        );
        let asked = desk.newly_asked(answered_at + Duration::from_secs(6));
        assert_eq!(asked, [("notify".to_owned(), "legal".to_owned())]);
        // The status page question was put at awareness, with the first.
        let journal = kinds(dir.path());
        assert_eq!(journal.iter().filter(|k| *k == "decision-asked").count(), 3);
        assert_eq!(
            journal.iter().filter(|k| *k == "decision-answered").count(),
            1
        );
    }

    #[test]
    fn refused_answers_record_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, _) = desk_in(dir.path());
        let ic = token(&desk, "incident-commander");
        let t0 = Instant::now();
        desk.set_awareness(t0, "monitor");
        let at = t0 + Duration::from_secs(1);
        let cases: Vec<(AnswerRequest, u16, &str)> = vec![
            (
                request("significance", "maybe", None),
                422,
                "not an allowed answer",
            ),
            (
                request("notify", "yes", None),
                404,
                "unknown decision point `notify`; yours are significance",
            ),
            (request("nope", "yes", None), 404, "unknown decision point"),
            (
                request("significance", "yes", Some("0".repeat(64))),
                422,
                "was not shown for this decision point",
            ),
            (
                AnswerRequest {
                    rationale: "  ".into(),
                    ..request("significance", "yes", None)
                },
                422,
                "the rationale is empty",
            ),
            (
                AnswerRequest {
                    by: Some("x".repeat(MAX_BY_CHARS + 1)),
                    ..request("significance", "yes", None)
                },
                422,
                "the name is longer than",
            ),
        ];
        for (req, status, says) in cases {
            let err = desk.answer(&ic, req, at).unwrap_err();
            assert_eq!(err.status(), status, "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
        assert!(!kinds(dir.path()).contains(&"decision-answered".to_owned()));

        // After the run every link is refused with 410, and the page says why.
        desk.close();
        desk.close();
        let err = desk.view(&ic, at).unwrap_err();
        assert_eq!(err.status(), 410);
        assert_eq!(
            err.to_string(),
            "this link has expired: the drill's run has ended"
        );
        let err = desk
            .answer(&ic, request("significance", "yes", None), at)
            .unwrap_err();
        assert_eq!(err.status(), 410);
        let journal = kinds(dir.path());
        assert_eq!(
            journal.iter().filter(|k| *k == "response-closed").count(),
            1
        );
        assert!(!journal.contains(&"decision-answered".to_owned()));
    }

    #[test]
    fn the_wait_ends_when_every_question_put_is_answered_or_worth_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, _) = desk_in(dir.path());
        let t0 = Instant::now();
        assert_eq!(
            desk.wait_until(t0),
            None,
            "nothing to wait for before awareness"
        );
        desk.set_awareness(t0, "monitor");
        // significance: 30 min budget, 4 budgets = 2 h = 120 s real; status page: 1 h, 240 s.
        assert_eq!(desk.wait_until(t0), Some(t0 + Duration::from_secs(240)));
        let legal = token(&desk, "legal");
        desk.answer(&legal, request("status-page", "later", None), t0)
            .unwrap();
        assert_eq!(desk.wait_until(t0), Some(t0 + Duration::from_secs(120)));
        assert_eq!(desk.wait_until(t0 + Duration::from_secs(121)), None);
    }

    /// A desk whose legal role approves the early warning, the incident notification and
    /// the final report, which the incident commander reviews first.
    fn approvals_desk(dir: &std::path::Path) -> Desk {
        let spec: Response = serde_saphyr::from_str(
            r#"
timeScale: 60
roles:
  - {name: ic, function: cyber}
  - {name: legal, function: legal}
approvals:
  - {report: nis2-early-warning, approvedBy: legal, budget: 1h}
  - {report: nis2-incident-notification, approvedBy: legal, budget: 4h}
  - {report: nis2-final-report, reviewedBy: ic, approvedBy: legal, budget: 7d}
"#,
        )
        .unwrap();
        let journal = Arc::new(Journal::create(&dir.join("journal.jsonl")).unwrap());
        Desk::new("e", "run-1", &spec, &[], false, journal, Clock::start()).unwrap()
    }

    fn point<'a>(view: &'a RoleView, id: &str) -> &'a crate::response::PointView {
        view.points.iter().find(|p| p.id == id).unwrap()
    }

    #[test]
    fn a_final_report_is_put_when_the_report_it_follows_is_approved_and_its_clock_starts_then() {
        let dir = tempfile::tempdir().unwrap();
        let desk = approvals_desk(dir.path());
        let (ic, legal) = (token(&desk, "ic"), token(&desk, "legal"));
        let aware = Instant::now();
        desk.set_awareness(aware, "monitor");
        let view = desk.view(&ic, aware).unwrap();
        let review = point(&view, "review-nis2-final-report");
        assert_eq!(review.state, PointState::Pending);
        assert_eq!(
            review.waiting_for.as_deref(),
            Some("the approval `approve-nis2-incident-notification`")
        );
        // The final report's clock waits; the others run from awareness.
        let view = desk.view(&legal, aware).unwrap();
        let clocks = &point(&view, "approve-nis2-early-warning")
            .situation
            .as_ref()
            .unwrap()["clocks"];
        let states: Vec<(&str, &str)> = clocks
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["deadline"].as_str().unwrap(),
                    c["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("nis2-early-warning", "running"),
                ("nis2-incident-notification", "running"),
                ("nis2-final-report", "waiting"),
            ]
        );

        // Approved 2 s after awareness: 2 min of exercise time at 60.
        let approved_at = aware + Duration::from_secs(2);
        desk.answer(
            &legal,
            request("approve-nis2-incident-notification", "approve", None),
            approved_at,
        )
        .unwrap();
        let m = desk.milestones();
        assert_eq!(
            m.submitted[&Report::Nis2IncidentNotification],
            Duration::from_secs(120)
        );
        assert_eq!(
            m.due_at(Report::Nis2FinalReport),
            Some(Duration::from_secs(120) + crate::spec::MONTH)
        );
        let later = approved_at + Duration::from_secs(1);
        let view = desk.view(&ic, later).unwrap();
        let review = point(&view, "review-nis2-final-report");
        assert_eq!(review.state, PointState::Open);
        assert_eq!(review.asked_at_ms, Some(120_000));
        let clocks = review.situation.as_ref().unwrap()["clocks"].clone();
        let final_report = clocks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["deadline"] == "nis2-final-report")
            .unwrap();
        assert_eq!(final_report["state"], "running");
        assert_eq!(
            final_report["dueAtMs"],
            json!(120_000 + crate::spec::MONTH.as_millis() as u64)
        );
        let notification = clocks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["deadline"] == "nis2-incident-notification")
            .unwrap();
        assert_eq!(notification["state"], "submitted");
        assert_eq!(notification["onTime"], true);
    }

    #[test]
    fn a_rejected_report_starts_no_clock_and_puts_nothing_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let desk = approvals_desk(dir.path());
        let (ic, legal) = (token(&desk, "ic"), token(&desk, "legal"));
        let aware = Instant::now();
        desk.set_awareness(aware, "monitor");
        desk.answer(
            &legal,
            request("approve-nis2-incident-notification", "reject", None),
            aware + Duration::from_secs(1),
        )
        .unwrap();
        assert!(desk.milestones().submitted.is_empty());
        let later = aware + Duration::from_secs(5);
        let view = desk.view(&ic, later).unwrap();
        let review = point(&view, "review-nis2-final-report");
        assert_eq!(review.state, PointState::Pending);
        assert!(
            review
                .waiting_for
                .as_deref()
                .unwrap()
                .contains("which was not given"),
            "{review:?}"
        );
        let refused = desk
            .answer(
                &ic,
                request("review-nis2-final-report", "ready for approval", None),
                later,
            )
            .unwrap_err();
        assert_eq!(refused.status(), 409, "{refused}");
        // Nothing is waited for on its account: only the early warning is still open.
        let open: Vec<String> = desk
            .lifecycle()
            .into_iter()
            .filter(|p| p.asked_at.is_some() && p.answer.is_none())
            .map(|p| p.id)
            .collect();
        assert_eq!(open, ["approve-nis2-early-warning"]);
    }

    #[test]
    fn a_runbook_answers_when_its_rule_has_held_long_enough() {
        let spec: Response = serde_saphyr::from_str(
            r#"
timeScale: 60
responders: runbook
roles: [{name: incident-commander, function: cyber}]
decisions:
  - id: significance
    decision: nis2-significant-incident
    decidedBy: incident-commander
    budget: 1h
    runbook:
      - {answer: yes, when: {availabilityBelow: 0.9}, for: 5m}
      - {answer: no, for: 50m}
"#,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::create(&dir.path().join("journal.jsonl")).unwrap());
        let desk = Desk::new("e", "r", &spec, &[], false, journal, Clock::start()).unwrap();
        let t0 = Instant::now();
        assert!(desk.run_runbook(t0).is_empty(), "nothing before awareness");
        desk.set_awareness(t0, "monitor");
        let bad = Observed {
            observations: 10,
            failures: 5,
            ..Observed::default()
        };
        desk.observe(bad.clone());
        assert!(desk.run_runbook(t0).is_empty(), "the rule starts to hold");
        // 4 s real is 4 min of exercise time: not yet 5.
        assert!(desk.run_runbook(t0 + Duration::from_secs(4)).is_empty());
        // Availability recovers: the rule stops holding and starts again from scratch.
        desk.observe(Observed {
            observations: 100,
            failures: 5,
            ..Observed::default()
        });
        assert!(desk.run_runbook(t0 + Duration::from_secs(5)).is_empty());
        desk.observe(bad);
        assert!(desk.run_runbook(t0 + Duration::from_secs(6)).is_empty());
        assert!(desk.run_runbook(t0 + Duration::from_secs(10)).is_empty());
        let given = desk.run_runbook(t0 + Duration::from_secs(11));
        assert_eq!(given.len(), 1);
        assert_eq!(given[0].answer, "yes");
        assert_eq!(given[0].by.as_deref(), Some(RUNBOOK));
        assert_eq!(
            given[0].rationale,
            "automated runbook, rule 1: availability below 90% for 5m, answer yes"
        );
        assert_eq!(given[0].after, Duration::from_secs(11 * 60));
        assert!(
            desk.run_runbook(t0 + Duration::from_secs(60)).is_empty(),
            "answered once"
        );
    }

    #[test]
    fn bodies_are_read_as_json_or_as_a_form() {
        let json = AnswerRequest::from_json(
            br#"{"point": "significance", "answer": "yes", "rationale": "r", "by": "bob"}"#,
        )
        .unwrap();
        assert_eq!(json.by.as_deref(), Some("bob"));
        let form = AnswerRequest::from_form(
            b"point=significance&answer=yes&rationale=a+b%21&snapshot=&by=",
        )
        .unwrap();
        assert_eq!(form.rationale, "a b!");
        assert_eq!((form.snapshot, form.by), (None, None));
        for (body, says) in [
            (&b"{"[..], "body is not json"),
            (b"[1]", "body must be a json object"),
            (
                br#"{"point": "x", "answer": "y", "rationale": "z", "token": "t"}"#,
                "unknown field `token`",
            ),
            (br#"{"point": "x"}"#, "missing field `answer`"),
        ] {
            let err = AnswerRequest::from_json(body).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let err = AnswerRequest::from_form(b"point=x")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid form: "), "{err}");
    }
}
