//! Request counters of the demo workload and their Prometheus text exposition (format 0.0.4).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;

/// Content-Type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The path label of a request; unknown paths share one label so the series stay bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathLabel {
    Api,
    Health,
    Metrics,
    Other,
}

impl PathLabel {
    const ALL: [PathLabel; 4] = [Self::Api, Self::Health, Self::Metrics, Self::Other];

    /// The label of a request path.
    pub(crate) fn of(path: &str) -> Self {
        match path {
            "/api" => Self::Api,
            "/health" => Self::Health,
            "/metrics" => Self::Metrics,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Api => "/api",
            Self::Health => "/health",
            Self::Metrics => "/metrics",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Status codes 100..=599, one counter each, so recording never allocates or locks.
const FIRST_CODE: u16 = 100;
const CODES: usize = 500;

/// Lock-free counters of one demo server.
pub(crate) struct Metrics {
    requests: [[AtomicU64; CODES]; 4],
    errors: [AtomicU64; 4],
    upstream_errors: AtomicU64,
    canary_requests: AtomicU64,
    /// Reads of the watched honeytoken; `None` when no honeytoken is watched.
    honeytoken_reads: Option<AtomicU64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            requests: [const { [const { AtomicU64::new(0) }; CODES] }; 4],
            errors: [const { AtomicU64::new(0) }; 4],
            upstream_errors: AtomicU64::new(0),
            canary_requests: AtomicU64::new(0),
            honeytoken_reads: None,
        }
    }

    /// The same counters with the honeytoken read counter exposed (from zero).
    pub(crate) fn watching_honeytoken(mut self) -> Self {
        self.honeytoken_reads = Some(AtomicU64::new(0));
        self
    }

    /// Counts one request that carried the canary header.
    pub(crate) fn record_canary(&self) {
        self.canary_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts reads of the honeytoken.
    pub(crate) fn record_honeytoken_reads(&self, reads: u64) {
        if let Some(c) = &self.honeytoken_reads {
            c.fetch_add(reads, Ordering::Relaxed);
        }
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, path: PathLabel, status: StatusCode) {
        let code = status.as_u16();
        if let Some(slot) = code
            .checked_sub(FIRST_CODE)
            .and_then(|i| self.requests[path.index()].get(usize::from(i)))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        if status.is_server_error() {
            self.errors[path.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one upstream call that failed or answered other than 2xx.
    pub(crate) fn record_upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition in Prometheus text format 0.0.4.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP firedrill_demo_requests_total HTTP requests answered, by path and status code."
        )?;
        writeln!(out, "# TYPE firedrill_demo_requests_total counter")?;
        // The /api success series is always present so that rate() has a zero to start from.
        for path in PathLabel::ALL {
            for (i, count) in self.requests[path.index()].iter().enumerate() {
                let n = count.load(Ordering::Relaxed);
                let always = path == PathLabel::Api && i == usize::from(200 - FIRST_CODE);
                if n > 0 || always {
                    writeln!(
                        out,
                        "firedrill_demo_requests_total{{path=\"{}\",code=\"{}\"}} {n}",
                        path.as_str(),
                        usize::from(FIRST_CODE) + i
                    )?;
                }
            }
        }
        writeln!(
            out,
            "# HELP firedrill_demo_errors_total Requests answered with a 5xx status, by path."
        )?;
        writeln!(out, "# TYPE firedrill_demo_errors_total counter")?;
        for path in PathLabel::ALL {
            writeln!(
                out,
                "firedrill_demo_errors_total{{path=\"{}\"}} {}",
                path.as_str(),
                self.errors[path.index()].load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP firedrill_demo_upstream_errors_total Upstream calls that failed or answered other than 2xx."
        )?;
        writeln!(out, "# TYPE firedrill_demo_upstream_errors_total counter")?;
        writeln!(
            out,
            "firedrill_demo_upstream_errors_total {}",
            self.upstream_errors.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP firedrill_demo_canary_requests_total Requests that carried the X-Firedrill-Canary header of a security drill."
        )?;
        writeln!(out, "# TYPE firedrill_demo_canary_requests_total counter")?;
        writeln!(
            out,
            "firedrill_demo_canary_requests_total {}",
            self.canary_requests.load(Ordering::Relaxed)
        )?;
        if let Some(reads) = &self.honeytoken_reads {
            writeln!(
                out,
                "# HELP firedrill_demo_honeytoken_reads_total Reads of the honeytoken file the demo watches (opened for reading, then closed)."
            )?;
            writeln!(out, "# TYPE firedrill_demo_honeytoken_reads_total counter")?;
            writeln!(
                out,
                "firedrill_demo_honeytoken_reads_total {}",
                reads.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP firedrill_demo_up Whether the demo workload is serving (1 while it answers)."
        )?;
        writeln!(out, "# TYPE firedrill_demo_up gauge")?;
        writeln!(out, "firedrill_demo_up 1")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// One sample line: metric name, labels, value.
    #[derive(Debug, PartialEq)]
    pub(crate) struct Sample {
        pub name: String,
        pub labels: BTreeMap<String, String>,
        pub value: f64,
    }

    /// What is wrong with an exposition.
    #[derive(Debug, thiserror::Error)]
    pub(crate) enum ExpositionError {
        #[error("exposition does not end with a newline")]
        NoFinalNewline,
        #[error("line {number}: {what}: {line:?}")]
        Line {
            number: usize,
            what: &'static str,
            line: String,
        },
    }

    /// Parses an exposition line by line, failing on any line that is not a well-formed
    /// `# HELP`, `# TYPE` or sample, or on a sample whose family has no `# TYPE` before it.
    pub(crate) fn parse_exposition(text: &str) -> Result<Vec<Sample>, ExpositionError> {
        let mut typed = BTreeMap::new();
        let mut samples = Vec::new();
        if !text.ends_with('\n') {
            return Err(ExpositionError::NoFinalNewline);
        }
        for (n, line) in text.lines().enumerate() {
            let err = |what: &'static str| ExpositionError::Line {
                number: n + 1,
                what,
                line: line.to_owned(),
            };
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').ok_or_else(|| err("help"))?;
                if !valid_name(name) || help.is_empty() {
                    return Err(err("help"));
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(|| err("type"))?;
                if !valid_name(name) || !["counter", "gauge"].contains(&kind) {
                    return Err(err("type"));
                }
                typed.insert(name.to_owned(), kind.to_owned());
            } else {
                let (series, value) = line.rsplit_once(' ').ok_or_else(|| err("sample"))?;
                let value: f64 = value.parse().map_err(|_| err("value"))?;
                let (name, labels) = match series.split_once('{') {
                    None => (series, BTreeMap::new()),
                    Some((name, rest)) => {
                        let body = rest.strip_suffix('}').ok_or_else(|| err("labels"))?;
                        let mut labels = BTreeMap::new();
                        for pair in body.split(',') {
                            let (k, v) = pair.split_once('=').ok_or_else(|| err("label"))?;
                            let v = v
                                .strip_prefix('"')
                                .and_then(|v| v.strip_suffix('"'))
                                .ok_or_else(|| err("label value"))?;
                            if !valid_name(k) {
                                return Err(err("label name"));
                            }
                            labels.insert(k.to_owned(), v.to_owned());
                        }
                        (name, labels)
                    }
                };
                if !valid_name(name) {
                    return Err(err("metric name"));
                }
                if !typed.contains_key(name) {
                    return Err(err("sample before its # TYPE"));
                }
                samples.push(Sample {
                    name: name.to_owned(),
                    labels,
                    value,
                });
            }
        }
        Ok(samples)
    }

    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// The value of the sample with this name and exactly these labels, if any.
    pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        samples
            .iter()
            .find(|s| s.name == name && s.labels == labels)
            .map(|s| s.value)
    }

    #[test]
    fn fresh_metrics_render_zeroes_and_up() {
        let samples = parse_exposition(&Metrics::new().render()).unwrap();
        let v = |name, labels: &[(&str, &str)]| value(&samples, name, labels);
        assert_eq!(
            v(
                "firedrill_demo_requests_total",
                &[("path", "/api"), ("code", "200")]
            ),
            Some(0.0)
        );
        assert_eq!(
            v("firedrill_demo_errors_total", &[("path", "/api")]),
            Some(0.0)
        );
        assert_eq!(v("firedrill_demo_upstream_errors_total", &[]), Some(0.0));
        assert_eq!(v("firedrill_demo_canary_requests_total", &[]), Some(0.0));
        assert_eq!(
            v("firedrill_demo_honeytoken_reads_total", &[]),
            None,
            "no honeytoken is watched"
        );
        assert_eq!(v("firedrill_demo_up", &[]), Some(1.0));
    }

    #[test]
    fn canary_requests_and_honeytoken_reads_are_counted() {
        let m = Metrics::new().watching_honeytoken();
        let samples = parse_exposition(&m.render()).unwrap();
        assert_eq!(
            value(&samples, "firedrill_demo_honeytoken_reads_total", &[]),
            Some(0.0),
            "present from zero, so that increase() sees the first read"
        );
        m.record_canary();
        m.record_canary();
        m.record_honeytoken_reads(3);
        let samples = parse_exposition(&m.render()).unwrap();
        assert_eq!(
            value(&samples, "firedrill_demo_canary_requests_total", &[]),
            Some(2.0)
        );
        assert_eq!(
            value(&samples, "firedrill_demo_honeytoken_reads_total", &[]),
            Some(3.0)
        );
    }

    #[test]
    fn record_counts_by_path_and_code_and_5xx_as_errors() {
        let m = Metrics::new();
        m.record(PathLabel::of("/api"), StatusCode::OK);
        m.record(PathLabel::of("/api"), StatusCode::INTERNAL_SERVER_ERROR);
        m.record(PathLabel::of("/api"), StatusCode::BAD_GATEWAY);
        m.record(PathLabel::of("/nope"), StatusCode::NOT_FOUND);
        m.record_upstream_error();
        let samples = parse_exposition(&m.render()).unwrap();
        let v = |name, labels: &[(&str, &str)]| value(&samples, name, labels);
        let req = "firedrill_demo_requests_total";
        assert_eq!(v(req, &[("path", "/api"), ("code", "200")]), Some(1.0));
        assert_eq!(v(req, &[("path", "/api"), ("code", "500")]), Some(1.0));
        assert_eq!(v(req, &[("path", "/api"), ("code", "502")]), Some(1.0));
        assert_eq!(v(req, &[("path", "other"), ("code", "404")]), Some(1.0));
        assert_eq!(
            v("firedrill_demo_errors_total", &[("path", "/api")]),
            Some(2.0)
        );
        assert_eq!(
            v("firedrill_demo_errors_total", &[("path", "other")]),
            Some(0.0)
        );
        assert_eq!(v("firedrill_demo_upstream_errors_total", &[]), Some(1.0));
    }

    #[test]
    fn parser_rejects_malformed_lines() {
        assert!(matches!(
            parse_exposition("# TYPE x counter\nx 1"),
            Err(ExpositionError::NoFinalNewline)
        ));
        assert_eq!(
            parse_exposition("# TYPE x counter\nx one\n")
                .unwrap_err()
                .to_string(),
            r#"line 2: value: "x one""#
        );
        assert!(parse_exposition("firedrill_demo_up 1\n").is_err());
        assert!(parse_exposition("# TYPE x counter\nx{a=b} 1\n").is_err());
        assert!(parse_exposition("# TYPE x counter\nx one\n").is_err());
        assert!(parse_exposition("# TYPE x summary\n").is_err());
    }
}
