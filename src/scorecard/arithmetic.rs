//! The arithmetic of the scorecard: scales that turn one measurement into 0-100, percentiles over
//! iterations, and the two means.

use serde::{Deserialize, Serialize};

/// How a measurement maps to a score of 0 to 100.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Scale {
    /// A duration in seconds, lower is better: 100 at or below target, 0 at or above limit, log-linear between.
    Duration {
        /// Seconds at or below which the score is 100.
        target_secs: f64,
        /// Seconds at or above which the score is 0.
        limit_secs: f64,
    },
    /// A ratio, higher is better (availability, recall, success share): 0 at or below floor, 100 at or above target, linear between.
    Ratio {
        /// The value at or below which the score is 0.
        floor: f64,
        /// The value at or above which the score is 100.
        target: f64,
    },
    /// A multiple of a baseline, lower is better (p99 latency during the fault over the baseline p99):
    /// 100 at or below target, 0 at or above limit, linear between; without a limit it is pass (100) or fail (0).
    Multiple {
        /// The multiple at or below which the score is 100.
        target: f64,
        /// The multiple at or above which the score is 0; none makes the scale pass or fail.
        limit: Option<f64>,
    },
}

impl Scale {
    /// Whether a smaller measurement is a better one.
    pub fn lower_is_better(&self) -> bool {
        !matches!(self, Scale::Ratio { .. })
    }

    /// The score of one measurement on this scale.
    pub fn score(&self, measured: f64) -> f64 {
        match *self {
            Scale::Duration {
                target_secs,
                limit_secs,
            } => duration_score(measured, target_secs, limit_secs),
            Scale::Ratio { floor, target } => ratio_score(measured, floor, target),
            Scale::Multiple { target, limit } => multiple_score(measured, target, limit),
        }
    }

    /// What is wrong with the scale's bounds, if anything.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        match *self {
            Scale::Duration {
                target_secs,
                limit_secs,
            } => (!(target_secs.is_finite()
                && limit_secs.is_finite()
                && target_secs > 0.0
                && target_secs < limit_secs))
                .then_some("a duration scale needs 0 < targetSecs < limitSecs"),
            Scale::Ratio { floor, target } => {
                (!(floor.is_finite() && target.is_finite() && floor < target))
                    .then_some("a ratio scale needs floor < target")
            }
            Scale::Multiple { target, limit } => (!(target.is_finite()
                && target > 0.0
                && limit.is_none_or(|limit| limit.is_finite() && limit > target)))
            .then_some("a multiple scale needs 0 < target < limit"),
        }
    }
}

/// 100 at or below target, 0 at or above limit, else 100 * (ln L - ln m) / (ln L - ln T).
pub fn duration_score(measured: f64, target: f64, limit: f64) -> f64 {
    if measured <= target {
        100.0
    } else if measured >= limit {
        0.0
    } else {
        100.0 * (limit.ln() - measured.ln()) / (limit.ln() - target.ln())
    }
}

/// 0 at or below floor, 100 at or above target, else 100 * (m - floor) / (target - floor).
pub fn ratio_score(measured: f64, floor: f64, target: f64) -> f64 {
    if measured >= target {
        100.0
    } else if measured <= floor {
        0.0
    } else {
        100.0 * (measured - floor) / (target - floor)
    }
}

/// 100 at or below target, 0 at or above limit (above target when there is none), else linear.
pub fn multiple_score(measured: f64, target: f64, limit: Option<f64>) -> f64 {
    match limit {
        _ if measured <= target => 100.0,
        None => 0.0,
        Some(limit) if measured >= limit => 0.0,
        Some(limit) => 100.0 * (limit - measured) / (limit - target),
    }
}

/// The fewest iterations for which the headline is the p90 rather than the worst run.
pub const MIN_ITERATIONS_FOR_P90: usize = 5;

/// How the headline value of a metric was taken from its iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    /// The nearest-rank 90th percentile, counted from the best run towards the worst.
    P90,
    /// The worst run, used when there are fewer than five iterations.
    Worst,
}

/// The nearest-rank percentile (integer `percent`, 1-100) of values sorted from best to worst.
pub fn nearest_rank(best_to_worst: &[f64], percent: usize) -> Option<f64> {
    let n = best_to_worst.len();
    if n == 0 {
        return None;
    }
    // Integer arithmetic: ceil(percent * n / 100) without floating-point surprises.
    let rank = (percent * n).div_ceil(100).clamp(1, n);
    Some(best_to_worst[rank - 1])
}

/// Values ordered from the best run to the worst run.
pub fn best_to_worst(values: &[f64], lower_is_better: bool) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if !lower_is_better {
        sorted.reverse();
    }
    sorted
}

/// The headline value: p90 (nearest rank, adverse side) with five or more iterations, else the worst run.
pub fn headline(values: &[f64], lower_is_better: bool) -> Option<(f64, Aggregation)> {
    let sorted = best_to_worst(values, lower_is_better);
    if sorted.len() >= MIN_ITERATIONS_FOR_P90 {
        nearest_rank(&sorted, 90).map(|value| (value, Aggregation::P90))
    } else {
        sorted.last().map(|value| (*value, Aggregation::Worst))
    }
}

/// The median value (nearest rank), used for the maturity band 3.
pub fn median(values: &[f64], lower_is_better: bool) -> Option<f64> {
    nearest_rank(&best_to_worst(values, lower_is_better), 50)
}

/// The weighted arithmetic mean of (score, weight) pairs; none when the weights add up to zero.
pub fn weighted_mean(pairs: &[(f64, f64)]) -> Option<f64> {
    let total: f64 = pairs.iter().map(|(_, weight)| weight).sum();
    (total > 0.0).then(|| {
        pairs
            .iter()
            .map(|(score, weight)| score * weight)
            .sum::<f64>()
            / total
    })
}

/// The weighted geometric mean of (score, weight) pairs; any weighted zero makes it zero.
pub fn weighted_geometric_mean(pairs: &[(f64, f64)]) -> Option<f64> {
    let weighted: Vec<_> = pairs.iter().filter(|(_, weight)| *weight > 0.0).collect();
    let total: f64 = weighted.iter().map(|(_, weight)| weight).sum();
    if weighted.is_empty() || total <= 0.0 {
        return None;
    }
    if weighted.iter().any(|(score, _)| *score <= 0.0) {
        return Some(0.0);
    }
    let log_sum: f64 = weighted
        .iter()
        .map(|(score, weight)| weight * score.ln())
        .sum();
    Some((log_sum / total).exp())
}
