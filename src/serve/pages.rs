//! The pages of `firedrill serve`: server-rendered HTML with the report's style sheet and
//! chart geometry, no script, every text escaped by the templates.

use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::store::{DrillStatus, RunDetail, RunFilter, RunRow, STATUSES};
use super::trend::Trend;
use crate::report::svg::{LineChart, Series, line_chart, time_label};
use crate::report::{board, format};
use crate::time::Timestamp;

/// Every template, by the name the others include or import it by.
const TEMPLATES: [(&str, &str); 9] = [
    ("style.css", include_str!("../report/templates/style.css")),
    ("serve.css", include_str!("templates/serve.css")),
    ("layout.html", include_str!("templates/layout.html")),
    ("charts.html", include_str!("templates/charts.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("trend.html", include_str!("templates/trend.html")),
    ("drill.html", include_str!("templates/drill.html")),
    ("stopped.html", include_str!("templates/stopped.html")),
];

/// Errors of the pages; a template that fails is a defect in firedrill, not in the input.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A template did not compile or render.
    #[error("a page template failed")]
    Template(#[source] minijinja::Error),
}

/// A scheduled drill as the runs page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct DrillInfo {
    /// Its name.
    pub name: String,
    /// What it runs.
    pub runs: String,
    /// Its cron pattern.
    pub cron: String,
    /// Its time zone.
    pub time_zone: String,
    /// `skip` or `run-once`.
    pub missed: String,
    /// Whether it is scheduled.
    pub enabled: bool,
    /// When it comes due next, filled in when the page is drawn.
    pub next_due: Option<String>,
}

/// What every page shows in its frame.
#[derive(Clone, Debug, Serialize)]
pub struct Frame {
    /// firedrill's version.
    pub version: &'static str,
    /// The database file.
    pub database: String,
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Experiment names, reasons and labels come from people's files: escape everything.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

/// The templates, compiled once for every request the server answers.
static ENVIRONMENT: LazyLock<Result<Environment<'static>, minijinja::Error>> =
    LazyLock::new(environment);

fn render(name: &str, context: impl Serialize) -> Result<String, PageError> {
    let env = ENVIRONMENT
        .as_ref()
        .map_err(|e| PageError::Template(minijinja::Error::new(e.kind(), e.to_string())))?;
    env.get_template(name)
        .and_then(|t| t.render(Serde(&context)))
        .map_err(PageError::Template)
}

/// `2026-11-28 04:27:28`.
fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Serialize)]
struct RunLine {
    id: i64,
    run_id: Option<String>,
    drill: Option<String>,
    experiment: String,
    suite: Option<String>,
    status: &'static str,
    reason: Option<String>,
    started: String,
    finished: String,
    ttd: String,
    ttd_max: String,
    ttr: String,
    ttr_max: String,
    score: String,
    results_dir: Option<String>,
    has_report: bool,
}

impl From<&RunRow> for RunLine {
    fn from(r: &RunRow) -> Self {
        Self {
            id: r.id,
            run_id: r.run_id.clone(),
            drill: r.drill.clone(),
            experiment: r.experiment.clone(),
            suite: r.suite.clone(),
            status: r.status.as_str(),
            reason: r.reason.clone(),
            started: when(r.started),
            finished: when(r.finished),
            ttd: format::opt_duration_ms(r.time_to_detect_p50_ms),
            ttd_max: format::opt_duration_ms(r.time_to_detect_max_ms),
            ttr: format::opt_duration_ms(r.time_to_recover_p50_ms),
            ttr_max: format::opt_duration_ms(r.time_to_recover_max_ms),
            score: if r.status.is_scored() {
                format::score(r.score)
            } else {
                "not scored".to_owned()
            },
            results_dir: r.results_dir.clone(),
            has_report: r.has_report,
        }
    }
}

#[derive(Serialize)]
struct FilterValues<'a> {
    experiment: Option<&'a str>,
    status: Option<&'a str>,
    since: Option<&'a str>,
    until: Option<&'a str>,
}

