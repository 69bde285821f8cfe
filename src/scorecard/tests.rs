//! Hand-computed cases for the scorecard.

use super::*;

fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}

fn detect(values: Vec<f64>) -> MetricObservation {
    MetricObservation::organisation(
        Capability::Detection,
        Metric::TimeToDetectAvailability,
        values,
    )
}

/// `runs` dated runs over `span_days`, with or without a measured trend and a review.
fn repeat(runs: u32, span_days: u32, trends_tracked: bool, reviewed: bool) -> Repeatability {
    Repeatability {
        runs,
        span_days,
        trends_tracked,
        reviewed,
        scheduled: false,
    }
}

fn card(input: &ScoreInput) -> Scorecard {
    score(input, &ScoreConfig::default()).expect("valid input")
}

fn capability(card: &Scorecard, capability: Capability) -> &CapabilityScore {
    card.capabilities
        .iter()
        .find(|c| c.capability == capability)
        .expect("every capability is listed")
}

#[test]
fn duration_is_100_at_and_below_target() {
    close(duration_score(120.0, 120.0, 900.0), 100.0);
    close(duration_score(0.0, 120.0, 900.0), 100.0);
    close(duration_score(119.9, 120.0, 900.0), 100.0);
}

#[test]
fn duration_is_0_at_and_above_limit() {
    close(duration_score(900.0, 120.0, 900.0), 0.0);
    close(duration_score(3600.0, 120.0, 900.0), 0.0);
}

#[test]
fn duration_is_log_linear_between() {
    // 100 * (ln 900 - ln 300) / (ln 900 - ln 120) = 100 * ln 3 / ln 7.5 = 54.52
    let score = duration_score(300.0, 120.0, 900.0);
    close(score, 100.0 * 3f64.ln() / 7.5f64.ln());
    assert!((score - 54.52).abs() < 0.01, "{score}");
    // The geometric middle of target and limit scores exactly 50.
    close(
        duration_score((120.0f64 * 900.0).sqrt(), 120.0, 900.0),
        50.0,
    );
}

#[test]
fn ratio_is_linear_between_floor_and_target() {
    close(ratio_score(0.95, 0.9, 1.0), 50.0);
    close(ratio_score(0.9, 0.9, 1.0), 0.0);
    close(ratio_score(0.5, 0.9, 1.0), 0.0);
    close(ratio_score(1.0, 0.9, 1.0), 100.0);
}

#[test]
fn multiple_without_limit_is_pass_or_fail() {
    close(multiple_score(2.0, 2.0, None), 100.0);
    close(multiple_score(2.01, 2.0, None), 0.0);
    close(multiple_score(3.0, 2.0, Some(4.0)), 50.0);
    close(multiple_score(4.0, 2.0, Some(4.0)), 0.0);
}

#[test]
fn p90_is_nearest_rank_from_five_iterations() {
    // Ten runs 10..100 s: rank ceil(0.9 * 10) = 9 -> 90 s.
    let values: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
    assert_eq!(headline(&values, true), Some((90.0, Aggregation::P90)));
    // Five runs: rank ceil(4.5) = 5, the worst.
    assert_eq!(
        headline(&[5.0, 1.0, 4.0, 2.0, 3.0], true),
        Some((5.0, Aggregation::P90))
    );
    // Twenty runs: rank 18.
    let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
    assert_eq!(headline(&twenty, true), Some((18.0, Aggregation::P90)));
}

#[test]
fn fewer_than_five_iterations_take_the_worst_run() {
    assert_eq!(
        headline(&[10.0, 400.0, 20.0, 30.0], true),
        Some((400.0, Aggregation::Worst))
    );
    // Higher is better for ratios: the worst is the smallest.
    assert_eq!(
        headline(&[0.99, 0.8, 0.95], false),
        Some((0.8, Aggregation::Worst))
    );
    assert_eq!(headline(&[], true), None);
}

