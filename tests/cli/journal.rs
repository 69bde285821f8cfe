//! Black-box tests of the evidence journal: a signed run verifies; tampering does not.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use assert_cmd::Command;

fn keys() -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
    (
        dir.join("test-ed25519.pem"),
        dir.join("test-ed25519.pub.pem"),
    )
}

fn verify(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(firedrill())
        .arg("verify")
        .args(args)
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap()
}

#[test]
fn a_signed_run_verifies_and_every_tampering_is_caught() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("journal");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 200ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "20ms", faults, "  recovery: {stableFor: 100ms}"),
    );
    let out = dir.path().join("out");
    let (key, public) = keys();
    let output = Command::new(firedrill())
        .args(["run", "--plain", "--sign-key"])
        .arg(&key)
        .arg("--out")
        .arg(&out)
        .arg(&file)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("journal.sig").is_file());

    let ok = verify(&[out.as_os_str(), "--public-key".as_ref(), public.as_os_str()]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(
        text.contains("chain intact") && text.contains("signature valid"),
        "{text}"
    );

    let journal = out.join("journal.jsonl");
    let original = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = original.lines().collect();

    // Changed.
    std::fs::write(&journal, original.replacen("\"freeze\"", "\"fr33ze\"", 1)).unwrap();
    let r = verify(&[journal.as_os_str()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("was changed"));

    // Removed from the end: only the signature can tell.
    std::fs::write(&journal, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let r = verify(&[journal.as_os_str()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("removed from the end"));

    // Cut in the middle of a record.
    std::fs::write(&journal, &original[..original.len() - 10]).unwrap();
    let r = verify(&[journal.as_os_str()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("CUT in the middle"));

    // Intact again, but checked against another key.
    std::fs::write(&journal, &original).unwrap();
    let other = dir.path().join("other.pem");
    std::fs::write(
        &other,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let r = verify(&[
        journal.as_os_str(),
        "--public-key".as_ref(),
        other.as_os_str(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("SIGNATURE INVALID"));

    // The figures are bound to the journal: its last record seals every file stating one.
    std::fs::write(&journal, &original).unwrap();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("\"kind\":\"files-sealed\"")),
        "{}",
        lines.last().unwrap()
    );
    let r = verify(&[out.as_os_str(), "--public-key".as_ref(), public.as_os_str()]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{text}");
    assert!(text.contains("as sealed by record"), "{text}");
    let result_path = out.join("result.json");
    let result_text = std::fs::read_to_string(&result_path).unwrap();
    std::fs::write(
        &result_path,
        result_text.replacen("\"passed\"", "\"failed\"", 1),
    )
    .unwrap();
    let r = verify(&[out.as_os_str()]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains("FILE CHANGED: result.json"), "{text}");
    // Edited figures are not made into new pages (and sealed again).
    let report = |extra: &[&std::ffi::OsStr]| {
        Command::new(firedrill())
            .arg("report")
            .arg(&out)
            .args(extra)
            .env_remove("FIREDRILL_SIGN_KEY")
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap()
    };
    let r = report(&[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("result.json is not what the journal sealed"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::write(&result_path, &result_text).unwrap();
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&page, html.replacen("<body", "<body data-edited", 1)).unwrap();
    let r = verify(&[out.as_os_str()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("FILE CHANGED: report.html"));
    // Pages written again are sealed again; unsigned, the signature no longer covers the
    // journal's end, and both commands say so.
    let r = report(&[]);
    assert_eq!(r.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&r.stderr).contains("run again with --sign-key"));
    let r = verify(&[out.as_os_str()]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(
        text.contains("appended after signing") && text.contains("reports written again"),
        "{text}"
    );
    let r = report(&["--sign-key".as_ref(), key.as_os_str()]);
    assert_eq!(r.status.code(), Some(0));
    let r = verify(&[out.as_os_str(), "--public-key".as_ref(), public.as_os_str()]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{text}");
    assert!(
        text.contains("signature valid") && text.contains("as sealed by record"),
        "{text}"
    );
    // The JUnit file a CI gate reads is sealed too.
    let junit = out.join("junit.xml");
    let xml = std::fs::read_to_string(&junit).unwrap();
    std::fs::write(&junit, xml.replacen("failures=\"", "failures=\"0", 1)).unwrap();
    let r = verify(&[out.as_os_str()]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(text.contains("FILE CHANGED: junit.xml"), "{text}");
    std::fs::write(&junit, xml).unwrap();

    // Unreadable input is a usage error.
    let r = verify(&[dir.path().join("nothing.jsonl").as_os_str()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(processes_with(&marker).is_empty());
}
