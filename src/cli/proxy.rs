//! `firedrill proxy [--config FILE] [--admin ADDR]`

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::proxy::{ConfiguredProxy, ProxyRegistry, api};

/// Arguments of `firedrill proxy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Proxies to create at start: a JSON array in the `POST /populate` format (Toxiproxy's
    /// `-config` file), each with an optional `toxics` list to add at once.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address of the admin API; port 0 picks a free one. The address is printed as
    /// `admin API on http://ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8474")]
    admin: SocketAddr,
}

/// Reads a config file, naming the file, the field path and the position on error.
pub(crate) fn load_config(path: &Path) -> Result<Vec<ConfiguredProxy>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut de = serde_json::Deserializer::from_slice(&text);
    let configs: Vec<ConfiguredProxy> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        format!(
            "{}:{}:{}: at {field}: {inner}",
            path.display(),
            inner.line(),
            inner.column()
        )
    })?;
    de.end().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(configs)
}

/// Runs `firedrill proxy` until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let configs = match args.config.as_deref().map(load_config).transpose() {
        Ok(configs) => configs.unwrap_or_default(),
        Err(message) => {
            say!("error: {message}");
            return Ok(ExitStatus::InvalidInput);
        }
    };
    let admin = match std::net::TcpListener::bind(args.admin) {
        Ok(listener) => listener,
        Err(err) => {
            say!(
                "error: cannot listen on {} for the admin API: {err}",
                args.admin
            );
            return Ok(ExitStatus::InvalidInput);
        }
    };
    admin
        .set_nonblocking(true)
        .context("cannot make the admin socket non-blocking")?;
    let local = admin
        .local_addr()
        .context("cannot read the admin address")?;
    // One thread: handing each chunk between worker threads cost more (wake-ups, futexes,
    // migrations) than the pumping itself, in latency and in throughput. No timer driver:
    // the proxy keeps time with timerfds (`proxy::timer`), and the driver's bookkeeping on
    // every wake-up was an eighth of the proxy's instructions per round trip.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let registry = ProxyRegistry::new();
        let (proxies, toxics): (Vec<_>, Vec<_>) =
            configs.into_iter().map(ConfiguredProxy::split).unzip();
        let populated = async {
            let names: Vec<String> = proxies.iter().map(|p| p.name.clone()).collect();
            registry.populate(proxies).await?;
            for (name, toxics) in names.iter().zip(toxics) {
                for t in toxics {
                    registry.add_toxic(name, t)?;
                }
            }
            Ok::<(), crate::proxy::ProxyError>(())
        };
        if let Err(err) = populated.await {
            let file = args.config.as_deref().unwrap_or(Path::new("-"));
            say!("error: {}: {err}", file.display());
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                say!("  caused by: {cause}");
                source = cause.source();
            }
            registry.shutdown().await;
            return Ok(ExitStatus::InvalidInput);
        }
        let listener =
            tokio::net::TcpListener::from_std(admin).context("cannot register the admin socket")?;
        let stop = CancellationToken::new();
        let signals = super::shutdown_signals(stop.clone())?;
        println!("admin API on http://{local}");
        for p in registry.list() {
            println!(
                "proxy {} listening on {} for {}",
                p.name, p.listen, p.upstream
            );
            for t in &p.toxics {
                println!("proxy {} toxic {} ({})", p.name, t.name, t.kind.type_name());
            }
        }
        let served = api::serve(registry.clone(), listener, stop.clone().cancelled_owned()).await;
        signals.abort();
        registry.shutdown().await;
        served.context("the admin API stopped")?;
        Ok(ExitStatus::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_file_field_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"[{"name": "a", "upstream": 5}]"#).unwrap();
        let err = load_config(&path).unwrap_err();
        assert!(err.contains("c.json:1:"), "{err}");
        assert!(err.contains("at [0].upstream"), "{err}");
        std::fs::write(&path, r#"[{"name": "a", "upstream": "x:1", "extra": 1}]"#).unwrap();
        assert!(load_config(&path).unwrap_err().contains("extra"));
    }

    #[test]
    fn the_config_a_cluster_proxy_fault_writes_loads_with_its_toxics() {
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
            "spec": {"selector": {"app": "db"}, "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "admin", "port": 9000}]}
        }))
        .unwrap();
        let ports = crate::fault::proxied_ports(&svc, &[80]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.json");
        use crate::fault::DependencyChange as D;
        fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
            serde_saphyr::from_str(text).unwrap()
        }
        for (fault, spec) in [
            (
                "latency",
                D::Latency(parse(
                    "{name: slow, dependency: db, latency: 80ms, jitter: 5ms, duration: 1s}",
                )),
            ),
            (
                "per request",
                D::Latency(parse(
                    "{name: slow, dependency: db, latency: 80ms, perRequest: true, duration: 1s}",
                )),
            ),
            (
                "errors",
                D::Errors(parse(
                    "{name: err, dependency: db, rate: 0.5, duration: 1s}",
                )),
            ),
            (
                "blackhole",
                D::Outage(parse(
                    "{name: out, dependency: db, mode: blackhole, duration: 1s}",
                )),
            ),
            (
                "refuse",
                D::Outage(parse("{name: out, dependency: db, duration: 1s}")),
            ),
            (
                "bandwidth",
                D::Bandwidth(parse(
                    "{name: thin, dependency: db, rateKbps: 10, duration: 1s}",
                )),
            ),
        ] {
            let file = crate::fault::proxy_file(&spec, &ports, "db-firedrill-upstream.shop.svc");
            std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
            let loaded = load_config(&path).unwrap_or_else(|e| panic!("{fault}: {e}"));
            assert_eq!(loaded, file, "{fault}");
            assert_eq!(loaded[0].listen, "0.0.0.0:8080");
            assert_eq!(loaded[0].upstream, "db-firedrill-upstream.shop.svc:80");
            assert!(loaded[1].toxics.is_empty() && loaded[1].enabled);
        }
    }
}
