//! The decisions a drill can put to people: the catalogued ones, each tied to the provision
//! that asks for it, and custom ones an experiment writes itself.
//!
//! Provisions are those of the corrected references (docs/scorecard.md) and nothing else; a
//! decision no provision asks for cites the organisation's own procedure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::situation::FieldKey;

pub use crate::spec::{
    CustomDecisionError, Decision, MAX_ANSWER_CHARS, MAX_ANSWERS, MAX_QUESTION_CHARS,
};

/// Why a decision or an answer was refused; the experiment's author or the person answering can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The id names no catalogued decision.
    #[error(
        "unknown decision `{0}`: write one of nis2-significant-incident, nis2-suspected-malicious, nis2-cross-border, dora-major-incident, notify-authority, invoke-continuity-plan, contain-or-observe, inform-customers, or a custom decision"
    )]
    UnknownDecision(String),
    /// A custom decision's question or answers cannot be asked.
    #[error(transparent)]
    Custom(#[from] CustomDecisionError),
    /// The answer given is not one the decision allows.
    #[error("`{given}` is not an allowed answer: write one of {allowed}")]
    AnswerNotAllowed {
        /// What was given.
        given: String,
        /// The allowed answers, comma-separated.
        allowed: String,
    },
}

impl CatalogueError {
    /// Whether the person or document that supplied the input can fix it; always so today.
    pub fn is_user_input(&self) -> bool {
        true
    }
}

impl Decision {
    /// Every catalogued decision, in the order of docs/response.md.
    pub const ALL: [Decision; 8] = [
        Self::Nis2SignificantIncident,
        Self::Nis2SuspectedMalicious,
        Self::Nis2CrossBorder,
        Self::DoraMajorIncident,
        Self::NotifyAuthority,
        Self::InvokeContinuityPlan,
        Self::ContainOrObserve,
        Self::InformCustomers,
    ];

