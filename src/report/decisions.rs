//! What the reports say about the decisions a run put to people (`spec.response`,
//! docs/response.md): each point, its answer, how long it took in exercise time, and how
//! hindsight judges it; and each role and how it was reached. Shared by the Markdown, HTML
//! and terminal renderers, so that they say the same thing in the same words.

use serde::Serialize;

use super::format;
use crate::result::{DecisionResult, ResponseResult, ResponseRoleResult, RunResult};
use crate::time::Timestamp;

/// One run's decisions and roles, ready to show.
#[derive(Clone, Debug, Serialize)]
pub struct Decisions {
    /// Exercise time = real time × this.
    pub scale: f64,
    /// The time scale in words: `exercise time runs 60× real time`.
    pub time_scale: String,
    /// Awareness, the run's first detection, as a wall time; `no detection` without one.
    pub awareness: String,
    /// Each role, in the experiment's order.
    pub roles: Vec<RoleRow>,
    /// Each decision point, in the experiment's order.
    pub rows: Vec<DecisionRow>,
    /// Points put that never got an answer.
    pub unanswered: usize,
}

/// A role and how it was reached.
#[derive(Clone, Debug, Serialize)]
pub struct RoleRow {
    /// The role.
    pub role: String,
    /// What it does.
    pub function: String,
    /// Whether it is reached by chat.
    pub chat: bool,
    /// Chat messages posted to it that were not delivered.
    pub chat_failed: usize,
    /// When it first opened its link, as a time of day; `None` when it never did.
    pub link_opened: Option<String>,
    /// All of it in one phrase: `Leads the response; reached by chat; link opened at 04:27:45`.
    pub summary: String,
}

/// One decision point as the reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionRow {
    /// The point's id.
    pub point: String,
    /// The catalogued decision's id, or `custom`.
    pub decision: String,
    /// The question.
    pub question: String,
    /// The role that decides.
    pub role: String,
    /// Whether the point was put at all.
    pub put: bool,
    /// When it was put, as a time of day, or `never put`.
    pub put_at: String,
    /// The answer, when one came.
    pub answer: Option<String>,
    /// The answer in words: the answer, `never answered` or `never put`.
    pub answer_text: String,
    /// Who answered, as they said.
    pub by: Option<String>,
    /// Time to decide in exercise time, with the real time when the scale is not 1; `-`
    /// without an answer.
    pub time_to_decide: String,
    /// Time to decide in exercise time alone, for narrow tables.
    pub time_to_decide_short: String,
    /// The budget in exercise time.
    pub budget: String,
    /// Whether the answer came within the budget (false without an answer).
    pub timely: bool,
    /// `within budget`, `late`, or `-` without an answer.
    pub within_budget: &'static str,
    /// `consistent`, `inconsistent`, `undecidable`, or `None` without an answer.
    pub consistency: Option<String>,
    /// The answer hindsight gives, when it can tell.
    pub hindsight: Option<String>,
    /// Hindsight in words: `consistent`, `inconsistent: hindsight gives yes`, `undecidable`
    /// or `-`.
    pub hindsight_text: String,
    /// Whether the answer is a finding against hindsight (inconsistent, most of what
    /// mattered known).
    pub hindsight_finding: bool,
    /// The share of what mattered that was unknown at the answer, as a percentage; `-`.
    pub unknown_share: String,
    /// The decision's score, 0 to 100, no decimals; `-` when the point was never put.
    pub score: String,
    /// Why, in the person's words.
    pub rationale: Option<String>,
    /// The `decision-answered` journal record.
    pub journal_seq: Option<u64>,
    /// The SHA-256 of the situation the answer was taken on.
    pub snapshot: Option<String>,
    /// What the drill says the organisation should look at.
    pub findings: Vec<String>,
}

impl Decisions {
    /// The decisions of a run; `None` when it put none to people, so that a report without
    /// them renders as it always did.
    pub fn of(result: &RunResult) -> Option<Self> {
        result.response.as_ref().map(Self::new)
    }

    fn new(response: &ResponseResult) -> Self {
        let scale = response.time_scale;
        let rows: Vec<DecisionRow> = response
            .decisions
            .iter()
            .map(|d| DecisionRow::new(d, scale))
            .collect();
        Self {
            scale,
            time_scale: format::time_scale(scale),
            awareness: response.awareness_at.map_or_else(
                || "no detection".to_owned(),
                |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
            ),
            roles: response.roles.iter().map(RoleRow::new).collect(),
            unanswered: rows.iter().filter(|r| r.put && r.answer.is_none()).count(),
            rows,
        }
    }
}

/// A time of day, to the second: `04:27:40`.
fn time_of_day(at: Timestamp) -> String {
    at.strftime("%H:%M:%S").to_string()
}

