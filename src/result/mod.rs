//! `result.json`: the machine-readable result of a run (schema version 1, documented in
//! docs/result.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod effect;
pub mod evidence;
mod kubernetes;
mod security;
mod traffic;

pub use effect::Effect;
pub use kubernetes::{PodRecovery, WarningEvent};
pub use security::{CanaryOutcome, PreventionOutcome, SecurityOutcome};
pub use traffic::{IterationTraffic, SeriesLine, TrafficPhase, TrafficSummary};

use crate::measure::{DurationSummary, LatencySummary};
use crate::scorecard::{Scorecard, ScorecardInput};
use crate::time::Timestamp;

/// The version of the result format; raised on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How a run ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every objective met, every iteration recovered.
    Passed,
    /// An objective was missed, the steady state did not hold at baseline, or the system
    /// did not recover.
    Failed,
    /// A safety condition or a platform error stopped the run; everything was reverted.
    Aborted,
    /// SIGINT or SIGTERM stopped the run; everything was reverted.
    Interrupted,
    /// A revert failed: the target may be left changed.
    RollbackFailed,
}

impl RunStatus {
    /// Whether a run that ended so has a score to compare with other runs': an aborted or
    /// interrupted run measured a run cut short, not the system.
    pub fn is_scored(self) -> bool {
        match self {
            Self::Passed | Self::Failed | Self::RollbackFailed => true,
            Self::Aborted | Self::Interrupted => false,
        }
    }

    /// The status as written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::Interrupted => "interrupted",
            Self::RollbackFailed => "rollback_failed",
        }
    }
}

/// The whole result.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of the run.
    pub run_id: String,
    /// The W3C trace id of the run (32 hex digits): of its exported spans when
    /// OpenTelemetry export is on, and in the `traceparent` of every HTTP probe request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// firedrill's version.
    pub firedrill_version: String,
    /// What was run.
    pub experiment: ExperimentInfo,
    /// The verdict.
    pub status: RunStatus,
    /// Why the run did not pass, in one sentence.
    pub reason: Option<String>,
    /// What to do about the reason, in one line, when there is something to do (no cluster
    /// configured, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// RFC 3339 UTC.
    pub started_at: Timestamp,
    /// RFC 3339 UTC.
    pub finished_at: Timestamp,
    /// Wall time of the whole run.
    pub duration_ms: f64,
    /// The schedule actually used.
    pub settings: Settings,
    /// One entry per iteration that started.
    pub iterations: Vec<IterationResult>,
    /// Probe latency and availability per phase over all iterations: probe → phase → summary.
    pub probes: BTreeMap<String, BTreeMap<String, LatencySummary>>,
    /// Time to detect and recover over the iterations.
    pub summary: Summary,
    /// The traffic carried through the run (`spec.traffic`), per phase over all iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficSummary>,
    /// Each objective and whether it was met.
    pub objectives: Vec<ObjectiveResult>,
    /// What was reverted when the run ended.
    pub rollback: RollbackResult,
    /// Events outside iterations (start-up, shut-down).
    pub events: Vec<Event>,
    /// Files written next to this one.
    pub files: BTreeMap<String, String>,
    /// What the scorecard was computed from: the measurements attributed to capabilities,
    /// the gates hit and the weights (docs/scorecard.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard_input: Option<ScorecardInput>,
    /// The cybersecurity performance scorecard of this run; its formula version inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<Scorecard>,
    /// What the run history showed when the run was scored with one (`run --history`): the
    /// scorecard's repeatability and continuous testing come from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::scorecard::history::HistoryEvidence>,
    /// Notification drafts written at detection, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationResult>,
    /// Acknowledgements by role, when the experiment names roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordination: Option<CoordinationResult>,
    /// The people's decisions, when the experiment puts decisions to roles
    /// (`spec.response`; docs/response.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseResult>,
}

impl RunResult {
    /// Whether the run was stopped (aborted or interrupted) before any fault was injected:
    /// it measured nothing, so it has no score.
    pub fn stopped_before_injection(&self) -> bool {
        matches!(self.status, RunStatus::Aborted | RunStatus::Interrupted)
            && self.iterations.iter().all(|i| i.injected_at.is_none())
    }
}

