//! The experiment document: plain serde types, closed enums, unknown fields rejected.
//!
//! These types are data only. The engine and the platforms build their runtime objects
//! from them; nothing here performs I/O.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;
use super::fault::*;
use super::response::Response;

/// The only API version this build understands.
pub const API_VERSION: &str = "firedrill.dev/v1alpha1";

/// A whole experiment file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Experiment {
    /// Always `firedrill.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Experiment`.
    pub kind: Kind,
    /// Name, description and labels.
    pub metadata: Metadata,
    /// What to run, break, watch and expect.
    pub spec: Spec,
}

/// The API version of the document.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ApiVersion {
    /// The first, still evolving, version.
    #[serde(rename = "firedrill.dev/v1alpha1")]
    V1Alpha1,
}

/// The kind of document.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Kind {
    /// A single experiment.
    Experiment,
}

/// Identifying data of an experiment.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// A DNS-label-like name: lower-case letters, digits and `-`, at most 63 characters.
    pub name: String,
    /// What the experiment shows, in one or two sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form labels copied into results.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The body of an experiment.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// Where the workloads live.
    pub target: Target,
    /// What "working" means, measured continuously.
    pub steady_state: SteadyState,
    /// The faults of each iteration, each on its own schedule.
    pub faults: Vec<FaultSpec>,
    /// What counts as "the organisation noticed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    /// When the system counts as recovered.
    #[serde(default)]
    pub recovery: Recovery,
    /// HTTP load sent through the whole run, measured per phase and over time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<super::Traffic>,
    /// The service level objective the traffic's error budget is counted against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<super::Slo>,
    /// Targets that decide the verdict and the exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
    /// How the measurements count on the scorecard, where the defaults do not fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<super::ScorecardSpec>,
    /// How many times the fault schedule is repeated.
    #[serde(default = "default_iterations")]
    pub iterations: u32,
    /// Pause between iterations.
    #[serde(default)]
    pub cooldown: Duration,
    /// Limits that stop the run early.
    #[serde(default)]
    pub safety: Safety,
    /// Regulatory notification drafts written at detection, and their optional delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
    /// Roles that must acknowledge the incident once it is detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordination: Option<Coordination>,
    /// How the organisation's response is exercised: the time its legal clocks run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
}

fn default_iterations() -> u32 {
    1
}

/// The platform and its workloads.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "platform", rename_all = "kebab-case")]
pub enum Target {
    /// Processes on this host, started and supervised by firedrill.
    Local(LocalTarget),
    /// Workloads in a Kubernetes cluster, changed only through its API.
    Kubernetes(KubernetesTarget),
}

/// Workloads in a Kubernetes cluster, with the guardrails that bound what may be touched.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesTarget {
    /// The kubeconfig context; the current one when absent (the `--context` option overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The namespaces firedrill may touch; nothing outside them is ever changed.
    pub namespaces: Vec<String>,
    /// Allow system namespaces (kube-system, kube-public, kube-node-lease, any `kube-*`).
    #[serde(default)]
    pub allow_system_namespaces: bool,
    /// The label every target pod must carry.
    #[serde(default)]
    pub opt_in_label: OptInLabel,
    /// Whether target pods must carry `optInLabel`; `false` turns the check off.
    #[serde(default = "default_true")]
    pub require_opt_in: bool,
    /// The workloads faults and probes refer to by name.
    pub workloads: Vec<KubernetesWorkload>,
    /// Allow faults on nodes (node-cordon, node-drain), which reach beyond the allowlisted namespaces.
    #[serde(default)]
    pub allow_node_faults: bool,
    /// An image with `firedrill` on its PATH (examples/container/Dockerfile builds one), run
    /// as an ephemeral container in target pods by `pod-cpu-stress`, `pod-memory-stress` and
    /// `pod-disk-fill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_image: Option<String>,
    /// Services the workloads call, which dependency faults act on through a proxy that
    /// firedrill deploys in front of them for the fault's duration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<KubernetesDependency>,
}

/// A dependency in the cluster: an existing Service and the pods behind it.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesDependency {
    /// Unique name among the dependencies, used by dependency faults.
    pub name: String,
    /// The Service's namespace, one of `namespaces`.
    pub namespace: String,
    /// The existing Service clients reach the dependency through.
    pub service: String,
    /// The Service ports (`port`, not `targetPort`) faults act on; every port when empty.
    /// The other ports pass through the proxy untouched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// The proxy deployed in front of the Service; dependency faults need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ClusterProxy>,
}

/// How the fault proxy runs in the cluster.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterProxy {
    /// An image with `firedrill` on its PATH, built from the repository's Dockerfile.
    pub image: String,
    /// How long the proxy Deployment may take to become available before the fault is
    /// abandoned and everything it created is removed.
    #[serde(default = "default_proxy_ready_timeout")]
    pub ready_timeout: Duration,
}

fn default_proxy_ready_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_true() -> bool {
    true
}

/// A label, as a key and a value.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OptInLabel {
    /// The label's key.
    pub key: String,
    /// The label's value.
    pub value: String,
}

impl Default for OptInLabel {
    fn default() -> Self {
        Self {
            key: "firedrill.dev/chaos".to_owned(),
            value: "allowed".to_owned(),
        }
    }
}

