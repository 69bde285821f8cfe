//! Findings: what a report shows needs doing, each with a recommended action in plain
//! words, ranked so that the board page can show the few that matter most.
//!
//! A finding's id is stable from run to run (`gate:detection:no-detection`), so that a
//! review recorded for it can follow it to later pages until it is closed.

use serde::Serialize;

use super::format;
use super::model::Report;
use super::security::SecurityDrills;
pub use crate::review::{Finding, Severity};
use crate::scorecard::history::EarlierDecision;
use crate::scorecard::{Capability, Gate, Provenance, Status};

/// A finding as a page shows it: with its review, or "no owner yet".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewedFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// Whether a decision is recorded for it (and the review journal verifies).
    pub reviewed: bool,
    /// The review in words: `owner Ops, due 2027-01-31, fix`, or `no owner yet`.
    pub review: String,
    /// A fix past its due date.
    pub overdue: bool,
}

/// The report's findings with their reviews, as of the time the report speaks for. A
/// finding without a review of its own shows the latest decision an earlier drill's review
/// took on it, when the report was scored with a run history.
pub fn reviewed(report: &Report, findings: &[Finding]) -> Vec<ReviewedFinding> {
    findings
        .iter()
        .map(|f| {
            let review = report.reviews.of_finding(&f.id);
            let (text, overdue) = match (review, earlier_decision(report, &f.id)) {
                (Some(r), _) => (
                    r.describe(report.generated_at),
                    r.overdue(report.generated_at),
                ),
                (None, Some(d)) => {
                    let overdue = overdue(d, report.generated_at);
                    (
                        format!(
                            "from the drill of {}: owner {}, due {}, {}{}",
                            d.run_finished_at.strftime("%Y-%m-%d"),
                            d.owner,
                            d.due,
                            d.decision,
                            if overdue { ", overdue" } else { "" }
                        ),
                        overdue,
                    )
                }
                (None, None) => ("no owner yet".to_owned(), false),
            };
            ReviewedFinding {
                finding: f.clone(),
                reviewed: review.is_some(),
                review: text,
                overdue,
            }
        })
        .collect()
}

/// The latest decision an earlier drill's review took on `finding`: one recorded for a run
/// of the history other than this page's.
pub fn earlier_decision<'a>(report: &'a Report, finding: &str) -> Option<&'a EarlierDecision> {
    report
        .history
        .as_ref()?
        .earlier_decision(finding, &own_runs(report))
}

/// The run ids of the page's own runs: their reviews are the page's own, never carried.
fn own_runs(report: &Report) -> Vec<&str> {
    report
        .runs
        .iter()
        .map(|r| r.result.run_id.as_str())
        .collect()
}

/// Whether an earlier decision is a fix past its due date at `now`.
fn overdue(decision: &EarlierDecision, now: crate::time::Timestamp) -> bool {
    decision.decision == crate::review::Decision::Fix.as_str()
        && decision
            .due
            .parse::<crate::review::Due>()
            .is_ok_and(|due| due.passed(now))
}

/// A fix decided in the review of an earlier drill, and where it stands on this page.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CarriedAction {
    /// The finding's id.
    pub finding: String,
    /// Who owns the fix.
    pub owner: String,
    /// By when.
    pub due: String,
    /// The day of the drill whose review decided it.
    pub decided_for: String,
    /// Still open: this page raises the finding again.
    pub open: bool,
    /// Open and past its due date.
    pub overdue: bool,
}

/// The fixes decided in earlier drills' reviews (from the run history): open while this page
/// raises their finding again, closed once it no longer does.
pub fn carried(report: &Report, findings: &[Finding]) -> Vec<CarriedAction> {
    let Some(history) = &report.history else {
        return Vec::new();
    };
    let own = own_runs(report);
    history
        .decisions
        .iter()
        .filter(|d| {
            !own.contains(&d.run_id.as_str()) && d.decision == crate::review::Decision::Fix.as_str()
        })
        .map(|d| {
            let open = findings.iter().any(|f| f.id == d.finding);
            CarriedAction {
                finding: d.finding.clone(),
                owner: d.owner.clone(),
                due: d.due.clone(),
                decided_for: d.run_finished_at.strftime("%Y-%m-%d").to_string(),
                open,
                overdue: open && overdue(d, report.generated_at),
            }
        })
        .collect()
}

/// The score below which an evidenced capability is a finding: the median score that
/// maturity level 3 asks for.
pub const BELOW_TARGET: f64 = 60.0;

