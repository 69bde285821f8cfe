//! Sleeps precise to the microsecond for toxics.
//!
//! tokio's timer wheel has a resolution of one millisecond and rounds every deadline up to
//! the next tick, so a 1 ms latency toxic would add 1 to 2 ms. A timerfd registered with
//! the runtime wakes the task at the deadline itself. Dropping the future cancels the wait.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
        Err(_) => tokio::time::sleep_until(at).await,
    }
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
}
