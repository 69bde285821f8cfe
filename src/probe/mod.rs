//! Probes of the steady state: each observation passes or fails by the probe's tolerances.

mod command;
mod http;
mod json;
mod kubernetes;
mod object;
mod prometheus;
mod tcp;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use command::CommandProbe;
pub use http::HttpProbe;
pub use kubernetes::{Check, KubernetesProbe, is_ready};
pub use object::ObjectProbe;
pub use prometheus::{PrometheusProbe, judge};
pub use tcp::TcpProbe;

use crate::spec::{self, placeholders};
use crate::telemetry::TraceContext;

/// The verdict of one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the observation passed.
    pub ok: bool,
    /// Why it failed, or what it saw.
    pub detail: Option<String>,
}

impl Outcome {
    /// A pass.
    pub fn pass() -> Self {
        Self {
            ok: true,
            detail: None,
        }
    }

    /// A failure with its reason.
    pub fn fail(detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            detail: Some(detail.into()),
        }
    }
}

/// Something that observes the system under test.
///
/// Observations block: each probe runs on a thread of its own, so that its schedule does
/// not share a timer or a poller with anything else, and an observation costs a handful
/// of system calls (at a 10 ms schedule the CPU of an async client's bookkeeping and
/// wake-ups was twice that of the exchange itself).
pub trait Probe: Send + Sync {
    /// Makes one observation, returning within `timeout` (a little more for a command
    /// that has to be killed).
    fn observe(&self, timeout: Duration) -> Outcome;
}

/// Why a probe could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A placeholder could not be expanded.
    #[error("probe `{probe}`")]
    Template {
        /// The probe.
        probe: String,
        /// What was wrong.
        #[source]
        source: placeholders::PlaceholderError,
    },
    /// The HTTP client could not be built.
    #[error("probe `{probe}`: cannot build the HTTP client")]
    Client {
        /// The probe.
        probe: String,
        /// What was wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The URL or address is unusable.
    #[error("probe `{probe}`: {message}")]
    Invalid {
        /// The probe.
        probe: String,
        /// What was wrong.
        message: String,
    },
}

/// Builds the runtime probe of a spec probe, expanding its placeholders. Kubernetes probes
/// need the cluster and the runtime their requests run on; HTTP probes take their
/// `traceparent` from the run's trace context.
pub fn build(
    spec: &spec::Probe,
    ctx: &placeholders::Context,
    cluster: Option<(
        &crate::platform::kubernetes::Cluster,
        tokio::runtime::Handle,
    )>,
    trace: &Arc<TraceContext>,
) -> Result<Arc<dyn Probe>, ProbeError> {
    if spec.is_kubernetes() {
        let no_cluster = || ProbeError::Invalid {
            probe: spec.name().to_owned(),
            message: "acts on the kubernetes platform only".to_owned(),
        };
        let (cluster, runtime) = cluster.ok_or_else(no_cluster)?;
        let workload = |name: &str| {
            cluster
                .workload(name)
                .cloned()
                .ok_or_else(|| ProbeError::Invalid {
                    probe: spec.name().to_owned(),
                    message: format!("unknown workload `{name}`"),
                })
        };
        if let spec::Probe::KubernetesObject(p) = spec {
            return Ok(Arc::new(ObjectProbe::new(p, cluster.clone(), runtime)?));
        }
        let check = match spec {
            spec::Probe::WorkloadAvailable(p) => Check::Available(workload(&p.workload)?),
            spec::Probe::PodReady(p) => Check::PodsReady(workload(&p.workload)?),
            spec::Probe::ObjectExists(p) => Check::Exists(p.clone()),
            _ => return Err(no_cluster()),
        };
        return Ok(Arc::new(KubernetesProbe::new(
            check,
            cluster.clone(),
            runtime,
        )));
    }
    let expand = |s: &str| {
        placeholders::expand(s, ctx).map_err(|source| ProbeError::Template {
            probe: spec.name().to_owned(),
            source,
        })
    };
    Ok(match spec {
        spec::Probe::Http(p) => {
            Arc::new(HttpProbe::new(p, &expand(&p.url)?)?.with_trace(trace.clone()))
        }
        spec::Probe::Tcp(p) => Arc::new(TcpProbe::new(&p.name, &expand(&p.address)?)?),
        spec::Probe::Command(p) => Arc::new(CommandProbe::new(
            p.command
                .iter()
                .map(|c| expand(c))
                .collect::<Result<_, _>>()?,
            p.expect_exit_code,
        )),
        spec::Probe::Prometheus(p) => Arc::new(PrometheusProbe::new(p, &expand(&p.url)?)?),
        spec::Probe::WorkloadAvailable(_)
        | spec::Probe::PodReady(_)
        | spec::Probe::ObjectExists(_)
        | spec::Probe::KubernetesObject(_) => {
            return Err(ProbeError::Invalid {
                probe: spec.name().to_owned(),
                message: "acts on the kubernetes platform only".to_owned(),
            });
        }
    })
}

