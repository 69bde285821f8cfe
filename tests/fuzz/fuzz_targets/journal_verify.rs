//! The journal verifier: any bytes as `journal.jsonl`, and as the `journal.sig` beside it
//! (after the last NUL byte of the input, when there is one). Verification must name a break
//! or a bad signature, never panic; the report's evidence check and the seal check of the
//! folder run on what verified.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn folder() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().to_owned();
        std::fs::write(path.join("result.json"), b"{}").expect("a result file");
        (dir, path)
    });
    path
}

fuzz_target!(|input: &[u8]| {
    let dir = folder();
    let journal = dir.join("journal.jsonl");
    let sig = dir.join("journal.sig");
    match input.iter().rposition(|b| *b == 0) {
        Some(at) => {
            std::fs::write(&journal, &input[..at]).expect("the journal is written");
            std::fs::write(&sig, &input[at + 1..]).expect("the signature is written");
        }
        None => {
            std::fs::write(&journal, input).expect("the journal is written");
            let _ = std::fs::remove_file(&sig);
        }
    }
    let report = firedrill::journal::verify(&journal, None).expect("the journal is readable");
    if let Some(broken) = &report.broken {
        let _ = broken.to_string();
    }
    let _ = report.intact();
    let check = firedrill::journal::JournalCheck::of(&journal, "journal.jsonl");
    assert_eq!(
        check.intact,
        report.intact(),
        "the evidence check and the verifier disagree"
    );
    let _ = firedrill::journal::seal::check(dir, &report.records);
});
