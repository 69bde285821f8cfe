//! Network faults on the kubernetes platform: egress-block (a dependency made unreachable)
//! and dns-outage. Each labels the selected pods and creates a NetworkPolicy that selects
//! that label and allows every egress except the blocked destination.
//!
//! NetworkPolicies only allow, so "everything but X" is written as allow rules: ipBlocks
//! with `except`, port ranges (`port` to `endPort`) around a blocked port, and, for pods by
//! label, one `NotIn` peer per label (peers are ORed, so a pod is left out only when it
//! carries every label). Policies add up: another policy that allows the blocked traffic
//! wins, which `plan` detects and reports as a warning.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::kubernetes::{kube_error, lock, owner, pick, undo_all};
use super::verifier::{self, Destination, Verifier};
use super::{BuildFault, Built, Effect, Fault, FaultContext, FaultError, Intent, on_cluster};
use crate::platform::Platform;
use crate::platform::kubernetes::{
    ApiWrite, Cluster, EGRESS_BLOCK, KubeError, MANAGED_BY, MANAGER, OWNER, PAGE, PodRef,
    QUARANTINE, RUN_ID, Undo, WriteAction, label_selector, retry,
};
use crate::spec::{self, EgressDestination, NetworkProtocol, PodPeer};

/// The label Kubernetes puts on every namespace, holding its name.
const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

/// A port entry of a NetworkPolicy rule: one protocol, one port or a range, or every port.
fn port_entry(protocol: NetworkProtocol, from: u16, to: u16) -> Value {
    if from == to {
        json!({"protocol": protocol.as_str(), "port": from})
    } else {
        json!({"protocol": protocol.as_str(), "port": from, "endPort": to})
    }
}

/// Every port of every protocol except `port` on the `blocked` protocols: the ranges on
/// either side of it, and the other protocols whole.
pub fn ports_except(port: Option<u16>, blocked: &[NetworkProtocol]) -> Vec<Value> {
    let mut out = Vec::new();
    for protocol in NetworkProtocol::ALL {
        if !blocked.contains(&protocol) {
            out.push(json!({"protocol": protocol.as_str()}));
            continue;
        }
        // A blocked protocol without a port is blocked whole: no entry for it.
        let Some(port) = port else { continue };
        if port > 1 {
            out.push(port_entry(protocol, 1, port - 1));
        }
        if port < u16::MAX {
            out.push(port_entry(protocol, port + 1, u16::MAX));
        }
    }
    out
}

/// Two ipBlock peers, IPv4 and IPv6, covering every address except these ranges.
fn everywhere_except(except: &[(IpAddr, u8)]) -> Vec<Value> {
    let family = |v6: bool| -> Vec<String> {
        except
            .iter()
            .filter(|(ip, _)| ip.is_ipv6() == v6)
            .map(|(ip, len)| format!("{ip}/{len}"))
            .collect()
    };
    [("0.0.0.0/0", family(false)), ("::/0", family(true))]
        .into_iter()
        .map(|(cidr, except)| {
            if except.is_empty() {
                json!({"ipBlock": {"cidr": cidr}})
            } else {
                json!({"ipBlock": {"cidr": cidr, "except": except}})
            }
        })
        .collect()
}

/// Peers for every pod except those of `peer`: every other namespace, and in its
/// namespace, one peer per label for the pods without that label.
fn pods_except(peer: &PodPeer) -> Vec<Value> {
    let mut out = vec![json!({"namespaceSelector": {"matchExpressions": [
        {"key": NAMESPACE_NAME, "operator": "NotIn", "values": [peer.namespace]}
    ]}})];
    for (key, value) in &peer.match_labels {
        out.push(json!({
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: peer.namespace}},
            "podSelector": {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]},
        }));
    }
    out
}

/// The addresses of pods as single-address ranges.
fn host_ranges(ips: &[IpAddr]) -> Vec<(IpAddr, u8)> {
    ips.iter()
        .map(|ip| (*ip, if ip.is_ipv6() { 128 } else { 32 }))
        .collect()
}

