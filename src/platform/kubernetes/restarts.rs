//! Container restarts: a watch on one pod, started before a fault kills one of its
//! containers, reports when the kubelet has restarted it (its restartCount went up) and when
//! it is Ready again, from the kill as the client timed it, with the runtime's own
//! timestamps (the old container's end, the new one's start) beside them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::KubeError;
use crate::platform::PlatformEvent;

/// The restart of one killed container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecovery {
    /// The pod, `namespace/name`.
    pub pod: String,
    /// The container.
    pub container: String,
    /// Its restartCount just before the kill.
    pub restart_count_before: i32,
    /// Its restartCount once restarted.
    pub restart_count: i32,
    /// Kill → restartCount seen higher, as the client observed them, in ms.
    pub restart_ms: Option<u64>,
    /// Kill → the container seen Ready again, as the client observed them, in ms.
    pub ready_ms: Option<u64>,
    /// The old container's end → the new one's start, by the runtime's timestamps (whole
    /// seconds), in ms, where both exist.
    pub server_restart_ms: Option<i64>,
}

/// What the watch of one container has seen; pure, so that it can be tested without a server.
#[derive(Debug)]
pub struct RestartWatch {
    pod: String,
    container: String,
    before: i32,
    killed_at: Option<SystemTime>,
    restarted: Option<(SystemTime, i32, Option<i64>)>,
    ready_at: Option<SystemTime>,
    reported: bool,
}

fn status<'p>(pod: &'p Pod, container: &str) -> Option<&'p ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|s| s.name == container)
}

