//! Hostile clients against a real run's listener (alerts, acknowledgements, the roles' pages,
//! the stop page): each gets a bounded answer or a closed connection, the role's page is
//! served meanwhile, and the run records nothing of it (docs/security.md, "Listeners").

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::hostile::{self, LIMITS_ENV, Target};
use crate::notifications::collect_lines;

/// A fault, and a detection timeout, longer than the attacks: the run's listener stays up
/// through them whatever the machine's load does to the drill.
const FREEZE: &str =
    "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 60s}";

/// Journal records a request to the listener can cause.
const LISTENER_RECORDS: &[&str] = &[
    "alert-received",
    "acknowledged",
    "decision-answered",
    "stop-requested",
];

#[test]
fn run_listener_withstands_hostile_clients() {
    let _guard = shared();
    // Few probes: a baseline probe lost to the machine's load ends the run, and its
    // listener with it, before the attacks. At scale 60 the budget of an hour is a minute: the run waits for the answer far
    // longer than the attacks take, and is stopped at the end.
    let extra = r#"  detection:
    timeout: 60s
    signals: [{name: mon, type: probe-fails, probe: api, consecutive: 2}]
  recovery: {stableFor: 300ms, timeout: 10s}
  response:
    timeScale: 60
    roles: [{name: incident-commander, function: cyber}]
    decisions:
      - {id: customers, decision: inform-customers, decidedBy: incident-commander, budget: 1h}"#;
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("hostile");
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "250ms", FREEZE, extra),
    );
    let out = dir.path().join("out");
    let mut child = Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(&out)
        .arg(&file)
        .envs(LIMITS_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = collect_lines(child.stderr.take().unwrap());
    let prefix = "respond as incident-commander: ";
    let mut link = None;
    wait_for("the role's link", Duration::from_secs(30), || {
        link = stderr.lock().unwrap().iter().find_map(|l| {
            let at = l.find(prefix)?;
            Some(l[at + prefix.len()..].trim().to_owned())
        });
        link.is_some()
    });
    let link = link.unwrap();
    let (authority, path) = link
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("unexpected link {link}"));
    let addr: SocketAddr = authority.parse().unwrap();
    let page = format!("/{path}");
    let normal = move || hostile::get(addr, &page).status == Some(200);
    wait_for("the role's page", Duration::from_secs(30), &normal);
    let secret = hostile::plant_secret(&dir.path().join("served"));
    let names = |out: &std::path::Path| -> Vec<std::path::PathBuf> {
        hostile::files_under(out)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    };
    let before = names(&out);

    let attacked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        hostile::attack(&Target {
            addr,
            post_path: "/alerts",
            // The listener's cap: four times the payload cap, which the handler drains to
            // answer 413.
            body_cap: 4 * 1024 * 1024,
            secret: &secret,
            normal: &normal,
        })
    }));
    if let Err(panic) = attacked {
        let _ = child.kill();
        let _ = child.wait();
        eprintln!(
            "the run's standard error:\n{}",
            stderr.lock().unwrap().join("\n")
        );
        std::panic::resume_unwind(panic);
    }

    let after = names(&out);
    let journal = journal(&out);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(after, before, "the attacks wrote a file");
    for kind in LISTENER_RECORDS {
        assert!(
            !journal.iter().any(|r| r["kind"] == *kind),
            "the attacks left a {kind} record in the journal"
        );
    }
    assert!(
        processes_with(&marker).is_empty(),
        "the run left processes behind"
    );
}
