//! `pod-cpu-stress`, `pod-memory-stress` and `pod-disk-fill`: firedrill's own helper
//! (`firedrill internal ...`) added to each selected pod as an ephemeral container
//! (`pods/ephemeralcontainers`), without privilege.
//!
//! - The helper meets the restricted PodSecurity profile and takes the target container's
//!   user and group, so that a disk fill may write where the container writes.
//! - It runs in the pod's cgroup: its load counts against the pod's own limits.
//! - It stops by itself at the fault's end, even when firedrill is gone: it is given its
//!   deadline both as a duration and as a wall-clock instant.
//! - Revert (and `firedrill rollback`) stops it early through `pods/exec`
//!   (`firedrill internal stop`); a disk fill removes its file as it stops.
//! - What cannot be undone: an ephemeral container cannot be removed, so it stays listed
//!   in the pod's spec (terminated) until the pod is replaced.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::container::container_of;
use super::effect::{API_EVERY, Effect, within};
use super::helper::{HelperStatus, StatusReport, unix_ms};
use super::kubernetes::{kube_error, lock, pick};
use super::stress::SELF_STOP_MARGIN;
use super::{BuildFault, Built, Fault, FaultContext, FaultError, Intent, kubernetes_platform};
use crate::platform::Platform;
use crate::platform::kubernetes::{
    ApiWrite, Cluster, HelperState, PodRef, Undo, WriteAction, exec_capture, helper_state, retry,
};
use crate::spec;

/// How long a helper may take to start (its image pulled, its container created) before
/// the fault goes on without it; the proof of effect then says why it did not start.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long the helper's CPU time is watched by the proof of effect.
const CPU_WINDOW: Duration = Duration::from_millis(500);
/// The share of the memory limit a memory stress may reach without `allowOom`.
const OOM_MARGIN: f64 = 0.9;
/// Where a disk fill's volume is mounted in the helper's container.
const FILL_MOUNT: &str = "/firedrill/fill";

family! {
    /// What a pod helper does.
    PodHelperChange {
        /// Keep CPU workers busy.
        Cpu(spec::PodCpuStress),
        /// Hold memory.
        Memory(spec::PodMemoryStress),
        /// Fill a volume.
        Disk(spec::PodDiskFill),
    }
}

impl PodHelperChange {
    /// The container whose user, limits and mounts the helper follows.
    fn container(&self) -> Option<&str> {
        match self {
            Self::Cpu(s) => s.container.as_deref(),
            Self::Memory(s) => s.container.as_deref(),
            Self::Disk(s) => s.container.as_deref(),
        }
    }

    fn duration(&self) -> Duration {
        match self {
            Self::Cpu(s) => s.duration.get(),
            Self::Memory(s) => s.duration.get(),
            Self::Disk(s) => s.duration.get(),
        }
    }

    /// The helper's subcommand and its own arguments.
    fn helper_args(&self) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Self::Cpu(s) => vec![
                "cpu-stress".into(),
                "--workers".into(),
                s.workers.to_string(),
                "--load".into(),
                s.load.to_string(),
            ],
            Self::Memory(s) => vec![
                "memory-pressure".into(),
                "--mib".into(),
                s.size_mib.to_string(),
            ],
            Self::Disk(_) => vec!["disk-fill".into(), "--dir".into(), FILL_MOUNT.into()],
        };
        if let Self::Disk(s) = self {
            match (s.size_mib, s.fill_to_percent) {
                (Some(mib), _) => args.extend(["--mib".into(), mib.to_string()]),
                (None, Some(p)) => args.extend(["--percent".into(), p.to_string()]),
                (None, None) => {}
            }
        }
        args
    }
}

/// One pod the helper goes into.
#[derive(Clone, Debug)]
struct Placed {
    pod: PodRef,
    /// The ephemeral container's name, which also marks its helper (`--id`).
    helper: String,
    /// The container it follows.
    target: String,
    /// Its security context, from the target container.
    security: Value,
    /// The pod's CPU limit in cores, when every container has one.
    cpu_limit: Option<f64>,
    /// A disk fill's volume: its name.
    volume: Option<String>,
}

