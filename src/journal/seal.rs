//! Binding a results folder's figures to its journal: the `files-sealed` record.
//!
//! When a run's files are written (result.json, the reports, latency.hlog, the notification
//! drafts), their SHA-256 digests are appended to the journal as its last record, and the
//! journal's head is signed again when a key is given, so that the signature covers the
//! figures as well as the events. `firedrill verify` checks each file against the last seal
//! and names any that changed. Regenerating the reports (`firedrill report`, `firedrill
//! review`) appends a new seal for the new pages: the chain shows both, and the signature,
//! made again when the key is given, covers the newest. So does the RFC 3161 time-stamp,
//! asked for after the signature when a TSA's URL is given (`journal::timestamp`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use sha2::Digest;

use super::{Journal, JournalError, hex};

/// The record kind of a seal.
pub const SEAL: &str = "files-sealed";

/// The files of a run's folder that state a figure, besides the notification drafts.
const SEALED: [&str; 6] = [
    "result.json",
    "scorecard.md",
    "report.html",
    "junit.xml",
    "latency.hlog",
    "traffic.jsonl",
];
/// The folder of the notification drafts and approved reports.
const NOTIFICATIONS: &str = "notifications";

/// SHA-256 of each file of `dir` that states a figure, by its path relative to `dir`.
pub fn digests(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut add = |rel: String| {
        if let Ok(bytes) = std::fs::read(dir.join(&rel)) {
            files.insert(rel, hex(&sha2::Sha256::digest(&bytes)));
        }
    };
    for f in SEALED {
        add(f.to_owned());
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(NOTIFICATIONS)) {
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        for n in names {
            add(format!("{NOTIFICATIONS}/{n}"));
        }
    }
    files
}

/// What vouches for a journal's head once its files are sealed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sealing<'a> {
    /// An ed25519 private key (PKCS#8 PEM) that signs the head into `journal.sig`.
    pub sign_key: Option<&'a Path>,
    /// The URL of an RFC 3161 time-stamping authority that time-stamps the head into
    /// `journal.tst`.
    pub timestamp_url: Option<&'a str>,
}

/// What sealing did.
#[derive(Debug)]
pub struct Sealed {
    /// The journal's new head.
    pub head: String,
    /// The time-stamp, when one was asked for: the token, or why there is none. A TSA that
    /// fails leaves the seal and the signature in place.
    pub timestamp: Option<Result<super::timestamp::Token, super::timestamp::TimestampError>>,
}

/// Appends a seal of `dir`'s files to `dir/journal.jsonl`, `why` saying what wrote them,
/// signs the journal's head again when a key is given, then time-stamps it when a TSA is.
pub fn seal(dir: &Path, why: &str, sealing: Sealing<'_>) -> Result<Sealed, SealError> {
    let path = dir.join("journal.jsonl");
    let journal = Journal::append(&path).map_err(SealError::Journal)?;
    let files = digests(dir);
    let (_, head) = journal
        .try_record(SEAL, json!({"reason": why, "files": files}))
        .map_err(SealError::Journal)?;
    if let Some(key) = sealing.sign_key {
        super::sign_head(&path, key, journal.len(), &head).map_err(SealError::Sign)?;
    }
    let timestamp = sealing
        .timestamp_url
        .map(|url| super::timestamp::stamp_head(&path, url, journal.len(), &head));
    Ok(Sealed { head, timestamp })
}

/// Why a folder could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The journal could not be read, checked or added to.
    #[error("cannot add the seal to the journal")]
    Journal(#[source] JournalError),
    /// The journal's head could not be signed.
    #[error("cannot sign the sealed journal")]
    Sign(#[source] super::SignError),
}

/// How one sealed file stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Its content is what was sealed.
    AsSealed,
    /// Its content changed since.
    Changed,
    /// It is gone.
    Missing,
}

/// What the last seal of a journal says of its folder now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealCheck {
    /// The seal's record, by `seq`.
    pub seq: u64,
    /// Why it was written.
    pub reason: String,
    /// Each sealed file and how it stands.
    pub files: Vec<(String, FileState)>,
    /// Files that state a figure but were not sealed (added since).
    pub unsealed: Vec<String>,
}

