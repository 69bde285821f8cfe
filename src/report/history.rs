//! Results scored with a run history (`--history DB`): the dated runs the history holds,
//! joined with the runs being reported, give the scorecard its repeatability, its trend and
//! its continuous-testing evidence (docs/scorecard.md, "Maturity").

use std::path::Path;

use crate::result::RunResult;
use crate::scorecard::evidence::score_input;
use crate::scorecard::history::{DatedRun, EarlierDecision, HistoryEvidence};
use crate::time::Timestamp;

/// A run history as read for scoring.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The history file, as named on the command line.
    pub database: String,
    /// Its dated runs, in any order.
    pub runs: Vec<DatedRun>,
}

impl History {
    /// The evidence for the experiments of `current` as of the latest of them: the
    /// history's runs and `current` (the runs reported, which the history may not hold yet).
    pub fn evidence(&self, current: &[&RunResult]) -> Option<HistoryEvidence> {
        let dated_runs: Vec<DatedRun> = current.iter().filter_map(|r| dated(r)).collect();
        self.evidence_with(current, dated_runs)
    }

    /// [`History::evidence`] for runs whose results folders are known, so that the reviews
    /// recorded there count.
    pub fn evidence_in(&self, current: &[(&RunResult, &Path)]) -> Option<HistoryEvidence> {
        let dated_runs: Vec<DatedRun> = current
            .iter()
            .filter_map(|(r, dir)| dated_in(r, dir))
            .collect();
        let results: Vec<&RunResult> = current.iter().map(|(r, _)| *r).collect();
        self.evidence_with(&results, dated_runs)
    }

    fn evidence_with(
        &self,
        current: &[&RunResult],
        dated_runs: Vec<DatedRun>,
    ) -> Option<HistoryEvidence> {
        let as_of = current.iter().map(|r| r.finished_at).max()?;
        let max_age = current
            .iter()
            .filter_map(|r| r.scorecard_input.as_ref())
            .map(|i| i.max_evidence_age_days)
            .min()?;
        let mut runs = dated_runs;
        runs.extend(self.runs.iter().cloned());
        Some(HistoryEvidence::of(
            &self.database,
            current.iter().map(|r| r.experiment.name.as_str()),
            &runs,
            as_of,
            max_age,
            false,
        ))
    }
}

/// A result as a dated run of the history: a run that was scored and neither aborted nor
/// interrupted (a run cut short measured the shutdown, not the system). Its figure is that of the
/// run's own evidence, whatever history it was scored with, so that runs compare; its
/// formula is the one it was scored with.
pub fn dated(result: &RunResult) -> Option<DatedRun> {
    let input = result.scorecard_input.as_ref()?;
    if !result.status.is_scored() {
        return None;
    }
    Some(DatedRun::of(
        Some(result.run_id.clone()),
        &result.experiment.name,
        result.finished_at,
        result.scorecard.as_ref().map(|c| c.formula_version.clone()),
        score_input(input, None).as_ref(),
    ))
}

/// [`dated`] with the reviews its results folder records (review.jsonl, verified): the
/// decisions, and reviewed when every finding of the run's own has one. A folder that now
/// holds another run, no longer exists, or whose review journal does not verify shows none.
/// A folder without a review journal is not read further: its run's findings are worked out
/// (its journal checked again) only when there are reviews to hold them against.
pub fn dated_in(result: &RunResult, dir: &Path) -> Option<DatedRun> {
    let mut run = dated(result)?;
    if !dir.join(crate::review::REVIEW_FILE).is_file() {
        return Some(run);
    }
    let Ok(target) = super::write::review_target(dir) else {
        return Some(run);
    };
    if target.subject != result.run_id {
        return Some(run);
    }
    let Ok(reviews) = crate::review::read(dir, &target.subject) else {
        return Some(run);
    };
    run.reviewed = !reviews.is_empty() && reviews.covers(&target.findings);
    run.decisions = reviews
        .records()
        .map(|r| EarlierDecision {
            experiment: result.experiment.name.clone(),
            run_id: result.run_id.clone(),
            run_finished_at: result.finished_at,
            finding: r.finding.clone(),
            owner: r.owner.clone(),
            due: r.due.to_string(),
            decision: r.decision.to_string(),
            recorded_at: r.recorded_at,
        })
        .collect();
    Some(run)
}

