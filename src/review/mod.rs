//! Reviews of findings: for a finding of a run or a suite, who owns it, by when, and what
//! was decided (fix it, accept it, or accept the risk). Lessons learned, as ISO/IEC 27001
//! clause 10.2 and A.5.27 ask, kept as evidence: every decision is a record of
//! `review.jsonl` in the results folder, hash-chained like the run's journal and signed like
//! it on request. See docs/review.md.
//!
//! A recorded review is the organisation's evidence for Evidence & traceability
//! ([`observations`]). The findings a review covers are those of the scorecard computed
//! without review evidence, the run's own, so that a review never creates the findings it
//! is about.

mod finding;

pub use finding::{Finding, Severity};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::journal::{self, Journal, JournalError, SignError};
use crate::scorecard::{Capability, Metric, MetricObservation};
use crate::time::Timestamp;

/// The review journal, beside the run's `journal.jsonl`.
pub const REVIEW_FILE: &str = "review.jsonl";

/// The kind of a review journal's records.
pub const RECORD_KIND: &str = "finding-reviewed";

/// The longest owner accepted, in characters.
pub const MAX_OWNER_CHARS: usize = 200;

/// The longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Why a review could not be recorded or read.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The decision is not one of the three.
    #[error("unknown decision `{0}`: expected accept, fix or risk-accept")]
    UnknownDecision(String),
    /// The owner is empty or only spaces.
    #[error("the owner is empty")]
    EmptyOwner,
    /// The owner holds a control character (a line break, a tab, an escape).
    #[error("the owner holds a control character")]
    OwnerControl,
    /// The owner is too long.
    #[error("the owner is {0} characters long, over the {MAX_OWNER_CHARS} allowed")]
    OwnerTooLong(usize),
    /// The note holds a control character other than a line break.
    #[error("the note holds a control character")]
    NoteControl,
    /// The note is too long.
    #[error("the note is {0} characters long, over the {MAX_NOTE_CHARS} allowed")]
    NoteTooLong(usize),
    /// The due date is not a calendar date written YYYY-MM-DD.
    #[error("`{0}` is not a date: expected YYYY-MM-DD, such as 2027-01-31")]
    BadDue(String),
    /// The review journal could not be read.
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] JournalError),
    /// The review journal does not verify: none of its reviews counts.
    #[error("{} is broken, so its reviews do not count: {}", .0.display(), .1)]
    Broken(PathBuf, String),
    /// A record of the review journal verifies but is not a review.
    #[error("{}: record {} is not a review", .0.display(), .1)]
    Malformed(PathBuf, u64, #[source] serde_json::Error),
    /// The review journal is signed, and a record added without signing it would void the
    /// signature.
    #[error(
        "{} is signed: a review added without the signing key would void its signature",
        .0.display()
    )]
    SignedWithoutKey(PathBuf),
    /// The record could not be written.
    #[error("cannot write {}", .0.display())]
    Write(PathBuf, #[source] JournalError),
    /// The review journal could not be signed, or the key is not a signing key.
    #[error("cannot sign {}", .0.display())]
    Sign(PathBuf, #[source] SignError),
}

impl ReviewError {
    /// Whether the problem is in what the user gave or pointed at rather than in this host.
    pub fn is_user_input(&self) -> bool {
        match self {
            Self::UnknownDecision(_)
            | Self::EmptyOwner
            | Self::OwnerControl
            | Self::OwnerTooLong(_)
            | Self::NoteControl
            | Self::NoteTooLong(_)
            | Self::BadDue(_)
            | Self::Broken(..)
            | Self::Malformed(..)
            | Self::SignedWithoutKey(_) => true,
            Self::Sign(_, e) => !matches!(e, SignError::Io(..)),
            Self::Read(..) | Self::Write(..) => false,
        }
    }
}

/// What was decided about a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The finding is accepted as it is: nothing to change.
    Accept,
    /// The finding will be fixed by the due date.
    Fix,
    /// The risk is accepted by its owner, to be looked at again by the due date.
    RiskAccept,
}

impl Decision {
    /// The decision as written in documents and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Fix => "fix",
            Self::RiskAccept => "risk-accept",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Decision {
    type Err = ReviewError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "accept" => Ok(Self::Accept),
            "fix" => Ok(Self::Fix),
            "risk-accept" => Ok(Self::RiskAccept),
            other => Err(ReviewError::UnknownDecision(other.to_owned())),
        }
    }
}

