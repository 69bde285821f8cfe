//! `limit_data`: passes `bytes` bytes, then closes the connection.

use serde::{Deserialize, Serialize};

/// Attributes of the `limit_data` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitData {
    /// Bytes passed on this stream of a connection before it is closed.
    pub bytes: u64,
}

impl LimitData {
    /// Bytes still allowed after `sent`.
    pub fn allowance(&self, sent: u64) -> u64 {
        self.bytes.saturating_sub(sent)
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
    fn allowance_never_goes_negative() {
        assert_eq!(LimitData { bytes: 5 }.allowance(3), 2);
        assert_eq!(LimitData { bytes: 5 }.allowance(9), 0);
    }

    #[tokio::test]
    async fn passes_exactly_the_limit_then_closes() {
        let h = Harness::echo().await;
        h.add(
            "lim",
            Stream::Downstream,
            ToxicKind::LimitData(LimitData { bytes: 10 }),
        );
        let mut c = h.connect().await;
        c.write(b"0123456").await;
        let mut got = vec![0u8; 7];
        tokio::time::timeout(Duration::from_secs(2), c.stream.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        c.write(b"789abcdef").await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), c.stream.read_to_end(&mut rest))
            .await
            .expect("closed");
        got.extend_from_slice(&rest);
        assert_eq!(got, b"0123456789");
    }
}