/// Egress rules that allow everything except `cidr` (on `port` and `protocol` when given).
pub fn cidr_rules(
    cidr: (IpAddr, u8),
    port: Option<u16>,
    protocol: Option<NetworkProtocol>,
) -> Vec<Value> {
    let mut rules = vec![json!({"to": everywhere_except(&[cidr])})];
    let blocked = match (port, protocol) {
        (None, None) => None,
        (Some(_), None) => Some(NetworkProtocol::Tcp),
        (_, Some(p)) => Some(p),
    };
    if let Some(blocked) = blocked {
        rules.push(json!({
            "to": [{"ipBlock": {"cidr": format!("{}/{}", cidr.0, cidr.1)}}],
            "ports": ports_except(port, &[blocked]),
        }));
    }
    rules
}

/// Egress rules that allow everything except the pods of `peer`, whose current addresses
/// are `ips` (left out of the ipBlocks for CNIs that apply ipBlocks to pod addresses).
pub fn pods_rules(peer: &PodPeer, ips: &[IpAddr]) -> Vec<Value> {
    let mut to = pods_except(peer);
    to.extend(everywhere_except(&host_ranges(ips)));
    vec![json!({"to": to})]
}

/// Egress rules that allow everything except the DNS pods of `dns` (addresses `ips`) on
/// any port, and port 53 (UDP and TCP) anywhere.
pub fn dns_rules(dns: &PodPeer, ips: &[IpAddr]) -> Vec<Value> {
    let mut to = pods_except(dns);
    to.extend(everywhere_except(&host_ranges(ips)));
    vec![json!({
        "to": to,
        "ports": ports_except(Some(53), &[NetworkProtocol::Tcp, NetworkProtocol::Udp]),
    })]
}

/// The whole policy: it selects the pods labelled `EGRESS_BLOCK=name` and limits their
/// egress to `egress`.
pub fn policy(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    owner: &str,
    egress: Vec<Value>,
) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {OWNER: owner},
        },
        "spec": {
            "podSelector": {"matchLabels": {EGRESS_BLOCK: name}},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    })
}

/// Whether a label selector selects a pod with these labels.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let equal = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    equal && expressions
}

/// Whether a policy limits the egress of the pods it selects.
fn limits_egress(policy: &NetworkPolicy) -> bool {
    let Some(spec) = &policy.spec else {
        return false;
    };
    match &spec.policy_types {
        Some(types) => types.iter().any(|t| t == "Egress"),
        None => spec.egress.is_some(),
    }
}

/// A policy name of at most 63 characters (it is also a label value), unique to the fault
/// and the run.
fn policy_name(fault: &str, run_id: &str) -> String {
    let run = run_id.to_lowercase();
    let room = 63usize.saturating_sub("firedrill-".len() + 1 + run.len());
    let fault: String = fault.chars().take(room).collect();
    format!("firedrill-{}-{run}", fault.trim_end_matches('-'))
}

family! {
    /// What a network fault blocks.
    EgressChange {
        /// Egress to a destination.
        Block(spec::EgressBlock),
        /// Egress to the cluster DNS and port 53.
        Dns(spec::DnsOutage),
    }
}

/// Blocks the selected pods' egress to a destination, or to the cluster DNS.
pub struct NetworkFault {
    spec: EgressChange,
    cluster: Cluster,
    chosen: Mutex<Vec<PodRef>>,
    restore: Mutex<Vec<Undo>>,
    policy: Mutex<Option<Value>>,
    /// The uid of the policy created, which owns the verifier pod.
    policy_uid: Mutex<Option<String>>,
}

impl NetworkFault {
    /// An egress-block or dns-outage fault.
    pub fn new(spec: EgressChange, cluster: Cluster) -> Self {
        Self {
            spec,
            cluster,
            chosen: Mutex::new(Vec::new()),
            restore: Mutex::new(Vec::new()),
            policy: Mutex::new(None),
            policy_uid: Mutex::new(None),
        }
    }