/// The decisions the drill put to people, their answers, and how each is judged in
/// hindsight. Times are exercise time (real time times `timeScale`) unless named real.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseResult {
    /// Who answered: `people`, or `runbook` (an automated runbook: the organisation's rules,
    /// not its people).
    #[serde(default = "people")]
    pub responders: String,
    /// The run's time scale.
    pub time_scale: f64,
    /// Awareness: the run's first detection; no question is put before it.
    pub awareness_at: Option<Timestamp>,
    /// The iteration whose outcome hindsight judges against: the one of awareness.
    pub judged_on_iteration: Option<u32>,
    /// Each role, in the experiment's order.
    pub roles: Vec<ResponseRoleResult>,
    /// Each decision point, in the experiment's order (the approvals' review and approval
    /// points among them).
    pub decisions: Vec<DecisionResult>,
    /// Each draft that needed approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalResult>,
}

/// A notification draft's way to approval: reviewed, approved, submitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResult {
    /// The draft, such as `nis2-early-warning`.
    pub report: String,
    /// The role that reviews it, if any.
    pub reviewed_by: Option<String>,
    /// The review's answer, when given.
    pub review: Option<String>,
    /// The role that approves it.
    pub approved_by: String,
    /// `approved`, `rejected`, `not-approved` (put, never answered), or `not-put` (its clock
    /// never started: the report it follows was not approved).
    pub outcome: String,
    /// When it was approved (or rejected).
    pub decided_at: Option<Timestamp>,
    /// When the report's clock started, exercise milliseconds after awareness: 0 for the
    /// reports due from awareness, the submission of the report it follows for the others;
    /// absent when that never happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_started_ms: Option<f64>,
    /// From the start of its clock to the approval, exercise milliseconds: the report is
    /// ready only now.
    pub time_to_approve_ms: Option<f64>,
    /// The time the law gives from the start of its clock, exercise milliseconds.
    pub deadline_ms: f64,
    /// Whether approved by the deadline.
    pub within_deadline: bool,
    /// The approved report's submission to the exercise inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<DeliveryResult>,
    /// The mandatory flags the approved report still leaves unknown (the early warning's
    /// suspected malicious act and cross-border impact): what people approved without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mandatory_flags_missing: Vec<String>,
}

fn people() -> String {
    "people".to_owned()
}

/// A role of the drill and how it was reached.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRoleResult {
    /// The role.
    pub role: String,
    /// What it does.
    pub function: String,
    /// `chat` or `none`.
    pub reach: String,
    /// When its link was first opened.
    pub link_opened_at: Option<Timestamp>,
    /// Chat messages posted to it: one per decision put.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat: Vec<ChatPostResult>,
}

/// A chat message that told a role a decision waits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatPostResult {
    /// The decision point.
    pub point: String,
    /// The webhook, without what may be a secret.
    pub url: String,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
    /// The `chat-posted` or `chat-post-failed` record.
    pub journal_seq: u64,
}

/// One decision point: when it was put, the answer, and its judgement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DecisionResult {
    /// The point's id.
    pub point: String,
    /// The catalogued decision's id, or `custom`.
    pub decision: String,
    /// The question.
    pub question: String,
    /// The role that decides.
    pub decided_by: String,
    /// The role whose answer put this point, when it is another role: a hand-off, whose
    /// delay (from the point put to its answer) is coordination evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_from: Option<String>,
    /// The time the role had, exercise milliseconds.
    pub budget_ms: f64,
    /// When it was put; `None` when its trigger never happened.
    pub asked_at: Option<Timestamp>,
    /// The answer, when one came.
    pub answer: Option<String>,
    /// Why, in the person's words.
    pub rationale: Option<String>,
    /// Who answered, as they said.
    pub by: Option<String>,
    /// When the answer arrived.
    pub answered_at: Option<Timestamp>,
    /// From the question to the answer, exercise milliseconds.
    pub time_to_decide_ms: Option<f64>,
    /// The SHA-256 of the situation the answer was taken on (journaled whole).
    pub snapshot: Option<String>,
    /// The share of the fields that mattered that were unknown at the answer.
    pub unknown_share: Option<f64>,
    /// Whether the answer came within the budget.
    pub timely: bool,
    /// `consistent`, `inconsistent` or `undecidable` with hindsight; `None` without an answer.
    pub consistency: Option<String>,
    /// The answer hindsight gives, when it can tell.
    pub hindsight: Option<String>,
    /// The timeliness score, 0 to 100.
    pub timeliness: f64,
    /// The decision's score, 0 to 100 (docs/response.md, "How a decision is scored").
    pub score: f64,
    /// What the organisation should look at, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// The `decision-answered` record.
    pub journal_seq: Option<u64>,
}