/// A run of a history as a dated run: with the reviews of its results folder when the
/// history knows the folder.
pub fn dated_stored(result: &RunResult, results_dir: Option<&str>) -> Option<DatedRun> {
    match results_dir {
        Some(dir) => dated_in(result, Path::new(dir)),
        None => dated(result),
    }
}

/// A plain sentence for the board on what the history shows: the trend when one is measured,
/// or how far the history is from one.
pub fn trend_sentence(history: &HistoryEvidence) -> String {
    use crate::scorecard::{REPEATED_RUNS, REPEATED_SPAN_DAYS};
    let date = |at: Timestamp| at.strftime("%Y-%m-%d").to_string();
    let mut sentence = match history.headline_trend() {
        Some((experiment, trend)) => {
            let of = if history.experiments.len() > 1 {
                format!(" ({experiment}, the weakest trend)")
            } else {
                String::new()
            };
            format!(
                "{}{of}: {:.0} → {:.0} over {} runs since {}, {:+.1} points a month",
                trend.direction.as_str(),
                trend.first,
                trend.latest,
                trend.runs,
                date(trend.since),
                trend.slope_per_30_days
            )
        }
        None => {
            let r = history.repeatability();
            format!(
                "not measured yet: {} run{} over {} day{} in the history; a trend needs {REPEATED_RUNS} runs over {REPEATED_SPAN_DAYS} days",
                r.runs,
                if r.runs == 1 { "" } else { "s" },
                r.span_days,
                if r.span_days == 1 { "" } else { "s" },
            )
        }
    };
    if let Some(change) = history
        .experiments
        .iter()
        .flat_map(|e| &e.formula_changes)
        .max_by_key(|c| c.at)
    {
        sentence.push_str(&format!(
            "; the formula changed from {} to {} on {}, and earlier figures are not compared",
            change.from,
            change.to,
            date(change.at)
        ));
    }
    sentence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::RunStatus;

    fn result() -> RunResult {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/results/quickstart-result.json"
        ))
        .unwrap()
    }

    fn later(result: &RunResult, days: u64, figure: f64) -> DatedRun {
        let mut run = dated(result).unwrap();
        run.run_id = Some(format!("earlier-{days}"));
        run.finished_at = result.finished_at - std::time::Duration::from_secs(86_400 * days);
        run.figure = Some(figure);
        run
    }

    #[test]
    fn the_reported_run_joins_the_history_once() {
        let result = result();
        let history = History {
            database: "h.db".into(),
            runs: vec![
                later(&result, 20, 40.0),
                later(&result, 10, 50.0),
                dated(&result).unwrap(),
            ],
        };
        let evidence = history.evidence(&[&result]).unwrap();
        let experiment = &evidence.experiments[0];
        assert_eq!((experiment.runs, experiment.span_days), (3, 20));
        let trend = experiment.trend.as_ref().unwrap();
        assert_eq!(trend.first, 40.0);
        let sentence = trend_sentence(&evidence);
        assert!(
            sentence.starts_with(&format!(
                "improving: 40 → {:.0} over 3 runs since",
                trend.latest
            )),
            "{sentence}"
        );
    }

    #[test]
    fn a_short_history_says_how_far_it_is_from_a_trend() {
        let result = result();
        let history = History {
            database: "h.db".into(),
            runs: vec![later(&result, 3, 40.0)],
        };
        let evidence = history.evidence(&[&result]).unwrap();
        assert_eq!(
            trend_sentence(&evidence),
            "not measured yet: 2 runs over 3 days in the history; a trend needs 3 runs over 14 days"
        );
        let mut interrupted = result.clone();
        interrupted.status = RunStatus::Interrupted;
        assert!(dated(&interrupted).is_none());
        let mut aborted = result.clone();
        aborted.status = RunStatus::Aborted;
        assert!(dated(&aborted).is_none(), "a run cut short is not compared");
    }
}
