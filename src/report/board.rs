//! The board's view of a report: the first screen of report.html and the top of
//! scorecard.md. The grade with its coverage and confidence, the regulatory clocks in plain
//! words, the findings that matter most, and everything the experiment changed from the
//! defaults. Pure: the report in, words out.

use serde::Serialize;

use super::findings::Finding;
use super::format;
use super::model::Report;
use crate::scorecard::{Capability, Metric, Overall, Override, Provenance, Status, Verdict};

/// How many findings the board shows.
pub const TOP_FINDINGS: usize = 3;

/// The longest outage of critical functions before DORA counts an incident as major
/// (Commission Delegated Regulation (EU) 2024/1772, Art 9(3)(b)).
const DORA_DOWNTIME_LINE_MS: f64 = 2.0 * 3600.0 * 1000.0;

/// Everything the board sees first.
#[derive(Clone, Debug, Serialize)]
pub struct Board {
    /// What the headline says.
    pub verdict: Verdict,
    /// The headline: the grade, or why there is none.
    pub headline: String,
    /// The figure over what was evidenced, shown beneath "insufficient evidence".
    pub partial: Option<String>,
    /// How much of the profile the organisation's evidence covers, against the threshold.
    pub coverage: String,
    /// How much the grade stands on: runs, iterations, how old the evidence is.
    pub confidence: String,
    /// What the run history shows, when the report was scored with one: the trend, or how far
    /// the history is from one.
    pub trend: Option<String>,
    /// The capabilities only firedrill's simulation speaks for.
    pub simulated: Vec<String>,
    /// The regulatory clocks, had this been a real incident.
    pub clocks: Vec<String>,
    /// The findings that matter most.
    pub findings: Vec<Finding>,
    /// Each of those findings' owner in words, in the same order: `Ops team, due
    /// 2027-01-31 (fix)`, or `not assigned yet`.
    pub owners: Vec<String>,
    /// How many findings there are in all.
    pub finding_count: usize,
    /// Everything the experiment changed from the defaults.
    pub overrides: Vec<Override>,
}

impl Board {
    /// The board's view of a report with a scorecard, given the report's findings (the most
    /// severe first).
    pub fn of(report: &Report, findings: &[Finding]) -> Option<Board> {
        let card = report.scorecard.as_ref()?;
        let overall = &card.overall;
        let iterations: u32 = report
            .runs
            .iter()
            .map(|r| r.result.summary.iterations)
            .sum();
        let oldest = report.runs.iter().map(|r| r.result.finished_at).min();
        let age = oldest.map_or_else(
            || "no evidence".to_owned(),
            |at| {
                let days = (report.generated_at.ms_since(at) / 86_400_000.0).floor();
                if days < 1.0 {
                    "evidence from the last 24 hours".to_owned()
                } else {
                    format!("evidence up to {days:.0} days old")
                }
            },
        );
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        let confidence = match &report.history {
            Some(history) => {
                let r = history.repeatability();
                format!(
                    "{} dated run{} over {} day{} in the history, {iterations} iteration{} on this page, {age}",
                    r.runs,
                    plural(r.runs),
                    r.span_days,
                    plural(r.span_days),
                    plural(iterations),
                )
            }
            None => {
                let runs = u32::try_from(report.runs.len()).unwrap_or(u32::MAX);
                format!(
                    "{runs} run{}, {iterations} iteration{}, {age}; no run history kept",
                    plural(runs),
                    plural(iterations),
                )
            }
        };
        let simulated = card
            .capabilities
            .iter()
            .filter(|c| c.status == Status::Simulated)
            .map(|c| c.name.clone())
            .collect();
        Some(Board {
            verdict: overall.verdict,
            headline: headline(overall),
            partial: partial(overall),
            coverage: coverage(overall),
            confidence,
            trend: report.history.as_ref().map(super::history::trend_sentence),
            simulated,
            clocks: clocks(report),
            finding_count: findings.len(),
            findings: findings.iter().take(TOP_FINDINGS).cloned().collect(),
            owners: findings
                .iter()
                .take(TOP_FINDINGS)
                .map(|f| owner(report, f))
                .collect(),
            overrides: card.overrides.clone(),
        })
    }
}

