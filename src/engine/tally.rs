//! What the iterations add up to over the run: latency per probe and phase, the times to
//! detect and recover, the outage, and the first reason the run failed.

use std::time::Duration;

use super::IterationState;
use super::latency_log::PhaseLog;
use crate::measure::{DurationRecorder, ProbeRecorders};
use crate::result::{IterationResult, IterationStatus, PodRecoverySummary, Summary};
use crate::telemetry::metrics::run_metrics;

/// The iterations of a run so far, and what they add up to.
pub(super) struct Tally {
    probes: Vec<String>,
    /// Each iteration's result, in order.
    pub(super) iterations: Vec<IterationResult>,
    /// Per probe, over all iterations.
    pub(super) totals: Vec<ProbeRecorders>,
    /// Per probe and iteration, for latency.hlog.
    pub(super) log: Vec<PhaseLog>,
    pub(super) ttd: DurationRecorder,
    pub(super) ttr: DurationRecorder,
    outage: DurationRecorder,
    /// The first reason the run failed, if an iteration did.
    pub(super) failed_reason: Option<String>,
    /// The traffic over the run, once it stopped.
    pub(super) traffic: Option<crate::result::TrafficSummary>,
    after_count: u64,
    after_errors: u64,
}

impl Tally {
    /// An empty tally over these probes, in the spec's order.
    pub(super) fn new(probes: Vec<String>) -> Self {
        Self {
            totals: vec![ProbeRecorders::default(); probes.len()],
            probes,
            iterations: Vec::new(),
            log: Vec::new(),
            ttd: DurationRecorder::default(),
            ttr: DurationRecorder::default(),
            outage: DurationRecorder::default(),
            failed_reason: None,
            traffic: None,
            after_count: 0,
            after_errors: 0,
        }
    }

    /// Adds an iteration of `experiment` whose phases had `bounds`; `stopped` when the run
    /// stops with it, so that its figures are not counted as a completed iteration's.
    pub(super) fn add(
        &mut self,
        experiment: &str,
        result: IterationResult,
        state: &IterationState,
        bounds: [(Duration, Duration); 3],
        stopped: bool,
    ) {
        let n = result.index;
        for (i, probe) in self.probes.iter().enumerate() {
            self.totals[i].merge(&state.recorders[i]);
            self.log.push(PhaseLog {
                probe: probe.clone(),
                bounds,
                recorders: state.recorders[i].clone(),
                iteration: n,
            });
        }
        let (c, e) = state.recovery.counts();
        self.after_count += c;
        self.after_errors += e;
        let completed = !stopped && result.status != IterationStatus::BaselineFailed;
        let ineffective = result.ineffective_fault();
        if completed && ineffective.is_none() {
            self.record_times(experiment, &result);
        }
        if let Some(f) = ineffective {
            self.failed_reason.get_or_insert(format!(
                "iteration {n}: fault `{}` was not in force, so the iteration shows nothing: {}",
                f.name,
                f.effect.as_ref().map(|e| e.detail()).unwrap_or_default()
            ));
        }
        if let Some(finding) = prevention_finding(&result) {
            self.failed_reason
                .get_or_insert(format!("iteration {n}: {finding}"));
        }
        if result.status == IterationStatus::BaselineFailed {
            self.failed_reason = Some(format!(
                "iteration {n}: the steady state did not hold at baseline, so no fault was injected"
            ));
        } else if result.recovered_at.is_none() && completed {
            self.failed_reason.get_or_insert(format!(
                "iteration {n}: the steady state did not come back within the recovery timeout"
            ));
        }
        self.iterations.push(result);
    }

    fn record_times(&mut self, experiment: &str, result: &IterationResult) {
        let secs = |v: f64| Duration::from_secs_f64(v / 1e3);
        let metrics = run_metrics();
        if let Some(v) = result.time_to_detect_ms {
            metrics.detected(experiment, secs(v));
        }
        if let Some(v) = result.time_to_recover_ms {
            metrics.recovered(experiment, secs(v));
        }
        self.ttd.record(result.time_to_detect_ms.map(secs));
        self.ttr.record(result.time_to_recover_ms.map(secs));
        self.outage.record(Some(secs(result.outage_ms)));
    }

    /// Iterations that ran to their end (passed or failed).
    pub(super) fn completed(&self) -> u32 {
        self.iterations
            .iter()
            .filter(|i| i.status.completed())
            .count() as u32
    }

