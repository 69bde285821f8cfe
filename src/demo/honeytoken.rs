//! Watching a honeytoken file with inotify, so that the demo's metrics show every read of
//! it and a local Prometheus alert can catch the file canary.
//!
//! The folder is watched rather than the file: firedrill creates the honeytoken when a
//! canary starts and removes it at the end, and a watch on the file itself would end with
//! the first removal. A read is an open for reading that was closed again
//! (IN_CLOSE_NOWRITE): IN_OPEN alone would also count firedrill's own creation of the file,
//! which opens it for writing. IN_OPEN and IN_ACCESS are watched too, though not counted:
//! the kernel merges identical events that follow each other unread, and the open and the
//! access between two closes keep every close apart.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::Path;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Size of `struct inotify_event` before its name.
const EVENT_HEADER: usize = 16;

/// An inotify watch on the folder of one file.
pub(crate) struct HoneytokenWatch {
    fd: AsyncFd<OwnedFd>,
    name: OsString,
}

impl std::fmt::Debug for HoneytokenWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoneytokenWatch")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl HoneytokenWatch {
    /// Watches the folder of `path` for reads of `path`; the folder must exist, the file
    /// need not. Must be called within a tokio runtime.
    pub(crate) fn new(path: &Path) -> std::io::Result<Self> {
        let invalid =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
        let name = path
            .file_name()
            .ok_or_else(|| invalid("the honeytoken path names no file"))?
            .to_owned();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| invalid("the honeytoken path holds a NUL byte"))?;
        // SAFETY: inotify_init1 has no memory-safety preconditions; the result is checked.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `dir` is a NUL-terminated string that outlives the call.
        let wd = unsafe {
            libc::inotify_add_watch(
                owned.as_raw_fd(),
                dir.as_ptr(),
                libc::IN_OPEN | libc::IN_ACCESS | libc::IN_CLOSE_NOWRITE | libc::IN_ONLYDIR,
            )
        };
        if wd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the descriptor is owned by the AsyncFd from here on and closed only when
        // it is dropped, after deregistration.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self { fd, name })
    }

    /// Waits for events and returns how many reads of the file they hold (possibly none).
    pub(crate) async fn reads(&self) -> std::io::Result<u64> {
        // Large enough for many events with names up to NAME_MAX.
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mut guard = self.fd.readable().await?;
            // SAFETY: reading at most `buf.len()` bytes into `buf` from our own descriptor.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    guard.clear_ready();
                    continue;
                }
                return Err(e);
            }
            let n = usize::try_from(n).unwrap_or_default();
            return Ok(count_reads(&buf[..n], &self.name));
        }
    }
}

/// How many events of `events` (a buffer of `struct inotify_event`) are reads of `name`.
fn count_reads(events: &[u8], name: &OsString) -> u64 {
    let mut count = 0;
    let mut rest = events;
    while rest.len() >= EVENT_HEADER {
        let word = |i: usize| u32::from_ne_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let mask = word(4);
        let len = usize::try_from(word(12)).unwrap_or(usize::MAX);
        let Some(raw_name) = rest.get(EVENT_HEADER..EVENT_HEADER.saturating_add(len)) else {
            break;
        };
        let end = raw_name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(raw_name.len());
        let event_name = OsString::from_vec(raw_name[..end].to_vec());
        if mask & libc::IN_CLOSE_NOWRITE != 0 && mask & libc::IN_ISDIR == 0 && event_name == *name {
            count += 1;
        }
        rest = &rest[EVENT_HEADER + len..];
    }
    count
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::time::Duration;

    use super::*;

    /// One raw event as the kernel lays it out.
    fn event(mask: u32, name: &str) -> Vec<u8> {
        let mut padded = name.as_bytes().to_vec();
        padded.resize(name.len().div_ceil(16).max(1) * 16, 0);
        let mut out = Vec::new();
        out.extend_from_slice(&1i32.to_ne_bytes());
        out.extend_from_slice(&mask.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&u32::try_from(padded.len()).unwrap().to_ne_bytes());
        out.extend_from_slice(&padded);
        out
    }

    #[test]
    fn only_read_closes_of_the_file_count() {
        let name = OsString::from("token");
        let buf = [
            event(libc::IN_OPEN, "token"),
            event(libc::IN_ACCESS, "token"),
            event(libc::IN_CLOSE_NOWRITE, "token"),
            event(libc::IN_CLOSE_NOWRITE, "other"),
            event(libc::IN_CLOSE_WRITE, "token"),
            event(libc::IN_CLOSE_NOWRITE | libc::IN_ISDIR, "token"),
            event(libc::IN_CLOSE_NOWRITE, "token"),
        ]
        .concat();
        assert_eq!(count_reads(&buf, &name), 2);
        // A truncated event is not read past.
        assert_eq!(count_reads(&buf[..buf.len() - 3], &name), 1);
    }

    #[tokio::test]
    async fn reads_are_counted_and_the_creation_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let watch = HoneytokenWatch::new(&path).unwrap();
        // Created (an open for writing), read twice, removed, created and read again.
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"marker")
            .unwrap();
        for _ in 0..2 {
            let mut s = String::new();
            std::fs::File::open(&path)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "again").unwrap();
        std::fs::read(&path).unwrap();
        let mut total = 0;
        tokio::time::timeout(Duration::from_secs(10), async {
            while total < 3 {
                total += watch.reads().await.unwrap();
            }
        })
        .await
        .expect("three reads seen within 10 s");
        // Every event was queued before the first read, which takes them all at once: a
        // counted write would show here as more than three.
        assert_eq!(total, 3);
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let err = HoneytokenWatch::new(Path::new("/no/such/folder/token")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
