//! Objectives: measured values against targets.

use crate::measure::{DurationRecorder, PhaseRecorder, ProbeRecorders};
use crate::result::{IterationResult, ObjectiveResult, TrafficSummary};
use crate::spec::{Objective, Spec};

/// The traffic's figures the objectives read: the run's, and each iteration's.
#[derive(Clone, Copy)]
pub struct TrafficFigures<'a> {
    /// Over the run.
    pub summary: Option<&'a TrafficSummary>,
    /// The iterations, with their traffic.
    pub iterations: &'a [IterationResult],
}

impl TrafficFigures<'_> {
    /// The largest value `f` takes over the iterations that completed; None when none
    /// measured it.
    fn worst(&self, f: impl Fn(&crate::result::IterationTraffic) -> Option<f64>) -> Option<f64> {
        self.iterations
            .iter()
            .filter(|i| i.status.completed())
            .filter_map(|i| i.traffic.as_ref().and_then(&f))
            .reduce(f64::max)
    }
}

/// Evaluates every objective of the spec over the whole run; with traffic at an open
/// model's rate, one more: that every phase carried the rate asked.
pub fn evaluate(
    spec: &Spec,
    totals: &[ProbeRecorders],
    ttd: &DurationRecorder,
    ttr: &DurationRecorder,
    completed: u32,
    traffic: TrafficFigures<'_>,
) -> Vec<ObjectiveResult> {
    let mut results = declared(spec, totals, ttd, ttr, completed, traffic);
    if let Some(t) = traffic.summary
        && let Some(asked) = t.asked_rate
    {
        let lowest = t
            .phases
            .values()
            .filter_map(|p| p.achieved_rate)
            .reduce(f64::min);
        results.push(ObjectiveResult {
            name: "traffic rate sustained".into(),
            target: format!(
                ">= {} of {asked} requests/s in every phase",
                crate::traffic::SUSTAINED_SHARE
            ),
            measured: lowest,
            unit: "requests/s".into(),
            met: t.sustained,
        });
    }
    results
}

fn declared(
    spec: &Spec,
    totals: &[ProbeRecorders],
    ttd: &DurationRecorder,
    ttr: &DurationRecorder,
    completed: u32,
    traffic: TrafficFigures<'_>,
) -> Vec<ObjectiveResult> {
    let probe_index = |name: &str| {
        spec.steady_state
            .probes
            .iter()
            .position(|p| p.name() == name)
    };
    spec.objectives
        .iter()
        .map(|o| match o {
            Objective::TimeToDetect(d) | Objective::TimeToRecover(d) => {
                let (label, rec) = match o {
                    Objective::TimeToDetect(_) => ("time-to-detect", ttd),
                    _ => ("time-to-recover", ttr),
                };
                let measured = if completed == 0 {
                    None
                } else {
                    rec.percentile_ms(d.percentile)
                };
                ObjectiveResult {
                    name: format!("{label} p{}", trim(d.percentile)),
                    target: format!("<= {}", d.max),
                    measured,
                    unit: "ms".into(),
                    met: measured.is_some_and(|m| m <= d.max.get().as_secs_f64() * 1e3),
                }
            }
            Objective::Availability(a) => {
                let mut merged = PhaseRecorder::default();
                for (i, rec) in totals.iter().enumerate() {
                    let wanted = a.probe.as_deref().is_none_or(|p| probe_index(p) == Some(i));
                    if wanted {
                        merged.merge(rec.phase(a.phase));
                    }
                }
                let measured = crate::measure::availability(merged.count(), merged.errors());
                ObjectiveResult {
                    name: format!(
                        "availability {}{}",
                        a.phase.as_str(),
                        a.probe
                            .as_ref()
                            .map(|p| format!(" {p}"))
                            .unwrap_or_default()
                    ),
                    target: format!(">= {}", a.min),
                    measured,
                    unit: "ratio".into(),
                    met: measured.is_some_and(|m| m + 1e-12 >= a.min),
                }
            }
            Objective::Latency(l) => {
                let measured = probe_index(&l.probe).and_then(|i| {
                    let h = totals[i].phase(l.phase).histogram();
                    (!h.is_empty()).then(|| h.value_at_quantile(l.percentile / 100.0) as f64 / 1e3)
                });
                ObjectiveResult {
                    name: format!(
                        "latency {} {} p{}",
                        l.probe,
                        l.phase.as_str(),
                        trim(l.percentile)
                    ),
                    target: format!("<= {}", l.max),
                    measured,
                    unit: "ms".into(),
                    met: measured.is_some_and(|m| m <= l.max.get().as_secs_f64() * 1e3),
                }
            }
            Objective::BudgetBurned(b) => {
                let measured = traffic.worst(|t| t.budget_burned);
                ObjectiveResult {
                    name: "budget-burned".into(),
                    target: format!("<= {}", b.max),
                    measured,
                    unit: "ratio".into(),
                    met: measured.is_some_and(|m| m <= b.max),
                }
            }
            Objective::LatencyDegradation(b) => {
                let measured = traffic.worst(|t| t.latency_degradation);
                ObjectiveResult {
                    name: "latency-degradation p99".into(),
                    target: format!("<= {}", b.max),
                    measured,
                    unit: "times".into(),
                    met: measured.is_some_and(|m| m <= b.max),
                }
            }
            Objective::TrafficAvailability(a) => {
                let measured = traffic
                    .summary
                    .and_then(|t| t.phases.get(a.phase.as_str()))
                    .and_then(|p| p.availability);
                ObjectiveResult {
                    name: format!("traffic-availability {}", a.phase.as_str()),
                    target: format!(">= {}", a.min),
                    measured,
                    unit: "ratio".into(),
                    met: measured.is_some_and(|m| m + 1e-12 >= a.min),
                }
            }
        })
        .collect()
}

fn trim(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}
