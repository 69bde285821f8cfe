//! From one run to the scorecard's input: what the run measured, attributed to the
//! capabilities the experiment exercised (docs/scorecard.md, "From a run to the scorecard").
//!
//! Pure: the result, the experiment's overrides and the journal check in, a
//! [`ScorecardInput`] out.

use crate::journal::JournalCheck;
use crate::result::{FaultRecord, IterationResult, RunResult, RunStatus};
use crate::scorecard::evidence::{
    ACKNOWLEDGE_SCALE, CANARY_RECALL, COMPLETED_SCALE, DELIVERY_SCALE, PREVENTION_REFUSED,
    exercised, journal_metrics, mapping_of,
};
use crate::scorecard::{
    Capability, Gate, Metric, MetricObservation, Repeatability, Scale, ScoreInput, ScorecardInput,
    default_weights,
};
use crate::spec::{DurationTarget, Spec};

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

/// What the run measured, attributed to the capabilities the experiment exercised.
pub fn input_for_run(spec: &Spec, result: &RunResult, journal: &JournalCheck) -> ScorecardInput {
    let exercised = exercised(spec);
    let targets = spec
        .scorecard
        .as_ref()
        .map(|s| s.targets.clone())
        .unwrap_or_default();
    let done: Vec<_> = result
        .iterations
        .iter()
        .filter(|i| i.status.completed())
        .collect();
    let mut metrics = Vec::new();
    let mut gates = Vec::new();
    let secs = |ms: f64| ms / 1e3;
    let mapping = mapping_of(spec);
    let maps = |fault_type: &str, capability: Capability| {
        mapping.capabilities(fault_type).contains(&capability)
    };

    // A canary's own time to detect replaces the iteration's when the canaries are all that
    // detection is asked to notice: the iteration's first signal would be a canary's.
    let availability_detection = spec
        .faults
        .iter()
        .any(|f| f.canary_signals().is_none() && maps(f.type_name(), Capability::Detection));
    if availability_detection && spec.detection.is_some() && !done.is_empty() {
        let values: Vec<f64> = done
            .iter()
            .filter_map(|i| i.time_to_detect_ms.map(secs))
            .collect();
        if values.len() < done.len() {
            gates.push(Gate::NoDetection);
        }
        if !values.is_empty() {
            let mut observation = MetricObservation::new(
                Capability::Detection,
                Metric::TimeToDetectAvailability,
                values,
            );
            observation.scale = duration_scale(targets.time_to_detect);
            metrics.push(observation);
        }
    }

    metrics.extend(canary_metrics(
        &done,
        &maps,
        targets.time_to_detect_canary,
        &mut gates,
    ));
    metrics.extend(prevention_metrics(&done, &maps, &mut gates));

    if exercised.contains(&Capability::RecoveryContinuity) && !done.is_empty() {
        let scale = duration_scale(targets.time_to_recover);
        let limit = limit_of(scale.unwrap_or_else(|| Metric::TimeToRecover.default_scale()));
        // An iteration that never recovered counts as recovering at the limit: a score of 0.
        let values = done
            .iter()
            .map(|i| i.time_to_recover_ms.map_or(limit, secs))
            .collect();
        let mut observation = MetricObservation::new(
            Capability::RecoveryContinuity,
            Metric::TimeToRecover,
            values,
        );
        observation.scale = scale;
        metrics.push(observation);
    }
    if !result.rollback.failed.is_empty() || result.status == RunStatus::RollbackFailed {
        gates.push(Gate::FailedRollback);
    }

    // Service delivery while the faults hold. The fault phase covers every fault of the
    // schedule, so the latency speaks for third-party resilience only when every fault breaks
    // a third party; otherwise it is the service's own continuity.
    let all_third_party = !spec.faults.is_empty()
        && spec.faults.iter().all(|f| {
            mapping
                .capabilities(f.type_name())
                .contains(&Capability::ThirdPartyResilience)
        });
    let latency_capability = if all_third_party {
        Some(Capability::ThirdPartyResilience)
    } else {
        Some(Capability::RecoveryContinuity).filter(|c| exercised.contains(c))
    };
    if let Some(capability) = latency_capability {
        let values: Vec<f64> = done
            .iter()
            .filter_map(|i| {
                i.probes
                    .values()
                    .filter_map(|phases| {
                        let base = phases.get("baseline")?.p99?;
                        let fault = phases.get("fault")?.p99?;
                        (base > 0.0).then(|| fault / base)
                    })
                    .reduce(f64::max)
            })
            .collect();
        if !values.is_empty() {
            let mut observation =
                MetricObservation::new(capability, Metric::LatencyDuringFault, values);
            observation.scale = targets.latency_during_fault.map(|m| Scale::Multiple {
                target: m.target,
                limit: m.limit,
            });
            metrics.push(observation);
        }
    }

    if exercised.contains(&Capability::ContinuousTesting) && result.settings.iterations > 0 {
        let share = done.len() as f64 / f64::from(result.settings.iterations);
        metrics.push(MetricObservation::new(
            Capability::ContinuousTesting,
            Metric::Custom {
                name: "iterations-completed".to_owned(),
                scale: COMPLETED_SCALE,
            },
            vec![share.min(1.0)],
        ));
    }

    // The journal evidences every run, whatever its faults.
    metrics.extend(journal_metrics(journal));

    let early_warnings: Vec<_> = result
        .notifications
        .iter()
        .filter(|n| n.kind == "nis2-early-warning")
        .collect();
    if !early_warnings.is_empty() {
        let mut draft = MetricObservation::new(
            Capability::ReportingReadiness,
            Metric::EarlyWarningDraft,
            early_warnings
                .iter()
                .map(|n| secs(n.time_to_draft_ms))
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
                .map(|d| d.time_to_deliver_ms.map_or(limit, secs))
                .collect();
            metrics.push(MetricObservation::new(
                Capability::ReportingReadiness,
                Metric::Custom {
                    name: "early-warning-delivery".to_owned(),
                    scale,
                },
                values,
            ));
        }
        if early_warnings
            .iter()
            .any(|n| !n.mandatory_flags_missing.is_empty())
        {
            gates.push(Gate::MissingMandatoryNotificationFlag);
        }
    }

    if let Some(coordination) = &result.coordination
        && coordination.awareness_at.is_some()
    {
        let scale = duration_scale(targets.time_to_acknowledge).unwrap_or(ACKNOWLEDGE_SCALE);
        let limit = limit_of(scale);
        for ack in &coordination.acknowledgements {
            // A role that never acknowledged counts as acknowledging at the limit.
            metrics.push(MetricObservation::new(
                Capability::Coordination,
                Metric::Custom {
                    name: format!("time-to-acknowledge ({})", ack.role),
                    scale,
                },
                vec![ack.time_to_acknowledge_ms.map_or(limit, secs)],
            ));
        }
    }

    let mut weights = default_weights();
    if let Some(overrides) = &spec.scorecard {
        weights.extend(overrides.weights.iter().map(|(c, w)| (*c, *w)));
    }
    ScorecardInput {
        input: ScoreInput {
            capability_metrics: metrics,
            gates,
            // One run is one dated run, whatever its iterations; a history adds the others.
            repeatability: Repeatability {
                runs: 1,
                ..Repeatability::default()
            },
        },
        weights,
    }
}

