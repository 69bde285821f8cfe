//! One iteration, as its steps: baseline, the fault phase (inject, detect, revert, recover:
//! fault_phase.rs), the verdict on detection and recovery, and the cool-down.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::inputs::{Input, Inputs};
use super::{IterationState, Progress, Runner, Stop, sleep_until_opt};
use crate::detection::kubernetes::WarningEvent;
use crate::detection::signals::Signal;
use crate::fault::FaultContext;
use crate::measure::PhaseRecorder;
use crate::platform::Platform;
use crate::platform::kubernetes::PodRecovery;
use crate::probe::Observation;
use crate::result::{Event, FaultRecord, IterationResult, IterationStatus, SignalFired};
use crate::spec::Spec;
use crate::telemetry::metrics::run_metrics;
use crate::time::ms;

/// An iteration under way.
pub(super) struct Iteration {
    pub(super) n: u32,
    pub(super) state: IterationState,
    pub(super) events: Vec<Event>,
    pub(super) faults: Vec<FaultRecord>,
    /// For each entry of `faults`, its `fault-intent` and `fault-injected` records.
    pub(super) fault_evidence: Vec<Vec<u64>>,
    /// The `alert-received` record of the alert that detected the fault, if one did.
    pub(super) alert_seq: Option<u64>,
    pub(super) status: IterationStatus,
    /// Pods removed by a fault whose replacement is not yet Ready, `namespace/name`.
    pub(super) pending_pods: BTreeSet<String>,
    /// The recovery of each removed pod, as reported.
    pub(super) pod_recovery: Vec<PodRecovery>,
    /// The watches of the kubernetes-event signals, once started, and when.
    pub(super) event_watches: Option<(Instant, Vec<CancellationToken>)>,
    /// The Warning event that detected the fault.
    pub(super) detection_event: Option<WarningEvent>,
    /// The span of the current phase: faults and reverts are its children.
    pub(super) phase: tracing::Span,
}

impl Iteration {
    /// Iteration `n`, whose baseline starts at `start`.
    fn new(n: u32, spec: &Spec, start: Instant) -> Self {
        Self {
            n,
            state: IterationState::new(spec, start),
            events: Vec::new(),
            faults: Vec::new(),
            fault_evidence: Vec::new(),
            alert_seq: None,
            status: IterationStatus::Passed,
            pending_pods: BTreeSet::new(),
            pod_recovery: Vec::new(),
            event_watches: None,
            detection_event: None,
            phase: tracing::Span::none(),
        }
    }
}

impl Runner {
    /// One iteration. Returns its result, its measurements, and why the run must stop.
    pub(super) async fn iteration(
        &mut self,
        n: u32,
        platform: &Platform,
        ctx: &FaultContext,
        inputs: &mut Inputs,
    ) -> (IterationResult, IterationState, Option<Stop>) {
        let mut it = Iteration::new(n, &self.exp.spec, Instant::now());
        let stop = self.steps(&mut it, platform, ctx, inputs).await.err();
        self.finish(it, stop)
    }

    /// The steps of an iteration; why the run must stop, if it must.
    async fn steps(
        &mut self,
        it: &mut Iteration,
        platform: &Platform,
        ctx: &FaultContext,
        inputs: &mut Inputs,
    ) -> Result<(), Stop> {
        if !self.baseline(it, inputs).await? {
            return Ok(());
        }
        self.fault_phase(it, platform, ctx, inputs).await?;
        self.judge(it);
        self.cool_down(it, inputs).await
    }

    /// Baseline: its duration, and at least one observation of every probe (a probe
    /// slower than the baseline still gets its say); whether the steady state held.
    async fn baseline(&mut self, it: &mut Iteration, inputs: &mut Inputs) -> Result<bool, Stop> {
        self.enter_phase(it, "baseline");
        self.traffic_mark(it.state.started, it.n, crate::traffic::Period::Baseline);
        let detail = format!("iteration {}", it.n);
        self.event(it, "baseline-started", json!({}), detail);
        let end = it.state.started + self.exp.spec.steady_state.baseline.get();
        let mut elapsed = false;
        while !(elapsed && it.state.baseline_observed()) {
            tokio::select! {
                biased;
                stop = self.guard.stopped() => return Err(stop),
                () = sleep_until_opt((!elapsed).then_some(end)) => elapsed = true,
                input = inputs.next(true) => self.input(it, input)?,
            }
        }
        let failures = it.state.baseline_failures(&self.exp.spec);
        if !failures.is_empty() {
            it.status = IterationStatus::BaselineFailed;
            let detail = failures.join("; ");
            self.event(it, "baseline-failed", json!({"failures": failures}), detail);
            return Ok(false);
        }
        self.event(it, "baseline-held", json!({}), "steady state held".into());
        Ok(true)
    }

