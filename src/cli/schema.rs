//! `firedrill schema`

use super::ExitStatus;

/// Arguments of `firedrill schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitStatus> {
    let schema = schemars::schema_for!(crate::spec::Experiment);
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitStatus::Success)
}
