//! `http_error` (firedrill's own): answers a share of HTTP/1.1 requests itself with
//! `status_code`, without forwarding them upstream. Applies to the `upstream` stream.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::RequestMatch;

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
    /// Share of the selected requests answered with the error, 0.0 to 1.0; each draws on
    /// its own (see `Judge`).
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// Body of the injected response (text/plain).
    #[serde(default = "default_body")]
    pub body: String,
    /// The requests the toxic acts on (none: every request). The others pass untouched and
    /// draw nothing, so `probability` is the share of the selected requests that fail.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub request_match: Option<RequestMatch>,
}

impl Default for HttpError {
    fn default() -> Self {
        Self {
            status_code: default_status(),
            probability: default_probability(),
            body: default_body(),
            request_match: None,
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
        match &self.request_match {
            Some(m) => m.check(),
            None => Ok(()),
        }
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

/// Decides which requests fail: each independently with the toxic's probability, from a
/// pseudo-random sequence seeded by the proxy's and the toxic's names, so that a drill
/// replays the same pattern. Independent draws matter: a strict "every k-th request"
/// pattern would alias with clients that take turns (two probes on a 100 ms schedule would
/// see one of them always fail and the other never). Shared by every connection of the
/// proxy; a toxic update starts the sequence again.
#[derive(Debug)]
pub struct Judge {
    rng: Mutex<fastrand::Rng>,
}

impl Judge {
    /// The judge of toxic `toxic` on proxy `proxy`.
    pub fn for_toxic(proxy: &str, toxic: &str) -> Self {
        // FNV-1a: stable across builds and platforms, unlike the standard hasher.
        let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
        for b in proxy.bytes().chain([b'/']).chain(toxic.bytes()) {
            seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self {
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    /// Draws for one request and tells whether it gets the error.
    pub fn fails(&self, probability: f64) -> bool {
        if probability <= 0.0 {
            return false;
        }
        if probability >= 1.0 {
            return true;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.f64() < probability
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_judge_fails_the_share_and_replays() {
        for p in [0.0, 0.25, 0.3, 0.5, 1.0] {
            let j = Judge::for_toxic("p", "t");
            let failed = (0..10_000).filter(|_| j.fails(p)).count() as f64 / 10_000.0;
            assert!((failed - p).abs() < 0.02, "p {p}: {failed}");
        }
        let a = Judge::for_toxic("p", "t");
        let b = Judge::for_toxic("p", "t");
        let pa: Vec<bool> = (0..32).map(|_| a.fails(0.5)).collect();
        let pb: Vec<bool> = (0..32).map(|_| b.fails(0.5)).collect();
        assert_eq!(pa, pb, "the same toxic replays the same pattern");
    }

    #[test]
    fn clients_taking_turns_each_see_errors() {
        let j = Judge::for_toxic("p", "t");
        let (mut even, mut odd) = (0, 0);
        for i in 0..1000 {
            if j.fails(0.5) {
                if i % 2 == 0 { even += 1 } else { odd += 1 }
            }
        }
        assert!(even > 200 && odd > 200, "{even} {odd}");
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

    mod matching {
        use super::*;
        use crate::proxy::testutil::{Harness, STEP, read_exact_within};
        use crate::proxy::toxics::{PathRegex, RequestMatch};
        use crate::proxy::{Stream, ToxicKind};

        fn on_pay(probability: f64) -> ToxicKind {
            ToxicKind::HttpError(HttpError {
                probability,
                request_match: Some(RequestMatch {
                    method: Some("POST".into()),
                    path_prefix: Some("/pay".into()),
                    ..RequestMatch::default()
                }),
                ..HttpError::default()
            })
        }

        const PAY: &[u8] = b"POST /pay/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
        const CART: &[u8] = b"POST /cart HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
        const GET_PAY: &[u8] = b"GET /pay/7 HTTP/1.1\r\nHost: t\r\n\r\n";

        /// Sends `request` on a new connection to a proxy in front of an echo server and
        /// tells whether the toxic answered it; otherwise the echo must be byte for byte.
        async fn answered(h: &Harness, request: &[u8]) -> bool {
            let mut c = h.connect().await;
            c.write(request).await;
            let mut first = [0u8; 4];
            tokio::time::timeout(
                STEP,
                tokio::io::AsyncReadExt::read_exact(&mut c.stream, &mut first),
            )
            .await
            .expect("an answer in time")
            .unwrap();
            if &first == b"HTTP" {
                let whole = HttpError::default().response("e", false);
                read_exact_within(&mut c.stream, &whole[4..], STEP).await;
                true
            } else {
                assert_eq!(&first, &request[..4]);
                read_exact_within(&mut c.stream, &request[4..], STEP).await;
                false
            }
        }

        #[tokio::test]
        async fn a_selected_request_gets_the_error_and_others_pass_byte_for_byte() {
            let h = Harness::echo().await;
            h.add("e", Stream::Upstream, on_pay(1.0));
            assert!(answered(&h, PAY).await);
            assert!(!answered(&h, CART).await, "another path");
            assert!(!answered(&h, GET_PAY).await, "another method");
            let mut c = h.connect().await;
            c.round_trip(b"POST /cart HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
                .await;
        }

        #[tokio::test]
        async fn requests_outside_the_match_draw_nothing() {
            let h = Harness::echo().await;
            h.add("e", Stream::Upstream, on_pay(0.5));
            let judge = Judge::for_toxic(&h.name, "e");
            for _ in 0..12 {
                assert!(!answered(&h, CART).await);
                assert_eq!(answered(&h, PAY).await, judge.fails(0.5));
            }
        }

        #[tokio::test]
        async fn a_path_regex_selects_by_the_path_alone() {
            let h = Harness::echo().await;
            h.add(
                "e",
                Stream::Upstream,
                ToxicKind::HttpError(HttpError {
                    request_match: Some(RequestMatch {
                        path_regex: Some(PathRegex::new("^/pay/[0-9]+$")),
                        ..RequestMatch::default()
                    }),
                    ..HttpError::default()
                }),
            );
            assert!(answered(&h, GET_PAY).await);
            assert!(!answered(&h, b"GET /pay/x HTTP/1.1\r\n\r\n").await);
            assert!(!answered(&h, b"GET /cart?to=/pay/7 HTTP/1.1\r\n\r\n").await);
        }
    }
    // The rest of the behaviour on live connections is tested in `proxy::http`.
}
