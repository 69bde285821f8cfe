//! The proof of effect of the NetworkPolicy faults (quarantine, egress-block, dns-outage): a
//! short-lived verifier pod, created where the fault's policy applies, runs
//! `firedrill internal check`, which tries one connection the policy must block and one it
//! must leave alone, and writes what it saw to its termination message. firedrill reads the
//! message from the pod's status (`get` on pods) and deletes the pod.
//!
//! Why two connections: a blocked connection alone cannot tell an enforced policy from a pod
//! without any network; the allowed one shows the network works. A connection refused (a
//! reset) counts as reached: the packet arrived, so nothing dropped it.
//!
//! The pod is journaled like every object firedrill creates: its deletion is in the fault's
//! `restore` before it exists, so `firedrill rollback` after a crash removes it. It is owned
//! (controller reference) by the fault's NetworkPolicy, so that no ReplicaSet or DaemonSet
//! adopts it even when it carries the targets' labels, and so that the garbage collector
//! removes it with the policy; a readiness gate nobody sets keeps it out of every Service.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Preconditions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Effect;
use super::dependency::check::observe;
pub use super::dependency::check::{Request as HttpRequest, Seen, Sends};
use super::effect::API_EVERY;
use super::kubernetes::{Created, create_owned, owner};
use crate::platform::kubernetes::{Cluster, OWNER, Undo, VERIFIER, retry};

/// The readiness gate the verifier pod waits for and never gets: it is never Ready, so no
/// Service sends it traffic.
pub const NEVER_READY: &str = "firedrill.dev/never-ready";
/// How long the kubelet lets the verifier pod run (`activeDeadlineSeconds`).
pub const DEADLINE_SECONDS: i64 = 30;
/// How long firedrill waits for the verifier pod's finding.
pub const WINDOW: Duration = Duration::from_secs(20);
/// How long the check waits for each connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Why a policy fault is not checked when no image is known.
pub const NO_IMAGE: &str =
    "no firedrill image to run a verifier pod in the cluster: set spec.target.helperImage";

/// One connection the check tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `ADDRESS:PORT`.
    pub target: String,
    /// Whether a packet got there: connected, or refused by the host.
    pub reached: bool,
    /// What happened: `connected`, `refused`, `timed out after 3 s`, or the error.
    pub how: String,
}

/// What the check saw: the connection that must be blocked and the one that must not be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The connection the policy blocks.
    pub blocked: Attempt,
    /// The connection the policy leaves alone.
    pub allowed: Attempt,
}

impl Finding {
    /// The check's exit code: 0 in force, 1 the blocked one reached, 2 cannot tell.
    pub fn exit_code(&self) -> u8 {
        match (self.blocked.reached, self.allowed.reached) {
            (true, _) => 1,
            (false, true) => 0,
            (false, false) => 2,
        }
    }
}

/// Tries a TCP connection to `addr`.
pub fn attempt(addr: SocketAddr, timeout: Duration) -> Attempt {
    let (reached, how) = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => (true, "connected".to_owned()),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => (true, "refused".to_owned()),
        Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
            (false, format!("timed out after {} ms", timeout.as_millis()))
        }
        Err(e) => (false, e.to_string()),
    };
    Attempt {
        target: addr.to_string(),
        reached,
        how,
    }
}

/// `firedrill internal check`: tries both connections and writes the finding as JSON to
/// `report` (the container's termination message).
pub fn check(
    blocked: SocketAddr,
    allowed: SocketAddr,
    timeout: Duration,
    report: &Path,
) -> std::io::Result<Finding> {
    let finding = Finding {
        blocked: attempt(blocked, timeout),
        allowed: attempt(allowed, timeout),
    };
    let text = serde_json::to_string(&finding).map_err(std::io::Error::other)?;
    std::fs::write(report, &text)?;
    println!("{text}");
    Ok(finding)
}

/// A destination the check tries, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Where the connection goes.
    pub addr: SocketAddr,
    /// What it is, such as `pod shop/web-1`.
    pub what: String,
}

impl Destination {
    /// The first address of a running pod and its first TCP container port (else `port`).
    pub fn of_pod(pod: &Pod, port: Option<u16>) -> Option<Self> {
        if pod.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let ip: IpAddr = pod.status.as_ref()?.pod_ip.as_ref()?.parse().ok()?;
        let declared = pod.spec.as_ref().and_then(|s| {
            s.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
                .and_then(|p| u16::try_from(p.container_port).ok())
        });
        let port = port.or(declared).unwrap_or(80);
        Some(Self {
            addr: SocketAddr::new(ip, port),
            what: format!(
                "pod {}/{}",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default()
            ),
        })
    }
}

