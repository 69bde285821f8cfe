//! Kubernetes Warning events as a detection signal: a watch on the Warning events of a
//! workload's namespace, started (and listed) before injection so that only events that
//! appear afterwards count, reports each event about the workload's pods or the workload
//! object whose reason the signal lists.
//!
//! Events are watched through core/v1, which serves the events written through
//! events.k8s.io/v1 as well (one store, two views): `regarding` there is `involvedObject`
//! here, `eventTime` is kept.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::platform::PlatformEvent;
use crate::platform::kubernetes::{Cluster, KubeError, KubernetesPlatform};
pub use crate::result::WarningEvent;
use crate::spec::{KubernetesEventSignal, KubernetesWorkload, WorkloadKind};
use crate::time::Timestamp;

/// Which events a signal counts; pure, so that it can be tested without a server.
#[derive(Debug)]
pub struct EventFilter {
    signal: String,
    reasons: BTreeSet<String>,
    workload: KubernetesWorkload,
    /// Names of the workload's pods known so far.
    pods: BTreeSet<String>,
    /// Events that existed before the watch listed them, by uid.
    old: BTreeSet<String>,
}

/// What the filter says of one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It counts.
    Matches,
    /// It would count if this pod belongs to the workload: ask the cluster.
    UnknownPod(String),
    /// It does not count.
    No,
}

impl EventFilter {
    /// A filter for `signal` on `workload`, whose pods are named `pods` now.
    pub fn new(
        signal: &KubernetesEventSignal,
        workload: &KubernetesWorkload,
        pods: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            signal: signal.name.clone(),
            reasons: signal.reasons.iter().cloned().collect(),
            workload: workload.clone(),
            pods: pods.into_iter().collect(),
            old: BTreeSet::new(),
        }
    }

    /// Marks an event listed before injection as old: it never counts, even when it is
    /// updated later (a repeated event's count goes up on the same object).
    pub fn old(&mut self, event: &Event) {
        if let Some(uid) = &event.metadata.uid {
            self.old.insert(uid.clone());
        }
    }

    /// Adds pods of the workload.
    pub fn add_pods(&mut self, pods: impl IntoIterator<Item = String>) {
        self.pods.extend(pods);
    }

    /// Whether a new or changed event counts.
    pub fn verdict(&self, event: &Event) -> Verdict {
        let uid = event.metadata.uid.as_deref().unwrap_or_default();
        if event.type_.as_deref() != Some("Warning")
            || self.old.contains(uid)
            || !event
                .reason
                .as_ref()
                .is_some_and(|r| self.reasons.contains(r))
        {
            return Verdict::No;
        }
        let about = &event.involved_object;
        let ns = about
            .namespace
            .as_deref()
            .or(event.metadata.namespace.as_deref());
        if ns != Some(self.workload.namespace.as_str()) {
            return Verdict::No;
        }
        let (Some(kind), Some(name)) = (about.kind.as_deref(), about.name.as_deref()) else {
            return Verdict::No;
        };
        if kind == self.workload.kind.as_str() && self.workload.object_name.as_deref() == Some(name)
        {
            return Verdict::Matches;
        }
        if kind != "Pod" {
            return Verdict::No;
        }
        if self.pods.contains(name) {
            Verdict::Matches
        } else if self.workload.kind == WorkloadKind::Pod && self.workload.object_name.is_some() {
            // A one-pod workload has exactly the pod it names.
            Verdict::No
        } else {
            Verdict::UnknownPod(name.to_owned())
        }
    }

    /// The record of a matching event observed at `now`.
    pub fn record(&self, event: &Event, now: Timestamp, observed: Instant) -> WarningEvent {
        let about = &event.involved_object;
        let stamp = event
            .event_time
            .as_ref()
            .map(|t| t.0)
            .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
            .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0));
        WarningEvent {
            signal: self.signal.clone(),
            object: format!(
                "{} {}/{}",
                about.kind.as_deref().unwrap_or_default(),
                about
                    .namespace
                    .as_deref()
                    .unwrap_or(self.workload.namespace.as_str()),
                about.name.as_deref().unwrap_or_default()
            ),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            event_time: stamp,
            observed_at: now,
            time_to_detect_ms: None,
            server_time_to_detect_ms: None,
            observed: Some(observed),
        }
    }
}