    /// Takes an input during the baseline or the fault phase: an observation counts (and
    /// may breach an abort condition), an event or a signal is recorded.
    pub(super) fn input(&mut self, it: &mut Iteration, input: Input) -> Result<(), Stop> {
        match input {
            Input::ProbeEnded(stop) => return Err(stop),
            Input::Observation(obs) => self.observation(it, &obs)?,
            Input::Platform(ev) => self.platform_event(it, &ev),
            Input::Signal(signal) => self.signal(it, signal)?,
        }
        Ok(())
    }

    fn observation(&mut self, it: &mut Iteration, obs: &Observation) -> Result<(), Stop> {
        self.observed(it, obs);
        let before_detect = it.state.detection.detected.is_some();
        let before_recover = it.state.recovery.recovered.is_some();
        if let Some(reason) = it.state.observe(obs) {
            self.event(
                it,
                "abort-condition",
                json!({"reason": reason}),
                reason.clone(),
            );
            return Err(Stop::Aborted(reason));
        }
        self.note_progress(it, before_detect, before_recover);
        self.tell_responder(it, obs.finished);
        Ok(())
    }

    /// After the fault phase: whether the fault was detected in time, and the iteration
    /// fails when the steady state did not come back.
    fn judge(&mut self, it: &mut Iteration) {
        if let Some(inj) = it.state.injected
            && it.state.detection.detected.is_none()
            && it.state.detection.deadline(inj).is_some()
        {
            let detail = "no detection signal fired before the timeout".into();
            self.event(it, "not-detected", json!({}), detail);
        }
        if it.state.recovery.recovered.is_none() {
            it.status = IterationStatus::Failed;
        }
    }

    /// Cool down between iterations: observations are drained, not recorded.
    async fn cool_down(&mut self, it: &mut Iteration, inputs: &mut Inputs) -> Result<(), Stop> {
        let cooldown = self.exp.spec.cooldown;
        if it.n >= self.iterations || cooldown.is_zero() {
            return Ok(());
        }
        self.enter_phase(it, "cooldown");
        let now = Instant::now();
        self.traffic_mark(now, it.n, crate::traffic::Period::Cooldown);
        let until = now + cooldown.get();
        loop {
            tokio::select! {
                biased;
                stop = self.guard.halted() => return Err(stop),
                () = tokio::time::sleep_until(until) => return Ok(()),
                input = inputs.next(false) => match input {
                    Input::Platform(ev) => self.platform_event(it, &ev),
                    Input::Signal(warning @ Signal::Warning(_)) => self.signal(it, warning)?,
                    // Only a stop condition counts between iterations.
                    Input::Signal(signal) => self.stop_condition(it, &signal)?,
                    Input::Observation(_) | Input::ProbeEnded(_) => {}
                },
            }
        }
    }

    /// Starts the span of a phase (closing the previous one); the probes' requests belong
    /// to it from now on. The person watching sees the phase begin.
    pub(super) fn enter_phase(&self, it: &mut Iteration, name: &'static str) {
        it.phase = tracing::info_span!(
            "phase",
            experiment.name = %self.exp.metadata.name,
            run.id = %self.ids.run_id,
            iteration = it.n,
            phase = name,
        );
        self.ids.trace.enter_phase(&it.phase);
        self.record.progress(&Progress::Phase {
            iteration: it.n,
            of: self.iterations,
            phase: name,
        });
    }

    /// Records an observation's latency in the exported metrics, by the phase it fell in.
    fn observed(&self, it: &Iteration, obs: &Observation) {
        let Some(phase) = it.state.phase_of(obs.started, obs.finished) else {
            return;
        };
        let probe = self.exp.spec.steady_state.probes[obs.probe].name();
        run_metrics().observed(
            &self.exp.metadata.name,
            probe,
            phase.as_str(),
            obs.latency(),
            obs.outcome.ok,
        );
    }

    /// Journals an event of the iteration and returns its record's `seq`.
    pub(super) fn event(
        &mut self,
        it: &mut Iteration,
        kind: &str,
        data: serde_json::Value,
        detail: String,
    ) -> u64 {
        self.event_at(it, Instant::now(), kind, data, detail)
    }

