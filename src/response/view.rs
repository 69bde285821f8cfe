//! What a role's link shows: the run, the role's decision points, the situation of each
//! open one and the answers given. The same view is the page's JSON (`GET /respond/TOKEN`
//! with `Accept: application/json`), what `firedrill respond` reads, and what the HTML page
//! renders. It never carries a token.

use serde::{Deserialize, Serialize};

/// Where the run stands, as a role's page shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Nothing has been detected yet: no question is put.
    Waiting,
    /// The organisation is aware; questions are put and answered.
    Live,
    /// The run has ended: the link no longer takes answers.
    Ended,
}

/// Where one decision point stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointState {
    /// Not asked yet: its trigger has not happened, or its delay has not passed.
    Pending,
    /// Asked, waiting for the role's answer.
    Open,
    /// Answered.
    Answered,
}

/// A role's whole page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    /// The experiment's name.
    pub experiment: String,
    /// The run's id.
    pub run_id: String,
    /// The role.
    pub role: String,
    /// What the role does (cyber, legal, ..., or the organisation's own words).
    pub function: String,
    /// The run's time scale: exercise time is real time times this.
    pub time_scale: f64,
    /// Where the run stands.
    pub state: RunState,
    /// Exercise time since awareness, in milliseconds; `None` before awareness.
    pub now_ms: Option<u64>,
    /// The role's decision points, in the experiment's order.
    pub points: Vec<PointView>,
}

/// One decision point on a role's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointView {
    /// The point's id in the experiment, such as `significance`; answers name it.
    pub id: String,
    /// The catalogued decision's id, or `custom`.
    pub decision: String,
    /// The question.
    pub question: String,
    /// The allowed answers.
    pub answers: Vec<String>,
    /// The provisions that ask for the decision.
    pub provisions: Vec<String>,
    /// Where it stands.
    pub state: PointState,
    /// What it waits for while pending, in words ("the first detection", "the answer to
    /// `significance`").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// When it was asked, exercise milliseconds since awareness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_at_ms: Option<u64>,
    /// The time the role has to answer, exercise milliseconds.
    pub budget_ms: u64,
    /// Exercise milliseconds left of the budget while open; negative once it has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_ms: Option<i64>,
    /// What the organisation knows now, while open: the snapshot the answer is taken on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation: Option<serde_json::Value>,
    /// The snapshot's SHA-256 (hex): send it back with the answer, so that the journal
    /// records what was on the screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The answer, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerView>,
}

/// An answer as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerView {
    /// The allowed answer given.
    pub answer: String,
    /// Why, in the person's words.
    pub rationale: String,
    /// Who answered, as they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Exercise milliseconds from the question to the answer.
    pub after_ms: u64,
    /// Whether within the budget.
    pub within_budget: bool,
    /// The SHA-256 of the snapshot the answer was taken on.
    pub snapshot: String,
    /// The `decision-answered` journal record.
    pub journal_seq: u64,
}
