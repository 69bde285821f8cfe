//! `latency`: delays every chunk by `latency` ms, plus or minus up to `jitter` ms.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attributes of the `latency` toxic (Toxiproxy's names and units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Delay in milliseconds.
    pub latency: u64,
    /// Up to this many milliseconds added or taken off, uniformly, per chunk.
    pub jitter: u64,
}

impl Latency {
    /// The delay for one chunk; never negative.
    pub fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        let base = self.latency as i128;
        // Within i64, so that the range below is never empty or negated out of range.
        let jitter = self.jitter.min(i64::MAX as u64) as i128;
        let offset = if jitter == 0 {
            0
        } else {
            rng.i64(-(jitter as i64)..=jitter as i64) as i128
        };
        Duration::from_millis((base + offset).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::testutil::{Harness, read_exact_within};
    use crate::proxy::{Stream, ToxicKind};

    #[test]
    fn the_largest_jitter_samples_without_panicking() {
        // Found while writing the proxy_api fuzz target, which now checks it: a jitter over
        // i64::MAX was cast to a negative number and the random range was empty.
        let huge = Latency {
            latency: 0,
            jitter: u64::MAX,
        };
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..100 {
            let _ = huge.sample(&mut rng);
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut rng = fastrand::Rng::with_seed(7);
        let l = Latency {
            latency: 10,
            jitter: 5,
        };
        for _ in 0..1000 {
            let d = l.sample(&mut rng).as_millis();
            assert!((5..=15).contains(&d), "{d}");
        }
        let big = Latency {
            latency: 1,
            jitter: 50,
        };
        assert!((0..1000).all(|_| big.sample(&mut rng) <= Duration::from_millis(51)));
    }

    #[tokio::test]
    async fn delays_the_echo_and_removal_releases_held_bytes_at_once() {
        let h = Harness::echo().await;
        let mut c = h.connect().await;
        c.round_trip(b"warm").await;
        h.add(
            "slow",
            Stream::Downstream,
            ToxicKind::Latency(Latency {
                latency: 150,
                jitter: 0,
            }),
        );
        let start = std::time::Instant::now();
        c.round_trip(b"ping").await;
        assert!(start.elapsed() >= Duration::from_millis(150));

        h.add(
            "very_slow",
            Stream::Upstream,
            ToxicKind::Latency(Latency {
                latency: 60_000,
                jitter: 0,
            }),
        );
        c.write(b"held").await;
        // Give the byte time to reach the latency wait, then remove both toxics.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = std::time::Instant::now();
        h.registry.remove_toxic(&h.name, "very_slow").unwrap();
        h.registry.remove_toxic(&h.name, "slow").unwrap();
        read_exact_within(&mut c.stream, b"held", Duration::from_secs(2)).await;
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
