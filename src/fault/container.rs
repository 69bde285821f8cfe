//! `container-kill`: runs a kill of a container's main process through `pods/exec` in each
//! selected pod (by default `/bin/sh -c 'kill -s TERM 1'`), and watches the kubelet restart
//! the container (restartCount up, Ready again). Nothing is undone: the kubelet restarts it.
//!
//! Limits, documented in docs/kubernetes.md: the image needs a shell and `kill`; PID 1 of a
//! PID namespace only gets the signals it handles (SIGKILL from inside never reaches it);
//! with `shareProcessNamespace` PID 1 is the pause process; `pods/exec` is a powerful
//! permission.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio_util::sync::CancellationToken;

use super::kubernetes::{kube_error, lock, pick};
use super::{BuildFault, Built, Fault, FaultContext, FaultError, Intent, kubernetes_platform};
use crate::platform::Platform;
use crate::platform::PlatformEvent;
pub use crate::platform::kubernetes::ExecError;
use crate::platform::kubernetes::{
    Cluster, PodRef, RestartWatch, exec_capture, exit_code, retry, watch_restart,
};
use crate::spec;

/// How long a restart is watched at most; the run's end stops the watch sooner.
const WATCH_LIMIT: Duration = Duration::from_secs(3600);

/// One container chosen for the kill.
#[derive(Clone, Debug)]
struct Target {
    pod: PodRef,
    container: String,
    restart_count: i32,
}

/// Kills a container's main process in the selected pods.
pub struct ContainerKillFault {
    spec: spec::ContainerKill,
    cluster: Cluster,
    events: tokio::sync::mpsc::UnboundedSender<PlatformEvent>,
    stop: CancellationToken,
    chosen: Mutex<Vec<Target>>,
    watches: Mutex<Vec<Arc<Mutex<RestartWatch>>>>,
    active: Mutex<bool>,
}

impl ContainerKillFault {
    /// A container-kill fault; restarts are reported on `events` until `stop`.
    pub fn new(
        spec: spec::ContainerKill,
        cluster: Cluster,
        events: tokio::sync::mpsc::UnboundedSender<PlatformEvent>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            spec,
            cluster,
            events,
            stop,
            chosen: Mutex::new(Vec::new()),
            watches: Mutex::new(Vec::new()),
            active: Mutex::new(false),
        }
    }

    /// The command run in each container.
    pub fn command(&self) -> Vec<String> {
        if !self.spec.command.is_empty() {
            return self.spec.command.clone();
        }
        let signal = self.spec.signal.unwrap_or(spec::Signal::Term);
        let name = signal.name().trim_start_matches("SIG");
        vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            format!("kill -s {name} 1"),
        ]
    }

    fn exec_error(&self, pod: &PodRef, container: &str, source: ExecError) -> FaultError {
        FaultError::Exec {
            fault: self.spec.name.clone(),
            target: format!("container {container} of pod {}", pod.id()),
            source,
        }
    }

    /// Runs the command in one container; an exit caused by the container stopping under
    /// it (137 or 143) counts as done, as does a stream that ends without a status.
    async fn kill(&self, t: &Target, command: &[String]) -> Result<(), FaultError> {
        let out = exec_capture(
            &self.cluster.client,
            &t.pod.namespace,
            &t.pod.name,
            &t.container,
            command,
        )
        .await
        .map_err(|e| self.exec_error(&t.pod, &t.container, e))?;
        let (status, stderr) = (out.status, out.stderr);
        match status {
            None => Ok(()),
            Some(s) if s.status.as_deref() == Some("Success") => Ok(()),
            Some(s) => {
                if matches!(exit_code(&s), Some(137 | 143)) {
                    return Ok(());
                }
                let failed = ExecError::KillFailed {
                    answer: s.message.unwrap_or_else(|| "the command failed".to_owned()),
                    stderr: stderr.trim().to_owned(),
                };
                Err(self.exec_error(&t.pod, &t.container, failed))
            }
        }
    }
}

