//! Whether firedrill's fault proxy can stand in front of a dependency's Service: the ports it
//! would carry, and the checks made before any fault (namespace allowed, Service present,
//! opt-in label, a kind of Service the proxy can replace).

use k8s_openapi::api::core::v1::Service;
use kube::Api;

use super::{Cluster, KubeError, retry};
use crate::spec::KubernetesDependency;

/// The label on the proxy pods, whose value is the proxy Deployment's name; the dependency's
/// Service selects it during the fault.
pub const PROXY: &str = "firedrill.dev/proxy";

/// One port of the dependency's Service and how the proxy carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedPort {
    /// The proxy's name: the Service port's name, or `port-N`.
    pub name: String,
    /// The Service port's own name, kept on the upstream Service.
    pub port_name: Option<String>,
    /// The Service port; the upstream Service has the same one.
    pub port: u16,
    /// What the Service sends to on its pods, as written (a number or a container port
    /// name); the upstream Service keeps it.
    pub target: TargetPort,
    /// The container port the proxy listens on: the numeric target port, or for a named
    /// one the Service port, declared under that name so the Service finds it.
    pub listen: u16,
    /// Whether the fault's toxics apply to this port.
    pub faulted: bool,
}

/// A Service port's `targetPort`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    /// A port number.
    Number(u16),
    /// The name of a container port.
    Name(String),
}

/// Why the fault proxy cannot stand in front of a Service; each message follows the
/// Service's name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unproxiable {
    /// An ExternalName Service has no pods.
    #[error("is an ExternalName Service: it has no pods to put a proxy in front of")]
    ExternalName,
    /// A headless Service is bypassed by its clients.
    #[error(
        "is headless (clusterIP: None): clients reach its pods directly, so switching its selector would not send them through a proxy"
    )]
    Headless,
    /// Without a selector there is nothing to switch.
    #[error(
        "has no selector (its endpoints are managed by hand), so there are no pods to switch from"
    )]
    NoSelector,
    /// A proxy of an earlier run is still in place.
    #[error(
        "already selects a firedrill proxy ({PROXY}); run `firedrill rollback` or `firedrill cleanup` first"
    )]
    AlreadyProxied,
    /// The Service has no ports.
    #[error("has no ports")]
    NoPorts,
    /// A port number out of range.
    #[error("has port {0}")]
    Port(i32),
    /// A port the proxy cannot carry.
    #[error("port {port} is {protocol}: the proxy carries TCP only")]
    Protocol {
        /// The Service port.
        port: u16,
        /// Its protocol.
        protocol: String,
    },
    /// A target port number out of range.
    #[error("port {port} has targetPort {target}")]
    TargetPort {
        /// The Service port.
        port: u16,
        /// Its target port.
        target: i32,
    },
    /// Two ports would need the same listening port in the proxy.
    #[error("ports {first} and {second} would both need the proxy to listen on {listen}")]
    SameListen {
        /// The earlier port.
        first: u16,
        /// The later port.
        second: u16,
        /// The port both would listen on.
        listen: u16,
    },
    /// The fault names ports the Service does not have.
    #[error("has no port {} (its ports: {})", join(missing), join(ports))]
    MissingPorts {
        /// The ports named and absent.
        missing: Vec<u16>,
        /// The Service's ports.
        ports: Vec<u16>,
    },
}

