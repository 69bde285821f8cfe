//! Black-box tests of the command line: the schema, the shipped experiments, usage errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{demo_experiment, firedrill, marker, processes_with, shared, write_experiment};
use assert_cmd::Command;

fn cmd() -> Command {
    let mut c = Command::new(firedrill());
    c.timeout(Duration::from_secs(20));
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn experiment_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            experiment_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            found.push(path);
        }
    }
}

#[test]
fn the_committed_schemas_are_up_to_date() {
    let _guard = shared();
    for (args, file) in [
        (&["schema"][..], "docs/experiment.schema.json"),
        (&["schema", "--suite"][..], "docs/suite.schema.json"),
        (&["schema", "--schedule"][..], "docs/schedule.schema.json"),
    ] {
        let out = cmd().args(args).output().unwrap();
        assert!(out.status.success());
        let committed = std::fs::read_to_string(root().join(file)).unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            committed,
            "run `cargo run -- {} > {file}`",
            args.join(" ")
        );
    }
}

#[test]
fn every_shipped_experiment_is_valid_and_names_the_schema() {
    let _guard = shared();
    let mut files = Vec::new();
    experiment_files(&root().join("experiments"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let schema_file = if text.contains("\nkind: Suite") {
            "docs/suite.schema.json"
        } else {
            "docs/experiment.schema.json"
        };
        assert!(
            first.starts_with("# yaml-language-server: $schema=") && first.ends_with(schema_file),
            "{} must start with the schema line",
            file.display()
        );
        let schema = first.trim_start_matches("# yaml-language-server: $schema=");
        assert!(
            file.parent().unwrap().join(schema).is_file(),
            "{} points at a missing schema",
            file.display()
        );
        cmd().arg("validate").arg(&file).assert().success();
        // Kubernetes experiments are planned against a cluster unless told otherwise;
        // tests/kubernetes_plan.rs plans them against the fake API server.
        let offline: &[&str] = if text.contains("platform: kubernetes") {
            &["--offline"]
        } else {
            &[]
        };
        cmd()
            .arg("plan")
            .args(offline)
            .arg(&file)
            .assert()
            .success();
    }
}

#[test]
fn plan_describes_the_schedule_and_starts_nothing() {
    let _guard = shared();
    let out = cmd()
        .args(["plan", "experiments/quickstart.yaml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("inject freeze-all"), "{text}");
    assert!(text.contains("revert freeze-all (SIGCONT)"), "{text}");
    assert!(text.contains("nothing was started or changed"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let _guard = shared();
    cmd().args(["run"]).assert().code(2);
    cmd()
        .args(["run", "--iterations", "0", "x.yaml"])
        .assert()
        .code(2);
    cmd().args(["no-such-command"]).assert().code(2);
    cmd()
        .args(["run", "/no/such/experiment.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/no/such/experiment.yaml"));
}

#[test]
fn completions_are_generated() {
    let _guard = shared();
    let out = cmd().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("firedrill"));
}

#[test]
fn logs_to_a_file_hold_no_colour_codes() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("plain-log");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 100ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(
            &marker,
            1,
            "20ms",
            faults,
            // The webhook's listener is logged at info.
            "  detection:\n    timeout: 300ms\n    signals:\n      - {name: pager, type: webhook, match: {alertname: Never}}\n  recovery: {stableFor: 100ms}",
        ),
    );
    // Standard error is a pipe here, as a file would be: no escape codes, whatever the level.
    let output = std::process::Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(" DEBUG ") || stderr.contains(" INFO "),
        "no log line to look at: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(processes_with(&marker).is_empty());
}
