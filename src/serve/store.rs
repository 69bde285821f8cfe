//! The run history: one SQLite file with every run's result, scorecard and report.
//!
//! The schema is versioned with `PRAGMA user_version`; each migration runs in its own
//! transaction, so a database is always at one version or the next, never between. The
//! migrations are append-only: a database written by an older firedrill opens in a newer one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use crate::result::{RunResult, RunStatus};
use crate::time::Timestamp;

/// The schema, one migration per version: `MIGRATIONS[0]` makes version 1.
pub const MIGRATIONS: [&str; 2] = [
    // 1: the runs.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        experiment TEXT NOT NULL,
        suite TEXT,
        status TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        ttd_p50_ms REAL,
        ttd_max_ms REAL,
        ttr_p50_ms REAL,
        ttr_max_ms REAL,
        score REAL,
        result_json TEXT NOT NULL,
        scorecard_json TEXT,
        report_html TEXT
    );
    CREATE INDEX runs_by_experiment ON runs (experiment, started);",
    // 2: the drill behind each run, skipped drills (no result), the results folder, and when
    // each drill last came due.
    "CREATE TABLE runs_v2 (
        id INTEGER PRIMARY KEY,
        run_id TEXT UNIQUE,
        drill TEXT,
        experiment TEXT NOT NULL,
        suite TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        ttd_p50_ms REAL,
        ttd_max_ms REAL,
        ttr_p50_ms REAL,
        ttr_max_ms REAL,
        score REAL,
        results_dir TEXT,
        result_json TEXT,
        scorecard_json TEXT,
        report_html TEXT
    );
    INSERT INTO runs_v2 (id, run_id, experiment, suite, status, started, finished, ttd_p50_ms,
        ttd_max_ms, ttr_p50_ms, ttr_max_ms, score, result_json, scorecard_json, report_html)
    SELECT id, run_id, experiment, suite, status, started, finished, ttd_p50_ms, ttd_max_ms,
        ttr_p50_ms, ttr_max_ms, score, result_json, scorecard_json, report_html FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v2 RENAME TO runs;
    CREATE INDEX runs_by_experiment ON runs (experiment, started);
    CREATE INDEX runs_by_start ON runs (started);
    CREATE TABLE drill_state (
        drill TEXT PRIMARY KEY,
        last_due TEXT NOT NULL
    );",
];

/// The schema version this firedrill writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How a drill of the history ended: its run's status, or skipped when it did not run
/// (target busy, scheduled time missed). Written as in result.json, and `skipped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStatus {
    /// The run passed.
    Passed,
    /// The run failed.
    Failed,
    /// The run was aborted.
    Aborted,
    /// The run was interrupted.
    Interrupted,
    /// A revert of the run failed.
    RollbackFailed,
    /// The drill did not run.
    Skipped,
}

/// A status that is none of [`DrillStatus::ALL`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not one of {list}", list = STATUSES.join(", "))]
pub struct UnknownStatus(pub String);

/// The statuses a drill can have, as written, in the filters' order.
pub const STATUSES: [&str; DrillStatus::ALL.len()] = {
    let mut names = [""; DrillStatus::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = DrillStatus::ALL[i].as_str();
        i += 1;
    }
    names
};

impl DrillStatus {
    /// Every status, in the filters' order.
    pub const ALL: [Self; 6] = [
        Self::Passed,
        Self::Failed,
        Self::Aborted,
        Self::Interrupted,
        Self::RollbackFailed,
        Self::Skipped,
    ];

    /// Whether a run that ended so has a score in the history: aborted, interrupted and
    /// skipped drills show none, as their runs measured nothing comparable.
    pub fn is_scored(self) -> bool {
        match self {
            Self::Passed | Self::Failed | Self::RollbackFailed => true,
            Self::Aborted | Self::Interrupted | Self::Skipped => false,
        }
    }

    /// The status as written in the history and in result.json.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::Interrupted => "interrupted",
            Self::RollbackFailed => "rollback_failed",
            Self::Skipped => "skipped",
        }
    }
}

impl From<RunStatus> for DrillStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Passed => Self::Passed,
            RunStatus::Failed => Self::Failed,
            RunStatus::Aborted => Self::Aborted,
            RunStatus::Interrupted => Self::Interrupted,
            RunStatus::RollbackFailed => Self::RollbackFailed,
        }
    }
}

