//! `spec.scorecard`: how the experiment's measurements count on the scorecard, when the
//! defaults of docs/scorecard.md do not fit.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Capability;
use super::Duration;

/// Overrides of the scorecard's defaults for this experiment.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScorecardSpec {
    /// Fault type → the capabilities it exercises, replacing the default mapping for that type
    /// (for example `process-kill: [recovery-continuity, detection]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, Vec<Capability>>,
    /// Targets and limits that replace the reference's defaults.
    #[serde(default)]
    pub targets: ScorecardTargets,
    /// Weights of the capabilities in the overall figure, replacing the defaults for the
    /// capabilities named.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<Capability, f64>,
    /// The share of the profile's weight, in percent, that the organisation's own evidence
    /// must cover before the page shows a headline figure (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_threshold: Option<f64>,
    /// Evidence older than this no longer counts and its capability is marked due (default
    /// 365d: DORA asks for testing at least yearly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_evidence_age: Option<Duration>,
    /// Probes that stand for the organisation's own monitoring: a `probe-fails` signal on one
    /// of them counts as the organisation detecting the fault. This claims that the
    /// organisation runs the same check from the same place and that it alerts people;
    /// the page shows the claim (docs/scorecard.md, "Provenance").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisation_monitoring: Vec<String>,
}

/// Targets and limits per metric; each replaces the default of docs/scorecard.md.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScorecardTargets {
    /// Time to detect (default: target 2m, limit 15m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_detect: Option<DurationTarget>,
    /// From a detection canary to the signal that noticed it (default: target 15m, limit 4h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_detect_canary: Option<DurationTarget>,
    /// Time to recover (default: target 1h, limit 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_recover: Option<DurationTarget>,
    /// Detection to the early-warning draft (default: target 1h, limit 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_warning_draft: Option<DurationTarget>,
    /// Detection to the early warning delivered (default: target 1h, limit 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_warning_delivery: Option<DurationTarget>,
    /// Detection to each role's acknowledgement (default: target 15m, limit 4h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_acknowledge: Option<DurationTarget>,
    /// p99 latency during the fault as a multiple of the baseline p99 (default: target 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_during_fault: Option<MultipleTarget>,
}

/// A duration metric's target (scores 100 at or below) and limit (scores 0 at or above).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DurationTarget {
    /// At or below: 100.
    pub target: Duration,
    /// At or above: 0; log-linear in between.
    pub limit: Duration,
}

/// A multiple's target (scores 100 at or below) and optional limit (scores 0 at or above).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MultipleTarget {
    /// At or below: 100.
    pub target: f64,
    /// At or above: 0, linear in between; without one, anything above the target scores 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}