fn join(ports: &[u16]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ports the proxy carries, or why the Service cannot be proxied. `wanted` are the
/// Service ports the fault acts on (all when empty).
pub fn proxied_ports(service: &Service, wanted: &[u16]) -> Result<Vec<ProxiedPort>, Unproxiable> {
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") {
        return Err(Unproxiable::ExternalName);
    }
    if spec.cluster_ip.as_deref() == Some("None") {
        return Err(Unproxiable::Headless);
    }
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Err(Unproxiable::NoSelector);
    }
    if selector.contains_key(PROXY) {
        return Err(Unproxiable::AlreadyProxied);
    }
    let ports = spec.ports.unwrap_or_default();
    if ports.is_empty() {
        return Err(Unproxiable::NoPorts);
    }
    let mut out: Vec<ProxiedPort> = Vec::new();
    for p in &ports {
        let number = u16::try_from(p.port).map_err(|_| Unproxiable::Port(p.port))?;
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        if protocol != "TCP" {
            return Err(Unproxiable::Protocol {
                port: number,
                protocol: protocol.to_owned(),
            });
        }
        let target = match &p.target_port {
            None => TargetPort::Number(number),
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                TargetPort::Number(u16::try_from(*n).map_err(|_| Unproxiable::TargetPort {
                    port: number,
                    target: *n,
                })?)
            }
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => {
                match s.parse::<u16>() {
                    Ok(n) => TargetPort::Number(n),
                    Err(_) => TargetPort::Name(s.clone()),
                }
            }
        };
        let listen = match &target {
            TargetPort::Number(n) => *n,
            TargetPort::Name(_) => number,
        };
        if let Some(other) = out.iter().find(|o| o.listen == listen) {
            return Err(Unproxiable::SameListen {
                first: other.port,
                second: number,
                listen,
            });
        }
        out.push(ProxiedPort {
            name: p.name.clone().unwrap_or_else(|| format!("port-{number}")),
            port_name: p.name.clone(),
            port: number,
            target,
            listen,
            faulted: wanted.is_empty() || wanted.contains(&number),
        });
    }
    let missing: Vec<u16> = wanted
        .iter()
        .copied()
        .filter(|w| !out.iter().any(|p| p.port == *w))
        .collect();
    if !missing.is_empty() {
        return Err(Unproxiable::MissingPorts {
            missing,
            ports: out.iter().map(|p| p.port).collect(),
        });
    }
    Ok(out)
}

/// Reads a dependency's Service and checks that a proxy can be put in front of it: the
/// namespace allowed, the Service present, carrying the opt-in label where required, and
/// of a kind the proxy can stand in for. Returns the Service and the ports to carry.
pub async fn check_dependency(
    cluster: &Cluster,
    dep: &KubernetesDependency,
) -> Result<(Service, Vec<ProxiedPort>), KubeError> {
    cluster.check_namespace(&dep.namespace)?;
    let ns = &dep.namespace;
    let id = format!("Service {ns}/{}", dep.service);
    let services = Api::<Service>::namespaced(cluster.client.clone(), ns);
    let service = retry(&format!("read {id}"), || services.get_opt(&dep.service))
        .await?
        .ok_or_else(|| {
            KubeError::NotFound(format!("dependency `{}`: {id} does not exist", dep.name))
        })?;
    let target = &cluster.target;
    if target.require_opt_in {
        let label = &target.opt_in_label;
        let has = service
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(&label.key))
            == Some(&label.value);
        if !has {
            return Err(KubeError::Refused(format!(
                "dependency `{}`: {id} does not carry the opt-in label {}={}",
                dep.name, label.key, label.value
            )));
        }
    }
    let ports = proxied_ports(&service, &dep.ports).map_err(|unproxiable| {
        KubeError::Refused(format!("dependency `{}`: {id} {unproxiable}", dep.name))
    })?;
    Ok((service, ports))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(spec: serde_json::Value, wanted: &[u16]) -> Unproxiable {
        let service: Service = serde_json::from_value(serde_json::json!({"spec": spec})).unwrap();
        proxied_ports(&service, wanted).unwrap_err()
    }

    #[test]
    fn refusals_read_as_they_always_have() {
        let selector = serde_json::json!({"app": "db"});
        assert_eq!(
            refusal(
                serde_json::json!({"selector": selector, "ports": [{"port": 70000}]}),
                &[]
            )
            .to_string(),
            "has port 70000"
        );
        assert_eq!(
            refusal(
                serde_json::json!({"selector": selector, "ports": [{"port": 80, "targetPort": 70000}]}),
                &[]
            )
            .to_string(),
            "port 80 has targetPort 70000"
        );
        assert_eq!(
            refusal(
                serde_json::json!({"selector": selector, "ports": [{"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": 8080}]}),
                &[]
            )
            .to_string(),
            "ports 80 and 81 would both need the proxy to listen on 8080"
        );
        assert_eq!(
            refusal(
                serde_json::json!({"selector": selector, "ports": [{"port": 80}, {"port": 443}]}),
                &[5432, 6379]
            )
            .to_string(),
            "has no port 5432, 6379 (its ports: 80, 443)"
        );
        assert_eq!(
            refusal(serde_json::json!({"selector": selector, "ports": [{"port": 53, "protocol": "UDP"}]}), &[])
                .to_string(),
            "port 53 is UDP: the proxy carries TCP only"
        );
    }
}
