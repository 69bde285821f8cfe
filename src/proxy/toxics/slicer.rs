//! `slicer`: cuts data into slices of about `average_size` bytes (plus or minus
//! `size_variation`), waiting `delay` microseconds between slices.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attributes of the `slicer` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Slicer {
    /// Mean slice size in bytes (0 is taken as 1).
    pub average_size: u64,
    /// Up to this many bytes more or fewer per slice.
    pub size_variation: u64,
    /// Microseconds between slices.
    pub delay: u64,
}

impl Slicer {
    /// The size of the next slice, at least one byte.
    pub fn slice(&self, rng: &mut fastrand::Rng) -> usize {
        let avg = self.average_size.max(1) as i128;
        // Within i64, so that the range below is never empty or negated out of range.
        let var = self
            .size_variation
            .min(self.average_size)
            .min(i64::MAX as u64) as i128;
        let off = if var == 0 {
            0
        } else {
            rng.i64(-(var as i64)..=var as i64) as i128
        };
        usize::try_from((avg + off).max(1)).unwrap_or(usize::MAX)
    }

    /// The pause after each slice.
    pub fn pause(&self) -> Duration {
        Duration::from_micros(self.delay)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::proxy::testutil::Harness;
    use crate::proxy::{Stream, ToxicKind};

    #[test]
    fn the_largest_sizes_give_a_slice_without_panicking() {
        // Found while writing the proxy_api fuzz target, which now checks it: a variation
        // over i64::MAX was cast to a negative number and the random range was empty.
        let mut rng = fastrand::Rng::with_seed(7);
        let s = Slicer {
            average_size: u64::MAX,
            size_variation: u64::MAX,
            delay: 0,
        };
        for _ in 0..100 {
            assert!(s.slice(&mut rng) >= 1);
        }
    }

    #[test]
    fn slices_stay_within_the_variation() {
        let mut rng = fastrand::Rng::with_seed(3);
        let s = Slicer {
            average_size: 10,
            size_variation: 4,
            delay: 0,
        };
        assert!((0..1000).all(|_| (6..=14).contains(&s.slice(&mut rng))));
        assert_eq!(Slicer::default().slice(&mut rng), 1);
    }

    #[tokio::test]
    async fn data_arrives_in_small_pieces_intact() {
        let h = Harness::echo().await;
        h.add(
            "sl",
            Stream::Downstream,
            ToxicKind::Slicer(Slicer {
                average_size: 3,
                size_variation: 0,
                delay: 2000,
            }),
        );
        let mut c = h.connect().await;
        let data: Vec<u8> = (0..60u8).collect();
        c.write(&data).await;
        let mut got = Vec::new();
        let mut reads = 0;
        while got.len() < data.len() {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(2), c.stream.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
            reads += 1;
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, data);
        // 20 slices 2 ms apart: only a client stalled for most of 40 ms would see few reads.
        assert!(
            reads >= 5,
            "slices of 3 bytes arrived in only {reads} reads"
        );
    }
}