#[test]
fn metric_carries_n_and_default_label() {
    let card = card(&ScoreInput {
        capability_metrics: vec![
            detect(vec![60.0, 300.0]),
            MetricObservation::organisation(
                Capability::RecoveryContinuity,
                Metric::TimeToRecover,
                vec![600.0],
            )
            .with_scale(Scale::Duration {
                target_secs: 300.0,
                limit_secs: 1200.0,
            }),
        ],
        ..ScoreInput::default()
    });
    let detection = &capability(&card, Capability::Detection).metrics[0];
    assert_eq!(detection.n, 2);
    assert!(detection.default_target);
    assert_eq!(detection.measured, Some(300.0));
    close(
        detection.score.unwrap(),
        duration_score(300.0, 120.0, 900.0),
    );
    let recovery = &capability(&card, Capability::RecoveryContinuity).metrics[0];
    assert!(!recovery.default_target);
    close(recovery.score.unwrap(), 50.0);
}

#[test]
fn capability_score_is_the_weighted_mean_of_its_metrics() {
    let card = card(&ScoreInput {
        capability_metrics: vec![
            detect(vec![60.0]).with_weight(3.0),
            MetricObservation::organisation(
                Capability::Detection,
                Metric::TimeToDetectSecurityCanary,
                vec![4.0 * 3600.0],
            ),
        ],
        ..ScoreInput::default()
    });
    // (100 * 3 + 0 * 1) / 4
    close(
        capability(&card, Capability::Detection).score.unwrap(),
        75.0,
    );
}

#[test]
fn a_gate_caps_the_capability_and_drops_maturity_to_1() {
    let card = card(&ScoreInput {
        capability_metrics: vec![MetricObservation::organisation(
            Capability::RecoveryContinuity,
            Metric::TimeToRecover,
            vec![60.0; 6],
        )],
        gates: vec![GateHit::new(Gate::FailedRollback, Provenance::Organisation)],
        repeatability: repeat(10, 30, true, true),
        ..ScoreInput::default()
    });
    let recovery = capability(&card, Capability::RecoveryContinuity);
    close(recovery.score.unwrap(), GATE_CAP);
    assert_eq!(recovery.maturity, Some(1));
    assert_eq!(
        recovery.gates,
        vec![AppliedGate {
            gate: Gate::FailedRollback,
            cap: 39.0,
            provenance: Provenance::Organisation,
        }]
    );
}

#[test]
fn no_detection_alone_evidences_detection_with_zero() {
    let card = card(&ScoreInput {
        gates: vec![GateHit::new(Gate::NoDetection, Provenance::Organisation)],
        ..ScoreInput::default()
    });
    let detection = capability(&card, Capability::Detection);
    assert_eq!(detection.status, Status::Evidenced);
    assert_eq!(detection.score, Some(0.0));
    assert_eq!(detection.maturity, Some(1));
}

#[test]
fn performance_band_edges() {
    assert_eq!(performance_band(39.99, 100.0, false), 1);
    assert_eq!(performance_band(100.0, 100.0, true), 1);
    assert_eq!(performance_band(40.0, 59.99, false), 2);
    assert_eq!(performance_band(40.0, 60.0, false), 3);
    assert_eq!(performance_band(74.99, 100.0, false), 3);
    assert_eq!(performance_band(75.0, 75.0, false), 4);
    assert_eq!(performance_band(89.99, 100.0, false), 4);
    assert_eq!(performance_band(90.0, 90.0, false), 5);
}

