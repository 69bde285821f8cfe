//! What the scorecard needs beside a run's measurements: which capabilities an experiment
//! exercises, what the journal evidences, and the input of several runs combined. The
//! measurements themselves come from the result (`crate::result::evidence`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    Capability, Check, DEFAULT_COVERAGE_THRESHOLD, DEFAULT_MAX_EVIDENCE_AGE_DAYS,
    FaultCapabilities, Override, Precondition, Scale, ScoreInput, default_weights,
};
use crate::journal::JournalCheck;
use crate::spec::Spec;
use crate::time::Timestamp;

/// The default scale of the time to acknowledge (timed from detection): 15 minutes, and a
/// 4-hour limit borrowed from DORA's initial notification as a yardstick. DORA's 4 hours run
/// from classification as major, not from detection, so the limit is not that deadline.
pub const ACKNOWLEDGE_SCALE: Scale = Scale::Duration {
    target_secs: 15.0 * 60.0,
    limit_secs: 4.0 * 3600.0,
};

/// The default scale of the early warning's delivery: as for its draft, 1 h and the 24 h of
/// NIS2 Art. 23(4)(a).
pub const DELIVERY_SCALE: Scale = Scale::Duration {
    target_secs: 3600.0,
    limit_secs: 24.0 * 3600.0,
};

/// Share of planned iterations that ran to completion: 100 when all did.
pub const COMPLETED_SCALE: Scale = Scale::Ratio {
    floor: 0.0,
    target: 1.0,
};

/// The availability of the probes while a fault held: 100 at 99% of observations passing,
/// 0 at 90% or fewer, linear between. A service that loses a tenth of its requests when a
/// third party fails has no fallback worth the name.
pub const AVAILABILITY_SCALE: Scale = Scale::Ratio {
    floor: 0.9,
    target: 0.99,
};

/// The name of the share of detection canaries a signal noticed, per iteration.
pub const CANARY_RECALL: &str = "canary-recall";

/// The name of the share of prevention checks policy refused, per iteration.
pub const PREVENTION_REFUSED: &str = "prevention-refused";

/// The scorecard's input as recorded in a result, so that reports and suites can recompute it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardInput {
    /// Measurements and gates.
    #[serde(flatten)]
    pub input: ScoreInput,
    /// The weights of the capabilities in the overall figure.
    pub weights: BTreeMap<Capability, f64>,
    /// The share (0-1) of the total weight organisation evidence must cover for a headline.
    #[serde(default = "default_threshold")]
    pub coverage_threshold: f64,
    /// Evidence older than this many days no longer counts.
    #[serde(default = "default_max_age")]
    pub max_evidence_age_days: u32,
}

fn default_threshold() -> f64 {
    DEFAULT_COVERAGE_THRESHOLD
}

fn default_max_age() -> u32 {
    DEFAULT_MAX_EVIDENCE_AGE_DAYS
}

impl ScorecardInput {
    /// An input with the default weights, threshold and age limit.
    pub fn new(input: ScoreInput) -> Self {
        Self {
            input,
            weights: default_weights(),
            coverage_threshold: DEFAULT_COVERAGE_THRESHOLD,
            max_evidence_age_days: DEFAULT_MAX_EVIDENCE_AGE_DAYS,
        }
    }
}

/// The capabilities each fault type of the experiment exercises, after its overrides.
pub fn exercised(spec: &Spec) -> BTreeSet<Capability> {
    mapping_of(spec).exercised(spec.faults.iter().map(|f| f.type_name()))
}

/// The default fault mapping with the experiment's overrides.
pub fn mapping_of(spec: &Spec) -> FaultCapabilities {
    let mut mapping = FaultCapabilities::default();
    if let Some(overrides) = &spec.scorecard {
        for (fault_type, capabilities) in &overrides.capabilities {
            mapping.set(fault_type, capabilities.clone());
        }
    }
    mapping
}

