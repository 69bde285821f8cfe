//! The built-in demo workload: a small HTTP service that experiments run as replicas.
//!
//! `GET /health` answers `ok`, `GET /api` answers JSON (optionally after calling an upstream),
//! `GET /metrics` answers Prometheus text, `POST /inbox` takes any body (a notification
//! draft, say) and prints it. `--latency` and `--error-rate` make it misbehave on
//! purpose, deterministically. For security drills it counts requests that carry the
//! canary header, and with `--honeytoken` the reads of a honeytoken file.

mod honeytoken;
mod injection;
mod metrics;
pub mod monitor;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reqwest::Url;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use injection::ErrorInjector;
use metrics::{Metrics, PathLabel};

/// How long the demo waits for its upstream, connection and body included.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest upstream body the demo embeds in its answer.
pub const MAX_UPSTREAM_BODY_BYTES: usize = 1024 * 1024;

/// The largest request body the workload takes: the inbox's drafts, under axum's own 2 MiB
/// default that applied before.
const MAX_REQUEST_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How long one request may take, upstream call included (see `serve`).
const DEMO_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What one demo server is and how it misbehaves.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// Service name reported by `/api`.
    pub name: String,
    /// Replica index reported by `/api` (the CLI takes it from `FIREDRILL_REPLICA`).
    pub replica: Option<String>,
    /// URL that `/api` calls with GET before answering.
    pub upstream: Option<Url>,
    /// Fixed delay added to every `/api` request.
    pub latency: Duration,
    /// Share of `/api` requests answered 500, in `0.0..=1.0`.
    pub error_rate: f64,
    /// A honeytoken file whose reads are counted; its folder must exist, the file need not.
    pub honeytoken: Option<std::path::PathBuf>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            name: "demo".to_owned(),
            replica: None,
            upstream: None,
            latency: Duration::ZERO,
            error_rate: 0.0,
            honeytoken: None,
        }
    }
}

impl DemoConfig {
    /// Checks the settings, returning the first problem.
    pub fn validate(&self) -> Result<(), DemoError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(DemoError::ErrorRate(self.error_rate));
        }
        if let Some(url) = &self.upstream {
            if url.scheme() != "http" {
                return Err(DemoError::UpstreamScheme(url.scheme().to_owned()));
            }
            // Credentials would end up in error messages and logs.
            if !url.username().is_empty() || url.password().is_some() {
                return Err(DemoError::UpstreamCredentials);
            }
            if url.host().is_none() {
                return Err(DemoError::UpstreamHost);
            }
        }
        if let Some(path) = &self.honeytoken {
            let folder = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => std::path::Path::new("."),
            };
            if path.file_name().is_none() || !folder.is_dir() {
                return Err(DemoError::HoneytokenFolder(path.clone()));
            }
        }
        Ok(())
    }
}