/// A named target in the cluster: a controller and its pods, or pods directly.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesWorkload {
    /// Unique name among the workloads, used by faults and probes.
    pub name: String,
    /// The namespace, one of `namespaces`.
    pub namespace: String,
    /// The kind of object.
    pub kind: WorkloadKind,
    /// The object's name; required for a controller, or a single pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    /// Pod labels that must all match (for a controller, they narrow its pods).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// The kinds of object a workload can be.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// core/v1 Pod.
    Pod,
}

impl WorkloadKind {
    /// The kind as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Pod => "Pod",
        }
    }

    /// The API resource (plural) of the kind.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Deployment => "deployments",
            Self::StatefulSet => "statefulsets",
            Self::DaemonSet => "daemonsets",
            Self::Pod => "pods",
        }
    }

    /// The API group of the kind (empty for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Self::Pod => "",
            _ => "apps",
        }
    }
}

/// Workloads run as processes on this host.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalTarget {
    /// The workloads firedrill starts, supervises and puts behind a service address.
    pub workloads: Vec<Workload>,
    /// Services the workloads call (a database, a payment API), each reached through an
    /// embedded fault proxy so that dependency faults can act on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// How long to wait for every replica to become ready before the first iteration.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout: Duration,
    /// A Prometheus (and optionally an Alertmanager) that firedrill runs for this experiment,
    /// as the workloads `prometheus` and `alertmanager`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<Observability>,
}

/// The detection stack of a local experiment: configuration generated, ports allocated and
/// processes supervised by firedrill (see docs/observability.md).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Observability {
    /// Prometheus, scraping the workloads and evaluating the alert rules.
    pub prometheus: PrometheusStack,
    /// Alertmanager, receiving Prometheus' alerts and routing them to firedrill's webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<AlertmanagerStack>,
}

/// The Prometheus that firedrill runs (Debian package `prometheus`, found on PATH).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusStack {
    /// Rule files, relative to the experiment file's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The workloads scraped, every replica on its own address; all workloads when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape: Option<Vec<String>>,
    /// The path scraped on each replica.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// Time between scrapes (whole milliseconds).
    #[serde(default = "default_observability_interval")]
    pub scrape_interval: Duration,
    /// Time between rule evaluations (whole milliseconds).
    #[serde(default = "default_observability_interval")]
    pub evaluation_interval: Duration,
}

/// The Alertmanager that firedrill runs (Debian package `prometheus-alertmanager`, found on PATH).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertmanagerStack {
    /// A configuration file of your own, relative to the experiment file's folder, in which
    /// `{webhook}` is expanded; generated (routing every alert to the webhook) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The route's `group_wait` in the generated configuration.
    #[serde(default)]
    pub group_wait: Duration,
    /// The route's `group_interval` in the generated configuration.
    #[serde(default = "default_observability_interval")]
    pub group_interval: Duration,
    /// The route's `repeat_interval` in the generated configuration.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: Duration,
}

impl Default for AlertmanagerStack {
    fn default() -> Self {
        Self {
            config: None,
            group_wait: Duration::default(),
            group_interval: default_observability_interval(),
            repeat_interval: default_repeat_interval(),
        }
    }
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}
fn default_observability_interval() -> Duration {
    Duration::from_millis(200)
}
fn default_repeat_interval() -> Duration {
    Duration::from_secs(3600)
}

/// A dependency reached through firedrill's embedded fault proxy.
///
/// Workloads reach it at `{dependency.NAME}` (also in the environment variable
/// `DEPENDENCY_NAME`, upper case with `-` as `_`), which is the proxy's address.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Dependency {
    /// Unique name among the dependencies.
    pub name: String,
    /// The real service, `host:port`; may be `{workload.NAME}` or `{replica.NAME.INDEX}`.
    pub upstream: String,
}

fn default_startup_timeout() -> Duration {
    Duration::from_secs(30)
}

/// A set of identical replicas of one program.
///
/// `command`, `args` and `env` values may use placeholders: `{port}` (this replica's port),
/// `{replica}` (its index), `{firedrill}` (the path of the running firedrill binary),
/// `{workload.NAME}` (the service address `127.0.0.1:PORT` of a workload),
/// `{replica.NAME.INDEX}` (the address of one replica, bypassing the service) and
/// `{webhook}` (the URL of firedrill's detection webhook).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workload {
    /// Unique name among the workloads.
    pub name: String,
    /// The program and its first arguments.
    pub command: Vec<String>,
    /// More arguments, appended to `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables added to firedrill's own (`PORT` and `FIREDRILL_REPLICA` are always set).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How many replicas to run.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// When a replica may receive traffic through the service address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// What happens when a replica exits.
    #[serde(default)]
    pub restart: Restart,
}

fn default_replicas() -> u32 {
    1
}

/// A readiness check against one replica, repeated every `period`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Readiness {
    /// An HTTP GET on the replica's port.
    Http(HttpReadiness),
    /// A TCP connection to the replica's port.
    Tcp(TcpReadiness),
    /// A command that exits 0 when the replica is ready.
    Command(CommandReadiness),
}

