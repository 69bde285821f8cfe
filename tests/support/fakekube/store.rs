//! The object store: the resources served, objects as wire JSON, resource versions, the change
//! log watches replay, list snapshots for paging, and the records the test API reads.

use super::patch::{self, PatchKind};
use super::selector::{FieldSelector, LabelSelector, labels_of};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast;

/// One resource the fake serves.
#[derive(Debug, PartialEq, Eq)]
pub struct ResDef {
    /// The plural name in paths (`pods`).
    pub plural: &'static str,
    /// The kind (`Pod`).
    pub kind: &'static str,
    /// The API group ("" for core).
    pub group: &'static str,
    /// The API version (`v1`).
    pub version: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether `status` is a subresource that writes to the main resource leave alone.
    pub status: bool,
    /// Whether `metadata.generation` follows spec changes.
    pub generation: bool,
}

impl ResDef {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

macro_rules! res {
    ($plural:literal, $kind:literal, $group:literal, $ns:literal, $status:literal, $gen:literal) => {
        ResDef {
            plural: $plural,
            kind: $kind,
            group: $group,
            version: "v1",
            namespaced: $ns,
            status: $status,
            generation: $gen,
        }
    };
}

/// Every stored resource.
pub static RESOURCES: &[ResDef] = &[
    res!("pods", "Pod", "", true, true, false),
    res!("configmaps", "ConfigMap", "", true, false, false),
    res!("secrets", "Secret", "", true, false, false),
    res!("events", "Event", "", true, false, false),
    res!("nodes", "Node", "", false, true, false),
    res!("namespaces", "Namespace", "", false, true, false),
    res!("deployments", "Deployment", "apps", true, true, true),
    res!("statefulsets", "StatefulSet", "apps", true, true, true),
    res!("daemonsets", "DaemonSet", "apps", true, true, true),
    res!("replicasets", "ReplicaSet", "apps", true, true, true),
    res!(
        "networkpolicies",
        "NetworkPolicy",
        "networking.k8s.io",
        true,
        false,
        true
    ),
    res!(
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        "policy",
        true,
        true,
        true
    ),
    res!("services", "Service", "", true, true, false),
    res!("serviceaccounts", "ServiceAccount", "", true, false, false),
    res!(
        "roles",
        "Role",
        "rbac.authorization.k8s.io",
        true,
        false,
        false
    ),
    res!(
        "rolebindings",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        true,
        false,
        false
    ),
    res!(
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        false,
        true,
        true
    ),
];

/// The resource served at `group/version/plural`.
pub fn resource(group: &str, version: &str, plural: &str) -> Option<&'static ResDef> {
    RESOURCES
        .iter()
        .chain(super::crd::custom())
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource by kind or plural, case-insensitive.
pub fn resource_named(name: &str) -> Option<&'static ResDef> {
    RESOURCES
        .iter()
        .chain(super::crd::custom())
        .find(|r| r.kind.eq_ignore_ascii_case(name) || r.plural.eq_ignore_ascii_case(name))
}

/// The resource of an object, from its `apiVersion` and `kind`.
pub fn resource_of(obj: &Value) -> Option<&'static ResDef> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    RESOURCES
        .iter()
        .chain(super::crd::custom())
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Resource by plural; the plural is one of ours.
pub fn def(plural: &str) -> &'static ResDef {
    RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .or_else(|| {
            super::crd::custom()
                .into_iter()
                .find(|r| r.plural == plural)
        })
        .expect("a known resource")
}

/// An error answered as a `metav1.Status`.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// The Status `reason`.
    pub reason: &'static str,
    /// The Status `message`.
    pub message: String,
    /// The Status `details`, if any.
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code, reason and message.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404 for a named object.
    pub fn not_found(def: &ResDef, name: &str) -> Self {
        let what = qualified(def);
        Self::new(404, "NotFound", format!("{what} \"{name}\" not found"))
            .with_details(json!({"name": name, "group": def.group, "kind": def.plural}))
    }

    /// 409 for a create of an existing name.
    pub fn already_exists(def: &ResDef, name: &str) -> Self {
        let what = qualified(def);
        Self::new(
            409,
            "AlreadyExists",
            format!("{what} \"{name}\" already exists"),
        )
        .with_details(json!({"name": name, "group": def.group, "kind": def.plural}))
    }

    /// 409 for a write based on a stale resourceVersion.
    pub fn conflict(def: &ResDef, name: &str) -> Self {
        let what = qualified(def);
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {what} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(json!({"name": name, "group": def.group, "kind": def.plural}))
    }

    /// 422 with one cause per invalid field.
    pub fn invalid(def: &ResDef, name: &str, causes: &[(String, String)]) -> Self {
        let kind = if def.group.is_empty() {
            def.kind.to_string()
        } else {
            format!("{}.{}", def.kind, def.group)
        };
        let list: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let message = if list.len() == 1 {
            format!("{kind} \"{name}\" is invalid: {}", list[0])
        } else {
            format!("{kind} \"{name}\" is invalid: [{}]", list.join(", "))
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect();
        Self::new(422, "Invalid", message).with_details(
            json!({"name": name, "group": def.group, "kind": def.kind, "causes": causes}),
        )
    }

    /// 400 for a body the server cannot decode.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// The error as a `metav1.Status` object.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = self.details.clone();
        if let Some(secs) = self.retry_after {
            let d = details.get_or_insert_with(|| json!({}));
            d["retryAfterSeconds"] = json!(secs);
        }
        if let Some(d) = details {
            s["details"] = d;
        }
        s
    }
}