impl std::str::FromStr for DrillStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

impl std::fmt::Display for DrillStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file does not exist (reading commands never create one).
    #[error("no database at {}", .0.display())]
    Missing(PathBuf),
    /// The database was written by a newer firedrill.
    #[error("{} has schema version {found}, newer than this firedrill's {SCHEMA_VERSION}", .path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// A migration failed; the database stays at the version before it.
    #[error("cannot migrate {} to schema version {version}", .path.display())]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The version the failed migration makes.
        version: u32,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The file exists and is not a run history of firedrill's: another program's SQLite
    /// database, or not SQLite at all. It is left as it was.
    #[error("{} is not a firedrill run history: {why}", .path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What gives it away.
        why: &'static str,
    },
    /// SQLite failed.
    #[error("the run history database failed")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document is not JSON.
    #[error("a stored document is not valid JSON")]
    Json(#[from] serde_json::Error),
}

impl StoreError {
    /// Whether the problem is in what the user pointed at rather than in this host.
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Self::Missing(_) | Self::TooNew { .. } | Self::Foreign { .. }
        )
    }
}

/// A run to record.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// The run's own id; none for a skipped drill.
    pub run_id: Option<String>,
    /// The drill that started it.
    pub drill: Option<String>,
    /// The experiment's name.
    pub experiment: String,
    /// The suite's name, when the experiment ran as part of one.
    pub suite: Option<String>,
    /// The run's status, or skipped.
    pub status: DrillStatus,
    /// Why it did not pass, or why it was skipped.
    pub reason: Option<String>,
    /// When it started.
    pub started: Timestamp,
    /// When it finished.
    pub finished: Timestamp,
    /// The results folder.
    pub results_dir: Option<String>,
    /// result.json, with its scorecard.
    pub result: Option<RunResult>,
    /// report.html.
    pub report_html: Option<String>,
}

impl NewRun {
    /// A finished run.
    pub fn finished(
        drill: Option<&str>,
        suite: Option<&str>,
        result: RunResult,
        results_dir: &Path,
        report_html: Option<String>,
    ) -> Self {
        Self {
            run_id: Some(result.run_id.clone()),
            drill: drill.map(str::to_owned),
            experiment: result.experiment.name.clone(),
            suite: suite.map(str::to_owned),
            status: result.status.into(),
            reason: result.reason.clone(),
            started: result.started_at,
            finished: result.finished_at,
            results_dir: Some(results_dir.display().to_string()),
            result: Some(result),
            report_html,
        }
    }

    /// A drill that did not run, at `at`.
    pub fn skipped(
        drill: &str,
        experiment: &str,
        suite: Option<&str>,
        at: Timestamp,
        reason: String,
    ) -> Self {
        Self {
            run_id: None,
            drill: Some(drill.to_owned()),
            experiment: experiment.to_owned(),
            suite: suite.map(str::to_owned),
            status: DrillStatus::Skipped,
            reason: Some(reason),
            started: at,
            finished: at,
            results_dir: None,
            result: None,
            report_html: None,
        }
    }
}

/// One run as listed: everything but the documents.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    /// The history's id of the run.
    pub id: i64,
    /// The run's own id (result.json's `runId`).
    pub run_id: Option<String>,
    /// The drill that started it.
    pub drill: Option<String>,
    /// The experiment's name.
    pub experiment: String,
    /// The suite's name.
    pub suite: Option<String>,
    /// The status.
    pub status: DrillStatus,
    /// Why it did not pass, or was skipped.
    pub reason: Option<String>,
    /// When it started.
    pub started: Timestamp,
    /// When it finished.
    pub finished: Timestamp,
    /// Median time to detect over the iterations.
    pub time_to_detect_p50_ms: Option<f64>,
    /// Longest time to detect.
    pub time_to_detect_max_ms: Option<f64>,
    /// Median time to recover over the iterations.
    pub time_to_recover_p50_ms: Option<f64>,
    /// Longest time to recover.
    pub time_to_recover_max_ms: Option<f64>,
    /// The scorecard's overall figure.
    pub score: Option<f64>,
    /// The results folder.
    pub results_dir: Option<String>,
    /// Whether report.html is stored.
    pub has_report: bool,
}

