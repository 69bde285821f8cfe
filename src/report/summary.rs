//! The summary printed at the end of a run: plain text tables.

use std::fmt::Write;

use super::write::SuiteResult;
use crate::result::RunResult;
use crate::scorecard::Scorecard;

/// Renders the end-of-run summary.
pub fn render(r: &RunResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} — {} in {}",
        r.experiment.name,
        r.status.as_str().to_uppercase(),
        secs(r.duration_ms)
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "  {reason}");
    }
    if let Some(next) = &r.next_step {
        let _ = writeln!(out, "  next: {next}");
    }
    if r.stopped_before_injection() {
        // Empty tables and a score would read as a measurement that was never made.
        let _ = writeln!(
            out,
            "\n  not scored: the run stopped before its first injection\n"
        );
        return out;
    }

    let mut t = Table::new(&[
        "iteration",
        "status",
        "detected by",
        "detect",
        "recover",
        "outage",
        "availability",
    ]);
    for it in &r.iterations {
        t.row(vec![
            it.index.to_string(),
            it.status.as_str().to_owned(),
            it.detected_by.clone().unwrap_or_else(|| "-".into()),
            opt_ms(it.time_to_detect_ms),
            opt_ms(it.time_to_recover_ms),
            if it.injected_at.is_some() {
                fmt_ms(it.outage_ms)
            } else {
                "-".into()
            },
            it.availability.map_or("-".into(), pct),
        ]);
    }
    let s = &r.summary;
    if s.iterations > 1 {
        t.row(vec![
            format!("p50/max of {}", s.iterations),
            String::new(),
            format!("{}/{} detected", s.detected, s.iterations),
            format!(
                "{}/{}",
                opt_ms(s.time_to_detect_ms.p50),
                opt_ms(s.time_to_detect_ms.max)
            ),
            format!(
                "{}/{}",
                opt_ms(s.time_to_recover_ms.p50),
                opt_ms(s.time_to_recover_ms.max)
            ),
            format!("{}/{}", opt_ms(s.outage_ms.p50), opt_ms(s.outage_ms.max)),
            s.availability.map_or("-".into(), pct),
        ]);
    }
    let _ = writeln!(out, "\n{}", t.render());

    let mut t = Table::new(&[
        "probe", "phase", "count", "errors", "avail", "p50", "p90", "p99", "max",
    ]);
    for (probe, phases) in &r.probes {
        for phase in ["baseline", "fault", "recovery"] {
            let Some(l) = phases.get(phase) else { continue };
            if l.count == 0 {
                continue;
            }
            t.row(vec![
                probe.clone(),
                phase.to_owned(),
                l.count.to_string(),
                l.errors.to_string(),
                l.availability.map_or("-".into(), pct),
                opt_ms(l.p50),
                opt_ms(l.p90),
                opt_ms(l.p99),
                opt_ms(l.max),
            ]);
        }
    }
    let _ = writeln!(out, "{}", t.render());

    if !r.objectives.is_empty() {
        let mut t = Table::new(&["objective", "target", "measured", "met"]);
        for o in &r.objectives {
            let measured = match (o.measured, o.unit.as_str()) {
                (None, _) => "not measured".to_owned(),
                (Some(v), "ratio") => pct(v),
                (Some(v), "ms") => fmt_ms(v),
                (Some(v), unit) => format!("{v:.2} {unit}"),
            };
            t.row(vec![
                o.name.clone(),
                o.target.clone(),
                measured,
                if o.met { "yes".into() } else { "NO".into() },
            ]);
        }
        let _ = writeln!(out, "{}", t.render());
    }
    if let Some(drills) = super::security::SecurityDrills::of(r) {
        out.push_str(&security(&drills));
    }
    if let Some(d) = super::decisions::Decisions::of(r) {
        out.push_str(&decisions(&d));
    }
    if let Some(card) = &r.scorecard {
        out.push_str(&scorecard(card));
    }
    if !r.rollback.reverted.is_empty() || !r.rollback.failed.is_empty() {
        let _ = writeln!(
            out,
            "rollback at exit: {} reverted{}",
            r.rollback.reverted.len(),
            if r.rollback.failed.is_empty() {
                String::new()
            } else {
                format!(", FAILED: {}", r.rollback.failed.join("; "))
            }
        );
    }
    out
}

/// The end-of-suite summary: each experiment's verdict, then the combined scorecard.
pub fn render_suite(suite: &SuiteResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsuite {} — {}",
        suite.name,
        suite.status.as_str().to_uppercase()
    );
    let mut t = Table::new(&["experiment", "status", "folder"]);
    for run in &suite.runs {
        t.row(vec![
            run.experiment.clone(),
            run.status.as_str().to_owned(),
            run.dir.clone(),
        ]);
    }
    for file in &suite.not_run {
        t.row(vec![file.clone(), "not run".to_owned(), String::new()]);
    }
    let _ = writeln!(out, "\n{}", t.render());
    if let Some(card) = &suite.scorecard {
        out.push_str(&scorecard(card));
    }
    out
}

