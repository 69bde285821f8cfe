//! The proxies of one process: create, change, toxics, enable and disable, shut down.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::pump::{self, ToxicSet};
use super::toxics::Judge;
use super::{
    ProxyConfig, ProxyError, ProxyInfo, ProxyUpdate, Stream, ToxicConfig, ToxicEntry, ToxicInfo,
    ToxicUpdate,
};

/// The proxies of one process. Cheap to clone; clones share the proxies. Dropping the last
/// clone stops every proxy.
#[derive(Clone, Default)]
pub struct ProxyRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ProxyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.list().into_iter().map(|p| p.name).collect();
        f.debug_struct("ProxyRegistry")
            .field("proxies", &names)
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    proxies: Mutex<BTreeMap<String, Arc<Cell>>>,
    next_id: AtomicU64,
    root: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.root.cancel();
    }
}

/// One proxy.
struct Cell {
    name: String,
    /// Listener start and stop, held across awaits so they do not interleave.
    life: tokio::sync::Mutex<Option<Running>>,
    meta: Mutex<Meta>,
    toxics: watch::Sender<ToxicSet>,
    stats: Arc<ProxyStats>,
}

/// What one proxy has carried, for `/metrics`. Relaxed atomics: one add per accepted
/// connection and per chunk written, read only when scraped.
#[derive(Debug, Default)]
pub(crate) struct ProxyStats {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    /// Bytes written to the upstream, and to clients.
    pub(crate) bytes_upstream: Arc<AtomicU64>,
    pub(crate) bytes_downstream: Arc<AtomicU64>,
}

/// Counts a connection as active while it lives.
pub(crate) struct ActiveConnection(Arc<ProxyStats>);

impl ActiveConnection {
    pub(crate) fn open(stats: &Arc<ProxyStats>) -> Self {
        stats.connections_total.fetch_add(1, Ordering::Relaxed);
        stats.connections_active.fetch_add(1, Ordering::Relaxed);
        Self(stats.clone())
    }
}

impl ActiveConnection {
    /// The proxy's counters.
    pub(crate) fn stats(&self) -> Arc<ProxyStats> {
        self.0.clone()
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Meta {
    listen: String,
    upstream: String,
    enabled: bool,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere never leaves these maps half-changed, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn check_name(name: &str) -> Result<(), ProxyError> {
    if name.is_empty() || name.len() > 256 || name.contains('/') {
        return Err(ProxyError::InvalidName(name.to_owned()));
    }
    Ok(())
}

fn check_config(config: &ProxyConfig) -> Result<(), ProxyError> {
    if config.name.is_empty() {
        return Err(ProxyError::MissingField("name"));
    }
    check_name(&config.name)?;
    if config.upstream.is_empty() {
        return Err(ProxyError::MissingField("upstream"));
    }
    Ok(())
}

/// Resolves a listen address; `:PORT` means every interface, as in Toxiproxy.
fn resolve(listen: &str) -> Result<SocketAddr, ProxyError> {
    let full = if listen.starts_with(':') {
        format!("0.0.0.0{listen}")
    } else {
        listen.to_owned()
    };
    let err = |source| ProxyError::Listen {
        addr: listen.to_owned(),
        source,
    };
    full.to_socket_addrs().map_err(err)?.next().ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        ))
    })
}

impl Cell {
    fn info(&self) -> ProxyInfo {
        let meta = lock(&self.meta);
        ProxyInfo {
            name: self.name.clone(),
            listen: meta.listen.clone(),
            upstream: meta.upstream.clone(),
            enabled: meta.enabled,
            toxics: self.toxics.borrow().iter().map(ToxicEntry::info).collect(),
        }
    }