/// Whether a pod is a verifier pod.
pub fn is_verifier(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(VERIFIER))
}

/// The first address of a range that a host can have: the address itself for a single
/// address, else the one after the network's.
pub fn host_in((ip, len): (IpAddr, u8)) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if len < 32 => {
            let bits = u32::from(v4);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4(((bits & mask) + 1).into())
        }
        IpAddr::V6(v6) if len < 128 => {
            let bits = u128::from(v6);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6(((bits & mask) + 1).into())
        }
        other => other,
    }
}

/// Whether `ip` lies in the range.
pub fn in_range(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The firedrill image: `spec.target.helperImage`, else the image of the first dependency
/// proxy, the images of firedrill the experiment names.
pub fn image(cluster: &Cluster) -> Option<String> {
    let target = &cluster.target;
    target
        .helper_image
        .clone()
        .or_else(|| {
            target
                .dependencies
                .iter()
                .find_map(|d| d.proxy.as_ref().map(|p| p.image.clone()))
        })
        .filter(|i| !i.trim().is_empty())
}

/// The verifier pod's name for the fault's policy.
pub fn name_for(policy: &str) -> String {
    let base: String = policy.chars().take(240).collect();
    format!("{}-verify", base.trim_end_matches('-'))
}

/// The undo of the verifier pod, written into the fault's intent before it is created.
pub fn undo(cluster: &Cluster, namespace: &str, policy: &str) -> Undo {
    Undo::delete_of::<Pod>(namespace, &name_for(policy)).of_run(&cluster.run_id)
}

/// Labels a target pod carries that belong to its controller or to firedrill's faults, left
/// off a verifier that copies the target's labels.
const NOT_COPIED: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    crate::platform::kubernetes::QUARANTINE,
    crate::platform::kubernetes::EGRESS_BLOCK,
];

/// A target pod's labels, for a verifier that must be selected as the targets are.
pub fn copied_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Everything a verifier pod needs.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// The fault's namespace.
    pub namespace: String,
    /// The fault's NetworkPolicy: the pod is named after it and owned by it.
    pub policy: String,
    /// The policy's uid, for the controller reference; none leaves the pod unowned.
    pub policy_uid: Option<String>,
    /// The fault's name.
    pub fault: String,
    /// Labels beyond firedrill's own: the targets' and the fault's label, for an egress
    /// fault; none for a quarantine, whose verifier stays outside the quarantined set.
    pub labels: BTreeMap<String, String>,
    /// The image with `firedrill` on its PATH.
    pub image: String,
    /// The connection the policy must block.
    pub blocked: Destination,
    /// The connection it must leave alone.
    pub allowed: Destination,
    /// Where the verifier stands, for the messages: `outside the quarantined pods`.
    pub standing: String,
}

impl Verifier {
    /// The pod's name.
    pub fn name(&self) -> String {
        name_for(&self.policy)
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name())
    }

    /// The pod: restricted PodSecurity, never Ready, no token, a short deadline.
    pub fn pod(&self, cluster: &Cluster) -> serde_json::Value {
        self.pod_with(&cluster.ownership_labels())
    }

    /// The pod, with these ownership labels.
    fn pod_with(&self, ownership: &BTreeMap<String, String>) -> serde_json::Value {
        let owner = self.policy_uid.as_ref().map(|uid| {
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "name": self.policy,
                "uid": uid,
                "controller": true,
            })
        });
        let args = [
            "internal".to_owned(),
            "check".to_owned(),
            "--blocked".to_owned(),
            self.blocked.addr.to_string(),
            "--allowed".to_owned(),
            self.allowed.addr.to_string(),
            "--timeout".to_owned(),
            format!("{}s", CONNECT_TIMEOUT.as_secs()),
        ];
        let mut labels = self.labels.clone();
        labels.extend(ownership.clone());
        pod_of(&PodParts {
            name: self.name(),
            namespace: &self.namespace,
            fault: &self.fault,
            labels,
            owner,
            image: &self.image,
            args: &args,
            deadline_seconds: DEADLINE_SECONDS,
        })
    }

    /// What the finding says of the fault.
    pub fn judge(&self, finding: &Finding) -> Effect {
        let side = |a: &Attempt, d: &Destination| format!("{} ({}): {}", a.target, d.what, a.how);
        let blocked = side(&finding.blocked, &self.blocked);
        let allowed = side(&finding.allowed, &self.allowed);
        let from = format!("verifier pod {} ({})", self.id(), self.standing);
        match (finding.blocked.reached, finding.allowed.reached) {
            (false, true) => Effect::verified(format!(
                "from {from}, the blocked connection failed, {blocked}; the allowed one got through, {allowed}"
            )),
            (true, _) => Effect::ineffective(format!(
                "from {from}, the connection NetworkPolicy {}/{} blocks got through, {blocked}: the cluster does not enforce NetworkPolicies (its network plugin ignores them), or another NetworkPolicy allows this traffic",
                self.namespace, self.policy
            )),
            (false, false) => Effect::unverified(format!(
                "from {from}, neither connection got through (blocked: {blocked}; allowed: {allowed}): the verifier pod may have no network at all, so the block shows nothing"
            )),
        }
    }
}

