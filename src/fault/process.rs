//! Process faults: kill replicas with a signal, or pause them with SIGSTOP.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Fault, FaultError, Intent};
use crate::platform::local::{Incarnation, Replica};
use crate::spec::{self, Selector};

type Targets = Mutex<Vec<(Arc<Replica>, Incarnation)>>;

/// Picks the replicas a selector names among those running now.
fn select(
    fault: &str,
    selector: &Selector,
    replicas: &[Arc<Replica>],
) -> Result<Vec<(Arc<Replica>, Incarnation)>, FaultError> {
    let mut running: Vec<_> = replicas
        .iter()
        .filter_map(|r| r.incarnation().map(|i| (r.clone(), i)))
        .collect();
    if running.is_empty() {
        return Err(FaultError::NoTargets {
            fault: fault.to_owned(),
            workload: selector.workload().to_owned(),
        });
    }
    fastrand::shuffle(&mut running);
    running.truncate(selector.count(replicas.len()));
    running.sort_by_key(|(r, _)| r.index);
    Ok(running)
}

fn lock(t: &Targets) -> std::sync::MutexGuard<'_, Vec<(Arc<Replica>, Incarnation)>> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends a signal to the selected replicas' process groups.
#[derive(Debug)]
pub struct ProcessKillFault {
    spec: spec::ProcessKill,
    replicas: Vec<Arc<Replica>>,
    targets: Targets,
}

impl ProcessKillFault {
    /// A kill fault over the replicas of its workload.
    pub fn new(spec: spec::ProcessKill, replicas: Vec<Arc<Replica>>) -> Self {
        Self {
            spec,
            replicas,
            targets: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Fault for ProcessKillFault {
    fn plan(&self) -> Result<Intent, FaultError> {
        let chosen = select(&self.spec.name, &self.spec.select, &self.replicas)?;
        let intent = Intent {
            fault: self.spec.name.clone(),
            fault_type: "process-kill".into(),
            changes: chosen
                .iter()
                .map(|(r, i)| {
                    format!(
                        "{} to process group {} ({})",
                        self.spec.signal.name(),
                        i.pid,
                        r.id()
                    )
                })
                .collect(),
            undo: chosen
                .iter()
                .map(|(r, _)| format!("start {} again if its restart policy left it down", r.id()))
                .collect(),
            targets: chosen.iter().map(|(r, _)| r.id()).collect(),
        };
        *lock(&self.targets) = chosen;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let targets = lock(&self.targets).clone();
        for (replica, inc) in targets {
            replica
                .signal(inc, self.spec.signal.number())
                .map_err(|source| FaultError::Signal {
                    fault: self.spec.name.clone(),
                    target: replica.id(),
                    source,
                })?;
        }
        Ok(())
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let targets = std::mem::take(&mut *lock(&self.targets));
        Ok(targets
            .into_iter()
            .map(|(replica, _)| {
                replica.ensure_running();
                format!("{} running or restarting", replica.id())
            })
            .collect())
    }

    fn affected(&self, workload: &str) -> usize {
        lock(&self.targets)
            .iter()
            .filter(|(r, _)| r.workload == workload)
            .count()
    }
}

/// Stops the selected replicas' process groups with SIGSTOP until revert sends SIGCONT.
#[derive(Debug)]
pub struct ProcessPauseFault {
    spec: spec::ProcessPause,
    replicas: Vec<Arc<Replica>>,
    targets: Targets,
}

impl ProcessPauseFault {
    /// A pause fault over the replicas of its workload.
    pub fn new(spec: spec::ProcessPause, replicas: Vec<Arc<Replica>>) -> Self {
        Self {
            spec,
            replicas,
            targets: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Fault for ProcessPauseFault {
    fn plan(&self) -> Result<Intent, FaultError> {
        let chosen = select(&self.spec.name, &self.spec.select, &self.replicas)?;
        let intent = Intent {
            fault: self.spec.name.clone(),
            fault_type: "process-pause".into(),
            changes: chosen
                .iter()
                .map(|(r, i)| format!("SIGSTOP to process group {} ({})", i.pid, r.id()))
                .collect(),
            undo: chosen
                .iter()
                .map(|(r, i)| format!("SIGCONT to process group {} ({})", i.pid, r.id()))
                .collect(),
            targets: chosen.iter().map(|(r, _)| r.id()).collect(),
        };
        *lock(&self.targets) = chosen;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let targets = lock(&self.targets).clone();
        for (replica, inc) in targets {
            replica
                .signal(inc, libc::SIGSTOP)
                .map_err(|source| FaultError::Signal {
                    fault: self.spec.name.clone(),
                    target: replica.id(),
                    source,
                })?;
        }
        Ok(())
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let targets = std::mem::take(&mut *lock(&self.targets));
        let mut done = Vec::new();
        let mut first_error = None;
        for (replica, inc) in targets {
            match replica.signal(inc, libc::SIGCONT) {
                Ok(true) => done.push(format!(
                    "SIGCONT to process group {} ({})",
                    inc.pid,
                    replica.id()
                )),
                Ok(false) => done.push(format!(
                    "{} was replaced meanwhile; nothing to resume",
                    replica.id()
                )),
                Err(source) => {
                    // Kept, so that the final rollback tries this one again.
                    lock(&self.targets).push((replica.clone(), inc));
                    first_error.get_or_insert(FaultError::Signal {
                        fault: self.spec.name.clone(),
                        target: replica.id(),
                        source,
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    fn affected(&self, workload: &str) -> usize {
        lock(&self.targets)
            .iter()
            .filter(|(r, _)| r.workload == workload)
            .count()
    }
}
