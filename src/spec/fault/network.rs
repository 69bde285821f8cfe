//! Network faults on kubernetes: egress to a destination, or to DNS, blocked with a
//! NetworkPolicy.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

use crate::spec::{Duration, Selector, parse_cidr};

/// Block the selected pods' egress to a destination for the duration, with a NetworkPolicy
/// that allows everything else; the policy and the pods' label are removed at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressBlock {
    /// Unique name among the faults.
    pub name: String,
    /// The pods whose egress is blocked, among the workload's pods.
    pub select: Selector,
    /// What they can no longer reach.
    pub destination: EgressDestination,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long the destination stays unreachable.
    pub duration: Duration,
}

/// What an egress-block fault makes unreachable.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EgressDestination {
    /// An address range, on every port or on one port.
    Cidr(CidrDestination),
    /// Pods with these labels in a namespace, on every port.
    Pods(PodPeer),
}

/// An address range, optionally narrowed to one port or one protocol.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CidrDestination {
    /// The range in CIDR notation (`10.0.5.0/24`, `10.0.5.7/32`, `fd00::/64`).
    pub cidr: String,
    /// Block only this port (1 to 65535); every port when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Block only this protocol; TCP when a port is given, every protocol otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<NetworkProtocol>,
}

/// Pods chosen by label in one namespace.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodPeer {
    /// The pods' namespace.
    pub namespace: String,
    /// Labels the pods all carry; every pod of the namespace when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// The protocols a NetworkPolicy port can name.
#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum NetworkProtocol {
    /// TCP.
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

impl NetworkProtocol {
    /// Every protocol, in the order NetworkPolicies are written here.
    pub const ALL: [Self; 3] = [Self::Tcp, Self::Udp, Self::Sctp];

    /// The protocol as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// Block the selected pods' egress to the cluster DNS (its pods, every port) and to port 53
/// (UDP and TCP) anywhere, for the duration; the policy and the pods' label are removed at the end.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsOutage {
    /// Unique name among the faults.
    pub name: String,
    /// The pods that lose DNS, among the workload's pods.
    pub select: Selector,
    /// The cluster DNS pods; `k8s-app: kube-dns` in `kube-system` when absent.
    #[serde(default = "default_dns_pods")]
    pub dns: PodPeer,
    /// Offset from the start of the fault phase.
    #[serde(default)]
    pub at: Duration,
    /// How long DNS stays unreachable.
    pub duration: Duration,
}

fn default_dns_pods() -> PodPeer {
    PodPeer {
        namespace: "kube-system".to_owned(),
        match_labels: BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]),
    }
}

impl FaultKind for EgressBlock {
    const TYPE_NAME: &'static str = "egress-block";
    const EFFECT_CHECK: &'static str = super::POLICY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = DEPENDENCY_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        let dest = format!("{path}.destination");
        match &self.destination {
            EgressDestination::Cidr(c) => {
                match parse_cidr(&c.cidr) {
                    Err(error) => check.problem(format!("{dest}.cidr"), error.to_string()),
                    Ok((_, 0)) => check.problem(
                        format!("{dest}.cidr"),
                        "a prefix of 0 is every address: to cut a pod off entirely use a quarantine fault",
                    ),
                    Ok(_) => {}
                }
                if c.port == Some(0) {
                    check.problem(
                        format!("{dest}.port"),
                        "0 is out of range: write 1 to 65535",
                    );
                }
            }
            EgressDestination::Pods(p) => check.pod_peer(&dest, p),
        }
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        let to = match &self.destination {
            EgressDestination::Cidr(c) => match (c.port, c.protocol) {
                (Some(p), proto) => format!(
                    "{} port {p}/{}",
                    c.cidr,
                    proto.unwrap_or(NetworkProtocol::Tcp).as_str()
                ),
                (None, Some(proto)) => format!("{} ({})", c.cidr, proto.as_str()),
                (None, None) => c.cidr.clone(),
            },
            EgressDestination::Pods(p) => peer(p),
        };
        format!(
            "block egress from {} to {to} for {}",
            pods(&self.select),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "delete the NetworkPolicy and remove the egress-block label from the pods"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        let mut uses = Vec::new();
        if let EgressDestination::Pods(p) = &self.destination {
            uses.push((p.namespace.clone(), Use::ReadPeers));
        }
        uses.extend(in_workload_namespace(target, self.workload(), |_| {
            vec![Use::EgressPolicy, Use::VerifierPod]
        }));
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Target, Use::EgressPolicy),
            (Scope::Target, Use::VerifierPod),
            (Scope::Peers, Use::ReadPeers),
        ]
    }
}

impl FaultKind for DnsOutage {
    const TYPE_NAME: &'static str = "dns-outage";
    const EFFECT_CHECK: &'static str = super::POLICY_EFFECT_CHECK;
    const PLATFORMS: Platforms = Platforms::Kubernetes;
    const CAPABILITIES: &'static [Capability] = DEPENDENCY_FAULT;
    common_fields!(selected pods);

    fn validate(&self, path: &str, check: &mut Checker<'_>) {
        check.pod_peer(&format!("{path}.dns"), &self.dns);
        check.positive(&format!("{path}.duration"), self.duration);
    }
    fn describe(&self) -> String {
        format!(
            "block egress from {} to the cluster DNS ({}) and port 53 for {}",
            pods(&self.select),
            peer(&self.dns),
            self.duration
        )
    }
    fn undo(&self, _target: &Target) -> &'static str {
        "delete the NetworkPolicy and remove the egress-block label from the pods"
    }
    fn permissions(&self, target: &KubernetesTarget) -> Vec<(String, Use)> {
        let mut uses = vec![(self.dns.namespace.clone(), Use::ReadPeers)];
        uses.extend(in_workload_namespace(target, self.workload(), |_| {
            vec![Use::EgressPolicy, Use::VerifierPod]
        }));
        uses
    }
    fn granted() -> Vec<(Scope, Use)> {
        vec![
            (Scope::Target, Use::EgressPolicy),
            (Scope::Target, Use::VerifierPod),
            (Scope::Peers, Use::ReadPeers),
        ]
    }
}
