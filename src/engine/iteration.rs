//! The bookkeeping of one iteration: phases, detection, recovery and abort conditions.
//! Pure state updated from observations, so that it can be tested without processes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::measure::{PhaseRecorder, ProbeRecorders};
use crate::probe::Observation;
use crate::spec::{AbortCondition, DetectionSignal, Phase, Spec};

/// What the observations of an iteration say.
#[derive(Debug)]
pub struct IterationState {
    /// When the baseline began.
    pub started: Instant,
    /// The first injection.
    pub injected: Option<Instant>,
    /// The end of the fault phase (last revert).
    pub fault_ended: Option<Instant>,
    /// Per probe, per phase.
    pub recorders: Vec<ProbeRecorders>,
    /// Detection progress.
    pub detection: DetectionState,
    /// Recovery progress.
    pub recovery: RecoveryState,
    /// Each injected fault's window and the observations made in it, in injection order.
    pub windows: Vec<FaultWindow>,
    aborts: Vec<AbortState>,
    interval: Duration,
}

impl IterationState {
    /// A new iteration whose baseline starts now.
    pub fn new(spec: &Spec, started: Instant) -> Self {
        let probes = spec.steady_state.probes.len();
        let detection_signals = spec
            .detection
            .as_ref()
            .map(|d| d.signals.clone())
            .unwrap_or_default();
        let probe_index = |name: &str| {
            spec.steady_state
                .probes
                .iter()
                .position(|p| p.name() == name)
        };
        Self {
            started,
            injected: None,
            fault_ended: None,
            recorders: vec![ProbeRecorders::default(); probes],
            detection: DetectionState {
                signals: detection_signals
                    .into_iter()
                    .map(|s| {
                        let probe = match &s {
                            DetectionSignal::ProbeFails(p) => probe_index(&p.probe),
                            DetectionSignal::Webhook(_)
                            | DetectionSignal::KubernetesEvent(_)
                            | DetectionSignal::AlertmanagerAlert(_)
                            | DetectionSignal::PrometheusAlert(_) => None,
                        };
                        (s, probe, 0)
                    })
                    .collect(),
                default_timeout: spec
                    .detection
                    .as_ref()
                    .map_or(Duration::ZERO, |d| d.timeout.get()),
                detected: None,
                fired: Vec::new(),
                canaries: Vec::new(),
            },
            recovery: RecoveryState {
                stable_for: spec.recovery.stable_for.get(),
                failing: vec![false; probes],
                stable_since: None,
                unstable_since: None,
                outage: Duration::ZERO,
                recovered: None,
                after_inject_count: 0,
                after_inject_errors: 0,
            },
            windows: Vec::new(),
            aborts: spec
                .safety
                .abort_when
                .iter()
                .filter_map(|c| {
                    probe_index(c.probe()).map(|p| AbortState {
                        condition: c.clone(),
                        probe: p,
                        consecutive: 0,
                        window: VecDeque::new(),
                    })
                })
                .collect(),
            interval: spec.steady_state.interval.get(),
        }
    }

    /// The phase an observation belongs to, or None when it started before the iteration.
    /// An observation that overlaps the fault window at all belongs to the fault phase: a
    /// request in flight when the fault struck, or still running when it ended, saw it.
    pub fn phase_of(&self, started: Instant, finished: Instant) -> Option<Phase> {
        if started < self.started {
            return None;
        }
        match self.injected {
            None => Some(Phase::Baseline),
            Some(inj) if finished < inj => Some(Phase::Baseline),
            Some(_) if self.fault_ended.is_some_and(|end| started >= end) => Some(Phase::Recovery),
            Some(_) => Some(Phase::Fault),
        }
    }

    /// Marks the first injection.
    pub fn mark_injected(&mut self, t: Instant) {
        if self.injected.is_none() {
            self.injected = Some(t);
            self.recovery.stable_since = Some(t);
        }
    }

    /// Opens the window of the fault whose record is `record` among the iteration's
    /// faults, injected at `t`.
    pub fn open_window(&mut self, record: usize, t: Instant) {
        self.windows.push(FaultWindow {
            record,
            injected: t,
            reverted: None,
            probes: BTreeMap::new(),
            alone: BTreeMap::new(),
        });
    }

