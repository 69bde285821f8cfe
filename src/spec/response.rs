//! `spec.response`: the people in a drill. Exercise time, the roles and how each is reached,
//! the decisions put to them, and the lines hindsight judges their answers by. See
//! docs/response.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// The largest `spec.response.timeScale`: beyond it a 24-hour clock would run in under 9
/// seconds.
pub const MAX_TIME_SCALE: f64 = 10_000.0;

/// The longest question of a custom decision, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// The most answers a custom decision may offer.
pub const MAX_ANSWERS: usize = 10;
/// The longest answer of a custom decision, in characters.
pub const MAX_ANSWER_CHARS: usize = 80;
/// The longest free-text role function, in characters.
pub const MAX_FUNCTION_CHARS: usize = 80;

/// The role functions firedrill knows by name; any other text is a function in the
/// organisation's own words.
pub const KNOWN_FUNCTIONS: [&str; 6] = [
    "cyber",
    "legal",
    "compliance",
    "communications",
    "management",
    "third-party-liaison",
];

/// How the organisation's response is exercised; see docs/response.md.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Response {
    /// Exercise time: how many times faster than real time the legal clocks run, so that a
    /// 24 h deadline can be exercised in a game day (at 60, in 24 min). The people's
    /// responses (acknowledgements, decisions, and the drafts and deliveries firedrill
    /// simulates) are timed in exercise time: real seconds times the scale. Detection and
    /// recovery stay in real time. Above 0, at most 10000; 1 by default.
    #[serde(default = "default_time_scale")]
    #[schemars(range(max = 10000.0), extend("exclusiveMinimum" = 0))]
    pub time_scale: f64,
    /// Who answers: `people` (the default) through their links, or `runbook`: for unattended
    /// runs (CI), each decision point's `runbook` rules answer it, and the scorecard labels
    /// the answers as an automated runbook's, not as people's.
    #[serde(default)]
    pub responders: Responders,
    /// The people the drill asks to decide, and how each is reached. Each gets a link with
    /// a token of its own, valid for the run only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    /// The decisions put to the roles, in the order they may be asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<DecisionPointSpec>,
    /// The notification drafts that need people's approval before they count as ready: each
    /// is reviewed (optionally) and approved by the roles named, and the early warning is
    /// submitted to the exercise inbox (`notification.deliver`) only once approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalSpec>,
    /// The organisation's services the probes stand for: where they are provided and
    /// whether customers use them. A service whose probe fails is affected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    /// What the scenario stands for, as the experiment's author declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
    /// The lines that make the incident significant in hindsight (exercise time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub significance: Option<Significance>,
    /// The outage, in exercise time, beyond which the incident is major under DORA (for
    /// example 2h: Delegated Regulation 2024/1772 Art. 9(3)(b)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_outage: Option<Duration>,
    /// The recovery time objective, in exercise time: an outage beyond it calls for the
    /// continuity plan in hindsight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_objective: Option<Duration>,
}

fn default_time_scale() -> f64 {
    1.0
}

impl Default for Response {
    fn default() -> Self {
        Self {
            time_scale: default_time_scale(),
            responders: Responders::People,
            roles: Vec::new(),
            decisions: Vec::new(),
            approvals: Vec::new(),
            services: Vec::new(),
            scenario: None,
            significance: None,
            major_outage: None,
            recovery_objective: None,
        }
    }
}

impl Response {
    /// The time scale of an experiment: its own, or 1.
    pub fn time_scale_of(response: Option<&Self>) -> f64 {
        response.map_or(1.0, |r| r.time_scale)
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// A person or team the drill asks to decide.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Role {
    /// A DNS-label-like name, unique in the experiment, such as `incident-commander`.
    pub name: String,
    /// What the role does: cyber, legal, compliance, communications, management,
    /// third-party-liaison, or the organisation's own words (at most 80 characters).
    pub function: String,
    /// How the role is told that a decision waits: a chat webhook, or nothing (the person
    /// opens the link the run prints).
    #[serde(default)]
    pub reach: Reach,
}

/// How a role is reached.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Reach {
    /// Not reached: the person opens the link the run prints.
    None {},
    /// A message with the role's link, posted to a chat's incoming webhook.
    Chat(ChatReach),
}

/// A chat's incoming webhook.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChatReach {
    /// The incoming webhook's absolute http:// or https:// URL; placeholders such as
    /// `{workload.NAME}` are expanded. It is a secret of the chat's: firedrill shows only its
    /// host.
    pub url: String,
    /// The message format the webhook takes.
    #[serde(default)]
    pub format: ChatFormat,
    /// Time allowed for the whole request.
    #[serde(default = "default_chat_timeout")]
    pub timeout: Duration,
}

