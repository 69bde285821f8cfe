//! Black-box tests of `firedrill run` against real processes: signals, crashes, timing.

use std::time::Duration;

use crate::common::*;

const PAUSE_FOR_LONG: &str =
    "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 20s}";

#[test]
fn sigint_during_a_fault_reverts_and_exits_130() {
    interrupt_during_a_fault(libc::SIGINT, "sigint");
}

#[test]
fn sigterm_during_a_fault_reverts_and_exits_130() {
    interrupt_during_a_fault(libc::SIGTERM, "sigterm");
}

#[test]
fn sigterm_reverts_even_when_standard_error_is_a_closed_pipe() {
    // A supervisor whose log pipe died: every message firedrill writes fails with EPIPE, and
    // none of them may stop the rollback.
    interrupt_during_a_fault_with(libc::SIGTERM, "closed-stderr", true);
}

fn interrupt_during_a_fault(signal: i32, name: &str) {
    interrupt_during_a_fault_with(signal, name, false);
}

fn interrupt_during_a_fault_with(signal: i32, name: &str, close_stderr: bool) {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(name);
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", PAUSE_FOR_LONG, ""),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    if close_stderr {
        drop(child.stderr.take());
    }
    wait_for("the fault to be injected", Duration::from_secs(20), || {
        journal_has(&out, "fault-injected")
    });
    assert!(
        processes_with(&marker).iter().any(|p| p.state == 'T'),
        "replicas are paused"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130));

    let r = result(&out);
    assert_eq!(r["status"], "interrupted");
    assert_eq!(r["rollback"]["reverted"][0], "freeze");
    assert!(r["rollback"]["failed"].as_array().unwrap().is_empty());
    assert_eq!(r["iterations"][0]["status"], "interrupted");
    assert!(journal_has(&out, "fault-reverted"));
    assert!(journal_has(&out, "processes-stopped"));
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn sigkill_of_firedrill_leaves_no_process_and_a_journal_of_what_was_in_flight() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("sigkill");
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", PAUSE_FOR_LONG, ""),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    wait_for("the fault to be injected", Duration::from_secs(20), || {
        journal_has(&out, "fault-injected")
    });
    assert_eq!(processes_with(&marker).len(), 2);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for("every replica to be gone", Duration::from_secs(5), || {
        processes_with(&marker).is_empty()
    });

    // The journal says what was in flight: an intent with no revert after it.
    let records = journal(&out);
    let intent = records
        .iter()
        .find(|r| r["kind"] == "fault-intent")
        .expect("the intent is journaled before the change");
    assert_eq!(intent["data"]["fault"], "freeze");
    assert_eq!(intent["data"]["undo"].as_array().unwrap().len(), 2);
    assert!(!records.iter().any(|r| r["kind"] == "fault-reverted"));
    firedrill::journal::read_verified(&out.join("journal.jsonl")).expect("a valid prefix");
}

