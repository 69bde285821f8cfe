//! Suites (several experiments scored together) and `firedrill report`, through the binary.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use crate::experiment::Experiment;

/// A demo drill named `name` whose time to recover must be under `objective_ms`.
fn drill(marker: &str, name: &str, objective_ms: u32) -> String {
    Experiment::demo(marker, 2)
        .name(name)
        .faults("    - {name: kill, type: process-kill, select: {mode: all, workload: web}}")
        .detection("    timeout: 5s\n    signals: [{name: monitor, type: probe-fails, probe: api, consecutive: 1}]")
        .recovery("{stableFor: 200ms, timeout: 10s}")
        .extra(&format!(
            "  objectives:\n    - {{metric: time-to-recover, percentile: 95, max: {objective_ms}ms}}"
        ))
        .yaml()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_suite_file_runs_each_experiment_and_scores_them_together() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("suite");
    write_experiment(dir.path(), "a.yaml", &drill(&marker, "alpha", 60_000));
    // The second misses its objective: the suite fails, as its worst run does.
    write_experiment(dir.path(), "b.yaml", &drill(&marker, "beta", 1));
    let suite = write_experiment(
        dir.path(),
        "suite.yaml",
        "apiVersion: firedrill.dev/v1alpha1\nkind: Suite\nmetadata: {name: release-gate}\nspec:\n  experiments: [a.yaml, b.yaml]\n  weights: {detection: 40}\n",
    );
    let out = dir.path().join("out");
    let output = run_to_end(&suite, &out, Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(processes_with(&marker).is_empty(), "processes left behind");

    for (folder, name) in [("01-alpha", "alpha"), ("02-beta", "beta")] {
        let run = out.join(folder);
        assert_eq!(
            read_json(&run.join("result.json"))["experiment"]["name"],
            name
        );
        for file in ["journal.jsonl", "junit.xml", "scorecard.md", "report.html"] {
            assert!(run.join(file).exists(), "{folder}/{file} missing");
        }
    }
    let suite = read_json(&out.join("suite.json"));
    assert_eq!(suite["name"], "release-gate");
    assert_eq!(suite["status"], "failed");
    assert_eq!(suite["runs"][1]["status"], "failed");
    assert_eq!(suite["scorecardInput"]["weights"]["detection"], 40.0);
    let sources: std::collections::BTreeSet<&str> = suite["scorecard"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["metrics"].as_array().unwrap())
        .filter_map(|m| m["source"].as_str())
        .collect();
    assert_eq!(sources.into_iter().collect::<Vec<_>>(), ["alpha", "beta"]);
    assert_eq!(suite["scorecard"]["formulaVersion"], "2.2.0");

    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let elements = xml_elements(&junit);
    assert_eq!(elements.iter().filter(|e| *e == "testsuite").count(), 2);
    assert_eq!(
        elements.iter().filter(|e| *e == "failure").count(),
        1,
        "{junit}"
    );
    let markdown = std::fs::read_to_string(out.join("scorecard.md")).unwrap();
    assert!(
        markdown.contains("# Drill scorecard: release-gate"),
        "{markdown}"
    );
    assert!(markdown.contains("| alpha | passed |"), "{markdown}");
    assert!(markdown.contains("| beta | failed |"), "{markdown}");
}

#[test]
fn several_files_make_a_suite_and_report_renders_it_again() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("files");
    let a = write_experiment(dir.path(), "a.yaml", &drill(&marker, "alpha", 60_000));
    let b = write_experiment(dir.path(), "b.yaml", &drill(&marker, "beta", 60_000));
    let out = dir.path().join("out");
    let output = assert_cmd::Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(&out)
        .arg(&a)
        .arg(&b)
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let suite = read_json(&out.join("suite.json"));
    assert_eq!(suite["runs"].as_array().unwrap().len(), 2);
    // The journals are preconditions of the page, checked per experiment, never a score.
    let held = |suite: &serde_json::Value, source: &str| -> Vec<bool> {
        suite["scorecard"]["preconditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["source"] == source)
            .map(|p| p["held"].as_bool().unwrap())
            .collect()
    };
    assert!(!held(&suite, "beta").is_empty());
    assert!(
        held(&suite, "beta").iter().all(|h| *h),
        "{}",
        suite["scorecard"]
    );
    assert_ne!(suite["scorecard"]["overall"]["verdict"], "untrusted");

    // The reports come back from result.json and the journals alone.
    for file in ["scorecard.md", "junit.xml", "01-alpha/scorecard.md"] {
        std::fs::remove_file(out.join(file)).unwrap();
    }
    // A journal changed after the run: the evidence no longer holds, and the report says so.
    let journal = out.join("02-beta/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(
        &journal,
        text.replacen(
            "\"kind\":\"fault-injected\"",
            "\"kind\":\"fault-injectex\"",
            1,
        ),
    )
    .unwrap();
    let output = assert_cmd::Command::new(firedrill())
        .arg("report")
        .arg(&out)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("02-beta/journal.jsonl"), "{stderr}");
    for file in ["scorecard.md", "junit.xml", "01-alpha/scorecard.md"] {
        assert!(out.join(file).exists(), "{file} not rendered again");
    }
    let suite = read_json(&out.join("suite.json"));
    assert!(
        held(&suite, "beta").contains(&false),
        "a doctored journal still holds"
    );
    // A doctored journal voids the page: no grade, no partial figure.
    let overall = &suite["scorecard"]["overall"];
    assert_eq!(overall["verdict"], "untrusted", "{overall}");
    assert!(overall["score"].is_null() && overall.get("partialScore").is_none());
    let markdown = std::fs::read_to_string(out.join("scorecard.md")).unwrap();
    assert!(
        markdown.contains("**this scorecard cannot be trusted**"),
        "{markdown}"
    );
    assert!(
        markdown.contains("This page cannot be trusted:"),
        "{markdown}"
    );
}

