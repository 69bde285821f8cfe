//! People in the drill: the decisions an organisation takes during an incident, the
//! situation it takes them in, how each is judged in hindsight, and the per-role tokens of
//! the links people answer through. See docs/response.md.
//!
//! Pure, apart from the operating system's randomness for tokens: no clock, no I/O. The
//! experiment format, the live pages and the chat webhook build on it in later steps.

mod catalogue;
mod chat;
mod desk;
mod hindsight;
mod page;
mod situation;
mod token;
mod view;

pub use catalogue::{
    CatalogueError, CustomDecision, Decision, DecisionKind, HindsightRule, MAX_ANSWER_CHARS,
    MAX_ANSWERS, MAX_QUESTION_CHARS,
};
pub use chat::ChatMessage;
pub use desk::{
    APPROVAL_ANSWERS, AnswerError, AnswerRequest, Desk, DeskError, MAX_ANSWER_BODY_BYTES,
    MAX_BY_CHARS, MAX_RATIONALE_CHARS, Observed, PointLifecycle, REVIEW_ANSWERS, RecordedAnswer,
};
pub use hindsight::{
    CONSISTENCY_WEIGHT, Consistency, DecisionPoint, Finding, GivenAnswer, HindsightError,
    Judgement, LATE_LIMIT_MULTIPLE, Outcome, TIMELINESS_WEIGHT, judge,
};
pub use page::{Notice, NoticeKind, clock_text, render_role_page};
pub use situation::{
    Certainty, ClockState, FieldKey, LegalClock, MONTH, Milestones, Report, Situation,
    SituationError, SituationField, TimeScale,
};
pub use token::{RoleToken, RoleTokens, TOKEN_BYTES, TOKEN_CHARS, TokenError, constant_time_eq};
pub use view::{AnswerView, PointState, PointView, RoleView, RunState};

/// Durations written as whole milliseconds: integers hash the same on every platform.
mod millis {
    use std::time::Duration;

    use serde::Serializer;

    /// Writes a duration as its whole milliseconds, saturating at `u64::MAX`.
    pub fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The same for an optional duration, null when absent.
    pub fn option<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => duration(d, s),
            None => s.serialize_none(),
        }
    }
}
