//! `firedrill validate FILE...`

use std::path::PathBuf;

use super::ExitStatus;
use crate::spec;

/// Arguments of `firedrill validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    for file in &args.files {
        match spec::load_file(file) {
            Ok(exp) => println!("{}: valid ({})", file.display(), exp.metadata.name),
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
            eprintln!("error: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
        }
    }
}