/// A finding's owner in words for the board: who, by when and what was decided.
fn owner(report: &Report, finding: &Finding) -> String {
    if report.reviews.broken().is_some() {
        return "unknown: the review journal does not verify".to_owned();
    }
    match report.reviews.of_finding(&finding.id) {
        Some(r) => format!(
            "{}, due {} ({}){}",
            r.owner,
            r.due,
            r.decision,
            if r.overdue(report.generated_at) {
                ", overdue"
            } else {
                ""
            }
        ),
        None => match super::findings::earlier_decision(report, &finding.id) {
            Some(d) => format!(
                "{}, due {} ({}, decided for the drill of {})",
                d.owner,
                d.due,
                d.decision,
                d.run_finished_at.strftime("%Y-%m-%d")
            ),
            None => "not assigned yet".to_owned(),
        },
    }
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The headline: the grade, or why there is none.
pub fn headline(overall: &Overall) -> String {
    match overall.verdict {
        Verdict::Graded => format!("{} / 100", format::score(overall.score)),
        Verdict::InsufficientEvidence => format!(
            "insufficient evidence: {} of the profile",
            pct(overall.coverage)
        ),
        Verdict::Untrusted => "this scorecard cannot be trusted".to_owned(),
    }
}

/// The figure over what was evidenced, shown beneath "insufficient evidence" only.
pub fn partial(overall: &Overall) -> Option<String> {
    match overall.verdict {
        Verdict::InsufficientEvidence => overall.partial_score.map(|s| {
            format!(
                "{} / 100 over {} capabilities",
                format::score(Some(s)),
                overall.evidenced_count
            )
        }),
        Verdict::Graded | Verdict::Untrusted => None,
    }
}

/// How much of the profile the organisation's evidence covers, against the threshold.
pub fn coverage(overall: &Overall) -> String {
    format!(
        "the organisation's own evidence covers {} of the weight ({} of {} capabilities); a grade needs {}",
        pct(overall.coverage),
        overall.evidenced_count,
        overall.capability_count,
        pct(overall.coverage_threshold)
    )
}

/// The regulatory clocks in plain words: when awareness would have started them, whether
/// anyone prepared what they ask for, and whether the outage crossed DORA's line.
fn clocks(report: &Report) -> Vec<String> {
    // Awareness is when the organisation's own signals noticed, never firedrill's probe: the
    // slowest of the organisation's detection figures (worst run, or p90).
    let noticed = report
        .scorecard
        .iter()
        .flat_map(|c| &c.capabilities)
        .filter(|c| c.capability == Capability::Detection)
        .flat_map(|c| &c.metrics)
        .filter(|m| {
            m.provenance == Provenance::Organisation
                && !m.stale
                && (m.name == Metric::TimeToDetectAvailability.name()
                    || m.name == Metric::TimeToDetectSecurityCanary.name())
        })
        .filter_map(|m| m.measured)
        .reduce(f64::max);
    let mut clocks = vec![match noticed {
        Some(secs) => format!(
            "Awareness: the organisation's own signals noticed the failure, at worst {} after it began; the clocks start there.",
            format::duration_ms(secs * 1e3)
        ),
        None => "Awareness: the organisation's own signals did not notice the failure, so no clock would have started.".to_owned(),
    }];
    let drafts = |kind: &str| {
        report
            .runs
            .iter()
            .flat_map(|r| &r.result.notifications)
            .filter(|n| n.kind == kind)
            .map(|n| n.time_to_draft_ms)
            .reduce(f64::max)
    };
    // The reports due from awareness, and any other a drill put to people for approval.
    let approvals: Vec<&crate::result::ApprovalResult> = report
        .runs
        .iter()
        .filter_map(|r| r.result.response.as_ref())
        .flat_map(|r| &r.approvals)
        .collect();
    let kinds = crate::spec::Report::ALL.into_iter().filter(|k| {
        matches!(
            k,
            crate::spec::Report::Nis2EarlyWarning | crate::spec::Report::Nis2IncidentNotification
        ) || approvals.iter().any(|a| a.report == k.id())
    });
    for kind in kinds {
        let hours = kind.span().as_secs_f64() / 3600.0;
        let clock = clock_name(kind);
        // A game day runs the legal clocks faster (`spec.response.timeScale`): say how long
        // the deadline was in the drill's own time.
        let scaled = report
            .runs
            .iter()
            .flat_map(|r| &r.result.notifications)
            .find(|n| n.kind == kind.id() && kind.follows().is_none())
            .map(|n| n.deadline_at.ms_since(n.awareness_at))
            .filter(|ms| (ms - hours * 3_600_000.0).abs() > 1000.0 && *ms > 0.0);
        let clock = match scaled {
            Some(ms) => format!(
                "{clock} ({} of this drill, at time scale {})",
                format::duration_ms(ms),
                (hours * 3_600_000.0 / ms * 10.0).round() / 10.0
            ),
            None => clock.to_owned(),
        };
        let approval = approvals.iter().find(|a| a.report == kind.id());
        clocks.push(match (approval, drafts(kind.id())) {
            (Some(a), _) => format!("{clock}: {}.", approval_words(a)),
            (None, Some(ms)) => format!(
                "{clock}: not prepared by anyone (firedrill's own draft, {} after detection, is simulated).",
                format::duration_ms(ms)
            ),
            (None, None) => format!("{clock}: not prepared."),
        });
    }
    let outage = report
        .runs
        .iter()
        .flat_map(|r| &r.result.iterations)
        .map(|i| i.outage_ms)
        .reduce(f64::max);
    clocks.push(match outage {
        Some(ms) if ms >= DORA_DOWNTIME_LINE_MS => format!(
            "DORA major-incident line, 2 h of downtime: crossed (longest outage {}).",
            format::duration_ms(ms)
        ),
        Some(ms) => format!(
            "DORA major-incident line, 2 h of downtime: not crossed (longest outage {}).",
            format::duration_ms(ms)
        ),
        None => "DORA major-incident line, 2 h of downtime: nothing measured.".to_owned(),
    });
    clocks
}

/// A report's clock in words: what it is and from when it runs.
fn clock_name(kind: crate::spec::Report) -> &'static str {
    use crate::spec::Report;
    match kind {
        Report::Nis2EarlyWarning => "NIS2 early warning, due within 24 h of awareness",
        Report::Nis2IncidentNotification => "NIS2 incident notification, due within 72 h",
        Report::Nis2FinalReport => {
            "NIS2 final report, due within one month of the incident notification"
        }
        Report::DoraInitialNotification => {
            "DORA initial notification, due within 4 h of classification as major and 24 h of awareness"
        }
        Report::DoraIntermediateReport => {
            "DORA intermediate report, due within 72 h of the initial notification"
        }
        Report::DoraFinalReport => {
            "DORA final report, due within one month of the intermediate report"
        }
    }
}