/// Why the demo workload could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// `--error-rate` outside `0.0..=1.0`.
    #[error("error rate {0} is not between 0.0 and 1.0")]
    ErrorRate(f64),
    /// The upstream is not plain HTTP.
    #[error("upstream scheme {0:?} is not supported; use http")]
    UpstreamScheme(String),
    /// The upstream URL carries a user name or password.
    #[error("upstream url must not carry credentials")]
    UpstreamCredentials,
    /// The upstream URL has no host.
    #[error("upstream url has no host")]
    UpstreamHost,
    /// The HTTP client for the upstream could not be built.
    #[error("cannot build the http client for the upstream")]
    HttpClient(#[source] reqwest::Error),
    /// The honeytoken path names no file, or its folder does not exist.
    #[error("honeytoken {}: the path must name a file in a folder that exists", .0.display())]
    HoneytokenFolder(std::path::PathBuf),
    /// The honeytoken's folder cannot be watched.
    #[error("cannot watch the honeytoken {}", .0.display())]
    Honeytoken(std::path::PathBuf, #[source] std::io::Error),
    /// The server could not serve.
    #[error("the demo server failed")]
    Serve(#[source] crate::listener::ListenerError),
}

impl DemoError {
    /// Whether the user can fix this by changing the arguments.
    pub fn is_user_input(&self) -> bool {
        match self {
            Self::ErrorRate(_)
            | Self::UpstreamScheme(_)
            | Self::UpstreamCredentials
            | Self::UpstreamHost
            | Self::HoneytokenFolder(_) => true,
            Self::Honeytoken(..) | Self::HttpClient(_) | Self::Serve(_) => false,
        }
    }
}

/// Serves the demo workload on `listener` until `shutdown` completes, then finishes the
/// requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    config: DemoConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DemoError> {
    config.validate()?;
    let upstream = match config.upstream {
        None => None,
        Some(url) => {
            crate::tls::install_crypto_provider();
            let client = reqwest::Client::builder()
                .timeout(UPSTREAM_TIMEOUT)
                .build()
                .map_err(DemoError::HttpClient)?;
            Some(Upstream { url, client })
        }
    };
    let watch = match &config.honeytoken {
        None => None,
        Some(path) => Some(
            honeytoken::HoneytokenWatch::new(path)
                .map_err(|e| DemoError::Honeytoken(path.clone(), e))?,
        ),
    };
    let metrics = match watch {
        Some(_) => Metrics::new().watching_honeytoken(),
        None => Metrics::new(),
    };
    let state = Arc::new(AppState {
        name: config.name,
        replica: config.replica,
        upstream,
        latency: config.latency,
        injector: ErrorInjector::new(config.error_rate),
        metrics,
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, service = %state.name, "demo workload listening");
    }
    let watcher = watch.map(|watch| {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                match watch.reads().await {
                    Ok(n) => state.metrics.record_honeytoken_reads(n),
                    Err(error) => {
                        tracing::warn!(error = %error, "the honeytoken watch failed; reads are no longer counted");
                        return;
                    }
                }
            }
        })
    });
    // A request waits on the upstream, which a drill may slow down on purpose: a generous
    // request timeout, so the workload under test does not answer 408 of its own accord.
    let limits = crate::listener::Limits::new(MAX_REQUEST_BODY_BYTES)
        .with_request_timeout(DEMO_REQUEST_TIMEOUT);
    let served = crate::listener::serve(listener, router(state), limits, shutdown)
        .await
        .map_err(DemoError::Serve);
    if let Some(w) = watcher {
        w.abort();
    }
    served
}

struct Upstream {
    url: Url,
    client: reqwest::Client,
}

struct AppState {
    name: String,
    replica: Option<String>,
    upstream: Option<Upstream>,
    latency: Duration,
    injector: ErrorInjector,
    metrics: Metrics,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api", get(api))
        .route("/metrics", get(metrics_text))
        .route("/inbox", post(inbox))
        .fallback(not_found)
        // Outermost, so that 404 and 405 answers are counted too.
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

async fn count_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = PathLabel::of(req.uri().path());
    if req.headers().contains_key(crate::fault::CANARY_HEADER) {
        state.metrics.record_canary();
    }
    let response = next.run(req).await;
    state.metrics.record(path, response.status());
    response
}

async fn health() -> &'static str {
    "ok"
}

/// Stands for whoever receives a drill's notifications: prints what arrived to standard
/// output (the replica's log) and answers 202.
async fn inbox(body: axum::body::Bytes) -> (StatusCode, axum::Json<Value>) {
    println!(
        "inbox: received {} bytes: {}",
        body.len(),
        String::from_utf8_lossy(&body)
    );
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "received": body.len() })),
    )
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn api(State(state): State<Arc<AppState>>) -> Response {
    // Decided on arrival so that the failing requests follow arrival order.
    let fail = state.injector.should_fail();
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    if fail {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": "injected error", "service": state.name })),
        )
            .into_response();
    }
    let upstream = match &state.upstream {
        None => Value::Null,
        Some(upstream) => match call_upstream(upstream).await {
            Ok((status, body)) => json!({
                "url": upstream.url.as_str(),
                "status": status,
                "body": body,
            }),
            Err(error) => {
                state.metrics.record_upstream_error();
                tracing::warn!(upstream = %upstream.url, error = %error, "upstream call failed");
                return (
                    StatusCode::BAD_GATEWAY,
                    axum::Json(json!({
                        "error": error.to_string(),
                        "service": state.name,
                        "upstream": upstream.url.as_str(),
                    })),
                )
                    .into_response();
            }
        },
    };
    axum::Json(json!({
        "service": state.name,
        "replica": state.replica,
        "pid": std::process::id(),
        "upstream": upstream,
    }))
    .into_response()
}

