//! Runs an experiment through the library API and prints its summary.
//!
//! ```text
//! cargo run --example run_experiment -- experiments/quickstart.yaml
//! ```
//!
//! The example writes no files (`out_dir: None`) and shows how to receive progress,
//! interrupt a run with a cancellation token, and read the result.

use std::sync::Arc;

use firedrill::engine::{self, Progress, Rollback, RunOptions};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "experiments/quickstart.yaml".to_owned());
    let experiment = firedrill::spec::load_file(path.as_ref())?;

    let options = RunOptions {
        source_file: Some(path),
        ..RunOptions::default()
    };
    let cancel = CancellationToken::new();
    // Ctrl-C interrupts the run; the engine still reverts every fault before returning.
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_ctrl_c.cancel();
    });
    let progress = Arc::new(|event: &Progress| {
        if let Progress::Detected {
            iteration,
            after,
            by,
        } = event
        {
            println!("iteration {iteration}: detected by {by} after {after:?}");
        }
        if let Progress::Recovered { iteration, after } = event {
            println!("iteration {iteration}: recovered after {after:?}");
        }
    });
    let result = engine::run(experiment, options, cancel, progress, Rollback::new()).await?;

    print!("{}", firedrill::report::summary::render(&result));
    println!(
        "time to recover p90: {:?} ms over {} iteration(s)",
        result.summary.time_to_recover_ms.p90, result.summary.iterations
    );
    std::process::exit(match result.status {
        firedrill::result::RunStatus::Passed => 0,
        _ => 1,
    });
}
