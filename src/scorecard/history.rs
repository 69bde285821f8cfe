//! Evidence from a run history: how often each experiment was drilled and over how long,
//! the days between drills, whether a trend of the organisation's figure is measured, where
//! the formula changed, and whether findings were reviewed. Read by `firedrill run
//! --history`, `firedrill report --history` and `firedrill serve`; pure, like the rest of
//! the scorecard: the caller reads the history and hands in its dated runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::evidence::{ScorecardInput, score_input};
use super::{
    Capability, FORMULA_VERSION, Metric, MetricObservation, REPEATED_RUNS, REPEATED_SPAN_DAYS,
    Repeatability, Scorecard,
};
use crate::time::Timestamp;

/// A trend flatter than this many points per 30 days, either way, is steady.
pub const STEADY_POINTS_PER_30_DAYS: f64 = 2.0;

const DAY_MS: f64 = 86_400_000.0;

/// One dated run of a history, as the history evidence reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatedRun {
    /// The run's own id, so that a run read twice (from its folder and from the history)
    /// counts once.
    pub run_id: Option<String>,
    /// The experiment's name.
    pub experiment: String,
    /// When it ended.
    pub finished_at: Timestamp,
    /// The formula its scorecard was computed with; none when it was not scored.
    pub formula_version: Option<String>,
    /// The organisation's figure: the overall score, or the partial figure when the evidence
    /// did not cover enough of the profile for a grade. None when nothing the organisation
    /// did was scored, or when the scorecard could not be trusted.
    pub figure: Option<f64>,
    /// Whether every finding of the run has a recorded review decision.
    pub reviewed: bool,
    /// The decisions recorded for its findings, the latest per finding.
    pub decisions: Vec<EarlierDecision>,
}

/// A review decision recorded for a finding of a run in the history: an action that later
/// pages carry until the finding is no longer raised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarlierDecision {
    /// The experiment of the run reviewed.
    pub experiment: String,
    /// The run reviewed.
    pub run_id: String,
    /// When that run ended.
    pub run_finished_at: Timestamp,
    /// The finding's id.
    pub finding: String,
    /// Who owns it.
    pub owner: String,
    /// By when (YYYY-MM-DD).
    pub due: String,
    /// What was decided: accept, fix or risk-accept.
    pub decision: String,
    /// When the decision was recorded.
    pub recorded_at: Timestamp,
}

impl DatedRun {
    /// A dated run scored with `formula_version`, its figure that of `own`, the scorecard of
    /// the run's own evidence; not reviewed until the caller finds a review.
    pub fn of(
        run_id: Option<String>,
        experiment: &str,
        finished_at: Timestamp,
        formula_version: Option<String>,
        own: Option<&Scorecard>,
    ) -> Self {
        Self {
            run_id,
            experiment: experiment.to_owned(),
            finished_at,
            formula_version,
            figure: own
                .filter(|c| c.trusted())
                .and_then(|c| c.overall.score.or(c.overall.partial_score)),
            reviewed: false,
            decisions: Vec::new(),
        }
    }
}

/// Which way a measured trend goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The figure rises by more than [`STEADY_POINTS_PER_30_DAYS`] a month.
    Improving,
    /// Within that band.
    Steady,
    /// The figure falls by more than that.
    Declining,
}

impl Direction {
    /// As written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Improving => "improving",
            Self::Steady => "steady",
            Self::Declining => "declining",
        }
    }
}

/// A measured trend of the organisation's figure over comparable runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendLine {
    /// The comparable runs it stands on: scored with this formula's major version, with a
    /// figure from the organisation's evidence.
    pub runs: u32,
    /// When the first of them ended.
    pub since: Timestamp,
    /// The first run's figure.
    pub first: f64,
    /// The latest run's figure.
    pub latest: f64,
    /// The least-squares slope of the figure over time, in points per 30 days.
    pub slope_per_30_days: f64,
    /// Which way it goes.
    pub direction: Direction,
}

