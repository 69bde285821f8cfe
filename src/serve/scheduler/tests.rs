//! The scheduler under paused tokio time: the wall clock moves with tokio's, so hours of
//! schedule pass in milliseconds and every time is exact.

use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::tz::TimeZone;

use super::*;
use crate::serve::store::{DrillStatus, RunFilter};

/// Wall time that moves with tokio's (paused) clock.
struct TestClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TestClock {
    fn at(base: &str) -> Arc<Self> {
        Arc::new(Self {
            base: base.parse().unwrap(),
            start: tokio::time::Instant::now(),
        })
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now() - self.start;
        self.base + jiff::SignedDuration::try_from(elapsed).unwrap()
    }
}

/// A runner that takes `took` per drill and writes down when each drill started, how many ran
/// at once per target, and what was cancelled.
struct FakeRunner {
    clock: Arc<TestClock>,
    took: Duration,
    targets: BTreeMap<String, String>,
    started: Mutex<Vec<(String, Timestamp)>>,
    running: Mutex<BTreeMap<String, usize>>,
    most_at_once: Mutex<BTreeMap<String, usize>>,
    cancelled: AtomicUsize,
    count: AtomicUsize,
}

impl FakeRunner {
    fn new(clock: Arc<TestClock>, took: Duration, targets: &[(&str, &str)]) -> Arc<Self> {
        Arc::new(Self {
            clock,
            took,
            targets: targets
                .iter()
                .map(|(d, t)| ((*d).to_owned(), (*t).to_owned()))
                .collect(),
            started: Mutex::default(),
            running: Mutex::default(),
            most_at_once: Mutex::default(),
            cancelled: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
        })
    }

    fn starts(&self, drill: &str) -> Vec<String> {
        self.started
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, _)| d == drill)
            .map(|(_, at)| at.to_string())
            .collect()
    }
}

#[async_trait::async_trait]
impl Runner for FakeRunner {
    async fn run(
        &self,
        drill: &str,
        cancel: CancellationToken,
    ) -> Result<Vec<Finished>, DrillFailed> {
        self.started
            .lock()
            .unwrap()
            .push((drill.to_owned(), self.clock.now()));
        if drill == "broken" {
            return Err("cannot create the results folder".to_owned().into());
        }
        if drill == "half" {
            // The first experiment of a suite ran; the second could not start.
            let mut result: RunResult = serde_json::from_str(include_str!(
                "../../../tests/fixtures/results/quickstart-result.json"
            ))
            .unwrap();
            result.experiment.name = "first".to_owned();
            return Err(DrillFailed {
                finished: vec![Finished {
                    result,
                    dir: PathBuf::from("/results/01-first"),
                    report_html: None,
                }],
                reason: "second.yaml: cannot reach the cluster".to_owned(),
            });
        }
        let target = self.targets[drill].clone();
        {
            let mut running = self.running.lock().unwrap();
            let n = running.entry(target.clone()).or_default();
            *n += 1;
            let mut most = self.most_at_once.lock().unwrap();
            let m = most.entry(target.clone()).or_default();
            *m = (*m).max(*n);
        }
        let mut result: RunResult = serde_json::from_str(include_str!(
            "../../../tests/fixtures/results/quickstart-result.json"
        ))
        .unwrap();
        tokio::select! {
            () = tokio::time::sleep(self.took) => {}
            () = cancel.cancelled() => {
                self.cancelled.fetch_add(1, Ordering::SeqCst);
                result.status = crate::result::RunStatus::Interrupted;
            }
        }
        *self.running.lock().unwrap().get_mut(&target).unwrap() -= 1;
        result.run_id = format!("{drill}-{}", self.count.fetch_add(1, Ordering::SeqCst));
        result.experiment.name = drill.to_owned();
        Ok(vec![Finished {
            result,
            dir: PathBuf::from("/results"),
            report_html: None,
        }])
    }
}

