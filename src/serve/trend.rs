//! Trends over the run history: time to detect and recover per experiment, capability scores
//! over time, and the scorecard today (the latest run of each experiment, scored together).

use std::collections::BTreeMap;

use serde::Serialize;

use super::store::StoredResult;
use crate::scorecard::evidence::{combine, score_input};
use crate::scorecard::{Repeatability, Scorecard};
use crate::time::Timestamp;

/// Everything the trend page and `/api/trend` show.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trend {
    /// The scorecard over the latest run of each experiment; none before the first run.
    pub today: Option<Today>,
    /// Per experiment, its runs in time order.
    pub experiments: Vec<ExperimentTrend>,
    /// Per capability evidenced at least once, its scores in time order.
    pub capabilities: Vec<CapabilityTrend>,
}

/// The scorecard today.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Today {
    /// The runs it is computed from (history ids), one per experiment.
    pub runs: Vec<i64>,
    /// The scorecard.
    pub scorecard: Scorecard,
}

/// One experiment's runs over time.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentTrend {
    /// The experiment's name.
    pub experiment: String,
    /// Runs in the history.
    pub runs: usize,
    /// Of which passed.
    pub passed: usize,
    /// Each run, the oldest first.
    pub points: Vec<TrendPoint>,
}

impl ExperimentTrend {
    /// The latest run that was not interrupted: a run stopped by a signal measured nothing.
    pub fn latest(&self) -> Option<&TrendPoint> {
        self.points
            .iter()
            .rev()
            .find(|p| p.status != crate::result::RunStatus::Interrupted)
    }
}

/// One run's figures.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    /// The history's id of the run.
    pub id: i64,
    /// When it finished.
    pub at: Timestamp,
    /// Its status.
    pub status: crate::result::RunStatus,
    /// Median time to detect.
    pub time_to_detect_p50_ms: Option<f64>,
    /// Median time to recover.
    pub time_to_recover_p50_ms: Option<f64>,
    /// The run's overall score.
    pub score: Option<f64>,
}

/// One capability's scores over time.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityTrend {
    /// As written in documents (`recovery-continuity`).
    pub capability: String,
    /// Its display name.
    pub name: String,
    /// Each run that evidenced it, the oldest first.
    pub points: Vec<ScorePoint>,
}

/// A capability's score in one run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorePoint {
    /// The history's id of the run.
    pub id: i64,
    /// When it finished.
    pub at: Timestamp,
    /// The experiment.
    pub experiment: String,
    /// The score, 0-100.
    pub score: f64,
}

