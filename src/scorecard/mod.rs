//! The cybersecurity performance scorecard: pure functions from drill measurements to scores.
//!
//! No I/O and no clock: the caller hands in what was measured, [`score`] hands back a
//! [`Scorecard`] that result.json and the reports can carry as is. See docs/scorecard.md.

mod arithmetic;
mod catalogue;
pub mod evidence;
mod gate;
mod maturity;

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
pub use gate::{GATE_CAP, Gate};
pub use maturity::{
    REPEATED_RUNS, REPEATED_SPAN_DAYS, Repeatability, maturity_level, performance_band,
    repeatability_level,
};

/// The version of the scoring formula, carried in every scorecard; bump it when any number changes.
pub const FORMULA_VERSION: &str = "1.2.0";

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
            Metric::Custom { name, .. } => name,
        }
    }

    /// The default scale from the reference (a custom metric's own scale).
    pub fn default_scale(&self) -> Scale {
        const MIN: f64 = 60.0;
        const HOUR: f64 = 3600.0;
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
}

impl MetricObservation {
    /// An observation with weight 1 and the metric's default scale.
    pub fn new(capability: Capability, metric: Metric, values: Vec<f64>) -> Self {
        Self {
            capability,
            metric,
            values,
            weight: None,
            scale: None,
            source: None,
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
    pub gates: Vec<Gate>,
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
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            weights: default_weights(),
        }
    }
}

/// Whether any input exercised a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// At least one measurement or gate speaks for the capability.
    Evidenced,
    /// Nothing exercised the capability: it has no score, not a zero.
    NotEvidenced,
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
}

/// A gate that was hit, with the cap it imposed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedGate {
    /// The gate.
    pub gate: Gate,
    /// The highest score the capability can have because of it.
    pub cap: f64,
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
    /// Whether anything exercised it.
    pub status: Status,
    /// The headline score, 0-100, after gates; none when not evidenced.
    pub score: Option<f64>,
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

/// The overall figure and how much of the profile it covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overall {
    /// The weighted geometric mean over the evidenced capabilities; none when nothing is evidenced.
    pub score: Option<f64>,
    /// The evidenced capability with the lowest score.
    pub weakest: Option<Capability>,
    /// How many capabilities the figure covers.
    pub evidenced_count: u32,
    /// How many capabilities there are.
    pub capability_count: u32,
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
    /// What a drill cannot evidence.
    pub cannot_evidence: Vec<String>,
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

fn score_metric(observation: &MetricObservation) -> MetricScore {
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
        .map(score_metric)
        .collect();
    let mut gates: Vec<AppliedGate> = input
        .gates
        .iter()
        .filter(|gate| gate.capability() == capability)
        .map(|gate| AppliedGate {
            gate: *gate,
            cap: gate.cap(),
        })
        .collect();
    gates.sort_by_key(|applied| applied.gate);
    gates.dedup();

    let mean_of = |pick: fn(&MetricScore) -> Option<f64>| {
        let pairs: Vec<(f64, f64)> = metrics
            .iter()
            .filter_map(|metric| pick(metric).map(|score| (score, metric.weight)))
            .collect();
        weighted_mean(&pairs)
    };
    let cap = gates
        .iter()
        .map(|gate| gate.cap)
        .fold(f64::INFINITY, f64::min);
    // A gate with nothing measured to the capability's credit scores 0.
    let capped = |mean: Option<f64>| match (mean, gates.is_empty()) {
        (Some(mean), _) => Some(mean.min(cap)),
        (None, false) => Some(0.0),
        (None, true) => None,
    };
    let score = capped(mean_of(|metric| metric.score));
    let score_p50 = capped(mean_of(|metric| metric.score_p50));
    let maturity = score.zip(score_p50).map(|(headline, p50)| {
        maturity_level(headline, p50, !gates.is_empty(), input.repeatability)
    });
    CapabilityScore {
        capability,
        name: capability.name().to_owned(),
        references: capability.references(),
        status: if score.is_some() {
            Status::Evidenced
        } else {
            Status::NotEvidenced
        },
        score,
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
    // Stable: ties keep the order of the reference table; not evidenced go last.
    capabilities.sort_by(|a, b| match (a.score, b.score) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let evidenced: Vec<(f64, f64)> = capabilities
        .iter()
        .filter_map(|capability| capability.score.map(|score| (score, capability.weight)))
        .collect();
    let overall = Overall {
        score: weighted_geometric_mean(&evidenced),
        weakest: capabilities
            .first()
            .filter(|capability| capability.score.is_some())
            .map(|capability| capability.capability),
        evidenced_count: u32::try_from(evidenced.len()).unwrap_or(u32::MAX),
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
        cannot_evidence,
    })
}