#[test]
fn repeatability_limits_maturity() {
    let level = |r| maturity_level(100.0, 100.0, false, r);
    // One run, however many iterations, is one exercise.
    assert_eq!(level(repeat(1, 0, false, false)), 2);
    assert_eq!(level(repeat(2, 30, true, true)), 2);
    // Three runs in a fortnight less a day are not yet a practice.
    assert_eq!(level(repeat(3, 13, true, true)), 2);
    assert_eq!(level(repeat(3, 14, false, true)), 3);
    assert_eq!(level(repeat(3, 14, true, false)), 4);
    assert_eq!(level(repeat(3, 14, true, true)), 5);
    // A schedule alone raises nothing.
    let scheduled = Repeatability {
        scheduled: true,
        ..repeat(3, 14, true, false)
    };
    assert_eq!(level(scheduled), 4);
    assert_eq!(
        maturity_level(75.0, 75.0, false, repeat(3, 14, true, true)),
        4
    );
    assert_eq!(
        maturity_level(45.0, 45.0, false, repeat(1, 0, false, false)),
        2
    );
}

#[test]
fn capabilities_nothing_exercised_are_not_evidenced_and_left_out_of_overall() {
    let card = card(&ScoreInput {
        capability_metrics: vec![detect(vec![60.0])],
        ..ScoreInput::default()
    });
    assert_eq!(card.formula_version, FORMULA_VERSION);
    assert_eq!(card.overall.evidenced_count, 1);
    assert_eq!(card.overall.capability_count, 8);
    // Detection alone is a fifth of the profile: no headline, the partial figure beneath.
    assert_eq!(card.overall.score, None);
    assert_eq!(card.overall.verdict, Verdict::InsufficientEvidence);
    close(card.overall.coverage, 0.2);
    close(card.overall.partial_score.unwrap(), 100.0);
    let containment = capability(&card, Capability::Containment);
    assert_eq!(containment.status, Status::NotEvidenced);
    assert_eq!(containment.score, None);
    assert_eq!(containment.maturity, None);
    assert_eq!(card.capabilities[0].capability, Capability::Detection);
}

#[test]
fn nothing_evidenced_gives_no_overall_figure() {
    let card = card(&ScoreInput::default());
    assert_eq!(card.overall.score, None);
    assert_eq!(card.overall.weakest, None);
    assert_eq!(card.overall.evidenced_count, 0);
}

#[test]
fn overall_is_weighted_geometric_mean_weakest_first() {
    // Detection 100 (weight 20), recovery 50 (weight 20), third-party 25 (weight 10).
    let card = card(&ScoreInput {
        capability_metrics: vec![
            detect(vec![60.0]),
            MetricObservation::organisation(
                Capability::RecoveryContinuity,
                Metric::Custom {
                    name: "availability".into(),
                    scale: Scale::Ratio {
                        floor: 0.9,
                        target: 1.0,
                    },
                },
                vec![0.95],
            ),
            MetricObservation::organisation(
                Capability::ThirdPartyResilience,
                Metric::LatencyDuringFault,
                vec![3.5],
            )
            .with_scale(Scale::Multiple {
                target: 2.0,
                limit: Some(4.0),
            }),
        ],
        ..ScoreInput::default()
    });
    let expected = ((20.0 * 100f64.ln() + 20.0 * 50f64.ln() + 10.0 * 25f64.ln()) / 50.0).exp();
    // Half the profile: below the 60% threshold, so the figure is partial.
    close(card.overall.partial_score.unwrap(), expected);
    close(card.overall.coverage, 0.5);
    assert_eq!(card.overall.score, None);
    assert_eq!(card.overall.weakest, Some(Capability::ThirdPartyResilience));
    let order: Vec<_> = card
        .capabilities
        .iter()
        .take(3)
        .map(|c| c.capability)
        .collect();
    assert_eq!(
        order,
        vec![
            Capability::ThirdPartyResilience,
            Capability::RecoveryContinuity,
            Capability::Detection
        ]
    );
}

#[test]
fn a_zero_makes_the_geometric_mean_zero() {
    close(
        weighted_geometric_mean(&[(100.0, 20.0), (0.0, 5.0)]).unwrap(),
        0.0,
    );
    // A zero with no weight does not count.
    close(
        weighted_geometric_mean(&[(81.0, 1.0), (0.0, 0.0), (1.0, 1.0)]).unwrap(),
        9.0,
    );
    assert_eq!(weighted_geometric_mean(&[]), None);
}

