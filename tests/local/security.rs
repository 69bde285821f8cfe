//! Detection canaries on the local platform, end to end with the real binary:
//! experiments/local/security-canary.yaml through the real Prometheus and Alertmanager
//! (skipped with a message when they are not on PATH, a failure when `CI` is set); a canary
//! caught by a monitor the test plays itself, timed against what the test saw; and the
//! honeytoken of a killed run removed by `firedrill rollback`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// Detection timeout of the experiments: an alert must come within it after the canary.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A journal timestamp (RFC 3339, UTC, milliseconds) as milliseconds of the day: the
/// records compared here are seconds apart within one run.
fn millis(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let clock = s.split_once('T').unwrap().1.trim_end_matches('Z');
    let mut parts = clock.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let sec: f64 = parts.next().unwrap().parse().unwrap();
    ((h * 60.0 + m) * 60.0 + sec) * 1e3
}

fn the_marker_of(run_id: &str) -> String {
    format!("firedrill-canary: a security drill by firedrill, not an attack (run {run_id})")
}

#[test]
fn both_canaries_are_caught_by_prometheus_and_alertmanager() {
    if !alerting_stack_installed("security canaries through real alerting") {
        return;
    }
    let _quiet = alone();
    let work = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_root().join("experiments/local/security-canary.yaml"))
        .unwrap();
    let examples = repo_root().join("examples/");
    let text = text.replace("../../examples/", &examples.display().to_string());
    let file = write_experiment(work.path(), "security-canary.yaml", &text);
    let honeytoken = work.path().join("firedrill-canary-honeytoken");
    let out = work.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let records = firedrill::journal::read_verified(&out.join("journal.jsonl"))
        .expect("the journal verifies");
    let result = result(&out);
    let marker = the_marker_of(result["runId"].as_str().unwrap());
    let iterations = result["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 2);
    for (i, it) in iterations.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(it["status"], "passed", "{it}");
        // Each canary is caught by its own signal, after it was performed and within the
        // detection timeout.
        for (fault, signal, alertname) in [
            (
                "admin-probe",
                "canary-request-alert",
                "SecurityCanaryRequest",
            ),
            ("honeytoken", "honeytoken-alert", "HoneytokenRead"),
        ] {
            let of_this = |kind: &'static str| {
                records
                    .iter()
                    .filter(move |r| r["kind"] == kind && r["data"]["iteration"] == n)
            };
            let performed = of_this("canary-performed")
                .find(|r| r["data"]["fault"] == fault)
                .unwrap_or_else(|| panic!("no canary-performed of {fault} in iteration {n}"));
            let alert = of_this("alert-received")
                .find(|r| r["data"]["matched"] == signal)
                .unwrap_or_else(|| panic!("no alert matched {signal} in iteration {n}: {stdout}"));
            assert_eq!(alert["data"]["labels"]["alertname"], alertname);
            assert_eq!(alert["data"]["labels"]["severity"], "security");
            // When the alert arrived, which detection is timed from (`at` is when the engine
            // took it in, later under load).
            let alerted = millis(&alert["data"]["receivedAt"]);
            let after = alerted - millis(&performed["data"]["at"]);
            assert!(
                after >= 0.0 && after <= DETECTION_TIMEOUT.as_secs_f64() * 1e3,
                "{alertname} came {after} ms after {fault} was performed (iteration {n})"
            );

            // The markers are in the result, with the run's id.
            let record = it["faults"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == fault)
                .unwrap();
            let markers = record["security"]["markers"].as_array().unwrap();
            assert!(markers.iter().any(|m| m == &marker), "{record}");
            // Per-canary detection: its own signal, timed from its own start, which lies
            // between its intent being journaled and its injection being recorded.
            let ttd = record["timeToDetectMs"]
                .as_f64()
                .unwrap_or_else(|| panic!("{fault} was not noticed: {record}"));
            assert_eq!(record["detectedBy"], signal, "{record}");
            let intent = records
                .iter()
                .filter(|r| r["kind"] == "fault-intent" && r["data"]["fault"] == fault)
                .nth(i)
                .unwrap_or_else(|| panic!("no intent of {fault} for iteration {n}"));
            // The journal's times are wall-clock times of when each record was written,
            // the run's are monotonic times of the events: on a loaded host a record can be
            // written tens of milliseconds after its event, hence the tolerance.
            const TOLERANCE_MS: f64 = 100.0;
            let (lowest, highest) = (
                alerted - millis(&record["injectedAt"]) - TOLERANCE_MS,
                alerted - millis(&intent["time"]) + TOLERANCE_MS,
            );
            assert!(
                ttd >= lowest && ttd <= highest,
                "{fault}: time to detect {ttd} ms, the journal says between {lowest} and {highest} ms"
            );
        }
        assert!(it["timeToDetectMs"].as_f64().unwrap() > 0.0, "{it}");
    }

    // Scored under detection: one time to detect per canary, and every canary noticed.
    let metrics = result["scorecardInput"]["capabilityMetrics"]
        .as_array()
        .unwrap();
    let detection = |name: &str| {
        metrics
            .iter()
            .find(|m| m["capability"] == "detection" && m["metric"].to_string().contains(name))
            .unwrap_or_else(|| panic!("no {name} under detection: {metrics:?}"))
    };
    assert_eq!(
        detection("time-to-detect-security-canary")["values"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(
        detection("canary-recall")["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.as_f64() == Some(1.0))
    );
    assert!(
        result["scorecard"].to_string().contains("novel attacks"),
        "the scorecard states what a caught canary does not prove"
    );

    // The honeytoken was firedrill's: created with the marker, read, and removed.
    let honeytoken_fault = &iterations[0]["faults"][1];
    assert!(
        honeytoken_fault["security"]["actions"][0]
            .as_str()
            .unwrap()
            .starts_with("created "),
        "{honeytoken_fault}"
    );
    assert!(
        !honeytoken.exists(),
        "the honeytoken outlived the run: {}",
        honeytoken.display()
    );
}

/// A server on 127.0.0.1 port 0 standing for the workload a canary request reaches: it
/// answers 404 and reports when each request carrying the canary header arrived.
fn canary_target() -> (u16, mpsc::Receiver<(Instant, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line);
                    }
                    let arrived = Instant::now();
                    if let Some(value) = head.iter().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("x-firedrill-canary")
                            .then(|| v.trim().to_owned())
                    }) {
                        let _ = tx.send((arrived, value));
                    }
                    let answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                    if stream.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

