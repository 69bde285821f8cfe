//! `spec.traffic`: HTTP load carried through the whole run, and `spec.slo`: the service
//! level objective its error budget is counted against (docs/traffic.md).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, HttpMethod};

/// The highest fixed rate a run accepts, in requests per second: above it one machine's
/// generator cannot keep its schedule, and the run would report a rate it did not send.
pub const MAX_RATE: f64 = 50_000.0;
/// The most concurrent requests of the closed model, and connections of the open model.
pub const MAX_CONNECTIONS: u32 = 4096;
/// The longest request timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The finest and coarsest time-series resolution.
pub const MIN_RESOLUTION: Duration = Duration::from_millis(10);
/// The coarsest time-series resolution.
pub const MAX_RESOLUTION: Duration = Duration::from_secs(60);

/// HTTP load sent through the whole run: baseline, fault, recovery and cool-down.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Traffic {
    /// How requests are paced: a fixed rate (open model) or a fixed concurrency (closed).
    pub model: TrafficModel,
    /// The requests, each picked with a probability proportional to its weight.
    pub requests: Vec<TrafficRequest>,
    /// Time allowed for a request, counted from its intended send time; a request still
    /// running then counts as a timeout.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Whether connections are kept open between requests.
    #[serde(default)]
    pub connection: ConnectionMode,
    /// The resolution of the time series (traffic.jsonl).
    #[serde(default = "default_resolution")]
    pub resolution: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_resolution() -> Duration {
    Duration::from_millis(100)
}

/// How requests are paced.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TrafficModel {
    /// A fixed rate: every request has an intended send time and its latency is counted
    /// from it, so a stall of the service shows in full (no coordinated omission).
    Open(OpenModel),
    /// A fixed number of requests in flight: each sends its next request when the last
    /// one answered.
    Closed(ClosedModel),
}

/// The open model's rate.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenModel {
    /// Requests per second, above 0 and at most 50,000.
    pub rate: f64,
    /// The most requests in flight at once (each on its own connection); a request that
    /// finds them all busy waits, and its wait counts in its latency.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    256
}

/// The closed model's concurrency.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClosedModel {
    /// Requests in flight at once, 1 to 4096.
    pub concurrency: u32,
}

/// Whether a connection serves more than one request.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// HTTP/1.1 keep-alive: a connection is reused for the next request.
    #[default]
    KeepAlive,
    /// A new connection for every request (its set-up counts in the latency).
    New,
}

/// One kind of request of the traffic.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficRequest {
    /// Absolute http:// URL; placeholders such as `{workload.web}` are expanded as in
    /// HTTP probes.
    pub url: String,
    /// Request method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body, read from a file (relative to the experiment file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<String>,
    /// Relative weight among the requests.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// The service level objective the traffic is judged against.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Slo {
    /// The share of good requests promised over the window, such as 0.999.
    pub availability: f64,
    /// A request slower than this is bad, even when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
    /// The window the promise is made over, such as `30d`: the error budget is
    /// `(1 - availability)` of the requests the window carries at the traffic's rate.
    pub window: Duration,
}

impl TrafficRequest {
    /// The body file's path: as written when absolute, else in the experiment's folder.
    pub fn body_path(&self, base: &std::path::Path) -> Option<std::path::PathBuf> {
        self.body_file.as_ref().map(|f| base.join(f))
    }
}

/// A problem for every traffic request whose `bodyFile` cannot be read, the experiment's
/// file being in `base`.
pub fn missing_body_files(spec: &super::Spec, base: &std::path::Path) -> Vec<super::Problem> {
    let Some(traffic) = &spec.traffic else {
        return Vec::new();
    };
    traffic
        .requests
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let path = r.body_path(base)?;
            let error = std::fs::metadata(&path)
                .err()
                .map(|e| e.to_string())
                .or_else(|| (!path.is_file()).then(|| "not a file".to_owned()))?;
            Some(super::Problem {
                path: format!("spec.traffic.requests[{i}].bodyFile"),
                location: None,
                message: format!("cannot read {}: {error}", path.display()),
            })
        })
        .collect()
}
