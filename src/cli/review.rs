//! `firedrill review DIR`: lists a results folder's findings with their reviews, or records
//! one finding's owner, due date and decision in the folder's signed review journal and
//! renders the reports again.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::ExitStatus;
use crate::report::write::{ReviewTarget, WriteError, rerender, review_target};
use crate::review::{self, Decision, Due, ReviewError, ReviewRecord, ReviewState};
use crate::time::Timestamp;

/// Output formats of the listing.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Table,
    /// One JSON document.
    Json,
}

/// Arguments of `firedrill review`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A results folder: a run's (with result.json) or a suite's (with suite.json).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The finding to record a decision for, by its id (as the listing shows it).
    #[arg(long, value_name = "ID")]
    finding: Option<String>,
    /// Who owns the finding: a person or a team.
    #[arg(long, value_name = "NAME")]
    owner: Option<String>,
    /// By when the decision is carried out or looked at again.
    #[arg(long, value_name = "YYYY-MM-DD")]
    due: Option<String>,
    /// What was decided: accept, fix or risk-accept.
    #[arg(long, value_name = "DECISION")]
    decision: Option<String>,
    /// Why, in a sentence.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Sign the review journal's new head (review.sig) with this ed25519 PKCS#8 PEM key,
    /// as `firedrill run` signs its journal.
    #[arg(long, value_name = "FILE", env = "FIREDRILL_SIGN_KEY")]
    sign_key: Option<PathBuf>,
    /// Time-stamp the run journal's new seal of the regenerated reports with this RFC 3161
    /// time-stamping authority, as `firedrill run --timestamp-url` does.
    #[arg(long, value_name = "URL", env = "FIREDRILL_TIMESTAMP_URL")]
    timestamp_url: Option<String>,
    /// Output format of the listing.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Render the reports again with this run history, as `firedrill report --history`
    /// does (read only).
    #[arg(long, value_name = "DB")]
    history: Option<PathBuf>,
}

