//! The toxic catalogue: one file per toxic with its attributes, its decisions and its test.
//!
//! The per-connection pump (`proxy::pump`) applies the chain, so that interruption and byte
//! accounting live in one place; each toxic here decides sizes, delays and deadlines.

mod bandwidth;
mod http_error;
mod http_latency;
mod latency;
mod limit_data;
mod request_match;
mod reset_peer;
mod slicer;
mod slow_close;
mod timeout;

pub use bandwidth::Bandwidth;
pub use http_error::{HttpError, Judge};
pub use http_latency::HttpLatency;
pub use latency::Latency;
pub use limit_data::LimitData;
pub(crate) use request_match::Selector;
pub use request_match::{HeaderMatch, PathRegex, RequestHead, RequestMatch};
pub use reset_peer::ResetPeer;
pub use slicer::Slicer;
pub use slow_close::SlowClose;
pub use timeout::Timeout;

use serde::{Deserialize, Serialize};

/// A toxic's type and attributes: `{"type": "latency", "attributes": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "attributes",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ToxicKind {
    /// Delay each chunk.
    Latency(Latency),
    /// Limit the rate.
    Bandwidth(Bandwidth),
    /// Delay the close.
    SlowClose(SlowClose),
    /// Hold data, then close.
    Timeout(Timeout),
    /// Reset the connection.
    ResetPeer(ResetPeer),
    /// Cut data into small slices.
    Slicer(Slicer),
    /// Close after some bytes.
    LimitData(LimitData),
    /// Answer HTTP requests with an error (firedrill's own).
    HttpError(HttpError),
    /// Delay HTTP requests (firedrill's own).
    HttpLatency(HttpLatency),
}

impl ToxicKind {
    /// Every type name, as in JSON.
    pub const TYPES: [&'static str; 9] = [
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "http_error",
        "http_latency",
    ];

    /// The type name, as in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Latency(_) => "latency",
            Self::Bandwidth(_) => "bandwidth",
            Self::SlowClose(_) => "slow_close",
            Self::Timeout(_) => "timeout",
            Self::ResetPeer(_) => "reset_peer",
            Self::Slicer(_) => "slicer",
            Self::LimitData(_) => "limit_data",
            Self::HttpError(_) => "http_error",
            Self::HttpLatency(_) => "http_latency",
        }
    }

    /// Whether the toxic works on HTTP requests (and so only on the upstream stream).
    pub fn is_http(&self) -> bool {
        matches!(self, Self::HttpError(_) | Self::HttpLatency(_))
    }

    /// The attributes as a JSON object.
    pub fn attributes(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("attributes").unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }

    /// Builds a kind from a type name and attributes, naming the field on error.
    pub(crate) fn from_parts(
        kind: &str,
        attributes: serde_json::Value,
    ) -> Result<Self, crate::proxy::ProxyError> {
        use crate::proxy::ProxyError;
        fn attrs<T: serde::de::DeserializeOwned>(
            value: serde_json::Value,
        ) -> Result<T, ProxyError> {
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                ProxyError::BadAttributes {
                    path: if path == "." {
                        "attributes".to_owned()
                    } else {
                        format!("attributes.{path}")
                    },
                    message: e.into_inner().to_string(),
                }
            })
        }
        let parsed = match kind {
            "latency" => Self::Latency(attrs(attributes)?),
            "bandwidth" => Self::Bandwidth(attrs(attributes)?),
            "slow_close" => Self::SlowClose(attrs(attributes)?),
            "timeout" => Self::Timeout(attrs(attributes)?),
            "reset_peer" => Self::ResetPeer(attrs(attributes)?),
            "slicer" => Self::Slicer(attrs(attributes)?),
            "limit_data" => Self::LimitData(attrs(attributes)?),
            "http_error" => Self::HttpError(attrs(attributes)?),
            "http_latency" => Self::HttpLatency(attrs(attributes)?),
            other => return Err(ProxyError::InvalidToxicType(other.to_owned())),
        };
        let checked = match &parsed {
            Self::HttpError(h) => h.check(),
            Self::HttpLatency(h) => h.check().and_then(|()| {
                within_a_day("latency", h.latency, 1)?;
                within_a_day("jitter", h.jitter, 1)
            }),
            Self::Latency(l) => within_a_day("latency", l.latency, 1)
                .and_then(|()| within_a_day("jitter", l.jitter, 1)),
            Self::SlowClose(c) => within_a_day("delay", c.delay, 1),
            Self::Timeout(t) => within_a_day("timeout", t.timeout, 1),
            Self::ResetPeer(r) => within_a_day("timeout", r.timeout, 1),
            Self::Slicer(s) => within_a_day("delay", s.delay, 1000),
            Self::Bandwidth(_) | Self::LimitData(_) => Ok(()),
        };
        checked.map_err(|(field, message)| ProxyError::BadAttributes {
            path: format!("attributes.{field}"),
            message,
        })?;
        Ok(parsed)
    }
}

