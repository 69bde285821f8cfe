//! The score step: the journal is checked as the run left it, and the run's measurements
//! are attributed to the capabilities it exercised and scored (docs/scorecard.md). The
//! reports only render what this step computed.

use std::path::Path;

use crate::journal::JournalCheck;
use crate::result::RunResult;
use crate::result::evidence::input_for_run;
use crate::scorecard::evidence::score_input;
use crate::spec::Spec;

/// Scores a finished run whose journal (closed, and signed if it was to be) is at
/// `journal`: fills `scorecard_input` and `scorecard`.
pub(super) fn score(spec: &Spec, result: &mut RunResult, journal: &Path) {
    let check = JournalCheck::of(journal, "journal.jsonl");
    let input = input_for_run(spec, result, &check);
    result.scorecard = score_input(&input, None);
    result.scorecard_input = Some(input);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::journal::Journal;

    const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");
    const RESULT: &str = include_str!("../../tests/fixtures/results/quickstart-result.json");

    fn unscored() -> (Spec, RunResult) {
        let spec = crate::spec::load_str("quickstart.yaml", QUICKSTART)
            .expect("the quick start is valid")
            .spec;
        let mut result: RunResult = serde_json::from_str(RESULT).expect("a result");
        result.scorecard = None;
        result.scorecard_input = None;
        (spec, result)
    }

    #[test]
    fn a_run_is_scored_from_its_measurements_and_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.record("run-finished", json!({"status": "passed"}), true);
        let (spec, mut result) = unscored();
        score(&spec, &mut result, &path);
        let input = result.scorecard_input.as_ref().expect("the input is kept");
        assert!(result.scorecard.is_some());
        // The same figures the report writer once computed from the same journal.
        let check = JournalCheck::of(&path, "journal.jsonl");
        let expected = input_for_run(&spec, &result, &check);
        assert_eq!(
            serde_json::to_value(input).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
    }

    #[test]
    fn a_journal_that_cannot_be_read_is_scored_as_missing_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, mut result) = unscored();
        score(&spec, &mut result, &dir.path().join("journal.jsonl"));
        let missing = JournalCheck::of(&dir.path().join("journal.jsonl"), "journal.jsonl");
        assert!(!missing.intact);
        let expected = input_for_run(&spec, &result, &missing);
        assert_eq!(
            serde_json::to_value(result.scorecard_input.as_ref().unwrap()).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
    }
}