    /// The first pod of `peer` with an address, on `port` or its first TCP port.
    async fn peer_destination(
        &self,
        peer: &PodPeer,
        port: Option<u16>,
    ) -> Result<Destination, Effect> {
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &peer.namespace);
        let mut params = ListParams::default().limit(PAGE);
        if !peer.match_labels.is_empty() {
            params = params.labels(&label_selector(&peer.match_labels));
        }
        let what = format!("list the pods left out in {}", peer.namespace);
        let pods = retry(&what, || api.list(&params))
            .await
            .map_err(|e| Effect::unverified(format!("{what}: {e}")))?
            .items;
        pods.iter()
            .find_map(|p| Destination::of_pod(p, port))
            .ok_or_else(|| {
                Effect::unverified(format!(
                    "no pod of {} has an address to connect to",
                    describe_peer(peer)
                ))
            })
    }

    /// The connection the policy blocks, and a test for the destinations it blocks.
    async fn blocked(&self) -> Result<(Destination, Blocks), Effect> {
        match &self.spec {
            EgressChange::Block(e) => match &e.destination {
                EgressDestination::Cidr(c) => {
                    if matches!(c.protocol, Some(p) if p != NetworkProtocol::Tcp) {
                        return Err(Effect::unverified(
                            "the check tries TCP connections only: a block of UDP or SCTP is not checked",
                        ));
                    }
                    let range =
                        spec::parse_cidr(&c.cidr).map_err(|e| Effect::unverified(e.to_string()))?;
                    let addr = SocketAddr::new(verifier::host_in(range), c.port.unwrap_or(443));
                    Ok((
                        Destination {
                            addr,
                            what: format!("in the blocked range {}", c.cidr),
                        },
                        Blocks::Range(range),
                    ))
                }
                EgressDestination::Pods(p) => Ok((
                    self.peer_destination(p, None).await?,
                    Blocks::Pods(p.clone()),
                )),
            },
            EgressChange::Dns(d) => Ok((
                self.peer_destination(&d.dns, Some(53)).await?,
                Blocks::Pods(d.dns.clone()),
            )),
        }
    }

    /// The verifier: selected by the fault's policy (the targets' labels and the fault's
    /// label), it connects to the blocked destination and to a pod of the namespace the
    /// policy lets it reach.
    async fn verifier(&self) -> Result<Verifier, Effect> {
        let image =
            verifier::image(&self.cluster).ok_or_else(|| Effect::unverified(verifier::NO_IMAGE))?;
        let chosen = lock(&self.chosen).clone();
        let object = lock(&self.policy).clone();
        let (Some(first), Some(object)) = (chosen.first(), object) else {
            return Err(Effect::unverified("no pod's egress was blocked"));
        };
        let ns = first.namespace.clone();
        let policy = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (blocked, blocks) = self.blocked().await?;
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &ns);
        let params = ListParams::default().limit(PAGE);
        let pods = retry(&format!("list the pods in {ns}"), || api.list(&params))
            .await
            .map_err(|e| Effect::unverified(format!("the pods of {ns} cannot be listed: {e}")))?
            .items;
        let allowed = pods
            .iter()
            .filter(|p| !verifier::is_verifier(p) && !blocks.holds(p))
            .filter_map(|p| Destination::of_pod(p, None))
            .find(|d| d.addr.port() != 53 && d.addr.ip() != blocked.addr.ip())
            .ok_or_else(|| {
                Effect::unverified(format!(
                    "no pod of namespace {ns} outside the blocked destination has an address: nothing shows that the verifier pod's network works"
                ))
            })?;
        let mut labels = verifier::copied_labels(&first.labels);
        labels.insert(EGRESS_BLOCK.to_owned(), policy.clone());
        let mut policy_uid = lock(&self.policy_uid).clone();
        if policy_uid.is_none() {
            policy_uid = self.policy_uid(&ns, &policy).await;
        }
        Ok(Verifier {
            namespace: ns,
            policy,
            policy_uid,
            fault: self.spec.name().to_owned(),
            labels,
            image,
            blocked,
            allowed,
            standing: format!("labelled as {} and selected by the policy", first.id()),
        })
    }

    /// The uid of the policy, read back when its create's answer was lost.
    async fn policy_uid(&self, ns: &str, name: &str) -> Option<String> {
        let api = Api::<NetworkPolicy>::namespaced(self.cluster.client.clone(), ns);
        let params = ListParams::default().fields(&format!("metadata.name={name}"));
        let list = retry(&format!("list NetworkPolicy {ns}/{name}"), || {
            api.list(&params)
        })
        .await
        .ok()?;
        list.items.into_iter().next()?.metadata.uid
    }

    fn select(&self) -> Result<&spec::Selector, FaultError> {
        self.spec.selector().ok_or_else(|| FaultError::Unsafe {
            fault: self.spec.name().to_owned(),
            message: "no selector".into(),
        })
    }

    /// The addresses of the pods of `peer` now.
    async fn addresses(&self, peer: &PodPeer) -> Result<Vec<IpAddr>, FaultError> {
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &peer.namespace);
        let mut params = ListParams::default().limit(PAGE);
        if !peer.match_labels.is_empty() {
            params = params.labels(&label_selector(&peer.match_labels));
        }
        let what = format!("list the pods left out in {}", peer.namespace);
        let mut ips = Vec::new();
        loop {
            let page = retry(&what, || api.list(&params))
                .await
                .map_err(kube_error(self.spec.name()))?;
            for pod in &page.items {
                let status = pod.status.as_ref();
                let all = status.and_then(|s| s.pod_ips.as_ref());
                let one = status.and_then(|s| s.pod_ip.as_ref());
                for ip in all
                    .into_iter()
                    .flatten()
                    .map(|p| &p.ip)
                    .chain(one)
                    .filter_map(|ip| ip.parse::<IpAddr>().ok())
                {
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params.continue_token = Some(token),
                None => break,
            }
        }
        ips.sort();
        Ok(ips)
    }

    /// The egress rules and a description of what they block.
    async fn rules(&self) -> Result<(Vec<Value>, String), FaultError> {
        let name = self.spec.name();
        match &self.spec {
            EgressChange::Block(e) => match &e.destination {
                EgressDestination::Cidr(c) => {
                    let cidr = spec::parse_cidr(&c.cidr).map_err(|error| FaultError::Unsafe {
                        fault: name.to_owned(),
                        message: error.to_string(),
                    })?;
                    let what = match (c.port, c.protocol) {
                        (Some(p), proto) => format!(
                            "{} port {p}/{}",
                            c.cidr,
                            proto.unwrap_or(NetworkProtocol::Tcp).as_str()
                        ),
                        (None, Some(proto)) => format!("{} ({} only)", c.cidr, proto.as_str()),
                        (None, None) => format!("{} (every port)", c.cidr),
                    };
                    Ok((cidr_rules(cidr, c.port, c.protocol), what))
                }
                EgressDestination::Pods(p) => {
                    let ips = self.addresses(p).await?;
                    Ok((pods_rules(p, &ips), describe_peer(p)))
                }
            },
            EgressChange::Dns(d) => {
                let ips = self.addresses(&d.dns).await?;
                Ok((
                    dns_rules(&d.dns, &ips),
                    format!(
                        "the cluster DNS ({}) and port 53 (UDP and TCP) anywhere",
                        describe_peer(&d.dns)
                    ),
                ))
            }
        }
    }

    /// Other policies that limit the chosen pods' egress: they add up with ours.
    async fn overlapping(&self, ns: &str, chosen: &[PodRef]) -> Result<Vec<String>, FaultError> {
        let api = Api::<NetworkPolicy>::namespaced(self.cluster.client.clone(), ns);
        let what = format!("list the NetworkPolicies in {ns}");
        let params = ListParams::default();
        let list = retry(&what, || api.list(&params))
            .await
            .map_err(kube_error(self.spec.name()))?;
        let mut warnings = Vec::new();
        for p in &list.items {
            let ours = p
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get(MANAGED_BY).is_some_and(|v| v == MANAGER));
            let Some(selector) = p.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) else {
                continue;
            };
            if ours
                && p.metadata.labels.as_ref().and_then(|l| l.get(RUN_ID))
                    == Some(&self.cluster.run_id)
            {
                continue;
            }
            let hit: Vec<String> = chosen
                .iter()
                .filter(|pod| selects(selector, &pod.labels))
                .map(PodRef::id)
                .collect();
            if limits_egress(p) && !hit.is_empty() {
                warnings.push(format!(
                    "warning: NetworkPolicy {ns}/{} also limits the egress of {}; NetworkPolicies add up, so what it allows to the blocked destination still gets through, and while this fault lasts those pods may also reach what it alone denied",
                    p.metadata.name.as_deref().unwrap_or_default(),
                    hit.join(", ")
                ));
            }
        }
        Ok(warnings)
    }
}

