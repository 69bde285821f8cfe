//! `scorecard.md`: the scorecard for pull requests and wikis, rendered from a template.

use serde::Serialize;

use super::board::Board;
use super::decisions::Decisions;
use super::findings::ReviewedFinding;
use super::format;
use super::model::Report;
use super::security::{CANARY_CAVEAT, CanaryRow, CheckRow, SecurityDrills};
use crate::scorecard::CapabilityScore;

const TEMPLATE: &str = include_str!("templates/scorecard.md.j2");

/// Why the Markdown report could not be rendered (a bug in the template, never bad input).
#[derive(Debug, thiserror::Error)]
#[error("cannot render scorecard.md")]
pub struct MarkdownError(#[source] minijinja::Error);

#[derive(Serialize)]
struct View {
    title: String,
    status: &'static str,
    reason: Option<String>,
    formula_version: String,
    board: Option<Board>,
    capabilities: Vec<CapabilityRow>,
    preconditions: Vec<format::PreconditionView>,
    metrics: Vec<MetricRow>,
    runs: Vec<RunRow>,
    pod_recovery: Vec<PodRecoveryRow>,
    objectives: Vec<ObjectiveRow>,
    security: Option<SecurityView>,
    decisions: Vec<(String, Decisions)>,
    suite: bool,
    findings: Vec<ReviewedFinding>,
    carried: Vec<super::findings::CarriedAction>,
    reviews_broken: Option<String>,
    cannot_evidence: Vec<String>,
    default_targets: bool,
    regulation_scope: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct CapabilityRow {
    name: String,
    score: String,
    maturity: String,
    gates: String,
}

#[derive(Serialize)]
struct MetricRow {
    capability: String,
    metric: String,
    provenance: &'static str,
    stale: bool,
    source: Option<String>,
    measured: String,
    aggregation: String,
    target: String,
    limit: String,
    default: bool,
    score: String,
}

#[derive(Serialize)]
struct RunRow {
    name: String,
    status: &'static str,
    iterations: String,
    detected: u32,
    recovered: u32,
    ttd_p50: String,
    ttr_p50: String,
    objectives_met: String,
    journal: String,
}

/// One run's per-pod recovery: each figure as `API server / client`.
#[derive(Serialize)]
struct PodRecoveryRow {
    name: String,
    pods: u64,
    reschedule_p50: String,
    reschedule_max: String,
    ready_p50: String,
    ready_max: String,
    not_recovered: u64,
}

impl PodRecoveryRow {
    fn new(name: &str, p: &crate::result::PodRecoverySummary) -> Self {
        let pair = |server: Option<f64>, client: Option<f64>| {
            format!(
                "{} / {}",
                format::opt_duration_ms(server),
                format::opt_duration_ms(client)
            )
        };
        Self {
            name: name.to_owned(),
            pods: p.pods,
            reschedule_p50: pair(p.server_reschedule_ms.p50, p.reschedule_ms.p50),
            reschedule_max: pair(p.server_reschedule_ms.max, p.reschedule_ms.max),
            ready_p50: pair(p.server_ready_ms.p50, p.ready_ms.p50),
            ready_max: pair(p.server_ready_ms.max, p.ready_ms.max),
            not_recovered: p.ready_ms.missing,
        }
    }
}

/// The security drills of every run, each row with its experiment.
#[derive(Default, Serialize)]
struct SecurityView {
    caveat: &'static str,
    canaries: Vec<(String, CanaryRow)>,
    checks: Vec<(String, CheckRow)>,
    noticed: usize,
    refused: usize,
    markers: Vec<String>,
}

impl SecurityView {
    fn add(&mut self, experiment: &str, drills: SecurityDrills) {
        let name = || experiment.to_owned();
        self.noticed += drills.noticed;
        self.refused += drills.refused;
        self.canaries
            .extend(drills.canaries.into_iter().map(|c| (name(), c)));
        self.checks
            .extend(drills.checks.into_iter().map(|c| (name(), c)));
        self.markers.extend(drills.markers);
        self.markers.sort();
        self.markers.dedup();
    }
}

#[derive(Serialize)]
struct ObjectiveRow {
    experiment: String,
    name: String,
    target: String,
    measured: String,
    met: bool,
}

/// Renders scorecard.md.
pub fn render(report: &Report) -> Result<String, MarkdownError> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("cell", cell);
    env.add_template("scorecard.md", TEMPLATE)
        .map_err(MarkdownError)?;
    let template = env.get_template("scorecard.md").map_err(MarkdownError)?;
    template
        .render(minijinja::Value::from(minijinja::value::Serde(view(
            report,
        ))))
        .map_err(MarkdownError)
}

/// Makes text safe in a Markdown table cell: no pipes, no line breaks, no raw HTML tags or
/// comments (a `<` that could open one is written as `&lt;`; `<= 10s` stays as it is).
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;");
            }
            c => out.push(c),
        }
    }
    out
}

