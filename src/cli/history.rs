//! `firedrill history` and `firedrill trend`: the run history of `firedrill serve`, read from
//! its database, as a table or JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::builder::TypedValueParser as _;

use super::ExitStatus;
use crate::report::format;
use crate::serve::store::{DrillStatus, RunFilter, STATUSES, Store, check_time};

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document, as the web API answers.
    Json,
}

/// Arguments of `firedrill history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The SQLite file `firedrill serve` writes.
    #[arg(long, value_name = "PATH")]
    database: PathBuf,
    /// Only runs of this experiment.
    #[arg(long, value_name = "NAME")]
    experiment: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_name = "S", value_parser = clap::builder::PossibleValuesParser::new(STATUSES)
        .try_map(|s| s.parse::<DrillStatus>()))]
    status: Option<DrillStatus>,
    /// Only runs started at or after this date (2026-03-01) or RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only runs started before this RFC 3339 time, or on or before this date.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// At most this many runs, the newest first.
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments of `firedrill trend`.
#[derive(Debug, clap::Args)]
pub struct TrendArgs {
    /// The SQLite file `firedrill serve` writes.
    #[arg(long, value_name = "PATH")]
    database: PathBuf,
    /// Only this experiment.
    #[arg(long, value_name = "NAME")]
    experiment: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn open(path: &std::path::Path) -> anyhow::Result<Result<Store, ExitStatus>> {
    match Store::open_existing(path) {
        Ok(store) => Ok(Ok(store)),
        Err(error) if error.is_user_input() => {
            say!("error: {error}");
            Ok(Err(ExitStatus::InvalidInput))
        }
        Err(error) => {
            Err(error).with_context(|| format!("cannot open the run history {}", path.display()))
        }
    }
}

/// Opens a run history to score results with (`run --history`, which creates a missing one,
/// and `report --history`) and reads its dated runs: those of `experiments` when the caller
/// knows them, every run otherwise. A history that is not ours, or a folder that does not
/// exist, is said and gives exit 2 with nothing written.
pub fn open_for_scoring(
    path: &std::path::Path,
    create: bool,
    experiments: Option<&[&str]>,
) -> anyhow::Result<Result<(Store, crate::report::history::History), ExitStatus>> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if create && !path.exists() && parent.is_some_and(|p| !p.is_dir()) {
        say!(
            "error: --history: the folder of {} does not exist",
            path.display()
        );
        return Ok(Err(ExitStatus::InvalidInput));
    }
    if path.is_dir() {
        say!(
            "error: --history: {} is a folder, not a run history file",
            path.display()
        );
        return Ok(Err(ExitStatus::InvalidInput));
    }
    let store = if create {
        match Store::open(path) {
            Ok(store) => store,
            Err(error) if error.is_user_input() => {
                say!("error: --history: {error}");
                return Ok(Err(ExitStatus::InvalidInput));
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot open the run history {}", path.display()));
            }
        }
    } else {
        match open(path)? {
            Ok(store) => store,
            Err(status) => return Ok(Err(status)),
        }
    };
    let read = |experiment: Option<&str>| {
        store
            .results(experiment)
            .with_context(|| format!("cannot read the run history {}", path.display()))
    };
    let stored = match experiments {
        Some(names) => {
            let mut all = Vec::new();
            for name in names {
                all.extend(read(Some(name))?);
            }
            all
        }
        None => read(None)?,
    };
    let runs = stored
        .iter()
        .filter_map(|stored| {
            crate::report::history::dated_stored(&stored.result, stored.results_dir.as_deref())
        })
        .collect();
    let history = crate::report::history::History {
        database: path.display().to_string(),
        runs,
    };
    Ok(Ok((store, history)))
}

