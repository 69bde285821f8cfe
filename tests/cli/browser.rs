//! Headless Chromium for the tests that look at pages in a real browser: found on PATH, run
//! with a deadline that kills its whole process group, its console messages read from its log.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

/// `chromium` on PATH, if any.
fn chromium() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|path| path.is_file())
    })
}

/// `chromium` on PATH; without it the test is skipped, or fails when CI is set, since
/// `what` must be checked in a browser there.
pub fn chromium_or_skip(what: &str) -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not on PATH, and CI is set: {what} must be checked in a browser"
        );
        eprintln!(
            "skipped: chromium is not on PATH (apt-get install chromium fonts-dejavu-core); set CI to make this a failure"
        );
    }
    found
}

/// The folder cargo builds into, wherever CARGO_TARGET_DIR put it: this test binary lives in
/// TARGET/debug/deps.
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// What Chromium printed.
pub struct Chromium {
    /// Standard output: the DOM, with `--dump-dom`.
    pub stdout: String,
    /// Standard error: its log, the page's console messages among it.
    pub stderr: String,
}

/// Runs headless Chromium on `page` with `extra` flags, killing its whole process group
/// after [`CHROMIUM_TIMEOUT`] so that it can never hang the suite.
pub fn run_chromium(binary: &Path, work: &Path, url: &str, extra: &[String]) -> Chromium {
    let profile = tempfile::tempdir_in(work).unwrap();
    let out_path = work.join(format!("chromium-{}.out", fastrand::u32(..)));
    let err_path = out_path.with_extension("err");
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        // Files, not pipes: a DOM larger than a pipe's buffer would block Chromium.
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let group = i32::try_from(child.id()).unwrap();
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Chromium {
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    assert!(
        status.success(),
        "chromium failed: {status}\n{}",
        run.stderr
    );
    run
}

/// The page's console messages as Chromium logs them (`INFO:CONSOLE...] "message", source: ...`).
pub fn console_messages(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// A `file://` URL for a page on disk.
pub fn file_url(page: &Path) -> String {
    format!("file://{}", page.display())
}
