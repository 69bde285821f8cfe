//! Where each request of the traffic is counted: the iteration and phase of its intended
//! send time, in an HdrHistogram per phase and a small one per bucket of the time series,
//! written to traffic.jsonl as soon as no request can still land in it.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::result::{SeriesLine, TrafficPhase};

/// The largest latency a histogram holds, in microseconds: longer than any timeout.
const HIGHEST_US: u64 = 120_000_000;

/// The phases the traffic is counted in: the probes' three, and the cool-down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// Before injection.
    Baseline,
    /// From the first injection to the last revert.
    Fault,
    /// From the last revert to the end of the iteration.
    Recovery,
    /// Between iterations.
    Cooldown,
}

impl Period {
    /// The name written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Fault => "fault",
            Self::Recovery => "recovery",
            Self::Cooldown => "cooldown",
        }
    }
}

/// What happened to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An answer with this status.
    Status(u16),
    /// No answer.
    Error(ErrorKind),
}

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection could not be made.
    Connect,
    /// No full answer within the timeout.
    Timeout,
    /// The connection failed during the exchange.
    Io,
    /// It waited past its timeout for a free connection and was never sent.
    NotSent,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::NotSent => "not-sent",
        }
    }
}

impl Outcome {
    /// Whether the request failed: no answer, or a server error.
    pub fn failed(self) -> bool {
        match self {
            Self::Status(s) => s >= 500,
            Self::Error(_) => true,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HIGHEST_US)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The figures of one iteration's phase as they accumulate.
#[derive(Clone, Debug)]
pub struct Tally {
    latency: Histogram<u64>,
    requests: u64,
    sent: u64,
    errors: u64,
    bad: u64,
    status: BTreeMap<String, u64>,
    kinds: BTreeMap<String, u64>,
    max_lag: Duration,
    duration: Duration,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            // Constant bounds HdrHistogram accepts.
            latency: Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid bounds"),
            requests: 0,
            sent: 0,
            errors: 0,
            bad: 0,
            status: BTreeMap::new(),
            kinds: BTreeMap::new(),
            max_lag: Duration::ZERO,
            duration: Duration::ZERO,
        }
    }
}

impl Tally {
    /// Adds another tally (another iteration's same phase).
    pub fn merge(&mut self, other: &Tally) {
        // Histograms of identical bounds always add.
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.sent += other.sent;
        self.errors += other.errors;
        self.bad += other.bad;
        for (k, v) in &other.status {
            *self.status.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.kinds {
            *self.kinds.entry(k.clone()).or_default() += v;
        }
        self.max_lag = self.max_lag.max(other.max_lag);
        self.duration += other.duration;
    }

    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bad requests.
    pub fn bad(&self) -> u64 {
        self.bad
    }

    /// How long the phase lasted.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The latency at quantile `q` (0 to 1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| ms(self.latency.value_at_quantile(q)))
    }

    /// The figures written to results; `asked` is the open model's rate.
    pub fn figures(&self, asked: Option<f64>) -> TrafficPhase {
        let secs = self.duration.as_secs_f64();
        TrafficPhase {
            duration_ms: secs * 1e3,
            requests: self.requests,
            sent: self.sent,
            errors: self.errors,
            bad: self.bad,
            status: self.status.clone(),
            error_kinds: self.kinds.clone(),
            asked_rate: asked,
            achieved_rate: (secs > 0.0).then(|| self.sent as f64 / secs),
            max_schedule_lag_ms: self.max_lag.as_secs_f64() * 1e3,
            availability: (self.requests > 0)
                .then(|| (self.requests - self.bad) as f64 / self.requests as f64),
            p50: self.quantile_ms(0.50),
            p90: self.quantile_ms(0.90),
            p99: self.quantile_ms(0.99),
            p999: self.quantile_ms(0.999),
            max: (!self.latency.is_empty()).then(|| ms(self.latency.max())),
        }
    }
}