/// `pods` or `deployments.apps`, as the API server names a resource in messages.
fn qualified(def: &ResDef) -> String {
    if def.group.is_empty() {
        def.plural.to_string()
    } else {
        format!("{}.{}", def.plural, def.group)
    }
}

/// The standard reason for a status code, for injected failures.
pub fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// One change to one object, as watches see it.
#[derive(Debug)]
pub struct Change {
    /// The resource version the change made.
    pub rv: u64,
    /// The resource's plural.
    pub res: &'static str,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (its last state for `DELETED`).
    pub object: Value,
    /// The object before a `MODIFIED` change: a watch with a selector turns a change that
    /// leaves (or enters) its selection into `DELETED` (or `ADDED`), as the API server does.
    pub previous: Option<Value>,
}

/// One API request the fake answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string ("" if none).
    pub query: String,
    /// The status code answered.
    pub status: u16,
    /// Whether it asked for a dry run (`dryRun=All` in the query or in the DeleteOptions).
    pub dry_run: bool,
    /// `system:serviceaccount:NS:NAME` for a request with a token from the TokenRequest
    /// API; "" for the kubeconfig's all-powerful user.
    pub user: String,
}

/// The life of one pod, on the fake's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct PodLife {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// The workload that owns it at the top (Deployment, StatefulSet, DaemonSet), or "".
    pub owner: String,
    /// Its direct controller (a ReplicaSet for a Deployment's pods), or "".
    pub controller: String,
    /// The node it was bound to.
    pub node: Option<String>,
    /// When it was created.
    pub created: SystemTime,
    /// When it turned Ready.
    pub ready: Option<SystemTime>,
    /// When its deletion was asked for (eviction, delete, scale down).
    pub deleted: Option<SystemTime>,
    /// When it left the store.
    pub gone: Option<SystemTime>,
}

/// A pod a controller is to create, once its timer fires.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::enum_variant_names)] // named after the controller kinds they stand for
pub enum Slot {
    /// One more pod of this ReplicaSet.
    ReplicaSet { ns: String, name: String },
    /// The pod with this ordinal of this StatefulSet.
    StatefulSet {
        ns: String,
        name: String,
        ordinal: u32,
    },
    /// The pod of this DaemonSet on this node.
    DaemonSet {
        ns: String,
        name: String,
        node: String,
    },
}

/// Something the controller does at a later time.
#[derive(Clone, Debug, PartialEq)]
pub enum TimerKind {
    /// Create a pod for a controller.
    Create(Slot),
    /// Mark a started pod Ready.
    Ready {
        ns: String,
        name: String,
        uid: String,
    },
    /// Remove a terminating pod whose grace period ended.
    Finalize {
        ns: String,
        name: String,
        uid: String,
    },
    /// End firedrill's helper in an ephemeral container at its deadline.
    HelperEnd {
        ns: String,
        name: String,
        uid: String,
        container: String,
    },
}

/// A timed controller action.
#[derive(Clone, Debug)]
pub struct Timer {
    /// When it is due.
    pub at: Instant,
    /// What to do.
    pub kind: TimerKind,
}

/// A denied verb on a resource, for SelfSubjectAccessReviews and 403s.
#[derive(Clone, Debug)]
pub struct Deny {
    /// `get`, `list`, `create`, ... or `*`.
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Resource plural, with `/subresource` for one (`pods/eviction`).
    pub resource: String,
    /// Only in this namespace, or everywhere.
    pub namespace: Option<String>,
}

/// Failures to inject into the next matching requests.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Method, or `*`.
    pub method: String,
    /// Path prefix.
    pub prefix: String,
    /// Status code to answer.
    pub status: u16,
    /// How many more requests fail.
    pub remaining: u32,
}

/// A list snapshot kept for `continue` tokens.
pub struct Page {
    /// The resource version of the snapshot.
    pub rv: u64,
    /// Every item of the list, already filtered.
    pub items: Vec<Value>,
}