/// Why no container of a pod can be the target.
#[derive(Debug, thiserror::Error)]
pub(super) enum ContainerChoiceError {
    /// The container named is not in the pod.
    #[error("has no container `{wanted}` (it has {})", names.join(", "))]
    Missing {
        /// The container named.
        wanted: String,
        /// The pod's containers.
        names: Vec<String>,
    },
    /// None was named and the pod has several (or none).
    #[error("has {} containers ({}): name one with `container`", names.len(), names.join(", "))]
    Unnamed {
        /// The pod's containers.
        names: Vec<String>,
    },
}

/// The container a kill targets in `pod`: the one named, or the pod's only one.
pub(super) fn container_of(
    pod: &Pod,
    wanted: Option<&str>,
) -> Result<String, ContainerChoiceError> {
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    match (wanted, names.as_slice()) {
        (Some(w), _) if names.iter().any(|n| n == w) => Ok(w.to_owned()),
        (Some(w), _) => Err(ContainerChoiceError::Missing {
            wanted: w.to_owned(),
            names,
        }),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(ContainerChoiceError::Unnamed { names }),
    }
}

#[async_trait]
impl Fault for ContainerKillFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = &self.spec.name;
        let (pods, pool) = pick(&self.cluster, fault, &self.spec.select).await?;
        let mut chosen = Vec::new();
        for p in pods {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
            let pod = retry(&format!("get pod {}", p.id()), || api.get(&p.name))
                .await
                .map_err(kube_error(fault))?;
            let container = container_of(&pod, self.spec.container.as_deref()).map_err(|e| {
                FaultError::Unsafe {
                    fault: fault.clone(),
                    message: format!("pod {} {e}", p.id()),
                }
            })?;
            let restart_count = RestartWatch::restart_count(&pod, &container).unwrap_or(0);
            chosen.push(Target {
                pod: p,
                container,
                restart_count,
            });
        }
        let command = self.command().join(" ");
        let intent = Intent {
            fault: fault.clone(),
            fault_type: "container-kill".to_owned(),
            changes: chosen
                .iter()
                .map(|t| {
                    format!(
                        "run `{command}` in container {} of pod {} (uid {}, restartCount now {})",
                        t.container,
                        t.pod.id(),
                        t.pod.uid,
                        t.restart_count
                    )
                })
                .collect(),
            undo: vec!["nothing to undo: the kubelet restarts the container".to_owned()],
            targets: chosen.iter().map(|t| t.pod.id()).collect(),
            restore: Vec::new(),
            pool: Some(pool),
            // An exec writes no object and has no dry run: there is nothing for plan to send.
            writes: Vec::new(),
        };
        *lock(&self.chosen) = chosen;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let fault = &self.spec.name;
        let chosen = lock(&self.chosen).clone();
        let command = self.command();
        *lock(&self.active) = true;
        for t in &chosen {
            // Listed before the kill, so that the watch sees the restart however fast.
            let watch = watch_restart(
                &self.cluster.client,
                &t.pod.namespace,
                &t.pod.name,
                &t.container,
                self.events.clone(),
                self.stop.child_token(),
                WATCH_LIMIT,
            )
            .await
            .map_err(kube_error(fault))?;
            watch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .killed(SystemTime::now());
            lock(&self.watches).push(watch);
            self.kill(t, &command).await?;
        }
        Ok(())
    }

    fn outlives_revert(&self) -> bool {
        true
    }

    async fn verify(&self) -> super::Effect {
        use super::Effect;
        use super::effect::{API_EVERY, CHECK_WINDOW, within};
        let chosen = lock(&self.chosen).clone();
        let window = CHECK_WINDOW * 2;
        let mut effects = Vec::new();
        for t in &chosen {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &t.pod.namespace);
            let look = || {
                let api = api.clone();
                async move {
                    match api.get_opt(&t.pod.name).await {
                        Ok(None) => Some(Effect::verified(format!("pod {} is gone", t.pod.id()))),
                        Ok(Some(pod))
                            if pod.metadata.uid.as_deref() != Some(t.pod.uid.as_str()) =>
                        {
                            Some(Effect::verified(format!("pod {} was replaced", t.pod.id())))
                        }
                        Ok(Some(pod)) => RestartWatch::restart_count(&pod, &t.container)
                            .filter(|n| *n > t.restart_count)
                            .map(|n| {
                                Effect::verified(format!(
                                    "container {} of pod {} restarted (restart count {} -> {n})",
                                    t.container,
                                    t.pod.id(),
                                    t.restart_count
                                ))
                            }),
                        Err(e) => Some(Effect::unverified(format!(
                            "pod {} cannot be read: {e}",
                            t.pod.id()
                        ))),
                    }
                }
            };
            effects.push(
                within(window, API_EVERY, look, || {
                    Effect::ineffective(format!(
                        "container {} of pod {} has not restarted {} s after the kill (restart count still {}): its main process ignores the signal",
                        t.container,
                        t.pod.id(),
                        window.as_secs(),
                        t.restart_count
                    ))
                })
                .await,
            );
        }
        Effect::all(effects)
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        *lock(&self.active) = false;
        let mut done = vec!["nothing to undo: the kubelet restarts the container".to_owned()];
        done.extend(
            lock(&self.watches)
                .iter()
                .map(|w| w.lock().unwrap_or_else(|e| e.into_inner()).summary()),
        );
        Ok(done)
    }

    fn affected(&self, workload: &str) -> usize {
        if *lock(&self.active) && self.spec.select.workload() == workload {
            lock(&self.chosen).len()
        } else {
            0
        }
    }
}