/// A notification draft written at detection (docs/notifications.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationResult {
    /// The iteration whose detection started the clock.
    pub iteration: u32,
    /// `nis2-early-warning`, `nis2-incident-notification` or `dora-initial-notification`.
    pub kind: String,
    /// Awareness: the detection, RFC 3339 UTC.
    pub awareness_at: Timestamp,
    /// The legal deadline computed from awareness, RFC 3339 UTC.
    pub deadline_at: Timestamp,
    /// When the draft was written, RFC 3339 UTC.
    pub drafted_at: Timestamp,
    /// From detection to the draft written.
    pub time_to_draft_ms: f64,
    /// The draft, relative to the results folder.
    pub file: String,
    /// Mandatory flags the draft could not fill (early warning only).
    pub mandatory_flags_missing: Vec<String>,
    /// Fields marked known.
    pub fields_known: u32,
    /// Fields marked estimated.
    pub fields_estimated: u32,
    /// Fields marked unknown.
    pub fields_unknown: u32,
    /// The journal record of the draft.
    pub journal_seq: u64,
    /// The delivery to the experiment's webhook, when one is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryResult>,
}

/// The delivery of a draft to a webhook.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryResult {
    /// Where it was posted.
    pub url: String,
    /// When a 2xx answer arrived, RFC 3339 UTC.
    pub delivered_at: Option<Timestamp>,
    /// From detection to the 2xx answer.
    pub time_to_deliver_ms: Option<f64>,
    /// The HTTP status of the answer.
    pub status: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
}

/// Who acknowledged the incident, and when.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoordinationResult {
    /// Awareness: the run's first detection, RFC 3339 UTC.
    pub awareness_at: Option<Timestamp>,
    /// How long after awareness the run waited.
    pub timeout_ms: f64,
    /// One entry per role named in the experiment.
    pub acknowledgements: Vec<AcknowledgementResult>,
}

/// One role's acknowledgement; a role with none is a finding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcknowledgementResult {
    /// The role, as named in the experiment.
    pub role: String,
    /// When it acknowledged, RFC 3339 UTC; none when it never did.
    pub acknowledged_at: Option<Timestamp>,
    /// From awareness to the acknowledgement.
    pub time_to_acknowledge_ms: Option<f64>,
    /// Who acknowledged, as they said.
    pub by: Option<String>,
    /// What they added.
    pub note: Option<String>,
    /// The journal record of the acknowledgement.
    pub journal_seq: Option<u64>,
}

/// The experiment that was run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.description`.
    pub description: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The file it came from, if any.
    pub file: Option<String>,
}

/// The schedule actually used.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Probe interval.
    pub probe_interval_ms: f64,
    /// Baseline length.
    pub baseline_ms: f64,
    /// Iterations planned.
    pub iterations: u32,
    /// `recovery.stableFor`.
    pub stable_for_ms: f64,
    /// Service address of each workload.
    pub services: BTreeMap<String, String>,
}

/// How an iteration ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IterationStatus {
    /// The fault schedule ran and the system recovered.
    Passed,
    /// The fault schedule ran, and the system did not recover or a prevention check was
    /// accepted.
    Failed,
    /// The steady state did not hold at baseline: no fault was injected.
    BaselineFailed,
    /// A safety condition or a platform error stopped the iteration.
    Aborted,
    /// SIGINT or SIGTERM stopped the iteration.
    Interrupted,
}

impl IterationStatus {
    /// The status as written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::BaselineFailed => "baseline_failed",
            Self::Aborted => "aborted",
            Self::Interrupted => "interrupted",
        }
    }

    /// Whether the iteration ran its whole fault schedule (passed or failed).
    pub fn completed(self) -> bool {
        matches!(self, Self::Passed | Self::Failed)
    }
}