    /// Binds the listen address and starts accepting; records the real address.
    fn start(self: &Arc<Self>, root: &CancellationToken) -> Result<Running, ProxyError> {
        let listen = lock(&self.meta).listen.clone();
        let addr = resolve(&listen)?;
        let err = |source| ProxyError::Listen {
            addr: listen.clone(),
            source,
        };
        let std_listener = std::net::TcpListener::bind(addr).map_err(err)?;
        std_listener.set_nonblocking(true).map_err(err)?;
        let listener = TcpListener::from_std(std_listener).map_err(err)?;
        let local = listener.local_addr().map_err(err)?;
        {
            let mut meta = lock(&self.meta);
            meta.listen = local.to_string();
            meta.enabled = true;
        }
        let stop = root.child_token();
        let task = tokio::spawn(accept_loop(listener, self.clone(), stop.clone()));
        tracing::debug!(proxy = %self.name, listen = %local, "proxy listening");
        Ok(Running { stop, task })
    }
}

async fn stop(running: Running) {
    running.stop.cancel();
    let _ = running.task.await;
}

async fn accept_loop(listener: TcpListener, cell: Arc<Cell>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((client, _)) => {
                let upstream = lock(&cell.meta).upstream.clone();
                tokio::spawn(pump::serve(
                    client,
                    upstream,
                    cell.toxics.subscribe(),
                    stop.child_token(),
                    ActiveConnection::open(&cell.stats),
                ));
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(proxy = %cell.name, error = %error, "cannot accept");
                let until = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = super::timer::sleep_until(until) => {}
                }
            }
        }
    }
}