impl BuildFault for spec::ContainerKill {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let k = kubernetes_platform(self, platform)?;
        Ok(Arc::new(ContainerKillFault::new(
            self.clone(),
            k.cluster().clone(),
            k.events(),
            k.stop_token(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    use super::*;

    fn pod(containers: &[&str]) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .map(|n| Container {
                        name: (*n).to_owned(),
                        ..Container::default()
                    })
                    .collect(),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn the_container_is_the_one_named_or_the_only_one() {
        assert_eq!(container_of(&pod(&["app"]), None).unwrap(), "app");
        assert_eq!(
            container_of(&pod(&["app", "sidecar"]), Some("sidecar")).unwrap(),
            "sidecar"
        );
        let err = container_of(&pod(&["app", "sidecar"]), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "has 2 containers (app, sidecar): name one with `container`"
        );
        let err = container_of(&pod(&["app"]), Some("db")).unwrap_err();
        assert_eq!(err.to_string(), "has no container `db` (it has app)");
    }

    #[test]
    fn a_failed_kill_reads_as_before() {
        let fault = |source| FaultError::Exec {
            fault: "kill".into(),
            target: "container app of pod shop/web-0".into(),
            source,
        };
        let failed = fault(ExecError::KillFailed {
            answer: "command terminated with non-zero exit code".into(),
            stderr: "sh: kill: not found".into(),
        });
        assert_eq!(
            crate::error::chain(&failed),
            "fault `kill`: the command in container app of pod shop/web-0 failed: \
             command terminated with non-zero exit code (stderr: sh: kill: not found); \
             the image needs a shell and `kill` (distroless and scratch images have neither)"
        );
        let silent = ExecError::KillFailed {
            answer: "the command failed".into(),
            stderr: String::new(),
        };
        assert!(
            silent
                .to_string()
                .starts_with("the command failed; the image")
        );
        assert_eq!(
            crate::error::chain(&fault(ExecError::NoAnswer)),
            "fault `kill`: the command in container app of pod shop/web-0 failed: \
             no answer within 30s"
        );
    }

    #[test]
    fn an_api_error_is_shown_once() {
        // kube's message already holds the status its cause would add again.
        let status = kube::core::Status::failure("pods/exec is forbidden", "Forbidden");
        let error = kube::Error::Api(Box::new(status));
        let shown = error.to_string();
        assert!(shown.contains("pods/exec is forbidden"), "{shown}");
        assert_eq!(crate::error::chain(&ExecError::Api(error)), shown);
    }
}
