//! `run --history` and `report --history`, black-box: a run recorded in a SQLite run history
//! is scored with what the history shows (dated runs, the trend, the days between drills),
//! and a file that is not a run history is refused with nothing written.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{demo_experiment, firedrill, marker, processes_with, result, shared};

fn firedrill_cli(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(firedrill())
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Records `result` in the history again as a run that ended `days_before` it did.
fn seed_earlier(db: &Path, dir: &Path, result: &firedrill::result::RunResult, days_before: u64) {
    use firedrill::serve::store::{NewRun, Store};
    let mut earlier = result.clone();
    let shift = Duration::from_secs(86_400 * days_before);
    earlier.run_id = format!("{}-earlier-{days_before}", result.run_id);
    earlier.started_at = earlier.started_at - shift;
    earlier.finished_at = earlier.finished_at - shift;
    let store = Store::open(db).unwrap();
    store
        .insert(&NewRun::finished(None, None, earlier, dir, None))
        .unwrap();
}

#[test]
fn a_history_gives_the_scorecard_its_repeated_runs_trend_and_days_between_drills() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("history");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 200ms}";
    let file = crate::common::write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(
            &marker,
            1,
            "20ms",
            faults,
            // A recovery target no run meets, so that every run raises the same finding
            // (`capability:recovery-continuity`) whatever the machine's load.
            "  recovery: {stableFor: 100ms}\n  scorecard:\n    targets:\n      timeToRecover: {target: 1ms, limit: 10s}",
        ),
    );
    let db = dir.path().join("runs.db");
    let run = |out: &str| {
        let out = dir.path().join(out);
        let output = assert_cmd::Command::new(firedrill())
            .args(["run", "--plain", "--history"])
            .arg(&db)
            .arg("--out")
            .arg(&out)
            .arg(&file)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_ne!(
            output.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(processes_with(&marker).is_empty(), "processes left behind");
        out
    };

    // The first run creates the history and is its only dated run.
    let first = run("first");
    let recorded = result(&first);
    assert_eq!(
        recorded["history"]["experiments"][0]["runs"], 1,
        "{recorded}"
    );
    let out = firedrill_cli(&[
        "history",
        "--database",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1);
    assert_eq!(listed["runs"][0]["runId"], recorded["runId"]);
    let md = text(&first.join("scorecard.md"));
    assert!(
        md.contains("1 dated run over 0 days in the history")
            && md.contains("- Trend: not measured yet: 1 run over 0 days"),
        "{md}"
    );

    // Two earlier drills, 20 and 10 days before: `report --history` scores the first run
    // with them, and leaves result.json as the run wrote it.
    let parsed: firedrill::result::RunResult = serde_json::from_value(recorded.clone()).unwrap();
    seed_earlier(&db, &first, &parsed, 20);
    seed_earlier(&db, &first, &parsed, 10);
    let before = text(&first.join("result.json"));
    let out = firedrill_cli(&[
        "report",
        "--history",
        db.to_str().unwrap(),
        first.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text(&first.join("result.json")), before);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(", scorecard: insufficient evidence: "),
        "{said}"
    );
    let md = text(&first.join("scorecard.md"));
    assert!(
        md.contains("3 dated runs over 20 days in the history"),
        "{md}"
    );
    let figure = parsed.scorecard.as_ref().unwrap().overall.partial_score;
    if let Some(figure) = figure {
        // Three comparable runs over 20 days, every one with the same figure: steady.
        assert!(
            md.contains(&format!(
                "- Trend: steady: {figure:.0} → {figure:.0} over 3 runs since"
            )),
            "{md}"
        );
    }
    let html = text(&first.join("report.html"));
    assert!(html.contains("Trend: "), "the board shows the trend");

    // The people review every finding of the first run, with fixes long overdue.
    let listed = firedrill_cli(&["review", first.to_str().unwrap(), "--format", "json"]);
    assert_eq!(listed.status.code(), Some(0));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ids: Vec<String> = listed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty(), "{listed}");
    for id in &ids {
        let out = firedrill_cli(&[
            "review",
            first.to_str().unwrap(),
            "--finding",
            id,
            "--owner",
            "Platform team",
            "--due",
            "2020-01-31",
            "--decision",
            "fix",
            "--history",
            db.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The review rendered the first run's page again with the history.
    let md = text(&first.join("scorecard.md"));
    assert!(
        md.contains("3 dated runs over 20 days in the history"),
        "{md}"
    );
    assert!(
        md.contains("Review: **owner Platform team, due 2020-01-31, fix, overdue**"),
        "{md}"
    );

    // The next run is scored with the history: four dated runs, continuous testing from the
    // 10, 10 and (about) 0 days between them, the worst within the 30-day target; the first
    // run's review counts, and its fixes are carried to the new page.
    let second = run("second");
    let recorded = result(&second);
    let experiment = &recorded["history"]["experiments"][0];
    assert_eq!(experiment["reviewed"], true, "{experiment}");
    let decisions = recorded["history"]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), ids.len(), "{decisions:?}");
    let md = text(&second.join("scorecard.md"));
    assert!(
        md.contains("Fixes decided in earlier drills' reviews:"),
        "{md}"
    );
    for id in &ids {
        assert!(
            md.contains(&format!("`{id}` (drill of ")),
            "{id} carried: {md}"
        );
    }
    // The same experiment raises its findings again: open and overdue, with the owner on
    // the board.
    assert!(
        md.contains("**open, overdue**: this drill raised it again"),
        "{md}"
    );
    assert!(
        md.contains("**Owner:** Platform team, due 2020-01-31 (fix, decided for the drill of "),
        "{md}"
    );
    assert_eq!(experiment["runs"], 4, "{experiment}");
    assert_eq!(experiment["spanDays"], 20, "{experiment}");
    let intervals: Vec<f64> = experiment["intervalsDays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    assert_eq!(intervals.len(), 3);
    assert!((intervals[0] - 10.0).abs() < 1e-6 && (intervals[1] - 10.0).abs() < 0.01);
    let continuous = recorded["scorecard"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == "continuous-testing")
        .unwrap();
    assert_eq!(continuous["status"], "evidenced", "{continuous}");
    assert_eq!(continuous["score"], 100.0, "{continuous}");
    assert_eq!(continuous["metrics"][0]["name"], "test-interval");
    assert_eq!(continuous["metrics"][0]["provenance"], "organisation");
    let listed = firedrill_cli(&[
        "history",
        "--database",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 4);
}

#[test]
fn a_file_that_is_not_a_run_history_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.db");
    std::fs::write(&notes, "meeting notes, not a database\n".repeat(50)).unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    std::fs::write(
        results.join("result.json"),
        include_str!("../fixtures/results/quickstart-result.json"),
    )
    .unwrap();
    let experiment = crate::common::repo_root().join("experiments/quickstart.yaml");
    let out_dir = dir.path().join("out");
    let missing_folder = dir.path().join("no/such/folder/runs.db");
    let missing = dir.path().join("missing.db");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "run".into(),
                "--history".into(),
                notes.display().to_string(),
                "--out".into(),
                out_dir.display().to_string(),
                experiment.display().to_string(),
            ],
            format!(
                "error: --history: {} is not a firedrill run history: it is not an SQLite database",
                notes.display()
            ),
        ),
        (
            vec![
                "run".into(),
                "--history".into(),
                missing_folder.display().to_string(),
                "--out".into(),
                out_dir.display().to_string(),
                experiment.display().to_string(),
            ],
            format!(
                "error: --history: the folder of {} does not exist",
                missing_folder.display()
            ),
        ),
        (
            vec![
                "report".into(),
                "--history".into(),
                notes.display().to_string(),
                results.display().to_string(),
            ],
            format!(
                "error: {} is not a firedrill run history: it is not an SQLite database",
                notes.display()
            ),
        ),
        (
            vec![
                "report".into(),
                "--history".into(),
                missing.display().to_string(),
                results.display().to_string(),
            ],
            format!("error: no database at {}", missing.display()),
        ),
        (
            vec![
                "review".into(),
                results.display().to_string(),
                "--finding".into(),
                "simulated:reporting-readiness".into(),
                "--owner".into(),
                "Ops".into(),
                "--due".into(),
                "2027-01-31".into(),
                "--decision".into(),
                "fix".into(),
                "--history".into(),
                notes.display().to_string(),
            ],
            format!(
                "error: {} is not a firedrill run history: it is not an SQLite database",
                notes.display()
            ),
        ),
    ];
    let notes_before = std::fs::read(&notes).unwrap();
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = firedrill_cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&message), "{args:?}: {stderr}");
        assert_eq!(std::fs::read(&notes).unwrap(), notes_before);
        assert!(!out_dir.exists(), "{args:?} ran a drill");
        assert!(!missing.exists() && !missing_folder.exists());
        let written: Vec<_> = std::fs::read_dir(&results)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(written, vec!["result.json"], "{args:?} wrote reports");
    }
}

