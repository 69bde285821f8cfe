//! Memory pressure: a helper process of firedrill's own that allocates and touches memory.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncBufReadExt;
use tokio::process::Child;

use super::effect::{ProcessStatus, within_local};
use super::helper::Lifetime;
use super::stress::{SELF_STOP_MARGIN, helper_pid, stop_helper};
use super::{BuildFault, Built, Effect, Fault, FaultContext, FaultError, Intent, local_platform};
use crate::platform::Platform;
use crate::platform::local::process;
use crate::spec;

/// The largest share of the memory available at injection that a fault may take.
const MAX_SHARE_OF_AVAILABLE: f64 = 0.5;

/// Runs `firedrill internal memory-pressure` for the fault's duration.
#[derive(Debug)]
pub struct MemoryPressureFault {
    spec: spec::MemoryPressure,
    firedrill: PathBuf,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl MemoryPressureFault {
    /// A memory pressure fault that starts `firedrill` as its helper.
    pub fn new(spec: spec::MemoryPressure, firedrill: PathBuf) -> Self {
        Self {
            spec,
            firedrill,
            child: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl Fault for MemoryPressureFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        if let Some(available) = available_mib() {
            let limit = (available as f64 * MAX_SHARE_OF_AVAILABLE) as u64;
            if self.spec.size_mib > limit {
                return Err(FaultError::Unsafe {
                    fault: self.spec.name.clone(),
                    message: format!(
                        "{} MiB is more than half of the {available} MiB available now (limit {limit} MiB)",
                        self.spec.size_mib
                    ),
                });
            }
        }
        Ok(Intent {
            fault: self.spec.name.clone(),
            fault_type: "memory-pressure".into(),
            changes: vec![format!(
                "start a helper process holding {} MiB on this host",
                self.spec.size_mib
            )],
            undo: vec!["kill the helper process group".into()],
            targets: vec!["host".into()],
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let helper_err = |source| FaultError::Helper {
            fault: self.spec.name.clone(),
            source,
        };
        let limit = self.spec.duration.get() + SELF_STOP_MARGIN;
        let mut cmd = process::command(&self.firedrill);
        cmd.args(["internal", "memory-pressure", "--mib"])
            .arg(self.spec.size_mib.to_string())
            .arg("--for")
            .arg(format!("{}ms", limit.as_millis()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child =
            process::spawn(&mut cmd, &format!("fault {}", self.spec.name)).map_err(helper_err)?;
        // The fault is in place once the memory is touched, not when the process starts.
        let stdout = child.stdout.take();
        *self.child.lock().await = Some(child);
        if let Some(stdout) = stdout {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
            if !matches!(ready, Ok(Ok(Some(ref l))) if l == "ready") {
                let _ = stop_helper(&self.child).await;
                return Err(helper_err(std::io::Error::other(
                    "the helper did not report its memory as allocated",
                )));
            }
        }
        Ok(())
    }

    async fn verify(&self) -> Effect {
        let Some(pid) = helper_pid(&self.child).await else {
            return Effect::ineffective("the helper process is not running");
        };
        let wanted_kib = self.spec.size_mib * 1024;
        let mut held = 0;
        let look = || match ProcessStatus::read(pid) {
            status if ProcessStatus::exited(status) => Some(Effect::ineffective(format!(
                "the helper process {pid} has ended"
            ))),
            Some(s) if s.rss_kib * 10 >= wanted_kib * 9 => Some(Effect::verified(format!(
                "helper process {pid} holds {} MiB resident ({} MiB asked)",
                s.rss_kib / 1024,
                self.spec.size_mib
            ))),
            Some(s) => {
                held = s.rss_kib;
                None
            }
            None => None,
        };
        let found = within_local(look).await;
        found.unwrap_or_else(|| {
            Effect::ineffective(format!(
                "helper process {pid} holds only {} MiB resident of the {} MiB asked (swapped out, or refused by a limit)",
                held / 1024,
                self.spec.size_mib
            ))
        })
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        stop_helper(&self.child).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

/// MemAvailable from /proc/meminfo, in MiB.
fn available_mib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Allocates and touches `mib` MiB, prints `ready`, and holds it for the helper's lifetime.
/// Runs in the helper process.
pub fn hold_memory(mib: u64, life: Lifetime) -> std::io::Result<()> {
    use std::io::Write;
    let bytes = usize::try_from(mib.saturating_mul(1024 * 1024))
        .map_err(|_| std::io::Error::other("size too large"))?;
    let mut block = vec![0u8; bytes];
    // Touch every page so the memory is really resident, not just reserved.
    for i in (0..bytes).step_by(4096) {
        block[i] = 1;
    }
    std::hint::black_box(&block);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    life.hold();
    drop(block);
    Ok(())
}

impl BuildFault for spec::MemoryPressure {
    fn build(&self, platform: &Platform, ctx: &FaultContext) -> Built {
        local_platform(self, platform)?;
        Ok(Arc::new(MemoryPressureFault::new(
            self.clone(),
            ctx.firedrill.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_available_memory() {
        assert!(available_mib().unwrap() > 0);
    }
}
