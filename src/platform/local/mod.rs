//! The local platform: workloads as supervised processes on this host, each behind a
//! service address that balances over its ready replicas.

mod observability;
pub mod process;
mod replica;
mod service;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use replica::{Events, Incarnation, Replica};
pub use service::RoundRobin;

use crate::proxy::{ProxyConfig, ProxyRegistry};
use crate::spec::{self, LocalTarget, Readiness, TcpReadiness, placeholders};

/// Why the local platform could not start its workloads.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// No address or port could be bound on loopback.
    #[error("cannot bind a loopback port")]
    Bind(#[source] std::io::Error),
    /// A workload's command, arguments or environment could not be expanded.
    #[error("workload `{workload}`: {field}")]
    Template {
        /// The workload.
        workload: String,
        /// The field, such as `command[2]`.
        field: String,
        /// What was wrong.
        #[source]
        source: placeholders::PlaceholderError,
    },
    /// The log folder could not be created.
    #[error("cannot create the log folder {0}")]
    Logs(PathBuf, #[source] std::io::Error),
    /// Some replicas were not ready in time.
    #[error("replicas not ready after {timeout:?}: {replicas} (see their logs in {logs})")]
    NotReady {
        /// How long we waited.
        timeout: Duration,
        /// The replicas that were not ready.
        replicas: String,
        /// Where their output went.
        logs: String,
    },
    /// A dependency's proxy could not start.
    #[error("the proxy of dependency `{0}` cannot start")]
    Proxy(String, #[source] crate::proxy::ProxyError),
    /// A program of the detection stack is not installed.
    #[error("`{program}` is not on PATH; install it (Debian: apt-get install {package})")]
    MissingProgram {
        /// The program looked for.
        program: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// A file of the detection stack could not be read or written.
    #[error("detection stack: cannot use {path}")]
    StackFile {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Prometheus did not scrape every target, or find the Alertmanager, in time.
    #[error("the detection stack is not ready after {timeout:?}: {missing}")]
    StackNotReady {
        /// How long we waited in all.
        timeout: Duration,
        /// What was still missing.
        missing: String,
    },
    /// The run was cancelled while workloads were starting.
    #[error("cancelled while starting workloads")]
    Cancelled,
}

/// Options that come from the run rather than the experiment.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Path substituted for `{firedrill}`.
    pub firedrill: PathBuf,
    /// URL substituted for `{webhook}`.
    pub webhook: Option<String>,
    /// Folder for each replica's standard output and error.
    pub log_dir: Option<PathBuf>,
    /// The experiment file's folder, which the detection stack's files are relative to.
    pub base_dir: Option<PathBuf>,
}

impl LocalOptions {
    /// The folder that `{experimentDir}` and relative honeytoken paths name: the experiment
    /// file's, or the current folder for an experiment that came from no file.
    pub fn experiment_dir(&self) -> PathBuf {
        match &self.base_dir {
            Some(dir) if !dir.as_os_str().is_empty() => {
                std::path::absolute(dir).unwrap_or_else(|_| dir.clone())
            }
            _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }
}

/// Running workloads.
#[derive(Debug)]
pub struct LocalPlatform {
    workloads: BTreeMap<String, Vec<Arc<Replica>>>,
    services: BTreeMap<String, SocketAddr>,
    proxies: ProxyRegistry,
    dependencies: BTreeMap<String, String>,
    template: placeholders::Context,
    experiment_dir: PathBuf,
    stack: Option<observability::Stack>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl LocalPlatform {
    /// Binds the service addresses, starts every replica, and returns at once (see
    /// [`LocalPlatform::wait_ready`]).
    pub async fn start(
        target: &LocalTarget,
        options: &LocalOptions,
        events: Events,
    ) -> Result<Self, PlatformError> {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut listeners = Vec::new();
        let mut services = BTreeMap::new();
        let stack_plan = target
            .observability
            .as_ref()
            .map(|o| observability::prepare(o, options.base_dir.as_deref()))
            .transpose()?;
        // The stack's workloads are workloads like any other: ports, logs, supervision.
        let all_workloads: Vec<spec::Workload> = target
            .workloads
            .iter()
            .cloned()
            .chain(stack_plan.iter().flat_map(|p| p.workloads.iter().cloned()))
            .collect();
        for w in &all_workloads {
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(PlatformError::Bind)?;
            let addr = listener.local_addr().map_err(PlatformError::Bind)?;
            services.insert(w.name.clone(), addr);
            listeners.push(listener);
        }
        // Ports first: a replica's command may name any replica's address.
        let mut ports: BTreeMap<(String, u32), u16> = BTreeMap::new();
        for w in &all_workloads {
            for index in 0..w.replicas {
                ports.insert(
                    (w.name.clone(), index),
                    free_port().map_err(PlatformError::Bind)?,
                );
            }
        }
        // Dependencies next: a proxy in front of each, so that workloads are given its
        // address and dependency faults can act on it.
        let proxies = ProxyRegistry::new();
        let mut dependencies = BTreeMap::new();
        let upstream_ctx = placeholders::Context {
            workloads: services
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            replicas: ports
                .iter()
                .map(|((w, i), p)| (format!("{w}.{i}"), format!("127.0.0.1:{p}")))
                .collect(),
            ..placeholders::Context::default()
        };
        for d in &target.dependencies {
            let upstream = placeholders::expand(&d.upstream, &upstream_ctx).map_err(|source| {
                PlatformError::Template {
                    workload: format!("dependency {}", d.name),
                    field: "upstream".into(),
                    source,
                }
            })?;
            let info = proxies
                .create(ProxyConfig {
                    name: d.name.clone(),
                    listen: "127.0.0.1:0".into(),
                    upstream,
                    enabled: true,
                })
                .await
                .map_err(|e| PlatformError::Proxy(d.name.clone(), e))?;
            dependencies.insert(d.name.clone(), info.listen);
        }
        let template = placeholders::Context {
            firedrill: options.firedrill.display().to_string(),
            dependencies: dependencies.clone(),
            replicas: ports
                .iter()
                .map(|((w, i), p)| (format!("{w}.{i}"), format!("127.0.0.1:{p}")))
                .collect(),
            workloads: services
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            webhook: options.webhook.clone(),
            port: None,
            replica: None,
            experiment_dir: Some(options.experiment_dir().display().to_string()),
        };
        if let Some(dir) = &options.log_dir {
            std::fs::create_dir_all(dir).map_err(|e| PlatformError::Logs(dir.clone(), e))?;
        }
        // Everything is expanded before anything starts, so that a bad template leaves no
        // replica running.
        let mut plans = Vec::new();
        for w in &all_workloads {
            let mut replicas = Vec::new();
            for index in 0..w.replicas {
                let port = ports[&(w.name.clone(), index)];
                let mut ctx = template.clone();
                ctx.port = Some(port);
                ctx.replica = Some(index);
                let launch = replica::Launch {
                    argv: expand_all(&w.name, "command", w.command.iter().chain(&w.args), &ctx)?,
                    env: expand_env(w, port, index, &ctx)?,
                    log: options
                        .log_dir
                        .as_deref()
                        .map(|d| d.join(format!("{}-{index}.log", w.name))),
                    restart: w.restart.clone(),
                };
                let check = w
                    .readiness
                    .clone()
                    .unwrap_or_else(|| Readiness::Tcp(default_tcp_readiness()));
                let ready_command = match &check {
                    Readiness::Command(c) => Some(expand_all(
                        &w.name,
                        "readiness.command",
                        c.command.iter(),
                        &ctx,
                    )?),
                    _ => None,
                };
                replicas.push((
                    Arc::new(Replica::new(&w.name, index, port)),
                    launch,
                    check,
                    ready_command,
                ));
            }
            plans.push((w.name.clone(), replicas));
        }
        // The stack's folder is written last, once nothing else can fail, so that no
        // failure leaves it behind.
        let stack = stack_plan
            .map(|plan| plan.write(target, &ports, &template, options.log_dir.as_deref()))
            .transpose()?;

        let mut workloads = BTreeMap::new();
        for ((name, planned), listener) in plans.into_iter().zip(listeners) {
            let mut replicas = Vec::new();
            for (replica, launch, check, ready_command) in planned {
                tasks.spawn(replica::supervise(
                    replica.clone(),
                    launch,
                    events.clone(),
                    stop.child_token(),
                ));
                tasks.spawn(replica::watch_readiness(
                    replica.clone(),
                    check,
                    ready_command,
                    events.clone(),
                    stop.child_token(),
                ));
                replicas.push(replica);
            }
            tasks.spawn(service::serve(
                listener,
                replicas.clone(),
                stop.child_token(),
            ));
            workloads.insert(name, replicas);
        }
        Ok(Self {
            workloads,
            services,
            proxies,
            dependencies,
            template,
            experiment_dir: options.experiment_dir(),
            stack,
            stop,
            tasks,
        })
    }

    /// Waits until every replica is ready, or fails naming those that are not.
    pub async fn wait_ready(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
        log_dir: Option<&Path>,
    ) -> Result<(), PlatformError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let unready: Vec<String> = self
                .replicas()
                .filter(|r| !r.is_ready())
                .map(|r| r.id())
                .collect();
            if unready.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PlatformError::NotReady {
                    timeout,
                    replicas: unready.join(", "),
                    logs: log_dir.map_or_else(|| "nowhere".to_owned(), |d| d.display().to_string()),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(2)) => {}
                () = cancel.cancelled() => return Err(PlatformError::Cancelled),
            }
        }
        match (&self.stack, self.services.get(spec::STACK_PROMETHEUS)) {
            (Some(stack), Some(prometheus)) => {
                stack
                    .wait_ready(&prometheus.to_string(), deadline, timeout, cancel)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Every replica of every workload.
    pub fn replicas(&self) -> impl Iterator<Item = &Arc<Replica>> {
        self.workloads.values().flatten()
    }

    /// The replicas of one workload.
    pub fn workload(&self, name: &str) -> Option<&[Arc<Replica>]> {
        self.workloads.get(name).map(Vec::as_slice)
    }

    /// The service address of each workload.
    pub fn services(&self) -> &BTreeMap<String, SocketAddr> {
        &self.services
    }

    /// The fault proxies in front of the dependencies, by dependency name.
    pub fn proxies(&self) -> &ProxyRegistry {
        &self.proxies
    }

    /// The address of each dependency's proxy.
    pub fn dependencies(&self) -> &BTreeMap<String, String> {
        &self.dependencies
    }

    /// Values for the placeholders of probes and other run-wide strings.
    pub fn template(&self) -> &placeholders::Context {
        &self.template
    }

    /// The experiment file's folder, which relative honeytoken paths are relative to.
    pub fn experiment_dir(&self) -> &std::path::Path {
        &self.experiment_dir
    }

    /// Stops every replica (SIGCONT, SIGTERM, then SIGKILL) and the service addresses.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.proxies.shutdown().await;
        if let Some(stack) = &self.stack {
            stack.remove();
        }
    }
}

fn default_tcp_readiness() -> TcpReadiness {
    TcpReadiness {
        period: spec::Duration::from_millis(100),
        timeout: spec::Duration::from_millis(250),
        failure_threshold: 1,
    }
}

fn expand_all<'a>(
    workload: &str,
    field: &str,
    items: impl Iterator<Item = &'a String>,
    ctx: &placeholders::Context,
) -> Result<Vec<String>, PlatformError> {
    items
        .enumerate()
        .map(|(i, s)| {
            placeholders::expand(s, ctx).map_err(|source| PlatformError::Template {
                workload: workload.to_owned(),
                field: format!("{field}[{i}]"),
                source,
            })
        })
        .collect()
}

fn expand_env(
    w: &spec::Workload,
    port: u16,
    index: u32,
    ctx: &placeholders::Context,
) -> Result<Vec<(String, String)>, PlatformError> {
    let mut env = vec![
        ("PORT".to_owned(), port.to_string()),
        ("FIREDRILL_REPLICA".to_owned(), index.to_string()),
        ("FIREDRILL_WORKLOAD".to_owned(), w.name.clone()),
    ];
    for (name, addr) in &ctx.dependencies {
        env.push((dependency_env(name), addr.clone()));
    }
    for (k, v) in &w.env {
        let value = placeholders::expand(v, ctx).map_err(|source| PlatformError::Template {
            workload: w.name.clone(),
            field: format!("env.{k}"),
            source,
        })?;
        env.push((k.clone(), value));
    }
    Ok(env)
}

/// The environment variable that carries a dependency's proxy address:
/// `DEPENDENCY_` and the name in upper case with `-` as `_`.
pub fn dependency_env(name: &str) -> String {
    format!("DEPENDENCY_{}", name.to_uppercase().replace('-', "_"))
}

/// A port that was free a moment ago. The replica binds it itself, so there is a small
/// window in which another process could take it; a replica that fails to bind is
/// restarted by its policy and gets the same port again.
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}
