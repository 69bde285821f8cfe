//! Detection within an iteration: each signal from the merged stream is recorded and may
//! detect the fault or notice a canary; the first detection sets awareness and drafts the
//! notifications; Warning-event watches start before the first change.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::iterate::Iteration;
use super::record::describe_platform_event;
use super::stop::Stop;
use super::{Progress, Runner, fmt_ms};
use crate::detection::kubernetes::WarningEvent;
use crate::detection::poll::PolledAlert;
use crate::detection::signals::Signal;
use crate::detection::webhook::{AlertStatus, ReceivedAlert};
use crate::error::chain;
use crate::notification::{Incident, IncidentFault};
use crate::platform::{Platform, PlatformEvent};
use crate::spec::{DetectionSignal, KubernetesEventSignal, Phase, Target};
use crate::time::ms;

impl Runner {
    /// Takes a detection signal: recorded when it counts, then the detection, recovery and
    /// canaries it brought are reported.
    pub(super) fn signal(&mut self, it: &mut Iteration, signal: Signal) -> Result<(), Stop> {
        self.stop_condition(it, &signal)?;
        let detected = it.state.detection.detected.is_some();
        let recovered = it.state.recovery.recovered.is_some();
        match signal {
            Signal::Alert(alert) => self.alert(it, alert),
            Signal::Polled(alert) => self.polled_alert(it, alert),
            Signal::Warning(event) => self.warning_event(it, &event),
        }
        self.note_progress(it, detected, recovered);
        Ok(())
    }

    /// A firing alert that a stop condition names stops the run, whatever it is doing;
    /// everything injected is rolled back.
    pub(super) fn stop_condition(
        &mut self,
        it: &mut Iteration,
        signal: &Signal,
    ) -> Result<(), Stop> {
        let conditions = &self.exp.spec.safety.stop_when;
        let (name, labels) = match signal {
            Signal::Alert(alert) if alert.status == AlertStatus::Firing => {
                let Some(c) = conditions.iter().find(|c| {
                    matches!(c, crate::spec::StopCondition::Webhook(_))
                        && crate::detection::webhook::matches(&alert.labels, c.matchers())
                }) else {
                    return Ok(());
                };
                (c.name().to_owned(), alert.labels.clone())
            }
            Signal::Polled(alert) if conditions.iter().any(|c| c.name() == alert.signal) => {
                (alert.signal.clone(), alert.labels.clone())
            }
            _ => return Ok(()),
        };
        let alertname = labels
            .get("alertname")
            .map_or("(no alertname)", String::as_str)
            .to_owned();
        let reason = format!("stop condition `{name}` fired (alert {alertname})");
        self.event(
            it,
            "stop-condition",
            json!({"condition": name, "labels": labels}),
            reason.clone(),
        );
        Err(Stop::Aborted(reason))
    }

    /// A webhook alert: after the injection, a firing alert that matches a signal
    /// detects the fault.
    fn alert(&mut self, it: &mut Iteration, alert: ReceivedAlert) {
        let Some(inj) = it.state.injected else { return };
        if alert.received_at < watch_from(it, inj) || alert.status != AlertStatus::Firing {
            return;
        }
        let all_matched: Vec<String> = it
            .state
            .detection
            .webhook_signals()
            .filter(|s| crate::detection::webhook::matches(&alert.labels, &s.matchers))
            .map(|s| s.name.clone())
            .collect();
        let matched = all_matched.first().cloned();
        let alertname = alert
            .labels
            .get("alertname")
            .map_or("(no alertname)", String::as_str);
        let detail = format!(
            "alert {alertname}{}",
            matched
                .as_ref()
                .map_or(String::new(), |name| format!(" matched {name}"))
        );
        // `at` is when the engine took the alert in; `receivedAt` when it arrived, the
        // instant detection is timed from.
        let data = json!({
            "labels": alert.labels,
            "matched": matched,
            "receivedAt": self.record.clock.at(alert.received_at),
        });
        let seq = self.event(it, "alert-received", data, detail);
        if let Some(signal) = matched {
            let before = it.state.detection.detected.is_some();
            it.state.detection.fire(alert.received_at, inj, &signal);
            if !before && it.state.detection.detected.is_some() {
                it.alert_seq = Some(seq);
            }
        }
        // The iteration's detection is the first signal that matches; every other that
        // does fired too, and a canary counts any of its own among them.
        for name in all_matched.iter().skip(1) {
            it.state.detection.note_firing(alert.received_at, inj, name);
            it.state.detection.fire_canaries(alert.received_at, name);
        }
    }

