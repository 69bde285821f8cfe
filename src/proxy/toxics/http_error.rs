//! `http_error` (firedrill's own): answers a share of HTTP/1.1 requests itself with
//! `status_code`, without forwarding them upstream. Applies to the `upstream` stream.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

fn default_status() -> u16 {
    503
}

fn default_probability() -> f64 {
    1.0
}

fn default_body() -> String {
    "injected by firedrill http_error toxic\n".to_owned()
}

/// Attributes of the `http_error` toxic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpError {
    /// Status of the injected response, 100 to 599.
    #[serde(default = "default_status")]
    pub status_code: u16,
    /// Share of requests answered with the error, 0.0 to 1.0; exactly ⌊n·p⌋ of the first n
    /// requests the toxic judges, spread evenly (a counter, not a random draw).
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// Body of the injected response (text/plain).
    #[serde(default = "default_body")]
    pub body: String,
}

impl Default for HttpError {
    fn default() -> Self {
        Self {
            status_code: default_status(),
            probability: default_probability(),
            body: default_body(),
        }
    }
}

impl HttpError {
    /// Problems with the attributes, as `(field, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(100..=599).contains(&self.status_code) {
            return Err((
                "status_code",
                format!("{} is not between 100 and 599", self.status_code),
            ));
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Err((
                "probability",
                format!("{} is not between 0.0 and 1.0", self.probability),
            ));
        }
        Ok(())
    }

    /// The injected response; `close` adds `Connection: close` (the proxy then closes).
    pub fn response(&self, toxic: &str, close: bool) -> Vec<u8> {
        let reason = axum::http::StatusCode::from_u16(self.status_code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Injected");
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nx-firedrill-toxic: {toxic}\r\n",
            self.status_code,
            self.body.len()
        );
        if close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

/// Parts per million, so the share below is exact integer arithmetic.
const PPM: u128 = 1_000_000;

/// Decides which requests fail so that exactly ⌊n·p⌋ of the first n fail, spread evenly.
/// Shared by every connection of the proxy; a toxic update starts a new count.
#[derive(Debug, Default)]
pub struct Judge {
    seen: AtomicU64,
}

impl Judge {
    /// Counts one request and tells whether it gets the error.
    pub fn fails(&self, probability: f64) -> bool {
        let ppm = (probability.clamp(0.0, 1.0) * 1_000_000.0).round() as u128;
        if ppm == 0 {
            return false;
        }
        let n = u128::from(self.seen.fetch_add(1, Ordering::Relaxed)) + 1;
        (n * ppm) / PPM > ((n - 1) * ppm) / PPM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_judge_fails_exactly_the_share() {
        for p in [0.0, 0.25, 0.3, 0.5, 1.0] {
            let j = Judge::default();
            let failed = (0..100).filter(|_| j.fails(p)).count();
            assert_eq!(failed, (100.0 * p).floor() as usize, "p {p}");
        }
        let j = Judge::default();
        let pattern: Vec<bool> = (0..4).map(|_| j.fails(0.5)).collect();
        assert_eq!(pattern, [false, true, false, true]);
    }

    #[test]
    fn the_response_is_well_formed() {
        let r = HttpError::default().response("e", false);
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.ends_with("\r\n\r\ninjected by firedrill http_error toxic\n"));
        assert!(
            HttpError {
                status_code: 99,
                ..HttpError::default()
            }
            .check()
            .is_err()
        );
    }
    // The behaviour on live connections is tested in `proxy::http`.
}
