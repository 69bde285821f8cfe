//! firedrill's own metrics in the Prometheus text exposition format (version 0.0.4), for the
//! long-running modes: the proxy's `/metrics` today, the scheduler's later.
//!
//! Written by hand rather than with a client crate: the modes need counters, gauges and
//! histograms with a few labels, sampled or updated at human rates, and the format is a
//! page of rules (escaping, `+Inf`, `_bucket`/`_sum`/`_count`) that the tests check.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::result::RunResult;

/// The media type of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds, in seconds, of the time to detect and recover histograms.
pub const RESPONSE_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0,
];

type Labels = Vec<(String, String)>;

#[derive(Debug)]
enum Kind {
    Counter,
    Gauge,
    Histogram(Vec<f64>),
}

#[derive(Debug)]
enum Series {
    Value(f64),
    Histogram {
        /// Per bound, not cumulative; the last is above every bound.
        counts: Vec<u64>,
        sum: f64,
    },
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    series: BTreeMap<Labels, Series>,
}

/// Metric families and their series. Updating a metric that was never described is a
/// programming error and is ignored (with a debug assertion), never a panic in release.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<BTreeMap<String, Family>>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    l
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn describe(&self, name: &str, help: &str, kind: Kind) {
        debug_assert!(valid_name(name), "invalid metric name {name}");
        self.lock().entry(name.to_owned()).or_insert(Family {
            help: help.to_owned(),
            kind,
            series: BTreeMap::new(),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Family>> {
        self.families.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Declares a counter; its name ends in `_total`.
    pub fn counter(&self, name: &str, help: &str) {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        self.describe(name, help, Kind::Counter);
    }

    /// Declares a gauge.
    pub fn gauge(&self, name: &str, help: &str) {
        self.describe(name, help, Kind::Gauge);
    }

    /// Declares a histogram with these upper bounds (ascending, `+Inf` implied).
    pub fn histogram(&self, name: &str, help: &str, bounds: &[f64]) {
        self.describe(name, help, Kind::Histogram(bounds.to_vec()));
    }

    fn with_value(&self, name: &str, pairs: &[(&str, &str)], f: impl FnOnce(&mut f64)) {
        let mut families = self.lock();
        let Some(family) = families.get_mut(name) else {
            debug_assert!(false, "metric {name} was not described");
            return;
        };
        if let Series::Value(v) = family
            .series
            .entry(labels(pairs))
            .or_insert(Series::Value(0.0))
        {
            f(v);
        }
    }

    /// Adds to a counter (negative amounts are ignored: counters only go up).
    pub fn inc_by(&self, name: &str, pairs: &[(&str, &str)], by: f64) {
        self.with_value(name, pairs, |v| *v += by.max(0.0));
    }

    /// Sets a gauge.
    pub fn set(&self, name: &str, pairs: &[(&str, &str)], value: f64) {
        self.with_value(name, pairs, |v| *v = value);
    }

    /// Adds to a gauge (may be negative).
    pub fn add(&self, name: &str, pairs: &[(&str, &str)], delta: f64) {
        self.with_value(name, pairs, |v| *v += delta);
    }

    /// Records one value in a histogram.
    pub fn observe(&self, name: &str, pairs: &[(&str, &str)], value: f64) {
        let mut families = self.lock();
        let Some(family) = families.get_mut(name) else {
            debug_assert!(false, "metric {name} was not described");
            return;
        };
        let Kind::Histogram(bounds) = &family.kind else {
            return;
        };
        let slot = bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(bounds.len());
        let len = bounds.len() + 1;
        if let Series::Histogram { counts, sum } = family
            .series
            .entry(labels(pairs))
            .or_insert_with(|| Series::Histogram {
                counts: vec![0; len],
                sum: 0.0,
            })
        {
            counts[slot] += 1;
            *sum += value;
        }
    }

    /// The text exposition of every family, sorted by name.
    pub fn render(&self) -> String {
        let families = self.lock();
        let mut out = String::new();
        for (name, family) in families.iter() {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram(_) => "histogram",
            };
            // A counter's family name drops `_total` (OpenMetrics); 0.0.4 parsers accept
            // the full name on HELP and TYPE, and so do we.
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, series) in &family.series {
                match (series, &family.kind) {
                    (Series::Value(v), _) => {
                        let _ = writeln!(out, "{name}{} {}", render_labels(labels, None), num(*v));
                    }
                    (Series::Histogram { counts, sum }, Kind::Histogram(bounds)) => {
                        let mut cumulative = 0;
                        for (i, count) in counts.iter().enumerate() {
                            cumulative += count;
                            let le = bounds.get(i).map_or("+Inf".to_owned(), |b| num(*b));
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {cumulative}",
                                render_labels(labels, Some(&le))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            render_labels(labels, None),
                            num(*sum)
                        );
                        let _ = writeln!(
                            out,
                            "{name}_count{} {cumulative}",
                            render_labels(labels, None)
                        );
                    }
                    (Series::Histogram { .. }, _) => {}
                }
            }
        }
        out
    }

    /// Declares the families of finished runs: `firedrill_runs_total{experiment,status}`,
    /// time to detect and recover histograms per experiment, faults active and reverts
    /// failed. For a long-running scheduler.
    pub fn describe_runs(&self) {
        self.counter(
            "firedrill_runs_total",
            "Runs finished, by experiment and status",
        );
        self.histogram(
            "firedrill_time_to_detect_seconds",
            "Time from the first injection to the first detection signal, per iteration",
            &RESPONSE_BUCKETS,
        );
        self.histogram(
            "firedrill_time_to_recover_seconds",
            "Time from the first injection until the steady state holds again, per iteration",
            &RESPONSE_BUCKETS,
        );
        self.gauge(
            "firedrill_faults_active",
            "Faults injected and not yet reverted",
        );
        self.counter(
            "firedrill_reverts_failed_total",
            "Faults a run could not revert, by experiment",
        );
    }

    /// Records a finished run in the families of [`Registry::describe_runs`].
    pub fn record_run(&self, run: &RunResult) {
        let exp = run.experiment.name.as_str();
        self.inc_by(
            "firedrill_runs_total",
            &[("experiment", exp), ("status", run.status.as_str())],
            1.0,
        );
        for it in &run.iterations {
            if let Some(ms) = it.time_to_detect_ms {
                self.observe(
                    "firedrill_time_to_detect_seconds",
                    &[("experiment", exp)],
                    ms / 1e3,
                );
            }
            if let Some(ms) = it.time_to_recover_ms {
                self.observe(
                    "firedrill_time_to_recover_seconds",
                    &[("experiment", exp)],
                    ms / 1e3,
                );
            }
        }
        self.inc_by(
            "firedrill_reverts_failed_total",
            &[("experiment", exp)],
            run.rollback.failed.len() as f64,
        );
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_value(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms_with_escaped_labels() {
        let r = Registry::new();
        r.counter("firedrill_things_total", "Things\nseen");
        r.gauge("firedrill_open", "Open things");
        r.histogram("firedrill_wait_seconds", "Waits", &[0.1, 1.0]);
        r.inc_by("firedrill_things_total", &[("name", "a\"b\\c\nd")], 2.0);
        r.inc_by("firedrill_things_total", &[("name", "a\"b\\c\nd")], -5.0);
        r.set("firedrill_open", &[], 3.0);
        r.add("firedrill_open", &[], -1.0);
        for v in [0.05, 0.5, 0.5, 7.0] {
            r.observe("firedrill_wait_seconds", &[("x", "y")], v);
        }
        let text = r.render();
        let expected = "\
# HELP firedrill_open Open things
# TYPE firedrill_open gauge
firedrill_open 2
# HELP firedrill_things_total Things\\nseen
# TYPE firedrill_things_total counter
firedrill_things_total{name=\"a\\\"b\\\\c\\nd\"} 2
# HELP firedrill_wait_seconds Waits
# TYPE firedrill_wait_seconds histogram
firedrill_wait_seconds_bucket{x=\"y\",le=\"0.1\"} 1
firedrill_wait_seconds_bucket{x=\"y\",le=\"1\"} 3
firedrill_wait_seconds_bucket{x=\"y\",le=\"+Inf\"} 4
firedrill_wait_seconds_sum{x=\"y\"} 8.05
firedrill_wait_seconds_count{x=\"y\"} 4
";
        assert_eq!(text, expected);
    }

    #[test]
    fn records_finished_runs() {
        let r = Registry::new();
        r.describe_runs();
        let run: RunResult = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/quickstart-result.json"
        ))
        .unwrap();
        r.record_run(&run);
        r.record_run(&run);
        let text = r.render();
        let line = format!(
            "firedrill_runs_total{{experiment=\"{}\",status=\"{}\"}} 2",
            run.experiment.name,
            run.status.as_str()
        );
        assert!(text.contains(&line), "{text}");
        let detected = run
            .iterations
            .iter()
            .filter(|i| i.time_to_detect_ms.is_some())
            .count()
            * 2;
        assert!(
            text.contains(&format!(
                "firedrill_time_to_detect_seconds_count{{experiment=\"{}\"}} {detected}",
                run.experiment.name
            )),
            "{text}"
        );
    }
}
