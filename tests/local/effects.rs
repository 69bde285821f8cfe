//! Proof of effect on this host, made to fail from outside: a fault whose change does not
//! take is shown `ineffective` and fails the run with exit code 1 (docs/effects.md).
//!
//! The helpers of `cpu-stress` and `memory-pressure` are firedrill's own binary, found
//! through `FIREDRILL_BIN`; pointing it at a stand-in that starts but does no work is how
//! a helper held to nothing (a CPU quota, a memory limit, a broken build) looks to the
//! check. Every other command goes through to the real firedrill.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// A stand-in for firedrill that runs `helper` for its internal helpers and the real
/// binary for everything else.
fn stand_in(dir: &Path, helper: &str) -> std::path::PathBuf {
    let path = dir.join("firedrill-stand-in");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$1 $2\" in\n  \"internal cpu-stress\"|\"internal memory-pressure\") {helper} ;;\nesac\nexec \"{}\" \"$@\"\n",
            firedrill().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs a demo experiment with `faults` whose helpers are `helper`; its exit code must be
/// 1 and its only fault `ineffective`. Returns the fault's record and the run's reason.
fn run_ineffective(test: &str, faults: &str, helper: &str) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(test);
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "50ms", faults, "  recovery: {stableFor: 100ms}"),
    );
    let out = dir.path().join("out");
    let output = assert_cmd::Command::new(firedrill())
        .env("FIREDRILL_BIN", stand_in(dir.path(), helper))
        .args(["run", "--plain", "--out"])
        .arg(&out)
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("was not in force"), "{stdout}");
    assert!(processes_with(&marker).is_empty());
    let r = result(&out);
    let fault = r["iterations"][0]["faults"][0].clone();
    assert_eq!(fault["effect"]["status"], "ineffective", "{fault}");
    assert_eq!(r["iterations"][0]["status"], "failed");
    let records = journal(&out);
    let effect = records
        .iter()
        .find(|e| e["kind"] == "fault-effect")
        .expect("the finding is journaled");
    assert_eq!(effect["data"]["effect"]["status"], "ineffective");
    (fault, r["reason"].as_str().unwrap_or_default().to_owned())
}

/// A CPU stress whose helper burns nothing: the check sees no CPU time.
#[test]
fn a_cpu_stress_that_burns_nothing_is_not_in_force() {
    let _guard = shared();
    let (fault, reason) = run_ineffective(
        "idle-stress",
        "    - {name: burn, type: cpu-stress, workers: 1, load: 100, duration: 2s}",
        "exec sleep 30",
    );
    let observed = fault["effect"]["observed"].as_str().unwrap();
    assert!(
        observed.contains("used 0.00 s of CPU in 0.5 s"),
        "{observed}"
    );
    assert!(
        reason.starts_with("iteration 1: fault `burn` was not in force"),
        "{reason}"
    );
}

/// A memory pressure whose helper says it allocated but holds nothing (as one held back by
/// a limit or swapped out would): the check sees too little resident memory.
#[test]
fn a_memory_pressure_that_holds_nothing_is_not_in_force() {
    let _guard = shared();
    let (fault, reason) = run_ineffective(
        "idle-memory",
        // Longer than the check's 5 s, so that it is not cut short by the revert.
        "    - {name: hog, type: memory-pressure, sizeMib: 64, duration: 6s}",
        "echo ready; exec sleep 30",
    );
    let observed = fault["effect"]["observed"].as_str().unwrap();
    assert!(
        observed.contains("MiB resident of the 64 MiB asked"),
        "{observed}"
    );
    assert!(
        reason.starts_with("iteration 1: fault `hog` was not in force"),
        "{reason}"
    );
}

/// A pause of a replica that left the process group firedrill started it in (it joined its
/// parent's group, as a daemonising wrapper might): the SIGSTOP to the group reaches
/// nothing, the check sees the process still running, and the run still ends (the process
/// itself is signalled at the end, not only its group).
#[test]
fn a_pause_that_misses_its_process_is_not_in_force() {
    let _guard = shared();
    // Longer than the check's 5 s, so that it is not cut short by the revert.
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 6s}";
    let d = run_demo_with(
        "left-group",
        1,
        "50ms",
        faults,
        "  recovery: {stableFor: 100ms}",
        1,
        |yaml| {
            yaml.replacen(
                r#"command: ["{firedrill}", demo"#,
                r#"command: [perl, -e, "setpgrp(0, getpgrp(getppid())); exec @ARGV", "{firedrill}", demo"#,
                1,
            )
        },
    );
    let fault = &d.result["iterations"][0]["faults"][0];
    assert_eq!(fault["effect"]["status"], "ineffective", "{fault}");
    let observed = fault["effect"]["observed"].as_str().unwrap();
    assert!(observed.contains("after SIGSTOP"), "{observed}");
}