/// Where the formula changed between two consecutive runs: the figures on either side are
/// not compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormulaChange {
    /// When the first run under the new formula ended.
    pub at: Timestamp,
    /// The formula before.
    pub from: String,
    /// The formula after.
    pub to: String,
}

/// One experiment's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentHistory {
    /// The experiment's name.
    pub experiment: String,
    /// Its dated runs younger than the evidence age limit, the one scored included.
    pub runs: u32,
    /// When the first of them ended.
    pub first: Timestamp,
    /// When the last of them ended.
    pub last: Timestamp,
    /// Whole days from the first to the last.
    pub span_days: u32,
    /// Days between consecutive runs, the oldest first.
    pub intervals_days: Vec<f64>,
    /// The trend of the organisation's figure, when one is measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<TrendLine>,
    /// Where the formula changed between consecutive runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formula_changes: Vec<FormulaChange>,
    /// Whether one of the runs has every finding reviewed.
    pub reviewed: bool,
}

/// What a run history evidences for one scorecard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvidence {
    /// The history it was read from, as named on the command line or in serve's settings.
    pub database: String,
    /// The time it speaks for: runs after it are left out.
    pub as_of: Timestamp,
    /// Whether every run scored came from a scheduled drill of `firedrill serve`.
    #[serde(default)]
    pub scheduled: bool,
    /// Each experiment the scorecard stands on.
    pub experiments: Vec<ExperimentHistory>,
    /// The latest review decision per experiment and finding over those runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<EarlierDecision>,
}

/// The major part of a formula version ("2" of "2.0.0"): figures of one major version are
/// comparable.
fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// The least-squares slope of `points` (days, figure), in points per day.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mean_x) * (y - mean_y);
        den += (x - mean_x) * (x - mean_x);
    }
    if den == 0.0 { 0.0 } else { num / den }
}

impl ExperimentHistory {
    /// The history of one experiment from its runs, the oldest first, none of them empty.
    fn of(experiment: &str, runs: &[&DatedRun]) -> Option<Self> {
        let (first, last) = (runs.first()?, runs.last()?);
        let intervals_days = runs
            .windows(2)
            .map(|w| w[1].finished_at.ms_since(w[0].finished_at) / DAY_MS)
            .collect();
        let mut formula_changes = Vec::new();
        let mut previous: Option<&str> = None;
        for run in runs {
            let Some(version) = run.formula_version.as_deref() else {
                continue;
            };
            if let Some(before) = previous.filter(|before| *before != version) {
                formula_changes.push(FormulaChange {
                    at: run.finished_at,
                    from: before.to_owned(),
                    to: version.to_owned(),
                });
            }
            previous = Some(version);
        }
        // Figures are compared only under the formula of today.
        let comparable: Vec<(Timestamp, f64)> = runs
            .iter()
            .filter(|r| {
                r.formula_version
                    .as_deref()
                    .is_some_and(|v| major(v) == major(FORMULA_VERSION))
            })
            .filter_map(|r| r.figure.map(|f| (r.finished_at, f)))
            .collect();
        let trend = match (comparable.first(), comparable.last()) {
            (Some(&(since, first)), Some(&(until, latest)))
                if comparable.len() >= REPEATED_RUNS as usize
                    && until.ms_since(since) >= f64::from(REPEATED_SPAN_DAYS) * DAY_MS =>
            {
                let points: Vec<(f64, f64)> = comparable
                    .iter()
                    .map(|(at, figure)| (at.ms_since(since) / DAY_MS, *figure))
                    .collect();
                let slope_per_30_days = slope(&points) * 30.0;
                let direction = if slope_per_30_days > STEADY_POINTS_PER_30_DAYS {
                    Direction::Improving
                } else if slope_per_30_days < -STEADY_POINTS_PER_30_DAYS {
                    Direction::Declining
                } else {
                    Direction::Steady
                };
                Some(TrendLine {
                    runs: u32::try_from(comparable.len()).unwrap_or(u32::MAX),
                    since,
                    first,
                    latest,
                    slope_per_30_days,
                    direction,
                })
            }
            _ => None,
        };
        Some(Self {
            experiment: experiment.to_owned(),
            runs: u32::try_from(runs.len()).unwrap_or(u32::MAX),
            first: first.finished_at,
            last: last.finished_at,
            span_days: (last.finished_at.ms_since(first.finished_at) / DAY_MS).floor() as u32,
            intervals_days,
            trend,
            formula_changes,
            reviewed: runs.iter().any(|r| r.reviewed),
        })
    }
}