fn capability_row(c: &CapabilityScore) -> CapabilityRow {
    CapabilityRow {
        name: c.name.clone(),
        score: format::capability_score(c),
        maturity: c.maturity.map_or_else(|| "-".to_owned(), |m| m.to_string()),
        gates: c
            .gates
            .iter()
            .map(|g| format!("{} (cap {:.0})", format::gate(g.gate), g.cap))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn view(report: &Report) -> View {
    let card = report.scorecard.as_ref();
    let metrics: Vec<MetricRow> = card
        .into_iter()
        .flat_map(|c| &c.capabilities)
        .flat_map(|c| c.metrics.iter().map(move |m| (c, m)))
        .map(|(c, m)| {
            let (target, limit) = format::target_and_limit(&m.scale);
            MetricRow {
                capability: c.name.clone(),
                metric: m.name.clone(),
                provenance: m.provenance.as_str(),
                stale: m.stale,
                source: m.source.clone(),
                measured: m
                    .measured
                    .map_or_else(|| "-".to_owned(), |v| format::measured(v, &m.scale)),
                aggregation: format::aggregation(m),
                target,
                limit,
                default: m.default_target,
                score: format::score(m.score),
            }
        })
        .collect();
    let mut runs = Vec::new();
    let mut security: Option<SecurityView> = None;
    let mut pod_recovery = Vec::new();
    let mut objectives = Vec::new();
    let mut decisions = Vec::new();
    for run in &report.runs {
        let r = &run.result;
        let name = r.experiment.name.clone();
        for o in &r.objectives {
            objectives.push(ObjectiveRow {
                experiment: name.clone(),
                name: o.name.clone(),
                target: o.target.clone(),
                measured: match (o.measured, o.unit.as_str()) {
                    (None, _) => "nothing".to_owned(),
                    (Some(v), "ratio") => format::percent(v),
                    (Some(v), "ms") => format::seconds(v / 1e3),
                    (Some(v), unit) => format!("{} {unit}", format::trim(v, 3)),
                },
                met: o.met,
            });
        }
        if let Some(d) = Decisions::of(r) {
            decisions.push((name.clone(), d));
        }
        if let Some(p) = &r.summary.pod_recovery {
            pod_recovery.push(PodRecoveryRow::new(&name, p));
        }
        if let Some(drills) = SecurityDrills::of(r) {
            security
                .get_or_insert_with(|| SecurityView {
                    caveat: CANARY_CAVEAT,
                    ..SecurityView::default()
                })
                .add(&name, drills);
        }
        let met = r.objectives.iter().filter(|o| o.met).count();
        runs.push(RunRow {
            name,
            status: r.status.as_str(),
            iterations: format!("{}/{}", r.summary.iterations, r.settings.iterations),
            detected: r.summary.detected,
            recovered: r.summary.recovered,
            ttd_p50: format::opt_duration_ms(r.summary.time_to_detect_ms.p50),
            ttr_p50: format::opt_duration_ms(r.summary.time_to_recover_ms.p50),
            objectives_met: format!("{met}/{}", r.objectives.len()),
            journal: run.journal.detail.clone(),
        });
    }
    let findings = super::findings::of(report);
    let reason = match report.runs.as_slice() {
        [only] => only.result.reason.clone(),
        runs => {
            let bad: Vec<String> = runs
                .iter()
                .filter(|r| r.result.status != report.status || report.status.severity() > 0)
                .filter(|r| r.result.status.severity() > 0)
                .map(|r| format!("{} {}", r.result.experiment.name, r.result.status.as_str()))
                .collect();
            (!bad.is_empty()).then(|| bad.join(", "))
        }
    };
    View {
        title: report.title.clone(),
        status: report.status.as_str(),
        reason,
        formula_version: card.map_or_else(
            || crate::scorecard::FORMULA_VERSION.to_owned(),
            |c| c.formula_version.clone(),
        ),
        board: Board::of(report, &findings),
        reviews_broken: report.reviews.broken().map(str::to_owned),
        preconditions: card.map(format::preconditions).unwrap_or_default(),
        capabilities: card
            .map(|c| c.capabilities.iter().map(capability_row).collect())
            .unwrap_or_default(),
        default_targets: metrics.iter().any(|m| m.default),
        metrics,
        runs,
        pod_recovery,
        objectives,
        security,
        decisions,
        suite: report.runs.len() > 1,
        findings: super::findings::reviewed(report, &findings),
        carried: super::findings::carried(report, &findings),
        cannot_evidence: card.map_or_else(
            || {
                crate::scorecard::CANNOT_EVIDENCE
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            },
            |c| c.cannot_evidence.clone(),
        ),
        regulation_scope: crate::scorecard::IMPLEMENTING_REGULATION_SCOPE,
        version: env!("CARGO_PKG_VERSION"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil::{quickstart_report, quickstart_run};
    use crate::result::RunStatus;

    fn settings() -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"firedrill \d+\.\d+\.\d+", "firedrill [version]");
        settings
    }

    #[test]
    fn the_quick_start_scorecard() {
        let text = render(&quickstart_report()).unwrap();
        settings().bind(|| insta::assert_snapshot!(text));
    }

    #[test]
    fn a_suite_with_findings() {
        let mut second = quickstart_run();
        second.result.experiment.name = "pipes | and <b>tags</b>".to_owned();
        second.result.status = RunStatus::RollbackFailed;
        second.result.rollback.failed = vec!["freeze-all: no such process".to_owned()];
        second.journal.intact = false;
        second.journal.detail =
            "broken: record 7 (line 7) was changed after it was written".to_owned();
        let (report, _) = crate::report::write::suite_report(
            "release-gate",
            vec![quickstart_run(), second],
            None,
            None,
        );
        let text = render(&report).unwrap();
        assert!(text.contains("**Verdict: ROLLBACK_FAILED**"));
        assert!(text.contains("pipes \\| and &lt;b>tags&lt;/b>"), "{text}");
        settings().bind(|| insta::assert_snapshot!(text));
    }

    #[test]
    fn pod_recovery_shows_the_servers_figures_beside_the_clients() {
        use crate::result::PodRecovery;
        let mut report = quickstart_report();
        assert!(!render(&report).unwrap().contains("## Pod recovery"));
        let r = &mut report.runs[0].result;
        r.iterations[0].pod_recovery = vec![
            PodRecovery {
                pod: "shop/web-a".into(),
                replacement: Some("shop/web-c".into()),
                reschedule_ms: Some(1020),
                ready_ms: Some(2010),
                server_reschedule_ms: Some(1000),
                server_ready_ms: Some(2000),
            },
            PodRecovery {
                pod: "shop/web-b".into(),
                ..PodRecovery::default()
            },
        ];
        r.summary.pod_recovery = crate::result::PodRecoverySummary::of(&r.iterations);
        let text = render(&report).unwrap();
        assert!(
            text.contains(
                "| quickstart | 2 | 1 s / 1.02 s | 1 s / 1.02 s | 2 s / 2.01 s | 2 s / 2.01 s | 1 |"
            ),
            "{text}"
        );
    }

    #[test]
    fn security_drills_have_their_section() {
        let report = crate::report::write::single_report(crate::report::testutil::security_run());
        let text = render(&report).unwrap();
        assert!(text.contains("## Security drills"));
        assert!(
            text.matches(crate::report::security::CANARY_CAVEAT).count() >= 2,
            "in the section and in the limits: {text}"
        );
        assert!(
            text.contains("&lt;script>"),
            "actions are cell-safe: {text}"
        );
        let mut settings = settings();
        settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
        settings.bind(|| insta::assert_snapshot!(text));
    }

    #[test]
    fn decisions_have_their_table() {
        assert!(
            !render(&quickstart_report())
                .unwrap()
                .contains("## Decisions")
        );
        let mut report =
            crate::report::write::single_report(crate::report::testutil::response_run());
        report.generated_at = "2026-11-28T04:30:00Z".parse().unwrap();
        let text = render(&report).unwrap();
        let section = &text[text.find("## Decisions").expect("the section")..];
        let section = &section[..section.find("\n## ").unwrap()];
        assert!(
            section.contains("Card payments down for &lt;b>all&lt;/b> customers"),
            "{section}"
        );
        assert!(text.contains("`decision:quickstart:authority:unanswered`"));
        settings().bind(|| insta::assert_snapshot!(section));
    }

    #[test]
    fn nothing_evidenced_is_said_plainly() {
        let mut report = quickstart_report();
        report.scorecard = None;
        let text = render(&report).unwrap();
        assert!(text.contains("**Overall: no score**"));
    }
}
