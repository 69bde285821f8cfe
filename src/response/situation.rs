//! The situation at the moment of decision: what the organisation knew then, each field
//! marked known, estimated or unknown as the notification drafts mark theirs, and the clock
//! to each legal deadline, in exercise time and its real-time equivalent.
//!
//! Exercise time is the time of the scenario, the one the law's clocks count; real time is
//! what passes on the wall clock during the drill. At a time scale of 60, 24 hours of
//! exercise time pass in 24 minutes of real time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use super::millis;

/// How far a field's value can be trusted: the drafts' own marks, reused.
pub type Certainty = crate::notification::FieldStatus;

pub use crate::spec::{MONTH, Report};

/// The largest time scale: beyond it a 24-hour clock would run in under 9 seconds.
const MAX_TIME_SCALE: f64 = 10_000.0;

/// Why a situation could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum SituationError {
    /// The time scale is not a positive, finite factor within the limit.
    #[error("time scale {0} is not a number above 0 and at most 10000")]
    TimeScale(f64),
    /// A field appears twice in one snapshot.
    #[error("the field `{0}` appears twice in the situation")]
    DuplicateField(FieldKey),
    /// A field marked known or estimated has no value.
    #[error("the field `{0}` is marked {1} but has no value")]
    MissingValue(FieldKey, &'static str),
    /// The snapshot could not be written as JSON for its hash.
    #[error("cannot write the situation as json")]
    Encode(#[source] serde_json::Error),
}

impl SituationError {
    /// Whether the caller's input is at fault, rather than the encoder.
    pub fn is_user_input(&self) -> bool {
        !matches!(self, Self::Encode(_))
    }
}

/// A positive factor by which exercise time runs faster than real time; 1 by default.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct TimeScale(f64);

impl TimeScale {
    /// A scale: above 0, finite and at most 10,000.
    pub fn new(factor: f64) -> Result<Self, SituationError> {
        if factor.is_finite() && factor > 0.0 && factor <= MAX_TIME_SCALE {
            Ok(Self(factor))
        } else {
            Err(SituationError::TimeScale(factor))
        }
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }

    /// The real time that an exercise duration takes (24 h at 60 is 24 min).
    pub fn to_real(self, exercise: Duration) -> Duration {
        scaled(exercise, 1.0 / self.0)
    }

    /// The exercise time that a real duration stands for (24 min at 60 is 24 h).
    pub fn to_exercise(self, real: Duration) -> Duration {
        scaled(real, self.0)
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        Self(1.0)
    }
}

impl TryFrom<f64> for TimeScale {
    type Error = SituationError;

    fn try_from(factor: f64) -> Result<Self, Self::Error> {
        Self::new(factor)
    }
}

impl From<TimeScale> for f64 {
    fn from(scale: TimeScale) -> Self {
        scale.0
    }
}

/// `d * factor` to the microsecond, saturating instead of overflowing.
fn scaled(d: Duration, factor: f64) -> Duration {
    if factor == 1.0 {
        return d;
    }
    let micros = (d.as_micros() as f64 * factor).round();
    if micros >= u64::MAX as f64 {
        Duration::MAX
    } else {
        Duration::from_micros(micros as u64)
    }
}

/// A field of the situation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKey {
    /// Share of probe observations that succeeded since the incident started.
    AvailabilitySoFar,
    /// Time the steady state has not held so far.
    OutageSoFar,
    /// Probes that failed so far.
    FailedProbes,
    /// Services affected so far.
    AffectedServices,
    /// Member states the affected services are provided in.
    MemberStates,
    /// Whether the incident is still going on.
    Ongoing,
    /// The signal through which the organisation became aware.
    DetectedBy,
    /// Indicators of compromise found so far.
    IndicatorsOfCompromise,
}

impl FieldKey {
    /// Every field, in the order a page shows them.
    pub const ALL: [FieldKey; 8] = [
        Self::AvailabilitySoFar,
        Self::OutageSoFar,
        Self::FailedProbes,
        Self::AffectedServices,
        Self::MemberStates,
        Self::Ongoing,
        Self::DetectedBy,
        Self::IndicatorsOfCompromise,
    ];