/// The fault's name as a label value (at most 63 characters).
fn fault_label(fault: &str) -> String {
    let v: String = fault.chars().take(63).collect();
    v.trim_end_matches(['-', '_', '.']).to_owned()
}

/// What makes one verifier pod: the parts that differ between checks.
struct PodParts<'a> {
    name: String,
    namespace: &'a str,
    fault: &'a str,
    /// Its labels beyond the verifier's own and the fault's.
    labels: BTreeMap<String, String>,
    /// The controller ownerReference, if any.
    owner: Option<serde_json::Value>,
    image: &'a str,
    /// The arguments of `firedrill`.
    args: &'a [String],
    deadline_seconds: i64,
}

/// A verifier pod: restricted PodSecurity, never Ready, no token, a short deadline, its
/// finding in its termination message.
fn pod_of(p: &PodParts<'_>) -> serde_json::Value {
    let mut labels = p.labels.clone();
    labels.insert(VERIFIER.to_owned(), "true".to_owned());
    labels.insert("firedrill.dev/fault".to_owned(), fault_label(p.fault));
    let mut metadata = json!({
        "name": p.name,
        "namespace": p.namespace,
        "labels": labels,
        "annotations": {OWNER: owner()},
    });
    if let Some(owner) = &p.owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": p.deadline_seconds,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "readinessGates": [{"conditionType": NEVER_READY}],
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [{
                "name": "check",
                "image": p.image,
                "command": ["firedrill"],
                "args": p.args,
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"cpu": "100m", "memory": "64Mi"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "runAsNonRoot": true,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }],
        },
    })
}

/// What a dependency fault's verifier pod sends through the dependency's Service (now the
/// fault proxy's), for `firedrill internal http-check`.
#[derive(Clone, Debug)]
pub struct HttpVerifier {
    /// The dependency's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The fault's name.
    pub fault: String,
    /// The proxy Deployment, `(name, uid)`: the pod's controller, so that the garbage
    /// collector removes it with the proxy.
    pub owner: Option<(String, String)>,
    /// The image with `firedrill` on its PATH.
    pub image: String,
    /// `SERVICE.NAMESPACE.svc:PORT`.
    pub to: String,
    /// The requests.
    pub sends: Sends,
}

/// What `firedrill internal http-check` saw: each request's fate, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpFinding {
    /// Where the requests went.
    pub to: String,
    /// What each met.
    pub seen: Vec<Seen>,
}

impl HttpVerifier {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The arguments of `firedrill` in the pod.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "internal".to_owned(),
            "http-check".to_owned(),
            "--to".to_owned(),
            self.to.clone(),
            "--method".to_owned(),
            self.sends.request.method.clone(),
            "--path".to_owned(),
            self.sends.request.path.clone(),
        ];
        if let Some((name, value)) = &self.sends.request.header {
            args.extend(["--header".to_owned(), format!("{name}: {value}")]);
        }
        args.extend([
            "--wait".to_owned(),
            format!("{}ms", self.sends.wait.as_millis()),
            "--tries".to_owned(),
            self.sends.tries.to_string(),
        ]);
        if let Some(status) = self.sends.until_status {
            args.extend(["--status".to_owned(), status.to_string()]);
        }
        args
    }

    /// The pod: the same as the NetworkPolicy faults' verifier, with firedrill's labels only
    /// (no Service selects it), and a deadline long enough for all its requests.
    pub fn pod(&self, cluster: &Cluster) -> serde_json::Value {
        self.pod_with(&cluster.ownership_labels())
    }

    fn pod_with(&self, ownership: &BTreeMap<String, String>) -> serde_json::Value {
        let owner = self.owner.as_ref().map(|(name, uid)| {
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "uid": uid,
                "controller": true,
            })
        });
        let extra = i64::try_from(self.sends.longest().as_secs()).unwrap_or(i64::MAX);
        pod_of(&PodParts {
            name: self.name.clone(),
            namespace: &self.namespace,
            fault: &self.fault,
            labels: ownership.clone(),
            owner,
            image: &self.image,
            args: &self.args(),
            deadline_seconds: DEADLINE_SECONDS.saturating_add(extra),
        })
    }
}

