//! `firedrill validate FILE...`: experiments and suites

use std::path::PathBuf;

use super::ExitStatus;
use crate::spec;

/// Arguments of `firedrill validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment or suite files to check (a suite's experiments are checked too).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    for file in &args.files {
        match spec::load_document(file) {
            Ok(spec::Document::Experiment(exp)) => {
                println!("{}: valid ({})", file.display(), exp.metadata.name);
            }
            Ok(spec::Document::Suite(suite)) => {
                println!(
                    "{}: valid suite ({}, {} experiments)",
                    file.display(),
                    suite.metadata.name,
                    suite.spec.experiments.len()
                );
                let listed = suite.experiment_paths(file);
                if super::load::load_plan(std::slice::from_ref(file)).is_none() {
                    status = ExitStatus::InvalidInput;
                } else {
                    for path in listed {
                        println!("  {}: valid", path.display());
                    }
                }
            }
            Err(err) => {
                status = ExitStatus::InvalidInput;
                print_spec_error(&err);
            }
        }
    }
    Ok(status)
}

/// Prints a spec error with its whole cause chain to standard error.
pub fn print_spec_error(err: &spec::SpecError) {
    match err {
        spec::SpecError::Invalid(problems) => eprint!("{problems}"),
        other => {
            say!("error: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                say!("  caused by: {cause}");
                source = cause.source();
            }
        }
    }
}