/// Options of a write.
#[derive(Clone, Copy, Debug, Default)]
pub struct Write {
    /// `dryRun=All`: validate and answer, change nothing.
    pub dry: bool,
    /// Seeding by the test: status is taken as given.
    pub seed: bool,
}

/// How many changes the watch log keeps before older resource versions are "too old".
const LOG_CAPACITY: usize = 20_000;
/// How many paging snapshots are kept before the oldest continue tokens expire.
const PAGE_CAPACITY: usize = 32;

/// Everything the fake knows, behind one lock.
pub struct State {
    /// Objects by (plural, namespace or "", name).
    pub objects: BTreeMap<(&'static str, String, String), Value>,
    /// The last resource version handed out.
    pub rv: u64,
    /// Recent changes, oldest first.
    pub log: VecDeque<Arc<Change>>,
    /// Watches from a resource version below this get 410.
    pub log_floor: u64,
    /// Live changes for open watches.
    pub tx: broadcast::Sender<Arc<Change>>,
    /// Paging snapshots by id.
    pub pages: BTreeMap<u64, Page>,
    /// The next paging snapshot id.
    pub next_page: u64,
    /// Pending controller actions.
    pub timers: Vec<Timer>,
    /// Pods whose start (binding, IP, Ready timer) was handled.
    pub started: HashSet<String>,
    /// Delay before a controller creates a missing pod.
    pub reschedule_delay: Duration,
    /// Delay from a pod's binding to its Ready condition.
    pub ready_delay: Duration,
    /// Interval of BOOKMARK events on watches that asked for them.
    pub bookmark_interval: Duration,
    /// While set, controllers create pods Ready at once (seeding).
    pub immediate: bool,
    /// Denied verbs.
    pub denies: Vec<Deny>,
    /// Injected failures.
    pub failures: Vec<Failure>,
    /// Every request answered.
    pub requests: Vec<Request>,
    /// Every pod's life.
    pub lives: Vec<PodLife>,
    /// Round-robin position over schedulable nodes.
    pub next_node: usize,
    /// Counter for pod IPs.
    pub next_ip: u32,
    /// Every command run in a pod.
    pub execs: Vec<super::exec::Exec>,
    /// The test's answer to commands run in pods.
    pub exec_handler: Option<super::exec::ExecHandler>,
    /// Tokens handed out by the TokenRequest API, and whom they identify.
    pub tokens: std::collections::HashMap<String, super::security::Identity>,
    /// How pod creations and ServiceAccount requests are admitted.
    pub admission: super::security::Admission,
    /// How ephemeral containers start and how firedrill's helpers in them behave.
    pub helpers: super::ephemeral::Helpers,
    /// Whether NetworkPolicies are ignored, as by a network plugin that does not enforce them.
    pub ignore_network_policies: bool,
    /// Whether dependency verifier pods see every proxy pass requests untouched.
    pub proxies_untouched: bool,
    base_wall: SystemTime,
    base: Instant,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Whether an object has a deletionTimestamp.
pub fn is_terminating(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// The string at a JSON pointer, or "".
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The uid of the object's controller owner, if any.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"] == true)
}

/// RFC 3339 with whole seconds, as the API server writes `metav1.Time`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A random lower-case suffix as the API server's name generator makes.
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

fn new_uid() -> String {
    let hex: String = (0..32)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap())
        .collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..]
    )
}

