//! Dependency faults: toxics on the embedded fault proxy in front of a dependency.

use async_trait::async_trait;

use super::{Fault, FaultError, Intent};
use crate::proxy::toxics::{Bandwidth, HttpError, HttpLatency, Latency, ResetPeer, Timeout};
use crate::proxy::{ProxyError, ProxyRegistry, Stream, ToxicConfig, ToxicKind};
use crate::spec::{FaultSpec, OutageMode};

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
    /// Builds the fault for a dependency fault spec. Returns None for other faults.
    pub fn new(spec: &FaultSpec, registry: ProxyRegistry) -> Option<Self> {
        Some(Self {
            name: spec.name().to_owned(),
            fault_type: spec.type_name(),
            proxy: spec.dependency()?.to_owned(),
            registry,
            change: Change::of(spec)?,
        })
    }

    fn error(&self, e: ProxyError) -> FaultError {
        FaultError::Proxy {
            fault: self.name.clone(),
            source: e,
        }
    }
}

impl Change {
    /// What a dependency fault spec does to its proxy; None for other faults. The toxics
    /// carry the fault's name, so that they can be removed by it.
    pub(crate) fn of(spec: &FaultSpec) -> Option<Self> {
        let name = spec.name().to_owned();
        let toxic = |stream: Stream, suffix: &str, kind: ToxicKind| {
            ToxicConfig::new(stream, kind).named(format!("{name}{suffix}"))
        };
        let change = match spec {
            FaultSpec::DependencyLatency(f) if f.per_request => Change::Toxics(vec![toxic(
                Stream::Upstream,
                "",
                ToxicKind::HttpLatency(HttpLatency {
                    latency: f.latency.as_millis_u64(),
                    jitter: f.jitter.as_millis_u64(),
                }),
            )]),
            FaultSpec::DependencyLatency(f) => Change::Toxics(vec![toxic(
                Stream::Downstream,
                "",
                ToxicKind::Latency(Latency {
                    latency: f.latency.as_millis_u64(),
                    jitter: f.jitter.as_millis_u64(),
                }),
            )]),
            FaultSpec::DependencyErrors(f) => Change::Toxics(vec![toxic(
                Stream::Upstream,
                "",
                ToxicKind::HttpError(HttpError {
                    status_code: f.status,
                    probability: f.rate,
                    body: format!("firedrill fault {}: injected {}\n", f.name, f.status),
                }),
            )]),
            FaultSpec::DependencyOutage(f) => match f.mode {
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
            FaultSpec::DependencyBandwidth(f) => Change::Toxics(vec![
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
            _ => return None,
        };
        Some(change)
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
