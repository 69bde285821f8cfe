//! Trends over the run history: time to detect and recover per experiment, capability scores
//! over time, and the scorecard today (the latest run of each experiment, scored together).

use std::collections::BTreeMap;

use serde::Serialize;

use super::store::StoredResult;
use crate::scorecard::Scorecard;
use crate::scorecard::evidence::combine;
use crate::scorecard::history::{HistoryEvidence, score_with_history};
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
    /// What the history evidences for it: repeated runs, trends, days between drills.
    pub history: HistoryEvidence,
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
    /// The latest run that was neither aborted nor interrupted: a run cut short measured
    /// nothing comparable.
    pub fn latest(&self) -> Option<&TrendPoint> {
        self.points.iter().rev().find(|p| p.status.is_scored())
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
    /// The formula its scorecard was computed with.
    pub formula_version: Option<String>,
    /// Whether the formula differs from the previous scored run's: figures on either side
    /// are not comparable.
    pub formula_changed: bool,
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

/// The trend over `results` of the history `database`, given the oldest first.
///
/// The scorecard today stands on the history ([`HistoryEvidence`]): repeatability from the
/// dated runs of the least drilled experiment, a trend when every experiment has one
/// measured, continuous testing from the days between drills, and scheduled when every
/// latest run came from a drill of `firedrill serve`.
pub fn compute(results: &[StoredResult], database: &str, as_of: Timestamp) -> Trend {
    let mut experiments: BTreeMap<&str, ExperimentTrend> = BTreeMap::new();
    let mut capabilities: BTreeMap<String, CapabilityTrend> = BTreeMap::new();
    let mut latest: BTreeMap<&str, &StoredResult> = BTreeMap::new();
    let mut dated = Vec::new();
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
        // An aborted or interrupted run keeps its figures in its result, but has no score here.
        let scorecard = result
            .scorecard
            .as_ref()
            .filter(|_| result.status.is_scored());
        let formula_version = scorecard.map(|c| c.formula_version.clone());
        let formula_changed = formula_version.is_some()
            && trend
                .points
                .iter()
                .rev()
                .find_map(|p| p.formula_version.as_ref())
                .is_some_and(|before| Some(before) != formula_version.as_ref());
        trend.points.push(TrendPoint {
            id: *id,
            at: result.finished_at,
            status: result.status,
            time_to_detect_p50_ms: result.summary.time_to_detect_ms.p50,
            time_to_recover_p50_ms: result.summary.time_to_recover_ms.p50,
            score: scorecard.and_then(|c| c.overall.score),
            formula_version,
            formula_changed,
        });
        for c in scorecard.iter().flat_map(|c| &c.capabilities) {
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
        if let Some(run) =
            crate::report::history::dated_stored(result, stored.results_dir.as_deref())
        {
            latest.insert(name, stored);
            dated.push(run);
        }
    }
    let today = (!latest.is_empty())
        .then(|| {
            let input = combine(
                latest.iter().filter_map(|(name, stored)| {
                    stored.result.scorecard_input.as_ref().map(|i| (*name, i))
                }),
                None,
            );
            let history = HistoryEvidence::of(
                database,
                latest.keys().copied(),
                &dated,
                as_of,
                input.max_evidence_age_days,
                latest.values().all(|s| s.drill.is_some()),
            );
            score_with_history(&input, Some(&history), Some(as_of)).map(|scorecard| Today {
                runs: latest.values().map(|s| s.id).collect(),
                scorecard,
                history,
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
    use crate::scorecard::{Capability, Metric, MetricObservation, ScoreInput};
    use crate::scorecard::{FORMULA_VERSION, ScorecardInput};

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
        result.scorecard_input = Some(ScorecardInput::new(ScoreInput {
            capability_metrics: vec![MetricObservation::organisation(
                Capability::Detection,
                Metric::TimeToDetectAvailability,
                ttd,
            )],
            ..ScoreInput::default()
        }));
        result
    }

    /// The trend as of two months after the fixture's run.
    fn trend_of(results: &[StoredResult]) -> Trend {
        compute(results, "h.db", "2027-01-31T00:00:00Z".parse().unwrap())
    }

    fn stored(id: i64, drill: Option<&str>, result: RunResult) -> StoredResult {
        StoredResult {
            id,
            drill: drill.map(str::to_owned),
            results_dir: None,
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
        let trend = trend_of(&[
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
        // The interrupted run keeps its scorecard in its result, but scores nothing here.
        assert!(trend.capabilities.iter().all(|c| c.points.len() == 3));
        assert_eq!(quick.points[2].score, None);
    }

    #[test]
    fn the_history_is_the_repeatability_evidence() {
        let maturity = |results: &[StoredResult]| {
            trend_of(results)
                .today
                .unwrap()
                .scorecard
                .capabilities
                .iter()
                .find(|c| c.capability == Capability::Detection)
                .and_then(|c| c.maturity)
                .unwrap()
        };
        // `n` runs, `days` apart.
        let runs = |n: i64, days: u64, drill: Option<&str>| -> Vec<StoredResult> {
            (0..n)
                .map(|i| {
                    let mut result = fixture();
                    let later = std::time::Duration::from_secs(86_400 * days * i as u64);
                    result.finished_at = result.finished_at + later;
                    result.run_id = format!("run-{i}");
                    stored(i + 1, drill, result)
                })
                .collect()
        };
        // Three runs on one day are one exercise, and two runs are not a practice.
        assert_eq!(maturity(&runs(3, 0, Some("d"))), 2);
        assert_eq!(maturity(&runs(2, 30, Some("d"))), 2);
        assert_eq!(maturity(&runs(3, 6, Some("d"))), 2, "12 days");
        // Three runs over two weeks, each with a figure of the organisation's under this
        // formula, make a measured trend: level 4, whether scheduled or not; level 5 needs a
        // recorded review, which these runs do not have.
        assert_eq!(maturity(&runs(3, 7, Some("d"))), 4);
        assert_eq!(maturity(&runs(3, 7, None)), 4);
        // Repeated, but scored under another formula: no trend to measure, level 3.
        let mut older = runs(3, 7, Some("d"));
        for stored in &mut older {
            stored.result.scorecard.as_mut().unwrap().formula_version = "1.0.0".into();
        }
        assert_eq!(maturity(&older), 3);
        let marks = |trend: &Trend| -> Vec<bool> {
            trend.experiments[0]
                .points
                .iter()
                .map(|p| p.formula_changed)
                .collect()
        };
        assert_eq!(marks(&trend_of(&older)), vec![false, false, false]);
        older[2].result.scorecard.as_mut().unwrap().formula_version = FORMULA_VERSION.into();
        let trend = trend_of(&older);
        assert_eq!(
            marks(&trend),
            vec![false, false, true],
            "the change is marked where it happens"
        );
        let today = trend.today.unwrap();
        assert_eq!(today.history.experiments[0].formula_changes.len(), 1);
        // The days between the drills are continuous-testing evidence: 7 days, within the
        // 30-day target.
        let continuous = today
            .scorecard
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::ContinuousTesting)
            .unwrap();
        assert_eq!(continuous.score, Some(100.0));
    }

    #[test]
    fn an_empty_history_has_no_trend() {
        let trend = trend_of(&[]);
        assert!(trend.today.is_none() && trend.experiments.is_empty());
    }
}