    /// Closes the window of the fault whose record is `record`, reverted at `t`.
    pub fn close_window(&mut self, record: usize, t: Instant) {
        if let Some(w) = self
            .windows
            .iter_mut()
            .find(|w| w.record == record && w.reverted.is_none())
        {
            w.reverted = Some(t);
        }
    }

    /// Records an observation; returns the abort condition it breached, if any.
    pub fn observe(&mut self, obs: &Observation) -> Option<String> {
        let phase = self.phase_of(obs.started, obs.finished)?;
        self.recorders[obs.probe].phase_mut(phase).record(
            obs.latency(),
            obs.outcome.ok,
            self.interval,
        );
        if phase == Phase::Baseline {
            return None;
        }
        self.record_in_windows(obs);
        if let Some(injected) = self.injected {
            self.detection.observe(obs, injected);
        }
        self.recovery.observe(obs, self.fault_ended);
        self.aborts.iter_mut().find_map(|a| a.observe(obs))
    }

    /// Records an observation in the window of every fault it overlaps, and in that fault's
    /// alone window when it overlaps no other. A window is known from its injection on, and
    /// an observation is taken in only after it finished, so a fault injected later cannot
    /// overlap it.
    fn record_in_windows(&mut self, obs: &Observation) {
        let holding: Vec<usize> = (0..self.windows.len())
            .filter(|i| self.windows[*i].overlaps(obs.started, obs.finished))
            .collect();
        let alone = holding.len() == 1;
        for i in holding {
            let w = &mut self.windows[i];
            let (latency, ok) = (obs.latency(), obs.outcome.ok);
            w.probes
                .entry(obs.probe)
                .or_default()
                .record(latency, ok, self.interval);
            if alone {
                w.alone
                    .entry(obs.probe)
                    .or_default()
                    .record(latency, ok, self.interval);
            }
        }
    }

    /// Whether every probe has made at least one baseline observation.
    pub fn baseline_observed(&self) -> bool {
        self.recorders
            .iter()
            .all(|r| r.phase(Phase::Baseline).count() > 0)
    }

    /// Whether every probe met its baseline success ratio; the failures otherwise.
    pub fn baseline_failures(&self, spec: &Spec) -> Vec<String> {
        spec.steady_state
            .probes
            .iter()
            .zip(&self.recorders)
            .filter_map(|(p, r)| {
                let rec = r.phase(Phase::Baseline);
                let ratio = crate::measure::availability(rec.count(), rec.errors());
                match ratio {
                    None => Some(format!("probe `{}` made no observation", p.name())),
                    Some(r) if r + 1e-9 < p.min_success_ratio() => Some(format!(
                        "probe `{}` passed {:.1}% of {} observations, below {:.1}%",
                        p.name(),
                        r * 100.0,
                        rec.count(),
                        p.min_success_ratio() * 100.0
                    )),
                    Some(_) => None,
                }
            })
            .collect()
    }
}

/// One fault's window in an iteration, from its injection to its revert, and the
/// observations that overlapped it; per probe, recorders are made at its first observation.
#[derive(Debug)]
pub struct FaultWindow {
    /// Its fault's record's index among the iteration's faults.
    pub record: usize,
    /// When the fault was injected.
    pub injected: Instant,
    /// When it was reverted; none while it holds.
    pub reverted: Option<Instant>,
    /// Probe index → the observations that overlapped the window.
    pub probes: BTreeMap<usize, PhaseRecorder>,
    /// Probe index → those of them that overlapped no other fault's window.
    pub alone: BTreeMap<usize, PhaseRecorder>,
}

impl FaultWindow {
    /// Whether an observation overlaps the window, by the rule of
    /// [`IterationState::phase_of`]: a request in flight at either end saw the fault.
    fn overlaps(&self, started: Instant, finished: Instant) -> bool {
        finished >= self.injected && self.reverted.is_none_or(|end| started < end)
    }
}

/// Detection signals, the first that fired, and the detection canaries waiting for theirs.
#[derive(Debug)]
pub struct DetectionState {
    signals: Vec<(DetectionSignal, Option<usize>, u32)>,
    default_timeout: Duration,
    /// When and by which signal.
    pub detected: Option<(Instant, String)>,
    /// Each signal's first firing that came in time, in the order they were taken in.
    fired: Vec<(Instant, String)>,
    canaries: Vec<CanaryWatch>,
}

