//! Checking a journal: the first record changed, removed, inserted or reordered, a cut at
//! the end, the signature of its head and its time-stamp token.

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
    /// The time-stamp token found next to the journal, and what it covers.
    pub timestamp: Option<TimestampCheck>,
}

/// What a time-stamp token (`journal.tst`) says of the journal.
#[derive(Debug)]
pub enum TimestampCheck {
    /// The token could not be read.
    Unreadable(String),
    /// The token was read.
    Read {
        /// The time the TSA attests (RFC 3339) and its name.
        gen_time: String,
        /// The TSA's name, when the token gives it.
        tsa: Option<String>,
        /// Which of the journal's heads the token's imprint matches.
        coverage: Coverage,
        /// The token's signature checked with the TSA's certificate: None when no
        /// certificate was given.
        signature: Option<Result<(), String>>,
    },
}

/// Which head of the journal a time-stamp covers.
#[derive(Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The journal as it is now: every record.
    All {
        /// Records covered.
        records: u64,
    },
    /// An earlier head: records were appended after the time-stamp.
    Earlier {
        /// Records covered.
        stamped: u64,
        /// Records present.
        present: u64,
    },
    /// No head of the journal: records were changed or removed after the time-stamp.
    None,
}

impl TimestampCheck {
    /// Whether the token covers the whole journal and, when checked, its signature holds.
    pub fn holds(&self) -> bool {
        matches!(
            self,
            Self::Read {
                coverage: Coverage::All { .. },
                signature: None | Some(Ok(())),
                ..
            }
        )
    }
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
            && self.timestamp.as_ref().is_none_or(TimestampCheck::holds)
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
        timestamp: None,
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
    if report.broken.is_none() {
        report.timestamp = check_timestamp(path, &report.records, None);
    }
    Ok(report)
}

/// Checks the time-stamp token beside the journal at `path` against its verified `records`,
/// and its signature with the TSA's certificate when one is given; `None` without a token.
pub fn check_timestamp(
    path: &Path,
    records: &[Value],
    tsa_cert: Option<&x509_cert::Certificate>,
) -> Option<TimestampCheck> {
    let token_path = super::timestamp::token_path(path);
    if !token_path.is_file() {
        return None;
    }
    let token = match super::timestamp::Token::read(&token_path) {
        Ok(t) => t,
        Err(e) => return Some(TimestampCheck::Unreadable(crate::error::chain(&e))),
    };
    let present = records.len() as u64;
    let head_of = |n: u64| match n {
        0 => GENESIS,
        n => records[n as usize - 1]["hash"].as_str().unwrap_or_default(),
    };
    // The newest head first: a token usually covers the whole journal.
    let stamped = (0..=present)
        .rev()
        .find(|&n| super::timestamp::imprint(n, head_of(n)) == *token.imprint);
    let coverage = match stamped {
        Some(n) if n == present => Coverage::All { records: n },
        Some(n) => Coverage::Earlier {
            stamped: n,
            present,
        },
        None => Coverage::None,
    };
    let signature = tsa_cert.map(|cert| {
        token
            .verify_signature(cert)
            .map_err(|e| crate::error::chain(&e))
    });
    Some(TimestampCheck::Read {
        gen_time: token.gen_time,
        tsa: token.tsa,
        coverage,
        signature,
    })
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
