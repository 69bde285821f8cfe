//! The fault phase: each fault injected and reverted on its schedule while detection and
//! recovery are watched; it ends once the faults are reverted, the steady state is back
//! (or its timeout passed), the removed pods are replaced (or theirs did), and detection
//! is resolved.

use std::sync::Arc;

use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::inputs::Inputs;
use super::iterate::Iteration;
use super::schedule::Schedule;
use super::{Runner, Stop, sleep_until_opt};
use crate::error::chain;
use crate::fault::{Effect, Fault, FaultContext};
use crate::platform::Platform;

/// The state of a fault phase under way.
struct FaultPhase {
    schedule: Schedule,
    /// The runtime faults, each until it is reverted.
    faults: Vec<Option<Arc<dyn Fault>>>,
    /// Set when the last fault is reverted; cleared once it passes.
    recovery_deadline: Option<Instant>,
    /// Pods removed by the faults are waited for up to the recovery timeout, so that
    /// their figures belong to this iteration.
    pods_deadline: Option<Instant>,
    /// A deadline that has passed stays ready: each is armed once, or the biased select
    /// would take it again and again and never reach the observations.
    detection_deadline_seen: Option<Instant>,
    /// The checks of the faults injected, running beside the phase: each gives the index
    /// of its fault's record and what it found.
    checks: tokio::task::JoinSet<(usize, Effect)>,
    /// Per spec fault, its check while it runs, and its record's index.
    pending_checks: Vec<Option<(tokio::task::AbortHandle, usize)>>,
}

impl FaultPhase {
    /// Whether the phase is over at `now`.
    fn done(&self, it: &Iteration, now: Instant) -> bool {
        let st = &it.state;
        self.checks.is_empty()
            && st.fault_ended.is_some()
            && (st.recovery.recovered.is_some() || self.recovery_deadline.is_none())
            && (it.pending_pods.is_empty() || self.pods_deadline.is_none())
            && st
                .injected
                .is_none_or(|inj| st.detection.resolved(inj, now))
    }
}

impl Runner {
    /// Inject, detect, revert, recover.
    pub(super) async fn fault_phase(
        &mut self,
        it: &mut Iteration,
        platform: &Platform,
        ctx: &FaultContext,
        inputs: &mut Inputs,
    ) -> Result<(), Stop> {
        let faults = self.build_faults(platform, ctx)?;
        let windows = self
            .exp
            .spec
            .faults
            .iter()
            .map(|f| (f.at().get(), f.duration().get()));
        let mut phase = FaultPhase {
            schedule: Schedule::new(windows, Instant::now()),
            pending_checks: (0..faults.len()).map(|_| None).collect(),
            faults,
            recovery_deadline: None,
            pods_deadline: None,
            detection_deadline_seen: None,
            checks: tokio::task::JoinSet::new(),
        };
        self.enter_phase(it, "fault");
        loop {
            let next_action = phase.schedule.next_at();
            let detection_deadline = it
                .state
                .injected
                .and_then(|t| it.state.detection.deadline(t))
                .filter(|d| Some(*d) != phase.detection_deadline_seen);
            // Each canary leaves the wait once its deadline is taken, so this one is
            // never offered twice.
            let canary_deadline = it.state.detection.canary_deadline();
            let recovery_deadline = phase
                .recovery_deadline
                .filter(|_| it.state.recovery.recovered.is_none());
            let pods_deadline = phase.pods_deadline.filter(|_| !it.pending_pods.is_empty());
            tokio::select! {
                biased;
                stop = self.guard.stopped() => return Err(stop),
                () = sleep_until_opt(next_action) => self.act(it, &mut phase, platform).await?,
                // Timed out; `resolved` now reports it and the phase may end.
                () = sleep_until_opt(detection_deadline) => {
                    phase.detection_deadline_seen = detection_deadline;
                }
                () = sleep_until_opt(canary_deadline) => {
                    self.note_missed_canaries(it, Instant::now());
                }
                () = sleep_until_opt(recovery_deadline) => self.not_recovered(it, &mut phase),
                () = sleep_until_opt(pods_deadline) => self.pods_not_recovered(it, &mut phase),
                Some(joined) = phase.checks.join_next(), if !phase.checks.is_empty() => {
                    self.check_done(it, &mut phase, joined);
                }
                input = inputs.next(true) => self.input(it, input)?,
            }
            if phase.done(it, Instant::now()) {
                return Ok(());
            }
        }
    }

    /// The runtime fault of every spec fault, in order.
    fn build_faults(
        &self,
        platform: &Platform,
        ctx: &FaultContext,
    ) -> Result<Vec<Option<Arc<dyn Fault>>>, Stop> {
        self.exp
            .spec
            .faults
            .iter()
            .map(|f| {
                (self.faults.build)(f, platform, ctx)
                    .map(Some)
                    .map_err(|e| Stop::Aborted(chain(&e)))
            })
            .collect()
    }

