//! How reports write numbers: durations for people, scores, ratios and multiples, targets.

use crate::scorecard::{Aggregation, Gate, MetricScore, Scale};

/// A duration in seconds the way a person reads it: `850 ms`, `12.3 s`, `4 min 10 s`, `2 h 5 min`.
pub fn seconds(secs: f64) -> String {
    if !secs.is_finite() {
        return "-".to_owned();
    }
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    if secs < 0.01 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 1.0 {
        format!("{:.0} ms", secs * 1e3)
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        let whole = secs.round() as u64;
        pair(whole / 60, "min", whole % 60, "s")
    } else {
        let minutes = (secs / 60.0).round() as u64;
        pair(minutes / 60, "h", minutes % 60, "min")
    }
}

/// A duration in milliseconds, as [`seconds`] writes it; `-` when absent.
pub fn millis(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| seconds(ms / 1e3))
}

/// A score out of 100 with one decimal; `-` when absent.
pub fn score(score: Option<f64>) -> String {
    score.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"))
}

/// A ratio as a percentage: `99.5%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A measurement in its scale's unit.
pub fn measured(value: f64, scale: &Scale) -> String {
    match scale {
        Scale::Duration { .. } => seconds(value),
        Scale::Ratio { .. } => percent(value),
        Scale::Multiple { .. } => format!("{value:.2}x"),
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
            format!("{target:.2}x"),
            limit.map_or_else(|| "-".to_owned(), |l| format!("{l:.2}x")),
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

/// A gate in words.
pub fn gate(gate: Gate) -> &'static str {
    match gate {
        Gate::NoDetection => "not detected in every iteration",
        Gate::ContainmentLeak => "containment leaked",
        Gate::FailedRollback => "a rollback failed",
        Gate::MissingMandatoryNotificationFlag => "a mandatory notification flag is unknown",
    }
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
        assert_eq!(millis(None), "-");
        assert_eq!(millis(Some(1500.0)), "1.5 s");
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
        assert_eq!(measured(1.5, &multiple), "1.50x");
        assert_eq!(target_and_limit(&multiple).1, "-");
        let ratio = Scale::Ratio {
            floor: 0.0,
            target: 1.0,
        };
        assert_eq!(measured(0.995, &ratio), "99.5%");
    }
}