fn gate_action(gate: Gate) -> &'static str {
    match gate {
        Gate::NoDetection => {
            "Add an alert on this failure (error rate, or probes from outside) that pages the people on call."
        }
        Gate::PreventionBypassed => {
            "Enforce an admission policy in the namespace (Pod Security `restricted` or a policy engine)."
        }
        Gate::MissingMandatoryNotificationFlag => {
            "Decide who judges whether an incident is malicious or cross-border, within 24 hours."
        }
        Gate::FailedRollback => {
            "Check nothing is left injected (`firedrill rollback`) and find why the revert failed."
        }
    }
}

fn simulated_action(capability: Capability) -> &'static str {
    match capability {
        Capability::Detection => {
            "Connect your own alerting to the drill (webhook, Alertmanager, Prometheus, Kubernetes events)."
        }
        Capability::ReportingReadiness => {
            "Have the people who would send the early warning prepare it during the drill."
        }
        _ => "Replace what firedrill simulated with your own signal or people.",
    }
}

fn capability_action(capability: Capability) -> &'static str {
    match capability {
        Capability::Detection => {
            "Tighten the alert on this failure: a shorter window, a lower threshold, a page."
        }
        Capability::RecoveryContinuity => {
            "Make the service ride out the fault: more replicas, faster health checks, a fallback."
        }
        Capability::Containment => {
            "Refuse the actions that got through: admission and network policies, revocation."
        }
        Capability::ReportingReadiness => {
            "Prepare the notification templates and who sends them, and rehearse."
        }
        Capability::ThirdPartyResilience => {
            "Give the third party timeouts, bounded retries and a fallback (cache, degraded mode)."
        }
        Capability::EvidenceTraceability => {
            "Record a review of each finding with an owner and a decision."
        }
        Capability::Coordination => {
            "Check the contact routes and rota of the roles that were slow or silent."
        }
        Capability::ContinuousTesting => {
            "Run the drills on a schedule: at least yearly, better monthly."
        }
    }
}