impl Default for Reach {
    fn default() -> Self {
        Self::None {}
    }
}

fn default_chat_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The message format of a chat's incoming webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChatFormat {
    /// Slack's `{"text": ...}` with `<url|label>` links.
    #[default]
    Slack,
    /// Mattermost's `{"text": ...}` with Markdown links.
    Mattermost,
    /// A Microsoft Teams message card.
    Teams,
}

/// A catalogued decision: each tied to the provision that asks for it (docs/response.md).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Is the incident significant (NIS2 Art. 23(3))?
    Nis2SignificantIncident,
    /// Is it suspected to be caused by an unlawful or malicious act (the early warning's flag)?
    Nis2SuspectedMalicious,
    /// Could it have a cross-border impact (the early warning's flag)?
    Nis2CrossBorder,
    /// Is it a major ICT-related incident under DORA?
    DoraMajorIncident,
    /// Notify the authority (CSIRT or competent authority) now?
    NotifyAuthority,
    /// Invoke the business continuity plan?
    InvokeContinuityPlan,
    /// Contain now, or observe first?
    ContainOrObserve,
    /// Inform customers now?
    InformCustomers,
}

impl Decision {
    /// The allowed answers.
    pub fn answers(self) -> &'static [&'static str] {
        match self {
            Self::ContainOrObserve => &["contain", "observe"],
            Self::Nis2SignificantIncident
            | Self::Nis2SuspectedMalicious
            | Self::Nis2CrossBorder
            | Self::DoraMajorIncident
            | Self::NotifyAuthority
            | Self::InvokeContinuityPlan
            | Self::InformCustomers => &["yes", "no"],
        }
    }
}

/// A decision put to a role during the drill.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DecisionPointSpec {
    /// A DNS-label-like id, unique in the experiment, such as `significance`; it names the
    /// point in links, journals and results.
    pub id: String,
    /// A catalogued decision; leave it out and write `question` and `answers` for one of
    /// the organisation's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The question of a custom decision (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The allowed answers of a custom decision: 2 to 10, distinct, each at most 80
    /// characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// The role that decides.
    pub decided_by: String,
    /// What puts the question: the run's first detection (the default), or the answer to
    /// an earlier decision point, written `{decision: ID}`.
    #[serde(default)]
    pub after: Trigger,
    /// How long after the trigger the question is put, in exercise time.
    #[serde(default)]
    pub delay: Duration,
    /// The time the role has to answer, in exercise time from the moment it is asked.
    pub budget: Duration,
    /// The organisation's rules for this decision, evaluated in order while it is open when
    /// `responders: runbook`: the first whose condition has held for its `for` answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runbook: Vec<RunbookRule>,
}

/// Who answers the decisions of a drill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Responders {
    /// People, through their links.
    #[default]
    People,
    /// The decision points' runbook rules, for unattended runs.
    Runbook,
}

/// A rule of an automated runbook: "answer yes when availability is below 90% for 5 min".
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunbookRule {
    /// The answer the rule gives: one of the decision's allowed answers.
    pub answer: String,
    /// What must hold. Every condition given must hold at once; none given always holds
    /// (a default answer, given after `for`).
    #[serde(default)]
    pub when: RunbookCondition,
    /// How long, in exercise time, the condition must have held without a break.
    #[serde(default, rename = "for")]
    pub held_for: Duration,
}

/// The situation a runbook rule looks at, as people would see it on their page.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunbookCondition {
    /// Availability since the injection is below this share (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_below: Option<f64>,
    /// The outage so far exceeds this, in exercise time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage_over: Option<Duration>,
    /// This steady-state probe has failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_probe: Option<String>,
    /// The incident is (true) or is no longer (false) going on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ongoing: Option<bool>,
}

/// A notification draft that people review and approve.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalSpec {
    /// The draft: `nis2-early-warning`, `nis2-incident-notification`, `nis2-final-report`,
    /// `dora-initial-notification`, `dora-intermediate-report` or `dora-final-report` (DORA's
    /// need `notification.dora`). A report whose clock runs from an earlier report's
    /// submission (the final reports, DORA's intermediate report) is drafted and put to
    /// people when that report is approved, which must be listed too.
    pub report: Report,
    /// The role that reviews the draft first, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// The role that approves it, such as legal.
    pub approved_by: String,
    /// The time each step has, in exercise time from the moment it is asked.
    pub budget: Duration,
}

