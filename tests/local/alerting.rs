//! Detection through alerts: the real Prometheus and Alertmanager (Debian's `prometheus` and
//! `prometheus-alertmanager`, found on PATH) running experiments/local/alerting.yaml end to
//! end, and the demo's own monitor running experiments/local/monitored.yaml.
//!
//! Without the programs the Prometheus test says it was skipped and why; with `CI` set it
//! fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

/// Every interval of the pipeline in the experiment: probe traffic, scrape, evaluation,
/// Alertmanager's group interval and the signals' polls, each 100 ms.
const PIPELINE_INTERVALS: Duration = Duration::from_millis(400);

/// Room for process scheduling on a loaded two-core machine on top of the intervals.
const SLACK: Duration = Duration::from_millis(2600);

/// experiments/local/alerting.yaml with every request of the fault failing (so that the
/// first failed request comes at the first probe after injection, not by chance) and its
/// files named by absolute path, written into `dir`.
fn experiment(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(repo_root().join("experiments/local/alerting.yaml")).unwrap();
    assert!(text.contains("rate: 0.5"), "the fault's rate moved");
    let examples = repo_root().join("examples/");
    let text = text
        .replace("rate: 0.5", "rate: 1.0")
        .replace("../../examples/", &examples.display().to_string());
    write_experiment(dir, "alerting.yaml", &text)
}

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn an_alert_through_prometheus_and_alertmanager_detects_the_fault() {
    if !alerting_stack_installed("detection through real alerting") {
        return;
    }
    let _quiet = alone();
    let work = tempfile::tempdir().unwrap();
    let file = experiment(work.path());
    let out = work.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let result = result(&out);
    let it = &result["iterations"][0];
    assert_eq!(it["status"], "passed", "{it}");
    let ttd = ms(&it["timeToDetectMs"]);
    let bound = (PIPELINE_INTERVALS + SLACK).as_secs_f64() * 1e3;
    assert!(
        ttd > 0.0 && ttd <= bound,
        "time to detect {ttd} ms, expected within {bound} ms of the injection"
    );

    // All three ways saw the same alert, each after the injection and within the bound.
    let events = it["events"].as_array().expect("events of the iteration");
    let offset = |kind: &str, detail: &str| {
        let event = events
            .iter()
            .find(|e| e["kind"] == kind && e["detail"].as_str().unwrap().contains(detail))
            .unwrap_or_else(|| panic!("no {kind} event with `{detail}`: {stdout}"));
        ms(&event["offsetMs"])
    };
    let injected = offset("fault-injected", "payments-flaky");
    for (way, kind, detail) in [
        ("webhook", "alert-received", "HighErrorRate matched pager"),
        ("alertmanager api", "alert-seen", "seen by alertmanager-api"),
        (
            "prometheus ALERTS",
            "alert-seen",
            "seen by prometheus-alerts",
        ),
    ] {
        let after = offset(kind, detail) - injected;
        assert!(
            after >= 0.0 && after <= bound,
            "{way} saw the alert {after} ms after the injection, expected within {bound} ms"
        );
    }
    assert!(
        ["pager", "alertmanager-api", "prometheus-alerts"]
            .contains(&it["detectedBy"].as_str().unwrap()),
        "{it}"
    );
    assert_scored_by_the_organisation(&result);
    let journal = journal(&out);
    let labels = &journal
        .iter()
        .find(|r| r["kind"] == "alert-received")
        .unwrap()["data"]["labels"];
    assert_eq!(labels["alertname"], "HighErrorRate");
    assert_eq!(labels["job"], "checkout");

    // The steady state's Prometheus probe saw the error ratio rise during the fault.
    let ratio = &it["probes"]["checkout-error-ratio"];
    assert!(ms(&ratio["fault"]["errors"]) > 0.0, "{ratio}");
    assert_eq!(ms(&ratio["baseline"]["errors"]), 0.0, "{ratio}");

    // The configuration the stack was given is kept with the logs.
    let prometheus_yml = std::fs::read_to_string(out.join("logs/prometheus.yml")).unwrap();
    assert_eq!(
        prometheus_yml.matches("- targets: [\"127.0.0.1:").count(),
        4
    );
    assert!(prometheus_yml.contains("job_name: \"checkout\""));
    let alertmanager_yml = std::fs::read_to_string(out.join("logs/alertmanager.yml")).unwrap();
    assert!(
        alertmanager_yml.contains("url: \"http://127.0.0.1:"),
        "{alertmanager_yml}"
    );

    // Nothing of the stack is left: no process, no folder.
    let pid = output_pid(&journal);
    let marker = format!("firedrill-stack-{pid}-");
    assert!(processes_with(&marker).is_empty(), "stack processes left");
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&marker))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The customers' alert as a stop condition: the drill stops mid-fault when Alertmanager
/// has it firing, and everything injected is rolled back.
#[test]
fn a_stop_condition_in_alertmanager_stops_the_drill_mid_fault_and_rolls_it_back() {
    if !alerting_stack_installed("a stop condition through real alerting") {
        return;
    }
    let _quiet = alone();
    let work = tempfile::tempdir().unwrap();
    let file = experiment(work.path());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("rate: 1.0, duration: 3s}"), "the fault moved");
    let text = text.replace("rate: 1.0, duration: 3s}", "rate: 1.0, duration: 60s}")
        + "  safety:\n    stopWhen:\n      - name: customers-hurt\n        type: alertmanager-alert\n        url: \"http://{workload.alertmanager}\"\n        match: {alertname: HighErrorRate, job: checkout}\n";
    std::fs::write(&file, text).unwrap();
    let out = work.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");

    let result = result(&out);
    assert_eq!(result["status"], "aborted");
    let reason = result["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("stop condition `customers-hurt` fired (alert HighErrorRate)"),
        "{reason}"
    );
    assert!(reason.ends_with("everything was reverted"), "{reason}");
    assert_eq!(result["rollback"]["reverted"][0], "payments-flaky");
    assert!(result["rollback"]["failed"].as_array().unwrap().is_empty());
    // Stopped mid-fault: the alert came seconds after the injection, long before the
    // fault's 60 s were over, and the rollback follows the stop in the journal.
    let records = journal(&out);
    let position = |kind: &str| {
        records
            .iter()
            .position(|r| r["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} record"))
    };
    let (injected, stopped, reverted) = (
        position("fault-injected"),
        position("stop-condition"),
        position("fault-reverted"),
    );
    assert!(injected < stopped && stopped < reverted);
    assert_eq!(records[stopped]["data"]["condition"], "customers-hurt");
    let seconds = |i: usize| {
        serde_json::from_value::<firedrill::time::Timestamp>(records[i]["time"].clone()).unwrap()
    };
    let held = seconds(stopped).ms_since(seconds(injected));
    assert!(held < 30_000.0, "the fault held {held} ms before the stop");
}