impl SealCheck {
    /// Whether every sealed file is as it was, and none was added.
    pub fn holds(&self) -> bool {
        self.unsealed.is_empty() && self.files.iter().all(|(_, s)| *s == FileState::AsSealed)
    }
}

/// Checks `dir`'s files against the last seal among `records`; `None` when there is none.
pub fn check(dir: &Path, records: &[Value]) -> Option<SealCheck> {
    let last = records.iter().rev().find(|r| r["kind"] == SEAL)?;
    let sealed: BTreeMap<String, String> = last["data"]["files"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let now = digests(dir);
    let files = sealed
        .iter()
        .map(|(f, digest)| {
            let state = match now.get(f) {
                None => FileState::Missing,
                Some(d) if d == digest => FileState::AsSealed,
                Some(_) => FileState::Changed,
            };
            (f.clone(), state)
        })
        .collect();
    let unsealed = now
        .keys()
        .filter(|f| !sealed.contains_key(*f))
        .cloned()
        .collect();
    Some(SealCheck {
        seq: last["seq"].as_u64().unwrap_or(0),
        reason: last["data"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        files,
        unsealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(&dir.path().join("journal.jsonl")).unwrap();
        journal.record("run-finished", json!({"status": "passed"}), true);
        std::fs::write(dir.path().join("result.json"), "{\"score\": 80}").unwrap();
        std::fs::write(dir.path().join("report.html"), "<p>80</p>").unwrap();
        std::fs::create_dir(dir.path().join("notifications")).unwrap();
        std::fs::write(dir.path().join("notifications/early.json"), "{}").unwrap();
        dir
    }

    fn records(dir: &Path) -> Vec<Value> {
        super::super::verify(&dir.join("journal.jsonl"), None)
            .unwrap()
            .records
    }

    #[test]
    fn a_sealed_folder_holds_until_a_figure_is_edited() {
        let dir = folder();
        seal(dir.path(), "run finished", Sealing::default()).unwrap();
        let report = super::super::verify(&dir.path().join("journal.jsonl"), None).unwrap();
        assert!(report.intact() && report.finished, "{report:?}");
        let c = check(dir.path(), &report.records).unwrap();
        assert!(c.holds(), "{c:?}");
        assert_eq!(c.seq, 2);
        assert_eq!(
            c.files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            ["notifications/early.json", "report.html", "result.json"]
        );

        std::fs::write(dir.path().join("result.json"), "{\"score\": 95}").unwrap();
        std::fs::remove_file(dir.path().join("report.html")).unwrap();
        std::fs::write(dir.path().join("junit.xml"), "<testsuites/>").unwrap();
        let c = check(dir.path(), &records(dir.path())).unwrap();
        assert!(!c.holds());
        assert!(
            c.files
                .contains(&("result.json".into(), FileState::Changed))
        );
        assert!(
            c.files
                .contains(&("report.html".into(), FileState::Missing))
        );
        assert_eq!(c.unsealed, ["junit.xml"]);
    }

    #[test]
    fn a_new_seal_covers_regenerated_pages_and_the_signature_follows() {
        let dir = folder();
        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            include_str!("../../tests/fixtures/keys/test-ed25519.pem"),
        )
        .unwrap();
        let signed = Sealing {
            sign_key: Some(&key),
            timestamp_url: None,
        };
        seal(dir.path(), "run finished", signed).unwrap();
        std::fs::write(dir.path().join("report.html"), "<p>80, reviewed</p>").unwrap();
        assert!(!check(dir.path(), &records(dir.path())).unwrap().holds());
        seal(dir.path(), "reports regenerated", signed).unwrap();
        let report = super::super::verify(&dir.path().join("journal.jsonl"), None).unwrap();
        assert!(report.intact() && report.finished, "{report:?}");
        let c = check(dir.path(), &report.records).unwrap();
        assert!(c.holds() && c.reason == "reports regenerated", "{c:?}");
    }

    #[test]
    fn a_folder_without_a_seal_says_so() {
        let dir = folder();
        assert_eq!(check(dir.path(), &records(dir.path())), None);
    }
}
