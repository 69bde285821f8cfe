//! From one run to the scorecard's input: what the run measured, attributed to the
//! capabilities the experiment exercised, each measurement marked with where its evidence
//! comes from (docs/scorecard.md, "From a run to the scorecard" and "Provenance").
//!
//! Pure: the result, the experiment's overrides and the journal check in, a
//! [`ScorecardInput`] out.

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::JournalCheck;
use crate::measure::LatencySummary;
use crate::result::{FaultRecord, IterationResult, RunResult, RunStatus};
use crate::scorecard::evidence::{
    ACKNOWLEDGE_SCALE, AVAILABILITY_SCALE, CANARY_RECALL, COMPLETED_SCALE, DELIVERY_SCALE,
    PREVENTION_REFUSED, exercised, journal_preconditions, mapping_of, overrides_of,
};
use crate::scorecard::{
    Capability, Check, Gate, GateHit, Metric, MetricObservation, Precondition, Provenance,
    Repeatability, Scale, ScoreInput, ScorecardInput,
};
use crate::spec::{DetectionSignal, DurationTarget, Spec};

fn duration_scale(target: Option<DurationTarget>) -> Option<Scale> {
    target.map(|t| Scale::Duration {
        target_secs: t.target.get().as_secs_f64(),
        limit_secs: t.limit.get().as_secs_f64(),
    })
}

fn limit_of(scale: Scale) -> f64 {
    match scale {
        Scale::Duration { limit_secs, .. } => limit_secs,
        Scale::Multiple { limit, target } => limit.unwrap_or(target * 2.0),
        Scale::Ratio { floor, .. } => floor,
    }
}

/// Where each detection signal's evidence comes from: an alert, an event or a probe the
/// experiment declares the organisation's own monitoring is the organisation's; any other
/// probe streak is firedrill standing in for synthetic monitoring.
pub fn signal_provenance(spec: &Spec) -> BTreeMap<String, Provenance> {
    let monitoring: BTreeSet<&str> = spec
        .scorecard
        .iter()
        .flat_map(|s| s.organisation_monitoring.iter().map(String::as_str))
        .collect();
    spec.detection
        .iter()
        .flat_map(|d| &d.signals)
        .map(|signal| {
            let provenance = match signal {
                DetectionSignal::ProbeFails(p) if monitoring.contains(p.probe.as_str()) => {
                    Provenance::Organisation
                }
                DetectionSignal::ProbeFails(_) => Provenance::Simulated,
                DetectionSignal::Webhook(_)
                | DetectionSignal::KubernetesEvent(_)
                | DetectionSignal::AlertmanagerAlert(_)
                | DetectionSignal::PrometheusAlert(_) => Provenance::Organisation,
            };
            (signal.name().to_owned(), provenance)
        })
        .collect()
}

/// The signals that fired in an iteration, each at its first firing, with its time to
/// detect in seconds.
fn fired(it: &IterationResult) -> impl Iterator<Item = (&str, f64)> {
    it.signals_fired
        .iter()
        .map(|f| (f.signal.as_str(), f.time_to_detect_ms / 1e3))
}