/// A due date: a calendar day, written YYYY-MM-DD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due(jiff::civil::Date);

impl Due {
    /// Whether the day has passed at `now` (in UTC): the due day itself is still in time.
    pub fn passed(self, now: Timestamp) -> bool {
        now.as_jiff().to_zoned(jiff::tz::TimeZone::UTC).date() > self.0
    }
}

impl FromStr for Due {
    type Err = ReviewError;

    /// Only YYYY-MM-DD: jiff alone would also read a date with a time after it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ReviewError::BadDue(text.to_owned());
        let shaped = text.len() == 10
            && text.char_indices().all(|(i, c)| match i {
                4 | 7 => c == '-',
                _ => c.is_ascii_digit(),
            });
        if !shaped {
            return Err(bad());
        }
        text.parse::<jiff::civil::Date>()
            .map(Self)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Due {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%d"))
    }
}

impl Serialize for Due {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Due {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One decision about one finding, as `review.jsonl` keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRecord {
    /// The finding's stable id (`gate:detection:no-detection`).
    pub finding: String,
    /// Who owns the finding: a person or a team.
    pub owner: String,
    /// By when the decision is carried out (a fix) or looked at again.
    pub due: Due,
    /// What was decided.
    pub decision: Decision,
    /// Why, in the reviewer's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the decision was recorded.
    pub recorded_at: Timestamp,
    /// What was reviewed: the run's id, or for a suite [`suite_subject`].
    pub subject: String,
    /// The head of the run's evidence journal when the decision was recorded, tying the
    /// review to the evidence it was made on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_head: Option<String>,
}

impl ReviewRecord {
    /// A decision recorded now, its owner and note checked.
    pub fn new(
        subject: &str,
        finding: &str,
        owner: &str,
        due: Due,
        decision: Decision,
        note: Option<&str>,
    ) -> Result<Self, ReviewError> {
        check_owner(owner)?;
        if let Some(note) = note {
            check_note(note)?;
        }
        Ok(Self {
            finding: finding.to_owned(),
            owner: owner.trim().to_owned(),
            due,
            decision,
            note: note.map(str::to_owned),
            recorded_at: Timestamp::now(),
            subject: subject.to_owned(),
            evidence_head: None,
        })
    }

    /// A fix whose due date has passed at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.decision == Decision::Fix && self.due.passed(now)
    }

    /// The review in words for a page: `owner Ops team, due 2027-01-31, fix`, and
    /// `overdue` when it is.
    pub fn describe(&self, now: Timestamp) -> String {
        format!(
            "owner {}, due {}, {}{}",
            self.owner,
            self.due,
            self.decision,
            if self.overdue(now) { ", overdue" } else { "" }
        )
    }
}

/// Checks an owner: not empty, no control character, at most [`MAX_OWNER_CHARS`].
pub fn check_owner(owner: &str) -> Result<(), ReviewError> {
    if owner.trim().is_empty() {
        return Err(ReviewError::EmptyOwner);
    }
    if owner.chars().any(char::is_control) {
        return Err(ReviewError::OwnerControl);
    }
    let chars = owner.chars().count();
    if chars > MAX_OWNER_CHARS {
        return Err(ReviewError::OwnerTooLong(chars));
    }
    Ok(())
}

fn check_note(note: &str) -> Result<(), ReviewError> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ReviewError::NoteControl);
    }
    let chars = note.chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(ReviewError::NoteTooLong(chars));
    }
    Ok(())
}

/// The subject of a suite's reviews: a suite has no run id, and its name alone would also
/// name its next run.
pub fn suite_subject(name: &str, started_at: Timestamp) -> String {
    format!("suite:{name}:{started_at}")
}

/// The reviews of one subject: the latest decision for each finding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reviews {
    latest: BTreeMap<String, ReviewRecord>,
}

impl Reviews {
    /// The latest decision recorded for a finding.
    pub fn of_finding(&self, id: &str) -> Option<&ReviewRecord> {
        self.latest.get(id)
    }

    /// Whether every one of `findings` has a decision (true when there is none to review).
    pub fn covers(&self, findings: &[Finding]) -> bool {
        findings.iter().all(|f| self.latest.contains_key(&f.id))
    }

