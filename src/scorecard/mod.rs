//! The cybersecurity performance scorecard: pure functions from drill measurements to scores.
//!
//! No I/O and no clock: the caller hands in what was measured, [`score`] hands back a
//! [`Scorecard`] that result.json and the reports can carry as is. See docs/scorecard.md.

mod arithmetic;
mod catalogue;
pub mod evidence;
mod gate;
pub mod history;
mod maturity;
mod provenance;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use arithmetic::{
    Aggregation, MIN_ITERATIONS_FOR_P90, Scale, best_to_worst, duration_score, headline, median,
    multiple_score, nearest_rank, ratio_score, weighted_geometric_mean, weighted_mean,
};
pub use catalogue::{
    CANARY_CAVEAT, CANNOT_EVIDENCE, Capability, DEFAULT_MAPPED_FAULT_TYPES, FaultCapabilities,
    IMPLEMENTING_REGULATION_SCOPE, References, default_capabilities_for_fault, default_weights,
};
pub use evidence::ScorecardInput;
pub use gate::{GATE_CAP, Gate, GateHit};
pub use maturity::{
    REPEATED_RUNS, REPEATED_SPAN_DAYS, Repeatability, maturity_level, performance_band,
    repeatability_level,
};
pub use provenance::{Check, Override, Precondition, Provenance};

use crate::time::Timestamp;

/// The version of the scoring formula, carried in every scorecard; bump it when any number changes.
pub const FORMULA_VERSION: &str = "2.2.0";

/// The share of the profile's weight that organisation evidence must cover for a headline
/// figure, unless the experiment sets its own.
pub const DEFAULT_COVERAGE_THRESHOLD: f64 = 0.6;

/// Evidence older than this no longer counts, unless the experiment sets its own age: DORA
/// asks for testing at least yearly (Art. 24(6)).
pub const DEFAULT_MAX_EVIDENCE_AGE_DAYS: u32 = 365;

/// A metric a drill measures; the named ones carry a default scale from the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Seconds from injecting an availability fault to the alert (default 2 min / 15 min).
    TimeToDetectAvailability,
    /// Seconds from a security canary to the alert (default 15 min / 4 h).
    TimeToDetectSecurityCanary,
    /// Seconds until the service is back (default 1 h / 24 h).
    TimeToRecover,
    /// Seconds from detection to an early-warning draft (default 1 h / 24 h).
    EarlyWarningDraft,
    /// p99 latency during the fault as a multiple of the baseline p99 (default pass at 2x or below).
    LatencyDuringFault,
    /// Seconds between two dated drills of an experiment in the run history (default 30 days
    /// / 365 days: DORA asks for testing at least yearly).
    TestInterval,
    /// The share of a run's findings with a recorded decision (default 0 to 100%).
    FindingsReviewed,
    /// Seconds from the run's end to each finding's decision (default 7 days / 30 days).
    TimeToReview,
    /// Each decision's score in hindsight, 0 to 1 (docs/response.md): timely, and consistent
    /// with what the drill later knew, in proportion to what was known at the time
    /// (default 0 to 100%).
    DecisionQuality,
    /// Exercise seconds from awareness until a role first opened its link (default 15 min
    /// / 4 h, as for an acknowledgement).
    TimeToAssemble,
    /// Exercise seconds a decision handed from one role to another waited for its answer,
    /// from the moment it was put (default 15 min / 4 h, as for assembling).
    HandOffDelay,
    /// Any other metric; it has no default, so it brings its scale.
    Custom {
        /// The metric's name as it appears in reports.
        name: String,
        /// How the metric maps to a score.
        scale: Scale,
    },
}

