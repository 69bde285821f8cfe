//! The result reader of `firedrill report`, `review` and `serve`: any bytes as a run's
//! result.json (or, when the first byte is odd, as a suite's suite.json naming that run),
//! read as `firedrill review` reads a folder, then rendered as every report. Reading answers
//! with a report or an error naming the file, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use firedrill::report::model::ReportRun;
use libfuzzer_sys::fuzz_target;

fn folder() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().to_owned();
        std::fs::create_dir(path.join("run")).expect("a run folder");
        (dir, path)
    });
    path
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, data)) = input.split_first() else {
        return;
    };
    let dir = folder();
    let suite = flags & 1 == 1;
    let (suite_file, result_file) = (dir.join("suite.json"), dir.join("result.json"));
    if suite {
        let _ = std::fs::remove_file(&result_file);
        std::fs::write(&suite_file, data).expect("the suite is written");
        std::fs::write(dir.join("run/result.json"), SEED_RESULT).expect("the run is written");
    } else {
        let _ = std::fs::remove_file(&suite_file);
        std::fs::write(&result_file, data).expect("the result is written");
    }
    if let Err(error) = firedrill::report::write::review_target(dir) {
        let _ = error.to_string();
    }
    if suite {
        return;
    }
    // The renderers read what serve's history stores, without a journal.
    let Ok(result) = serde_json::from_slice(data) else {
        return;
    };
    let report = firedrill::report::write::single_report(ReportRun {
        dir: String::new(),
        result,
        journal: firedrill::journal::JournalCheck::default(),
    });
    let _ = firedrill::report::markdown::render(&report);
    let _ = firedrill::report::html::render(&report);
    let _ = firedrill::report::junit::render(&report);
});

/// A small valid run result, for the suite to name.
const SEED_RESULT: &[u8] = include_bytes!("../seeds/result.json");
