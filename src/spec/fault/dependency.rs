//! Faults on a dependency, through the fault proxy in front of it (locally, or deployed in
//! front of its Service on kubernetes).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::Duration;

/// Delay a dependency: every chunk of data on the chosen stream waits `latency` ± `jitter`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyLatency {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// Added delay.
    pub latency: Duration,
    /// Random variation, plus or minus.
    #[serde(default)]
    pub jitter: Duration,
    /// Delay each HTTP request instead of each chunk of data.
    #[serde(default)]
    pub per_request: bool,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the delay lasts.
    pub duration: Duration,
}

/// Answer a share of a dependency's HTTP requests with an error status, without
/// forwarding them.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyErrors {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// The status answered, 400 to 599.
    #[serde(default = "default_error_status")]
    pub status: u16,
    /// Share of requests answered with it, above 0 and at most 1.
    pub rate: f64,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the errors last.
    pub duration: Duration,
}

fn default_error_status() -> u16 {
    503
}

/// How a dependency outage looks to its clients.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OutageMode {
    /// Connections are refused.
    #[default]
    Refuse,
    /// Connections are accepted, then reset.
    Reset,
    /// Connections are accepted and nothing ever comes back.
    Blackhole,
}

/// Make a dependency unreachable.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyOutage {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// How the outage looks.
    #[serde(default)]
    pub mode: OutageMode,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the outage lasts.
    pub duration: Duration,
}

/// Limit a dependency's bandwidth, both ways.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependencyBandwidth {
    /// Unique name among the faults.
    pub name: String,
    /// The dependency.
    pub dependency: String,
    /// The limit, in KB/s (at least 1).
    pub rate_kbps: u64,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the limit lasts.
    pub duration: Duration,
}

/// What undoes a dependency fault: on kubernetes the proxy deployed for it goes.
fn dependency_undo(target: &Target, local: &'static str) -> &'static str {
    match target {
        Target::Kubernetes(_) => {
            "put the Service's selector back, then delete the proxy, its upstream Service and its ConfigMap"
        }
        Target::Local(_) => local,
    }
}

/// A dependency fault on kubernetes deploys the fault proxy in the dependency's namespace.
fn proxy_permissions(target: &KubernetesTarget, dependency: &str) -> Vec<(String, Use)> {
    target
        .dependencies
        .iter()
        .find(|d| d.name == dependency)
        .map(|d| vec![(d.namespace.clone(), Use::ClusterProxy)])
        .unwrap_or_default()
}

/// Implements the parts every dependency fault shares.
macro_rules! dependency_kind {
    () => {
        const PLATFORMS: Platforms = Platforms::Both;
        const CAPABILITIES: &'static [Capability] = DEPENDENCY_FAULT;
        common_fields!(no selection);


        fn dependency(&self) -> Option<&str> {
            Some(&self.dependency)
        }
        fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
            proxy_permissions(target, &self.dependency)
        }
        fn granted() -> Vec<(Scope, Use)> {
            vec![(Scope::Target, Use::ClusterProxy)]
        }
    };
}

impl FaultKind for DependencyLatency {
    const TYPE_NAME: &'static str = "dependency-latency";
    dependency_kind!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.positive(&format!("{path}.latency"), self.latency);
        if self.jitter > self.latency {
            check.problem(
                format!("{path}.jitter"),
                format!(
                    "{} is more than the latency ({}): delays cannot be negative",
                    self.jitter, self.latency
                ),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "delay {} by {} ± {}{} for {}",
            self.dependency,
            self.latency,
            self.jitter,
            if self.per_request { " per request" } else { "" },
            self.duration
        )
    }
    fn undo(&self, target: &Target) -> &'static str {
        dependency_undo(target, "remove the toxic from the proxy")
    }
}

impl FaultKind for DependencyErrors {
    const TYPE_NAME: &'static str = "dependency-errors";
    dependency_kind!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if !(400..=599).contains(&self.status) {
            check.problem(
                format!("{path}.status"),
                format!(
                    "{} is out of range: write an error status from 400 to 599",
                    self.status
                ),
            );
        }
        if !(self.rate > 0.0 && self.rate <= 1.0) {
            check.problem(
                format!("{path}.rate"),
                format!(
                    "{} is out of range: write more than 0 and at most 1",
                    self.rate
                ),
            );
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "answer {:.0}% of the HTTP requests to {} with {} for {}",
            self.rate * 100.0,
            self.dependency,
            self.status,
            self.duration
        )
    }
    fn undo(&self, target: &Target) -> &'static str {
        dependency_undo(target, "remove the toxic from the proxy")
    }
}

impl FaultKind for DependencyOutage {
    const TYPE_NAME: &'static str = "dependency-outage";
    dependency_kind!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "{:?} connections to {} for {}",
            self.mode, self.dependency, self.duration
        )
    }
    fn undo(&self, target: &Target) -> &'static str {
        dependency_undo(
            target,
            match self.mode {
                OutageMode::Refuse => "the proxy listens again",
                OutageMode::Reset | OutageMode::Blackhole => "remove the toxic from the proxy",
            },
        )
    }
}

impl FaultKind for DependencyBandwidth {
    const TYPE_NAME: &'static str = "dependency-bandwidth";
    dependency_kind!();

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if self.rate_kbps == 0 {
            check.problem(format!("{path}.rateKbps"), "must be at least 1");
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "limit {} to {} KB/s for {}",
            self.dependency, self.rate_kbps, self.duration
        )
    }
    fn undo(&self, target: &Target) -> &'static str {
        dependency_undo(target, "remove the toxic from the proxy")
    }
}
