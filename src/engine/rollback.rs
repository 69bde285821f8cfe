//! The faults in place right now, and reverting them.

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::fault::Fault;
use crate::journal::Journal;
use crate::report::result::RollbackResult;

/// Every fault injected and not yet reverted. Shared with the caller of the run so that
/// the faults are reverted even if the run's task panics.
#[derive(Default)]
pub struct Rollback {
    active: Mutex<Vec<(String, Arc<dyn Fault>)>>,
    journal: Mutex<Option<Arc<Journal>>>,
}

impl std::fmt::Debug for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().iter().map(|(n, _)| n.clone()).collect();
        f.debug_struct("Rollback").field("active", &names).finish()
    }
}

impl Rollback {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Arc<dyn Fault>)>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the journal that an emergency rollback records into.
    pub fn attach_journal(&self, journal: Arc<Journal>) {
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(journal);
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

    /// Registers a fault before it is injected.
    pub fn push(&self, name: &str, fault: Arc<dyn Fault>) {
        self.lock().push((name.to_owned(), fault));
    }

    /// Names of the faults in place.
    pub fn active(&self) -> Vec<String> {
        self.lock().iter().map(|(n, _)| n.clone()).collect()
    }

    /// Replicas of `workload` affected by the faults in place.
    pub fn affected(&self, workload: &str) -> usize {
        self.lock().iter().map(|(_, f)| f.affected(workload)).sum()
    }

    /// Reverts one fault and records it; on failure the fault stays registered so that the
    /// final rollback tries again.
    pub async fn revert_one(
        &self,
        name: &str,
        fault: &Arc<dyn Fault>,
        journal: &Journal,
    ) -> Result<Vec<String>, String> {
        journal.record("fault-revert-started", json!({"fault": name}), false);
        match fault.revert().await {
            Ok(actions) => {
                self.lock().retain(|(_, f)| !Arc::ptr_eq(f, fault));
                journal.record(
                    "fault-reverted",
                    json!({"fault": name, "actions": actions}),
                    true,
                );
                Ok(actions)
            }
            Err(e) => {
                let msg = crate::engine::chain(&e);
                journal.record(
                    "fault-revert-failed",
                    json!({"fault": name, "error": msg}),
                    true,
                );
                Err(msg)
            }
        }
    }

    /// Reverts every fault still in place, newest first, trying each twice.
    pub async fn revert_all(&self, journal: &Journal) -> RollbackResult {
        let mut result = RollbackResult::default();
        let pending: Vec<_> = self.lock().iter().rev().cloned().collect();
        journal.record(
            "rollback-started",
            json!({"faults": pending.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()}),
            true,
        );
        for (name, fault) in pending {
            let mut outcome = self.revert_one(&name, &fault, journal).await;
            if outcome.is_err() {
                outcome = self.revert_one(&name, &fault, journal).await;
            }
            match outcome {
                Ok(_) => result.reverted.push(name),
                Err(e) => result.failed.push(format!("{name}: {e}")),
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
