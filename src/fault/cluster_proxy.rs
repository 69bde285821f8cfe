//! Dependency faults on the kubernetes platform: firedrill's fault proxy deployed in front of
//! an existing Service for the fault's duration.
//!
//! The proxy runs as a Deployment whose configuration (a ConfigMap) already holds the
//! fault's toxics, so nothing ever calls its admin API from outside the pod. A second
//! Service, `<service>-firedrill-upstream`, selects the dependency's own pods and is the
//! proxy's upstream. Once the proxy is available, the dependency's Service selects the proxy
//! pods instead of its own: clients keep the address they use and go through the proxy.
//! Reverting puts the selector back first, then deletes what was created.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::dependency::check::{Probe, Sends};
use super::dependency::{Change, DependencyChange, probe};
use super::kubernetes::{Created, create_owned};
use super::verifier::{self, HttpVerifier};
use super::{Effect, Fault, FaultError, Intent, owner};
use crate::platform::kubernetes::{
    ApiWrite, Cluster, KubeError, OWNER, Undo, WriteAction, apply_undo, label_selector, retry,
    selector_patch,
};
pub use crate::platform::kubernetes::{
    PROXY, ProxiedPort, TargetPort, check_dependency, proxied_ports,
};
use crate::proxy::ConfiguredProxy;
use crate::spec::{self, KubernetesDependency};

/// The annotation on the proxy Deployment naming the Service switched to it.
pub const PROXIED_SERVICE: &str = "firedrill.dev/proxied-service";
/// The annotation on the proxy Deployment holding the Service's own selector (JSON), so that
/// `firedrill cleanup` can put it back without the journal.
pub const ORIGINAL_SELECTOR: &str = "firedrill.dev/original-selector";
/// Where the proxy's configuration is mounted in its container.
pub const CONFIG_DIR: &str = "/etc/firedrill";
/// The configuration file's key in the ConfigMap.
pub const CONFIG_KEY: &str = "proxy.json";

/// A name derived from the Service's, within the 63 characters of a DNS label: a long
/// Service name is cut and a short hash of it keeps names apart.
pub fn derived_name(service: &str, suffix: &str) -> String {
    let full = format!("{service}-{suffix}");
    if full.len() <= 63 {
        return full;
    }
    let hash = service.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep = 63 - suffix.len() - 10;
    let head = service[..keep].trim_end_matches(['-', '.']);
    format!("{head}-{:08x}-{suffix}", hash as u32)
}

/// The proxy's configuration file: one proxy per Service port, listening on every interface
/// on its container port and forwarding to the same Service port of `upstream_host`; the
/// faulted ports carry the fault's toxics (or do not listen, for a refused connection).
pub fn proxy_file(
    fault: &DependencyChange,
    ports: &[ProxiedPort],
    upstream_host: &str,
) -> Vec<ConfiguredProxy> {
    let change = Change::of(fault);
    ports
        .iter()
        .map(|p| {
            let (enabled, toxics) = match (&change, p.faulted) {
                (Change::Disable, true) => (false, Vec::new()),
                (Change::Toxics(t), true) => (true, t.clone()),
                (_, false) => (true, Vec::new()),
            };
            ConfiguredProxy {
                name: p.name.clone(),
                listen: format!("0.0.0.0:{}", p.listen),
                upstream: format!("{upstream_host}:{}", p.port),
                enabled,
                toxics,
            }
        })
        .collect()
}

/// Everything a proxy fault creates and changes, decided by `plan`.
#[derive(Clone, Debug)]
struct Planned {
    namespace: String,
    service: String,
    config_map: ConfigMap,
    upstream: Service,
    deployment: Deployment,
    switch: Value,
    ready_timeout: std::time::Duration,
    /// The proof of effect from a verifier pod, or why there is none.
    check: Result<InCluster, String>,
}

/// What the fault's verifier pod sends through the dependency's Service, and how firedrill
/// judges what it met: as the check on this host judges the same.
#[derive(Clone, Debug)]
struct InCluster {
    probe: Probe,
    sends: Sends,
    /// `SERVICE.NAMESPACE.svc:PORT`.
    to: String,
    /// The verifier pod's name.
    pod: String,
    image: String,
}