    /// The kebab-case key.
    pub fn id(self) -> &'static str {
        match self {
            Self::AvailabilitySoFar => "availability-so-far",
            Self::OutageSoFar => "outage-so-far",
            Self::FailedProbes => "failed-probes",
            Self::AffectedServices => "affected-services",
            Self::MemberStates => "member-states",
            Self::Ongoing => "ongoing",
            Self::DetectedBy => "detected-by",
            Self::IndicatorsOfCompromise => "indicators-of-compromise",
        }
    }

    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::AvailabilitySoFar => "Availability so far",
            Self::OutageSoFar => "Outage so far",
            Self::FailedProbes => "Failed probes",
            Self::AffectedServices => "Affected services",
            Self::MemberStates => "Member states",
            Self::Ongoing => "Still ongoing",
            Self::DetectedBy => "Detected by",
            Self::IndicatorsOfCompromise => "Indicators of compromise",
        }
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One field as shown: its value and how far it can be trusted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SituationField {
    /// Which field.
    pub key: FieldKey,
    /// The value; null when unknown.
    pub value: Value,
    /// Known, estimated or unknown.
    pub certainty: Certainty,
    /// How an estimate was made, or why the value is not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl SituationField {
    /// A measured or declared value.
    pub fn known(key: FieldKey, value: Value) -> Self {
        Self {
            key,
            value,
            certainty: Certainty::Known,
            note: None,
        }
    }

    /// A value inferred from what is known; the note says how.
    pub fn estimated(key: FieldKey, value: Value, how: impl Into<String>) -> Self {
        Self {
            key,
            value,
            certainty: Certainty::Estimated,
            note: Some(how.into()),
        }
    }

    /// A value the organisation does not have yet; the note says why.
    pub fn unknown(key: FieldKey, why: impl Into<String>) -> Self {
        Self {
            key,
            value: Value::Null,
            certainty: Certainty::Unknown,
            note: Some(why.into()),
        }
    }
}

/// What has happened so far that starts or stops a clock, in exercise time since awareness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Milestones {
    /// When the incident was classified as major under DORA.
    pub classified_major: Option<Duration>,
    /// When each report was submitted (in an exercise: approved and put in the exercise inbox).
    pub submitted: BTreeMap<Report, Duration>,
}

impl Milestones {
    /// When the clock of `report` starts, in exercise time since awareness: awareness
    /// itself, or the submission of the report it follows; `None` until that happens.
    pub fn clock_start(&self, report: Report) -> Option<Duration> {
        match report.follows() {
            None => Some(Duration::ZERO),
            Some(earlier) => self.submitted.get(&earlier).copied(),
        }
    }

    /// When `report` falls due, in exercise time since awareness; `None` while the event
    /// its clock runs from has not happened. DORA's initial notification is due 4 h after
    /// classification as major, and never later than 24 h after awareness.
    pub fn due_at(&self, report: Report) -> Option<Duration> {
        let due = self.clock_start(report)?.saturating_add(report.span());
        Some(match (report, self.classified_major) {
            (Report::DoraInitialNotification, Some(c)) => {
                c.saturating_add(Duration::from_secs(4 * 3600)).min(due)
            }
            _ => due,
        })
    }
}

/// One deadline's clock as the snapshot shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ClockState {
    /// The event the clock runs from has not happened.
    Waiting,
    /// Time is left.
    Running {
        /// Exercise time left.
        #[serde(rename = "remainingMs", serialize_with = "millis::duration")]
        remaining: Duration,
    },
    /// The deadline has passed without a submission.
    Overdue {
        /// Exercise time since it fell due.
        #[serde(rename = "byMs", serialize_with = "millis::duration")]
        by: Duration,
    },
    /// The report was submitted.
    Submitted {
        /// When, in exercise time since awareness.
        #[serde(rename = "atMs", serialize_with = "millis::duration")]
        at: Duration,
        /// Whether by its deadline.
        #[serde(rename = "onTime")]
        on_time: bool,
    },
}

