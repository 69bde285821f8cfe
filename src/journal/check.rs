//! What a run's journal evidences, checked for its report: whether it verifies and ends
//! normally, and whether every injected fault was traced (intent before, revert after).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SignatureCheck;

/// The outcome of checking a run's evidence journal, for the report's evidence section.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalCheck {
    /// The journal's file, relative to the report's folder.
    pub file: String,
    /// Records that verified.
    pub records: u64,
    /// The hash of the last verified record.
    pub head: Option<String>,
    /// No break, not cut, any signature valid.
    pub intact: bool,
    /// The journal ends with its `run-finished` record.
    pub finished: bool,
    /// A valid signature covers the head.
    pub signed: bool,
    /// Faults the journal shows injected.
    pub faults_injected: u32,
    /// Of those, faults whose intent (with its undo) was journaled before the change and whose
    /// revert was journaled after it.
    pub faults_traced: u32,
    /// What verification said, in one sentence.
    pub detail: String,
}

impl JournalCheck {
    /// Verifies the journal at `path` (and its signature, when there is one) and checks that
    /// every injected fault was traced: intent before, revert after. `file` is how the
    /// report names it. A journal that cannot be read is reported as such, never as intact.
    pub fn of(path: &Path, file: &str) -> Self {
        let mut check = JournalCheck {
            file: file.to_owned(),
            ..JournalCheck::default()
        };
        let report = match super::verify(path, None) {
            Ok(report) => report,
            Err(error) => {
                check.detail = format!("cannot read the journal: {error}");
                return check;
            }
        };
        check.records = report.records.len() as u64;
        check.head = report
            .records
            .last()
            .and_then(|r| r.get("hash"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        check.intact = report.intact();
        check.finished = report.finished;
        check.signed = matches!(report.signature, Some(SignatureCheck::Valid { .. }));
        (check.faults_injected, check.faults_traced) = traced_faults(&report.records);
        check.detail = if let Some(broken) = &report.broken {
            format!("broken: {broken}")
        } else if report.truncated_mid_record {
            format!(
                "cut in the middle of a record: the {} records before the cut verify",
                check.records
            )
        } else if let Some(signature) = report.signature.as_ref().filter(|_| !check.intact) {
            format!("the chain verifies but the signature does not: {signature:?}")
        } else if !report.finished {
            format!(
                "{} records verify, but the journal has no run-finished record: the run did not end normally",
                check.records
            )
        } else {
            format!(
                "{} records verify{}",
                check.records,
                if check.signed { ", signed" } else { "" }
            )
        };
        check
    }
}

/// Counts `fault-injected` records, and those with a `fault-intent` for the same fault (with
/// a way to undo it) before them and a `fault-reverted` after them.
fn traced_faults(records: &[Value]) -> (u32, u32) {
    let fault_of = |r: &Value| {
        r.pointer("/data/fault")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    fn kind_of(r: &Value) -> &str {
        r.get("kind").and_then(Value::as_str).unwrap_or_default()
    }
    let (mut injected, mut traced) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        if kind_of(record) != "fault-injected" {
            continue;
        }
        injected += 1;
        let fault = fault_of(record);
        let intent = records[..i].iter().rev().any(|r| {
            kind_of(r) == "fault-intent"
                && fault_of(r) == fault
                && r.pointer("/data/undo")
                    .and_then(Value::as_array)
                    .is_some_and(|undo| !undo.is_empty())
        });
        let reverted = records[i + 1..]
            .iter()
            .any(|r| kind_of(r) == "fault-reverted" && fault_of(r) == fault);
        if intent && reverted {
            traced += 1;
        }
    }
    (injected, traced)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::traced_faults;

    fn rec(kind: &str, fault: &str) -> serde_json::Value {
        json!({"kind": kind, "data": {"fault": fault, "undo": ["SIGCONT"]}})
    }

    #[test]
    fn a_fault_is_traced_only_with_its_intent_before_and_its_revert_after() {
        let records = vec![
            rec("fault-intent", "a"),
            rec("fault-injected", "a"),
            rec("fault-reverted", "a"),
            // Injected without an intent first.
            rec("fault-injected", "b"),
            rec("fault-reverted", "b"),
            // Never reverted.
            rec("fault-intent", "c"),
            rec("fault-injected", "c"),
            // The revert of another fault does not count.
            rec("fault-intent", "d"),
            rec("fault-injected", "d"),
            rec("fault-reverted", "a"),
        ];
        assert_eq!(traced_faults(&records), (4, 1));
    }

    #[test]
    fn an_intent_without_undo_does_not_trace() {
        let records = vec![
            json!({"kind": "fault-intent", "data": {"fault": "a", "undo": []}}),
            rec("fault-injected", "a"),
            rec("fault-reverted", "a"),
        ];
        assert_eq!(traced_faults(&records), (1, 0));
    }
}
