//! The HTML page a role's link opens (`GET /respond/TOKEN`): the run, the role's decision
//! points, the situation and the legal clocks of each open one, a form to answer it, and the
//! answers given. One self-contained page: inline style, no script, no external resource.
//!
//! The page never holds a token: it is not given one, and its forms post back to the page's
//! own address. Everything taken from the view goes through minijinja with HTML autoescaping,
//! because roles, questions, answers and rationales are written by people. This module only
//! turns a [`RoleView`] into plain display strings; `role.html` lays them out.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::situation::{Certainty, FieldKey, Report};
use super::view::{AnswerView, PointState, PointView, RoleView, RunState};

/// The template's name, also what the error names.
const TEMPLATE: &str = "role.html";

/// How often a page with no open question reloads, in seconds.
const REFRESH_SECONDS: u32 = 5;

/// What kind of message the page shows at its top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// The answer was recorded.
    Recorded,
    /// The answer was refused; the message says why.
    Refused,
}

impl NoticeKind {
    fn class(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Refused => "refused",
        }
    }
}

/// A message shown at the top of the page, after an answer was recorded or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Recorded or refused.
    pub kind: NoticeKind,
    /// The message, in plain words.
    pub message: String,
}

/// The page of `view`; `notice` is shown at the top (after an answer was recorded or refused).
pub fn render_role_page(view: &RoleView, notice: Option<&Notice>) -> String {
    let page = Page::new(view, notice);
    environment()
        .and_then(|env| env.get_template(TEMPLATE)?.render(Serde(&page)))
        .unwrap_or_else(|error| {
            // The template is compiled in and covered by the tests: failing here is a defect
            // in firedrill, and the person still deserves a page that says so.
            tracing::error!(error = %error, "the role page template failed");
            FALLBACK.to_owned()
        })
}

/// The page shown if the template ever fails: fixed text, nothing from the view.
const FALLBACK: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>Exercise</title></head><body>\
<p><strong>EXERCISE</strong></p><p>This page could not be drawn. Tell the drill's \
organiser; the error is in their log.</p></body></html>\n";

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Whatever the template's name: everything on the page is escaped.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.add_template(TEMPLATE, include_str!("role.html"))?;
    Ok(env)
}

// ---------------------------------------------------------------------------------------------
// Display data: strings ready for the template, so the template holds no logic about time.

#[derive(Serialize)]
struct Page {
    experiment: String,
    run_id: String,
    role: String,
    function: String,
    state: &'static str,
    state_text: &'static str,
    refresh: bool,
    refresh_seconds: u32,
    accepts_answers: bool,
    now: Option<String>,
    scale_text: Option<String>,
    notice: Option<NoticeData>,
    points: Vec<PointData>,
}

#[derive(Serialize)]
struct NoticeData {
    kind: &'static str,
    message: String,
}

#[derive(Serialize)]
struct PointData {
    id: String,
    question: String,
    provisions: String,
    answers: Vec<String>,
    state: &'static str,
    state_text: &'static str,
    waiting_for: Option<String>,
    budget: String,
    asked_at: Option<String>,
    left: Option<String>,
    late: bool,
    situation: Option<SituationData>,
    situation_unreadable: bool,
    snapshot: String,
    answer: Option<AnswerData>,
}

#[derive(Serialize)]
struct SituationData {
    at: Option<String>,
    fields: Vec<FieldData>,
    clocks: Vec<ClockData>,
}

#[derive(Serialize)]
struct FieldData {
    key: String,
    label: String,
    value: String,
    certainty: &'static str,
    note: Option<String>,
}

#[derive(Serialize)]
struct ClockData {
    deadline: String,
    label: String,
    state: String,
    text: String,
}

#[derive(Serialize)]
struct AnswerData {
    answer: String,
    rationale: String,
    by: Option<String>,
    after: String,
    timing: &'static str,
    timing_text: String,
}

