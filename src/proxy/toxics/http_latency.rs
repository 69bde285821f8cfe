//! `http_latency` (firedrill's own): delays each HTTP/1.1 request by `latency` ms (plus or
//! minus `jitter`) before forwarding it. Applies to the `upstream` stream.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Latency;

/// Attributes of the `http_latency` toxic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLatency {
    /// Delay per request in milliseconds.
    pub latency: u64,
    /// Up to this many milliseconds added or taken off, uniformly, per request.
    pub jitter: u64,
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
        };
        assert_eq!(l.sample(&mut rng), Duration::from_millis(20));
    }
    // The behaviour on live connections is tested in `proxy::http`.
}