#[test]
fn invalid_input_names_every_problem() {
    let input = ScoreInput {
        capability_metrics: vec![
            detect(vec![f64::NAN, -1.0]).with_weight(0.0),
            detect(vec![1.0]).with_scale(Scale::Duration {
                target_secs: 900.0,
                limit_secs: 120.0,
            }),
        ],
        ..ScoreInput::default()
    };
    let Err(ScorecardError::Invalid(problems)) = score(&input, &ScoreConfig::default()) else {
        panic!("invalid input must be refused");
    };
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].starts_with("capabilityMetrics[0].weight"));
    assert!(problems[3].starts_with("capabilityMetrics[1].scale"));
}

#[test]
fn fault_types_map_to_capabilities_and_can_be_overridden() {
    assert_eq!(
        default_capabilities_for_fault("process-kill"),
        &[
            Capability::RecoveryContinuity,
            Capability::Detection,
            Capability::ContinuousTesting
        ]
    );
    assert!(
        default_capabilities_for_fault("dependency-outage")
            .contains(&Capability::ThirdPartyResilience)
    );
    assert!(default_capabilities_for_fault("unknown").is_empty());
    let mut map = FaultCapabilities::default();
    for fault in DEFAULT_MAPPED_FAULT_TYPES {
        assert_eq!(
            map.capabilities(fault),
            default_capabilities_for_fault(fault)
        );
    }
    map.set("cpu-stress", vec![Capability::Detection]);
    assert_eq!(map.capabilities("cpu-stress"), &[Capability::Detection]);
    let exercised = map.exercised(["cpu-stress", "dependency-errors"]);
    assert_eq!(exercised.len(), 4);
}

#[test]
fn default_weights_sum_to_100() {
    let weights: f64 = Capability::ALL.iter().map(|c| c.default_weight()).sum();
    close(weights, 100.0);
}

#[test]
fn scorecard_round_trips_through_camel_case_json() {
    let card = card(&ScoreInput {
        capability_metrics: vec![detect(vec![60.0, 120.0, 180.0])],
        gates: vec![GateHit::new(Gate::FailedRollback, Provenance::Organisation)],
        repeatability: repeat(3, 0, false, false),
        ..ScoreInput::default()
    });
    let json = serde_json::to_value(&card).unwrap();
    assert_eq!(json["formulaVersion"], FORMULA_VERSION);
    assert_eq!(json["overall"]["evidencedCount"], 2);
    assert_eq!(json["capabilities"][0]["capability"], "recovery-continuity");
    assert_eq!(json["capabilities"][0]["references"]["nis2"], "21(2)(c)");
    let back: Scorecard = serde_json::from_value(json).unwrap();
    assert_eq!(back, card);
    let input: ScoreInput = serde_json::from_str(
        r#"{"capabilityMetrics":[{"capability":"detection","metric":"time-to-detect-availability","values":[60]}],
            "gates":["no-detection"],"runs":3,"trendsTracked":true,"scheduled":false}"#,
    )
    .unwrap();
    assert_eq!(
        input.repeatability,
        Repeatability {
            runs: 3,
            trends_tracked: true,
            ..Repeatability::default()
        }
    );
}

// The hand-computed cases of docs/scorecard.md, "Worked cases", one test each.

/// The organisation's evidence for every capability but evidence and traceability, and
/// coordination: 85% of the profile. Detection 100, recovery 50, the others 100.
fn organisation_profile() -> Vec<MetricObservation> {
    let ratio = |capability, value| {
        MetricObservation::organisation(
            capability,
            Metric::Custom {
                name: "share".into(),
                scale: Scale::Ratio {
                    floor: 0.0,
                    target: 1.0,
                },
            },
            vec![value],
        )
    };
    vec![
        detect(vec![60.0]),
        ratio(Capability::RecoveryContinuity, 0.5),
        ratio(Capability::Containment, 1.0),
        ratio(Capability::ReportingReadiness, 1.0),
        ratio(Capability::ThirdPartyResilience, 1.0),
        ratio(Capability::ContinuousTesting, 1.0),
    ]
}

