//! Detection canaries on this host: marked requests to a workload, a honeytoken file read.
//! docs/security-drills.md describes each one: what it imitates, what a monitor must see,
//! and what catching it does not prove.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::Duration;

/// The fixed marker every canary and prevention check carries in the names of what it
/// creates and in its payloads, so that a security team can tell a drill from an attack.
pub const MARKER: &str = "firedrill-canary";

/// Send requests carrying the canary marker to a local workload (the demo counts them in
/// `firedrill_demo_canary_requests_total`, which a Prometheus alert can watch).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryRequest {
    /// Unique name among the faults.
    pub name: String,
    /// The URL requested, with placeholders (`http://{workload.checkout}/admin/.env`).
    pub url: String,
    /// The HTTP method (GET when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// How many requests are sent (1 to 1000).
    #[serde(default = "one")]
    pub count: u32,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

/// Read a honeytoken file on this host; firedrill creates it (with the marker inside) when
/// it does not exist, and removes what it created at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryFileRead {
    /// Unique name among the faults.
    pub name: String,
    /// The honeytoken file, absolute or relative to the experiment file.
    pub path: String,
    /// How many times the file is opened and read (1 to 1000).
    #[serde(default = "one")]
    pub count: u32,
    /// The detection signals (by name) that count as noticing this canary; any signal
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detected_by: Vec<String>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the fault phase lasts for this canary.
    #[serde(default)]
    pub duration: Duration,
}

pub(super) fn one() -> u32 {
    1
}

/// What undoes a canary that changes nothing.
pub(super) const NOTHING_LEFT: &str = "nothing to undo: the canary leaves no change behind";

impl FaultKind for CanaryRequest {
    const TYPE_NAME: &'static str = "canary-request";
    const EFFECT_CHECK: &'static str = super::CANARY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = CANARY;
    common_fields!(no selection);

    fn canary_signals(&self) -> Option<&[String]> {
        Some(&self.detected_by)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.url(&format!("{path}.url"), &self.url);
        if let Some(m) = &self.method
            && !matches!(
                m.as_str(),
                "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH"
            )
        {
            check.problem(
                format!("{path}.method"),
                format!("`{m}` is not an HTTP method: write GET, HEAD, POST, PUT, DELETE, OPTIONS or PATCH"),
            );
        }
        check.count(&format!("{path}.count"), self.count, 1000);
    }
    fn describe(&self) -> String {
        format!(
            "send {} {} request(s) marked `{}` to {}",
            self.count,
            self.method.as_deref().unwrap_or("GET"),
            MARKER,
            self.url
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        NOTHING_LEFT
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        Vec::new()
    }
    fn granted() -> Vec<(Scope, Use)> {
        Vec::new()
    }
}

impl FaultKind for CanaryFileRead {
    const TYPE_NAME: &'static str = "canary-file-read";
    const EFFECT_CHECK: &'static str = super::CANARY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Local;
    const CAPABILITIES: &'static [Capability] = CANARY;
    common_fields!(no selection);

    fn canary_signals(&self) -> Option<&[String]> {
        Some(&self.detected_by)
    }
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if self.path.trim().is_empty() {
            check.problem(format!("{path}.path"), "must name a file");
        }
        check.count(&format!("{path}.count"), self.count, 1000);
    }
    fn describe(&self) -> String {
        format!(
            "read the honeytoken file {} {} time(s)",
            self.path, self.count
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "remove the honeytoken file if firedrill created it"
    }
    fn permissions(&self, _target: &KubernetesTarget) -> Vec<(String, Use)> {
        Vec::new()
    }
    fn granted() -> Vec<(Scope, Use)> {
        Vec::new()
    }
}