impl std::fmt::Display for IterationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One iteration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IterationResult {
    /// From 1.
    pub index: u32,
    /// How the iteration ended.
    pub status: IterationStatus,
    /// When the baseline began.
    pub started_at: Timestamp,
    /// The first injection.
    pub injected_at: Option<Timestamp>,
    /// The first detection signal after injection.
    pub detected_at: Option<Timestamp>,
    /// Which signal detected it.
    pub detected_by: Option<String>,
    /// Start of the first window in which the steady state held for `stableFor`.
    pub recovered_at: Option<Timestamp>,
    /// `detectedAt - injectedAt`.
    pub time_to_detect_ms: Option<f64>,
    /// `recoveredAt - injectedAt`.
    pub time_to_recover_ms: Option<f64>,
    /// Each detection signal's first firing after the injection and within its timeout, in
    /// the order they fired; the first is the iteration's detection (`detectedBy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals_fired: Vec<SignalFired>,
    /// Total time the steady state did not hold after injection.
    pub outage_ms: f64,
    /// Share of passing observations from injection to the end of recovery.
    pub availability: Option<f64>,
    /// Each fault's targets and times.
    pub faults: Vec<FaultRecord>,
    /// Probe → phase → summary.
    pub probes: BTreeMap<String, BTreeMap<String, LatencySummary>>,
    /// The traffic of this iteration, its error budget burned and latency degradation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<IterationTraffic>,
    /// Everything that happened, in order.
    pub events: Vec<Event>,
    /// Each pod a fault removed (Kubernetes pod-delete, pod-evict) and how it was replaced,
    /// by the client's observations and by the API server's timestamps; a pod not replaced
    /// by the end of the iteration has no figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_recovery: Vec<PodRecovery>,
    /// The Kubernetes Warning event that detected the fault, when a `kubernetes-event`
    /// signal did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_event: Option<WarningEvent>,
    /// The iteration's span id (16 hex digits) in the run's trace, when OpenTelemetry
    /// export is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

impl IterationResult {
    /// The first fault its check showed not in force: such an iteration is no evidence.
    pub fn ineffective_fault(&self) -> Option<&FaultRecord> {
        self.faults.iter().find(|f| f.ineffective())
    }
}

/// A detection signal's first firing in an iteration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SignalFired {
    /// The signal's name, as in the experiment.
    pub signal: String,
    /// When it fired, RFC 3339 UTC.
    pub at: Timestamp,
    /// From the first injection to the firing.
    pub time_to_detect_ms: f64,
}

/// What one fault did in one iteration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRecord {
    /// The fault's name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub fault_type: String,
    /// What it acted on.
    pub targets: Vec<String>,
    /// When it was injected.
    pub injected_at: Option<Timestamp>,
    /// When it was reverted.
    pub reverted_at: Option<Timestamp>,
    /// Why it could not be injected or reverted.
    pub error: Option<String>,
    /// Probe → latency and availability of the observations made while this fault held
    /// (from its injection to its revert) in this iteration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<String, LatencySummary>,
    /// Probe → the same, over the observations made while this fault was the only one
    /// holding; empty when it never held alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes_alone: BTreeMap<String, LatencySummary>,
    /// What a detection canary or a prevention check did (docs/security-drills.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityOutcome>,
    /// Whether the fault was seen in force after its injection (docs/effects.md): absent
    /// when it was not injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// When a signal the canary names noticed it, RFC 3339 UTC: null for a canary not
    /// noticed, absent for every other fault.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present")]
    pub detected_at: Option<Option<Timestamp>>,
    /// The signal that noticed the canary (null, or absent, as `detectedAt`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present")]
    pub detected_by: Option<Option<String>>,
    /// From the start of the canary's action to `detectedAt` (null, or absent, as
    /// `detectedAt`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present")]
    pub time_to_detect_ms: Option<Option<f64>>,
}

impl FaultRecord {
    /// Whether its check showed the fault not in force.
    pub fn ineffective(&self) -> bool {
        self.effect.as_ref().is_some_and(Effect::is_ineffective)
    }

    /// The canary's outcome when this fault is a detection canary that was performed.
    pub fn canary(&self) -> Option<&CanaryOutcome> {
        match &self.security {
            Some(SecurityOutcome::Canary(c)) => Some(c),
            _ => None,
        }
    }