/// HTTP readiness check.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpReadiness {
    /// Path requested on `127.0.0.1:{port}`.
    #[serde(default = "default_health_path")]
    pub path: String,
    /// The status that means ready.
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// Time between checks.
    #[serde(default = "default_readiness_period")]
    pub period: Duration,
    /// Time allowed for one check.
    #[serde(default = "default_readiness_timeout")]
    pub timeout: Duration,
    /// Consecutive failures that make a ready replica unready.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
}

/// TCP readiness check.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpReadiness {
    /// Time between checks.
    #[serde(default = "default_readiness_period")]
    pub period: Duration,
    /// Time allowed for one check.
    #[serde(default = "default_readiness_timeout")]
    pub timeout: Duration,
    /// Consecutive failures that make a ready replica unready.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
}

/// Command readiness check.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandReadiness {
    /// The program and its arguments; placeholders are expanded.
    pub command: Vec<String>,
    /// Time between checks.
    #[serde(default = "default_readiness_period")]
    pub period: Duration,
    /// Time allowed for one check.
    #[serde(default = "default_readiness_timeout")]
    pub timeout: Duration,
    /// Consecutive failures that make a ready replica unready.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
}

impl Readiness {
    /// Time between checks.
    pub fn period(&self) -> Duration {
        match self {
            Self::Http(r) => r.period,
            Self::Tcp(r) => r.period,
            Self::Command(r) => r.period,
        }
    }

    /// Time allowed for one check.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Http(r) => r.timeout,
            Self::Tcp(r) => r.timeout,
            Self::Command(r) => r.timeout,
        }
    }

    /// Consecutive failures that make a ready replica unready.
    pub fn failure_threshold(&self) -> u32 {
        match self {
            Self::Http(r) => r.failure_threshold,
            Self::Tcp(r) => r.failure_threshold,
            Self::Command(r) => r.failure_threshold,
        }
    }
}

fn default_health_path() -> String {
    "/health".to_owned()
}
fn default_status() -> u16 {
    200
}
fn default_readiness_period() -> Duration {
    Duration::from_millis(100)
}
fn default_readiness_timeout() -> Duration {
    Duration::from_millis(250)
}
fn default_failure_threshold() -> u32 {
    1
}

/// Restart policy with exponential back-off, like a ReplicaSet's pods.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Restart {
    /// When an exited replica is started again.
    #[serde(default)]
    pub policy: RestartPolicy,
    /// Delay before the first restart; doubled after each quick failure.
    #[serde(default = "default_backoff")]
    pub backoff: Duration,
    /// Upper bound of the back-off.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Duration,
}

impl Default for Restart {
    fn default() -> Self {
        Self {
            policy: RestartPolicy::default(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

fn default_backoff() -> Duration {
    Duration::from_millis(200)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(10)
}

/// When a replica that exited is started again.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always, whatever the exit status.
    #[default]
    Always,
    /// Only after a non-zero exit or a signal.
    OnFailure,
    /// Never (a killed replica stays down until the fault is reverted).
    Never,
}

/// The steady-state hypothesis: probes that run on a fixed schedule for the whole run.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SteadyState {
    /// Probe schedule (at least 10ms).
    #[serde(default = "default_probe_interval")]
    pub interval: Duration,
    /// How long the steady state is observed before each injection; the baseline also
    /// lasts until every probe has made at least one observation.
    #[serde(default = "default_baseline")]
    pub baseline: Duration,
    /// The probes. Each observation passes or fails by the probe's own tolerances.
    pub probes: Vec<Probe>,
}

fn default_probe_interval() -> Duration {
    Duration::from_millis(100)
}
fn default_baseline() -> Duration {
    Duration::from_secs(1)
}

/// One probe of the steady state.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Probe {
    /// An HTTP request.
    Http(HttpProbe),
    /// A TCP connection.
    Tcp(TcpProbe),
    /// A command's exit code.
    Command(CommandProbe),
    /// A Kubernetes workload has as many available replicas as it wants.
    WorkloadAvailable(WorkloadAvailableProbe),
    /// Every pod of a Kubernetes workload is Ready.
    PodReady(PodReadyProbe),
    /// A Kubernetes object exists.
    ObjectExists(ObjectExistsProbe),
    /// Kubernetes objects of any kind, custom resources included, satisfy an expectation.
    KubernetesObject(KubernetesObjectProbe),
    /// An instant PromQL query whose every value satisfies a comparison.
    Prometheus(PrometheusProbe),
}

impl Probe {
    /// The probe's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Http(p) => &p.name,
            Self::Tcp(p) => &p.name,
            Self::Command(p) => &p.name,
            Self::WorkloadAvailable(p) => &p.name,
            Self::PodReady(p) => &p.name,
            Self::ObjectExists(p) => &p.name,
            Self::KubernetesObject(p) => &p.name,
            Self::Prometheus(p) => &p.name,
        }
    }

    /// The share of observations that must pass for the steady state to hold at baseline.
    pub fn min_success_ratio(&self) -> f64 {
        match self {
            Self::Http(p) => p.min_success_ratio,
            Self::Tcp(p) => p.min_success_ratio,
            Self::Command(p) => p.min_success_ratio,
            Self::WorkloadAvailable(p) => p.min_success_ratio,
            Self::PodReady(p) => p.min_success_ratio,
            Self::ObjectExists(p) => p.min_success_ratio,
            Self::KubernetesObject(p) => p.min_success_ratio,
            Self::Prometheus(p) => p.min_success_ratio,
        }
    }

    /// Time allowed for one observation.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Http(p) => p.timeout,
            Self::Tcp(p) => p.timeout,
            Self::Command(p) => p.timeout,
            Self::WorkloadAvailable(p) => p.timeout,
            Self::PodReady(p) => p.timeout,
            Self::ObjectExists(p) => p.timeout,
            Self::KubernetesObject(p) => p.timeout,
            Self::Prometheus(p) => p.timeout,
        }
    }

    /// Whether the probe reads the Kubernetes API (and needs the kubernetes platform).
    pub fn is_kubernetes(&self) -> bool {
        matches!(
            self,
            Self::WorkloadAvailable(_)
                | Self::PodReady(_)
                | Self::ObjectExists(_)
                | Self::KubernetesObject(_)
        )
    }
}

