//! How reports write numbers: durations for people, scores, ratios and multiples, targets.

use crate::scorecard::{Aggregation, Gate, MetricScore, Scale};

/// A duration in seconds the way a person reads it: `850 ms`, `6.08 s`, `4 min 10 s`, `2 h`.
pub fn seconds(secs: f64) -> String {
    duration_ms(secs * 1e3)
}

pub fn trim(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Milliseconds as a human duration: `3.5 ms`, `10.8 ms`, `595 ms`, `6.08 s`, `2 min`, `1 h 30 min`.
pub fn duration_ms(ms: f64) -> String {
    const SECOND: f64 = 1e3;
    const MINUTE: f64 = 60.0 * SECOND;
    const HOUR: f64 = 60.0 * MINUTE;
    if !ms.is_finite() {
        return "-".to_owned();
    }
    if ms < 0.0 {
        return format!("-{}", duration_ms(-ms));
    }
    let join = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    if ms < 1.0 {
        format!("{} ms", trim(ms, 2))
    } else if ms < 100.0 {
        format!("{} ms", trim(ms, 1))
    } else if ms < SECOND {
        format!("{ms:.0} ms")
    } else if ms < 10.0 * SECOND {
        format!("{} s", trim(ms / SECOND, 2))
    } else if ms < MINUTE {
        format!("{} s", trim(ms / SECOND, 1))
    } else if ms < HOUR {
        let seconds = (ms / SECOND).round() as u64;
        join(seconds / 60, "min", seconds % 60, "s")
    } else if ms < 72.0 * HOUR {
        let minutes = (ms / MINUTE).round() as u64;
        join(minutes / 60, "h", minutes % 60, "min")
    } else {
        let hours = (ms / HOUR).round() as u64;
        join(hours / 24, "d", hours % 24, "h")
    }
}

pub fn opt_duration_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), duration_ms)
}

/// Exercise milliseconds of a run whose exercise time is real time × `scale`: `12 min`
/// when the scale is 1, else `12 min exercise time (12 s real time)`.
pub fn exercise_ms(ms: f64, scale: f64) -> String {
    if scale == 1.0 || !scale.is_finite() || scale <= 0.0 {
        duration_ms(ms)
    } else {
        format!(
            "{} exercise time ({} real time)",
            duration_ms(ms),
            duration_ms(ms / scale)
        )
    }
}

/// A run's time scale in words: `exercise time runs 60× real time`.
pub fn time_scale(scale: f64) -> String {
    if scale == 1.0 {
        "exercise time is real time".to_owned()
    } else {
        format!("exercise time runs {} real time", multiple(scale))
    }
}

/// A ratio (0-1) as a percentage.
pub fn percent(ratio: f64) -> String {
    format!("{}%", trim(ratio * 100.0, 2))
}

pub fn opt_percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_owned(), percent)
}

/// A multiple of a baseline: `1.5×`.
pub fn multiple(value: f64) -> String {
    format!("{}×", trim(value, 2))
}

/// A score out of 100 with one decimal; `-` when absent.
pub fn score(score: Option<f64>) -> String {
    score.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"))
}

/// A measurement in its scale's unit.
pub fn measured(value: f64, scale: &Scale) -> String {
    match scale {
        Scale::Duration { .. } => seconds(value),
        Scale::Ratio { .. } => percent(value),
        Scale::Multiple { .. } => multiple(value),
    }
}

/// The target and the limit of a scale, in its unit (`-` for a scale without a limit).
pub fn target_and_limit(scale: &Scale) -> (String, String) {
    match *scale {
        Scale::Duration {
            target_secs,
            limit_secs,
        } => (seconds(target_secs), seconds(limit_secs)),
        Scale::Ratio { floor, target } => (percent(target), percent(floor)),
        Scale::Multiple { target, limit } => (
            multiple(target),
            limit.map_or_else(|| "-".to_owned(), multiple),
        ),
    }
}