    /// Every finding's latest decision, by finding id.
    pub fn records(&self) -> impl Iterator<Item = &ReviewRecord> {
        self.latest.values()
    }

    /// Whether no decision was recorded.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

/// What a page knows of the reviews of what it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ReviewState {
    /// The reviews recorded for the page's subject, none when nothing was recorded.
    Recorded(Reviews),
    /// The review journal does not verify: no review counts, and the page says why.
    Broken {
        /// What is wrong with it.
        detail: String,
    },
}

impl Default for ReviewState {
    fn default() -> Self {
        Self::Recorded(Reviews::default())
    }
}

impl ReviewState {
    /// The reviews of `subject` in the results folder `dir`, or why they do not count.
    pub fn of(dir: &Path, subject: &str) -> Self {
        // The page names the file, not where this host keeps it.
        let detail = match read(dir, subject) {
            Ok(reviews) => return Self::Recorded(reviews),
            Err(ReviewError::Broken(_, why)) => format!("{REVIEW_FILE} does not verify: {why}"),
            Err(error) => crate::error::chain(&error),
        };
        Self::Broken { detail }
    }

    /// The latest decision for a finding, when the reviews count.
    pub fn of_finding(&self, id: &str) -> Option<&ReviewRecord> {
        match self {
            Self::Recorded(reviews) => reviews.of_finding(id),
            Self::Broken { .. } => None,
        }
    }

    /// Why the reviews do not count, when they do not.
    pub fn broken(&self) -> Option<&str> {
        match self {
            Self::Recorded(_) => None,
            Self::Broken { detail } => Some(detail),
        }
    }
}

/// The verified reviews of `subject` in the results folder `dir`: the latest decision for
/// each finding. Records of another subject (an earlier run written to the same folder) are
/// left out; no review journal is no review. A journal that does not verify, or a signature
/// that does not, is an error: its reviews are never trusted.
pub fn read(dir: &Path, subject: &str) -> Result<Reviews, ReviewError> {
    let path = dir.join(REVIEW_FILE);
    if !path.exists() {
        return Ok(Reviews::default());
    }
    let mut reviews = Reviews::default();
    for record in verified_records(&path)? {
        if record["kind"] != RECORD_KIND {
            continue;
        }
        let seq = record["seq"].as_u64().unwrap_or_default();
        let review: ReviewRecord = serde_json::from_value(record["data"].clone())
            .map_err(|e| ReviewError::Malformed(path.clone(), seq, e))?;
        if review.subject == subject {
            reviews.latest.insert(review.finding.clone(), review);
        }
    }
    Ok(reviews)
}

fn verified_records(path: &Path) -> Result<Vec<Value>, ReviewError> {
    let report = journal::verify(path, None).map_err(|e| ReviewError::Read(path.to_owned(), e))?;
    if let Some(broken) = &report.broken {
        return Err(ReviewError::Broken(path.to_owned(), broken.to_string()));
    }
    if report.truncated_mid_record {
        return Err(ReviewError::Broken(
            path.to_owned(),
            "it ends in the middle of a record".to_owned(),
        ));
    }
    if let Some(signature) = report.signature.as_ref().filter(|_| !report.intact()) {
        return Err(ReviewError::Broken(
            path.to_owned(),
            format!("its signature does not cover it: {signature:?}"),
        ));
    }
    Ok(report.records)
}

/// Where a review was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The record's `seq` in the review journal.
    pub seq: u64,
    /// The record's hash, the journal's new head.
    pub hash: String,
    /// Whether the new head was signed.
    pub signed: bool,
}

