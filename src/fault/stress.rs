//! CPU stress: a helper process of firedrill's own that keeps workers busy.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::process::Child;

use super::effect::{ProcessStatus, ticks_per_second};
use super::helper::Lifetime;
use super::{BuildFault, Built, Effect, Fault, FaultContext, FaultError, Intent, local_platform};
use crate::platform::Platform;
use crate::platform::local::process;
use crate::spec;

/// How long a helper outlives its planned duration before it stops by itself, in case
/// nobody is left to stop it.
pub(super) const SELF_STOP_MARGIN: Duration = Duration::from_secs(5);

/// Runs `firedrill internal cpu-stress` for the fault's duration.
#[derive(Debug)]
pub struct CpuStressFault {
    spec: spec::CpuStress,
    firedrill: PathBuf,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl CpuStressFault {
    /// A CPU stress fault that starts `firedrill` as its helper.
    pub fn new(spec: spec::CpuStress, firedrill: PathBuf) -> Self {
        Self {
            spec,
            firedrill,
            child: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl Fault for CpuStressFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        Ok(Intent {
            fault: self.spec.name.clone(),
            fault_type: "cpu-stress".into(),
            changes: vec![format!(
                "start a helper process keeping {} worker(s) {}% busy on this host",
                self.spec.workers, self.spec.load
            )],
            undo: vec!["kill the helper process group".into()],
            targets: vec!["host".into()],
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let limit = self.spec.duration.get() + SELF_STOP_MARGIN;
        let mut cmd = process::command(&self.firedrill);
        cmd.args(["internal", "cpu-stress", "--workers"])
            .arg(self.spec.workers.to_string())
            .arg("--load")
            .arg(self.spec.load.to_string())
            .arg("--for")
            .arg(format!("{}ms", limit.as_millis()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child =
            process::spawn(&mut cmd, &format!("fault {}", self.spec.name)).map_err(|source| {
                FaultError::Helper {
                    fault: self.spec.name.clone(),
                    source,
                }
            })?;
        *self.child.lock().await = Some(child);
        Ok(())
    }

    async fn verify(&self) -> Effect {
        let Some(pid) = helper_pid(&self.child).await else {
            return Effect::ineffective("the helper process is not running");
        };
        let Some(before) = ProcessStatus::read(pid) else {
            return Effect::ineffective(format!("the helper process {pid} has ended"));
        };
        let window = Duration::from_millis(500);
        tokio::time::sleep(window).await;
        let Some(after) = ProcessStatus::read(pid).filter(|s| s.state != 'Z') else {
            return Effect::ineffective(format!("the helper process {pid} has ended"));
        };
        let used = (after.cpu_ticks - before.cpu_ticks) as f64 / ticks_per_second() as f64;
        // What the workers would burn alone on this host; a loaded host gives less, so a
        // quarter of it is enough to show the stress in force.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let expected = f64::from(self.spec.workers).min(cores) * f64::from(self.spec.load) / 100.0
            * window.as_secs_f64();
        let shown = format!(
            "helper process {pid} used {:.2} s of CPU in {:.1} s ({} worker(s) at {}% would use {expected:.2} s)",
            used,
            window.as_secs_f64(),
            self.spec.workers,
            self.spec.load
        );
        if used >= expected * 0.25 {
            Effect::verified(shown)
        } else {
            Effect::ineffective(shown)
        }
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        stop_helper(&self.child).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

/// The pid of a helper process while it runs.
pub(super) async fn helper_pid(slot: &tokio::sync::Mutex<Option<Child>>) -> Option<u32> {
    slot.lock().await.as_ref().and_then(Child::id)
}

/// Stops a helper process if one is running; idempotent.
pub(super) async fn stop_helper(
    slot: &tokio::sync::Mutex<Option<Child>>,
) -> Result<Vec<String>, FaultError> {
    let Some(mut child) = slot.lock().await.take() else {
        return Ok(Vec::new());
    };
    let pid = child.id();
    process::terminate(&mut child, Duration::from_millis(500)).await;
    Ok(vec![match pid {
        Some(pid) => format!("helper process {pid} stopped"),
        None => "helper process had already exited".to_owned(),
    }])
}

/// Keeps `workers` threads busy for `load` percent of each 100 ms slice, for the helper's
/// lifetime. Runs in the helper process.
pub fn burn_cpu(workers: u32, load: u8, life: Lifetime) {
    let load = f64::from(load.clamp(1, 100)) / 100.0;
    let slice = Duration::from_millis(100);
    let busy = slice.mul_f64(load);
    let handles: Vec<_> = (0..workers.max(1))
        .map(|_| {
            std::thread::spawn(move || {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                while !life.over() {
                    let slice_start = Instant::now();
                    while slice_start.elapsed() < busy {
                        // xorshift keeps the core busy without being optimised away.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        std::hint::black_box(x);
                    }
                    if let Some(rest) = slice.checked_sub(slice_start.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

impl BuildFault for spec::CpuStress {
    fn build(&self, platform: &Platform, ctx: &FaultContext) -> Built {
        local_platform(self, platform)?;
        Ok(Arc::new(CpuStressFault::new(
            self.clone(),
            ctx.firedrill.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_cpu_stops_on_time() {
        let start = Instant::now();
        burn_cpu(1, 50, Lifetime::new(Duration::from_millis(300), None));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
