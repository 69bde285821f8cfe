//! Maturity levels 1-5: the lower of the performance band and the repeatability evidence.

use serde::{Deserialize, Serialize};

/// What the caller knows about how the drills are repeated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repeatability {
    /// How many drill runs the scores stand on.
    pub runs: u32,
    /// Whether scores are tracked as a trend across runs.
    pub trends_tracked: bool,
    /// Whether drills run on a schedule.
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

/// The level the repeatability evidence supports: 3 needs three runs, 4 also trends, 5 also a schedule.
pub fn repeatability_level(repeatability: Repeatability) -> u8 {
    if repeatability.runs < 3 {
        2
    } else if !repeatability.trends_tracked {
        3
    } else if !repeatability.scheduled {
        4
    } else {
        5
    }
}

/// The maturity level: a level counts only when everything below it holds.
pub fn maturity_level(headline: f64, p50: f64, gate_hit: bool, repeatability: Repeatability) -> u8 {
    performance_band(headline, p50, gate_hit).min(repeatability_level(repeatability))
}
