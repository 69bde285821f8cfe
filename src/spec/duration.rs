//! Human-readable durations (`100ms`, `2s`, `1m 30s`) as they appear in experiment files.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written with a unit, such as `250ms` or `1m 30s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// A duration of the given number of milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    /// A duration of the given number of seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }

    /// The standard library duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// Whole milliseconds, saturating.
    pub fn as_millis_u64(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// True for a zero duration.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

/// Why a duration could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid duration `{input}`: {reason} (write a number with a unit, such as 500ms, 2s or 1m 30s)"
)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(DurationError {
                input: s.to_owned(),
                reason: "empty".to_owned(),
            });
        }
        if trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(DurationError {
                input: s.to_owned(),
                reason: "the unit is missing".to_owned(),
            });
        }
        humantime::parse_duration(trimmed)
            .map(Duration)
            .map_err(|e| DurationError {
                input: s.to_owned(),
                reason: e.to_string(),
            })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, such as 500ms, 2s or 1m 30s")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::default())
                } else {
                    Err(E::custom(format!(
                        "invalid duration `{v}`: the unit is missing (write {v}ms or {v}s)"
                    )))
                }
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 {
                    Err(E::custom(format!(
                        "invalid duration `{v}`: durations cannot be negative"
                    )))
                } else {
                    self.visit_u64(v.unsigned_abs())
                }
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: the unit is missing (write {v}s)"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration with a unit: ns, us, ms, s, m, h (for example 250ms, 2s, 1m 30s).",
            "pattern": r"^\s*([0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs)\s*)+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(
            "250ms".parse::<Duration>().unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!("2s".parse::<Duration>().unwrap(), Duration::from_secs(2));
        assert_eq!(
            "1m 30s".parse::<Duration>().unwrap(),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn rejects_missing_unit_and_garbage() {
        let err = "250".parse::<Duration>().unwrap_err().to_string();
        assert!(err.contains("unit is missing"), "{err}");
        assert!("fast".parse::<Duration>().is_err());
        assert!("".parse::<Duration>().is_err());
        assert!("-3s".parse::<Duration>().is_err());
    }

    #[test]
    fn displays_round_trip() {
        for s in ["250ms", "2s", "1m 30s", "0s"] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
    }
}