impl RoleRow {
    fn new(r: &ResponseRoleResult) -> Self {
        let chat = r.reach == "chat";
        let chat_failed = r.chat.iter().filter(|c| c.error.is_some()).count();
        let link_opened = r.link_opened_at.map(time_of_day);
        let mut summary = vec![r.function.clone()];
        summary.push(if chat {
            "reached by chat".to_owned()
        } else {
            "not reached by chat".to_owned()
        });
        if chat_failed > 0 {
            summary.push(format!(
                "{chat_failed} chat message{} not delivered",
                if chat_failed == 1 { "" } else { "s" }
            ));
        }
        summary.push(match &link_opened {
            Some(at) => format!("link opened at {at}"),
            None => "link never opened".to_owned(),
        });
        Self {
            role: r.role.clone(),
            function: r.function.clone(),
            chat,
            chat_failed,
            link_opened,
            summary: summary.join("; "),
        }
    }
}

impl DecisionRow {
    fn new(d: &DecisionResult, scale: f64) -> Self {
        let put = d.asked_at.is_some();
        let answered = d.answer.is_some();
        let hindsight_text = match (d.consistency.as_deref(), d.hindsight.as_deref()) {
            (Some("inconsistent"), Some(h)) => format!("inconsistent: hindsight gives {h}"),
            (Some(c), _) => c.to_owned(),
            (None, _) => "-".to_owned(),
        };
        Self {
            point: d.point.clone(),
            decision: d.decision.clone(),
            question: d.question.clone(),
            role: d.decided_by.clone(),
            put,
            put_at: d
                .asked_at
                .map_or_else(|| "never put".to_owned(), time_of_day),
            answer: d.answer.clone(),
            answer_text: match (&d.answer, put) {
                (Some(a), _) => a.clone(),
                (None, true) => "never answered".to_owned(),
                (None, false) => "never put".to_owned(),
            },
            by: d.by.clone(),
            time_to_decide: d
                .time_to_decide_ms
                .map_or_else(|| "-".to_owned(), |ms| format::exercise_ms(ms, scale)),
            time_to_decide_short: format::opt_duration_ms(d.time_to_decide_ms),
            budget: format::duration_ms(d.budget_ms),
            timely: d.timely && answered,
            within_budget: match (answered, d.timely) {
                (false, _) => "-",
                (true, true) => "within budget",
                (true, false) => "late",
            },
            hindsight_finding: d.consistency.as_deref() == Some("inconsistent")
                && d.unknown_share
                    .is_some_and(|u| u <= super::findings::HINDSIGHT_UNKNOWN_LIMIT),
            consistency: d.consistency.clone(),
            hindsight: d.hindsight.clone(),
            hindsight_text,
            unknown_share: format::opt_percent(d.unknown_share),
            score: if put {
                format!("{:.0}", d.score)
            } else {
                "-".to_owned()
            },
            rationale: d.rationale.clone(),
            journal_seq: d.journal_seq,
            snapshot: d.snapshot.clone(),
            findings: d.findings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil::response_run;

    #[test]
    fn each_point_reads_as_answered_late_never_answered_or_never_put() {
        let decisions = Decisions::of(&response_run().result).expect("the run has a response");
        assert_eq!(decisions.time_scale, "exercise time runs 60× real time");
        assert_eq!(decisions.unanswered, 1);
        let [significance, cross_border, authority, customers] = &decisions.rows[..] else {
            panic!("four points: {decisions:?}");
        };
        assert_eq!(
            significance.time_to_decide,
            "12 min exercise time (12 s real time)"
        );
        assert_eq!(significance.within_budget, "within budget");
        assert_eq!(significance.hindsight_text, "consistent");
        assert_eq!(significance.unknown_share, "25%");
        assert_eq!(cross_border.within_budget, "late");
        assert_eq!(
            cross_border.hindsight_text,
            "inconsistent: hindsight gives yes"
        );
        assert!(cross_border.hindsight_finding);
        assert_eq!(authority.answer_text, "never answered");
        assert_eq!(authority.time_to_decide, "-");
        assert_eq!(authority.score, "0");
        assert_eq!(customers.answer_text, "never put");
        assert_eq!(customers.put_at, "never put");
        assert_eq!(customers.score, "-");
        assert_eq!(
            decisions.roles[0].summary,
            "Leads the response; reached by chat; link opened at 04:27:45"
        );
        assert_eq!(
            decisions.roles[2].summary,
            "Speaks to customers; not reached by chat; link never opened"
        );
        assert!(Decisions::of(&crate::report::testutil::quickstart_run().result).is_none());
    }
}
