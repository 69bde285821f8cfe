//! Crash drills on the local platform: `firedrill run` killed with SIGKILL at a chosen or
//! random moment of its fault, then `firedrill rollback`, then /proc and the run's ports
//! checked for anything it left (docs/crash-recovery.md).
//!
//! "As before" for local workloads, which firedrill itself starts: after the rollback no
//! process of the run remains (replicas, their children, stress helpers), none is left
//! stopped, and no port the run listened on (its dependency proxies) accepts a connection;
//! a toxic lives in the proxy, so it goes with it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::crash_drill::{self as crash, Aim, Outcome, Phase};
use crate::experiment::Experiment;

/// The faults the drills take turns with: each kind the local platform can leave behind.
const FAULTS: [(&str, &str); 5] = [
    (
        "process-pause",
        "{name: freeze, type: process-pause, select: {mode: all, workload: worker}, duration: 800ms}",
    ),
    (
        "process-kill",
        "{name: kill-one, type: process-kill, select: {mode: one, workload: front}, duration: 800ms}",
    ),
    (
        "cpu-stress",
        "{name: burn, type: cpu-stress, workers: 1, load: 50, duration: 800ms}",
    ),
    (
        "memory-pressure",
        "{name: hold, type: memory-pressure, sizeMib: 32, duration: 800ms}",
    ),
    (
        "dependency-latency",
        "{name: slow, type: dependency-latency, dependency: backend, latency: 100ms, duration: 800ms}",
    ),
];

/// How far into a phase that lasts a random kill may land.
const SPAN: Duration = Duration::from_millis(700);

/// A backend behind a dependency proxy, two front replicas calling it through the proxy,
/// and a worker started through a shell that runs the server as its child (as a supervisor
/// or a shell wrapper does), all tagged with `marker`; then `fault`.
fn experiment(marker: &str, fault: &str) -> String {
    Experiment::local(
        "crash-drill",
        &format!(
            r#"      - name: backend
        command: ["{{firedrill}}", demo, serve, --port, "{{port}}", --name, "{marker}"]
        readiness: {{type: http, path: /health, period: 10ms}}
      - name: front
        command: ["{{firedrill}}", demo, serve, --port, "{{port}}", --name, "{marker}",
                  --upstream, "http://{{dependency.backend}}/api"]
        replicas: 2
        readiness: {{type: http, path: /health, period: 10ms}}
      - name: worker
        command: [sh, -c, "\"$0\" \"$@\" & wait", "{{firedrill}}", demo, serve, --port, "{{port}}", --name, "{marker}"]
        readiness: {{type: http, path: /health, period: 10ms}}"#
        ),
    )
    .target_lines(
        r#"    dependencies:
      - {name: backend, upstream: "{workload.backend}"}"#,
    )
    .baseline("300ms")
    .probe(r#"{name: front, type: http, url: "http://{workload.front}/api", timeout: 500ms}"#)
    .faults(&format!("    - {fault}"))
    .recovery("{stableFor: 100ms, timeout: 5s}")
    .yaml()
}

/// `firedrill run` with its output in files beside the results (nothing to drain), killed
/// when dropped.
struct Run(Child);

impl Run {
    fn start(dir: &Path, file: &Path, out: &Path) -> Run {
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.join(name)).unwrap());
        Run(Command::new(firedrill())
            .args(["run", "--plain", "--out"])
            .arg(out)
            .arg(file)
            .stdin(Stdio::null())
            .stdout(log("run.out"))
            .stderr(log("run.err"))
            .spawn()
            .unwrap())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs drill `n` with fault `FAULTS[n % 5]`, kills it at `aim`, rolls it back unless
/// `roll_back` is false, and says what is left.
fn drill(n: usize, aim: &Aim, roll_back: bool) -> Outcome {
    let (fault, line) = FAULTS[n % FAULTS.len()];
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(&format!("crash{n}"));
    let file = write_experiment(dir.path(), "e.yaml", &experiment(&marker, line));
    let out = dir.path().join("out");
    let journal = out.join("journal.jsonl");
    let mut run = Run::start(dir.path(), &file, &out);
    let pid = run.0.id();
    let kill = {
        let child = &mut run.0;
        let running = std::cell::RefCell::new(child);
        crash::kill_at(
            pid,
            &journal,
            aim,
            Duration::from_secs(30),
            || running.borrow_mut().try_wait().ok().flatten().is_none(),
            || {
                let _ = running.borrow_mut().wait();
            },
        )
    };
    let groups = crash::replica_groups(&crash::records(&journal));
    let rollback_ok = !roll_back
        || Command::new(firedrill())
            .arg("rollback")
            .arg(&out)
            .output()
            .is_ok_and(|o| o.status.success());
    // Processes killed by the kernel with firedrill take a moment to be gone.
    let mut left = Vec::new();
    wait_until(Duration::from_secs(3), || {
        left = crash::leftovers(&kill, &groups, &marker);
        left.is_empty()
    });
    crash::end_leftovers(&kill, &groups, &marker);
    Outcome {
        drill: n,
        fault,
        aimed: aim.phase,
        landed: (!kill.ended_first).then_some(kill.landed).flatten(),
        rollback_ok,
        left,
        last_kinds: kill.last_kinds,
    }
}

/// Drills `n` times, kills spread over the phases in turn, fault kinds in turn.
fn series(n: usize) {
    crash::run_series("local crash drills", n, FAULTS.len(), SPAN, |i, aim| {
        drill(i, aim, true)
    });
}

#[test]
fn a_kill_in_each_phase_is_rolled_back_to_nothing_left() {
    let _guard = shared();
    series(5);
}

/// The full series of docs/crash-recovery.md: `benches/crash-recovery.sh`, or
/// `FIREDRILL_CRASH_DRILLS=100 cargo test --test local crash::random -- --ignored --nocapture`.
#[test]
#[ignore = "about five minutes: benches/crash-recovery.sh"]
fn random_kills_are_rolled_back_to_nothing_left() {
    let _guard = alone();
    series(crash::count("FIREDRILL_CRASH_DRILLS", 100));
}

/// The checker can fail: a run killed while a fault is active, not rolled back, leaves the
/// worker's server running, orphaned (the shell that started it dies with firedrill, its
/// child does not); the rollback then stops it.
#[test]
fn a_worker_server_orphaned_by_a_kill_is_seen_and_stopped_by_rollback() {
    let _guard = shared();
    let aim = Aim {
        phase: Phase::Active,
        after: "fault-injected",
        delay: Duration::ZERO,
    };
    // Drill 2: cpu-stress, so that a stress helper is running too.
    let without = drill(2, &aim, false);
    assert_eq!(without.landed, Some(Phase::Active), "{without:?}");
    assert!(
        without.left.iter().any(|l| l.contains("demo serve")),
        "the checker sees the orphaned server: {without:?}"
    );
    let with = drill(2, &aim, true);
    assert_eq!(with.landed, Some(Phase::Active), "{with:?}");
    assert!(with.restored(), "{with:?}");
}