#[test]
fn measured_outage_matches_a_pause_of_known_length() {
    let _guard = alone();
    // Ground truth: one replica paused by SIGSTOP for the fault's duration, then resumed by
    // SIGCONT. The journal brackets each signal: SIGSTOP is sent after the `fault-intent`
    // record and before `fault-injected`, SIGCONT after `fault-revert-started` and before
    // `fault-reverted`. So the pause is at least revert-started − injected and at most
    // reverted − intent. On an idle machine the two differ by a few milliseconds; under
    // load they part by exactly what the run took to inject and revert, time that one pair
    // of timestamps (injectedAt, revertedAt) would wrongly count against the measurement.
    // Tolerance beyond that window: two probe intervals plus 50 ms, for the probes' own
    // sampling of when the outage began and ended.
    let interval_ms = 10.0;
    let tolerance = 2.0 * interval_ms + 50.0;
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("timing");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: one, workload: web}, at: 100ms, duration: 1s}";
    let extra = "  recovery: {stableFor: 300ms, timeout: 10s}\n  iterations: 2\n  cooldown: 200ms";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "10ms", faults, extra),
    );
    let out = dir.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let r = result(&out);
    let records = journal(&out);
    // One fault an iteration, iterations one after another: the n-th record of a kind
    // belongs to the n-th iteration.
    let times = |kind: &str| -> Vec<f64> {
        records
            .iter()
            .filter(|rec| rec["kind"] == kind)
            .map(|rec| millis(&rec["time"]))
            .collect()
    };
    let intent = times("fault-intent");
    let injected = times("fault-injected");
    let revert_started = times("fault-revert-started");
    let reverted = times("fault-reverted");
    let iterations = r["iterations"].as_array().unwrap();
    for records in [&intent, &injected, &revert_started, &reverted] {
        assert_eq!(records.len(), iterations.len(), "{records:?}");
    }
    for (n, it) in iterations.iter().enumerate() {
        let (shortest, longest) = (revert_started[n] - injected[n], reverted[n] - intent[n]);
        let outage = it["outageMs"].as_f64().unwrap();
        assert!(
            outage >= shortest - tolerance && outage <= longest + tolerance,
            "outage {outage}ms vs a pause of {shortest}..{longest}ms (tolerance {tolerance}ms)"
        );
        // Time to recover counts from injectedAt to the first good observation, which
        // follows SIGCONT. (injectedAt is the engine's clock, the journal's times the
        // system's; over a few seconds they agree to well under a millisecond.)
        let from = millis(&it["faults"][0]["injectedAt"]);
        let (earliest, latest) = (revert_started[n] - from, reverted[n] - from);
        let ttr = it["timeToRecoverMs"].as_f64().unwrap();
        assert!(
            ttr >= earliest - tolerance && ttr <= latest + tolerance,
            "time to recover {ttr}ms vs SIGCONT {earliest}..{latest}ms after injection \
             (tolerance {tolerance}ms)"
        );
    }
    assert!(processes_with(&marker).is_empty());
}