/// One bucket of the time series: two significant digits are enough for a chart.
struct Bucket {
    latency: Histogram<u32>,
    requests: u64,
    errors: u64,
    bad: u64,
}

impl Bucket {
    fn new() -> Self {
        Self {
            // Constant bounds HdrHistogram accepts.
            latency: Histogram::new_with_bounds(1, HIGHEST_US, 2).expect("valid bounds"),
            requests: 0,
            errors: 0,
            bad: 0,
        }
    }
}

/// A change of phase: from `at` on, requests belong to `iteration`'s `period`; `None`
/// ends the traffic's record.
#[derive(Clone, Copy, Debug)]
struct Mark {
    at: Instant,
    place: Option<(u32, Period)>,
}

/// The record of the traffic of a run.
pub struct Recorder {
    origin: Instant,
    resolution: Duration,
    slow: Option<Duration>,
    marks: Vec<Mark>,
    tallies: BTreeMap<(u32, Period), Tally>,
    /// Open buckets by (index from the origin, iteration, period).
    buckets: BTreeMap<(u64, u32, Period), Bucket>,
    out: Option<Box<dyn Write + Send>>,
    write_error: Option<String>,
}

impl Recorder {
    /// A record whose time series counts from `origin` in buckets of `resolution`; a
    /// request slower than `slow` is bad; lines go to `out`.
    pub fn new(
        origin: Instant,
        resolution: Duration,
        slow: Option<Duration>,
        out: Option<Box<dyn Write + Send>>,
    ) -> Self {
        Self {
            origin,
            resolution: resolution.max(Duration::from_millis(1)),
            slow,
            marks: Vec::new(),
            tallies: BTreeMap::new(),
            buckets: BTreeMap::new(),
            out,
            write_error: None,
        }
    }

    /// From `at` on, requests belong to `iteration`'s `period` (None: to nothing).
    pub fn mark(&mut self, at: Instant, place: Option<(u32, Period)>) {
        // Marks come in order; one earlier than the last (never expected) is moved up to it.
        let at = self.marks.last().map_or(at, |m| m.at.max(at));
        self.marks.push(Mark { at, place });
    }

    /// The iteration and phase of an intended send time.
    fn place_of(&self, t: Instant) -> Option<(u32, Period)> {
        let after = self.marks.partition_point(|m| m.at <= t);
        self.marks.get(after.checked_sub(1)?)?.place
    }

    /// Whether a request intended at `t` would be counted.
    pub fn counts(&self, t: Instant) -> bool {
        self.place_of(t).is_some()
    }

    /// Counts one request intended at `intended` that ended at `finished`.
    pub fn record(&mut self, intended: Instant, finished: Instant, outcome: Outcome) {
        let Some((iteration, period)) = self.place_of(intended) else {
            return;
        };
        let latency = micros(finished.saturating_duration_since(intended));
        let failed = outcome.failed();
        let slow = self.slow.is_some_and(|s| latency > micros(s));
        let bad = failed || slow;
        let tally = self.tallies.entry((iteration, period)).or_default();
        tally.requests += 1;
        if outcome != Outcome::Error(ErrorKind::NotSent) {
            tally.sent += 1;
        }
        tally.errors += u64::from(failed);
        tally.bad += u64::from(bad);
        match outcome {
            Outcome::Status(s) => {
                *tally.status.entry(format!("{}xx", s / 100)).or_default() += 1;
            }
            Outcome::Error(kind) => {
                *tally.kinds.entry(kind.as_str().to_owned()).or_default() += 1;
            }
        }
        // Clamped values always fit.
        let _ = tally.latency.record(latency);
        let index = self.bucket_index(intended);
        let bucket = self
            .buckets
            .entry((index, iteration, period))
            .or_insert_with(Bucket::new);
        bucket.requests += 1;
        bucket.errors += u64::from(failed);
        bucket.bad += u64::from(bad);
        let _ = bucket.latency.record(latency);
    }

