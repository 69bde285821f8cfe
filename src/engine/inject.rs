//! Injecting one fault and reverting it: the plan, the blast-radius guardrail, the journaled
//! intent before the change, the change itself, and what the iteration records of it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::iterate::Iteration;
use super::{Progress, Runner, Stop};
use crate::error::chain;
use crate::fault::security::SecurityOutcome;
use crate::fault::{Effect, Fault, FaultError, Intent};
use crate::platform::Platform;
use crate::platform::kubernetes::RecordedIntent;
use crate::result::{FaultRecord, IterationStatus};
use crate::spec::FaultSpec;
use crate::telemetry::metrics::run_metrics;

/// A change that was attempted: what it intended, the intent's record, when its action
/// began, and the iteration's record of it so far.
struct Attempt {
    intent: Intent,
    intent_seq: u64,
    began: Instant,
    record: FaultRecord,
}

impl Runner {
    /// Injects the spec's fault `i`, built as `f`. Whatever it changed is registered for
    /// rollback before the change begins. The index of its record in the iteration.
    pub(super) async fn inject(
        &mut self,
        it: &mut Iteration,
        i: usize,
        f: Arc<dyn Fault>,
        platform: &Platform,
    ) -> Result<usize, Stop> {
        let fspec = self.exp.spec.faults[i].clone();
        let intent = self.plan(it, &fspec, &f).await?;
        self.check_blast_radius(&fspec, &intent, &f, platform)
            .await?;
        // Listed before the first change, so that only events that come after it count.
        if let Err(stop) = self.watch_warnings(it, platform).await {
            let _ = f.revert().await;
            return Err(stop);
        }
        // Written (and synced) before the change, so a crashed run can be rolled back.
        let (intent_seq, _) = self.record.journal.record_with_seq(
            "fault-intent",
            serde_json::to_value(&intent).unwrap_or_default(),
            true,
        );
        // The cluster learns how to undo the change before it is made, as the journal did:
        // a runner killed with its pod loses its journal, not its restore record.
        self.mirror_intent(it, &fspec, &f, &intent, intent_seq, platform)
            .await?;
        self.faults
            .rollback
            .push(fspec.name(), fspec.type_name(), f.clone());
        self.track_pods(it, &fspec, &intent, platform).await;
        // A canary's action begins inside `inject`; an alert may answer it before the call
        // returns, so its time to detect counts from here.
        let began = Instant::now();
        // An injection may take long (a canary's burst of requests, an API that is slow to
        // answer): a stop or the run's deadline cuts it short. The fault is registered for
        // rollback already, so whatever it changed is reverted.
        let injected = tokio::select! {
            biased;
            stop = self.guard.stopped_while(|| format!(
                "the run's safety timeout passed while `{}` was being injected",
                fspec.name()
            )) => return Err(stop),
            injected = f.inject() => injected,
        };
        let record = FaultRecord {
            name: fspec.name().to_owned(),
            fault_type: fspec.type_name().to_owned(),
            targets: intent.targets.clone(),
            injected_at: None,
            reverted_at: None,
            error: None,
            probes: Default::default(),
            probes_alone: Default::default(),
            security: None,
            detected_at: None,
            detected_by: None,
            time_to_detect_ms: None,
            effect: None,
        };
        let attempt = Attempt {
            intent,
            intent_seq,
            began,
            record,
        };
        match injected {
            Ok(()) => {
                self.injected(it, &fspec, &f, attempt);
                Ok(it.faults.len() - 1)
            }
            Err(e) => Err(self.injection_failed(it, &fspec, &e, attempt)),
        }
    }

    /// What the fault would change; a refusal stops the run before any change.
    async fn plan(
        &mut self,
        it: &mut Iteration,
        fspec: &FaultSpec,
        f: &Arc<dyn Fault>,
    ) -> Result<Intent, Stop> {
        f.plan().await.map_err(|e| {
            let msg = chain(&e);
            let data = json!({"fault": fspec.name(), "error": msg});
            self.event(it, "fault-refused", data, msg.clone());
            Stop::Aborted(msg)
        })
    }

    /// Adds the intent's undo records to the run's restore record, when it keeps one; when
    /// that fails, the change is not made and the run stops.
    async fn mirror_intent(
        &mut self,
        it: &mut Iteration,
        fspec: &FaultSpec,
        f: &Arc<dyn Fault>,
        intent: &Intent,
        intent_seq: u64,
        platform: &Platform,
    ) -> Result<(), Stop> {
        let Platform::Kubernetes(k, _) = platform else {
            return Ok(());
        };
        let Some(record) = k.restore_record() else {
            return Ok(());
        };
        let recorded = RecordedIntent {
            fault: fspec.name().to_owned(),
            restore: intent.restore.clone(),
        };
        let Err(e) = record.add(intent_seq, &recorded).await else {
            return Ok(());
        };
        let msg = format!(
            "`{}` was not injected: the restore record {} could not be written, so the cluster would not know how to undo it: {}",
            fspec.name(),
            record.path(),
            chain(&e)
        );
        self.event(
            it,
            "restore-record-failed",
            json!({"fault": fspec.name(), "record": record.path(), "seq": intent_seq, "error": msg}),
            msg.clone(),
        );
        // Nothing was changed; the revert closes the journal's intent (and undoes whatever
        // planning may have prepared).
        let _ = self
            .faults
            .rollback
            .revert_one(fspec.name(), f, &self.record.journal)
            .await;
        Err(Stop::Aborted(msg))
    }