impl HistoryEvidence {
    /// The evidence of `runs` for the experiments in `experiments`, as of `as_of`: runs that
    /// ended after it, or more than `max_age_days` before it, are left out, and a run listed
    /// twice (the same run id) counts once.
    pub fn of<'a>(
        database: &str,
        experiments: impl IntoIterator<Item = &'a str>,
        runs: &[DatedRun],
        as_of: Timestamp,
        max_age_days: u32,
        scheduled: bool,
    ) -> Self {
        let oldest = f64::from(max_age_days) * DAY_MS;
        let mut by_experiment: BTreeMap<&str, Vec<&DatedRun>> = experiments
            .into_iter()
            .map(|name| (name, Vec::new()))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for run in runs {
            let age = as_of.ms_since(run.finished_at);
            if !(0.0..=oldest).contains(&age) {
                continue;
            }
            if let Some(id) = &run.run_id
                && !seen.insert(id.as_str())
            {
                continue;
            }
            if let Some(list) = by_experiment.get_mut(run.experiment.as_str()) {
                list.push(run);
            }
        }
        let mut latest: BTreeMap<(&str, &str), &EarlierDecision> = BTreeMap::new();
        for decision in by_experiment.values().flatten().flat_map(|r| &r.decisions) {
            let key = (decision.experiment.as_str(), decision.finding.as_str());
            let later = |d: &EarlierDecision| (d.run_finished_at, d.recorded_at);
            if latest.get(&key).is_none_or(|d| later(d) <= later(decision)) {
                latest.insert(key, decision);
            }
        }
        let decisions = latest.into_values().cloned().collect();
        let experiments = by_experiment
            .into_iter()
            .filter_map(|(name, mut runs)| {
                runs.sort_by_key(|r| r.finished_at);
                ExperimentHistory::of(name, &runs)
            })
            .collect();
        Self {
            database: database.to_owned(),
            as_of,
            scheduled,
            experiments,
            decisions,
        }
    }

    /// The repeatability the history shows: the runs of the least drilled experiment and the
    /// shortest span; a trend is tracked when every experiment has a measured one, and
    /// findings are reviewed when every experiment has a reviewed run.
    pub fn repeatability(&self) -> Repeatability {
        let all = |f: fn(&ExperimentHistory) -> bool| {
            !self.experiments.is_empty() && self.experiments.iter().all(f)
        };
        Repeatability {
            runs: self.experiments.iter().map(|e| e.runs).min().unwrap_or(0),
            span_days: self
                .experiments
                .iter()
                .map(|e| e.span_days)
                .min()
                .unwrap_or(0),
            trends_tracked: all(|e| e.trend.is_some()),
            reviewed: all(|e| e.reviewed),
            scheduled: self.scheduled,
        }
    }

    /// Continuous testing, as the organisation practises it: the days between its drills of
    /// each experiment (organisation evidence, dated by the latest run).
    pub fn observations(&self) -> Vec<MetricObservation> {
        self.experiments
            .iter()
            .filter(|e| !e.intervals_days.is_empty())
            .map(|e| {
                let mut observation = MetricObservation::organisation(
                    Capability::ContinuousTesting,
                    Metric::TestInterval,
                    e.intervals_days.iter().map(|d| d * 86_400.0).collect(),
                )
                .with_source(&e.experiment);
                observation.measured_at = Some(e.last);
                observation
            })
            .collect()
    }

    /// The latest decision on `finding` recorded for a run other than `own` (the runs of the
    /// page), if any.
    pub fn earlier_decision(&self, finding: &str, own: &[&str]) -> Option<&EarlierDecision> {
        self.decisions
            .iter()
            .filter(|d| d.finding == finding && !own.contains(&d.run_id.as_str()))
            .max_by_key(|d| (d.run_finished_at, d.recorded_at))
    }

    /// The trend to show for the whole scorecard: the experiment's when there is one, the
    /// one that goes worst when there are several.
    pub fn headline_trend(&self) -> Option<(&str, &TrendLine)> {
        self.experiments
            .iter()
            .filter_map(|e| e.trend.as_ref().map(|t| (e.experiment.as_str(), t)))
            .min_by(|a, b| a.1.slope_per_30_days.total_cmp(&b.1.slope_per_30_days))
    }

    /// `input` with the history's repeatability and continuous-testing evidence.
    pub fn applied_to(&self, input: &ScorecardInput) -> ScorecardInput {
        let mut input = input.clone();
        input.input.repeatability = self.repeatability();
        input.input.capability_metrics.extend(self.observations());
        input
    }
}