impl Metric {
    /// The name of the metric as it appears in reports.
    pub fn name(&self) -> &str {
        match self {
            Metric::TimeToDetectAvailability => "time-to-detect-availability",
            Metric::TimeToDetectSecurityCanary => "time-to-detect-security-canary",
            Metric::TimeToRecover => "time-to-recover",
            Metric::EarlyWarningDraft => "early-warning-draft",
            Metric::LatencyDuringFault => "latency-during-fault",
            Metric::TestInterval => "test-interval",
            Metric::FindingsReviewed => "findings-reviewed",
            Metric::TimeToReview => "time-to-review",
            Metric::DecisionQuality => "decision-quality",
            Metric::TimeToAssemble => "time-to-assemble",
            Metric::HandOffDelay => "hand-off-delay",
            Metric::Custom { name, .. } => name,
        }
    }

    /// The default scale from the reference (a custom metric's own scale).
    pub fn default_scale(&self) -> Scale {
        const MIN: f64 = 60.0;
        const HOUR: f64 = 3600.0;
        const DAY: f64 = 24.0 * HOUR;
        let duration = |target_secs, limit_secs| Scale::Duration {
            target_secs,
            limit_secs,
        };
        match self {
            Metric::TimeToDetectAvailability => duration(2.0 * MIN, 15.0 * MIN),
            Metric::TimeToDetectSecurityCanary => duration(15.0 * MIN, 4.0 * HOUR),
            Metric::TimeToRecover => duration(HOUR, 24.0 * HOUR),
            Metric::EarlyWarningDraft => duration(HOUR, 24.0 * HOUR),
            Metric::LatencyDuringFault => Scale::Multiple {
                target: 2.0,
                limit: None,
            },
            Metric::TestInterval => duration(30.0 * DAY, 365.0 * DAY),
            Metric::FindingsReviewed => Scale::Ratio {
                floor: 0.0,
                target: 1.0,
            },
            Metric::TimeToReview => duration(7.0 * DAY, 30.0 * DAY),
            Metric::DecisionQuality => Scale::Ratio {
                floor: 0.0,
                target: 1.0,
            },
            Metric::TimeToAssemble | Metric::HandOffDelay => duration(15.0 * MIN, 4.0 * HOUR),
            Metric::Custom { scale, .. } => *scale,
        }
    }

    /// Whether the scale comes from the reference's defaults rather than from the caller.
    fn has_default_scale(&self) -> bool {
        !matches!(self, Metric::Custom { .. })
    }
}

/// The measurements of one metric over the iterations, attributed to one capability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricObservation {
    /// The capability the metric evidences.
    pub capability: Capability,
    /// What was measured.
    pub metric: Metric,
    /// One value per iteration, in the metric's unit (seconds, ratio or multiple).
    pub values: Vec<f64>,
    /// The metric's weight within its capability; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// A scale that overrides the metric's default target and limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    /// Where the values come from (the experiment, in a suite), shown next to the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether the organisation produced the evidence or firedrill stood in for it.
    #[serde(default)]
    pub provenance: Provenance,
    /// When the run that measured it ended; evidence older than the scorecard's age limit
    /// no longer counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<Timestamp>,
}

impl MetricObservation {
    /// An observation of what the organisation did, with weight 1 and the metric's default
    /// scale.
    pub fn organisation(capability: Capability, metric: Metric, values: Vec<f64>) -> Self {
        Self::of(Provenance::Organisation, capability, metric, values)
    }

    /// An observation of what firedrill did in the organisation's place: shown, never scored.
    pub fn simulated(capability: Capability, metric: Metric, values: Vec<f64>) -> Self {
        Self::of(Provenance::Simulated, capability, metric, values)
    }

    /// An observation with weight 1 and the metric's default scale.
    pub fn of(
        provenance: Provenance,
        capability: Capability,
        metric: Metric,
        values: Vec<f64>,
    ) -> Self {
        Self {
            capability,
            metric,
            values,
            weight: None,
            scale: None,
            source: None,
            provenance,
            measured_at: None,
        }
    }

    /// The same observation attributed to a source (an experiment's name).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The same observation held against the caller's scale instead of the default.
    pub fn with_scale(mut self, scale: Scale) -> Self {
        self.scale = Some(scale);
        self
    }

    /// The same observation with another weight.
    pub fn with_weight(mut self, weight: f64) -> Self {
        self.weight = Some(weight);
        self
    }
}

