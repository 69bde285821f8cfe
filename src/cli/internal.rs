//! `firedrill internal ...`: helper processes that faults start. Not for people.

use super::ExitStatus;
use crate::spec::Duration;

/// Arguments of `firedrill internal`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    helper: Helper,
}

#[derive(Debug, clap::Subcommand)]
enum Helper {
    /// Keep CPU workers busy.
    CpuStress {
        /// Busy threads.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        workers: u32,
        /// Busy share of each worker, in percent.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
        load: u8,
        /// How long, after which the helper exits by itself.
        #[arg(long = "for")]
        duration: Duration,
    },
    /// Allocate, touch and hold memory.
    MemoryPressure {
        /// MiB to hold.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
        mib: u64,
        /// How long, after which the helper exits by itself.
        #[arg(long = "for")]
        duration: Duration,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.helper {
        Helper::CpuStress {
            workers,
            load,
            duration,
        } => crate::fault::burn_cpu(workers, load, duration.get()),
        Helper::MemoryPressure { mib, duration } => {
            crate::fault::hold_memory(mib, duration.get())?;
        }
    }
    Ok(ExitStatus::Success)
}