/// `firedrill internal http-check`: sends the requests and writes what they met as JSON to
/// `report` (the container's termination message).
pub fn http_check(to: &str, sends: &Sends, report: &Path) -> std::io::Result<HttpFinding> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let finding = HttpFinding {
        to: to.to_owned(),
        seen: runtime.block_on(observe(to, sends)),
    };
    let text = serde_json::to_string(&finding).map_err(std::io::Error::other)?;
    std::fs::write(report, &text)?;
    println!("{text}");
    Ok(finding)
}

/// Creates a dependency fault's verifier pod, waits for what its requests met, and deletes
/// it; an `unverified` effect says why there is nothing to judge.
pub async fn run_http(cluster: &Cluster, verifier: &HttpVerifier) -> Result<HttpFinding, Effect> {
    let window = WINDOW + verifier.sends.longest();
    run_pod(
        cluster,
        &verifier.namespace,
        &verifier.name,
        verifier.pod(cluster),
        window,
    )
    .await
}

/// Creates the verifier pod, waits for its finding, deletes it, and says what it shows.
pub async fn run(cluster: &Cluster, verifier: &Verifier) -> Effect {
    let pod = verifier.pod(cluster);
    match run_pod::<Finding>(cluster, &verifier.namespace, &verifier.name(), pod, WINDOW).await {
        Ok(finding) => verifier.judge(&finding),
        Err(why) => why,
    }
}

/// Creates a verifier pod, waits at most `window` for its finding, and deletes it.
async fn run_pod<T: DeserializeOwned>(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    pod: serde_json::Value,
    window: Duration,
) -> Result<T, Effect> {
    let id = format!("{namespace}/{name}");
    let pod: Pod = serde_json::from_value(pod)
        .map_err(|e| Effect::unverified(format!("the verifier pod built is not valid: {e}")))?;
    let api = Api::<Pod>::namespaced(cluster.client.clone(), namespace);
    let uid = match create_owned(&api, &pod, &cluster.run_id).await {
        Ok(Created::Ours(p)) => p.metadata.uid,
        Ok(Created::Taken(_)) => {
            return Err(Effect::unverified(format!(
                "pod {id} exists and is not this run's: no verifier pod could be started"
            )));
        }
        Ok(Created::Unread(e)) | Err(e) => {
            return Err(Effect::unverified(format!(
                "the verifier pod {id} could not be created: {}",
                crate::platform::kubernetes::server_message(&e)
            )));
        }
    };
    let finding = wait(&api, &id, name, window).await;
    // The pod goes now; the fault's revert deletes it again if this fails.
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    if let Err(e) = retry(&format!("delete pod {id}"), || api.delete(name, &params)).await {
        tracing::warn!(pod = %id, error = %e, "the verifier pod could not be deleted; the fault's revert deletes it");
    }
    finding
}

/// Reads the verifier pod until it has ended, for at most `window`.
async fn wait<T: DeserializeOwned>(
    api: &Api<Pod>,
    id: &str,
    name: &str,
    window: Duration,
) -> Result<T, Effect> {
    let end = tokio::time::Instant::now() + window;
    let mut last;
    loop {
        match api.get_opt(name).await {
            Ok(Some(pod)) => match ended_as::<T>(&pod) {
                Some(Ok(finding)) => return Ok(finding),
                Some(Err(why)) => {
                    return Err(Effect::unverified(format!("verifier pod {id} {why}")));
                }
                None => last = state(&pod),
            },
            Ok(None) => {
                return Err(Effect::unverified(format!(
                    "verifier pod {id} was deleted before it ended"
                )));
            }
            Err(e) => last = format!("cannot be read: {e}"),
        }
        if tokio::time::Instant::now() >= end {
            return Err(Effect::unverified(format!(
                "verifier pod {id} did not end within {} s ({last})",
                window.as_secs()
            )));
        }
        tokio::time::sleep(API_EVERY).await;
    }
}

/// The finding of an ended verifier pod; an error when it ended without one; `None` while
/// it has not ended.
pub fn ended(pod: &Pod) -> Option<Result<Finding, String>> {
    ended_as(pod)
}

