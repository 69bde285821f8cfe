//! The faults in place right now, and reverting them.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::Instrument as _;

use crate::error::chain;
use crate::fault::{Fault, FaultError, Intent};
use crate::journal::Journal;
use crate::result::RollbackResult;

/// Every fault injected and not yet reverted. Shared with the caller of the run so that
/// the faults are reverted even if the run's task panics.
#[derive(Default)]
pub struct Rollback {
    active: Mutex<Vec<Active>>,
    journal: Mutex<Option<Arc<Journal>>>,
    /// The experiment's name and the run's id, for the revert spans and metrics.
    run: Mutex<(String, String)>,
}

/// A fault in place: its name, its type and the fault.
type Active = (String, &'static str, Arc<dyn Fault>);

impl std::fmt::Debug for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().iter().map(|(n, _, _)| n.clone()).collect();
        f.debug_struct("Rollback").field("active", &names).finish()
    }
}

impl Rollback {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the journal that an emergency rollback records into.
    pub fn attach_journal(&self, journal: Arc<Journal>) {
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(journal);
    }

    /// Names the experiment and the run in revert spans and metrics.
    pub fn attach_run(&self, experiment: &str, run_id: &str) {
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) =
            (experiment.to_owned(), run_id.to_owned());
    }

    /// Reverts everything with the attached journal; for a caller whose run panicked.
    pub async fn revert_all_emergency(&self) -> RollbackResult {
        let journal = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| Arc::new(Journal::discard()));
        journal.record("run-panicked", json!({}), true);
        self.revert_all(&journal).await
    }

    /// Registers a fault of type `fault_type` before it is injected.
    pub fn push(&self, name: &str, fault_type: &'static str, fault: Arc<dyn Fault>) {
        self.lock().push((name.to_owned(), fault_type, fault));
    }

    /// Names of the faults in place.
    pub fn active(&self) -> Vec<String> {
        self.lock().iter().map(|(n, _, _)| n.clone()).collect()
    }

    /// Replicas of `workload` affected by the faults in place.
    pub fn affected(&self, workload: &str) -> usize {
        self.lock()
            .iter()
            .map(|(_, _, f)| f.affected(workload))
            .sum()
    }

    /// Reverts one fault and records it; on failure the fault stays registered so that the
    /// final rollback tries again.
    pub async fn revert_one(
        &self,
        name: &str,
        fault: &Arc<dyn Fault>,
        journal: &Journal,
    ) -> Result<Vec<String>, FaultError> {
        journal.record("fault-revert-started", json!({"fault": name}), false);
        let fault_type = self
            .lock()
            .iter()
            .find(|(_, _, f)| Arc::ptr_eq(f, fault))
            .map_or("unknown", |(_, t, _)| *t);
        let (experiment, run_id) = self.run.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let span = tracing::info_span!(
            "revert",
            experiment.name = %experiment,
            run.id = %run_id,
            fault.name = %name,
            "fault.type" = fault_type,
            error = tracing::field::Empty,
        );
        let reverted = fault.revert().instrument(span.clone()).await;
        let metrics = crate::telemetry::metrics::run_metrics();
        metrics.reverted(&experiment, fault_type, reverted.is_ok());
        match reverted {
            Ok(actions) => {
                self.lock().retain(|(_, _, f)| !Arc::ptr_eq(f, fault));
                journal.record(
                    "fault-reverted",
                    json!({"fault": name, "actions": actions}),
                    true,
                );
                Ok(actions)
            }
            Err(e) => {
                let msg = chain(&e);
                span.record("error", msg.as_str());
                journal.record(
                    "fault-revert-failed",
                    json!({"fault": name, "error": msg}),
                    true,
                );
                Err(e)
            }
        }
    }

    /// Reverts every fault still in place, newest first, trying each twice.
    pub async fn revert_all(&self, journal: &Journal) -> RollbackResult {
        let mut result = RollbackResult::default();
        let pending: Vec<_> = self.lock().iter().rev().cloned().collect();
        journal.record(
            "rollback-started",
            json!({"faults": pending.iter().map(|(n, _, _)| n.clone()).collect::<Vec<_>>()}),
            true,
        );
        for (name, _, fault) in pending {
            let mut outcome = self.revert_one(&name, &fault, journal).await;
            if outcome.is_err() {
                outcome = self.revert_one(&name, &fault, journal).await;
            }
            match outcome {
                Ok(_) => result.reverted.push(name),
                Err(e) => result.failed.push(format!("{name}: {}", chain(&e))),
            }
        }
        journal.record(
            "rollback-finished",
            json!({"reverted": result.reverted, "failed": result.failed}),
            true,
        );
        result
    }
}