    /// Takes the schedule's next step: an injection or a revert. After the last step the
    /// recovery phase begins.
    async fn act(
        &mut self,
        it: &mut Iteration,
        phase: &mut FaultPhase,
        platform: &Platform,
    ) -> Result<(), Stop> {
        let Some(step) = phase.schedule.take() else {
            return Ok(());
        };
        let Some(f) = phase.faults[step.fault].clone() else {
            return Ok(());
        };
        let spec = &self.exp.spec.faults[step.fault];
        let name = spec.name().to_owned();
        if step.inject {
            let span = tracing::info_span!(
                parent: &it.phase,
                "fault",
                experiment.name = %self.exp.metadata.name,
                run.id = %self.ids.run_id,
                iteration = it.n,
                fault.name = %name,
                "fault.type" = spec.type_name(),
                error = tracing::field::Empty,
            );
            let index = self
                .inject(it, step.fault, f.clone(), platform)
                .instrument(span)
                .await?;
            // The check looks beside the phase, so that probes and signals are taken as
            // they come while it looks.
            let handle = phase.checks.spawn(async move { (index, f.verify().await) });
            phase.pending_checks[step.fault] = Some((handle, index));
        } else {
            phase.faults[step.fault] = None;
            // A check still looking when its fault ends can no longer see it, unless the
            // change outlasts the revert.
            if !f.outlives_revert()
                && let Some((handle, index)) = phase.pending_checks[step.fault].take()
                && !handle.is_finished()
            {
                handle.abort();
                self.checked(
                    it,
                    index,
                    Effect::unverified(format!(
                        "the fault ended before its check could see it (checks look for up to {} s)",
                        crate::fault::effect::CHECK_WINDOW.as_secs()
                    )),
                );
            }
            let span = it.phase.clone();
            self.revert(it, &name, &f).instrument(span).await;
        }
        if phase.schedule.is_done() {
            self.begin_recovery(it, phase);
        }
        Ok(())
    }

    /// A check came back: its finding is the fault's effect. A check that panicked leaves
    /// its fault unverified; one aborted at its fault's end was recorded then.
    fn check_done(
        &mut self,
        it: &mut Iteration,
        phase: &mut FaultPhase,
        joined: Result<(usize, Effect), tokio::task::JoinError>,
    ) {
        match joined {
            Ok((index, effect)) => {
                for slot in &mut phase.pending_checks {
                    if slot.as_ref().is_some_and(|(_, i)| *i == index) {
                        *slot = None;
                    }
                }
                // Recorded already when its fault ended first.
                if it.faults.get(index).is_some_and(|f| f.effect.is_none()) {
                    self.checked(it, index, effect);
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                let id = e.id();
                let found = phase
                    .pending_checks
                    .iter_mut()
                    .find(|slot| slot.as_ref().is_some_and(|(h, _)| h.id() == id))
                    .and_then(Option::take);
                if let Some((_, index)) = found {
                    self.checked(
                        it,
                        index,
                        Effect::unverified(format!("its check failed: {e}")),
                    );
                }
            }
        }
    }

    /// Every fault is reverted: the recovery phase begins, and its timeout runs.
    fn begin_recovery(&mut self, it: &mut Iteration, phase: &mut FaultPhase) {
        let now = Instant::now();
        it.state.fault_ended = Some(now);
        self.traffic_mark(now, it.n, crate::traffic::Period::Recovery);
        phase.recovery_deadline = Some(now + self.exp.spec.recovery.timeout.get());
        phase.pods_deadline = phase.recovery_deadline;
        self.enter_phase(it, "recovery");
        let detail = "all faults reverted".into();
        self.event(it, "recovery-started", json!({}), detail);
        it.state.recovery.check(now, it.state.fault_ended);
    }

    fn not_recovered(&mut self, it: &mut Iteration, phase: &mut FaultPhase) {
        let recovery = &self.exp.spec.recovery;
        let data = json!({"timeout": recovery.timeout.to_string()});
        let detail = format!(
            "steady state did not hold for {} within {}",
            recovery.stable_for, recovery.timeout
        );
        self.event(it, "not-recovered", data, detail);
        phase.recovery_deadline = None;
    }

    fn pods_not_recovered(&mut self, it: &mut Iteration, phase: &mut FaultPhase) {
        let pods: Vec<String> = it.pending_pods.iter().cloned().collect();
        let detail = format!(
            "{} not replaced by a Ready pod within {}",
            pods.join(", "),
            self.exp.spec.recovery.timeout
        );
        self.event(it, "pods-not-recovered", json!({"pods": pods}), detail);
        phase.pods_deadline = None;
    }
}
