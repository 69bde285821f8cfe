//! `junit.xml`: one test case per objective (and one for the run's own verdict), and one per
//! security drill of each iteration, so that a CI stage can gate on a drill and show what
//! was missed, measured against target.

use std::fmt::Write;

use super::model::Report;
use crate::result::{IterationStatus, RunResult, RunStatus};

/// Renders the JUnit XML report: one test suite per experiment run.
pub fn render(report: &Report) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors, mut seconds) = (0, 0, 0, 0.0);
    for run in &report.runs {
        let suite = render_suite(&run.result);
        tests += suite.tests;
        failures += suite.failures;
        errors += suite.errors;
        seconds += run.result.duration_ms / 1e3;
        suites.push_str(&suite.xml);
    }
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuites name="{}" tests="{tests}" failures="{failures}" errors="{errors}" time="{seconds:.3}">"#,
        escape(&report.title)
    );
    out.push_str(&suites);
    let _ = writeln!(out, "</testsuites>");
    out
}

struct Suite {
    xml: String,
    tests: usize,
    failures: usize,
    errors: usize,
}

/// One experiment's test suite: its steady state and recovery, then one case per objective.
fn render_suite(r: &RunResult) -> Suite {
    let mut cases = String::new();
    let mut failures = 0;
    let mut errors = 0;
    let suite = &r.experiment.name;

    // The run itself: the steady state at baseline and the recovery of every iteration are a
    // verdict of their own; an abort, an interruption or a failed rollback is an error. An
    // iteration that recovered but failed for a security finding fails that drill's case.
    let run_case = format!("{suite} steady state and recovery");
    let deviated: Vec<String> = r
        .iterations
        .iter()
        .filter(|i| {
            i.status == IterationStatus::BaselineFailed
                || (i.status == IterationStatus::Failed && i.recovered_at.is_none())
        })
        .map(|i| format!("iteration {}: {}", i.index, i.status))
        .collect();
    match r.status {
        RunStatus::Aborted | RunStatus::Interrupted | RunStatus::RollbackFailed => {
            errors += 1;
            let reason = format!(
                "{}: {}",
                r.status.as_str(),
                r.reason.clone().unwrap_or_default()
            );
            case(
                &mut cases,
                suite,
                &run_case,
                r.duration_ms,
                Some(("error", &reason)),
            );
        }
        _ if !deviated.is_empty() => {
            failures += 1;
            let reason = format!(
                "{} ({})",
                r.reason.clone().unwrap_or_default(),
                deviated.join(", ")
            );
            case(
                &mut cases,
                suite,
                &run_case,
                r.duration_ms,
                Some(("failure", &reason)),
            );
        }
        _ => case(&mut cases, suite, &run_case, r.duration_ms, None),
    }
    for o in &r.objectives {
        let measured = match (o.measured, o.unit.as_str()) {
            (None, _) => "not measured".to_owned(),
            (Some(v), "ratio") => format!("{v:.4}"),
            (Some(v), unit) => format!("{v:.1} {unit}"),
        };
        let message = format!("measured {measured}, target {}", o.target);
        if o.met {
            case(&mut cases, suite, &o.name, 0.0, None);
        } else {
            failures += 1;
            case(&mut cases, suite, &o.name, 0.0, Some(("failure", &message)));
        }
    }
    let mut drills = 0;
    if let Some(security) = super::security::SecurityDrills::of(r) {
        for c in &security.canaries {
            drills += 1;
            let name = format!("canary {} noticed (iteration {})", c.name, c.iteration);
            if c.noticed {
                case(&mut cases, suite, &name, 0.0, None);
            } else {
                failures += 1;
                let message = format!(
                    "no detection signal noticed the canary; it did: {}",
                    c.actions.join("; ")
                );
                case(&mut cases, suite, &name, 0.0, Some(("failure", &message)));
            }
        }
        for c in &security.checks {
            drills += 1;
            let name = format!(
                "prevention check {} refused (iteration {})",
                c.name, c.iteration
            );
            if c.refused {
                case(&mut cases, suite, &name, 0.0, None);
            } else {
                failures += 1;
                let message = format!(
                    "policy accepted {} (status {}); undone at once: {}",
                    c.action,
                    c.status,
                    if c.undone.is_empty() {
                        "nothing to undo".to_owned()
                    } else {
                        c.undone.join("; ")
                    }
                );
                case(&mut cases, suite, &name, 0.0, Some(("failure", &message)));
            }
        }
    }
    let tests = r.objectives.len() + 1 + drills;
    let mut xml = String::new();
    let _ = writeln!(
        xml,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="{errors}" time="{:.3}" timestamp="{}">"#,
        escape(suite),
        r.duration_ms / 1e3,
        r.started_at
    );
    xml.push_str(&cases);
    let _ = writeln!(xml, "  </testsuite>");
    Suite {
        xml,
        tests,
        failures,
        errors,
    }
}

