//! What the Kubernetes platform observes about an iteration, as the result records it: the
//! recovery of each removed pod and the Warning event a detection signal matched.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::time::Timestamp;

/// The recovery of one removed pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRecovery {
    /// The removed pod, `namespace/name`.
    pub pod: String,
    /// Its replacement, once one was created.
    pub replacement: Option<String>,
    /// Removed → replacement created, as the client observed them, in ms.
    pub reschedule_ms: Option<u64>,
    /// Replacement created → Ready, as the client observed them, in ms.
    pub ready_ms: Option<u64>,
    /// Removed → created by the API server's timestamps, in ms, where both exist: the
    /// deletion as the server stamped it (deletionTimestamp less the grace period it holds,
    /// since the server stamps the end of the grace period) to the replacement's
    /// creationTimestamp; whole seconds.
    pub server_reschedule_ms: Option<i64>,
    /// Created → Ready by the API server's timestamps (creationTimestamp, the Ready
    /// condition's lastTransitionTime; whole seconds), in ms.
    pub server_ready_ms: Option<i64>,
}

/// A Warning event that a `kubernetes-event` signal matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarningEvent {
    /// The signal that matched it.
    pub signal: String,
    /// What the event is about, such as `Pod shop/web-7d9f-x2x4q`.
    pub object: String,
    /// The event's reason, such as `BackOff`.
    pub reason: String,
    /// The event's message.
    pub message: String,
    /// The event's own time as the cluster stamped it (`eventTime`, else `firstTimestamp`,
    /// else its creation), RFC 3339 at its own precision; whole seconds except for
    /// `eventTime`.
    #[serde(default, with = "crate::time::as_stamped")]
    pub event_time: Option<jiff::Timestamp>,
    /// When firedrill observed it, RFC 3339 UTC.
    pub observed_at: Timestamp,
    /// Injection → observed by the client, in ms (filled in by the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_detect_ms: Option<u64>,
    /// Injection → the event's own time, in ms (filled in by the run); the event's time has
    /// whole-second resolution unless it is an `eventTime`, so this may read up to a second
    /// early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time_to_detect_ms: Option<i64>,
    /// When firedrill observed it, on the monotonic clock.
    #[serde(skip)]
    pub observed: Option<Instant>,
}