/// Detection canaries: each noticed canary's time to detect, and per iteration the share
/// noticed. Only a run in which no canary at all was noticed hits the no-detection gate;
/// partial misses lower the recall instead.
fn canary_metrics(
    done: &[&IterationResult],
    maps: &dyn Fn(&str, Capability) -> bool,
    target: Option<DurationTarget>,
    gates: &mut Vec<Gate>,
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
    let mut metrics = Vec::new();
    let times: Vec<f64> = per_iteration
        .iter()
        .flatten()
        .filter_map(|f| f.noticed().map(|(_, _, ms)| ms / 1e3))
        .collect();
    if times.is_empty() {
        gates.push(Gate::NoDetection);
    } else {
        let mut observation = MetricObservation::new(
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
            let noticed = canaries.iter().filter(|f| f.noticed().is_some()).count();
            noticed as f64 / canaries.len() as f64
        })
        .collect();
    metrics.push(MetricObservation::new(
        Capability::Detection,
        Metric::Custom {
            name: CANARY_RECALL.to_owned(),
            scale: COMPLETED_SCALE,
        },
        recall,
    ));
    metrics
}

/// Prevention checks: per iteration the share policy refused; any accepted check is a
/// finding that caps containment.
fn prevention_metrics(
    done: &[&IterationResult],
    maps: &dyn Fn(&str, Capability) -> bool,
    gates: &mut Vec<Gate>,
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
        gates.push(Gate::PreventionBypassed);
    }
    if refused.is_empty() {
        return Vec::new();
    }
    vec![MetricObservation::new(
        Capability::Containment,
        Metric::Custom {
            name: PREVENTION_REFUSED.to_owned(),
            scale: COMPLETED_SCALE,
        },
        refused,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{AcknowledgementResult, CoordinationResult, NotificationResult};
    use crate::scorecard::evidence::{combine, score_input};
    use crate::time::Timestamp;

    const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");
    const RESULT: &str = include_str!("../../tests/fixtures/results/quickstart-result.json");

    fn spec() -> Spec {
        crate::spec::load_str("quickstart.yaml", QUICKSTART)
            .expect("the quick start is valid")
            .spec
    }

    fn result() -> RunResult {
        serde_json::from_str(RESULT).expect("the fixture is a result")
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
    fn the_quick_start_evidences_what_its_faults_exercise() {
        let (spec, result) = (spec(), result());
        let input = input_for_run(&spec, &result, &journal());
        let ttd = metric(&input, "time-to-detect-availability");
        assert_eq!(ttd.capability, Capability::Detection);
        let expected: Vec<f64> = result
            .iterations
            .iter()
            .map(|i| i.time_to_detect_ms.unwrap() / 1e3)
            .collect();
        assert_eq!(ttd.values, expected);
        assert_eq!(metric(&input, "time-to-recover").values.len(), 3);
        // Process and dependency faults share the fault phase: latency is the service's own.
        assert_eq!(
            metric(&input, "latency-during-fault").capability,
            Capability::RecoveryContinuity
        );
        assert_eq!(metric(&input, "iterations-completed").values, vec![1.0]);
        assert_eq!(metric(&input, "journal-integrity").values, vec![1.0]);
        assert_eq!(metric(&input, "faults-traced").values, vec![1.0]);
        assert!(input.input.gates.is_empty());
        // Three iterations of one run are one dated run.
        assert_eq!(input.input.repeatability.runs, 1);
        let card = score_input(&input).unwrap();
        let status = |c: Capability| {
            card.capabilities
                .iter()
                .find(|s| s.capability == c)
                .unwrap()
                .status
        };
        assert_eq!(
            status(Capability::Containment),
            crate::scorecard::Status::NotEvidenced
        );
        assert_eq!(
            status(Capability::Coordination),
            crate::scorecard::Status::NotEvidenced
        );
        assert_eq!(
            status(Capability::Detection),
            crate::scorecard::Status::Evidenced
        );
    }

    #[test]
    fn an_undetected_iteration_gates_detection_and_an_unrecovered_one_scores_at_the_limit() {
        let spec = spec();
        let mut result = result();
        result.iterations[1].time_to_detect_ms = None;
        result.iterations[2].time_to_recover_ms = None;
        let input = input_for_run(&spec, &result, &journal());
        assert_eq!(input.input.gates, vec![Gate::NoDetection]);
        assert_eq!(
            metric(&input, "time-to-detect-availability").values.len(),
            2
        );
        assert_eq!(metric(&input, "time-to-recover").values[2], 24.0 * 3600.0);
    }

    #[test]
    fn latency_speaks_for_the_third_party_when_every_fault_breaks_one() {
        let text = include_str!("../../experiments/local/third-party.yaml");
        let spec = crate::spec::load_str("third-party.yaml", text)
            .unwrap()
            .spec;
        let input = input_for_run(&spec, &result(), &journal());
        assert_eq!(
            metric(&input, "latency-during-fault").capability,
            Capability::ThirdPartyResilience
        );
    }

    #[test]
    fn a_failed_rollback_gates_recovery() {
        let mut result = result();
        result
            .rollback
            .failed
            .push("freeze-all: no such process".to_owned());
        let input = input_for_run(&spec(), &result, &journal());
        assert_eq!(input.input.gates, vec![Gate::FailedRollback]);
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
    }

    #[test]
    fn a_broken_journal_scores_no_integrity_and_untraced_faults_count() {
        let check = JournalCheck {
            intact: false,
            faults_traced: 6,
            ..journal()
        };
        let input = input_for_run(&spec(), &result(), &check);
        assert_eq!(metric(&input, "journal-integrity").values, vec![0.0]);
        assert_eq!(metric(&input, "faults-traced").values, vec![6.0 / 9.0]);
        let nothing = JournalCheck::default();
        let input = input_for_run(&spec(), &result(), &nothing);
        assert!(
            input
                .input
                .capability_metrics
                .iter()
                .all(|m| m.capability != Capability::EvidenceTraceability)
        );
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
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
        assert!(
            input
                .input
                .gates
                .contains(&Gate::MissingMandatoryNotificationFlag)
        );
        let card = score_input(&input).unwrap();
        let coordination = card
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::Coordination)
            .unwrap();
        // 100 for legal (30 s is under 15 min), 0 for the role that never acknowledged.
        assert_eq!(coordination.score, Some(50.0));
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
        let card = score_input(&input).unwrap();
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
        assert_eq!(input.input.gates, vec![Gate::NoDetection]);
        assert_eq!(metric(&input, CANARY_RECALL).values, vec![0.0; 3]);
        let card = score_input(&input).unwrap();
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
        let card = score_input(&input).unwrap();
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
        assert_eq!(input.input.gates, vec![Gate::PreventionBypassed]);
        let card = score_input(&input).unwrap();
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
        two.input.gates.push(Gate::NoDetection);
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
        assert_eq!(combined.input.gates, vec![Gate::NoDetection]);
        assert_eq!(combined.input.repeatability.runs, 1);
        assert_eq!(combined.weights[&Capability::Detection], 0.0);
    }
}