/// The destinations a policy blocks, so that the allowed connection goes elsewhere.
enum Blocks {
    /// An address range.
    Range((IpAddr, u8)),
    /// Pods by label.
    Pods(PodPeer),
}

impl Blocks {
    /// Whether the policy blocks this pod.
    fn holds(&self, pod: &Pod) -> bool {
        match self {
            Self::Range(range) => pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_ref())
                .and_then(|ip| ip.parse().ok())
                .is_some_and(|ip| verifier::in_range(ip, *range)),
            Self::Pods(peer) => {
                pod.metadata.namespace.as_deref() == Some(peer.namespace.as_str())
                    && selects(
                        &LabelSelector {
                            match_labels: Some(peer.match_labels.clone()),
                            match_expressions: None,
                        },
                        pod.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()),
                    )
            }
        }
    }
}

fn describe_peer(p: &PodPeer) -> String {
    if p.match_labels.is_empty() {
        format!("every pod in {}", p.namespace)
    } else {
        format!(
            "pods labelled {} in {}",
            label_selector(&p.match_labels),
            p.namespace
        )
    }
}

#[async_trait]
impl Fault for NetworkFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let name = self.spec.name().to_owned();
        let (chosen, pool) = pick(&self.cluster, &name, self.select()?).await?;
        // Two network faults on one pod would fight over its label, and a pod in
        // quarantine would get back the egress this policy allows.
        if let Some((pod, key)) = chosen.iter().find_map(|p| {
            [QUARANTINE, EGRESS_BLOCK]
                .into_iter()
                .find(|k| p.labels.contains_key(*k))
                .map(|k| (p.id(), k))
        }) {
            return Err(FaultError::Unsafe {
                fault: name,
                message: format!("pod {pod} already carries {key}: another network fault holds it"),
            });
        }
        let ns = chosen[0].namespace.clone();
        let policy_name = policy_name(&name, &self.cluster.run_id);
        let (egress, blocked) = self.rules().await?;
        let mut labels = self.cluster.ownership_labels();
        labels.insert("firedrill.dev/fault".to_owned(), name.clone());
        let object = policy(&policy_name, &ns, &labels, &owner(), egress);
        let warnings = self.overlapping(&ns, &chosen).await?;
        for w in &warnings {
            tracing::warn!(fault = %name, warning = %w, "another NetworkPolicy limits the targets' egress");
        }
        let mut restore = vec![Undo::DeleteNetworkPolicy {
            namespace: ns.clone(),
            name: policy_name.clone(),
        }];
        restore.extend(chosen.iter().map(|p| Undo::RemovePodLabel {
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
            key: EGRESS_BLOCK.to_owned(),
        }));
        // Recorded before it exists, undone first.
        restore.push(verifier::undo(&self.cluster, &ns, &policy_name));
        let mut changes = vec![format!(
            "create NetworkPolicy {ns}/{policy_name} allowing the egress of pods labelled {EGRESS_BLOCK}={policy_name} to everything except {blocked}"
        )];
        changes.extend(
            chosen
                .iter()
                .map(|p| format!("label pod {} with {EGRESS_BLOCK}={policy_name}", p.id())),
        );
        changes.push(format!(
            "create verifier pod {ns}/{} (labelled as the targets, selected by the policy) for the proof of effect, deleted once it has checked",
            verifier::name_for(&policy_name)
        ));
        changes.extend(warnings);
        let label_patch = json!({"metadata": {"labels": {EGRESS_BLOCK: policy_name}}});
        let intent = Intent {
            fault: name.clone(),
            fault_type: self.spec.type_name().to_owned(),
            changes,
            undo: restore.iter().map(ToString::to_string).collect(),
            targets: chosen.iter().map(PodRef::id).collect(),
            restore: restore.clone(),
            pool: Some(pool),
            writes: std::iter::once(ApiWrite::of::<NetworkPolicy>(
                &ns,
                &policy_name,
                WriteAction::Create(object.clone()),
            ))
            .chain(chosen.iter().map(|p| {
                ApiWrite::of::<Pod>(
                    &p.namespace,
                    &p.name,
                    WriteAction::MergePatch {
                        subresource: None,
                        patch: label_patch.clone(),
                    },
                )
            }))
            .collect(),
        };
        // Undone newest first: the labels, then the policy.
        *lock(&self.restore) = restore;
        *lock(&self.chosen) = chosen;
        *lock(&self.policy) = Some(object);
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let name = self.spec.name();
        let chosen = lock(&self.chosen).clone();
        let object = lock(&self.policy).clone();
        let (Some(first), Some(object)) = (chosen.first(), object) else {
            return Ok(());
        };
        let ns = first.namespace.clone();
        let policy: NetworkPolicy =
            serde_json::from_value(object).map_err(|e| FaultError::Unsafe {
                fault: name.to_owned(),
                message: format!("the NetworkPolicy built is not valid: {e}"),
            })?;
        let policy_name = policy.metadata.name.clone().unwrap_or_default();
        let api = Api::<NetworkPolicy>::namespaced(self.cluster.client.clone(), &ns);
        let what = format!("create NetworkPolicy {ns}/{policy_name}");
        let post = PostParams::default();
        match retry(&what, || api.create(&post, &policy)).await {
            Ok(created) => *lock(&self.policy_uid) = created.metadata.uid,
            // A retried create that had reached the server the first time.
            Err(KubeError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 409 => {}
            Err(e) => return Err(kube_error(name)(e)),
        }
        let patch = Patch::Merge(json!({"metadata": {"labels": {EGRESS_BLOCK: policy_name}}}));
        let params = PatchParams::default();
        for p in &chosen {
            let pods = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
            let what = format!("label pod {}", p.id());
            retry(&what, || pods.patch(&p.name, &params, &patch))
                .await
                .map_err(kube_error(name))?;
        }
        Ok(())
    }

    async fn verify(&self) -> Effect {
        match self.verifier().await {
            Ok(v) => verifier::run(&self.cluster, &v).await,
            Err(why) => why,
        }
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let done = undo_all(&self.cluster, self.spec.name(), &self.restore).await?;
        lock(&self.chosen).clear();
        Ok(done)
    }

    fn affected(&self, workload: &str) -> usize {
        match self.spec.selector() {
            Some(s) if s.workload() == workload => lock(&self.chosen).len(),
            _ => 0,
        }
    }
}