    /// Notes that the request intended at `intended` left `lag` late while a connection
    /// was free: the generator's own delay.
    pub fn lag(&mut self, intended: Instant, lag: Duration) {
        if let Some(place) = self.place_of(intended) {
            let tally = self.tallies.entry(place).or_default();
            tally.max_lag = tally.max_lag.max(lag);
        }
    }

    fn bucket_index(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos() / self.resolution.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Writes every bucket that ends at or before `settled`: no request of it can still
    /// be counted.
    pub fn flush(&mut self, settled: Instant) {
        let limit = self.bucket_index(settled);
        let open = self.buckets.split_off(&(limit, 0, Period::Baseline));
        let done = std::mem::replace(&mut self.buckets, open);
        for ((index, iteration, period), bucket) in done {
            self.write_line(index, iteration, period, &bucket);
        }
    }

    fn write_line(&mut self, index: u64, iteration: u32, period: Period, b: &Bucket) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let q = |p: f64| (!b.latency.is_empty()).then(|| ms(b.latency.value_at_quantile(p)));
        let line = SeriesLine {
            iteration,
            phase: period.as_str().to_owned(),
            offset_ms: (self.resolution * u32::try_from(index).unwrap_or(u32::MAX)).as_secs_f64()
                * 1e3,
            requests: b.requests,
            errors: b.errors,
            bad: b.bad,
            p50: q(0.50),
            p99: q(0.99),
            max: (!b.latency.is_empty()).then(|| ms(b.latency.max())),
        };
        let written = serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            self.write_error.get_or_insert(e.to_string());
            self.out = None;
        }
    }

    /// Ends the record at `end`: writes every bucket, and returns each iteration's phases
    /// with their durations, and why the time series could not be written, if it could not.
    pub fn finish(mut self, end: Instant) -> (BTreeMap<(u32, Period), Tally>, Option<String>) {
        self.flush(Instant::now().max(end) + Duration::from_secs(3600));
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            self.write_error.get_or_insert(e.to_string());
        }
        for (i, m) in self.marks.iter().enumerate() {
            let Some(place) = m.place else { continue };
            let until = self.marks.get(i + 1).map_or(end, |n| n.at).max(m.at);
            self.tallies.entry(place).or_default().duration += until - m.at;
        }
        (self.tallies, self.write_error)
    }
}

/// The error budget in requests: `(1 - availability)` of the requests `window` carries at
/// `rate` requests per second.
pub fn budget_allowance(availability: f64, rate: f64, window: Duration) -> f64 {
    (1.0 - availability) * rate * window.as_secs_f64()
}

/// The share of the budget `bad` requests burn; None when there is no budget to burn.
pub fn budget_burned(bad: u64, allowance: f64) -> Option<f64> {
    (allowance > 0.0).then(|| bad as f64 / allowance)
}

