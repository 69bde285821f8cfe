//! `report.html`: one self-contained page (no external asset, no script) for an executive's
//! first minute and an auditor's trace to the evidence. The page is drawn by the minijinja
//! templates in `templates/`, compiled in, with HTML autoescaping on for every template; this
//! module only turns a [`Report`] into plain display data (formatted figures, chart geometry).
//! Sections are described in docs/report.md.

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::format::{self, duration_ms, multiple, opt_duration_ms, opt_percent, percent, trim};
use super::model::{Report, ReportRun};
use crate::journal::JournalCheck;
use crate::result::{
    CoordinationResult, IterationResult, IterationStatus, NotificationResult, RunResult, RunStatus,
};
// The charts' geometry, shared with the pages of `firedrill serve`.
use super::svg;

use crate::measure::{DurationSummary, LatencySummary};
use crate::scorecard::{
    Aggregation, CANNOT_EVIDENCE, CapabilityScore, IMPLEMENTING_REGULATION_SCOPE, MetricScore,
    Scale, Scorecard, Status,
};
use crate::time::Timestamp;
use svg::{GroupedBars, MarkerKind, Moment, PhaseKind, PhaseSpan, Strip, Timeline};

/// The page's entry template.
const ENTRY: &str = "report.html";

/// Every template, by the name the others include or import it by.
const TEMPLATES: [(&str, &str); 9] = [
    (ENTRY, include_str!("templates/report.html")),
    ("style.css", include_str!("templates/style.css")),
    ("charts.html", include_str!("templates/charts.html")),
    ("verdict.html", include_str!("templates/verdict.html")),
    (
        "capabilities.html",
        include_str!("templates/capabilities.html"),
    ),
    ("run.html", include_str!("templates/run.html")),
    (
        "coordination.html",
        include_str!("templates/coordination.html"),
    ),
    ("evidence.html", include_str!("templates/evidence.html")),
    ("security.html", include_str!("templates/security.html")),
];

/// The sentence every report ends its limits with.
const ATTESTATION: &str = "A scorecard is supporting evidence, not an attestation.";

/// Length of a capability's score bar at 100.
const SCORE_BAR: f64 = 200.0;

/// Errors of the HTML renderer; a template that fails is a defect in firedrill, not in the input.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// A template did not compile or render.
    #[error("the HTML report template failed")]
    Template(#[source] minijinja::Error),
}

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> Result<String, HtmlError> {
    let env = environment().map_err(HtmlError::Template)?;
    let page = Page::new(report);
    env.get_template(ENTRY)
        .and_then(|template| template.render(Serde(&page)))
        .map_err(HtmlError::Template)
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Everything that reaches the page is escaped, whatever the template's name (style.css
    // included): experiment files are input from people, not from us.
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

// ---------------------------------------------------------------------------------------------
// Formatting: every figure on the page goes through these, so that it reads the same everywhere.

/// A number with at most `decimals` decimals and no trailing zeros.
/// A 0-100 score as shown everywhere on the page.
fn score_text(score: f64) -> String {
    format!("{score:.0}")
}

/// A time as `2026-11-28 04:27:28.071 UTC`.
fn wall_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// A time as the date and minute, `2026-11-28 04:27 UTC`.
fn day_and_minute(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time as the time of day only, `04:27:28.071`.
fn clock(at: Timestamp) -> String {
    at.strftime("%H:%M:%S%.3f").to_string()
}

fn opt_clock(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "-".to_owned(), clock)
}

/// A relative href to a file of the results: each path segment percent-encoded, so that no
/// name can become a scheme (`javascript:`), a query or a fragment.
fn href(dir: &str, name: &str) -> String {
    let joined = if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), name)
    };
    let mut out = String::with_capacity(joined.len());
    for byte in joined.trim_start_matches('/').bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

use format::kebab;

// ---------------------------------------------------------------------------------------------
// The page.

#[derive(Serialize)]
struct StatusView {
    /// As in result.json, also the CSS class.
    key: &'static str,
    /// As read aloud.
    label: &'static str,
}

impl From<RunStatus> for StatusView {
    fn from(status: RunStatus) -> Self {
        let label = match status {
            RunStatus::Passed => "Passed",
            RunStatus::Failed => "Failed",
            RunStatus::Aborted => "Aborted",
            RunStatus::Interrupted => "Interrupted",
            RunStatus::RollbackFailed => "Rollback failed",
        };
        Self {
            key: status.as_str(),
            label,
        }
    }
}

#[derive(Serialize)]
struct Page {
    title: String,
    generated_at: String,
    generated_at_iso: String,
    drilled_at: Option<String>,
    firedrill_version: Option<String>,
    status: StatusView,
    why: String,
    why_source: Option<String>,
    scorecard: Option<ScorecardView>,
    board: Option<super::board::Board>,
    findings: Vec<super::findings::ReviewedFinding>,
    carried: Vec<super::findings::CarriedAction>,
    reviews_broken: Option<String>,
    runs: Vec<RunView>,
    suite: bool,
    any_coordination: bool,
    cannot_evidence: Vec<String>,
    attestation: &'static str,
    caveat: &'static str,
    regulation_scope: &'static str,
}

