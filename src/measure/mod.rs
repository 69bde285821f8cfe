//! Measurements: probe latency and availability per phase, and per-iteration durations,
//! all in HdrHistogram (microseconds, three significant digits).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde::{Deserialize, Serialize};

use crate::spec::Phase;

/// The largest latency a histogram holds: one hour, in microseconds. Larger values are
/// clamped, which no probe timeout reaches.
const HIGHEST_US: u64 = 3_600_000_000;

fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that HdrHistogram accepts.
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HIGHEST_US)
}

/// Microseconds as fractional milliseconds.
fn us_as_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Observations of one probe in one phase.
#[derive(Clone, Debug)]
pub struct PhaseRecorder {
    latency: Histogram<u64>,
    count: u64,
    errors: u64,
}

impl Default for PhaseRecorder {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            count: 0,
            errors: 0,
        }
    }
}

impl PhaseRecorder {
    /// Records one observation. Latency is corrected for coordinated omission: an
    /// observation slower than the schedule's interval also stands for the observations the
    /// schedule would have made meanwhile.
    pub fn record(&mut self, latency: Duration, ok: bool, interval: Duration) {
        self.count += 1;
        if !ok {
            self.errors += 1;
        }
        // Clamped values always fit, so recording cannot fail.
        let _ = self
            .latency
            .record_correct(micros(latency), micros(interval));
    }

    /// Adds another recorder's observations to this one.
    pub fn merge(&mut self, other: &PhaseRecorder) {
        self.count += other.count;
        self.errors += other.errors;
        // Histograms of identical bounds always add.
        let _ = self.latency.add(&other.latency);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Failed observations recorded.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The latency histogram, in microseconds.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// The summary written to results.
    pub fn summary(&self) -> LatencySummary {
        let q = |p: f64| {
            if self.latency.is_empty() {
                None
            } else {
                Some(us_as_ms(self.latency.value_at_quantile(p)))
            }
        };
        LatencySummary {
            count: self.count,
            errors: self.errors,
            availability: availability(self.count, self.errors),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: (!self.latency.is_empty()).then(|| us_as_ms(self.latency.max())),
        }
    }
}

/// The share of passing observations, or None when there were none.
pub fn availability(count: u64, errors: u64) -> Option<f64> {
    (count > 0).then(|| (count - errors) as f64 / count as f64)
}

/// Latency and availability of one probe in one phase. Latencies in milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    /// Observations.
    pub count: u64,
    /// Failed observations.
    pub errors: u64,
    /// Share of passing observations.
    pub availability: Option<f64>,
    /// Median latency.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest latency.
    pub max: Option<f64>,
}

/// Every probe's recorders for every phase.
#[derive(Clone, Debug)]
pub struct ProbeRecorders {
    phases: BTreeMap<Phase, PhaseRecorder>,
}

impl Default for ProbeRecorders {
    fn default() -> Self {
        Self {
            phases: Phase::ALL
                .iter()
                .map(|p| (*p, PhaseRecorder::default()))
                .collect(),
        }
    }
}

impl ProbeRecorders {
    /// The recorder of a phase.
    pub fn phase(&self, phase: Phase) -> &PhaseRecorder {
        &self.phases[&phase]
    }

    /// The recorder of a phase, to record into.
    pub fn phase_mut(&mut self, phase: Phase) -> &mut PhaseRecorder {
        self.phases.entry(phase).or_default()
    }

    /// Adds another probe's recorders, phase by phase.
    pub fn merge(&mut self, other: &ProbeRecorders) {
        for (phase, rec) in &other.phases {
            self.phase_mut(*phase).merge(rec);
        }
    }

    /// Summaries keyed by phase name.
    pub fn summaries(&self) -> BTreeMap<String, LatencySummary> {
        self.phases
            .iter()
            .map(|(p, r)| (p.as_str().to_owned(), r.summary()))
            .collect()
    }
}

/// A duration measured once per iteration (time to detect, time to recover).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DurationSummary {
    /// Iterations in which it was measured.
    pub count: u64,
    /// Iterations in which it was not (not detected, not recovered).
    pub missing: u64,
    /// Median, in milliseconds.
    pub p50: Option<f64>,
    /// 90th percentile, in milliseconds.
    pub p90: Option<f64>,
    /// 99th percentile, in milliseconds.
    pub p99: Option<f64>,
    /// Largest, in milliseconds.
    pub max: Option<f64>,
}

/// Per-iteration durations in a histogram.
#[derive(Clone, Debug)]
pub struct DurationRecorder {
    hist: Histogram<u64>,
    missing: u64,
}

impl Default for DurationRecorder {
    fn default() -> Self {
        Self {
            hist: new_histogram(),
            missing: 0,
        }
    }
}

