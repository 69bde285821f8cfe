//! Child processes that can never outlive firedrill.
//!
//! Every child runs in its own process group (so a signal reaches its own children too)
//! and asks the kernel for SIGKILL when firedrill dies (`PR_SET_PDEATHSIG`), which covers
//! the one exit path no code of ours runs on: SIGKILL of firedrill itself. Every live
//! child is also kept in a process-wide registry so that an emergency exit (a second
//! Ctrl-C) can resume and kill them all synchronously.
//!
//! The kernel's SIGKILL reaches the child only, not what the child started in its group (a
//! shell wrapper's server, a supervisor's workers): those are orphaned and run on. So every
//! child carries [`RUN_PID`], and `firedrill rollback` stops the process groups whose
//! members still carry a killed run's ([`left_by_run`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io;
use std::sync::Mutex;

use tokio::process::{Child, Command};

static LIVE: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());

/// The environment variable every child (and what it starts) inherits: the process id of
/// the firedrill that started it, which tells a killed run's leftovers from anyone else's.
pub const RUN_PID: &str = "FIREDRILL_RUN_PID";

/// Builds a command whose child is placed in a new process group and dies with firedrill.
pub fn command<S: AsRef<OsStr>>(program: S) -> Command {
    let mut cmd = Command::from(std_command(program));
    cmd.kill_on_drop(true);
    cmd
}

/// The same as [`command`], for code that waits on the child without a runtime.
pub fn std_command<S: AsRef<OsStr>>(program: S) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    cmd.env(RUN_PID, std::process::id().to_string());
    // SAFETY: only async-signal-safe calls (getppid, prctl, setpgid, _exit) run between
    // fork and exec.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
    cmd
}

/// Starts `cmd` and registers the child for emergency clean-up under `label`.
pub fn spawn(cmd: &mut Command, label: &str) -> io::Result<Child> {
    let child = cmd.spawn()?;
    if let Some(pid) = child.id() {
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid, label.to_owned());
    }
    Ok(child)
}

/// Forgets a child that has exited and been reaped.
pub fn forget(pid: u32) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
}

/// Sends `signal` to the whole process group led by `pid`.
pub fn signal_group(pid: u32, signal: i32) -> io::Result<()> {
    let pgid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(-pgid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Resumes and kills every registered child's process group, synchronously.
///
/// Used on the emergency path (second Ctrl-C, panic in the run) where no async code can be
/// trusted to run any more. Returns how many groups were signalled.
pub fn kill_all_now() -> usize {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in live.keys() {
        let _ = signal_group(*pid, libc::SIGCONT);
        let _ = signal_group(*pid, libc::SIGKILL);
    }
    live.len()
}

/// The labels of the children still registered, for diagnostics and tests.
pub fn live_children() -> Vec<(u32, String)> {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(p, l)| (*p, l.clone()))
        .collect()
}

/// The processes still alive that a run of firedrill process `run_pid` started (or that
/// what it started started) at `run_started` or later, by process group: those that carry
/// `RUN_PID=run_pid` in their environment. The start time tells them from the children
/// of an older firedrill that had the same process id.
pub fn left_by_run(run_pid: u32, run_started: std::time::SystemTime) -> BTreeMap<u32, Vec<u32>> {
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return groups;
    };
    let boot = boot_time();
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    let mark = format!("{RUN_PID}={run_pid}");
    // Boot time has whole seconds and /proc rounds start times down: slack for both.
    let earliest = run_started
        .checked_sub(std::time::Duration::from_secs(2))
        .unwrap_or(std::time::UNIX_EPOCH);
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        let Some(stat) = Stat::read(pid) else {
            continue;
        };
        let started = boot.map(|b| b + std::time::Duration::from_millis(stat.start * 1000 / ticks));
        let ours = !matches!(stat.state, 'Z' | 'X')
            && started.is_some_and(|s| s >= earliest)
            && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == mark.as_bytes()));
        if ours {
            groups.entry(stat.pgid).or_default().push(pid);
        }
    }
    groups
}