/// The longest time a toxic may wait, in milliseconds: a day. The proxy adds waits to the
/// present instant, and a wait of billions of years would overflow the clock.
pub const MAX_WAIT_MS: u64 = 24 * 60 * 60 * 1000;

/// Refuses a time attribute of more than [`MAX_WAIT_MS`]; `per_ms` is its units in a
/// millisecond (1000 for microseconds).
fn within_a_day(
    field: &'static str,
    value: u64,
    per_ms: u64,
) -> Result<(), (&'static str, String)> {
    if value / per_ms > MAX_WAIT_MS {
        let unit = if per_ms == 1 {
            "milliseconds"
        } else {
            "microseconds"
        };
        return Err((
            field,
            format!(
                "{value} is more than a day; at most {} {unit}",
                MAX_WAIT_MS * per_ms
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyError;

    #[test]
    fn waits_longer_than_a_day_are_refused_with_the_field() {
        // Found while writing the proxy_api fuzz target, which now checks it: accepted, these
        // made the proxy's connection task panic when it added the wait to the present
        // instant.
        for (kind, attributes, field) in [
            (
                "latency",
                serde_json::json!({"latency": u64::MAX}),
                "attributes.latency",
            ),
            (
                "latency",
                serde_json::json!({"jitter": u64::MAX}),
                "attributes.jitter",
            ),
            (
                "http_latency",
                serde_json::json!({"latency": 86_400_001}),
                "attributes.latency",
            ),
            (
                "slow_close",
                serde_json::json!({"delay": u64::MAX}),
                "attributes.delay",
            ),
            (
                "timeout",
                serde_json::json!({"timeout": u64::MAX}),
                "attributes.timeout",
            ),
            (
                "reset_peer",
                serde_json::json!({"timeout": u64::MAX}),
                "attributes.timeout",
            ),
            (
                "slicer",
                serde_json::json!({"delay": u64::MAX}),
                "attributes.delay",
            ),
        ] {
            match ToxicKind::from_parts(kind, attributes) {
                Err(ProxyError::BadAttributes { path, message }) => {
                    assert_eq!(path, field, "{kind}");
                    assert!(message.contains("more than a day"), "{kind}: {message}");
                }
                other => panic!("{kind}: {other:?}"),
            }
        }
        let day = ToxicKind::from_parts(
            "latency",
            serde_json::json!({"latency": MAX_WAIT_MS, "jitter": MAX_WAIT_MS}),
        );
        assert!(day.is_ok(), "a day is still accepted");
        let slicer =
            ToxicKind::from_parts("slicer", serde_json::json!({"delay": MAX_WAIT_MS * 1000}));
        assert!(slicer.is_ok(), "a day in microseconds is still accepted");
    }

    #[test]
    fn missing_attributes_take_toxiproxy_defaults() {
        let k = ToxicKind::from_parts("latency", serde_json::json!({"latency": 5})).unwrap();
        assert_eq!(
            k,
            ToxicKind::Latency(Latency {
                latency: 5,
                jitter: 0
            })
        );
        assert_eq!(
            k.attributes(),
            serde_json::json!({"latency": 5, "jitter": 0})
        );
    }

    #[test]
    fn every_type_parses_with_default_attributes() {
        for t in ToxicKind::TYPES {
            let k = ToxicKind::from_parts(t, serde_json::json!({})).unwrap();
            assert_eq!(k.type_name(), t);
        }
    }

    #[test]
    fn errors_name_the_type_or_the_field() {
        assert!(matches!(
            ToxicKind::from_parts("nope", serde_json::json!({})),
            Err(ProxyError::InvalidToxicType(_))
        ));
        match ToxicKind::from_parts("latency", serde_json::json!({"latency": "x"})) {
            Err(ProxyError::BadAttributes { path, .. }) => assert_eq!(path, "attributes.latency"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ToxicKind::from_parts("bandwidth", serde_json::json!({"rate": 1, "extra": 2})),
            Err(ProxyError::BadAttributes { .. })
        ));
        match ToxicKind::from_parts("http_error", serde_json::json!({"probability": 2.0})) {
            Err(ProxyError::BadAttributes { path, .. }) => {
                assert_eq!(path, "attributes.probability")
            }
            other => panic!("{other:?}"),
        }
        for (attributes, field) in [
            (
                serde_json::json!({"match": {"path_regex": "(("}}),
                "attributes.match.path_regex",
            ),
            (
                serde_json::json!({"match": {"method": ""}}),
                "attributes.match.method",
            ),
            (
                serde_json::json!({"match": {"verb": "GET"}}),
                "attributes.match.verb",
            ),
        ] {
            for t in ["http_error", "http_latency"] {
                match ToxicKind::from_parts(t, attributes.clone()) {
                    Err(ProxyError::BadAttributes { path, .. }) => assert_eq!(path, field),
                    other => panic!("{t} {attributes}: {other:?}"),
                }
            }
        }
    }
}