impl Page {
    fn new(view: &RoleView, notice: Option<&Notice>) -> Self {
        let times = Times::new(view.time_scale);
        let any_open = view.points.iter().any(|p| p.state == PointState::Open);
        let (state, state_text) = match view.state {
            RunState::Waiting => ("waiting", "Waiting: nothing has been detected yet"),
            RunState::Live => ("live", "Live"),
            RunState::Ended => ("ended", "Ended"),
        };
        Self {
            experiment: view.experiment.clone(),
            run_id: view.run_id.clone(),
            role: view.role.clone(),
            function: view.function.clone(),
            state,
            state_text,
            // Reloading would wipe what a person is typing into an open question's form.
            refresh: view.state != RunState::Ended && !any_open,
            refresh_seconds: REFRESH_SECONDS,
            accepts_answers: view.state != RunState::Ended,
            now: view.now_ms.map(|ms| times.both(ms)),
            scale_text: times.scale_text(),
            notice: notice.map(|n| NoticeData {
                kind: n.kind.class(),
                message: n.message.clone(),
            }),
            points: view.points.iter().map(|p| point(p, times)).collect(),
        }
    }
}

fn point(p: &PointView, times: Times) -> PointData {
    let (state, state_text) = match p.state {
        PointState::Pending => ("pending", "Not asked yet"),
        PointState::Open => ("open", "Open: waiting for an answer"),
        PointState::Answered => ("answered", "Answered"),
    };
    let open = p.state == PointState::Open;
    let situation = p.situation.as_ref().filter(|_| open).map(|value| {
        serde_json::from_value::<SituationJson>(value.clone()).map(|s| situation(s, times))
    });
    PointData {
        id: p.id.clone(),
        question: p.question.clone(),
        provisions: p.provisions.join("; "),
        answers: p.answers.clone(),
        state,
        state_text,
        waiting_for: p.waiting_for.clone(),
        budget: times.both(p.budget_ms),
        asked_at: p.asked_at_ms.filter(|ms| *ms > 0).map(|ms| times.both(ms)),
        left: p
            .remaining_ms
            .filter(|_| open)
            .map(|ms| times.both(ms.unsigned_abs())),
        late: p.remaining_ms.is_some_and(|ms| ms < 0),
        situation_unreadable: matches!(situation, Some(Err(_))),
        situation: situation.and_then(Result::ok),
        snapshot: p.snapshot.clone().unwrap_or_default(),
        answer: p
            .answer
            .as_ref()
            .filter(|_| p.state == PointState::Answered)
            .map(|a| answer(a, p.budget_ms, times)),
    }
}

fn answer(a: &AnswerView, budget_ms: u64, times: Times) -> AnswerData {
    let budget = times.both(budget_ms);
    let (timing, timing_text) = if a.within_budget {
        ("within", format!("Within the budget of {budget}."))
    } else if let Some(over) = a.after_ms.checked_sub(budget_ms).filter(|&o| o > 0) {
        (
            "late",
            format!("Late: {} over the budget of {budget}.", times.both(over)),
        )
    } else {
        ("late", format!("Late: over the budget of {budget}."))
    };
    AnswerData {
        answer: a.answer.clone(),
        rationale: a.rationale.clone(),
        by: a.by.clone().filter(|by| !by.trim().is_empty()),
        after: times.both(a.after_ms),
        timing,
        timing_text,
    }
}

// ---------------------------------------------------------------------------------------------
// The situation as `Situation::to_json` writes it, read leniently: a page that shows most of
// the situation is better than none, so unknown keys or states are shown as they come.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SituationJson {
    #[serde(default)]
    at_ms: Option<u64>,
    #[serde(default)]
    fields: Vec<FieldJson>,
    #[serde(default)]
    clocks: Vec<ClockJson>,
}

