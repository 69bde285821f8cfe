//! Network faults on kubernetes: egress to a destination, or to DNS, blocked with a
//! NetworkPolicy.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::{Duration, Selector};

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
