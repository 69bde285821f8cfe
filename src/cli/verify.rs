//! `firedrill verify JOURNAL`: checks the evidence journal's chain and signature.

use std::path::PathBuf;

use super::ExitStatus;
use crate::journal::{self, SignatureCheck};

/// Arguments of `firedrill verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The journal (`journal.jsonl`), or a results folder holding one.
    #[arg(value_name = "JOURNAL")]
    journal: PathBuf,
    /// Check `journal.sig` against this ed25519 public key (PEM) instead of the key
    /// embedded in the signature file.
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let path = if args.journal.is_dir() {
        args.journal.join("journal.jsonl")
    } else {
        args.journal.clone()
    };
    let key = match &args.public_key {
        Some(p) => match journal::read_public_key(p) {
            Ok(k) => Some(k),
            Err(e) => {
                say!("error: {e}");
                return Ok(ExitStatus::InvalidInput);
            }
        },
        None => None,
    };
    let report = match journal::verify(&path, key.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            say!(
                "error: cannot read {}: {}",
                path.display(),
                crate::error::chain(&e)
            );
            return Ok(ExitStatus::InvalidInput);
        }
    };
    let n = report.records.len();
    let name = path.display();
    if let Some(b) = &report.broken {
        println!("{name}: BROKEN: {b}");
        println!("  the {n} record(s) before it verify");
    } else if report.truncated_mid_record {
        println!(
            "{name}: CUT in the middle of a record after record {n}; the {n} record(s) before the cut verify"
        );
    } else {
        let head = report
            .records
            .last()
            .and_then(|r| r["hash"].as_str())
            .unwrap_or(journal::GENESIS);
        println!("{name}: chain intact, {n} record(s), head {head}");
    }
    // Only a run's journal ends with run-finished; a review or rollback journal has no end.
    let of_a_run = report
        .records
        .first()
        .is_some_and(|r| r["kind"] == "run-started");
    if report.broken.is_none() && of_a_run && !report.finished {
        println!(
            "  note: no run-finished record: the run did not end cleanly, or records were cut from the end (only a signature can tell which)"
        );
    }
    let sig_file = journal::signature_path(&path);
    let sig_name = sig_file
        .file_name()
        .map_or_else(|| "journal.sig".into(), |n| n.to_string_lossy());
    let which = if key.is_some() {
        "the given public key".to_owned()
    } else {
        format!(
            "the key embedded in {sig_name} (integrity only; pass --public-key to check who signed)"
        )
    };
    match &report.signature {
        None if report.broken.is_none() => println!("  not signed"),
        None => {}
        Some(SignatureCheck::Valid { records }) => {
            println!("  signature valid over all {records} record(s), checked with {which}");
        }
        Some(SignatureCheck::RecordsAfterSignedHead { signed, present }) => println!(
            "  SIGNATURE covers {signed} record(s) but the journal holds {present}: records were appended after signing"
        ),
        Some(SignatureCheck::Truncated { signed, present }) => println!(
            "  SIGNATURE covers {signed} record(s) but only {present} remain: records were removed from the end"
        ),
        Some(SignatureCheck::HeadMismatch) => {
            println!("  SIGNATURE does not match the journal's records");
        }
        Some(SignatureCheck::Invalid(why)) => println!("  SIGNATURE INVALID: {why}"),
    }
    let seal_ok = if of_a_run && report.broken.is_none() {
        check_seal(&path, &report.records)
    } else {
        true
    };
    let signature_ok = matches!(report.signature, None | Some(SignatureCheck::Valid { .. }));
    if key.is_some() && report.signature.is_none() && report.broken.is_none() {
        println!("  a public key was given but there is no {sig_name} to check");
        return Ok(ExitStatus::ObjectivesMissed);
    }
    Ok(if report.intact() && signature_ok && seal_ok {
        ExitStatus::Success
    } else {
        ExitStatus::ObjectivesMissed
    })
}

/// Checks the files of the journal's folder against its last seal and says how each stands;
/// whether they all are as sealed.
fn check_seal(journal: &std::path::Path, records: &[serde_json::Value]) -> bool {
    use crate::journal::seal::{self, FileState};
    let dir = journal
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let Some(check) = seal::check(dir, records) else {
        println!(
            "  files: not sealed: the figures of this folder are not bound to the journal (a run that did not end, or made before seals)"
        );
        return true;
    };
    for (file, state) in &check.files {
        match state {
            FileState::AsSealed => {}
            FileState::Changed => println!(
                "  FILE CHANGED: {file} is not what record {} sealed: its figures were edited after the run",
                check.seq
            ),
            FileState::Missing => println!(
                "  FILE MISSING: {file}, sealed by record {}, is gone",
                check.seq
            ),
        }
    }
    for file in &check.unsealed {
        println!(
            "  FILE NOT SEALED: {file} was added after record {} sealed the folder",
            check.seq
        );
    }
    if check.holds() {
        println!(
            "  files: all {} as sealed by record {} ({})",
            check.files.len(),
            check.seq,
            check.reason
        );
    }
    check.holds()
}