/// Runs firedrill's helper in the selected pods as an ephemeral container.
pub struct PodHelperFault {
    spec: PodHelperChange,
    cluster: Cluster,
    image: String,
    placed: Mutex<Vec<Placed>>,
}

impl PodHelperFault {
    /// A pod helper fault that runs `image` (with `firedrill` on its PATH).
    pub fn new(spec: PodHelperChange, cluster: Cluster, image: String) -> Self {
        Self {
            spec,
            cluster,
            image,
            placed: Mutex::new(Vec::new()),
        }
    }

    fn refuse(&self, message: String) -> FaultError {
        FaultError::Unsafe {
            fault: self.spec.name().to_owned(),
            message,
        }
    }

    /// The helper's command, ending at `deadline`.
    fn command(&self, p: &Placed, deadline: SystemTime) -> Vec<String> {
        let mut command = vec!["firedrill".to_owned(), "internal".to_owned()];
        command.extend(self.spec.helper_args());
        command.extend([
            "--for".to_owned(),
            format!(
                "{}ms",
                (self.spec.duration() + SELF_STOP_MARGIN).as_millis()
            ),
            "--until".to_owned(),
            unix_ms(deadline).to_string(),
            "--id".to_owned(),
            p.helper.clone(),
        ]);
        command
    }

    /// The ephemeral container as the API takes it.
    fn ephemeral(&self, p: &Placed, deadline: SystemTime) -> Value {
        let mut c = json!({
            "name": p.helper,
            "image": self.image,
            "command": self.command(p, deadline),
            "targetContainerName": Value::Null,
            "securityContext": p.security,
            "terminationMessagePolicy": "FallbackToLogsOnError",
        });
        if let Some(m) = c.as_object_mut() {
            m.remove("targetContainerName");
        }
        if let Some(volume) = &p.volume {
            c["volumeMounts"] = json!([{"name": volume, "mountPath": FILL_MOUNT}]);
        }
        c
    }

