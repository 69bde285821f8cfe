//! NetworkPolicy evaluation: whether traffic from a pod may reach a pod, an address range or
//! the cluster DNS under the policies the fake holds (podSelector, namespaceSelector, ipBlock
//! with except, ports), with the real semantics: a pod selected by a policy of a direction is
//! isolated in that direction, and only what some such policy allows gets through.

use super::controller::selects;
use super::selector::labels_of;
use super::store::{State, str_at};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Where traffic goes in a reachability question.
#[derive(Clone, Debug, PartialEq)]
pub enum Reach {
    /// A pod, `namespace/name`, on any port: reachable if some port gets through.
    Pod(String),
    /// A pod, `namespace/name`, on one TCP port.
    PodPort(String, u16),
    /// An address range (`10.0.0.0/8`, or one address) on one TCP port.
    Cidr(String, u16),
    /// The cluster DNS: the `k8s-app=kube-dns` pods of `kube-system`, UDP port 53.
    Dns,
}

impl Reach {
    /// Parses the `to` parameter of `/fake/reachable`: `ns/pod`, `ns/pod:port`, `cidr:port` or `dns`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "dns" {
            return Ok(Self::Dns);
        }
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("invalid port in {s:?}"))
        };
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            let (cidr, p) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("{s:?} needs a port"))?;
            parse_cidr(cidr)?;
            return Ok(Self::Cidr(cidr.to_string(), port(p)?));
        }
        if !s.contains('/') {
            return Err(format!("{s:?} is not ns/pod, cidr:port or dns"));
        }
        match s.rsplit_once(':') {
            Some((pod, p)) => Ok(Self::PodPort(pod.to_string(), port(p)?)),
            None => Ok(Self::Pod(s.to_string())),
        }
    }
}

fn parse_cidr(s: &str) -> Result<(u32, u32), String> {
    let (addr, len) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("invalid address in {s:?}"))?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("invalid prefix in {s:?}"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((u32::from(addr) & mask, len))
}

/// Whether range `inner` lies within range `outer`.
fn within(inner: (u32, u32), outer: (u32, u32)) -> bool {
    let mask = if outer.1 == 0 {
        0
    } else {
        u32::MAX << (32 - outer.1)
    };
    inner.1 >= outer.1 && inner.0 & mask == outer.0
}

/// Whether two ranges share an address.
fn overlaps(a: (u32, u32), b: (u32, u32)) -> bool {
    within(a, b) || within(b, a)
}

/// One end of the traffic.
struct End {
    namespace: String,
    labels: BTreeMap<String, String>,
    /// The address range: a pod's IP as a /32, or the range asked about.
    range: Option<(u32, u32)>,
    /// Named container ports of a pod.
    ports: Vec<(String, u16, String)>,
    is_pod: bool,
}

fn pod_end(state: &State, id: &str) -> Result<End, String> {
    let (ns, name) = id
        .split_once('/')
        .ok_or_else(|| format!("{id:?} is not namespace/name"))?;
    let pod = state
        .get("pods", ns, name)
        .ok_or_else(|| format!("pod {id} not found"))?;
    Ok(pod_end_of(pod))
}

fn pod_end_of(pod: &Value) -> End {
    let ports = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["containerPort"].as_u64().unwrap_or(0) as u16,
                p["protocol"].as_str().unwrap_or("TCP").to_string(),
            )
        })
        .collect();
    End {
        namespace: str_at(pod, "/metadata/namespace").to_string(),
        labels: labels_of(pod),
        range: pod
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .and_then(|ip| parse_cidr(ip).ok()),
        ports,
        is_pod: true,
    }
}

/// The destination port asked about: (port, protocol), or any port.
type Port = Option<(u16, &'static str)>;

fn peer_matches(state: &State, policy_ns: &str, peer: &Value, end: &End) -> bool {
    if let Some(block) = peer.get("ipBlock") {
        let (Ok(cidr), Some(range)) = (parse_cidr(str_at(block, "/cidr")), end.range) else {
            return false;
        };
        let excepted = block["except"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().and_then(|e| parse_cidr(e).ok()))
            .any(|e| overlaps(e, range));
        return within(range, cidr) && !excepted;
    }
    if !end.is_pod {
        return false;
    }
    let ns_ok = match peer.get("namespaceSelector") {
        Some(sel) => state
            .get("namespaces", "", &end.namespace)
            .is_some_and(|ns| selects(sel, ns)),
        None => end.namespace == policy_ns,
    };
    let pod_ok = match peer.get("podSelector") {
        Some(sel) => {
            let probe = serde_json::json!({"metadata": {"labels": end.labels}});
            selects(sel, &probe)
        }
        None => true,
    };
    ns_ok && pod_ok
}

fn ports_match(rule_ports: Option<&Value>, port: Port, dest: &End) -> bool {
    let Some(list) = rule_ports
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return true;
    };
    let Some((want, proto)) = port else {
        return true;
    };
    list.iter().any(|p| {
        if p["protocol"].as_str().unwrap_or("TCP") != proto {
            return false;
        }
        match &p["port"] {
            Value::Null => true,
            Value::Number(n) => {
                let start = n.as_u64().unwrap_or(0);
                let end = p["endPort"].as_u64().unwrap_or(start);
                (start..=end).contains(&u64::from(want))
            }
            Value::String(name) => dest
                .ports
                .iter()
                .any(|(n, num, pr)| n == name && *num == want && pr == proto),
            _ => false,
        }
    })
}

