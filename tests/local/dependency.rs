//! Black-box tests of dependency faults: the embedded proxy in front of a dependency,
//! each fault type seen by a probe through it, and reverted at the end.

use std::time::Duration;

use crate::common::*;
use crate::experiment::Experiment;

/// Two demo services, `front` calling `backend` through the dependency `backend`, probed
/// directly and through `front`, with the dependency fault `fault` (its fields after the
/// common ones) and the probes `extra`.
fn experiment(marker: &str, fault: &str, extra: &[&str]) -> String {
    let base = Experiment::local(
        "dependency-test",
        &format!(
            r#"      - name: backend
        command: ["{{firedrill}}", demo, serve, --port, "{{port}}", --name, "{marker}"]
        readiness: {{type: http, path: /health, period: 10ms}}
      - name: front
        command: ["{{firedrill}}", demo, serve, --port, "{{port}}", --name, "{marker}",
                  --upstream, "http://{{dependency.backend}}/api"]
        readiness: {{type: http, path: /health, period: 10ms}}"#
        ),
    )
    .target_lines(
        r#"    dependencies:
      - {name: backend, upstream: "{workload.backend}"}"#,
    )
    .probe(r#"{name: direct, type: http, url: "http://{dependency.backend}/api", timeout: 300ms}"#)
    .probe(r#"{name: front, type: http, url: "http://{workload.front}/api", timeout: 1500ms}"#)
    .faults(&format!(
        "    - {{name: dep, dependency: backend, duration: 1s, {fault}}}"
    ))
    .recovery("{stableFor: 100ms, timeout: 10s}");
    extra.iter().fold(base, |e, p| e.probe(p)).yaml()
}

fn run(fault: &str) -> serde_json::Value {
    run_with(fault, &[])
}

fn run_with(fault: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("dependency");
    let file = write_experiment(dir.path(), "e.yaml", &experiment(&marker, fault, extra));
    let out = dir.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(30));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{fault}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(processes_with(&marker).is_empty());
    let records = journal(&out);
    let intent = records
        .iter()
        .find(|r| r["kind"] == "fault-intent")
        .unwrap();
    assert!(
        intent["data"]["targets"][0]
            .as_str()
            .unwrap()
            .starts_with("dependency backend")
    );
    assert!(records.iter().any(|r| r["kind"] == "fault-reverted"));
    result(&out)
}

fn phase<'a>(r: &'a serde_json::Value, probe: &str, phase: &str) -> &'a serde_json::Value {
    &r["probes"][probe][phase]
}

#[test]
fn errors_are_answered_by_the_proxy_and_stop_at_revert() {
    let _guard = shared();
    let r = run("type: dependency-errors, status: 503, rate: 1.0");
    assert_eq!(phase(&r, "direct", "baseline")["errors"], 0);
    let fault = phase(&r, "direct", "fault");
    assert!(fault["errors"].as_u64().unwrap() >= 5, "{fault}");
    assert_eq!(phase(&r, "direct", "recovery")["errors"], 0);
    // The frontend answers 502 when its dependency fails: the effect reaches users.
    assert!(phase(&r, "front", "fault")["errors"].as_u64().unwrap() >= 5);
    assert!(r["iterations"][0]["timeToRecoverMs"].as_f64().unwrap() >= 500.0);
}

#[test]
fn errors_with_a_match_hit_the_selected_path_only() {
    let _guard = shared();
    // The demo answers 404 on /pay: that is the pass of this probe, until the fault
    // answers its requests with 503.
    let r = run_with(
        "type: dependency-errors, status: 503, rate: 1.0, match: {pathPrefix: /pay}",
        &[
            r#"{name: pay, type: http, url: "http://{dependency.backend}/pay/charge", expectStatus: 404, timeout: 300ms}"#,
        ],
    );
    assert_eq!(phase(&r, "pay", "baseline")["errors"], 0);
    let pay = phase(&r, "pay", "fault");
    assert!(pay["errors"].as_u64().unwrap() >= 5, "{pay}");
    // Every request to /pay but, at most, one in flight when the toxic was added.
    let (errors, count) = (
        pay["errors"].as_u64().unwrap(),
        pay["count"].as_u64().unwrap(),
    );
    assert!(errors + 1 >= count, "{pay}");
    assert_eq!(phase(&r, "pay", "recovery")["errors"], 0);
    // Requests to other paths, direct or through the frontend, pass untouched.
    for probe in ["direct", "front"] {
        let fault = phase(&r, probe, "fault");
        assert!(fault["count"].as_u64().unwrap() >= 5, "{probe}: {fault}");
        assert_eq!(fault["errors"], 0, "{probe}: {fault}");
    }
    // The check sent a request the match selects (GET /pay) and met the error.
    let fault = &r["iterations"][0]["faults"][0];
    assert_eq!(fault["effect"]["status"], "verified", "{fault}");
    assert!(
        fault["effect"]["observed"]
            .as_str()
            .unwrap()
            .contains("GET /pay"),
        "{fault}"
    );
}

#[test]
fn every_outage_mode_cuts_the_dependency_off() {
    let _guard = shared();
    for mode in ["refuse", "reset", "blackhole"] {
        let r = run(&format!("type: dependency-outage, mode: {mode}"));
        let fault = phase(&r, "direct", "fault");
        assert!(fault["errors"].as_u64().unwrap() >= 1, "{mode}: {fault}");
        assert_eq!(phase(&r, "direct", "recovery")["errors"], 0, "{mode}");
    }
}

#[test]
fn latency_shows_in_the_fault_phase_only() {
    // Compares latencies with a threshold: no other test of this binary loads the CPUs.
    let _guard = alone();
    let r = run("type: dependency-latency, latency: 100ms");
    // Percentiles below the max include the coordinated-omission fill-ins, so the slowest
    // observations tell the delay.
    let fault = phase(&r, "direct", "fault");
    assert!(fault["p90"].as_f64().unwrap() >= 100.0, "{fault}");
    assert!(phase(&r, "direct", "baseline")["p99"].as_f64().unwrap() < 100.0);
    let per_request = run("type: dependency-latency, latency: 100ms, perRequest: true");
    assert!(
        phase(&per_request, "direct", "fault")["p90"]
            .as_f64()
            .unwrap()
            >= 100.0
    );
}

#[test]
fn bandwidth_is_limited_and_restored() {
    // Compares latencies with a threshold: no other test of this binary loads the CPUs.
    let _guard = alone();
    let r = run("type: dependency-bandwidth, rateKbps: 1");
    // A response of a few hundred bytes at 1 KB/s takes a good part of a second.
    let fault = phase(&r, "direct", "fault");
    assert!(fault["max"].as_f64().unwrap() >= 100.0, "{fault}");
    assert!(phase(&r, "direct", "baseline")["p99"].as_f64().unwrap() < 100.0);
    // The check's own padded request and its answer were held to the limit.
    let fault = &r["iterations"][0]["faults"][0];
    assert_eq!(fault["effect"]["status"], "verified", "{fault}");
    let observed = fault["effect"]["observed"].as_str().unwrap();
    assert!(
        observed.contains("at 1 KB/s they take at least"),
        "{observed}"
    );
}
