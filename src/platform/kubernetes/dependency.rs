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

/// The ports the proxy carries, or why the Service cannot be proxied. `wanted` are the
/// Service ports the fault acts on (all when empty).
pub fn proxied_ports(service: &Service, wanted: &[u16]) -> Result<Vec<ProxiedPort>, String> {
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") {
        return Err(
            "is an ExternalName Service: it has no pods to put a proxy in front of".to_owned(),
        );
    }
    if spec.cluster_ip.as_deref() == Some("None") {
        return Err(
            "is headless (clusterIP: None): clients reach its pods directly, so switching its selector would not send them through a proxy".to_owned(),
        );
    }
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Err(
            "has no selector (its endpoints are managed by hand), so there are no pods to switch from".to_owned(),
        );
    }
    if selector.contains_key(PROXY) {
        return Err(format!(
            "already selects a firedrill proxy ({PROXY}); run `firedrill rollback` or `firedrill cleanup` first"
        ));
    }
    let ports = spec.ports.unwrap_or_default();
    if ports.is_empty() {
        return Err("has no ports".to_owned());
    }
    let mut out: Vec<ProxiedPort> = Vec::new();
    for p in &ports {
        let number = u16::try_from(p.port).map_err(|_| format!("has port {}", p.port))?;
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        if protocol != "TCP" {
            return Err(format!(
                "port {number} is {protocol}: the proxy carries TCP only"
            ));
        }
        let target = match &p.target_port {
            None => TargetPort::Number(number),
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                TargetPort::Number(
                    u16::try_from(*n).map_err(|_| format!("port {number} has targetPort {n}"))?,
                )
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
            return Err(format!(
                "ports {} and {number} would both need the proxy to listen on {listen}",
                other.port
            ));
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
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !out.iter().any(|p| p.port == **w))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "has no port {} (its ports: {})",
            missing.join(", "),
            out.iter()
                .map(|p| p.port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
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
    let ports = proxied_ports(&service, &dep.ports).map_err(|message| {
        KubeError::Refused(format!("dependency `{}`: {id} {message}", dep.name))
    })?;
    Ok((service, ports))
}
