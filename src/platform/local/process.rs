//! Child processes that can never outlive firedrill.
//!
//! Every child runs in its own process group (so a signal reaches its own children too)
//! and asks the kernel for SIGKILL when firedrill dies (`PR_SET_PDEATHSIG`), which covers
//! the one exit path no code of ours runs on: SIGKILL of firedrill itself. Every live
//! child is also kept in a process-wide registry so that an emergency exit (a second
//! Ctrl-C) can resume and kill them all synchronously.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io;
use std::sync::Mutex;

use tokio::process::{Child, Command};

static LIVE: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());

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
