//! Checking a journal: the first record changed, removed, inserted or reordered, a cut at
//! the end, and the signature of its head.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::{GENESIS, JournalError, Signature, hash_of, signature_path};

/// What broke the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakKind {
    /// The record's content no longer matches its hash.
    Changed,
    /// One or more records before this one are missing.
    Removed,
    /// A record was added before this one.
    Inserted,
    /// Records are out of order or repeated.
    Reordered,
    /// The line is not a journal record.
    NotARecord,
}

/// The first break of a journal's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// Line, from 1.
    pub line: usize,
    /// The record's own `seq`, when readable.
    pub seq: Option<u64>,
    /// What broke.
    pub kind: BreakKind,
    /// Details.
    pub detail: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            BreakKind::Changed => "was changed after it was written",
            BreakKind::Removed => "follows a gap: records before it were removed",
            BreakKind::Inserted => "was inserted: it does not follow the previous record",
            BreakKind::Reordered => "is out of order or repeated",
            BreakKind::NotARecord => "is not a journal record",
        };
        match self.seq {
            Some(seq) => write!(f, "record {seq} (line {}) {what}", self.line)?,
            None => write!(f, "line {} {what}", self.line)?,
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// What verification found.
#[derive(Debug)]
pub struct Report {
    /// The records that verified, in order (up to the first break).
    pub records: Vec<Value>,
    /// The first break, if any.
    pub broken: Option<Break>,
    /// The file ends in the middle of a record (a crash while writing): the records
    /// before it verify.
    pub truncated_mid_record: bool,
    /// The last record is `run-finished`, or only seals of the run's files follow it.
    pub finished: bool,
    /// The signature found next to the journal, and whether it checked out.
    pub signature: Option<SignatureCheck>,
}

/// The outcome of checking `journal.sig`.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature is valid and covers every record.
    Valid {
        /// Records covered.
        records: u64,
    },
    /// The signature is valid but covers fewer records than the journal holds.
    RecordsAfterSignedHead {
        /// Records covered.
        signed: u64,
        /// Records present.
        present: u64,
    },
    /// The journal holds fewer records than were signed: it was cut.
    Truncated {
        /// Records covered.
        signed: u64,
        /// Records present.
        present: u64,
    },
    /// The signed head is not the hash of the signed record.
    HeadMismatch,
    /// The signature does not verify (with the given or the embedded public key).
    Invalid(String),
}

impl Report {
    /// Whether the journal is intact: no break, not cut, and any signature valid.
    pub fn intact(&self) -> bool {
        self.broken.is_none()
            && !self.truncated_mid_record
            && matches!(self.signature, None | Some(SignatureCheck::Valid { .. }))
    }
}

/// Verifies the journal at `path`, and `journal.sig` next to it when present. With
/// `public_key`, the signature must verify against that key rather than the embedded one.
pub fn verify(
    path: &Path,
    public_key: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<Report, JournalError> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    // A journal ends with a newline; anything after the last one is a record cut short.
    let tail = lines.pop().unwrap_or_default();
    let mut report = Report {
        records: Vec::new(),
        broken: None,
        truncated_mid_record: !tail.is_empty(),
        finished: false,
        signature: None,
    };
    let mut prev = GENESIS.to_owned();
    let mut hashes: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line_no = i + 1;
        let expected_seq = report.records.len() as u64 + 1;
        let rec: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                report.broken = Some(Break {
                    line: line_no,
                    seq: None,
                    kind: BreakKind::NotARecord,
                    detail: String::new(),
                });
                break;
            }
        };
        let seq = rec["seq"].as_u64();
        let stated = rec["hash"].as_str().unwrap_or_default().to_owned();
        let linked = rec["prev"].as_str() == Some(prev.as_str());
        let sound = hash_of(&rec) == stated;
        let kind = match (sound, linked, seq) {
            (true, true, Some(s)) if s == expected_seq => None,
            (false, _, _) => Some(BreakKind::Changed),
            (true, _, Some(s)) if s > expected_seq => {
                let later = lines[i + 1..].iter().any(|l| {
                    serde_json::from_str::<Value>(l)
                        .is_ok_and(|v| v["seq"].as_u64() == Some(expected_seq))
                });
                Some(if later {
                    BreakKind::Reordered
                } else {
                    BreakKind::Removed
                })
            }
            (true, _, Some(s)) if s < expected_seq => Some(BreakKind::Reordered),
            (true, false, _)
                if hashes
                    .iter()
                    .any(|h| Some(h.as_str()) == rec["prev"].as_str()) =>
            {
                Some(BreakKind::Reordered)
            }
            _ => Some(BreakKind::Inserted),
        };
        if let Some(kind) = kind {
            report.broken = Some(Break {
                line: line_no,
                seq,
                kind,
                detail: match kind {
                    BreakKind::Removed | BreakKind::Reordered => {
                        format!("expected record {expected_seq}")
                    }
                    _ => String::new(),
                },
            });
            break;
        }
        prev.clone_from(&stated);
        hashes.push(stated);
        report.records.push(rec);
    }
    // A run ends with `run-finished`; only seals of its files may follow it.
    report.finished = report
        .records
        .iter()
        .rev()
        .find(|r| r["kind"] != super::seal::SEAL)
        .is_some_and(|r| r["kind"] == "run-finished");

    let sig_path = signature_path(path);
    if sig_path.is_file() && report.broken.is_none() {
        report.signature = Some(check_signature(&sig_path, &hashes, public_key));
    }
    Ok(report)
}

