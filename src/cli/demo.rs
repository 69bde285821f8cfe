//! `firedrill demo serve --port PORT`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use reqwest::Url;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::demo::{self, DemoConfig};

/// How long requests in flight may take to finish after SIGTERM or SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Arguments of `firedrill demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Serve the demo workload: GET /health, /api and /metrics; POST /inbox.
    Serve(ServeArgs),
    /// Watch demo replicas as a monitoring stack would: scrape their /metrics, and post
    /// TargetDown and HighErrorRate alerts to a webhook in Alertmanager's format.
    Monitor(MonitorArgs),
}

#[derive(Debug, clap::Args)]
struct MonitorArgs {
    /// A port on 127.0.0.1 where GET /health answers `ok` while the monitor runs, for a
    /// readiness check; printed as `listening on ADDR`.
    #[arg(long)]
    port: Option<u16>,
    /// Where alerts are posted (an experiment passes `{webhook}`).
    #[arg(long, value_name = "URL")]
    webhook: Url,
    /// A target as NAME=URL of its /metrics, such as
    /// `web-0=http://{replica.web.0}/metrics` (repeatable).
    #[arg(long = "target", value_name = "NAME=URL", required = true, value_parser = parse_target)]
    targets: Vec<(String, Url)>,
    /// Time between scrapes.
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// How long a scrape may take before the target counts as down.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// How long a target must stay down before TargetDown fires.
    #[arg(long = "for", default_value = "500ms", value_parser = humantime::parse_duration)]
    down_for: Duration,
    /// Share of failed API requests at which HighErrorRate fires, from 0.0 to 1.0.
    #[arg(long, default_value_t = 0.2, value_parser = parse_error_rate)]
    error_ratio: f64,
    /// Span over which the error ratio is computed.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    window: Duration,
}

fn parse_target(s: &str) -> Result<(String, Url), String> {
    let (name, url) = s
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| format!("{s:?} is not NAME=URL"))?;
    let url = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("{url} is not a plain http:// URL"));
    }
    Ok((name.to_owned(), url))
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Port to listen on; 0 picks a free one. The address is printed as `listening on ADDR`.
    #[arg(long, env = "PORT")]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// URL that GET /api calls before answering (plain http, 1s timeout).
    #[arg(long, value_name = "URL")]
    upstream: Option<Url>,
    /// Service name reported by GET /api.
    #[arg(long, default_value = "demo")]
    name: String,
    /// Replica index reported by GET /api.
    #[arg(long, env = "FIREDRILL_REPLICA")]
    replica: Option<String>,
    /// Fixed delay added to every GET /api, such as 5ms.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Share of GET /api requests answered 500, from 0.0 to 1.0 (every k-th request, not random).
    #[arg(long, default_value_t = 0.0, value_parser = parse_error_rate)]
    error_rate: f64,
    /// A honeytoken file whose reads are counted in firedrill_demo_honeytoken_reads_total
    /// (its folder must exist; the file need not).
    #[arg(long, value_name = "PATH")]
    honeytoken: Option<std::path::PathBuf>,
}

fn parse_error_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0.0 and 1.0"))
    }
}

/// Binds `addr`; says why not (a taken port, say) when it cannot.
fn listen(addr: SocketAddr) -> Option<std::net::TcpListener> {
    std::net::TcpListener::bind(addr)
        .inspect_err(|err| say!("error: cannot listen on {addr}: {err}"))
        .ok()
}

/// Runs `firedrill demo`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        DemoCommand::Serve(args) => serve(args),
        DemoCommand::Monitor(args) => monitor(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitStatus> {
    let addr = SocketAddr::new(args.host, args.port);
    // The port first: a replica is ready as soon as it listens, and a taken port fails at once.
    let Some(listener) = listen(addr) else {
        return Ok(ExitStatus::InvalidInput);
    };
    let config = DemoConfig {
        name: args.name,
        replica: args.replica,
        upstream: args.upstream,
        latency: args.latency,
        error_rate: args.error_rate,
        honeytoken: args.honeytoken,
    };
    if let Err(err) = config.validate() {
        say!("error: {err}");
        return Ok(ExitStatus::InvalidInput);
    }
    listener
        .set_nonblocking(true)
        .context("cannot make the listening socket non-blocking")?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .context("cannot register the listening socket")?;
        let stop = CancellationToken::new();
        // Installed before the address is printed, so a signal sent right after it is handled.
        let signals = super::shutdown_signals(stop.clone())?;
        println!("listening on {local}");
        let server = demo::serve(listener, config, stop.clone().cancelled_owned());
        let deadline = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let result = tokio::select! {
            result = server => result.context("the demo workload stopped"),
            () = deadline => {
                say!(
                    "warning: requests still in flight {} after the signal; stopping anyway",
                    humantime::format_duration(SHUTDOWN_GRACE)
                );
                Ok(())
            }
        };
        signals.abort();
        result.map(|()| ExitStatus::Success)
    })
}

