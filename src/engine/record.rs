//! The run's record as it happens: each event journaled and kept for result.json, and each
//! step shown to whoever watches the run.

use std::sync::Arc;

use serde_json::json;
use tokio::time::Instant;

use super::{Progress, ProgressSink};
use crate::journal::Journal;
use crate::platform::PlatformEvent;
use crate::result::Event;
use crate::time::Clock;

/// The journal, the clock that stamps it, the run-level events and the progress sink.
pub(super) struct Recorder {
    pub(super) journal: Arc<Journal>,
    pub(super) clock: Clock,
    progress: Arc<dyn ProgressSink>,
    run_events: Vec<Event>,
}

impl Recorder {
    /// A record of a run that started at `clock`'s origin.
    pub(super) fn new(
        journal: Arc<Journal>,
        clock: Clock,
        progress: Arc<dyn ProgressSink>,
    ) -> Self {
        Self {
            journal,
            clock,
            progress,
            run_events: Vec::new(),
        }
    }

    /// Shows a step of the run.
    pub(super) fn progress(&self, event: &Progress) {
        self.progress.progress(event);
    }

    /// Journals an event of the run itself (not of an iteration) with `detail` as its data.
    pub(super) fn run_event(&mut self, kind: &str, detail: String) {
        self.run_event_with(kind, json!({ "detail": detail }), detail);
    }

    /// Journals an event of the run itself with its own data.
    pub(super) fn run_event_with(&mut self, kind: &str, data: serde_json::Value, detail: String) {
        let now = Instant::now();
        self.journal.record(kind, data, false);
        self.run_events.push(self.event(now, kind, detail));
    }

    /// The run-level events so far, taken for the result.
    pub(super) fn take_run_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.run_events)
    }

    /// Journals an event of iteration `n` that happened `at`, adds it to `events`, and
    /// returns its record's `seq`. The data gains the iteration and the time.
    pub(super) fn iteration_event(
        &self,
        events: &mut Vec<Event>,
        n: u32,
        at: Instant,
        kind: &str,
        mut data: serde_json::Value,
        detail: String,
    ) -> u64 {
        if let Some(obj) = data.as_object_mut() {
            obj.insert("iteration".into(), json!(n));
            obj.insert("at".into(), json!(self.clock.at(at)));
        }
        let (seq, _) = self.journal.record_with_seq(kind, data, false);
        events.push(self.event(at, kind, detail));
        seq
    }

    /// An event for result.json, not journaled (its journal record is written elsewhere).
    pub(super) fn event(&self, at: Instant, kind: &str, detail: String) -> Event {
        Event {
            at: self.clock.at(at),
            offset_ms: self.clock.offset_ms(at),
            kind: kind.to_owned(),
            detail,
        }
    }
}