/// Every finding of a report, the most severe first (the order found within a severity).
pub fn of(report: &Report) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(card) = &report.scorecard {
        for p in card.preconditions.iter().filter(|p| !p.held) {
            findings.push(Finding::new(
                format!("precondition:{}", format::kebab(&p.check)),
                Severity::Critical,
                format!(
                    "This page cannot be trusted: {} did not hold{}: {}.",
                    p.check.describe(),
                    p.source
                        .as_deref()
                        .map_or(String::new(), |s| format!(" in {s}")),
                    p.detail
                ),
                "Do not use these figures; check nothing is left injected (`firedrill rollback`) and rerun.",
            ));
        }
        for c in &card.capabilities {
            let key = format::kebab(&c.capability);
            for g in c
                .gates
                .iter()
                .filter(|g| g.provenance == Provenance::Organisation)
            {
                findings.push(Finding::new(
                    format!("gate:{key}:{}", format::kebab(&g.gate)),
                    Severity::High,
                    format!("{}: {}.", c.name, format::gate(g.gate)),
                    gate_action(g.gate),
                ));
            }
            match c.status {
                Status::Evidenced if c.score.is_some_and(|s| s < BELOW_TARGET) => {
                    findings.push(Finding::new(
                        format!("capability:{key}"),
                        Severity::Medium,
                        format!(
                            "{} scores {} of 100, below {}.",
                            c.name,
                            format::score(c.score),
                            BELOW_TARGET
                        ),
                        capability_action(c.capability),
                    ));
                }
                Status::Simulated => {
                    let metrics: Vec<&str> = c
                        .metrics
                        .iter()
                        .filter(|m| m.provenance == Provenance::Simulated)
                        .map(|m| m.name.as_str())
                        .collect();
                    findings.push(Finding::new(
                        format!("simulated:{key}"),
                        Severity::Medium,
                        format!(
                            "{} is simulated by firedrill ({}), not scored.",
                            c.name,
                            metrics.join(", ")
                        ),
                        simulated_action(c.capability),
                    ));
                }
                Status::Due => findings.push(Finding::new(
                    format!("due:{key}"),
                    Severity::Medium,
                    format!(
                        "{}: the organisation's evidence is older than the age limit and no longer counts.",
                        c.name
                    ),
                    "Run the drill again.",
                )),
                Status::Evidenced | Status::NotEvidenced => {}
            }
        }
    }
    for run in &report.runs {
        let r = &run.result;
        let name = &r.experiment.name;
        // A fault that was not in force: its iteration shows nothing of the organisation.
        for it in &r.iterations {
            for f in it.faults.iter().filter(|f| f.ineffective()) {
                findings.push(Finding::new(
                    format!("ineffective:{name}:{}:{}", it.index, f.name),
                    Severity::High,
                    format!(
                        "{name}: fault {} was not in force in iteration {}, so the iteration is no evidence: {}.",
                        f.name,
                        it.index,
                        f.effect.as_ref().map(|e| e.detail()).unwrap_or_default()
                    ),
                    "Find why the fault did not take hold (docs/effects.md), fix the experiment or the platform, and rerun.",
                ));
            }
        }
        for o in r.objectives.iter().filter(|o| !o.met) {
            findings.push(Finding::new(
                format!("objective:{name}:{}", o.name),
                Severity::High,
                format!(
                    "{name}: objective {} {} was missed (measured {}).",
                    o.name,
                    o.target,
                    match (o.measured, o.unit.as_str()) {
                        (None, _) => "nothing".to_owned(),
                        (Some(v), "ratio") => format::percent(v),
                        (Some(v), "ms") => format::seconds(v / 1e3),
                        (Some(v), unit) => format!("{} {unit}", format::trim(v, 3)),
                    }
                ),
                "Fix the system, or record a risk acceptance with its owner.",
            ));
        }
        if let Some(coordination) = &r.coordination {
            for ack in coordination
                .acknowledgements
                .iter()
                .filter(|a| a.acknowledged_at.is_none())
            {
                findings.push(Finding::new(
                    format!("acknowledgement:{name}:{}", ack.role),
                    Severity::High,
                    format!(
                        "{name}: role `{}` never acknowledged the incident.",
                        ack.role
                    ),
                    "Check the role's contact route and rota, and name a deputy.",
                ));
            }
        }
        if let Some(response) = &r.response {
            for d in &response.decisions {
                findings.extend(decision_findings(name, d));
            }
        }
        for n in &r.notifications {
            if let Some(error) = n.delivery.as_ref().and_then(|d| d.error.as_ref()) {
                findings.push(Finding::new(
                    format!("delivery:{name}:{}", n.kind),
                    Severity::Medium,
                    format!(
                        "{name}: iteration {} {} was not delivered: {error}.",
                        n.iteration, n.kind
                    ),
                    "Fix the delivery route of notifications, and keep a second one.",
                ));
            }
        }
        if let Some(drills) = SecurityDrills::of(r) {
            for c in drills.canaries.iter().filter(|c| !c.noticed) {
                findings.push(Finding::new(
                    format!("canary:{name}:{}", c.name),
                    Severity::Medium,
                    format!(
                        "{name}: iteration {}: canary `{}` was not noticed.",
                        c.iteration, c.name
                    ),
                    "Make the detection rule cover what this canary does.",
                ));
            }
        }
    }
    // One finding per id: iterations repeat the same canary or delivery failure.
    let mut seen = std::collections::BTreeSet::new();
    findings.retain(|f| seen.insert(f.id.clone()));
    findings.sort_by_key(|f| f.severity);
    findings
}

/// The share of what mattered that may be unknown for a wrong answer to be a finding: a
/// wrong answer taken mostly blind says more about the information than about the decision.
pub const HINDSIGHT_UNKNOWN_LIMIT: f64 = 0.5;

