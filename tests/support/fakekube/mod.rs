//! A fake Kubernetes API server for tests and benchmarks.
//!
//! Include it with `#[path = "support/fakekube/mod.rs"] mod fakekube;` (from `benches/`:
//! `#[path = "../tests/support/fakekube/mod.rs"]`). It runs in the test process on its own
//! thread and tokio runtime, serves plain HTTP on 127.0.0.1 (port 0), and speaks the real wire
//! format: k8s-openapi JSON objects, `List`s with `metadata.resourceVersion` and `continue`,
//! `metav1.Status` errors, and watches as newline-delimited `WatchEvent`s.
//!
//! The contract (kept stable for the Kubernetes platform's tests):
//! - `FakeKube::start()`: namespaces `default` and `kube-system`, Ready nodes `node-1..3`.
//! - `url()`, `write_kubeconfig(dir)` (context `fake`, current), `client()` (a kube client).
//! - `set_delays(reschedule, ready)`: a controller creates a missing pod after `reschedule`;
//!   a bound pod turns Ready after `ready` (defaults 50 ms and 100 ms).
//! - Seeding: `apply(json)`, `add_deployment`, `add_statefulset`, `add_daemonset`, `add_node`,
//!   `add_pdb`, `add_warning_event` (workload pods are created Ready at once).
//! - Faults of the API itself: `deny(verb, group, resource, ns)` (SelfSubjectAccessReview says
//!   no and the request gets 403), `fail_next(method, path_prefix, status, times)` (429 comes
//!   with `Retry-After: 1`), `drop_watches()`, `compact()` (older resource versions get 410),
//!   `expire_continue_tokens()`, `set_bookmark_interval(d)`.
//! - `pods/exec` (websocket, v5/v4 channel protocol): `on_exec(handler)` answers commands,
//!   `execs()` lists them.
//! - `pods/{name}/ephemeralcontainers` (GET, PATCH, PUT), checked as the API server checks
//!   it; the fake kubelet starts what is added (`set_helper_start` makes starts fail), and
//!   firedrill's helper in it answers `firedrill internal status|stop` through exec and ends
//!   at its deadline (`set_helpers_idle` makes helpers do nothing).
//! - Security: ServiceAccounts, Roles and RoleBindings are stored; `serviceaccounts/{name}/token`
//!   (TokenRequest) hands out a token that identifies the ServiceAccount, and requests with it
//!   go through RBAC over the namespace's Roles and RoleBindings (ClusterRoles are ignored),
//!   403 when denied; pod creations go through PodSecurity admission by the namespace's
//!   `pod-security.kubernetes.io/enforce` label (403); `set_admission(Admission::Policy(name))`
//!   adds a policy engine that answers 422, `Admission::Permissive` lets everything through.
//! - Custom resources: applying a CustomResourceDefinition (apiextensions.k8s.io/v1) serves
//!   its group, version and plural; discovery (`/api`, `/api/v1`, `/apis`, `/apis/GROUP`,
//!   `/apis/GROUP/VERSION`) lists built-in and custom resources (crd.rs).
//! - NetworkPolicies: `ignore_network_policies(true)` makes everything reachable, as a
//!   network plugin that ignores them; a pod running `firedrill internal check --blocked A
//!   --allowed B` (a verifier pod) is completed with the check's finding, worked out from
//!   the policies held, in its termination message.
//! - Reading: `snapshot()`, `objects(kind, ns)`, `object(kind, ns, name)`, `requests()`,
//!   `pod_history(ns, owner)`, `reachable(from, Reach)`, and `GET /fake/reachable?from=&to=`.
//!
//! What it implements and leaves out is in docs/testing-kubernetes.md.

#![allow(dead_code)]

mod controller;
mod crd;
mod ephemeral;
mod exec;
mod netpol;
mod patch;
mod routes;
mod security;
mod selector;
mod store;
mod verifier;

pub use ephemeral::HelperStart;
pub use exec::{Exec, ExecReply};
pub use netpol::Reach;
pub use security::Admission;
pub use store::{PodLife, Request};

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{State, Write, str_at};

/// What the server thread and the test share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the control loop after a change.
    wake: tokio::sync::Notify,
    /// Bumped to end every open watch.
    drops: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake API server; stops its thread on drop.
pub struct FakeKube {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn pairs(labels: &[(&str, &str)]) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

fn workload(
    kind: &str,
    ns: &str,
    name: &str,
    replicas: Option<i32>,
    labels: &[(&str, &str)],
) -> Value {
    let mut obj = json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": pairs(labels)},
        "spec": {
            "selector": {"matchLabels": pairs(labels)},
            "template": {
                "metadata": {"labels": pairs(labels)},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "registry.example/app:1.0",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                }]},
            },
        },
    });
    if let Some(r) = replicas {
        obj["spec"]["replicas"] = json!(r);
    }
    if kind == "StatefulSet" {
        obj["spec"]["serviceName"] = json!(name);
    }
    obj
}