/// Which runs to list; every field narrows.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only this experiment.
    pub experiment: Option<String>,
    /// Only this status.
    pub status: Option<DrillStatus>,
    /// Started at or after (RFC 3339, or a date).
    pub since: Option<String>,
    /// Started before (RFC 3339, or a date: that whole day included).
    pub until: Option<String>,
    /// At most this many, the newest first.
    pub limit: Option<u32>,
}

/// A run with its documents.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetail {
    /// The listed fields.
    #[serde(flatten)]
    pub row: RunRow,
    /// result.json.
    pub result: Option<serde_json::Value>,
    /// The run's scorecard.
    pub scorecard: Option<serde_json::Value>,
}

/// A finished run's result as stored.
#[derive(Clone, Debug)]
pub struct StoredResult {
    /// The history's id of the run.
    pub id: i64,
    /// The drill that started it; none for a run recorded otherwise.
    pub drill: Option<String>,
    /// The results folder it was written to.
    pub results_dir: Option<String>,
    /// result.json.
    pub result: RunResult,
}

/// The history database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

const ROW_COLUMNS: &str = "id, run_id, drill, experiment, suite, status, reason, started, \
    finished, ttd_p50_ms, ttd_max_ms, ttr_p50_ms, ttr_max_ms, score, results_dir, \
    report_html IS NOT NULL";

