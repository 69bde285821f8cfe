//! The scheduler of `firedrill serve`: each drill comes due on its cron pattern in its time
//! zone, runs through a [`Runner`], and is recorded in the history.
//!
//! Two rules keep drills from harming what they test:
//! - the per-target guard: a drill never starts while another drill holds one of its targets;
//!   it is skipped, and the skip is recorded (queueing would let drills pile up behind a long
//!   one and then run back to back, which is not what anyone scheduled);
//! - the missed policy: scheduled times that passed while firedrill was down or while the
//!   drill was still running are skipped, or caught up by one run (`missed: run-once`).
//!
//! Wall time comes from a [`Clock`] and waits are at most a minute long, so a wall clock that
//! jumps is noticed within a minute; tests drive it with paused tokio time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::store::{NewRun, Store};
use crate::result::RunResult;
use crate::spec::Missed;
use crate::telemetry::prometheus::Registry;

/// A scheduled time this late or less still runs; later than that it counts as missed.
pub const GRACE: Duration = Duration::from_secs(1);

/// The longest single wait, so that a jump of the wall clock is noticed.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Missed times counted one by one up to this many; past it the count says "more than".
const MISSED_COUNT_LIMIT: usize = 100_000;

/// Where wall time comes from.
pub trait Clock: Send + Sync {
    /// The current wall time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A drill as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The drill's name.
    pub name: String,
    /// When it comes due.
    pub cron: croner::Cron,
    /// The time zone the pattern is read in.
    pub zone: jiff::tz::TimeZone,
    /// What to do about times that passed unrun.
    pub missed: Missed,
    /// What it acts on (see [`super::drill::targets`]); two drills sharing one never overlap.
    pub targets: Vec<String>,
    /// The experiments it runs, by name, for skip records.
    pub experiments: Vec<String>,
    /// The suite it runs, by name.
    pub suite: Option<String>,
}

/// One experiment run that a drill finished.
#[derive(Clone, Debug)]
pub struct Finished {
    /// result.json, scored.
    pub result: RunResult,
    /// The results folder.
    pub dir: PathBuf,
    /// report.html.
    pub report_html: Option<String>,
}

/// Why a drill stopped before its last experiment ran, with the runs that finished before.
#[derive(Debug)]
pub struct DrillFailed {
    /// The runs of the experiments before the one that could not start, in order.
    pub finished: Vec<Finished>,
    /// Why that experiment could not start.
    pub reason: String,
}

impl From<String> for DrillFailed {
    fn from(reason: String) -> Self {
        Self {
            finished: Vec::new(),
            reason,
        }
    }
}

/// Runs a drill to its end; cancelling `cancel` interrupts it, and it rolls back before it
/// returns.
#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    /// The runs of the drill's experiments, or why one could not start (and the runs that
    /// finished before it).
    async fn run(
        &self,
        drill: &str,
        cancel: CancellationToken,
    ) -> Result<Vec<Finished>, DrillFailed>;
}

/// The drills' schedules and what they share.
pub struct Scheduler {
    entries: Vec<Arc<Entry>>,
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<Store>,
    metrics: Arc<Registry>,
    runner: Arc<dyn Runner>,
    clock: Arc<dyn Clock>,
    /// Target → the drill holding it.
    busy: Mutex<BTreeMap<String, String>>,
}

