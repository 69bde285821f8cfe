//! `firedrill verify JOURNAL`: checks the evidence journal's chain, signature and
//! time-stamp.

use std::path::PathBuf;

use super::ExitStatus;
use crate::journal::{self, Coverage, SignatureCheck, TimestampCheck};

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
    /// Check the signature of the time-stamp token (`journal.tst`) with this certificate of
    /// the time-stamping authority (PEM or DER); without it, only what the token covers is
    /// checked.
    #[arg(long, value_name = "CERT")]
    tsa_cert: Option<PathBuf>,
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
    let tsa_cert = match &args.tsa_cert {
        Some(p) => match journal::timestamp::read_certificate(p) {
            Ok(c) => Some(c),
            Err(e) => {
                say!("error: --tsa-cert: {}", crate::error::chain(&e));
                return Ok(ExitStatus::InvalidInput);
            }
        },
        None => None,
    };
    let mut report = match journal::verify(&path, key.as_ref()) {
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
    if tsa_cert.is_some() && report.broken.is_none() {
        report.timestamp = journal::check_timestamp(&path, &report.records, tsa_cert.as_ref());
    }
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
    let token_file = journal::timestamp::token_path(&path);
    let token_name = token_file
        .file_name()
        .map_or_else(|| "journal.tst".into(), |n| n.to_string_lossy());
    if report.broken.is_none() {
        print_timestamp(report.timestamp.as_ref(), &token_name);
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
    if tsa_cert.is_some() && report.timestamp.is_none() && report.broken.is_none() {
        println!("  a TSA certificate was given but there is no {token_name} to check");
        return Ok(ExitStatus::ObjectivesMissed);
    }
    Ok(if report.intact() && signature_ok && seal_ok {
        ExitStatus::Success
    } else {
        ExitStatus::ObjectivesMissed
    })
}

/// Says what the time-stamp token covers, when the TSA says it was made, and whether its
/// signature was checked.
fn print_timestamp(check: Option<&TimestampCheck>, token_name: &str) {
    let Some(check) = check else {
        println!("  not time-stamped");
        return;
    };
    let TimestampCheck::Read {
        gen_time,
        tsa,
        coverage,
        signature,
    } = check
    else {
        if let TimestampCheck::Unreadable(why) = check {
            println!("  TIMESTAMP UNREADABLE: {token_name}: {why}");
        }
        return;
    };
    let by = tsa.as_deref().unwrap_or("a TSA that does not name itself");
    match coverage {
        Coverage::All { records } => {
            println!("  time-stamped over all {records} record(s) at {gen_time} by {by}")
        }
        Coverage::Earlier { stamped, present } => println!(
            "  TIMESTAMP MISMATCH: {token_name} covers {stamped} record(s) (time-stamped at {gen_time} by {by}) but the journal holds {present}: records were appended after the time-stamp"
        ),
        Coverage::None => println!(
            "  TIMESTAMP MISMATCH: {token_name} (time-stamped at {gen_time} by {by}) matches no head of the journal: records were changed or removed after the time-stamp"
        ),
    }
    match signature {
        None => println!(
            "  the time-stamp token's signature was not checked (pass --tsa-cert to check it)"
        ),
        Some(Ok(())) => {
            println!("  time-stamp token signature valid, checked with the given TSA certificate")
        }
        Some(Err(why)) => println!("  TIMESTAMP SIGNATURE INVALID: {why}"),
    }
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
