//! A suite: several experiment files run one after the other and scored together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Capability;
use super::{ApiVersion, Metadata, Problem};

/// A suite file: `kind: Suite`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Suite {
    /// Always `firedrill.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Suite`.
    pub kind: SuiteKind,
    /// Name, description and labels of the suite.
    pub metadata: Metadata,
    /// The experiments and how they are scored together.
    pub spec: SuiteSpec,
}

/// The kind of a suite document.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum SuiteKind {
    /// A suite of experiments.
    Suite,
}

/// The body of a suite.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuiteSpec {
    /// Experiment files, relative to the suite file, run in this order.
    pub experiments: Vec<String>,
    /// Weights of the capabilities in the combined overall figure, replacing the defaults for
    /// the capabilities named.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<Capability, f64>,
}

impl Suite {
    /// The experiment files, resolved against the folder of the suite file.
    pub fn experiment_paths(&self, suite_file: &Path) -> Vec<PathBuf> {
        let base = suite_file.parent().unwrap_or(Path::new(""));
        self.spec
            .experiments
            .iter()
            .map(|file| base.join(file))
            .collect()
    }
}

/// Every problem of a parsed suite, with field paths.
pub fn validate(suite: &Suite) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: String| {
        problems.push(Problem {
            path,
            location: None,
            message,
        });
    };
    if let Some(message) = super::validate::name_problem(&suite.metadata.name) {
        problem("metadata.name".to_owned(), message);
    }
    if suite.spec.experiments.is_empty() {
        problem(
            "spec.experiments".to_owned(),
            "at least one experiment file is required".to_owned(),
        );
    }
    for (i, file) in suite.spec.experiments.iter().enumerate() {
        if file.trim().is_empty() {
            problem(
                format!("spec.experiments[{i}]"),
                "must name a file".to_owned(),
            );
        }
    }
    for (capability, weight) in &suite.spec.weights {
        if !(weight.is_finite() && *weight >= 0.0) {
            problem(
                format!("spec.weights.{}", capability_key(*capability)),
                "must be a number, 0 or above".to_owned(),
            );
        }
    }
    problems
}

/// A capability as written in documents (`recovery-continuity`).
pub fn capability_key(capability: Capability) -> String {
    serde_json::to_value(capability)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
