//! Per-pod recovery: a watch on a workload's pods, started before a fault deletes or
//! evicts some of them, pairs each removed pod with its replacement and measures time to
//! reschedule (removed → replacement created) and time to ready (created → Ready), from
//! the API server's timestamps where they exist and from the client's observation times.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Cluster, KubeError};
use crate::platform::PlatformEvent;
pub use crate::result::PodRecovery;
use crate::spec::KubernetesWorkload;

#[derive(Default)]
struct Seen {
    removed_at: Option<SystemTime>,
    /// When the server took the deletion: deletionTimestamp less deletionGracePeriodSeconds.
    deletion_requested: Option<Time>,
}

/// When the API server took a pod's deletion, from its deletionTimestamp (the end of the grace
/// period) less the grace period.
fn deletion_requested(pod: &Pod) -> Option<Time> {
    let end = pod.metadata.deletion_timestamp.as_ref()?;
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
    let at = end
        .0
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(grace))
        .ok()?;
    Some(Time(at))
}

#[derive(Clone)]
struct NewPod {
    id: String,
    first_seen: SystemTime,
    created: Option<Time>,
    ready_seen: Option<SystemTime>,
    ready_server: Option<Time>,
}

/// What the watch has seen so far; pure, so that it can be tested without a server.
#[derive(Default)]
pub struct Tracker {
    targets: BTreeMap<String, Seen>,
    known: BTreeSet<String>,
    fresh: Vec<NewPod>,
    reported: BTreeSet<String>,
}

fn id(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn ready_condition(pod: &Pod) -> Option<Option<Time>> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.clone())
}

fn since(a: SystemTime, b: SystemTime) -> u64 {
    b.duration_since(a).unwrap_or(Duration::ZERO).as_millis() as u64
}

fn server_ms(a: &Time, b: &Time) -> i64 {
    (b.0.as_millisecond()) - (a.0.as_millisecond())
}

impl Tracker {
    /// A tracker of these pods (`namespace/name`), among the pods that exist now.
    pub fn new(targets: &[String], existing: &[Pod]) -> Self {
        Self {
            targets: targets
                .iter()
                .map(|t| (t.clone(), Seen::default()))
                .collect(),
            known: existing.iter().map(id).collect(),
            ..Self::default()
        }
    }

    /// A pod was added or changed at `now`.
    pub fn applied(&mut self, pod: &Pod, now: SystemTime) {
        let pid = id(pod);
        if let Some(seen) = self.targets.get_mut(&pid) {
            if pod.metadata.deletion_timestamp.is_some() && seen.removed_at.is_none() {
                seen.removed_at = Some(now);
                seen.deletion_requested = deletion_requested(pod);
            }
            return;
        }
        if self.known.contains(&pid) {
            return;
        }
        let entry = match self.fresh.iter_mut().find(|n| n.id == pid) {
            Some(e) => e,
            None => {
                self.fresh.push(NewPod {
                    id: pid.clone(),
                    first_seen: now,
                    created: pod.metadata.creation_timestamp.clone(),
                    ready_seen: None,
                    ready_server: None,
                });
                self.fresh.last_mut().expect("just pushed")
            }
        };
        if entry.ready_seen.is_none()
            && let Some(server) = ready_condition(pod)
        {
            entry.ready_seen = Some(now);
            entry.ready_server = server;
        }
    }

    /// A pod was removed at `now`.
    pub fn deleted(&mut self, pod: &Pod, now: SystemTime) {
        if let Some(seen) = self.targets.get_mut(&id(pod))
            && seen.removed_at.is_none()
        {
            seen.removed_at = Some(now);
            seen.deletion_requested = deletion_requested(pod);
        }
    }

