//! A report built from a real quick-start result, for the renderers' tests.

use super::model::{JournalCheck, Report, ReportRun};
use super::result::RunResult;
use super::write::single_report;
use crate::scorecard::evidence::{input_for_run, score_input};

const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");
const RESULT: &str = include_str!("../../tests/fixtures/results/quickstart-result.json");

/// The quick-start result of tests/fixtures, scored, with an intact journal.
pub fn quickstart_run() -> ReportRun {
    let spec = crate::spec::load_str("quickstart.yaml", QUICKSTART)
        .expect("the quick start is valid")
        .spec;
    let mut result: RunResult = serde_json::from_str(RESULT).expect("the fixture is a result");
    let journal = JournalCheck {
        file: "journal.jsonl".to_owned(),
        records: 131,
        head: Some("5e1f".repeat(16)),
        intact: true,
        finished: true,
        signed: false,
        faults_injected: 9,
        faults_traced: 9,
        detail: "131 records verify".to_owned(),
    };
    let input = input_for_run(&spec, &result, &journal);
    result.scorecard = score_input(&input);
    result.scorecard_input = Some(input);
    ReportRun {
        dir: String::new(),
        result,
        journal,
    }
}

/// The quick start's report, as `firedrill run` writes it.
pub fn quickstart_report() -> Report {
    let mut report = single_report(quickstart_run());
    report.generated_at = "2026-11-28T04:30:00Z".to_owned();
    report
}