/// A platform event's journal data and its one-line detail.
pub(super) fn describe_platform_event(ev: &PlatformEvent) -> (serde_json::Value, String) {
    match ev {
        PlatformEvent::ReplicaStarted { replica, pid } => (
            json!({"replica": replica, "pid": pid, "pgid": pid}),
            format!("{replica} started as pid {pid}"),
        ),
        PlatformEvent::ReplicaFailedToStart { replica, error } => (
            json!({"replica": replica, "error": error}),
            format!("{replica} failed to start: {error}"),
        ),
        PlatformEvent::ReplicaExited {
            replica,
            pid,
            status,
        } => (
            json!({"replica": replica, "pid": pid, "status": status}),
            format!("{replica} (pid {pid}) {status}"),
        ),
        PlatformEvent::ReplicaReady { replica } => {
            (json!({"replica": replica}), format!("{replica} ready"))
        }
        PlatformEvent::ReplicaUnready { replica } => {
            (json!({"replica": replica}), format!("{replica} not ready"))
        }
        PlatformEvent::PodRecovered(r) => {
            let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| format!("{v}ms"));
            let server = |v: Option<i64>| v.map_or("?".to_owned(), |v| format!("{v}ms"));
            (
                serde_json::to_value(r).unwrap_or_default(),
                format!(
                    "{} replaced by {}: rescheduled in {} (API server {}), ready in {} (API server {})",
                    r.pod,
                    r.replacement.as_deref().unwrap_or("?"),
                    opt(r.reschedule_ms),
                    server(r.server_reschedule_ms),
                    opt(r.ready_ms),
                    server(r.server_ready_ms)
                ),
            )
        }
        PlatformEvent::ContainerRestarted(r) => {
            let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| format!("{v}ms"));
            (
                serde_json::to_value(r).unwrap_or_default(),
                format!(
                    "container {} of {} restarted (restartCount {} → {}) in {} (runtime {}), ready in {}",
                    r.container,
                    r.pod,
                    r.restart_count_before,
                    r.restart_count,
                    opt(r.restart_ms),
                    r.server_restart_ms
                        .map_or("?".to_owned(), |v| format!("{v}ms")),
                    opt(r.ready_ms)
                ),
            )
        }
        PlatformEvent::KubernetesWarning(e) => (
            serde_json::to_value(e).unwrap_or_default(),
            format!("Warning {} on {}: {}", e.reason, e.object, e.message),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::Value;

    use super::*;

    fn recorder(dir: &std::path::Path) -> (Recorder, Arc<Mutex<Vec<String>>>) {
        let journal = Arc::new(Journal::create(&dir.join("journal.jsonl")).unwrap());
        let shown = Arc::new(Mutex::new(Vec::new()));
        let sink = shown.clone();
        let progress = Arc::new(move |p: &Progress| sink.lock().unwrap().push(format!("{p:?}")));
        (Recorder::new(journal, Clock::start(), progress), shown)
    }

    fn records(dir: &std::path::Path) -> Vec<Value> {
        crate::journal::read_verified(&dir.join("journal.jsonl")).unwrap()
    }

    #[test]
    fn a_run_event_is_journaled_and_kept_for_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let (mut record, _) = recorder(dir.path());
        record.run_event("workloads-ready", "services {}".into());
        let journaled = records(dir.path());
        assert_eq!(journaled[0]["kind"], "workloads-ready");
        assert_eq!(journaled[0]["data"]["detail"], "services {}");
        let events = record.take_run_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "workloads-ready");
        assert_eq!(events[0].detail, "services {}");
        assert!(record.take_run_events().is_empty());
    }

    #[test]
    fn an_iteration_event_names_its_iteration_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let (record, _) = recorder(dir.path());
        let mut events = Vec::new();
        let at = Instant::now();
        let first = record.iteration_event(
            &mut events,
            2,
            at,
            "detected",
            json!({"signal": "s"}),
            "by s".into(),
        );
        let second =
            record.iteration_event(&mut events, 2, at, "recovered", json!({}), "again".into());
        assert_eq!(second, first + 1);
        let journaled = records(dir.path());
        assert_eq!(journaled[0]["data"]["iteration"], 2);
        assert_eq!(journaled[0]["data"]["at"], record.clock.at(at).to_string());
        assert_eq!(journaled[0]["data"]["signal"], "s");
        assert_eq!(events[1].kind, "recovered");
        assert_eq!(events[1].at, record.clock.at(at));
    }

    #[test]
    fn progress_goes_to_the_sink() {
        let dir = tempfile::tempdir().unwrap();
        let (record, shown) = recorder(dir.path());
        record.progress(&Progress::Reverted {
            fault: "kill".into(),
        });
        let shown = shown.lock().unwrap();
        assert_eq!(shown.len(), 1);
        assert!(shown[0].contains("kill"), "{shown:?}");
    }

    #[test]
    fn a_platform_event_is_described_in_one_line() {
        let ev = PlatformEvent::ReplicaExited {
            replica: "web/0".into(),
            pid: 42,
            status: "exited with 1".into(),
        };
        let (data, detail) = describe_platform_event(&ev);
        assert_eq!(detail, "web/0 (pid 42) exited with 1");
        assert_eq!(data["pid"], 42);
    }
}
