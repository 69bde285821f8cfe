//! What the scorecard needs beside a run's measurements: which capabilities an experiment
//! exercises, what the journal evidences, and the input of several runs combined. The
//! measurements themselves come from the result (`crate::result::evidence`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    Capability, FaultCapabilities, Metric, MetricObservation, Scale, ScoreInput, default_weights,
};
use crate::journal::JournalCheck;
use crate::spec::Spec;

/// The default scale of the time to acknowledge (timed from detection): 15 minutes, and a
/// 4-hour limit borrowed from DORA's initial notification as a yardstick. DORA's 4 hours run
/// from classification as major, not from detection, so the limit is not that deadline.
pub const ACKNOWLEDGE_SCALE: Scale = Scale::Duration {
    target_secs: 15.0 * 60.0,
    limit_secs: 4.0 * 3600.0,
};

/// The default scale of the early warning's delivery: as for its draft, 1 h and the 24 h of
/// NIS2 Art. 23(4)(a).
pub const DELIVERY_SCALE: Scale = Scale::Duration {
    target_secs: 3600.0,
    limit_secs: 24.0 * 3600.0,
};

/// Share of planned iterations that ran to completion: 100 when all did.
pub const COMPLETED_SCALE: Scale = Scale::Ratio {
    floor: 0.0,
    target: 1.0,
};

/// The name of the share of detection canaries a signal noticed, per iteration.
pub const CANARY_RECALL: &str = "canary-recall";

/// The name of the share of prevention checks policy refused, per iteration.
pub const PREVENTION_REFUSED: &str = "prevention-refused";

/// The scorecard's input as recorded in a result, so that reports and suites can recompute it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardInput {
    /// Measurements and gates.
    #[serde(flatten)]
    pub input: ScoreInput,
    /// The weights of the capabilities in the overall figure.
    pub weights: BTreeMap<Capability, f64>,
}

/// The capabilities each fault type of the experiment exercises, after its overrides.
pub fn exercised(spec: &Spec) -> BTreeSet<Capability> {
    mapping_of(spec).exercised(spec.faults.iter().map(|f| f.type_name()))
}

/// The default fault mapping with the experiment's overrides.
pub fn mapping_of(spec: &Spec) -> FaultCapabilities {
    let mut mapping = FaultCapabilities::default();
    if let Some(overrides) = &spec.scorecard {
        for (fault_type, capabilities) in &overrides.capabilities {
            mapping.set(fault_type, capabilities.clone());
        }
    }
    mapping
}

/// What the journal evidences: that it verifies and ends normally, and that every injected
/// fault was traced (intent before, revert after).
pub fn journal_metrics(journal: &JournalCheck) -> Vec<MetricObservation> {
    let mut metrics = Vec::new();
    if journal.records == 0 {
        return metrics;
    }
    let integrity = if journal.intact && journal.finished {
        1.0
    } else {
        0.0
    };
    metrics.push(MetricObservation::new(
        Capability::EvidenceTraceability,
        Metric::Custom {
            name: "journal-integrity".to_owned(),
            scale: COMPLETED_SCALE,
        },
        vec![integrity],
    ));
    if journal.faults_injected > 0 {
        metrics.push(MetricObservation::new(
            Capability::EvidenceTraceability,
            Metric::Custom {
                name: "faults-traced".to_owned(),
                scale: COMPLETED_SCALE,
            },
            vec![f64::from(journal.faults_traced) / f64::from(journal.faults_injected)],
        ));
    }
    metrics
}

/// One input over several runs (a suite): every run's measurements, each marked with its
/// experiment, the gates of all, and the repeatability of the least repeated run.
pub fn combine<'a>(
    runs: impl IntoIterator<Item = (&'a str, &'a ScorecardInput)>,
    weights: Option<&BTreeMap<Capability, f64>>,
) -> ScorecardInput {
    let mut combined = ScorecardInput {
        input: ScoreInput::default(),
        weights: default_weights(),
    };
    let mut runs_min: Option<u32> = None;
    for (name, input) in runs {
        combined.input.capability_metrics.extend(
            input
                .input
                .capability_metrics
                .iter()
                .cloned()
                .map(|m| m.with_source(name)),
        );
        combined
            .input
            .gates
            .extend(input.input.gates.iter().copied());
        runs_min = Some(runs_min.map_or(input.input.repeatability.runs, |r| {
            r.min(input.input.repeatability.runs)
        }));
    }
    combined.input.repeatability.runs = runs_min.unwrap_or(0);
    if let Some(weights) = weights {
        combined
            .weights
            .extend(weights.iter().map(|(c, w)| (*c, *w)));
    }
    combined
}

/// Scores an input; a problem in it is logged and gives no scorecard (a failing reporter never
/// fails a run).
pub fn score_input(input: &ScorecardInput) -> Option<super::Scorecard> {
    let config = super::ScoreConfig {
        weights: input.weights.clone(),
    };
    match super::score(&input.input, &config) {
        Ok(card) => Some(card),
        Err(error) => {
            tracing::warn!(%error, "cannot compute the scorecard; the run goes on");
            None
        }
    }
}
