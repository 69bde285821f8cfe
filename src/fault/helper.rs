//! What firedrill's helper processes run (`firedrill internal ...`): how long a helper lives,
//! the disk fill, and the `status` and `stop` commands that a pod fault runs beside its
//! helper through `pods/exec`.
//!
//! A helper never outlives its deadline: it is given one as a duration (counted from its
//! own start) and, in pods, also as a wall-clock instant; whichever comes first ends it, so
//! it stops by itself even when the firedrill that started it is gone. SIGTERM (or SIGINT)
//! ends it early, and a disk fill then removes its file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::effect::{ProcessStatus, ticks_per_second};

/// Set by SIGTERM or SIGINT in a helper process.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// How long a helper process lives.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    end: Instant,
}

impl Lifetime {
    /// Ends after `duration`, or at `until` (milliseconds since the Unix epoch) when that
    /// comes first.
    pub fn new(duration: Duration, until_unix_ms: Option<u64>) -> Self {
        let now = Instant::now();
        let mut end = now + duration;
        if let Some(until) = until_unix_ms {
            let left = Duration::from_millis(until.saturating_sub(unix_ms(SystemTime::now())));
            end = end.min(now + left);
        }
        Self { end }
    }

    /// Makes SIGTERM and SIGINT end every lifetime of this process early (a helper in a
    /// container is its PID 1, which the kernel shields from signals it does not handle).
    pub fn stop_on_signals() {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                libc::SIGTERM,
                on_stop_signal as *const () as libc::sighandler_t,
            );
            libc::signal(
                libc::SIGINT,
                on_stop_signal as *const () as libc::sighandler_t,
            );
        }
    }

    /// Whether the helper should stop now.
    pub fn over(&self) -> bool {
        STOP.load(Ordering::SeqCst) || Instant::now() >= self.end
    }

    /// Waits until the helper should stop.
    pub fn hold(&self) {
        while !self.over() {
            let left = self.end.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How much a disk fill writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillAmount {
    /// This many MiB.
    Mib(u64),
    /// Until the file system is this full, in percent.
    Percent(u8),
}

/// The file a disk fill with marker `id` writes in `dir`.
pub fn fill_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(".firedrill-fill-{id}"))
}

/// Size and use of the file system holding a path.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Its size, bytes.
    pub total_bytes: u64,
    /// What is in use, bytes.
    pub used_bytes: u64,
    /// What an unprivileged process may still write, bytes.
    pub available_bytes: u64,
}

impl Volume {
    /// The file system holding `path`.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other("the path holds a NUL byte"))?;
        // SAFETY: statvfs is plain data, written by the call below.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid C string and `st` a valid place for the answer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The field types differ between targets (u64 on x86_64 Linux glibc, u32 elsewhere).
        #[allow(clippy::useless_conversion)]
        let unit = u64::from(st.f_frsize);
        #[allow(clippy::useless_conversion)]
        let blocks = |n: libc::fsblkcnt_t| u64::from(n) * unit;
        Ok(Self {
            total_bytes: blocks(st.f_blocks),
            used_bytes: blocks(st.f_blocks).saturating_sub(blocks(st.f_bfree)),
            available_bytes: blocks(st.f_bavail),
        })
    }

    /// How full it is, in percent.
    pub fn used_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.used_bytes as f64 * 100.0 / self.total_bytes as f64
    }

    /// The bytes to write for `amount`, at most what may still be written.
    pub fn to_write(&self, amount: FillAmount) -> u64 {
        let wanted = match amount {
            FillAmount::Mib(mib) => mib.saturating_mul(1024 * 1024),
            FillAmount::Percent(p) => {
                let goal = (self.total_bytes as u128 * u128::from(p.min(100)) / 100) as u64;
                goal.saturating_sub(self.used_bytes)
            }
        };
        wanted.min(self.available_bytes)
    }
}

/// Removes the fill file when dropped, however the helper ends.
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the fill file in `dir`, prints `ready BYTES`, holds it for the helper's lifetime,
/// and removes it. A full disk ends the writing, not the helper: a full disk is the fault.
pub fn fill_disk(dir: &Path, id: &str, amount: FillAmount, life: &Lifetime) -> std::io::Result<()> {
    let path = fill_file(dir, id);
    let bytes = Volume::of(dir)?.to_write(amount);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _remove = Remove(path);
    // Data that no file system compresses to nothing.
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in chunk.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
    }
    let mut written = 0u64;
    while written < bytes && !life.over() {
        let n = usize::try_from((bytes - written).min(chunk.len() as u64)).unwrap_or(chunk.len());
        match file.write(&chunk[..n]) {
            Ok(0) => break,
            Ok(k) => written += k as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => return Err(e),
        }
    }
    // Allocated on the disk, not only in the page cache.
    let _ = file.sync_all();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {written}")?;
    out.flush()?;
    life.hold();
    Ok(())
}

/// What `firedrill internal status` says of one helper.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelperStatus {
    /// Its process id (in its PID namespace).
    pub pid: u32,
    /// Which helper: `cpu-stress`, `memory-pressure` or `disk-fill`.
    pub kind: String,
    /// Its state letter from `/proc` (`R`, `S`...).
    pub state: char,
    /// CPU time it used during the window, seconds.
    pub cpu_seconds: f64,
    /// The window, seconds.
    pub window_seconds: f64,
    /// Its resident memory, KiB.
    pub rss_kib: u64,
    /// A disk fill's file: its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<u64>,
    /// A disk fill's volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
}