/// Bad input: said on standard error, exit 2, nothing written.
macro_rules! refuse {
    ($($arg:tt)*) => {{
        say!("error: {}", format!($($arg)*));
        return Ok(ExitStatus::InvalidInput);
    }};
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let history = match super::history::read_for_scoring(args.history.as_deref())? {
        Ok(history) => history,
        Err(status) => return Ok(status),
    };
    let target = match review_target(&args.dir) {
        Ok(target) => target,
        Err(error) if error.is_user_input() || matches!(error, WriteError::Read(..)) => {
            refuse!("{}", crate::error::chain(&error))
        }
        Err(error) => return Err(error.into()),
    };
    let given = [
        ("--finding", args.finding.is_some()),
        ("--owner", args.owner.is_some()),
        ("--due", args.due.is_some()),
        ("--decision", args.decision.is_some()),
    ];
    if given.iter().all(|(_, is)| !is) {
        if args.note.is_some() {
            refuse!(
                "--note is part of a decision: give --finding, --owner, --due and --decision with it"
            );
        }
        return list(&args, &target);
    }
    let missing: Vec<&str> = given
        .iter()
        .filter(|(_, is)| !is)
        .map(|(flag, _)| *flag)
        .collect();
    if !missing.is_empty() {
        refuse!(
            "a decision needs --finding, --owner, --due and --decision; missing {}",
            missing.join(", ")
        );
    }
    let (Some(finding), Some(owner), Some(due), Some(decision)) =
        (&args.finding, &args.owner, &args.due, &args.decision)
    else {
        refuse!("a decision needs --finding, --owner, --due and --decision");
    };
    if !target.findings.iter().any(|f| &f.id == finding) {
        let ids: Vec<&str> = target.findings.iter().map(|f| f.id.as_str()).collect();
        refuse!(
            "{}: no finding `{finding}`; its findings are: {}",
            args.dir.display(),
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        );
    }
    if let Some(url) = &args.timestamp_url
        && let Err(error) = crate::journal::timestamp::check_url(url)
    {
        refuse!("--timestamp-url: {error}");
    }
    let due: Due = match due.parse() {
        Ok(due) => due,
        Err(error) => refuse!("--due: {error}"),
    };
    let decision: Decision = match decision.parse() {
        Ok(decision) => decision,
        Err(error) => refuse!("--decision: {error}"),
    };
    let mut record = match ReviewRecord::new(
        &target.subject,
        finding,
        owner,
        due,
        decision,
        args.note.as_deref(),
    ) {
        Ok(record) => record,
        Err(error @ (ReviewError::NoteControl | ReviewError::NoteTooLong(_))) => {
            refuse!("--note: {error}")
        }
        Err(error) => refuse!("--owner: {error}"),
    };
    record.evidence_head = target.evidence_head.clone();
    let recorded = match review::record(&args.dir, &record, args.sign_key.as_deref()) {
        Ok(recorded) => recorded,
        Err(error) if error.is_user_input() => refuse!("{}", crate::error::chain(&error)),
        Err(error) => return Err(error).context("cannot record the review"),
    };
    println!(
        "{}: recorded {}: {} (record {} of {}{})",
        args.dir.display(),
        record.finding,
        record.describe(Timestamp::now()),
        recorded.seq,
        review::REVIEW_FILE,
        if recorded.signed {
            ", signed in review.sig"
        } else {
            ""
        }
    );
    let report = rerender(
        &args.dir,
        history.as_ref(),
        "reports written again with a review",
        crate::journal::seal::Sealing {
            sign_key: args.sign_key.as_deref(),
            timestamp_url: args.timestamp_url.as_deref(),
        },
    ).context("the review is recorded, but the reports could not be rendered again (run `firedrill report DIR`)")?;
    let covered = match &report.reviews {
        ReviewState::Recorded(reviews) => target
            .findings
            .iter()
            .filter(|f| reviews.of_finding(&f.id).is_some())
            .count(),
        ReviewState::Broken { .. } => 0,
    };
    println!(
        "{covered} of {} findings reviewed; wrote scorecard.md, junit.xml and report.html",
        target.findings.len()
    );
    Ok(ExitStatus::Success)
}

/// Lists the findings with their reviews; a review journal that does not verify is said,
/// and exits 2 after the listing.
fn list(args: &Args, target: &ReviewTarget) -> anyhow::Result<ExitStatus> {
    let state = ReviewState::of(&args.dir, &target.subject);
    let now = Timestamp::now();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let findings: Vec<serde_json::Value> = target
                .findings
                .iter()
                .map(|f| {
                    let review = state.of_finding(&f.id);
                    serde_json::json!({
                        "id": f.id,
                        "severity": f.severity,
                        "what": f.what,
                        "action": f.action,
                        "review": review,
                        "overdue": review.is_some_and(|r| r.overdue(now)),
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "subject": target.subject,
                "reviewJournal": match state.broken() {
                    Some(detail) => serde_json::json!({"intact": false, "detail": detail}),
                    None => serde_json::json!({"intact": true}),
                },
                "findings": findings,
            });
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => {
            if target.findings.is_empty() {
                let _ = writeln!(out, "{}: no findings", args.dir.display());
            }
            for f in &target.findings {
                let review = state
                    .of_finding(&f.id)
                    .map_or_else(|| "no owner yet".to_owned(), |r| r.describe(now));
                let _ = writeln!(out, "{} [{}] {}", f.id, severity(f.severity), f.what);
                let _ = writeln!(out, "  review: {review}");
            }
        }
    }
    if let Some(detail) = state.broken() {
        say!("error: {detail}; its reviews do not count");
        return Ok(ExitStatus::InvalidInput);
    }
    Ok(ExitStatus::Success)
}

fn severity(severity: review::Severity) -> &'static str {
    match severity {
        review::Severity::Critical => "critical",
        review::Severity::High => "high",
        review::Severity::Medium => "medium",
    }
}