/// What people did with a report put to them for approval, in words.
fn approval_words(a: &crate::result::ApprovalResult) -> String {
    match (a.outcome.as_str(), a.time_to_approve_ms) {
        ("approved", Some(ms)) => format!(
            "approved by {} {} of exercise time after its clock started, {} its deadline",
            a.approved_by,
            format::duration_ms(ms),
            if a.within_deadline { "within" } else { "after" }
        ),
        ("rejected", _) => format!("rejected by {}, so not submitted", a.approved_by),
        ("not-put", _) => "never put: the report its clock runs from was not approved".to_owned(),
        _ => format!("put to {} for approval, never approved", a.approved_by),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::findings;
    use crate::report::testutil::quickstart_report;

    #[test]
    fn the_quick_start_board_speaks_in_words() {
        let report = quickstart_report();
        let board = Board::of(&report, &findings::of(&report)).expect("a scorecard");
        assert!(
            board.confidence.starts_with("1 run, 3 iterations"),
            "{}",
            board.confidence
        );
        assert_eq!(board.clocks.len(), 4);
        assert!(
            board.clocks[1].contains("not prepared by anyone"),
            "{:?}",
            board.clocks
        );
        assert!(
            board.clocks[3].contains("not crossed"),
            "{:?}",
            board.clocks
        );
        assert!(board.findings.len() <= TOP_FINDINGS);
        assert!(
            board.simulated.contains(&"Reporting readiness".to_owned()),
            "{:?}",
            board.simulated
        );
    }

    #[test]
    fn a_history_gives_the_confidence_and_the_trend() {
        let mut report = quickstart_report();
        let result = &report.runs[0].result;
        let earlier = |days: u64, figure: f64| {
            let mut run = crate::report::history::dated(result).unwrap();
            run.run_id = Some(format!("earlier-{days}"));
            run.finished_at = result.finished_at - std::time::Duration::from_secs(86_400 * days);
            run.figure = Some(figure);
            run
        };
        let history = crate::report::history::History {
            database: "h.db".into(),
            runs: vec![earlier(30, 80.0), earlier(15, 70.0)],
        };
        report.history = history.evidence(&[result]);
        let board = Board::of(&report, &findings::of(&report)).unwrap();
        assert!(
            board
                .confidence
                .starts_with("3 dated runs over 30 days in the history, 3 iterations"),
            "{}",
            board.confidence
        );
        let trend = board.trend.unwrap();
        assert!(
            trend.starts_with("declining: 80 → 66 over 3 runs"),
            "{trend}"
        );
        let alone = Board::of(&quickstart_report(), &[]).unwrap();
        assert_eq!(alone.trend, None);
        assert!(alone.confidence.ends_with("; no run history kept"));
    }

    #[test]
    fn reports_put_to_people_say_what_people_did_not_what_firedrill_drafted() {
        let mut run = crate::report::testutil::response_run();
        let approval = |report: &str, outcome: &str, ms: Option<f64>, within: bool| {
            crate::result::ApprovalResult {
                report: report.to_owned(),
                reviewed_by: None,
                review: None,
                approved_by: "legal".to_owned(),
                outcome: outcome.to_owned(),
                decided_at: None,
                clock_started_ms: ms.map(|_| 0.0),
                time_to_approve_ms: ms,
                deadline_ms: 86_400_000.0,
                within_deadline: within,
                submission: None,
                mandatory_flags_missing: Vec::new(),
            }
        };
        run.result.response.as_mut().unwrap().approvals = vec![
            approval("nis2-early-warning", "approved", Some(1_800_000.0), true),
            approval("nis2-incident-notification", "rejected", None, false),
            approval("nis2-final-report", "not-put", None, false),
        ];
        let report = Report {
            runs: vec![run],
            ..quickstart_report()
        };
        let board = Board::of(&report, &[]).unwrap();
        let clocks = board.clocks.join("\n");
        assert!(
            clocks.contains(
                "NIS2 early warning, due within 24 h of awareness: approved by legal 30 min of exercise time after its clock started, within its deadline."
            ),
            "{clocks}"
        );
        assert!(
            clocks.contains("NIS2 incident notification, due within 72 h: rejected by legal"),
            "{clocks}"
        );
        assert!(
            clocks.contains(
                "NIS2 final report, due within one month of the incident notification: never put"
            ),
            "{clocks}"
        );
        assert!(!clocks.contains("not prepared by anyone"), "{clocks}");
        assert!(!clocks.contains("DORA intermediate"), "{clocks}");
    }

    #[test]
    fn a_game_day_says_how_long_the_legal_clocks_ran() {
        let mut report = quickstart_report();
        let plain = Board::of(&report, &[]).unwrap();
        assert!(
            plain.clocks[1].starts_with("NIS2 early warning, due within 24 h of awareness: "),
            "{:?}",
            plain.clocks
        );
        // At time scale 60 the drafts fall due 24 and 72 min after awareness.
        for n in &mut report.runs[0].result.notifications {
            let hours = if n.kind == "nis2-incident-notification" {
                72
            } else {
                24
            };
            n.deadline_at = n.awareness_at + std::time::Duration::from_secs(hours * 60);
        }
        let board = Board::of(&report, &[]).unwrap();
        assert!(
            board.clocks[1].starts_with(
                "NIS2 early warning, due within 24 h of awareness (24 min of this drill, at time scale 60): "
            ),
            "{:?}",
            board.clocks
        );
        assert!(
            board.clocks[2].starts_with(
                "NIS2 incident notification, due within 72 h (1 h 12 min of this drill, at time scale 60): "
            ),
            "{:?}",
            board.clocks
        );
    }

    #[test]
    fn an_untrusted_page_has_no_grade() {
        let mut report = quickstart_report();
        let card = report.scorecard.as_mut().unwrap();
        card.overall.verdict = Verdict::Untrusted;
        card.overall.score = None;
        let board = Board::of(&report, &findings::of(&report)).unwrap();
        assert_eq!(board.headline, "this scorecard cannot be trusted");
        assert_eq!(board.partial, None);
    }
}
