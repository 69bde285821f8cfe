//! Objectives: measured values against targets.

use crate::measure::{DurationRecorder, PhaseRecorder, ProbeRecorders};
use crate::result::ObjectiveResult;
use crate::spec::{Objective, Spec};

/// Evaluates every objective of the spec over the whole run.
pub fn evaluate(
    spec: &Spec,
    totals: &[ProbeRecorders],
    ttd: &DurationRecorder,
    ttr: &DurationRecorder,
    completed: u32,
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
