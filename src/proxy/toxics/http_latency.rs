//! `http_latency` (firedrill's own): delays each HTTP/1.1 request by `latency` ms (plus or
//! minus `jitter`) before forwarding it. Applies to the `upstream` stream.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Latency, RequestMatch};

/// Attributes of the `http_latency` toxic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLatency {
    /// Delay per request in milliseconds.
    pub latency: u64,
    /// Up to this many milliseconds added or taken off, uniformly, per request.
    pub jitter: u64,
    /// The requests the toxic delays (none: every request); the others pass untouched.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub request_match: Option<RequestMatch>,
}

impl HttpLatency {
    /// The delay for one request.
    pub fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        Latency {
            latency: self.latency,
            jitter: self.jitter,
        }
        .sample(rng)
    }

    /// Problems with the attributes, as `(field, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match &self.request_match {
            Some(m) => m.check(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_like_latency() {
        let mut rng = fastrand::Rng::with_seed(1);
        let l = HttpLatency {
            latency: 20,
            jitter: 0,
            request_match: None,
        };
        assert_eq!(l.sample(&mut rng), Duration::from_millis(20));
    }

    mod matching {
        use super::*;
        use crate::proxy::testutil::{Harness, STEP, read_exact_within};
        use crate::proxy::toxics::{HeaderMatch, RequestMatch};
        use crate::proxy::{Stream, ToxicKind};

        #[tokio::test]
        async fn only_a_selected_request_waits_and_others_pass_byte_for_byte() {
            let h = Harness::echo().await;
            h.add(
                "slow",
                Stream::Upstream,
                ToxicKind::HttpLatency(HttpLatency {
                    latency: 60_000,
                    jitter: 0,
                    request_match: Some(RequestMatch {
                        header: Some(HeaderMatch {
                            name: "X-Tenant".into(),
                            value: "blue".into(),
                        }),
                        ..RequestMatch::default()
                    }),
                }),
            );
            // Another tenant, and no tenant: echoed at once (well within the 60 s delay).
            for request in [
                &b"GET /a HTTP/1.1\r\nx-tenant: green\r\n\r\n"[..],
                b"GET /a HTTP/1.1\r\n\r\n",
            ] {
                let mut c = h.connect().await;
                c.round_trip(request).await;
            }
            let selected = b"GET /a HTTP/1.1\r\nx-tenant: blue\r\n\r\n";
            let mut c = h.connect().await;
            c.write(selected).await;
            let mut one = [0u8; 1];
            let early = tokio::time::timeout(
                Duration::from_millis(300),
                tokio::io::AsyncReadExt::read(&mut c.stream, &mut one),
            )
            .await;
            assert!(early.is_err(), "the selected request was held");
            h.registry.remove_toxic(&h.name, "slow").unwrap();
            read_exact_within(&mut c.stream, selected, STEP).await;
        }
    }
    // The rest of the behaviour on live connections is tested in `proxy::http`.
}
