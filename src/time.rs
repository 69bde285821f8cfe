//! Time helpers every layer may use: monotonic time for measurements, mapped to UTC wall
//! time for the record, and the formats durations and instants are written in.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::time::Instant;

/// The run's time origin: durations come from the monotonic clock, and every instant is
/// also given as UTC by offsetting the wall time read once at the start.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    wall: SystemTime,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The wall time of the origin.
    pub fn wall_origin(&self) -> SystemTime {
        self.wall
    }

    /// The wall time of a monotonic instant, to the nanosecond.
    pub fn wall(&self, t: Instant) -> SystemTime {
        self.wall + t.saturating_duration_since(self.origin)
    }

    /// The wall time of a monotonic instant, as the record keeps it.
    pub fn at(&self, t: Instant) -> Timestamp {
        Timestamp::from(self.wall(t))
    }

    /// Time since the origin, in milliseconds.
    pub fn offset_ms(&self, t: Instant) -> f64 {
        ms(t.saturating_duration_since(self.origin))
    }

    /// The origin itself.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Time since the origin.
    pub fn since_origin(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }
}

/// A UTC wall time as the record keeps it: to the millisecond, written as RFC 3339 with
/// exactly three decimals and `Z` (`2026-12-07T05:39:30.123Z`), the form results, journals
/// and the run history have always held. Any RFC 3339 time is read; what is finer than a
/// millisecond is dropped, so that a time read back equals the time written.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    /// The current wall time.
    pub fn now() -> Self {
        Self::from(jiff::Timestamp::now())
    }

    /// The same instant as a jiff timestamp, for calendars and time zones.
    pub fn as_jiff(self) -> jiff::Timestamp {
        self.0
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millisecond(self) -> i64 {
        self.0.as_millisecond()
    }

    /// Milliseconds from `earlier` to this time, negative when `earlier` is later.
    pub fn ms_since(self, earlier: Self) -> f64 {
        let d = self.0.duration_since(earlier.0);
        let ms = d.unsigned_abs().as_secs_f64() * 1e3;
        if d.is_negative() { -ms } else { ms }
    }

    /// The time formatted for people, such as `%Y-%m-%d %H:%M:%S` (strftime, in UTC).
    pub fn strftime<'f>(&self, format: &'f str) -> jiff::fmt::strtime::Display<'f> {
        self.0.strftime(format)
    }
}

impl From<jiff::Timestamp> for Timestamp {
    /// Drops what is finer than a millisecond, as writing it always has.
    fn from(t: jiff::Timestamp) -> Self {
        // Whole milliseconds of a valid timestamp are a valid timestamp.
        Self(jiff::Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t))
    }
}

