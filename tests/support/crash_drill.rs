//! Killing a run with SIGKILL at a chosen moment of its journal, telling from the journal
//! in which phase of its fault the kill landed, finding in /proc what it left behind, and
//! the table of a series of such kills: what the crash-and-rollback drills of
//! tests/local/crash.rs and tests/kubernetes/crash.rs share (docs/crash-recovery.md).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where a run stood in its fault's life when it was killed, as its journal tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// No intent yet: starting workloads, connecting, the baseline.
    BeforeInjection,
    /// An intent with no `fault-injected` (or `fault-injection-failed`) after it.
    Injecting,
    /// Injected, no revert started.
    Active,
    /// `fault-revert-started` with no `fault-reverted` after it.
    Reverting,
    /// The fault reverted: the run stopping its processes, writing its files, or ended.
    Finished,
}

impl Phase {
    /// Every phase, in the order of a run.
    pub const ALL: [Phase; 5] = [
        Phase::BeforeInjection,
        Phase::Injecting,
        Phase::Active,
        Phase::Reverting,
        Phase::Finished,
    ];

    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Phase::BeforeInjection => "before injection",
            Phase::Injecting => "during injection",
            Phase::Active => "fault active",
            Phase::Reverting => "during revert",
            Phase::Finished => "after finishing",
        }
    }

    /// A kill aimed at this phase: after the record that opens it, plus a random delay
    /// for the phases that last (up to `span`).
    pub fn aim(self, span: Duration) -> Aim {
        let random = || Duration::from_millis(fastrand::u64(..=span.as_millis() as u64));
        let (after, delay) = match self {
            Phase::BeforeInjection => ("run-started", random()),
            Phase::Injecting => ("fault-intent", Duration::ZERO),
            Phase::Active => ("fault-injected", random()),
            Phase::Reverting => ("fault-revert-started", Duration::ZERO),
            // The run ends soon after: a short delay, or it would end first.
            Phase::Finished => (
                "fault-reverted",
                Duration::from_millis(fastrand::u64(..=150)),
            ),
        };
        Aim {
            phase: self,
            after,
            delay,
        }
    }
}

/// When to kill a run: `delay` after its journal first holds a record of kind `after`.
#[derive(Debug, Clone)]
pub struct Aim {
    /// The phase aimed at.
    pub phase: Phase,
    /// The record kind that opens it.
    pub after: &'static str,
    /// How long after that record.
    pub delay: Duration,
}

/// The phase a run was in when its journal ended with `records`.
pub fn phase_of(records: &[Value]) -> Phase {
    records.iter().fold(Phase::BeforeInjection, |phase, r| {
        match r["kind"].as_str().unwrap_or_default() {
            "fault-intent" => Phase::Injecting,
            "fault-injected" => Phase::Active,
            // The check of its effect may be journaled after the revert: it opens no phase.
            "fault-effect" if phase == Phase::Injecting => Phase::Active,
            // Nothing was changed, or the revert of the part that was is what comes next.
            "fault-injection-failed" => Phase::Active,
            "fault-revert-started" => Phase::Reverting,
            // A fault with nothing to revert (pod-delete) goes from active to the run's end.
            "fault-reverted" | "fault-revert-failed" | "processes-stopped" | "run-finished" => {
                Phase::Finished
            }
            _ => phase,
        }
    })
}

/// The records of a journal read as it is, a line cut by the kill left out.
pub fn records(journal: &Path) -> Vec<Value> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A process as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its id.
    pub pid: u32,
    /// Its parent's id.
    pub ppid: u32,
    /// Its process group.
    pub pgid: u32,
    /// Its state letter (R, S, T when stopped, Z...).
    pub state: char,
    /// When it started, in clock ticks since boot: with the pid, who it is.
    pub start: u64,
    /// Its command line, arguments joined by spaces.
    pub command: String,
}

