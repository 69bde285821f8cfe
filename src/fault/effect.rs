//! Proof of effect: after a fault is injected, what shows that it is in force. A fault that
//! changed nothing (a pause of a process that already exited, a kill the process ignores, a
//! NetworkPolicy the network plugin does not enforce) would otherwise look like a system
//! that withstood it.

use std::time::Duration;

pub use crate::result::Effect;

/// How long a check may look for its fault's effect before it gives its answer.
pub const CHECK_WINDOW: Duration = Duration::from_secs(5);

/// What `/proc` says of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessStatus {
    /// Its state: `R` running, `S` sleeping, `T` stopped, `Z` zombie, ...
    pub state: char,
    /// User and system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
}

impl ProcessStatus {
    /// The status of process `pid`; `None` when it is gone.
    pub fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: fields follow the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first()?.chars().next()?;
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        let cpu_ticks = ticks(11)? + ticks(12)?;
        // The resident set in pages is field 24 of the whole line.
        let pages = ticks(21)?;
        Some(Self {
            state,
            cpu_ticks,
            rss_kib: pages * page_kib(),
        })
    }

    /// Whether the process has exited (gone, or a zombie not yet reaped).
    pub fn exited(status: Option<Self>) -> bool {
        status.is_none_or(|s| s.state == 'Z' || s.state == 'X')
    }
}

/// The size of a memory page, KiB.
fn page_kib() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).map_or(4, |s| (s / 1024).max(1))
}

/// Clock ticks per second, for CPU times.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).unwrap_or(100).max(1)
}

/// Looks at `look` every `every` until it gives an answer or `window` has passed; then
/// `otherwise`.
pub async fn within<T, F: std::future::Future<Output = Option<T>>>(
    window: Duration,
    every: Duration,
    mut look: impl FnMut() -> F,
    otherwise: impl FnOnce() -> T,
) -> T {
    let end = tokio::time::Instant::now() + window;
    loop {
        if let Some(found) = look().await {
            return found;
        }
        if tokio::time::Instant::now() >= end {
            return otherwise();
        }
        tokio::time::sleep(every).await;
    }
}

/// Looks at `look` on this host every [`LOCAL_EVERY`] for up to [`CHECK_WINDOW`]; `None`
/// when it never gave an answer.
pub async fn within_local<T>(mut look: impl FnMut() -> Option<T>) -> Option<T> {
    within(
        CHECK_WINDOW,
        LOCAL_EVERY,
        || std::future::ready(look().map(Some)),
        || None,
    )
    .await
}

/// How often a check on this host looks again.
pub const LOCAL_EVERY: Duration = Duration::from_millis(50);

/// How often a check through the Kubernetes API looks again.
pub const API_EVERY: Duration = Duration::from_millis(250);

/// What a detection canary or a prevention check did is its effect: the action performed,
/// or the attempt answered by the API server.
pub fn of_security(outcome: Option<crate::result::SecurityOutcome>) -> Effect {
    use crate::result::SecurityOutcome;
    match outcome {
        Some(SecurityOutcome::Canary(c)) if !c.actions.is_empty() => {
            Effect::verified(format!("performed: {}", c.actions.join("; ")))
        }
        Some(SecurityOutcome::Canary(_)) => Effect::ineffective("the canary performed nothing"),
        Some(SecurityOutcome::Prevention(p)) => match p.status {
            Some(status) => Effect::verified(format!(
                "{} was answered {status} ({})",
                p.action,
                if p.refused { "refused" } else { "accepted" }
            )),
            None => Effect::unverified(format!("{} got no answer", p.action)),
        },
        None => Effect::unverified("the attempt was not made"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_shows_a_stopped_process_its_cpu_and_its_end() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Until `sleep` runs (after exec), the child may show the forked copy's figures.
        let mut running = ProcessStatus::read(pid).unwrap();
        for _ in 0..200 {
            running = ProcessStatus::read(pid).unwrap();
            if running.state == 'S' && running.rss_kib > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(running.state, 'S', "{running:?}");
        assert!(running.rss_kib > 0, "{running:?}");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let mut stopped = running;
        for _ in 0..100 {
            stopped = ProcessStatus::read(pid).unwrap();
            if stopped.state == 'T' {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stopped.state, 'T');
        child.kill().unwrap();
        // Killed but not yet reaped: a zombie, which counts as exited.
        std::thread::sleep(Duration::from_millis(100));
        assert!(ProcessStatus::exited(ProcessStatus::read(pid)));
        child.wait().unwrap();
        assert_eq!(ProcessStatus::read(pid), None);
        let me = ProcessStatus::read(std::process::id()).unwrap();
        assert!(me.cpu_ticks > 0 || ticks_per_second() > 0);
    }
}