/// What the run measured, attributed to the capabilities the experiment exercised.
pub fn input_for_run(spec: &Spec, result: &RunResult, journal: &JournalCheck) -> ScorecardInput {
    let exercised = exercised(spec);
    let targets = spec
        .scorecard
        .as_ref()
        .map(|s| s.targets.clone())
        .unwrap_or_default();
    // An iteration whose fault was not in force shows nothing of the organisation.
    let done: Vec<_> = result
        .iterations
        .iter()
        .filter(|i| i.status.completed() && i.ineffective_fault().is_none())
        .collect();
    let mut metrics = Vec::new();
    let mut gates = Vec::new();
    let secs = |ms: f64| ms / 1e3;
    // The people's side of the response runs on exercise time: real seconds times the scale
    // (`spec.response.timeScale`), so that a game day at 60 is held to the law's 24 h.
    let time_scale = crate::spec::Response::time_scale_of(spec.response.as_ref());
    let exercise_secs = |ms: f64| secs(ms) * time_scale;
    let mapping = mapping_of(spec);
    let maps = |fault_type: &str, capability: Capability| {
        mapping.capabilities(fault_type).contains(&capability)
    };
    let provenance = signal_provenance(spec);
    let of = |signal: &str| {
        provenance
            .get(signal)
            .copied()
            .unwrap_or(Provenance::Simulated)
    };

    // A canary's own time to detect replaces the iteration's when the canaries are all that
    // detection is asked to notice: the iteration's first signal would be a canary's.
    let availability_detection = spec
        .faults
        .iter()
        .any(|f| f.canary_signals().is_none() && maps(f.type_name(), Capability::Detection));
    if availability_detection && !done.is_empty() {
        // The organisation's signals and firedrill's stand-ins are timed apart: each
        // iteration's first firing of each kind.
        for kind in [Provenance::Organisation, Provenance::Simulated] {
            if !provenance.values().any(|p| *p == kind) {
                continue;
            }
            let values: Vec<f64> = done
                .iter()
                .filter_map(|i| {
                    fired(i)
                        .filter(|(signal, _)| of(signal) == kind)
                        .map(|(_, s)| s)
                        .reduce(f64::min)
                })
                .collect();
            if values.len() < done.len() {
                gates.push(GateHit::new(Gate::NoDetection, kind));
            }
            if !values.is_empty() {
                let mut observation = MetricObservation::of(
                    kind,
                    Capability::Detection,
                    Metric::TimeToDetectAvailability,
                    values,
                );
                observation.scale = duration_scale(targets.time_to_detect);
                metrics.push(observation);
            }
        }
    }

    metrics.extend(canary_metrics(
        &done,
        &maps,
        &of,
        targets.time_to_detect_canary,
        &mut gates,
    ));
    metrics.extend(prevention_metrics(&done, &maps, &mut gates));

    // The system coming back by itself is the organisation's doing.
    if exercised.contains(&Capability::RecoveryContinuity) && !done.is_empty() {
        let scale = duration_scale(targets.time_to_recover);
        let limit = limit_of(scale.unwrap_or_else(|| Metric::TimeToRecover.default_scale()));
        // An iteration that never recovered counts as recovering at the limit: a score of 0.
        let values = done
            .iter()
            .map(|i| i.time_to_recover_ms.map_or(limit, secs))
            .collect();
        let mut observation = MetricObservation::organisation(
            Capability::RecoveryContinuity,
            Metric::TimeToRecover,
            values,
        );
        observation.scale = scale;
        metrics.push(observation);
    }

    let latency_scale = targets.latency_during_fault.map(|m| Scale::Multiple {
        target: m.target,
        limit: m.limit,
    });
    // Service delivery while the faults hold is the service's own continuity.
    if exercised.contains(&Capability::RecoveryContinuity) {
        let values: Vec<f64> = done
            .iter()
            .filter_map(|i| {
                worst_multiple(i, |probe| i.probes.get(probe).and_then(|p| p.get("fault")))
            })
            .collect();
        if !values.is_empty() {
            let mut observation = MetricObservation::organisation(
                Capability::RecoveryContinuity,
                Metric::LatencyDuringFault,
                values,
            );
            observation.scale = latency_scale;
            metrics.push(observation);
        }
    }
    // What the traffic's users felt while the faults held is the service's own
    // continuity, as the probes' latency is.
    if exercised.contains(&Capability::RecoveryContinuity) {
        metrics.extend(traffic_metrics(&done, latency_scale));
    }
    // A fault that breaks a third party speaks for third-party resilience whatever else the
    // experiment injects: its figures come from its own window.
    metrics.extend(third_party_metrics(&done, &maps, latency_scale));

    let early_warnings: Vec<_> = result
        .notifications
        .iter()
        .filter(|n| n.kind == "nis2-early-warning")
        .collect();
    if !early_warnings.is_empty() {
        // firedrill drafts and delivers these itself: simulated until a person does.
        let mut draft = MetricObservation::simulated(
            Capability::ReportingReadiness,
            Metric::EarlyWarningDraft,
            early_warnings
                .iter()
                .map(|n| exercise_secs(n.time_to_draft_ms))
                .collect(),
        );
        draft.scale = duration_scale(targets.early_warning_draft);
        metrics.push(draft);
        let deliveries: Vec<_> = early_warnings
            .iter()
            .filter_map(|n| n.delivery.as_ref())
            .collect();
        if !deliveries.is_empty() {
            let scale = duration_scale(targets.early_warning_delivery).unwrap_or(DELIVERY_SCALE);
            let limit = limit_of(scale);
            // An early warning that never arrived counts as arriving at the limit.
            let values = deliveries
                .iter()
                .map(|d| d.time_to_deliver_ms.map_or(limit, exercise_secs))
                .collect();
            metrics.push(MetricObservation::simulated(
                Capability::ReportingReadiness,
                Metric::Custom {
                    name: "early-warning-delivery".to_owned(),
                    scale,
                },
                values,
            ));
        }
        // An early warning people approved is theirs: what it leaves out is the
        // organisation's omission. Otherwise the draft is firedrill's, and so is the gap.
        let approved = result
            .response
            .iter()
            .flat_map(|r| &r.approvals)
            .find(|a| a.report == "nis2-early-warning" && a.outcome == "approved");
        match approved {
            Some(a) if !a.mandatory_flags_missing.is_empty() => gates.push(GateHit::new(
                Gate::MissingMandatoryNotificationFlag,
                Provenance::Organisation,
            )),
            Some(_) => {}
            None if early_warnings
                .iter()
                .any(|n| !n.mandatory_flags_missing.is_empty()) =>
            {
                gates.push(GateHit::new(
                    Gate::MissingMandatoryNotificationFlag,
                    Provenance::Simulated,
                ));
            }
            None => {}
        }
    }

    // People acknowledging through their own channel.
    if let Some(coordination) = &result.coordination
        && coordination.awareness_at.is_some()
    {
        let scale = duration_scale(targets.time_to_acknowledge).unwrap_or(ACKNOWLEDGE_SCALE);
        let limit = limit_of(scale);
        for ack in &coordination.acknowledgements {
            // A role that never acknowledged counts as acknowledging at the limit.
            metrics.push(MetricObservation::organisation(
                Capability::Coordination,
                Metric::Custom {
                    name: format!("time-to-acknowledge ({})", ack.role),
                    scale,
                },
                vec![ack.time_to_acknowledge_ms.map_or(limit, exercise_secs)],
            ));
        }
    }

    // People deciding through their own links: each decision's quality, by the capability
    // the decision belongs to, and how long each role took to turn up.
    if let Some(response) = &result.response
        && response.awareness_at.is_some()
    {
        // An approval's review and approval points are scored by the time to approve.
        let approval_points: BTreeSet<String> = spec
            .response
            .iter()
            .flat_map(|r| &r.approvals)
            .flat_map(|a| {
                let (review, approve) = a.report.point_ids();
                [review, approve]
            })
            .collect();
        let mut quality: BTreeMap<Capability, Vec<f64>> = BTreeMap::new();
        for d in response
            .decisions
            .iter()
            .filter(|d| d.asked_at.is_some() && !approval_points.contains(&d.point))
        {
            quality
                .entry(decision_capability(&d.decision))
                .or_default()
                .push(d.score / 100.0);
        }
        // An automated runbook's answers are the organisation's rules, not its people:
        // labelled so wherever the figure shows.
        let runbook = response.responders == "runbook";
        for (capability, values) in quality {
            let metric = if runbook {
                Metric::Custom {
                    name: "decision-quality (automated runbook)".to_owned(),
                    scale: Metric::DecisionQuality.default_scale(),
                }
            } else {
                Metric::DecisionQuality
            };
            metrics.push(MetricObservation::organisation(capability, metric, values));
        }
        // A report is ready when approved: from the start of its clock (awareness, or the
        // submission of the report it follows) to approval, against its deadline. A report
        // whose clock never started was never asked for: the one before it is the finding.
        for a in &response.approvals {
            if a.outcome == "not-put" {
                continue;
            }
            let scale = Scale::Duration {
                target_secs: approval_target_secs(&a.report),
                limit_secs: secs(a.deadline_ms),
            };
            metrics.push(MetricObservation::organisation(
                Capability::ReportingReadiness,
                Metric::Custom {
                    name: format!("time-to-approve ({})", a.report),
                    scale,
                },
                vec![a.time_to_approve_ms.map_or(limit_of(scale), secs)],
            ));
        }
        let scale = Metric::TimeToAssemble.default_scale();
        let limit = limit_of(scale);
        let assembled: Vec<f64> = response
            .roles
            .iter()
            .map(|r| match (r.link_opened_at, response.awareness_at) {
                // A link opened before awareness: the role was there when it began.
                (Some(opened), Some(aware)) => {
                    secs(opened.ms_since(aware).max(0.0)) * response.time_scale
                }
                _ => limit,
            })
            .collect();
        if !assembled.is_empty() && !runbook {
            metrics.push(MetricObservation::organisation(
                Capability::Coordination,
                Metric::TimeToAssemble,
                assembled,
            ));
        }
        // A decision handed from one role to another: how long it waited at the boundary,
        // from the moment it was put to its answer; never answered counts at the limit.
        let limit = limit_of(Metric::HandOffDelay.default_scale());
        let hand_offs: Vec<f64> = response
            .decisions
            .iter()
            .filter(|d| d.handed_from.is_some() && d.asked_at.is_some())
            .map(|d| d.time_to_decide_ms.map_or(limit, secs))
            .collect();
        if !hand_offs.is_empty() && !runbook {
            metrics.push(MetricObservation::organisation(
                Capability::Coordination,
                Metric::HandOffDelay,
                hand_offs,
            ));
        }
    }

    // Every measurement is dated by the run's end, so that it can grow stale.
    for observation in &mut metrics {
        observation.measured_at = Some(result.finished_at);
    }
    for gate in &mut gates {
        gate.measured_at = Some(result.finished_at);
    }

    let mut weights = crate::scorecard::default_weights();
    let mut input = ScorecardInput::new(ScoreInput {
        capability_metrics: metrics,
        gates,
        preconditions: preconditions(result, journal),
        overrides: overrides_of(spec),
        // One run is one dated run, whatever its iterations; a history adds the others.
        repeatability: Repeatability {
            runs: 1,
            ..Repeatability::default()
        },
    });
    if let Some(overrides) = &spec.scorecard {
        weights.extend(overrides.weights.iter().map(|(c, w)| (*c, *w)));
        if let Some(threshold) = overrides.coverage_threshold {
            input.coverage_threshold = threshold / 100.0;
        }
        if let Some(age) = overrides.max_evidence_age {
            input.max_evidence_age_days = u32::try_from(age.get().as_secs() / 86_400)
                .unwrap_or(u32::MAX)
                .max(1);
        }
    }
    input.weights = weights;
    input
}