fn millis_between(from: SystemTime, to: SystemTime) -> Option<u64> {
    to.duration_since(from)
        .ok()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RestartWatch {
    /// Watches `container` of `pod` (`namespace/name`), whose restartCount is `before`.
    pub fn new(pod: &str, container: &str, before: i32) -> Self {
        Self {
            pod: pod.to_owned(),
            container: container.to_owned(),
            before,
            killed_at: None,
            restarted: None,
            ready_at: None,
            reported: false,
        }
    }

    /// The restartCount the pod shows now, if it shows the container.
    pub fn restart_count(pod: &Pod, container: &str) -> Option<i32> {
        status(pod, container).map(|s| s.restart_count)
    }

    /// Notes when the kill was sent.
    pub fn killed(&mut self, at: SystemTime) {
        self.killed_at.get_or_insert(at);
    }

    /// Takes in a version of the pod seen at `now`; answers the recovery once, when the
    /// container has restarted and is Ready.
    pub fn observe(&mut self, pod: &Pod, now: SystemTime) -> Option<ContainerRecovery> {
        let s = status(pod, &self.container)?;
        if s.restart_count > self.before && self.restarted.is_none() {
            let ended = s
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .and_then(|t| t.finished_at.as_ref());
            let started = s
                .state
                .as_ref()
                .and_then(|st| st.running.as_ref())
                .and_then(|r| r.started_at.as_ref());
            let server = match (ended, started) {
                (Some(e), Some(st)) => Some(st.0.as_millisecond() - e.0.as_millisecond()),
                _ => None,
            };
            self.restarted = Some((now, s.restart_count, server));
        }
        if self.restarted.is_some() && s.ready && self.ready_at.is_none() {
            self.ready_at = Some(now);
        }
        let ((seen, count, server), ready) = (self.restarted?, self.ready_at?);
        if self.reported {
            return None;
        }
        self.reported = true;
        let killed = self.killed_at;
        Some(ContainerRecovery {
            pod: self.pod.clone(),
            container: self.container.clone(),
            restart_count_before: self.before,
            restart_count: count,
            restart_ms: killed.and_then(|k| millis_between(k, seen)),
            ready_ms: killed.and_then(|k| millis_between(k, ready)),
            server_restart_ms: server,
        })
    }

    /// Where the container stands, for the fault's record at its end.
    pub fn summary(&self) -> String {
        let what = format!("container {} of pod {}", self.container, self.pod);
        match (self.restarted, self.ready_at) {
            (Some((_, count, _)), Some(_)) => format!(
                "{what} restarted (restartCount {} → {count}) and is Ready again",
                self.before
            ),
            (Some((_, count, _)), None) => format!(
                "{what} restarted (restartCount {} → {count}) but is not Ready yet",
                self.before
            ),
            (None, _) => format!(
                "{what} has not restarted (restartCount still {}): its main process may ignore the signal (PID 1 without a handler)",
                self.before
            ),
        }
    }
}

/// Starts a watch on one pod and returns once it has listed it, so that it sees everything
/// the kill causes; then reports the restart as a platform event, until it has, `stop` is
/// cancelled, or `limit` passes. The restartCount listed is the one the recovery counts from.
pub async fn watch_restart(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    events: mpsc::UnboundedSender<PlatformEvent>,
    stop: CancellationToken,
    limit: Duration,
) -> Result<Arc<Mutex<RestartWatch>>, KubeError> {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    let id = format!("{namespace}/{pod}");
    let (listed_tx, listed_rx) = oneshot::channel::<Arc<Mutex<RestartWatch>>>();
    let config = watcher::Config::default().fields(&format!("metadata.name={pod}"));
    let container = container.to_owned();
    tokio::spawn(async move {
        let mut listed_tx = Some(listed_tx);
        let mut state: Option<Arc<Mutex<RestartWatch>>> = None;
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let deadline = tokio::time::sleep(limit);
        let mut deadline = std::pin::pin!(deadline);
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                () = &mut deadline => return,
                next = stream.next() => next,
            };
            let now = SystemTime::now();
            let pod = match next {
                None => return,
                Some(Err(error)) => {
                    tracing::warn!(%error, pod = %id, "the pod watch failed; it restarts");
                    continue;
                }
                Some(Ok(watcher::Event::InitApply(p) | watcher::Event::Apply(p))) => p,
                Some(Ok(_)) => continue,
            };
            let watch = state.get_or_insert_with(|| {
                let before = RestartWatch::restart_count(&pod, &container).unwrap_or(0);
                Arc::new(Mutex::new(RestartWatch::new(&id, &container, before)))
            });
            if let Some(tx) = listed_tx.take() {
                let _ = tx.send(watch.clone());
                continue;
            }
            let done = {
                let mut w = watch.lock().unwrap_or_else(|e| e.into_inner());
                w.observe(&pod, now)
            };
            if let Some(r) = done {
                let _ = events.send(PlatformEvent::ContainerRestarted(Box::new(r)));
                return;
            }
        }
    });
    listed_rx.await.map_err(|_| {
        KubeError::NotFound(format!(
            "pod {namespace}/{pod} could not be watched (gone, or the watch ended)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn time(s: &str) -> Time {
        serde_json::from_value(serde_json::json!(s)).unwrap()
    }

    fn pod(restarts: i32, ready: bool, times: Option<(&str, &str)>) -> Pod {
        Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "app".into(),
                    restart_count: restarts,
                    ready,
                    state: times.map(|(_, started)| ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(time(started)),
                        }),
                        ..ContainerState::default()
                    }),
                    last_state: times.map(|(ended, _)| ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            finished_at: Some(time(ended)),
                            exit_code: 143,
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn a_restart_counts_from_the_kill_to_restarted_and_to_ready() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = RestartWatch::new("shop/web-1", "app", 2);
        w.killed(t0);
        assert_eq!(w.observe(&pod(2, true, None), at(10)), None, "not yet");
        assert_eq!(w.observe(&pod(2, false, None), at(50)), None);
        let restarted = pod(
            3,
            false,
            Some(("2025-01-01T00:00:01Z", "2025-01-01T00:00:03Z")),
        );
        assert_eq!(w.observe(&restarted, at(300)), None, "restarted, not Ready");
        assert!(w.summary().contains("not Ready yet"));
        let ready = pod(
            3,
            true,
            Some(("2025-01-01T00:00:01Z", "2025-01-01T00:00:03Z")),
        );
        let r = w.observe(&ready, at(700)).unwrap();
        assert_eq!(
            r,
            ContainerRecovery {
                pod: "shop/web-1".into(),
                container: "app".into(),
                restart_count_before: 2,
                restart_count: 3,
                restart_ms: Some(300),
                ready_ms: Some(700),
                server_restart_ms: Some(2_000),
            }
        );
        assert_eq!(w.observe(&ready, at(800)), None, "reported once");
        assert!(
            w.summary().contains("restartCount 2 → 3"),
            "{}",
            w.summary()
        );
    }

    #[test]
    fn a_container_that_never_restarts_says_so() {
        let mut w = RestartWatch::new("shop/web-1", "app", 0);
        w.killed(SystemTime::now());
        assert_eq!(w.observe(&pod(0, true, None), SystemTime::now()), None);
        assert!(w.summary().contains("has not restarted"), "{}", w.summary());
        assert!(w.observe(&Pod::default(), SystemTime::now()).is_none());
    }
}