impl ProxyRegistry {
    /// The proxies' metrics in the Prometheus text format: proxies, connections active and
    /// total, bytes per direction and toxics active, labelled by proxy.
    pub fn metrics(&self) -> String {
        let r = crate::telemetry::prometheus::Registry::new();
        r.gauge("firedrill_proxy_proxies", "Proxies defined");
        r.gauge(
            "firedrill_proxy_enabled",
            "Whether the proxy listens (1) or not (0)",
        );
        r.gauge(
            "firedrill_proxy_connections_active",
            "Client connections open now",
        );
        r.counter(
            "firedrill_proxy_connections_total",
            "Client connections accepted",
        );
        r.counter(
            "firedrill_proxy_bytes_total",
            "Bytes written, by direction: upstream (to the server) or downstream (to clients)",
        );
        r.gauge("firedrill_proxy_toxics_active", "Toxics set on the proxy");
        let cells: Vec<Arc<Cell>> = lock(&self.inner.proxies).values().cloned().collect();
        r.set("firedrill_proxy_proxies", &[], cells.len() as f64);
        for cell in cells {
            let p = [("proxy", cell.name.as_str())];
            let st = &cell.stats;
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
            r.set(
                "firedrill_proxy_enabled",
                &p,
                f64::from(u8::from(lock(&cell.meta).enabled)),
            );
            r.set(
                "firedrill_proxy_connections_active",
                &p,
                get(&st.connections_active),
            );
            r.inc_by(
                "firedrill_proxy_connections_total",
                &p,
                get(&st.connections_total),
            );
            for (dir, bytes) in [
                ("upstream", &st.bytes_upstream),
                ("downstream", &st.bytes_downstream),
            ] {
                r.inc_by(
                    "firedrill_proxy_bytes_total",
                    &[("proxy", cell.name.as_str()), ("direction", dir)],
                    get(bytes),
                );
            }
            r.set(
                "firedrill_proxy_toxics_active",
                &p,
                cell.toxics.borrow().len() as f64,
            );
        }
        r.render()
    }

    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self, name: &str) -> Result<Arc<Cell>, ProxyError> {
        lock(&self.inner.proxies)
            .get(name)
            .cloned()
            .ok_or_else(|| ProxyError::ProxyNotFound(name.to_owned()))
    }

    fn check_open(&self) -> Result<(), ProxyError> {
        if self.inner.root.is_cancelled() {
            return Err(ProxyError::ShutDown);
        }
        Ok(())
    }

    /// Creates a proxy and, when enabled, starts listening.
    pub async fn create(&self, config: ProxyConfig) -> Result<ProxyInfo, ProxyError> {
        self.check_open()?;
        check_config(&config)?;
        if lock(&self.inner.proxies).contains_key(&config.name) {
            return Err(ProxyError::ProxyAlreadyExists(config.name));
        }
        let cell = Arc::new(Cell {
            stats: Arc::default(),
            name: config.name.clone(),
            life: tokio::sync::Mutex::new(None),
            meta: Mutex::new(Meta {
                listen: config.listen,
                upstream: config.upstream,
                enabled: false,
            }),
            toxics: watch::Sender::new(Arc::new(Vec::new())),
        });
        let mut life = cell.life.lock().await;
        if config.enabled {
            *life = Some(cell.start(&self.inner.root)?);
        }
        let raced = {
            let mut proxies = lock(&self.inner.proxies);
            let raced = proxies.contains_key(&config.name);
            if !raced {
                proxies.insert(config.name.clone(), cell.clone());
            }
            raced
        };
        if raced {
            if let Some(running) = life.take() {
                stop(running).await;
            }
            return Err(ProxyError::ProxyAlreadyExists(config.name));
        }
        drop(life);
        Ok(cell.info())
    }

    /// Creates or replaces each proxy in turn, as `POST /populate`: a proxy with the same
    /// listen address and upstream is kept (with its toxics), only its `enabled` applied.
    pub async fn populate(&self, configs: Vec<ProxyConfig>) -> Result<Vec<ProxyInfo>, ProxyError> {
        self.check_open()?;
        for (i, c) in configs.iter().enumerate() {
            check_config(c)?;
            if configs[..i].iter().any(|o| o.name == c.name) {
                return Err(ProxyError::BadRequestBody(format!(
                    "proxy {:?} appears twice",
                    c.name
                )));
            }
        }
        let mut out = Vec::with_capacity(configs.len());
        for c in configs {
            let same = self.cell(&c.name).ok().map(|cell| {
                let meta = lock(&cell.meta);
                meta.upstream == c.upstream && (meta.listen == c.listen)
            });
            match same {
                Some(true) => {
                    out.push(
                        self.update(
                            &c.name,
                            ProxyUpdate {
                                enabled: Some(c.enabled),
                                ..ProxyUpdate::default()
                            },
                        )
                        .await?,
                    );
                }
                Some(false) => {
                    self.remove(&c.name).await?;
                    out.push(self.create(c).await?);
                }
                None => out.push(self.create(c).await?),
            }
        }
        Ok(out)
    }

    /// Every proxy, by name.
    pub fn list(&self) -> Vec<ProxyInfo> {
        let cells: Vec<_> = lock(&self.inner.proxies).values().cloned().collect();
        cells.iter().map(|c| c.info()).collect()
    }

    /// One proxy.
    pub fn get(&self, name: &str) -> Result<ProxyInfo, ProxyError> {
        Ok(self.cell(name)?.info())
    }

    /// Changes listen address, upstream or enabled. A new address or upstream restarts the
    /// proxy (closing its connections), as Toxiproxy does.
    pub async fn update(&self, name: &str, update: ProxyUpdate) -> Result<ProxyInfo, ProxyError> {
        self.check_open()?;
        let cell = self.cell(name)?;
        let mut life = cell.life.lock().await;
        // Removed while we waited for the lock: never start a listener for an orphan.
        if !self.cell(name).is_ok_and(|c| Arc::ptr_eq(&c, &cell)) {
            return Err(ProxyError::ProxyNotFound(name.to_owned()));
        }
        let (restart, enable) = {
            let mut meta = lock(&cell.meta);
            let mut restart = false;
            if let Some(listen) = update.listen.filter(|l| *l != meta.listen) {
                meta.listen = listen;
                restart = true;
            }
            if let Some(upstream) = update.upstream.filter(|u| *u != meta.upstream) {
                if upstream.is_empty() {
                    return Err(ProxyError::MissingField("upstream"));
                }
                meta.upstream = upstream;
                restart = true;
            }
            (restart, update.enabled.unwrap_or(meta.enabled))
        };
        if let Some(running) = life.take_if(|_| restart || !enable) {
            stop(running).await;
        }
        lock(&cell.meta).enabled = enable && life.is_some();
        if enable && life.is_none() {
            *life = Some(cell.start(&self.inner.root)?);
        }
        drop(life);
        Ok(cell.info())
    }

    /// Starts or stops listening; stopping closes every connection of the proxy.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyInfo, ProxyError> {
        self.update(
            name,
            ProxyUpdate {
                enabled: Some(enabled),
                ..ProxyUpdate::default()
            },
        )
        .await
    }

    /// Removes a proxy, closing its listener and connections.
    pub async fn remove(&self, name: &str) -> Result<(), ProxyError> {
        let cell = lock(&self.inner.proxies)
            .remove(name)
            .ok_or_else(|| ProxyError::ProxyNotFound(name.to_owned()))?;
        if let Some(running) = cell.life.lock().await.take() {
            stop(running).await;
        }
        Ok(())
    }

    /// Enables every proxy and removes every toxic, as `POST /reset`.
    pub async fn reset(&self) -> Result<(), ProxyError> {
        let cells: Vec<_> = lock(&self.inner.proxies).values().cloned().collect();
        let mut first_error = None;
        for cell in cells {
            cell.toxics.send_replace(Arc::new(Vec::new()));
            if let Err(e) = self.set_enabled(&cell.name, true).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Adds a toxic; it applies to live connections at once.
    pub fn add_toxic(&self, proxy: &str, config: ToxicConfig) -> Result<ToxicInfo, ProxyError> {
        let cell = self.cell(proxy)?;
        if !(0.0..=1.0).contains(&config.toxicity) {
            return Err(ProxyError::InvalidToxicity(config.toxicity));
        }
        if config.kind.is_http() && config.stream != Stream::Upstream {
            return Err(ProxyError::HttpToxicNeedsUpstream(config.kind.type_name()));
        }
        let name = config
            .name
            .unwrap_or_else(|| format!("{}_{}", config.kind.type_name(), config.stream.as_str()));
        check_name(&name)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let judge = Arc::new(Judge::for_toxic(proxy, &name));
        let entry = ToxicEntry {
            id,
            generation: id,
            name,
            stream: config.stream,
            toxicity: config.toxicity,
            kind: config.kind,
            judge,
        };
        let info = entry.info();
        let mut result = Ok(info);
        cell.toxics.send_if_modified(|set| {
            if set.iter().any(|t| t.name == entry.name) {
                result = Err(ProxyError::ToxicAlreadyExists(entry.name.clone()));
                return false;
            }
            let mut next = (**set).clone();
            next.push(entry.clone());
            *set = Arc::new(next);
            true
        });
        result
    }

    /// Changes a toxic's toxicity or attributes; live connections take the change at once.
    pub fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        update: ToxicUpdate,
    ) -> Result<ToxicInfo, ProxyError> {
        let cell = self.cell(proxy)?;
        if let Some(t) = update.toxicity
            && !(0.0..=1.0).contains(&t)
        {
            return Err(ProxyError::InvalidToxicity(t));
        }
        let generation = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut result = Err(ProxyError::ToxicNotFound(toxic.to_owned()));
        cell.toxics.send_if_modified(|set| {
            let Some(pos) = set.iter().position(|t| t.name == toxic) else {
                return false;
            };
            let mut entry = set[pos].clone();
            if let Some(kind) = &update.kind {
                if kind.type_name() != entry.kind.type_name() {
                    result = Err(ProxyError::BadAttributes {
                        path: "type".into(),
                        message: format!(
                            "a {} toxic cannot become {}",
                            entry.kind.type_name(),
                            kind.type_name()
                        ),
                    });
                    return false;
                }
                entry.kind = kind.clone();
            }
            if let Some(t) = update.toxicity {
                entry.toxicity = t;
            }
            entry.generation = generation;
            entry.judge = Arc::new(Judge::for_toxic(proxy, &entry.name));
            result = Ok(entry.info());
            let mut next = (**set).clone();
            next[pos] = entry;
            *set = Arc::new(next);
            true
        });
        result
    }

    /// Removes a toxic; held bytes flow on at once.
    pub fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ProxyError> {
        let cell = self.cell(proxy)?;
        let mut found = false;
        cell.toxics.send_if_modified(|set| {
            let Some(pos) = set.iter().position(|t| t.name == toxic) else {
                return false;
            };
            let mut next = (**set).clone();
            next.remove(pos);
            *set = Arc::new(next);
            found = true;
            true
        });
        if found {
            Ok(())
        } else {
            Err(ProxyError::ToxicNotFound(toxic.to_owned()))
        }
    }

    /// The toxics of a proxy, in the order they apply.
    pub fn toxics(&self, proxy: &str) -> Result<Vec<ToxicInfo>, ProxyError> {
        Ok(self.get(proxy)?.toxics)
    }

    /// One toxic.
    pub fn toxic(&self, proxy: &str, toxic: &str) -> Result<ToxicInfo, ProxyError> {
        self.toxics(proxy)?
            .into_iter()
            .find(|t| t.name == toxic)
            .ok_or_else(|| ProxyError::ToxicNotFound(toxic.to_owned()))
    }

    /// Stops every proxy and closes every connection; later calls that create fail.
    pub async fn shutdown(&self) {
        self.inner.root.cancel();
        let cells: Vec<_> = std::mem::take(&mut *lock(&self.inner.proxies))
            .into_values()
            .collect();
        for cell in cells {
            if let Some(running) = cell.life.lock().await.take() {
                stop(running).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt as _;

    use super::*;
    use crate::proxy::testutil::Harness;

    #[tokio::test]
    async fn port_zero_reports_the_real_port_and_names_are_unique() {
        let h = Harness::echo().await;
        let info = h.registry.get(&h.name).unwrap();
        assert!(!info.listen.ends_with(":0"));
        let again = h
            .registry
            .create(ProxyConfig {
                name: h.name.clone(),
                listen: "127.0.0.1:0".into(),
                upstream: "127.0.0.1:1".into(),
                enabled: true,
            })
            .await;
        assert!(matches!(again, Err(ProxyError::ProxyAlreadyExists(_))));
    }

    #[tokio::test]
    async fn disabling_closes_connections_and_enabling_listens_on_the_same_address() {
        let h = Harness::echo().await;
        let mut c = h.connect().await;
        c.round_trip(b"x").await;
        let before = h.registry.get(&h.name).unwrap().listen;
        h.registry.set_enabled(&h.name, false).await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), c.stream.read_to_end(&mut rest))
            .await
            .expect("connection closed on disable");
        assert!(tokio::net::TcpStream::connect(&before).await.is_err());
        let after = h.registry.set_enabled(&h.name, true).await.unwrap();
        assert_eq!(after.listen, before);
        let mut c = h.connect().await;
        c.round_trip(b"y").await;
    }

    #[tokio::test]
    async fn toxic_names_default_and_duplicates_conflict() {
        let h = Harness::echo().await;
        let cfg = ToxicConfig::new(
            Stream::Upstream,
            crate::proxy::ToxicKind::Latency(Default::default()),
        );
        assert_eq!(
            h.registry.add_toxic(&h.name, cfg.clone()).unwrap().name,
            "latency_upstream"
        );
        assert!(matches!(
            h.registry.add_toxic(&h.name, cfg),
            Err(ProxyError::ToxicAlreadyExists(_))
        ));
        assert!(matches!(
            h.registry.remove_toxic(&h.name, "nope"),
            Err(ProxyError::ToxicNotFound(_))
        ));
        h.registry.reset().await.unwrap();
        assert!(h.registry.toxics(&h.name).unwrap().is_empty());
    }
}
