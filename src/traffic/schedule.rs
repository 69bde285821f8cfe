//! The open model's schedule: the intended send time of every request at a fixed rate,
//! counted from the start so that rounding never accumulates.

use std::time::Duration;

use tokio::time::Instant;

/// Intended send times at a fixed rate.
#[derive(Clone, Debug)]
pub struct Schedule {
    start: Instant,
    /// Nanoseconds between requests.
    interval_ns: f64,
    next: u64,
}

impl Schedule {
    /// Requests at `rate` per second from `start`.
    pub fn new(start: Instant, rate: f64) -> Self {
        Self {
            start,
            interval_ns: 1e9 / rate,
            next: 0,
        }
    }

    /// The intended time of the next request.
    pub fn next_time(&self) -> Instant {
        self.at(self.next)
    }

    /// The intended time of request `i` (from 0).
    pub fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_nanos((i as f64 * self.interval_ns).round() as u64)
    }

    /// Moves on to the next request.
    pub fn advance(&mut self) {
        self.next += 1;
    }

    /// Requests due at or before `t`.
    pub fn due_by(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.start).as_nanos() as f64;
        (since / self.interval_ns).floor() as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_are_exact_multiples_of_the_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 3.0);
        assert_eq!(s.next_time(), t0);
        s.advance();
        assert_eq!(s.next_time() - t0, Duration::from_nanos(333_333_333));
        // A million requests later the time is still exact: no rounding drifts.
        assert_eq!(s.at(3_000_000) - t0, Duration::from_secs(1_000_000));
        assert_eq!(s.due_by(t0 + Duration::from_secs(1)), 4);
        assert_eq!(s.due_by(t0), 1);
    }

    #[test]
    fn a_rate_of_one_thousand_is_one_request_per_millisecond() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 1000.0);
        assert_eq!(s.at(1) - t0, Duration::from_millis(1));
        assert_eq!(s.at(1500) - t0, Duration::from_millis(1500));
        assert_eq!(s.due_by(t0 + Duration::from_millis(999)), 1000);
    }
}