/// The runs list with its filters; `running` maps each drill running now to its experiment.
pub fn runs(
    frame: &Frame,
    drills: &[DrillInfo],
    running: &std::collections::BTreeMap<String, String>,
    experiments: &[String],
    filter: &RunFilter,
    rows: &[RunRow],
) -> Result<String, PageError> {
    #[derive(Serialize)]
    struct Context<'a> {
        #[serde(flatten)]
        frame: &'a Frame,
        page: &'static str,
        drills: &'a [DrillInfo],
        running: &'a std::collections::BTreeMap<String, String>,
        experiments: &'a [String],
        statuses: [&'static str; 6],
        filter: FilterValues<'a>,
        runs: Vec<RunLine>,
        limited: bool,
    }
    render(
        "runs.html",
        Context {
            frame,
            page: "runs",
            drills,
            running,
            experiments,
            statuses: STATUSES,
            filter: FilterValues {
                experiment: filter.experiment.as_deref(),
                status: filter.status.map(DrillStatus::as_str),
                since: filter.since.as_deref(),
                until: filter.until.as_deref(),
            },
            runs: rows.iter().map(RunLine::from).collect(),
            limited: filter.limit.is_some_and(|l| rows.len() >= l as usize),
        },
    )
}

/// A drill's page: what runs now and how to stop it.
#[derive(Debug, Serialize)]
pub struct DrillView {
    /// The drill.
    pub name: String,
    /// Its run under way, if any.
    pub running: Option<RunningView>,
    /// Whether serve has a token, and so offers the stop form.
    pub token: bool,
}

/// A run under way, as its drill's page shows it.
#[derive(Debug, Serialize)]
pub struct RunningView {
    /// The experiment running.
    pub experiment: String,
    /// When it started.
    pub since: Option<String>,
    /// Whether the run listens, and so has a stop link of its own.
    pub listens: bool,
    /// The stop form's nonce, on a token holder's page only.
    pub nonce: Option<String>,
}

/// A drill's page.
pub fn drill(frame: &Frame, view: &DrillView) -> Result<String, PageError> {
    #[derive(Serialize)]
    struct Context<'a> {
        #[serde(flatten)]
        frame: &'a Frame,
        page: &'static str,
        drill: &'a DrillView,
    }
    render(
        "drill.html",
        Context {
            frame,
            page: "drill",
            drill: view,
        },
    )
}

/// What a press of the stop form did.
#[derive(Debug, Serialize)]
pub struct StopOutcome {
    /// The drill.
    pub drill: String,
    /// The stop under way, when the press was taken.
    pub stopping: Option<Stopping>,
    /// Why nothing was stopped, otherwise.
    pub refused: Option<String>,
}

/// A stop under way.
#[derive(Debug, Serialize)]
pub struct Stopping {
    /// The experiment being stopped.
    pub experiment: String,
    /// Who pressed.
    pub by: String,
    /// When.
    pub at: String,
    /// The run's reason, as it will be stored.
    pub reason: String,
}

/// The page answering a press of the stop form.
pub fn stopped(frame: &Frame, outcome: &StopOutcome) -> Result<String, PageError> {
    #[derive(Serialize)]
    struct Context<'a> {
        #[serde(flatten)]
        frame: &'a Frame,
        page: &'static str,
        outcome: &'a StopOutcome,
    }
    render(
        "stopped.html",
        Context {
            frame,
            page: "stopped",
            outcome,
        },
    )
}

#[derive(Serialize)]
struct CapabilityLine {
    name: String,
    score: String,
    maturity: String,
}

fn capability_lines(card: &crate::scorecard::Scorecard) -> Vec<CapabilityLine> {
    card.capabilities
        .iter()
        .map(|c| CapabilityLine {
            name: c.name.clone(),
            score: format::capability_score(c),
            maturity: c.maturity.map_or_else(|| "—".to_owned(), |m| m.to_string()),
        })
        .collect()
}

