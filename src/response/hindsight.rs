//! Judging a decision after the iteration: was it timely, is it consistent with what the
//! drill then knows for sure, and how much was unknown when it was taken.
//!
//! The score (docs/response.md, "How a decision is scored"):
//! `score = timeliness * (TIMELINESS_WEIGHT + CONSISTENCY_WEIGHT * c)`, where timeliness is
//! the scorecard's log-linear duration scale with the budget as target and
//! `LATE_LIMIT_MULTIPLE` times the budget as limit, and `c` is 1 for an answer consistent
//! with hindsight or one hindsight cannot decide, and the share of relevant fields that were
//! unknown for an inconsistent one. A timely answer that hindsight proves wrong therefore
//! loses only in proportion to the certainty that was available when it was taken.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use super::catalogue::{CatalogueError, DecisionKind, HindsightRule};
use super::millis;
use super::situation::Situation;
use crate::scorecard::duration_score;

/// The share of the score that a timely answer earns whatever its content.
pub const TIMELINESS_WEIGHT: f64 = 0.4;
/// The share of the score that rests on consistency with hindsight.
pub const CONSISTENCY_WEIGHT: f64 = 0.6;
/// An answer this many budgets after the question scores 0.
pub const LATE_LIMIT_MULTIPLE: u32 = 4;

/// Why a decision could not be judged; the caller's input is at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HindsightError {
    /// The answer is not one the decision allows.
    #[error("{0}")]
    Answer(CatalogueError),
    /// A decision point with no time to decide.
    #[error("the time budget of a decision must be above zero")]
    ZeroBudget,
    /// The unknown share is not a number from 0 to 1.
    #[error("the unknown share {0} is not a number from 0 to 1")]
    UnknownShare(f64),
    /// A line of the outcome is not a number from 0 to 1.
    #[error("{0} is not an availability from 0 to 1")]
    Availability(f64),
}

impl HindsightError {
    /// Whether the caller's input is at fault; always so, for judging is pure.
    pub fn is_user_input(&self) -> bool {
        true
    }
}

/// A decision put to a role, with the time it has to answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionPoint {
    kind: DecisionKind,
    #[serde(rename = "budgetMs", serialize_with = "millis::duration")]
    budget: Duration,
}

impl DecisionPoint {
    /// A decision and its time budget, in exercise time from the moment it is put.
    pub fn new(kind: DecisionKind, budget: Duration) -> Result<Self, HindsightError> {
        if budget.is_zero() {
            return Err(HindsightError::ZeroBudget);
        }
        Ok(Self { kind, budget })
    }

    /// The decision.
    pub fn kind(&self) -> &DecisionKind {
        &self.kind
    }

    /// The time budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// The answer a role gave.
#[derive(Clone, Debug, PartialEq)]
pub struct GivenAnswer {
    /// The answer, as given.
    pub answer: String,
    /// Exercise time from the moment the decision was put to the answer.
    pub after: Duration,
    /// The share of the relevant fields that were unknown in the snapshot shown, 0 to 1
    /// (`Situation::unknown_share_of(kind.fields())`).
    pub unknown_share: f64,
}

impl GivenAnswer {
    /// An answer taken with `situation` on the screen: the unknown share is that of the
    /// fields that matter for the decision.
    pub fn in_situation(
        answer: impl Into<String>,
        after: Duration,
        kind: &DecisionKind,
        situation: &Situation,
    ) -> Self {
        Self {
            answer: answer.into(),
            after,
            unknown_share: situation.unknown_share_of(kind.fields()),
        }
    }
}

/// What the drill knows for sure after the iteration. Times are exercise time; a `None`
/// is something the drill does not know, and leaves the rules that need it undecided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// How long the steady state did not hold in the iteration.
    pub outage: Option<Duration>,
    /// The lowest availability of any probe over the iteration, 0 to 1.
    pub lowest_availability: Option<f64>,
    /// The experiment's significance line: an outage longer than this is significant.
    pub significant_outage: Option<Duration>,
    /// The experiment's availability floor: availability below it is significant.
    pub availability_floor: Option<f64>,
    /// The experiment's line for a major incident under DORA (e.g. 2 h of downtime of a
    /// critical function, Delegated Regulation 2024/1772 Art. 9(3)(b)).
    pub major_outage: Option<Duration>,
    /// The experiment's recovery time objective.
    pub recovery_objective: Option<Duration>,
    /// The member states the affected services are provided in.
    pub member_states: Option<BTreeSet<String>>,
    /// Whether the experiment declares that its scenario stands for a malicious act.
    pub malicious_scenario: Option<bool>,
    /// Whether a customer-facing service was affected.
    pub customer_facing_affected: Option<bool>,
}

