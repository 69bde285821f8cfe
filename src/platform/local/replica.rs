//! One replica of a local workload: its process, its restart policy and its readiness.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::process;
use crate::platform::PlatformEvent;
use crate::spec::{Readiness, Restart, RestartPolicy};

/// A replica's process, its port and whether it may receive traffic.
#[derive(Debug)]
pub struct Replica {
    /// The workload's name.
    pub workload: String,
    /// The replica's index, from 0.
    pub index: u32,
    /// The port allocated to the replica.
    pub port: u16,
    state: Mutex<State>,
    ready: AtomicBool,
    wake: Notify,
}

#[derive(Debug, Default)]
struct State {
    pid: Option<u32>,
    generation: u64,
    restarts: u32,
}

/// A replica's process at one moment: its pid and how many times it was started before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incarnation {
    /// Process id, also the id of its process group.
    pub pid: u32,
    /// Increases with every start, so a stale pid is never signalled.
    pub generation: u64,
}

impl Replica {
    pub(super) fn new(workload: &str, index: u32, port: u16) -> Self {
        Self {
            workload: workload.to_owned(),
            index,
            port,
            state: Mutex::new(State::default()),
            ready: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// `workload/index`, for messages and the journal.
    pub fn id(&self) -> String {
        format!("{}/{}", self.workload, self.index)
    }

    /// Whether the replica passes its readiness check.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The running process, if any.
    pub fn incarnation(&self) -> Option<Incarnation> {
        let st = self.lock();
        st.pid.map(|pid| Incarnation {
            pid,
            generation: st.generation,
        })
    }

    /// How many times the replica was restarted.
    pub fn restarts(&self) -> u32 {
        self.lock().restarts
    }

    /// Sends `signal` to the replica's process group if `expected` is still the running
    /// incarnation. Returns false when the replica has moved on (exited or restarted).
    pub fn signal(&self, expected: Incarnation, signal: i32) -> std::io::Result<bool> {
        let st = self.lock();
        if st.pid != Some(expected.pid) || st.generation != expected.generation {
            return Ok(false);
        }
        match process::signal_group(expected.pid, signal) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts the replica again if it is down and its policy would leave it down.
    pub fn ensure_running(&self) {
        if self.lock().pid.is_none() {
            self.wake.notify_one();
        }
    }

    #[cfg(test)]
    pub(crate) fn force_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_ready(&self, ready: bool, events: &Events) {
        if self.ready.swap(ready, Ordering::AcqRel) != ready {
            events.send(if ready {
                PlatformEvent::ReplicaReady { replica: self.id() }
            } else {
                PlatformEvent::ReplicaUnready { replica: self.id() }
            });
        }
    }
}

/// A clonable sink for platform events.
#[derive(Clone, Debug)]
pub struct Events(pub tokio::sync::mpsc::UnboundedSender<PlatformEvent>);

impl Events {
    fn send(&self, e: PlatformEvent) {
        // The receiver only goes away when the run is over; nothing is left to tell.
        let _ = self.0.send(e);
    }
}

/// What a supervisor needs to start the replica's process.
#[derive(Clone, Debug)]
pub(super) struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: Option<PathBuf>,
    pub restart: Restart,
}

/// Keeps the replica's process running according to its restart policy until `stop`.
pub(super) async fn supervise(
    replica: Arc<Replica>,
    launch: Launch,
    events: Events,
    stop: CancellationToken,
) {
    let initial = launch.restart.backoff.get();
    let mut delay = initial;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let started = Instant::now();
        match start(&replica, &launch) {
            Ok(mut child) => {
                let pid = child.id().unwrap_or_default();
                events.send(PlatformEvent::ReplicaStarted {
                    replica: replica.id(),
                    pid,
                });
                let status = tokio::select! {
                    status = child.wait() => status,
                    () = stop.cancelled() => {
                        replica.ready.store(false, Ordering::Release);
                        process::terminate(&mut child, Duration::from_secs(2)).await;
                        replica.lock().pid = None;
                        return;
                    }
                };
                // The leader is gone; anything left of its group goes with it.
                let _ = process::signal_group(pid, libc::SIGKILL);
                process::forget(pid);
                replica.lock().pid = None;
                replica.set_ready(false, &events);
                let (success, description) = match &status {
                    Ok(s) => (s.success(), describe_exit(s)),
                    Err(e) => (false, format!("wait failed: {e}")),
                };
                events.send(PlatformEvent::ReplicaExited {
                    replica: replica.id(),
                    pid,
                    status: description,
                });
                let restart = match launch.restart.policy {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure => !success,
                    RestartPolicy::Never => false,
                };
                if !restart {
                    tokio::select! {
                        () = replica.wake.notified() => {}
                        () = stop.cancelled() => return,
                    }
                    delay = initial;
                    continue;
                }
            }
            Err(e) => {
                events.send(PlatformEvent::ReplicaFailedToStart {
                    replica: replica.id(),
                    error: e.to_string(),
                });
            }
        }
        // A replica that ran for a while earns a fresh back-off, like the kubelet's.
        if started.elapsed() >= Duration::from_secs(10) {
            delay = initial;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = replica.wake.notified() => {}
            () = stop.cancelled() => return,
        }
        delay = (delay * 2).min(launch.restart.max_backoff.get().max(initial));
        replica.lock().restarts += 1;
    }
}

fn start(replica: &Replica, launch: &Launch) -> std::io::Result<tokio::process::Child> {
    let (program, args) = launch
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let mut cmd = process::command(program);
    cmd.args(args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    match &launch.log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let child = process::spawn(&mut cmd, &replica.id())?;
    let mut st = replica.lock();
    st.pid = child.id();
    st.generation += 1;
    Ok(child)
}

fn describe_exit(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        format!("exited with code {code}")
    } else if let Some(sig) = status.signal() {
        format!("killed by signal {sig}")
    } else {
        status.to_string()
    }
}

/// How often a replica that has not yet passed its readiness check is checked.
const STARTING_PERIOD: Duration = Duration::from_millis(1);

/// Checks the replica's readiness every period until `stop`.
pub(super) async fn watch_readiness(
    replica: Arc<Replica>,
    check: Readiness,
    ready_command: Option<Vec<String>>,
    events: Events,
    stop: CancellationToken,
) {
    let period = check.period().get();
    // Until a new process first passes, check often: a replica that has just started
    // should take traffic as soon as it can, not a whole period later.
    let eager = period.min(STARTING_PERIOD);
    let threshold = check.failure_threshold().max(1);
    let mut failures = 0u32;
    let mut next = tokio::time::Instant::now();
    let mut passed: Option<u64> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.cancelled() => return,
        }
        let Some(incarnation) = replica.incarnation() else {
            failures = 0;
            replica.set_ready(false, &events);
            next += eager;
            continue;
        };
        let starting = passed != Some(incarnation.generation);
        next = tokio::time::Instant::now().max(next) + if starting { eager } else { period };
        let ok = tokio::select! {
            ok = tokio::time::timeout(check.timeout().get(), probe_once(&replica, &check, ready_command.as_deref())) => ok.unwrap_or(false),
            () = stop.cancelled() => return,
        };
        if ok {
            failures = 0;
            passed = Some(incarnation.generation);
            replica.set_ready(true, &events);
        } else {
            failures += 1;
            if failures >= threshold || !replica.is_ready() {
                replica.set_ready(false, &events);
            }
        }
    }
}

async fn probe_once(replica: &Replica, check: &Readiness, command: Option<&[String]>) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], replica.port));
    match check {
        Readiness::Tcp(_) => TcpStream::connect(addr).await.is_ok(),
        Readiness::Http(http) => http_status(addr, &http.path).await == Some(http.expect_status),
        Readiness::Command(_) => {
            let Some((program, args)) = command.and_then(|c| c.split_first()) else {
                return false;
            };
            let mut cmd = process::command(program);
            cmd.args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let Ok(mut child) = process::spawn(&mut cmd, "readiness-check") else {
                return false;
            };
            let pid = child.id();
            let ok = matches!(child.wait().await, Ok(s) if s.success());
            if let Some(pid) = pid {
                process::forget(pid);
            }
            ok
        }
    }
}

/// A minimal HTTP/1.0 GET that returns the status code. Readiness checks run often and
/// against one known port, so a full client buys nothing here.
async fn http_status(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 32];
    let mut filled = 0;
    while filled < 12 {
        let n = stream.read(&mut head[filled..]).await.ok()?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let line = std::str::from_utf8(&head[..filled]).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.get(..3)?.parse().ok()
}
