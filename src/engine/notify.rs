//! The run's side of notifications and coordination: drafting at awareness, delivering in
//! the background, and waiting for the roles' acknowledgements after the last iteration.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::stop::{Guard, Stop};
use super::{Progress, ProgressSink};
use crate::detection::webhook::WebhookServer;
use crate::error::chain;
use crate::journal::{Journal, hex};
use crate::notification::{Acknowledgements, Deliverer, DraftKind, Incident, NotificationError};
use crate::result::{CoordinationResult, DeliveryResult, NotificationResult};
use crate::spec::{Notification, Spec};
use crate::time::{Clock, ms};

/// Where the drafts go, relative to the results folder.
const NOTIFICATIONS_DIR: &str = "notifications";

/// Why the early warning cannot be delivered; its drafts are written all the same.
#[derive(Debug, thiserror::Error)]
enum Undeliverable {
    /// The URL's placeholders do not expand.
    #[error(transparent)]
    Url(#[from] crate::spec::placeholders::PlaceholderError),
    /// No client can post to the URL.
    #[error(transparent)]
    Client(#[from] NotificationError),
}

/// Why a draft's files were not written; the run goes on without them.
#[derive(Debug, thiserror::Error)]
enum DraftWriteError {
    /// The drafts' folder could not be created.
    #[error("cannot create {NOTIFICATIONS_DIR}/")]
    Folder(#[source] std::io::Error),
    /// A file could not be written.
    #[error(transparent)]
    File(#[from] NotificationError),
}

/// A delivery still running: the notification it belongs to.
struct PendingDelivery {
    notification: usize,
    url: String,
}

/// Drafts the notifications of a detection, delivers the early warning, and keeps the
/// roles' acknowledgements.
pub(super) struct Notifier {
    spec: Option<Notification>,
    /// `coordination.timeout`, when the experiment names roles.
    timeout: Option<std::time::Duration>,
    out_dir: Option<PathBuf>,
    journal: Arc<Journal>,
    clock: Clock,
    progress: Arc<dyn ProgressSink>,
    acks: Option<Arc<Acknowledgements>>,
    acks_reported: BTreeSet<String>,
    acknowledge_url: Option<String>,
    notifications: Vec<NotificationResult>,
    /// The early warning's delivery, once the workloads' addresses are known.
    deliverer: Option<Result<Deliverer, Undeliverable>>,
    deliveries: JoinSet<DeliveryResult>,
    pending_deliveries: HashMap<tokio::task::Id, PendingDelivery>,
    /// The early warning needs people's approval: it is submitted when approved, not when
    /// drafted.
    deliver_on_approval: bool,
}

impl Notifier {
    /// The notifications and coordination `spec` asks for; drafts go under `out_dir`.
    pub(super) fn new(
        spec: &Spec,
        out_dir: Option<PathBuf>,
        journal: Arc<Journal>,
        clock: Clock,
        progress: Arc<dyn ProgressSink>,
    ) -> Self {
        let acks = spec.coordination.as_ref().map(|c| {
            Arc::new(Acknowledgements::new(
                c.roles.clone(),
                journal.clone(),
                clock,
            ))
        });
        Self {
            spec: spec.notification.clone(),
            timeout: spec.coordination.as_ref().map(|c| c.timeout.get()),
            out_dir,
            journal,
            clock,
            progress,
            acks,
            acks_reported: BTreeSet::new(),
            acknowledge_url: None,
            notifications: Vec::new(),
            deliverer: None,
            deliveries: JoinSet::new(),
            pending_deliveries: HashMap::new(),
            deliver_on_approval: spec.response.as_ref().is_some_and(|r| {
                r.approvals
                    .iter()
                    .any(|a| a.report == crate::spec::Report::Nis2EarlyWarning)
            }),
        }
    }

    /// The acknowledgements the webhook takes, when the experiment names roles.
    pub(super) fn acks(&self) -> Option<Arc<Acknowledgements>> {
        self.acks.clone()
    }

    /// Prepares delivery once the workloads' addresses are known (the URL may name them);
    /// why delivery is not possible, if it is not (drafts are still written).
    pub(super) fn prepare_delivery(
        &mut self,
        template: &crate::spec::placeholders::Context,
    ) -> Option<String> {
        let deliver = self.spec.as_ref().and_then(|n| n.deliver.clone())?;
        let prepared = crate::spec::placeholders::expand(&deliver.url, template)
            .map_err(Undeliverable::from)
            .and_then(|url| {
                Deliverer::new(&url, deliver.timeout.get()).map_err(Undeliverable::from)
            });
        let unavailable = prepared.as_ref().err().map(|error| {
            let error = chain(error);
            tracing::warn!(%error, "notification delivery is not possible; drafts are still written");
            format!("notification delivery is not possible: {error}")
        });
        self.deliverer = Some(prepared);
        unavailable
    }

    /// The webhook also serves acknowledgements: notes where, and returns it with the roles.
    pub(super) fn listen(&mut self, server: &WebhookServer) -> Option<(String, Vec<String>)> {
        let acks = self.acks.as_ref()?;
        let url = server.acknowledge_url("{role}");
        self.acknowledge_url = Some(url.clone());
        Some((url, acks.roles().to_vec()))
    }

    /// At an iteration's first detection: sets the run's awareness for coordination (the
    /// first detection of the run only).
    pub(super) fn set_awareness(&self, iteration: u32, at: Instant) {
        if let Some(acks) = &self.acks
            && acks.set_awareness(at)
        {
            let url = self.acknowledge_url.clone().unwrap_or_default();
            self.journal.record(
                "awareness",
                json!({"iteration": iteration, "at": self.clock.at(at), "roles": acks.roles(), "acknowledgeAt": url}),
                false,
            );
        }
    }

    /// Whether detections are drafted as notifications.
    pub(super) fn drafts(&self) -> bool {
        self.spec.is_some()
    }

    /// Writes the drafts of `incident`, detected `at`, and starts the early warning's
    /// delivery.
    pub(super) fn draft(&mut self, incident: &Incident, at: Instant) {
        let Some(spec) = self.spec.clone() else {
            return;
        };
        // The reports whose clocks run from awareness; the others are drafted when the
        // report they follow is submitted.
        let kinds = DraftKind::ALL
            .into_iter()
            .filter(|k| k.follows().is_none() && (spec.dora || !k.is_dora()));
        let mut early_warning: Option<(String, u64)> = None;
        for kind in kinds {
            let draft = crate::notification::build(
                kind,
                incident,
                &spec,
                self.clock.at(Instant::now()),
                early_warning
                    .as_ref()
                    .map(|(file, seq)| crate::notification::Earlier {
                        file,
                        seq: *seq,
                        submitted_at: None,
                    }),
            );
            let Some((json_file, seq, bytes)) = self.write_draft(kind, &draft, at) else {
                continue;
            };
            if kind == DraftKind::Nis2EarlyWarning {
                early_warning = Some((json_file, seq));
                if !self.deliver_on_approval {
                    self.deliver(incident.iteration, kind, at, bytes);
                }
            }
        }
    }

    /// Writes one draft's files and journals them; its JSON file, its record's `seq` and
    /// its bytes, or None when it could not be written (logged; the run goes on).
    fn write_draft(
        &mut self,
        kind: DraftKind,
        draft: &crate::notification::Draft,
        at: Instant,
    ) -> Option<(String, u64, Vec<u8>)> {
        let deliver_to = match (&self.deliverer, kind == DraftKind::Nis2EarlyWarning) {
            (Some(Ok(d)), true) => Some(d.shown_url()),
            _ => None,
        };
        let written = write_draft(
            &DraftSink {
                out_dir: self.out_dir.as_deref(),
                journal: &self.journal,
                progress: self.progress.as_ref(),
            },
            draft,
            at,
            deliver_to,
        )?;
        self.notifications.push(written.result);
        Some((written.json_file, written.seq, written.bytes))
    }

    /// Posts the early warning in the background; the run collects the outcome before it ends.
    fn deliver(&mut self, iteration: u32, kind: DraftKind, detected: Instant, body: Vec<u8>) {
        let index = self.notifications.len() - 1;
        let deliverer = match &self.deliverer {
            None => return,
            Some(Ok(d)) => d.clone(),
            Some(Err(error)) => {
                let error = format!("delivery was not possible: {}", chain(error));
                self.journal.record(
                    "notification-delivery-failed",
                    json!({"iteration": iteration, "kind": kind.id(), "error": error}),
                    false,
                );
                self.notifications[index].delivery = Some(undelivered(String::new(), error));
                return;
            }
        };
        let url = deliverer.shown_url();
        let delivery = Delivery {
            deliverer,
            journal: self.journal.clone(),
            progress: self.progress.clone(),
            clock: self.clock,
            iteration,
            kind,
            detected,
        };
        let id = self.deliveries.spawn(delivery.post(body)).id();
        self.pending_deliveries.insert(
            id,
            PendingDelivery {
                notification: index,
                url,
            },
        );
    }

    /// Waits for every delivery still running (each is bounded by its timeout); on
    /// cancellation the rest are abandoned and recorded as such.
    pub(super) async fn finish_deliveries(&mut self, guard: &Guard) {
        while !self.deliveries.is_empty() {
            let joined = tokio::select! {
                biased;
                _ = guard.halted() => {
                    self.deliveries.abort_all();
                    while self.deliveries.join_next().await.is_some() {}
                    break;
                }
                joined = self.deliveries.join_next_with_id() => joined,
            };
            let Some(joined) = joined else { break };
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, Some(outcome)),
                Err(e) => (e.id(), None),
            };
            let Some(pending) = self.pending_deliveries.remove(&id) else {
                continue;
            };
            let result = outcome.unwrap_or_else(|| {
                undelivered(pending.url.clone(), "the delivery task failed".into())
            });
            self.notifications[pending.notification].delivery = Some(result);
        }
        for (_, pending) in std::mem::take(&mut self.pending_deliveries) {
            let error = "the run was interrupted before an answer arrived".to_owned();
            let n = &mut self.notifications[pending.notification];
            self.journal.record(
                "notification-delivery-failed",
                json!({"iteration": n.iteration, "kind": n.kind, "url": pending.url, "error": error}),
                false,
            );
            n.delivery = Some(undelivered(pending.url, error));
        }
    }

    /// Reports acknowledgements that arrived since the last call.
    pub(super) fn report_acknowledgements(&mut self) {
        let Some(acks) = self.acks.clone() else {
            return;
        };
        for role in acks.roles() {
            if self.acks_reported.contains(role) {
                continue;
            }
            if let Some(a) = acks.get(role) {
                self.acks_reported.insert(role.clone());
                self.progress.progress(&Progress::Acknowledged {
                    role: role.clone(),
                    by: a.by.clone(),
                    after: a.time_to_acknowledge,
                });
            }
        }
    }

    /// After the last iteration: waits until every role has acknowledged, or
    /// `coordination.timeout` after awareness, or the run's safety timeout, whichever
    /// comes first (only when `wait`: after a run that went to its end); a missing role is
    /// journaled as a finding.
    pub(super) async fn await_acknowledgements(
        &mut self,
        wait: bool,
        guard: &Guard,
    ) -> Option<Stop> {
        let acks = self.acks.clone()?;
        let timeout = self.timeout?;
        self.report_acknowledgements();
        let mut stop = None;
        let mut why = "nothing was detected, so there was nothing to acknowledge".to_owned();
        if let Some(awareness) = acks.awareness() {
            why = format!(
                "no acknowledgement within {} of awareness",
                humantime::format_duration(timeout)
            );
            let until = (awareness + timeout).min(guard.deadline());
            if wait && let Err(halted) = self.wait_for_roles(&acks, until, guard).await {
                why = match &halted {
                    Stop::Interrupted => "the run was interrupted first".into(),
                    Stop::Aborted(reason) => format!("the run was stopped first: {reason}"),
                };
                stop = Some(halted);
            }
            if until < awareness + timeout && Instant::now() >= until {
                why = "the run's safety timeout came first".into();
            }
            if !wait && stop.is_none() {
                why = "the run ended early".into();
            }
        }
        self.report_acknowledgements();
        for role in acks.missing() {
            self.journal.record(
                "not-acknowledged",
                json!({"role": role, "reason": why}),
                false,
            );
        }
        stop
    }

    /// Waits until every role acknowledged or `until`; the stop when the run was cancelled
    /// or stopped by its button first.
    async fn wait_for_roles(
        &mut self,
        acks: &Acknowledgements,
        until: Instant,
        guard: &Guard,
    ) -> Result<(), Stop> {
        let mut changed = acks.subscribe();
        let mut announced = false;
        while !acks.missing().is_empty() && Instant::now() < until {
            if !announced {
                announced = true;
                let missing = acks.missing();
                self.journal.record(
                    "acknowledgements-awaited",
                    json!({"missing": missing, "until": self.clock.at(until)}),
                    false,
                );
                self.progress.progress(&Progress::AwaitingAcknowledgements {
                    missing,
                    url: self.acknowledge_url.clone().unwrap_or_default(),
                    left: until.saturating_duration_since(Instant::now()),
                });
            }
            tokio::select! {
                biased;
                halted = guard.halted() => return Err(halted),
                () = tokio::time::sleep_until(until) => {}
                Ok(()) = changed.changed() => self.report_acknowledgements(),
            }
        }
        Ok(())
    }

    /// Whether any draft was written.
    pub(super) fn has_notifications(&self) -> bool {
        !self.notifications.is_empty()
    }

    /// The drafts, taken for the result.
    pub(super) fn take_notifications(&mut self) -> Vec<NotificationResult> {
        std::mem::take(&mut self.notifications)
    }

    /// The acknowledgements by role, for the result, when the experiment names roles.
    pub(super) fn coordination(&self) -> Option<CoordinationResult> {
        let timeout = self.timeout.unwrap_or_default();
        self.acks.as_ref().map(|a| a.result(timeout))
    }
}

/// A delivery that did not happen.
fn undelivered(url: String, error: String) -> DeliveryResult {
    DeliveryResult {
        url,
        delivered_at: None,
        time_to_deliver_ms: None,
        status: None,
        error: Some(error),
    }
}

/// One delivery of an early warning, reported and journaled as soon as its outcome is known.
struct Delivery {
    deliverer: Deliverer,
    journal: Arc<Journal>,
    progress: Arc<dyn ProgressSink>,
    clock: Clock,
    iteration: u32,
    kind: DraftKind,
    detected: Instant,
}

impl Delivery {
    async fn post(self, body: Vec<u8>) -> DeliveryResult {
        let url = self.deliverer.shown_url();
        let outcome = self.deliverer.post_json(body).await;
        let mut result = DeliveryResult {
            url: url.clone(),
            delivered_at: None,
            time_to_deliver_ms: None,
            status: None,
            error: None,
        };
        let (iteration, kind) = (self.iteration, self.kind.id());
        let mut after = None;
        match outcome {
            Ok(posted) if posted.delivered() => {
                let took = posted.at.saturating_duration_since(self.detected);
                after = Some(took);
                result.status = Some(posted.status);
                result.delivered_at = Some(self.clock.at(posted.at));
                result.time_to_deliver_ms = Some(ms(took));
                self.journal.record(
                    "notification-delivered",
                    json!({"iteration": iteration, "kind": kind, "url": url, "status": posted.status,
                           "at": result.delivered_at, "timeToDeliverMs": ms(took)}),
                    false,
                );
            }
            Ok(posted) => {
                let error = format!("answered with HTTP status {}", posted.status);
                result.status = Some(posted.status);
                self.journal.record(
                    "notification-delivery-failed",
                    json!({"iteration": iteration, "kind": kind, "url": url, "status": posted.status, "error": error}),
                    false,
                );
                result.error = Some(error);
            }
            Err(error) => {
                let error = chain(&error);
                self.journal.record(
                    "notification-delivery-failed",
                    json!({"iteration": iteration, "kind": kind, "url": url, "error": error}),
                    false,
                );
                result.error = Some(error);
            }
        }
        self.progress.progress(&Progress::Delivered {
            iteration,
            status: result.status,
            error: result.error.clone(),
            after,
        });
        result
    }
}

/// Where a draft goes: the results folder, the journal, and the progress line.
pub(super) struct DraftSink<'a> {
    pub(super) out_dir: Option<&'a std::path::Path>,
    pub(super) journal: &'a Journal,
    pub(super) progress: &'a dyn ProgressSink,
}

/// A draft written and journaled.
pub(super) struct WrittenDraft {
    /// Its JSON file, relative to the results folder.
    pub(super) json_file: String,
    /// Its `notification-drafted` record.
    pub(super) seq: u64,
    /// The JSON as written.
    pub(super) bytes: Vec<u8>,
    /// What result.json says of it.
    pub(super) result: NotificationResult,
}

/// Writes a draft's JSON and Markdown files under `notifications/`, journals them, and
/// tells the progress line; `None` when it could not be written (logged and journaled;
/// the run goes on). `at` is when the draft's clock started, for its time to draft.
pub(super) fn write_draft(
    sink: &DraftSink<'_>,
    draft: &crate::notification::Draft,
    at: Instant,
    deliver_to: Option<String>,
) -> Option<WrittenDraft> {
    let (iteration, kind) = (draft.iteration, draft.kind);
    let stem = format!("{NOTIFICATIONS_DIR}/iteration-{iteration}-{}", kind.id());
    let json_file = format!("{stem}.json");
    let md_file = format!("{stem}.md");
    // Serialising plain data with string keys cannot fail.
    let mut bytes = serde_json::to_vec_pretty(draft).unwrap_or_default();
    bytes.push(b'\n');
    let markdown = crate::notification::render_markdown(draft);
    if let Err(error) = write_files(sink.out_dir, &json_file, &bytes, &md_file, &markdown) {
        let error = chain(&error);
        tracing::warn!(%error, kind = kind.id(), "cannot write a notification draft; the run goes on");
        sink.journal.record(
            "notification-draft-failed",
            json!({"iteration": iteration, "kind": kind.id(), "error": error}),
            false,
        );
        return None;
    }
    let time_to_draft = Instant::now().saturating_duration_since(at);
    let (seq, _) = sink.journal.record_with_seq(
        "notification-drafted",
        json!({
            "iteration": iteration,
            "kind": kind.id(),
            "file": json_file,
            "markdown": md_file,
            "sha256": hex(&Sha256::digest(&bytes)),
            "awarenessAt": draft.awareness_at,
            "deadlineAt": draft.deadline_at,
            "timeToDraftMs": ms(time_to_draft),
            "deliverTo": deliver_to,
        }),
        false,
    );
    let (known, estimated, unknown) = draft.counts();
    let result = NotificationResult {
        iteration,
        kind: kind.id().to_owned(),
        awareness_at: draft.awareness_at,
        deadline_at: draft.deadline_at,
        drafted_at: draft.drafted_at,
        time_to_draft_ms: ms(time_to_draft),
        file: json_file.clone(),
        mandatory_flags_missing: draft.mandatory_flags_missing(),
        fields_known: known,
        fields_estimated: estimated,
        fields_unknown: unknown,
        journal_seq: seq,
        delivery: None,
    };
    sink.progress.progress(&Progress::Drafted {
        iteration,
        kind: kind.id().to_owned(),
        file: md_file,
        after: time_to_draft,
    });
    Some(WrittenDraft {
        json_file,
        seq,
        bytes,
        result,
    })
}

fn write_files(
    out_dir: Option<&std::path::Path>,
    json_file: &str,
    json: &[u8],
    md_file: &str,
    markdown: &str,
) -> Result<(), DraftWriteError> {
    let Some(dir) = out_dir else {
        return Ok(());
    };
    std::fs::create_dir_all(dir.join(NOTIFICATIONS_DIR)).map_err(DraftWriteError::Folder)?;
    crate::notification::write_file(&dir.join(json_file), json)?;
    crate::notification::write_file(&dir.join(md_file), markdown.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::notification::{AckRequest, IncidentFault};

    const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");

    /// The quick start with DORA drafts, delivery to `deliver` and two roles to acknowledge.
    fn spec(deliver: &str) -> Spec {
        let text = QUICKSTART.replace(
            "    dora: false",
            &format!(
                "    dora: true\n    deliver: {{url: '{deliver}', timeout: 2s}}\n  coordination: {{roles: [incident-commander, communications], timeout: 5s}}"
            ),
        );
        crate::spec::load_str("quickstart.yaml", &text)
            .expect("the changed quick start is valid")
            .spec
    }

    struct Fixture {
        dir: tempfile::TempDir,
        notifier: Notifier,
        shown: Arc<Mutex<Vec<Progress>>>,
    }

    impl Fixture {
        fn new(deliver: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let journal = Arc::new(Journal::create(&dir.path().join("journal.jsonl")).unwrap());
            let shown = Arc::new(Mutex::new(Vec::new()));
            let sink = shown.clone();
            let progress = Arc::new(move |p: &Progress| sink.lock().unwrap().push(p.clone()));
            let notifier = Notifier::new(
                &spec(deliver),
                Some(dir.path().to_owned()),
                journal,
                Clock::start(),
                progress,
            );
            Self {
                dir,
                notifier,
                shown,
            }
        }

        fn records(&self, kind: &str) -> Vec<Value> {
            crate::journal::read_verified(&self.dir.path().join("journal.jsonl"))
                .unwrap()
                .into_iter()
                .filter(|r| r["kind"] == kind)
                .collect()
        }

        fn shown(&self) -> Vec<Progress> {
            self.shown.lock().unwrap().clone()
        }
    }

    fn incident() -> Incident {
        Incident {
            experiment: "quickstart".into(),
            run_id: "1-abc".into(),
            iteration: 1,
            declared_seq: 1,
            awareness_at: crate::time::Timestamp::now(),
            detected_by: "synthetic-monitor".into(),
            detection_type: "probe-fails".into(),
            detection_evidence: vec![7],
            started_at: Some(crate::time::Timestamp::now()),
            faults: vec![IncidentFault {
                name: "freeze".into(),
                fault_type: "process-pause".into(),
                targets: vec!["frontend/0".into()],
                evidence: vec![3, 4],
            }],
            replicas: BTreeMap::from([("frontend".to_owned(), 3)]),
            failed_probes: vec!["api".into()],
            observations: 10,
            failures: 4,
            outage: Duration::from_millis(900),
            observations_seq: Some(6),
            ongoing: true,
            observed_until: None,
            time_scale: 1.0,
        }
    }

    fn guard(cancel: &CancellationToken) -> Guard {
        Guard::new(cancel.clone(), Instant::now() + Duration::from_secs(60))
    }

    #[tokio::test]
    async fn every_draft_is_written_journaled_and_shown() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        f.notifier.draft(&incident(), Instant::now());
        assert!(f.notifier.has_notifications());
        let drafted = f.records("notification-drafted");
        assert_eq!(drafted.len(), 3);
        for record in &drafted {
            let file = f.dir.path().join(record["data"]["file"].as_str().unwrap());
            let bytes = std::fs::read(&file).unwrap();
            assert_eq!(
                record["data"]["sha256"],
                hex(&Sha256::digest(&bytes)).as_str()
            );
            let markdown = f
                .dir
                .path()
                .join(record["data"]["markdown"].as_str().unwrap());
            assert!(markdown.exists());
        }
        // Delivery was not prepared, so nothing is delivered.
        assert!(drafted[0]["data"]["deliverTo"].is_null());
        let shown = f.shown();
        let drafts: Vec<&str> = shown
            .iter()
            .filter_map(|p| match p {
                Progress::Drafted { kind, .. } => Some(kind.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            drafts,
            [
                "nis2-early-warning",
                "nis2-incident-notification",
                "dora-initial-notification"
            ]
        );
        let notifications = f.notifier.take_notifications();
        assert_eq!(
            notifications[0].file,
            "notifications/iteration-1-nis2-early-warning.json"
        );
        assert_eq!(
            notifications[0].journal_seq,
            drafted[0]["seq"].as_u64().unwrap()
        );
        assert!(notifications.iter().all(|n| n.delivery.is_none()));
    }

    #[tokio::test]
    async fn a_draft_that_cannot_be_written_says_why_and_the_run_goes_on() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        std::fs::write(f.dir.path().join(NOTIFICATIONS_DIR), "in the way").unwrap();
        f.notifier.draft(&incident(), Instant::now());
        assert!(!f.notifier.has_notifications());
        let failed = f.records("notification-draft-failed");
        assert_eq!(failed.len(), 3);
        let error = failed[0]["data"]["error"].as_str().unwrap();
        let cause = std::fs::create_dir_all(f.dir.path().join(NOTIFICATIONS_DIR)).unwrap_err();
        assert_eq!(error, format!("cannot create notifications/: {cause}"));
    }

    #[tokio::test]
    async fn an_early_warning_that_cannot_be_delivered_says_why() {
        let mut f = Fixture::new("http://{workload.web}/hook");
        let context = crate::spec::placeholders::Context::default();
        let unavailable = f
            .notifier
            .prepare_delivery(&context)
            .expect("not deliverable");
        assert_eq!(
            unavailable,
            "notification delivery is not possible: unknown placeholder `{workload.web}`"
        );
        f.notifier.draft(&incident(), Instant::now());
        let notifications = f.notifier.take_notifications();
        let delivery = notifications[0]
            .delivery
            .as_ref()
            .expect("the early warning's");
        assert_eq!(
            delivery.error.as_deref().unwrap(),
            "delivery was not possible: unknown placeholder `{workload.web}`"
        );
        assert!(notifications[1].delivery.is_none());
        assert_eq!(f.records("notification-delivery-failed").len(), 1);
    }

    #[tokio::test]
    async fn a_delivery_that_fails_is_collected_before_the_run_ends() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        let context = crate::spec::placeholders::Context::default();
        assert!(f.notifier.prepare_delivery(&context).is_none());
        f.notifier.draft(&incident(), Instant::now());
        let drafted = f.records("notification-drafted");
        assert_eq!(drafted[0]["data"]["deliverTo"], "http://127.0.0.1:1/hook");
        f.notifier
            .finish_deliveries(&guard(&CancellationToken::new()))
            .await;
        let notifications = f.notifier.take_notifications();
        let delivery = notifications[0].delivery.as_ref().expect("collected");
        assert!(delivery.delivered_at.is_none());
        assert!(delivery.error.is_some());
        assert_eq!(f.records("notification-delivery-failed").len(), 1);
        assert!(
            f.shown()
                .iter()
                .any(|p| matches!(p, Progress::Delivered { status: None, .. }))
        );
    }

    #[tokio::test]
    async fn with_nothing_detected_every_role_is_missing_with_the_reason() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        let stop = f
            .notifier
            .await_acknowledgements(true, &guard(&CancellationToken::new()))
            .await;
        assert!(stop.is_none());
        let missing = f.records("not-acknowledged");
        assert_eq!(missing.len(), 2);
        assert_eq!(
            missing[0]["data"]["reason"],
            "nothing was detected, so there was nothing to acknowledge"
        );
        let coordination = f.notifier.coordination().expect("roles were named");
        assert_eq!(coordination.acknowledgements.len(), 2);
    }