    /// The kebab-case id, as written in experiments, journals and links.
    pub fn id(self) -> &'static str {
        match self {
            Self::Nis2SignificantIncident => "nis2-significant-incident",
            Self::Nis2SuspectedMalicious => "nis2-suspected-malicious",
            Self::Nis2CrossBorder => "nis2-cross-border",
            Self::DoraMajorIncident => "dora-major-incident",
            Self::NotifyAuthority => "notify-authority",
            Self::InvokeContinuityPlan => "invoke-continuity-plan",
            Self::ContainOrObserve => "contain-or-observe",
            Self::InformCustomers => "inform-customers",
        }
    }

    /// The question, in plain words.
    pub fn question(self) -> &'static str {
        match self {
            Self::Nis2SignificantIncident => {
                "Is this a significant incident: has it caused, or could it cause, severe disruption of our services or financial loss, or considerable damage to others?"
            }
            Self::Nis2SuspectedMalicious => {
                "Do we suspect that the incident is caused by an unlawful or malicious act?"
            }
            Self::Nis2CrossBorder => {
                "Could the incident have an impact in more than one EU member state?"
            }
            Self::DoraMajorIncident => {
                "Is this a major ICT-related incident under the DORA classification criteria?"
            }
            Self::NotifyAuthority => {
                "Do we notify the authority (CSIRT or competent authority) now?"
            }
            Self::InvokeContinuityPlan => "Do we invoke the business continuity plan?",
            Self::ContainOrObserve => {
                "Do we contain now (isolate, block, revoke), or observe first to learn more?"
            }
            Self::InformCustomers => "Do we inform our customers now?",
        }
    }

    /// The provisions that ask for the decision, as the corrected references cite them.
    pub fn provisions(self) -> &'static [&'static str] {
        match self {
            Self::Nis2SignificantIncident => &[
                "NIS2 Art. 23(3) (significant incident)",
                "Implementing Regulation (EU) 2024/2690 Art. 7, for the entities it binds (cloud service completely unavailable > 30 min)",
            ],
            Self::Nis2SuspectedMalicious => {
                &["NIS2 Art. 23(4)(a) (early warning: suspected unlawful or malicious act)"]
            }
            Self::Nis2CrossBorder => {
                &["NIS2 Art. 23(4)(a) (early warning: possible cross-border impact)"]
            }
            Self::DoraMajorIncident => &[
                "DORA Art. 18 (classification)",
                "Delegated Regulation (EU) 2024/1772 (classification criteria; Art. 9(3)(b): downtime of critical functions > 2 h)",
            ],
            Self::NotifyAuthority => &[
                "NIS2 Art. 23(1), 23(4)",
                "DORA Art. 19 with RTS (EU) 2025/301 Art. 5",
            ],
            Self::InvokeContinuityPlan => &[
                "NIS2 Art. 21(2)(c)",
                "DORA Art. 11",
                "ISO/IEC 27001:2022 A.5.29, A.5.30",
            ],
            Self::ContainOrObserve => &[
                "NIS2 Art. 21(2)(b)",
                "DORA Art. 11(2)(c)",
                "ISO/IEC 27001:2022 A.5.26",
            ],
            Self::InformCustomers => &[
                "NIS2 Art. 23(1) (recipients of the services, where appropriate)",
                "DORA Art. 14, 19",
            ],
        }
    }

    /// The fields of the situation that matter for the decision.
    pub fn fields(self) -> &'static [FieldKey] {
        use FieldKey::*;
        match self {
            Self::Nis2SignificantIncident => {
                &[AvailabilitySoFar, OutageSoFar, AffectedServices, Ongoing]
            }
            Self::Nis2SuspectedMalicious => &[
                DetectedBy,
                IndicatorsOfCompromise,
                FailedProbes,
                AffectedServices,
            ],
            Self::Nis2CrossBorder => &[AffectedServices, MemberStates],
            Self::DoraMajorIncident => &[
                AvailabilitySoFar,
                OutageSoFar,
                AffectedServices,
                MemberStates,
                Ongoing,
            ],
            Self::NotifyAuthority => &[
                AvailabilitySoFar,
                OutageSoFar,
                AffectedServices,
                MemberStates,
                IndicatorsOfCompromise,
            ],
            Self::InvokeContinuityPlan => &[OutageSoFar, Ongoing, FailedProbes, AffectedServices],
            Self::ContainOrObserve => &[
                DetectedBy,
                IndicatorsOfCompromise,
                FailedProbes,
                AffectedServices,
                Ongoing,
            ],
            Self::InformCustomers => &[AffectedServices, AvailabilitySoFar, OutageSoFar, Ongoing],
        }
    }

    /// How the drill judges the answer afterwards; `None` when it cannot know the right one.
    pub fn hindsight(self) -> Option<HindsightRule> {
        match self {
            Self::Nis2SignificantIncident => Some(HindsightRule::SignificantImpact),
            Self::Nis2SuspectedMalicious => Some(HindsightRule::MaliciousScenario),
            Self::Nis2CrossBorder => Some(HindsightRule::MoreThanOneMemberState),
            Self::DoraMajorIncident => Some(HindsightRule::MajorOutage),
            Self::NotifyAuthority => Some(HindsightRule::SignificantImpact),
            Self::InvokeContinuityPlan => Some(HindsightRule::OutageBeyondRecoveryObjective),
            Self::ContainOrObserve => None,
            Self::InformCustomers => Some(HindsightRule::SignificantAndCustomerFacing),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Decision {
    type Err = CatalogueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.id() == s)
            .ok_or_else(|| CatalogueError::UnknownDecision(s.to_owned()))
    }
}

/// What the drill can know for sure after the iteration, to judge an answer by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HindsightRule {
    /// "yes" when the outage exceeded the experiment's significance line or availability fell
    /// below its floor; "no" when every line the experiment draws held.
    SignificantImpact,
    /// "yes" when the experiment declares that its scenario stands for a malicious act, "no"
    /// when it declares that it does not.
    MaliciousScenario,
    /// "yes" when the affected services span more than one member state, "no" when one.
    MoreThanOneMemberState,
    /// "yes" when the outage exceeded the experiment's line for a major incident; otherwise
    /// undecidable, for the other criteria (clients, data, reputation, costs) are not measured.
    MajorOutage,
    /// "yes" when the outage outlasted the experiment's recovery time objective, "no" when the
    /// service came back within it.
    OutageBeyondRecoveryObjective,
    /// "yes" when the incident was significant and a customer-facing service was affected,
    /// "no" when it was not significant or no customer-facing service was affected.
    SignificantAndCustomerFacing,
}