#[derive(Deserialize)]
struct FieldJson {
    key: String,
    #[serde(default)]
    value: Value,
    certainty: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockJson {
    deadline: String,
    state: String,
    #[serde(default)]
    due_at_ms: Option<u64>,
    #[serde(default)]
    remaining_ms: Option<u64>,
    #[serde(default)]
    by_ms: Option<u64>,
    #[serde(default)]
    at_ms: Option<u64>,
    #[serde(default)]
    on_time: Option<bool>,
}

fn situation(s: SituationJson, times: Times) -> SituationData {
    SituationData {
        at: s.at_ms.map(|ms| times.both(ms)),
        fields: s.fields.into_iter().map(|f| field(f, times)).collect(),
        clocks: s.clocks.into_iter().map(|c| clock(c, times)).collect(),
    }
}

fn field(f: FieldJson, times: Times) -> FieldData {
    let key = serde_json::from_value::<FieldKey>(Value::String(f.key.clone())).ok();
    // A mark the page cannot read is shown as the least trust there is.
    let certainty = serde_json::from_value::<Certainty>(Value::String(f.certainty))
        .unwrap_or(Certainty::Unknown);
    let value = if certainty == Certainty::Unknown && f.value.is_null() {
        "unknown".to_owned()
    } else {
        field_value(key, &f.value, times)
    };
    FieldData {
        label: key.map_or_else(|| f.key.clone(), |k| k.label().to_owned()),
        key: f.key,
        value,
        certainty: certainty.as_str(),
        note: f.note,
    }
}

/// A field's value in words; the units are the ones `Situation` writes.
fn field_value(key: Option<FieldKey>, value: &Value, times: Times) -> String {
    let Some(key) = key else {
        return plain_value(value);
    };
    match key {
        FieldKey::AvailabilitySoFar => value.as_f64().map_or_else(|| plain_value(value), percent),
        // Exercise milliseconds, as every time in the situation.
        FieldKey::OutageSoFar => value
            .as_u64()
            .map_or_else(|| plain_value(value), |ms| times.both(ms)),
        FieldKey::FailedProbes
        | FieldKey::AffectedServices
        | FieldKey::MemberStates
        | FieldKey::Ongoing
        | FieldKey::DetectedBy
        | FieldKey::IndicatorsOfCompromise => plain_value(value),
    }
}

/// Any JSON value in words: lists joined by commas, booleans as yes or no, null as unknown.
fn plain_value(value: &Value) -> String {
    match value {
        Value::Null => "unknown".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items.iter().map(plain_value).collect::<Vec<_>>().join(", "),
        Value::Object(_) => value.to_string(),
    }
}

/// A legal clock of a situation's JSON in words, as the page shows it: "23h exercise time
/// (23m real time) left; due ...", "starts when ... is submitted"; `None` when it is not a
/// clock.
pub fn clock_text(clock_json: &Value, time_scale: f64) -> Option<String> {
    let c: ClockJson = serde_json::from_value(clock_json.clone()).ok()?;
    Some(clock(c, Times::new(time_scale)).text)
}

fn clock(c: ClockJson, times: Times) -> ClockData {
    let deadline = serde_json::from_value::<Report>(Value::String(c.deadline.clone())).ok();
    let due = c
        .due_at_ms
        .map(|ms| format!("; due {} after awareness", times.both(ms)))
        .unwrap_or_default();
    let text = match (c.state.as_str(), c.remaining_ms, c.by_ms, c.at_ms) {
        ("waiting", ..) => match deadline.and_then(Report::follows) {
            Some(earlier) => format!("starts when {} is submitted", earlier.label()),
            None => "not running yet: what it runs from has not happened".to_owned(),
        },
        ("running", Some(left), ..) => format!("{} left{due}", times.both(left)),
        ("overdue", _, Some(by), _) => format!("overdue by {}{due}", times.both(by)),
        ("submitted", .., Some(at)) => format!(
            "submitted {} after awareness, {}",
            times.both(at),
            match c.on_time {
                Some(true) => "on time",
                Some(false) => "late",
                None => "on time or not unknown",
            }
        ),
        (other, ..) => other.to_owned(),
    };
    ClockData {
        label: deadline.map_or_else(|| c.deadline.clone(), |d| deadline_label(d).to_owned()),
        deadline: c.deadline,
        state: c.state,
        text,
    }
}

/// A deadline as people name it: "NIS2 early warning".
fn deadline_label(deadline: Report) -> &'static str {
    deadline.label().trim_start_matches("the ")
}

/// A share from 0 to 1 as a percentage with at most two decimals: `82%`, `99.95%`.
fn percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

// ---------------------------------------------------------------------------------------------
// Time: exercise time, and at a scale other than 1 its real-time equivalent beside it.

/// The run's time scale, made safe to divide by.
#[derive(Clone, Copy)]
struct Times {
    scale: f64,
}

impl Times {
    fn new(scale: f64) -> Self {
        // The spec refuses such scales; a page must still show times, so they count as 1.
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self { scale }
    }

    /// `23 min exercise time (23 s real time)`, or only `23 min` at a scale of 1.
    fn both(self, exercise_ms: u64) -> String {
        if self.scale == 1.0 {
            return duration(exercise_ms);
        }
        // A float-to-integer cast saturates, so a huge time cannot wrap.
        let real_ms = (exercise_ms as f64 / self.scale).round() as u64;
        format!(
            "{} exercise time ({} real time)",
            duration(exercise_ms),
            duration(real_ms)
        )
    }

