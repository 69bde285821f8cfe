//! Black-box tests: webhook detection end to end, the host faults, and the library example.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn post(port: u16, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

const ALERT: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"DemoDown\"}","status":"firing","receiver":"firedrill","groupLabels":{"alertname":"DemoDown"},"commonLabels":{"alertname":"DemoDown","severity":"page"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"DemoDown","severity":"page"},"annotations":{"summary":"demo is down"},"startsAt":"2026-11-28T02:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"abc"}]}"#;

#[test]
fn a_matching_alert_on_the_webhook_is_the_detection() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("webhook");
    let port = free_port();
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 1500ms}";
    let extra = format!(
        "  detection:\n    timeout: 20s\n    webhookListen: 127.0.0.1:{port}\n    signals:\n      - {{name: pager, type: webhook, match: {{alertname: DemoDown, severity: page}}}}\n      - {{name: any-page, type: webhook, match: {{severity: page}}}}\n  recovery: {{stableFor: 200ms}}"
    );
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "20ms", faults, &extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    wait_for("the fault to be injected", Duration::from_secs(20), || {
        journal_has(&out, "fault-injected")
    });
    // An alert that does not match is recorded but detects nothing.
    let other = ALERT.replace("\"severity\":\"page\"}", "\"severity\":\"ticket\"}");
    assert!(post(port, "/alerts", &other).starts_with("HTTP/1.1 200"));
    assert!(post(port, "/alerts", ALERT).starts_with("HTTP/1.1 200"));
    let bad = post(port, "/alerts", "{\"alerts\": 3}");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));

    let r = result(&out);
    let it = &r["iterations"][0];
    assert_eq!(it["detectedBy"], "pager");
    let ttd = it["timeToDetectMs"].as_f64().unwrap();
    assert!(ttd > 0.0 && ttd < 1500.0, "{ttd}");
    // The alert fired both signals it matched; the first is the detection.
    let fired = it["signalsFired"].as_array().unwrap();
    let names: Vec<&str> = fired
        .iter()
        .map(|f| f["signal"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pager", "any-page"], "{fired:?}");
    assert_eq!(fired[0]["at"], it["detectedAt"]);
    assert_eq!(fired[0]["timeToDetectMs"], it["timeToDetectMs"]);
    assert_eq!(fired[1]["timeToDetectMs"], it["timeToDetectMs"]);
    // The probe's observations while the only fault held: all of them alone, and the
    // paused replica failed some.
    let fault = &it["faults"][0];
    // The pause was seen in force.
    assert_eq!(fault["effect"]["status"], "verified", "{fault}");
    assert!(
        fault["effect"]["observed"]
            .as_str()
            .unwrap()
            .ends_with("is stopped (state T)"),
        "{fault}"
    );
    let window = &fault["probes"]["api"];
    let count = window["count"].as_u64().unwrap();
    assert!(count > 0, "{fault}");
    assert!(window["errors"].as_u64().unwrap() > 0, "{fault}");
    assert_eq!(fault["probesAlone"]["api"], *window);
    assert!(count <= it["probes"]["api"]["fault"]["count"].as_u64().unwrap());
    let alerts = it["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alert-received")
        .count();
    assert_eq!(alerts, 2);
    assert!(processes_with(&marker).is_empty());
}

#[test]
fn no_signal_before_the_timeout_is_not_detected_not_an_error() {
    let _guard = shared();
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 300ms}";
    let extra = "  detection:\n    timeout: 500ms\n    signals:\n      - {name: pager, type: webhook, match: {alertname: Never}}\n  recovery: {stableFor: 100ms}\n  objectives:\n    - {metric: time-to-recover, max: 10s}";
    let d = run_demo("undetected", 1, "20ms", faults, extra, 0);
    assert!(d.result["iterations"][0]["detectedAt"].is_null());
    assert_eq!(d.result["summary"]["timeToDetectMs"]["missing"], 1);
    assert!(journal_has(&d.out, "not-detected"));
}

/// The live `firedrill internal ...` helpers whose parent is process `parent`: their pids
/// and the helper each runs (`cpu-stress`, `memory-pressure`). Found by parent, not by
/// command line alone, so that the processes of another test or of a build never count.
fn helpers_of(parent: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some((state, ppid)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
                Some((
                    fields.next()?.to_owned(),
                    fields.next()?.parse::<u32>().ok()?,
                ))
            })
        else {
            continue;
        };
        if ppid != parent || state == "Z" || state == "X" {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).is_some_and(|a| a == "internal")
            && let Some(helper) = args.get(2)
        {
            found.push((pid, helper.clone()));
        }
    }
    found
}

#[test]
fn cpu_stress_and_memory_pressure_are_injected_and_reverted() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("host");
    let faults = "    - {name: burn, type: cpu-stress, workers: 1, load: 50, duration: 600ms}\n    - {name: hold, type: memory-pressure, sizeMib: 64, duration: 600ms}";
    let extra = "  recovery: {stableFor: 100ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "50ms", faults, extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    // Every helper of this run seen alive until both faults are in place: the first fault's
    // helper may already be gone by the time the second is injected on a loaded machine.
    let mut helpers = std::collections::BTreeMap::new();
    wait_for(
        "both faults to be injected",
        Duration::from_secs(20),
        || {
            helpers.extend(helpers_of(child.id()));
            journal(&out)
                .iter()
                .filter(|r| r["kind"] == "fault-injected")
                .count()
                == 2
        },
    );
    helpers.extend(helpers_of(child.id()));
    let kinds: std::collections::BTreeSet<&str> = helpers.values().map(String::as_str).collect();
    assert_eq!(
        kinds,
        ["cpu-stress", "memory-pressure"].into(),
        "the stress helpers run while the faults are in place: {helpers:?}"
    );
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    let r = result(&out);
    for f in r["iterations"][0]["faults"].as_array().unwrap() {
        assert!(f["revertedAt"].is_string(), "{f}");
        assert!(f["error"].is_null(), "{f}");
        // The helpers were seen burning CPU and holding memory.
        assert_eq!(f["effect"]["status"], "verified", "{f}");
    }
    for pid in helpers.keys() {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z")),
            "helper {pid} outlived its fault"
        );
    }
    assert!(processes_with(&marker).is_empty());
}