impl Process {
    /// Reads `/proc/PID`; none once it is gone.
    pub fn read(pid: u32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let command = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .split('\0')
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Some(Process {
            pid,
            state: fields.first()?.chars().next()?,
            ppid: fields.get(1)?.parse().ok()?,
            pgid: fields.get(2)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
            command,
        })
    }

    /// Whether it still runs (a zombie has ended; only its parent's wait is missing).
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }

    fn describe(&self) -> String {
        let state = if self.state == 'T' {
            "STOPPED".to_owned()
        } else {
            format!("state {}", self.state)
        };
        format!(
            "pid {} (group {}, {state}): {}",
            self.pid, self.pgid, self.command
        )
    }
}

/// Every process on the machine.
pub fn all_processes() -> Vec<Process> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter_map(Process::read)
                .collect()
        })
        .unwrap_or_default()
}

/// The processes descended from `root` (not `root` itself).
pub fn descendants(root: u32) -> Vec<Process> {
    let all = all_processes();
    let mut found: Vec<Process> = Vec::new();
    let mut parents = BTreeSet::from([root]);
    loop {
        let next: Vec<Process> = all
            .iter()
            .filter(|p| parents.contains(&p.ppid) && !found.iter().any(|f| f.pid == p.pid))
            .cloned()
            .collect();
        if next.is_empty() {
            return found;
        }
        parents.extend(next.iter().map(|p| p.pid));
        found.extend(next);
    }
}

/// The TCP ports `pid` listens on, from its socket descriptors and /proc/net/tcp{,6}.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Columns: sl local rem st tx:rx tr:when retrnsmt uid timeout inode.
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                let port = f[1].rsplit(':').next().unwrap_or_default();
                if let Ok(port) = u16::from_str_radix(port, 16) {
                    ports.insert(port);
                }
            }
        }
    }
    ports.into_iter().collect()
}

/// What a kill saw of the run at the moment it struck.
#[derive(Debug, Default)]
pub struct Kill {
    /// The phase the journal was in afterwards.
    pub landed: Option<Phase>,
    /// The run ended by itself before the aimed moment came.
    pub ended_first: bool,
    /// The run's descendants just before the kill.
    pub processes: Vec<Process>,
    /// The ports the run listened on just before the kill (its proxies among them).
    pub ports: Vec<u16>,
    /// The kinds of the journal's last three records, for the log.
    pub last_kinds: Vec<String>,
}

/// Kills the run `pid` with SIGKILL at `aim`, watching `journal`; `running` tells whether
/// the run is still running, `reap` waits for it once killed. Gives up after `deadline`
/// (then the run is killed where it stands).
pub fn kill_at(
    pid: u32,
    journal: &Path,
    aim: &Aim,
    deadline: Duration,
    mut running: impl FnMut() -> bool,
    reap: impl FnOnce(),
) -> Kill {
    let started = Instant::now();
    let needle = format!("\"kind\":\"{}\"", aim.after);
    let mut seen: Option<Instant> = None;
    let mut kill = Kill::default();
    loop {
        if !running() {
            kill.ended_first = true;
            break;
        }
        if seen.is_none() && std::fs::read_to_string(journal).is_ok_and(|j| j.contains(&needle)) {
            seen = Some(Instant::now());
        }
        let due = seen.is_some_and(|s| s.elapsed() >= aim.delay);
        if due || started.elapsed() >= deadline {
            kill.processes = descendants(pid);
            kill.ports = listening_ports(pid);
            // SAFETY: kill has no memory-safety preconditions; pid is our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            break;
        }
        // Polling is how the journal is watched. A kill aimed at the moment a record
        // appears polls without pause, to land inside phases that last a fraction of a
        // millisecond (injection, revert); the others poll every millisecond.
        if aim.delay.is_zero() {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    reap();
    let records = records(journal);
    kill.landed = Some(phase_of(&records));
    kill.last_kinds = records
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|r| r["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    kill
}

/// The process groups of the replicas a journal records as started.
pub fn replica_groups(records: &[Value]) -> BTreeSet<u32> {
    records
        .iter()
        .filter(|r| r["kind"] == "replica-started")
        .filter_map(|r| r["data"]["pgid"].as_u64())
        .filter_map(|g| u32::try_from(g).ok())
        .collect()
}

/// What a killed local run left on this host: a line per process of the run still alive
/// (the ones seen at the kill, any other member of their process groups or of the
/// replicas' groups, any whose command line holds `marker`), stopped ones marked, and a
/// line per port of the run still accepting connections.
pub fn leftovers(kill: &Kill, groups: &BTreeSet<u32>, marker: &str) -> Vec<String> {
    // SAFETY: getpgrp has no preconditions.
    let own_group = unsafe { libc::getpgrp() } as u32;
    let mut groups = groups.clone();
    groups.extend(kill.processes.iter().map(|p| p.pgid));
    groups.remove(&own_group);
    let seen: BTreeSet<(u32, u64)> = kill.processes.iter().map(|p| (p.pid, p.start)).collect();
    let mut left: Vec<String> = all_processes()
        .into_iter()
        .filter(|p| p.alive() && p.pid != std::process::id())
        .filter(|p| {
            seen.contains(&(p.pid, p.start))
                || groups.contains(&p.pgid)
                || p.command.contains(marker)
        })
        .map(|p| p.describe())
        .collect();
    for port in &kill.ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], *port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            left.push(format!("port {port} of the run still accepts connections"));
        }
    }
    left
}

