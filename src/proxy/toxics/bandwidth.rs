//! `bandwidth`: limits a stream to `rate` KB/s (1 KB = 1000 bytes, as Toxiproxy).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attributes of the `bandwidth` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bandwidth {
    /// KB per second; 0 means unlimited.
    pub rate: u64,
}

impl Bandwidth {
    /// The most bytes to write at once: a tenth of a second's worth, at least one byte.
    pub fn piece(&self) -> usize {
        if self.rate == 0 {
            return usize::MAX;
        }
        usize::try_from(self.rate.saturating_mul(100))
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// How long to pause after writing `n` bytes.
    pub fn pause(&self, n: usize) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        // rate KB/s = rate bytes/ms.
        Duration::from_micros((n as u64).saturating_mul(1000) / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::proxy::testutil::Harness;
    use crate::proxy::{Stream, ToxicKind};

    #[test]
    fn the_largest_rate_gives_the_largest_piece_without_overflow() {
        // Found while writing the proxy_api fuzz target, which now checks it: `rate * 100`
        // overflowed.
        let b = Bandwidth { rate: u64::MAX };
        assert_eq!(b.piece(), usize::MAX);
        assert_eq!(b.pause(1000), Duration::ZERO);
    }

    #[test]
    fn pieces_and_pauses_follow_the_rate() {
        let b = Bandwidth { rate: 10 };
        assert_eq!(b.piece(), 1000);
        assert_eq!(b.pause(1000), Duration::from_millis(100));
        assert_eq!(Bandwidth { rate: 0 }.pause(1 << 20), Duration::ZERO);
    }

    #[tokio::test]
    async fn throttles_then_returns_to_full_speed() {
        let h = Harness::echo().await;
        h.add(
            "bw",
            Stream::Downstream,
            ToxicKind::Bandwidth(Bandwidth { rate: 20 }),
        );
        let mut c = h.connect().await;
        let data = vec![7u8; 6000];
        let start = Instant::now();
        c.round_trip(&data).await;
        // 6000 bytes at 20 KB/s take 300 ms; the last pause may be cut short by the read.
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
        h.registry.remove_toxic(&h.name, "bw").unwrap();
        let start = Instant::now();
        c.round_trip(&vec![8u8; 200_000]).await;
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