/// HTTP probe: passes when the status matches and the response arrives within `maxLatency`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpProbe {
    /// Unique name among the probes.
    pub name: String,
    /// Absolute http:// URL; placeholders such as `{workload.web}` or `{replica.web.0}`
    /// are expanded.
    pub url: String,
    /// Request method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The status that counts as a pass: a code (`200`), a class (`"2xx"`), a range
    /// (`"200-299"`), or several of these separated by commas (`"200,204"`).
    #[serde(default)]
    pub expect_status: StatusExpectation,
    /// What the response's body must say, besides its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<BodyExpectation>,
    /// Time allowed for the whole request; a request still running then fails.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// A slower response fails even with the expected status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<Duration>,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// The statuses that count as a pass: a code, or text naming classes and ranges.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(untagged)]
pub enum StatusExpectation {
    /// One code, such as `200`.
    Code(u16),
    /// Classes (`2xx`), ranges (`200-299`) and codes, comma-separated.
    Text(String),
}

impl Default for StatusExpectation {
    fn default() -> Self {
        Self::Code(default_status())
    }
}

impl StatusExpectation {
    /// The inclusive ranges of codes that pass, or what is wrong with the text.
    pub fn ranges(&self) -> Result<Vec<(u16, u16)>, String> {
        let text = match self {
            Self::Code(c) if (100..=599).contains(c) => return Ok(vec![(*c, *c)]),
            Self::Code(c) => return Err(format!("{c} is not a status between 100 and 599")),
            Self::Text(t) => t,
        };
        let code = |part: &str| {
            part.parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("`{part}` is not a status between 100 and 599"))
        };
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let range = match part.as_bytes() {
                [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                    let base = u16::from(d - b'0') * 100;
                    (base, base + 99)
                }
                _ => match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (code(a.trim())?, code(b.trim())?);
                        if a > b {
                            return Err(format!("`{part}` is a range from high to low"));
                        }
                        (a, b)
                    }
                    None => {
                        let c = code(part)?;
                        (c, c)
                    }
                },
            };
            ranges.push(range);
        }
        Ok(ranges)
    }
}

impl fmt::Display for StatusExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(c) => write!(f, "{c}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// What an HTTP probe's response body must say: a regular expression it contains, or a
/// JSONPath whose every selected value equals a JSON value or satisfies a comparison.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BodyExpectation {
    /// A regular expression the body (as UTF-8 text) must contain a match of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A JSONPath (RFC 9535) into the body, read as JSON: it must select at least one value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// Every value the JSONPath selects equals this JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// Every value the JSONPath selects is a number that satisfies `op` `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<CompareOp>,
    /// The bound of `op`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// HTTP request methods a probe may use.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    #[default]
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
}

impl HttpMethod {
    /// The method as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
        }
    }
}

/// TCP probe: passes when a connection is established within the timeout.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpProbe {
    /// Unique name among the probes.
    pub name: String,
    /// `host:port`; placeholders such as `{workload.web}` are expanded.
    pub address: String,
    /// Time allowed to connect.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// Command probe: passes when the command exits with `expectExitCode` within the timeout.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandProbe {
    /// Unique name among the probes.
    pub name: String,
    /// The program and its arguments; placeholders are expanded.
    pub command: Vec<String>,
    /// The exit code that counts as a pass.
    #[serde(default)]
    pub expect_exit_code: i32,
    /// Time allowed; a command still running then is killed and fails.
    #[serde(default = "default_command_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// Passes when a Deployment, StatefulSet or DaemonSet has all its desired replicas available
/// (a workload that desires none, such as one scaled to zero, fails).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadAvailableProbe {
    /// Unique name among the probes.
    pub name: String,
    /// The workload (a controller) in `spec.target.workloads`.
    pub workload: String,
    /// Time allowed for the API request.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// Passes when the workload has at least one pod and every one of its pods is Ready.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodReadyProbe {
    /// Unique name among the probes.
    pub name: String,
    /// The workload in `spec.target.workloads`.
    pub workload: String,
    /// Time allowed for the API request.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// Passes when the named object exists (and is not being deleted).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectExistsProbe {
    /// Unique name among the probes.
    pub name: String,
    /// The kind of object.
    pub kind: ObjectKind,
    /// Its namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// Its name.
    pub object_name: String,
    /// Time allowed for the API request.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// The kinds of object an `object-exists` probe can look for.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ObjectKind {
    /// core/v1 Pod.
    Pod,
    /// core/v1 Service.
    Service,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Secret.
    Secret,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy,
}