/// A detection canary performed in the iteration, and whether one of its signals noticed it.
#[derive(Clone, Debug)]
pub struct CanaryWatch {
    /// Its record's index among the iteration's faults.
    pub record: usize,
    /// The fault's name.
    pub name: String,
    /// The signals that count as noticing it; any signal when empty.
    pub signals: Vec<String>,
    /// When firedrill began to perform it: its time to detect counts from here.
    pub started: Instant,
    /// When the last signal that counts times out.
    pub deadline: Instant,
    /// When and by which signal it was noticed.
    pub noticed: Option<(Instant, String)>,
    /// Whether its outcome (noticed or missed) has been taken for the journal.
    pub settled: bool,
}

impl DetectionState {
    fn observe(&mut self, obs: &Observation, injected: Instant) {
        let mut fired = Vec::new();
        for (signal, probe, consecutive) in &mut self.signals {
            let DetectionSignal::ProbeFails(s) = signal else {
                continue;
            };
            if *probe != Some(obs.probe) {
                continue;
            }
            if obs.outcome.ok {
                *consecutive = 0;
            } else {
                *consecutive += 1;
                if *consecutive < s.consecutive {
                    continue;
                }
                fired.push(s.name.clone());
            }
        }
        // In the signals' order, so that the first that fires in time is the detection.
        // The signal keeps firing while the failures go on, so a canary performed later
        // is noticed by the next failing observation after it.
        for name in fired {
            self.detect(obs.finished, injected, &name);
            self.fire_canaries(obs.finished, &name);
        }
    }

    /// The timeout of the signal named `name`, if there is one.
    fn timeout_of(&self, name: &str) -> Option<Duration> {
        self.signals
            .iter()
            .find(|(s, _, _)| s.name() == name)
            .map(|(s, _, _)| s.timeout().map_or(self.default_timeout, |t| t.get()))
    }

    /// Records a detection by an alert signal (webhook or polling) named `signal`, if it
    /// came within that signal's timeout; and notices the canaries it counts for.
    pub fn fire(&mut self, at: Instant, injected: Instant, signal: &str) {
        self.detect(at, injected, signal);
        self.fire_canaries(at, signal);
    }

    /// Records the iteration's detection by the signal `signal` fired at `at`, if it is the
    /// first and came within that signal's timeout; whether it did. The firing is noted as
    /// the signal's own either way.
    pub fn detect(&mut self, at: Instant, injected: Instant, signal: &str) -> bool {
        if self.note_firing(at, injected, signal) && self.detected.is_none() {
            self.detected = Some((at, signal.to_owned()));
            return true;
        }
        false
    }

    /// Notes the signal `signal` fired at `at` as its first firing, if it came after the
    /// injection and within that signal's timeout and is its first; whether it came in time.
    /// The iteration's detection is left as it is.
    pub fn note_firing(&mut self, at: Instant, injected: Instant, signal: &str) -> bool {
        let Some(timeout) = self.timeout_of(signal) else {
            return false;
        };
        let in_time = at >= injected && at <= injected + timeout;
        if in_time && !self.fired.iter().any(|(_, s)| s == signal) {
            self.fired.push((at, signal.to_owned()));
        }
        in_time
    }

    /// Each signal's first firing that came in time, in the order they were taken in; the
    /// first is the detection, unless an alert's first matching signal had timed out.
    pub fn fired(&self) -> &[(Instant, String)] {
        &self.fired
    }

    /// Notices, with the signal `signal` fired at `at`, every canary still waiting that
    /// counts it, was performed before `at`, and whose wait for that signal has not timed
    /// out. The iteration's own detection is left as it is.
    pub fn fire_canaries(&mut self, at: Instant, signal: &str) {
        let Some(timeout) = self.timeout_of(signal) else {
            return;
        };
        for c in &mut self.canaries {
            let counts = c.signals.is_empty() || c.signals.iter().any(|s| s == signal);
            if c.noticed.is_none()
                && !c.settled
                && counts
                && at >= c.started
                && at <= c.started + timeout
            {
                c.noticed = Some((at, signal.to_owned()));
            }
        }
    }

