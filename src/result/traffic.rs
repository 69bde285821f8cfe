//! The traffic's figures in result.json: per phase over the run and per iteration, with
//! the error budget burned and the latency degradation (docs/traffic.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The traffic of the whole run: how it was paced and what each phase carried.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSummary {
    /// `open` (a fixed rate) or `closed` (a fixed concurrency).
    pub model: String,
    /// The rate asked for, requests per second (open model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_rate: Option<f64>,
    /// Requests in flight (closed model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// `keep-alive` or `new`.
    pub connection: String,
    /// The time series' bucket width.
    pub resolution_ms: f64,
    /// The time series, relative to the results folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_file: Option<String>,
    /// Whether every phase carried the asked rate (within the documented slack).
    pub sustained: bool,
    /// Each phase that fell short of the asked rate, in one sentence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortfalls: Vec<String>,
    /// Phase → figures, over all iterations.
    pub phases: BTreeMap<String, TrafficPhase>,
}

/// The traffic of one iteration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IterationTraffic {
    /// Phase → figures.
    pub phases: BTreeMap<String, TrafficPhase>,
    /// Bad requests in the fault and recovery phases: what the fault cost.
    pub bad_requests: u64,
    /// The error budget in requests: `(1 - slo.availability)` of the requests the SLO's
    /// window carries at this iteration's achieved rate (with `spec.slo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_allowance: Option<f64>,
    /// `badRequests / budgetAllowance`: 1 is the whole window's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_burned: Option<f64>,
    /// p99 in the fault phase over p99 at baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_degradation: Option<f64>,
}

/// The traffic of one phase. Latencies in milliseconds, from each request's intended send
/// time in the open model.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPhase {
    /// How long the phase lasted.
    pub duration_ms: f64,
    /// Requests whose intended send time fell in the phase.
    pub requests: u64,
    /// Requests actually sent (the others waited past their timeout for a connection).
    pub sent: u64,
    /// Requests that failed: no answer (see `errorKinds`) or a 5xx status.
    pub errors: u64,
    /// Requests that count against the error budget: errors, and answers slower than the
    /// SLO's latency.
    pub bad: u64,
    /// Answers by status class (`2xx`, `5xx`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status: BTreeMap<String, u64>,
    /// Requests without an answer, by kind: `connect`, `timeout`, `io`, `not-sent`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_kinds: BTreeMap<String, u64>,
    /// The rate asked for (open model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_rate: Option<f64>,
    /// `sent / duration`.
    pub achieved_rate: Option<f64>,
    /// The largest delay of the generator's own schedule (a request sent late while a
    /// connection was free), in milliseconds.
    pub max_schedule_lag_ms: f64,
    /// Share of good requests (`1 - bad / requests`).
    pub availability: Option<f64>,
    /// Median latency.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest latency.
    pub max: Option<f64>,
}

/// One line of traffic.jsonl: the requests of one iteration and phase whose intended send
/// time fell in one bucket of the time series. Latencies in milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeriesLine {
    /// The iteration, from 1.
    pub iteration: u32,
    /// `baseline`, `fault`, `recovery` or `cooldown`.
    pub phase: String,
    /// The bucket's start, from the run's start (`startedAt` in result.json).
    pub offset_ms: f64,
    /// Requests.
    pub requests: u64,
    /// Failed requests (no answer or 5xx).
    pub errors: u64,
    /// Requests that count against the error budget.
    pub bad: u64,
    /// Median latency.
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest latency.
    pub max: Option<f64>,
}