    fn scale_text(self) -> Option<String> {
        (self.scale != 1.0).then(|| {
            format!(
                "{}: exercise time runs {} times as fast as real time",
                self.scale, self.scale
            )
        })
    }
}

/// Milliseconds for people, to two units at most: `750 ms`, `4.5 s`, `45 s`, `2 min 5 s`,
/// `2 h 5 min`, `72 h`, `28 d`, `3 d 4 h`. Hours run to 72 because the law counts in them.
fn duration(ms: u64) -> String {
    const SECOND: u64 = 1_000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    // Half up, in whole `unit`s.
    let round = |unit: u64| ms / unit + u64::from(ms % unit >= unit / 2);
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    if ms < SECOND {
        return format!("{ms} ms");
    }
    if ms < 10 * SECOND {
        let tenths = round(100);
        return if tenths % 10 == 0 {
            format!("{} s", tenths / 10)
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        };
    }
    let seconds = round(SECOND);
    if seconds < 60 {
        return format!("{seconds} s");
    }
    if seconds < 3_600 {
        return two(seconds / 60, "min", seconds % 60, "s");
    }
    let minutes = round(MINUTE);
    if minutes <= 72 * 60 {
        return two(minutes / 60, "h", minutes % 60, "min");
    }
    let hours = round(HOUR);
    two(hours / 24, "d", hours % 24, "h")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;

    fn pending() -> PointView {
        PointView {
            id: "notify".to_owned(),
            decision: "notify-authority".to_owned(),
            question: "Do we notify the authority now?".to_owned(),
            answers: vec!["yes".to_owned(), "no".to_owned()],
            provisions: vec!["NIS2 Art. 23(1)".to_owned()],
            state: PointState::Pending,
            waiting_for: Some("the answer to `significance`".to_owned()),
            asked_at_ms: None,
            budget_ms: HOUR,
            remaining_ms: None,
            situation: None,
            snapshot: None,
            answer: None,
        }
    }

    fn open() -> PointView {
        PointView {
            id: "significance".to_owned(),
            decision: "nis2-significant-incident".to_owned(),
            question: "Is this a significant incident?".to_owned(),
            answers: vec!["yes".to_owned(), "no".to_owned()],
            provisions: vec![
                "NIS2 Art. 23(3)".to_owned(),
                "CIR 2024/2690 Art. 7".to_owned(),
            ],
            state: PointState::Open,
            waiting_for: None,
            asked_at_ms: Some(HOUR),
            budget_ms: 2 * HOUR,
            remaining_ms: Some(23 * MIN as i64),
            situation: Some(json!({
                "atMs": HOUR,
                "timeScale": 60.0,
                "fields": [
                    {"key": "availability-so-far", "value": 0.82, "certainty": "known"},
                    {"key": "outage-so-far", "value": 1_200_000, "certainty": "estimated",
                     "note": "from the first failed probe to now"},
                    {"key": "affected-services", "value": ["checkout", "payments"],
                     "certainty": "known"},
                    {"key": "ongoing", "value": true, "certainty": "known"},
                    {"key": "member-states", "value": null, "certainty": "unknown",
                     "note": "not declared"}
                ],
                "clocks": [
                    {"deadline": "nis2-early-warning", "dueAtMs": 24 * HOUR,
                     "state": "running", "remainingMs": 23 * HOUR},
                    {"deadline": "dora-initial-notification", "dueAtMs": 4 * HOUR,
                     "state": "overdue", "byMs": 30 * MIN},
                    {"deadline": "nis2-final-report", "dueAtMs": null, "state": "waiting"}
                ]
            })),
            snapshot: Some("ab".repeat(32)),
            answer: None,
        }
    }

    fn answered() -> PointView {
        PointView {
            id: "contain".to_owned(),
            decision: "contain-or-observe".to_owned(),
            question: "Do we contain now, or observe first?".to_owned(),
            answers: vec!["contain".to_owned(), "observe".to_owned()],
            provisions: vec!["NIS2 Art. 21(2)(b)".to_owned()],
            state: PointState::Answered,
            waiting_for: None,
            asked_at_ms: Some(10 * MIN),
            budget_ms: 30 * MIN,
            remaining_ms: None,
            situation: None,
            snapshot: Some("cd".repeat(32)),
            answer: Some(AnswerView {
                answer: "contain".to_owned(),
                rationale: "Checkout is down for everyone.".to_owned(),
                by: Some("Dana".to_owned()),
                after_ms: 45 * MIN,
                within_budget: false,
                snapshot: "cd".repeat(32),
                journal_seq: 7,
            }),
        }
    }

    fn view(state: RunState, points: Vec<PointView>) -> RoleView {
        RoleView {
            experiment: "checkout-outage".to_owned(),
            run_id: "run-42".to_owned(),
            role: "legal-lead".to_owned(),
            function: "legal".to_owned(),
            time_scale: 1.0,
            state,
            now_ms: Some(HOUR + 37 * MIN),
            points,
        }
    }

    /// The text of the element that starts with `start`, up to its closing `end`.
    fn element<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
        let from = html
            .find(start)
            .unwrap_or_else(|| panic!("no `{start}` in\n{html}"));
        let to = html[from..]
            .find(end)
            .unwrap_or_else(|| panic!("no `{end}` after `{start}`"));
        &html[from..from + to + end.len()]
    }

    #[test]
    fn a_pending_an_open_and_an_answered_point_show_what_each_needs() {
        let html = render_role_page(
            &view(RunState::Live, vec![pending(), open(), answered()]),
            None,
        );
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains(r#"<meta name="viewport""#));
        assert!(html.contains("EXERCISE"));
        assert!(html.contains("checkout-outage"));
        assert!(html.contains(r#"<dd class="role">legal-lead</dd>"#));
        assert!(html.contains(r#"<dd class="function">legal</dd>"#));
        assert!(html.contains(r#"<code class="run-id">run-42</code>"#));
        assert!(html.contains(r#"<dd class="run-state" data-state="live">Live</dd>"#));

        let pending = element(
            &html,
            r#"<section class="point" id="point-notify""#,
            "</section>",
        );
        assert!(pending.contains(r#"data-state="pending""#));
        assert!(
            pending.contains(
                r#"<h2 class="question" id="question-notify">Do we notify the authority now?</h2>"#
            ),
            "{pending}"
        );
        assert!(pending.contains("waiting for the answer to `significance`"));
        assert!(pending.contains("NIS2 Art. 23(1)"));
        assert!(!pending.contains("<form"));

        let open = element(
            &html,
            r#"<section class="point" id="point-significance""#,
            "</section>",
        );
        assert!(open.contains(r#"data-state="open""#));
        // minijinja escapes `/` too.
        assert!(open.contains("NIS2 Art. 23(3); CIR 2024&#x2f;2690 Art. 7"));
        assert!(open.contains("Time to answer: 2 h, from 1 h after awareness."));
        assert!(open.contains("Time left: 23 min"));
        let row = |key: &str| element(open, &format!(r#"data-key="{key}""#), "</tr>").to_owned();
        let availability = row("availability-so-far");
        assert!(availability.contains(r#"data-certainty="known""#));
        assert!(availability.contains("<th scope=\"row\">Availability so far</th>"));
        assert!(availability.contains("<td class=\"value\">82%</td>"));
        let outage = row("outage-so-far");
        assert!(outage.contains(r#"data-certainty="estimated""#));
        assert!(outage.contains(">20 min<"), "{outage}");
        assert!(outage.contains("from the first failed probe to now"));
        assert!(row("affected-services").contains(">checkout, payments<"));
        assert!(row("ongoing").contains(">yes<"));
        let member_states = row("member-states");
        assert!(member_states.contains(r#"data-certainty="unknown""#));
        assert!(member_states.contains("<td class=\"value\">unknown</td>"));
        assert!(member_states.contains(r#"<span class="mark unknown">unknown</span>"#));
        assert!(member_states.contains("not declared"));
        assert!(
            open.contains(
                r#"<tr class="field" data-key="member-states" data-certainty="unknown">"#
            )
        );

        let running = element(
            open,
            r#"<li class="clock" data-deadline="nis2-early-warning""#,
            "</li>",
        );
        assert!(running.contains(r#"data-state="running""#));
        assert!(
            running.contains("NIS2 early warning</strong>: 23 h left; due 24 h after awareness")
        );
        let overdue = element(
            open,
            r#"<li class="clock" data-deadline="dora-initial-notification""#,
            "</li>",
        );
        assert!(overdue.contains(r#"data-state="overdue""#));
        assert!(overdue.contains("overdue by 30 min"));
        assert!(open.contains(r#"data-deadline="nis2-final-report" data-state="waiting""#));

        let form = element(open, "<form", "</form>");
        assert!(form.contains(
            r#"<form method="post" action="" enctype="application/x-www-form-urlencoded""#
        ));
        assert!(form.contains(r#"<input type="hidden" name="point" value="significance">"#));
        assert!(form.contains(&format!(
            r#"<input type="hidden" name="snapshot" value="{}">"#,
            "ab".repeat(32)
        )));
        assert!(form.contains(
            r#"<input type="radio" name="answer" value="yes" id="answer-significance-0" required><label for="answer-significance-0">yes</label>"#
        ));
        assert!(form.contains(r#"value="no" id="answer-significance-1" required"#));
        assert!(form.contains(r#"name="rationale" rows="4" maxlength="2000" required"#));
        assert!(form.contains(r#"<label for="rationale-significance">"#));
        assert!(form.contains(r#"name="by" maxlength="100""#));
        assert!(form.contains("Your name"));
        assert!(form.contains(r#"<button type="submit">Record the decision</button>"#));

        let answered = element(
            &html,
            r#"<section class="point" id="point-contain""#,
            "</section>",
        );
        assert!(answered.contains(r#"data-state="answered""#));
        assert!(answered.contains(r#"<p class="answer">Answer: <strong>contain</strong></p>"#));
        assert!(answered.contains("Checkout is down for everyone."));
        assert!(answered.contains(r#"<span class="by">Dana</span>, after 45 min."#));
        assert!(answered.contains("Late: 15 min over the budget of 30 min."));
        assert!(!answered.contains("<form"));

        assert_eq!(
            html.matches("<form").count(),
            1,
            "one form, for the open point"
        );
        assert!(
            !html.contains("http-equiv=\"refresh\""),
            "an open point stops reloading"
        );
        assert!(!html.contains("<script"));
        assert!(!html.contains("src="), "no external resource");
        assert!(!html.contains("href="), "no link");
    }

    #[test]
    fn the_page_reloads_only_while_no_question_is_open_and_the_run_goes_on() {
        let refresh = r#"<meta http-equiv="refresh" content="5">"#;
        let page = |state, points| render_role_page(&view(state, points), None);
        assert!(page(RunState::Waiting, vec![pending()]).contains(refresh));
        assert!(page(RunState::Waiting, vec![]).contains(refresh));
        assert!(page(RunState::Live, vec![pending(), answered()]).contains(refresh));
        assert!(!page(RunState::Live, vec![pending(), open()]).contains(refresh));
        assert!(!page(RunState::Ended, vec![pending(), answered()]).contains(refresh));
        assert!(!page(RunState::Ended, vec![]).contains(refresh));
    }

    #[test]
    fn an_ended_run_takes_no_answer() {
        let html = render_role_page(
            &view(RunState::Ended, vec![pending(), open(), answered()]),
            None,
        );
        assert!(html.contains(r#"data-state="ended">Ended</dd>"#));
        assert!(html.contains("The run has ended. This link takes no more answers."));
        assert!(!html.contains("<form"));
        assert!(!html.contains("Record the decision"));
        assert!(html.contains("The run ended before this question was answered."));
        // What was answered is still shown.
        assert!(html.contains(r#"<p class="answer">Answer: <strong>contain</strong></p>"#));
    }

    #[test]
    fn a_notice_is_shown_at_the_top() {
        let v = view(RunState::Live, vec![answered()]);
        let recorded = Notice {
            kind: NoticeKind::Recorded,
            message: "Your answer to `contain` is recorded.".to_owned(),
        };
        let html = render_role_page(&v, Some(&recorded));
        let notice =
            r#"<p class="notice recorded" role="status">Your answer to `contain` is recorded.</p>"#;
        assert!(html.contains(notice), "{html}");
        assert!(html.find(notice) < html.find("<section"));
        let refused = Notice {
            kind: NoticeKind::Refused,
            message: "The situation changed: read it again.".to_owned(),
        };
        let html = render_role_page(&v, Some(&refused));
        assert!(html.contains(
            r#"<p class="notice refused" role="status">The situation changed: read it again.</p>"#
        ));
        assert!(!render_role_page(&v, None).contains("class=\"notice"));
    }

    #[test]
    fn everything_from_the_view_is_escaped() {
        let evil = r#"<script>alert("x")</script>"#;
        let mut v = view(RunState::Live, vec![open(), answered()]);
        v.role = evil.to_owned();
        v.experiment = evil.to_owned();
        v.points[0].question = evil.to_owned();
        v.points[0].answers = vec![format!("yes\" onclick=\"{evil}")];
        v.points[0].situation.as_mut().unwrap()["fields"][4]["note"] = json!(evil);
        v.points[1].answer.as_mut().unwrap().rationale = evil.to_owned();
        v.points[1].answer.as_mut().unwrap().by = Some(evil.to_owned());
        let notice = Notice {
            kind: NoticeKind::Refused,
            message: evil.to_owned(),
        };
        let html = render_role_page(&v, Some(&notice));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains(r#"alert("x")"#));
        assert!(!html.contains("\" onclick=\""));
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(html.contains(r#"<h2 class="question" id="question-significance">&lt;script&gt;"#));
        assert!(html.contains(r#"value="yes&quot; onclick=&quot;&lt;script&gt;"#));
    }

    #[test]
    fn at_a_scale_of_60_times_show_exercise_and_real_time() {
        let mut v = view(RunState::Live, vec![open(), answered()]);
        v.time_scale = 60.0;
        let html = render_role_page(&v, None);
        assert!(html.contains("Time left: 23 min exercise time (23 s real time)"));
        assert!(html.contains("Time to answer: 2 h exercise time (2 min real time)"));
        assert!(html.contains(
            "23 h exercise time (23 min real time) left; due 24 h exercise time (24 min real time) after awareness"
        ));
        assert!(
            html.contains(">20 min exercise time (20 s real time)<"),
            "outage"
        );
        assert!(html.contains("after 45 min exercise time (45 s real time)."));
        assert!(html.contains("60: exercise time runs 60 times as fast as real time"));
        // At a scale of 1 there is one time only.
        let one = render_role_page(&view(RunState::Live, vec![open()]), None);
        assert!(one.contains("Time left: 23 min</strong>"));
        assert!(!one.contains("real time"));
        assert!(!one.contains("Time scale"));
    }

    #[test]
    fn a_late_open_point_says_by_how_much_and_a_broken_situation_says_so() {
        let mut late = open();
        late.remaining_ms = Some(-5 * MIN as i64);
        late.situation = Some(json!({"fields": "not a list"}));
        let html = render_role_page(&view(RunState::Live, vec![late]), None);
        assert!(html.contains("The time to answer has passed: 5 min over"));
        assert!(html.contains("The situation could not be read."));
        assert!(html.contains("<form"), "a late answer is still taken");
    }

    #[test]
    fn the_page_holds_no_token_and_names_no_other_address() {
        let html = render_role_page(
            &view(RunState::Live, vec![pending(), open(), answered()]),
            None,
        );
        assert!(!html.contains("/respond/"));
        assert!(!html.to_lowercase().contains("token"));
        assert!(html.contains(r#"<meta name="referrer" content="no-referrer">"#));
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let cases = [
            (0, "0 ms"),
            (750, "750 ms"),
            (1_000, "1 s"),
            (4_540, "4.5 s"),
            (9_960, "10 s"),
            (45_000, "45 s"),
            (59_600, "1 min"),
            (125_000, "2 min 5 s"),
            (23 * MIN, "23 min"),
            (2 * HOUR + 5 * MIN, "2 h 5 min"),
            (72 * HOUR, "72 h"),
            (76 * HOUR, "3 d 4 h"),
            (28 * 24 * HOUR, "28 d"),
            (u64::MAX, "213503982334 d 14 h"),
        ];
        for (ms, text) in cases {
            assert_eq!(duration(ms), text, "{ms} ms");
        }
        assert_eq!(percent(0.82), "82%");
        assert_eq!(percent(0.9995), "99.95%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(plain_value(&json!([])), "none");
        assert_eq!(plain_value(&json!(false)), "no");
        assert_eq!(plain_value(&json!(3)), "3");
    }
}