/// The capability a decision evidences: the regulatory judgements are reporting readiness,
/// containing is containment, the continuity plan is recovery, and telling customers (like
/// any decision of the organisation's own) is coordination.
fn decision_capability(decision: &str) -> Capability {
    use crate::spec::Decision;
    match serde_json::from_value::<Decision>(serde_json::Value::from(decision)) {
        Ok(
            Decision::Nis2SignificantIncident
            | Decision::Nis2SuspectedMalicious
            | Decision::Nis2CrossBorder
            | Decision::DoraMajorIncident
            | Decision::NotifyAuthority,
        ) => Capability::ReportingReadiness,
        Ok(Decision::ContainOrObserve) => Capability::Containment,
        Ok(Decision::InvokeContinuityPlan) => Capability::RecoveryContinuity,
        Ok(Decision::InformCustomers) | Err(_) => Capability::Coordination,
    }
}

/// firedrill's own integrity: the journal's checks, and every fault reverted.
fn preconditions(result: &RunResult, journal: &JournalCheck) -> Vec<Precondition> {
    let mut checks = journal_preconditions(journal);
    let reverted = result.rollback.failed.is_empty() && result.status != RunStatus::RollbackFailed;
    checks.push(Precondition::new(
        Check::FaultsReverted,
        reverted,
        if reverted {
            "every fault was reverted".to_owned()
        } else {
            format!(
                "revert failed: {}",
                if result.rollback.failed.is_empty() {
                    "see the run's rollback".to_owned()
                } else {
                    result.rollback.failed.join("; ")
                }
            )
        },
    ));
    checks
}

/// The worst p99 multiple over an iteration's probes: the probe's p99 in the window `during`
/// picks, over its baseline p99.
fn worst_multiple<'a>(
    it: &'a IterationResult,
    during: impl Fn(&str) -> Option<&'a LatencySummary>,
) -> Option<f64> {
    it.probes
        .iter()
        .filter_map(|(probe, phases)| {
            let base = phases.get("baseline")?.p99?;
            let fault = during(probe)?.p99?;
            (base > 0.0).then(|| fault / base)
        })
        .reduce(f64::max)
}

/// The scale of the error budget an iteration burned: full marks up to a tenth of the
/// window's budget, none at the whole of it.
const BUDGET_SCALE: Scale = Scale::Multiple {
    target: 0.1,
    limit: Some(1.0),
};

/// Recovery and continuity from the traffic (`spec.traffic`): each iteration's p99 under the
/// fault over its baseline p99, and the share of the SLO's error budget it burned.
fn traffic_metrics(
    done: &[&IterationResult],
    latency_scale: Option<Scale>,
) -> Vec<MetricObservation> {
    let mut metrics = Vec::new();
    let values = |f: &dyn Fn(&crate::result::IterationTraffic) -> Option<f64>| -> Vec<f64> {
        done.iter()
            .filter_map(|i| i.traffic.as_ref().and_then(f))
            .collect()
    };
    let degradation = values(&|t| t.latency_degradation);
    if !degradation.is_empty() {
        metrics.push(MetricObservation::organisation(
            Capability::RecoveryContinuity,
            Metric::Custom {
                name: "traffic-latency-during-fault".to_owned(),
                scale: latency_scale.unwrap_or(Metric::LatencyDuringFault.default_scale()),
            },
            degradation,
        ));
    }
    let burned = values(&|t| t.budget_burned);
    if !burned.is_empty() {
        metrics.push(MetricObservation::organisation(
            Capability::RecoveryContinuity,
            Metric::Custom {
                name: "error-budget-burned".to_owned(),
                scale: BUDGET_SCALE,
            },
            burned,
        ));
    }
    metrics
}

/// Third-party resilience from each fault that breaks a third party: the p99 multiple and
/// the availability of the probes while that fault held alone (while it held, when it never
/// held alone), per iteration the worst over such faults.
fn third_party_metrics(
    done: &[&IterationResult],
    maps: &dyn Fn(&str, Capability) -> bool,
    latency_scale: Option<Scale>,
) -> Vec<MetricObservation> {
    let mut multiples = Vec::new();
    let mut availability = Vec::new();
    for it in done {
        let windows: Vec<&BTreeMap<String, LatencySummary>> = it
            .faults
            .iter()
            .filter(|f| maps(&f.fault_type, Capability::ThirdPartyResilience))
            .map(|f| {
                if f.probes_alone.is_empty() {
                    &f.probes
                } else {
                    &f.probes_alone
                }
            })
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(worst) = windows
            .iter()
            .filter_map(|w| worst_multiple(it, |probe| w.get(probe)))
            .reduce(f64::max)
        {
            multiples.push(worst);
        }
        if let Some(worst) = windows
            .iter()
            .flat_map(|w| w.values().filter_map(|s| s.availability))
            .reduce(f64::min)
        {
            availability.push(worst);
        }
    }
    let mut metrics = Vec::new();
    if !multiples.is_empty() {
        let mut observation = MetricObservation::organisation(
            Capability::ThirdPartyResilience,
            Metric::LatencyDuringFault,
            multiples,
        );
        observation.scale = latency_scale;
        metrics.push(observation);
    }
    if !availability.is_empty() {
        metrics.push(MetricObservation::organisation(
            Capability::ThirdPartyResilience,
            Metric::Custom {
                name: "availability-during-fault".to_owned(),
                scale: AVAILABILITY_SCALE,
            },
            availability,
        ));
    }
    metrics
}

/// Detection canaries: each noticed canary's time to detect, and per iteration the share
/// noticed, for the organisation's signals and firedrill's stand-ins apart. Only a run in
/// which no canary at all was noticed hits the no-detection gate; partial misses lower the
/// recall instead.
fn canary_metrics(
    done: &[&IterationResult],
    maps: &dyn Fn(&str, Capability) -> bool,
    of: &dyn Fn(&str) -> Provenance,
    target: Option<DurationTarget>,
    gates: &mut Vec<GateHit>,
) -> Vec<MetricObservation> {
    let per_iteration: Vec<Vec<&FaultRecord>> = done
        .iter()
        .map(|i| {
            i.faults
                .iter()
                .filter(|f| f.canary().is_some() && maps(&f.fault_type, Capability::Detection))
                .collect()
        })
        .filter(|canaries: &Vec<&FaultRecord>| !canaries.is_empty())
        .collect();
    if per_iteration.is_empty() {
        return Vec::new();
    }
    // A canary counts as noticed by the kind of the signal that noticed it; with no signal
    // of a kind in the experiment, that kind has nothing to say.
    let kinds: BTreeSet<Provenance> = per_iteration
        .iter()
        .flatten()
        .filter_map(|f| f.noticed().map(|(_, signal, _)| of(signal)))
        .collect();
    let kinds = if kinds.is_empty() {
        BTreeSet::from([Provenance::Organisation])
    } else {
        kinds
    };
    let mut metrics = Vec::new();
    for kind in kinds {
        let noticed = |f: &FaultRecord| {
            f.noticed()
                .filter(|(_, signal, _)| of(signal) == kind)
                .map(|(_, _, ms)| ms / 1e3)
        };
        let times: Vec<f64> = per_iteration
            .iter()
            .flatten()
            .filter_map(|f| noticed(f))
            .collect();
        if times.is_empty() {
            gates.push(GateHit::new(Gate::NoDetection, kind));
        } else {
            let mut observation = MetricObservation::of(
                kind,
                Capability::Detection,
                Metric::TimeToDetectSecurityCanary,
                times,
            );
            observation.scale = duration_scale(target);
            metrics.push(observation);
        }
        let recall = per_iteration
            .iter()
            .map(|canaries| {
                let seen = canaries.iter().filter(|f| noticed(f).is_some()).count();
                seen as f64 / canaries.len() as f64
            })
            .collect();
        metrics.push(MetricObservation::of(
            kind,
            Capability::Detection,
            Metric::Custom {
                name: CANARY_RECALL.to_owned(),
                scale: COMPLETED_SCALE,
            },
            recall,
        ));
    }
    metrics
}