/// Whether a name is a DNS-1123 subdomain.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Decodes the object with its k8s-openapi type, so that only the real wire format is stored.
fn decode_check(def: &ResDef, obj: &Value) -> Result<(), String> {
    use k8s_openapi::api::{
        apps::v1 as apps, core::v1 as core, networking::v1 as net, policy::v1 as policy,
        rbac::v1 as rbac,
    };
    fn check<T: serde::de::DeserializeOwned>(obj: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(obj.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match def.plural {
        "pods" => check::<core::Pod>(obj),
        "configmaps" => check::<core::ConfigMap>(obj),
        "secrets" => check::<core::Secret>(obj),
        "events" => check::<core::Event>(obj),
        "nodes" => check::<core::Node>(obj),
        "namespaces" => check::<core::Namespace>(obj),
        "deployments" => check::<apps::Deployment>(obj),
        "statefulsets" => check::<apps::StatefulSet>(obj),
        "daemonsets" => check::<apps::DaemonSet>(obj),
        "replicasets" => check::<apps::ReplicaSet>(obj),
        "networkpolicies" => check::<net::NetworkPolicy>(obj),
        "poddisruptionbudgets" => check::<policy::PodDisruptionBudget>(obj),
        "services" => check::<core::Service>(obj),
        "serviceaccounts" => check::<core::ServiceAccount>(obj),
        "roles" => check::<rbac::Role>(obj),
        "rolebindings" => check::<rbac::RoleBinding>(obj),
        "customresourcedefinitions" => check::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>(obj),
        _ => Ok(()),
    }
}

/// The validation the real API server does that tests rely on: (field, message) per problem.
fn validate(def: &ResDef, obj: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let containers = |spec: &Value, path: &str, problems: &mut Vec<(String, String)>| match spec
        .get("containers")
        .and_then(Value::as_array)
    {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    problems.push((
                        format!("{path}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    problems.push((
                        format!("{path}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
        _ => problems.push((format!("{path}.containers"), "Required value".into())),
    };
    match def.plural {
        "pods" => containers(&obj["spec"], "spec", &mut problems),
        "deployments" | "statefulsets" | "daemonsets" | "replicasets" => {
            if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
                && r < 0
            {
                problems.push((
                    "spec.replicas".into(),
                    format!("Invalid value: {r}: must be greater than or equal to 0"),
                ));
            }
            match obj
                .pointer("/spec/selector")
                .map(LabelSelector::from_object)
            {
                None => problems.push(("spec.selector".into(), "Required value".into())),
                Some(Err(e)) => {
                    problems.push(("spec.selector".into(), format!("Invalid value: {e}")))
                }
                Some(Ok(sel)) => {
                    let labels = labels_of(&obj["spec"]["template"]);
                    if !sel.matches(&labels) {
                        problems.push((
                            "spec.template.metadata.labels".into(),
                            "Invalid value: `selector` does not match template `labels`".into(),
                        ));
                    }
                }
            }
            containers(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut problems,
            );
        }
        "networkpolicies" if obj.pointer("/spec/podSelector").is_none() => {
            problems.push(("spec.podSelector".into(), "Required value".into()));
        }
        "poddisruptionbudgets" => {
            let spec = &obj["spec"];
            if spec.get("minAvailable").is_some() && spec.get("maxUnavailable").is_some() {
                problems.push((
                    "spec".into(),
                    "Invalid value: minAvailable and maxUnavailable cannot be both set".into(),
                ));
            }
        }
        _ => {}
    }
    problems
}

impl State {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            objects: BTreeMap::new(),
            rv: 1000,
            log: VecDeque::new(),
            log_floor: 1000,
            tx: broadcast::channel(8192).0,
            pages: BTreeMap::new(),
            next_page: 1,
            timers: Vec::new(),
            started: HashSet::new(),
            reschedule_delay: Duration::from_millis(50),
            ready_delay: Duration::from_millis(100),
            bookmark_interval: Duration::from_secs(1),
            immediate: false,
            denies: Vec::new(),
            failures: Vec::new(),
            requests: Vec::new(),
            lives: Vec::new(),
            next_node: 0,
            next_ip: 0,
            execs: Vec::new(),
            exec_handler: None,
            tokens: std::collections::HashMap::new(),
            admission: super::security::Admission::default(),
            helpers: super::ephemeral::Helpers::default(),
            ignore_network_policies: false,
            proxies_untouched: false,
            base_wall: SystemTime::now(),
            base: Instant::now(),
        }
    }

    /// The fake's clock: wall time that advances with the monotonic clock.
    pub fn wall(&self, at: Instant) -> SystemTime {
        self.base_wall + at.saturating_duration_since(self.base)
    }

    /// The fake's clock now, as RFC 3339.
    pub fn now_stamp(&self) -> String {
        rfc3339(self.wall(Instant::now()))
    }

    /// One object.
    pub fn get(&self, res: &str, ns: &str, name: &str) -> Option<&Value> {
        let def = def(res);
        self.objects
            .get(&(def.plural, ns.to_string(), name.to_string()))
    }

    /// Objects of one resource, in one namespace or all, sorted by namespace and name.
    pub fn list(&self, res: &str, ns: Option<&str>) -> Vec<&Value> {
        // A range of the sorted keys rather than a scan of every object: thousands of pods
        // and their events made each list, and the controller's many, slow.
        let plural = def(res).plural;
        let start = (plural, ns.unwrap_or_default().to_string(), String::new());
        self.objects
            .range(start..)
            .take_while(|((p, n, _), _)| *p == plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v)
            .collect()
    }

    /// Objects matching selectors, cloned.
    pub fn select(
        &self,
        res: &str,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.list(res, ns)
            .into_iter()
            .filter(|o| labels.matches(&labels_of(o)) && fields.matches(o))
            .cloned()
            .collect()
    }

    fn key(def: &'static ResDef, obj: &Value) -> (&'static str, String, String) {
        (
            def.plural,
            str_at(obj, "/metadata/namespace").to_string(),
            str_at(obj, "/metadata/name").to_string(),
        )
    }

    fn log_change(
        &mut self,
        def: &'static ResDef,
        kind: &'static str,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Arc::new(Change {
            rv: self.rv,
            res: def.plural,
            kind,
            object,
            previous,
        });
        self.log.push_back(change.clone());
        while self.log.len() > LOG_CAPACITY {
            if let Some(old) = self.log.pop_front() {
                self.log_floor = old.rv;
            }
        }
        let _ = self.tx.send(change);
    }

    /// Stores an object with a new resource version and tells the watches.
    pub fn put(&mut self, def: &'static ResDef, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if def.plural == "customresourcedefinitions" {
            super::crd::register(&obj);
        }
        let key = Self::key(def, &obj);
        let previous = self.objects.insert(key, obj.clone());
        let kind = if previous.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.log_change(def, kind, obj.clone(), previous);
        obj
    }

    /// Removes an object and tells the watches.
    pub fn remove(&mut self, def: &'static ResDef, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .remove(&(def.plural, ns.to_string(), name.to_string()))?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.log_change(def, "DELETED", obj.clone(), None);
        if def.plural == "pods" {
            let now = self.wall(Instant::now());
            let uid = str_at(&obj, "/metadata/uid").to_string();
            if let Some(life) = self.lives.iter_mut().find(|l| l.uid == uid) {
                life.deleted.get_or_insert(now);
                life.gone = Some(now);
            }
            self.started.remove(&uid);
        }
        Some(obj)
    }

    /// Forgets the change log: every watch from an earlier resource version gets 410.
    pub fn compact(&mut self) {
        self.log.clear();
        self.log_floor = self.rv;
    }

    /// Keeps a paging snapshot and returns its id.
    pub fn keep_page(&mut self, page: Page) -> u64 {
        let id = self.next_page;
        self.next_page += 1;
        self.pages.insert(id, page);
        while self.pages.len() > PAGE_CAPACITY {
            self.pages.pop_first();
        }
        id
    }

    /// Creates an object (API create or seeding).
    pub fn create(
        &mut self,
        def: &'static ResDef,
        ns: &str,
        mut obj: Value,
        w: Write,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        self.stamp_type(def, &mut obj)?;
        if def.namespaced {
            let given = str_at(&obj, "/metadata/namespace");
            if !given.is_empty() && given != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            obj["metadata"]["namespace"] = json!(ns);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        let mut name = str_at(&obj, "/metadata/name").to_string();
        if name.is_empty() {
            let prefix = str_at(&obj, "/metadata/generateName");
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    def,
                    "",
                    &[(
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            name = format!("{prefix}{}", random_suffix(5));
            obj["metadata"]["name"] = json!(name);
        }
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                def,
                &name,
                &[(
                    "metadata.name".into(),
                    format!(
                        "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                    ),
                )],
            ));
        }
        if def.namespaced
            && !self
                .objects
                .contains_key(&("namespaces", String::new(), ns.to_string()))
        {
            return Err(ApiError::not_found(self::def("namespaces"), ns));
        }
        let ns_key = if def.namespaced { ns } else { "" };
        if self
            .objects
            .contains_key(&(def.plural, ns_key.to_string(), name.clone()))
        {
            return Err(ApiError::already_exists(def, &name));
        }
        decode_check(def, &obj)
            .map_err(|e| ApiError::bad_request(format!("{} in body is invalid: {e}", def.kind)))?;
        let problems = validate(def, &obj);
        if !problems.is_empty() {
            return Err(ApiError::invalid(def, &name, &problems));
        }
        let now = Instant::now();
        {
            let meta = obj["metadata"]
                .as_object_mut()
                .expect("stamp_type made metadata");
            meta.insert("uid".into(), json!(new_uid()));
            meta.insert("creationTimestamp".into(), json!(rfc3339(self.wall(now))));
            meta.remove("resourceVersion");
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
            if def.generation {
                meta.insert("generation".into(), json!(1));
            }
        }
        if !w.seed
            && def.status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        match def.plural {
            "namespaces" => {
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                if obj.get("status").is_none() {
                    obj["status"] = json!({"phase": "Active"});
                }
            }
            "pods" if obj.get("status").is_none() => {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
            _ => {}
        }
        if w.dry {
            return Ok(obj);
        }
        let stored = self.put(def, obj);
        if def.plural == "pods" {
            self.record_life(&stored, now);
        }
        Ok(stored)
    }

    fn stamp_type(&self, def: &'static ResDef, obj: &mut Value) -> Result<(), ApiError> {
        let want = def.api_version();
        for (field, expected) in [("apiVersion", want.as_str()), ("kind", def.kind)] {
            match obj.get(field).and_then(Value::as_str) {
                Some(v) if v != expected => {
                    return Err(ApiError::bad_request(format!(
                        "the {field} of the body ({v}) does not match the resource ({expected})"
                    )));
                }
                _ => obj[field] = json!(expected),
            }
        }
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        Ok(())
    }

    fn record_life(&mut self, pod: &Value, at: Instant) {
        let (owner, controller) = self.owners_of_pod(pod);
        self.lives.push(PodLife {
            namespace: str_at(pod, "/metadata/namespace").into(),
            name: str_at(pod, "/metadata/name").into(),
            uid: str_at(pod, "/metadata/uid").into(),
            owner,
            controller,
            node: pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .map(str::to_string),
            created: self.wall(at),
            ready: None,
            deleted: None,
            gone: None,
        });
    }

    /// (top owner name, direct controller name) of a pod.
    pub fn owners_of_pod(&self, pod: &Value) -> (String, String) {
        let Some(r) = controller_of(pod) else {
            return (String::new(), String::new());
        };
        let direct = r["name"].as_str().unwrap_or_default().to_string();
        if r["kind"] == "ReplicaSet" {
            let ns = str_at(pod, "/metadata/namespace");
            if let Some(top) = self.get("replicasets", ns, &direct).and_then(controller_of) {
                return (top["name"].as_str().unwrap_or_default().to_string(), direct);
            }
        }
        (direct.clone(), direct)
    }

    /// Replaces an object (PUT), or its status with `sub = Some("status")`.
    pub fn update(
        &mut self,
        def: &'static ResDef,
        ns: &str,
        name: &str,
        mut obj: Value,
        sub: Option<&str>,
        w: Write,
    ) -> Result<Value, ApiError> {
        let old = self
            .objects
            .get(&(def.plural, ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(def, name))?;
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        self.stamp_type(def, &mut obj)?;
        let body_name = str_at(&obj, "/metadata/name");
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        obj["metadata"]["name"] = json!(name);
        if def.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        self.commit_update(def, &old, obj, sub, w)
    }

    /// Patches an object; an apply patch creates a missing one.
    #[allow(clippy::too_many_arguments)] // the parts of a PATCH request, kept apart for clarity
    pub fn patch(
        &mut self,
        def: &'static ResDef,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        sub: Option<&str>,
        w: Write,
    ) -> Result<Value, ApiError> {
        let Some(old) = self
            .objects
            .get(&(def.plural, ns.to_string(), name.to_string()))
            .cloned()
        else {
            if kind == PatchKind::Apply && sub.is_none() {
                let mut obj = body.clone();
                obj["metadata"]["name"] = json!(name);
                return self.create(def, ns, obj, w);
            }
            return Err(ApiError::not_found(def, name));
        };
        let mut new = old.clone();
        patch::apply(kind, &mut new, body).map_err(ApiError::bad_request)?;
        if str_at(&new, "/metadata/name") != name {
            return Err(ApiError::bad_request("a patch cannot change the name"));
        }
        self.commit_update(def, &old, new, sub, w)
    }

    fn commit_update(
        &mut self,
        def: &'static ResDef,
        old: &Value,
        mut new: Value,
        sub: Option<&str>,
        w: Write,
    ) -> Result<Value, ApiError> {
        let name = str_at(old, "/metadata/name").to_string();
        let given_rv = str_at(&new, "/metadata/resourceVersion");
        if !given_rv.is_empty() && given_rv != str_at(old, "/metadata/resourceVersion") {
            return Err(ApiError::conflict(def, &name));
        }
        if sub == Some("status") {
            let mut only_status = old.clone();
            only_status["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            new = only_status;
        } else if def.status && !w.seed {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old["metadata"].get(field) {
                Some(v) => new["metadata"][field] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        decode_check(def, &new)
            .map_err(|e| ApiError::bad_request(format!("{} in body is invalid: {e}", def.kind)))?;
        let problems = validate(def, &new);
        if !problems.is_empty() {
            return Err(ApiError::invalid(def, &name, &problems));
        }
        if def.generation && old.get("spec") != new.get("spec") {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if new == *old || w.dry {
            return Ok(new);
        }
        Ok(self.put(def, new))
    }

    /// Deletes an object: a pod terminates for its grace period; other objects go at once and
    /// their dependents follow unless the propagation policy is `Orphan`.
    pub fn delete(
        &mut self,
        def: &'static ResDef,
        ns: &str,
        name: &str,
        grace: Option<i64>,
        propagation: Option<&str>,
        w: Write,
    ) -> Result<Value, ApiError> {
        let ns = if def.namespaced { ns } else { "" };
        let obj = self
            .objects
            .get(&(def.plural, ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(def, name))?;
        if w.dry {
            return Ok(obj);
        }
        if def.plural == "pods" {
            return Ok(self.delete_pod(ns, name, grace).unwrap_or(obj));
        }
        let gone = self.remove(def, ns, name).unwrap_or(obj);
        let uid = str_at(&gone, "/metadata/uid").to_string();
        if def.plural == "namespaces" {
            let inside: Vec<_> = self
                .objects
                .keys()
                .filter(|(_, n, _)| n == name)
                .cloned()
                .collect();
            for (plural, n, o) in inside {
                self.remove(self::def(plural), &n, &o);
            }
        } else {
            self.collect_dependents(&uid, propagation == Some("Orphan"));
        }
        Ok(gone)
    }

    /// The garbage collector: dependents of a deleted owner go too, or lose the reference.
    fn collect_dependents(&mut self, owner_uid: &str, orphan: bool) {
        let dependents: Vec<(&'static str, String, String)> = self
            .objects
            .iter()
            .filter(|(_, o)| {
                o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|rs| rs.iter().any(|r| r["uid"] == owner_uid))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for (plural, ns, name) in dependents {
            let def = def(plural);
            if orphan {
                let mut o = self.objects[&(plural, ns.clone(), name.clone())].clone();
                if let Some(rs) = o["metadata"]["ownerReferences"].as_array_mut() {
                    rs.retain(|r| r["uid"] != owner_uid);
                }
                self.put(def, o);
            } else if plural == "pods" {
                self.delete_pod(&ns, &name, None);
            } else {
                let _ = self.delete(def, &ns, &name, None, None, Write::default());
            }
        }
    }

    /// Starts a pod's termination; returns its state afterwards (its last state if gone).
    pub fn delete_pod(&mut self, ns: &str, name: &str, grace: Option<i64>) -> Option<Value> {
        let pods = def("pods");
        let mut pod = self.get("pods", ns, name).cloned()?;
        let grace = grace
            .or_else(|| {
                pod.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(0)
            .max(0);
        let now = Instant::now();
        let uid = str_at(&pod, "/metadata/uid").to_string();
        let already = is_terminating(&pod);
        if !already {
            if let Some(life) = self.lives.iter_mut().find(|l| l.uid == uid) {
                life.deleted = Some(self.base_wall + now.saturating_duration_since(self.base));
            }
            if pod.pointer("/spec/nodeName").is_some() {
                let containers: Vec<String> = pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect();
                self.emit_event(
                    &pod,
                    "Normal",
                    "Killing",
                    &format!("Stopping container {}", containers.join(", ")),
                    "kubelet",
                );
            }
        }
        if grace == 0 {
            self.timers
                .retain(|t| !matches!(&t.kind, TimerKind::Finalize { uid: u, .. } if *u == uid));
            return self.remove(pods, ns, name);
        }
        let at = now + Duration::from_secs(grace as u64);
        if already {
            let current_end = self.timers.iter().find_map(|t| match &t.kind {
                TimerKind::Finalize { uid: u, .. } if *u == uid => Some(t.at),
                _ => None,
            });
            if current_end.is_some_and(|end| end <= at) {
                return Some(pod);
            }
            self.timers
                .retain(|t| !matches!(&t.kind, TimerKind::Finalize { uid: u, .. } if *u == uid));
        }
        pod["metadata"]["deletionTimestamp"] = json!(rfc3339(self.wall(at)));
        pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        let pod = self.put(pods, pod);
        self.timers.push(Timer {
            at,
            kind: TimerKind::Finalize {
                ns: ns.into(),
                name: name.into(),
                uid,
            },
        });
        Some(pod)
    }

    /// Records a core/v1 Event about an object.
    pub fn emit_event(
        &mut self,
        about: &Value,
        kind: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let ns = match str_at(about, "/metadata/namespace") {
            "" => "default",
            ns => ns,
        }
        .to_string();
        let name = format!(
            "{}.{:016x}",
            str_at(about, "/metadata/name"),
            fastrand::u64(..)
        );
        let now = self.now_stamp();
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "uid": new_uid(), "creationTimestamp": now},
            "involvedObject": {
                "apiVersion": about["apiVersion"],
                "kind": about["kind"],
                "name": about["metadata"]["name"],
                "namespace": about["metadata"]["namespace"],
                "uid": about["metadata"]["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        self.put(def("events"), event);
    }

    /// Whether the request is denied by a `deny` rule.
    pub fn denied(&self, verb: &str, group: &str, resource: &str, ns: Option<&str>) -> bool {
        self.denies.iter().any(|d| {
            (d.verb == "*" || d.verb == verb)
                && d.group == group
                && (d.resource == "*" || d.resource == resource)
                && match (&d.namespace, ns) {
                    (None, _) => true,
                    (Some(want), Some(got)) => want == got,
                    (Some(_), None) => false,
                }
        })
    }

    /// Takes one injected failure for this request, if one matches.
    pub fn take_failure(&mut self, method: &str, path: &str) -> Option<u16> {
        let f = self.failures.iter_mut().find(|f| {
            f.remaining > 0
                && (f.method == "*" || f.method.eq_ignore_ascii_case(method))
                && path.starts_with(&f.prefix)
        })?;
        f.remaining -= 1;
        let status = f.status;
        self.failures.retain(|f| f.remaining > 0);
        Some(status)
    }

    /// Evicts a pod unless a PodDisruptionBudget forbids it.
    pub fn evict(
        &mut self,
        ns: &str,
        name: &str,
        body: &Value,
        w: Write,
    ) -> Result<Value, ApiError> {
        let pod = self
            .get("pods", ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(def("pods"), name))?;
        if !is_terminating(&pod) && is_ready(&pod) {
            let labels = labels_of(&pod);
            for pdb in self.list("poddisruptionbudgets", Some(ns)) {
                let Ok(sel) = LabelSelector::from_object(&pdb["spec"]["selector"]) else {
                    continue;
                };
                if !sel.matches(&labels) {
                    continue;
                }
                let (expected, healthy, desired) = self.budget(pdb);
                if healthy - 1 < desired {
                    let budget = str_at(pdb, "/metadata/name");
                    let detail = format!(
                        "The disruption budget {budget} needs {desired} healthy pods and has {healthy} currently"
                    );
                    let _ = expected;
                    return Err(ApiError::new(
                        429,
                        "TooManyRequests",
                        format!("Cannot evict pod as it would violate the pod's disruption budget. {detail}"),
                    )
                    .with_details(json!({"causes": [{"reason": "DisruptionBudget", "message": detail}]})));
                }
            }
        }
        let grace = body
            .pointer("/deleteOptions/gracePeriodSeconds")
            .and_then(Value::as_i64);
        if !w.dry {
            self.delete_pod(ns, name, grace);
        }
        Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )
    }

    /// (expected pods, healthy pods, desired healthy) of a PodDisruptionBudget.
    pub fn budget(&self, pdb: &Value) -> (i64, i64, i64) {
        let ns = str_at(pdb, "/metadata/namespace");
        let sel = LabelSelector::from_object(&pdb["spec"]["selector"]).unwrap_or_default();
        let pods: Vec<&Value> = self
            .list("pods", Some(ns))
            .into_iter()
            .filter(|p| !is_terminating(p) && sel.matches(&labels_of(p)))
            .collect();
        let expected = pods.len() as i64;
        let healthy = pods.iter().filter(|p| is_ready(p)).count() as i64;
        let amount = |v: &Value| -> i64 {
            match v {
                Value::Number(n) => n.as_i64().unwrap_or(0),
                Value::String(s) => {
                    let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
                    (pct * expected + 99) / 100
                }
                _ => 0,
            }
        };
        let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
            amount(min)
        } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
            (expected - amount(max)).max(0)
        } else {
            0
        };
        (expected, healthy, desired)
    }

    /// Every object, sorted, without the fields that change from run to run; pods owned by a
    /// controller are compared as a group per owner (their names and uids are generated).
    pub fn snapshot(&self) -> Value {
        fn strip(obj: &Value) -> Value {
            let mut o = obj.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("status");
            }
            if let Some(meta) = o["metadata"].as_object_mut() {
                for f in [
                    "resourceVersion",
                    "uid",
                    "creationTimestamp",
                    "generation",
                    "managedFields",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "selfLink",
                ] {
                    meta.remove(f);
                }
                if let Some(refs) = meta
                    .get_mut("ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    for r in refs {
                        if let Some(r) = r.as_object_mut() {
                            r.remove("uid");
                        }
                    }
                }
            }
            o
        }
        let mut out = Vec::new();
        let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
        for ((plural, ns, _), obj) in &self.objects {
            match *plural {
                "events" => {}
                "pods" if is_terminating(obj) => {}
                "pods" => {
                    let mut p = strip(obj);
                    // The scheduler picks nodes round-robin: where a pod runs is not state to keep.
                    if let Some(spec) = p["spec"].as_object_mut() {
                        spec.remove("nodeName");
                    }
                    if let Some(owner) = controller_of(obj) {
                        if let Some(meta) = p["metadata"].as_object_mut() {
                            meta.remove("name");
                        }
                        let key = format!(
                            "{}/{}",
                            owner["kind"].as_str().unwrap_or_default(),
                            owner["name"].as_str().unwrap_or_default()
                        );
                        groups.entry((ns.clone(), key)).or_default().push(p);
                    } else {
                        out.push(p);
                    }
                }
                _ => out.push(strip(obj)),
            }
        }
        for ((ns, owner), mut pods) in groups {
            pods.sort_by_key(|p| p.to_string());
            out.push(json!({"kind": "Pod", "namespace": ns, "owner": owner, "count": pods.len(), "pods": pods}));
        }
        Value::Array(out)
    }
}
