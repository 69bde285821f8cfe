//! The run's side of notifications and coordination: drafting at awareness, delivering in
//! the background, and waiting for the roles' acknowledgements after the last iteration.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{Iteration, Progress, Runner, Stop};
use crate::detection::webhook::WebhookServer;
use crate::error::chain;
use crate::journal::{Journal, hex};
use crate::notification::{Deliverer, DraftKind, Incident, IncidentFault};
use crate::platform::Platform;
use crate::result::{DeliveryResult, NotificationResult};
use crate::spec::{DetectionSignal, Phase, Target};
use crate::time::{Clock, ms};

/// Where the drafts go, relative to the results folder.
const NOTIFICATIONS_DIR: &str = "notifications";

/// A delivery still running: the notification it belongs to.
pub(super) struct PendingDelivery {
    notification: usize,
    url: String,
}

impl Runner {
    /// Prepares delivery once the workloads' addresses are known (the URL may name them).
    pub(super) fn prepare_delivery(&mut self, platform: &Platform) {
        let Some(deliver) = self
            .exp
            .spec
            .notification
            .as_ref()
            .and_then(|n| n.deliver.clone())
        else {
            return;
        };
        let prepared = crate::spec::placeholders::expand(&deliver.url, platform.template())
            .map_err(|e| e.to_string())
            .and_then(|url| Deliverer::new(&url, deliver.timeout.get()).map_err(|e| chain(&e)));
        if let Err(error) = &prepared {
            tracing::warn!(%error, "notification delivery is not possible; drafts are still written");
            self.run_event(
                "notification-delivery-unavailable",
                format!("notification delivery is not possible: {error}"),
            );
        }
        self.deliverer = Some(prepared);
    }

    /// At an iteration's first detection: sets the run's awareness for coordination and
    /// writes the iteration's drafts.
    pub(super) fn on_detection(
        &mut self,
        it: &mut Iteration,
        at: Instant,
        by: &str,
        detected_seq: u64,
    ) {
        if let Some(acks) = &self.acks
            && acks.set_awareness(at)
        {
            let url = self.acknowledge_url.clone().unwrap_or_default();
            self.journal.record(
                "awareness",
                json!({"iteration": it.n, "at": self.clock.rfc3339(at), "roles": acks.roles(), "acknowledgeAt": url}),
                false,
            );
        }
        if self.exp.spec.notification.is_some() {
            self.draft_notifications(it, at, by, detected_seq);
        }
    }