fn check_signature(
    sig_path: &Path,
    hashes: &[String],
    public_key: Option<&ed25519_dalek::VerifyingKey>,
) -> SignatureCheck {
    let sig = match Signature::read(sig_path) {
        Ok(s) => s,
        Err(e) => return SignatureCheck::Invalid(crate::error::chain(&e)),
    };
    if let Err(e) = sig.verify(public_key) {
        return SignatureCheck::Invalid(crate::error::chain(&e));
    }
    let present = hashes.len() as u64;
    if sig.records > present {
        return SignatureCheck::Truncated {
            signed: sig.records,
            present,
        };
    }
    let signed_hash = match sig.records {
        0 => super::GENESIS,
        n => hashes[n as usize - 1].as_str(),
    };
    if signed_hash != sig.head {
        return SignatureCheck::HeadMismatch;
    }
    if sig.records < present {
        return SignatureCheck::RecordsAfterSignedHead {
            signed: sig.records,
            present,
        };
    }
    SignatureCheck::Valid {
        records: sig.records,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::journal::Journal;

    fn journal_with(n: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::create(&path).unwrap();
        for i in 0..n {
            j.record("step", json!({"i": i, "note": format!("step {i}")}), false);
        }
        j.record("run-finished", json!({"status": "passed"}), false);
        let lines = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        (dir, path, lines)
    }

    fn write(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    fn broken(path: &Path) -> Break {
        verify(path, None).unwrap().broken.expect("a break")
    }

    #[test]
    fn an_intact_journal_verifies() {
        let (_d, path, _) = journal_with(4);
        let r = verify(&path, None).unwrap();
        assert!(r.intact() && r.finished);
        assert_eq!(r.records.len(), 5);
    }

    #[test]
    fn a_changed_record_is_named() {
        let (_d, path, mut lines) = journal_with(4);
        lines[2] = lines[2].replace("step 2", "step X");
        write(&path, &lines);
        let b = broken(&path);
        assert_eq!((b.line, b.seq, b.kind), (3, Some(3), BreakKind::Changed));
    }

    #[test]
    fn a_removed_record_is_named() {
        let (_d, path, mut lines) = journal_with(4);
        lines.remove(1);
        write(&path, &lines);
        let b = broken(&path);
        assert_eq!((b.line, b.seq, b.kind), (2, Some(3), BreakKind::Removed));
    }

    #[test]
    fn reordered_records_are_named() {
        let (_d, path, mut lines) = journal_with(4);
        lines.swap(1, 2);
        write(&path, &lines);
        let b = broken(&path);
        assert_eq!(
            (b.line, b.kind),
            (2, BreakKind::Reordered),
            "record 3 where 2 was due"
        );
        let (_d2, path2, mut lines2) = journal_with(4);
        let dup = lines2[1].clone();
        lines2.insert(2, dup);
        write(&path2, &lines2);
        let b = broken(&path2);
        assert_eq!((b.line, b.kind), (3, BreakKind::Reordered));
    }

    #[test]
    fn an_inserted_record_is_named() {
        let (_d, path, mut lines) = journal_with(4);
        // A well-formed record with a valid hash of its own, but no place in the chain.
        let mut forged =
            json!({"seq": 2, "time": "x", "kind": "forged", "data": {}, "prev": "f".repeat(64)});
        forged["hash"] = json!(crate::journal::hash_of(&forged));
        lines.insert(1, forged.to_string());
        write(&path, &lines);
        let b = broken(&path);
        assert_eq!((b.line, b.kind), (2, BreakKind::Inserted));
    }

    #[test]
    fn a_truncated_journal_verifies_up_to_the_cut_and_says_so() {
        let (_d, path, lines) = journal_with(4);
        let mut text = lines[..3].join("\n") + "\n";
        text.push_str(&lines[3][..20]);
        std::fs::write(&path, text).unwrap();
        let r = verify(&path, None).unwrap();
        assert!(r.broken.is_none());
        assert!(r.truncated_mid_record && !r.finished && !r.intact());
        assert_eq!(r.records.len(), 3);
    }

    #[test]
    fn garbage_is_not_a_record() {
        let (_d, path, mut lines) = journal_with(2);
        lines[1] = "not json".into();
        write(&path, &lines);
        assert_eq!(broken(&path).kind, BreakKind::NotARecord);
    }
}