    /// Chooses the helper's container, user and mount in `pod`, refusing what would be unsafe.
    fn place(&self, p: PodRef, pod: &Pod) -> Result<Placed, FaultError> {
        let id = p.id();
        let target = container_of(pod, self.spec.container())
            .map_err(|e| self.refuse(format!("pod {id} {e}")))?;
        let spec = pod.spec.as_ref();
        let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
        let c = containers
            .iter()
            .find(|c| c.name == target)
            .ok_or_else(|| self.refuse(format!("pod {id} has no container {target}")))?;
        let limit = |c: &k8s_openapi::api::core::v1::Container, what: &str| {
            c.resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get(what))
                .map(|q| q.0.clone())
        };
        if let PodHelperChange::Memory(s) = &self.spec
            && let Some(raw) = limit(c, "memory")
        {
            let bytes = quantity(&raw).ok_or_else(|| {
                self.refuse(format!("pod {id}: cannot read memory limit {raw:?}"))
            })?;
            let asked = s.size_mib as f64 * 1024.0 * 1024.0;
            if asked >= bytes * OOM_MARGIN && !s.allow_oom {
                return Err(self.refuse(format!(
                    "{} MiB is {:.0}% of the {raw} memory limit of container {target} of pod {id}: the kernel may kill the pod's processes; set allowOom: true to allow it, or ask less",
                    s.size_mib,
                    asked * 100.0 / bytes
                )));
            }
        }
        let cpu_limit = containers
            .iter()
            .map(|c| limit(c, "cpu").and_then(|q| quantity(&q)))
            .sum::<Option<f64>>();
        let volume = match &self.spec {
            PodHelperChange::Disk(s) => {
                let mounts = c.volume_mounts.as_deref().unwrap_or_default();
                if !mounts.iter().any(|m| m.name == s.volume) {
                    let names: Vec<&str> = mounts.iter().map(|m| m.name.as_str()).collect();
                    return Err(self.refuse(format!(
                        "container {target} of pod {id} does not mount volume `{}` (it mounts: {})",
                        s.volume,
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
                Some(s.volume.clone())
            }
            _ => None,
        };
        // Restricted PodSecurity: no root, no escalation, no capabilities, the runtime's
        // seccomp profile. The user and group are the target's, when it names them.
        let theirs = c.security_context.as_ref();
        let mut security = json!({
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        if let Some(user) = theirs.and_then(|s| s.run_as_user) {
            security["runAsUser"] = json!(user);
        }
        if let Some(group) = theirs.and_then(|s| s.run_as_group) {
            security["runAsGroup"] = json!(group);
        }
        let taken: Vec<String> = spec
            .and_then(|s| s.ephemeral_containers.as_ref())
            .map(|e| e.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let helper = helper_name(self.spec.name(), &taken);
        Ok(Placed {
            pod: p,
            helper,
            target,
            security,
            cpu_limit,
            volume,
        })
    }

    /// Waits until each helper runs, ends or is refused a start, within [`START_LIMIT`].
    async fn await_start(&self, placed: &[Placed]) {
        for p in placed {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.pod.namespace);
            let look = || {
                let api = api.clone();
                async move {
                    let pod = api.get_opt(&p.pod.name).await.ok()?;
                    match helper_state(pod.as_ref(), &p.pod.uid, &p.helper) {
                        HelperState::Waiting(None) => None,
                        HelperState::Waiting(Some(why)) if starting(&why) => None,
                        _ => Some(()),
                    }
                }
            };
            within(START_LIMIT, API_EVERY, look, || ()).await;
        }
    }

    /// What one pod's helper shows.
    async fn check(&self, p: &Placed) -> Effect {
        let id = p.pod.id();
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.pod.namespace);
        let pod = match api.get_opt(&p.pod.name).await {
            Ok(pod) => pod,
            Err(e) => return Effect::unverified(format!("pod {id} cannot be read: {e}")),
        };
        let helper = format!("helper {} in pod {id}", p.helper);
        match helper_state(pod.as_ref(), &p.pod.uid, &p.helper) {
            HelperState::Running => {}
            HelperState::PodGone => {
                return Effect::ineffective(format!("pod {id} is gone: its {helper} went with it"));
            }
            HelperState::Ended(how) => {
                return Effect::ineffective(format!("{helper} has already ended ({how})"));
            }
            HelperState::Waiting(why) => {
                return Effect::ineffective(match why {
                    Some(why) => format!("{helper} has not started: {why}"),
                    None => format!(
                        "{helper} has not started within {} s",
                        START_LIMIT.as_secs()
                    ),
                });
            }
        }
        let command: Vec<String> = [
            "firedrill",
            "internal",
            "status",
            "--id",
            &p.helper,
            "--window",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("{}ms", CPU_WINDOW.as_millis())])
        .collect();
        let out = match exec_capture(
            &self.cluster.client,
            &p.pod.namespace,
            &p.pod.name,
            &p.helper,
            &command,
        )
        .await
        {
            Ok(out) => out,
            Err(e) => return Effect::unverified(format!("{helper} cannot be read: {e}")),
        };
        let report: StatusReport = match serde_json::from_str(out.stdout.trim()) {
            Ok(r) => r,
            Err(_) => {
                return Effect::unverified(format!(
                    "{helper} gave no status (stdout {:?}, stderr {:?})",
                    out.stdout.trim(),
                    out.stderr.trim()
                ));
            }
        };
        match report.helpers.first() {
            None => Effect::ineffective(format!("{helper}: its process is not running")),
            Some(h) => judge(&self.spec, p, h, &helper),
        }
    }
}

/// Whether a waiting reason is a normal step of a start rather than a refusal.
fn starting(why: &str) -> bool {
    ["ContainerCreating", "PodInitializing"]
        .iter()
        .any(|r| why.starts_with(r))
}

/// Whether what the helper shows is the fault in force.
fn judge(spec: &PodHelperChange, p: &Placed, h: &HelperStatus, helper: &str) -> Effect {
    match spec {
        PodHelperChange::Cpu(s) => {
            // What the workers would use, bounded by the pod's CPU limit; a busy node gives
            // less, so a quarter of it is enough to show the stress in force.
            let cores = p
                .cpu_limit
                .map_or(f64::from(s.workers), |l| l.min(f64::from(s.workers)));
            let expected = cores * f64::from(s.load) / 100.0 * h.window_seconds;
            let shown = format!(
                "{helper} used {:.2} s of CPU in {:.1} s ({} worker(s) at {}%{} would use {expected:.2} s)",
                h.cpu_seconds,
                h.window_seconds,
                s.workers,
                s.load,
                p.cpu_limit
                    .map(|l| format!(" within the pod's {l} CPU limit"))
                    .unwrap_or_default()
            );
            if h.cpu_seconds >= expected * 0.25 {
                Effect::verified(shown)
            } else {
                Effect::ineffective(shown)
            }
        }
        PodHelperChange::Memory(s) => {
            let shown = format!(
                "{helper} holds {} MiB resident ({} MiB asked)",
                h.rss_kib / 1024,
                s.size_mib
            );
            if h.rss_kib * 10 >= s.size_mib * 1024 * 9 {
                Effect::verified(shown)
            } else {
                Effect::ineffective(format!("{shown}: swapped out, or refused by a limit"))
            }
        }
        PodHelperChange::Disk(s) => {
            let file = h.file_bytes.unwrap_or(0);
            let full = h.volume.is_some_and(|v| v.available_bytes == 0);
            let used = h.volume.map(|v| v.used_percent()).unwrap_or(0.0);
            let shown = format!(
                "{helper} wrote {} MiB on volume {} (now {used:.1}% full)",
                file / (1024 * 1024),
                s.volume
            );
            let done = match (s.size_mib, s.fill_to_percent) {
                (Some(mib), _) => file * 10 >= mib * 1024 * 1024 * 9,
                (None, Some(pct)) => used >= f64::from(pct) * 0.9,
                (None, None) => false,
            };
            if done || full {
                Effect::verified(shown)
            } else {
                Effect::ineffective(format!("{shown}: less than asked"))
            }
        }
    }
}

/// A name for the helper's ephemeral container: the fault's, with a random tail, within a
/// DNS label and unlike any taken.
fn helper_name(fault: &str, taken: &[String]) -> String {
    let stem: String = format!("firedrill-{fault}").chars().take(52).collect();
    let stem = stem.trim_end_matches('-');
    loop {
        let name = format!("{stem}-{:06x}", fastrand::u32(..0x100_0000));
        if !taken.contains(&name) {
            return name;
        }
    }
}

/// A Kubernetes quantity (`500m`, `2`, `512Mi`, `1G`, `1e3`) as a number.
fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * factor)
}

#[async_trait]
impl Fault for PodHelperFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = self.spec.name();
        let select = self
            .spec
            .selector()
            .ok_or_else(|| self.refuse("selects no pods".to_owned()))?;
        let (pods, pool) = pick(&self.cluster, fault, select).await?;
        let mut placed = Vec::new();
        // The deadline shown for review is the one a fault starting now would have.
        let shown_deadline = SystemTime::now() + self.spec.duration() + SELF_STOP_MARGIN;
        let mut writes = Vec::new();
        for p in pods {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
            let pod = retry(&format!("get pod {}", p.id()), || api.get(&p.name))
                .await
                .map_err(kube_error(fault))?;
            let placing = self.place(p, &pod)?;
            // The whole list as the pod holds it, so that the dry run's merge patch keeps
            // the ephemeral containers already there.
            let mut list: Vec<Value> = pod
                .spec
                .and_then(|s| s.ephemeral_containers)
                .map(|e| {
                    e.iter()
                        .filter_map(|c| serde_json::to_value(c).ok())
                        .collect()
                })
                .unwrap_or_default();
            list.push(self.ephemeral(&placing, shown_deadline));
            writes.push(ApiWrite::of::<Pod>(
                &placing.pod.namespace,
                &placing.pod.name,
                WriteAction::MergePatch {
                    subresource: Some("ephemeralcontainers".to_owned()),
                    patch: json!({"spec": {"ephemeralContainers": list}}),
                },
            ));
            placed.push(placing);
        }
        let intent = Intent {
            fault: fault.to_owned(),
            fault_type: self.spec.type_name().to_owned(),
            changes: placed
                .iter()
                .map(|p| {
                    format!(
                        "add ephemeral container {} running `firedrill internal {}` (until the fault's end) to pod {} (uid {}), as container {}'s user",
                        p.helper,
                        self.spec.helper_args().join(" "),
                        p.pod.id(),
                        p.pod.uid,
                        p.target
                    )
                })
                .collect(),
            undo: vec![
                "stop each helper through `pods/exec` (each stops by itself at the fault's end); the ephemeral containers stay listed in their pods until the pods are replaced".to_owned(),
            ],
            targets: placed.iter().map(|p| p.pod.id()).collect(),
            restore: placed
                .iter()
                .map(|p| Undo::StopPodHelper {
                    namespace: p.pod.namespace.clone(),
                    pod: p.pod.name.clone(),
                    uid: p.pod.uid.clone(),
                    container: p.helper.clone(),
                })
                .collect(),
            pool: Some(pool),
            writes,
        };
        *lock(&self.placed) = placed;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let fault = self.spec.name();
        let placed = lock(&self.placed).clone();
        let deadline = SystemTime::now() + self.spec.duration() + SELF_STOP_MARGIN;
        for p in &placed {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.pod.namespace);
            let patch = Patch::Strategic(
                json!({"spec": {"ephemeralContainers": [self.ephemeral(p, deadline)]}}),
            );
            let what = format!("add ephemeral container {} to pod {}", p.helper, p.pod.id());
            let params = PatchParams::default();
            retry(&what, || {
                api.patch_ephemeral_containers(&p.pod.name, &params, &patch)
            })
            .await
            .map_err(kube_error(fault))?;
        }
        self.await_start(&placed).await;
        Ok(())
    }

    async fn verify(&self) -> Effect {
        let placed = lock(&self.placed).clone();
        let mut effects = Vec::new();
        for p in &placed {
            effects.push(self.check(p).await);
        }
        Effect::all(effects)
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let fault = self.spec.name();
        let placed = lock(&self.placed).clone();
        let mut done = Vec::new();
        for p in &placed {
            let undo = Undo::StopPodHelper {
                namespace: p.pod.namespace.clone(),
                pod: p.pod.name.clone(),
                uid: p.pod.uid.clone(),
                container: p.helper.clone(),
            };
            done.push(
                crate::platform::kubernetes::apply_undo(&self.cluster.client, &undo)
                    .await
                    .map_err(kube_error(fault))?,
            );
        }
        Ok(done)
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

fn build(spec: PodHelperChange, platform: &Platform) -> Built {
    let kind = match &spec {
        PodHelperChange::Cpu(s) => kubernetes_platform(s, platform)?,
        PodHelperChange::Memory(s) => kubernetes_platform(s, platform)?,
        PodHelperChange::Disk(s) => kubernetes_platform(s, platform)?,
    };
    let cluster = kind.cluster().clone();
    let image = cluster
        .target
        .helper_image
        .clone()
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| FaultError::Unsafe {
            fault: spec.name().to_owned(),
            message: "spec.target.helperImage is not set".to_owned(),
        })?;
    Ok(Arc::new(PodHelperFault::new(spec, cluster, image)))
}

impl BuildFault for spec::PodCpuStress {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build(PodHelperChange::Cpu(self.clone()), platform)
    }
}

impl BuildFault for spec::PodMemoryStress {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build(PodHelperChange::Memory(self.clone()), platform)
    }
}

impl BuildFault for spec::PodDiskFill {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build(PodHelperChange::Disk(self.clone()), platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("12x"), None);
    }

    #[test]
    fn a_helper_name_is_a_dns_label_unlike_those_taken() {
        let long = "a".repeat(80);
        let name = helper_name(&long, &[]);
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with("firedrill-aaa"));
        let name = helper_name("burn", &["firedrill-burn-000000".to_owned()]);
        assert!(
            name.starts_with("firedrill-burn-") && name.len() == 21,
            "{name}"
        );
    }
}
