//! Sleeps precise to the microsecond for toxics, on any runtime.
//!
//! tokio's timer wheel has a resolution of one millisecond and rounds every deadline up to
//! the next tick, so a 1 ms latency toxic would add 1 to 2 ms. A timerfd registered with
//! the runtime wakes the task at the deadline itself. Dropping the future cancels the wait.
//!
//! The proxy needs no timer from its runtime: `firedrill proxy` runs one without tokio's
//! timer driver, whose bookkeeping on every wake-up cost more than the rest of the runtime's
//! (about 830 instructions per proxied round trip).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// Waits until `at`, to the microsecond where the system allows.
pub async fn sleep_until(at: Instant) {
    let left = at.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return;
    }
    match arm(left) {
        Ok(fd) => wait(fd).await,
        // No timerfd (a seccomp filter, out of descriptors): the coarse timer still works.
        Err(_) => coarse_sleep_until(at).await,
    }
}

/// Waits until `at` on tokio's timer, run by a thread of its own, since the caller's
/// runtime may have none.
async fn coarse_sleep_until(at: Instant) {
    match coarse_timer() {
        Some(timer) => {
            // The sleep belongs to the timer's runtime; any runtime can await it.
            let sleep = {
                let _entered = timer.enter();
                tokio::time::sleep_until(at)
            };
            sleep.await;
        }
        // Neither a timerfd nor a thread to be had: keep time by yielding, which is
        // correct but busy, until resources come back.
        None => {
            while Instant::now() < at {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// The runtime of the coarse timer, started the first time it is needed.
fn coarse_timer() -> Option<&'static tokio::runtime::Handle> {
    static TIMER: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("firedrill-timer".into())
                .spawn(move || {
                    // Built on its own thread: a runtime cannot be dropped (on a failed
                    // start) inside the caller's.
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                    else {
                        return;
                    };
                    if tx.send(runtime.handle().clone()).is_ok() {
                        runtime.block_on(std::future::pending::<()>());
                    }
                })
                .ok()?;
            // Blocks once, for the thread's start.
            rx.recv().ok()
        })
        .as_ref()
}

fn arm(after: Duration) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: timerfd_create has no memory-safety preconditions; the result is checked.
    let raw = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let value = libc::timespec {
        tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
        // A zero value would disarm the timer; `after` is not zero here.
        tv_nsec: libc::c_long::from(after.subsec_nanos().max(1)),
    };
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: value,
    };
    // SAFETY: `spec` is a valid itimerspec and the old value is not requested.
    if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is owned by the AsyncFd from here on and closed only when it
    // is dropped, after deregistration.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

async fn wait(fd: AsyncFd<OwnedFd>) {
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        let mut expirations = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer from our own descriptor.
        let n = unsafe {
            libc::read(
                fd.get_ref().as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
        if n == 8 {
            return;
        }
        if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
            guard.clear_ready();
            continue;
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_within_a_fraction_of_a_millisecond() {
        let mut late = Vec::new();
        for _ in 0..20 {
            let at = Instant::now() + Duration::from_micros(1500);
            sleep_until(at).await;
            late.push(Instant::now().saturating_duration_since(at));
        }
        late.sort();
        // The median wake-up: the tokio wheel alone would be 0.5 to 1 ms late.
        assert!(late[10] < Duration::from_micros(400), "{late:?}");
    }

    #[tokio::test]
    async fn a_past_deadline_returns_at_once() {
        sleep_until(Instant::now()).await;
    }

    #[test]
    fn both_timers_work_on_a_runtime_without_tokio_s_timer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async {
            let at = Instant::now() + Duration::from_millis(20);
            sleep_until(at).await;
            assert!(Instant::now() >= at);
            let at = Instant::now() + Duration::from_millis(20);
            coarse_sleep_until(at).await;
            assert!(Instant::now() >= at);
        });
    }
}