    /// An alert a polling signal saw start firing; after the injection it detects the fault.
    fn polled_alert(&mut self, it: &mut Iteration, alert: PolledAlert) {
        let Some(inj) = it.state.injected else { return };
        if alert.at < watch_from(it, inj) {
            return;
        }
        let alertname = alert
            .labels
            .get("alertname")
            .map_or("(no alertname)", String::as_str);
        let detail = format!("alert {alertname} firing, seen by {}", alert.signal);
        let data = json!({"signal": alert.signal, "labels": alert.labels});
        let seq = self.event_at(it, alert.at, "alert-seen", data, detail);
        let before = it.state.detection.detected.is_some();
        it.state.detection.fire(alert.at, inj, &alert.signal);
        if !before && it.state.detection.detected.is_some() {
            it.alert_seq = Some(seq);
        }
    }

    /// A Warning event a kubernetes-event signal counts: recorded, and the detection if it
    /// is the first signal to fire.
    fn warning_event(&mut self, it: &mut Iteration, e: &WarningEvent) {
        let (Some(inj), Some((started, _))) = (it.state.injected, &it.event_watches) else {
            return;
        };
        let observed = e.observed.unwrap_or_else(Instant::now);
        // Left over from an earlier iteration's watch.
        if observed < *started {
            return;
        }
        // Seen while the injection call was still running: the fault had begun.
        let at = observed.max(inj);
        let mut e = e.clone();
        e.time_to_detect_ms = Some(at.saturating_duration_since(inj).as_millis() as u64);
        let injected = self.record.clock.wall(inj);
        e.server_time_to_detect_ms = e.event_time.and_then(|t| {
            let d = jiff::SignedDuration::system_until(injected, t.into()).ok()?;
            Some(d.as_millis() as i64)
        });
        let detail = format!(
            "Warning {} on {}: {} (signal {}; event time {}, observed {})",
            e.reason,
            e.object,
            e.message,
            e.signal,
            e.event_time
                .map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
            e.observed_at
        );
        let data = serde_json::to_value(&e).unwrap_or_default();
        let seq = self.event(it, "kubernetes-event", data, detail);
        // A canary counts the event from when it was observed, even while the injection
        // call that performed it was still running.
        it.state.detection.fire_canaries(observed, &e.signal);
        if it.state.detection.detect(at, inj, &e.signal) {
            it.alert_seq = Some(seq);
            it.detection_event = Some(e);
        }
    }

    /// Starts the watches of the kubernetes-event signals, once per iteration, before its
    /// first change; the reason to abort when one cannot start.
    pub(super) async fn watch_warnings(
        &mut self,
        it: &mut Iteration,
        platform: &Platform,
    ) -> Result<(), Stop> {
        if it.event_watches.is_some() {
            return Ok(());
        }
        let mut tokens = Vec::new();
        let started = Instant::now();
        if let Platform::Kubernetes(k, _) = platform {
            let signals: Vec<KubernetesEventSignal> = self
                .exp
                .spec
                .detection
                .iter()
                .flat_map(|d| &d.signals)
                .filter_map(|s| match s {
                    DetectionSignal::KubernetesEvent(k) => Some(k.clone()),
                    _ => None,
                })
                .collect();
            for signal in &signals {
                match crate::detection::kubernetes::watch_warnings(k, signal).await {
                    Ok(token) => tokens.push(token),
                    Err(e) => {
                        tokens.iter().for_each(CancellationToken::cancel);
                        let msg = format!(
                            "the event watch of signal `{}` did not start, nothing was changed: {}",
                            signal.name,
                            chain(&e)
                        );
                        let data = json!({"signal": signal.name, "error": msg});
                        self.event(it, "detection-unavailable", data, msg.clone());
                        return Err(Stop::Aborted(msg));
                    }
                }
            }
        }
        it.event_watches = Some((started, tokens));
        Ok(())
    }

