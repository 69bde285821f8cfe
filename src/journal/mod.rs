//! The evidence journal: one JSON record per line, each chained to the previous one by
//! SHA-256, written and flushed as the run goes so that a crash leaves a valid prefix.
//!
//! A record is `{"seq", "time", "kind", "data", "prev", "hash"}`. `hash` is the SHA-256 of
//! the record without `hash` in the RFC 8785 canonical encoding (JCS), so that any JCS
//! implementation can check the chain; `prev` is the previous record's hash, 64 zeros for
//! the first. See docs/journal.md.

mod check;
pub mod seal;
mod sign;
pub mod timestamp;
mod verify;

pub use check::JournalCheck;
pub use sign::{
    SignError, Signature, check_private_key, read_public_key, sign_head, signature_path,
};
pub use verify::{
    Break, BreakKind, Coverage, Report, SignatureCheck, TimestampCheck, check_timestamp, verify,
};

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why the journal could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be created, written or read.
    #[error("journal i/o failed")]
    Io(#[from] std::io::Error),
    /// A line is not a journal record.
    #[error("line {line}: {message}")]
    Malformed {
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Appends records to `journal.jsonl`. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: Option<File>,
    seq: u64,
    prev: String,
    failed: bool,
}

impl Journal {
    /// Creates (or truncates) the journal file, readable by its owner only (mode 0600): a
    /// restore record may hold secret material.
    pub fn create(path: &Path) -> Result<Self, JournalError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        // The mode only applies to a new file: an existing one is narrowed too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(Self::with_file(Some(file)))
    }

    /// Opens a journal to add records after those it holds, continuing their `seq` and `prev`;
    /// creates it (mode 0600) when there is none. Its chain is checked first: a journal
    /// broken, or cut in the middle of a record, is an error and nothing is written.
    pub fn append(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            return Self::create(path);
        }
        let report = verify(path, None)?;
        if let Some(b) = report.broken {
            return Err(JournalError::Malformed {
                line: b.line,
                message: b.to_string(),
            });
        }
        if report.truncated_mid_record {
            return Err(JournalError::Malformed {
                line: report.records.len() + 1,
                message: "the journal ends in the middle of a record".to_owned(),
            });
        }
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let journal = Self::with_file(Some(file));
        {
            let mut inner = journal.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.seq = report.records.len() as u64;
            if let Some(head) = report.records.last().and_then(|r| r["hash"].as_str()) {
                head.clone_into(&mut inner.prev);
            }
        }
        Ok(journal)
    }

    /// A journal that keeps only the chain, for runs that write no files.
    pub fn discard() -> Self {
        Self::with_file(None)
    }

    fn with_file(file: Option<File>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                file,
                seq: 0,
                prev: GENESIS.to_owned(),
                failed: false,
            }),
        }
    }

    /// Appends one record and flushes it. `sync` also asks the disk to persist it, for
    /// records a later rollback depends on (what is about to change).
    ///
    /// A journal that cannot be written never stops a run: the first failure is logged and
    /// later records are only chained.
    pub fn record(&self, kind: &str, data: Value, sync: bool) -> String {
        self.record_with_seq(kind, data, sync).1
    }

    /// [`Journal::record`], also returning the record's `seq`, for results that point at
    /// their evidence.
    pub fn record_with_seq(&self, kind: &str, data: Value, sync: bool) -> (u64, String) {
        let (seq, hash, written) = self.write(kind, data, sync);
        if let Err(error) = written {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if !inner.failed {
                inner.failed = true;
                tracing::warn!(%error, "cannot write the journal; the run goes on");
            }
        }
        (seq, hash)
    }

    /// Appends one record, persists it to the disk and returns its `seq` and hash, or the
    /// error that kept it from the file: for records that must not be lost silently (a
    /// review's decision), unlike a run's, which never stops for its journal.
    pub fn try_record(&self, kind: &str, data: Value) -> Result<(u64, String), JournalError> {
        let (seq, hash, written) = self.write(kind, data, true);
        written?;
        Ok((seq, hash))
    }

    fn write(&self, kind: &str, data: Value, sync: bool) -> (u64, String, std::io::Result<()>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.seq += 1;
        let mut rec = json!({
            "seq": inner.seq,
            "time": Timestamp::now(),
            "kind": kind,
            "data": data,
            "prev": inner.prev,
        });
        let hash = hash_of(&rec);
        rec["hash"] = Value::String(hash.clone());
        inner.prev.clone_from(&hash);
        let written = match inner.file.as_mut() {
            Some(file) => {
                let mut line = rec.to_string();
                line.push('\n');
                file.write_all(line.as_bytes())
                    .and_then(|()| file.flush())
                    .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
            }
            None => Ok(()),
        };
        (inner.seq, hash, written)
    }

    /// The hash of the last record.
    pub fn head(&self) -> String {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prev
            .clone()
    }

    /// How many records were written.
    pub fn len(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).seq
    }

    /// Whether no record was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SHA-256, as lower-case hex, over the RFC 8785 encoding of a record without `hash`.
