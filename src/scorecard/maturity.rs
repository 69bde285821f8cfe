//! Maturity levels 1-5: the lower of the performance band and the repeatability evidence.

use serde::{Deserialize, Serialize};

/// The fewest dated runs that show drills are repeated (level 3).
pub const REPEATED_RUNS: u32 = 3;

/// The fewest whole days those runs must span (level 3): three runs in one afternoon are
/// one exercise, not a practice.
pub const REPEATED_SPAN_DAYS: u32 = 14;

/// What the caller knows about how the drills are repeated. Runs are dated runs of the
/// experiment, never the iterations of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repeatability {
    /// How many dated runs the scores stand on (of the least run experiment); 1 for a
    /// single run, whatever its iterations.
    pub runs: u32,
    /// Whole days from the first of those runs to the last.
    #[serde(default)]
    pub span_days: u32,
    /// Whether the scores stand on a history whose trend is measured: every experiment has
    /// at least [`REPEATED_RUNS`] scored runs in it. Computed from the history, never set.
    pub trends_tracked: bool,
    /// Whether a review of the findings was recorded, with owners and actions.
    #[serde(default)]
    pub reviewed: bool,
    /// Whether drills run on a schedule; shown, and no longer a level of its own.
    pub scheduled: bool,
}

/// The performance band: 1 below 40 or with a gate, 2 at 40, 3 at 60 (p50), 4 at 75, 5 at 90.
///
/// `headline` is the p90 score (the worst run with fewer than five iterations), `p50` the median score.
pub fn performance_band(headline: f64, p50: f64, gate_hit: bool) -> u8 {
    if gate_hit || headline < 40.0 {
        1
    } else if p50 < 60.0 {
        2
    } else if headline < 75.0 {
        3
    } else if headline < 90.0 {
        4
    } else {
        5
    }
}

/// The level the repeatability evidence supports: 3 needs [`REPEATED_RUNS`] dated runs over
/// at least [`REPEATED_SPAN_DAYS`] days, 4 also a measured trend, 5 also a recorded review.
pub fn repeatability_level(repeatability: Repeatability) -> u8 {
    if repeatability.runs < REPEATED_RUNS || repeatability.span_days < REPEATED_SPAN_DAYS {
        2
    } else if !repeatability.trends_tracked {
        3
    } else if !repeatability.reviewed {
        4
    } else {
        5
    }
}

/// The maturity level: a level counts only when everything below it holds.
pub fn maturity_level(headline: f64, p50: f64, gate_hit: bool, repeatability: Repeatability) -> u8 {
    performance_band(headline, p50, gate_hit).min(repeatability_level(repeatability))
}