impl DurationRecorder {
    /// Records one iteration's value, or its absence.
    pub fn record(&mut self, value: Option<Duration>) {
        match value {
            // Zero is a real measurement (nothing to recover from); the histogram's lowest
            // bucket holds it.
            Some(d) => {
                let _ = self.hist.record(micros(d));
            }
            None => self.missing += 1,
        }
    }

    /// The value at percentile `p` (0-100], in milliseconds; None when an absent iteration
    /// falls at or below that percentile, since an absent value is worse than any.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        let total = self.hist.len() + self.missing;
        if total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        if rank > self.hist.len() {
            return None;
        }
        let q = rank as f64 / self.hist.len() as f64;
        Some(us_as_ms(self.hist.value_at_quantile(q.min(1.0))))
    }

    /// The summary written to results.
    pub fn summary(&self) -> DurationSummary {
        let present = |v: u64| (!self.hist.is_empty()).then(|| us_as_ms(v));
        DurationSummary {
            count: self.hist.len(),
            missing: self.missing,
            p50: present(self.hist.value_at_quantile(0.50)),
            p90: present(self.hist.value_at_quantile(0.90)),
            p99: present(self.hist.value_at_quantile(0.99)),
            max: present(self.hist.max()),
        }
    }

    /// The histogram, in microseconds.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}

/// One interval of an HdrHistogram log.
pub struct LogInterval<'a> {
    /// Tag such as `api.fault` (no spaces or commas).
    pub tag: String,
    /// Start, relative to the log's base time.
    pub start: Duration,
    /// Length of the interval.
    pub length: Duration,
    /// The data, in microseconds.
    pub histogram: &'a Histogram<u64>,
}

/// Writes intervals as an HdrHistogram interval log (V2 compressed, values in
/// milliseconds), the format HistogramLogProcessor and HdrHistogram's plotters read.
pub fn write_interval_log<W: Write>(
    out: &mut W,
    base: SystemTime,
    intervals: &[LogInterval<'_>],
) -> std::io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .with_base_time(base)
        .with_start_time(base)
        .with_max_value_divisor(1000.0)
        .add_comment("firedrill probe latency; values in microseconds, max column in milliseconds");
    let mut writer = builder.begin_log_with(out, &mut serializer)?;
    for i in intervals {
        let tag = i.tag.replace([',', ' ', '\r', '\n'], "_");
        writer
            .write_histogram(i.histogram, i.start, i.length, Tag::new(&tag))
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_summary_counts_errors_and_percentiles() {
        let mut r = PhaseRecorder::default();
        for i in 1..=100u64 {
            r.record(
                Duration::from_millis(i),
                i % 10 != 0,
                Duration::from_secs(1),
            );
        }
        let s = r.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.errors, 10);
        assert_eq!(s.availability, Some(0.9));
        let p50 = s.p50.unwrap();
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        assert!((99.0..=101.0).contains(&s.max.unwrap()));
    }

    #[test]
    fn coordinated_omission_is_corrected() {
        let mut r = PhaseRecorder::default();
        for _ in 0..99 {
            r.record(Duration::from_millis(1), true, Duration::from_millis(10));
        }
        // One observation stalled for a second: the schedule missed ~99 observations.
        r.record(Duration::from_secs(1), true, Duration::from_millis(10));
        assert!(r.histogram().len() > 150, "{}", r.histogram().len());
        assert!(r.summary().p90.unwrap() > 100.0);
        assert_eq!(r.count(), 100, "the count is of real observations");
    }

    #[test]
    fn missing_durations_fail_high_percentiles() {
        let mut d = DurationRecorder::default();
        d.record(Some(Duration::from_millis(100)));
        d.record(Some(Duration::from_millis(200)));
        d.record(None);
        assert!(d.percentile_ms(50.0).is_some());
        assert_eq!(d.percentile_ms(95.0), None);
        let s = d.summary();
        assert_eq!((s.count, s.missing), (2, 1));
    }

    #[test]
    fn percentile_over_few_values_is_nearest_rank() {
        let mut d = DurationRecorder::default();
        for v in [100, 200, 300, 400] {
            d.record(Some(Duration::from_millis(v)));
        }
        let p95 = d.percentile_ms(95.0).unwrap();
        assert!((399.0..=401.0).contains(&p95), "{p95}");
        let p50 = d.percentile_ms(50.0).unwrap();
        assert!((199.0..=201.0).contains(&p50), "{p50}");
    }

    #[test]
    fn interval_log_round_trips() {
        let mut r = PhaseRecorder::default();
        r.record(Duration::from_millis(5), true, Duration::from_millis(100));
        let mut buf = Vec::new();
        write_interval_log(
            &mut buf,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            &[LogInterval {
                tag: "api.fault".into(),
                start: Duration::from_secs(1),
                length: Duration::from_secs(2),
                histogram: r.histogram(),
            }],
        )
        .unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains("Tag=api.fault,"), "{text}");
        let entries: Vec<_> =
            hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&buf)
                .filter_map(Result::ok)
                .collect();
        assert!(!entries.is_empty());
    }
}