/// p99 under the fault over p99 at baseline.
pub fn degradation(fault_p99: Option<f64>, baseline_p99: Option<f64>) -> Option<f64> {
    let (f, b) = (fault_p99?, baseline_p99?);
    (b > 0.0).then(|| f / b)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(out: &Shared) -> Vec<SeriesLine> {
        String::from_utf8(out.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn requests_go_to_the_phase_of_their_intended_time_and_the_series_adds_up() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let out = Shared::default();
        let mut rec = Recorder::new(
            t0,
            Duration::from_millis(100),
            Some(Duration::from_millis(50)),
            Some(Box::new(out.clone())),
        );
        rec.mark(at(0), Some((1, Period::Baseline)));
        rec.mark(at(250), Some((1, Period::Fault)));
        rec.mark(at(600), Some((1, Period::Recovery)));
        rec.mark(at(1000), None);
        // One request every 10 ms; those intended in the fault phase take 80 ms (slow),
        // one in ten of them fails.
        for i in 0..100u64 {
            let intended = at(i * 10);
            let (latency, outcome) = match i {
                25..60 if i % 10 == 0 => (80, Outcome::Status(503)),
                25..60 => (80, Outcome::Status(200)),
                _ => (5, Outcome::Status(200)),
            };
            rec.record(intended, intended + Duration::from_millis(latency), outcome);
        }
        // Intended after the end: not counted.
        rec.record(at(1005), at(1010), Outcome::Status(200));
        rec.flush(at(300));
        let early = lines(&out);
        assert!(early.iter().all(|l| l.offset_ms < 300.0), "{early:?}");
        let (tallies, error) = rec.finish(at(1000));
        assert_eq!(error, None);
        let base = &tallies[&(1, Period::Baseline)];
        let fault = &tallies[&(1, Period::Fault)];
        let recovery = &tallies[&(1, Period::Recovery)];
        assert_eq!(
            (base.requests, fault.requests, recovery.requests),
            (25, 35, 40)
        );
        assert_eq!(fault.errors, 3);
        assert_eq!(
            fault.bad, 35,
            "every fault-phase request is slower than the SLO"
        );
        assert_eq!(base.duration(), Duration::from_millis(250));
        assert_eq!(recovery.duration(), Duration::from_millis(400));
        let figures = fault.figures(Some(100.0));
        assert!((figures.achieved_rate.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(figures.status["5xx"], 3);
        assert!((figures.p99.unwrap() - 80.0).abs() < 0.1);
        // The series adds up to the phase totals, phase by phase.
        let series = lines(&out);
        for (period, tally) in [
            (Period::Baseline, base),
            (Period::Fault, fault),
            (Period::Recovery, recovery),
        ] {
            let rows: Vec<_> = series
                .iter()
                .filter(|l| l.phase == period.as_str())
                .collect();
            assert_eq!(rows.iter().map(|l| l.requests).sum::<u64>(), tally.requests);
            assert_eq!(rows.iter().map(|l| l.errors).sum::<u64>(), tally.errors);
            assert_eq!(rows.iter().map(|l| l.bad).sum::<u64>(), tally.bad);
        }
        // The bucket at 200 ms holds the baseline's last five and the fault's first five.
        let at_200: Vec<_> = series.iter().filter(|l| l.offset_ms == 200.0).collect();
        assert_eq!(at_200.len(), 2);
    }

    #[test]
    fn a_request_never_sent_is_counted_but_not_in_the_achieved_rate() {
        let t0 = Instant::now();
        let mut rec = Recorder::new(t0, Duration::from_millis(100), None, None);
        rec.mark(t0, Some((1, Period::Baseline)));
        let later = t0 + Duration::from_secs(1);
        rec.record(t0, later, Outcome::Error(ErrorKind::NotSent));
        rec.record(t0, later, Outcome::Status(200));
        let (tallies, _) = rec.finish(later);
        let f = tallies[&(1, Period::Baseline)].figures(Some(2.0));
        assert_eq!((f.requests, f.sent, f.errors, f.bad), (2, 1, 1, 1));
        assert_eq!(f.error_kinds["not-sent"], 1);
        assert!((f.achieved_rate.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(f.availability, Some(0.5));
    }

    #[test]
    fn the_budget_is_the_share_of_bad_requests_the_window_allows() {
        // 99.9% over 30 days at 100 requests/s allows 259,200 bad requests.
        let allowance = budget_allowance(0.999, 100.0, Duration::from_secs(30 * 86_400));
        assert!((allowance - 259_200.0).abs() < 1e-6);
        let burned = budget_burned(2_592, allowance).unwrap();
        assert!((burned - 0.01).abs() < 1e-12);
        assert_eq!(budget_burned(5, 0.0), None);
        assert_eq!(degradation(Some(30.0), Some(10.0)), Some(3.0));
        assert_eq!(degradation(Some(30.0), None), None);
        assert_eq!(degradation(Some(30.0), Some(0.0)), None);
    }
}