/// What `firedrill internal status` prints: one line of JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The helpers carrying the marker.
    pub helpers: Vec<HelperStatus>,
}

/// A running helper found in `/proc`.
struct Found {
    pid: u32,
    args: Vec<String>,
}

impl Found {
    /// The value following `flag` in its arguments.
    fn arg(&self, flag: &str) -> Option<&str> {
        self.args
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.args.get(i + 1))
            .map(String::as_str)
    }

    fn kind(&self) -> String {
        let at = self.args.iter().position(|a| a == "internal");
        at.and_then(|i| self.args.get(i + 1))
            .cloned()
            .unwrap_or_default()
    }
}

/// The helpers other than this process whose arguments carry `--id ID`.
fn helpers_with(id: &str) -> Vec<Found> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Found> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let f = Found { pid, args };
            let ours = f.args.iter().any(|a| a == "internal")
                && f.arg("--id") == Some(id)
                && !matches!(f.kind().as_str(), "status" | "stop");
            ours.then_some(f)
        })
        .collect();
    found.sort_by_key(|f| f.pid);
    found
}

/// What the helpers carrying `--id ID` are doing, watched for `window`.
pub fn status(id: &str, window: Duration) -> StatusReport {
    let found = helpers_with(id);
    let before: Vec<Option<ProcessStatus>> =
        found.iter().map(|f| ProcessStatus::read(f.pid)).collect();
    std::thread::sleep(window);
    let helpers = found
        .iter()
        .zip(before)
        .filter_map(|(f, before)| {
            let after = ProcessStatus::read(f.pid)?;
            let used = after
                .cpu_ticks
                .saturating_sub(before.map_or(after.cpu_ticks, |b| b.cpu_ticks));
            let dir = f.arg("--dir").map(PathBuf::from);
            Some(HelperStatus {
                pid: f.pid,
                kind: f.kind(),
                state: after.state,
                cpu_seconds: used as f64 / ticks_per_second() as f64,
                window_seconds: window.as_secs_f64(),
                rss_kib: after.rss_kib,
                file_bytes: dir
                    .as_ref()
                    .and_then(|d| std::fs::metadata(fill_file(d, id)).ok())
                    .map(|m| m.len()),
                volume: dir.as_ref().and_then(|d| Volume::of(d).ok()),
            })
        })
        .collect();
    StatusReport { helpers }
}

/// What `firedrill internal stop` did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StopReport {
    /// The helpers sent SIGTERM.
    pub stopped: Vec<u32>,
    /// Those still running when the wait ended.
    pub running: Vec<u32>,
}

/// Sends SIGTERM to the helpers carrying `--id ID` and waits up to `wait` for them to end.
pub fn stop(id: &str, wait: Duration) -> StopReport {
    let found = helpers_with(id);
    let pids: Vec<u32> = found.iter().map(|f| f.pid).collect();
    for pid in &pids {
        if let Ok(pid) = libc::pid_t::try_from(*pid) {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    let end = Instant::now() + wait;
    let alive = |pid: &&u32| !ProcessStatus::exited(ProcessStatus::read(**pid));
    while Instant::now() < end && pids.iter().any(|p| alive(&p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    StopReport {
        running: pids.iter().filter(alive).copied().collect(),
        stopped: pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_ends_at_the_earlier_of_its_duration_and_its_instant() {
        let start = Instant::now();
        let soon = unix_ms(SystemTime::now() + Duration::from_millis(200));
        Lifetime::new(Duration::from_secs(60), Some(soon)).hold();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");

        let start = Instant::now();
        let late = unix_ms(SystemTime::now() + Duration::from_secs(60));
        Lifetime::new(Duration::from_millis(100), Some(late)).hold();
        assert!(start.elapsed() < Duration::from_secs(5));

        // An instant already past (a node clock ahead of firedrill's) ends it at once.
        let start = Instant::now();
        Lifetime::new(Duration::from_secs(60), Some(1)).hold();
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_fill_amount_is_bounded_by_what_may_be_written() {
        let v = Volume {
            total_bytes: 1000 * 1024 * 1024,
            used_bytes: 100 * 1024 * 1024,
            available_bytes: 800 * 1024 * 1024,
        };
        assert_eq!(v.to_write(FillAmount::Mib(10)), 10 * 1024 * 1024);
        assert_eq!(v.to_write(FillAmount::Mib(900)), 800 * 1024 * 1024);
        assert_eq!(v.to_write(FillAmount::Percent(50)), 400 * 1024 * 1024);
        assert_eq!(v.to_write(FillAmount::Percent(5)), 0, "already fuller");
        assert!((v.used_percent() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_fill_writes_its_file_and_removes_it_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let life = Lifetime::new(Duration::from_millis(300), None);
        let path = fill_file(dir.path(), "t1");
        let seen = std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let end = Instant::now() + Duration::from_secs(5);
                while Instant::now() < end {
                    if let Ok(m) = std::fs::metadata(&path)
                        && m.len() == 2 * 1024 * 1024
                    {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                false
            });
            fill_disk(dir.path(), "t1", FillAmount::Mib(2), &life).unwrap();
            watcher.join().unwrap()
        });
        assert!(seen, "the file never held 2 MiB");
        assert!(!path.exists(), "the file was left behind");
    }

    #[test]
    fn a_volume_is_read() {
        let v = Volume::of(Path::new("/")).unwrap();
        assert!(v.total_bytes > 0 && v.used_bytes <= v.total_bytes);
    }
}