/// The trend over `results`, given the oldest first.
///
/// The scorecard today stands on the history: its repeatability counts the runs of the least
/// run experiment, trends are tracked (this is the trend), and the drills are scheduled when
/// every latest run came from a drill of `firedrill serve`.
pub fn compute(results: &[StoredResult]) -> Trend {
    let mut experiments: BTreeMap<&str, ExperimentTrend> = BTreeMap::new();
    let mut capabilities: BTreeMap<String, CapabilityTrend> = BTreeMap::new();
    let mut latest: BTreeMap<&str, &StoredResult> = BTreeMap::new();
    for stored in results {
        let (id, result) = (&stored.id, &stored.result);
        let name = result.experiment.name.as_str();
        let trend = experiments.entry(name).or_insert_with(|| ExperimentTrend {
            experiment: name.to_owned(),
            runs: 0,
            passed: 0,
            points: Vec::new(),
        });
        trend.runs += 1;
        if result.status == crate::result::RunStatus::Passed {
            trend.passed += 1;
        }
        trend.points.push(TrendPoint {
            id: *id,
            at: result.finished_at,
            status: result.status,
            time_to_detect_p50_ms: result.summary.time_to_detect_ms.p50,
            time_to_recover_p50_ms: result.summary.time_to_recover_ms.p50,
            score: result.scorecard.as_ref().and_then(|c| c.overall.score),
        });
        for c in result.scorecard.iter().flat_map(|c| &c.capabilities) {
            let Some(score) = c.score else { continue };
            let key = crate::spec::capability_key(c.capability);
            capabilities
                .entry(key.clone())
                .or_insert_with(|| CapabilityTrend {
                    capability: key,
                    name: c.name.clone(),
                    points: Vec::new(),
                })
                .points
                .push(ScorePoint {
                    id: *id,
                    at: result.finished_at,
                    experiment: name.to_owned(),
                    score,
                });
        }
        // A run stopped by a signal measured the shutdown, not the system.
        if result.scorecard_input.is_some()
            && result.status != crate::result::RunStatus::Interrupted
        {
            latest.insert(name, stored);
        }
    }
    let today = (!latest.is_empty())
        .then(|| {
            let mut input = combine(
                latest.iter().filter_map(|(name, stored)| {
                    stored.result.scorecard_input.as_ref().map(|i| (*name, i))
                }),
                None,
            );
            input.input.repeatability = Repeatability {
                runs: latest
                    .keys()
                    .map(|name| experiments.get(name).map_or(0, |e| e.runs))
                    .min()
                    .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
                trends_tracked: true,
                scheduled: latest.values().all(|s| s.drill.is_some()),
            };
            score_input(&input).map(|scorecard| Today {
                runs: latest.values().map(|s| s.id).collect(),
                scorecard,
            })
        })
        .flatten();
    Trend {
        today,
        experiments: experiments.into_values().collect(),
        capabilities: capabilities.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::result::RunResult;
    use crate::scorecard::ScorecardInput;
    use crate::scorecard::{Capability, Metric, MetricObservation, ScoreInput};

    fn fixture() -> RunResult {
        let mut result: RunResult = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/quickstart-result.json"
        ))
        .unwrap();
        let ttd = result
            .iterations
            .iter()
            .filter_map(|i| i.time_to_detect_ms)
            .map(|ms| ms / 1e3)
            .collect();
        result.scorecard_input = Some(ScorecardInput {
            input: ScoreInput {
                capability_metrics: vec![MetricObservation::new(
                    Capability::Detection,
                    Metric::TimeToDetectAvailability,
                    ttd,
                )],
                ..ScoreInput::default()
            },
            weights: crate::scorecard::default_weights(),
        });
        result
    }

    fn stored(id: i64, drill: Option<&str>, result: RunResult) -> StoredResult {
        StoredResult {
            id,
            drill: drill.map(str::to_owned),
            result,
        }
    }

    #[test]
    fn follows_each_experiment_and_scores_the_latest_runs_together() {
        let first = fixture();
        let mut second = fixture();
        second.status = crate::result::RunStatus::Failed;
        second.summary.time_to_detect_ms.p50 = Some(1234.0);
        let mut other = fixture();
        other.experiment.name = "other".into();
        let mut interrupted = fixture();
        interrupted.status = crate::result::RunStatus::Interrupted;
        let trend = compute(&[
            stored(1, Some("d"), first.clone()),
            stored(2, Some("d"), second),
            stored(3, Some("e"), other),
            stored(4, Some("d"), interrupted),
        ]);
        assert_eq!(trend.experiments.len(), 2);
        let quick = &trend.experiments[1];
        assert_eq!(quick.experiment, first.experiment.name);
        assert_eq!((quick.runs, quick.passed), (3, 1));
        assert_eq!(quick.latest().unwrap().id, 2, "interrupted runs aside");
        assert_eq!(quick.points[1].time_to_detect_p50_ms, Some(1234.0));
        assert_eq!(
            quick.points[0].time_to_detect_p50_ms,
            first.summary.time_to_detect_ms.p50
        );
        let today = trend.today.expect("a scorecard today");
        assert_eq!(
            today.runs,
            vec![3, 2],
            "the latest run of each experiment, interrupted ones aside"
        );
        let detection = today
            .scorecard
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::Detection)
            .unwrap();
        assert!(detection.score.is_some());
        let evidenced = first
            .scorecard
            .iter()
            .flat_map(|c| &c.capabilities)
            .filter(|c| c.score.is_some())
            .count();
        assert_eq!(trend.capabilities.len(), evidenced);
        assert!(trend.capabilities.iter().all(|c| c.points.len() == 4));
    }

    #[test]
    fn the_history_is_the_repeatability_evidence() {
        let maturity = |results: &[StoredResult]| {
            compute(results)
                .today
                .unwrap()
                .scorecard
                .capabilities
                .iter()
                .find(|c| c.capability == Capability::Detection)
                .and_then(|c| c.maturity)
                .unwrap()
        };
        let runs = |n: i64, drill: Option<&str>| -> Vec<StoredResult> {
            (1..=n).map(|i| stored(i, drill, fixture())).collect()
        };
        // Fewer than three runs cap maturity at 2; scheduled runs with a trend allow up to 5.
        assert!(maturity(&runs(2, Some("d"))) <= 2);
        let scheduled = maturity(&runs(3, Some("d")));
        let unscheduled = maturity(&runs(3, None));
        assert!(unscheduled <= 4);
        assert!(scheduled >= unscheduled);
    }

    #[test]
    fn an_empty_history_has_no_trend() {
        let trend = compute(&[]);
        assert!(trend.today.is_none() && trend.experiments.is_empty());
    }
}