/// The scorecard of `input`, with the history's evidence when there is one.
pub fn score_with_history(
    input: &ScorecardInput,
    history: Option<&HistoryEvidence>,
    as_of: Option<Timestamp>,
) -> Option<Scorecard> {
    match history {
        Some(history) => score_input(&history.applied_to(input), as_of),
        None => score_input(input, as_of),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> Timestamp {
        let base: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        base + std::time::Duration::from_secs(86_400 * u64::from(day))
    }

    fn run(experiment: &str, day: u32, figure: Option<f64>) -> DatedRun {
        DatedRun {
            run_id: Some(format!("{experiment}-{day}")),
            experiment: experiment.to_owned(),
            finished_at: at(day),
            formula_version: Some(FORMULA_VERSION.to_owned()),
            figure,
            reviewed: false,
            decisions: Vec::new(),
        }
    }

    fn evidence(runs: &[DatedRun], as_of: u32) -> HistoryEvidence {
        HistoryEvidence::of("h.db", ["a"], runs, at(as_of), 365, false)
    }

    #[test]
    fn counts_dated_runs_their_span_and_the_days_between_them() {
        let runs = [
            run("a", 0, Some(50.0)),
            run("a", 10, Some(55.0)),
            run("a", 24, Some(60.0)),
            run("b", 3, Some(10.0)),
        ];
        let history = evidence(&runs, 30);
        assert_eq!(
            history.experiments.len(),
            1,
            "only the scorecard's experiments"
        );
        let a = &history.experiments[0];
        assert_eq!((a.runs, a.span_days), (3, 24));
        assert_eq!(a.intervals_days, vec![10.0, 14.0]);
        let observations = history.observations();
        assert_eq!(observations.len(), 1);
        assert_eq!(observations[0].values, vec![864_000.0, 1_209_600.0]);
        assert_eq!(
            observations[0].provenance,
            super::super::Provenance::Organisation
        );
        assert_eq!(observations[0].measured_at, Some(at(24)));
    }

    #[test]
    fn a_trend_is_measured_over_three_comparable_runs_two_weeks_apart() {
        // 50 → 60 over 24 days: a least-squares slope of 10/24 points a day.
        let runs = [
            run("a", 0, Some(50.0)),
            run("a", 10, Some(55.0)),
            run("a", 24, Some(60.0)),
        ];
        let trend = evidence(&runs, 30).experiments[0].trend.clone().unwrap();
        assert_eq!((trend.runs, trend.first, trend.latest), (3, 50.0, 60.0));
        let expected = {
            // x = 0, 10, 24; y = 50, 55, 60.
            let mx: f64 = 34.0 / 3.0;
            let my = 55.0;
            let num = (0.0 - mx) * (50.0 - my) + (10.0 - mx) * 0.0 + (24.0 - mx) * (60.0 - my);
            let den = (0.0 - mx).powi(2) + (10.0 - mx).powi(2) + (24.0 - mx).powi(2);
            num / den * 30.0
        };
        assert!((trend.slope_per_30_days - expected).abs() < 1e-9);
        assert_eq!(trend.direction, Direction::Improving);
        assert!(evidence(&runs, 30).repeatability().trends_tracked);

        // Two runs, or three within 13 days, or runs without an organisation figure: no trend.
        assert!(evidence(&runs[..2], 30).experiments[0].trend.is_none());
        let close = [
            run("a", 0, Some(1.0)),
            run("a", 6, Some(1.0)),
            run("a", 13, Some(1.0)),
        ];
        assert!(evidence(&close, 30).experiments[0].trend.is_none());
        let blind = [
            run("a", 0, None),
            run("a", 10, None),
            run("a", 24, Some(60.0)),
        ];
        assert!(evidence(&blind, 30).experiments[0].trend.is_none());
        assert!(!evidence(&blind, 30).repeatability().trends_tracked);
    }

    #[test]
    fn a_formula_change_is_marked_and_cuts_the_comparison() {
        let mut old = run("a", 0, Some(90.0));
        old.formula_version = Some("1.0.0".into());
        let runs = [
            old,
            run("a", 10, Some(50.0)),
            run("a", 20, Some(50.0)),
            run("a", 30, Some(50.0)),
        ];
        let a = &evidence(&runs, 31).experiments[0];
        assert_eq!(
            a.formula_changes,
            vec![FormulaChange {
                at: at(10),
                from: "1.0.0".into(),
                to: FORMULA_VERSION.into()
            }]
        );
        let trend = a.trend.as_ref().unwrap();
        assert_eq!(
            (trend.runs, trend.first),
            (3, 50.0),
            "the 1.0.0 run is left out"
        );
        assert_eq!(trend.direction, Direction::Steady);
    }

    #[test]
    fn old_and_later_runs_and_duplicates_are_left_out() {
        let runs = [
            run("a", 0, Some(50.0)),
            run("a", 400, Some(50.0)),
            run("a", 400, Some(50.0)),
            run("a", 410, Some(40.0)),
            run("a", 500, Some(40.0)),
        ];
        let a = &evidence(&runs, 420).experiments[0];
        assert_eq!(
            a.runs, 2,
            "day 0 is over a year old, day 500 is after the page"
        );
        assert_eq!(a.intervals_days, vec![10.0]);
    }

    #[test]
    fn repeatability_is_the_least_drilled_experiment_and_reviews_everywhere() {
        let mut reviewed = run("a", 20, Some(1.0));
        reviewed.reviewed = true;
        let runs = [run("a", 0, Some(1.0)), reviewed, run("b", 5, Some(1.0))];
        let history = HistoryEvidence::of("h.db", ["a", "b"], &runs, at(30), 365, true);
        let r = history.repeatability();
        assert_eq!(
            (r.runs, r.span_days, r.reviewed, r.scheduled),
            (1, 0, false, true)
        );
        let only_a = HistoryEvidence::of("h.db", ["a"], &runs, at(30), 365, false);
        assert!(only_a.repeatability().reviewed);
        let none = HistoryEvidence::of("h.db", ["c"], &runs, at(30), 365, false);
        assert_eq!(none.repeatability(), Repeatability::default());
    }

    #[test]
    fn an_untrusted_or_unscored_run_has_no_figure() {
        let untrusted: Scorecard = {
            let mut input = super::super::ScoreInput::default();
            input.preconditions.push(super::super::Precondition {
                check: super::super::Check::JournalIntact,
                held: false,
                detail: "changed".into(),
                source: None,
            });
            super::super::score(&input, &super::super::ScoreConfig::default()).unwrap()
        };
        let dated = DatedRun::of(
            None,
            "a",
            at(0),
            Some(untrusted.formula_version.clone()),
            Some(&untrusted),
        );
        assert_eq!(dated.figure, None);
        assert_eq!(dated.formula_version.as_deref(), Some(FORMULA_VERSION));
        assert_eq!(
            DatedRun::of(None, "a", at(0), None, None).formula_version,
            None
        );
    }
}