/// What went wrong with one decision point put to people: never answered (High), answered
/// after its budget (Medium), inconsistent with hindsight while most of what mattered was
/// known (Medium). A point never put is shown in the decisions table but is not a finding
/// yet: it would be Low, and `Severity` has no Low.
fn decision_findings(experiment: &str, d: &crate::result::DecisionResult) -> Vec<Finding> {
    let id = |kind: &str| format!("decision:{experiment}:{}:{kind}", d.point);
    let mut findings = Vec::new();
    if d.asked_at.is_none() {
        return findings;
    }
    let Some(answer) = &d.answer else {
        findings.push(Finding::new(
            id("unanswered"),
            Severity::High,
            format!(
                "{experiment}: {} never answered `{}` ({}).",
                d.decided_by, d.point, d.question
            ),
            "Check the role's contact route and rota, and name a deputy.",
        ));
        return findings;
    };
    if !d.timely {
        let late = d
            .time_to_decide_ms
            .map(|t| format!(" {} of exercise time", format::duration_ms(t - d.budget_ms)))
            .unwrap_or_default();
        findings.push(Finding::new(
            id("late"),
            Severity::Medium,
            format!(
                "{experiment}: {} answered `{}` ({}){late} after its budget of {}.",
                d.decided_by,
                d.point,
                d.question,
                format::duration_ms(d.budget_ms)
            ),
            "Agree beforehand what the role needs to take this decision, and rehearse it.",
        ));
    }
    if d.consistency.as_deref() == Some("inconsistent")
        && let Some(unknown) = d.unknown_share
        && unknown <= HINDSIGHT_UNKNOWN_LIMIT
    {
        findings.push(Finding::new(
            id("hindsight"),
            Severity::Medium,
            format!(
                "{experiment}: {} answered `{answer}` to `{}` ({}); hindsight gives `{}`, and {} of what mattered was known when it was answered.",
                d.decided_by,
                d.point,
                d.question,
                d.hindsight.as_deref().unwrap_or("another answer"),
                format::percent(1.0 - unknown)
            ),
            "Go through the decision with the role against what was known, and write down the criteria it should follow.",
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil::{quickstart_run, security_run};
    use crate::report::write::single_report;

    #[test]
    fn fixes_decided_in_earlier_drills_stay_open_until_the_finding_is_gone() {
        use crate::scorecard::history::{DatedRun, EarlierDecision, HistoryEvidence};
        let mut report = single_report(quickstart_run());
        let findings = of(&report);
        let result = &report.runs[0].result;
        let earlier = result.finished_at - std::time::Duration::from_secs(86_400 * 20);
        let decision = |run_id: &str, finding: &str, due: &str, decision: &str| EarlierDecision {
            experiment: result.experiment.name.clone(),
            run_id: run_id.into(),
            run_finished_at: earlier,
            finding: finding.into(),
            owner: "Platform team".into(),
            due: due.into(),
            decision: decision.into(),
            recorded_at: earlier,
        };
        let mut dated = DatedRun::of(
            Some("earlier".into()),
            &result.experiment.name,
            earlier,
            None,
            None,
        );
        let raised = findings[0].id.clone();
        dated.decisions = vec![
            decision("earlier", &raised, "2020-01-31", "fix"),
            decision(
                "earlier",
                "gate:detection:no-detection",
                "2099-01-31",
                "fix",
            ),
            decision("earlier", "objective:x:y", "2099-01-31", "risk-accept"),
            // The page's own run: its reviews are the page's own, never carried.
            decision(
                &result.run_id,
                "simulated:reporting-readiness",
                "2099-01-31",
                "fix",
            ),
        ];
        let mut own = dated.clone();
        own.run_id = Some(result.run_id.clone());
        own.finished_at = result.finished_at;
        own.decisions = vec![dated.decisions.pop().unwrap()];
        report.history = Some(HistoryEvidence::of(
            "h.db",
            [result.experiment.name.as_str()],
            &[dated, own],
            result.finished_at,
            365,
            false,
        ));
        let carried = carried(&report, &findings);
        assert_eq!(carried.len(), 2, "fixes of earlier runs only: {carried:?}");
        let open = carried.iter().find(|a| a.finding == raised).unwrap();
        assert!(open.open && open.overdue, "{open:?}");
        let closed = carried
            .iter()
            .find(|a| a.finding == "gate:detection:no-detection")
            .unwrap();
        assert!(
            !closed.open && !closed.overdue,
            "no longer raised: {closed:?}"
        );
        // The finding raised again shows the earlier decision, and the board its owner.
        let shown = reviewed(&report, &findings);
        assert!(
            shown[0].review.starts_with("from the drill of ")
                && shown[0]
                    .review
                    .ends_with("owner Platform team, due 2020-01-31, fix, overdue"),
            "{}",
            shown[0].review
        );
        assert!(shown[0].overdue && !shown[0].reviewed);
        let board = super::super::board::Board::of(&report, &findings).unwrap();
        assert!(
            board.owners[0]
                .starts_with("Platform team, due 2020-01-31 (fix, decided for the drill of ")
        );
    }

    #[test]
    fn decisions_unanswered_late_or_against_hindsight_are_findings() {
        use crate::report::testutil::response_run;
        let findings = of(&single_report(response_run()));
        let decisions: Vec<(&str, Severity)> = findings
            .iter()
            .filter(|f| f.id.starts_with("decision:"))
            .map(|f| (f.id.as_str(), f.severity))
            .collect();
        assert_eq!(
            decisions,
            [
                ("decision:quickstart:authority:unanswered", Severity::High),
                ("decision:quickstart:cross-border:late", Severity::Medium),
                (
                    "decision:quickstart:cross-border:hindsight",
                    Severity::Medium
                ),
            ],
            "answered in time and consistent, or never put, is no finding: {findings:?}"
        );
        let find = |id: &str| findings.iter().find(|f| f.id == id).unwrap();
        let unanswered = find("decision:quickstart:authority:unanswered");
        assert_eq!(
            unanswered.what,
            "quickstart: legal never answered `authority` (Do we notify the competent authority now?)."
        );
        assert_eq!(
            unanswered.action,
            "Check the role's contact route and rota, and name a deputy."
        );
        assert!(
            find("decision:quickstart:cross-border:late")
                .what
                .contains("2 h of exercise time after its budget of 15 min"),
        );
        let hindsight = &find("decision:quickstart:cross-border:hindsight").what;
        assert!(
            hindsight.contains("answered `no`")
                && hindsight.contains("hindsight gives `yes`")
                && hindsight.contains("80% of what mattered was known"),
            "{hindsight}"
        );
    }

    #[test]
    fn a_wrong_answer_taken_mostly_blind_is_no_finding() {
        let mut run = crate::report::testutil::response_run();
        let response = run.result.response.as_mut().unwrap();
        let cross_border = &mut response.decisions[1];
        cross_border.unknown_share = Some(0.8);
        cross_border.timely = true;
        let ids: Vec<String> = of(&single_report(run))
            .into_iter()
            .map(|f| f.id)
            .filter(|id| id.contains(":cross-border:"))
            .collect();
        assert!(ids.is_empty(), "{ids:?}");
    }

    #[test]
    fn the_quick_start_finds_what_only_firedrill_evidenced() {
        let report = single_report(quickstart_run());
        let findings = of(&report);
        let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
        assert!(ids.contains(&"simulated:reporting-readiness"), "{ids:?}");
        assert!(findings.iter().all(|f| !f.action.is_empty()));
        assert!(
            findings.windows(2).all(|w| w[0].severity <= w[1].severity),
            "{findings:?}"
        );
    }

    #[test]
    fn an_accepted_prevention_check_is_a_high_finding_with_an_action() {
        let report = single_report(security_run());
        let findings = of(&report);
        let bypassed = findings
            .iter()
            .find(|f| f.id == "gate:containment:prevention-bypassed")
            .expect("the accepted check is a finding");
        assert_eq!(bypassed.severity, Severity::High);
        assert!(
            bypassed.action.contains("admission policy"),
            "{}",
            bypassed.action
        );
        // The same canary missed in two iterations is one finding.
        let canaries = findings
            .iter()
            .filter(|f| f.id.starts_with("canary:"))
            .count();
        assert!(canaries <= 2, "{findings:?}");
    }

    #[test]
    fn a_failed_precondition_comes_first() {
        let mut run = quickstart_run();
        run.result.rollback.failed.push("freeze-all: gone".into());
        let input = crate::result::evidence::input_for_run(
            &crate::report::testutil::quickstart_spec(),
            &run.result,
            &run.journal,
        );
        run.result.scorecard = crate::scorecard::evidence::score_input(&input, None);
        let findings = of(&single_report(run));
        assert_eq!(findings[0].severity, Severity::Critical);
        assert_eq!(findings[0].id, "precondition:faults-reverted");
        assert!(findings[0].what.contains("freeze-all: gone"));
    }

    #[test]
    fn a_reviewed_finding_shows_its_owner_and_an_overdue_fix_says_so() {
        use crate::review::{Decision, ReviewRecord, ReviewState};
        let mut report = single_report(quickstart_run());
        report.generated_at = "2027-02-01T00:00:00Z".parse().unwrap();
        let found = of(&report);
        let mut record = ReviewRecord::new(
            "1796632013-193ed956",
            &found[0].id,
            "Ops team",
            "2027-01-31".parse().unwrap(),
            Decision::Fix,
            None,
        )
        .unwrap();
        record.recorded_at = "2027-01-02T00:00:00Z".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::review::record(dir.path(), &record, None).unwrap();
        report.reviews = ReviewState::of(dir.path(), "1796632013-193ed956");
        let shown = reviewed(&report, &found);
        assert!(shown[0].reviewed && shown[0].overdue);
        assert_eq!(
            shown[0].review,
            "owner Ops team, due 2027-01-31, fix, overdue"
        );
        assert!(shown[1..].iter().all(|f| f.review == "no owner yet"));
    }
}