/// Everything the scorecard is computed from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreInput {
    /// The metrics measured, each attributed to a capability.
    pub capability_metrics: Vec<MetricObservation>,
    /// The gates the drills hit.
    #[serde(default)]
    pub gates: Vec<GateHit>,
    /// firedrill's own integrity checks; the page is void when one failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<Precondition>,
    /// What the experiment changed from the defaults, shown in the overrides box.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// How the drills are repeated (runs, trends, schedule).
    #[serde(flatten)]
    pub repeatability: Repeatability,
}

/// The caller's choices that are not measurements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreConfig {
    /// Weights of the capabilities in the overall figure; a missing capability weighs 0.
    pub weights: BTreeMap<Capability, f64>,
    /// The share (0-1) of the total weight that organisation evidence must cover for a
    /// headline figure.
    pub coverage_threshold: f64,
    /// Evidence older than this many days, counted back from `as_of`, no longer counts.
    pub max_evidence_age_days: u32,
    /// The time the scorecard speaks for; none counts every measurement as fresh.
    pub as_of: Option<Timestamp>,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            weights: default_weights(),
            coverage_threshold: DEFAULT_COVERAGE_THRESHOLD,
            max_evidence_age_days: DEFAULT_MAX_EVIDENCE_AGE_DAYS,
            as_of: None,
        }
    }
}

impl ScoreConfig {
    /// Whether evidence measured at `at` is older than the age limit.
    fn stale(&self, at: Option<Timestamp>) -> bool {
        match (self.as_of, at) {
            (Some(now), Some(at)) => {
                now.ms_since(at) > f64::from(self.max_evidence_age_days) * 86_400_000.0
            }
            _ => false,
        }
    }
}

/// What speaks for a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// At least one fresh measurement or gate of the organisation's speaks for it: scored.
    Evidenced,
    /// Only firedrill, standing in for the organisation, speaks for it: its figure is
    /// shown, labelled simulated, and counts for nothing.
    Simulated,
    /// The organisation's evidence is older than the age limit: the drill is due again.
    Due,
    /// Nothing exercised the capability: it has no score, not a zero.
    NotEvidenced,
}

impl Status {
    /// The status as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Evidenced => "evidenced",
            Self::Simulated => "simulated",
            Self::Due => "due",
            Self::NotEvidenced => "not-evidenced",
        }
    }
}

/// One metric's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricScore {
    /// The metric's name.
    pub name: String,
    /// The headline measurement (p90 or worst run); none without iterations.
    pub measured: Option<f64>,
    /// How the headline was taken.
    pub aggregation: Option<Aggregation>,
    /// The target and limit the measurement was held against.
    pub scale: Scale,
    /// Whether the scale is the reference's default (label it so in reports).
    pub default_target: bool,
    /// The headline score, 0-100.
    pub score: Option<f64>,
    /// The median score, 0-100, for maturity.
    pub score_p50: Option<f64>,
    /// The number of iterations.
    pub n: u32,
    /// The metric's weight within its capability.
    pub weight: f64,
    /// Where the values come from (the experiment, in a suite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether the organisation produced the evidence or firedrill stood in for it.
    #[serde(default)]
    pub provenance: Provenance,
    /// When the run that measured it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<Timestamp>,
    /// Older than the age limit: shown, no longer counted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// A gate that was hit, with the cap it imposed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedGate {
    /// The gate.
    pub gate: Gate,
    /// The highest score the capability can have because of it.
    pub cap: f64,
    /// Whether it caps the organisation's score or the simulated figure.
    #[serde(default)]
    pub provenance: Provenance,
}