impl Scheduler {
    /// A scheduler of `entries` that records into `store` and `metrics`.
    pub fn new(
        entries: Vec<Entry>,
        store: Arc<Store>,
        metrics: Arc<Registry>,
        runner: Arc<dyn Runner>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        metrics.describe_runs();
        metrics.counter(
            "firedrill_drills_skipped_total",
            "Drills that came due and did not run, by drill and reason (target-busy, missed)",
        );
        Self {
            entries: entries.into_iter().map(Arc::new).collect(),
            shared: Arc::new(Shared {
                store,
                metrics,
                runner,
                clock,
                busy: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Schedules every drill until `stop` is cancelled; running drills are then interrupted
    /// (through the child tokens their runners got) and awaited before this returns.
    pub async fn run(self, stop: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for entry in self.entries {
            let shared = self.shared.clone();
            let stop = stop.clone();
            tasks.spawn(async move { shared.drill_loop(entry, stop).await });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(error = %error, "a drill's schedule stopped unexpectedly");
            }
        }
    }
}

impl Shared {
    async fn drill_loop(self: Arc<Self>, entry: Arc<Entry>, stop: CancellationToken) {
        let mut last = match self.store.last_due(&entry.name) {
            Ok(last) => last.map(crate::time::Timestamp::as_jiff),
            Err(error) => {
                tracing::warn!(drill = %entry.name, error = %error, "cannot read when the drill last came due");
                None
            }
        }
        .unwrap_or_else(|| self.clock.now());
        self.remember(&entry, last);
        loop {
            if stop.is_cancelled() {
                return;
            }
            let Some(next) = next_after(&entry, last) else {
                tracing::info!(drill = %entry.name, "the cron pattern never comes due again");
                return;
            };
            let now = self.clock.now();
            if now.duration_since(next) > jiff::SignedDuration::try_from(GRACE).unwrap_or_default()
            {
                let (count, latest) = missed(&entry, last, now);
                last = latest;
                self.remember(&entry, last);
                let what = match count {
                    Some(1) => "1 scheduled time".to_owned(),
                    Some(n) => format!("{n} scheduled times"),
                    None => format!("more than {MISSED_COUNT_LIMIT} scheduled times"),
                };
                let span = format!(
                    "from {} to {}",
                    crate::time::Timestamp::from(next),
                    crate::time::Timestamp::from(latest)
                );
                match entry.missed {
                    Missed::Skip => {
                        let reason = format!("missed {what} {span} (missed: skip)");
                        self.skip(&entry, now, "missed", reason);
                    }
                    Missed::RunOnce => {
                        tracing::info!(drill = %entry.name, missed = %what, "catching up once (missed: run-once)");
                        self.fire(&entry, &stop).await;
                    }
                }
                continue;
            }
            if !self.wait_until(next, &stop).await {
                return;
            }
            last = next;
            self.remember(&entry, last);
            self.fire(&entry, &stop).await;
        }
    }

    /// Waits until the wall clock reaches `at`; false when stopped first.
    async fn wait_until(&self, at: Timestamp, stop: &CancellationToken) -> bool {
        loop {
            let now = self.clock.now();
            if now >= at {
                return true;
            }
            let left = Duration::try_from(at.duration_since(now)).unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(left.min(LONGEST_WAIT)) => {}
                () = stop.cancelled() => return false,
            }
        }
    }

    fn remember(&self, entry: &Entry, due: Timestamp) {
        if let Err(error) = self.store.set_last_due(&entry.name, due.into()) {
            tracing::warn!(drill = %entry.name, error = %error, "cannot record when the drill came due");
        }
    }

    /// Runs the drill now, unless another drill holds one of its targets.
    async fn fire(&self, entry: &Entry, stop: &CancellationToken) {
        let now = self.clock.now();
        let guard = match self.claim(entry) {
            Ok(guard) => guard,
            Err((target, holder)) => {
                let reason = format!("target {target} is busy with drill {holder}");
                self.skip(entry, now, "target-busy", reason);
                return;
            }
        };
        tracing::info!(drill = %entry.name, "drill due: running");
        let outcome = self.runner.run(&entry.name, stop.child_token()).await;
        drop(guard);
        let (runs, failed) = match outcome {
            Ok(runs) => (runs, None),
            Err(DrillFailed { finished, reason }) => (finished, Some(reason)),
        };
        // The runs that finished keep their own results; only the experiment that could not
        // start, and those after it, are recorded as aborted.
        let recorded = runs.len();
        for run in runs {
            self.metrics.record_run(&run.result);
            let row = NewRun::finished(
                Some(&entry.name),
                entry.suite.as_deref(),
                run.result,
                &run.dir,
                run.report_html,
            );
            if let Err(error) = self.store.insert(&row) {
                tracing::error!(drill = %entry.name, error = %error, "cannot record the run in the history");
            }
        }
        if let Some(reason) = failed {
            tracing::error!(drill = %entry.name, reason = %reason, "the drill could not run");
            for experiment in entry.experiments.iter().skip(recorded) {
                let mut row = NewRun::skipped(
                    &entry.name,
                    experiment,
                    entry.suite.as_deref(),
                    now.into(),
                    reason.clone(),
                );
                row.status = crate::result::RunStatus::Aborted.into();
                row.finished = self.clock.now().into();
                if let Err(error) = self.store.insert(&row) {
                    tracing::error!(drill = %entry.name, error = %error, "cannot record the run in the history");
                }
            }
        }
    }

    fn skip(&self, entry: &Entry, at: Timestamp, kind: &str, reason: String) {
        tracing::warn!(drill = %entry.name, reason = %reason, "drill skipped");
        self.metrics.inc_by(
            "firedrill_drills_skipped_total",
            &[("drill", &entry.name), ("reason", kind)],
            1.0,
        );
        for experiment in &entry.experiments {
            let row = NewRun::skipped(
                &entry.name,
                experiment,
                entry.suite.as_deref(),
                at.into(),
                reason.clone(),
            );
            if let Err(error) = self.store.insert(&row) {
                tracing::error!(drill = %entry.name, error = %error, "cannot record the skip in the history");
            }
        }
    }

    /// Takes every target of the drill, or none: the first busy target and its holder.
    fn claim(&self, entry: &Entry) -> Result<TargetGuard<'_>, (String, String)> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((target, holder)) = entry
            .targets
            .iter()
            .find_map(|t| busy.get(t).map(|h| (t.clone(), h.clone())))
        {
            return Err((target, holder));
        }
        for target in &entry.targets {
            busy.insert(target.clone(), entry.name.clone());
        }
        Ok(TargetGuard {
            busy: &self.busy,
            targets: entry.targets.clone(),
        })
    }
}

/// Holds a drill's targets; dropping it frees them, whatever way the run ended.
struct TargetGuard<'a> {
    busy: &'a Mutex<BTreeMap<String, String>>,
    targets: Vec<String>,
}

impl Drop for TargetGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        for target in &self.targets {
            busy.remove(target);
        }
    }
}

/// The first time the drill comes due after `after`.
pub fn next_after(entry: &Entry, after: Timestamp) -> Option<Timestamp> {
    entry
        .cron
        .find_next_occurrence(&after.to_zoned(entry.zone.clone()), false)
        .ok()
        .map(|z| z.timestamp())
}

/// How many times the drill came due after `last` up to `now` (none when past the count
/// limit), and the latest of them.
fn missed(entry: &Entry, last: Timestamp, now: Timestamp) -> (Option<usize>, Timestamp) {
    let zoned_now = now.to_zoned(entry.zone.clone());
    let latest = entry
        .cron
        .find_previous_occurrence(&zoned_now, true)
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let count = entry
        .cron
        .clone()
        .iter_after(last.to_zoned(entry.zone.clone()))
        .take_while(|z| z.timestamp() <= now)
        .take(MISSED_COUNT_LIMIT + 1)
        .count();
    let count = (count <= MISSED_COUNT_LIMIT).then_some(count);
    (count, latest.max(last))
}

#[cfg(test)]
mod tests;