impl HindsightRule {
    /// The rule in plain words, for pages and docs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SignificantImpact => {
                "yes when the outage exceeded the experiment's significance line or availability fell below its floor; no when every line held"
            }
            Self::MaliciousScenario => {
                "yes when the experiment declares that its scenario stands for a malicious act; no when it declares it does not"
            }
            Self::MoreThanOneMemberState => {
                "yes when the affected services span more than one member state; no when one"
            }
            Self::MajorOutage => {
                "yes when the outage exceeded the experiment's line for a major incident; otherwise undecidable (clients, data, reputation and costs are not measured)"
            }
            Self::OutageBeyondRecoveryObjective => {
                "yes when the outage outlasted the experiment's recovery time objective; no when the service came back within it"
            }
            Self::SignificantAndCustomerFacing => {
                "yes when the incident was significant and a customer-facing service was affected; no otherwise"
            }
        }
    }
}

/// A decision the experiment writes itself, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCustom", rename_all = "camelCase")]
pub struct CustomDecision {
    question: String,
    answers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustom {
    question: String,
    answers: Vec<String>,
}

impl TryFrom<RawCustom> for CustomDecision {
    type Error = CatalogueError;

    fn try_from(raw: RawCustom) -> Result<Self, Self::Error> {
        Self::new(raw.question, raw.answers)
    }
}

impl CustomDecision {
    /// A custom decision: a question that is not empty and two or more distinct answers,
    /// both trimmed; answers differ once compared without case.
    pub fn new(question: impl Into<String>, answers: Vec<String>) -> Result<Self, CatalogueError> {
        let (question, answers) = crate::spec::tidy_custom_decision(&question.into(), &answers)?;
        Ok(Self { question, answers })
    }

    /// The question.
    pub fn question(&self) -> &str {
        &self.question
    }

    /// The allowed answers, in the experiment's order.
    pub fn answers(&self) -> &[String] {
        &self.answers
    }
}

/// A decision a drill puts to a role: catalogued or custom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    /// One of the catalogue.
    Catalogued(Decision),
    /// One the experiment writes.
    Custom(CustomDecision),
}

impl DecisionKind {
    /// The id: the catalogued decision's, or `custom`.
    pub fn id(&self) -> &str {
        match self {
            Self::Catalogued(d) => d.id(),
            Self::Custom(_) => "custom",
        }
    }

    /// The question.
    pub fn question(&self) -> &str {
        match self {
            Self::Catalogued(d) => d.question(),
            Self::Custom(c) => c.question(),
        }
    }

    /// The allowed answers.
    pub fn answers(&self) -> Vec<&str> {
        match self {
            Self::Catalogued(d) => d.answers().to_vec(),
            Self::Custom(c) => c.answers().iter().map(String::as_str).collect(),
        }
    }

    /// The provisions; a custom decision rests on the organisation's own procedure.
    pub fn provisions(&self) -> Vec<&'static str> {
        match self {
            Self::Catalogued(d) => d.provisions().to_vec(),
            Self::Custom(_) => vec!["organisation's own procedure"],
        }
    }

    /// The fields of the situation that matter; every field for a custom decision.
    pub fn fields(&self) -> &'static [FieldKey] {
        match self {
            Self::Catalogued(d) => d.fields(),
            Self::Custom(_) => &FieldKey::ALL,
        }
    }

    /// The hindsight rule; none for a custom decision.
    pub fn hindsight(&self) -> Option<HindsightRule> {
        match self {
            Self::Catalogued(d) => d.hindsight(),
            Self::Custom(_) => None,
        }
    }

    /// The allowed answer matching `given` once trimmed and compared without case.
    pub fn check_answer(&self, given: &str) -> Result<&str, CatalogueError> {
        let wanted = given.trim().to_lowercase();
        let answers = self.answers();
        answers
            .iter()
            .copied()
            .find(|a| a.to_lowercase() == wanted)
            .ok_or_else(|| CatalogueError::AnswerNotAllowed {
                given: given.chars().take(MAX_ANSWER_CHARS).collect(),
                allowed: answers.join(", "),
            })
    }
}