/// Whether a Service port says it speaks plain HTTP: appProtocol `http` or
/// `kubernetes.io/h2c`, or a name `http`, `http-*` or `*-http` (the convention of service
/// meshes).
pub fn declared_http(service: &Service, port: u16) -> bool {
    let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref());
    ports
        .and_then(|ps| ps.iter().find(|p| p.port == i32::from(port)))
        .is_some_and(|p| {
            let name = p.name.as_deref().unwrap_or_default();
            let protocol = p.app_protocol.as_deref().unwrap_or_default();
            matches!(
                protocol.to_ascii_lowercase().as_str(),
                "http" | "kubernetes.io/h2c"
            ) || name == "http"
                || name.starts_with("http-")
                || name.ends_with("-http")
        })
}

/// An effect judged from what a verifier pod saw, saying so.
fn seen_from(effect: Effect, pod: &str) -> Effect {
    let text = format!("from verifier pod {pod}, {}", effect.detail());
    match effect {
        Effect::Verified { .. } => Effect::verified(text),
        Effect::Ineffective { .. } => Effect::ineffective(text),
        Effect::Unverified { .. } => Effect::unverified(text),
    }
}

/// A dependency fault carried by a proxy deployed in front of the dependency's Service.
pub struct ClusterProxyFault {
    spec: DependencyChange,
    cluster: Cluster,
    planned: Mutex<Option<Planned>>,
    restore: Mutex<Vec<Undo>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClusterProxyFault {
    /// A dependency fault on the kubernetes platform.
    pub fn new(spec: DependencyChange, cluster: Cluster) -> Self {
        Self {
            spec,
            cluster,
            planned: Mutex::new(None),
            restore: Mutex::new(Vec::new()),
        }
    }

    fn kube(&self, source: KubeError) -> FaultError {
        FaultError::Kubernetes {
            fault: self.spec.name().to_owned(),
            source,
        }
    }

    fn refuse(&self, message: String) -> FaultError {
        FaultError::Kubernetes {
            fault: self.spec.name().to_owned(),
            source: KubeError::Refused(message),
        }
    }

    fn dependency(&self) -> Result<&KubernetesDependency, FaultError> {
        let name = self.spec.dependency().unwrap_or_default();
        self.cluster
            .target
            .dependencies
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| FaultError::UnknownDependency {
                fault: self.spec.name().to_owned(),
                dependency: name.to_owned(),
            })
    }