#[test]
fn interrupted_and_aborted_runs_have_no_score_in_the_history_or_the_trend() {
    use firedrill::result::{RunResult, RunStatus};
    use firedrill::serve::store::{NewRun, Store};
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let fixture = crate::common::repo_root().join("tests/fixtures/results/quickstart-result.json");
    let mut scored: RunResult = serde_json::from_str(&text(&fixture)).unwrap();
    // The figure a run cut short would have been stored with.
    scored.scorecard.as_mut().unwrap().overall.score = Some(75.8);
    let store = Store::open(&db).unwrap();
    for (i, status) in [
        RunStatus::Passed,
        RunStatus::Interrupted,
        RunStatus::Aborted,
    ]
    .into_iter()
    .enumerate()
    {
        let mut run = scored.clone();
        run.run_id = format!("{}-{i}", scored.run_id);
        run.status = status;
        run.started_at = run.started_at + Duration::from_secs(60 * i as u64);
        run.finished_at = run.finished_at + Duration::from_secs(60 * i as u64);
        store
            .insert(&NewRun::finished(
                Some("quick"),
                None,
                run,
                dir.path(),
                None,
            ))
            .unwrap();
    }
    drop(store);
    let db = db.to_str().unwrap();

    let out = firedrill_cli(&["history", "--database", db, "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{history}");
    for run in runs {
        match run["status"].as_str().unwrap() {
            "passed" => assert_eq!(run["score"], 75.8, "{run}"),
            _ => assert!(run["score"].is_null(), "{run}"),
        }
    }
    let table = firedrill_cli(&["history", "--database", db]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert_eq!(table.matches("not scored").count(), 2, "{table}");

    let out = firedrill_cli(&["trend", "--database", db, "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let trend: Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = trend["experiments"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{trend}");
    for point in points {
        match point["status"].as_str().unwrap() {
            "passed" => assert_eq!(point["score"], 75.8, "{point}"),
            _ => assert!(point["score"].is_null(), "{point}"),
        }
    }
}