impl Page {
    fn new(report: &Report) -> Self {
        let worst = report
            .runs
            .iter()
            .filter(|run| run.result.status == report.status)
            .find_map(|run| run.result.reason.as_deref().map(|r| (run, r)))
            .or_else(|| {
                report
                    .runs
                    .iter()
                    .find_map(|run| run.result.reason.as_deref().map(|r| (run, r)))
            });
        let suite = report.runs.len() > 1;
        let why = match (worst, report.status) {
            (Some((_, reason)), _) => reason.to_owned(),
            (None, _) if report.runs.is_empty() => {
                "No experiment run is part of this report.".to_owned()
            }
            (None, RunStatus::Passed) => {
                "Every objective was met and every iteration recovered.".to_owned()
            }
            (None, status) => format!(
                "The status is {}, and no reason was recorded.",
                status.as_str().replace('_', " ")
            ),
        };
        let drilled_at = report
            .runs
            .iter()
            .map(|run| run.result.started_at)
            .min()
            .map(day_and_minute);
        let runs: Vec<RunView> = report
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| RunView::new(i + 1, run))
            .collect();
        let findings = super::findings::of(report);
        let cannot_evidence = report
            .scorecard
            .as_ref()
            .map(|s| s.cannot_evidence.clone())
            .unwrap_or_else(|| CANNOT_EVIDENCE.iter().map(|s| (*s).to_owned()).collect())
            .into_iter()
            .filter(|sentence| sentence != ATTESTATION)
            .collect();
        Self {
            title: report.title.clone(),
            generated_at: wall_time(report.generated_at),
            generated_at_iso: report.generated_at.to_string(),
            drilled_at,
            firedrill_version: report
                .runs
                .first()
                .map(|run| run.result.firedrill_version.clone()),
            status: report.status.into(),
            why,
            why_source: worst
                .filter(|_| suite)
                .map(|(run, _)| run.result.experiment.name.clone()),
            scorecard: report.scorecard.as_ref().map(ScorecardView::new),
            board: super::board::Board::of(report, &findings),
            findings: super::findings::reviewed(report, &findings),
            carried: super::findings::carried(report, &findings),
            reviews_broken: report.reviews.broken().map(str::to_owned),
            any_coordination: runs.iter().any(|run| {
                !run.notifications.is_empty()
                    || run.coordination.is_some()
                    || run.decisions.is_some()
            }),
            runs,
            suite,
            cannot_evidence,
            attestation: ATTESTATION,
            caveat: super::security::CANARY_CAVEAT,
            regulation_scope: IMPLEMENTING_REGULATION_SCOPE,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scorecard.

#[derive(Serialize)]
struct ScorecardView {
    formula_version: String,
    capabilities: Vec<CapabilityView>,
    preconditions: Vec<format::PreconditionView>,
}

/// How a score reads; the colour follows it, the words carry it.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Band {
    /// Below 40: maturity level 1.
    Weak,
    /// 40 to 74.
    Moderate,
    /// 75 and above.
    Strong,
}

impl Band {
    fn of(score: f64) -> Self {
        // By the figure as shown, so that a 74.6 shown as 75 reads strong.
        let score = score.round();
        if score < 40.0 {
            Band::Weak
        } else if score < 75.0 {
            Band::Moderate
        } else {
            Band::Strong
        }
    }
}

impl ScorecardView {
    fn new(scorecard: &Scorecard) -> Self {
        let weakest = scorecard.overall.weakest;
        Self {
            formula_version: scorecard.formula_version.clone(),
            capabilities: scorecard
                .capabilities
                .iter()
                .map(|c| CapabilityView::new(c, weakest == Some(c.capability)))
                .collect(),
            preconditions: format::preconditions(scorecard),
        }
    }
}

#[derive(Serialize)]
struct Reference {
    label: &'static str,
    text: String,
}

#[derive(Serialize)]
struct GateView {
    name: String,
    cap: String,
    why: &'static str,
}

#[derive(Serialize)]
struct CapabilityView {
    key: String,
    name: String,
    evidenced: bool,
    status: &'static str,
    simulated_score: Option<String>,
    weakest: bool,
    score: Option<String>,
    score_p50: Option<String>,
    bar: Option<f64>,
    bar_full: f64,
    band: Option<Band>,
    maturity: Option<u8>,
    weight: String,
    gates: Vec<GateView>,
    references: Vec<Reference>,
    metrics: Vec<MetricView>,
}

impl CapabilityView {
    fn new(capability: &CapabilityScore, weakest: bool) -> Self {
        let refs = &capability.references;
        let score = capability
            .score
            .filter(|_| capability.status == Status::Evidenced);
        Self {
            key: kebab(&capability.capability),
            name: capability.name.clone(),
            evidenced: score.is_some(),
            status: capability.status.as_str(),
            simulated_score: capability.simulated_score.map(score_text),
            weakest,
            score: score.map(score_text),
            score_p50: capability
                .score_p50
                .filter(|_| score.is_some())
                .map(score_text),
            bar: score.map(|s| svg::score_length(s, SCORE_BAR)),
            bar_full: SCORE_BAR,
            band: score.map(Band::of),
            maturity: capability.maturity.filter(|_| score.is_some()),
            weight: trim(capability.weight, 2),
            gates: capability
                .gates
                .iter()
                .map(|applied| GateView {
                    name: kebab(&applied.gate),
                    cap: score_text(applied.cap),
                    why: format::gate(applied.gate),
                })
                .collect(),
            references: vec![
                Reference {
                    label: "NIS2 (Directive (EU) 2022/2555)",
                    text: refs.nis2.to_string(),
                },
                Reference {
                    label: "Implementing Regulation (EU) 2024/2690, Annex",
                    text: refs.implementing_regulation_2024_2690.to_string(),
                },
                Reference {
                    label: "ISO/IEC 27001:2022",
                    text: refs.iso_27001_annex_a.to_string(),
                },
                Reference {
                    label: "DORA (Regulation (EU) 2022/2554)",
                    text: refs.dora.to_string(),
                },
                Reference {
                    label: "NIST CSF 2.0",
                    text: refs.nist_csf_2.to_string(),
                },
            ],
            metrics: capability.metrics.iter().map(MetricView::new).collect(),
        }
    }
}

#[derive(Serialize)]
struct MetricView {
    name: String,
    measured: String,
    target: String,
    limit: String,
    limit_label: &'static str,
    default_target: bool,
    aggregation: String,
    n: u32,
    score: String,
    weight: String,
    source: Option<String>,
    provenance: &'static str,
    stale: bool,
}

impl MetricView {
    fn new(metric: &MetricScore) -> Self {
        let (value, target, limit, limit_label): (fn(f64) -> String, String, String, _) =
            match metric.scale {
                Scale::Duration {
                    target_secs,
                    limit_secs,
                } => (
                    |secs| duration_ms(secs * 1e3),
                    duration_ms(target_secs * 1e3),
                    duration_ms(limit_secs * 1e3),
                    "limit",
                ),
                Scale::Ratio { floor, target } => {
                    (percent, percent(target), percent(floor), "floor")
                }
                Scale::Multiple { target, limit } => (
                    multiple,
                    multiple(target),
                    limit.map_or_else(|| "none: pass or fail".to_owned(), multiple),
                    "limit",
                ),
            };
        let aggregation = match metric.aggregation {
            Some(Aggregation::P90) => "p90".to_owned(),
            Some(Aggregation::Worst) => format!("worst of {}", metric.n),
            None => "-".to_owned(),
        };
        Self {
            name: metric.name.clone(),
            measured: metric.measured.map_or_else(|| "-".to_owned(), value),
            target,
            limit,
            limit_label,
            default_target: metric.default_target,
            aggregation,
            n: metric.n,
            score: metric.score.map_or_else(|| "-".to_owned(), score_text),
            weight: trim(metric.weight, 2),
            source: metric.source.clone(),
            provenance: metric.provenance.as_str(),
            stale: metric.stale,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One experiment's run.

#[derive(Serialize)]
struct Label {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct RunView {
    anchor: String,
    name: String,
    description: Option<String>,
    labels: Vec<Label>,
    file: Option<String>,
    run_id: String,
    status: StatusView,
    reason: Option<String>,
    started_at: String,
    finished_at: String,
    duration: String,
    probe_interval: String,
    baseline: String,
    stable_for: String,
    iterations_planned: u32,
    iterations_completed: u32,
    detected: u32,
    recovered: u32,
    availability: String,
    iterations: Vec<IterationView>,
    detect: Distribution,
    recover: Distribution,
    outage: Distribution,
    pod_recovery: Option<PodRecoveryView>,
    probes: Vec<ProbeView>,
    objectives: Vec<ObjectiveView>,
    objectives_met: usize,
    objectives_missed: usize,
    faults: Vec<FaultView>,
    security: Option<super::security::SecurityDrills>,
    rollback_reverted: Vec<String>,
    rollback_failed: Vec<String>,
    notifications: Vec<NotificationView>,
    coordination: Option<CoordinationView>,
    decisions: Option<super::decisions::Decisions>,
    journal: JournalView,
    files: Vec<FileLink>,
}

impl RunView {
    fn new(number: usize, run: &ReportRun) -> Self {
        let r = &run.result;
        let anchor = format!("run-{number}");
        // One time scale for every iteration of the run, so that their timelines compare.
        let axis_ms = r
            .iterations
            .iter()
            .map(|it| iteration_end(it, r.settings.stable_for_ms))
            .fold(0.0, f64::max);
        let iterations: Vec<IterationView> = r
            .iterations
            .iter()
            .map(|it| IterationView::new(&anchor, it, r.settings.stable_for_ms, axis_ms))
            .collect();
        let per_iteration = |pick: fn(&IterationResult) -> Option<f64>| -> Vec<(u32, f64)> {
            r.iterations
                .iter()
                .filter_map(|it| pick(it).map(|v| (it.index, v)))
                .collect()
        };
        let detect = Distribution::new(
            "time to detect",
            &per_iteration(|it| it.time_to_detect_ms),
            &r.summary.time_to_detect_ms,
            "not detected",
        );
        let recover = Distribution::new(
            "time to recover",
            &per_iteration(|it| it.time_to_recover_ms),
            &r.summary.time_to_recover_ms,
            "not recovered",
        );
        let outage = Distribution::new(
            "outage",
            &per_iteration(|it| Some(it.outage_ms)),
            &r.summary.outage_ms,
            "not measured",
        );
        let objectives: Vec<ObjectiveView> = r.objectives.iter().map(ObjectiveView::new).collect();
        let objectives_met = objectives.iter().filter(|o| o.met).count();
        Self {
            name: r.experiment.name.clone(),
            description: r.experiment.description.clone(),
            labels: r
                .experiment
                .labels
                .iter()
                .map(|(key, value)| Label {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            file: r.experiment.file.clone(),
            run_id: r.run_id.clone(),
            status: r.status.into(),
            reason: r.reason.clone(),
            started_at: wall_time(r.started_at),
            finished_at: wall_time(r.finished_at),
            duration: duration_ms(r.duration_ms),
            probe_interval: duration_ms(r.settings.probe_interval_ms),
            baseline: duration_ms(r.settings.baseline_ms),
            stable_for: duration_ms(r.settings.stable_for_ms),
            iterations_planned: r.settings.iterations,
            iterations_completed: r.summary.iterations,
            detected: r.summary.detected,
            recovered: r.summary.recovered,
            availability: opt_percent(r.summary.availability),
            detect,
            recover,
            outage,
            pod_recovery: r
                .summary
                .pod_recovery
                .as_ref()
                .map(|p| PodRecoveryView::new(p, &r.iterations)),
            probes: probe_views(&r.probes),
            objectives_missed: objectives.len() - objectives_met,
            objectives_met,
            objectives,
            faults: r.iterations.iter().flat_map(FaultView::of).collect(),
            security: super::security::SecurityDrills::of(r),
            rollback_reverted: r.rollback.reverted.clone(),
            rollback_failed: r.rollback.failed.clone(),
            notifications: r
                .notifications
                .iter()
                .map(|n| NotificationView::new(&run.dir, n))
                .collect(),
            coordination: r.coordination.as_ref().map(CoordinationView::new),
            decisions: super::decisions::Decisions::of(r),
            journal: JournalView::new(&run.journal),
            files: file_links(&run.dir, r),
            iterations,
            anchor,
        }
    }
}

#[derive(Serialize)]
struct EventView {
    offset: String,
    at: String,
    kind: String,
    detail: String,
}

#[derive(Serialize)]
struct IterationView {
    id: String,
    index: u32,
    status: String,
    passed: bool,
    injected: String,
    detected: String,
    detected_by: Option<String>,
    recovered: String,
    time_to_detect: String,
    time_to_recover: String,
    outage: String,
    availability: String,
    timeline: Timeline,
    timeline_title: String,
    events: Vec<EventView>,
}

impl IterationView {
    fn new(run_anchor: &str, it: &IterationResult, stable_for_ms: f64, axis_ms: f64) -> Self {
        let time_to_detect = match (it.time_to_detect_ms, &it.injected_at) {
            (Some(ms), _) => duration_ms(ms),
            (None, Some(_)) => "not detected".to_owned(),
            (None, None) => "-".to_owned(),
        };
        let time_to_recover = match (it.time_to_recover_ms, &it.injected_at) {
            (Some(ms), _) => duration_ms(ms),
            (None, Some(_)) => "not recovered".to_owned(),
            (None, None) => "-".to_owned(),
        };
        Self {
            id: format!("{run_anchor}-iteration-{}", it.index),
            index: it.index,
            status: it.status.as_str().replace('_', " "),
            passed: it.status == IterationStatus::Passed,
            injected: opt_clock(it.injected_at),
            detected: opt_clock(it.detected_at),
            detected_by: it.detected_by.clone(),
            recovered: opt_clock(it.recovered_at),
            timeline_title: format!(
                "Iteration {}: {}; time to detect {}, time to recover {}",
                it.index,
                it.status.as_str().replace('_', " "),
                time_to_detect,
                time_to_recover
            ),
            time_to_detect,
            time_to_recover,
            outage: duration_ms(it.outage_ms),
            availability: opt_percent(it.availability),
            timeline: iteration_timeline(it, stable_for_ms, axis_ms),
            events: it
                .events
                .iter()
                .map(|event| EventView {
                    offset: format!("+{}", duration_ms(since_start(it, event.at))),
                    at: clock(event.at),
                    kind: event.kind.clone(),
                    detail: event.detail.clone(),
                })
                .collect(),
        }
    }
}

/// Milliseconds from the iteration's start to `at`.
fn since_start(it: &IterationResult, at: Timestamp) -> f64 {
    at.ms_since(it.started_at)
}

/// Where an iteration ends on its timeline. Nothing records the end: it is the last moment
/// known, or the end of the stable window after recovery, which the iteration waited out.
fn iteration_end(it: &IterationResult, stable_for_ms: f64) -> f64 {
    let at = |time: Option<&Timestamp>| time.map(|t| since_start(it, *t));
    it.events
        .iter()
        .map(|e| since_start(it, e.at))
        .chain(
            it.faults
                .iter()
                .flat_map(|f| [at(f.injected_at.as_ref()), at(f.reverted_at.as_ref())])
                .flatten(),
        )
        .chain(at(it.injected_at.as_ref()))
        .chain(at(it.detected_at.as_ref()))
        .chain(at(it.recovered_at.as_ref()).map(|r| r + stable_for_ms))
        .fold(0.0, f64::max)
}

/// The iteration's phases and moments in milliseconds from its start, laid out on an axis
/// of at least `axis_ms`.
fn iteration_timeline(it: &IterationResult, stable_for_ms: f64, axis_ms: f64) -> Timeline {
    let at = |time: Option<&Timestamp>| time.map(|t| since_start(it, *t));
    let injected = at(it.injected_at.as_ref()).or_else(|| {
        it.faults
            .iter()
            .filter_map(|f| at(f.injected_at.as_ref()))
            .reduce(f64::min)
    });
    let last_revert = it
        .faults
        .iter()
        .filter_map(|f| at(f.reverted_at.as_ref()))
        .reduce(f64::max);
    let recovered = at(it.recovered_at.as_ref());
    let end = iteration_end(it, stable_for_ms);

    let mut phases = Vec::new();
    let baseline_end = injected.unwrap_or(end);
    phases.push(PhaseSpan {
        kind: PhaseKind::Baseline,
        from_ms: 0.0,
        to_ms: baseline_end,
        label: format!("baseline, {}", duration_ms(baseline_end)),
    });
    if let Some(injected) = injected {
        let fault_end = last_revert.unwrap_or(end).max(injected);
        phases.push(PhaseSpan {
            kind: PhaseKind::Fault,
            from_ms: injected,
            to_ms: fault_end,
            label: format!(
                "fault, from +{} for {}",
                duration_ms(injected),
                duration_ms(fault_end - injected)
            ),
        });
        if let Some(revert) = last_revert {
            let revert = revert.max(injected);
            phases.push(PhaseSpan {
                kind: PhaseKind::Recovery,
                from_ms: revert,
                to_ms: end,
                label: format!(
                    "recovery, from +{} for {}",
                    duration_ms(revert),
                    duration_ms(end - revert)
                ),
            });
        }
    }

    let mut moments = Vec::new();
    for fault in &it.faults {
        if let Some(t) = at(fault.injected_at.as_ref()) {
            moments.push(Moment {
                kind: MarkerKind::Injection,
                at_ms: t,
                label: format!("{} injected at +{}", fault.name, duration_ms(t)),
            });
        }
        if let Some(t) = at(fault.reverted_at.as_ref()) {
            moments.push(Moment {
                kind: MarkerKind::Revert,
                at_ms: t,
                label: format!("{} reverted at +{}", fault.name, duration_ms(t)),
            });
        }
    }
    if let Some(t) = at(it.detected_at.as_ref()) {
        moments.push(Moment {
            kind: MarkerKind::Detection,
            at_ms: t,
            label: format!(
                "detected{} at +{}, {} after injection",
                it.detected_by
                    .as_deref()
                    .map(|by| format!(" by {by}"))
                    .unwrap_or_default(),
                duration_ms(t),
                opt_duration_ms(it.time_to_detect_ms)
            ),
        });
    }
    if let Some(t) = recovered {
        moments.push(Moment {
            kind: MarkerKind::Recovery,
            at_ms: t,
            label: format!(
                "steady state held again from +{}, {} after injection",
                duration_ms(t),
                opt_duration_ms(it.time_to_recover_ms)
            ),
        });
    }
    svg::timeline(end.max(axis_ms), &phases, &moments, duration_ms)
}

#[derive(Serialize)]
struct Distribution {
    name: &'static str,
    strip: Option<Strip>,
    p50: String,
    p90: String,
    max: String,
    count: u64,
    missing: u64,
    missing_label: &'static str,
}

impl Distribution {
    fn new(
        name: &'static str,
        values: &[(u32, f64)],
        summary: &DurationSummary,
        missing_label: &'static str,
    ) -> Self {
        let dots: Vec<(String, f64)> = values
            .iter()
            .map(|(index, v)| (format!("iteration {index}: {}", duration_ms(*v)), *v))
            .collect();
        let rules: Vec<(&str, f64)> = [
            ("p50", summary.p50),
            ("p90", summary.p90),
            ("max", summary.max),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v)))
        .collect();
        Self {
            name,
            strip: (!dots.is_empty()).then(|| svg::strip(&dots, &rules, duration_ms)),
            p50: opt_duration_ms(summary.p50),
            p90: opt_duration_ms(summary.p90),
            max: opt_duration_ms(summary.max),
            count: summary.count,
            missing: summary.missing,
            missing_label,
        }
    }
}

/// Per-pod recovery of a run: a summary row per figure, then every pod.
#[derive(Serialize)]
struct PodRecoveryView {
    pods: u64,
    rows: Vec<PodFigureRow>,
    each: Vec<PodRow>,
}

#[derive(Serialize)]
struct PodFigureRow {
    figure: &'static str,
    server_p50: String,
    server_max: String,
    client_p50: String,
    client_max: String,
    missing: u64,
}

#[derive(Serialize)]
struct PodRow {
    iteration: u32,
    pod: String,
    replacement: String,
    reschedule: String,
    server_reschedule: String,
    ready: String,
    server_ready: String,
}

impl PodRecoveryView {
    fn new(p: &crate::result::PodRecoverySummary, iterations: &[IterationResult]) -> Self {
        let row = |figure, server: &DurationSummary, client: &DurationSummary| PodFigureRow {
            figure,
            server_p50: opt_duration_ms(server.p50),
            server_max: opt_duration_ms(server.max),
            client_p50: opt_duration_ms(client.p50),
            client_max: opt_duration_ms(client.max),
            missing: client.missing,
        };
        let client = |v: Option<u64>| opt_duration_ms(v.map(|v| v as f64));
        let server = |v: Option<i64>| opt_duration_ms(v.map(|v| v as f64));
        Self {
            pods: p.pods,
            rows: vec![
                row(
                    "removed → replacement created",
                    &p.server_reschedule_ms,
                    &p.reschedule_ms,
                ),
                row("created → Ready", &p.server_ready_ms, &p.ready_ms),
            ],
            each: iterations
                .iter()
                .flat_map(|it| it.pod_recovery.iter().map(move |r| (it.index, r)))
                .map(|(iteration, r)| PodRow {
                    iteration,
                    pod: r.pod.clone(),
                    replacement: r.replacement.clone().unwrap_or_else(|| "none".to_owned()),
                    reschedule: client(r.reschedule_ms),
                    server_reschedule: server(r.server_reschedule_ms),
                    ready: client(r.ready_ms),
                    server_ready: server(r.server_ready_ms),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct PhaseRow {
    phase: String,
    count: u64,
    errors: u64,
    availability: String,
    p50: String,
    p90: String,
    p99: String,
    max: String,
}

#[derive(Serialize)]
struct ProbeView {
    name: String,
    phases: Vec<PhaseRow>,
    chart: GroupedBars,
}

/// The phases in the order they happen; any other phase after them.
fn phase_order(phase: &str) -> (u8, &str) {
    let rank = match phase {
        "baseline" => 0,
        "fault" => 1,
        "recovery" => 2,
        _ => 3,
    };
    (rank, phase)
}

fn probe_views(probes: &BTreeMap<String, BTreeMap<String, LatencySummary>>) -> Vec<ProbeView> {
    probes
        .iter()
        .map(|(name, phases)| {
            let mut ordered: Vec<(&String, &LatencySummary)> = phases.iter().collect();
            ordered.sort_by(|a, b| phase_order(a.0).cmp(&phase_order(b.0)));
            let groups: Vec<svg::GroupValues> = ordered
                .iter()
                .map(|(phase, s)| {
                    (
                        (*phase).clone(),
                        vec![("p50".to_owned(), s.p50), ("p99".to_owned(), s.p99)],
                    )
                })
                .collect();
            ProbeView {
                name: name.clone(),
                phases: ordered
                    .iter()
                    .map(|(phase, s)| PhaseRow {
                        phase: (*phase).clone(),
                        count: s.count,
                        errors: s.errors,
                        availability: opt_percent(s.availability),
                        p50: opt_duration_ms(s.p50),
                        p90: opt_duration_ms(s.p90),
                        p99: opt_duration_ms(s.p99),
                        max: opt_duration_ms(s.max),
                    })
                    .collect(),
                chart: svg::grouped_bars(&groups, duration_ms),
            }
        })
        .collect()
}

#[derive(Serialize)]
struct ObjectiveView {
    name: String,
    target: String,
    measured: String,
    met: bool,
}

impl ObjectiveView {
    fn new(objective: &crate::result::ObjectiveResult) -> Self {
        let measured = match (objective.measured, objective.unit.as_str()) {
            (None, _) => "not measured".to_owned(),
            (Some(v), "ms") => duration_ms(v),
            (Some(v), "ratio") => percent(v),
            (Some(v), unit) => format!("{} {unit}", trim(v, 3)),
        };
        Self {
            name: objective.name.clone(),
            target: objective.target.clone(),
            measured,
            met: objective.met,
        }
    }
}

#[derive(Serialize)]
struct FaultView {
    iteration: u32,
    name: String,
    fault_type: String,
    targets: Vec<String>,
    injected: String,
    reverted: String,
    error: Option<String>,
}

impl FaultView {
    fn of(it: &IterationResult) -> impl Iterator<Item = FaultView> + '_ {
        it.faults.iter().map(|fault| FaultView {
            iteration: it.index,
            name: fault.name.clone(),
            fault_type: fault.fault_type.clone(),
            targets: fault.targets.clone(),
            injected: opt_clock(fault.injected_at),
            reverted: opt_clock(fault.reverted_at),
            error: fault.error.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Notifications, coordination, decisions and evidence.

#[derive(Serialize)]
struct DeliveryView {
    url: String,
    delivered: bool,
    delivered_at: String,
    time_to_deliver: String,
    status: Option<u16>,
    error: Option<String>,
}

#[derive(Serialize)]
struct NotificationView {
    iteration: u32,
    kind: String,
    title: String,
    awareness: String,
    deadline: String,
    drafted: String,
    time_to_draft: String,
    within_deadline: bool,
    margin: String,
    file: String,
    href: String,
    flags_missing: Vec<String>,
    fields_known: u32,
    fields_estimated: u32,
    fields_unknown: u32,
    journal_seq: u64,
    delivery: Option<DeliveryView>,
}

impl NotificationView {
    fn new(dir: &str, n: &NotificationResult) -> Self {
        let title = match n.kind.as_str() {
            "nis2-early-warning" => "NIS2 early warning".to_owned(),
            "nis2-incident-notification" => "NIS2 incident notification".to_owned(),
            "dora-initial-notification" => "DORA initial notification".to_owned(),
            other => other.to_owned(),
        };
        let margin = n.deadline_at.ms_since(n.drafted_at);
        Self {
            iteration: n.iteration,
            kind: n.kind.clone(),
            title,
            awareness: wall_time(n.awareness_at),
            deadline: wall_time(n.deadline_at),
            drafted: wall_time(n.drafted_at),
            time_to_draft: duration_ms(n.time_to_draft_ms),
            within_deadline: margin >= 0.0,
            margin: duration_ms(margin.abs()),
            file: n.file.clone(),
            href: href(dir, &n.file),
            flags_missing: n.mandatory_flags_missing.clone(),
            fields_known: n.fields_known,
            fields_estimated: n.fields_estimated,
            fields_unknown: n.fields_unknown,
            journal_seq: n.journal_seq,
            delivery: n.delivery.as_ref().map(|d| DeliveryView {
                url: d.url.clone(),
                delivered: d.delivered_at.is_some(),
                delivered_at: opt_clock(d.delivered_at),
                time_to_deliver: opt_duration_ms(d.time_to_deliver_ms),
                status: d.status,
                error: d.error.clone(),
            }),
        }
    }
}

#[derive(Serialize)]
struct AcknowledgementView {
    role: String,
    acknowledged: bool,
    at: String,
    time_to_acknowledge: String,
    by: Option<String>,
    note: Option<String>,
    journal_seq: Option<u64>,
}

#[derive(Serialize)]
struct CoordinationView {
    awareness: String,
    timeout: String,
    acknowledgements: Vec<AcknowledgementView>,
    unacknowledged: usize,
}

impl CoordinationView {
    fn new(c: &CoordinationResult) -> Self {
        let acknowledgements: Vec<AcknowledgementView> = c
            .acknowledgements
            .iter()
            .map(|a| AcknowledgementView {
                role: a.role.clone(),
                acknowledged: a.acknowledged_at.is_some(),
                at: a
                    .acknowledged_at
                    .map_or_else(|| "never".to_owned(), wall_time),
                time_to_acknowledge: opt_duration_ms(a.time_to_acknowledge_ms),
                by: a.by.clone(),
                note: a.note.clone(),
                journal_seq: a.journal_seq,
            })
            .collect();
        Self {
            awareness: c
                .awareness_at
                .map_or_else(|| "no detection".to_owned(), wall_time),
            timeout: duration_ms(c.timeout_ms),
            unacknowledged: acknowledgements.iter().filter(|a| !a.acknowledged).count(),
            acknowledgements,
        }
    }
}

#[derive(Serialize)]
struct JournalView {
    file: String,
    href: String,
    records: u64,
    head: Option<String>,
    intact: bool,
    finished: bool,
    signed: bool,
    detail: String,
}

impl JournalView {
    fn new(check: &JournalCheck) -> Self {
        Self {
            file: check.file.clone(),
            href: href("", &check.file),
            records: check.records,
            head: check.head.clone(),
            intact: check.intact,
            finished: check.finished,
            signed: check.signed,
            detail: check.detail.clone(),
        }
    }
}

#[derive(Serialize)]
struct FileLink {
    name: String,
    href: String,
    what: String,
}

/// What a file of the results is, by its key in `result.files`.
fn describe_file(key: &str) -> String {
    match key {
        "result" => "the machine-readable result".to_owned(),
        "journal" => "the hash-chained evidence journal".to_owned(),
        "signature" => "the journal's signature".to_owned(),
        "junit" => "JUnit XML for CI".to_owned(),
        "scorecard" => "the scorecard in Markdown".to_owned(),
        "histograms" => "probe latency as an HdrHistogram interval log".to_owned(),
        "logs" => "each replica's output".to_owned(),
        "report" => "this report".to_owned(),
        other if other.starts_with("notification") => "a notification draft (exercise)".to_owned(),
        other => other.replace(['-', '_'], " "),
    }
}

/// Where a file of the results comes in the list: the result and its evidence first, logs last.
fn file_rank(key: &str) -> u8 {
    match key {
        "result" => 0,
        "journal" => 1,
        "signature" => 2,
        "junit" => 3,
        "scorecard" => 4,
        "histograms" => 5,
        other if other.starts_with("notification") => 6,
        "logs" => 8,
        _ => 7,
    }
}

fn file_links(dir: &str, r: &RunResult) -> Vec<FileLink> {
    let drafts = r
        .notifications
        .iter()
        .filter(|n| !r.files.values().any(|name| name == &n.file))
        .map(|n| ("notification", &n.file));
    let mut files: Vec<(&str, &String)> = r
        .files
        .iter()
        .map(|(key, name)| (key.as_str(), name))
        .chain(drafts)
        .collect();
    files.sort_by_key(|(key, _)| file_rank(key));
    files
        .into_iter()
        .map(|(key, name)| FileLink {
            name: name.clone(),
            href: href(dir, name),
            what: describe_file(key),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::ReportRun;
    use crate::scorecard::{CANARY_CAVEAT, Capability, Gate, GateHit, Provenance};
    use crate::scorecard::{
        Metric, MetricObservation, Repeatability, ScoreConfig, ScoreInput, score,
    };

    const FIXTURE: &str = include_str!("../../tests/fixtures/report/quickstart-result.json");

    fn fixture_result() -> RunResult {
        serde_json::from_str(FIXTURE).expect("the fixture is a result.json")
    }

    #[test]
    fn times_read_as_they_always_did() {
        // The page cut its times out of the RFC 3339 text before times were typed.
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..1_000 {
            let secs = rng.i64(1_700_000_000..1_900_000_000);
            let millis = rng.choice([0, 1, 71, 999]).unwrap();
            let at =
                Timestamp::from(jiff::Timestamp::from_millisecond(secs * 1000 + millis).unwrap());
            let iso = at.to_string();
            assert_eq!(
                wall_time(at),
                format!("{} {} UTC", &iso[..10], &iso[11..23])
            );
            assert_eq!(
                day_and_minute(at),
                format!("{} {} UTC", &iso[..10], &iso[11..16])
            );
            assert_eq!(clock(at), &iso[11..23]);
        }
        assert_eq!(opt_clock(None), "-");
    }

    fn scorecard() -> Scorecard {
        let input = ScoreInput {
            capability_metrics: vec![
                MetricObservation::organisation(
                    Capability::Detection,
                    Metric::TimeToDetectAvailability,
                    vec![0.595, 0.695, 0.685],
                )
                .with_source("quickstart"),
                MetricObservation::organisation(
                    Capability::RecoveryContinuity,
                    Metric::TimeToRecover,
                    vec![5.99, 6.09, 6.08],
                )
                .with_source("quickstart"),
                MetricObservation::organisation(
                    Capability::ThirdPartyResilience,
                    Metric::Custom {
                        name: "availability-during-fault".into(),
                        scale: Scale::Ratio {
                            floor: 0.5,
                            target: 0.99,
                        },
                    },
                    vec![0.78, 0.79, 0.77],
                ),
                MetricObservation::simulated(
                    Capability::ReportingReadiness,
                    Metric::EarlyWarningDraft,
                    vec![0.0364],
                ),
            ],
            gates: vec![GateHit::new(
                Gate::MissingMandatoryNotificationFlag,
                Provenance::Simulated,
            )],
            repeatability: Repeatability {
                runs: 1,
                ..Repeatability::default()
            },
            ..ScoreInput::default()
        };
        score(&input, &ScoreConfig::default()).expect("valid input")
    }

    fn report_of(runs: Vec<RunResult>, scorecard: Option<Scorecard>) -> Report {
        let status = runs
            .iter()
            .map(|r| r.status)
            .max_by_key(|s| s.severity())
            .unwrap_or(RunStatus::Passed);
        Report {
            title: runs
                .first()
                .map_or_else(|| "empty suite".to_owned(), |r| r.experiment.name.clone()),
            generated_at: "2026-11-28T04:28:00.000Z".parse().unwrap(),
            status,
            runs: runs
                .into_iter()
                .map(|result| ReportRun {
                    dir: String::new(),
                    journal: JournalCheck {
                        file: "journal.jsonl".into(),
                        records: 102,
                        head: Some("ab5205c4".into()),
                        intact: true,
                        finished: true,
                        signed: false,
                        faults_injected: 9,
                        faults_traced: 9,
                        detail: "102 records verified".into(),
                    },
                    result,
                })
                .collect(),
            scorecard,
            history: None,
            reviews: Default::default(),
        }
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(duration_ms(0.25), "0.25 ms");
        assert_eq!(duration_ms(3.46), "3.5 ms");
        assert_eq!(duration_ms(10.791), "10.8 ms");
        assert_eq!(duration_ms(594.592), "595 ms");
        assert_eq!(duration_ms(6082.559), "6.08 s");
        assert_eq!(duration_ms(2000.0), "2 s");
        assert_eq!(duration_ms(12_340.0), "12.3 s");
        assert_eq!(duration_ms(120_000.0), "2 min");
        assert_eq!(duration_ms(90_000.0), "1 min 30 s");
        assert_eq!(duration_ms(3_600_000.0), "1 h");
        assert_eq!(duration_ms(48.0 * 3_600_000.0), "48 h");
        assert_eq!(duration_ms(100.0 * 3_600_000.0), "4 d 4 h");
        assert_eq!(duration_ms(f64::NAN), "-");
        assert_eq!(percent(0.7770700636942676), "77.71%");
        assert_eq!(percent(1.0), "100%");
    }

    #[test]
    fn timelines_follow_the_iteration_and_share_one_scale() {
        let result = fixture_result();
        let run = RunView::new(1, &report_of(vec![result.clone()], None).runs[0]);
        let ticks: Vec<Vec<String>> = run
            .iterations
            .iter()
            .map(|it| {
                let t = &it.timeline;
                t.ticks.iter().map(|tick| tick.label.clone()).collect()
            })
            .collect();
        assert!(ticks.windows(2).all(|w| w[0] == w[1]), "{ticks:?}");

        let it = &result.iterations[0];
        let t = &run.iterations[0].timeline;
        let x_of = |kind: MarkerKind| t.markers.iter().find(|m| m.kind == kind).unwrap().x;
        let (injected, detected, recovered) = (
            x_of(MarkerKind::Injection),
            x_of(MarkerKind::Detection),
            x_of(MarkerKind::Recovery),
        );
        assert!(injected < detected && detected < recovered);
        // Time to detect and to recover, in the same units, keep their ratio on the axis.
        let ratio = (detected - injected) / (recovered - injected);
        let truth = it.time_to_detect_ms.unwrap() / it.time_to_recover_ms.unwrap();
        assert!((ratio - truth).abs() < 0.01, "{ratio} vs {truth}");
        let kinds: Vec<PhaseKind> = t.bands.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [PhaseKind::Baseline, PhaseKind::Fault, PhaseKind::Recovery]
        );
        assert_eq!(t.bands[0].x + t.bands[0].width, t.bands[1].x);
        assert_eq!(t.bands[1].x, injected);
    }

    #[test]
    fn hrefs_stay_relative_and_cannot_change_scheme() {
        assert_eq!(href("", "result.json"), "result.json");
        assert_eq!(href("runs/a", "journal.jsonl"), "runs/a/journal.jsonl");
        assert_eq!(href("", "javascript:alert(1)"), "javascript%3Aalert%281%29");
        assert_eq!(href("", "/etc/passwd"), "etc/passwd");
        assert_eq!(href("", "a b\"<c>#?"), "a%20b%22%3Cc%3E%23%3F");
    }

    #[test]
    fn renders_the_fixture_with_every_section() {
        let sc = scorecard();
        let html = render(&report_of(vec![fixture_result()], Some(sc.clone())))
            .unwrap()
            .replace("&#x2f;", "/");
        // Detection, recovery and third-party resilience: half the profile, no grade.
        assert_eq!(sc.overall.score, None);
        assert!(
            html.contains(">insufficient evidence: 50% of the profile<"),
            "{html}"
        );
        let partial = format::score(sc.overall.partial_score);
        assert!(html.contains(&format!(
            "partial figure {partial} / 100 over 3 capabilities"
        )));
        // The draft scores 100, capped at 39 by the simulated missing-flag gate: shown, labelled.
        assert!(
            html.contains("simulated: 39<"),
            "the draft's figure, labelled"
        );
        assert!(html.contains("Had this been real"));
        assert!(html.contains("Findings that matter most"));
        for text in [
            "quickstart",
            "595 ms",
            "6.08 s",
            "missing-mandatory-notification-flag",
            "NIS2 early warning",
            "cross-border impact",
            "EXERCISE",
            "never acknowledged",
            "ab5205c4",
            "href=\"junit.xml\"",
            "href=\"notifications/nis2-early-warning-1.json\"",
            ATTESTATION,
            "A drill cannot evidence board oversight",
            "formula 2.2.0",
        ] {
            assert!(html.contains(text), "missing {text:?}");
        }
        assert_eq!(html.matches(ATTESTATION).count(), 1);
        assert_eq!(html.matches(IMPLEMENTING_REGULATION_SCOPE).count(), 1);
        assert!(!html.contains("<script"), "the page needs no script");
        assert!(!html.contains("http://") || !html.contains("src=\"http"));
    }

    #[test]
    fn security_drills_have_their_section_and_a_run_without_them_has_none() {
        let plain = render(&report_of(vec![fixture_result()], Some(scorecard()))).unwrap();
        assert!(!plain.contains("Security drills"));
        assert!(!plain.contains(CANARY_CAVEAT));

        let report = crate::report::write::single_report(crate::report::testutil::security_run());
        let html = render(&report).unwrap().replace("&#x2f;", "/");
        let section = &html[html.find("<h3>Security drills</h3>").expect("the section")..];
        let section = &section[..section.find("<h3>Rollback</h3>").unwrap()];
        for text in [
            CANARY_CAVEAT,
            "4 of 6 noticed",
            "5 of 6 refused",
            "<span class=\"badge bad\">not noticed</span>",
            "<span class=\"badge bad\">ACCEPTED</span>",
            "deleted pod shop/firedrill-canary-privileged",
            "violates PodSecurity &quot;restricted:latest&quot;",
            "<code>firedrill-canary-honeytoken</code>",
            "1 min 1 s",
            "pager",
            "answered 404 &lt;script&gt;",
        ] {
            assert!(section.contains(text), "missing {text:?} in {section}");
        }
        // The scorecard's limits say it too, and the gate is named.
        assert_eq!(html.matches(CANARY_CAVEAT).count(), 2, "{html}");
        assert!(html.contains("prevention-bypassed"));
        assert!(!html.contains("<script"), "the page needs no script");
    }

    #[test]
    fn hostile_text_from_experiment_files_is_escaped() {
        let mut result = fixture_result();
        let hostile = "<script>alert(\"x\")</script>' onload='y";
        result.experiment.name = hostile.into();
        result.experiment.description = Some(hostile.into());
        result
            .experiment
            .labels
            .insert(hostile.into(), hostile.into());
        result.reason = Some(hostile.into());
        result.iterations[0].faults[0].name = hostile.into();
        result.iterations[0].detected_by = Some(hostile.into());
        result.objectives[0].name = hostile.into();
        result
            .files
            .insert("evil".into(), "\"><img src=x onerror=y>".into());
        if let Some(c) = result.coordination.as_mut() {
            c.acknowledgements[0].note = Some(hostile.into());
        }
        let mut sc = scorecard();
        sc.capabilities[0].metrics[0].source = Some(hostile.into());
        let mut report = report_of(vec![result], Some(sc));
        report.title = hostile.into();
        let html = render(&report).unwrap();
        assert!(!html.contains("<script"), "a script tag got through");
        assert!(!html.contains("<img"), "an img tag got through");
        assert!(!html.contains("' onload='"), "a quote got through");
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;"));
    }

    #[test]
    fn capabilities_not_evidenced_have_no_score_and_no_bar() {
        let sc = scorecard();
        let html = render(&report_of(vec![fixture_result()], Some(sc.clone()))).unwrap();
        let not_evidenced: Vec<&CapabilityScore> = sc
            .capabilities
            .iter()
            .filter(|c| c.status == Status::NotEvidenced)
            .collect();
        assert!(!not_evidenced.is_empty());
        for capability in not_evidenced {
            let start = html
                .find(&format!(
                    "id=\"capability-{}\"",
                    kebab(&capability.capability)
                ))
                .expect("every capability has its row");
            let row = &html[start..];
            let row = &row[..row.find("</article>").unwrap()];
            assert!(row.contains("not evidenced"), "{row}");
            assert!(!row.contains("score-bar"), "{row}");
            assert!(!row.contains(">0<"), "shown as a zero: {row}");
        }
        // And every evidenced one has its bar.
        let bars = html.matches("class=\"chart score-bar\"").count();
        assert_eq!(bars, sc.overall.evidenced_count as usize);
    }

    #[test]
    fn a_report_without_runs_or_iterations_renders() {
        let html = render(&report_of(vec![], None)).unwrap();
        assert!(html.contains("No experiment run is part of this report."));
        assert!(html.contains(ATTESTATION));

        let mut result = fixture_result();
        result.iterations.clear();
        result.probes.clear();
        result.notifications.clear();
        result.coordination = None;
        result.summary.time_to_detect_ms = DurationSummary {
            count: 0,
            missing: 0,
            p50: None,
            p90: None,
            p99: None,
            max: None,
        };
        let html = render(&report_of(vec![result], None)).unwrap();
        assert!(html.contains("No iteration ran."));
        assert!(!html.contains("id=\"notifications\""));
    }

    #[test]
    fn decisions_have_their_table_in_the_coordination_section() {
        let report = crate::report::write::single_report(crate::report::testutil::response_run());
        let html = render(&report).unwrap().replace("&#x2f;", "/");
        assert!(
            html.contains(
                "<a href=\"#notifications\">Notifications, coordination and decisions</a>"
            )
        );
        let section = &html[html.find("<h4>Decisions</h4>").expect("the table")..];
        let section = &section[..section.find("</table>").unwrap()];
        for text in [
            "exercise time runs 60× real time",
            "<span class=\"badge bad\">1 decision never answered</span>",
            "<strong>incident-commander</strong> (Leads the response; reached by chat; link opened at 04:27:45)",
            "<strong>communications</strong> (Speaks to customers; not reached by chat; link never opened)",
            "<code>significance</code> Is this a significant incident under NIS2?",
            "12 min exercise time (12 s real time)",
            "<span class=\"badge ok\">within 30 min</span>",
            "<span class=\"badge bad\">late</span> budget 15 min",
            "<span class=\"badge bad\">inconsistent</span> hindsight gives <strong>yes</strong>",
            "2 h 15 min exercise time (2 min 15 s real time)",
            "<span class=\"badge bad\">never answered</span>",
            "<span class=\"badge neutral\">never put</span>",
            ">20%<",
            "#97",
            "Card payments down for &lt;b&gt;all&lt;/b&gt; customers",
        ] {
            assert!(section.contains(text), "missing {text:?} in {section}");
        }
        assert!(!section.contains("<b>"), "a rationale's tag got through");
        assert_eq!(section.matches("<tr class=\"finding\">").count(), 1);
        assert_eq!(
            section.matches("<tr").count(),
            5,
            "a header and four points"
        );

        // A run whose only people's part is its decisions still shows the section.
        let mut run = crate::report::testutil::response_run();
        run.result.notifications.clear();
        run.result.coordination = None;
        let html = render(&crate::report::write::single_report(run)).unwrap();
        assert!(html.contains("id=\"notifications\""));
        assert!(html.contains("<h4>Decisions</h4>"));
        assert!(!html.contains("<h4>Coordination</h4>"));
    }

    #[test]
    fn a_suite_of_two_runs_renders_both() {
        let first = fixture_result();
        let mut second = fixture_result();
        second.experiment.name = "second-drill".into();
        second.status = RunStatus::Failed;
        second.reason = Some("time-to-recover p95 missed its target".into());
        let mut report = report_of(vec![first, second], Some(scorecard()));
        report.title = "weekly suite".into();
        report.runs[1].dir = "second-drill".into();
        let html = render(&report).unwrap().replace("&#x2f;", "/");
        assert!(html.contains("id=\"run-1\""));
        assert!(html.contains("id=\"run-2\""));
        assert!(html.contains("second-drill"));
        assert!(html.contains("href=\"second-drill/result.json\""));
        assert!(html.contains("time-to-recover p95 missed its target"));
        assert!(html.contains("class=\"verdict status-failed\""));
    }
}