pub fn hash_of(record: &Value) -> String {
    let mut rec = record.clone();
    if let Some(obj) = rec.as_object_mut() {
        obj.remove("hash");
    }
    // Serialising a JSON value cannot fail: its keys are strings and it has no NaN.
    let encoded = serde_json_canonicalizer::to_vec(&rec).unwrap_or_default();
    hex(&Sha256::digest(&encoded))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a journal and checks its chain. Returns the records, or the first break.
pub fn read_verified(path: &Path) -> Result<Vec<Value>, JournalError> {
    let report = verify(path, None)?;
    match report.broken {
        Some(b) => Err(JournalError::Malformed {
            line: b.line,
            message: b.to_string(),
        }),
        None => Ok(report.records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_verifies_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::create(&path).unwrap();
        j.record("run-started", json!({"name": "x"}), false);
        j.record("fault-intent", json!({"fault": "kill"}), true);
        j.record("fault-reverted", json!({"fault": "kill"}), false);
        assert_eq!(read_verified(&path).unwrap().len(), 3);

        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"kill\"", "\"pause\"")).unwrap();
        let err = read_verified(&path).unwrap_err().to_string();
        assert!(
            err.starts_with("line 2") && err.contains("changed"),
            "{err}"
        );

        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        let err = read_verified(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("removed"), "{err}");
    }

    #[test]
    fn append_continues_the_chain_and_refuses_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.jsonl");
        let j = Journal::append(&path).unwrap();
        j.try_record("first", json!({})).unwrap();
        drop(j);
        let j = Journal::append(&path).unwrap();
        let (seq, hash) = j.try_record("second", json!({})).unwrap();
        assert_eq!(seq, 2);
        let records = read_verified(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["prev"], records[0]["hash"]);
        assert_eq!(records[1]["hash"], hash.as_str());

        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replace("\"second\"", "\"other\"");
        std::fs::write(&path, &changed).unwrap();
        let err = Journal::append(&path).unwrap_err().to_string();
        assert!(err.starts_with("line 2"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), changed);

        std::fs::write(&path, format!("{text}{{\"seq\":3")).unwrap();
        let err = Journal::append(&path).unwrap_err().to_string();
        assert!(err.contains("middle of a record"), "{err}");
    }

    #[test]
    fn the_journal_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _j = Journal::create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn record_with_seq_returns_the_written_seq_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::create(&path).unwrap();
        j.record("run-started", json!({}), false);
        let (seq, hash) = j.record_with_seq("notification-drafted", json!({"kind": "x"}), false);
        assert_eq!(seq, 2);
        let records = read_verified(&path).unwrap();
        assert_eq!(records[1]["seq"], 2);
        assert_eq!(records[1]["hash"], hash.as_str());
    }
}