impl ObjectKind {
    /// The API group (empty for core), version and resource (plural) of the kind.
    pub fn api(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Pod => ("", "v1", "pods"),
            Self::Service => ("", "v1", "services"),
            Self::ConfigMap => ("", "v1", "configmaps"),
            Self::Secret => ("", "v1", "secrets"),
            Self::Deployment => ("apps", "v1", "deployments"),
            Self::StatefulSet => ("apps", "v1", "statefulsets"),
            Self::DaemonSet => ("apps", "v1", "daemonsets"),
            Self::NetworkPolicy => ("networking.k8s.io", "v1", "networkpolicies"),
        }
    }

    /// The kind as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::Service => "Service",
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::NetworkPolicy => "NetworkPolicy",
        }
    }
}

/// Passes when the objects of any kind (custom resources included), named or found by
/// label, satisfy `expect`: every object matched must, and at least one must match.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesObjectProbe {
    /// Unique name among the probes.
    pub name: String,
    /// The object's API version: `v1` for the core group, `GROUP/VERSION` otherwise
    /// (`apps/v1`, `example.com/v1alpha1`).
    pub api_version: String,
    /// Its kind as Kubernetes writes it (`Deployment`, `Certificate`); the cluster's
    /// discovery finds the resource that serves it.
    pub kind: String,
    /// The namespace, one of `spec.target.namespaces`.
    pub namespace: String,
    /// One object by name; give this or `matchLabels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    /// Every object whose labels have these values; at least one must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// What each object must satisfy; without it, existing (and not being deleted) is enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ObjectExpectation>,
    /// Time allowed for the API request (and, on the first observation, discovery).
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

impl KubernetesObjectProbe {
    /// The API group (empty for core) and version of `apiVersion`.
    pub fn group_version(&self) -> (&str, &str) {
        self.api_version
            .split_once('/')
            .unwrap_or(("", &self.api_version))
    }
}

/// What a Kubernetes object must satisfy: one of its status conditions, or a field.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum ObjectExpectation {
    /// `status.conditions[]` has a condition of this type with this status (and reason).
    Condition(ConditionExpectation),
    /// A JSONPath into the object whose every selected value equals a JSON value or
    /// satisfies a comparison, as an HTTP probe's `expectBody.jsonPath`.
    Field(FieldExpectation),
}

/// A status condition, such as `{type: Ready, status: "True"}`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionExpectation {
    /// The condition's type (`Ready`, `Available`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Its status: `"True"`, `"False"` or `"Unknown"`.
    pub status: ConditionStatus,
    /// Its reason, when that matters too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The status of a condition, as Kubernetes writes it. An unquoted `True` or `False`, which
/// YAML reads as a boolean, is taken for the status it spells.
#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Its controller does not know.
    Unknown,
}

impl<'de> Deserialize<'de> for ConditionStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ConditionStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of \"True\", \"False\", \"Unknown\"")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(if b {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                })
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match s {
                    "True" => Ok(ConditionStatus::True),
                    "False" => Ok(ConditionStatus::False),
                    "Unknown" => Ok(ConditionStatus::Unknown),
                    _ => Err(E::unknown_variant(s, &["True", "False", "Unknown"])),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl ConditionStatus {
    /// The status as written in `status.conditions[].status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// A JSONPath into an object and what every value it selects must be.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldExpectation {
    /// A JSONPath (RFC 9535) into the object as JSON, such as `$.status.readyReplicas`; it
    /// must select at least one value.
    pub json_path: String,
    /// Every value selected equals this JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// Every value selected is a number that satisfies `op` `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<CompareOp>,
    /// The bound of `op`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Prometheus probe: passes when the query answers and every value satisfies `expect`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusProbe {
    /// Unique name among the probes.
    pub name: String,
    /// Prometheus' base URL, such as `http://{workload.prometheus}` or
    /// `http://prometheus.example.test:9090`; the query goes to `/api/v1/query`.
    pub url: String,
    /// The PromQL expression, evaluated as an instant query.
    pub query: String,
    /// The comparison every value of the answer must satisfy.
    pub expect: Comparison,
    /// What an answer without any series means.
    #[serde(default)]
    pub on_empty: OnEmpty,
    /// Time allowed for the query, connection included.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// The share of passes the steady state needs at baseline.
    #[serde(default = "default_min_success_ratio")]
    pub min_success_ratio: f64,
}

/// A comparison of a value with a bound, such as `{op: "<", value: 0.01}`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Comparison {
    /// The operator.
    pub op: CompareOp,
    /// The bound, a finite number.
    pub value: f64,
}

impl Comparison {
    /// Whether `x` satisfies the comparison; NaN satisfies none, as in PromQL.
    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            CompareOp::Lt => x < self.value,
            CompareOp::Le => x <= self.value,
            CompareOp::Gt => x > self.value,
            CompareOp::Ge => x >= self.value,
            CompareOp::Eq => x == self.value,
            CompareOp::Ne => !x.is_nan() && x != self.value,
        }
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum CompareOp {
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// Equal.
    #[serde(rename = "==")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
}

