//! Dependency faults: toxics on the embedded fault proxy in front of a dependency.

use std::sync::Arc;

use async_trait::async_trait;

use super::{BuildFault, Built, ClusterProxyFault, Fault, FaultContext, FaultError, Intent};
use crate::platform::Platform;
use crate::proxy::toxics::{Bandwidth, HttpError, HttpLatency, Latency, ResetPeer, Timeout};
use crate::proxy::{ProxyError, ProxyRegistry, Stream, ToxicConfig, ToxicKind};
use crate::spec::{self, OutageMode};

family! {
    /// What a dependency fault does, through a proxy in front of the dependency.
    DependencyChange {
        /// Delay its data.
        Latency(spec::DependencyLatency),
        /// Answer a share of its HTTP requests with an error.
        Errors(spec::DependencyErrors),
        /// Make it unreachable.
        Outage(spec::DependencyOutage),
        /// Limit its bandwidth.
        Bandwidth(spec::DependencyBandwidth),
    }
}

/// What a dependency fault changes on its proxy.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Toxics added under the fault's name (one per stream where needed).
    Toxics(Vec<ToxicConfig>),
    /// The proxy stops listening and closes its connections.
    Disable,
}

/// A dependency fault bound to the proxy of its dependency.
#[derive(Debug)]
pub struct DependencyFault {
    name: String,
    fault_type: &'static str,
    proxy: String,
    registry: ProxyRegistry,
    change: Change,
}

impl DependencyFault {
    /// Builds the fault for a dependency fault spec.
    pub fn new(spec: &DependencyChange, registry: ProxyRegistry) -> Self {
        Self {
            name: spec.name().to_owned(),
            fault_type: spec.type_name(),
            proxy: spec.dependency().unwrap_or_default().to_owned(),
            registry,
            change: Change::of(spec),
        }
    }

    fn error(&self, e: ProxyError) -> FaultError {
        FaultError::Proxy {
            fault: self.name.clone(),
            source: e,
        }
    }
}

impl Change {
    /// What a dependency fault spec does to its proxy. The toxics carry the fault's name, so
    /// that they can be removed by it.
    pub(crate) fn of(spec: &DependencyChange) -> Self {
        let name = spec.name().to_owned();
        let toxic = |stream: Stream, suffix: &str, kind: ToxicKind| {
            ToxicConfig::new(stream, kind).named(format!("{name}{suffix}"))
        };
        match spec {
            DependencyChange::Latency(f) if f.per_request => Change::Toxics(vec![toxic(
                Stream::Upstream,
                "",
                ToxicKind::HttpLatency(HttpLatency {
                    latency: f.latency.as_millis_u64(),
                    jitter: f.jitter.as_millis_u64(),
                }),
            )]),
            DependencyChange::Latency(f) => Change::Toxics(vec![toxic(
                Stream::Downstream,
                "",
                ToxicKind::Latency(Latency {
                    latency: f.latency.as_millis_u64(),
                    jitter: f.jitter.as_millis_u64(),
                }),
            )]),
            DependencyChange::Errors(f) => Change::Toxics(vec![toxic(
                Stream::Upstream,
                "",
                ToxicKind::HttpError(HttpError {
                    status_code: f.status,
                    probability: f.rate,
                    body: format!("firedrill fault {}: injected {}\n", f.name, f.status),
                }),
            )]),
            DependencyChange::Outage(f) => match f.mode {
                OutageMode::Refuse => Change::Disable,
                OutageMode::Reset => Change::Toxics(vec![toxic(
                    Stream::Downstream,
                    "",
                    ToxicKind::ResetPeer(ResetPeer { timeout: 0 }),
                )]),
                OutageMode::Blackhole => Change::Toxics(vec![
                    toxic(
                        Stream::Upstream,
                        "-up",
                        ToxicKind::Timeout(Timeout { timeout: 0 }),
                    ),
                    toxic(
                        Stream::Downstream,
                        "-down",
                        ToxicKind::Timeout(Timeout { timeout: 0 }),
                    ),
                ]),
            },
            DependencyChange::Bandwidth(f) => Change::Toxics(vec![
                toxic(
                    Stream::Upstream,
                    "-up",
                    ToxicKind::Bandwidth(Bandwidth { rate: f.rate_kbps }),
                ),
                toxic(
                    Stream::Downstream,
                    "-down",
                    ToxicKind::Bandwidth(Bandwidth { rate: f.rate_kbps }),
                ),
            ]),
        }
    }
}