/// A run's page.
pub fn run(frame: &Frame, detail: &RunDetail) -> Result<String, PageError> {
    #[derive(Serialize)]
    struct Objective {
        name: String,
        target: String,
        measured: String,
        met: bool,
    }
    #[derive(Serialize)]
    struct Context<'a> {
        #[serde(flatten)]
        frame: &'a Frame,
        page: &'static str,
        run: RunLine,
        headline: Option<String>,
        objectives: Vec<Objective>,
        capabilities: Vec<CapabilityLine>,
    }
    let result: Option<crate::result::RunResult> = detail
        .result
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let objectives = result
        .iter()
        .flat_map(|r| &r.objectives)
        .map(|o| Objective {
            name: o.name.clone(),
            target: o.target.clone(),
            measured: match (o.measured, o.unit.as_str()) {
                (Some(v), "ms") => format::duration_ms(v),
                (Some(v), "ratio") => format::percent(v),
                (Some(v), unit) => format!("{} {unit}", format::trim(v, 3)),
                (None, _) => "not measured".to_owned(),
            },
            met: o.met,
        })
        .collect();
    // An aborted or interrupted run's scorecard is not shown: it measured a run cut short.
    let card = result
        .as_ref()
        .filter(|_| detail.row.status.is_scored())
        .and_then(|r| r.scorecard.as_ref());
    let capabilities = card.map(capability_lines).unwrap_or_default();
    let headline = card.map(|c| {
        let o = &c.overall;
        match board::partial(o) {
            Some(partial) => format!("{} (partial figure {partial})", board::headline(o)),
            None => board::headline(o),
        }
    });
    render(
        "run.html",
        Context {
            frame,
            page: "run",
            run: RunLine::from(&detail.row),
            headline,
            objectives,
            capabilities,
        },
    )
}

/// Seconds since the epoch, the x-axis of the trend charts.
fn epoch_seconds(at: Timestamp) -> f64 {
    at.as_millisecond() as f64 / 1e3
}