impl Store {
    /// Opens the database, creating it when missing, and migrates it to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::ready(conn, path)
    }

    /// Opens an existing database (and migrates it); a missing file is an error.
    pub fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::ready(conn, path)
    }

    /// A database in memory, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Self {
        let conn = Connection::open_in_memory().unwrap();
        Self::ready(conn, Path::new(":memory:")).unwrap()
    }

    fn ready(mut conn: Connection, path: &Path) -> Result<Self, StoreError> {
        // Nothing is written to a file that is not ours, not even the journal mode.
        check_ours(&conn, path)?;
        // `serve` writes while `history` reads: readers never block the writer in WAL mode,
        // and a writer waits for a moment rather than failing.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        migrate(&mut conn, path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Whether the database answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        Ok(self.lock().query_row("SELECT 1", [], |_| Ok(()))?)
    }

    /// Records a run; returns its id in the history.
    pub fn insert(&self, run: &NewRun) -> Result<i64, StoreError> {
        let summary = run.result.as_ref().map(|r| &r.summary);
        let ttd = summary.map(|s| &s.time_to_detect_ms);
        let ttr = summary.map(|s| &s.time_to_recover_ms);
        let scorecard = run.result.as_ref().and_then(|r| r.scorecard.as_ref());
        let result_json = run.result.as_ref().map(serde_json::to_string).transpose()?;
        let scorecard_json = scorecard.map(serde_json::to_string).transpose()?;
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runs (run_id, drill, experiment, suite, status, reason, started, finished,
                ttd_p50_ms, ttd_max_ms, ttr_p50_ms, ttr_max_ms, score, results_dir, result_json,
                scorecard_json, report_html)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                run.run_id,
                run.drill,
                run.experiment,
                run.suite,
                run.status.as_str(),
                run.reason,
                run.started.to_string(),
                run.finished.to_string(),
                ttd.and_then(|s| s.p50),
                ttd.and_then(|s| s.max),
                ttr.and_then(|s| s.p50),
                ttr.and_then(|s| s.max),
                scorecard
                    .and_then(|c| c.overall.score)
                    .filter(|_| run.status.is_scored()),
                run.results_dir,
                result_json,
                scorecard_json,
                run.report_html,
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The runs that pass the filter, the newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = format!("SELECT {ROW_COLUMNS} FROM runs WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        if let Some(experiment) = &filter.experiment {
            args.push(experiment.clone());
            sql.push_str(&format!(" AND experiment = ?{}", args.len()));
        }
        if let Some(status) = &filter.status {
            args.push(status.as_str().to_owned());
            sql.push_str(&format!(" AND status = ?{}", args.len()));
        }
        if let Some(since) = &filter.since {
            args.push(since.clone());
            sql.push_str(&format!(
                " AND julianday(started) >= julianday(?{})",
                args.len()
            ));
        }
        if let Some(until) = &filter.until {
            // A bare date means up to the end of that day.
            let (value, modifier) = if is_date(until) {
                (until.clone(), ", '+1 day'")
            } else {
                (until.clone(), "")
            };
            args.push(value);
            sql.push_str(&format!(
                " AND julianday(started) < julianday(?{}{modifier})",
                args.len()
            ));
        }
        sql.push_str(" ORDER BY julianday(started) DESC, id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let conn = self.lock();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One run with its documents.
    pub fn run(&self, id: i64) -> Result<Option<RunDetail>, StoreError> {
        let conn = self.lock();
        let found = conn
            .query_row(
                &format!(
                    "SELECT {ROW_COLUMNS}, result_json, scorecard_json FROM runs WHERE id = ?1"
                ),
                [id],
                |r| {
                    Ok((
                        row(r)?,
                        r.get::<_, Option<String>>(16)?,
                        r.get::<_, Option<String>>(17)?,
                    ))
                },
            )
            .optional()?;
        let Some((row, result, scorecard)) = found else {
            return Ok(None);
        };
        Ok(Some(RunDetail {
            row,
            result: result.map(|t| serde_json::from_str(&t)).transpose()?,
            scorecard: scorecard.map(|t| serde_json::from_str(&t)).transpose()?,
        }))
    }

    /// A run's result.json, parsed.
    pub fn result(&self, id: i64) -> Result<Option<RunResult>, StoreError> {
        let text: Option<Option<String>> = self
            .lock()
            .query_row("SELECT result_json FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text
            .flatten()
            .map(|t| serde_json::from_str(&t))
            .transpose()?)
    }

    /// A run's report.html.
    pub fn report(&self, id: i64) -> Result<Option<String>, StoreError> {
        let html: Option<Option<String>> = self
            .lock()
            .query_row("SELECT report_html FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(html.flatten())
    }

    /// Every finished run's result (skipped drills have none), the oldest first.
    pub fn results(&self, experiment: Option<&str>) -> Result<Vec<StoredResult>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, drill, result_json, results_dir FROM runs WHERE result_json IS NOT NULL
             AND (?1 IS NULL OR experiment = ?1) ORDER BY julianday(started), id",
        )?;
        let texts = stmt
            .query_map([experiment], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        drop(conn);
        texts
            .into_iter()
            .map(|(id, drill, text, results_dir)| {
                Ok(StoredResult {
                    id,
                    drill,
                    results_dir,
                    result: serde_json::from_str(&text)?,
                })
            })
            .collect()
    }

    /// The experiments in the history, by name.
    pub fn experiments(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT DISTINCT experiment FROM runs ORDER BY experiment")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(names)
    }

    /// When the drill last came due, whether it ran or was skipped.
    pub fn last_due(&self, drill: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT last_due FROM drill_state WHERE drill = ?1",
                [drill],
                |r| time(r, 0),
            )
            .optional()?)
    }

    /// Records when the drill last came due.
    pub fn set_last_due(&self, drill: &str, at: Timestamp) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO drill_state (drill, last_due) VALUES (?1, ?2)
             ON CONFLICT (drill) DO UPDATE SET last_due = excluded.last_due",
            [drill, &at.to_string()],
        )?;
        Ok(())
    }
}

/// Refuses a database that is not a run history: a file SQLite cannot read, a database
/// whose schema version is unset but that holds tables, or one at a version of ours
/// without the runs table.
fn check_ours(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let foreign = |why| StoreError::Foreign {
        path: path.to_owned(),
        why,
    };
    let version: u32 = match conn.query_row("PRAGMA user_version", [], |r| r.get(0)) {
        Ok(version) => version,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(foreign("it is not an SQLite database"));
        }
        Err(e) => return Err(e.into()),
    };
    let has = |sql: &str| -> Result<bool, StoreError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? > 0)
    };
    if version == 0 && has("SELECT count(*) FROM sqlite_master")? {
        return Err(foreign("it holds tables firedrill did not make"));
    }
    if version > 0
        && !has("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'")?
    {
        return Err(foreign("it has a schema version but no runs table"));
    }
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let status = status(r, 5)?;
    // Histories written before aborted and interrupted runs lost their score may hold one.
    let score = r.get::<_, Option<f64>>(13)?.filter(|_| status.is_scored());
    Ok(RunRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        drill: r.get(2)?,
        experiment: r.get(3)?,
        suite: r.get(4)?,
        status,
        reason: r.get(6)?,
        started: time(r, 7)?,
        finished: time(r, 8)?,
        time_to_detect_p50_ms: r.get(9)?,
        time_to_detect_max_ms: r.get(10)?,
        time_to_recover_p50_ms: r.get(11)?,
        time_to_recover_max_ms: r.get(12)?,
        score,
        results_dir: r.get(14)?,
        has_report: r.get(15)?,
    })
}