#[test]
fn case_organisation_evidence_is_graded_with_its_coverage() {
    let card = card(&ScoreInput {
        capability_metrics: organisation_profile(),
        ..ScoreInput::default()
    });
    // 20 + 20 + 15 + 15 + 10 + 5 = 85 of 100.
    close(card.overall.coverage, 0.85);
    assert_eq!(card.overall.verdict, Verdict::Graded);
    // exp((20 ln 50 + 65 ln 100) / 85) = 84.95
    let expected = ((20.0 * 50f64.ln() + 65.0 * 100f64.ln()) / 85.0).exp();
    close(card.overall.score.unwrap(), expected);
    assert!((card.overall.score.unwrap() - 84.95).abs() < 0.01);
}

#[test]
fn case_simulated_only_is_shown_and_counts_for_nothing() {
    let card = card(&ScoreInput {
        capability_metrics: vec![
            MetricObservation::simulated(
                Capability::Detection,
                Metric::TimeToDetectAvailability,
                vec![1.0],
            ),
            MetricObservation::simulated(
                Capability::ReportingReadiness,
                Metric::EarlyWarningDraft,
                vec![0.002],
            ),
        ],
        ..ScoreInput::default()
    });
    let detection = capability(&card, Capability::Detection);
    assert_eq!(detection.status, Status::Simulated);
    assert_eq!(detection.score, None);
    assert_eq!(detection.simulated_score, Some(100.0));
    assert_eq!(detection.maturity, None);
    assert_eq!(card.overall.simulated_count, 2);
    assert_eq!(card.overall.evidenced_count, 0);
    close(card.overall.coverage, 0.0);
    assert_eq!(card.overall.verdict, Verdict::InsufficientEvidence);
    assert_eq!(
        (card.overall.score, card.overall.partial_score),
        (None, None)
    );
}

#[test]
fn case_instrument_only_has_no_score_and_its_checks_are_preconditions() {
    let card = card(&ScoreInput {
        preconditions: vec![
            Precondition::new(Check::JournalIntact, true, "120 records verified"),
            Precondition::new(Check::FaultsTraced, true, "9 of 9 injected faults traced"),
        ],
        ..ScoreInput::default()
    });
    assert!(card.trusted());
    assert!(
        card.capabilities
            .iter()
            .all(|c| c.status == Status::NotEvidenced)
    );
    assert_eq!(card.overall.verdict, Verdict::InsufficientEvidence);
    assert_eq!(card.preconditions.len(), 2);
}

#[test]
fn case_low_coverage_shows_the_partial_figure_only() {
    let card = card(&ScoreInput {
        capability_metrics: organisation_profile().into_iter().take(3).collect(),
        ..ScoreInput::default()
    });
    // Detection, recovery, containment: 55 of 100, below 60.
    close(card.overall.coverage, 0.55);
    assert_eq!(card.overall.verdict, Verdict::InsufficientEvidence);
    assert_eq!(card.overall.score, None);
    let expected = ((20.0 * 100f64.ln() + 20.0 * 50f64.ln() + 15.0 * 100f64.ln()) / 55.0).exp();
    close(card.overall.partial_score.unwrap(), expected);
    // A lower threshold, set by the experiment, grades the same evidence.
    let config = ScoreConfig {
        coverage_threshold: 0.5,
        ..ScoreConfig::default()
    };
    let card = score(
        &ScoreInput {
            capability_metrics: organisation_profile().into_iter().take(3).collect(),
            ..ScoreInput::default()
        },
        &config,
    )
    .unwrap();
    assert_eq!(card.overall.verdict, Verdict::Graded);
    close(card.overall.score.unwrap(), expected);
}