    /// The prevention check's outcome when this fault is one that was tried.
    pub fn prevention(&self) -> Option<&PreventionOutcome> {
        match &self.security {
            Some(SecurityOutcome::Prevention(p)) => Some(p),
            _ => None,
        }
    }

    /// When and by which signal a canary was noticed, and its time to detect; `None` when
    /// it was not noticed or is not a canary.
    pub fn noticed(&self) -> Option<(Timestamp, &str, f64)> {
        Some((
            self.detected_at.flatten()?,
            self.detected_by.as_ref()?.as_deref()?,
            self.time_to_detect_ms.flatten()?,
        ))
    }
}

/// Serde for a field that most records leave out and some write even when it is null:
/// `None` is left out (with `skip_serializing_if`), `Some(None)` is written as null and
/// read back as such.
mod present {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Something that happened.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// RFC 3339 UTC.
    pub at: Timestamp,
    /// Milliseconds since the run started (monotonic).
    pub offset_ms: f64,
    /// Kebab-case kind, such as `fault-injected`.
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
}

/// Time to detect and recover over the iterations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Iterations run to completion.
    pub iterations: u32,
    /// Iterations in which a detection signal fired.
    pub detected: u32,
    /// Iterations in which the steady state came back.
    pub recovered: u32,
    /// Percentiles of time to detect.
    pub time_to_detect_ms: DurationSummary,
    /// Percentiles of time to recover.
    pub time_to_recover_ms: DurationSummary,
    /// Percentiles of outage.
    pub outage_ms: DurationSummary,
    /// Share of passing observations from injection to recovery, all iterations.
    pub availability: Option<f64>,
    /// Per-pod recovery over every iteration, when a fault removed pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_recovery: Option<PodRecoverySummary>,
}

/// Time to reschedule and time to ready over every pod removed in a run; `count` and
/// `missing` count pods, not iterations.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodRecoverySummary {
    /// Pods removed by faults.
    pub pods: u64,
    /// Removed → replacement created, as the client observed them.
    pub reschedule_ms: DurationSummary,
    /// Removed → replacement created, by the API server's whole-second timestamps.
    pub server_reschedule_ms: DurationSummary,
    /// Replacement created → Ready, as the client observed them.
    pub ready_ms: DurationSummary,
    /// Replacement created → Ready, by the API server's whole-second timestamps.
    pub server_ready_ms: DurationSummary,
}

impl PodRecoverySummary {
    /// The summary over these iterations, or None when no fault removed a pod.
    pub fn of(iterations: &[IterationResult]) -> Option<Self> {
        use crate::measure::DurationRecorder;
        let pods: Vec<&PodRecovery> = iterations.iter().flat_map(|i| &i.pod_recovery).collect();
        if pods.is_empty() {
            return None;
        }
        let summary = |pick: &dyn Fn(&PodRecovery) -> Option<i64>| {
            let mut rec = DurationRecorder::default();
            for p in &pods {
                // A server figure below zero is whole-second rounding: the two stamps fell
                // in the same second.
                rec.record(pick(p).map(|ms| std::time::Duration::from_millis(ms.max(0) as u64)));
            }
            rec.summary()
        };
        Some(Self {
            pods: pods.len() as u64,
            reschedule_ms: summary(&|p| p.reschedule_ms.map(|v| v as i64)),
            server_reschedule_ms: summary(&|p| p.server_reschedule_ms),
            ready_ms: summary(&|p| p.ready_ms.map(|v| v as i64)),
            server_ready_ms: summary(&|p| p.server_ready_ms),
        })
    }
}

/// One objective.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectiveResult {
    /// Such as `time-to-detect p95`.
    pub name: String,
    /// Such as `<= 30s`.
    pub target: String,
    /// The measured value (milliseconds or a ratio, see `unit`), None when not measurable.
    pub measured: Option<f64>,
    /// `ms` or `ratio`.
    pub unit: String,
    /// Whether it was met.
    pub met: bool,
}

/// What the final rollback did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackResult {
    /// Faults still active when the run ended, then reverted.
    pub reverted: Vec<String>,
    /// Faults whose revert failed, with the error.
    pub failed: Vec<String>,
}