/// Appends a review to `review.jsonl` in `dir` after checking the journal, and signs its new
/// head with `sign_key` when given (`review.sig`, checked by `firedrill verify`). A broken
/// journal, a bad key, or a signed journal and no key: an error, and nothing is written.
pub fn record(
    dir: &Path,
    review: &ReviewRecord,
    sign_key: Option<&Path>,
) -> Result<Recorded, ReviewError> {
    let path = dir.join(REVIEW_FILE);
    if let Some(key) = sign_key {
        journal::check_private_key(key).map_err(|e| ReviewError::Sign(path.clone(), e))?;
    }
    // Every record is read, not only this subject's: a journal with a record that is not a
    // review is not continued either.
    read(dir, &review.subject)?;
    if sign_key.is_none() && journal::signature_path(&path).is_file() {
        return Err(ReviewError::SignedWithoutKey(path));
    }
    let data = serde_json::to_value(review)
        .map_err(|e| ReviewError::Write(path.clone(), JournalError::Io(e.into())))?;
    let journal = Journal::append(&path).map_err(|e| match e {
        JournalError::Malformed { .. } => ReviewError::Broken(path.clone(), e.to_string()),
        JournalError::Io(_) => ReviewError::Write(path.clone(), e),
    })?;
    let (seq, hash) = journal
        .try_record(RECORD_KIND, data)
        .map_err(|e| ReviewError::Write(path.clone(), e))?;
    if let Some(key) = sign_key {
        journal::sign_head(&path, key, seq, &hash)
            .map_err(|e| ReviewError::Sign(path.clone(), e))?;
    }
    Ok(Recorded {
        seq,
        hash,
        signed: sign_key.is_some(),
    })
}

