//! Hostile clients against the real `firedrill serve` and `firedrill demo serve`: each gets a
//! bounded answer or a closed connection, a normal client is served meanwhile, and nothing is
//! written (docs/security.md, "Listeners").

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use crate::hostile::{self, LIMITS_ENV, Target};

/// A child that is killed when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `command` with the short listener limits and waits for `marker ADDR` on the
/// stream `stderr` (or standard output).
fn spawn_listening(
    mut command: Command,
    marker: &'static str,
    stderr: bool,
) -> (Killed, SocketAddr) {
    command.envs(LIMITS_ENV).stdin(Stdio::null());
    if stderr {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    }
    let mut child = command.spawn().unwrap();
    let pipe: Box<dyn std::io::Read + Send> = if stderr {
        Box::new(child.stderr.take().unwrap())
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let keep = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(line);
        }
    });
    let child = Killed(child);
    let mut address = None;
    wait_for("the listening address", Duration::from_secs(30), || {
        address = lines.lock().unwrap().iter().find_map(|l| {
            let at = l.find(marker)?;
            l[at + marker.len()..].trim().parse().ok()
        });
        address.is_some()
    });
    (child, address.unwrap())
}

#[test]
fn serve_withstands_hostile_clients() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills: []\n",
    )
    .unwrap();
    let results = dir.path().join("results");
    let secret = hostile::plant_secret(&results);
    let mut command = Command::new(firedrill());
    command
        .arg("serve")
        .arg("--schedules")
        .arg(dir.path().join("schedule.yaml"))
        .arg("--database")
        .arg(dir.path().join("history.db"))
        .arg("--results")
        .arg(&results)
        .args(["--listen", "127.0.0.1:0"]);
    let (_serve, addr) = spawn_listening(command, "listening on http://", true);
    let normal = move || hostile::get(addr, "/healthz").status == Some(200);
    wait_for("serve to answer", Duration::from_secs(30), normal);
    let before = hostile::files_under(dir.path());

    hostile::attack(&Target {
        addr,
        post_path: "/api/drills/nightly/stop",
        body_cap: 64 * 1024,
        secret: &secret,
        normal: &normal,
    });

    assert!(
        hostile::files_under(dir.path()) == before,
        "the attacks wrote to the history database or the results folder"
    );
}

#[test]
fn demo_workload_withstands_hostile_clients() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let secret = hostile::plant_secret(&dir.path().join("served"));
    let mut command = Command::new(firedrill());
    command
        .args(["demo", "serve", "--port", "0"])
        .current_dir(dir.path());
    let (_demo, addr) = spawn_listening(command, "listening on ", false);
    let normal = move || hostile::get(addr, "/health").status == Some(200);
    wait_for("the demo to answer", Duration::from_secs(30), normal);
    let before = hostile::files_under(dir.path());

    hostile::attack(&Target {
        addr,
        post_path: "/inbox",
        body_cap: 2 * 1024 * 1024,
        secret: &secret,
        normal: &normal,
    });

    assert!(
        hostile::files_under(dir.path()) == before,
        "the attacks wrote a file"
    );
}