    /// Starts waiting for the signals that must notice a canary performed from `started`;
    /// `signals` empty means any signal.
    pub fn add_canary(&mut self, record: usize, name: &str, signals: &[String], started: Instant) {
        let longest = self
            .signals
            .iter()
            .filter(|(s, _, _)| signals.is_empty() || signals.iter().any(|n| n == s.name()))
            .map(|(s, _, _)| s.timeout().map_or(self.default_timeout, |t| t.get()))
            .max()
            .unwrap_or(Duration::ZERO);
        self.canaries.push(CanaryWatch {
            record,
            name: name.to_owned(),
            signals: signals.to_vec(),
            started,
            deadline: started + longest,
            noticed: None,
            settled: false,
        });
    }

    /// The canaries performed so far, in order.
    pub fn canaries(&self) -> &[CanaryWatch] {
        &self.canaries
    }

    /// When the first canary began, if one was performed.
    pub fn first_canary(&self) -> Option<Instant> {
        self.canaries.iter().map(|c| c.started).min()
    }

    /// The canaries noticed since the last call, now settled.
    pub fn take_noticed(&mut self) -> Vec<CanaryWatch> {
        self.canaries
            .iter_mut()
            .filter(|c| c.noticed.is_some() && !c.settled)
            .map(|c| {
                c.settled = true;
                c.clone()
            })
            .collect()
    }

    /// The canaries whose deadline has passed at `now` unnoticed, now settled.
    pub fn take_missed(&mut self, now: Instant) -> Vec<CanaryWatch> {
        self.canaries
            .iter_mut()
            .filter(|c| c.noticed.is_none() && !c.settled && c.deadline <= now)
            .map(|c| {
                c.settled = true;
                c.clone()
            })
            .collect()
    }

    /// The earliest deadline of a canary still waiting to be noticed. A canary leaves the
    /// wait once settled, so a deadline that has passed is not offered again.
    pub fn canary_deadline(&self) -> Option<Instant> {
        self.canaries
            .iter()
            .filter(|c| c.noticed.is_none() && !c.settled)
            .map(|c| c.deadline)
            .min()
    }

    /// The webhook signals and their label matchers.
    pub fn webhook_signals(&self) -> impl Iterator<Item = &crate::spec::WebhookSignal> {
        self.signals.iter().filter_map(|(s, _, _)| match s {
            DetectionSignal::Webhook(w) => Some(w),
            _ => None,
        })
    }

    /// Whether detection is settled at `now`: the fault detected, every signal timed out,
    /// or none configured; and every canary noticed or past its deadline (and settled).
    pub fn resolved(&self, injected: Instant, now: Instant) -> bool {
        self.deadline(injected).is_none_or(|d| now >= d) && self.canaries.iter().all(|c| c.settled)
    }

    /// When the last signal times out, while nothing has been detected.
    pub fn deadline(&self, injected: Instant) -> Option<Instant> {
        if self.detected.is_some() {
            return None;
        }
        self.signals
            .iter()
            .map(|(s, _, _)| s.timeout().map_or(self.default_timeout, |t| t.get()))
            .max()
            .map(|t| injected + t)
    }
}

/// Whether the steady state holds again, and for how long it did not.
#[derive(Debug)]
pub struct RecoveryState {
    stable_for: Duration,
    failing: Vec<bool>,
    stable_since: Option<Instant>,
    unstable_since: Option<Instant>,
    /// Total time the steady state did not hold after injection.
    pub outage: Duration,
    /// Start of the first window in which the steady state held for `stableFor`, after
    /// the faults ended.
    pub recovered: Option<Instant>,
    after_inject_count: u64,
    after_inject_errors: u64,
}