    fn draft_notifications(
        &mut self,
        it: &mut Iteration,
        at: Instant,
        by: &str,
        detected_seq: u64,
    ) {
        let Some(spec) = self.exp.spec.notification.clone() else {
            return;
        };
        let incident = self.incident(it, at, by, detected_seq);
        let mut kinds = vec![
            DraftKind::Nis2EarlyWarning,
            DraftKind::Nis2IncidentNotification,
        ];
        if spec.dora {
            kinds.push(DraftKind::DoraInitialNotification);
        }
        let mut early_warning: Option<(String, u64)> = None;
        for kind in kinds {
            let drafted = Instant::now();
            let draft = crate::notification::build(
                kind,
                &incident,
                &spec,
                self.clock.wall(drafted),
                early_warning.as_ref().map(|(f, s)| (f.as_str(), *s)),
            );
            let stem = format!("{NOTIFICATIONS_DIR}/iteration-{}-{}", it.n, kind.as_str());
            let json_file = format!("{stem}.json");
            let md_file = format!("{stem}.md");
            // Serialising plain data with string keys cannot fail.
            let mut bytes = serde_json::to_vec_pretty(&draft).unwrap_or_default();
            bytes.push(b'\n');
            let markdown = crate::notification::render_markdown(&draft);
            if let Err(error) = self.write_draft(&json_file, &bytes, &md_file, &markdown) {
                tracing::warn!(%error, kind = kind.as_str(), "cannot write a notification draft; the run goes on");
                self.journal.record(
                    "notification-draft-failed",
                    json!({"iteration": it.n, "kind": kind.as_str(), "error": error}),
                    false,
                );
                continue;
            }
            let written = Instant::now();
            let time_to_draft = written.saturating_duration_since(at);
            let deliver = kind == DraftKind::Nis2EarlyWarning;
            let deliver_to = match (&self.deliverer, deliver) {
                (Some(Ok(d)), true) => Some(d.shown_url()),
                _ => None,
            };
            let (seq, _) = self.journal.record_with_seq(
                "notification-drafted",
                json!({
                    "iteration": it.n,
                    "kind": kind.as_str(),
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
            self.notifications.push(NotificationResult {
                iteration: it.n,
                kind: kind.as_str().to_owned(),
                awareness_at: draft.awareness_at.clone(),
                deadline_at: draft.deadline_at.clone(),
                drafted_at: draft.drafted_at.clone(),
                time_to_draft_ms: ms(time_to_draft),
                file: json_file.clone(),
                mandatory_flags_missing: draft.mandatory_flags_missing(),
                fields_known: known,
                fields_estimated: estimated,
                fields_unknown: unknown,
                journal_seq: seq,
                delivery: None,
            });
            self.progress.progress(&Progress::Drafted {
                iteration: it.n,
                kind: kind.as_str().to_owned(),
                file: md_file,
                after: time_to_draft,
            });
            if kind == DraftKind::Nis2EarlyWarning {
                early_warning = Some((json_file, seq));
            }
            if deliver {
                self.deliver(it.n, kind, at, bytes);
            }
        }
    }

    fn write_draft(
        &self,
        json_file: &str,
        json: &[u8],
        md_file: &str,
        markdown: &str,
    ) -> Result<(), String> {
        let Some(dir) = &self.opts.out_dir else {
            return Ok(());
        };
        let write = |file: &str, bytes: &[u8]| {
            let path = dir.join(file);
            crate::notification::write_file(&path, bytes).map_err(|e| chain(&e))
        };
        std::fs::create_dir_all(dir.join(NOTIFICATIONS_DIR))
            .map_err(|e| format!("cannot create {NOTIFICATIONS_DIR}/: {e}"))?;
        write(json_file, json)?;
        write(md_file, markdown.as_bytes())
    }

    /// What the run knows at `at`, the iteration's first detection, and the records it
    /// rests on; journals the observations so far so that they are evidence too.
    fn incident(&mut self, it: &Iteration, at: Instant, by: &str, detected_seq: u64) -> Incident {
        let spec = &self.exp.spec;
        let probes = &spec.steady_state.probes;
        let mut failed_probes = Vec::new();
        let mut per_probe = serde_json::Map::new();
        for (p, rec) in probes.iter().zip(&it.state.recorders) {
            let count = rec.phase(Phase::Fault).count() + rec.phase(Phase::Recovery).count();
            let errors = rec.phase(Phase::Fault).errors() + rec.phase(Phase::Recovery).errors();
            if errors > 0 {
                failed_probes.push(p.name().to_owned());
            }
            per_probe.insert(
                p.name().to_owned(),
                json!({"count": count, "errors": errors}),
            );
        }
        let (observations, failures) = it.state.recovery.counts();
        let outage = it.state.recovery.outage_until(at);
        let (observations_seq, _) = self.journal.record_with_seq(
            "observations-summarised",
            json!({
                "iteration": it.n,
                "at": self.clock.rfc3339(at),
                "since": "injection",
                "observations": observations,
                "failures": failures,
                "availability": crate::measure::availability(observations, failures),
                "outageMs": ms(outage),
                "failedProbes": failed_probes,
                "probes": per_probe,
            }),
            false,
        );
        let detection_type = spec
            .detection
            .iter()
            .flat_map(|d| &d.signals)
            .find(|s| s.name() == by)
            .map_or("unknown", |s| match s {
                DetectionSignal::ProbeFails(_) => "probe-fails",
                DetectionSignal::Webhook(_) => "webhook",
                DetectionSignal::KubernetesEvent(_) => "kubernetes-event",
                DetectionSignal::AlertmanagerAlert(_) => "alertmanager-alert",
                DetectionSignal::PrometheusAlert(_) => "prometheus-alert",
            });
        let mut detection_evidence = vec![detected_seq];
        detection_evidence.extend(it.alert_seq);
        let replicas: BTreeMap<String, usize> = match &spec.target {
            Target::Local(target) => target
                .workloads
                .iter()
                .map(|w| (w.name.clone(), w.replicas as usize))
                .collect(),
            Target::Kubernetes(_) => self.pod_counts.clone(),
        };
        let faults = it
            .faults
            .iter()
            .zip(&it.fault_evidence)
            .filter(|(f, _)| f.injected_at.is_some())
            .map(|(f, evidence)| IncidentFault {
                name: f.name.clone(),
                fault_type: f.fault_type.clone(),
                targets: f.targets.clone(),
                evidence: evidence.clone(),
            })
            .collect();
        Incident {
            experiment: self.exp.metadata.name.clone(),
            run_id: self.run_id.clone(),
            iteration: it.n,
            declared_seq: self.run_started_seq,
            awareness_at: self.clock.wall(at),
            detected_by: by.to_owned(),
            detection_type: detection_type.to_owned(),
            detection_evidence,
            started_at: it.state.injected.map(|t| self.clock.wall(t)),
            faults,
            replicas,
            failed_probes,
            observations,
            failures,
            outage,
            observations_seq: Some(observations_seq),
            ongoing: it.state.recovery.recovered.is_none(),
        }
    }

    /// Posts the early warning in the background; the run collects the outcome before it ends.
    fn deliver(&mut self, iteration: u32, kind: DraftKind, detected: Instant, body: Vec<u8>) {
        let index = self.notifications.len() - 1;
        let deliverer = match &self.deliverer {
            None => return,
            Some(Ok(d)) => d.clone(),
            Some(Err(error)) => {
                let error = format!("delivery was not possible: {error}");
                self.journal.record(
                    "notification-delivery-failed",
                    json!({"iteration": iteration, "kind": kind.as_str(), "error": error}),
                    false,
                );
                self.notifications[index].delivery = Some(DeliveryResult {
                    url: String::new(),
                    delivered_at: None,
                    time_to_deliver_ms: None,
                    status: None,
                    error: Some(error),
                });
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
    pub(super) async fn finish_deliveries(&mut self) {
        while !self.deliveries.is_empty() {
            let joined = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
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
            let result = outcome.unwrap_or_else(|| DeliveryResult {
                url: pending.url.clone(),
                delivered_at: None,
                time_to_deliver_ms: None,
                status: None,
                error: Some("the delivery task failed".into()),
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
            n.delivery = Some(DeliveryResult {
                url: pending.url,
                delivered_at: None,
                time_to_deliver_ms: None,
                status: None,
                error: Some(error),
            });
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
    /// comes first; a missing role is journaled as a finding.
    pub(super) async fn await_acknowledgements(&mut self, wait: bool) -> Option<Stop> {
        let acks = self.acks.clone()?;
        let timeout = self.exp.spec.coordination.as_ref()?.timeout.get();
        self.report_acknowledgements();
        let mut stop = None;
        let mut why = "nothing was detected, so there was nothing to acknowledge".to_owned();
        if let Some(awareness) = acks.awareness() {
            why = format!(
                "no acknowledgement within {} of awareness",
                humantime::format_duration(timeout)
            );
            let until = (awareness + timeout).min(self.run_deadline);
            let mut changed = acks.subscribe();
            let mut announced = false;
            while wait && !acks.missing().is_empty() && Instant::now() < until {
                if !announced {
                    announced = true;
                    let missing = acks.missing();
                    self.journal.record(
                        "acknowledgements-awaited",
                        json!({"missing": missing, "until": self.clock.rfc3339(until)}),
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
                    () = self.cancel.cancelled() => {
                        why = "the run was interrupted first".into();
                        stop = Some(Stop::Interrupted);
                        break;
                    }
                    () = tokio::time::sleep_until(until) => {}
                    Ok(()) = changed.changed() => self.report_acknowledgements(),
                }
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

    /// The webhook also serves acknowledgements; note where.
    pub(super) fn note_acknowledge_url(&mut self, server: &WebhookServer) {
        let Some(acks) = self.acks.clone() else {
            return;
        };
        let url = server.acknowledge_url("{role}");
        self.run_event("acknowledgements-listening", url.clone());
        self.progress.progress(&Progress::AcknowledgeAt {
            url: url.clone(),
            roles: acks.roles().to_vec(),
        });
        self.acknowledge_url = Some(url);
    }
}

/// One delivery of an early warning, reported and journaled as soon as its outcome is known.
struct Delivery {
    deliverer: Deliverer,
    journal: Arc<Journal>,
    progress: Arc<dyn super::ProgressSink>,
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
        let (iteration, kind) = (self.iteration, self.kind.as_str());
        let mut after = None;
        match outcome {
            Ok(posted) if posted.delivered() => {
                let took = posted.at.saturating_duration_since(self.detected);
                after = Some(took);
                result.status = Some(posted.status);
                result.delivered_at = Some(self.clock.rfc3339(posted.at));
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