/// How a metric's headline was taken: `p90 of 10` or `worst of 3`.
pub fn aggregation(metric: &MetricScore) -> String {
    match metric.aggregation {
        Some(Aggregation::P90) => format!("p90 of {}", metric.n),
        Some(Aggregation::Worst) if metric.n == 1 => "1 run".to_owned(),
        Some(Aggregation::Worst) => format!("worst of {}", metric.n),
        None => format!("{} runs", metric.n),
    }
}

/// A gate in words: why it capped the capability.
pub fn gate(gate: Gate) -> &'static str {
    match gate {
        Gate::NoDetection => "the fault was never detected",
        Gate::FailedRollback => "a rollback failed and left the fault in place",
        Gate::MissingMandatoryNotificationFlag => "a mandatory notification flag was missing",
        Gate::PreventionBypassed => "a prevention check was accepted where policy must refuse it",
    }
}

/// A capability's score as the pages show it: the score when the organisation evidenced it,
/// else what speaks for it instead.
pub fn capability_score(c: &crate::scorecard::CapabilityScore) -> String {
    use crate::scorecard::Status;
    match c.status {
        Status::Evidenced => score(c.score),
        Status::Simulated => format!("simulated {}, not scored", score(c.simulated_score)),
        Status::Due => "due: the evidence is too old".to_owned(),
        Status::NotEvidenced => "not evidenced".to_owned(),
    }
}

/// One of firedrill's integrity checks as the pages show it.
#[derive(serde::Serialize)]
pub struct PreconditionView {
    /// What the check asks, in words.
    pub check: &'static str,
    /// Whether it held.
    pub held: bool,
    /// What was found.
    pub detail: String,
    /// The experiment it was checked in, in a suite.
    pub source: Option<String>,
}

/// The scorecard's integrity checks as the pages show them.
pub fn preconditions(card: &crate::scorecard::Scorecard) -> Vec<PreconditionView> {
    card.preconditions
        .iter()
        .map(|p| PreconditionView {
            check: p.check.describe(),
            held: p.held,
            detail: p.detail.clone(),
            source: p.source.clone(),
        })
        .collect()
}

/// The kebab-case name a value serializes to (a capability, a gate, a check).
pub fn kebab<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(seconds(0.85), "850 ms");
        assert_eq!(seconds(0.0048), "4.8 ms");
        assert_eq!(seconds(3600.0), "1 h");
        assert_eq!(seconds(120.0), "2 min");
        assert_eq!(seconds(12.34), "12.3 s");
        assert_eq!(seconds(250.0), "4 min 10 s");
        assert_eq!(seconds(7500.0), "2 h 5 min");
        assert_eq!(seconds(f64::NAN), "-");
        assert_eq!(opt_duration_ms(None), "-");
        assert_eq!(opt_duration_ms(Some(1500.0)), "1.5 s");
        assert_eq!(
            exercise_ms(720_000.0, 60.0),
            "12 min exercise time (12 s real time)"
        );
        assert_eq!(exercise_ms(720_000.0, 1.0), "12 min");
        assert_eq!(time_scale(60.0), "exercise time runs 60× real time");
        assert_eq!(time_scale(1.0), "exercise time is real time");
    }

    #[test]
    fn targets_follow_the_scale() {
        let duration = Scale::Duration {
            target_secs: 120.0,
            limit_secs: 900.0,
        };
        assert_eq!(
            target_and_limit(&duration),
            ("2 min".to_owned(), "15 min".to_owned())
        );
        let multiple = Scale::Multiple {
            target: 2.0,
            limit: None,
        };
        assert_eq!(measured(1.5, &multiple), "1.5×");
        assert_eq!(target_and_limit(&multiple).0, "2×");
        assert_eq!(target_and_limit(&multiple).1, "-");
        let ratio = Scale::Ratio {
            floor: 0.0,
            target: 1.0,
        };
        assert_eq!(measured(0.995, &ratio), "99.5%");
    }
}