fn policy_types(policy: &Value) -> (bool, bool) {
    match policy
        .pointer("/spec/policyTypes")
        .and_then(Value::as_array)
    {
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        None => (true, policy.pointer("/spec/egress").is_some()),
    }
}

/// Whether the policies of one direction let the traffic through.
fn direction_allows(
    state: &State,
    subject: &End,
    peer: &End,
    port: Port,
    dest: &End,
    egress: bool,
) -> bool {
    let (rules_field, peers_field) = if egress {
        ("egress", "to")
    } else {
        ("ingress", "from")
    };
    let probe = serde_json::json!({"metadata": {"labels": subject.labels}});
    let policies: Vec<&Value> = state
        .list("networkpolicies", Some(&subject.namespace))
        .into_iter()
        .filter(|p| {
            let (ingress, eg) = policy_types(p);
            (if egress { eg } else { ingress }) && selects(&p["spec"]["podSelector"], &probe)
        })
        .collect();
    if policies.is_empty() {
        return true;
    }
    policies.iter().any(|p| {
        p["spec"][rules_field]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                let peers_ok = match rule[peers_field].as_array().filter(|l| !l.is_empty()) {
                    None => true,
                    Some(peers) => peers
                        .iter()
                        .any(|x| peer_matches(state, &subject.namespace, x, peer)),
                };
                peers_ok && ports_match(rule.get("ports"), port, dest)
            })
    })
}

/// Whether traffic from pod `from` (`namespace/name`) reaches `to`.
pub fn reachable(state: &State, from: &str, to: &Reach) -> Result<bool, String> {
    let src = pod_end(state, from)?;
    let (dst, port): (End, Port) = match to {
        Reach::Pod(id) => (pod_end(state, id)?, None),
        Reach::PodPort(id, p) => (pod_end(state, id)?, Some((*p, "TCP"))),
        Reach::Cidr(cidr, p) => (
            End {
                namespace: String::new(),
                labels: BTreeMap::new(),
                range: Some(parse_cidr(cidr)?),
                ports: Vec::new(),
                is_pod: false,
            },
            Some((*p, "TCP")),
        ),
        Reach::Dns => {
            let dns = state
                .list("pods", Some("kube-system"))
                .into_iter()
                .find(|p| str_at(p, "/metadata/labels/k8s-app") == "kube-dns")
                .map(pod_end_of)
                .unwrap_or_else(|| End {
                    namespace: "kube-system".into(),
                    labels: [("k8s-app".to_string(), "kube-dns".to_string())].into(),
                    range: parse_cidr("10.96.0.10").ok(),
                    ports: Vec::new(),
                    is_pod: true,
                });
            (dns, Some((53, "UDP")))
        }
    };
    if state.ignore_network_policies {
        return Ok(true);
    }
    let out = direction_allows(state, &src, &dst, port, &dst, true);
    let inbound = !dst.is_pod || direction_allows(state, &dst, &src, port, &dst, false);
    Ok(out && inbound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s| parse_cidr(s).unwrap();
        assert!(within(r("10.1.2.3"), r("10.0.0.0/8")));
        assert!(!within(r("11.1.2.3"), r("10.0.0.0/8")));
        assert!(within(r("10.1.0.0/16"), r("10.0.0.0/8")));
        assert!(!within(r("10.0.0.0/8"), r("10.1.0.0/16")));
        assert!(overlaps(r("10.0.0.0/8"), r("10.1.0.0/16")));
        assert!(within(r("1.2.3.4"), r("0.0.0.0/0")));
        assert_eq!(Reach::parse("dns").unwrap(), Reach::Dns);
        assert_eq!(
            Reach::parse("a/b:80").unwrap(),
            Reach::PodPort("a/b".into(), 80)
        );
        assert_eq!(
            Reach::parse("10.0.0.0/8:443").unwrap(),
            Reach::Cidr("10.0.0.0/8".into(), 443)
        );
        assert!(Reach::parse("nonsense").is_err());
    }
}