/// Posts an Alertmanager-style firing alert to `url` (http://127.0.0.1:PORT/alerts).
fn post_alert(url: &str, alertname: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let body = format!(
        r#"{{"version":"4","status":"firing","receiver":"siem","groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://127.0.0.1:1","alerts":[{{"status":"firing","labels":{{"alertname":"{alertname}","severity":"security"}},"annotations":{{}},"startsAt":"2026-11-28T02:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"siem"}}]}}"#
    );
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// The detail of the first journal record of `kind`, once it is there.
fn journal_detail(out: &Path, kind: &str) -> String {
    let mut found = None;
    wait_for(kind, Duration::from_secs(30), || {
        found = journal(out)
            .into_iter()
            .find(|r| r["kind"] == kind)
            .and_then(|r| r["data"]["detail"].as_str().map(str::to_owned));
        found.is_some()
    });
    found.unwrap()
}

/// How long the monitor the test plays takes from seeing the canary to alerting: the
/// ground truth the measured time to detect is compared with.
const SIEM_DELAY: Duration = Duration::from_millis(400);

#[test]
fn a_canary_request_noticed_by_a_monitor_is_timed_against_ground_truth() {
    let _quiet = alone();
    let dir = tempfile::tempdir().unwrap();
    let (port, arrivals) = canary_target();
    let mark = marker("siem");
    let faults = format!(
        "    - {{name: admin-probe, type: canary-request, url: \"http://127.0.0.1:{port}/admin/.env\", detectedBy: [siem], duration: 200ms}}"
    );
    let extra = "  detection:\n    timeout: 10s\n    signals:\n      - {name: siem, type: webhook, match: {alertname: CanaryRequestSeen}}\n  recovery: {stableFor: 100ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&mark, 1, "20ms", &faults, extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    let webhook = journal_detail(&out, "webhook-listening");

    // The monitor: it sees the request arrive, waits for the journal to show the canary
    // performed (alerts before the injection do not count), and alerts SIEM_DELAY after
    // the arrival.
    let (arrived, header) = arrivals
        .recv_timeout(Duration::from_secs(30))
        .expect("the canary request arrives");
    let mut seen_performed = Instant::now();
    wait_for("canary-performed", Duration::from_secs(10), || {
        seen_performed = Instant::now();
        journal_has(&out, "canary-performed")
    });
    let due = arrived + SIEM_DELAY;
    std::thread::sleep(due.saturating_duration_since(Instant::now()));
    let posted = Instant::now();
    let answer = post_alert(&webhook, "CanaryRequestSeen");
    let answered = Instant::now();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert!(
        arrivals.try_recv().is_err(),
        "one request was asked for, one was sent"
    );

    let r = result(&out);
    assert!(
        header.starts_with("firedrill-canary:")
            && header.ends_with(&format!("(run {})", r["runId"].as_str().unwrap())),
        "{header}"
    );
    let it = &r["iterations"][0];
    assert_eq!(it["detectedBy"], "siem", "{it}");
    let ttd = it["timeToDetectMs"].as_f64().unwrap();
    // Ground truth from what the test saw: the injection is recorded after the request
    // arrived and before the test noticed it in the journal; the alert was received between
    // the post and its answer. The tolerance is the width of those two windows (a few
    // milliseconds on a quiet machine, more under load), plus one for rounding.
    let truth = posted.duration_since(arrived).as_secs_f64() * 1e3;
    let lowest = posted
        .saturating_duration_since(seen_performed)
        .as_secs_f64()
        * 1e3
        - 1.0;
    let highest = answered.duration_since(arrived).as_secs_f64() * 1e3 + 1.0;
    assert!(
        ttd >= lowest && ttd <= highest,
        "time to detect {ttd} ms, expected between {lowest} and {highest} ms (the monitor alerted {truth} ms after the request)"
    );
    assert!(truth >= SIEM_DELAY.as_secs_f64() * 1e3);
    // The canary's own clock starts before its injection is recorded (the request is sent
    // inside the injection) and no earlier than its intent is journaled.
    let canary = &it["faults"][0];
    assert_eq!(canary["detectedBy"], "siem", "{canary}");
    let own = canary["timeToDetectMs"].as_f64().unwrap();
    let records = firedrill::journal::read_verified(&out.join("journal.jsonl"))
        .expect("the journal verifies");
    let intent = records
        .iter()
        .find(|r| r["kind"] == "fault-intent")
        .expect("the canary's intent");
    let slack = millis(&canary["injectedAt"]) - millis(&intent["time"]);
    assert!(
        own >= ttd - 1.0 && own <= ttd + slack + 2.0,
        "the canary's time to detect {own} ms, the iteration's {ttd} ms, its injection took at most {slack} ms"
    );
    firedrill::journal::read_verified(&out.join("journal.jsonl")).expect("the journal verifies");
    assert!(processes_with(&mark).is_empty());
}

/// A canary whose endpoint never answers would hold its injection for count × 5 s; SIGTERM
/// must still stop the run at once, with everything reverted.
#[test]
fn sigterm_stops_a_canary_whose_endpoint_never_answers() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never answers; the held connections keep it that way.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(3) {
            conns.push(c);
        }
        conns
    });
    let mark = marker("silent-canary");
    let faults = format!(
        "    - {{name: silent, type: canary-request, url: \"http://127.0.0.1:{port}/admin\", count: 1000, duration: 200ms}}"
    );
    let extra = "  detection:\n    timeout: 10s\n    signals:\n      - {name: siem, type: webhook, match: {alertname: Never}}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&mark, 1, "20ms", &faults, extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    wait_for("the canary to begin", Duration::from_secs(30), || {
        journal_has(&out, "fault-intent")
    });
    // SAFETY: kill(2) on the pid of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    let r = result(&out);
    assert_eq!(r["status"], "interrupted", "{r}");
    assert!(journal_has(&out, "fault-reverted"));
    assert!(processes_with(&mark).is_empty());
    drop(held);
}

