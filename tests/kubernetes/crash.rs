//! Crash drills against the fake API server: `firedrill run` killed with SIGKILL at a chosen
//! or random moment of its fault, then `firedrill rollback`, then the fake's objects compared
//! with the snapshot taken before the run (docs/crash-recovery.md).
//!
//! "As before" is the fake's `snapshot()`: every object without the fields the server
//! changes on its own (resourceVersion, uid, timestamps, status), pods of a controller
//! compared as a group per owner (a deleted pod is replaced under a new name), and, as
//! the API server allows no removal of an ephemeral container, without
//! `ephemeralContainers` (the helper in it must have stopped: its status is checked).

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, wait_until};
use crate::crash_drill::{self as crash, Aim, Outcome, Phase};
use crate::experiment::Experiment;
use crate::fakekube::FakeKube;
use crate::kuberun::{cluster, firedrill_in, start};

/// The faults the drills take turns with: pods deleted, network policies, a helper in an
/// ephemeral container, a scaled workload, a cordoned node.
const FAULTS: [(&str, &str); 5] = [
    (
        "pod-delete",
        "{name: delete-one, type: pod-delete, select: {mode: one, workload: web}}",
    ),
    (
        "dns-outage",
        "{name: no-dns, type: dns-outage, select: {mode: one, workload: web}, duration: 800ms}",
    ),
    (
        "pod-cpu-stress",
        "{name: burn, type: pod-cpu-stress, select: {mode: one, workload: web}, duration: 800ms}",
    ),
    (
        "scale",
        "{name: scale-down, type: scale, workload: web, replicas: 1, duration: 800ms}",
    ),
    (
        "node-cordon",
        "{name: cordon, type: node-cordon, node: {type: named, name: node-2}, duration: 800ms}",
    ),
];

/// How far into a phase that lasts a random kill may land.
const SPAN: Duration = Duration::from_millis(700);

fn experiment(fault: &str) -> String {
    Experiment::kubernetes("crash-drill")
        .target_lines("    helperImage: registry.example/firedrill:1.0\n    allowNodeFaults: true")
        .interval("50ms")
        .baseline("200ms")
        .safety("{maxAffectedPercent: 100}")
        .recovery("{stableFor: 100ms, timeout: 10s}")
        .faults(&format!("    - {fault}"))
        .yaml()
}

/// The fake's snapshot without the ephemeral containers, which stay listed once added.
fn comparable(fake: &FakeKube) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("ephemeralContainers");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut snapshot = fake.snapshot();
    strip(&mut snapshot);
    snapshot
}

/// Helpers still running in an ephemeral container of any pod.
fn running_helpers(fake: &FakeKube) -> Vec<String> {
    fake.objects("Pod", None)
        .iter()
        .flat_map(|p| {
            let name = p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            p["status"]["ephemeralContainerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|s| s["state"].get("running").is_some())
                .map(move |s| format!("helper {} still running in pod {name}", s["name"]))
        })
        .collect()
}

/// What differs from `before`, a line per object.
fn differences(before: &Value, now: &Value) -> Vec<String> {
    let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let (was, is) = (items(before), items(now));
    let mut lines: Vec<String> = was
        .iter()
        .filter(|o| !is.contains(o))
        .map(|o| format!("before, not now: {o}"))
        .collect();
    lines.extend(
        is.iter()
            .filter(|o| !was.contains(o))
            .map(|o| format!("now, not before: {o}")),
    );
    lines
}

/// Runs drill `n` with fault `FAULTS[n % 5]` on a fresh fake, kills it at `aim`, rolls it
/// back unless `roll_back` is false, and says what differs from before.
fn drill(n: usize, aim: &Aim, roll_back: bool) -> Outcome {
    let (fault, line) = FAULTS[n % FAULTS.len()];
    let fake = cluster(3);
    let before = comparable(&fake);
    let dir = tempfile::tempdir().unwrap();
    let mut run = start(&fake, dir.path(), &experiment(line));
    let pid = run.id();
    let journal = run.out.join("journal.jsonl");
    let kill = {
        let run = std::cell::RefCell::new(&mut run);
        crash::kill_at(
            pid,
            &journal,
            aim,
            Duration::from_secs(30),
            || run.borrow_mut().running(),
            || run.borrow_mut().reap(),
        )
    };
    let rollback_ok = !roll_back
        || firedrill_in(dir.path(), &["rollback", run.out.to_str().unwrap()])
            .status
            .success();
    // The fake's controller replaces deleted pods and makes them Ready after its delays.
    let mut left = Vec::new();
    wait_until(Duration::from_secs(5), || {
        left = differences(&before, &comparable(&fake));
        left.extend(running_helpers(&fake));
        left.is_empty()
    });
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
    crash::run_series(
        "kubernetes crash drills",
        n,
        FAULTS.len(),
        SPAN,
        |i, aim| drill(i, aim, true),
    );
}

#[test]
fn a_kill_in_each_phase_is_rolled_back_to_the_snapshot() {
    let _guard = common::shared();
    series(5);
}

/// The full series of docs/crash-recovery.md: `benches/crash-recovery.sh`, or
/// `FIREDRILL_CRASH_DRILLS=50 cargo test --test kubernetes crash::random -- --ignored --nocapture`.
#[test]
#[ignore = "about three minutes: benches/crash-recovery.sh"]
fn random_kills_are_rolled_back_to_the_snapshot() {
    let _guard = common::alone();
    series(crash::count("FIREDRILL_CRASH_DRILLS", 50));
}

/// The checker can fail: a run killed while the workload is scaled down, not rolled back,
/// leaves the fake unlike its snapshot.
#[test]
fn a_scaled_workload_left_by_a_kill_is_seen_unless_rolled_back() {
    let _guard = common::shared();
    let aim = Aim {
        phase: Phase::Active,
        after: "fault-injected",
        delay: Duration::ZERO,
    };
    let without = drill(3, &aim, false);
    assert_eq!(without.landed, Some(Phase::Active), "{without:?}");
    assert!(
        without.left.iter().any(|l| l.contains("Deployment")),
        "the checker sees the scaled Deployment: {without:?}"
    );
    let with = drill(3, &aim, true);
    assert!(with.restored(), "{with:?}");
}