impl BuildFault for spec::EgressBlock {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            NetworkFault::new(EgressChange::Block(s), c)
        })
    }
}

impl BuildFault for spec::DnsOutage {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        on_cluster(self, platform, |s, c| {
            NetworkFault::new(EgressChange::Dns(s), c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> (IpAddr, u8) {
        spec::parse_cidr(s).unwrap()
    }

    #[test]
    fn a_cidr_on_every_port_is_left_out_of_the_address_blocks() {
        assert_eq!(
            Value::Array(cidr_rules(cidr("10.0.5.0/24"), None, None)),
            json!([{"to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.5.0/24"]}},
                {"ipBlock": {"cidr": "::/0"}},
            ]}])
        );
        assert_eq!(
            Value::Array(cidr_rules(cidr("fd00::/64"), None, None)),
            json!([{"to": [
                {"ipBlock": {"cidr": "0.0.0.0/0"}},
                {"ipBlock": {"cidr": "::/0", "except": ["fd00::/64"]}},
            ]}])
        );
    }

    #[test]
    fn a_cidr_on_one_port_keeps_every_other_port_of_that_range() {
        assert_eq!(
            Value::Array(cidr_rules(cidr("10.0.5.7/32"), Some(5432), None)),
            json!([
                {"to": [
                    {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.5.7/32"]}},
                    {"ipBlock": {"cidr": "::/0"}},
                ]},
                {"to": [{"ipBlock": {"cidr": "10.0.5.7/32"}}], "ports": [
                    {"protocol": "TCP", "port": 1, "endPort": 5431},
                    {"protocol": "TCP", "port": 5433, "endPort": 65535},
                    {"protocol": "UDP"},
                    {"protocol": "SCTP"},
                ]},
            ])
        );
        // The ends of the port range and a protocol alone.
        assert_eq!(
            ports_except(Some(2), &[NetworkProtocol::Udp]),
            vec![
                json!({"protocol": "TCP"}),
                json!({"protocol": "UDP", "port": 1}),
                json!({"protocol": "UDP", "port": 3, "endPort": 65535}),
                json!({"protocol": "SCTP"}),
            ]
        );
        assert_eq!(
            ports_except(Some(65535), &[NetworkProtocol::Tcp]),
            vec![
                json!({"protocol": "TCP", "port": 1, "endPort": 65534}),
                json!({"protocol": "UDP"}),
                json!({"protocol": "SCTP"}),
            ]
        );
        assert_eq!(
            cidr_rules(cidr("10.0.0.0/8"), None, Some(NetworkProtocol::Udp))[1]["ports"],
            json!([{"protocol": "TCP"}, {"protocol": "SCTP"}])
        );
    }

    #[test]
    fn pods_by_label_get_one_not_in_peer_per_label() {
        let peer = PodPeer {
            namespace: "data".into(),
            match_labels: BTreeMap::from([
                ("app".to_owned(), "postgres".to_owned()),
                ("tier".to_owned(), "db".to_owned()),
            ]),
        };
        let ips = ["10.244.1.7".parse().unwrap(), "fd00::7".parse().unwrap()];
        assert_eq!(
            Value::Array(pods_rules(&peer, &ips)),
            json!([{"to": [
                {"namespaceSelector": {"matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["data"]}]}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
                 "podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["postgres"]}]}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
                 "podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}},
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.1.7/32"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fd00::7/128"]}},
            ]}])
        );
    }

    #[test]
    fn dns_is_left_out_on_every_port_and_port_53_everywhere() {
        let dns = PodPeer {
            namespace: "kube-system".into(),
            match_labels: BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]),
        };
        let rules = dns_rules(&dns, &["10.96.0.10".parse().unwrap()]);
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0]["ports"],
            json!([
                {"protocol": "TCP", "port": 1, "endPort": 52},
                {"protocol": "TCP", "port": 54, "endPort": 65535},
                {"protocol": "UDP", "port": 1, "endPort": 52},
                {"protocol": "UDP", "port": 54, "endPort": 65535},
                {"protocol": "SCTP"},
            ])
        );
        assert_eq!(
            rules[0]["to"][1]["podSelector"],
            json!({"matchExpressions": [{"key": "k8s-app", "operator": "NotIn", "values": ["kube-dns"]}]})
        );
        assert_eq!(
            rules[0]["to"][2],
            json!({"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.96.0.10/32"]}})
        );
    }

    #[test]
    fn the_policy_is_a_valid_network_policy_selecting_the_label() {
        let labels = BTreeMap::from([(MANAGED_BY.to_owned(), MANAGER.to_owned())]);
        let v = policy(
            "firedrill-x-1",
            "shop",
            &labels,
            "host/1",
            cidr_rules(cidr("10.0.0.0/8"), Some(443), None),
        );
        let typed: NetworkPolicy = serde_json::from_value(v.clone()).unwrap();
        let spec = typed.spec.unwrap();
        assert_eq!(spec.policy_types.unwrap(), vec!["Egress".to_owned()]);
        assert_eq!(
            v["spec"]["podSelector"],
            json!({"matchLabels": {EGRESS_BLOCK: "firedrill-x-1"}})
        );
        assert_eq!(v["metadata"]["annotations"][OWNER], "host/1");
    }

    #[test]
    fn policy_names_fit_a_label_value() {
        let run = "1767225600-0a1b2c3d";
        assert_eq!(
            policy_name("db-down", run),
            format!("firedrill-db-down-{run}")
        );
        let long = "a".repeat(40) + "-" + &"b".repeat(22);
        let name = policy_name(&long, run);
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with(run));
        assert!(!name.contains("--"), "{name}");
    }

    #[test]
    fn label_selectors_are_evaluated_like_the_api_server() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let sel = |v: Value| serde_json::from_value::<LabelSelector>(v).unwrap();
        assert!(selects(&sel(json!({})), &labels));
        assert!(selects(
            &sel(json!({"matchLabels": {"app": "web"}})),
            &labels
        ));
        assert!(!selects(
            &sel(json!({"matchLabels": {"app": "db"}})),
            &labels
        ));
        assert!(selects(
            &sel(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]})),
            &labels
        ));
        assert!(!selects(
            &sel(
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]})
            ),
            &labels
        ));
        assert!(selects(
            &sel(
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]})
            ),
            &labels
        ));
    }
}
