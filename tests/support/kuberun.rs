//! Running the real binary against the fake API server, for the kubernetes end-to-end tests.
//!
//! Include it after `common` and `fakekube`, which it uses from the crate root:
//! `#[path = "support/kuberun.rs"] mod kuberun;`. A test seeds the fake, takes its snapshot,
//! starts `firedrill` with a kubeconfig for the fake ([`start`], [`run`], [`firedrill_in`]),
//! waits for the fault in place with `common::wait_for`, and checks at the end that the fake
//! is as it found it ([`wait_as_found`]).

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{firedrill, wait_exit};
use crate::fakekube::{FakeKube, Request};

/// The opt-in label a workload needs before firedrill touches its pods.
pub const CHAOS: (&str, &str) = ("firedrill.dev/chaos", "allowed");

/// How long a command may take before the test kills it and fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Creates the namespace `name`.
pub fn namespace(fake: &FakeKube, name: &str) {
    fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}));
}

/// A fake with namespace `shop` and a Deployment `web` of `replicas` opted-in pods.
pub fn cluster(replicas: i32) -> FakeKube {
    let fake = FakeKube::start();
    namespace(&fake, "shop");
    fake.add_deployment("shop", "web", replicas, &[("app", "web"), CHAOS]);
    fake
}

/// A temporary folder holding a kubeconfig for `fake`: where [`command`] and
/// [`firedrill_in`] run.
pub fn kube_dir(fake: &FakeKube) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fake.write_kubeconfig(dir.path());
    dir
}

/// `firedrill ARGS` with the kubeconfig in `dir` (and `dir` as its home, so that no
/// kubeconfig of the machine's user is read), its output piped.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(firedrill());
    cmd.args(args)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs [`command`] to its end (`rollback`, `cleanup`, `plan`, `validate`...), killing it
/// and failing after [`DEADLINE`].
pub fn firedrill_in(dir: &Path, args: &[&str]) -> Output {
    let child = command(dir, args).spawn().unwrap();
    let mut running = Running::new(child);
    let status = wait_exit(running.child(), DEADLINE);
    let (stdout, stderr) = running.output();
    Output {
        status,
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    }
}

/// What a command printed (stdout) and logged (stderr).
pub struct Said {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs [`firedrill_in`], failing with both streams unless the command succeeds.
pub fn succeeds_in(dir: &Path, args: &[&str]) -> Said {
    let output = firedrill_in(dir, args);
    let said = Said {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "firedrill {} exited {:?}\n{}\n{}",
        args.join(" "),
        output.status.code(),
        said.stdout,
        said.stderr
    );
    said
}

/// `firedrill rollback OUT` with the kubeconfig in `dir`; it must succeed.
pub fn rollback(dir: &Path, out: &Path) -> Said {
    succeeds_in(dir, &["rollback", out.to_str().unwrap()])
}

/// `firedrill cleanup --namespace NAMESPACE` with the kubeconfig in `dir`; it must succeed.
pub fn cleanup(dir: &Path, namespace: &str) -> Said {
    succeeds_in(dir, &["cleanup", "--namespace", namespace])
}

/// A child whose output is read on threads of its own as it comes, so that a full pipe
/// never blocks it; killed and reaped when dropped, so that a failing test leaves no run
/// behind.
struct Running {
    child: Option<Child>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    fn new(mut child: Child) -> Self {
        fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
            let mut pipe = pipe?;
            Some(std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            }))
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Running {
            child: Some(child),
            stdout,
            stderr,
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is kept until drop")
    }