/// What the reviews of `findings` evidence for Evidence & traceability, as the
/// organisation's own: the share of the findings with a decision (`findings-reviewed`) and
/// the seconds from the run's end to each decision (`time-to-review`), both dated by the
/// latest decision. Nothing when no finding has a decision. `findings` must be those of the
/// scorecard without review evidence, so that a review never evidences itself.
pub fn observations(
    findings: &[Finding],
    reviews: &Reviews,
    run_finished_at: Timestamp,
) -> Vec<MetricObservation> {
    let decided: Vec<&ReviewRecord> = findings
        .iter()
        .filter_map(|f| reviews.of_finding(&f.id))
        .collect();
    let Some(latest) = decided.iter().map(|r| r.recorded_at).max() else {
        return Vec::new();
    };
    let share = decided.len() as f64 / findings.len() as f64;
    // A clock set back must not make a review faster than instant.
    let waits = decided
        .iter()
        .map(|r| (r.recorded_at.ms_since(run_finished_at) / 1e3).max(0.0))
        .collect();
    let dated = |mut o: MetricObservation| {
        o.measured_at = Some(latest);
        o
    };
    vec![
        dated(MetricObservation::organisation(
            Capability::EvidenceTraceability,
            Metric::FindingsReviewed,
            vec![share],
        )),
        dated(MetricObservation::organisation(
            Capability::EvidenceTraceability,
            Metric::TimeToReview,
            waits,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorecard::{Provenance, Scale};

    fn finding(id: &str) -> Finding {
        Finding::new(id.to_owned(), Severity::High, "what".into(), "action")
    }

    fn review(subject: &str, finding: &str, owner: &str, decision: Decision) -> ReviewRecord {
        ReviewRecord::new(
            subject,
            finding,
            owner,
            "2027-01-31".parse().unwrap(),
            decision,
            None,
        )
        .unwrap()
    }

    #[test]
    fn decisions_read_as_written_and_nothing_else() {
        for (text, decision) in [
            ("accept", Decision::Accept),
            ("fix", Decision::Fix),
            ("risk-accept", Decision::RiskAccept),
        ] {
            assert_eq!(text.parse::<Decision>().unwrap(), decision);
            assert_eq!(decision.to_string(), text);
            assert_eq!(serde_json::to_value(decision).unwrap(), text);
        }
        for bad in ["Fix", "riskaccept", "risk_accept", ""] {
            let err = bad.parse::<Decision>().unwrap_err();
            assert!(matches!(err, ReviewError::UnknownDecision(_)), "{bad}");
        }
    }

    #[test]
    fn due_dates_are_calendar_days_only() {
        let due: Due = "2027-01-31".parse().unwrap();
        assert_eq!(due.to_string(), "2027-01-31");
        for bad in [
            "2027-02-30",
            "31/01/2027",
            "2027-1-31",
            "2027-01-31T00:00:00",
            "tomorrow",
        ] {
            assert!(bad.parse::<Due>().is_err(), "{bad}");
        }
        let now: Timestamp = "2027-01-31T23:59:00Z".parse().unwrap();
        assert!(!due.passed(now), "the due day itself is in time");
        assert!(due.passed("2027-02-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn owners_are_checked() {
        assert!(matches!(check_owner("  "), Err(ReviewError::EmptyOwner)));
        assert!(matches!(
            check_owner("ops\nteam"),
            Err(ReviewError::OwnerControl)
        ));
        assert!(matches!(
            check_owner(&"a".repeat(201)),
            Err(ReviewError::OwnerTooLong(201))
        ));
        check_owner(&"é".repeat(200)).unwrap();
    }

    #[test]
    fn only_a_fix_past_its_day_is_overdue() {
        let after: Timestamp = "2027-03-01T00:00:00Z".parse().unwrap();
        let fix = review("run", "f", "ops", Decision::Fix);
        assert!(fix.overdue(after));
        assert!(fix.describe(after).ends_with("fix, overdue"));
        assert!(!review("run", "f", "ops", Decision::RiskAccept).overdue(after));
    }

    #[test]
    fn the_latest_record_of_the_subject_wins() {
        let dir = tempfile::tempdir().unwrap();
        record(
            dir.path(),
            &review("run-1", "a", "alice", Decision::Fix),
            None,
        )
        .unwrap();
        record(
            dir.path(),
            &review("run-1", "a", "bob", Decision::RiskAccept),
            None,
        )
        .unwrap();
        // A previous run written to the same folder has its own reviews.
        let recorded = record(
            dir.path(),
            &review("run-0", "b", "carol", Decision::Accept),
            None,
        )
        .unwrap();
        assert_eq!(recorded.seq, 3);
        let reviews = read(dir.path(), "run-1").unwrap();
        let a = reviews.of_finding("a").unwrap();
        assert_eq!(
            (a.owner.as_str(), a.decision),
            ("bob", Decision::RiskAccept)
        );
        assert!(reviews.of_finding("b").is_none());
        assert!(reviews.covers(&[finding("a")]));
        assert!(!reviews.covers(&[finding("a"), finding("b")]));
        assert!(read(dir.path(), "run-2").unwrap().is_empty());
    }

    #[test]
    fn a_broken_review_journal_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        record(
            dir.path(),
            &review("run-1", "a", "alice", Decision::Fix),
            None,
        )
        .unwrap();
        let path = dir.path().join(REVIEW_FILE);
        let doctored = std::fs::read_to_string(&path)
            .unwrap()
            .replace("alice", "mallory");
        std::fs::write(&path, &doctored).unwrap();
        let err = read(dir.path(), "run-1").unwrap_err();
        assert!(matches!(err, ReviewError::Broken(..)), "{err}");
        assert!(err.to_string().contains("do not count"), "{err}");
        let err = record(
            dir.path(),
            &review("run-1", "a", "bob", Decision::Fix),
            None,
        )
        .unwrap_err();
        assert!(err.is_user_input(), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), doctored);
        let state = ReviewState::of(dir.path(), "run-1");
        assert!(state.broken().is_some());
        assert!(state.of_finding("a").is_none());
    }

    #[test]
    fn observations_are_the_share_reviewed_and_the_time_to_each_decision() {
        let finished: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let findings = [finding("a"), finding("b"), finding("c"), finding("d")];
        let mut reviews = Reviews::default();
        assert!(observations(&findings, &reviews, finished).is_empty());
        for (id, at) in [
            ("a", "2027-01-02T00:00:00Z"),
            ("c", "2027-01-01T01:00:00Z"),
            // A review of a finding no longer found counts for nothing.
            ("z", "2027-01-05T00:00:00Z"),
        ] {
            let mut r = review("run", id, "ops", Decision::Fix);
            r.recorded_at = at.parse().unwrap();
            reviews.latest.insert(id.to_owned(), r);
        }
        let obs = observations(&findings, &reviews, finished);
        assert_eq!(obs.len(), 2);
        assert!(
            obs.iter()
                .all(|o| o.capability == Capability::EvidenceTraceability
                    && o.provenance == Provenance::Organisation
                    && o.measured_at == Some("2027-01-02T00:00:00Z".parse().unwrap()))
        );
        assert_eq!(obs[0].metric, Metric::FindingsReviewed);
        assert_eq!(obs[0].values, vec![0.5]);
        assert_eq!(obs[1].metric, Metric::TimeToReview);
        assert_eq!(obs[1].values, vec![86_400.0, 3_600.0]);
        assert_eq!(
            Metric::FindingsReviewed.default_scale(),
            Scale::Ratio {
                floor: 0.0,
                target: 1.0
            }
        );
    }
}
