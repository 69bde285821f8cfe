//! Black-box tests of `firedrill review`: a decision recorded for a finding of a real
//! quick-start result shows on the re-rendered reports and evidences Evidence &
//! traceability; a signed review journal verifies; every bad input exits 2 and writes
//! nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::common::*;

const RESULT: &str = include_str!("../fixtures/results/quickstart-result.json");

/// A results folder of the quick start: its real result.json, and a journal that verifies
/// and ends with the run's last record, so that the page can be trusted.
fn results_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("result.json"), RESULT).unwrap();
    let journal = firedrill::journal::Journal::create(&dir.path().join("journal.jsonl")).unwrap();
    journal.record("run-started", json!({"experiment": "quickstart"}), false);
    journal.record("run-finished", json!({"status": "passed"}), false);
    dir
}

fn firedrill_in(args: &[&str]) -> std::process::Output {
    Command::new(firedrill())
        .args(args)
        .env_remove("FIREDRILL_SIGN_KEY")
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap()
}

fn review(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["review", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    firedrill_in(&args)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The folder's findings as `firedrill review DIR --format json` lists them.
fn listed(dir: &Path) -> Value {
    let out = review(dir, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn finding_ids(dir: &Path) -> Vec<String> {
    listed(dir)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every file of a folder and its bytes, to tell that nothing was written.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// The line of scorecard.md's capability profile for a capability.
fn profile_row(markdown: &str, capability: &str) -> String {
    markdown
        .lines()
        .find(|l| l.starts_with(&format!("| {capability} |")))
        .unwrap_or_else(|| panic!("no row for {capability} in\n{markdown}"))
        .to_owned()
}

fn keys() -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
    (
        dir.join("test-ed25519.pem"),
        dir.join("test-ed25519.pub.pem"),
    )
}

#[test]
fn a_recorded_decision_shows_on_the_reports_and_evidences_traceability() {
    let _guard = shared();
    let dir = results_folder();
    let out = firedrill_in(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = std::fs::read_to_string(dir.path().join("scorecard.md")).unwrap();
    assert!(
        profile_row(&before, "Evidence & traceability").contains("not evidenced"),
        "{before}"
    );
    assert!(before.contains("**Owner:** not assigned yet."), "{before}");

    let doc = listed(dir.path());
    assert_eq!(doc["subject"], "1796632013-193ed956");
    let ids = finding_ids(dir.path());
    assert!(ids.len() >= 2, "{ids:?}");
    assert!(doc["findings"][0]["review"].is_null());

    let out = review(
        dir.path(),
        &[
            "--finding",
            &ids[0],
            "--owner",
            "Ops team",
            "--due",
            "2099-01-31",
            "--decision",
            "fix",
            "--note",
            "alerting first",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "recorded {}: owner Ops team, due 2099-01-31, fix",
            ids[0]
        )),
        "{}",
        stdout(&out)
    );

    let records = firedrill::journal::read_verified(&dir.path().join("review.jsonl")).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["kind"], "finding-reviewed");
    let data = &records[0]["data"];
    assert_eq!(data["finding"], ids[0].as_str());
    assert_eq!(data["decision"], "fix");
    assert_eq!(data["due"], "2099-01-31");
    assert_eq!(data["subject"], "1796632013-193ed956");
    // Tied to the run's evidence: the head of its journal when the review was made, before
    // the seal of the pages the review wrote again.
    let journal = firedrill::journal::read_verified(&dir.path().join("journal.jsonl")).unwrap();
    let (last, before) = (&journal[journal.len() - 1], &journal[journal.len() - 2]);
    assert_eq!(last["kind"], "files-sealed");
    assert_eq!(data["evidenceHead"], before["hash"]);

    let after = std::fs::read_to_string(dir.path().join("scorecard.md")).unwrap();
    let row = profile_row(&after, "Evidence & traceability");
    assert!(!row.contains("not evidenced"), "{row}");
    assert!(after.contains("findings-reviewed"), "{after}");
    assert!(after.contains("time-to-review"), "{after}");
    assert!(
        after.contains("**Owner:** Ops team, due 2099-01-31 (fix)."),
        "{after}"
    );
    assert!(after.contains("Review: owner Ops team, due 2099-01-31, fix."));
    assert!(after.contains("Review: no owner yet."), "{after}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("Owner: Ops team, due 2099-01-31 (fix)."));

    // The listing shows it; a later decision for the same finding wins.
    let doc = listed(dir.path());
    assert_eq!(doc["findings"][0]["review"]["owner"], "Ops team");
    let out = review(
        dir.path(),
        &[
            "--finding",
            &ids[0],
            "--owner",
            "Platform",
            "--due",
            "2020-01-31",
            "--decision",
            "fix",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = review(dir.path(), &[]);
    let text = stdout(&out);
    assert!(
        text.contains("review: owner Platform, due 2020-01-31, fix, overdue"),
        "{text}"
    );
    assert!(!text.contains("Ops team"), "{text}");
    let after = std::fs::read_to_string(dir.path().join("scorecard.md")).unwrap();
    assert!(
        after.contains("**Owner:** Platform, due 2020-01-31 (fix), overdue."),
        "{after}"
    );
}

#[test]
fn a_signed_review_journal_verifies_and_stays_signed() {
    let _guard = shared();
    let dir = results_folder();
    let id = finding_ids(dir.path()).remove(0);
    let (key, public) = keys();
    let decide = |owner: &str, key: Option<&Path>| {
        let mut args = vec![
            "--finding",
            id.as_str(),
            "--owner",
            owner,
            "--due",
            "2099-01-31",
            "--decision",
            "risk-accept",
        ];
        if let Some(key) = key {
            args.extend(["--sign-key", key.to_str().unwrap()]);
        }
        review(dir.path(), &args)
    };
    let out = decide("Risk owner", Some(&key));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("signed"), "{}", stdout(&out));
    assert!(dir.path().join("review.sig").is_file());

    let journal = dir.path().join("review.jsonl");
    let verify = |journal: &Path| {
        firedrill_in(&[
            "verify",
            journal.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
        ])
    };
    let out = verify(&journal);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("signature valid over all 1 record(s)"),
        "{}",
        stdout(&out)
    );

    // Adding to a signed journal without the key would void its signature: refused.
    let before = contents(dir.path());
    let out = decide("Someone else", None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is signed"), "{}", stderr(&out));
    assert_eq!(contents(dir.path()), before);

    // A second signed decision moves the signed head.
    let out = decide("Risk owner", Some(&key));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = verify(&journal);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("all 2 record(s)"), "{}", stdout(&out));

    // Changed after signing: verify fails and the pages say the reviews do not count.
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replace("Risk owner", "Nobody")).unwrap();
    let out = verify(&journal);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = firedrill_in(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("scorecard.md")).unwrap();
    assert!(
        page.contains("**Reviews do not count:** review.jsonl does not verify"),
        "{page}"
    );
    assert!(
        profile_row(&page, "Evidence & traceability").contains("not evidenced"),
        "{page}"
    );
}

#[test]
fn every_bad_input_exits_2_and_writes_nothing() {
    let _guard = shared();
    let dir = results_folder();
    let out = firedrill_in(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = finding_ids(dir.path()).remove(0);
    let long = "x".repeat(201);
    let full = |finding: &str, owner: &str, due: &str, decision: &str| -> Vec<String> {
        [
            "--finding",
            finding,
            "--owner",
            owner,
            "--due",
            due,
            "--decision",
            decision,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            full("gate:nothing:like-this", "Ops", "2099-01-31", "fix"),
            "no finding `gate:nothing:like-this`; its findings are: ",
        ),
        (
            full(&id, "", "2099-01-31", "fix"),
            "--owner: the owner is empty",
        ),
        (full(&id, "   ", "2099-01-31", "fix"), "the owner is empty"),
        (
            full(&id, "Ops\u{1b}[31m", "2099-01-31", "fix"),
            "--owner: the owner holds a control character",
        ),
        (
            full(&id, "Ops\nteam", "2099-01-31", "fix"),
            "control character",
        ),
        (full(&id, &long, "2099-01-31", "fix"), "201 characters long"),
        (
            full(&id, "Ops", "31/01/2099", "fix"),
            "--due: `31/01/2099` is not a date: expected YYYY-MM-DD",
        ),
        (full(&id, "Ops", "2099-02-30", "fix"), "--due: `2099-02-30`"),
        (
            full(&id, "Ops", "2099-01-31", "ignore"),
            "--decision: unknown decision `ignore`",
        ),
        (
            vec![
                "--finding".into(),
                id.clone(),
                "--owner".into(),
                "Ops".into(),
            ],
            "missing --due, --decision",
        ),
        (
            vec!["--decision".into(), "fix".into()],
            "missing --finding, --owner, --due",
        ),
        (
            vec!["--note".into(), "why".into()],
            "--note is part of a decision",
        ),
    ];
    let before = contents(dir.path());
    for (args, expected) in &cases {
        let mut argv = vec!["review".to_owned(), dir.path().to_str().unwrap().to_owned()];
        argv.extend(args.iter().cloned());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = firedrill_in(&argv);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: expected `{expected}` in {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        assert_eq!(contents(dir.path()), before, "{args:?} wrote something");
    }
    // The unknown finding's message lists the ids that do exist.
    let out = review(
        dir.path(),
        &full("nope", "Ops", "2099-01-31", "fix")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));

    // A key that is not a key: refused before anything is written.
    let not_a_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_a_key.path(), "not a key").unwrap();
    let mut args = full(&id, "Ops", "2099-01-31", "fix");
    args.extend([
        "--sign-key".to_owned(),
        not_a_key.path().display().to_string(),
    ]);
    let out = review(
        dir.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
    assert_eq!(contents(dir.path()), before);

    // A folder that is not a results folder.
    let empty = tempfile::tempdir().unwrap();
    let out = review(
        empty.path(),
        &full(&id, "Ops", "2099-01-31", "fix")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("holds neither result.json nor suite.json"),
        "{}",
        stderr(&out)
    );
    assert!(contents(empty.path()).is_empty());

    // A broken review journal: nothing added to it, the reports untouched.
    let ok = full(&id, "Ops", "2099-01-31", "fix");
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    let out = review(dir.path(), &ok);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let journal = dir.path().join("review.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replace("\"Ops\"", "\"Eve\"")).unwrap();
    let before = contents(dir.path());
    let out = review(dir.path(), &ok);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("review.jsonl is broken, so its reviews do not count"),
        "{}",
        stderr(&out)
    );
    assert_eq!(contents(dir.path()), before);
    // Listing says so too.
    let out = review(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("review.jsonl does not verify"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("review: no owner yet"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_suite_folder_has_reviews_of_its_own() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let run = results_folder();
    let run_dir = dir.path().join("01-quickstart");
    std::fs::create_dir(&run_dir).unwrap();
    for file in ["result.json", "journal.jsonl"] {
        std::fs::copy(run.path().join(file), run_dir.join(file)).unwrap();
    }
    let result: Value = serde_json::from_str(RESULT).unwrap();
    let suite = json!({
        "schemaVersion": 1,
        "name": "release-gate",
        "status": "passed",
        "startedAt": result["startedAt"],
        "finishedAt": result["finishedAt"],
        "runs": [{"dir": "01-quickstart", "experiment": "quickstart", "status": "passed"}],
        "scorecardInput": result["scorecardInput"],
        "files": {},
    });
    std::fs::write(dir.path().join("suite.json"), suite.to_string()).unwrap();

    let doc = listed(dir.path());
    let subject = doc["subject"].as_str().unwrap();
    assert!(subject.starts_with("suite:release-gate:"), "{subject}");
    let id = doc["findings"][0]["id"].as_str().unwrap().to_owned();
    let out = review(
        dir.path(),
        &[
            "--finding",
            &id,
            "--owner",
            "Release manager",
            "--due",
            "2099-06-30",
            "--decision",
            "accept",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = firedrill::journal::read_verified(&dir.path().join("review.jsonl")).unwrap();
    assert_eq!(records[0]["data"]["subject"], subject);
    // A suite has no journal of its own to tie the review to.
    assert!(records[0]["data"].get("evidenceHead").is_none());

    let page = std::fs::read_to_string(dir.path().join("scorecard.md")).unwrap();
    assert!(
        page.contains("Release manager, due 2099-06-30 (accept)"),
        "{page}"
    );
    assert!(
        !profile_row(&page, "Evidence & traceability").contains("not evidenced"),
        "{page}"
    );
    // The run's own folder is another subject: its page has no owner.
    let own = std::fs::read_to_string(run_dir.join("scorecard.md")).unwrap();
    assert!(!own.contains("Release manager"), "{own}");
    assert!(
        profile_row(&own, "Evidence & traceability").contains("not evidenced"),
        "{own}"
    );
}