    /// Reports the detection and the recovery if they came since `was_detected` and
    /// `was_recovered` were read, and the canaries noticed meanwhile.
    pub(super) fn note_progress(
        &mut self,
        it: &mut Iteration,
        was_detected: bool,
        was_recovered: bool,
    ) {
        self.note_canaries(it);
        let Some(inj) = it.state.injected else { return };
        if !was_detected && let Some((at, by)) = it.state.detection.detected.clone() {
            let after = at.saturating_duration_since(inj);
            self.record.progress(&Progress::Detected {
                iteration: it.n,
                after,
                by: by.clone(),
            });
            let data = json!({"signal": by, "timeToDetectMs": ms(after)});
            let detail = format!("by {by} after {}", fmt_ms(after));
            let seq = self.event_at(it, at, "detected", data, detail);
            self.on_detection(it, at, &by, seq);
        }
        if !was_recovered && let Some(at) = it.state.recovery.recovered {
            let after = at.saturating_duration_since(inj);
            self.record.progress(&Progress::Recovered {
                iteration: it.n,
                after,
            });
            let detail = format!(
                "steady state holds again since {} after injection",
                fmt_ms(after)
            );
            self.event_at(
                it,
                at,
                "recovered",
                json!({"timeToRecoverMs": ms(after)}),
                detail,
            );
        }
    }

    /// Journals each canary a signal has noticed since the last call.
    fn note_canaries(&mut self, it: &mut Iteration) {
        for c in it.state.detection.take_noticed() {
            let Some((at, by)) = c.noticed else { continue };
            let after = at.saturating_duration_since(c.started);
            let data = json!({"fault": c.name, "signal": by, "timeToDetectMs": ms(after)});
            let detail = format!("canary {} noticed by {by} after {}", c.name, fmt_ms(after));
            self.event_at(it, at, "canary-detected", data, detail);
        }
    }

    /// Journals each canary whose wait ended at `now` with no signal that counts for it.
    pub(super) fn note_missed_canaries(&mut self, it: &mut Iteration, now: Instant) {
        for c in it.state.detection.take_missed(now) {
            let waited = c.deadline.saturating_duration_since(c.started);
            let signals = if c.signals.is_empty() {
                "any detection signal".to_owned()
            } else {
                c.signals.join(", ")
            };
            let data = json!({"fault": c.name, "signals": c.signals, "waitedMs": ms(waited)});
            let detail = format!(
                "canary {} not noticed by {signals} within {}",
                c.name,
                fmt_ms(waited)
            );
            self.event_at(it, c.deadline, "canary-missed", data, detail);
        }
    }

    /// A replica or pod changed: recorded; a removed pod's recovery is kept.
    pub(super) fn platform_event(&mut self, it: &mut Iteration, ev: &PlatformEvent) {
        match ev {
            PlatformEvent::KubernetesWarning(e) => {
                // A Warning event is never a stop condition: it cannot stop the run.
                let _ = self.signal(it, Signal::Warning(e.clone()));
                return;
            }
            PlatformEvent::PodRecovered(r) if it.pending_pods.remove(&r.pod) => {
                it.pod_recovery.push((**r).clone());
            }
            _ => {}
        }
        let (data, detail) = describe_platform_event(ev);
        self.event(it, ev.kind(), data, detail);
    }

    /// At an iteration's first detection: the run's awareness for coordination, and the
    /// iteration's notification drafts.
    fn on_detection(&mut self, it: &mut Iteration, at: Instant, by: &str, detected_seq: u64) {
        self.notifier.set_awareness(it.n, at);
        self.responder.set_awareness(it.n, at, by);
        self.tell_responder(it, at);
        if self.notifier.drafts() {
            let incident = self.incident(it, at, by, detected_seq);
            self.responder.set_incident(&incident);
            self.notifier.draft(&incident, at);
        }
    }

    /// What people deciding see of the iteration of awareness, as of `now`.
    pub(super) fn tell_responder(&self, it: &Iteration, now: Instant) {
        if !self.responder.watches(it.n) {
            return;
        }
        let failed_probes = self
            .exp
            .spec
            .steady_state
            .probes
            .iter()
            .zip(&it.state.recorders)
            .filter(|(_, rec)| {
                rec.phase(Phase::Fault).errors() + rec.phase(Phase::Recovery).errors() > 0
            })
            .map(|(p, _)| p.name().to_owned())
            .collect();
        let (observations, failures) = it.state.recovery.counts();
        self.responder.observe(crate::response::Observed {
            observations,
            failures,
            outage: it.state.recovery.outage_until(now),
            failed_probes,
            ongoing: it.state.recovery.recovered.is_none(),
        });
    }