/// A report the law asks for, with its own clock: what the run drafts, people approve and
/// the pages count down to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Report {
    /// NIS2 Art. 23(4)(a): within 24 h of awareness.
    Nis2EarlyWarning,
    /// NIS2 Art. 23(4)(b): within 72 h of awareness, updating the early warning.
    Nis2IncidentNotification,
    /// NIS2 Art. 23(4)(d): within one month of the incident notification.
    Nis2FinalReport,
    /// DORA initial notification (RTS 2025/301 Art. 5): within 4 h of classification as
    /// major, and at the latest within 24 h of awareness.
    DoraInitialNotification,
    /// DORA intermediate report: within 72 h of the initial notification.
    DoraIntermediateReport,
    /// DORA final report: within one month of the last intermediate report.
    DoraFinalReport,
}

/// "One month" of the final reports, taken as 28 days, the shortest calendar month, so that a
/// clock never shows more time than the law gives.
pub const MONTH: std::time::Duration = std::time::Duration::from_secs(28 * 24 * 3600);

impl Report {
    /// Every report, NIS2's first.
    pub const ALL: [Report; 6] = [
        Self::Nis2EarlyWarning,
        Self::Nis2IncidentNotification,
        Self::Nis2FinalReport,
        Self::DoraInitialNotification,
        Self::DoraIntermediateReport,
        Self::DoraFinalReport,
    ];

    /// The kind as written in file names, results and the journal.
    pub fn id(self) -> &'static str {
        match self {
            Self::Nis2EarlyWarning => "nis2-early-warning",
            Self::Nis2IncidentNotification => "nis2-incident-notification",
            Self::Nis2FinalReport => "nis2-final-report",
            Self::DoraInitialNotification => "dora-initial-notification",
            Self::DoraIntermediateReport => "dora-intermediate-report",
            Self::DoraFinalReport => "dora-final-report",
        }
    }

    /// The report's name, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Nis2EarlyWarning => "the NIS2 early warning",
            Self::Nis2IncidentNotification => "the NIS2 incident notification",
            Self::Nis2FinalReport => "the NIS2 final report",
            Self::DoraInitialNotification => "the DORA initial notification",
            Self::DoraIntermediateReport => "the DORA intermediate report",
            Self::DoraFinalReport => "the DORA final report",
        }
    }

    /// Whether the report is DORA's (drafted only with `notification.dora`).
    pub fn is_dora(self) -> bool {
        matches!(
            self,
            Self::DoraInitialNotification | Self::DoraIntermediateReport | Self::DoraFinalReport
        )
    }

    /// The report whose submission starts this one's clock; `None` when it runs from
    /// awareness.
    pub fn follows(self) -> Option<Report> {
        match self {
            Self::Nis2FinalReport => Some(Self::Nis2IncidentNotification),
            Self::DoraIntermediateReport => Some(Self::DoraInitialNotification),
            Self::DoraFinalReport => Some(Self::DoraIntermediateReport),
            _ => None,
        }
    }

    /// How long the law gives from the start of the clock (awareness, or the submission
    /// of the report it follows). For DORA's initial notification this is the 24-hour
    /// bound; the 4-hour one runs from classification as major.
    pub fn span(self) -> std::time::Duration {
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        match self {
            Self::Nis2EarlyWarning | Self::DoraInitialNotification => hours(24),
            Self::Nis2IncidentNotification | Self::DoraIntermediateReport => hours(72),
            Self::Nis2FinalReport | Self::DoraFinalReport => MONTH,
        }
    }

    /// The ids of the review and approval points the drill puts for this report.
    pub fn point_ids(self) -> (String, String) {
        (
            format!("review-{}", self.id()),
            format!("approve-{}", self.id()),
        )
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// What puts a decision to its role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Trigger {
    /// The run's first detection (awareness).
    #[default]
    Detection,
    /// The answer to the decision point with this id, listed earlier.
    Decision(String),
}

/// One of the organisation's services, as the probes see it.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// The service's name, as the people deciding know it.
    pub name: String,
    /// The steady-state probes that watch it: it is affected when one of them fails.
    pub probes: Vec<String>,
    /// The member states it is provided in, ISO 3166-1 alpha-2 codes such as `DE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_states: Vec<String>,
    /// Whether customers use it directly.
    #[serde(default)]
    pub customer_facing: bool,
}