    /// Everything the child wrote to stdout and stderr; waits for both pipes to close.
    fn output(&mut self) -> (String, String) {
        let join = |h: Option<JoinHandle<String>>| h.map(|h| h.join().unwrap()).unwrap_or_default();
        (join(self.stdout.take()), join(self.stderr.take()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `firedrill run` in progress.
pub struct KubeRun {
    /// The results folder.
    pub out: PathBuf,
    running: Running,
}

impl KubeRun {
    /// The run's process id, to signal it.
    pub fn id(&mut self) -> u32 {
        self.running.child().id()
    }

    /// Kills the run with SIGKILL (no handler runs, nothing is reverted) and reaps it.
    pub fn kill(&mut self) {
        let child = self.running.child();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Whether the run is still running.
    pub fn running(&mut self) -> bool {
        self.running.child().try_wait().ok().flatten().is_none()
    }

    /// Waits for a run that was killed (or ended) to be reaped.
    pub fn reap(&mut self) {
        let _ = self.running.child().wait();
    }

    /// Waits up to [`DEADLINE`] for the run to end; what it wrote and left.
    pub fn finish(self) -> Finished {
        self.finish_within(DEADLINE)
    }

    /// Waits up to `timeout` for the run to end; what it wrote and left.
    pub fn finish_within(mut self, timeout: Duration) -> Finished {
        let status = wait_exit(self.running.child(), timeout);
        let (stdout, stderr) = self.running.output();
        Finished {
            result: result(&self.out),
            out: self.out,
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

/// A finished run.
pub struct Finished {
    /// The results folder.
    pub out: PathBuf,
    /// The exit code (none if a signal ended it).
    pub code: Option<i32>,
    /// What it printed.
    pub stdout: String,
    /// What it logged.
    pub stderr: String,
    /// result.json, or null if it wrote none.
    pub result: Value,
}

impl Finished {
    /// What it printed, then what it logged, as one text to search or to show on failure.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// result.json of a run that exited 0; fails with the run's stderr otherwise.
    pub fn succeeded(&self) -> &Value {
        assert_eq!(self.code, Some(0), "{}\n{}", self.stderr, self.result);
        &self.result
    }
}

/// Starts `firedrill run --plain` on `yaml` (written to `dir/exp.yaml`) with a kubeconfig
/// for `fake` in `dir`; the results go to `dir/out`.
pub fn start(fake: &FakeKube, dir: &Path, yaml: &str) -> KubeRun {
    start_with_env(fake, dir, yaml, &[])
}

/// [`start`] with these variables added to the run's environment.
pub fn start_with_env(fake: &FakeKube, dir: &Path, yaml: &str, env: &[(&str, &str)]) -> KubeRun {
    fake.write_kubeconfig(dir);
    let file = dir.join("exp.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = dir.join("out");
    let mut cmd = command(
        dir,
        &[
            "run",
            "--plain",
            "--out",
            out.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    cmd.envs(env.iter().copied());
    KubeRun {
        out,
        running: Running::new(cmd.spawn().unwrap()),
    }
}

/// [`start`], then [`KubeRun::finish`].
pub fn run(fake: &FakeKube, dir: &Path, yaml: &str) -> Finished {
    start(fake, dir, yaml).finish()
}

/// result.json in `out`, or null if there is none.
pub fn result(out: &Path) -> Value {
    std::fs::read_to_string(out.join("result.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null)
}

/// The records of kind `kind` in a run's journal.
pub fn records(out: &Path, kind: &str) -> Vec<Value> {
    crate::common::journal(out)
        .into_iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

/// The `fault-intent` records of a run's journal.
pub fn intents(out: &Path) -> Vec<Value> {
    records(out, "fault-intent")
}

/// The `fault-intent` record of the fault named `fault`.
pub fn intent_of<'j>(journal: &'j [Value], fault: &str) -> &'j Value {
    journal
        .iter()
        .find(|r| r["kind"] == "fault-intent" && r["data"]["fault"] == fault)
        .unwrap_or_else(|| panic!("no intent of {fault}"))
}

/// Requests that change something: every one but a GET or a SelfSubjectAccessReview.
pub fn writes(fake: &FakeKube) -> Vec<Request> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.contains("selfsubjectaccessreviews"))
        .collect()
}

/// Waits until the fake's snapshot equals `before` (controllers may still be replacing pods
/// when a run ends); after `timeout`, fails naming `what` and the objects that differ.
pub fn wait_as_found(fake: &FakeKube, before: &Value, what: &str, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let now = fake.snapshot();
        if &now == before {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
            let (was, is) = (items(before), items(&now));
            let gone: Vec<&Value> = was.iter().filter(|o| !is.contains(o)).collect();
            let new: Vec<&Value> = is.iter().filter(|o| !was.contains(o)).collect();
            panic!(
                "timed out waiting for {what}: the fake is not as it was found\n\
                 before, not now: {gone:#?}\nnow, not before: {new:#?}"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `value` without empty JSON objects, at any depth: the API server omits them
/// (omitempty) where the fake keeps, say, the `annotations: {}` a removed last annotation
/// leaves.
pub fn without_empty_maps(mut value: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.values_mut().for_each(strip);
                map.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}