#[test]
fn a_missing_program_names_its_package() {
    let _shared = shared();
    let work = tempfile::tempdir().unwrap();
    let file = experiment(work.path());
    let out = work.path().join("out");
    let output = assert_cmd::Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(&out)
        .arg(&file)
        .env("PATH", work.path())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "`prometheus` is not on PATH; install it (Debian: apt-get install prometheus)"
        ),
        "{stdout}"
    );
    assert!(!journal_has(&out, "fault-injected"));
}

/// The pid of the run, from its first record.
fn output_pid(journal: &[serde_json::Value]) -> u64 {
    journal[0]["data"]["pid"]
        .as_u64()
        .expect("run-started has the pid")
}

/// The demo monitor's scrape interval, scrape timeout and `for`, and the scrape after it.
const MONITOR_INTERVALS: Duration = Duration::from_millis(250 + 200 + 500 + 250);

#[test]
fn the_demo_monitor_pages_through_the_webhook_when_every_replica_freezes() {
    let _quiet = alone();
    let work = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(repo_root().join("experiments/local/monitored.yaml")).unwrap();
    assert!(
        text.contains("iterations: 2"),
        "the example's iterations moved"
    );
    let file = write_experiment(
        work.path(),
        "monitored.yaml",
        &text.replace("iterations: 2", "iterations: 1"),
    );
    let out = work.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");

    let result = result(&out);
    let it = &result["iterations"][0];
    assert_eq!(it["detectedBy"], "pager", "{it}");
    // TargetDown needs every scrape to fail for 500 ms, so the alert cannot come sooner;
    // and it must come within the monitor's intervals plus scheduling slack.
    let ttd = ms(&it["timeToDetectMs"]);
    let bound = (MONITOR_INTERVALS + SLACK).as_secs_f64() * 1e3;
    assert!(
        (500.0..=bound).contains(&ttd),
        "time to detect {ttd} ms, expected from 500 ms to {bound} ms after the injection"
    );
    assert_scored_by_the_organisation(&result);
    let log = std::fs::read_to_string(out.join("logs/monitor-0.log")).unwrap();
    for line in [
        "alert firing: TargetDown web-0",
        "alert resolved: TargetDown web-0",
    ] {
        assert!(
            log.contains(line),
            "no `{line}` in the monitor's log:\n{log}"
        );
    }
}

/// The scorecard grades the organisation: detection is scored from its alerts, every scored
/// capability stands on the organisation's evidence alone, and what firedrill did itself
/// (its drafts, its journal, its iterations) scores nothing.
fn assert_scored_by_the_organisation(result: &serde_json::Value) {
    let capabilities = result["scorecard"]["capabilities"].as_array().unwrap();
    let capability = |key: &str| {
        capabilities
            .iter()
            .find(|c| c["capability"] == key)
            .unwrap_or_else(|| panic!("no {key}"))
    };
    let detection = capability("detection");
    assert_eq!(detection["status"], "evidenced", "{detection}");
    for c in capabilities.iter().filter(|c| c["status"] == "evidenced") {
        for m in c["metrics"].as_array().unwrap() {
            assert!(
                m["provenance"] == "organisation" || m["stale"] == true,
                "{} is scored from {}",
                c["capability"],
                m
            );
        }
    }
    for key in ["evidence-traceability", "continuous-testing"] {
        assert_eq!(capability(key)["status"], "not-evidenced", "{key}");
    }
    let reporting = capability("reporting-readiness");
    assert_ne!(reporting["status"], "evidenced", "{reporting}");
    let checks = result["scorecard"]["preconditions"].as_array().unwrap();
    assert!(
        checks.len() >= 3 && checks.iter().all(|p| p["held"] == true),
        "{checks:?}"
    );
}