impl FakeKube {
    /// Starts an empty cluster: namespaces `default` and `kube-system`, Ready nodes `node-1..3`.
    pub fn start() -> FakeKube {
        let (drops, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            wake: tokio::sync::Notify::new(),
            drops,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("a local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fakekube".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    tokio::spawn(controller::run(for_thread.clone()));
                    let server = axum::serve(listener, routes::router(for_thread));
                    tokio::select! {
                        _ = server => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawn the fakekube thread");
        let fake = FakeKube {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        };
        for ns in ["default", "kube-system"] {
            fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        for i in 1..=3 {
            fake.add_node(&format!("node-{i}"));
        }
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = {
            let mut st = self.shared.lock();
            let out = f(&mut st);
            st.settle();
            out
        };
        self.shared.wake.notify_one();
        out
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes `kubeconfig` into `dir`: context `fake` (current), server `url()`, a dummy token.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-token\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// A kube client for this server (installs the rustls provider first).
    pub async fn client(&self) -> kube::Client {
        firedrill::tls::install_crypto_provider();
        kube::Client::try_from(self.config()).expect("a kube client")
    }

    /// A kube client that does not retry 429/503/504, to see those answers as they are.
    pub async fn client_without_retries(&self) -> kube::Client {
        firedrill::tls::install_crypto_provider();
        let mut config = self.config();
        config.default_retry = false;
        kube::Client::try_from(config).expect("a kube client")
    }

    fn config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("a valid url"));
        config.default_namespace = "default".into();
        config.read_timeout = Some(Duration::from_secs(30));
        config
    }

    /// Sets the controller delays: replacement creation and time to Ready.
    pub fn set_delays(&self, reschedule: Duration, ready: Duration) {
        self.with(|st| {
            st.reschedule_delay = reschedule;
            st.ready_delay = ready;
        });
    }

    /// Sets how often watches that allow bookmarks get one (default 1 s).
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.with(|st| st.bookmark_interval = interval);
    }

    /// Creates or replaces any supported object, status included; panics on an invalid one.
    pub fn apply(&self, object: Value) {
        self.with(|st| {
            let def = store::resource_of(&object)
                .unwrap_or_else(|| panic!("unsupported object: {object}"));
            let ns = str_at(&object, "/metadata/namespace");
            let ns = if def.namespaced && ns.is_empty() {
                "default"
            } else {
                ns
            }
            .to_string();
            let name = str_at(&object, "/metadata/name").to_string();
            let w = Write {
                dry: false,
                seed: true,
            };
            let exists = st
                .get(def.plural, if def.namespaced { &ns } else { "" }, &name)
                .is_some();
            let result = if exists {
                st.update(def, &ns, &name, object.clone(), None, w)
            } else {
                st.create(def, &ns, object.clone(), w)
            };
            if let Err(e) = result {
                panic!("cannot apply {}/{name}: {}", def.kind, e.message);
            }
        });
    }

    fn seed_now(&self, object: Value) {
        self.with(|st| st.immediate = true);
        self.apply(object);
        self.with(|st| st.immediate = false);
    }

    /// Adds a workload given whole (a Deployment, StatefulSet or DaemonSet) and its Ready
    /// pods at once.
    pub fn add_workload(&self, object: Value) {
        self.seed_now(object);
    }

    /// Adds a Deployment (one container, port 8080 named http) and its Ready pods at once.
    pub fn add_deployment(&self, ns: &str, name: &str, replicas: i32, labels: &[(&str, &str)]) {
        self.seed_now(workload("Deployment", ns, name, Some(replicas), labels));
    }

    /// Adds a StatefulSet and its Ready pods `NAME-0..N-1` at once.
    pub fn add_statefulset(&self, ns: &str, name: &str, replicas: i32, labels: &[(&str, &str)]) {
        self.seed_now(workload("StatefulSet", ns, name, Some(replicas), labels));
    }

    /// Adds a DaemonSet and its Ready pod on every schedulable node at once.
    pub fn add_daemonset(&self, ns: &str, name: &str, labels: &[(&str, &str)]) {
        self.seed_now(workload("DaemonSet", ns, name, None, labels));
    }

    /// Adds a Ready, schedulable node.
    pub fn add_node(&self, name: &str) {
        let index = self.shared.lock().list("nodes", None).len() + 1;
        self.apply(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                "addresses": [{"type": "InternalIP", "address": format!("192.168.0.{}", index + 10)}, {"type": "Hostname", "address": name}],
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "nodeInfo": {
                    "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://2.0.0",
                    "kernelVersion": "6.1.0", "kubeProxyVersion": "", "kubeletVersion": "v1.33.0",
                    "machineID": "", "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12", "systemUUID": "",
                },
            },
        }));
    }

    /// Adds a PodDisruptionBudget with `minAvailable` over pods with these labels.
    pub fn add_pdb(&self, ns: &str, name: &str, selector: &[(&str, &str)], min_available: i32) {
        self.apply(json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": pairs(selector)}},
        }));
    }

    /// Records a Warning event about a pod (e.g. `BackOff`), as the kubelet would.
    pub fn add_warning_event(&self, ns: &str, involved_pod: &str, reason: &str, message: &str) {
        self.with(|st| {
            let pod = st.get("pods", ns, involved_pod).cloned().unwrap_or_else(|| {
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": involved_pod, "namespace": ns}})
            });
            st.emit_event(&pod, "Warning", reason, message, "kubelet");
        });
    }

    /// Denies a verb on a resource (`pods/eviction` for a subresource), in one namespace or all:
    /// SelfSubjectAccessReviews answer no and the real request gets 403.
    pub fn deny(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) {
        self.with(|st| {
            st.denies.push(store::Deny {
                verb: verb.into(),
                group: group.into(),
                resource: resource.into(),
                namespace: namespace.map(str::to_string),
            })
        });
    }

    /// Answers the next `times` requests with this method (or `*`) and path prefix with `status`.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, times: u32) {
        self.with(|st| {
            st.failures.push(store::Failure {
                method: method.into(),
                prefix: path_prefix.into(),
                status,
                remaining: times,
            })
        });
    }

    /// Ends every open watch stream now.
    pub fn drop_watches(&self) {
        self.shared.drops.send_modify(|n| *n += 1);
    }

    /// Forgets the change log: a watch from any resource version before now gets 410 Expired.
    pub fn compact(&self) {
        self.with(State::compact);
    }

    /// Expires every paging snapshot: their continue tokens get 410 Expired.
    pub fn expire_continue_tokens(&self) {
        self.with(|st| st.pages.clear());
    }

    /// Every object, sorted, without volatile fields; owned pods grouped by owner.
    pub fn snapshot(&self) -> Value {
        self.shared.lock().snapshot()
    }

    /// Objects of a kind (`Pod` or `pods`), in one namespace or all.
    pub fn objects(&self, kind: &str, ns: Option<&str>) -> Vec<Value> {
        let def = store::resource_named(kind).unwrap_or_else(|| panic!("unsupported kind {kind}"));
        self.shared
            .lock()
            .list(def.plural, ns)
            .into_iter()
            .cloned()
            .collect()
    }

    /// One object, if it exists.
    pub fn object(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let def = store::resource_named(kind).unwrap_or_else(|| panic!("unsupported kind {kind}"));
        let ns = if def.namespaced { ns } else { "" };
        self.shared.lock().get(def.plural, ns, name).cloned()
    }

    /// Sets what commands run in pods (`pods/exec`) answer; without it they exit 0 silently.
    pub fn on_exec(&self, handler: impl Fn(&Exec) -> ExecReply + Send + Sync + 'static) {
        self.with(|st| st.exec_handler = Some(Arc::new(handler)));
    }

    /// How the fake kubelet starts ephemeral containers.
    pub fn set_helper_start(&self, start: HelperStart) {
        self.with(|st| st.helpers.start = start);
    }

    /// Whether firedrill's helpers in ephemeral containers run without doing anything.
    pub fn set_helpers_idle(&self, idle: bool) {
        self.with(|st| st.helpers.idle = idle);
    }

    /// How pod creations and requests with ServiceAccount tokens are admitted.
    pub fn set_admission(&self, admission: Admission) {
        self.with(|st| st.admission = admission);
    }

    /// Makes NetworkPolicies ignored (`true`), as a network plugin without NetworkPolicy
    /// support does: everything is reachable, for `reachable`, `/fake/reachable` and the
    /// verifier pods' checks; the policies are still stored.
    pub fn ignore_network_policies(&self, ignore: bool) {
        self.with(|st| st.ignore_network_policies = ignore);
    }

    /// Makes every dependency verifier pod see its requests pass the proxy untouched
    /// (`true`), as a proxy that ignores its configuration would.
    pub fn set_proxies_untouched(&self, untouched: bool) {
        self.with(|st| st.proxies_untouched = untouched);
    }

    /// Every command run in a pod so far.
    pub fn execs(&self) -> Vec<Exec> {
        self.shared.lock().execs.clone()
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// The lives of the pods of a workload (Deployment, StatefulSet, DaemonSet or ReplicaSet
    /// name), oldest first, on the fake's clock.
    pub fn pod_history(&self, ns: &str, owner: &str) -> Vec<PodLife> {
        self.shared
            .lock()
            .lives
            .iter()
            .filter(|l| l.namespace == ns && (l.owner == owner || l.controller == owner))
            .cloned()
            .collect()
    }

    /// Whether pod `from` (`ns/name`) reaches `to` under the NetworkPolicies held; panics if a
    /// pod named does not exist.
    pub fn reachable(&self, from: &str, to: Reach) -> bool {
        netpol::reachable(&self.shared.lock(), from, &to).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