/// An RFC 3339 time in milliseconds since the epoch.
fn millis(v: &serde_json::Value) -> f64 {
    humantime::parse_rfc3339(v.as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

#[test]
fn a_baseline_that_does_not_hold_stops_before_any_fault() {
    let _guard = shared();
    let faults = "    - {name: kill, type: process-kill, select: {mode: one, workload: web}}";
    // Every observation of `/missing` fails: the steady state never holds.
    let d = run_demo_with("baseline", 1, "20ms", faults, "", 1, |y| {
        y.replace("/api\"", "/missing\"")
    });
    let r = &d.result;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["iterations"][0]["status"], "baseline_failed");
    assert!(r["iterations"][0]["injectedAt"].is_null());
    assert!(!journal_has(&d.out, "fault-intent"));
}

#[test]
fn an_abort_condition_reverts_and_exits_3() {
    let _guard = shared();
    let extra = "  safety: {abortWhen: [{type: consecutive-failures, probe: api, count: 3}]}";
    let d = run_demo("abort", 1, "20ms", PAUSE_FOR_LONG, extra, 3);
    let r = &d.result;
    assert_eq!(r["status"], "aborted");
    assert!(
        r["reason"].as_str().unwrap().contains("3 times in a row"),
        "{}",
        r["reason"]
    );
    assert_eq!(r["rollback"]["reverted"][0], "freeze");
    let junit = std::fs::read_to_string(d.out.join("junit.xml")).unwrap();
    assert!(
        xml_elements(&junit).contains(&"error".to_owned()),
        "{junit}"
    );
}

#[test]
fn an_objective_missed_exits_1_and_a_killed_replica_comes_back() {
    let _guard = shared();
    let faults = "    - {name: kill, type: process-kill, select: {mode: all, workload: web}}";
    let extra = "  recovery: {stableFor: 200ms, timeout: 10s}\n  objectives:\n    - {metric: time-to-recover, percentile: 95, max: 1ms}";
    let d = run_demo("objective", 2, "20ms", faults, extra, 1);
    let r = &d.result;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["objectives"][0]["met"], false);
    let ttr = r["iterations"][0]["timeToRecoverMs"]
        .as_f64()
        .expect("recovered");
    assert!(ttr > 1.0);
    let restarted = r["iterations"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "replica-started")
        .count();
    assert_eq!(restarted, 2, "both replicas were restarted by their policy");

    // The JUnit report fails the missed objective and passes the recovery.
    let junit = std::fs::read_to_string(d.out.join("junit.xml")).unwrap();
    let elements = xml_elements(&junit);
    assert_eq!(
        elements.iter().filter(|e| *e == "testcase").count(),
        2,
        "{junit}"
    );
    assert_eq!(
        elements.iter().filter(|e| *e == "failure").count(),
        1,
        "{junit}"
    );
    assert!(junit.contains(r#"name="time-to-recover p95""#), "{junit}");
    assert!(junit.contains("target &lt;= 1ms"), "{junit}");
}

#[test]
fn an_undetected_fault_still_recovers_and_the_recovery_phase_is_observed() {
    let _guard = shared();
    // The detection deadline passes long before recovery can be declared: the run must
    // keep taking observations after it, not spin on the deadline.
    let faults = "    - {name: kill, type: process-kill, select: {mode: one, workload: web}, duration: 600ms}";
    let extra = "  detection:\n    timeout: 100ms\n    signals: [{name: mon, type: probe-fails, probe: api, consecutive: 1000}]\n  recovery: {stableFor: 400ms, timeout: 10s}";
    let d = run_demo("undetected", 2, "20ms", faults, extra, 0);
    let it = &d.result["iterations"][0];
    assert_eq!(it["status"], "passed", "{it}");
    assert!(it["detectedAt"].is_null());
    assert!(it["recoveredAt"].is_string());
    let recovery = &d.result["probes"]["api"]["recovery"];
    // stableFor after the revert, at one observation per 20 ms.
    assert!(
        recovery["count"].as_u64().unwrap() >= 10,
        "the recovery phase was not observed: {recovery}"
    );
}

/// The stop link a run prints, once it has.
fn stop_link(lines: &std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> Option<String> {
    let prefix = "stop the drill (and roll back) at: ";
    lines.lock().unwrap().iter().find_map(|l| {
        let at = l.find(prefix)?;
        Some(l[at + prefix.len()..].trim().to_owned())
    })
}

/// A person stops a drill mid-fault through the run's stop link: the run rolls back,
/// says who stopped it, and exits 3 as an abort does.
#[test]
fn the_stop_link_stops_the_drill_mid_fault_and_says_who() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("stop-link");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 60s}";
    // A webhook signal makes the run listen, and the listener serves the stop page.
    let extra = "  detection:\n    timeout: 90s\n    signals: [{name: pager, type: webhook, match: {alertname: Never}}]\n  recovery: {stableFor: 100ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", faults, extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    let stderr = crate::notifications::collect_lines(child.stderr.take().unwrap());
    wait_for("the stop link", Duration::from_secs(20), || {
        stop_link(&stderr).is_some()
    });
    let link = stop_link(&stderr).unwrap();
    wait_for("the fault to be injected", Duration::from_secs(20), || {
        journal_has(&out, "fault-injected")
    });
    // The page has the button: a form that posts back to the link.
    let page = {
        use std::io::{Read, Write};
        let rest = link.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(stream, "GET /{path} HTTP/1.0\r\nhost: {host}\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(
        page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"),
        "{page}"
    );
    assert!(page.contains("<form method=post>") && page.contains("Stop the drill and roll back"));
    assert!(page.contains("cache-control: no-store"), "{page}");
    // A wrong token stops nothing.
    let wrong = format!("{}x", link.trim_end_matches(|c: char| c != '/'));
    let (status, _) = crate::notifications::post(&wrong, "{}");
    assert_eq!(status, 404);
    let (status, answer) =
        crate::notifications::post(&link, r#"{"by": "Dana", "reason": "customers complain"}"#);
    assert_eq!(status, 202, "{answer}");
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    let lines = stderr.lock().unwrap().join("\n");
    assert_eq!(exit.code(), Some(3), "{lines}");
    let r = result(&out);
    assert_eq!(r["status"], "aborted");
    assert_eq!(
        r["reason"],
        "stopped by Dana through the run's stop page: customers complain; everything was reverted"
    );
    assert_eq!(r["rollback"]["reverted"][0], "freeze");
    let records = journal(&out);
    let stop = records
        .iter()
        .find(|r| r["kind"] == "stop-requested")
        .expect("the stop is journaled");
    assert_eq!(stop["data"]["by"], "Dana");
    assert_eq!(stop["data"]["via"], "the run's stop page");
    let token = link.rsplit('/').next().unwrap();
    let text = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    assert!(
        !text.contains(token),
        "the stop link's token is never journaled"
    );
    assert!(processes_with(&marker).is_empty());
}
