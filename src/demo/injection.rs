//! Deterministic error injection for `--error-rate`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Parts per million, so the arithmetic below is exact integer arithmetic.
const PPM: u128 = 1_000_000;

/// Decides which requests fail so that exactly ⌊n·rate⌋ of the first n requests fail, spread
/// evenly: with 0.25 every fourth request fails, with 0.5 every second one.
///
/// A counter rather than a random draw keeps tests and drills repeatable.
pub(crate) struct ErrorInjector {
    ppm: u128,
    seen: AtomicU64,
}

impl ErrorInjector {
    /// An injector for a rate in `0.0..=1.0` (already validated; out-of-range values are clamped).
    pub(crate) fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            // Exact after rounding: at most 1_000_000.
            ppm: (rate * 1_000_000.0).round() as u128,
            seen: AtomicU64::new(0),
        }
    }

    /// Counts one request and tells whether it should fail.
    pub(crate) fn should_fail(&self) -> bool {
        if self.ppm == 0 {
            return false;
        }
        let n = u128::from(self.seen.fetch_add(1, Ordering::Relaxed)) + 1;
        (n * self.ppm) / PPM > ((n - 1) * self.ppm) / PPM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(rate: f64, n: usize) -> Vec<bool> {
        let inj = ErrorInjector::new(rate);
        (0..n).map(|_| inj.should_fail()).collect()
    }

    #[test]
    fn zero_never_fails_and_one_always_fails() {
        assert!(pattern(0.0, 100).iter().all(|f| !f));
        assert!(pattern(1.0, 100).iter().all(|f| *f));
    }

    #[test]
    fn quarter_fails_every_fourth_request() {
        assert_eq!(
            pattern(0.25, 8),
            [false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn fails_exactly_floor_n_times_rate() {
        for rate in [0.1, 0.333, 0.5, 0.07, 0.999] {
            let failed = pattern(rate, 1000).iter().filter(|f| **f).count();
            assert_eq!(failed, (1000.0 * rate).floor() as usize, "rate {rate}");
        }
    }

    #[test]
    fn out_of_range_rates_are_clamped() {
        assert!(pattern(f64::NAN, 10).iter().all(|f| !f));
        assert!(pattern(-1.0, 10).iter().all(|f| !f));
        assert!(pattern(7.0, 10).iter().all(|f| *f));
    }
}
