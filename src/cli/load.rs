//! Loading what `run` and `validate` are given: experiment files, or suite files listing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::scorecard::Capability;
use crate::spec::{self, Document, Experiment};

/// The experiments to run, in order, and how to name and weigh them together.
pub struct Plan {
    /// The suite's name (an experiment's own name when there is one experiment).
    pub name: String,
    /// The suite's description.
    pub description: Option<String>,
    /// The suite file, when one was given alone.
    pub suite_file: Option<String>,
    /// The suite's weights.
    pub weights: Option<BTreeMap<Capability, f64>>,
    /// Whether this is a suite (a suite file, or more than one experiment).
    pub is_suite: bool,
    /// Each experiment with its file.
    pub experiments: Vec<(PathBuf, Experiment)>,
}

/// Loads every file, expanding suite files; every problem in every file is printed, and any
/// problem at all means nothing runs.
pub fn load_plan(files: &[PathBuf]) -> Option<Plan> {
    let mut experiments = Vec::new();
    let mut suites = Vec::new();
    let mut ok = true;
    for file in files {
        match spec::load_document(file) {
            Ok(Document::Experiment(exp)) => experiments.push((file.clone(), *exp)),
            Ok(Document::Suite(suite)) => {
                for (i, path) in suite.experiment_paths(file).into_iter().enumerate() {
                    match load_listed(file, i, &path) {
                        Some(exp) => experiments.push((path, exp)),
                        None => ok = false,
                    }
                }
                suites.push((file.clone(), suite));
            }
            Err(err) => {
                super::validate::print_spec_error(&err);
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let is_suite = !suites.is_empty() || experiments.len() > 1;
    let plan = match (suites.as_slice(), files.len()) {
        ([(file, suite)], 1) => Plan {
            name: suite.metadata.name.clone(),
            description: suite.metadata.description.clone(),
            suite_file: Some(file.display().to_string()),
            weights: Some(suite.spec.weights.clone()),
            is_suite,
            experiments,
        },
        _ => Plan {
            name: if is_suite {
                "suite".to_owned()
            } else {
                experiments
                    .first()
                    .map(|(_, e)| e.metadata.name.clone())
                    .unwrap_or_default()
            },
            description: None,
            suite_file: None,
            weights: None,
            is_suite,
            experiments,
        },
    };
    Some(plan)
}

/// Loads an experiment a suite lists; a file that is itself a suite is refused.
fn load_listed(suite_file: &Path, index: usize, path: &Path) -> Option<Experiment> {
    match spec::load_document(path) {
        Ok(Document::Experiment(exp)) => Some(*exp),
        Ok(Document::Suite(_)) => {
            say!(
                "{}: spec.experiments[{index}]: {} is a suite; a suite lists experiment files only",
                suite_file.display(),
                path.display()
            );
            None
        }
        Err(spec::SpecError::Read { path: name, source }) => {
            say!(
                "{}: spec.experiments[{index}]: cannot read {name}: {source}",
                suite_file.display()
            );
            None
        }
        Err(err) => {
            super::validate::print_spec_error(&err);
            None
        }
    }
}