/// One capability's score, maturity and the evidence behind them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityScore {
    /// The capability.
    pub capability: Capability,
    /// Its display name.
    pub name: String,
    /// Where the law and the standards ask for it.
    pub references: References,
    /// What speaks for it.
    pub status: Status,
    /// The headline score, 0-100, after gates, from the organisation's fresh evidence alone;
    /// none when the organisation did not evidence it.
    pub score: Option<f64>,
    /// The figure from what firedrill simulated, 0-100, after the simulated gates; shown,
    /// never counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated_score: Option<f64>,
    /// The median score, 0-100, after gates; none when not evidenced.
    pub score_p50: Option<f64>,
    /// The maturity level, 1-5; none when not evidenced.
    pub maturity: Option<u8>,
    /// The metrics behind the score.
    pub metrics: Vec<MetricScore>,
    /// The gates hit.
    pub gates: Vec<AppliedGate>,
    /// The capability's weight in the overall figure.
    pub weight: f64,
}

/// What the headline of the page says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A headline figure: organisation evidence covers at least the threshold.
    Graded,
    /// Organisation evidence covers less than the threshold: no headline figure.
    InsufficientEvidence,
    /// One of firedrill's integrity checks failed: the page cannot be trusted.
    Untrusted,
}

/// The overall figure and how much of the profile it covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overall {
    /// The headline: the weighted geometric mean over the capabilities the organisation
    /// evidenced; none unless the verdict is graded.
    pub score: Option<f64>,
    /// The same mean whatever the coverage, shown beneath "insufficient evidence"; none when
    /// the page cannot be trusted or nothing is evidenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_score: Option<f64>,
    /// What the headline says.
    #[serde(default = "legacy_verdict")]
    pub verdict: Verdict,
    /// The share (0-1) of the profile's total weight that organisation evidence covers.
    #[serde(default)]
    pub coverage: f64,
    /// The share it must cover for a headline figure.
    #[serde(default = "legacy_threshold")]
    pub coverage_threshold: f64,
    /// The evidenced capability with the lowest score.
    pub weakest: Option<Capability>,
    /// How many capabilities the organisation evidenced.
    pub evidenced_count: u32,
    /// How many capabilities only firedrill's simulation speaks for.
    #[serde(default)]
    pub simulated_count: u32,
    /// How many capabilities there are.
    pub capability_count: u32,
}

fn legacy_verdict() -> Verdict {
    Verdict::Graded
}

fn legacy_threshold() -> f64 {
    DEFAULT_COVERAGE_THRESHOLD
}

/// The scorecard: the profile (weakest first), the overall figure, and its limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scorecard {
    /// The version of the formula that produced the scores.
    pub formula_version: String,
    /// Every capability: evidenced ones from the weakest up, then the ones not evidenced.
    pub capabilities: Vec<CapabilityScore>,
    /// The overall figure.
    pub overall: Overall,
    /// firedrill's own integrity checks; when one failed the page cannot be trusted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<Precondition>,
    /// What the experiment changed from the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// What a drill cannot evidence.
    pub cannot_evidence: Vec<String>,
}

impl Scorecard {
    /// Whether every integrity check held.
    pub fn trusted(&self) -> bool {
        self.preconditions.iter().all(|p| p.held)
    }
}

/// Errors of the scorecard; all of them are problems in the caller's input.
#[derive(Debug, thiserror::Error)]
pub enum ScorecardError {
    /// The input has one or more problems, each naming its field path.
    #[error("invalid scorecard input: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Every problem in the input and the configuration, each naming its field path.
pub fn validate(input: &ScoreInput, config: &ScoreConfig) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, observation) in input.capability_metrics.iter().enumerate() {
        let path = format!("capabilityMetrics[{index}]");
        let scale = observation
            .scale
            .unwrap_or_else(|| observation.metric.default_scale());
        if let Some(problem) = scale.problem() {
            problems.push(format!("{path}.scale: {problem}"));
        }
        if let Some(weight) = observation.weight
            && !(weight.is_finite() && weight > 0.0)
        {
            problems.push(format!("{path}.weight: must be a finite number above 0"));
        }
        for (i, value) in observation.values.iter().enumerate() {
            let bad = !value.is_finite() || (scale.lower_is_better() && *value < 0.0);
            if bad {
                problems.push(format!(
                    "{path}.values[{i}]: must be a finite number, not negative for a duration or multiple"
                ));
            }
        }
    }
    if !(0.0..=1.0).contains(&config.coverage_threshold) {
        problems.push("coverageThreshold: must be between 0 and 1".to_owned());
    }
    for (capability, weight) in &config.weights {
        if !(weight.is_finite() && *weight >= 0.0) {
            problems.push(format!(
                "weights.{}: must be a finite number, 0 or above",
                serde_json::to_string(capability).unwrap_or_default()
            ));
        }
    }
    problems
}