    /// The run's summary over its iterations.
    pub(super) fn summary(&self) -> Summary {
        let count = |f: fn(&IterationResult) -> bool| {
            self.iterations.iter().filter(|i| f(i)).count() as u32
        };
        Summary {
            iterations: self.completed(),
            detected: count(|i| i.detected_at.is_some()),
            recovered: count(|i| i.recovered_at.is_some()),
            time_to_detect_ms: self.ttd.summary(),
            time_to_recover_ms: self.ttr.summary(),
            outage_ms: self.outage.summary(),
            availability: crate::measure::availability(self.after_count, self.after_errors),
            pod_recovery: PodRecoverySummary::of(&self.iterations),
        }
    }
}

/// The prevention checks of an iteration that policy let through, in one sentence; none
/// when every check was refused.
fn prevention_finding(result: &IterationResult) -> Option<String> {
    let accepted: Vec<String> = result
        .faults
        .iter()
        .filter_map(|f| {
            let p = f.prevention().filter(|p| !p.refused)?;
            let undone = if p.undone.is_empty() {
                String::new()
            } else {
                format!("; undone at once ({})", p.undone.join(", "))
            };
            Some(format!(
                "prevention check `{}` was accepted: {}{undone}",
                f.name, p.action
            ))
        })
        .collect();
    (!accepted.is_empty()).then(|| accepted.join("; and "))
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::fault::security::{PreventionOutcome, SecurityOutcome};
    use crate::result::RunResult;

    const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");
    const RESULT: &str = include_str!("../../tests/fixtures/results/quickstart-result.json");

    fn state() -> IterationState {
        let spec = crate::spec::load_str("quickstart.yaml", QUICKSTART)
            .expect("the quick start is valid")
            .spec;
        IterationState::new(&spec, Instant::now())
    }

    fn tally() -> Tally {
        let probes = state().recorders.len();
        Tally::new((0..probes).map(|i| format!("probe{i}")).collect())
    }

    /// A recovered, detected iteration of the quick start, renumbered.
    fn iteration(n: u32, status: IterationStatus) -> IterationResult {
        let result: RunResult = serde_json::from_str(RESULT).expect("a result");
        let mut it = result.iterations[0].clone();
        it.index = n;
        it.status = status;
        it.faults.clear();
        it
    }

    const BOUNDS: [(Duration, Duration); 3] = [(Duration::ZERO, Duration::ZERO); 3];

    #[test]
    fn completed_iterations_count_toward_the_times_and_the_log() {
        let mut t = tally();
        t.add(
            "x",
            iteration(1, IterationStatus::Passed),
            &state(),
            BOUNDS,
            false,
        );
        t.add(
            "x",
            iteration(2, IterationStatus::Failed),
            &state(),
            BOUNDS,
            true,
        );
        assert_eq!(t.completed(), 2);
        assert_eq!(t.log.len(), 2 * t.totals.len());
        assert_eq!(t.log.last().unwrap().iteration, 2);
        // The stopped iteration's times do not count.
        assert_eq!(t.summary().time_to_detect_ms.count, 1);
        assert_eq!(t.summary().detected, 2);
        assert!(t.failed_reason.is_none());
    }

    #[test]
    fn a_baseline_that_did_not_hold_is_the_reason() {
        let mut t = tally();
        let mut it = iteration(1, IterationStatus::BaselineFailed);
        it.recovered_at = None;
        t.add("x", it, &state(), BOUNDS, false);
        assert_eq!(t.completed(), 0);
        assert_eq!(
            t.failed_reason.as_deref(),
            Some(
                "iteration 1: the steady state did not hold at baseline, so no fault was injected"
            )
        );
    }

    #[test]
    fn the_first_iteration_that_did_not_recover_is_the_reason() {
        let mut t = tally();
        for n in [1, 2] {
            let mut it = iteration(n, IterationStatus::Failed);
            it.recovered_at = None;
            t.add("x", it, &state(), BOUNDS, false);
        }
        assert_eq!(
            t.failed_reason.as_deref(),
            Some("iteration 1: the steady state did not come back within the recovery timeout")
        );
    }

    #[test]
    fn an_accepted_prevention_check_is_a_finding() {
        let mut t = tally();
        let mut it = iteration(1, IterationStatus::Failed);
        let result: RunResult = serde_json::from_str(RESULT).expect("a result");
        let mut fault = result.iterations[0].faults[0].clone();
        fault.name = "privileged".into();
        fault.security = Some(SecurityOutcome::Prevention(PreventionOutcome {
            action: "create pod shop/p (privileged)".into(),
            refused: false,
            status: Some(201),
            reason: None,
            message: String::new(),
            undone: vec!["deleted pod shop/p".into()],
            markers: Vec::new(),
        }));
        it.faults.push(fault);
        t.add("x", it, &state(), BOUNDS, false);
        assert_eq!(
            t.failed_reason.as_deref(),
            Some(
                "iteration 1: prevention check `privileged` was accepted: create pod shop/p (privileged); undone at once (deleted pod shop/p)"
            )
        );
    }
}
