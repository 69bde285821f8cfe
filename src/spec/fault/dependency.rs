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
    /// Delay only the HTTP requests this selects (needs `perRequest: true`); the others
    /// pass untouched.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub request_match: Option<RequestMatch>,
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
    /// Share of requests answered with it, above 0 and at most 1 (of the selected
    /// requests, with `match`).
    pub rate: f64,
    /// Answer only the HTTP requests this selects; the others pass untouched.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub request_match: Option<RequestMatch>,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the errors last.
    pub duration: Duration,
}

fn default_error_status() -> u16 {
    503
}

/// Which HTTP requests a dependency fault acts on: every condition given must hold.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestMatch {
    /// The request method, compared case-sensitively (`GET`, not `get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A prefix of the path (without the query), compared as text: `/pay` selects `/pay/1`
    /// and `/payments` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// A regular expression (Rust `regex` syntax) searched for in the path; anchor it with
    /// `^` and `$` to match the whole path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    /// A header the request carries with exactly this value (the name in any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
}

/// A header condition of a request match.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeaderMatch {
    /// The header name, such as `x-tenant`; compared case-insensitively.
    pub name: String,
    /// The exact value, such as `blue`.
    pub value: String,
}

/// Whether `s` is an HTTP token (RFC 9110 section 5.6.2), as methods and header names are.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl RequestMatch {
    /// Records every problem of the match at `path` (the `match` field).
    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        if self == &Self::default() {
            check.problem(
                path,
                "names no condition: give method, pathPrefix, pathRegex or header",
            );
        }
        if let Some(method) = &self.method
            && !is_token(method)
        {
            check.problem(
                format!("{path}.method"),
                if method.is_empty() {
                    "is empty: write a method such as GET".to_owned()
                } else {
                    format!("{method:?} is not an HTTP method: write one such as GET")
                },
            );
        }
        if let Some(prefix) = &self.path_prefix
            && !prefix.starts_with('/')
        {
            check.problem(
                format!("{path}.pathPrefix"),
                format!("{prefix:?} does not start with /"),
            );
        }
        if let Some(source) = &self.path_regex {
            if source.is_empty() {
                check.problem(
                    format!("{path}.pathRegex"),
                    "is empty: leave it out to match every path",
                );
            } else if let Err(e) = regex::Regex::new(source) {
                check.problem(
                    format!("{path}.pathRegex"),
                    format!("is not a regular expression: {e}"),
                );
            }
        }
        if let Some(header) = &self.header {
            if !is_token(&header.name) {
                check.problem(
                    format!("{path}.header.name"),
                    format!("{:?} is not a header name", header.name),
                );
            }
            if header.value.contains(['\r', '\n', '\0']) {
                check.problem(
                    format!("{path}.header.value"),
                    "holds a line break or NUL, which no header value can",
                );
            }
        }
    }

    /// How the match reads in a plan: `POST /pay* with x-tenant: blue`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.method {
            parts.push(m.clone());
        }
        if let Some(p) = &self.path_prefix {
            parts.push(format!("{p}*"));
        }
        if let Some(r) = &self.path_regex {
            parts.push(format!("path ~ {r}"));
        }
        if let Some(h) = &self.header {
            parts.push(format!("with {}: {}", h.name, h.value));
        }
        parts.join(" ")
    }
}

/// The words a fault's description adds for its match.
fn matching(m: Option<&RequestMatch>) -> String {
    m.map(|m| format!(" matching {}", m.describe()))
        .unwrap_or_default()
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

/// A dependency fault on kubernetes deploys the fault proxy in the dependency's namespace,
/// and those checked from the cluster a verifier pod beside it.
fn proxy_permissions(
    target: &KubernetesTarget,
    dependency: &str,
    uses: &[Use],
) -> Vec<(String, Use)> {
    target
        .dependencies
        .iter()
        .find(|d| d.name == dependency)
        .map(|d| uses.iter().map(|u| (d.namespace.clone(), *u)).collect())
        .unwrap_or_default()
}

/// Implements the parts every dependency fault shares.
macro_rules! dependency_kind {
    ($in_cluster:expr, [$($uses:expr),*]) => {
        const PLATFORMS: Platforms = Platforms::Both;
        const CAPABILITIES: &'static [Capability] = DEPENDENCY_FAULT;
        const EFFECT_CHECK_IN_CLUSTER: Option<&'static str> = Some($in_cluster);
        common_fields!(no selection);


        fn dependency(&self) -> Option<&str> {
            Some(&self.dependency)
        }
        fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
            proxy_permissions(target, &self.dependency, &[$($uses),*])
        }
        fn granted() -> Vec<(Scope, Use)> {
            vec![$((Scope::Target, $uses)),*]
        }
    };
}

impl FaultKind for DependencyLatency {
    const TYPE_NAME: &'static str = "dependency-latency";
    const EFFECT_CHECK: &'static str = "a request of firedrill's own through the dependency's proxy (one the fault's match selects) is answered no sooner than 80% of the latency";
    dependency_kind!(
        "a verifier pod in the dependency's namespace (firedrill's image, `spec.target.helperImage`, restricted PodSecurity) runs `firedrill internal http-check`: the same request through the dependency's Service, now the proxy's, judged as on this host; a per-chunk latency on a port not declared HTTP (appProtocol or name) is `unverified`",
        [Use::ClusterProxy, Use::VerifierPod]
    );

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
        if let Some(m) = &self.request_match {
            let path = format!("{path}.match");
            if !self.per_request {
                check.problem(
                    &path,
                    "needs perRequest: true: only a per-request delay sees HTTP requests; a per-chunk delay applies to every byte",
                );
            }
            m.validate(&path, check);
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "delay {}{} by {} ± {}{} for {}",
            self.dependency,
            matching(self.request_match.as_ref()),
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
    const EFFECT_CHECK: &'static str = "requests of firedrill's own through the proxy (ones the fault's match selects) until one is answered with the status (enough that all would miss by chance less than once in 1000, at most 50)";
    dependency_kind!(
        "a verifier pod in the dependency's namespace (firedrill's image, `spec.target.helperImage`, restricted PodSecurity) runs `firedrill internal http-check`: the same requests through the dependency's Service, now the proxy's, judged as on this host",
        [Use::ClusterProxy, Use::VerifierPod]
    );

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
        if let Some(m) = &self.request_match {
            m.validate(&format!("{path}.match"), check);
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "answer {:.0}% of the HTTP requests to {}{} with {} for {}",
            self.rate * 100.0,
            self.dependency,
            matching(self.request_match.as_ref()),
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
    const EFFECT_CHECK: &'static str = "refuse: a connection to the proxy fails; reset: a request through it is cut off with no answer; blackhole: a request gets no answer in 1 s";
    dependency_kind!(
        "a verifier pod in the dependency's namespace (firedrill's image, `spec.target.helperImage`, restricted PodSecurity) runs `firedrill internal http-check`: the same request through the dependency's Service, now the proxy's, judged as on this host; reset and blackhole on a port not declared HTTP (appProtocol or name) are `unverified`",
        [Use::ClusterProxy, Use::VerifierPod]
    );

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
    const EFFECT_CHECK: &'static str = "a request through the proxy, padded to take a few tenths of a second at the limit (at most 8 KB), and its whole answer take at least what the limit allows, beyond the same request's time straight to the dependency; faster is `ineffective`";
    dependency_kind!(
        "not checked (`unverified`): the check times a whole transfer through the proxy and straight to the dependency, which a verifier pod does not do yet",
        [Use::ClusterProxy]
    );

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