/// What the scenario stands for.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// Whether the scenario stands for an unlawful or malicious act (an attack), rather than
    /// a failure: the truth `nis2-suspected-malicious` is judged against.
    pub malicious: bool,
}

/// The lines that make an incident significant; crossing either is enough.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Significance {
    /// An outage longer than this, in exercise time, is significant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<Duration>,
    /// Availability below this share (0 to 1) over the iteration is significant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_below: Option<f64>,
}

/// Why a custom decision's question or answers were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomDecisionError {
    /// The question is empty or only white space.
    #[error("the question is empty: write what the role must decide")]
    EmptyQuestion,
    /// The question is too long for a page.
    #[error("the question has {0} characters: at most 500 are allowed")]
    QuestionTooLong(usize),
    /// Fewer than two answers.
    #[error("a decision needs at least two answers, found {0}")]
    TooFewAnswers(usize),
    /// More answers than a page shows.
    #[error("a decision offers at most 10 answers, found {0}")]
    TooManyAnswers(usize),
    /// An answer (counted from 1) is empty or only white space.
    #[error("answer {0} is empty")]
    EmptyAnswer(usize),
    /// An answer (counted from 1) is too long for a page.
    #[error("answer {0} is longer than 80 characters")]
    AnswerTooLong(usize),
    /// Two answers are the same once trimmed and compared without case.
    #[error("the answer `{0}` is offered twice")]
    DuplicateAnswer(String),
}

/// A custom decision's question and answers, trimmed, or why they cannot be asked.
pub fn tidy_custom_decision(
    question: &str,
    answers: &[String],
) -> Result<(String, Vec<String>), CustomDecisionError> {
    let question = question.trim().to_owned();
    if question.is_empty() {
        return Err(CustomDecisionError::EmptyQuestion);
    }
    let chars = question.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(CustomDecisionError::QuestionTooLong(chars));
    }
    if answers.len() < 2 {
        return Err(CustomDecisionError::TooFewAnswers(answers.len()));
    }
    if answers.len() > MAX_ANSWERS {
        return Err(CustomDecisionError::TooManyAnswers(answers.len()));
    }
    let mut kept: Vec<String> = Vec::with_capacity(answers.len());
    for (n, answer) in answers.iter().enumerate() {
        let answer = answer.trim().to_owned();
        if answer.is_empty() {
            return Err(CustomDecisionError::EmptyAnswer(n + 1));
        }
        if answer.chars().count() > MAX_ANSWER_CHARS {
            return Err(CustomDecisionError::AnswerTooLong(n + 1));
        }
        if kept
            .iter()
            .any(|k| k.to_lowercase() == answer.to_lowercase())
        {
            return Err(CustomDecisionError::DuplicateAnswer(answer));
        }
        kept.push(answer);
    }
    Ok((question, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_read_as_a_word_or_a_map() {
        let t: Trigger = serde_saphyr::from_str("detection").unwrap();
        assert_eq!(t, Trigger::Detection);
        let t: Trigger = serde_saphyr::from_str("{decision: significance}").unwrap();
        assert_eq!(t, Trigger::Decision("significance".into()));
        assert!(serde_saphyr::from_str::<Trigger>("{approval: x}").is_err());
    }

    #[test]
    fn reach_defaults_to_none_and_chat_to_slack() {
        let r: Role = serde_saphyr::from_str("{name: legal, function: legal}").unwrap();
        assert!(matches!(r.reach, Reach::None {}));
        let r: Role = serde_saphyr::from_str(
            "{name: legal, function: legal, reach: {type: chat, url: 'http://x/y'}}",
        )
        .unwrap();
        let Reach::Chat(chat) = r.reach else {
            panic!("not chat")
        };
        assert_eq!(chat.format, ChatFormat::Slack);
        assert_eq!(chat.timeout, Duration::from_secs(10));
        assert!(
            serde_saphyr::from_str::<Role>(
                "{name: legal, function: legal, reach: {type: none, url: x}}"
            )
            .is_err()
        );
    }

    #[test]
    fn custom_decisions_are_tidied_or_refused() {
        let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            tidy_custom_decision(" Post? ", &s(&[" now", "later "])).unwrap(),
            ("Post?".to_owned(), s(&["now", "later"]))
        );
        assert_eq!(
            tidy_custom_decision(" ", &s(&["a", "b"])),
            Err(CustomDecisionError::EmptyQuestion)
        );
        assert_eq!(
            tidy_custom_decision("q", &s(&["Yes", "yes "])),
            Err(CustomDecisionError::DuplicateAnswer("yes".into()))
        );
    }
}