impl RecoveryState {
    fn observe(&mut self, obs: &Observation, fault_ended: Option<Instant>) {
        if self.recovered.is_none() {
            self.after_inject_count += 1;
            if !obs.outcome.ok {
                self.after_inject_errors += 1;
            }
        }
        let all_passing_before = !self.failing.iter().any(|f| *f);
        self.failing[obs.probe] = !obs.outcome.ok;
        if !obs.outcome.ok {
            if all_passing_before {
                self.unstable_since = Some(obs.started);
            }
            self.stable_since = None;
        } else if !self.failing.iter().any(|f| *f) && self.stable_since.is_none() {
            self.stable_since = Some(obs.started);
            if let Some(since) = self.unstable_since.take() {
                self.outage += obs.started.saturating_duration_since(since);
            }
        }
        self.check(obs.finished, fault_ended);
    }

    /// Declares recovery once the faults have ended and the steady state has held for
    /// `stableFor` since then. The window may have begun while the last faults were still in
    /// place (they did no harm), and its start is the time of recovery; but it must also
    /// cover `stableFor` after the faults ended, so that the recovery phase is observed.
    pub fn check(&mut self, now: Instant, fault_ended: Option<Instant>) {
        let Some(ended) = fault_ended else { return };
        if self.recovered.is_some() {
            return;
        }
        if let Some(since) = self.stable_since
            && now.saturating_duration_since(since.max(ended)) >= self.stable_for
        {
            self.recovered = Some(since);
        }
    }