#[test]
fn case_stale_evidence_stops_counting_and_the_capability_is_due() {
    let at = |text: &str| -> crate::time::Timestamp { text.parse().unwrap() };
    let mut metrics = organisation_profile();
    for m in &mut metrics {
        m.measured_at = Some(at("2026-06-01T00:00:00Z"));
    }
    // Detection measured 13 months before the page: older than 365 days.
    metrics[0].measured_at = Some(at("2025-11-01T00:00:00Z"));
    let input = ScoreInput {
        capability_metrics: metrics,
        gates: vec![GateHit {
            measured_at: Some(at("2025-11-01T00:00:00Z")),
            ..GateHit::new(Gate::NoDetection, Provenance::Organisation)
        }],
        ..ScoreInput::default()
    };
    let config = ScoreConfig {
        as_of: Some(at("2026-12-07T00:00:00Z")),
        ..ScoreConfig::default()
    };
    let card = score(&input, &config).unwrap();
    let detection = capability(&card, Capability::Detection);
    assert_eq!(detection.status, Status::Due);
    assert_eq!(detection.score, None);
    assert!(detection.metrics[0].stale);
    assert!(detection.gates.is_empty(), "a stale gate caps nothing");
    // 65 of 100 still fresh: graded over them.
    close(card.overall.coverage, 0.65);
    assert_eq!(card.overall.verdict, Verdict::Graded);
    // Without a date to speak for, everything counts.
    let card = score(&input, &ScoreConfig::default()).unwrap();
    assert_eq!(
        capability(&card, Capability::Detection).status,
        Status::Evidenced
    );
}

#[test]
fn case_a_failed_precondition_voids_the_headline() {
    let card = card(&ScoreInput {
        capability_metrics: organisation_profile(),
        preconditions: vec![
            Precondition::new(
                Check::JournalIntact,
                false,
                "record 7: the hash does not match",
            ),
            Precondition::new(Check::FaultsReverted, true, "every fault was reverted"),
        ],
        ..ScoreInput::default()
    });
    assert!(!card.trusted());
    assert_eq!(card.overall.verdict, Verdict::Untrusted);
    assert_eq!(card.overall.score, None);
    assert_eq!(card.overall.partial_score, None);
    // The capabilities are still shown below, for the engineers.
    close(
        capability(&card, Capability::Detection).score.unwrap(),
        100.0,
    );
}

#[test]
fn case_overrides_are_carried_to_the_page() {
    let overrides = vec![Override {
        setting: "weight of detection".into(),
        default: "20".into(),
        value: "50".into(),
        source: None,
    }];
    let mut weights = default_weights();
    weights.insert(Capability::Detection, 50.0);
    let config = ScoreConfig {
        weights,
        ..ScoreConfig::default()
    };
    let card = score(
        &ScoreInput {
            capability_metrics: organisation_profile(),
            overrides: overrides.clone(),
            ..ScoreInput::default()
        },
        &config,
    )
    .unwrap();
    assert_eq!(card.overrides, overrides);
    // 50 + 20 + 15 + 15 + 10 + 5 = 115 of 130.
    close(card.overall.coverage, 115.0 / 130.0);
    let expected = ((20.0 * 50f64.ln() + 95.0 * 100f64.ln()) / 115.0).exp();
    close(card.overall.score.unwrap(), expected);
}

#[test]
fn an_old_result_reads_as_simulated() {
    // Written before formula 2.0.0: no provenance, bare gate names.
    let input: ScoreInput = serde_json::from_str(
        r#"{"capabilityMetrics":[{"capability":"detection","metric":"time-to-detect-availability","values":[60]}],
            "gates":["no-detection"],"runs":1,"trendsTracked":false,"scheduled":false}"#,
    )
    .unwrap();
    assert_eq!(
        input.capability_metrics[0].provenance,
        Provenance::Simulated
    );
    assert_eq!(input.gates[0].provenance, Provenance::Simulated);
    let card = card(&input);
    assert_eq!(
        capability(&card, Capability::Detection).status,
        Status::Simulated
    );
}