/// The finding, of type `T`, of an ended verifier pod.
fn ended_as<T: DeserializeOwned>(pod: &Pod) -> Option<Result<T, String>> {
    let status = pod.status.as_ref()?;
    let terminated = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.terminated.clone());
    let phase = status.phase.as_deref().unwrap_or("Pending");
    match terminated {
        Some(t) => {
            let message = t.message.unwrap_or_default();
            match serde_json::from_str::<T>(message.trim()) {
                Ok(f) => Some(Ok(f)),
                Err(_) => Some(Err(format!(
                    "ended (exit code {}, {}) without a finding: {}",
                    t.exit_code,
                    t.reason.unwrap_or_default(),
                    if message.is_empty() {
                        "no termination message".to_owned()
                    } else {
                        message.chars().take(300).collect()
                    }
                ))),
            }
        }
        None if phase == "Failed" || phase == "Succeeded" => Some(Err(format!(
            "ended ({phase}{}) without running its check",
            status
                .reason
                .as_ref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        ))),
        None => None,
    }
}

/// What a pod that has not ended is doing, for a timeout's message.
fn state(pod: &Pod) -> String {
    let Some(status) = &pod.status else {
        return "no status yet".to_owned();
    };
    let waiting = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.waiting.clone());
    if let Some(w) = waiting {
        return format!(
            "waiting: {}{}",
            w.reason.unwrap_or_default(),
            w.message.map(|m| format!(": {m}")).unwrap_or_default()
        );
    }
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(c) = unscheduled {
        return format!("not scheduled: {}", c.message.clone().unwrap_or_default());
    }
    format!("phase {}", status.phase.as_deref().unwrap_or("Pending"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt_of(reached: bool) -> Attempt {
        Attempt {
            target: "10.0.0.1:80".into(),
            reached,
            how: if reached { "connected" } else { "timed out" }.into(),
        }
    }

    fn verifier() -> Verifier {
        let dest = |ip: &str, what: &str| Destination {
            addr: SocketAddr::new(ip.parse().unwrap(), 8080),
            what: what.into(),
        };
        Verifier {
            namespace: "shop".into(),
            policy: "firedrill-cut-1".into(),
            policy_uid: Some("uid-1".into()),
            fault: "cut".into(),
            labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            image: "registry.example/firedrill:1".into(),
            blocked: dest("10.244.0.5", "pod shop/web-a"),
            allowed: dest("10.244.0.6", "pod shop/web-b"),
            standing: "outside the quarantined pods".into(),
        }
    }

    #[test]
    fn the_finding_decides_the_effect_and_the_exit_code() {
        let v = verifier();
        let finding = |b, a| Finding {
            blocked: attempt_of(b),
            allowed: attempt_of(a),
        };
        let verified = v.judge(&finding(false, true));
        assert_eq!(verified.status(), "verified", "{verified:?}");
        assert!(verified.detail().contains("pod shop/web-a"), "{verified:?}");
        let ineffective = v.judge(&finding(true, true));
        assert!(ineffective.is_ineffective());
        assert!(
            ineffective
                .detail()
                .contains("does not enforce NetworkPolicies"),
            "{ineffective:?}"
        );
        assert!(v.judge(&finding(true, false)).is_ineffective());
        assert_eq!(v.judge(&finding(false, false)).status(), "unverified");
        assert_eq!(finding(false, true).exit_code(), 0);
        assert_eq!(finding(true, true).exit_code(), 1);
        assert_eq!(finding(false, false).exit_code(), 2);
    }

    #[test]
    fn the_pod_meets_the_restricted_profile_and_is_never_ready() {
        let cluster_labels = BTreeMap::new();
        let pod = verifier().pod_with(&cluster_labels);
        let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
        let spec = typed.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.active_deadline_seconds, Some(DEADLINE_SECONDS));
        assert_eq!(spec.automount_service_account_token, Some(false));
        assert_eq!(spec.readiness_gates.unwrap()[0].condition_type, NEVER_READY);
        let sc = spec.containers[0].security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.unwrap().drop.unwrap(),
            vec!["ALL".to_owned()]
        );
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        assert_eq!(
            spec.containers[0].args.clone().unwrap(),
            [
                "internal",
                "check",
                "--blocked",
                "10.244.0.5:8080",
                "--allowed",
                "10.244.0.6:8080",
                "--timeout",
                "3s"
            ]
        );
        let owner = &typed.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("NetworkPolicy", Some(true))
        );
        let labels = typed.metadata.labels.unwrap();
        assert_eq!(labels["app"], "web");
        assert_eq!(labels[VERIFIER], "true");
    }

    #[test]
    fn a_dependency_verifier_sends_the_requests_asked_and_writes_what_they_met() {
        let v = HttpVerifier {
            namespace: "shop".into(),
            name: "db-firedrill-verify".into(),
            fault: "errors".into(),
            owner: Some(("db-firedrill-proxy".into(), "uid-2".into())),
            image: "registry.example/firedrill:1".into(),
            to: "db.shop.svc:80".into(),
            sends: Sends {
                request: HttpRequest {
                    method: "POST".into(),
                    path: "/pay".into(),
                    header: Some(("X-Tenant".into(), "blue".into())),
                },
                wait: Duration::from_secs(2),
                tries: 7,
                until_status: Some(503),
            },
        };
        let typed: Pod = serde_json::from_value(v.pod_with(&BTreeMap::new())).unwrap();
        let spec = typed.spec.unwrap();
        assert_eq!(
            spec.containers[0].args.clone().unwrap(),
            [
                "internal",
                "http-check",
                "--to",
                "db.shop.svc:80",
                "--method",
                "POST",
                "--path",
                "/pay",
                "--header",
                "X-Tenant: blue",
                "--wait",
                "2000ms",
                "--tries",
                "7",
                "--status",
                "503"
            ]
        );
        assert_eq!(spec.active_deadline_seconds, Some(DEADLINE_SECONDS + 28));
        assert_eq!(spec.automount_service_account_token, Some(false));
        let owner = &typed.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("Deployment", Some(true))
        );

        // A dependency that answers 503 to everything: the first request is enough.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = server.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for conn in server.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let _ = conn
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("termination-log");
        let finding = http_check(&to, &v.sends, &report).unwrap();
        assert_eq!(finding.seen.len(), 1, "{finding:?}");
        assert!(
            matches!(&finding.seen[0], Seen::Answer { line, .. } if line == "HTTP/1.1 503 Service Unavailable"),
            "{finding:?}"
        );
        let written: HttpFinding =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(written, finding);
    }

    #[test]
    fn a_check_reaches_a_listener_and_counts_a_refusal_as_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("termination-log");
        let finding = check(closed, open, Duration::from_secs(2), &report).unwrap();
        assert_eq!(finding.allowed.how, "connected");
        // Refused: the packet got to a host, so nothing dropped it.
        assert!(finding.blocked.reached, "{finding:?}");
        let written: Finding =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(written, finding);
        assert_eq!(finding.exit_code(), 1);
    }

    #[test]
    fn ranges_give_a_host_and_contain_addresses() {
        let r = |s: &str| crate::spec::parse_cidr(s).unwrap();
        assert_eq!(host_in(r("10.0.5.0/24")).to_string(), "10.0.5.1");
        assert_eq!(host_in(r("10.0.5.7/32")).to_string(), "10.0.5.7");
        assert_eq!(host_in(r("fd00::/64")).to_string(), "fd00::1");
        assert!(in_range("10.0.5.9".parse().unwrap(), r("10.0.5.0/24")));
        assert!(!in_range("10.0.6.9".parse().unwrap(), r("10.0.5.0/24")));
        assert!(!in_range("fd00::1".parse().unwrap(), r("10.0.0.0/8")));
    }

    #[test]
    fn an_ended_pod_gives_its_finding_or_says_why_not() {
        let finding = Finding {
            blocked: attempt_of(false),
            allowed: attempt_of(true),
        };
        let pod = |terminated: serde_json::Value, phase: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "v"},
                "status": {"phase": phase, "containerStatuses": [{
                    "name": "check", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": terminated,
                }]},
            }))
            .unwrap()
        };
        let done = pod(
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "message": serde_json::to_string(&finding).unwrap()}}),
            "Succeeded",
        );
        assert_eq!(ended(&done), Some(Ok(finding)));
        let broken = pod(
            json!({"terminated": {"exitCode": 127, "reason": "Error", "message": "exec: firedrill: not found"}}),
            "Failed",
        );
        assert!(
            ended(&broken).unwrap().unwrap_err().contains("not found"),
            "{:?}",
            ended(&broken)
        );
        let pulling = pod(
            json!({"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}),
            "Pending",
        );
        assert_eq!(ended(&pulling), None);
        assert_eq!(state(&pulling), "waiting: ImagePullBackOff: no such image");
    }
}