#[test]
fn the_library_example_runs_an_experiment() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("example");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 300ms}";
    let extra = "  detection:\n    timeout: 5s\n    signals:\n      - {name: mon, type: probe-fails, probe: api, consecutive: 2}\n  recovery: {stableFor: 100ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "20ms", faults, extra),
    );
    // A full `cargo test` builds the examples into target/debug/examples, named with a
    // hash; `cargo build --examples` names them plainly. Take the newest.
    let examples = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples");
    let example = std::fs::read_dir(&examples)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name == "run_experiment" || name.starts_with("run_experiment-"))
                && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| {
            panic!(
                "the example is not built in {}: run the whole `cargo test`",
                examples.display()
            )
        });
    let output = assert_cmd::Command::new(example)
        .arg(&file)
        .env("FIREDRILL_BIN", firedrill())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("iteration 1: detected by mon"), "{stdout}");
    assert!(stdout.contains("PASSED"), "{stdout}");
    assert!(processes_with(&marker).is_empty());
}

/// A kill the process ignores changes nothing: the fault is shown not in force, the
/// iteration fails, and its figures are no evidence.
#[test]
fn a_kill_the_process_ignores_is_not_in_force_and_fails_the_run() {
    let _guard = shared();
    let faults = "    - {name: hang-up, type: process-kill, signal: SIGHUP, select: {mode: all, workload: web}, duration: 8s}";
    let extra = "  recovery: {stableFor: 100ms}";
    let d = run_demo_with("ignored-kill", 1, "50ms", faults, extra, 1, |yaml| {
        // The shell leaves SIGHUP ignored for the demo server it becomes.
        yaml.replace(
            r#"command: ["{firedrill}", demo, serve,"#,
            r#"command: [sh, -c, "trap '' HUP; exec \"$0\" \"$@\"", "{firedrill}", demo, serve,"#,
        )
    });
    let r = &d.result;
    let fault = &r["iterations"][0]["faults"][0];
    assert_eq!(fault["effect"]["status"], "ineffective", "{fault}");
    let observed = fault["effect"]["observed"].as_str().unwrap();
    assert!(
        observed.contains("still runs 5 s after SIGHUP: it ignores or handles the signal"),
        "{observed}"
    );
    assert_eq!(r["iterations"][0]["status"], "failed");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("iteration 1: fault `hang-up` was not in force"),
        "{reason}"
    );
    // No figure of the iteration is evidence: the summary has none.
    assert!(
        r["summary"]["timeToRecoverMs"]["count"]
            .as_u64()
            .unwrap_or(0)
            == 0,
        "{}",
        r["summary"]
    );
    let records = journal(&d.out);
    let effect = records
        .iter()
        .find(|e| e["kind"] == "fault-effect")
        .expect("the finding is journaled");
    assert_eq!(effect["data"]["effect"]["status"], "ineffective");
    let report = std::fs::read_to_string(d.out.join("scorecard.md")).unwrap();
    assert!(
        report.contains("was not in force in iteration 1"),
        "{report}"
    );
}

#[test]
fn a_helper_stops_at_its_deadline_when_the_process_that_started_it_was_sigkilled() {
    // In a pod, nothing ties firedrill's helper to firedrill: it must end on its own. Here
    // a shell starts the helpers (a CPU stress and a disk fill) with a deadline 2 s away, and
    // is SIGKILLed: the orphans must stop at the deadline, and the fill's file go with it.
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let deadline = now_ms + 2000;
    let id = marker("orphan");
    let bin = firedrill();
    let script = format!(
        "{bin} internal cpu-stress --workers 1 --load 10 --for 60s --until {deadline} --id {id} & \
         {bin} internal disk-fill --dir {dir} --mib 1 --for 60s --until {deadline} --id {id} > /dev/null & \
         wait",
        bin = bin.display(),
        dir = dir.path().display()
    );
    let mut shell = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .spawn()
        .unwrap();
    let file = dir.path().join(format!(".firedrill-fill-{id}"));
    let mut helpers = Vec::new();
    wait_for("both helpers at work", Duration::from_secs(10), || {
        helpers = helpers_of(shell.id());
        helpers.len() == 2 && file.exists()
    });
    let started = std::time::Instant::now();
    shell.kill().unwrap();
    shell.wait().unwrap();
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.contains(") Z") && !s.contains(") X"))
    };
    assert!(
        helpers.iter().all(|(pid, _)| alive(*pid)),
        "the helpers are orphans now, still at work: {helpers:?}"
    );
    wait_for(
        "the orphaned helpers to stop by themselves",
        Duration::from_secs(10),
        || helpers.iter().all(|(pid, _)| !alive(*pid)),
    );
    let lived = started.elapsed();
    let stopped_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // Seen stopped at most a poll after they stopped: not before the deadline.
    assert!(
        stopped_ms >= deadline,
        "they stopped {} ms before the deadline",
        deadline - stopped_ms
    );
    assert!(lived < Duration::from_secs(8), "{lived:?}");
    assert!(!file.exists(), "the disk fill left its file");
}