    /// Deletes the run's restore record once every fault is reverted; kept (and journaled
    /// as kept) otherwise, for `firedrill cleanup`.
    pub(super) async fn drop_restore_record(
        &mut self,
        platform: Option<&Platform>,
        rollback: &crate::result::RollbackResult,
    ) {
        let Some(Platform::Kubernetes(k, _)) = platform else {
            return;
        };
        let Some(record) = k.restore_record() else {
            return;
        };
        let journal = &self.record.journal;
        if !rollback.failed.is_empty() {
            journal.record(
                "restore-record-kept",
                json!({"record": record.path(), "reason": "a revert failed"}),
                true,
            );
            return;
        }
        match record.delete().await {
            Ok(true) => {
                journal.record(
                    "restore-record-deleted",
                    json!({"record": record.path()}),
                    true,
                );
            }
            Ok(false) => {}
            Err(e) => {
                let error = chain(&e);
                tracing::warn!(record = %record.path(), error = %error, "cannot delete the restore record");
                journal.record(
                    "restore-record-kept",
                    json!({"record": record.path(), "reason": error}),
                    true,
                );
            }
        }
    }

    /// Blast radius: what active faults already hold plus what this one would take must
    /// stay within `safety.maxAffectedPercent` of the workload.
    async fn check_blast_radius(
        &self,
        fspec: &FaultSpec,
        intent: &Intent,
        f: &Arc<dyn Fault>,
        platform: &Platform,
    ) -> Result<(), Stop> {
        let Some(sel) = fspec.selector() else {
            return Ok(());
        };
        let total = match intent.pool {
            Some(pool) => pool,
            None => platform.workload_size(sel.workload()).await.unwrap_or(0),
        };
        let held: usize = self.faults.rollback.affected(sel.workload());
        let max_percent = self.exp.spec.safety.max_affected_percent;
        let limit = (total as f64 * max_percent / 100.0).floor() as usize;
        if held + intent.targets.len() <= limit.max(1).min(total) {
            return Ok(());
        }
        let _ = f.revert().await;
        Err(Stop::Aborted(format!(
            "fault `{}` would affect {} of {} replicas of `{}` with {} already affected, above safety.maxAffectedPercent {}%",
            fspec.name(),
            intent.targets.len(),
            total,
            sel.workload(),
            held,
            max_percent
        )))
    }

    /// Follows the pods a `pod-delete` or `pod-evict` removes, from before the change so
    /// that it sees every pod go and come.
    async fn track_pods(
        &mut self,
        it: &mut Iteration,
        fspec: &FaultSpec,
        intent: &Intent,
        platform: &Platform,
    ) {
        let Platform::Kubernetes(k, _) = platform else {
            return;
        };
        if !fspec.removes_pods() {
            return;
        }
        let Some(w) = fspec.kubernetes_workload() else {
            return;
        };
        let spec = &self.exp.spec;
        let detection = spec
            .detection
            .as_ref()
            .map_or(Duration::ZERO, |d| d.timeout.get());
        let limit = fspec.duration().get() + spec.recovery.timeout.get() + detection;
        match k.track(w, intent.targets.clone(), limit).await {
            Ok(()) => {
                // A bare pod has no controller to replace it: nothing to wait for.
                if k.cluster()
                    .workload(w)
                    .is_some_and(|w| w.kind != crate::spec::WorkloadKind::Pod)
                {
                    it.pending_pods.extend(intent.targets.iter().cloned());
                }
            }
            Err(e) => {
                let msg = chain(&e);
                self.event(
                    it,
                    "tracking-unavailable",
                    json!({"fault": fspec.name(), "error": msg}),
                    format!("per-pod recovery is not measured: {msg}"),
                );
            }
        }
    }