#[test]
fn the_honeytoken_of_a_killed_run_is_removed_by_rollback() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let mark = marker("honeytoken-kill");
    let faults = "    - {name: honeytoken, type: canary-file-read, path: firedrill-canary-token, duration: 60s}";
    let extra = "  detection:\n    timeout: 60s\n    signals:\n      - {name: never, type: webhook, match: {alertname: Never}}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&mark, 1, "50ms", faults, extra),
    );
    let token = dir.path().join("firedrill-canary-token");
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    wait_for("the canary", Duration::from_secs(20), || {
        journal_has(&out, "canary-performed")
    });
    assert!(token.exists());
    let intent = journal(&out)
        .into_iter()
        .find(|r| r["kind"] == "fault-intent")
        .unwrap();
    assert_eq!(
        intent["data"]["restore"][0]["action"], "remove-file",
        "{intent}"
    );

    // SIGKILL: no handler runs, nothing is reverted.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(token.exists(), "the killed run could not remove it");

    let rollback = std::process::Command::new(firedrill())
        .arg("rollback")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&rollback.stdout);
    assert!(
        rollback.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&rollback.stderr)
    );
    assert!(
        stdout.contains(&format!("honeytoken: removed {}", token.display())),
        "{stdout}"
    );
    assert!(!token.exists());
    let log = firedrill::journal::read_verified(&out.join("rollback.jsonl")).unwrap();
    assert!(log.iter().any(|r| r["kind"] == "undo-applied"));

    // A second rollback finds the file gone and is content with that.
    let again = std::process::Command::new(firedrill())
        .arg("rollback")
        .arg(&out)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("was already gone"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    wait_for("the replica to be gone", Duration::from_secs(5), || {
        processes_with(&mark).is_empty()
    });
}
