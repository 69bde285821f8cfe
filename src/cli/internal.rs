//! `firedrill internal ...`: helper processes that faults start. Not for people.
//!
//! Every helper stops by itself: after `--for` (counted from its start) or at `--until`
//! (milliseconds since the Unix epoch), whichever comes first, and at SIGTERM. `--id` marks
//! a helper so that `status` and `stop`, run beside it in the same container through
//! `pods/exec`, can find it.

use std::path::PathBuf;

use anyhow::Context;

use super::ExitStatus;
use crate::fault::helper::{self, FillAmount, Lifetime};
use crate::spec::Duration;

/// Arguments of `firedrill internal`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    helper: Helper,
}

/// When a helper stops by itself, and how it is found.
#[derive(Debug, clap::Args)]
struct Life {
    /// How long, after which the helper exits by itself.
    #[arg(long = "for")]
    duration: Duration,
    /// The instant (milliseconds since the Unix epoch) at which the helper exits by itself,
    /// if that comes before `--for` ends.
    #[arg(long)]
    until: Option<u64>,
    /// A marker by which `status` and `stop` find the helper.
    #[arg(long)]
    id: Option<String>,
}

impl Life {
    fn start(&self) -> Lifetime {
        Lifetime::stop_on_signals();
        Lifetime::new(self.duration.get(), self.until)
    }
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
        #[command(flatten)]
        life: Life,
    },
    /// Allocate, touch and hold memory.
    MemoryPressure {
        /// MiB to hold.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
        mib: u64,
        #[command(flatten)]
        life: Life,
    },
    /// Write a file in a folder and keep it until the end, then remove it.
    DiskFill {
        /// The folder, on the volume to fill.
        #[arg(long)]
        dir: PathBuf,
        /// MiB to write.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_048_576), conflicts_with = "percent", required_unless_present = "percent")]
        mib: Option<u64>,
        /// Write until the volume is this full, in percent.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
        percent: Option<u8>,
        #[command(flatten)]
        life: Life,
    },
    /// Print what the helpers marked `--id` are doing, as one line of JSON.
    Status {
        /// The helpers' marker.
        #[arg(long)]
        id: String,
        /// How long their CPU time is watched.
        #[arg(long, default_value = "500ms")]
        window: Duration,
    },
    /// Stop the helpers marked `--id` and print which, as one line of JSON.
    Stop {
        /// The helpers' marker.
        #[arg(long)]
        id: String,
        /// How long to wait for them to end.
        #[arg(long, default_value = "5s")]
        wait: Duration,
    },
    /// Try a connection a NetworkPolicy must block and one it must allow (a verifier pod's
    /// check), write the finding as JSON to `--report`, exit 0 blocked and allowed, 1 the
    /// blocked one reached, 2 neither reached.
    Check {
        /// ADDRESS:PORT the policy blocks (TCP).
        #[arg(long)]
        blocked: std::net::SocketAddr,
        /// ADDRESS:PORT the policy allows (TCP).
        #[arg(long)]
        allowed: std::net::SocketAddr,
        /// How long each connection may take.
        #[arg(long, default_value = "3s")]
        timeout: Duration,
        /// Where the finding goes: the container's termination message.
        #[arg(long, default_value = "/dev/termination-log")]
        report: std::path::PathBuf,
    },
    /// Send HTTP requests through a dependency's Service (a dependency fault's verifier
    /// pod's check) and write what each met (its answer's first line and when, the
    /// connection refused, cut off or silent) as JSON to `--report`; exit 0 once written.
    HttpCheck {
        /// HOST:PORT, such as `db.shop.svc:5432`.
        #[arg(long)]
        to: String,
        /// The request's method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The request's path.
        #[arg(long, default_value = "/")]
        path: String,
        /// A header to send, `Name: value`.
        #[arg(long)]
        header: Option<String>,
        /// How long each request waits for its answer.
        #[arg(long, default_value = "2s")]
        wait: Duration,
        /// At most this many requests, one after another.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
        tries: u16,
        /// Stop at the first answer with this status.
        #[arg(long)]
        status: Option<u16>,
        /// Where the finding goes: the container's termination message.
        #[arg(long, default_value = "/dev/termination-log")]
        report: std::path::PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.helper {
        Helper::CpuStress {
            workers,
            load,
            life,
        } => crate::fault::burn_cpu(workers, load, life.start()),
        Helper::MemoryPressure { mib, life } => {
            crate::fault::hold_memory(mib, life.start())?;
        }
        Helper::DiskFill {
            dir,
            mib,
            percent,
            life,
        } => {
            let amount = match (mib, percent) {
                (Some(mib), _) => FillAmount::Mib(mib),
                (None, Some(p)) => FillAmount::Percent(p),
                (None, None) => anyhow::bail!("give --mib or --percent"),
            };
            let id = life.id.clone().unwrap_or_else(|| "local".to_owned());
            helper::fill_disk(&dir, &id, amount, &life.start())?;
        }
        Helper::Status { id, window } => {
            println!(
                "{}",
                serde_json::to_string(&helper::status(&id, window.get()))?
            );
        }
        Helper::Stop { id, wait } => {
            println!("{}", serde_json::to_string(&helper::stop(&id, wait.get()))?);
        }
        Helper::Check {
            blocked,
            allowed,
            timeout,
            report,
        } => {
            let finding = crate::fault::verifier::check(blocked, allowed, timeout.get(), &report)
                .with_context(|| format!("write the finding to {}", report.display()))?;
            return Ok(match finding.exit_code() {
                0 => ExitStatus::Success,
                1 => ExitStatus::ObjectivesMissed,
                _ => ExitStatus::InvalidInput,
            });
        }
        Helper::HttpCheck {
            to,
            method,
            path,
            header,
            wait,
            tries,
            status,
            report,
        } => {
            let header = match header {
                Some(h) => {
                    let (name, value) = h
                        .split_once(':')
                        .with_context(|| format!("--header {h}: give `Name: value`"))?;
                    Some((name.trim().to_owned(), value.trim().to_owned()))
                }
                None => None,
            };
            let sends = crate::fault::verifier::Sends {
                request: crate::fault::verifier::HttpRequest {
                    method,
                    path,
                    header,
                },
                wait: wait.get(),
                tries: usize::from(tries),
                until_status: status,
            };
            crate::fault::verifier::http_check(&to, &sends, &report)
                .with_context(|| format!("write the finding to {}", report.display()))?;
        }
    }
    Ok(ExitStatus::Success)
}