    #[tokio::test]
    async fn the_wait_ends_once_every_role_acknowledged_and_each_is_shown_once() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        let acks = f.notifier.acks().expect("roles were named");
        f.notifier.set_awareness(1, Instant::now());
        f.notifier.set_awareness(2, Instant::now());
        assert_eq!(f.records("awareness").len(), 1);
        acks.acknowledge("incident-commander", Instant::now(), AckRequest::default())
            .unwrap();
        f.notifier.report_acknowledgements();
        f.notifier.report_acknowledgements();
        let later = acks.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            later
                .acknowledge("communications", Instant::now(), AckRequest::default())
                .unwrap();
        });
        let stop = f
            .notifier
            .await_acknowledgements(true, &guard(&CancellationToken::new()))
            .await;
        assert!(stop.is_none());
        assert_eq!(f.records("acknowledgements-awaited").len(), 1);
        assert!(f.records("not-acknowledged").is_empty());
        let acknowledged = f
            .shown()
            .iter()
            .filter(|p| matches!(p, Progress::Acknowledged { .. }))
            .count();
        assert_eq!(acknowledged, 2);
    }

    #[tokio::test]
    async fn an_interrupted_wait_stops_the_run_and_names_why_roles_are_missing() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        f.notifier.set_awareness(1, Instant::now());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let stop = f
            .notifier
            .await_acknowledgements(true, &guard(&cancel))
            .await;
        assert_eq!(stop, Some(Stop::Interrupted));
        let missing = f.records("not-acknowledged");
        assert_eq!(
            missing[0]["data"]["reason"],
            "the run was interrupted first"
        );
    }

    #[tokio::test]
    async fn after_a_run_that_ended_early_nobody_is_waited_for() {
        let mut f = Fixture::new("http://127.0.0.1:1/hook");
        f.notifier.set_awareness(1, Instant::now());
        let stop = f
            .notifier
            .await_acknowledgements(false, &guard(&CancellationToken::new()))
            .await;
        assert!(stop.is_none());
        assert!(f.records("acknowledgements-awaited").is_empty());
        assert_eq!(
            f.records("not-acknowledged")[0]["data"]["reason"],
            "the run ended early"
        );
    }
}