/// Each canary and prevention check with its outcome, the caveat and the markers used.
fn security(drills: &super::security::SecurityDrills) -> String {
    let mut t = Table::new(&["security drill", "type", "iteration", "outcome"]);
    for c in &drills.canaries {
        t.row(vec![
            c.name.clone(),
            c.fault_type.clone(),
            c.iteration.to_string(),
            match &c.noticed_by {
                Some(by) => format!("noticed by {by} after {}", c.time_to_detect),
                None => "NOT NOTICED".to_owned(),
            },
        ]);
    }
    for c in &drills.checks {
        t.row(vec![
            c.name.clone(),
            c.fault_type.clone(),
            c.iteration.to_string(),
            if c.refused {
                format!("refused ({} {})", c.status, c.reason)
            } else {
                format!(
                    "ACCEPTED ({}): {}; undone: {}",
                    c.status,
                    c.action,
                    if c.undone.is_empty() {
                        "nothing to undo".to_owned()
                    } else {
                        c.undone.join(", ")
                    }
                )
            },
        ]);
    }
    let mut out = t.render();
    let _ = writeln!(out, "  {}", super::security::CANARY_CAVEAT);
    let _ = writeln!(out, "  markers used: {}\n", drills.markers.join(", "));
    out
}

/// Each decision put to people: the answer, its time and budget in exercise time, hindsight
/// and the score; what is a finding in capitals.
fn decisions(d: &super::decisions::Decisions) -> String {
    let mut t = Table::new(&[
        "decision",
        "role",
        "answer",
        "time",
        "budget",
        "hindsight",
        "score",
    ]);
    for row in &d.rows {
        t.row(vec![
            row.point.clone(),
            row.role.clone(),
            match (&row.answer, row.put) {
                (Some(answer), _) => answer.clone(),
                (None, true) => "NEVER ANSWERED".to_owned(),
                (None, false) => "never put".to_owned(),
            },
            row.time_to_decide_short.clone(),
            match (&row.answer, row.timely) {
                (None, _) => row.budget.clone(),
                (Some(_), true) => format!("{} ok", row.budget),
                (Some(_), false) => format!("{} LATE", row.budget),
            },
            match (row.consistency.as_deref(), &row.hindsight) {
                (Some("inconsistent"), Some(h)) if row.hindsight_finding => {
                    format!("INCONSISTENT: gives {h}")
                }
                (Some("inconsistent"), Some(h)) => format!("inconsistent: gives {h}"),
                _ => row.hindsight_text.clone(),
            },
            row.score.clone(),
        ]);
    }
    let scale = if d.scale == 1.0 {
        String::new()
    } else {
        format!(", {} real time", super::format::multiple(d.scale))
    };
    format!(
        "decisions (times in exercise time{scale}):\n{}\n",
        t.render()
    )
}

/// The scorecard in a few lines: the headline, then each capability weakest first.
fn scorecard(card: &Scorecard) -> String {
    use crate::scorecard::Verdict;
    let mut out = String::new();
    let o = &card.overall;
    let coverage = format!(
        "{:.0}% of the profile from the organisation's own evidence (a grade needs {:.0}%)",
        o.coverage * 100.0,
        o.coverage_threshold * 100.0
    );
    let headline = match o.verdict {
        Verdict::Graded => format!(
            "{}/100, {coverage}",
            o.score
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"))
        ),
        Verdict::InsufficientEvidence => format!(
            "insufficient evidence: {coverage}{}",
            o.partial_score
                .map_or_else(String::new, |s| format!("; partial figure {s:.1}/100"))
        ),
        Verdict::Untrusted => {
            let failed: Vec<&str> = card
                .preconditions
                .iter()
                .filter(|p| !p.held)
                .map(|p| p.check.describe())
                .collect();
            format!("cannot be trusted; failed: {}", failed.join("; "))
        }
    };
    let _ = writeln!(
        out,
        "scorecard (formula {}): {headline}",
        card.formula_version
    );
    let mut t = Table::new(&["capability", "score", "maturity", "gates"]);
    for c in &card.capabilities {
        t.row(vec![
            c.name.clone(),
            super::format::capability_score(c),
            c.maturity.map_or_else(|| "-".to_owned(), |m| m.to_string()),
            c.gates
                .iter()
                .map(|g| super::format::gate(g.gate))
                .collect::<Vec<_>>()
                .join("; "),
        ]);
    }
    let _ = writeln!(out, "{}", t.render());
    out
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn secs(ms: f64) -> String {
    format!("{:.1}s", ms / 1e3)
}

/// Milliseconds with a unit that suits their size.
pub fn fmt_ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}s", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), fmt_ms)
}

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_summed_up_only_when_the_run_put_some() {
        let plain = render(&crate::report::testutil::quickstart_run().result);
        assert!(!plain.contains("decisions ("));
        let text = render(&crate::report::testutil::response_run().result);
        let table = &text[text.find("decisions (").expect("the table")..];
        let table = &table[..table.find("\n\n").unwrap()];
        insta::assert_snapshot!(table);
    }

    #[test]
    fn security_drills_are_summed_up_only_when_the_run_had_some() {
        let plain = render(&crate::report::testutil::quickstart_run().result);
        assert!(!plain.contains("security drill"));
        let text = render(&crate::report::testutil::security_run().result);
        assert!(text.contains("NOT NOTICED"), "{text}");
        assert!(text.contains("noticed by pager after 4.2 s"), "{text}");
        assert!(text.contains("refused (403 Forbidden)"), "{text}");
        assert!(
            text.contains("ACCEPTED (201): create pod shop/firedrill-canary-privileged (privileged); undone: deleted pod shop/firedrill-canary-privileged"),
            "{text}"
        );
        assert!(text.contains(crate::report::security::CANARY_CAVEAT));
        assert!(text.contains("markers used: firedrill-canary, firedrill-canary-env-file"));
    }
}