#[async_trait]
impl Fault for DependencyFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let info = self.registry.get(&self.proxy).map_err(|e| self.error(e))?;
        let target = format!(
            "dependency {} ({} -> {})",
            self.proxy, info.listen, info.upstream
        );
        let (changes, undo) = match &self.change {
            Change::Disable => (
                vec![format!(
                    "stop the proxy of {} listening; close its connections",
                    self.proxy
                )],
                vec![format!("start the proxy of {} listening again", self.proxy)],
            ),
            Change::Toxics(toxics) => (
                toxics
                    .iter()
                    .map(|t| {
                        format!(
                            "add toxic {} ({} on {}) to the proxy of {}",
                            t.name.as_deref().unwrap_or_default(),
                            t.kind.type_name(),
                            t.stream.as_str(),
                            self.proxy
                        )
                    })
                    .collect(),
                toxics
                    .iter()
                    .map(|t| {
                        format!(
                            "remove toxic {} from the proxy of {}",
                            t.name.as_deref().unwrap_or_default(),
                            self.proxy
                        )
                    })
                    .collect(),
            ),
        };
        Ok(Intent {
            fault: self.name.clone(),
            fault_type: self.fault_type.to_owned(),
            changes,
            undo,
            targets: vec![target],
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        match &self.change {
            Change::Disable => {
                self.registry
                    .set_enabled(&self.proxy, false)
                    .await
                    .map_err(|e| self.error(e))?;
            }
            Change::Toxics(toxics) => {
                for t in toxics {
                    self.registry
                        .add_toxic(&self.proxy, t.clone())
                        .map_err(|e| self.error(e))?;
                }
            }
        }
        Ok(())
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let mut done = Vec::new();
        match &self.change {
            Change::Disable => {
                let info = self.registry.get(&self.proxy).map_err(|e| self.error(e))?;
                if !info.enabled {
                    self.registry
                        .set_enabled(&self.proxy, true)
                        .await
                        .map_err(|e| self.error(e))?;
                    done.push(format!(
                        "the proxy of {} listens again on {}",
                        self.proxy, info.listen
                    ));
                }
            }
            Change::Toxics(toxics) => {
                for t in toxics {
                    let name = t.name.clone().unwrap_or_default();
                    match self.registry.remove_toxic(&self.proxy, &name) {
                        Ok(()) => done.push(format!(
                            "toxic {name} removed from the proxy of {}",
                            self.proxy
                        )),
                        // Already gone: nothing left to undo.
                        Err(ProxyError::ToxicNotFound(_)) => {}
                        Err(e) => return Err(self.error(e)),
                    }
                }
            }
        }
        Ok(done)
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

/// Builds a dependency fault: on this host, toxics on the embedded proxy; on kubernetes, a
/// proxy deployed in front of the dependency's Service.
fn build_dependency(change: DependencyChange, platform: &Platform) -> Built {
    Ok(match platform {
        Platform::Local(p) => Arc::new(DependencyFault::new(&change, p.proxies().clone())),
        Platform::Kubernetes(k, _) => Arc::new(ClusterProxyFault::new(change, k.cluster().clone())),
    })
}

impl BuildFault for spec::DependencyLatency {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Latency(self.clone()), platform)
    }
}

impl BuildFault for spec::DependencyErrors {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Errors(self.clone()), platform)
    }
}

impl BuildFault for spec::DependencyOutage {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Outage(self.clone()), platform)
    }
}

impl BuildFault for spec::DependencyBandwidth {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Bandwidth(self.clone()), platform)
    }
}