/// The clock to one legal deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegalClock {
    /// Which deadline.
    pub deadline: Report,
    /// When it falls due, in exercise time since awareness.
    #[serde(rename = "dueAtMs", serialize_with = "millis::option")]
    pub due_at: Option<Duration>,
    /// Where it stands at the snapshot.
    #[serde(flatten)]
    pub state: ClockState,
}

impl LegalClock {
    /// The clock of `deadline` at `at`, exercise time since awareness.
    pub fn at(deadline: Report, at: Duration, milestones: &Milestones) -> Self {
        let due_at = milestones.due_at(deadline);
        let state = match (milestones.submitted.get(&deadline), due_at) {
            (Some(&s), due) if s <= at => ClockState::Submitted {
                at: s,
                on_time: due.is_none_or(|due| s <= due),
            },
            (_, None) => ClockState::Waiting,
            (_, Some(due)) if at <= due => ClockState::Running {
                remaining: due - at,
            },
            (_, Some(due)) => ClockState::Overdue { by: at - due },
        };
        Self {
            deadline,
            due_at,
            state,
        }
    }
}

/// A snapshot of what the organisation knew at the moment of a decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Situation {
    #[serde(rename = "atMs", serialize_with = "millis::duration")]
    at: Duration,
    time_scale: TimeScale,
    fields: Vec<SituationField>,
    clocks: Vec<LegalClock>,
}

impl Situation {
    /// The situation at `at` (exercise time since awareness): the fields in the order given,
    /// and the clock of each deadline asked for.
    pub fn new(
        at: Duration,
        time_scale: TimeScale,
        fields: Vec<SituationField>,
        deadlines: &[Report],
        milestones: &Milestones,
    ) -> Result<Self, SituationError> {
        let mut seen = BTreeSet::new();
        for field in &fields {
            if !seen.insert(field.key) {
                return Err(SituationError::DuplicateField(field.key));
            }
            if field.certainty != Certainty::Unknown && field.value.is_null() {
                return Err(SituationError::MissingValue(
                    field.key,
                    field.certainty.as_str(),
                ));
            }
        }
        let mut clocks: Vec<LegalClock> = Vec::new();
        for &deadline in deadlines {
            if clocks.iter().all(|c| c.deadline != deadline) {
                clocks.push(LegalClock::at(deadline, at, milestones));
            }
        }
        Ok(Self {
            at,
            time_scale,
            fields,
            clocks,
        })
    }

    /// Exercise time since awareness.
    pub fn at(&self) -> Duration {
        self.at
    }

    /// The same in real time.
    pub fn at_real(&self) -> Duration {
        self.time_scale.to_real(self.at)
    }

    /// The time scale of the drill.
    pub fn time_scale(&self) -> TimeScale {
        self.time_scale
    }

    /// The fields, in the order shown.
    pub fn fields(&self) -> &[SituationField] {
        &self.fields
    }

    /// The field with this key.
    pub fn field(&self, key: FieldKey) -> Option<&SituationField> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The clocks, in the order asked for.
    pub fn clocks(&self) -> &[LegalClock] {
        &self.clocks
    }

    /// The clock of one deadline, when the snapshot shows it.
    pub fn clock(&self, deadline: Report) -> Option<&LegalClock> {
        self.clocks.iter().find(|c| c.deadline == deadline)
    }

    /// The share of the fields shown that are unknown, 0 to 1; a snapshot that shows no
    /// field leaves everything unknown (1).
    pub fn unknown_share(&self) -> f64 {
        if self.fields.is_empty() {
            return 1.0;
        }
        let unknown = self
            .fields
            .iter()
            .filter(|f| f.certainty == Certainty::Unknown)
            .count();
        unknown as f64 / self.fields.len() as f64
    }

    /// The share of `keys` that are unknown, 0 to 1: a field the snapshot does not show
    /// counts as unknown; no keys at all is the whole snapshot's share.
    pub fn unknown_share_of(&self, keys: &[FieldKey]) -> f64 {
        let keys: BTreeSet<FieldKey> = keys.iter().copied().collect();
        if keys.is_empty() {
            return self.unknown_share();
        }
        let unknown = keys
            .iter()
            .filter(|&&k| {
                self.field(k)
                    .is_none_or(|f| f.certainty == Certainty::Unknown)
            })
            .count();
        unknown as f64 / keys.len() as f64
    }