    /// Recoveries complete now and not reported before: removed pods, in the order they
    /// were removed, paired with new pods in the order they appeared. A pod first seen
    /// before a removal cannot replace the removed pod (it is a late replacement of an
    /// earlier iteration, or a scale-up), so it is never paired with it.
    pub fn completed(&mut self) -> Vec<PodRecovery> {
        let mut removed: Vec<(&String, &Seen, SystemTime)> = self
            .targets
            .iter()
            .filter_map(|(pod, s)| s.removed_at.map(|at| (pod, s, at)))
            .collect();
        removed.sort_by_key(|(_, _, at)| *at);
        let mut paired = vec![false; self.fresh.len()];
        let mut out = Vec::new();
        for (pod, seen, removed_at) in removed {
            let Some(i) = (0..self.fresh.len())
                .find(|&i| !paired[i] && self.fresh[i].first_seen >= removed_at)
            else {
                continue;
            };
            paired[i] = true;
            let new = &self.fresh[i];
            let Some(ready_seen) = new.ready_seen else {
                continue;
            };
            if self.reported.contains(pod) {
                continue;
            }
            out.push(PodRecovery {
                pod: pod.clone(),
                replacement: Some(new.id.clone()),
                reschedule_ms: Some(since(removed_at, new.first_seen)),
                ready_ms: Some(since(new.first_seen, ready_seen)),
                server_reschedule_ms: seen
                    .deletion_requested
                    .as_ref()
                    .zip(new.created.as_ref())
                    .map(|(d, c)| server_ms(d, c)),
                server_ready_ms: new
                    .created
                    .as_ref()
                    .zip(new.ready_server.as_ref())
                    .map(|(c, r)| server_ms(c, r)),
            });
        }
        for r in &out {
            self.reported.insert(r.pod.clone());
        }
        out
    }

    /// Whether every target's recovery has been reported.
    pub fn done(&self) -> bool {
        self.reported.len() == self.targets.len()
    }
}

