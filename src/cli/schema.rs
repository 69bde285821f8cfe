//! `firedrill schema [--suite]`

use super::ExitStatus;

/// Arguments of `firedrill schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema of suite files instead of experiments.
    #[arg(long)]
    suite: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let schema = if args.suite {
        schemars::schema_for!(crate::spec::Suite)
    } else {
        schemars::schema_for!(crate::spec::Experiment)
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitStatus::Success)
}