    /// The objects and the selector change for the Service as it is now.
    fn build(
        &self,
        dep: &KubernetesDependency,
        proxy: &spec::ClusterProxy,
        service: &Service,
        ports: &[ProxiedPort],
    ) -> Result<Planned, FaultError> {
        let ns = &dep.namespace;
        let svc = &dep.service;
        let name = derived_name(svc, "firedrill-proxy");
        let upstream_name = derived_name(svc, "firedrill-upstream");
        let original = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let file = proxy_file(&self.spec, ports, &format!("{upstream_name}.{ns}.svc"));
        let text = serde_json::to_string_pretty(&file).unwrap_or_default();
        let mut labels = self.cluster.ownership_labels();
        labels.insert(
            "firedrill.dev/fault".to_owned(),
            self.spec.name().to_owned(),
        );
        let annotations = BTreeMap::from([(OWNER.to_owned(), owner())]);
        let meta = |name: &str, annotations: &BTreeMap<String, String>| json!({"name": name, "namespace": ns, "labels": labels, "annotations": annotations});
        let config_map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(&name, &annotations),
            "data": {CONFIG_KEY: text},
        });
        let upstream = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(&upstream_name, &annotations),
            "spec": {
                "type": "ClusterIP",
                "selector": original,
                "ports": ports.iter().map(|p| {
                    let mut port = json!({"port": p.port, "protocol": "TCP", "targetPort": match &p.target {
                        TargetPort::Number(n) => json!(n),
                        TargetPort::Name(s) => json!(s),
                    }});
                    if let Some(name) = &p.port_name {
                        port["name"] = json!(name);
                    }
                    port
                }).collect::<Vec<_>>(),
            },
        });
        let mut deployment_annotations = annotations.clone();
        deployment_annotations.insert(PROXIED_SERVICE.to_owned(), svc.clone());
        deployment_annotations.insert(
            ORIGINAL_SELECTOR.to_owned(),
            serde_json::to_string(&original).unwrap_or_default(),
        );
        let mut pod_labels = labels.clone();
        pod_labels.insert(PROXY.to_owned(), name.clone());
        let container_ports: Vec<Value> = ports
            .iter()
            .map(|p| {
                let mut port = json!({"containerPort": p.listen, "protocol": "TCP"});
                if let TargetPort::Name(n) = &p.target {
                    port["name"] = json!(n);
                }
                port
            })
            .collect();
        let mut pod_security = json!({
            "runAsNonRoot": true,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        // A non-root process may listen below 1024 only where the pod's network namespace
        // says so; this sysctl is in the safe set the restricted PodSecurity level allows.
        if ports.iter().any(|p| p.listen < 1024) {
            pod_security["sysctls"] =
                json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]);
        }
        let mut container = json!({
            "name": "proxy",
            "image": proxy.image,
            "command": ["firedrill"],
            // The admin API stays on loopback: it has no authentication.
            "args": ["proxy", "--config", format!("{CONFIG_DIR}/{CONFIG_KEY}"), "--admin", "127.0.0.1:0"],
            "ports": container_ports,
            "resources": {
                "requests": {"cpu": "50m", "memory": "32Mi"},
                "limits": {"cpu": "1", "memory": "128Mi"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": true}],
        });
        // Ready once it listens; a proxy that refuses connections on every port has nothing
        // to probe, and is ready once running.
        if let Some(p) = file.iter().zip(ports).find(|(c, _)| c.enabled) {
            container["readinessProbe"] =
                json!({"tcpSocket": {"port": p.1.listen}, "periodSeconds": 1});
        }
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(&name, &deployment_annotations),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {PROXY: name}},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "automountServiceAccountToken": false,
                        "enableServiceLinks": false,
                        "terminationGracePeriodSeconds": 5,
                        "securityContext": pod_security,
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": name}}],
                    },
                },
            },
        });
        let typed = |what: &str, e: serde_json::Error| {
            self.refuse(format!("cannot build the proxy's {what}: {e}"))
        };
        Ok(Planned {
            namespace: ns.clone(),
            service: svc.clone(),
            config_map: serde_json::from_value(config_map).map_err(|e| typed("ConfigMap", e))?,
            upstream: serde_json::from_value(upstream).map_err(|e| typed("Service", e))?,
            deployment: serde_json::from_value(deployment).map_err(|e| typed("Deployment", e))?,
            switch: selector_patch(
                &BTreeMap::from([(PROXY.to_owned(), name)]),
                &original.keys().cloned().collect::<Vec<_>>(),
            ),
            ready_timeout: proxy.ready_timeout.get(),
            check: self.in_cluster(dep, service, ports),
        })
    }

    /// What the verifier pod checks, or why the fault is left unchecked.
    fn in_cluster(
        &self,
        dep: &KubernetesDependency,
        service: &Service,
        ports: &[ProxiedPort],
    ) -> Result<InCluster, String> {
        let change = Change::of(&self.spec);
        let probe = probe(&change)?;
        let id = format!("Service {}/{}", dep.namespace, dep.service);
        let config = format!(
            "ConfigMap {}/{}",
            dep.namespace,
            derived_name(&dep.service, "firedrill-proxy")
        );
        let Some(sends) = probe.sends() else {
            return Err(format!(
                "the bandwidth check times a whole transfer through the proxy against the same transfer straight to the dependency, which a verifier pod does not do yet; the limit is in the proxy's configuration ({config})"
            ));
        };
        let port = ports
            .iter()
            .find(|p| p.faulted)
            .ok_or_else(|| format!("no port of {id} is faulted"))?;
        // A refused connection shows on any protocol, and the HTTP toxics act only on HTTP;
        // the others are seen through an HTTP request, which only an HTTP server answers
        // in a way that shows them.
        let any_protocol = match &change {
            Change::Disable => true,
            Change::Toxics(t) => t.first().is_some_and(|t| t.kind.is_http()),
        };
        if !any_protocol && !declared_http(service, port.port) {
            return Err(format!(
                "port {} ({}) of {id} is not declared HTTP (appProtocol http, or a name http or http-*), and the check from a verifier pod is an HTTP request, which another protocol may answer in a way that shows nothing; the toxic is in the proxy's configuration ({config})",
                port.port, port.name
            ));
        }
        let image = verifier::image(&self.cluster).ok_or_else(|| verifier::NO_IMAGE.to_owned())?;
        Ok(InCluster {
            probe,
            sends,
            to: format!("{}.{}.svc:{}", dep.service, dep.namespace, port.port),
            pod: derived_name(&dep.service, "firedrill-verify"),
            image,
        })
    }

    /// Creates an object unless this run already did (a retried create).
    async fn create<K>(&self, api: &Api<K>, object: &K) -> Result<(), FaultError>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let id = format!(
            "{} {}/{name}",
            K::kind(&()),
            object.meta().namespace.as_deref().unwrap_or_default()
        );
        match create_owned(api, object, &self.cluster.run_id)
            .await
            .map_err(|e| self.kube(e))?
        {
            Created::Ours(_) => Ok(()),
            Created::Taken(run) => Err(self.refuse(format!(
                "{id} already exists{}; if no run holds it, remove it with `firedrill cleanup`",
                run.map(|r| format!(" (run {r})")).unwrap_or_default()
            ))),
            Created::Unread(e) => Err(self.kube(e)),
        }
    }

    /// Waits until the proxy Deployment has an available replica of its current template.
    async fn wait_available(&self, p: &Planned) -> Result<(), FaultError> {
        let name = p.deployment.metadata.name.clone().unwrap_or_default();
        let api = Api::<Deployment>::namespaced(self.cluster.client.clone(), &p.namespace);
        let deadline = tokio::time::Instant::now() + p.ready_timeout;
        let what = format!("read Deployment {}/{name}", p.namespace);
        loop {
            let d = retry(&what, || api.get(&name))
                .await
                .map_err(|e| self.kube(e))?;
            let generation = d.metadata.generation.unwrap_or(0);
            let status = d.status.unwrap_or_default();
            if status.observed_generation.unwrap_or(0) >= generation
                && status.available_replicas.unwrap_or(0) >= 1
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(FaultError::NotReady {
                    fault: self.spec.name().to_owned(),
                    message: format!(
                        "the proxy Deployment {}/{name} was not available within {}{}; the Service was not switched and what was created is removed",
                        p.namespace,
                        crate::spec::Duration::from(p.ready_timeout),
                        self.pod_states(p, &name).await
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Why the proxy pods are not ready, as far as their status tells: `(pod: reason)`.
    async fn pod_states(&self, p: &Planned, name: &str) -> String {
        let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
        let params = ListParams::default().labels(&format!("{PROXY}={name}"));
        let Ok(pods) = api.list(&params).await else {
            return String::new();
        };
        let states: Vec<String> = pods
            .items
            .iter()
            .map(|pod| {
                let status = pod.status.clone().unwrap_or_default();
                let waiting = status
                    .container_statuses
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|c| c.state.and_then(|s| s.waiting).and_then(|w| w.reason));
                let unscheduled = status
                    .conditions
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                    .and_then(|c| c.reason);
                let state = waiting
                    .or(unscheduled)
                    .or(status.phase)
                    .unwrap_or_else(|| "unknown".to_owned());
                format!(
                    "{}: {state}",
                    pod.metadata.name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        if states.is_empty() {
            " (no proxy pod was created)".to_owned()
        } else {
            format!(" (pods {})", states.join(", "))
        }
    }

    /// Applies the recorded undos newest first, each forgotten once done.
    async fn undo_all(&self) -> Result<Vec<String>, FaultError> {
        let mut done = Vec::new();
        loop {
            let Some(next) = lock(&self.restore).last().cloned() else {
                return Ok(done);
            };
            done.push(
                apply_undo(&self.cluster.client, &next)
                    .await
                    .map_err(|e| self.kube(e))?,
            );
            lock(&self.restore).pop();
        }
    }
}

#[async_trait]
impl Fault for ClusterProxyFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let dep = self.dependency()?;
        let proxy = dep.proxy.as_ref().ok_or_else(|| {
            self.refuse(format!(
                "dependency `{}` has no proxy: set spec.target.dependencies[].proxy.image",
                dep.name
            ))
        })?;
        let ns = &dep.namespace;
        let id = format!("Service {ns}/{}", dep.service);
        let (service, ports) = check_dependency(&self.cluster, dep)
            .await
            .map_err(|e| self.kube(e))?;
        let planned = self.build(dep, proxy, &service, &ports)?;
        let original = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let cm_name = planned.config_map.metadata.name.clone().unwrap_or_default();
        let up_name = planned.upstream.metadata.name.clone().unwrap_or_default();
        let deploy_name = planned.deployment.metadata.name.clone().unwrap_or_default();
        let mut restore = vec![
            Undo::delete_of::<ConfigMap>(ns, &cm_name).of_run(&self.cluster.run_id),
            Undo::delete_of::<Service>(ns, &up_name).of_run(&self.cluster.run_id),
            Undo::delete_of::<Deployment>(ns, &deploy_name).of_run(&self.cluster.run_id),
            Undo::RestoreServiceSelector {
                namespace: ns.clone(),
                name: dep.service.clone(),
                selector: original.clone(),
                added: vec![PROXY.to_owned()],
            },
        ];
        let carried: Vec<String> = ports
            .iter()
            .map(|p| {
                format!(
                    "{} ({}{})",
                    p.port,
                    p.name,
                    if p.faulted { ", faulted" } else { "" }
                )
            })
            .collect();
        let mut changes = vec![
            format!("create ConfigMap {ns}/{cm_name} with the proxy configuration"),
            format!(
                "create Service {ns}/{up_name} selecting {} (the pods of {id})",
                label_selector(&original)
            ),
            format!(
                "create Deployment {ns}/{deploy_name} running the fault proxy ({}) for ports {}",
                proxy.image,
                carried.join(", ")
            ),
            format!(
                "switch the selector of {id} from {} to {PROXY}={deploy_name}; connections open through it may drop",
                label_selector(&original)
            ),
        ];
        if let Ok(c) = &planned.check {
            // Recorded before it exists, undone first.
            restore.push(Undo::delete_of::<Pod>(ns, &c.pod).of_run(&self.cluster.run_id));
            changes.push(format!(
                "create verifier pod {ns}/{} sending {} {} through {} for the proof of effect, deleted once it has checked",
                c.pod, c.sends.request.method, c.sends.request.path, c.to
            ));
        }
        let value = |v: Result<Value, serde_json::Error>| v.unwrap_or_default();
        let writes = vec![
            ApiWrite::of::<ConfigMap>(
                ns,
                &cm_name,
                WriteAction::Create(value(serde_json::to_value(&planned.config_map))),
            ),
            ApiWrite::of::<Service>(
                ns,
                &up_name,
                WriteAction::Create(value(serde_json::to_value(&planned.upstream))),
            ),
            ApiWrite::of::<Deployment>(
                ns,
                &deploy_name,
                WriteAction::Create(value(serde_json::to_value(&planned.deployment))),
            ),
            ApiWrite::of::<Service>(
                ns,
                &dep.service,
                WriteAction::MergePatch {
                    subresource: None,
                    patch: planned.switch.clone(),
                },
            ),
        ];
        let intent = Intent {
            fault: self.spec.name().to_owned(),
            fault_type: self.spec.type_name().to_owned(),
            changes,
            undo: restore.iter().rev().map(ToString::to_string).collect(),
            targets: vec![format!("dependency {} ({id})", dep.name)],
            restore: restore.clone(),
            pool: None,
            writes,
        };
        *lock(&self.restore) = restore;
        *lock(&self.planned) = Some(planned);
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let Some(p) = lock(&self.planned).clone() else {
            return Ok(());
        };
        let client = self.cluster.client.clone();
        let ns = &p.namespace;
        let created = async {
            self.create(
                &Api::<ConfigMap>::namespaced(client.clone(), ns),
                &p.config_map,
            )
            .await?;
            self.create(&Api::<Service>::namespaced(client.clone(), ns), &p.upstream)
                .await?;
            self.create(
                &Api::<Deployment>::namespaced(client.clone(), ns),
                &p.deployment,
            )
            .await?;
            self.wait_available(&p).await
        }
        .await;
        if let Err(e) = created {
            // The Service is untouched: forget its undo and remove what was created, so
            // that the error can say nothing is left.
            lock(&self.restore).retain(|u| !matches!(u, Undo::RestoreServiceSelector { .. }));
            if let Err(undo) = self.undo_all().await {
                tracing::warn!(fault = self.spec.name(), error = %crate::error::chain(&undo), "cannot remove the proxy after a failed start");
            }
            return Err(e);
        }
        let services = Api::<Service>::namespaced(client, ns);
        let patch = Patch::Merge(p.switch.clone());
        let what = format!("switch the selector of Service {ns}/{}", p.service);
        let params = PatchParams::default();
        retry(&what, || services.patch(&p.service, &params, &patch))
            .await
            .map(|_| ())
            .map_err(|e| self.kube(e))
    }

    async fn verify(&self) -> Effect {
        let Some(p) = lock(&self.planned).clone() else {
            return Effect::unverified("the fault was not planned: nothing to check");
        };
        let c = match p.check {
            Ok(c) => c,
            Err(why) => return Effect::unverified(why),
        };
        let deployment = p.deployment.metadata.name.clone().unwrap_or_default();
        let deployments = Api::<Deployment>::namespaced(self.cluster.client.clone(), &p.namespace);
        let owner = match deployments.get_opt(&deployment).await {
            Ok(Some(d)) => d.metadata.uid.map(|uid| (deployment, uid)),
            _ => None,
        };
        let v = HttpVerifier {
            namespace: p.namespace.clone(),
            name: c.pod.clone(),
            fault: self.spec.name().to_owned(),
            owner,
            image: c.image.clone(),
            to: c.to.clone(),
            sends: c.sends.clone(),
        };
        match verifier::run_http(&self.cluster, &v).await {
            Ok(finding) => seen_from(c.probe.judge(&finding.to, &finding.seen), &v.id()),
            Err(why) => why,
        }
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        self.undo_all().await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(v: Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ports_follow_the_service() {
        let svc = service(json!({"metadata": {"name": "db"}, "spec": {
        "selector": {"app": "db"},
        "ports": [
            {"name": "sql", "port": 5432, "targetPort": 15432},
            {"name": "metrics", "port": 9090, "targetPort": "metrics"},
            {"port": 80},
        ]}}));
        let ports = proxied_ports(&svc, &[5432]).unwrap();
        assert_eq!(
            ports,
            [
                ProxiedPort {
                    name: "sql".into(),
                    port_name: Some("sql".into()),
                    port: 5432,
                    target: TargetPort::Number(15432),
                    listen: 15432,
                    faulted: true
                },
                ProxiedPort {
                    name: "metrics".into(),
                    port_name: Some("metrics".into()),
                    port: 9090,
                    target: TargetPort::Name("metrics".into()),
                    listen: 9090,
                    faulted: false
                },
                ProxiedPort {
                    name: "port-80".into(),
                    port_name: None,
                    port: 80,
                    target: TargetPort::Number(80),
                    listen: 80,
                    faulted: false
                },
            ]
        );
        let err = proxied_ports(&svc, &[5433]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "has no port 5433 (its ports: 5432, 9090, 80)"
        );
    }

    #[test]
    fn services_that_cannot_be_proxied_are_refused_with_the_reason() {
        let refused = |spec: Value| {
            proxied_ports(&service(json!({"spec": spec})), &[])
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused(json!({"type": "ExternalName", "externalName": "db.example"}))
                .contains("ExternalName")
        );
        assert!(
            refused(json!({"clusterIP": "None", "selector": {"a": "b"}, "ports": [{"port": 1}]}))
                .contains("headless")
        );
        assert!(refused(json!({"ports": [{"port": 1}]})).contains("no selector"));
        assert!(
            refused(json!({"selector": {"a": "b"}, "ports": [{"port": 53, "protocol": "UDP"}]}))
                .contains("UDP")
        );
        assert!(
            refused(json!({"selector": {PROXY: "x"}, "ports": [{"port": 1}]})).contains("already")
        );
        assert!(refused(json!({"selector": {"a": "b"}, "ports": [{"port": 1, "targetPort": 9}, {"port": 2, "targetPort": 9}]})).contains("both"));
    }

    #[test]
    fn derived_names_fit_a_dns_label() {
        assert_eq!(
            derived_name("db", "firedrill-upstream"),
            "db-firedrill-upstream"
        );
        let long = "a".repeat(60);
        let name = derived_name(&long, "firedrill-upstream");
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with("-firedrill-upstream"));
        assert_ne!(name, derived_name(&"a".repeat(61), "firedrill-upstream"));
    }

    #[test]
    fn the_proxy_file_carries_the_toxics_on_the_faulted_ports_only() {
        let fault = DependencyChange::Latency(
            serde_saphyr::from_str("{name: slow, dependency: db, latency: 100ms, duration: 1s}")
                .unwrap(),
        );
        let svc = service(json!({"spec": {"selector": {"app": "db"}, "ports": [
            {"name": "sql", "port": 5432}, {"name": "admin", "port": 8080}]}}));
        let ports = proxied_ports(&svc, &[5432]).unwrap();
        let file = proxy_file(&fault, &ports, "db-firedrill-upstream.shop.svc");
        assert_eq!(file[0].listen, "0.0.0.0:5432");
        assert_eq!(file[0].upstream, "db-firedrill-upstream.shop.svc:5432");
        assert_eq!(file[0].toxics.len(), 1);
        assert_eq!(file[0].toxics[0].kind.type_name(), "latency");
        assert!(file[1].toxics.is_empty() && file[1].enabled);
        let refuse = DependencyChange::Outage(
            serde_saphyr::from_str("{name: down, dependency: db, duration: 1s}").unwrap(),
        );
        let file = proxy_file(&refuse, &ports, "u");
        assert!(!file[0].enabled && file[1].enabled);
    }
}