impl CompareOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }
}

/// What a query answer without any series counts as.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnEmpty {
    /// A failed observation (no data is not good news).
    #[default]
    Fail,
    /// A pass (nothing breaches the bound).
    Pass,
}

fn default_probe_timeout() -> Duration {
    Duration::from_millis(500)
}
fn default_command_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_min_success_ratio() -> f64 {
    1.0
}

/// Which replicas of a workload a fault acts on.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Selector {
    /// One replica, chosen at random among the running ones.
    One(SelectOne),
    /// Every replica.
    All(SelectAll),
    /// A fixed number of replicas, chosen at random.
    Fixed(SelectFixed),
    /// A percentage of the replicas, rounded down but at least one.
    Percent(SelectPercent),
}

impl Selector {
    /// The workload the selector picks from.
    pub fn workload(&self) -> &str {
        match self {
            Self::One(s) => &s.workload,
            Self::All(s) => &s.workload,
            Self::Fixed(s) => &s.workload,
            Self::Percent(s) => &s.workload,
        }
    }

    /// How many of `total` replicas the selector picks.
    pub fn count(&self, total: usize) -> usize {
        let n = match self {
            Self::One(_) => 1,
            Self::All(_) => total,
            Self::Fixed(s) => s.count as usize,
            Self::Percent(s) => {
                let share = (total as f64 * s.percent / 100.0).floor() as usize;
                share.max(1)
            }
        };
        n.min(total)
    }
}

/// One replica.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectOne {
    /// The workload's name.
    pub workload: String,
}

/// Every replica.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectAll {
    /// The workload's name.
    pub workload: String,
}

/// A fixed number of replicas.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectFixed {
    /// The workload's name.
    pub workload: String,
    /// How many replicas (at least 1).
    pub count: u32,
}

/// A percentage of the replicas.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectPercent {
    /// Share of the replicas, above 0 and at most 100.
    pub percent: f64,
    /// The workload's name.
    pub workload: String,
}

/// Signals a kill fault may send.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Signal {
    /// Immediate, uncatchable termination.
    #[default]
    #[serde(rename = "SIGKILL")]
    Kill,
    /// Polite termination request.
    #[serde(rename = "SIGTERM")]
    Term,
    /// Interrupt, as from a terminal.
    #[serde(rename = "SIGINT")]
    Int,
    /// Hang-up.
    #[serde(rename = "SIGHUP")]
    Hup,
    /// Quit with a core dump, where enabled.
    #[serde(rename = "SIGQUIT")]
    Quit,
    /// Abort.
    #[serde(rename = "SIGABRT")]
    Abrt,
}

impl Signal {
    /// The signal number.
    pub fn number(self) -> i32 {
        match self {
            Self::Kill => libc::SIGKILL,
            Self::Term => libc::SIGTERM,
            Self::Int => libc::SIGINT,
            Self::Hup => libc::SIGHUP,
            Self::Quit => libc::SIGQUIT,
            Self::Abrt => libc::SIGABRT,
        }
    }

    /// The conventional name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL",
            Self::Term => "SIGTERM",
            Self::Int => "SIGINT",
            Self::Hup => "SIGHUP",
            Self::Quit => "SIGQUIT",
            Self::Abrt => "SIGABRT",
        }
    }
}

/// Detection signals: the first to fire after injection gives the time to detect.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Detection {
    /// How long after injection each signal may fire (unless it has its own `timeout`);
    /// after the last one the iteration is "not detected".
    #[serde(default = "default_detection_timeout")]
    pub timeout: Duration,
    /// Address the webhook listens on (port 0 picks a free port).
    #[serde(default = "default_webhook_listen")]
    pub webhook_listen: String,
    /// The signals.
    pub signals: Vec<DetectionSignal>,
}

fn default_detection_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_webhook_listen() -> String {
    "127.0.0.1:0".to_owned()
}

/// One way the organisation can notice the fault.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DetectionSignal {
    /// A monitoring probe failing several times in a row.
    ProbeFails(ProbeFailsSignal),
    /// An alert posted to firedrill's webhook (Alertmanager webhook JSON).
    Webhook(WebhookSignal),
    /// A Kubernetes Warning event about a workload's pods or the workload itself.
    KubernetesEvent(KubernetesEventSignal),
    /// A firing alert seen by polling Alertmanager's API v2.
    AlertmanagerAlert(AlertPollSignal),
    /// A firing alert seen by polling Prometheus' `ALERTS` series.
    PrometheusAlert(AlertPollSignal),
}

impl DetectionSignal {
    /// The signal's own timeout, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Self::ProbeFails(s) => s.timeout,
            Self::Webhook(s) => s.timeout,
            Self::KubernetesEvent(s) => s.timeout,
            Self::AlertmanagerAlert(s) | Self::PrometheusAlert(s) => s.timeout,
        }
    }

    /// The signal's name.
    pub fn name(&self) -> &str {
        match self {
            Self::ProbeFails(s) => &s.name,
            Self::Webhook(s) => &s.name,
            Self::KubernetesEvent(s) => &s.name,
            Self::AlertmanagerAlert(s) | Self::PrometheusAlert(s) => &s.name,
        }
    }
}

