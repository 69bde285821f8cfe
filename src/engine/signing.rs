//! Signing the journal's head at the end of a run, when a key was given.

use std::path::Path;

use crate::error::chain;
use crate::journal::Journal;

/// Signs the head of `journal`, kept at `path`, with the PKCS#8 PEM key at `key`, writing
/// `journal.sig` beside it; whether it did. A failure is logged and the run goes on: the
/// journal is still hash-chained, only unsigned.
pub(super) fn sign_journal(path: &Path, key: &Path, journal: &Journal) -> bool {
    match crate::journal::sign_head(path, key, journal.len(), &journal.head()) {
        Ok(_) => true,
        Err(e) => {
            let error = chain(&e);
            tracing::warn!(%error, "cannot sign the journal; the run goes on");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY: &str = include_str!("../../tests/fixtures/keys/test-ed25519.pem");

    #[test]
    fn the_signature_covers_the_head_when_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let key = dir.path().join("key.pem");
        std::fs::write(&key, KEY).unwrap();
        let journal = Journal::create(&path).unwrap();
        journal.record("run-finished", json!({"status": "passed"}), true);
        assert!(sign_journal(&path, &key, &journal));
        let report = crate::journal::verify(&path, None).unwrap();
        assert!(report.intact(), "{report:?}");
        assert!(matches!(
            report.signature,
            Some(crate::journal::SignatureCheck::Valid { records: 1 })
        ));
    }

    #[test]
    fn a_key_that_cannot_be_read_leaves_the_journal_unsigned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::create(&path).unwrap();
        journal.record("run-finished", json!({}), true);
        assert!(!sign_journal(
            &path,
            &dir.path().join("missing.pem"),
            &journal
        ));
        assert!(!dir.path().join("journal.sig").exists());
    }
}
