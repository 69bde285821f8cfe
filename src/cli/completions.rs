//! `firedrill completions SHELL`

use clap::CommandFactory;

use super::{Cli, ExitStatus};

/// Arguments of `firedrill completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to generate completions for.
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "firedrill", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}
