//! Probes that read the Kubernetes API: workload-available, pod-ready and object-exists.
//!
//! Observations block like every probe's; the request itself runs on the run's runtime
//! (whose thread drives its I/O), bounded by the probe's timeout.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

use super::{Outcome, Probe};
use crate::platform::kubernetes::Cluster;
use crate::spec::{self, KubernetesWorkload, WorkloadKind};

/// What a Kubernetes probe checks.
#[derive(Clone, Debug)]
pub enum Check {
    /// Available replicas equal to the desired count, which is more than zero.
    Available(KubernetesWorkload),
    /// Every pod Ready, and at least one pod.
    PodsReady(KubernetesWorkload),
    /// The object exists and is not being deleted.
    Exists(spec::ObjectExistsProbe),
}

/// A probe that reads the API.
pub struct KubernetesProbe {
    check: Check,
    cluster: Cluster,
    runtime: tokio::runtime::Handle,
}

impl KubernetesProbe {
    /// A probe that makes its requests on `runtime`.
    pub fn new(check: Check, cluster: Cluster, runtime: tokio::runtime::Handle) -> Self {
        Self {
            check,
            cluster,
            runtime,
        }
    }

    async fn observe_async(&self) -> Outcome {
        let client = self.cluster.client.clone();
        match &self.check {
            Check::Available(w) => {
                let name = w.object_name.clone().unwrap_or_default();
                let ns = &w.namespace;
                let counts = match w.kind {
                    WorkloadKind::Deployment => Api::<Deployment>::namespaced(client, ns)
                        .get(&name)
                        .await
                        .map(|d| {
                            let want = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                            let have = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
                            (want, have)
                        }),
                    WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(client, ns)
                        .get(&name)
                        .await
                        .map(|d| {
                            let want = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                            let have = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
                            (want, have)
                        }),
                    WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(client, ns)
                        .get(&name)
                        .await
                        .map(|d| {
                            let s = d.status.unwrap_or_default();
                            (s.desired_number_scheduled, s.number_available.unwrap_or(0))
                        }),
                    WorkloadKind::Pod => {
                        return Outcome::fail("a Pod workload has no replica count");
                    }
                };
                match counts {
                    // A workload that wants no replica serves nothing: scaled to zero is down.
                    Ok((0, _)) => Outcome::fail("0 replicas desired: nothing available"),
                    Ok((want, have)) if have >= want => Outcome::pass(),
                    Ok((want, have)) => {
                        Outcome::fail(format!("{have} of {want} replicas available"))
                    }
                    Err(e) => Outcome::fail(e.to_string()),
                }
            }
            Check::PodsReady(w) => match self.cluster.pods(w).await {
                Ok(pods) if pods.is_empty() => Outcome::fail("no pod"),
                Ok(pods) => {
                    let unready: Vec<String> = pods
                        .iter()
                        .filter(|p| !is_ready(p))
                        .map(|p| p.metadata.name.clone().unwrap_or_default())
                        .collect();
                    if unready.is_empty() {
                        Outcome::pass()
                    } else {
                        Outcome::fail(format!("not ready: {}", unready.join(", ")))
                    }
                }
                Err(e) => Outcome::fail(crate::error::chain(&e)),
            },
            Check::Exists(p) => {
                let (group, version, plural) = p.kind.api();
                let gvk = GroupVersionKind::gvk(group, version, p.kind.as_str());
                let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
                let api = Api::<DynamicObject>::namespaced_with(client, &p.namespace, &resource);
                match api.get_opt(&p.object_name).await {
                    Ok(Some(o)) if o.metadata.deletion_timestamp.is_none() => Outcome::pass(),
                    Ok(Some(_)) => Outcome::fail("being deleted"),
                    Ok(None) => Outcome::fail("not found"),
                    Err(e) => Outcome::fail(e.to_string()),
                }
            }
        }
    }
}

/// Whether a pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Probe for KubernetesProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        self.runtime.block_on(async {
            match tokio::time::timeout(timeout, self.observe_async()).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::fail("timed out"),
            }
        })
    }
}