/// Why a call to the upstream did not give a usable answer.
#[derive(Debug, thiserror::Error)]
enum UpstreamError {
    #[error(
        "upstream did not answer within {}",
        humantime::format_duration(UPSTREAM_TIMEOUT)
    )]
    Timeout,
    #[error("upstream request failed: {0}")]
    Request(String),
    #[error("upstream answered {0}")]
    Status(StatusCode),
    #[error("upstream body is larger than {MAX_UPSTREAM_BODY_BYTES} bytes")]
    TooLarge,
}

impl From<reqwest::Error> for UpstreamError {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        // reqwest's own message is generic; the cause chain says what went wrong.
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Request(message)
    }
}

/// Calls the upstream; returns its status and its body as JSON, or as a string when it is not JSON.
async fn call_upstream(upstream: &Upstream) -> Result<(u16, Value), UpstreamError> {
    let mut response = upstream.client.get(upstream.url.clone()).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(UpstreamError::Status(status));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_UPSTREAM_BODY_BYTES as u64)
    {
        return Err(UpstreamError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY_BYTES {
            return Err(UpstreamError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok((status.as_u16(), body))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::metrics::tests::{parse_exposition, value};
    use super::*;

    /// A demo server on 127.0.0.1 port 0, stopped when dropped or by `stop`.
    struct Running {
        addr: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<Result<(), DemoError>>,
    }

    impl Running {
        async fn start(config: DemoConfig) -> Self {
            crate::tls::install_crypto_provider();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, config, async {
                let _ = stopped.await;
            }));
            Self {
                addr,
                stop: Some(stop),
                task,
            }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }

        async fn stop(mut self) -> Result<(), DemoError> {
            let _ = self.stop.take().unwrap().send(());
            tokio::time::timeout(Duration::from_secs(10), &mut self.task)
                .await
                .expect("server did not stop within 10s")
                .unwrap()
        }
    }

    async fn get(url: &str) -> (StatusCode, String, Option<String>) {
        let response = reqwest::get(url).await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.text().await.unwrap(), content_type)
    }

    async fn get_json(url: &str) -> (StatusCode, Value) {
        let (status, body, _) = get(url).await;
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, json)
    }

    #[tokio::test]
    async fn health_answers_ok() {
        let server = Running::start(DemoConfig::default()).await;
        let (status, body, _) = get(&server.url("/health")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn api_reports_service_replica_and_pid() {
        let server = Running::start(DemoConfig {
            name: "checkout".into(),
            replica: Some("2".into()),
            ..DemoConfig::default()
        })
        .await;
        let (status, json) = get_json(&server.url("/api")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["service"], "checkout");
        assert_eq!(json["replica"], "2");
        assert_eq!(json["pid"], std::process::id());
        assert_eq!(json["upstream"], Value::Null);
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn api_without_replica_reports_null() {
        let server = Running::start(DemoConfig::default()).await;
        let (_, json) = get_json(&server.url("/api")).await;
        assert_eq!(json["replica"], Value::Null);
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn unknown_path_is_404_and_wrong_method_is_405() {
        let server = Running::start(DemoConfig::default()).await;
        let (status, _, _) = get(&server.url("/nope")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let response = reqwest::Client::new()
            .post(server.url("/api"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405);
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn inbox_takes_a_post_with_202() {
        let server = Running::start(DemoConfig::default()).await;
        let response = reqwest::Client::new()
            .post(server.url("/inbox"))
            .body(r#"{"exercise": true}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let json: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(json["received"], 18);
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn api_embeds_the_upstream_body() {
        let backend = Running::start(DemoConfig {
            name: "backend".into(),
            replica: Some("0".into()),
            ..DemoConfig::default()
        })
        .await;
        let upstream: Url = backend.url("/api").parse().unwrap();
        let frontend = Running::start(DemoConfig {
            name: "frontend".into(),
            upstream: Some(upstream.clone()),
            ..DemoConfig::default()
        })
        .await;
        let (status, json) = get_json(&frontend.url("/api")).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["service"], "frontend");
        assert_eq!(json["upstream"]["url"], upstream.as_str());
        assert_eq!(json["upstream"]["status"], 200);
        assert_eq!(json["upstream"]["body"]["service"], "backend");
        assert_eq!(json["upstream"]["body"]["replica"], "0");

        // A plain-text upstream body is embedded as a string.
        let text = Running::start(DemoConfig {
            upstream: Some(backend.url("/health").parse().unwrap()),
            ..DemoConfig::default()
        })
        .await;
        let (status, json) = get_json(&text.url("/api")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["upstream"]["body"], "ok");

        text.stop().await.unwrap();
        frontend.stop().await.unwrap();
        backend.stop().await.unwrap();
    }

    #[tokio::test]
    async fn api_answers_502_when_the_upstream_fails_and_counts_it() {
        let backend = Running::start(DemoConfig {
            error_rate: 1.0,
            ..DemoConfig::default()
        })
        .await;
        let frontend = Running::start(DemoConfig {
            upstream: Some(backend.url("/api").parse().unwrap()),
            ..DemoConfig::default()
        })
        .await;
        let (status, json) = get_json(&frontend.url("/api")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(json["error"], "upstream answered 500 Internal Server Error");

        // A 404 from the upstream is not a success either.
        let lost = Running::start(DemoConfig {
            upstream: Some(backend.url("/missing").parse().unwrap()),
            ..DemoConfig::default()
        })
        .await;
        let (status, _) = get_json(&lost.url("/api")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);

        let (_, text, _) = get(&frontend.url("/metrics")).await;
        let samples = parse_exposition(&text).unwrap();
        assert_eq!(
            value(&samples, "firedrill_demo_upstream_errors_total", &[]),
            Some(1.0)
        );
        assert_eq!(
            value(
                &samples,
                "firedrill_demo_requests_total",
                &[("path", "/api"), ("code", "502")]
            ),
            Some(1.0)
        );
        lost.stop().await.unwrap();
        frontend.stop().await.unwrap();
        backend.stop().await.unwrap();
    }

    #[tokio::test]
    async fn api_answers_502_when_the_upstream_does_not_answer_in_time() {
        let slow = Running::start(DemoConfig {
            latency: UPSTREAM_TIMEOUT * 3,
            ..DemoConfig::default()
        })
        .await;
        let frontend = Running::start(DemoConfig {
            upstream: Some(slow.url("/api").parse().unwrap()),
            ..DemoConfig::default()
        })
        .await;
        let (status, json) = get_json(&frontend.url("/api")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(json["error"], "upstream did not answer within 1s");
        frontend.stop().await.unwrap();
        // The slow request is still in flight; dropping the task is enough here.
        slow.task.abort();
    }

    #[tokio::test]
    async fn error_rate_fails_every_kth_request() {
        let server = Running::start(DemoConfig {
            error_rate: 0.25,
            ..DemoConfig::default()
        })
        .await;
        let mut codes = Vec::new();
        for _ in 0..8 {
            codes.push(get(&server.url("/api")).await.0.as_u16());
        }
        assert_eq!(codes, [200, 200, 200, 500, 200, 200, 200, 500]);
        // Health and metrics are never failed on purpose.
        assert_eq!(get(&server.url("/health")).await.0, StatusCode::OK);
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn latency_delays_api_answers() {
        let latency = Duration::from_millis(120);
        let server = Running::start(DemoConfig {
            latency,
            ..DemoConfig::default()
        })
        .await;
        let start = Instant::now();
        assert_eq!(get(&server.url("/api")).await.0, StatusCode::OK);
        assert!(start.elapsed() >= latency, "{:?}", start.elapsed());
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn metrics_count_requests_and_parse_line_by_line() {
        let server = Running::start(DemoConfig {
            error_rate: 0.5,
            ..DemoConfig::default()
        })
        .await;
        for _ in 0..4 {
            get(&server.url("/api")).await;
        }
        get(&server.url("/health")).await;
        get(&server.url("/nope")).await;

        let (status, first, content_type) = get(&server.url("/metrics")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(metrics::CONTENT_TYPE));
        for line in first.lines() {
            assert!(
                line.starts_with("# HELP firedrill_demo_")
                    || line.starts_with("# TYPE firedrill_demo_")
                    || line.starts_with("firedrill_demo_"),
                "unexpected line {line:?}"
            );
        }
        let samples = parse_exposition(&first).unwrap();
        let v = |labels: &[(&str, &str)]| value(&samples, "firedrill_demo_requests_total", labels);
        assert_eq!(v(&[("path", "/api"), ("code", "200")]), Some(2.0));
        assert_eq!(v(&[("path", "/api"), ("code", "500")]), Some(2.0));
        assert_eq!(v(&[("path", "/health"), ("code", "200")]), Some(1.0));
        assert_eq!(v(&[("path", "other"), ("code", "404")]), Some(1.0));
        assert_eq!(
            value(&samples, "firedrill_demo_errors_total", &[("path", "/api")]),
            Some(2.0)
        );
        assert_eq!(value(&samples, "firedrill_demo_up", &[]), Some(1.0));

        // The first scrape is itself counted once it has been answered.
        get(&server.url("/api")).await;
        let (_, second, _) = get(&server.url("/metrics")).await;
        let samples = parse_exposition(&second).unwrap();
        let v = |labels: &[(&str, &str)]| value(&samples, "firedrill_demo_requests_total", labels);
        assert_eq!(v(&[("path", "/api"), ("code", "200")]), Some(3.0));
        assert_eq!(v(&[("path", "/metrics"), ("code", "200")]), Some(1.0));
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn serve_rejects_an_invalid_config() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = DemoConfig {
            error_rate: 1.5,
            ..DemoConfig::default()
        };
        let err = serve(listener, config, std::future::pending())
            .await
            .unwrap_err();
        assert!(err.is_user_input());
        assert_eq!(err.to_string(), "error rate 1.5 is not between 0.0 and 1.0");
    }

    #[test]
    fn validate_rejects_bad_upstreams() {
        let with = |url: &str| DemoConfig {
            upstream: Some(url.parse().unwrap()),
            ..DemoConfig::default()
        };
        assert!(with("http://127.0.0.1:1/api").validate().is_ok());
        assert!(matches!(
            with("https://example.test/").validate(),
            Err(DemoError::UpstreamScheme(_))
        ));
        assert!(matches!(
            with("http://user:secret@127.0.0.1:1/").validate(),
            Err(DemoError::UpstreamCredentials)
        ));
    }

    async fn metric(server: &Running, name: &str) -> Option<f64> {
        let (_, text, _) = get(&server.url("/metrics")).await;
        value(&parse_exposition(&text).unwrap(), name, &[])
    }

    #[tokio::test]
    async fn requests_with_the_canary_header_are_counted() {
        let server = Running::start(DemoConfig::default()).await;
        let client = reqwest::Client::new();
        for path in ["/admin/.env", "/api"] {
            let response = client
                .get(server.url(path))
                .header(crate::fault::CANARY_HEADER, "firedrill-canary: test")
                .send()
                .await
                .unwrap();
            assert!(response.status().as_u16() < 500);
        }
        // Requests without the header are not.
        get(&server.url("/api")).await;
        assert_eq!(
            metric(&server, "firedrill_demo_canary_requests_total").await,
            Some(2.0)
        );
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn reads_of_the_honeytoken_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("firedrill-canary-token");
        let server = Running::start(DemoConfig {
            honeytoken: Some(path.clone()),
            ..DemoConfig::default()
        })
        .await;
        // The watch is in place once the server answers: it starts before the listener.
        get(&server.url("/health")).await;
        std::fs::write(&path, "firedrill-canary").unwrap();
        for _ in 0..3 {
            std::fs::read(&path).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reads = metric(&server, "firedrill_demo_honeytoken_reads_total").await;
            if reads == Some(3.0) {
                break;
            }
            assert!(Instant::now() < deadline, "reads counted: {reads:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_honeytoken_in_a_missing_folder_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = DemoConfig {
            honeytoken: Some("/no/such/folder/token".into()),
            ..DemoConfig::default()
        };
        let err = serve(listener, config, std::future::pending())
            .await
            .unwrap_err();
        assert!(err.is_user_input());
        assert!(err.to_string().contains("/no/such/folder/token"), "{err}");
    }
}