/// A time column: RFC 3339 text, as every firedrill wrote it (with three decimals and `Z`;
/// rows added by hand may have none).
fn time(r: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    let text: String = r.get(column)?;
    text.parse().map_err(|error: jiff::Error| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, error.into())
    })
}

/// A status column: a status as [`DrillStatus::as_str`] writes it.
fn status(r: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<DrillStatus> {
    let text: String = r.get(column)?;
    text.parse().map_err(|error: UnknownStatus| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, error.into())
    })
}

/// `YYYY-MM-DD`.
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// A `since` or `until` value that is neither a date nor an RFC 3339 time; the user's to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is neither a date (2026-03-01) nor an RFC 3339 time (2026-03-01T10:00:00Z)")]
pub struct NotATime(pub String);

/// Checks a `since` or `until` value: a date (`2026-03-01`) or an RFC 3339 time.
pub fn check_time(text: &str) -> Result<(), NotATime> {
    let ok = if is_date(text) {
        text.parse::<jiff::civil::Date>().is_ok()
    } else {
        text.parse::<jiff::Timestamp>().is_ok()
    };
    if ok {
        Ok(())
    } else {
        Err(NotATime(text.to_owned()))
    }
}

/// Brings the database to [`SCHEMA_VERSION`], one transaction per migration.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as u32 + 1;
        let failed = |source| StoreError::Migrate {
            path: path.to_owned(),
            version,
            source,
        };
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(database = %path.display(), version, "migrated the run history");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drill_statuses_read_as_they_are_written() {
        for status in DrillStatus::ALL {
            assert_eq!(status.as_str().parse::<DrillStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        for run in [RunStatus::Passed, RunStatus::RollbackFailed] {
            assert_eq!(DrillStatus::from(run).as_str(), run.as_str());
        }
        assert_eq!(
            "done".parse::<DrillStatus>().unwrap_err().to_string(),
            "`done` is not one of passed, failed, aborted, interrupted, rollback_failed, skipped"
        );
    }

    #[test]
    fn a_row_of_an_unknown_status_is_an_error_not_a_guess() {
        let store = Store::in_memory();
        store
            .insert(&NewRun::skipped(
                "d",
                "x",
                None,
                "2026-03-01T10:00:00Z".parse().unwrap(),
                "busy".into(),
            ))
            .unwrap();
        store
            .conn
            .lock()
            .unwrap()
            .execute("UPDATE runs SET status = 'done'", [])
            .unwrap();
        assert!(store.runs(&RunFilter::default()).is_err());
    }

    fn result() -> RunResult {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/results/quickstart-result.json"
        ))
        .unwrap()
    }

    #[test]
    fn records_lists_and_filters_runs() {
        let store = Store::in_memory();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let mut first = result();
        first.started_at = "2026-03-01T10:00:00.000Z".parse().unwrap();
        let id = store
            .insert(&NewRun::finished(
                Some("nightly"),
                None,
                first.clone(),
                Path::new("/r/1"),
                Some("<html></html>".into()),
            ))
            .unwrap();
        store
            .insert(&NewRun::skipped(
                "nightly",
                &first.experiment.name,
                None,
                "2026-03-02T10:00:00.000Z".parse().unwrap(),
                "target busy".into(),
            ))
            .unwrap();
        let all = store.runs(&RunFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].status, DrillStatus::Skipped, "the newest first");
        assert_eq!(all[1].id, id);
        assert_eq!(
            all[1].time_to_detect_p50_ms,
            first.summary.time_to_detect_ms.p50
        );
        assert!(all[1].has_report && !all[0].has_report);
        let on_day = |since: &str, until: &str| {
            store
                .runs(&RunFilter {
                    since: Some(since.into()),
                    until: Some(until.into()),
                    ..RunFilter::default()
                })
                .unwrap()
                .len()
        };
        assert_eq!(on_day("2026-03-01", "2026-03-01"), 1);
        assert_eq!(on_day("2026-03-01", "2026-03-02"), 2);
        assert_eq!(on_day("2026-03-01T10:00:00.001Z", "2026-03-02"), 1);
        let skipped = store
            .runs(&RunFilter {
                status: Some(DrillStatus::Skipped),
                ..RunFilter::default()
            })
            .unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(store.report(id).unwrap().as_deref(), Some("<html></html>"));
        let detail = store.run(id).unwrap().unwrap();
        assert_eq!(detail.result.unwrap()["runId"], first.run_id.as_str());
        assert_eq!(store.results(None).unwrap().len(), 1);
        assert!(store.run(9999).unwrap().is_none());
    }

    #[test]
    fn remembers_when_each_drill_came_due() {
        let store = Store::in_memory();
        assert_eq!(store.last_due("a").unwrap(), None);
        let (first, second) = (
            "2026-01-01T00:00:00Z".parse().unwrap(),
            "2026-01-02T00:00:00Z".parse().unwrap(),
        );
        store.set_last_due("a", first).unwrap();
        store.set_last_due("a", second).unwrap();
        assert_eq!(store.last_due("a").unwrap(), Some(second));
    }

    #[test]
    fn reads_the_times_of_rows_written_before() {
        let store = Store::in_memory();
        // As results wrote them (three decimals), and as a row added by hand may have them.
        store
            .lock()
            .execute_batch(
                "INSERT INTO runs (experiment, status, started, finished)
                 VALUES ('x', 'skipped', '2026-03-01T10:00:00.123Z', '2026-03-01T10:00:00Z');
                 INSERT INTO drill_state (drill, last_due) VALUES ('d', '2026-01-05T10:00:00Z');",
            )
            .unwrap();
        let rows = store.runs(&RunFilter::default()).unwrap();
        assert_eq!(rows[0].started.to_string(), "2026-03-01T10:00:00.123Z");
        assert_eq!(rows[0].finished.to_string(), "2026-03-01T10:00:00.000Z");
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["started"], "2026-03-01T10:00:00.123Z");
        assert_eq!(
            store
                .last_due("d")
                .unwrap()
                .map(|t| t.to_string())
                .as_deref(),
            Some("2026-01-05T10:00:00.000Z")
        );
        store
            .lock()
            .execute("UPDATE runs SET started = 'yesterday'", [])
            .unwrap();
        assert!(store.runs(&RunFilter::default()).is_err());
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(err.is_user_input());
    }

    #[test]
    fn a_file_that_is_not_a_history_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.db");
        std::fs::write(&text, "not a database at all, just some words\n".repeat(40)).unwrap();
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);")
            .unwrap();
        let versioned = dir.path().join("versioned.db");
        let conn = Connection::open(&versioned).unwrap();
        conn.execute_batch("CREATE TABLE things (id INTEGER);")
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        drop(conn);
        for (path, why) in [
            (&text, "it is not an SQLite database"),
            (&other, "it holds tables firedrill did not make"),
            (&versioned, "it has a schema version but no runs table"),
        ] {
            let before = std::fs::read(path).unwrap();
            for err in [
                Store::open(path).unwrap_err(),
                Store::open_existing(path).unwrap_err(),
            ] {
                assert!(err.is_user_input(), "{err}");
                assert_eq!(
                    err.to_string(),
                    format!("{} is not a firedrill run history: {why}", path.display())
                );
            }
            assert_eq!(std::fs::read(path).unwrap(), before, "{}", path.display());
            assert!(!path.with_extension("db-wal").exists());
        }
        // An empty file is a new database.
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(
            Store::open(&empty).unwrap().schema_version().unwrap(),
            SCHEMA_VERSION
        );
    }

    #[test]
    fn times_are_dates_or_rfc3339() {
        assert_eq!(check_time("2026-03-01"), Ok(()));
        assert_eq!(check_time("2026-03-01T10:00:00Z"), Ok(()));
        assert_eq!(
            check_time("2026-02-30").unwrap_err().to_string(),
            "`2026-02-30` is neither a date (2026-03-01) nor an RFC 3339 time (2026-03-01T10:00:00Z)"
        );
        assert!(check_time("yesterday").is_err());
    }
}