/// A change a journal says was about to be made and never says was undone.
#[derive(Clone, Debug)]
pub struct PendingIntent {
    /// The `seq` of its `fault-intent` record.
    pub seq: u64,
    /// What was about to change and how to undo it.
    pub intent: Intent,
}

/// Every `fault-intent` of a journal's records without a later `fault-reverted` of the
/// same fault, oldest first. A revert answers the latest open intent of its fault, as the
/// engine reverts a fault before the same fault is injected again.
pub fn pending_intents(records: &[serde_json::Value]) -> Vec<PendingIntent> {
    let mut open: Vec<PendingIntent> = Vec::new();
    for rec in records {
        let data = &rec["data"];
        match rec["kind"].as_str() {
            Some("fault-intent") => {
                if let Ok(intent) = serde_json::from_value::<Intent>(data.clone()) {
                    open.push(PendingIntent {
                        seq: rec["seq"].as_u64().unwrap_or_default(),
                        intent,
                    });
                }
            }
            Some("fault-reverted") => {
                let fault = data["fault"].as_str().unwrap_or_default();
                if let Some(i) = open.iter().rposition(|p| p.intent.fault == fault) {
                    open.remove(i);
                }
            }
            _ => {}
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::fault::FaultError;

    /// A fault that fails its first `failures` reverts.
    struct Flaky {
        failures: u32,
        reverts: AtomicU32,
    }

    #[async_trait]
    impl Fault for Flaky {
        async fn plan(&self) -> Result<Intent, FaultError> {
            unreachable!("not planned in these tests")
        }
        async fn inject(&self) -> Result<(), FaultError> {
            Ok(())
        }
        async fn verify(&self) -> crate::fault::Effect {
            unreachable!("not checked in these tests")
        }
        async fn revert(&self) -> Result<Vec<String>, FaultError> {
            let n = self.reverts.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                Err(FaultError::Unsafe {
                    fault: "flaky".into(),
                    message: "not yet".into(),
                })
            } else {
                Ok(vec!["undone".into()])
            }
        }
        fn affected(&self, _: &str) -> usize {
            1
        }
    }

    fn flaky(failures: u32) -> Arc<Flaky> {
        Arc::new(Flaky {
            failures,
            reverts: AtomicU32::new(0),
        })
    }

    #[tokio::test]
    async fn reverts_everything_and_retries_once() {
        let rb = Rollback::new();
        let (a, b, c) = (flaky(0), flaky(1), flaky(5));
        rb.push("a", "test", a.clone());
        rb.push("b", "test", b.clone());
        rb.push("c", "test", c.clone());
        assert_eq!(rb.affected("web"), 3);
        let journal = Journal::discard();
        let result = rb.revert_all(&journal).await;
        assert_eq!(result.reverted, vec!["b".to_owned(), "a".to_owned()]);
        assert_eq!(result.failed.len(), 1);
        assert!(result.failed[0].starts_with("c:"), "{:?}", result.failed);
        assert_eq!(b.reverts.load(Ordering::SeqCst), 2, "retried once");
        assert_eq!(
            rb.active(),
            vec!["c".to_owned()],
            "a failed revert stays registered"
        );
    }

    #[tokio::test]
    async fn emergency_rollback_records_into_the_attached_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let rb = Rollback::new();
        rb.attach_journal(Arc::new(Journal::create(&path).unwrap()));
        rb.push("a", "test", flaky(0));
        let result = rb.revert_all_emergency().await;
        assert_eq!(result.reverted, vec!["a".to_owned()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"run-panicked\"") && text.contains("\"fault-reverted\""));
        crate::journal::read_verified(&path).unwrap();
    }

    #[test]
    fn intents_without_a_revert_are_pending() {
        let intent = |seq: u64, fault: &str| {
            json!({"seq": seq, "kind": "fault-intent", "data": {
                "fault": fault, "type": "scale", "changes": [], "undo": [], "targets": [],
                "restore": [{"action": "delete-network-policy", "namespace": "shop", "name": fault}]
            }})
        };
        let reverted = |seq: u64, fault: &str| json!({"seq": seq, "kind": "fault-reverted", "data": {"fault": fault}});
        let records = vec![
            intent(1, "a"),
            reverted(2, "a"),
            intent(3, "a"),
            intent(4, "b"),
            json!({"seq": 5, "kind": "fault-revert-failed", "data": {"fault": "b"}}),
            intent(6, "c"),
            reverted(7, "c"),
        ];
        let pending: Vec<(u64, String)> = pending_intents(&records)
            .into_iter()
            .map(|p| (p.seq, p.intent.fault))
            .collect();
        assert_eq!(pending, vec![(3, "a".to_owned()), (4, "b".to_owned())]);
    }
}