fn score_metric(observation: &MetricObservation, config: &ScoreConfig) -> MetricScore {
    let scale = observation
        .scale
        .unwrap_or_else(|| observation.metric.default_scale());
    let lower = scale.lower_is_better();
    let top = headline(&observation.values, lower);
    MetricScore {
        name: observation.metric.name().to_owned(),
        measured: top.map(|(value, _)| value),
        aggregation: top.map(|(_, aggregation)| aggregation),
        scale,
        default_target: observation.scale.is_none() && observation.metric.has_default_scale(),
        score: top.map(|(value, _)| scale.score(value)),
        score_p50: median(&observation.values, lower).map(|value| scale.score(value)),
        n: u32::try_from(observation.values.len()).unwrap_or(u32::MAX),
        weight: observation.weight.unwrap_or(1.0),
        source: observation.source.clone(),
        provenance: observation.provenance,
        measured_at: observation.measured_at,
        stale: config.stale(observation.measured_at),
    }
}

/// A score from metrics and gates: the weighted mean of the metrics' scores, capped by the
/// gates; a gate with nothing measured scores 0.
fn capped_mean(
    metrics: &[&MetricScore],
    gates: &[&AppliedGate],
    pick: fn(&MetricScore) -> Option<f64>,
) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = metrics
        .iter()
        .filter_map(|metric| pick(metric).map(|score| (score, metric.weight)))
        .collect();
    let cap = gates
        .iter()
        .map(|gate| gate.cap)
        .fold(f64::INFINITY, f64::min);
    match (weighted_mean(&pairs), gates.is_empty()) {
        (Some(mean), _) => Some(mean.min(cap)),
        (None, false) => Some(0.0),
        (None, true) => None,
    }
}

fn score_capability(
    capability: Capability,
    input: &ScoreInput,
    config: &ScoreConfig,
) -> CapabilityScore {
    let metrics: Vec<MetricScore> = input
        .capability_metrics
        .iter()
        .filter(|observation| observation.capability == capability)
        .map(|observation| score_metric(observation, config))
        .collect();
    let hits = input
        .gates
        .iter()
        .filter(|hit| hit.gate.capability() == capability);
    // The organisation's evidence, fresh or not: when all of it is stale the drill is due.
    let stale_org = metrics
        .iter()
        .any(|m| m.provenance == Provenance::Organisation && m.stale)
        || hits
            .clone()
            .any(|hit| hit.provenance == Provenance::Organisation && config.stale(hit.measured_at));
    let mut gates: Vec<AppliedGate> = hits
        .filter(|hit| !config.stale(hit.measured_at))
        .map(|hit| AppliedGate {
            gate: hit.gate,
            cap: hit.gate.cap(),
            provenance: hit.provenance,
        })
        .collect();
    gates.sort_by_key(|applied| (applied.provenance, applied.gate));
    gates.dedup();

    let of = |provenance: Provenance| {
        let metrics: Vec<&MetricScore> = metrics
            .iter()
            .filter(|m| m.provenance == provenance && !m.stale)
            .collect();
        let gates: Vec<&AppliedGate> = gates
            .iter()
            .filter(|g| g.provenance == provenance)
            .collect();
        (metrics, gates)
    };
    let (org_metrics, org_gates) = of(Provenance::Organisation);
    let score = capped_mean(&org_metrics, &org_gates, |m| m.score);
    let score_p50 = capped_mean(&org_metrics, &org_gates, |m| m.score_p50);
    let (sim_metrics, sim_gates) = of(Provenance::Simulated);
    let simulated_score = capped_mean(&sim_metrics, &sim_gates, |m| m.score);
    let maturity = score.zip(score_p50).map(|(headline, p50)| {
        maturity_level(headline, p50, !org_gates.is_empty(), input.repeatability)
    });
    let status = if score.is_some() {
        Status::Evidenced
    } else if stale_org {
        Status::Due
    } else if simulated_score.is_some() {
        Status::Simulated
    } else {
        Status::NotEvidenced
    };
    CapabilityScore {
        capability,
        name: capability.name().to_owned(),
        references: capability.references(),
        status,
        score,
        simulated_score,
        score_p50,
        maturity,
        metrics,
        gates,
        weight: config.weights.get(&capability).copied().unwrap_or(0.0),
    }
}