/// The trend page.
pub fn trend(frame: &Frame, trend: &Trend) -> Result<String, PageError> {
    #[derive(Serialize)]
    struct TodayView {
        headline: String,
        partial: Option<String>,
        coverage: String,
        trend: String,
        runs: Vec<i64>,
        capabilities: Vec<CapabilityLine>,
    }
    #[derive(Serialize)]
    struct ExperimentView {
        experiment: String,
        runs: usize,
        passed: usize,
        latest_ttd: String,
        latest_ttr: String,
        formula_changes: Vec<String>,
        chart: LineChart,
    }
    #[derive(Serialize)]
    struct Context<'a> {
        #[serde(flatten)]
        frame: &'a Frame,
        page: &'static str,
        today: Option<TodayView>,
        capability_chart: Option<LineChart>,
        experiments: Vec<ExperimentView>,
    }
    let today = trend.today.as_ref().map(|t| TodayView {
        headline: board::headline(&t.scorecard.overall),
        partial: board::partial(&t.scorecard.overall),
        coverage: board::coverage(&t.scorecard.overall),
        trend: crate::report::history::trend_sentence(&t.history),
        runs: t.runs.clone(),
        capabilities: capability_lines(&t.scorecard),
    });
    let capability_series: Vec<Series> = trend
        .capabilities
        .iter()
        .map(|c| {
            let points = c
                .points
                .iter()
                .map(|p| {
                    (
                        epoch_seconds(p.at),
                        p.score,
                        format!("{} {}: {:.0} (run {})", c.name, when(p.at), p.score, p.id),
                    )
                })
                .collect();
            (c.name.clone(), points)
        })
        .collect();
    let capability_chart = (!capability_series.is_empty())
        .then(|| line_chart(&capability_series, time_label, |v| format!("{v:.0}")));
    let experiments = trend
        .experiments
        .iter()
        .map(|e| {
            let series = |name: &str, pick: fn(&super::trend::TrendPoint) -> Option<f64>| {
                let points = e
                    .points
                    .iter()
                    .filter_map(|p| {
                        let value = pick(p)?;
                        Some((
                            epoch_seconds(p.at),
                            value,
                            format!(
                                "{name} {}: {} (run {}, {})",
                                when(p.at),
                                format::duration_ms(value),
                                p.id,
                                p.status.as_str()
                            ),
                        ))
                    })
                    .collect();
                (name.to_owned(), points)
            };
            let chart = line_chart(
                &[
                    series("time to detect p50", |p| p.time_to_detect_p50_ms),
                    series("time to recover p50", |p| p.time_to_recover_p50_ms),
                ],
                time_label,
                format::duration_ms,
            );
            let last = e.latest();
            ExperimentView {
                experiment: e.experiment.clone(),
                runs: e.runs,
                passed: e.passed,
                latest_ttd: format::opt_duration_ms(last.and_then(|p| p.time_to_detect_p50_ms)),
                latest_ttr: format::opt_duration_ms(last.and_then(|p| p.time_to_recover_p50_ms)),
                formula_changes: e
                    .points
                    .iter()
                    .filter(|p| p.formula_changed)
                    .map(|p| {
                        format!(
                            "from run {} ({}), scored with formula {}",
                            p.id,
                            when(p.at),
                            p.formula_version.as_deref().unwrap_or("-")
                        )
                    })
                    .collect(),
                chart,
            }
        })
        .collect();
    render(
        "trend.html",
        Context {
            frame,
            page: "trend",
            today,
            capability_chart,
            experiments,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            version: "test",
            database: "h.db".into(),
        }
    }

    #[test]
    fn pages_escape_what_people_wrote() {
        let row = RunRow {
            id: 1,
            run_id: None,
            drill: Some("d".into()),
            experiment: "x".into(),
            suite: None,
            status: DrillStatus::Skipped,
            reason: Some("<script>alert(1)</script>".into()),
            started: "2026-03-01T10:00:00Z".parse().unwrap(),
            finished: "2026-03-01T10:00:00Z".parse().unwrap(),
            time_to_detect_p50_ms: Some(1500.0),
            time_to_detect_max_ms: None,
            time_to_recover_p50_ms: None,
            time_to_recover_max_ms: None,
            score: None,
            results_dir: None,
            has_report: false,
        };
        let html = runs(
            &frame(),
            &[],
            &Default::default(),
            &["x".into()],
            &RunFilter::default(),
            &[row],
        )
        .unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("2026-03-01 10:00:00"));
        assert!(html.contains(&format::duration_ms(1500.0)));
    }

    #[test]
    fn the_drill_page_offers_the_stop_form_to_token_holders_only() {
        let view = |token: bool| DrillView {
            name: "nightly".into(),
            running: Some(RunningView {
                experiment: "checkout".into(),
                since: Some("2026-03-01 10:00:00 UTC".into()),
                listens: true,
                nonce: token.then(|| "n0nce".into()),
            }),
            token,
        };
        let with = drill(&frame(), &view(true)).unwrap();
        assert!(with.contains(r#"action="/drills/nightly/stop""#), "{with}");
        assert!(with.contains(r#"name="nonce" value="n0nce""#));
        assert!(with.contains(r#"type="password" name="token""#));
        let without = drill(&frame(), &view(false)).unwrap();
        assert!(!without.contains("<form"), "{without}");
        assert!(without.contains("Open the run's own stop link"));
        let idle = drill(
            &frame(),
            &DrillView {
                name: "nightly".into(),
                running: None,
                token: true,
            },
        )
        .unwrap();
        assert!(idle.contains("is not running now"));
        let refused = stopped(
            &frame(),
            &StopOutcome {
                drill: "nightly".into(),
                stopping: None,
                refused: Some("<b>no</b>".into()),
            },
        )
        .unwrap();
        assert!(refused.contains("Nothing was stopped") && refused.contains("&lt;b&gt;no"));
    }

    #[test]
    fn the_trend_page_draws_a_chart_per_experiment() {
        let result: crate::result::RunResult = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/quickstart-result.json"
        ))
        .unwrap();
        let stored = |id| super::super::store::StoredResult {
            id,
            drill: None,
            results_dir: None,
            result: result.clone(),
        };
        let trend =
            super::super::trend::compute(&[stored(1), stored(2)], "h.db", result.finished_at);
        let html = super::trend(&frame(), &trend).unwrap();
        assert!(html.contains("<polyline"), "{html}");
        assert!(html.contains("time to detect p50"));
        assert!(
            html.contains("Trend: not measured yet: 1 run over 0 days in the history"),
            "the same run twice counts once: {html}"
        );
        assert!(!html.contains("formula changed"));
    }
}