/// Resumes and kills the whole process group `pgid`.
pub fn stop_group(pgid: u32) -> io::Result<()> {
    let _ = signal_group(pgid, libc::SIGCONT);
    signal_group(pgid, libc::SIGKILL)
}

/// What /proc/PID/stat says of a process that [`left_by_run`] needs.
struct Stat {
    state: char,
    pgid: u32,
    /// Clock ticks since boot.
    start: u64,
}

impl Stat {
    fn read(pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        Some(Stat {
            state: fields.first()?.chars().next()?,
            pgid: fields.get(2)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
        })
    }
}

/// When the machine booted (`btime` of /proc/stat).
fn boot_time() -> Option<std::time::SystemTime> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let secs = text
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Stops a child and its process group: SIGCONT (a paused group cannot act on SIGTERM),
/// SIGTERM, then SIGKILL after `grace`. Always reaps the child.
pub async fn terminate(child: &mut Child, grace: std::time::Duration) {
    let Some(pid) = child.id() else {
        let _ = child.wait().await;
        return;
    };
    // The process itself as well as its group: a process that left the group it was
    // started in (setpgid, setsid) would otherwise never be signalled, and its wait would
    // never end.
    let both = |signal| {
        let _ = signal_group(pid, signal);
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, signal) };
        }
    };
    both(libc::SIGCONT);
    both(libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        both(libc::SIGKILL);
        let _ = child.wait().await;
    } else {
        // The leader is gone; make sure nothing else of its group lingers.
        let _ = signal_group(pid, libc::SIGKILL);
    }
    forget(pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn child_gets_own_group_and_is_terminated() {
        let mut cmd = command("sleep");
        cmd.arg("30");
        let mut child = spawn(&mut cmd, "test-sleep").unwrap();
        let pid = child.id().unwrap();
        // SAFETY: getpgid has no memory-safety preconditions.
        let pgid = unsafe { libc::getpgid(pid as libc::pid_t) };
        assert_eq!(
            pgid, pid as libc::pid_t,
            "child leads its own process group"
        );
        assert!(live_children().iter().any(|(p, _)| *p == pid));
        terminate(&mut child, std::time::Duration::from_secs(2)).await;
        assert!(!live_children().iter().any(|(p, _)| *p == pid));
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::kill(pid as libc::pid_t, 0) },
            -1,
            "process is gone"
        );
    }

    #[tokio::test]
    async fn what_a_child_started_in_its_group_is_found_and_stopped_after_the_child_dies() {
        let started = std::time::SystemTime::now();
        // A shell wrapper that starts its server as a child, as a supervisor does.
        let mut cmd = command("sh");
        cmd.args(["-c", "sleep 30 & wait"]);
        let mut child = spawn(&mut cmd, "test-wrapper").unwrap();
        let pgid = child.id().unwrap();
        let me = std::process::id();
        let in_group = |run, since| left_by_run(run, since).get(&pgid).map_or(0, Vec::len);
        let two = || in_group(me, started) == 2;
        assert!(wait_until(two), "the shell and its sleep carry the mark");
        // The wrapper dies as it would with firedrill; its child runs on, orphaned.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pgid as libc::pid_t, libc::SIGKILL) };
        let _ = child.wait().await;
        forget(pgid);
        assert_eq!(in_group(me, started), 1);
        // Another run's leftovers, or ones older than the run, are not ours.
        assert_eq!(in_group(me + 1, started), 0);
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(in_group(me, later), 0);
        stop_group(pgid).unwrap();
        assert!(wait_until(|| in_group(me, started) == 0));
    }

    /// Whether `cond` holds within five seconds.
    fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        cond()
    }

    #[tokio::test]
    async fn terminate_resumes_a_stopped_child() {
        let mut cmd = command("sleep");
        cmd.arg("30");
        let mut child = spawn(&mut cmd, "test-stopped").unwrap();
        let pid = child.id().unwrap();
        signal_group(pid, libc::SIGSTOP).unwrap();
        terminate(&mut child, std::time::Duration::from_millis(500)).await;
        // SAFETY: kill with signal 0 only checks existence.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, 0) }, -1);
    }
}
