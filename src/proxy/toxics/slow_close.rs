//! `slow_close`: delays the close (end of stream) by `delay` ms.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attributes of the `slow_close` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlowClose {
    /// Milliseconds between the end of the source and the close passed on.
    pub delay: u64,
}

impl SlowClose {
    /// The delay as a duration.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::proxy::testutil::Harness;
    use crate::proxy::{Stream, ToxicKind};

    #[tokio::test]
    async fn the_close_arrives_late_and_removal_closes_at_once() {
        let h = Harness::echo().await;
        h.add(
            "sc",
            Stream::Downstream,
            ToxicKind::SlowClose(SlowClose { delay: 200 }),
        );
        let mut c = h.connect().await;
        c.round_trip(b"hi").await;
        let start = Instant::now();
        c.shutdown_write().await;
        let mut rest = Vec::new();
        c.stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(200));

        h.update_kind("sc", ToxicKind::SlowClose(SlowClose { delay: 60_000 }));
        let mut c = h.connect().await;
        c.shutdown_write().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        h.registry.remove_toxic(&h.name, "sc").unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), c.stream.read_to_end(&mut rest))
            .await
            .expect("closed once the toxic was removed")
            .unwrap();
    }
}