/// Starts a watch on the workload's pods and returns once it has listed them, so that it
/// sees everything the fault does next; then reports each recovery as a platform event
/// until every target has recovered, `stop` is cancelled, or `limit` passes.
pub async fn track(
    cluster: &Cluster,
    w: &KubernetesWorkload,
    targets: Vec<String>,
    events: mpsc::UnboundedSender<PlatformEvent>,
    stop: CancellationToken,
    limit: Duration,
) -> Result<(), KubeError> {
    let selector = super::select::pod_selector(&cluster.client, w).await?;
    let api = Api::<Pod>::namespaced(cluster.client.clone(), &w.namespace);
    let (listed_tx, listed_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut listed_tx = Some(listed_tx);
        let mut initial: Vec<Pod> = Vec::new();
        let mut tracker: Option<Tracker> = None;
        let stream = watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
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
            match next {
                None => return,
                Some(Err(error)) => {
                    // The backoff re-lists and re-watches; a dropped watch is not an end.
                    tracing::warn!(%error, "the pod watch failed; it restarts");
                }
                Some(Ok(ev)) => match (ev, tracker.as_mut()) {
                    (watcher::Event::Init, _) => initial.clear(),
                    (watcher::Event::InitApply(p), None) => initial.push(p),
                    (watcher::Event::InitDone, None) => {
                        tracker = Some(Tracker::new(&targets, &initial));
                        if let Some(tx) = listed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    (watcher::Event::InitApply(p), Some(t)) => {
                        t.applied(&p, now);
                        initial.push(p);
                    }
                    (watcher::Event::InitDone, Some(t)) => {
                        // A pod removed while the watch was down is missing from the re-list.
                        let listed: BTreeSet<String> = initial.iter().map(id).collect();
                        let gone: Vec<String> = t
                            .targets
                            .keys()
                            .filter(|k| !listed.contains(*k))
                            .cloned()
                            .collect();
                        for g in gone {
                            if let Some(s) = t.targets.get_mut(&g)
                                && s.removed_at.is_none()
                            {
                                s.removed_at = Some(now);
                            }
                        }
                    }
                    (watcher::Event::Apply(p), Some(t)) => t.applied(&p, now),
                    (watcher::Event::Delete(p), Some(t)) => t.deleted(&p, now),
                    _ => {}
                },
            }
            if let Some(t) = tracker.as_mut() {
                for r in t.completed() {
                    let _ = events.send(PlatformEvent::PodRecovered(Box::new(r)));
                }
                if t.done() {
                    return;
                }
            }
        }
    });
    let _ = listed_rx.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn time(s: &str) -> Time {
        serde_json::from_value(serde_json::json!(s)).unwrap()
    }

    fn pod(name: &str, created: &str, ready: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                creation_timestamp: Some(time(created)),
                ..ObjectMeta::default()
            },
            status: ready.map(|r| PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(time(r)),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn pairs_each_removed_pod_with_its_replacement() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a = pod("a", "2026-01-01T00:00:00Z", Some("2026-01-01T00:00:01Z"));
        let b = pod("b", "2026-01-01T00:00:00Z", Some("2026-01-01T00:00:01Z"));
        let mut tr = Tracker::new(&["shop/a".into()], &[a.clone(), b.clone()]);
        let mut gone = a.clone();
        gone.metadata.deletion_timestamp = Some(time("2026-01-01T00:01:00Z"));
        tr.applied(&b, at(5));
        tr.deleted(&gone, at(10));
        tr.applied(&pod("c", "2026-01-01T00:01:01Z", None), at(310));
        assert!(tr.completed().is_empty(), "not ready yet");
        tr.applied(
            &pod("c", "2026-01-01T00:01:01Z", Some("2026-01-01T00:01:02Z")),
            at(710),
        );
        let done = tr.completed();
        assert_eq!(
            done,
            vec![PodRecovery {
                pod: "shop/a".into(),
                replacement: Some("shop/c".into()),
                reschedule_ms: Some(300),
                ready_ms: Some(400),
                server_reschedule_ms: Some(1000),
                server_ready_ms: Some(1000),
            }]
        );
        assert!(tr.done());
        assert!(tr.completed().is_empty(), "reported once");
    }

    /// A pod that appears while the target is still running (a late replacement from an
    /// earlier iteration) is not taken for the target's replacement.
    #[test]
    fn a_pod_seen_before_the_removal_is_not_its_replacement() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a = pod("a", "2026-01-01T00:00:00Z", Some("2026-01-01T00:00:01Z"));
        let mut tr = Tracker::new(&["shop/a".into()], std::slice::from_ref(&a));
        tr.applied(
            &pod("late", "2026-01-01T00:00:59Z", Some("2026-01-01T00:01:00Z")),
            at(5),
        );
        let mut gone = a.clone();
        gone.metadata.deletion_timestamp = Some(time("2026-01-01T00:01:00Z"));
        tr.deleted(&gone, at(10));
        assert!(tr.completed().is_empty(), "no replacement yet");
        tr.applied(
            &pod("c", "2026-01-01T00:01:01Z", Some("2026-01-01T00:01:02Z")),
            at(1010),
        );
        let done = tr.completed();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].replacement.as_deref(), Some("shop/c"));
        assert_eq!(done[0].reschedule_ms, Some(1000));
    }

    #[test]
    fn the_servers_deletion_time_is_the_deletion_timestamp_less_the_grace_period() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a = pod("a", "2026-01-01T00:00:00Z", Some("2026-01-01T00:00:01Z"));
        let mut tr = Tracker::new(&["shop/a".into()], std::slice::from_ref(&a));
        // Deleted at 00:01:00 with 30 s of grace: the server stamps the end of the grace.
        let mut going = a.clone();
        going.metadata.deletion_timestamp = Some(time("2026-01-01T00:01:30Z"));
        going.metadata.deletion_grace_period_seconds = Some(30);
        tr.applied(&going, at(0));
        tr.applied(
            &pod("c", "2026-01-01T00:01:02Z", Some("2026-01-01T00:01:05Z")),
            at(2000),
        );
        let done = tr.completed();
        assert_eq!(done[0].server_reschedule_ms, Some(2000));
        assert_eq!(done[0].server_ready_ms, Some(3000));
        assert_eq!(done[0].reschedule_ms, Some(2000));
    }
}