impl Outcome {
    /// The answer hindsight says is right under `rule`, or `None` when it cannot tell.
    pub fn truth(&self, rule: HindsightRule) -> Option<&'static str> {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        match rule {
            HindsightRule::SignificantImpact => self.significant().map(yes_no),
            HindsightRule::MaliciousScenario => self.malicious_scenario.map(yes_no),
            HindsightRule::MoreThanOneMemberState => match &self.member_states {
                Some(states) if !states.is_empty() => Some(yes_no(states.len() > 1)),
                _ => None,
            },
            HindsightRule::MajorOutage => match (self.outage, self.major_outage) {
                (Some(outage), Some(line)) if outage > line => Some("yes"),
                _ => None,
            },
            HindsightRule::OutageBeyondRecoveryObjective => {
                match (self.outage, self.recovery_objective) {
                    (Some(outage), Some(rto)) => Some(yes_no(outage > rto)),
                    _ => None,
                }
            }
            HindsightRule::SignificantAndCustomerFacing => {
                match (self.significant(), self.customer_facing_affected) {
                    (Some(false), _) | (_, Some(false)) => Some("no"),
                    (Some(true), Some(true)) => Some("yes"),
                    _ => None,
                }
            }
        }
    }

    /// Significant when any line the experiment draws was crossed; not significant when every
    /// line drawn held and was measured; unknown otherwise.
    fn significant(&self) -> Option<bool> {
        let by_outage = self
            .significant_outage
            .map(|line| self.outage.map(|o| o > line));
        let by_availability = self
            .availability_floor
            .map(|floor| self.lowest_availability.map(|a| a < floor));
        let lines: Vec<Option<bool>> = [by_outage, by_availability].into_iter().flatten().collect();
        if lines.contains(&Some(true)) {
            Some(true)
        } else if !lines.is_empty() && lines.iter().all(|l| *l == Some(false)) {
            Some(false)
        } else {
            None
        }
    }

    fn check(&self) -> Result<(), HindsightError> {
        for a in [self.lowest_availability, self.availability_floor]
            .into_iter()
            .flatten()
        {
            if !(0.0..=1.0).contains(&a) {
                return Err(HindsightError::Availability(a));
            }
        }
        Ok(())
    }
}

/// How an answer compares with hindsight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "consistency", rename_all = "kebab-case")]
pub enum Consistency {
    /// The answer is the one hindsight gives.
    Consistent,
    /// Hindsight gives another answer.
    Inconsistent {
        /// The answer hindsight gives.
        hindsight: String,
    },
    /// Hindsight cannot tell: no rule, or the drill does not know what the rule needs.
    Undecidable,
}

/// Something about a decision that the organisation should look at.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
pub enum Finding {
    /// The role never answered.
    NotAnswered,
    /// The answer came after the budget.
    Late {
        /// By how much, in exercise time.
        #[serde(rename = "byMs", serialize_with = "millis::duration")]
        by: Duration,
    },
    /// Hindsight gives another answer, and at least half of what mattered was known.
    InconsistentWithHindsight {
        /// The answer hindsight gives.
        hindsight: String,
        /// The share of relevant fields unknown when the answer was taken.
        #[serde(rename = "unknownShare")]
        unknown_share: f64,
    },
}

/// The judgement of one decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    /// The decision's id.
    pub decision: String,
    /// The allowed answer given, or `None` when the role never answered.
    pub answer: Option<String>,
    /// Whether the answer came within the budget; false when there was none.
    pub timely: bool,
    /// How the answer compares with hindsight; `None` without an answer.
    pub consistency: Option<Consistency>,
    /// The share of relevant fields unknown when the answer was taken.
    pub unknown_share: Option<f64>,
    /// The duration scale's score of the answer's time, 0 to 100.
    pub timeliness: f64,
    /// The decision's score, 0 to 100.
    pub score: f64,
    /// What the organisation should look at.
    pub findings: Vec<Finding>,
}