fn case(out: &mut String, suite: &str, name: &str, ms: f64, outcome: Option<(&str, &str)>) {
    let _ = write!(
        out,
        r#"    <testcase classname="{}" name="{}" time="{:.3}""#,
        escape(suite),
        escape(name),
        ms / 1e3
    );
    match outcome {
        None => {
            let _ = writeln!(out, "/>");
        }
        Some((kind, message)) => {
            let _ = writeln!(out, ">");
            let _ = writeln!(
                out,
                r#"      <{kind} message="{}">{}</{kind}>"#,
                escape(message),
                escape(message)
            );
            let _ = writeln!(out, "    </testcase>");
        }
    }
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 forbids.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_start_junit() {
        let report = crate::report::testutil::quickstart_report();
        let xml = render(&report);
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
        settings.bind(|| insta::assert_snapshot!(xml));
    }

    #[test]
    fn a_suite_has_one_test_suite_per_experiment_and_a_missed_objective_fails() {
        let first = crate::report::testutil::quickstart_run();
        let mut second = crate::report::testutil::quickstart_run();
        second.result.experiment.name = "second".to_owned();
        second.result.objectives[0].met = false;
        let (report, _) =
            crate::report::write::suite_report("gate", vec![first, second], None, None);
        let xml = render(&report);
        assert_eq!(xml.matches("<testsuite ").count(), 2);
        assert!(
            xml.contains(r#"<testsuites name="gate" tests="10" failures="1" errors="0""#),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"measured"));
    }

    #[test]
    fn each_security_drill_is_a_test_case() {
        let report = crate::report::write::single_report(crate::report::testutil::security_run());
        let xml = render(&report);
        well_formed(&xml);
        // 4 objectives, the run, 6 canaries, 6 checks; 2 canaries missed, 1 check accepted.
        assert!(
            xml.contains(r#"<testsuite name="quickstart" tests="17" failures="3" errors="0""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase classname="quickstart" name="canary env-file noticed (iteration 1)" time="0.000"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"name="canary honeytoken noticed (iteration 1)" time="0.000">"#));
        assert!(
            xml.contains(
                r#"name="prevention check privileged refused (iteration 1)" time="0.000">"#
            )
        );
        assert!(xml.contains(
            "policy accepted create pod shop/firedrill-canary-privileged (privileged) (status 201); undone at once: deleted pod shop/firedrill-canary-privileged"
        ));
        assert!(xml.contains(
            r#"name="prevention check privileged refused (iteration 2)" time="0.000"/>"#
        ));
        // The iteration recovered: the finding fails its own case, not the steady state's.
        assert!(xml.contains(r#"name="quickstart steady state and recovery" time="#));
        assert!(!xml.contains("(iteration 1: failed)"), "{xml}");
    }

    /// Elements open and close in order (a small check without an XML parser).
    fn well_formed(xml: &str) {
        let mut open = Vec::new();
        for tag in xml.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap();
            if tag.starts_with('?') || tag.ends_with('/') {
                continue;
            }
            let name = tag.trim_start_matches('/').split(' ').next().unwrap();
            if tag.starts_with('/') {
                assert_eq!(open.pop(), Some(name), "{xml}");
            } else {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "{xml}");
    }

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