/// Scores every capability, orders the profile weakest first and computes the overall figure.
pub fn score(input: &ScoreInput, config: &ScoreConfig) -> Result<Scorecard, ScorecardError> {
    let problems = validate(input, config);
    if !problems.is_empty() {
        return Err(ScorecardError::Invalid(problems));
    }
    let mut capabilities: Vec<CapabilityScore> = Capability::ALL
        .iter()
        .map(|capability| score_capability(*capability, input, config))
        .collect();
    // Stable: ties keep the order of the reference table. Scored capabilities first, the
    // weakest first; then the ones due, simulated and not evidenced.
    let rank = |status: Status| match status {
        Status::Evidenced => 0,
        Status::Due => 1,
        Status::Simulated => 2,
        Status::NotEvidenced => 3,
    };
    capabilities.sort_by(|a, b| {
        rank(a.status)
            .cmp(&rank(b.status))
            .then_with(|| match (a.score, b.score) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => std::cmp::Ordering::Equal,
            })
    });
    let evidenced: Vec<(f64, f64)> = capabilities
        .iter()
        .filter_map(|capability| capability.score.map(|score| (score, capability.weight)))
        .collect();
    let total_weight: f64 = capabilities.iter().map(|c| c.weight).sum();
    let covered: f64 = evidenced.iter().map(|(_, weight)| weight).sum();
    let coverage = if total_weight > 0.0 {
        covered / total_weight
    } else {
        0.0
    };
    let trusted = input.preconditions.iter().all(|p| p.held);
    let partial = weighted_geometric_mean(&evidenced).filter(|_| trusted);
    // A hair of floating-point error must not take a profile that meets the threshold
    // below it.
    let verdict = if !trusted {
        Verdict::Untrusted
    } else if partial.is_none() || coverage + 1e-9 < config.coverage_threshold {
        Verdict::InsufficientEvidence
    } else {
        Verdict::Graded
    };
    let count = |status: Status| {
        u32::try_from(capabilities.iter().filter(|c| c.status == status).count())
            .unwrap_or(u32::MAX)
    };
    let overall = Overall {
        score: partial.filter(|_| verdict == Verdict::Graded),
        partial_score: partial,
        verdict,
        coverage,
        coverage_threshold: config.coverage_threshold,
        weakest: capabilities
            .first()
            .filter(|capability| capability.score.is_some())
            .map(|capability| capability.capability),
        evidenced_count: u32::try_from(evidenced.len()).unwrap_or(u32::MAX),
        simulated_count: count(Status::Simulated),
        capability_count: u32::try_from(Capability::ALL.len()).unwrap_or(u32::MAX),
    };
    let mut cannot_evidence: Vec<String> =
        CANNOT_EVIDENCE.iter().map(|s| (*s).to_owned()).collect();
    // Said next to the limit it qualifies: replayed signals, not novel adversaries.
    if input.capability_metrics.iter().any(|m| {
        m.metric == Metric::TimeToDetectSecurityCanary || m.metric.name() == evidence::CANARY_RECALL
    }) {
        cannot_evidence.insert(1, CANARY_CAVEAT.to_owned());
    }
    Ok(Scorecard {
        formula_version: FORMULA_VERSION.to_owned(),
        capabilities,
        overall,
        preconditions: input.preconditions.clone(),
        overrides: input.overrides.clone(),
        cannot_evidence,
    })
}
