//! Process faults: kill replicas with a signal, or pause them with SIGSTOP.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::effect::{CHECK_WINDOW, LOCAL_EVERY, ProcessStatus, within, within_local};
use super::{
    BuildFault, Built, Effect, Fault, FaultContext, FaultError, Intent, local_platform,
    local_replicas,
};
use crate::platform::Platform;
use crate::platform::local::{Incarnation, Replica};
use crate::spec::{self, Selector};

/// The replicas of one workload and those a fault chose among them.
#[derive(Debug)]
struct Targets {
    fault: String,
    replicas: Vec<Arc<Replica>>,
    chosen: Mutex<Vec<(Arc<Replica>, Incarnation)>>,
}

impl Targets {
    fn new(fault: &str, replicas: Vec<Arc<Replica>>) -> Self {
        Self {
            fault: fault.to_owned(),
            replicas,
            chosen: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Arc<Replica>, Incarnation)>> {
        self.chosen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks the replicas the selector names among those running now, and describes the
    /// change and its undo for each.
    fn plan(
        &self,
        fault_type: &str,
        selector: &Selector,
        change: impl Fn(&Replica, Incarnation) -> String,
        undo: impl Fn(&Replica, Incarnation) -> String,
    ) -> Result<Intent, FaultError> {
        let mut running: Vec<_> = self
            .replicas
            .iter()
            .filter_map(|r| r.incarnation().map(|i| (r.clone(), i)))
            .collect();
        if running.is_empty() {
            return Err(FaultError::NoTargets {
                fault: self.fault.clone(),
                workload: selector.workload().to_owned(),
            });
        }
        fastrand::shuffle(&mut running);
        running.truncate(selector.count(self.replicas.len()));
        running.sort_by_key(|(r, _)| r.index);
        let intent = Intent {
            fault: self.fault.clone(),
            fault_type: fault_type.to_owned(),
            changes: running.iter().map(|(r, i)| change(r, *i)).collect(),
            undo: running.iter().map(|(r, i)| undo(r, *i)).collect(),
            targets: running.iter().map(|(r, _)| r.id()).collect(),
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        };
        *self.lock() = running;
        Ok(intent)
    }

    /// Sends `signal` to every chosen replica still in the incarnation that was chosen.
    fn signal_all(&self, signal: i32) -> Result<(), FaultError> {
        for (replica, inc) in self.lock().iter() {
            replica
                .signal(*inc, signal)
                .map_err(|source| FaultError::Signal {
                    fault: self.fault.clone(),
                    target: replica.id(),
                    source,
                })?;
        }
        Ok(())
    }

    fn affected(&self, workload: &str) -> usize {
        self.lock()
            .iter()
            .filter(|(r, _)| r.workload == workload)
            .count()
    }

    /// The chosen replicas, without holding the lock.
    fn chosen(&self) -> Vec<(Arc<Replica>, Incarnation)> {
        self.lock().clone()
    }
}

/// Whether a killed replica's process ended: gone or replaced by the platform.
async fn ended(replica: &Replica, inc: Incarnation, signal: &str) -> Effect {
    within(
        CHECK_WINDOW,
        LOCAL_EVERY,
        || {
            let now = replica.incarnation();
            std::future::ready(
                if now != Some(inc) || ProcessStatus::exited(ProcessStatus::read(inc.pid)) {
                    Some(Effect::verified(match now {
                        Some(next) if next != inc => format!(
                            "{} (pid {}) ended after {signal}; restarted as pid {}",
                            replica.id(),
                            inc.pid,
                            next.pid
                        ),
                        _ => format!("{} (pid {}) ended after {signal}", replica.id(), inc.pid),
                    }))
                } else {
                    None
                },
            )
        },
        || {
            Effect::ineffective(format!(
                "{} (pid {}) still runs {} s after {signal}: it ignores or handles the signal",
                replica.id(),
                inc.pid,
                CHECK_WINDOW.as_secs()
            ))
        },
    )
    .await
}

/// Whether a paused replica's process is stopped (state T).
async fn stopped(replica: &Replica, inc: Incarnation) -> Effect {
    let mut last = None;
    let look = || {
        if replica.incarnation() != Some(inc) {
            return Some(Effect::ineffective(format!(
                "{} (pid {}) had ended before the pause: nothing was paused",
                replica.id(),
                inc.pid
            )));
        }
        match ProcessStatus::read(inc.pid) {
            Some(s) if s.state == 'T' => Some(Effect::verified(format!(
                "{} (pid {}) is stopped (state T)",
                replica.id(),
                inc.pid
            ))),
            status if ProcessStatus::exited(status) => Some(Effect::ineffective(format!(
                "{} (pid {}) has ended: nothing is paused",
                replica.id(),
                inc.pid
            ))),
            status => {
                last = status.map(|s| s.state);
                None
            }
        }
    };
    let found = within_local(look).await;
    found.unwrap_or_else(|| {
        Effect::ineffective(format!(
            "{} (pid {}) is in state {} {} s after SIGSTOP, not stopped",
            replica.id(),
            inc.pid,
            last.unwrap_or('?'),
            CHECK_WINDOW.as_secs()
        ))
    })
}

/// Sends a signal to the selected replicas' process groups.
#[derive(Debug)]
pub struct ProcessKillFault {
    spec: spec::ProcessKill,
    targets: Targets,
    /// The replicas signalled, kept for the check: revert forgets the targets, and the
    /// check may look after it.
    signalled: Mutex<Vec<(Arc<Replica>, Incarnation)>>,
}

impl ProcessKillFault {
    /// A kill fault over the replicas of its workload.
    pub fn new(spec: spec::ProcessKill, replicas: Vec<Arc<Replica>>) -> Self {
        Self {
            targets: Targets::new(&spec.name, replicas),
            spec,
            signalled: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Fault for ProcessKillFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let signal = self.spec.signal.name();
        self.targets.plan(
            "process-kill",
            &self.spec.select,
            |r, i| format!("{signal} to process group {} ({})", i.pid, r.id()),
            |r, _| format!("start {} again if its restart policy left it down", r.id()),
        )
    }

    async fn inject(&self) -> Result<(), FaultError> {
        *self.signalled.lock().unwrap_or_else(|e| e.into_inner()) = self.targets.chosen();
        self.targets.signal_all(self.spec.signal.number())
    }

    fn outlives_revert(&self) -> bool {
        true
    }

    async fn verify(&self) -> Effect {
        let signal = self.spec.signal.name();
        let signalled = self
            .signalled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut effects = Vec::new();
        for (replica, inc) in signalled {
            effects.push(ended(&replica, inc, signal).await);
        }
        Effect::all(effects)
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let chosen = std::mem::take(&mut *self.targets.lock());
        Ok(chosen
            .into_iter()
            .map(|(replica, _)| {
                replica.ensure_running();
                format!("{} running or restarting", replica.id())
            })
            .collect())
    }

    fn affected(&self, workload: &str) -> usize {
        self.targets.affected(workload)
    }
}

/// Stops the selected replicas' process groups with SIGSTOP until revert sends SIGCONT.
#[derive(Debug)]
pub struct ProcessPauseFault {
    spec: spec::ProcessPause,
    targets: Targets,
}

impl ProcessPauseFault {
    /// A pause fault over the replicas of its workload.
    pub fn new(spec: spec::ProcessPause, replicas: Vec<Arc<Replica>>) -> Self {
        Self {
            targets: Targets::new(&spec.name, replicas),
            spec,
        }
    }
}

#[async_trait]
impl Fault for ProcessPauseFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        self.targets.plan(
            "process-pause",
            &self.spec.select,
            |r, i| format!("SIGSTOP to process group {} ({})", i.pid, r.id()),
            |r, i| format!("SIGCONT to process group {} ({})", i.pid, r.id()),
        )
    }

    async fn inject(&self) -> Result<(), FaultError> {
        self.targets.signal_all(libc::SIGSTOP)
    }

    async fn verify(&self) -> Effect {
        let mut effects = Vec::new();
        for (replica, inc) in self.targets.chosen() {
            effects.push(stopped(&replica, inc).await);
        }
        Effect::all(effects)
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let chosen = std::mem::take(&mut *self.targets.lock());
        let mut done = Vec::new();
        let mut first_error = None;
        for (replica, inc) in chosen {
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
                    self.targets.lock().push((replica.clone(), inc));
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
        self.targets.affected(workload)
    }
}

impl BuildFault for spec::ProcessKill {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let local = local_platform(self, platform)?;
        let replicas = local_replicas(local, &self.name, self.select.workload())?;
        Ok(Arc::new(ProcessKillFault::new(self.clone(), replicas)))
    }
}

impl BuildFault for spec::ProcessPause {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let local = local_platform(self, platform)?;
        let replicas = local_replicas(local, &self.name, self.select.workload())?;
        Ok(Arc::new(ProcessPauseFault::new(self.clone(), replicas)))
    }
}
