//! `reset_peer`: resets the connection (TCP RST, through `SO_LINGER` 0) after `timeout` ms.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attributes of the `reset_peer` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResetPeer {
    /// Milliseconds after the toxic becomes active on a connection; 0 resets at once.
    pub timeout: u64,
}

impl ResetPeer {
    /// When to reset, counted from when the toxic became active on the connection.
    pub fn reset_after(&self) -> Duration {
        Duration::from_millis(self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::proxy::testutil::Harness;
    use crate::proxy::{Stream, ToxicKind};

    #[tokio::test]
    async fn the_client_sees_a_reset() {
        let h = Harness::echo().await;
        h.add(
            "rst",
            Stream::Downstream,
            ToxicKind::ResetPeer(ResetPeer { timeout: 50 }),
        );
        let mut c = h.connect().await;
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(Duration::from_secs(5), c.stream.read(&mut buf))
            .await
            .expect("reset in time");
        let err = r.expect_err("a reset, not an orderly close");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    }
}