impl From<SystemTime> for Timestamp {
    /// A system time outside the years -9999 to 9999 (jiff's range) is held at its nearest end.
    fn from(t: SystemTime) -> Self {
        let t = jiff::Timestamp::try_from(t).unwrap_or(if t < SystemTime::UNIX_EPOCH {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        Self::from(t)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;

    /// The time `d` later, held at the last representable time.
    fn add(self, d: Duration) -> Self {
        let later = jiff::SignedDuration::try_from(d)
            .ok()
            .and_then(|d| self.0.checked_add(d).ok())
            .unwrap_or(jiff::Timestamp::MAX);
        Self::from(later)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Self;

    /// The time `d` earlier, held at the first representable time.
    fn sub(self, d: Duration) -> Self {
        let earlier = jiff::SignedDuration::try_from(d)
            .ok()
            .and_then(|d| self.0.checked_sub(d).ok())
            .unwrap_or(jiff::Timestamp::MIN);
        Self::from(earlier)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Timestamp {
    type Err = jiff::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<jiff::Timestamp>().map(Self::from)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|error| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time: {error}"))
        })
    }
}

/// Serde for a time another system stamped (a Kubernetes event's), written at the
/// precision it has: RFC 3339 UTC with as many decimals as it needs (none for whole
/// seconds).
pub mod as_stamped {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the time, or null.
    pub fn serialize<S: Serializer>(
        value: &Option<jiff::Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => serializer.collect_str(t),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an RFC 3339 time, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<jiff::Timestamp>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A duration in fractional milliseconds, rounded to the microsecond.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(secs: u64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn writes_times_as_they_were_always_written() {
        // What results, journals and the run history held, written by humantime's
        // format_rfc3339_millis before there was a timestamp type.
        let cases = [
            ((0, 0), "1970-01-01T00:00:00.000Z"),
            ((1_796_622_570, 0), "2026-12-07T05:49:30.000Z"),
            ((1_796_622_570, 123_000_000), "2026-12-07T05:49:30.123Z"),
            ((1_796_622_570, 123_999_999), "2026-12-07T05:49:30.123Z"),
            ((1_796_622_570, 999_999_999), "2026-12-07T05:49:30.999Z"),
            ((1_796_622_570, 1_000_000), "2026-12-07T05:49:30.001Z"),
            ((1_796_622_570, 999_999), "2026-12-07T05:49:30.000Z"),
            ((951_782_400, 5_000_000), "2000-02-29T00:00:00.005Z"),
            ((253_402_207_199, 999_999_999), "9999-12-30T21:59:59.999Z"),
        ];
        for ((secs, nanos), written) in cases {
            let t = system(secs, nanos);
            assert_eq!(Timestamp::from(t).to_string(), written);
            assert_eq!(
                Timestamp::from(t).to_string(),
                humantime::format_rfc3339_millis(t).to_string(),
                "{secs}.{nanos:09}"
            );
        }
    }

    #[test]
    fn agrees_with_the_old_format_over_many_times() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let t = system(rng.u64(0..4_102_444_800), rng.u32(0..1_000_000_000));
            assert_eq!(
                Timestamp::from(t).to_string(),
                humantime::format_rfc3339_millis(t).to_string()
            );
        }
    }

    #[test]
    fn serializes_as_a_string_and_reads_back_the_same() {
        let t = Timestamp::from(system(1_796_622_570, 123_456_789));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-12-07T05:49:30.123Z\"");
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.to_string().parse::<Timestamp>().unwrap(), t);
        let none: Option<Timestamp> = serde_json::from_str("null").unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn reads_the_times_of_older_files() {
        // result.json and journals (three decimals), a history row or a hand-written time
        // (none), an offset other than Z.
        for (text, written) in [
            ("2026-11-28T04:27:28.071Z", "2026-11-28T04:27:28.071Z"),
            ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000Z"),
            ("2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00.500Z"),
            ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123Z"),
            ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00.000Z"),
            ("2026-03-01t10:00:00z", "2026-03-01T10:00:00.000Z"),
        ] {
            let t: Timestamp = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(t.to_string(), written, "{text}");
        }
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("`yesterday` is not an RFC 3339 time")
        );
        assert!(serde_json::from_str::<Timestamp>("\"\"").is_err());
    }

    #[test]
    fn deadlines_and_differences_are_arithmetic_on_times() {
        let awareness: Timestamp = "2026-12-07T05:39:30.123Z".parse().unwrap();
        let deadline = awareness + Duration::from_secs(24 * 3600);
        assert_eq!(deadline.to_string(), "2026-12-08T05:39:30.123Z");
        assert_eq!(
            (awareness + Duration::from_secs(72 * 3600)).to_string(),
            "2026-12-10T05:39:30.123Z"
        );
        // Across the end of a month and of a leap February.
        let leap: Timestamp = "2028-02-28T23:00:00.000Z".parse().unwrap();
        assert_eq!(
            (leap + Duration::from_secs(24 * 3600)).to_string(),
            "2028-02-29T23:00:00.000Z"
        );
        assert_eq!(deadline.ms_since(awareness), 86_400_000.0);
        assert_eq!(awareness.ms_since(deadline), -86_400_000.0);
        let later: Timestamp = "2026-12-07T05:39:31.000Z".parse().unwrap();
        assert_eq!(later.ms_since(awareness), 877.0);
        assert!(awareness < later && later < deadline);
        assert_eq!(
            awareness + Duration::MAX,
            Timestamp::from(jiff::Timestamp::MAX)
        );
    }

    #[test]
    fn the_clock_gives_the_wall_time_of_an_instant() {
        let clock = Clock::start();
        let origin = Timestamp::from(clock.wall_origin());
        let later = tokio::time::Instant::now() + Duration::from_millis(1500);
        let at = clock.at(later);
        assert!(at.ms_since(origin) >= 1499.0, "{at:?} {origin:?}");
        assert_eq!(at, Timestamp::from(clock.wall(later)));
    }

    #[test]
    fn a_time_stamped_elsewhere_keeps_its_precision() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Event {
            #[serde(default, with = "as_stamped")]
            at: Option<jiff::Timestamp>,
        }
        for json in [
            r#"{"at":"2026-01-01T00:00:05Z"}"#,
            r#"{"at":"2026-01-01T00:00:05.123456Z"}"#,
            r#"{"at":null}"#,
        ] {
            let e: Event = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&e).unwrap(), json);
        }
        let missing: Event = serde_json::from_str("{}").unwrap();
        assert_eq!(missing, Event { at: None });
    }
}