fn monitor(args: MonitorArgs) -> anyhow::Result<ExitStatus> {
    if args.interval.is_zero() || args.timeout.is_zero() {
        say!("error: --interval and --timeout must be more than 0s");
        return Ok(ExitStatus::InvalidInput);
    }
    let config = demo::monitor::MonitorConfig {
        targets: args.targets,
        webhook: args.webhook,
        interval: args.interval,
        timeout: args.timeout,
        down_for: args.down_for,
        error_ratio: args.error_ratio,
        window: args.window,
    };
    let listener = match args.port {
        None => None,
        Some(port) => match listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)) {
            Some(listener) => Some(listener),
            None => return Ok(ExitStatus::InvalidInput),
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        let signals = super::shutdown_signals(stop.clone())?;
        if let Some(listener) = listener {
            listener
                .set_nonblocking(true)
                .context("cannot make the listening socket non-blocking")?;
            let local = listener
                .local_addr()
                .context("cannot read the listening address")?;
            let listener = tokio::net::TcpListener::from_std(listener)
                .context("cannot register the listening socket")?;
            let health =
                axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
            let until = stop.clone().cancelled_owned();
            // Health checks send no body.
            let limits = crate::listener::Limits::new(0);
            tokio::spawn(async move {
                if let Err(error) = crate::listener::serve(listener, health, limits, until).await {
                    say!("warning: the health port stopped: {error}");
                }
            });
            println!("listening on {local}");
        }
        println!("monitoring {} target(s)", config.targets.len());
        let result = demo::monitor::run(config, stop.cancelled_owned())
            .await
            .context("the demo monitor stopped");
        signals.abort();
        result.map(|()| ExitStatus::Success)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::super::{Cli, Command};
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let cli = Cli::try_parse_from(["firedrill", "demo"].iter().chain(args))?;
        match cli.command {
            Command::Demo(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn demo_serve_parses_every_flag() {
        let args = parse(&[
            "serve",
            "--port",
            "0",
            "--upstream",
            "http://127.0.0.1:9/api",
            "--name",
            "checkout",
            "--latency",
            "5ms",
            "--error-rate",
            "0.2",
        ])
        .unwrap();
        let DemoCommand::Serve(serve) = args.command else {
            panic!("not serve: {:?}", args.command);
        };
        assert_eq!(serve.port, 0);
        assert_eq!(serve.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(serve.name, "checkout");
        assert_eq!(serve.latency, Duration::from_millis(5));
        assert_eq!(serve.error_rate, 0.2);
        assert_eq!(serve.upstream.unwrap().as_str(), "http://127.0.0.1:9/api");
    }

    #[test]
    fn demo_serve_rejects_bad_values() {
        for bad in [
            &["serve", "--port", "70000"][..],
            &["serve", "--port", "0", "--error-rate", "1.5"],
            &["serve", "--port", "0", "--error-rate", "NaN"],
            &["serve", "--port", "0", "--latency", "soon"],
            &["serve", "--port", "0", "--upstream", "not a url"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn demo_monitor_takes_its_targets_and_rejects_bad_ones() {
        let args = parse(&[
            "monitor",
            "--webhook",
            "http://127.0.0.1:9/alerts",
            "--target",
            "web-0=http://127.0.0.1:8000/metrics",
            "--target",
            "web-1=http://127.0.0.1:8001/metrics",
            "--for",
            "1s",
        ])
        .unwrap();
        let DemoCommand::Monitor(monitor) = args.command else {
            panic!("not monitor: {:?}", args.command);
        };
        assert_eq!(monitor.targets.len(), 2);
        assert_eq!(monitor.targets[1].0, "web-1");
        assert_eq!(monitor.down_for, Duration::from_secs(1));
        assert_eq!(monitor.interval, Duration::from_millis(250));
        for bad in [
            &["monitor", "--webhook", "http://127.0.0.1:9/alerts"][..],
            &[
                "monitor",
                "--webhook",
                "http://x/a",
                "--target",
                "http://127.0.0.1:1/metrics",
            ],
            &[
                "monitor",
                "--webhook",
                "http://x/a",
                "--target",
                "=http://127.0.0.1:1/m",
            ],
            &[
                "monitor",
                "--webhook",
                "http://x/a",
                "--target",
                "a=https://127.0.0.1:1/m",
            ],
            &[
                "monitor",
                "--webhook",
                "http://x/a",
                "--target",
                "a=http://h/m",
                "--error-ratio",
                "2",
            ],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn demo_serve_exits_2_when_the_port_is_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let args = parse(&["serve", "--port", &port]).unwrap();
        assert_eq!(run(args).unwrap(), ExitStatus::InvalidInput);
    }

    #[test]
    fn demo_serve_exits_2_for_an_https_upstream() {
        let args = parse(&["serve", "--port", "0", "--upstream", "https://127.0.0.1:9/"]).unwrap();
        assert_eq!(run(args).unwrap(), ExitStatus::InvalidInput);
    }
}