    /// What the run knows at `at`, the iteration's first detection, and the records it
    /// rests on; journals the observations so far so that they are evidence too.
    fn incident(&mut self, it: &Iteration, at: Instant, by: &str, detected_seq: u64) -> Incident {
        let (failed_probes, observations_seq) = self.summarise_observations(it, at);
        let spec = &self.exp.spec;
        let detection_type = spec
            .detection
            .iter()
            .flat_map(|d| &d.signals)
            .find(|s| s.name() == by)
            .map_or("unknown", |s| match s {
                DetectionSignal::ProbeFails(_) => "probe-fails",
                DetectionSignal::Webhook(_) => "webhook",
                DetectionSignal::KubernetesEvent(_) => "kubernetes-event",
                DetectionSignal::AlertmanagerAlert(_) => "alertmanager-alert",
                DetectionSignal::PrometheusAlert(_) => "prometheus-alert",
            });
        let mut detection_evidence = vec![detected_seq];
        detection_evidence.extend(it.alert_seq);
        let replicas: BTreeMap<String, usize> = match &spec.target {
            Target::Local(target) => target
                .workloads
                .iter()
                .map(|w| (w.name.clone(), w.replicas as usize))
                .collect(),
            Target::Kubernetes(_) => self.pod_counts.clone(),
        };
        let faults = it
            .faults
            .iter()
            .zip(&it.fault_evidence)
            .filter(|(f, _)| f.injected_at.is_some())
            .map(|(f, evidence)| IncidentFault {
                name: f.name.clone(),
                fault_type: f.fault_type.clone(),
                targets: f.targets.clone(),
                evidence: evidence.clone(),
            })
            .collect();
        let (observations, failures) = it.state.recovery.counts();
        let clock = self.record.clock;
        Incident {
            experiment: self.exp.metadata.name.clone(),
            run_id: self.ids.run_id.clone(),
            iteration: it.n,
            declared_seq: self.ids.started_seq,
            awareness_at: clock.at(at),
            detected_by: by.to_owned(),
            detection_type: detection_type.to_owned(),
            detection_evidence,
            started_at: it.state.injected.map(|t| clock.at(t)),
            faults,
            replicas,
            failed_probes,
            observations,
            failures,
            outage: it.state.recovery.outage_until(at),
            observations_seq: Some(observations_seq),
            ongoing: it.state.recovery.recovered.is_none(),
            time_scale: crate::spec::Response::time_scale_of(self.exp.spec.response.as_ref()),
            observed_until: None,
        }
    }

    /// Journals the observations since the injection; the probes that failed, and the
    /// record's `seq`.
    fn summarise_observations(&mut self, it: &Iteration, at: Instant) -> (Vec<String>, u64) {
        let probes = &self.exp.spec.steady_state.probes;
        let mut failed_probes = Vec::new();
        let mut per_probe = serde_json::Map::new();
        for (p, rec) in probes.iter().zip(&it.state.recorders) {
            let (fault, recovery) = (rec.phase(Phase::Fault), rec.phase(Phase::Recovery));
            let count = fault.count() + recovery.count();
            let errors = fault.errors() + recovery.errors();
            if errors > 0 {
                failed_probes.push(p.name().to_owned());
            }
            per_probe.insert(
                p.name().to_owned(),
                json!({"count": count, "errors": errors}),
            );
        }
        let (observations, failures) = it.state.recovery.counts();
        let outage = it.state.recovery.outage_until(at);
        let (seq, _) = self.record.journal.record_with_seq(
            "observations-summarised",
            json!({
                "iteration": it.n,
                "at": self.record.clock.at(at),
                "since": "injection",
                "observations": observations,
                "failures": failures,
                "availability": crate::measure::availability(observations, failures),
                "outageMs": ms(outage),
                "failedProbes": failed_probes,
                "probes": per_probe,
            }),
            false,
        );
        (failed_probes, seq)
    }
}

/// From when a signal can count: the first injection, or the start of a canary's action
/// when that came first (an alert may answer a canary before its `inject` returns).
fn watch_from(it: &Iteration, injected: Instant) -> Instant {
    it.state
        .detection
        .first_canary()
        .map_or(injected, |c| c.min(injected))
}