/// Judges the answer to `point` (or its absence) against what the drill knows afterwards.
pub fn judge(
    point: &DecisionPoint,
    answer: Option<&GivenAnswer>,
    outcome: &Outcome,
) -> Result<Judgement, HindsightError> {
    outcome.check()?;
    let decision = point.kind.id().to_owned();
    let Some(given) = answer else {
        return Ok(Judgement {
            decision,
            answer: None,
            timely: false,
            consistency: None,
            unknown_share: None,
            timeliness: 0.0,
            score: 0.0,
            findings: vec![Finding::NotAnswered],
        });
    };
    let u = given.unknown_share;
    if !(0.0..=1.0).contains(&u) {
        return Err(HindsightError::UnknownShare(u));
    }
    let answer = point
        .kind
        .check_answer(&given.answer)
        .map_err(HindsightError::Answer)?
        .to_owned();

    let budget = point.budget.as_secs_f64();
    let limit = budget * f64::from(LATE_LIMIT_MULTIPLE);
    let timeliness = duration_score(given.after.as_secs_f64(), budget, limit);
    let timely = given.after <= point.budget;

    let consistency = match point.kind.hindsight().and_then(|rule| outcome.truth(rule)) {
        None => Consistency::Undecidable,
        Some(truth) if truth == answer => Consistency::Consistent,
        Some(truth) => Consistency::Inconsistent {
            hindsight: truth.to_owned(),
        },
    };
    let c = match consistency {
        Consistency::Consistent | Consistency::Undecidable => 1.0,
        Consistency::Inconsistent { .. } => u,
    };
    let score = timeliness * (TIMELINESS_WEIGHT + CONSISTENCY_WEIGHT * c);

    let mut findings = Vec::new();
    if !timely {
        findings.push(Finding::Late {
            by: given.after.saturating_sub(point.budget),
        });
    }
    if let Consistency::Inconsistent { hindsight } = &consistency
        && u <= 0.5
    {
        findings.push(Finding::InconsistentWithHindsight {
            hindsight: hindsight.clone(),
            unknown_share: u,
        });
    }
    Ok(Judgement {
        decision,
        answer: Some(answer),
        timely,
        consistency: Some(consistency),
        unknown_share: Some(u),
        timeliness,
        score,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::catalogue::{CustomDecision, Decision};

    const HOUR: Duration = Duration::from_secs(3600);

    fn significance() -> DecisionPoint {
        DecisionPoint::new(Decision::Nis2SignificantIncident.into(), HOUR).unwrap()
    }

    /// An outage of 45 min against a 30 min line: significant.
    fn significant_outcome() -> Outcome {
        Outcome {
            outage: Some(Duration::from_secs(45 * 60)),
            significant_outage: Some(Duration::from_secs(30 * 60)),
            ..Outcome::default()
        }
    }

    fn answer(answer: &str, after: Duration, unknown_share: f64) -> GivenAnswer {
        GivenAnswer {
            answer: answer.to_owned(),
            after,
            unknown_share,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn early_correct_scores_100() {
        let j = judge(
            &significance(),
            Some(&answer("yes", HOUR / 2, 0.25)),
            &significant_outcome(),
        )
        .unwrap();
        assert!(j.timely);
        assert_eq!(j.consistency, Some(Consistency::Consistent));
        assert_eq!(j.score, 100.0);
        assert!(j.findings.is_empty());
    }

    #[test]
    fn early_wrong_under_heavy_uncertainty_is_not_a_failure() {
        let j = judge(
            &significance(),
            Some(&answer("no", HOUR / 2, 0.75)),
            &significant_outcome(),
        )
        .unwrap();
        assert!(j.timely);
        assert_eq!(
            j.consistency,
            Some(Consistency::Inconsistent {
                hindsight: "yes".to_owned()
            })
        );
        assert!(close(j.score, 85.0), "{}", j.score);
        // Above the scorecard's level-2 line (40) and without a finding.
        assert!(j.findings.is_empty());
    }

    #[test]
    fn early_wrong_with_everything_known_keeps_only_the_timeliness_share() {
        let j = judge(
            &significance(),
            Some(&answer("no", HOUR / 2, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert!(close(j.score, 40.0), "{}", j.score);
        assert_eq!(
            j.findings,
            vec![Finding::InconsistentWithHindsight {
                hindsight: "yes".to_owned(),
                unknown_share: 0.0
            }]
        );
    }

    #[test]
    fn late_correct_scores_on_the_duration_scale() {
        let j = judge(
            &significance(),
            Some(&answer("yes", 2 * HOUR, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert!(!j.timely);
        // Twice the budget, limit four times: 100 * ln(4/2) / ln 4 = 50.
        assert!(close(j.timeliness, 50.0), "{}", j.timeliness);
        assert!(close(j.score, 50.0), "{}", j.score);
        assert_eq!(j.findings, vec![Finding::Late { by: HOUR }]);
    }

    #[test]
    fn at_the_late_limit_an_answer_scores_0() {
        let j = judge(
            &significance(),
            Some(&answer("yes", 4 * HOUR, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert_eq!(j.score, 0.0);
        let just_in = judge(
            &significance(),
            Some(&answer("yes", HOUR, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert!(just_in.timely, "at the budget is within it");
        assert_eq!(just_in.score, 100.0);
    }

    #[test]
    fn late_and_wrong_with_everything_known() {
        let j = judge(
            &significance(),
            Some(&answer("no", 2 * HOUR, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert!(close(j.score, 20.0), "{}", j.score);
        assert_eq!(j.findings.len(), 2);
    }

    #[test]
    fn never_answered_scores_0_with_a_finding() {
        let j = judge(&significance(), None, &significant_outcome()).unwrap();
        assert_eq!(j.score, 0.0);
        assert!(!j.timely);
        assert_eq!(j.answer, None);
        assert_eq!(j.consistency, None);
        assert_eq!(j.findings, vec![Finding::NotAnswered]);
    }

    #[test]
    fn a_custom_decision_without_hindsight_scores_on_time_alone() {
        let kind = DecisionKind::Custom(
            CustomDecision::new("Page the vendor?", vec!["page".into(), "wait".into()]).unwrap(),
        );
        let point = DecisionPoint::new(kind, HOUR).unwrap();
        let early = judge(
            &point,
            Some(&answer("wait", HOUR / 4, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert_eq!(early.consistency, Some(Consistency::Undecidable));
        assert_eq!(early.score, 100.0);
        let late = judge(
            &point,
            Some(&answer("page", 3 * HOUR, 1.0)),
            &Outcome::default(),
        )
        .unwrap();
        // 100 * ln(4/3) / ln 4.
        assert!(close(late.score, 100.0 * (4.0f64 / 3.0).ln() / 4.0f64.ln()));
    }

    #[test]
    fn hindsight_rules_decide_only_on_what_the_drill_knows() {
        let o = significant_outcome();
        assert_eq!(o.truth(HindsightRule::SignificantImpact), Some("yes"));
        let held = Outcome {
            outage: Some(Duration::from_secs(60)),
            significant_outage: Some(Duration::from_secs(1800)),
            lowest_availability: Some(0.97),
            availability_floor: Some(0.9),
            ..Outcome::default()
        };
        assert_eq!(held.truth(HindsightRule::SignificantImpact), Some("no"));
        let unmeasured = Outcome {
            lowest_availability: None,
            ..held.clone()
        };
        assert_eq!(
            unmeasured.truth(HindsightRule::SignificantImpact),
            None,
            "a line drawn but not measured leaves it open"
        );
        let low = Outcome {
            lowest_availability: Some(0.5),
            ..held.clone()
        };
        assert_eq!(low.truth(HindsightRule::SignificantImpact), Some("yes"));
        assert_eq!(
            Outcome::default().truth(HindsightRule::SignificantImpact),
            None
        );

        let states = |s: &[&str]| Outcome {
            member_states: Some(s.iter().map(|x| (*x).to_owned()).collect()),
            ..Outcome::default()
        };
        let rule = HindsightRule::MoreThanOneMemberState;
        assert_eq!(states(&["DE", "FR"]).truth(rule), Some("yes"));
        assert_eq!(states(&["DE"]).truth(rule), Some("no"));
        assert_eq!(states(&[]).truth(rule), None);

        let major = Outcome {
            outage: Some(3 * HOUR),
            major_outage: Some(2 * HOUR),
            ..Outcome::default()
        };
        assert_eq!(major.truth(HindsightRule::MajorOutage), Some("yes"));
        let minor = Outcome {
            outage: Some(HOUR),
            ..major.clone()
        };
        assert_eq!(
            minor.truth(HindsightRule::MajorOutage),
            None,
            "other criteria may still make it major"
        );

        let rto = Outcome {
            outage: Some(HOUR),
            recovery_objective: Some(2 * HOUR),
            ..Outcome::default()
        };
        assert_eq!(
            rto.truth(HindsightRule::OutageBeyondRecoveryObjective),
            Some("no")
        );

        let customers = |sig: Outcome, facing: Option<bool>| Outcome {
            customer_facing_affected: facing,
            ..sig
        };
        let rule = HindsightRule::SignificantAndCustomerFacing;
        assert_eq!(customers(o.clone(), Some(true)).truth(rule), Some("yes"));
        assert_eq!(customers(o.clone(), Some(false)).truth(rule), Some("no"));
        assert_eq!(customers(o.clone(), None).truth(rule), None);
        assert_eq!(customers(held, None).truth(rule), Some("no"));

        let declared = Outcome {
            malicious_scenario: Some(false),
            ..Outcome::default()
        };
        assert_eq!(declared.truth(HindsightRule::MaliciousScenario), Some("no"));
    }

    #[test]
    fn bad_input_is_refused_with_a_typed_error() {
        assert_eq!(
            DecisionPoint::new(Decision::InformCustomers.into(), Duration::ZERO),
            Err(HindsightError::ZeroBudget)
        );
        let o = significant_outcome();
        let refused = judge(&significance(), Some(&answer("maybe", HOUR, 0.0)), &o);
        assert!(matches!(refused, Err(HindsightError::Answer(_))));
        for share in [f64::NAN, -0.1, 1.5] {
            let refused = judge(&significance(), Some(&answer("yes", HOUR, share)), &o);
            assert!(
                matches!(refused, Err(HindsightError::UnknownShare(_))),
                "{share}"
            );
        }
        let bad = Outcome {
            lowest_availability: Some(f64::NAN),
            ..o
        };
        assert!(matches!(
            judge(&significance(), None, &bad),
            Err(HindsightError::Availability(_))
        ));
    }

    #[test]
    fn the_unknown_share_is_that_of_the_fields_that_matter() {
        use crate::response::situation::{
            FieldKey, Milestones, Situation, SituationField, TimeScale,
        };
        let situation = Situation::new(
            HOUR / 2,
            TimeScale::default(),
            vec![
                SituationField::known(FieldKey::AffectedServices, serde_json::json!(["web"])),
                SituationField::unknown(FieldKey::MemberStates, "not declared"),
                SituationField::unknown(FieldKey::DetectedBy, "no alert yet"),
                SituationField::unknown(FieldKey::IndicatorsOfCompromise, "none looked for"),
            ],
            &[],
            &Milestones::default(),
        )
        .unwrap();
        let kind = DecisionKind::from(Decision::Nis2CrossBorder);
        let given = GivenAnswer::in_situation("no", HOUR / 2, &kind, &situation);
        // Affected services known, member states unknown; the other fields do not matter here.
        assert_eq!(given.unknown_share, 0.5);
        assert_eq!(situation.unknown_share(), 0.75);
    }

    #[test]
    fn the_answer_is_recorded_as_the_allowed_spelling() {
        let j = judge(
            &significance(),
            Some(&answer(" YES ", HOUR / 2, 0.0)),
            &significant_outcome(),
        )
        .unwrap();
        assert_eq!(j.answer.as_deref(), Some("yes"));
        assert_eq!(j.consistency, Some(Consistency::Consistent));
    }
}