impl From<Decision> for DecisionKind {
    fn from(d: Decision) -> Self {
        Self::Catalogued(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(question: &str, answers: &[&str]) -> Result<CustomDecision, CatalogueError> {
        CustomDecision::new(question, answers.iter().map(|a| (*a).to_owned()).collect())
    }

    #[test]
    fn ids_are_kebab_case_unique_and_read_back() {
        let mut seen = std::collections::BTreeSet::new();
        for d in Decision::ALL {
            assert!(seen.insert(d.id()), "{} twice", d.id());
            assert!(
                d.id()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                d.id()
            );
            assert_eq!(d.id().parse::<Decision>(), Ok(d));
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::json!(d.id()),
                "serde and id() agree"
            );
        }
        assert_eq!(
            "nis2-significant".parse::<Decision>(),
            Err(CatalogueError::UnknownDecision(
                "nis2-significant".to_owned()
            ))
        );
    }

    #[test]
    fn every_decision_has_a_question_answers_provisions_and_fields() {
        for d in Decision::ALL {
            assert!(d.question().ends_with('?'), "{d}");
            assert!(d.answers().len() >= 2, "{d}");
            assert!(!d.provisions().is_empty(), "{d}");
            assert!(!d.fields().is_empty(), "{d}");
        }
        assert_eq!(Decision::ContainOrObserve.answers(), ["contain", "observe"]);
        assert_eq!(Decision::Nis2CrossBorder.answers(), ["yes", "no"]);
    }

    #[test]
    fn provisions_cite_the_corrected_map() {
        let cites = |d: Decision| d.provisions().join("; ");
        assert!(cites(Decision::Nis2SignificantIncident).contains("NIS2 Art. 23(3)"));
        assert!(cites(Decision::Nis2SuspectedMalicious).contains("NIS2 Art. 23(4)(a)"));
        assert!(cites(Decision::Nis2CrossBorder).contains("NIS2 Art. 23(4)(a)"));
        assert!(cites(Decision::DoraMajorIncident).contains("DORA Art. 18"));
        assert!(cites(Decision::DoraMajorIncident).contains("2024/1772"));
        for d in Decision::ALL {
            let text = cites(d);
            // Corrections of 2026-12-07: none of these describes what a drill decides.
            for wrong in [
                "Art. 20", "Art. 22", "Art. 26", "21(2)(i)", "A.8.29", "A.5.35", "A.8.30",
            ] {
                assert!(!text.contains(wrong), "{d} cites {wrong}");
            }
        }
    }

    #[test]
    fn the_docs_table_matches_the_catalogue() {
        let docs = include_str!("../../docs/response.md");
        for d in Decision::ALL {
            let start = format!("| `{}` | ", d.id());
            let row = docs
                .lines()
                .find(|l| l.starts_with(&start) && l.contains('?'))
                .unwrap_or_else(|| panic!("docs/response.md has no catalogue row for {d}"));
            let cells: Vec<&str> = row.split(" | ").collect();
            assert_eq!(cells.get(1), Some(&d.question()), "{d}: question");
            assert_eq!(
                cells.get(2),
                Some(&d.answers().join(", ").as_str()),
                "{d}: answers"
            );
            assert_eq!(
                cells.get(3),
                Some(&d.provisions().join("; ").as_str()),
                "{d}: provisions"
            );
            if let Some(rule) = d.hindsight() {
                assert!(
                    cells.get(4).is_some_and(|c| c.starts_with(rule.describe())),
                    "{d}: rule"
                );
            }
        }
    }

    #[test]
    fn contain_or_observe_has_no_hindsight_rule_and_the_others_do() {
        for d in Decision::ALL {
            assert_eq!(
                d.hindsight().is_none(),
                d == Decision::ContainOrObserve,
                "{d}"
            );
        }
    }

    #[test]
    fn a_custom_decision_needs_a_question_and_two_distinct_answers() {
        let ok = custom("  Page the vendor?  ", &["page", " wait "]).unwrap();
        assert_eq!(ok.question(), "Page the vendor?");
        assert_eq!(ok.answers(), ["page", "wait"]);
        assert_eq!(
            custom(" ", &["a", "b"]),
            Err(CatalogueError::Custom(CustomDecisionError::EmptyQuestion))
        );
        assert_eq!(
            custom("q", &["a"]),
            Err(CatalogueError::Custom(CustomDecisionError::TooFewAnswers(
                1
            )))
        );
        assert_eq!(
            custom("q", &[]),
            Err(CatalogueError::Custom(CustomDecisionError::TooFewAnswers(
                0
            )))
        );
        assert_eq!(
            custom("q", &["Yes", "yes "]),
            Err(CatalogueError::Custom(
                CustomDecisionError::DuplicateAnswer("yes".to_owned())
            ))
        );
        assert_eq!(
            custom("q", &["a", " "]),
            Err(CatalogueError::Custom(CustomDecisionError::EmptyAnswer(2)))
        );
        let long = "x".repeat(MAX_QUESTION_CHARS + 1);
        assert_eq!(
            custom(&long, &["a", "b"]),
            Err(CatalogueError::Custom(
                CustomDecisionError::QuestionTooLong(MAX_QUESTION_CHARS + 1)
            ))
        );
        let many: Vec<String> = (0..=MAX_ANSWERS).map(|n| n.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            custom("q", &many),
            Err(CatalogueError::Custom(CustomDecisionError::TooManyAnswers(
                MAX_ANSWERS + 1
            )))
        );
        let wide = "y".repeat(MAX_ANSWER_CHARS + 1);
        assert_eq!(
            custom("q", &["a", &wide]),
            Err(CatalogueError::Custom(CustomDecisionError::AnswerTooLong(
                2
            )))
        );
    }

    #[test]
    fn a_custom_decision_is_validated_when_read() {
        let read = |v: serde_json::Value| serde_json::from_value::<DecisionKind>(v);
        let kind = read(serde_json::json!({"custom": {"question": "Page the vendor?", "answers": ["page", "wait"]}})).unwrap();
        assert_eq!(kind.id(), "custom");
        assert_eq!(kind.provisions(), ["organisation's own procedure"]);
        assert_eq!(kind.hindsight(), None);
        let bad = read(serde_json::json!({"custom": {"question": "q", "answers": ["a", "A"]}}));
        assert!(bad.unwrap_err().to_string().contains("offered twice"));
        let extra =
            read(serde_json::json!({"custom": {"question": "q", "answers": ["a", "b"], "x": 1}}));
        assert!(extra.is_err());
        let catalogued = read(serde_json::json!({"catalogued": "inform-customers"})).unwrap();
        assert_eq!(
            catalogued,
            DecisionKind::Catalogued(Decision::InformCustomers)
        );
    }

    #[test]
    fn answers_are_checked_against_the_allowed_ones() {
        let kind = DecisionKind::from(Decision::ContainOrObserve);
        assert_eq!(kind.check_answer(" Contain "), Ok("contain"));
        let refused = kind.check_answer("yes").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "`yes` is not an allowed answer: write one of contain, observe"
        );
        let custom = DecisionKind::Custom(custom("q", &["page", "wait"]).unwrap());
        assert_eq!(custom.check_answer("WAIT"), Ok("wait"));
        assert!(custom.check_answer("").is_err());
        // An oversized answer is cut in the message, not echoed whole.
        let huge = "z".repeat(10_000);
        let message = custom.check_answer(&huge).unwrap_err().to_string();
        assert!(message.len() < 200, "{}", message.len());
    }
}
