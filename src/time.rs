//! Time helpers every layer may use: monotonic time for measurements, mapped to UTC wall
//! time for the record, and the formats durations and instants are written in.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The run's time origin: durations come from the monotonic clock, and every instant is
/// also given as UTC by offsetting the wall time read once at the start.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    wall: SystemTime,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The wall time of the origin.
    pub fn wall_origin(&self) -> SystemTime {
        self.wall
    }

    /// The wall time of a monotonic instant.
    pub fn wall(&self, t: Instant) -> SystemTime {
        self.wall + t.saturating_duration_since(self.origin)
    }

    /// RFC 3339 UTC of a monotonic instant.
    pub fn rfc3339(&self, t: Instant) -> String {
        crate::time::rfc3339(self.wall(t))
    }

    /// Time since the origin, in milliseconds.
    pub fn offset_ms(&self, t: Instant) -> f64 {
        ms(t.saturating_duration_since(self.origin))
    }

    /// Time since the origin.
    pub fn since_origin(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A duration in fractional milliseconds, rounded to the microsecond.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