/// Prevention checks: per iteration the share the organisation's policy refused; any
/// accepted check is a finding that caps containment.
fn prevention_metrics(
    done: &[&IterationResult],
    maps: &dyn Fn(&str, Capability) -> bool,
    gates: &mut Vec<GateHit>,
) -> Vec<MetricObservation> {
    let mut bypassed = false;
    let refused: Vec<f64> = done
        .iter()
        .filter_map(|i| {
            let checks: Vec<_> = i
                .faults
                .iter()
                .filter(|f| maps(&f.fault_type, Capability::Containment))
                .filter_map(FaultRecord::prevention)
                .collect();
            let refused = checks.iter().filter(|p| p.refused).count();
            bypassed |= refused < checks.len();
            (!checks.is_empty()).then(|| refused as f64 / checks.len() as f64)
        })
        .collect();
    if bypassed {
        gates.push(GateHit::new(
            Gate::PreventionBypassed,
            Provenance::Organisation,
        ));
    }
    if refused.is_empty() {
        return Vec::new();
    }
    vec![MetricObservation::organisation(
        Capability::Containment,
        Metric::Custom {
            name: PREVENTION_REFUSED.to_owned(),
            scale: COMPLETED_SCALE,
        },
        refused,
    )]
}

/// The time to approve a report that scores full marks: an hour for the 24-hour reports,
/// a day for the 72-hour ones, a week for the one-month final reports.
fn approval_target_secs(report: &str) -> f64 {
    use crate::spec::Report;
    const HOUR: f64 = 3600.0;
    match serde_json::from_value::<Report>(serde_json::Value::String(report.to_owned())) {
        Ok(Report::Nis2IncidentNotification | Report::DoraIntermediateReport) => 24.0 * HOUR,
        Ok(Report::Nis2FinalReport | Report::DoraFinalReport) => 7.0 * 24.0 * HOUR,
        _ => HOUR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::SignalFired;
    use crate::result::{AcknowledgementResult, CoordinationResult, NotificationResult};
    use crate::scorecard::evidence::{combine, score_input};
    use crate::scorecard::{Status, Verdict};
    use crate::time::Timestamp;

    const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");
    const RESULT: &str = include_str!("../../tests/fixtures/results/quickstart-result.json");

    fn spec() -> Spec {
        crate::spec::load_str("quickstart.yaml", QUICKSTART)
            .expect("the quick start is valid")
            .spec
    }

    /// The fixture, each iteration detected by the quick start's `pager` alone.
    fn result() -> RunResult {
        let mut result: RunResult = serde_json::from_str(RESULT).expect("the fixture is a result");
        for it in &mut result.iterations {
            let ms = it
                .time_to_detect_ms
                .expect("the fixture detected every iteration");
            it.detected_by = Some("pager".to_owned());
            it.signals_fired = vec![fired("pager", ms)];
        }
        result
    }

    fn fired(signal: &str, ms: f64) -> SignalFired {
        SignalFired {
            signal: signal.to_owned(),
            at: "2026-11-28T10:00:01Z".parse().unwrap(),
            time_to_detect_ms: ms,
        }
    }

    fn status(card: &crate::scorecard::Scorecard, c: Capability) -> Status {
        capability(card, c).status
    }

    fn gate_names(input: &ScorecardInput) -> Vec<Gate> {
        input.input.gates.iter().map(|g| g.gate).collect()
    }

    fn gate(gate: Gate, provenance: Provenance, result: &RunResult) -> GateHit {
        GateHit {
            measured_at: Some(result.finished_at),
            ..GateHit::new(gate, provenance)
        }
    }

    fn journal() -> JournalCheck {
        JournalCheck {
            records: 120,
            intact: true,
            finished: true,
            faults_injected: 9,
            faults_traced: 9,
            ..JournalCheck::default()
        }
    }

    fn metric<'a>(input: &'a ScorecardInput, name: &str) -> &'a MetricObservation {
        input
            .input
            .capability_metrics
            .iter()
            .find(|m| m.metric.name() == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    #[test]
    fn the_traffic_evidences_recovery_and_continuity_as_the_organisations() {
        let (spec, mut result) = (spec(), result());
        for (n, it) in result.iterations.iter_mut().enumerate() {
            it.traffic = Some(crate::result::IterationTraffic {
                phases: BTreeMap::new(),
                bad_requests: 10 * n as u64,
                budget_allowance: Some(100.0),
                budget_burned: Some(0.1 * n as f64),
                latency_degradation: Some(1.5 + n as f64),
            });
        }
        let input = input_for_run(&spec, &result, &journal());
        let burned = metric(&input, "error-budget-burned");
        assert_eq!(burned.capability, Capability::RecoveryContinuity);
        assert_eq!(burned.provenance, Provenance::Organisation);
        let done = result.iterations.len();
        let expected: Vec<f64> = (0..done).map(|n| 0.1 * n as f64).collect();
        assert_eq!(burned.values, expected);
        let latency = metric(&input, "traffic-latency-during-fault");
        assert_eq!(latency.capability, Capability::RecoveryContinuity);
        assert_eq!(latency.values[0], 1.5);
        // Without traffic, neither is claimed.
        let plain = input_for_run(&spec, &self::result(), &journal());
        assert!(
            plain
                .input
                .capability_metrics
                .iter()
                .all(|m| m.metric.name() != "error-budget-burned")
        );
    }

    #[test]
    fn the_quick_start_evidences_what_its_faults_exercise() {
        let (spec, result) = (spec(), result());
        let input = input_for_run(&spec, &result, &journal());
        let ttd = metric(&input, "time-to-detect-availability");
        assert_eq!(ttd.capability, Capability::Detection);
        // The demo's own alerting paged through the webhook: the organisation noticed.
        assert_eq!(ttd.provenance, Provenance::Organisation);
        let expected: Vec<f64> = result
            .iterations
            .iter()
            .map(|i| i.time_to_detect_ms.unwrap() / 1e3)
            .collect();
        assert_eq!(ttd.values, expected);
        assert_eq!(ttd.measured_at, Some(result.finished_at));
        let ttr = metric(&input, "time-to-recover");
        assert_eq!(
            (ttr.values.len(), ttr.provenance),
            (3, Provenance::Organisation)
        );
        assert_eq!(
            metric(&input, "latency-during-fault").capability,
            Capability::RecoveryContinuity
        );
        // firedrill's own doings are not measurements: no iteration count, no journal.
        for name in ["iterations-completed", "journal-integrity", "faults-traced"] {
            assert!(
                input
                    .input
                    .capability_metrics
                    .iter()
                    .all(|m| m.metric.name() != name),
                "{name}"
            );
        }
        let checks = preconditions_held(&input);
        assert_eq!(
            checks,
            vec![
                (Check::JournalIntact, true),
                (Check::FaultsTraced, true),
                (Check::FaultsReverted, true)
            ]
        );
        assert!(input.input.gates.is_empty());
        assert!(input.input.overrides.is_empty());
        // Three iterations of one run are one dated run.
        assert_eq!(input.input.repeatability.runs, 1);
        let card = score_input(&input, None).unwrap();
        assert_eq!(status(&card, Capability::Containment), Status::NotEvidenced);
        assert_eq!(
            status(&card, Capability::Coordination),
            Status::NotEvidenced
        );
        assert_eq!(status(&card, Capability::Detection), Status::Evidenced);
        assert_eq!(
            status(&card, Capability::EvidenceTraceability),
            Status::NotEvidenced,
            "the journal is a precondition, not a score"
        );
        assert_eq!(
            status(&card, Capability::ContinuousTesting),
            Status::NotEvidenced,
            "one run says nothing of continuous testing"
        );
    }

    #[test]
    fn a_probe_streak_is_simulated_unless_the_experiment_claims_it_as_its_monitoring() {
        let text = QUICKSTART.replace(
            "      - {name: pager, type: webhook, match: {job: firedrill-demo, severity: page}}\n",
            "      - {name: pager, type: webhook, match: {job: firedrill-demo, severity: page}}\n      - {name: synthetic, type: probe-fails, probe: api, consecutive: 3}\n",
        );
        assert_ne!(text, QUICKSTART);
        let spec = crate::spec::load_str("q.yaml", &text).unwrap().spec;
        let mut result = result();
        // The probe streak fired first in every iteration; the pager in two of them.
        for (n, it) in result.iterations.iter_mut().enumerate() {
            it.signals_fired = vec![fired("synthetic", 300.0)];
            if n > 0 {
                it.signals_fired.push(fired("pager", 900.0));
            }
        }
        let input = input_for_run(&spec, &result, &journal());
        let ttd: Vec<&MetricObservation> = input
            .input
            .capability_metrics
            .iter()
            .filter(|m| m.metric == Metric::TimeToDetectAvailability)
            .collect();
        assert_eq!(ttd.len(), 2);
        assert_eq!(ttd[0].provenance, Provenance::Organisation);
        assert_eq!(ttd[0].values, vec![0.9, 0.9]);
        assert_eq!(ttd[1].provenance, Provenance::Simulated);
        assert_eq!(ttd[1].values, vec![0.3, 0.3, 0.3]);
        // The organisation missed the first iteration, whatever firedrill's probe saw.
        assert_eq!(
            input.input.gates,
            vec![gate(Gate::NoDetection, Provenance::Organisation, &result)]
        );
        let card = score_input(&input, None).unwrap();
        let detection = capability(&card, Capability::Detection);
        assert_eq!(detection.score, Some(0.0));
        assert_eq!(detection.simulated_score, Some(100.0));

        // Claimed as the organisation's own monitoring, the probe streak counts.
        let claimed = text.replace(
            "  iterations: 3\n",
            "  scorecard: {organisationMonitoring: [api]}\n  iterations: 3\n",
        );
        let spec = crate::spec::load_str("q.yaml", &claimed).unwrap().spec;
        let input = input_for_run(&spec, &result, &journal());
        let ttd = metric(&input, "time-to-detect-availability");
        assert_eq!(ttd.provenance, Provenance::Organisation);
        assert_eq!(ttd.values, vec![0.3, 0.3, 0.3]);
        assert!(input.input.gates.is_empty());
        assert_eq!(input.input.overrides.len(), 1);
        assert_eq!(input.input.overrides[0].setting, "probe api");
    }

    #[test]
    fn an_undetected_iteration_gates_detection_and_an_unrecovered_one_scores_at_the_limit() {
        let spec = spec();
        let mut result = result();
        result.iterations[1].time_to_detect_ms = None;
        result.iterations[1].signals_fired.clear();
        result.iterations[1].detected_by = None;
        result.iterations[2].time_to_recover_ms = None;
        let input = input_for_run(&spec, &result, &journal());
        assert_eq!(
            input.input.gates,
            vec![gate(Gate::NoDetection, Provenance::Organisation, &result)]
        );
        assert_eq!(
            metric(&input, "time-to-detect-availability").values.len(),
            2
        );
        assert_eq!(metric(&input, "time-to-recover").values[2], 24.0 * 3600.0);
    }

    /// A summary of 100 observations with this p99 and availability.
    fn summary(p99: f64, availability: f64) -> crate::measure::LatencySummary {
        crate::measure::LatencySummary {
            count: 100,
            errors: ((1.0 - availability) * 100.0).round() as u64,
            availability: Some(availability),
            p50: Some(p99 / 2.0),
            p90: Some(p99),
            p99: Some(p99),
            max: Some(p99),
        }
    }

    #[test]
    fn a_dependency_fault_evidences_third_party_resilience_from_its_own_window() {
        let mut result = result();
        for it in &mut result.iterations {
            let base = it.probes["api"]["baseline"].p99.unwrap();
            for fault in &mut it.faults {
                if fault.fault_type == "dependency-errors" {
                    // While it held beside the freeze, and while it held alone.
                    fault.probes = [("api".to_owned(), summary(base * 50.0, 0.4))].into();
                    fault.probes_alone = [("api".to_owned(), summary(base * 1.5, 0.995))].into();
                }
            }
        }
        let input = input_for_run(&spec(), &result, &journal());
        let third: Vec<&MetricObservation> = input
            .input
            .capability_metrics
            .iter()
            .filter(|m| m.capability == Capability::ThirdPartyResilience)
            .collect();
        assert_eq!(third.len(), 2, "{third:?}");
        assert_eq!(third[0].metric, Metric::LatencyDuringFault);
        for v in &third[0].values {
            assert!((v - 1.5).abs() < 1e-9, "{v}");
        }
        assert_eq!(third[1].metric.name(), "availability-during-fault");
        assert_eq!(third[1].values, vec![0.995; 3]);
        assert!(
            third
                .iter()
                .all(|m| m.provenance == Provenance::Organisation)
        );
        let card = score_input(&input, None).unwrap();
        assert_eq!(
            capability(&card, Capability::ThirdPartyResilience).score,
            Some(100.0)
        );
        // The process faults still speak for the service's own continuity.
        assert_eq!(
            metric(&input, "latency-during-fault").capability,
            Capability::RecoveryContinuity
        );

        // Never alone: its whole window counts.
        for it in &mut result.iterations {
            for fault in &mut it.faults {
                fault.probes_alone.clear();
            }
        }
        let input = input_for_run(&spec(), &result, &journal());
        let card = score_input(&input, None).unwrap();
        assert_eq!(
            capability(&card, Capability::ThirdPartyResilience).score,
            Some(0.0)
        );
    }

    #[test]
    fn a_failed_revert_voids_the_page() {
        let mut result = result();
        result
            .rollback
            .failed
            .push("freeze-all: no such process".to_owned());
        let input = input_for_run(&spec(), &result, &journal());
        assert!(input.input.gates.is_empty());
        let reverted = input
            .input
            .preconditions
            .iter()
            .find(|p| p.check == Check::FaultsReverted)
            .unwrap();
        assert!(!reverted.held);
        assert!(reverted.detail.contains("no such process"), "{reverted:?}");
        let card = score_input(&input, None).unwrap();
        assert_eq!(card.overall.verdict, Verdict::Untrusted);
        assert_eq!(card.overall.score, None);
        assert_eq!(card.overall.partial_score, None);
        assert!(!card.trusted());
    }

    #[test]
    fn overrides_change_the_mapping_the_targets_and_the_weights() {
        let text = QUICKSTART.replace(
            "  iterations: 3\n",
            "  scorecard:\n    capabilities:\n      process-pause: []\n      process-kill: []\n    targets:\n      timeToDetect: {target: 100ms, limit: 5s}\n    weights: {detection: 50}\n  iterations: 3\n",
        );
        let spec = crate::spec::load_str("q.yaml", &text).unwrap().spec;
        let input = input_for_run(&spec, &result(), &journal());
        // The process faults still share the fault phase with the dependency fault, mapped or
        // not, so the latency stays the service's own.
        assert_eq!(
            metric(&input, "latency-during-fault").capability,
            Capability::RecoveryContinuity
        );
        assert_eq!(
            metric(&input, "time-to-detect-availability").scale,
            Some(Scale::Duration {
                target_secs: 0.1,
                limit_secs: 5.0
            })
        );
        assert_eq!(input.weights[&Capability::Detection], 50.0);
        assert_eq!(input.weights[&Capability::RecoveryContinuity], 20.0);
        // Each change is listed for the overrides box, beside its default.
        let target = input
            .input
            .overrides
            .iter()
            .find(|o| o.setting == "target / limit of time-to-detect")
            .expect("the target override is listed");
        assert_eq!(
            (target.default.as_str(), target.value.as_str()),
            ("2m / 15m", "100ms / 5s")
        );
        assert_eq!(
            input.input.overrides.len(),
            4,
            "{:?}",
            input.input.overrides
        );
    }

    #[test]
    fn a_broken_or_missing_journal_fails_its_preconditions() {
        let check = JournalCheck {
            intact: false,
            faults_traced: 6,
            detail: "record 7: the hash does not match".to_owned(),
            ..journal()
        };
        let input = input_for_run(&spec(), &result(), &check);
        let held = preconditions_held(&input);
        assert_eq!(
            held,
            vec![
                (Check::JournalIntact, false),
                (Check::FaultsTraced, false),
                (Check::FaultsReverted, true)
            ]
        );
        assert_eq!(
            input.input.preconditions[1].detail,
            "6 of 9 injected faults traced"
        );
        // A journal deleted or emptied after the run voids the page too.
        let nothing = JournalCheck::default();
        let input = input_for_run(&spec(), &result(), &nothing);
        let held = preconditions_held(&input);
        assert_eq!(
            held,
            vec![(Check::JournalIntact, false), (Check::FaultsReverted, true)]
        );
        assert_eq!(
            input.input.preconditions[0].detail,
            "the journal holds no record"
        );
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Each precondition of `input` and whether it held.
    fn preconditions_held(input: &ScorecardInput) -> Vec<(Check, bool)> {
        input
            .input
            .preconditions
            .iter()
            .map(|p| (p.check, p.held))
            .collect()
    }

    fn draft(kind: &str, ms: f64, missing: &[&str]) -> NotificationResult {
        NotificationResult {
            iteration: 1,
            kind: kind.to_owned(),
            awareness_at: at("2026-11-28T10:00:00Z"),
            deadline_at: at("2026-11-29T10:00:00Z"),
            drafted_at: at("2026-11-28T10:00:00Z"),
            time_to_draft_ms: ms,
            file: String::new(),
            mandatory_flags_missing: missing.iter().map(|s| (*s).to_owned()).collect(),
            fields_known: 0,
            fields_estimated: 0,
            fields_unknown: 0,
            journal_seq: 1,
            delivery: None,
        }
    }

    #[test]
    fn drafts_and_acknowledgements_evidence_reporting_and_coordination() {
        let mut result = result();
        result.notifications = vec![
            draft("nis2-early-warning", 40.0, &[]),
            draft("nis2-incident-notification", 41.0, &[]),
            draft("nis2-early-warning", 60.0, &["crossBorderImpact"]),
        ];
        result.notifications[0].delivery = Some(crate::result::DeliveryResult {
            url: "http://127.0.0.1:1/".to_owned(),
            delivered_at: None,
            time_to_deliver_ms: None,
            status: None,
            error: Some("connection refused".to_owned()),
        });
        let ack = |role: &str, ms: Option<f64>| AcknowledgementResult {
            role: role.to_owned(),
            acknowledged_at: ms.map(|_| at("2026-11-28T10:00:30Z")),
            time_to_acknowledge_ms: ms,
            by: None,
            note: None,
            journal_seq: None,
        };
        result.coordination = Some(CoordinationResult {
            awareness_at: Some(at("2026-11-28T10:00:00Z")),
            timeout_ms: 1000.0,
            acknowledgements: vec![ack("legal", Some(30_000.0)), ack("management", None)],
        });
        let input = input_for_run(&spec(), &result, &journal());
        assert_eq!(
            metric(&input, "early-warning-draft").values,
            vec![0.04, 0.06]
        );
        // Never delivered: at the 24 h limit.
        assert_eq!(
            metric(&input, "early-warning-delivery").values,
            vec![24.0 * 3600.0]
        );
        assert_eq!(
            metric(&input, "time-to-acknowledge (legal)").values,
            vec![30.0]
        );
        assert_eq!(
            metric(&input, "time-to-acknowledge (management)").values,
            vec![4.0 * 3600.0]
        );
        assert!(input.input.gates.contains(&gate(
            Gate::MissingMandatoryNotificationFlag,
            Provenance::Simulated,
            &result
        )));

        // An early warning people approved is theirs: its gaps are the organisation's, and
        // the draft's no longer count.
        let approved = |missing: &[&str]| {
            let mut with = result.clone();
            with.response = Some(crate::result::ResponseResult {
                responders: "people".to_owned(),
                time_scale: 1.0,
                awareness_at: Some(at("2026-11-28T10:00:00Z")),
                judged_on_iteration: Some(1),
                roles: Vec::new(),
                decisions: Vec::new(),
                approvals: vec![crate::result::ApprovalResult {
                    report: "nis2-early-warning".to_owned(),
                    reviewed_by: None,
                    review: None,
                    approved_by: "legal".to_owned(),
                    outcome: "approved".to_owned(),
                    decided_at: None,
                    clock_started_ms: Some(0.0),
                    time_to_approve_ms: Some(60_000.0),
                    deadline_ms: 86_400_000.0,
                    within_deadline: true,
                    submission: None,
                    mandatory_flags_missing: missing.iter().map(|m| (*m).to_owned()).collect(),
                }],
            });
            let gates = input_for_run(&spec(), &with, &journal()).input.gates;
            gates
                .iter()
                .filter(|g| g.gate == Gate::MissingMandatoryNotificationFlag)
                .map(|g| g.provenance)
                .collect::<Vec<_>>()
        };
        assert_eq!(approved(&[]), Vec::<Provenance>::new());
        assert_eq!(
            approved(&["suspectedMalicious"]),
            [Provenance::Organisation]
        );

        let card = score_input(&input, None).unwrap();
        let coordination = card
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::Coordination)
            .unwrap();
        // 100 for legal (30 s is under 15 min), 0 for the role that never acknowledged.
        assert_eq!(coordination.score, Some(50.0));

        // A game day at time scale 60: the same real seconds are 60 times as long in the
        // exercise's time, which the law's clocks count. Detection and recovery stay real.
        let mut spec = spec();
        spec.response = Some(crate::spec::Response {
            time_scale: 60.0,
            ..Default::default()
        });
        let scaled = input_for_run(&spec, &result, &journal());
        assert_eq!(
            metric(&scaled, "early-warning-draft").values,
            vec![0.04 * 60.0, 0.06 * 60.0]
        );
        assert_eq!(
            metric(&scaled, "time-to-acknowledge (legal)").values,
            vec![30.0 * 60.0],
            "30 s at 60 is 30 min of exercise time"
        );
        assert_eq!(
            metric(&scaled, "early-warning-delivery").values,
            vec![24.0 * 3600.0],
            "never delivered is still the limit"
        );
        assert_eq!(
            metric(&scaled, "time-to-recover").values,
            metric(&input, "time-to-recover").values
        );
        let card = score_input(&scaled, None).unwrap();
        let legal = card
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::Coordination)
            .unwrap()
            .metrics
            .iter()
            .find(|m| m.name == "time-to-acknowledge (legal)")
            .unwrap()
            .score
            .unwrap();
        assert!(legal < 100.0, "30 min is over the 15 min target: {legal}");
    }

    #[test]
    fn decisions_evidence_the_capability_each_belongs_to_and_roles_coordination() {
        use crate::result::{DecisionResult, ResponseResult, ResponseRoleResult};
        let mut result = result();
        let decision = |point: &str, decision: &str, asked: bool, score: f64| DecisionResult {
            point: point.to_owned(),
            decision: decision.to_owned(),
            question: String::new(),
            decided_by: "legal".to_owned(),
            handed_from: None,
            budget_ms: 3_600_000.0,
            asked_at: asked.then(|| at("2026-11-28T10:00:00Z")),
            answer: None,
            rationale: None,
            by: None,
            answered_at: None,
            time_to_decide_ms: None,
            snapshot: None,
            unknown_share: None,
            timely: false,
            consistency: None,
            hindsight: None,
            timeliness: 0.0,
            score,
            findings: Vec::new(),
            journal_seq: None,
        };
        let role = |name: &str, opened: Option<&str>| ResponseRoleResult {
            role: name.to_owned(),
            function: name.to_owned(),
            reach: "none".to_owned(),
            link_opened_at: opened.map(at),
            chat: Vec::new(),
        };
        result.response = Some(ResponseResult {
            approvals: Vec::new(),
            responders: "people".to_owned(),
            time_scale: 60.0,
            awareness_at: Some(at("2026-11-28T10:00:00Z")),
            judged_on_iteration: Some(1),
            roles: vec![
                role("incident-commander", Some("2026-11-28T10:00:10Z")),
                role("legal", None),
            ],
            decisions: vec![
                decision("significance", "nis2-significant-incident", true, 100.0),
                DecisionResult {
                    handed_from: Some("incident-commander".to_owned()),
                    time_to_decide_ms: Some(1_800_000.0),
                    ..decision("notify", "notify-authority", true, 52.0)
                },
                DecisionResult {
                    handed_from: Some("incident-commander".to_owned()),
                    ..decision("contain", "contain-or-observe", true, 0.0)
                },
                decision("status-page", "custom", true, 80.0),
                DecisionResult {
                    handed_from: Some("incident-commander".to_owned()),
                    ..decision("never-put", "inform-customers", false, 0.0)
                },
            ],
        });
        let input = input_for_run(&spec(), &result, &journal());
        let quality = |capability: Capability| {
            input
                .input
                .capability_metrics
                .iter()
                .find(|m| m.capability == capability && m.metric == Metric::DecisionQuality)
                .map(|m| m.values.clone())
        };
        assert_eq!(
            quality(Capability::ReportingReadiness),
            Some(vec![1.0, 0.52])
        );
        assert_eq!(quality(Capability::Containment), Some(vec![0.0]));
        assert_eq!(
            quality(Capability::Coordination),
            Some(vec![0.8]),
            "a point never put is not scored"
        );
        // 10 s real at scale 60 is 10 min of exercise time; a role that never came is at
        // the 4 h limit.
        assert_eq!(
            metric(&input, "time-to-assemble").values,
            vec![600.0, 4.0 * 3600.0]
        );
        // Hand-offs: 30 min from the point put to legal's answer, one never answered at the
        // limit, and the one never put not at all.
        let hand_offs = metric(&input, "hand-off-delay");
        assert_eq!(hand_offs.values, vec![1800.0, 4.0 * 3600.0]);
        assert_eq!(hand_offs.capability, Capability::Coordination);
        assert!(
            input
                .input
                .capability_metrics
                .iter()
                .filter(|m| matches!(m.metric, Metric::DecisionQuality | Metric::TimeToAssemble))
                .all(|m| m.provenance == Provenance::Organisation)
        );
        let card = score_input(&input, None).unwrap();
        let reporting = card
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::ReportingReadiness)
            .unwrap();
        let score = reporting
            .metrics
            .iter()
            .find(|m| m.name == "decision-quality")
            .unwrap()
            .score
            .unwrap();
        // As for every ratio, the weakest value counts: the weakest decision.
        assert!((score - 52.0).abs() < 1e-9, "{score}");
    }

    /// A spec of detection canaries and prevention checks (read without validation: the
    /// scorecard does not care where they run).
    fn security_spec(extra: &str) -> Spec {
        let text = format!(
            r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {{name: security}}
spec:
  target: {{platform: local, workloads: [{{name: web, command: [x]}}]}}
  steadyState: {{probes: [{{name: api, type: tcp, address: "127.0.0.1:1"}}]}}
  detection: {{signals: [{{name: siem, type: webhook, match: {{alertname: Canary}}}}]}}
  faults:
    - {{name: env-file, type: canary-request, url: "http://127.0.0.1:1/.env"}}
    - {{name: honeytoken, type: canary-file-read, path: /tmp/x}}
    - {{name: privileged, type: prevent-privileged-pod, namespace: shop}}
    - {{name: host-path, type: prevent-host-path, namespace: shop}}
{extra}
"#
        );
        serde_saphyr::from_str::<crate::spec::Experiment>(&text)
            .unwrap()
            .spec
    }

    fn canary(name: &str, ttd_ms: Option<f64>) -> FaultRecord {
        FaultRecord {
            name: name.to_owned(),
            fault_type: "canary-request".to_owned(),
            targets: Vec::new(),
            injected_at: Some(at("2026-11-28T10:00:00Z")),
            reverted_at: None,
            error: None,
            probes: Default::default(),
            probes_alone: Default::default(),
            security: Some(crate::result::SecurityOutcome::Canary(
                crate::result::CanaryOutcome::default(),
            )),
            detected_at: Some(ttd_ms.map(|_| at("2026-11-28T10:00:01Z"))),
            detected_by: Some(ttd_ms.map(|_| "siem".to_owned())),
            time_to_detect_ms: Some(ttd_ms),
            effect: None,
        }
    }

    fn check(name: &str, refused: bool) -> FaultRecord {
        FaultRecord {
            fault_type: "prevent-privileged-pod".to_owned(),
            security: Some(crate::result::SecurityOutcome::Prevention(
                crate::result::PreventionOutcome {
                    action: format!("create pod shop/firedrill-canary-{name}"),
                    refused,
                    status: Some(if refused { 403 } else { 201 }),
                    reason: None,
                    message: String::new(),
                    undone: Vec::new(),
                    markers: Vec::new(),
                },
            )),
            detected_at: None,
            detected_by: None,
            time_to_detect_ms: None,
            ..canary(name, None)
        }
    }

    /// The quick start's result with each iteration's faults replaced.
    fn result_with(faults: [Vec<FaultRecord>; 3]) -> RunResult {
        let mut result = result();
        for (it, faults) in result.iterations.iter_mut().zip(faults) {
            it.faults = faults;
        }
        result
    }

    fn capability(
        card: &crate::scorecard::Scorecard,
        c: Capability,
    ) -> &crate::scorecard::CapabilityScore {
        card.capabilities
            .iter()
            .find(|s| s.capability == c)
            .unwrap()
    }

    #[test]
    fn canaries_score_their_own_time_to_detect_and_the_share_noticed() {
        let result = result_with([
            vec![canary("a", Some(2000.0)), canary("b", Some(4000.0))],
            vec![canary("a", Some(1000.0)), canary("b", None)],
            vec![canary("a", Some(3000.0)), canary("b", Some(5000.0))],
        ]);
        let input = input_for_run(&security_spec(""), &result, &journal());
        let ttd = metric(&input, "time-to-detect-security-canary");
        assert_eq!(ttd.capability, Capability::Detection);
        assert_eq!(ttd.values, vec![2.0, 4.0, 1.0, 3.0, 5.0]);
        assert_eq!(ttd.scale, None, "the reference's 15 min / 4 h");
        let recall = metric(&input, CANARY_RECALL);
        assert_eq!(recall.capability, Capability::Detection);
        assert_eq!(recall.values, vec![1.0, 0.5, 1.0]);
        // A partial miss lowers the recall; it does not gate detection.
        assert!(input.input.gates.is_empty(), "{:?}", input.input.gates);
        // The iteration's first signal would be a canary's: no availability figure.
        assert!(
            input
                .input
                .capability_metrics
                .iter()
                .all(|m| m.metric != Metric::TimeToDetectAvailability)
        );
        let card = score_input(&input, None).unwrap();
        assert!(
            card.cannot_evidence
                .contains(&crate::scorecard::CANARY_CAVEAT.to_owned())
        );
        let detection = capability(&card, Capability::Detection);
        // Every canary within the 15 min target: 100; recall's worst iteration: 50.
        assert_eq!(detection.score, Some(75.0));
    }

    #[test]
    fn no_canary_noticed_gates_detection() {
        let result = result_with([
            vec![canary("a", None)],
            vec![canary("a", None)],
            vec![canary("a", None)],
        ]);
        let input = input_for_run(&security_spec(""), &result, &journal());
        assert_eq!(gate_names(&input), vec![Gate::NoDetection]);
        assert_eq!(metric(&input, CANARY_RECALL).values, vec![0.0; 3]);
        let card = score_input(&input, None).unwrap();
        assert_eq!(capability(&card, Capability::Detection).score, Some(0.0));
    }

    #[test]
    fn a_canary_target_replaces_the_default_scale() {
        let spec =
            security_spec("  scorecard: {targets: {timeToDetectCanary: {target: 10s, limit: 5m}}}");
        let result = result_with([
            vec![canary("a", Some(2000.0))],
            vec![canary("a", Some(2000.0))],
            vec![canary("a", Some(2000.0))],
        ]);
        let input = input_for_run(&spec, &result, &journal());
        assert_eq!(
            metric(&input, "time-to-detect-security-canary").scale,
            Some(Scale::Duration {
                target_secs: 10.0,
                limit_secs: 300.0
            })
        );
    }

    #[test]
    fn prevention_checks_evidence_containment_and_an_accepted_one_caps_it() {
        let refused = result_with([
            vec![check("privileged", true), check("host-path", true)],
            vec![check("privileged", true), check("host-path", true)],
            vec![check("privileged", true), check("host-path", true)],
        ]);
        let input = input_for_run(&security_spec(""), &refused, &journal());
        let metric_of = metric(&input, PREVENTION_REFUSED);
        assert_eq!(metric_of.capability, Capability::Containment);
        assert_eq!(metric_of.values, vec![1.0; 3]);
        assert!(input.input.gates.is_empty());
        let card = score_input(&input, None).unwrap();
        assert_eq!(
            capability(&card, Capability::Containment).score,
            Some(100.0)
        );
        assert!(
            !card
                .cannot_evidence
                .contains(&crate::scorecard::CANARY_CAVEAT.to_owned()),
            "no canary, no caveat"
        );

        let accepted = result_with([
            vec![check("privileged", false), check("host-path", true)],
            vec![check("privileged", true), check("host-path", true)],
            vec![check("privileged", true), check("host-path", true)],
        ]);
        let input = input_for_run(&security_spec(""), &accepted, &journal());
        assert_eq!(
            metric(&input, PREVENTION_REFUSED).values,
            vec![0.5, 1.0, 1.0]
        );
        assert_eq!(gate_names(&input), vec![Gate::PreventionBypassed]);
        assert_eq!(input.input.gates[0].provenance, Provenance::Organisation);
        let card = score_input(&input, None).unwrap();
        let containment = capability(&card, Capability::Containment);
        assert_eq!(containment.score, Some(crate::scorecard::GATE_CAP));
        assert_eq!(containment.gates[0].gate, Gate::PreventionBypassed);
    }

    #[test]
    fn unmapped_security_drills_are_not_scored() {
        let spec = security_spec(
            "  scorecard: {capabilities: {canary-request: [], prevent-privileged-pod: []}}",
        );
        let result = result_with([
            vec![canary("a", None), check("privileged", false)],
            vec![canary("a", None), check("privileged", false)],
            vec![canary("a", None), check("privileged", false)],
        ]);
        let input = input_for_run(&spec, &result, &journal());
        assert!(input.input.gates.is_empty(), "{:?}", input.input.gates);
        for name in [CANARY_RECALL, PREVENTION_REFUSED] {
            assert!(
                input
                    .input
                    .capability_metrics
                    .iter()
                    .all(|m| m.metric.name() != name)
            );
        }
    }

    #[test]
    fn a_suite_keeps_each_measurement_with_its_experiment() {
        let spec = spec();
        let one = input_for_run(&spec, &result(), &journal());
        let mut two = one.clone();
        two.input.repeatability.runs = 1;
        two.input
            .gates
            .push(GateHit::new(Gate::NoDetection, Provenance::Organisation));
        let weights = [(Capability::Detection, 0.0)].into_iter().collect();
        let combined = combine([("a", &one), ("b", &two)], Some(&weights));
        let n = one.input.capability_metrics.len();
        assert_eq!(combined.input.capability_metrics.len(), 2 * n);
        assert_eq!(
            combined.input.capability_metrics[0].source.as_deref(),
            Some("a")
        );
        assert_eq!(
            combined.input.capability_metrics[n].source.as_deref(),
            Some("b")
        );
        assert_eq!(gate_names(&combined), vec![Gate::NoDetection]);
        assert_eq!(combined.input.repeatability.runs, 1);
        assert_eq!(combined.weights[&Capability::Detection], 0.0);
    }
}