    /// The fault took effect: journaled, shown, and, for a security drill, its outcome.
    fn injected(
        &mut self,
        it: &mut Iteration,
        fspec: &FaultSpec,
        f: &Arc<dyn Fault>,
        attempt: Attempt,
    ) {
        let Attempt {
            intent,
            intent_seq,
            began,
            mut record,
        } = attempt;
        let now = Instant::now();
        run_metrics().injected(&self.exp.metadata.name, fspec.type_name());
        if it.state.injected.is_none() {
            self.traffic_mark(now, it.n, crate::traffic::Period::Fault);
        }
        it.state.mark_injected(now);
        it.state.open_window(it.faults.len(), now);
        record.injected_at = Some(self.record.clock.at(now));
        let injected_seq = self.event(
            it,
            "fault-injected",
            json!({"fault": fspec.name(), "type": fspec.type_name(), "targets": intent.targets, "changes": intent.changes}),
            format!("{} ({}) on {}", fspec.name(), fspec.type_name(), intent.targets.join(", ")),
        );
        self.record.progress(&Progress::Injected {
            fault: fspec.name().to_owned(),
            targets: intent.targets,
        });
        let mut evidence = vec![intent_seq, injected_seq];
        if let Some(outcome) = f.security() {
            evidence.push(self.security_event(it, fspec.name(), &outcome));
            match &outcome {
                SecurityOutcome::Canary(_) => {
                    it.state.detection.add_canary(
                        it.faults.len(),
                        fspec.name(),
                        fspec.canary_signals().unwrap_or_default(),
                        began,
                    );
                }
                // A finding: policy let through what it must refuse.
                SecurityOutcome::Prevention(p) if !p.refused => it.status = IterationStatus::Failed,
                SecurityOutcome::Prevention(_) => {}
            }
            record.security = Some(outcome);
        }
        it.faults.push(record);
        it.fault_evidence.push(evidence);
    }

    /// The fault did not take effect: recorded, and the run stops.
    fn injection_failed(
        &mut self,
        it: &mut Iteration,
        fspec: &FaultSpec,
        e: &FaultError,
        attempt: Attempt,
    ) -> Stop {
        let Attempt {
            intent_seq,
            mut record,
            ..
        } = attempt;
        let msg = chain(e);
        tracing::Span::current().record("error", msg.as_str());
        record.error = Some(msg.clone());
        it.faults.push(record);
        it.fault_evidence.push(vec![intent_seq]);
        self.event(
            it,
            "fault-injection-failed",
            json!({"fault": fspec.name(), "error": msg}),
            msg.clone(),
        );
        Stop::Aborted(msg)
    }

    /// Journals what a canary did or what a prevention check met: a refusal is the
    /// evidence that policy holds, an acceptance is a finding.
    fn security_event(
        &mut self,
        it: &mut Iteration,
        fault: &str,
        outcome: &SecurityOutcome,
    ) -> u64 {
        let status = |s: Option<u16>| s.map_or_else(|| "no status".to_owned(), |s| s.to_string());
        let (kind, detail) = match outcome {
            SecurityOutcome::Canary(c) => (
                "canary-performed",
                format!("{fault}: {}", c.actions.join("; ")),
            ),
            SecurityOutcome::Prevention(p) if p.refused => (
                "prevention-refused",
                format!(
                    "{fault}: {} was refused ({}): {}",
                    p.action,
                    status(p.status),
                    p.message
                ),
            ),
            SecurityOutcome::Prevention(p) => (
                "prevention-accepted",
                format!(
                    "{fault}: {} was ACCEPTED ({}); undone at once: {}",
                    p.action,
                    status(p.status),
                    p.undone.join("; ")
                ),
            ),
        };
        let mut data = serde_json::to_value(outcome).unwrap_or_default();
        if let Some(obj) = data.as_object_mut() {
            obj.insert("fault".into(), json!(fault));
        }
        self.event(it, kind, data, detail)
    }

    /// What the check of the fault whose record is `index` found: journaled as its
    /// evidence; a fault not in force fails the iteration, which then shows nothing.
    pub(super) fn checked(&mut self, it: &mut Iteration, index: usize, effect: Effect) {
        let Some(record) = it.faults.get_mut(index) else {
            return;
        };
        let fault = record.name.clone();
        record.effect = Some(effect.clone());
        let detail = format!("{fault}: {effect}");
        let seq = self.event(
            it,
            "fault-effect",
            json!({"fault": fault, "effect": effect}),
            detail,
        );
        if let Some(evidence) = it.fault_evidence.get_mut(index) {
            evidence.push(seq);
        }
        if effect.is_ineffective() {
            it.status = IterationStatus::Failed;
        }
        self.record.progress(&Progress::Effect { fault, effect });
    }

    /// Reverts a fault at the end of its duration; the rollback registry journals it.
    pub(super) async fn revert(&mut self, it: &mut Iteration, name: &str, f: &Arc<dyn Fault>) {
        let result = self
            .faults
            .rollback
            .revert_one(name, f, &self.record.journal)
            .await;
        let result = result.map_err(|e| chain(&e));
        let now = Instant::now();
        if let Some(i) = it.faults.iter().rposition(|r| r.name == name) {
            let rec = &mut it.faults[i];
            rec.reverted_at = Some(self.record.clock.at(now));
            if let Err(e) = &result {
                rec.error = Some(e.clone());
            }
            it.state.close_window(i, now);
        }
        // The rollback registry has journaled the revert; the iteration keeps it too.
        let (kind, detail) = match &result {
            Ok(done) => ("fault-reverted", format!("{name}: {}", done.join("; "))),
            Err(e) => ("fault-revert-failed", format!("{name}: {e}")),
        };
        it.events.push(self.record.event(now, kind, detail));
        if result.is_ok() {
            self.record.progress(&Progress::Reverted {
                fault: name.to_owned(),
            });
        }
    }
}