/// Watches the Warning events of a `kubernetes-event` signal's workload from now on and
/// reports those it counts as platform events; returns, once the watch has listed the
/// events that exist now, the token that ends it.
pub async fn watch_warnings(
    platform: &KubernetesPlatform,
    signal: &KubernetesEventSignal,
) -> Result<CancellationToken, KubeError> {
    let cluster = platform.cluster();
    let Some(w) = cluster.workload(&signal.workload) else {
        return Err(KubeError::NotFound(format!(
            "signal `{}`: no workload is named `{}`",
            signal.name, signal.workload
        )));
    };
    let stop = platform.stop_token();
    watch(cluster, w, signal, platform.events(), stop.clone()).await?;
    Ok(stop)
}

/// Starts a watch on the Warning events of the workload's namespace and returns once it has
/// listed the events that exist now (they never count); then reports each event that
/// `signal` counts as a platform event, until `stop` is cancelled.
pub async fn watch(
    cluster: &Cluster,
    w: &KubernetesWorkload,
    signal: &KubernetesEventSignal,
    events: mpsc::UnboundedSender<PlatformEvent>,
    stop: CancellationToken,
) -> Result<(), KubeError> {
    let pods: Vec<String> = cluster
        .pods(w)
        .await?
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    let mut filter = EventFilter::new(signal, w, pods);
    let api = Api::<Event>::namespaced(cluster.client.clone(), &w.namespace);
    let cluster = cluster.clone();
    let w = w.clone();
    let (listed_tx, listed_rx) = oneshot::channel::<Result<(), KubeError>>();
    tokio::spawn(async move {
        let mut listed_tx = Some(listed_tx);
        let config = watcher::Config::default().fields("type=Warning");
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut reported: BTreeSet<String> = BTreeSet::new();
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = stream.next() => next,
            };
            let (now, observed) = (Timestamp::now(), Instant::now());
            let event = match next {
                None => return,
                Some(Err(error)) => {
                    // Before the first list, a failure (events forbidden, say) would otherwise
                    // retry for ever while the run waits: the caller is told, and the watch ends.
                    if let Some(tx) = listed_tx.take() {
                        let _ = tx.send(Err(watch_error(&w.namespace, error)));
                        return;
                    }
                    // The backoff lists and watches again; events that came meanwhile show
                    // up in the new list and still count.
                    tracing::warn!(%error, "the event watch failed; it restarts");
                    continue;
                }
                Some(Ok(watcher::Event::InitApply(e))) if listed_tx.is_some() => {
                    filter.old(&e);
                    continue;
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    if let Some(tx) = listed_tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                    continue;
                }
                Some(Ok(watcher::Event::Apply(e) | watcher::Event::InitApply(e))) => e,
                Some(Ok(_)) => continue,
            };
            let uid = event.metadata.uid.clone().unwrap_or_default();
            if reported.contains(&uid) {
                continue;
            }
            let mut verdict = filter.verdict(&event);
            if let Verdict::UnknownPod(_) = verdict {
                // A replacement pod, say, created after the watch began.
                match cluster.pods(&w).await {
                    Ok(pods) => filter.add_pods(pods.into_iter().filter_map(|p| p.metadata.name)),
                    Err(error) => {
                        let error = crate::error::chain(&error);
                        tracing::warn!(%error, "cannot list the workload's pods for an event");
                    }
                }
                verdict = filter.verdict(&event);
            }
            if verdict == Verdict::Matches {
                reported.insert(uid);
                let record = filter.record(&event, now, observed);
                if events
                    .send(PlatformEvent::KubernetesWarning(Box::new(record)))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    match listed_rx.await {
        Ok(listed) => listed,
        // The task ended before listing only when `stop` was cancelled or the stream ended:
        // there is nothing to wait for.
        Err(_) => Ok(()),
    }
}

/// The watcher's error as the platform's, keeping the API server's answer as the cause.
fn watch_error(namespace: &str, error: watcher::Error) -> KubeError {
    let what = format!("watch the Warning events in {namespace}");
    let source = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::WatchError(status) => kube::Error::Api(status),
        watcher::Error::NoResourceVersion => {
            return KubeError::NotFound(format!("{what}: {}", watcher::Error::NoResourceVersion));
        }
    };
    KubeError::Api { what, source }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn signal() -> KubernetesEventSignal {
        KubernetesEventSignal {
            name: "crash".into(),
            workload: "web".into(),
            reasons: vec!["BackOff".into(), "Unhealthy".into()],
            timeout: None,
        }
    }

    fn workload() -> KubernetesWorkload {
        serde_json::from_value(serde_json::json!({
            "name": "web", "namespace": "shop", "kind": "Deployment", "objectName": "web"
        }))
        .unwrap()
    }

    fn event(uid: &str, kind: &str, name: &str, type_: &str, reason: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{uid}")),
                namespace: Some("shop".into()),
                uid: Some(uid.into()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                kind: Some(kind.into()),
                name: Some(name.into()),
                namespace: Some("shop".into()),
                ..ObjectReference::default()
            },
            type_: Some(type_.into()),
            reason: Some(reason.into()),
            first_timestamp: Some(
                serde_json::from_value(serde_json::json!("2026-01-01T00:00:05Z")).unwrap(),
            ),
            ..Event::default()
        }
    }

    #[test]
    fn only_new_warnings_with_a_listed_reason_about_the_workload_count() {
        let mut f = EventFilter::new(&signal(), &workload(), ["web-a".to_owned()]);
        let old = event("1", "Pod", "web-a", "Warning", "BackOff");
        f.old(&old);
        assert_eq!(f.verdict(&old), Verdict::No, "listed before injection");
        assert_eq!(
            f.verdict(&event("2", "Pod", "web-a", "Warning", "BackOff")),
            Verdict::Matches
        );
        assert_eq!(
            f.verdict(&event("3", "Pod", "web-a", "Normal", "BackOff")),
            Verdict::No,
            "not a warning"
        );
        assert_eq!(
            f.verdict(&event("4", "Pod", "web-a", "Warning", "FailedMount")),
            Verdict::No,
            "a reason not listed"
        );
        assert_eq!(
            f.verdict(&event("5", "Deployment", "web", "Warning", "Unhealthy")),
            Verdict::Matches,
            "the workload object"
        );
        assert_eq!(
            f.verdict(&event("6", "Deployment", "other", "Warning", "Unhealthy")),
            Verdict::No
        );
        assert_eq!(
            f.verdict(&event("7", "Pod", "api-b", "Warning", "BackOff")),
            Verdict::UnknownPod("api-b".into())
        );
        f.add_pods(["web-c".to_owned()]);
        assert_eq!(
            f.verdict(&event("8", "Pod", "web-c", "Warning", "BackOff")),
            Verdict::Matches
        );
        let mut elsewhere = event("9", "Pod", "web-a", "Warning", "BackOff");
        elsewhere.involved_object.namespace = Some("billing".into());
        assert_eq!(f.verdict(&elsewhere), Verdict::No, "another namespace");
    }

    #[test]
    fn the_record_keeps_the_clusters_time_beside_the_observation() {
        let f = EventFilter::new(&signal(), &workload(), ["web-a".to_owned()]);
        let e = event("2", "Pod", "web-a", "Warning", "BackOff");
        let seen = "2026-01-01T00:00:06Z".parse().unwrap();
        let r = f.record(&e, seen, Instant::now());
        assert_eq!(r.object, "Pod shop/web-a");
        assert_eq!(
            r.event_time,
            Some(jiff::Timestamp::from_second(1_767_225_605).unwrap())
        );
        let written = serde_json::to_value(&r).unwrap();
        assert_eq!(written["eventTime"], "2026-01-01T00:00:05Z");
        assert_eq!(written["observedAt"], "2026-01-01T00:00:06.000Z");
    }
}
