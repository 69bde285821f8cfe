//! The run's status and the one sentence that says why it did not pass.

use super::stop::Stop;
use crate::result::{ObjectiveResult, RollbackResult, RunStatus};

/// The run's status and its reason.
#[derive(Debug, PartialEq)]
pub(super) struct Verdict {
    pub(super) status: RunStatus,
    pub(super) reason: Option<String>,
}

/// A failed rollback outweighs everything, then a stop, then a failed iteration or a missed
/// objective; `failed_reason` is the first iteration that failed.
pub(super) fn verdict(
    rollback: &RollbackResult,
    stop: Option<&Stop>,
    failed_reason: Option<String>,
    objectives: &[ObjectiveResult],
) -> Verdict {
    let status = if !rollback.failed.is_empty() {
        RunStatus::RollbackFailed
    } else {
        match stop {
            Some(Stop::Interrupted) => RunStatus::Interrupted,
            Some(Stop::Aborted(_)) => RunStatus::Aborted,
            None if failed_reason.is_some() || objectives.iter().any(|o| !o.met) => {
                RunStatus::Failed
            }
            None => RunStatus::Passed,
        }
    };
    let reason = match (&status, stop) {
        (RunStatus::RollbackFailed, _) => Some(format!(
            "rollback failed, the target may be left changed: {}",
            rollback.failed.join("; ")
        )),
        (_, Some(Stop::Interrupted)) => {
            Some("interrupted by a signal; everything was reverted".to_owned())
        }
        (_, Some(Stop::Aborted(r))) => Some(format!("{r}; everything was reverted")),
        (RunStatus::Failed, None) => failed_reason.or_else(|| {
            let missed: Vec<_> = objectives
                .iter()
                .filter(|o| !o.met)
                .map(|o| o.name.clone())
                .collect();
            Some(format!("objectives missed: {}", missed.join(", ")))
        }),
        _ => None,
    };
    Verdict { status, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective(name: &str, met: bool) -> ObjectiveResult {
        ObjectiveResult {
            name: name.to_owned(),
            target: "<= 1s".to_owned(),
            measured: Some(1.0),
            unit: "ms".to_owned(),
            met,
        }
    }

    fn rollback(failed: &[&str]) -> RollbackResult {
        RollbackResult {
            failed: failed.iter().map(|f| (*f).to_owned()).collect(),
            ..RollbackResult::default()
        }
    }

    #[test]
    fn a_run_that_met_everything_passes() {
        let v = verdict(&rollback(&[]), None, None, &[objective("a", true)]);
        assert_eq!(
            v,
            Verdict {
                status: RunStatus::Passed,
                reason: None
            }
        );
    }

    #[test]
    fn a_failed_rollback_outweighs_a_stop() {
        let stop = Stop::Interrupted;
        let v = verdict(&rollback(&["kill: gone"]), Some(&stop), None, &[]);
        assert_eq!(v.status, RunStatus::RollbackFailed);
        assert_eq!(
            v.reason.as_deref(),
            Some("rollback failed, the target may be left changed: kill: gone")
        );
    }

    #[test]
    fn a_stop_says_everything_was_reverted() {
        let v = verdict(&rollback(&[]), Some(&Stop::Interrupted), None, &[]);
        assert_eq!(v.status, RunStatus::Interrupted);
        assert_eq!(
            v.reason.as_deref(),
            Some("interrupted by a signal; everything was reverted")
        );
        let aborted = Stop::Aborted("a probe task panicked".into());
        let v = verdict(&rollback(&[]), Some(&aborted), Some("x".into()), &[]);
        assert_eq!(v.status, RunStatus::Aborted);
        assert_eq!(
            v.reason.as_deref(),
            Some("a probe task panicked; everything was reverted")
        );
    }

    #[test]
    fn a_failed_iteration_comes_before_the_missed_objectives() {
        let objectives = [objective("a", false), objective("b", true)];
        let v = verdict(
            &rollback(&[]),
            None,
            Some("iteration 1: x".into()),
            &objectives,
        );
        assert_eq!(v.status, RunStatus::Failed);
        assert_eq!(v.reason.as_deref(), Some("iteration 1: x"));
        let v = verdict(&rollback(&[]), None, None, &objectives);
        assert_eq!(v.reason.as_deref(), Some("objectives missed: a"));
    }
}
