//! `firedrill schema [--suite | --schedule]`

use super::ExitStatus;

/// Arguments of `firedrill schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema of suite files instead of experiments.
    #[arg(long, conflicts_with = "schedule")]
    suite: bool,
    /// The schema of schedule files (`firedrill serve --schedules`) instead of experiments.
    #[arg(long)]
    schedule: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let schema = if args.schedule {
        schemars::schema_for!(crate::spec::Schedule)
    } else if args.suite {
        schemars::schema_for!(crate::spec::Suite)
    } else {
        schemars::schema_for!(crate::spec::Experiment)
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitStatus::Success)
}