    /// Outage so far, counting a deviation still open at `now`.
    pub fn outage_until(&self, now: Instant) -> Duration {
        self.outage
            + self
                .unstable_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Share of passing observations from injection to recovery.
    pub fn availability(&self) -> Option<f64> {
        crate::measure::availability(self.after_inject_count, self.after_inject_errors)
    }

    /// Observations and failures from injection to recovery.
    pub fn counts(&self) -> (u64, u64) {
        (self.after_inject_count, self.after_inject_errors)
    }
}

#[derive(Debug)]
struct AbortState {
    condition: AbortCondition,
    probe: usize,
    consecutive: u32,
    window: VecDeque<(Instant, bool)>,
}

impl AbortState {
    fn observe(&mut self, obs: &Observation) -> Option<String> {
        if obs.probe != self.probe {
            return None;
        }
        match &self.condition {
            AbortCondition::ConsecutiveFailures(c) => {
                self.consecutive = if obs.outcome.ok {
                    0
                } else {
                    self.consecutive + 1
                };
                (self.consecutive >= c.count).then(|| {
                    format!(
                        "probe `{}` failed {} times in a row (abort limit {})",
                        c.probe, self.consecutive, c.count
                    )
                })
            }
            AbortCondition::SuccessRatio(c) => {
                self.window.push_back((obs.finished, obs.outcome.ok));
                let window = c.window.get();
                while let Some((t, _)) = self.window.front() {
                    if obs.finished.saturating_duration_since(*t) > window {
                        self.window.pop_front();
                    } else {
                        break;
                    }
                }
                let span = self
                    .window
                    .front()
                    .map(|(t, _)| obs.finished.saturating_duration_since(*t))
                    .unwrap_or_default();
                // Judge only a full window, so one early failure does not abort.
                if span + obs.latency() < window.mul_f64(0.9) {
                    return None;
                }
                let ok = self.window.iter().filter(|(_, ok)| *ok).count();
                let ratio = ok as f64 / self.window.len() as f64;
                (ratio < c.below).then(|| {
                    format!(
                        "probe `{}` passed {:.1}% over {}, below the abort limit {:.1}%",
                        c.probe,
                        ratio * 100.0,
                        c.window,
                        c.below * 100.0
                    )
                })
            }
            AbortCondition::Latency(c) => (obs.latency() > c.above.get()).then(|| {
                format!(
                    "probe `{}` took {:.1}ms, above the abort limit {}",
                    c.probe,
                    obs.latency().as_secs_f64() * 1e3,
                    c.above
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Outcome;

    fn spec(yaml_extra: &str) -> Spec {
        let text = format!(
            r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {{name: t}}
spec:
  target:
    platform: local
    workloads: [{{name: web, command: [x]}}]
  steadyState:
    interval: 10ms
    probes: [{{name: api, type: tcp, address: "127.0.0.1:1"}}]
  faults: [{{name: k, type: process-kill, select: {{mode: one, workload: web}}}}]
  recovery: {{stableFor: 100ms}}
{yaml_extra}
"#
        );
        serde_saphyr::from_str::<crate::spec::Experiment>(&text)
            .unwrap()
            .spec
    }

    fn obs(t0: Instant, start_ms: u64, ok: bool) -> Observation {
        Observation {
            probe: 0,
            started: t0 + Duration::from_millis(start_ms),
            finished: t0 + Duration::from_millis(start_ms + 1),
            outcome: if ok {
                Outcome::pass()
            } else {
                Outcome::fail("x")
            },
        }
    }

    #[test]
    fn recovery_and_outage_follow_ground_truth() {
        let s = spec(
            "  detection: {timeout: 1s, signals: [{name: mon, type: probe-fails, probe: api, consecutive: 3}]}",
        );
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        for ms in (0..100).step_by(10) {
            it.observe(&obs(t0, ms, true));
        }
        it.mark_injected(t0 + Duration::from_millis(100));
        // Down from 110 ms to 500 ms.
        for ms in (110..500).step_by(10) {
            assert!(it.observe(&obs(t0, ms, false)).is_none());
        }
        it.fault_ended = Some(t0 + Duration::from_millis(400));
        for ms in (500..700).step_by(10) {
            it.observe(&obs(t0, ms, true));
        }
        let (at, by) = it.detection.detected.clone().unwrap();
        assert_eq!(by, "mon");
        assert_eq!(at, t0 + Duration::from_millis(131), "third failure's end");
        assert_eq!(it.recovery.recovered, Some(t0 + Duration::from_millis(500)));
        assert_eq!(it.recovery.outage, Duration::from_millis(390));
        assert_eq!(it.recorders[0].phase(Phase::Baseline).count(), 10);
        assert!(it.baseline_failures(&s).is_empty());
    }

    #[test]
    fn a_signal_past_its_own_timeout_does_not_detect() {
        let s = spec(
            "  detection: {timeout: 10s, signals: [{name: mon, type: probe-fails, probe: api, consecutive: 1, timeout: 100ms}]}",
        );
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        it.observe(&obs(t0, 200, false));
        assert!(it.detection.detected.is_none());
        assert!(it.detection.fired().is_empty());
        assert_eq!(
            it.detection.deadline(t0),
            Some(t0 + Duration::from_millis(100))
        );
        assert!(it.detection.resolved(t0, t0 + Duration::from_millis(150)));
    }

    #[test]
    fn a_canary_is_noticed_only_by_its_own_signals_after_it_began() {
        let s = spec(
            "  detection:\n    timeout: 1s\n    signals:\n      - {name: mon, type: probe-fails, probe: api, consecutive: 2}\n      - {name: hook, type: webhook, match: {alertname: A}, timeout: 500ms}",
        );
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        it.detection
            .add_canary(0, "by-hook", &["hook".to_owned()], at(100));
        it.detection
            .add_canary(1, "by-mon", &["mon".to_owned()], at(100));
        it.detection.add_canary(2, "by-any", &[], at(400));
        // Each waits for the longest of the signals that count for it.
        assert_eq!(it.detection.canaries()[0].deadline, at(600));
        assert_eq!(it.detection.canaries()[1].deadline, at(1100));
        assert_eq!(it.detection.canaries()[2].deadline, at(1400));
        // Before the canaries began: the iteration is detected, no canary is.
        it.detection.fire(at(50), t0, "hook");
        assert_eq!(it.detection.detected, Some((at(50), "hook".to_owned())));
        assert!(it.detection.canaries().iter().all(|c| c.noticed.is_none()));
        // A signal a canary does not name does not count for it.
        it.detection.fire(at(150), t0, "hook");
        assert_eq!(
            it.detection.canaries()[0].noticed,
            Some((at(150), "hook".to_owned()))
        );
        assert!(it.detection.canaries()[1].noticed.is_none());
        // The probe signal fires at the second failure in a row, and again while they go on.
        it.observe(&obs(t0, 200, false));
        assert!(it.detection.canaries()[1].noticed.is_none());
        it.observe(&obs(t0, 210, false));
        assert_eq!(
            it.detection.canaries()[1].noticed,
            Some((at(211), "mon".to_owned()))
        );
        assert_eq!(
            it.detection.detected,
            Some((at(50), "hook".to_owned())),
            "the iteration keeps its first detection"
        );
        it.observe(&obs(t0, 420, false));
        assert_eq!(
            it.detection.canaries()[2].noticed,
            Some((at(421), "mon".to_owned())),
            "any signal counts for a canary that names none"
        );
        let noticed: Vec<String> = it
            .detection
            .take_noticed()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(noticed, ["by-hook", "by-mon", "by-any"]);
        assert!(it.detection.take_noticed().is_empty(), "taken once");
        assert!(it.detection.resolved(t0, at(450)));
    }

    #[test]
    fn every_signal_is_recorded_at_its_first_firing_in_the_order_they_fired() {
        let s = spec(
            "  detection:\n    timeout: 1s\n    signals:\n      - {name: mon, type: probe-fails, probe: api, consecutive: 2}\n      - {name: hook, type: webhook, match: {alertname: A}, timeout: 500ms}",
        );
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut it = IterationState::new(&s, at(0));
        it.mark_injected(at(100));
        it.detection.fire(at(150), at(100), "hook");
        // The probe signal fires at the second failure in a row, and again while they go on.
        for ms in [200, 210, 220] {
            it.observe(&obs(t0, ms, false));
        }
        it.detection.fire(at(300), at(100), "hook");
        assert_eq!(
            it.detection.fired(),
            [(at(150), "hook".to_owned()), (at(211), "mon".to_owned())]
        );
        assert_eq!(
            it.detection.detected,
            Some((at(150), "hook".to_owned())),
            "the detection is the first of them"
        );
    }

    #[test]
    fn a_signal_past_its_own_timeout_is_not_recorded() {
        let s = spec(
            "  detection:\n    timeout: 1s\n    signals:\n      - {name: mon, type: probe-fails, probe: api, consecutive: 1}\n      - {name: hook, type: webhook, match: {alertname: A}, timeout: 100ms}\n      - {name: other, type: webhook, match: {alertname: A}}",
        );
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        // Before the injection nothing counts, not even within the timeout.
        assert!(!it.detection.note_firing(at(50), at(60), "other"));
        it.detection.fire(at(150), t0, "hook");
        assert!(it.detection.fired().is_empty());
        assert_eq!(it.detection.detected, None);
        // Another signal the same alert matched fires without detecting.
        assert!(it.detection.note_firing(at(150), t0, "other"));
        assert_eq!(it.detection.detected, None);
        it.observe(&obs(t0, 200, false));
        it.observe(&obs(t0, 1200, false));
        assert_eq!(
            it.detection.fired(),
            [(at(150), "other".to_owned()), (at(201), "mon".to_owned())]
        );
        assert_eq!(it.detection.detected, Some((at(201), "mon".to_owned())));
    }

    #[test]
    fn an_observation_counts_in_every_fault_window_it_overlaps_and_alone_in_one() {
        let s = spec("");
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut it = IterationState::new(&s, t0);
        // Fault 0 holds from 100 ms to 400 ms, fault 1 from 200 ms to 500 ms.
        it.mark_injected(at(100));
        it.open_window(0, at(100));
        it.observe(&obs(t0, 150, true));
        it.open_window(1, at(200));
        // In flight when fault 1 struck: it saw both.
        it.observe(&obs(t0, 199, true));
        it.observe(&obs(t0, 300, false));
        it.close_window(0, at(400));
        // Started as fault 0 was reverted: fault 1 alone.
        it.observe(&obs(t0, 400, true));
        it.observe(&obs(t0, 450, false));
        it.close_window(1, at(500));
        it.fault_ended = Some(at(500));
        it.observe(&obs(t0, 550, true));
        let counts =
            |m: &BTreeMap<usize, PhaseRecorder>| m.get(&0).map(|r| (r.count(), r.errors()));
        let [first, second] = &it.windows[..] else {
            panic!("two windows: {:?}", it.windows);
        };
        assert_eq!((first.record, second.record), (0, 1));
        assert_eq!(counts(&first.probes), Some((3, 1)), "150, 199, 300");
        assert_eq!(counts(&first.alone), Some((1, 0)), "150");
        assert_eq!(counts(&second.probes), Some((4, 2)), "199, 300, 400, 450");
        assert_eq!(counts(&second.alone), Some((2, 1)), "400, 450");
        assert_eq!(first.reverted, Some(at(400)));
    }

    #[test]
    fn a_fault_that_never_held_alone_has_no_alone_figures() {
        let s = spec("");
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(at(100));
        it.open_window(0, at(100));
        it.open_window(1, at(100));
        it.observe(&obs(t0, 150, true));
        it.close_window(1, at(200));
        it.close_window(0, at(200));
        it.observe(&obs(t0, 250, true));
        for w in &it.windows {
            assert_eq!(w.probes[&0].count(), 1);
            assert!(w.alone.is_empty(), "{w:?}");
        }
    }

    #[test]
    fn detection_waits_for_every_canary_until_its_deadline() {
        let s = spec(
            "  detection:\n    timeout: 300ms\n    signals: [{name: hook, type: webhook, match: {alertname: A}}]",
        );
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        it.detection.add_canary(0, "first", &[], t0);
        it.detection.add_canary(1, "second", &[], at(200));
        it.detection.fire(at(10), t0, "hook");
        it.detection.take_noticed();
        // Detected, but the second canary is still waiting.
        assert_eq!(it.detection.deadline(t0), None);
        assert!(!it.detection.resolved(t0, at(20)));
        assert_eq!(it.detection.canary_deadline(), Some(at(500)));
        // Past its own timeout the signal no longer counts for it.
        it.detection.fire(at(501), t0, "hook");
        assert!(it.detection.canaries()[1].noticed.is_none());
        assert!(it.detection.take_missed(at(499)).is_empty());
        let missed = it.detection.take_missed(at(500));
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].name, "second");
        // Settled: its deadline is not offered again, and the wait is over.
        assert_eq!(it.detection.canary_deadline(), None);
        assert!(it.detection.resolved(t0, at(500)));
    }

    #[test]
    fn no_deviation_recovers_at_injection() {
        let s = spec("");
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        it.fault_ended = Some(t0 + Duration::from_millis(50));
        for ms in (0..300).step_by(10) {
            it.observe(&obs(t0, ms, true));
        }
        assert_eq!(it.recovery.recovered, Some(t0));
        assert_eq!(it.recovery.outage, Duration::ZERO);
    }

    #[test]
    fn recovery_waits_for_the_faults_to_end() {
        let s = spec("");
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        for ms in (0..300).step_by(10) {
            it.observe(&obs(t0, ms, true));
        }
        assert_eq!(it.recovery.recovered, None, "faults still active");
        let ended = t0 + Duration::from_millis(300);
        it.fault_ended = Some(ended);
        it.observe(&obs(t0, 300, true));
        assert_eq!(
            it.recovery.recovered, None,
            "the recovery phase is observed for stableFor before the iteration ends"
        );
        let stable_for = s.recovery.stable_for.get();
        it.recovery.check(ended + stable_for, Some(ended));
        // The window began with the injection: the faults did no harm.
        assert_eq!(it.recovery.recovered, Some(t0));
    }

    #[test]
    fn abort_conditions_fire() {
        let s = spec("  safety: {abortWhen: [{type: consecutive-failures, probe: api, count: 2}]}");
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        assert!(it.observe(&obs(t0, 0, false)).is_none());
        let reason = it.observe(&obs(t0, 10, false)).unwrap();
        assert!(reason.contains("2 times in a row"), "{reason}");
    }

    #[test]
    fn success_ratio_abort_needs_a_full_window() {
        let s = spec(
            "  safety: {abortWhen: [{type: success-ratio, probe: api, below: 0.5, window: 100ms}]}",
        );
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        it.mark_injected(t0);
        assert!(it.observe(&obs(t0, 0, false)).is_none(), "window not full");
        let mut fired = None;
        for ms in (10..200).step_by(10) {
            fired = fired.or(it.observe(&obs(t0, ms, false)));
        }
        assert!(fired.is_some());
    }

    #[test]
    fn baseline_failure_is_reported() {
        let s = spec("");
        let t0 = Instant::now();
        let mut it = IterationState::new(&s, t0);
        it.observe(&obs(t0, 0, true));
        it.observe(&obs(t0, 10, false));
        let f = it.baseline_failures(&s);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("50.0%"), "{f:?}");
    }
}