/// One observation, timed with the monotonic clock.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Index of the probe in `spec.steadyState.probes`.
    pub probe: usize,
    /// When the observation started.
    pub started: Instant,
    /// When it ended (passed, failed or timed out).
    pub finished: Instant,
    /// The verdict.
    pub outcome: Outcome,
}

impl Observation {
    /// How long the observation took.
    pub fn latency(&self) -> Duration {
        self.finished.saturating_duration_since(self.started)
    }
}

/// Runs `probe` on a fixed schedule until `stop`, sending every observation to `tx`.
///
/// The schedule is closed-loop: a new observation starts at the next tick after the
/// previous one ended, and ticks missed meanwhile are skipped. Latency recording corrects
/// for the skipped ticks (coordinated omission), so slow responses are not under-counted.
/// The probe runs on a blocking thread; this future ends when the thread does. Each
/// observation runs inside a debug-level `probe` span under the run's current phase.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    index: usize,
    name: String,
    trace: Arc<TraceContext>,
    probe: Arc<dyn Probe>,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<Observation>,
    stop: CancellationToken,
) {
    let (wake_tx, wake_rx) = std::sync::mpsc::sync_channel::<()>(1);
    let on_stop = stop.clone();
    let waker = tokio::spawn(async move {
        on_stop.cancelled().await;
        let _ = wake_tx.try_send(());
    });
    let thread = tokio::task::spawn_blocking(move || {
        let mut next = std::time::Instant::now();
        // Whether the last observation failed: a change is logged (at info), so that what a
        // failing probe saw can be read without a log line per observation.
        let mut failing = false;
        loop {
            let now = std::time::Instant::now();
            if next > now {
                match wake_rx.recv_timeout(next - now) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
            if stop.is_cancelled() {
                return;
            }
            let started = Instant::now();
            let outcome = trace.probe_span(&name).in_scope(|| probe.observe(timeout));
            let finished = Instant::now();
            let detail = outcome.detail.as_deref().unwrap_or_default();
            if !outcome.ok {
                tracing::debug!(target: "firedrill::probe", probe = %name, detail, "observation failed");
            }
            if !outcome.ok && !failing {
                tracing::info!(target: "firedrill::probe", probe = %name, detail, "probe failing");
            } else if outcome.ok && failing {
                tracing::info!(target: "firedrill::probe", probe = %name, "probe passing again");
            }
            failing = !outcome.ok;
            // Skip the ticks that passed while the observation ran.
            let after = finished.into_std();
            while next <= after {
                next += interval;
            }
            let obs = Observation {
                probe: index,
                started,
                finished,
                outcome,
            };
            if tx.blocking_send(obs).is_err() {
                return;
            }
        }
    });
    let result = thread.await;
    waker.abort();
    if let Err(e) = result
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// An observation's deadline passed before it could finish.
#[derive(Debug, thiserror::Error)]
#[error("timed out")]
pub(crate) struct TimedOut;

/// The time left until `deadline`, or a timeout error when none is.
pub(crate) fn remaining(deadline: std::time::Instant) -> Result<Duration, TimedOut> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        Err(TimedOut)
    } else {
        Ok(left)
    }
}