    /// Journals an event of the iteration that happened `at`.
    pub(super) fn event_at(
        &mut self,
        it: &mut Iteration,
        at: Instant,
        kind: &str,
        data: serde_json::Value,
        detail: String,
    ) -> u64 {
        let n = it.n;
        self.record
            .iteration_event(&mut it.events, n, at, kind, data, detail)
    }

    /// Ends the iteration: closes its watches and makes its result.
    fn finish(
        &mut self,
        mut it: Iteration,
        stop: Option<Stop>,
    ) -> (IterationResult, IterationState, Option<Stop>) {
        self.ids.trace.leave();
        match &stop {
            Some(Stop::Interrupted) => it.status = IterationStatus::Interrupted,
            Some(Stop::Aborted(_)) => it.status = IterationStatus::Aborted,
            None => {}
        }
        if let Some((_, tokens)) = &it.event_watches {
            tokens.iter().for_each(CancellationToken::cancel);
        }
        self.settle_canaries(&mut it);
        let result = self.iteration_result(&mut it);
        (result, it.state, stop)
    }

    /// Each canary's record says whether and when a signal noticed it.
    fn settle_canaries(&self, it: &mut Iteration) {
        let clock = self.record.clock;
        for c in it.state.detection.canaries() {
            let Some(record) = it.faults.get_mut(c.record) else {
                continue;
            };
            let noticed = c.noticed.as_ref();
            record.detected_at = Some(noticed.map(|(at, _)| clock.at(*at)));
            record.detected_by = Some(noticed.map(|(_, by)| by.clone()));
            record.time_to_detect_ms =
                Some(noticed.map(|(at, _)| ms(at.saturating_duration_since(c.started))));
        }
    }

    /// Each fault's record takes the probe figures of its window.
    fn record_windows(&self, it: &mut Iteration) {
        let names = self.probe_names();
        let summaries = |recorders: &BTreeMap<usize, PhaseRecorder>| {
            recorders
                .iter()
                .filter_map(|(p, r)| Some((names.get(*p)?.clone(), r.summary())))
                .collect()
        };
        for w in &it.state.windows {
            if let Some(record) = it.faults.get_mut(w.record) {
                record.probes = summaries(&w.probes);
                record.probes_alone = summaries(&w.alone);
            }
        }
    }

    fn iteration_result(&self, it: &mut Iteration) -> IterationResult {
        let mut pod_recovery = std::mem::take(&mut it.pod_recovery);
        // Removed and not replaced (or not Ready) by the end of the iteration.
        pod_recovery.extend(std::mem::take(&mut it.pending_pods).into_iter().map(|pod| {
            PodRecovery {
                pod,
                ..Default::default()
            }
        }));
        self.record_windows(it);
        let clock = self.record.clock;
        let st = &it.state;
        let inj = st.injected;
        let detected = st.detection.detected.clone();
        let signals_fired = inj.map_or_else(Vec::new, |i| {
            st.detection
                .fired()
                .iter()
                .map(|(at, signal)| SignalFired {
                    signal: signal.clone(),
                    at: clock.at(*at),
                    time_to_detect_ms: ms(at.saturating_duration_since(i)),
                })
                .collect()
        });
        let recovered = st.recovery.recovered;
        IterationResult {
            index: it.n,
            status: it.status,
            started_at: clock.at(st.started),
            injected_at: inj.map(|t| clock.at(t)),
            detected_at: detected.as_ref().map(|(t, _)| clock.at(*t)),
            detected_by: detected.as_ref().map(|(_, s)| s.clone()),
            recovered_at: recovered.map(|t| clock.at(t)),
            time_to_detect_ms: inj
                .zip(detected.as_ref())
                .map(|(i, (d, _))| ms(d.saturating_duration_since(i))),
            time_to_recover_ms: inj
                .zip(recovered)
                .map(|(i, r)| ms(r.saturating_duration_since(i))),
            signals_fired,
            outage_ms: ms(if recovered.is_some() {
                st.recovery.outage
            } else {
                st.recovery.outage_until(Instant::now())
            }),
            availability: st.recovery.availability(),
            faults: std::mem::take(&mut it.faults),
            probes: self.probe_summaries(&st.recorders),
            // Filled in when the traffic stops: its last requests may still be in flight.
            traffic: None,
            events: std::mem::take(&mut it.events),
            pod_recovery,
            detection_event: it.detection_event.take(),
            span_id: None,
        }
    }
}
