//! `timeout`: holds all data and closes the connection after `timeout` ms (0: holds until the
//! toxic is removed). Unlike Toxiproxy, held data is kept, not dropped: it flows on removal.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attributes of the `timeout` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeout {
    /// Milliseconds before the connection is closed; 0 never closes.
    pub timeout: u64,
}

impl Timeout {
    /// When to close, counted from when the toxic became active on the connection.
    pub fn close_after(&self) -> Option<Duration> {
        (self.timeout > 0).then(|| Duration::from_millis(self.timeout))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::proxy::testutil::{Harness, read_exact_within};
    use crate::proxy::{Stream, ToxicKind};

    #[tokio::test]
    async fn closes_after_the_timeout_without_passing_data() {
        let h = Harness::echo().await;
        h.add(
            "t",
            Stream::Upstream,
            ToxicKind::Timeout(Timeout { timeout: 150 }),
        );
        let mut c = h.connect().await;
        let start = Instant::now();
        c.write(b"lost").await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.stream.read_to_end(&mut got))
            .await
            .expect("closed");
        assert!(got.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(140));
    }

    #[tokio::test]
    async fn zero_holds_until_removed_then_data_flows() {
        let h = Harness::echo().await;
        let mut c = h.connect().await;
        c.round_trip(b"a").await;
        h.add(
            "t",
            Stream::Upstream,
            ToxicKind::Timeout(Timeout { timeout: 0 }),
        );
        c.write(b"held").await;
        let mut buf = [0u8; 4];
        let r = tokio::time::timeout(Duration::from_millis(150), c.stream.read(&mut buf)).await;
        assert!(r.is_err(), "nothing passes while the toxic is there");
        h.registry.remove_toxic(&h.name, "t").unwrap();
        read_exact_within(&mut c.stream, b"held", Duration::from_secs(2)).await;
    }
}