/// A probe failing `consecutive` times in a row after injection.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeFailsSignal {
    /// Unique name among the signals.
    pub name: String,
    /// The steady-state probe that acts as the monitor.
    pub probe: String,
    /// Failures in a row that count as detection.
    #[serde(default = "default_consecutive")]
    pub consecutive: u32,
    /// This signal's own timeout, instead of `detection.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

fn default_consecutive() -> u32 {
    3
}

/// A firing alert whose labels include every label of `match`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookSignal {
    /// Unique name among the signals.
    pub name: String,
    /// Labels the alert must carry (for example `alertname: HighErrorRate`).
    #[serde(rename = "match")]
    pub matchers: BTreeMap<String, String>,
    /// This signal's own timeout, instead of `detection.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// A Warning event (core/v1 or events.k8s.io/v1) about one of a workload's pods, or the
/// workload object itself, with one of `reasons`, first seen after injection.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesEventSignal {
    /// Unique name among the signals.
    pub name: String,
    /// The Kubernetes workload whose pods (or object) the event must be about.
    pub workload: String,
    /// Event reasons that count, compared exactly (for example `BackOff`, `Unhealthy`,
    /// `FailedScheduling`).
    pub reasons: Vec<String>,
    /// This signal's own timeout, instead of `detection.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// A firing alert whose labels include every label of `match`, found by polling.
///
/// An alert counts when a poll after injection sees it firing and the poll before did not,
/// so an alert that was already firing before the fault does not count.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertPollSignal {
    /// Unique name among the signals.
    pub name: String,
    /// The base URL of Alertmanager (for `alertmanager-alert`) or Prometheus (for
    /// `prometheus-alert`), such as `http://{workload.alertmanager}`.
    pub url: String,
    /// Labels the alert must carry, `alertname` among them.
    #[serde(rename = "match")]
    pub matchers: BTreeMap<String, String>,
    /// Time between polls.
    #[serde(default = "default_poll_interval")]
    pub interval: Duration,
    /// This signal's own timeout, instead of `detection.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(100)
}

/// When the system counts as recovered.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Recovery {
    /// Every probe must pass for this long without a failure.
    #[serde(default = "default_stable_for")]
    pub stable_for: Duration,
    /// How long after the last fault's revert to wait for recovery.
    #[serde(default = "default_recovery_timeout")]
    pub timeout: Duration,
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            stable_for: default_stable_for(),
            timeout: default_recovery_timeout(),
        }
    }
}

fn default_stable_for() -> Duration {
    Duration::from_secs(2)
}
fn default_recovery_timeout() -> Duration {
    Duration::from_secs(60)
}

/// A target that decides the verdict.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "metric", rename_all = "kebab-case")]
pub enum Objective {
    /// A percentile of time to detect over the iterations; an undetected iteration misses it.
    TimeToDetect(DurationObjective),
    /// A percentile of time to recover over the iterations; an unrecovered iteration misses it.
    TimeToRecover(DurationObjective),
    /// The share of passing probe observations in a phase.
    Availability(AvailabilityObjective),
    /// A latency percentile of a probe in a phase.
    Latency(LatencyObjective),
    /// The share of the SLO's error budget the worst iteration burned (needs `spec.slo`).
    BudgetBurned(RatioBound),
    /// The traffic's p99 in the fault phase over its p99 at baseline, worst iteration.
    LatencyDegradation(RatioBound),
    /// The share of good traffic requests in a phase, over the whole run.
    TrafficAvailability(TrafficAvailabilityObjective),
}

/// An upper bound on a ratio measured per iteration; the worst iteration counts.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RatioBound {
    /// The largest acceptable value.
    pub max: f64,
}

/// A lower bound on the share of good traffic requests in a phase.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficAvailabilityObjective {
    /// The phase measured.
    pub phase: Phase,
    /// The smallest acceptable share of good requests, 0 to 1.
    pub min: f64,
}

/// A bound on a percentile of a duration measured once per iteration.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DurationObjective {
    /// Percentile over the iterations, above 0 and at most 100.
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    /// The largest acceptable value.
    pub max: Duration,
}

/// A lower bound on availability.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvailabilityObjective {
    /// The probe; all probes together when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The phase measured.
    pub phase: Phase,
    /// The smallest acceptable share of passes, 0 to 1.
    pub min: f64,
}

/// An upper bound on a latency percentile.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LatencyObjective {
    /// The probe.
    pub probe: String,
    /// The phase measured.
    pub phase: Phase,
    /// Percentile, above 0 and at most 100.
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    /// The largest acceptable latency.
    pub max: Duration,
}

fn default_percentile() -> f64 {
    95.0
}

/// The phases of an iteration in which probes are measured.
#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Before injection.
    Baseline,
    /// From the first injection to the last revert.
    Fault,
    /// From the last revert to recovery (or its timeout).
    Recovery,
}

impl Phase {
    /// All phases, in order.
    pub const ALL: [Phase; 3] = [Phase::Baseline, Phase::Fault, Phase::Recovery];

    /// The phase's name as written in documents and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Fault => "fault",
            Self::Recovery => "recovery",
        }
    }
}

