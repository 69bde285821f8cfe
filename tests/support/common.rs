//! Helpers shared by the black-box tests: the binary, temporary experiments, waiting on
//! conditions with deadlines, and finding processes by a marker in their command line.

#![allow(dead_code)]

use crate::experiment::Experiment;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The timing lock, one per test binary: tests that measure time take it for writing, so
/// that no other test of their binary loads the two CPUs meanwhile; every other test takes
/// it for reading, and those run side by side. Cargo runs the test binaries one after the
/// other, so a test measuring time runs alone on the machine's share of this build.
///
/// A tokio lock, so that async tests can hold it across an await; it is never poisoned,
/// so a failing test does not fail the ones after it.
pub static QUIET: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs alongside other tests, but never alongside a timing test.
pub fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    QUIET.blocking_read()
}

/// Runs alone among the tests of its binary.
pub fn alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    QUIET.blocking_write()
}

/// [`shared`] for an async test.
pub async fn shared_async() -> tokio::sync::RwLockReadGuard<'static, ()> {
    QUIET.read().await
}

/// [`alone`] for an async test.
pub async fn alone_async() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    QUIET.write().await
}

/// The firedrill binary cargo built for these tests.
pub fn firedrill() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_firedrill"))
}

/// A unique marker to find the processes of one test.
pub fn marker(test: &str) -> String {
    format!("fdtest-{test}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// Writes an experiment file into `dir`.
pub fn write_experiment(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Starts `firedrill run FILE --out OUT --plain` with piped output.
pub fn spawn_run(file: &Path, out: &Path) -> Child {
    Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(out)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `firedrill run FILE --out OUT --plain` to its end, killing it after `timeout`.
pub fn run_to_end(file: &Path, out: &Path, timeout: Duration) -> std::process::Output {
    assert_cmd::Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(out)
        .arg(file)
        .timeout(timeout)
        .output()
        .unwrap()
}

/// Waits until `cond` holds, or panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(wait_until(timeout, cond), "timed out waiting for {what}");
}

/// Whether `cond` comes to hold within `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child to exit, killing it and panicking after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("firedrill did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the journal in `out` has a record of `kind`.
pub fn journal_has(out: &Path, kind: &str) -> bool {
    std::fs::read_to_string(out.join("journal.jsonl"))
        .map(|j| j.contains(&format!("\"kind\":\"{kind}\"")))
        .unwrap_or(false)
}

/// The journal's records.
pub fn journal(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A live process: its pid and state letter (R, S, T for stopped, Z...).
#[derive(Debug)]
pub struct Proc {
    pub pid: u32,
    pub state: char,
}

/// Processes whose command line contains `marker`, zombies excluded.
pub fn processes_with(marker: &str) -> Vec<Proc> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(marker) {
            continue;
        }
        let state = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1.trim_start().chars().next()?;
                Some(after)
            })
            .unwrap_or('?');
        if state != 'Z' && state != 'X' {
            found.push(Proc { pid, state });
        }
    }
    found
}

/// The result.json of a run.
pub fn result(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("result.json")).expect("result.json written");
    serde_json::from_str(&text).unwrap()
}

/// A demo workload of `replicas`, tagged with `marker`, with an HTTP probe through its
/// service and the given faults and extra spec lines: [`Experiment::demo`].
pub fn demo_experiment(
    marker: &str,
    replicas: u32,
    interval: &str,
    faults: &str,
    extra: &str,
) -> String {
    Experiment::demo(marker, replicas)
        .interval(interval)
        .faults(faults)
        .extra(extra)
        .yaml()
}

/// A finished run of a demo experiment: its folder (kept alive), its marker and its result.
pub struct Drill {
    /// Holds the experiment and the results folder.
    pub dir: tempfile::TempDir,
    /// The results folder.
    pub out: std::path::PathBuf,
    /// The marker of its processes.
    pub marker: String,
    /// result.json.
    pub result: serde_json::Value,
}

/// Runs [`demo_experiment`] to its end, checks the exit code and that no process of it is
/// left, and returns what it wrote.
pub fn run_demo(
    test: &str,
    replicas: u32,
    interval: &str,
    faults: &str,
    extra: &str,
    expect_code: i32,
) -> Drill {
    run_demo_with(test, replicas, interval, faults, extra, expect_code, |y| y)
}

/// [`run_demo`] with the experiment text edited by `edit` first.
pub fn run_demo_with(
    test: &str,
    replicas: u32,
    interval: &str,
    faults: &str,
    extra: &str,
    expect_code: i32,
    edit: impl FnOnce(String) -> String,
) -> Drill {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(test);
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &edit(demo_experiment(&marker, replicas, interval, faults, extra)),
    );
    let out = dir.path().join("out");
    let output = run_to_end(&file, &out, Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(expect_code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let result = result(&out);
    Drill {
        dir,
        out,
        marker,
        result,
    }
}

/// Parses an XML document to its end, panicking at the first error; returns the names of
/// its elements in order.
pub fn xml_elements(text: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut names = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return names,
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                names.push(e.name().into_inner().to_owned());
            }
            Ok(_) => {}
            Err(e) => panic!(
                "not well-formed XML at {}: {e}\n{text}",
                reader.buffer_position()
            ),
        }
    }
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// Whether Prometheus and Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`)
/// are on PATH. Without them the test says it was skipped and why; with `CI` set, where
/// `what` must be tested, it fails instead.
pub fn alerting_stack_installed(what: &str) -> bool {
    let missing: Vec<&str> = [
        ("prometheus", on_path("prometheus")),
        (
            "prometheus-alertmanager",
            on_path("prometheus-alertmanager") || on_path("alertmanager"),
        ),
    ]
    .into_iter()
    .filter(|(_, found)| !found)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} not on PATH (apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)",
        missing.join(" and ")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}, and CI is set: {what} must be tested"
    );
    eprintln!("skipped: {why}; set CI to make this a failure");
    false
}