/// [`open_for_scoring`] for the commands that only read a history (`report`, `review`): none
/// when no `--history` was given.
pub fn read_for_scoring(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Result<Option<crate::report::history::History>, ExitStatus>> {
    let Some(path) = path else {
        return Ok(Ok(None));
    };
    Ok(open_for_scoring(path, false, None)?.map(|(_, history)| Some(history)))
}

pub fn history(args: HistoryArgs) -> anyhow::Result<ExitStatus> {
    for (name, value) in [("--since", &args.since), ("--until", &args.until)] {
        if let Some(Err(message)) = value.as_deref().map(check_time) {
            say!("error: {name}: {message}");
            return Ok(ExitStatus::InvalidInput);
        }
    }
    let store = match open(&args.database)? {
        Ok(store) => store,
        Err(status) => return Ok(status),
    };
    let filter = RunFilter {
        experiment: args.experiment,
        status: args.status,
        since: args.since,
        until: args.until,
        limit: args.limit,
    };
    let rows = store.runs(&filter).context("cannot read the run history")?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "runs": rows }))?
            );
        }
        Format::Table => {
            let mut table = vec![
                [
                    "ID",
                    "STARTED (UTC)",
                    "DRILL",
                    "EXPERIMENT",
                    "STATUS",
                    "TTD P50",
                    "TTR P50",
                    "SCORE",
                ]
                .map(str::to_owned),
            ];
            for r in &rows {
                table.push([
                    r.id.to_string(),
                    r.started.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    r.drill.clone().unwrap_or_else(|| "-".to_owned()),
                    r.experiment.clone(),
                    r.status.to_string(),
                    format::opt_duration_ms(r.time_to_detect_p50_ms),
                    format::opt_duration_ms(r.time_to_recover_p50_ms),
                    if r.status.is_scored() {
                        format::score(r.score)
                    } else {
                        "not scored".to_owned()
                    },
                ]);
            }
            let _ = write!(out, "{}", align(&table));
            let _ = writeln!(
                out,
                "{} run{}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(ExitStatus::Success)
}

pub fn trend(args: TrendArgs) -> anyhow::Result<ExitStatus> {
    let store = match open(&args.database)? {
        Ok(store) => store,
        Err(status) => return Ok(status),
    };
    let results = store
        .results(args.experiment.as_deref())
        .context("cannot read the run history")?;
    let trend = crate::serve::trend::compute(
        &results,
        &args.database.display().to_string(),
        crate::time::Timestamp::now(),
    );
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&trend)?);
        }
        Format::Table => {
            let mut table = vec![
                [
                    "EXPERIMENT",
                    "RUNS",
                    "PASSED",
                    "TTD P50 FIRST",
                    "TTD P50 LATEST",
                    "TTR P50 FIRST",
                    "TTR P50 LATEST",
                ]
                .map(str::to_owned),
            ];
            for e in &trend.experiments {
                let first = e.points.first();
                let last = e.latest();
                table.push([
                    e.experiment.clone(),
                    e.runs.to_string(),
                    e.passed.to_string(),
                    format::opt_duration_ms(first.and_then(|p| p.time_to_detect_p50_ms)),
                    format::opt_duration_ms(last.and_then(|p| p.time_to_detect_p50_ms)),
                    format::opt_duration_ms(first.and_then(|p| p.time_to_recover_p50_ms)),
                    format::opt_duration_ms(last.and_then(|p| p.time_to_recover_p50_ms)),
                ]);
            }
            let _ = write!(out, "{}", align(&table));
            match &trend.today {
                Some(today) => {
                    let card = &today.scorecard;
                    let _ = writeln!(
                        out,
                        "\nscorecard today (latest run of each experiment): {}\ncoverage: {}\ntrend: {}",
                        crate::report::board::headline(&card.overall),
                        crate::report::board::coverage(&card.overall),
                        crate::report::history::trend_sentence(&today.history),
                    );
                    for c in card.capabilities.iter().filter(|c| c.score.is_some()) {
                        let _ = writeln!(
                            out,
                            "  {:<28} {:>5}  maturity {}",
                            c.name,
                            format::score(c.score),
                            c.maturity.map_or_else(|| "-".to_owned(), |m| m.to_string())
                        );
                    }
                }
                None => {
                    let _ = writeln!(out, "\nno run has been scored yet");
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Columns padded to their widest cell, two spaces apart.
fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