/// Limits that stop the run early, revert everything and exit 3.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Safety {
    /// Conditions checked continuously while faults are active.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub abort_when: Vec<AbortCondition>,
    /// Alerts that stop the run when they fire, whatever it is doing, and roll back
    /// everything injected (exit code 3), as AWS FIS stop conditions do: the
    /// organisation's own alarms that say the drill is hurting too much.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_when: Vec<StopCondition>,
    /// The largest share of a workload's replicas that faults may affect at once, in percent.
    #[serde(default = "default_max_affected")]
    pub max_affected_percent: f64,
    /// The whole run, start-up included, may last this long.
    #[serde(default = "default_run_timeout")]
    pub timeout: Duration,
}

impl Default for Safety {
    fn default() -> Self {
        Self {
            abort_when: Vec::new(),
            stop_when: Vec::new(),
            max_affected_percent: default_max_affected(),
            timeout: default_run_timeout(),
        }
    }
}

fn default_max_affected() -> f64 {
    100.0
}
fn default_run_timeout() -> Duration {
    Duration::from_secs(15 * 60)
}

/// An alert that stops the run when it fires (`spec.safety.stopWhen`): the same kinds as
/// the detection signals that take alerts, without a timeout (they watch the whole run).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StopCondition {
    /// A firing alert posted to the run's webhook (Alertmanager webhook JSON).
    Webhook(WebhookSignal),
    /// A firing alert seen by polling Alertmanager's API v2.
    AlertmanagerAlert(AlertPollSignal),
    /// A firing alert seen by polling Prometheus' `ALERTS` series.
    PrometheusAlert(AlertPollSignal),
}

impl StopCondition {
    /// The condition's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Webhook(s) => &s.name,
            Self::AlertmanagerAlert(s) | Self::PrometheusAlert(s) => &s.name,
        }
    }

    /// The labels the alert must carry.
    pub fn matchers(&self) -> &BTreeMap<String, String> {
        match self {
            Self::Webhook(s) => &s.matchers,
            Self::AlertmanagerAlert(s) | Self::PrometheusAlert(s) => &s.matchers,
        }
    }

    /// A timeout written on it, which a stop condition does not take.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Self::Webhook(s) => s.timeout,
            Self::AlertmanagerAlert(s) | Self::PrometheusAlert(s) => s.timeout,
        }
    }
}

/// A hard limit on a probe that aborts the run when breached.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AbortCondition {
    /// The probe failed this many times in a row.
    ConsecutiveFailures(ConsecutiveFailuresAbort),
    /// The probe's pass ratio over a sliding window fell below a bound.
    SuccessRatio(SuccessRatioAbort),
    /// One observation of the probe was slower than a bound.
    Latency(LatencyAbort),
}

impl AbortCondition {
    /// The probe the condition watches.
    pub fn probe(&self) -> &str {
        match self {
            Self::ConsecutiveFailures(c) => &c.probe,
            Self::SuccessRatio(c) => &c.probe,
            Self::Latency(c) => &c.probe,
        }
    }
}

/// Abort after `count` failures in a row.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConsecutiveFailuresAbort {
    /// The probe watched.
    pub probe: String,
    /// Failures in a row.
    pub count: u32,
}

/// Abort when the pass ratio over `window` falls below `below`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuccessRatioAbort {
    /// The probe watched.
    pub probe: String,
    /// The bound, 0 to 1.
    pub below: f64,
    /// The sliding window the ratio is computed over.
    pub window: Duration,
}

/// Abort when one observation is slower than `above`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LatencyAbort {
    /// The probe watched.
    pub probe: String,
    /// The bound.
    pub above: Duration,
}

/// Notification drafts (NIS2 early warning and incident notification, optionally DORA's
/// initial notification) written at each iteration's first detection; see docs/notifications.md.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Notification {
    /// The entity that would notify; its fields are `unknown` in the drafts when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<Entity>,
    /// Whether the incident is suspected of being caused by unlawful or malicious acts; absent is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspected_malicious: Option<bool>,
    /// Whether the incident could have a cross-border impact; absent is unknown (or an
    /// estimated "possible" when the entity names more than one member state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_border_impact: Option<bool>,
    /// The entity is under DORA: also draft the DORA initial notification.
    #[serde(default)]
    pub dora: bool,
    /// Post the early warning to a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver: Option<NotificationDelivery>,
}

/// The entity named in notification drafts.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Entity {
    /// The entity's legal name.
    pub name: String,
    /// Its sector, in free text (such as `banking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The member states it provides services in, ISO 3166-1 alpha-2 codes such as `DE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_states: Vec<String>,
}

/// Where the early warning is posted as JSON.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotificationDelivery {
    /// Absolute http:// or https:// URL; placeholders such as `{workload.NAME}` are expanded.
    pub url: String,
    /// Time allowed for the whole request.
    #[serde(default = "default_delivery_timeout")]
    pub timeout: Duration,
}

fn default_delivery_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Roles that acknowledge the incident on firedrill's webhook (`POST /acknowledge/ROLE`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Coordination {
    /// Unique, DNS-label-like role names, such as `incident-commander`.
    pub roles: Vec<String>,
    /// How long after awareness (the run's first detection) the run waits for every role.
    #[serde(default = "default_coordination_timeout")]
    pub timeout: Duration,
}

fn default_coordination_timeout() -> Duration {
    Duration::from_secs(15 * 60)
}