/// Resumes and kills whatever [`leftovers`] would find, so that a drill leaves nothing
/// running whatever its outcome.
pub fn end_leftovers(kill: &Kill, groups: &BTreeSet<u32>, marker: &str) {
    // SAFETY: getpgrp has no preconditions.
    let own_group = unsafe { libc::getpgrp() } as u32;
    let seen: BTreeSet<(u32, u64)> = kill.processes.iter().map(|p| (p.pid, p.start)).collect();
    let mut groups = groups.clone();
    groups.extend(kill.processes.iter().map(|p| p.pgid));
    groups.remove(&own_group);
    for p in all_processes().into_iter().filter(|p| {
        p.pid != std::process::id()
            && (seen.contains(&(p.pid, p.start))
                || groups.contains(&p.pgid)
                || p.command.contains(marker))
    }) {
        // SAFETY: signalling processes this drill's run started.
        unsafe {
            libc::kill(p.pid as libc::pid_t, libc::SIGCONT);
            libc::kill(p.pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// One killed and rolled-back drill.
#[derive(Debug)]
pub struct Outcome {
    /// Its number in the series.
    pub drill: usize,
    /// The fault it ran.
    pub fault: &'static str,
    /// The phase aimed at.
    pub aimed: Phase,
    /// The phase the kill landed in (`None` when the run had ended first).
    pub landed: Option<Phase>,
    /// Whether the rollback command succeeded.
    pub rollback_ok: bool,
    /// What was not as before after the rollback; empty when restored.
    pub left: Vec<String>,
    /// The journal's last record kinds at the kill.
    pub last_kinds: Vec<String>,
}

impl Outcome {
    /// Whether the target was as before.
    pub fn restored(&self) -> bool {
        self.rollback_ok && self.left.is_empty()
    }
}

/// The table of a series: kills and restored drills per phase landed in, then per fault,
/// then a line per drill not restored.
pub fn table(title: &str, outcomes: &[Outcome]) -> String {
    let mut out = format!(
        "\n{title}: {} drills\n\n| Phase killed in | Kills | Restored | Not restored |\n|---|---:|---:|---:|\n",
        outcomes.len()
    );
    let mut by_phase: BTreeMap<Option<Phase>, (usize, usize)> = BTreeMap::new();
    let mut by_fault: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in outcomes {
        let e = by_phase.entry(o.landed).or_default();
        e.0 += 1;
        e.1 += usize::from(o.restored());
        let e = by_fault.entry(o.fault).or_default();
        e.0 += 1;
        e.1 += usize::from(o.restored());
    }
    for (phase, (n, ok)) in &by_phase {
        let name = phase.map_or("(run ended before the kill)", Phase::name);
        out.push_str(&format!("| {name} | {n} | {ok} | {} |\n", n - ok));
    }
    let total = outcomes.iter().filter(|o| o.restored()).count();
    out.push_str(&format!(
        "| **all** | {} | {total} | {} |\n\n| Fault | Kills | Restored |\n|---|---:|---:|\n",
        outcomes.len(),
        outcomes.len() - total
    ));
    for (fault, (n, ok)) in &by_fault {
        out.push_str(&format!("| {fault} | {n} | {ok} |\n"));
    }
    let mut aimed: BTreeMap<Phase, BTreeMap<Option<Phase>, usize>> = BTreeMap::new();
    for o in outcomes {
        *aimed
            .entry(o.aimed)
            .or_default()
            .entry(o.landed)
            .or_default() += 1;
    }
    out.push_str("\nAimed at -> landed in:\n");
    for (a, landed) in &aimed {
        let l: Vec<String> = landed
            .iter()
            .map(|(p, n)| format!("{} {n}", p.map_or("ended first", Phase::name)))
            .collect();
        out.push_str(&format!("- {}: {}\n", a.name(), l.join(", ")));
    }
    for o in outcomes.iter().filter(|o| !o.restored()) {
        out.push_str(&format!(
            "NOT RESTORED: drill {} ({}, aimed {}, landed {}, last records {:?}, rollback ok {}): {:#?}\n",
            o.drill,
            o.fault,
            o.aimed.name(),
            o.landed.map_or("ended first", Phase::name),
            o.last_kinds,
            o.rollback_ok,
            o.left
        ));
    }
    out
}

/// The number of drills of a long series: `var` if set, else `default`.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seeds the random kill moments from `FIREDRILL_CRASH_SEED` if set (to replay a series),
/// else at random; returns the seed to print.
pub fn seed() -> u64 {
    let seed = std::env::var("FIREDRILL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    fastrand::seed(seed);
    seed
}

/// Drills `n` times, the kill aimed at each phase in turn (within `span` of its record) and
/// the fault kinds (`kinds` of them) in turn, then prints the table under `title` and
/// asserts that every drill was restored.
pub fn run_series(
    title: &str,
    n: usize,
    kinds: usize,
    span: Duration,
    mut drill: impl FnMut(usize, &Aim) -> Outcome,
) {
    let outcomes: Vec<Outcome> = (0..n)
        .map(|i| {
            // Phases and faults both cycle by their count: step the phase every `kinds`
            // drills too, so that every fault meets every phase.
            let phase = Phase::ALL[(i + i / kinds) % Phase::ALL.len()];
            drill(i, &phase.aim(span))
        })
        .collect();
    let table = table(&format!("{title} (seed {})", seed()), &outcomes);
    println!("{table}");
    assert!(outcomes.iter().all(Outcome::restored), "{table}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn journal(kinds: &[&str]) -> Vec<Value> {
        kinds.iter().map(|k| json!({"kind": k})).collect()
    }

    #[test]
    fn the_phase_is_read_from_the_last_fault_records() {
        let cases: [(&[&str], Phase); 8] = [
            (&["run-started", "workloads-ready"], Phase::BeforeInjection),
            (&["run-started", "fault-intent"], Phase::Injecting),
            (
                &["fault-intent", "fault-injected", "detected"],
                Phase::Active,
            ),
            (
                &["fault-injected", "fault-revert-started"],
                Phase::Reverting,
            ),
            (
                &["fault-revert-started", "fault-reverted", "run-finished"],
                Phase::Finished,
            ),
            (&["fault-reverted", "fault-intent"], Phase::Injecting),
            (&["fault-injected", "run-finished"], Phase::Finished),
            (&["fault-reverted", "fault-effect"], Phase::Finished),
        ];
        for (kinds, phase) in cases {
            assert_eq!(phase_of(&journal(kinds)), phase, "{kinds:?}");
        }
    }
}