#[test]
fn report_refuses_a_folder_without_results() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let output = assert_cmd::Command::new(firedrill())
        .arg("report")
        .arg(dir.path())
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("neither result.json nor suite.json"));

    std::fs::write(dir.path().join("result.json"), "{\"schemaVersion\": 1}").unwrap();
    let output = assert_cmd::Command::new(firedrill())
        .arg("report")
        .arg(dir.path())
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a firedrill result"), "{stderr}");
    assert!(stderr.contains("missing field"), "{stderr}");

    // A suite.json that points its runs outside its own folder is refused, not written to.
    std::fs::remove_file(dir.path().join("result.json")).unwrap();
    for bad in ["/tmp", "../elsewhere", "a/b", ""] {
        let suite = serde_json::json!({
            "schemaVersion": 1, "name": "s", "status": "passed",
            "startedAt": "2026-11-28T00:00:00Z", "finishedAt": "2026-11-28T00:00:01Z",
            "runs": [{"dir": bad, "experiment": "x", "status": "passed"}],
            "scorecardInput": {"capabilityMetrics": [], "runs": 0, "trendsTracked": false,
                               "scheduled": false, "weights": {}},
            "files": {}
        });
        std::fs::write(dir.path().join("suite.json"), suite.to_string()).unwrap();
        let output = assert_cmd::Command::new(firedrill())
            .arg("report")
            .arg(dir.path())
            .timeout(Duration::from_secs(10))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("is not a sub-folder"), "{bad}: {stderr}");
    }
}

#[test]
fn a_bad_suite_stops_before_anything_runs() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("badsuite");
    write_experiment(dir.path(), "a.yaml", &drill(&marker, "alpha", 60_000));
    let suite = write_experiment(
        dir.path(),
        "suite.yaml",
        "apiVersion: firedrill.dev/v1alpha1\nkind: Suite\nmetadata: {name: gate}\nspec:\n  experiments: [a.yaml, missing.yaml]\n  wieghts: {}\n",
    );
    let out = dir.path().join("out");
    let output = run_to_end(&suite, &out, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("suite.yaml:6:3"), "{stderr}");
    assert!(stderr.contains("did you mean `weights`"), "{stderr}");
    assert!(!out.exists(), "nothing may run");

    std::fs::write(
        &suite,
        "apiVersion: firedrill.dev/v1alpha1\nkind: Suite\nmetadata: {name: gate}\nspec:\n  experiments: [a.yaml, missing.yaml]\n",
    )
    .unwrap();
    for command in ["run", "validate"] {
        let output = assert_cmd::Command::new(firedrill())
            .arg(command)
            .arg(&suite)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("spec.experiments[1]: cannot read"),
            "{command}: {stderr}"
        );
    }
    assert!(!out.exists(), "nothing may run");
    assert!(processes_with(&marker).is_empty());
}