/// Every way the experiment changed the scorecard's defaults, for the overrides box.
pub fn overrides_of(spec: &Spec) -> Vec<Override> {
    let Some(scorecard) = &spec.scorecard else {
        return Vec::new();
    };
    let mut overrides = Vec::new();
    let mut push = |setting: String, default: String, value: String| {
        overrides.push(Override {
            setting,
            default,
            value,
            source: None,
        });
    };
    let list = |capabilities: &[Capability]| {
        if capabilities.is_empty() {
            "none".to_owned()
        } else {
            capabilities
                .iter()
                .map(|c| crate::spec::capability_key(*c))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for (fault_type, capabilities) in &scorecard.capabilities {
        push(
            format!("capabilities of {fault_type}"),
            list(super::default_capabilities_for_fault(fault_type)),
            list(capabilities),
        );
    }
    let t = &scorecard.targets;
    // Every duration target is written as the experiment writes it, `target / limit`.
    let secs = |s: f64| crate::spec::Duration(std::time::Duration::from_secs_f64(s));
    let duration_pair = |scale: Scale| match scale {
        Scale::Duration {
            target_secs,
            limit_secs,
        } => format!("{} / {}", secs(target_secs), secs(limit_secs)),
        Scale::Ratio { .. } | Scale::Multiple { .. } => String::new(),
    };
    let metric = |m: super::Metric| m.default_scale();
    for (name, default, value) in [
        (
            "time-to-detect",
            metric(super::Metric::TimeToDetectAvailability),
            t.time_to_detect,
        ),
        (
            "time-to-detect-security-canary",
            metric(super::Metric::TimeToDetectSecurityCanary),
            t.time_to_detect_canary,
        ),
        (
            "time-to-recover",
            metric(super::Metric::TimeToRecover),
            t.time_to_recover,
        ),
        (
            "early-warning-draft",
            metric(super::Metric::EarlyWarningDraft),
            t.early_warning_draft,
        ),
        (
            "early-warning-delivery",
            DELIVERY_SCALE,
            t.early_warning_delivery,
        ),
        (
            "time-to-acknowledge",
            ACKNOWLEDGE_SCALE,
            t.time_to_acknowledge,
        ),
    ] {
        if let Some(value) = value {
            push(
                format!("target / limit of {name}"),
                duration_pair(default),
                format!("{} / {}", value.target, value.limit),
            );
        }
    }
    if let Some(m) = t.latency_during_fault {
        push(
            "target of latency-during-fault".to_owned(),
            "2x baseline p99".to_owned(),
            match m.limit {
                Some(limit) => format!("{}x, limit {limit}x", m.target),
                None => format!("{}x", m.target),
            },
        );
    }
    for (capability, weight) in &scorecard.weights {
        push(
            format!("weight of {}", crate::spec::capability_key(*capability)),
            format!("{}", capability.default_weight()),
            format!("{weight}"),
        );
    }
    if let Some(threshold) = scorecard.coverage_threshold {
        push(
            "coverage threshold".to_owned(),
            format!("{}%", DEFAULT_COVERAGE_THRESHOLD * 100.0),
            format!("{threshold}%"),
        );
    }
    if let Some(age) = scorecard.max_evidence_age {
        push(
            "age at which evidence stops counting".to_owned(),
            format!("{DEFAULT_MAX_EVIDENCE_AGE_DAYS}d"),
            age.to_string(),
        );
    }
    for probe in &scorecard.organisation_monitoring {
        push(
            format!("probe {probe}"),
            "firedrill's own monitor (simulated)".to_owned(),
            "the organisation's own monitoring, as the experiment claims".to_owned(),
        );
    }
    overrides
}

/// What the journal says of firedrill's own integrity: that it verifies and ends normally,
/// and that every injected fault was traced (intent before, revert after). Preconditions of
/// the page, never scores. Every run writes a journal, so one that is missing or empty
/// fails: deleting the journal must not spare a page its checks.
pub fn journal_preconditions(journal: &JournalCheck) -> Vec<Precondition> {
    let mut checks = Vec::new();
    if journal.records == 0 {
        let detail = if journal.detail.is_empty() {
            "the journal holds no record".to_owned()
        } else {
            journal.detail.clone()
        };
        checks.push(Precondition::new(Check::JournalIntact, false, detail));
        return checks;
    }
    let intact = journal.intact && journal.finished;
    let detail = if intact {
        format!("{} records verified", journal.records)
    } else if journal.intact {
        format!(
            "{} records verified, but the journal does not end with the run's last record",
            journal.records
        )
    } else {
        journal.detail.clone()
    };
    checks.push(Precondition::new(Check::JournalIntact, intact, detail));
    if journal.faults_injected > 0 {
        checks.push(Precondition::new(
            Check::FaultsTraced,
            journal.faults_traced == journal.faults_injected,
            format!(
                "{} of {} injected faults traced",
                journal.faults_traced, journal.faults_injected
            ),
        ));
    }
    checks
}

/// Replaces an input's journal checks with what the journal says now, so that a journal
/// changed since the run shows.
pub fn refresh_journal_preconditions(input: &mut ScorecardInput, journal: &JournalCheck) {
    input
        .input
        .preconditions
        .retain(|p| !matches!(p.check, Check::JournalIntact | Check::FaultsTraced));
    let mut checks = journal_preconditions(journal);
    checks.append(&mut input.input.preconditions);
    input.input.preconditions = checks;
    // Before formula 2.0.0 the journal was scored as evidence: it is a precondition now.
    input
        .input
        .capability_metrics
        .retain(|m| !matches!(m.metric.name(), "journal-integrity" | "faults-traced"));
}

/// One input over several runs (a suite): every run's measurements, each marked with its
/// experiment, the gates of all, and the repeatability of the least repeated run.
pub fn combine<'a>(
    runs: impl IntoIterator<Item = (&'a str, &'a ScorecardInput)>,
    weights: Option<&BTreeMap<Capability, f64>>,
) -> ScorecardInput {
    let mut combined = ScorecardInput::new(ScoreInput::default());
    let mut runs_min: Option<u32> = None;
    let (mut threshold, mut max_age) = (None, None);
    for (name, input) in runs {
        combined.input.capability_metrics.extend(
            input
                .input
                .capability_metrics
                .iter()
                .cloned()
                .map(|m| m.with_source(name)),
        );
        combined
            .input
            .gates
            .extend(input.input.gates.iter().copied());
        combined
            .input
            .preconditions
            .extend(input.input.preconditions.iter().cloned().map(|mut p| {
                p.source = Some(name.to_owned());
                p
            }));
        combined
            .input
            .overrides
            .extend(input.input.overrides.iter().cloned().map(|mut o| {
                o.source = Some(name.to_owned());
                o
            }));
        // The strictest of the runs: the highest threshold, the shortest age.
        threshold = Some(threshold.map_or(input.coverage_threshold, |t: f64| {
            t.max(input.coverage_threshold)
        }));
        max_age = Some(max_age.map_or(input.max_evidence_age_days, |a: u32| {
            a.min(input.max_evidence_age_days)
        }));
        runs_min = Some(runs_min.map_or(input.input.repeatability.runs, |r| {
            r.min(input.input.repeatability.runs)
        }));
    }
    combined.input.repeatability.runs = runs_min.unwrap_or(0);
    combined.coverage_threshold = threshold.unwrap_or(DEFAULT_COVERAGE_THRESHOLD);
    combined.max_evidence_age_days = max_age.unwrap_or(DEFAULT_MAX_EVIDENCE_AGE_DAYS);
    if let Some(weights) = weights {
        combined
            .weights
            .extend(weights.iter().map(|(c, w)| (*c, *w)));
    }
    combined
}

/// Scores an input as of `as_of` (none: every measurement counts as fresh); a problem in it
/// is logged and gives no scorecard (a failing reporter never fails a run).
pub fn score_input(input: &ScorecardInput, as_of: Option<Timestamp>) -> Option<super::Scorecard> {
    let config = super::ScoreConfig {
        weights: input.weights.clone(),
        coverage_threshold: input.coverage_threshold,
        max_evidence_age_days: input.max_evidence_age_days,
        as_of,
    };
    match super::score(&input.input, &config) {
        Ok(card) => Some(card),
        Err(error) => {
            tracing::warn!(%error, "cannot compute the scorecard; the run goes on");
            None
        }
    }
}