fn entry(name: &str, cron: &str, zone: &str, missed: Missed, target: &str) -> Entry {
    Entry {
        name: name.to_owned(),
        cron: crate::spec::parse_cron(cron).unwrap(),
        zone: TimeZone::get(zone).unwrap(),
        missed,
        targets: vec![target.to_owned()],
        experiments: vec![name.to_owned()],
        suite: None,
    }
}

/// Runs the scheduler for `for_` of (paused) time, then stops it and waits for it.
async fn schedule(
    entries: Vec<Entry>,
    store: Arc<Store>,
    runner: Arc<FakeRunner>,
    for_: Duration,
) -> Arc<Registry> {
    let metrics = Arc::new(Registry::new());
    let scheduler = Scheduler::new(
        entries,
        store,
        metrics.clone(),
        runner.clone(),
        runner.clock.clone(),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(scheduler.run(stop.clone()));
    tokio::time::sleep(for_).await;
    stop.cancel();
    task.await.unwrap();
    metrics
}

fn skips(store: &Store) -> Vec<String> {
    store
        .runs(&RunFilter {
            status: Some(DrillStatus::Skipped),
            ..RunFilter::default()
        })
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| r.reason.unwrap_or_default())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_minute_comes_due_on_the_minute() {
    let clock = TestClock::at("2026-03-01T10:00:30Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(1), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    let metrics = schedule(
        vec![entry("a", "* * * * *", "UTC", Missed::Skip, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(181),
    )
    .await;
    assert_eq!(
        runner.starts("a"),
        [
            "2026-03-01T10:01:00Z",
            "2026-03-01T10:02:00Z",
            "2026-03-01T10:03:00Z"
        ]
    );
    assert_eq!(store.runs(&RunFilter::default()).unwrap().len(), 3);
    assert!(
        metrics
            .render()
            .contains("firedrill_runs_total{experiment=\"a\",status=\"passed\"} 3"),
        "{}",
        metrics.render()
    );
    assert_eq!(
        store
            .last_due("a")
            .unwrap()
            .map(|t| t.to_string())
            .as_deref(),
        Some("2026-03-01T10:03:00.000Z")
    );
}

#[tokio::test(start_paused = true)]
async fn seconds_in_the_pattern_come_due_every_second() {
    let clock = TestClock::at("2026-03-01T10:00:00.500Z");
    let runner = FakeRunner::new(clock, Duration::from_millis(100), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    schedule(
        vec![entry("a", "* * * * * *", "UTC", Missed::Skip, "t")],
        store,
        runner.clone(),
        Duration::from_millis(3_000),
    )
    .await;
    assert_eq!(
        runner.starts("a"),
        [
            "2026-03-01T10:00:01Z",
            "2026-03-01T10:00:02Z",
            "2026-03-01T10:00:03Z"
        ]
    );
}

/// An hourly and a nightly (02:30) drill in Paris time, scheduled from `start` for `hours`
/// hours and a minute.
async fn paris_hourly_and_nightly(start: &str, hours: u64) -> Arc<FakeRunner> {
    let runner = FakeRunner::new(
        TestClock::at(start),
        Duration::from_secs(1),
        &[("hourly", "h"), ("nightly", "n")],
    );
    schedule(
        vec![
            entry("hourly", "0 * * * *", "Europe/Paris", Missed::Skip, "h"),
            entry("nightly", "30 2 * * *", "Europe/Paris", Missed::Skip, "n"),
        ],
        Arc::new(Store::in_memory()),
        runner.clone(),
        Duration::from_secs(hours * 3600 + 60),
    )
    .await;
    runner
}

#[tokio::test(start_paused = true)]
async fn daylight_saving_changes_in_the_drills_time_zone() {
    // Paris: on 29 March 2026 the clocks go from 02:00 to 03:00 (UTC+1 to UTC+2); on
    // 25 October from 03:00 back to 02:00.
    let runner = paris_hourly_and_nightly("2026-03-28T21:00:00Z", 5).await;
    // Local 01:00, then 03:00 and 04:00: the hour from 02:00 does not exist that night, and
    // the drill still comes due once an hour of real time.
    let hourly = runner.starts("hourly");
    assert_eq!(
        hourly,
        [
            "2026-03-28T22:00:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T00:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T02:00:00Z",
        ]
    );
    // 02:30 does not exist on that day: the nightly drill still runs once, in the hour the
    // clocks skipped to (03:00 local, 01:00 UTC).
    assert_eq!(runner.starts("nightly"), ["2026-03-29T01:00:00Z"]);
}

#[tokio::test(start_paused = true)]
async fn daylight_saving_ends_without_a_second_nightly_run() {
    let runner = paris_hourly_and_nightly("2026-10-24T22:00:00Z", 4).await;
    // 02:30 happens twice (at UTC+2, then at UTC+1): a fixed-time drill runs at the first only.
    assert_eq!(runner.starts("nightly"), ["2026-10-25T00:30:00Z"]);
    // Local 01:00, 02:00 (summer), 02:00 (winter), 03:00: once an hour of real time.
    assert_eq!(
        runner.starts("hourly"),
        [
            "2026-10-24T23:00:00Z",
            "2026-10-25T00:00:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T02:00:00Z",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn times_missed_while_down_are_skipped_and_recorded() {
    let clock = TestClock::at("2026-03-01T12:30:00Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(1), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    store
        .set_last_due("a", "2026-03-01T09:00:00.000Z".parse().unwrap())
        .unwrap();
    let metrics = schedule(
        vec![entry("a", "0 * * * *", "UTC", Missed::Skip, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(31 * 60),
    )
    .await;
    assert_eq!(runner.starts("a"), ["2026-03-01T13:00:00Z"]);
    assert_eq!(
        skips(&store),
        [
            "missed 3 scheduled times from 2026-03-01T10:00:00.000Z to 2026-03-01T12:00:00.000Z (missed: skip)"
        ]
    );
    assert!(
        metrics
            .render()
            .contains("firedrill_drills_skipped_total{drill=\"a\",reason=\"missed\"} 1")
    );
}

#[tokio::test(start_paused = true)]
async fn times_missed_while_down_run_once_when_asked() {
    let clock = TestClock::at("2026-03-01T12:30:00Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(1), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    store
        .set_last_due("a", "2026-03-01T09:00:00.000Z".parse().unwrap())
        .unwrap();
    schedule(
        vec![entry("a", "0 * * * *", "UTC", Missed::RunOnce, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(31 * 60),
    )
    .await;
    assert_eq!(
        runner.starts("a"),
        ["2026-03-01T12:30:00Z", "2026-03-01T13:00:00Z"]
    );
    assert!(skips(&store).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_new_drill_does_not_catch_up_on_the_past() {
    let clock = TestClock::at("2026-03-01T12:30:00Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(1), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    schedule(
        vec![entry("a", "0 * * * *", "UTC", Missed::RunOnce, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(60),
    )
    .await;
    assert!(runner.starts("a").is_empty());
    assert!(skips(&store).is_empty());
}

#[tokio::test(start_paused = true)]
async fn times_missed_during_a_long_run_are_skipped() {
    let clock = TestClock::at("2026-03-01T10:00:30Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(150), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    schedule(
        vec![entry("a", "* * * * *", "UTC", Missed::Skip, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(3 * 60 + 45),
    )
    .await;
    // 10:01 runs until 10:03:30; 10:02 and 10:03 pass meanwhile; 10:04 runs.
    assert_eq!(
        runner.starts("a"),
        ["2026-03-01T10:01:00Z", "2026-03-01T10:04:00Z"]
    );
    assert_eq!(
        skips(&store),
        [
            "missed 2 scheduled times from 2026-03-01T10:02:00.000Z to 2026-03-01T10:03:00.000Z (missed: skip)"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn two_drills_never_run_on_one_target_at_once() {
    let clock = TestClock::at("2026-03-01T10:00:30Z");
    let runner = FakeRunner::new(
        clock,
        Duration::from_secs(30),
        &[("a", "shared"), ("b", "shared"), ("c", "other")],
    );
    let store = Arc::new(Store::in_memory());
    let metrics = schedule(
        vec![
            entry("a", "* * * * *", "UTC", Missed::Skip, "shared"),
            entry("b", "* * * * *", "UTC", Missed::Skip, "shared"),
            entry("c", "* * * * *", "UTC", Missed::Skip, "other"),
        ],
        store.clone(),
        runner.clone(),
        Duration::from_secs(3 * 60 + 15),
    )
    .await;
    let most = runner.most_at_once.lock().unwrap().clone();
    assert_eq!(most["shared"], 1, "two drills ran on one target at once");
    // Each minute one of a and b runs and the other is skipped; c runs every minute.
    let ran = runner.starts("a").len() + runner.starts("b").len();
    assert_eq!(ran, 3);
    assert_eq!(runner.starts("c").len(), 3);
    let skipped = skips(&store);
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .all(|r| r == "target shared is busy with drill a"
                || r == "target shared is busy with drill b"),
        "{skipped:?}"
    );
    assert!(metrics.render().contains("reason=\"target-busy\""));
}

#[tokio::test(start_paused = true)]
async fn stopping_interrupts_running_drills_and_waits_for_them() {
    let clock = TestClock::at("2026-03-01T10:00:59Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(3600), &[("a", "t")]);
    let store = Arc::new(Store::in_memory());
    schedule(
        vec![entry("a", "* * * * *", "UTC", Missed::Skip, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(runner.cancelled.load(Ordering::SeqCst), 1);
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, DrillStatus::Interrupted);
}

#[tokio::test(start_paused = true)]
async fn a_drill_that_cannot_start_is_recorded_as_aborted_and_keeps_its_schedule() {
    let clock = TestClock::at("2026-03-01T10:00:30Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(1), &[("broken", "t")]);
    let store = Arc::new(Store::in_memory());
    schedule(
        vec![entry("broken", "* * * * *", "UTC", Missed::Skip, "t")],
        store.clone(),
        runner.clone(),
        Duration::from_secs(125),
    )
    .await;
    assert_eq!(runner.starts("broken").len(), 2);
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.status == DrillStatus::Aborted
        && r.reason.as_deref() == Some("cannot create the results folder")));
}

#[tokio::test(start_paused = true)]
async fn runs_that_finished_before_an_experiment_could_not_start_keep_their_results() {
    let clock = TestClock::at("2026-03-01T10:00:30Z");
    let runner = FakeRunner::new(clock, Duration::from_secs(1), &[("half", "t")]);
    let store = Arc::new(Store::in_memory());
    let mut suite = entry("half", "* * * * *", "UTC", Missed::Skip, "t");
    suite.experiments = vec!["first".to_owned(), "second".to_owned(), "third".to_owned()];
    suite.suite = Some("nightly".to_owned());
    schedule(
        vec![suite],
        store.clone(),
        runner.clone(),
        Duration::from_secs(65),
    )
    .await;
    assert_eq!(runner.starts("half").len(), 1);
    let mut runs: Vec<_> = store
        .runs(&RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.experiment, r.status, r.reason))
        .collect();
    runs.sort();
    let reason = Some("second.yaml: cannot reach the cluster".to_owned());
    let fixture: RunResult = serde_json::from_str(include_str!(
        "../../../tests/fixtures/results/quickstart-result.json"
    ))
    .unwrap();
    assert_eq!(
        runs,
        [
            ("first".to_owned(), fixture.status.into(), None),
            ("second".to_owned(), DrillStatus::Aborted, reason.clone()),
            ("third".to_owned(), DrillStatus::Aborted, reason),
        ]
    );
}