    /// The snapshot as JSON, the form that is hashed and journaled.
    pub fn to_json(&self) -> Result<Value, SituationError> {
        serde_json::to_value(self).map_err(SituationError::Encode)
    }

    /// The SHA-256 of the snapshot's canonical JSON (RFC 8785), in lower-case hex, as the
    /// journal hashes its records.
    pub fn hash(&self) -> Result<String, SituationError> {
        let value = self.to_json()?;
        let encoded = serde_json_canonicalizer::to_vec(&value).map_err(SituationError::Encode)?;
        Ok(crate::journal::hex(&sha2::Sha256::digest(&encoded)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const H: u64 = 3600;

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * H)
    }

    fn sample(at: Duration) -> Situation {
        Situation::new(
            at,
            TimeScale::new(60.0).unwrap(),
            vec![
                SituationField::known(FieldKey::AvailabilitySoFar, json!(0.82)),
                SituationField::estimated(
                    FieldKey::OutageSoFar,
                    json!(1200),
                    "from the first failed probe to now",
                ),
                SituationField::known(FieldKey::AffectedServices, json!(["checkout"])),
                SituationField::unknown(FieldKey::MemberStates, "not declared"),
            ],
            &Report::ALL,
            &Milestones::default(),
        )
        .unwrap()
    }

    #[test]
    fn time_scale_converts_both_ways() {
        let scale = TimeScale::new(60.0).unwrap();
        assert_eq!(scale.to_real(hours(24)), Duration::from_secs(24 * 60));
        assert_eq!(scale.to_exercise(Duration::from_secs(24 * 60)), hours(24));
        let one = TimeScale::default();
        assert_eq!(one.factor(), 1.0);
        assert_eq!(one.to_real(hours(3)), hours(3));
        let slow = TimeScale::new(0.5).unwrap();
        assert_eq!(slow.to_real(hours(1)), hours(2));
        // Huge durations saturate instead of overflowing.
        assert_eq!(
            TimeScale::new(10_000.0).unwrap().to_exercise(Duration::MAX),
            Duration::MAX
        );
    }

    #[test]
    fn time_scale_refuses_what_is_not_a_positive_factor() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 10_001.0] {
            assert!(TimeScale::new(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<TimeScale>(json!(0)).is_err());
        assert_eq!(
            serde_json::from_value::<TimeScale>(json!(60)).unwrap(),
            TimeScale::new(60.0).unwrap()
        );
    }

    #[test]
    fn clocks_run_from_awareness_classification_and_earlier_reports() {
        let none = Milestones::default();
        assert_eq!(none.due_at(Report::Nis2EarlyWarning), Some(hours(24)));
        assert_eq!(
            none.due_at(Report::Nis2IncidentNotification),
            Some(hours(72))
        );
        assert_eq!(none.due_at(Report::Nis2FinalReport), None);
        assert_eq!(
            none.due_at(Report::DoraInitialNotification),
            Some(hours(24)),
            "without classification the 24 h bound from awareness holds"
        );
        assert_eq!(none.due_at(Report::DoraIntermediateReport), None);
        assert_eq!(none.due_at(Report::DoraFinalReport), None);

        let mut m = Milestones {
            classified_major: Some(hours(2)),
            ..Milestones::default()
        };
        assert_eq!(
            m.due_at(Report::DoraInitialNotification),
            Some(hours(6)),
            "4 h from classification"
        );
        m.classified_major = Some(hours(22));
        assert_eq!(
            m.due_at(Report::DoraInitialNotification),
            Some(hours(24)),
            "never later than 24 h from awareness"
        );
        m.submitted
            .insert(Report::Nis2IncidentNotification, hours(30));
        m.submitted
            .insert(Report::DoraInitialNotification, hours(5));
        m.submitted
            .insert(Report::DoraIntermediateReport, hours(50));
        assert_eq!(m.due_at(Report::Nis2FinalReport), Some(hours(30) + MONTH));
        assert_eq!(m.due_at(Report::DoraIntermediateReport), Some(hours(77)));
        assert_eq!(m.due_at(Report::DoraFinalReport), Some(hours(50) + MONTH));
    }

    #[test]
    fn a_clock_is_waiting_running_overdue_or_submitted() {
        let mut m = Milestones::default();
        let clock = |d, at, m: &Milestones| LegalClock::at(d, at, m).state;
        assert_eq!(
            clock(Report::Nis2EarlyWarning, hours(1), &m),
            ClockState::Running {
                remaining: hours(23)
            }
        );
        assert_eq!(
            clock(Report::Nis2EarlyWarning, hours(25), &m),
            ClockState::Overdue { by: hours(1) }
        );
        assert_eq!(
            clock(Report::Nis2FinalReport, hours(1), &m),
            ClockState::Waiting
        );
        m.submitted.insert(Report::Nis2EarlyWarning, hours(26));
        assert_eq!(
            clock(Report::Nis2EarlyWarning, hours(25), &m),
            ClockState::Overdue { by: hours(1) },
            "a submission later than the snapshot is not shown"
        );
        assert_eq!(
            clock(Report::Nis2EarlyWarning, hours(30), &m),
            ClockState::Submitted {
                at: hours(26),
                on_time: false
            }
        );
    }

    #[test]
    fn unknown_share_counts_unknown_fields() {
        let s = sample(hours(1));
        assert_eq!(s.unknown_share(), 0.25);
        assert_eq!(
            s.unknown_share_of(&[FieldKey::AffectedServices, FieldKey::MemberStates]),
            0.5
        );
        assert_eq!(
            s.unknown_share_of(&[FieldKey::DetectedBy, FieldKey::AvailabilitySoFar]),
            0.5,
            "a field not shown is unknown"
        );
        assert_eq!(s.unknown_share_of(&[]), 0.25);
        let empty = Situation::new(
            hours(1),
            TimeScale::default(),
            vec![],
            &[],
            &Milestones::default(),
        )
        .unwrap();
        assert_eq!(empty.unknown_share(), 1.0);
    }

    #[test]
    fn a_field_twice_or_a_known_field_without_value_is_refused() {
        let twice = Situation::new(
            hours(1),
            TimeScale::default(),
            vec![
                SituationField::known(FieldKey::Ongoing, json!(true)),
                SituationField::unknown(FieldKey::Ongoing, "?"),
            ],
            &[],
            &Milestones::default(),
        );
        assert!(matches!(
            twice,
            Err(SituationError::DuplicateField(FieldKey::Ongoing))
        ));
        let empty = Situation::new(
            hours(1),
            TimeScale::default(),
            vec![SituationField::known(FieldKey::Ongoing, Value::Null)],
            &[],
            &Milestones::default(),
        );
        assert_eq!(
            empty.unwrap_err().to_string(),
            "the field `ongoing` is marked known but has no value"
        );
    }

    #[test]
    fn the_snapshot_is_written_with_both_times_and_hashed_canonically() {
        let s = sample(hours(1));
        let v = s.to_json().unwrap();
        assert_eq!(v["atMs"], json!(3_600_000));
        assert_eq!(v["timeScale"], json!(60.0));
        assert_eq!(v["fields"][3]["certainty"], json!("unknown"));
        assert_eq!(v["fields"][3]["key"], json!("member-states"));
        assert_eq!(v["clocks"][0]["deadline"], json!("nis2-early-warning"));
        assert_eq!(v["clocks"][0]["state"], json!("running"));
        assert_eq!(v["clocks"][0]["remainingMs"], json!(23 * 3_600_000u64));
        assert_eq!(v["clocks"][2]["state"], json!("waiting"));
        assert_eq!(s.at_real(), Duration::from_secs(60));

        let hash = s.hash().unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        // The same as the journal's hash of the same value: one canonical form.
        assert_eq!(hash, crate::journal::hash_of(&v));
        assert_eq!(hash, sample(hours(1)).hash().unwrap(), "deterministic");
        assert_ne!(hash, sample(hours(2)).hash().unwrap(), "time is hashed");
        let mut other = sample(hours(1));
        other.fields[0].certainty = Certainty::Estimated;
        assert_ne!(hash, other.hash().unwrap(), "certainty is hashed");
    }
}
