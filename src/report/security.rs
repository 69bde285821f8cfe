//! What the reports say about a run's security drills: each detection canary and whether a
//! signal noticed it, each prevention check and what policy answered, and the markers they
//! carried (docs/security-drills.md). Shared by the Markdown, HTML and terminal renderers.

use std::collections::BTreeSet;

use serde::Serialize;

use super::format;
use crate::result::RunResult;
pub use crate::scorecard::CANARY_CAVEAT;

/// One run's detection canaries and prevention checks, over its iterations.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SecurityDrills {
    /// Each canary performed, by iteration.
    pub canaries: Vec<CanaryRow>,
    /// Each prevention check tried, by iteration.
    pub checks: Vec<CheckRow>,
    /// Every marker the drills carried, sorted, once each.
    pub markers: Vec<String>,
    /// Canaries a signal noticed.
    pub noticed: usize,
    /// Prevention checks policy refused.
    pub refused: usize,
}

/// A detection canary of one iteration.
#[derive(Clone, Debug, Serialize)]
pub struct CanaryRow {
    /// From 1.
    pub iteration: u32,
    /// The fault's name.
    pub name: String,
    /// The fault's type.
    pub fault_type: String,
    /// What it did.
    pub actions: Vec<String>,
    /// The markers it carried.
    pub markers: Vec<String>,
    /// Whether a signal it names noticed it.
    pub noticed: bool,
    /// The signal that noticed it.
    pub noticed_by: Option<String>,
    /// Its time to detect, or `not noticed`.
    pub time_to_detect: String,
}

/// A prevention check of one iteration.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    /// From 1.
    pub iteration: u32,
    /// The fault's name.
    pub name: String,
    /// The fault's type.
    pub fault_type: String,
    /// The action tried.
    pub action: String,
    /// Whether policy refused it.
    pub refused: bool,
    /// `refused` or `ACCEPTED`.
    pub outcome: &'static str,
    /// The HTTP status, or `-`.
    pub status: String,
    /// The API's reason, or `-`.
    pub reason: String,
    /// The API's message.
    pub message: String,
    /// What was undone at once after an acceptance.
    pub undone: Vec<String>,
}

impl SecurityDrills {
    /// The drills of a run; `None` when it had none, so that a report without them renders
    /// as it always did.
    pub fn of(result: &RunResult) -> Option<Self> {
        let mut drills = SecurityDrills::default();
        let mut markers = BTreeSet::new();
        for it in &result.iterations {
            for fault in &it.faults {
                if let Some(canary) = fault.canary() {
                    let noticed = fault.noticed();
                    markers.extend(canary.markers.iter().cloned());
                    // A wait cut short by a stop is neither a catch nor a miss, as in the
                    // scorecard, which counts completed iterations only.
                    if noticed.is_none() && !it.status.completed() {
                        continue;
                    }
                    drills.canaries.push(CanaryRow {
                        iteration: it.index,
                        name: fault.name.clone(),
                        fault_type: fault.fault_type.clone(),
                        actions: canary.actions.clone(),
                        markers: canary.markers.clone(),
                        noticed: noticed.is_some(),
                        noticed_by: noticed.map(|(_, by, _)| by.to_owned()),
                        time_to_detect: noticed.map_or_else(
                            || "not noticed".to_owned(),
                            |(_, _, ms)| format::duration_ms(ms),
                        ),
                    });
                }
                if let Some(check) = fault.prevention() {
                    markers.extend(check.markers.iter().cloned());
                    drills.checks.push(CheckRow {
                        iteration: it.index,
                        name: fault.name.clone(),
                        fault_type: fault.fault_type.clone(),
                        action: check.action.clone(),
                        refused: check.refused,
                        outcome: if check.refused { "refused" } else { "ACCEPTED" },
                        status: check
                            .status
                            .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                        reason: check.reason.clone().unwrap_or_else(|| "-".to_owned()),
                        message: check.message.clone(),
                        undone: check.undone.clone(),
                    });
                }
            }
        }
        if drills.canaries.is_empty() && drills.checks.is_empty() {
            return None;
        }
        drills.noticed = drills.canaries.iter().filter(|c| c.noticed).count();
        drills.refused = drills.checks.iter().filter(|c| c.refused).count();
        drills.markers = markers.into_iter().collect();
        Some(drills)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_drills_has_no_section() {
        let run = crate::report::testutil::quickstart_run();
        assert!(SecurityDrills::of(&run.result).is_none());
    }

    #[test]
    fn drills_are_listed_with_their_outcomes_and_markers() {
        let run = crate::report::testutil::security_run();
        let drills = SecurityDrills::of(&run.result).unwrap();
        assert_eq!(drills.canaries.len(), 6);
        assert_eq!(drills.noticed, 4);
        assert_eq!(drills.checks.len(), 6);
        assert_eq!(drills.refused, 5);
        assert_eq!(drills.canaries[0].time_to_detect, "4.2 s");
        assert_eq!(drills.canaries[1].time_to_detect, "not noticed");
        assert!(
            drills.markers.windows(2).all(|w| w[0] < w[1]),
            "sorted, once"
        );
        assert!(
            drills
                .markers
                .iter()
                .all(|m| m.contains("firedrill-canary"))
        );
        // Two canaries missed and one check accepted: the report's findings name them.
        assert_eq!(drills.canaries.iter().filter(|c| !c.noticed).count(), 2);
        assert_eq!(drills.checks.iter().filter(|c| !c.refused).count(), 1);
    }

    #[test]
    fn a_canary_whose_wait_was_cut_short_is_neither_caught_nor_missed() {
        let mut run = crate::report::testutil::security_run();
        let all = SecurityDrills::of(&run.result).unwrap();
        for it in &mut run.result.iterations {
            it.status = crate::result::IterationStatus::Interrupted;
        }
        let cut = SecurityDrills::of(&run.result).unwrap();
        // The noticed canaries stay; the ones still waiting are not counted as misses.
        assert_eq!(cut.noticed, all.noticed);
        assert_eq!(cut.canaries.len(), all.noticed);
        assert!(cut.canaries.iter().all(|c| c.noticed));
        assert_eq!(cut.markers, all.markers);
    }
}
