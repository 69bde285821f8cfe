//! A receiver for Alertmanager's webhook (payload version 4), to time when an alert fires.
//!
//! `POST /alerts` (or `POST /`) takes the JSON that Alertmanager sends to a `webhook_config`;
//! every alert in it goes to the subscribers as a [`ReceivedAlert`], in payload order.
//! `POST /acknowledge/{role}` records a role's acknowledgement of the incident when the
//! experiment names roles (see docs/notifications.md). `GET /healthz` answers `ok`.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::notification::{
    AckBodyError, AckError, AckOutcome, AckRequest, Acknowledgement, Acknowledgements,
    MAX_ACK_BODY_BYTES,
};
use crate::response::{
    AnswerError, AnswerRequest, Desk, MAX_ANSWER_BODY_BYTES, Notice, NoticeKind, RoleView,
    render_role_page,
};

/// The largest payload accepted; Alertmanager's own payloads are far smaller.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A body up to this many times its limit is read to the end before a 413, so that the
/// client gets the answer instead of a reset connection; a larger declared body is refused
/// without reading it.
const DRAIN_FACTOR: usize = 4;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Alerts a slow subscriber may fall behind by before it sees `RecvError::Lagged`.
const CHANNEL_CAPACITY: usize = 1024;

/// How long `shutdown` waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Whether an alert is firing or has resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The alert is active.
    Firing,
    /// The alert has stopped.
    Resolved,
}

/// One alert as received, with the time it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedAlert {
    /// When the payload arrived, on the monotonic clock (for time to detect).
    pub received_at: Instant,
    /// When the payload arrived, in wall time (for the record).
    pub received_at_utc: SystemTime,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The alert's labels, such as `alertname`.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations; empty when the payload has none.
    pub annotations: BTreeMap<String, String>,
}

pub use crate::platform::prometheus::matches;

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bound address could not be read back.
    #[error("cannot read the address the webhook listens on")]
    LocalAddr(#[source] std::io::Error),
}

impl WebhookError {
    /// Whether the user can fix this by choosing another listen address.
    pub fn is_user_input(&self) -> bool {
        match self {
            Self::Bind { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::AddrInUse
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::PermissionDenied
            ),
            Self::LocalAddr(_) => false,
        }
    }
}

/// The running webhook receiver; it stops on [`WebhookServer::shutdown`] or when dropped.
#[derive(Debug)]
pub struct WebhookServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    sender: broadcast::Sender<ReceivedAlert>,
    received: AtomicU64,
    acks: Option<Arc<Acknowledgements>>,
    desk: Option<Arc<Desk>>,
    stop: Option<Arc<super::stop::StopButton>>,
}

/// What the listener serves besides alerts: the roles' acknowledgements and the response
/// desk's pages.
#[derive(Debug, Default)]
pub struct Desks {
    /// `POST /acknowledge/{role}`.
    pub acks: Option<Arc<Acknowledgements>>,
    /// `GET` and `POST /respond/{token}`.
    pub desk: Option<Arc<Desk>>,
    /// `GET` and `POST /stop/{token}`.
    pub stop: Option<Arc<super::stop::StopButton>>,
}

impl WebhookServer {
    /// Listens on `addr` (port 0 picks a free port) and serves in a background task.
    pub async fn bind(addr: SocketAddr) -> Result<WebhookServer, WebhookError> {
        Self::bind_with(addr, Desks::default()).await
    }

    /// [`WebhookServer::bind`], also serving the roles' acknowledgements and pages.
    pub async fn bind_with(addr: SocketAddr, desks: Desks) -> Result<WebhookServer, WebhookError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| WebhookError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(WebhookError::LocalAddr)?;
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let shared = Arc::new(Shared {
            sender,
            received: AtomicU64::new(0),
            acks: desks.acks,
            desk: desks.desk,
            stop: desks.stop,
        });
        let stop = CancellationToken::new();
        let app = router(shared.clone());
        let signal = stop.clone().cancelled_owned();
        // The handlers cap each body themselves and read up to DRAIN_FACTOR times the cap
        // to answer 413; the listener refuses a declared body beyond that unread.
        let limits = crate::listener::Limits::new(DRAIN_FACTOR * MAX_BODY_BYTES)
            .with_request_timeout(BODY_TIMEOUT + Duration::from_secs(5));
        let task = tokio::spawn(async move {
            if let Err(error) = crate::listener::serve(listener, app, limits, signal).await {
                tracing::error!(error = %error, "alert webhook stopped");
            }
        });
        tracing::info!(addr = %local_addr, "alert webhook listening");
        Ok(WebhookServer {
            local_addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The address the webhook listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL to give Alertmanager, such as `http://127.0.0.1:PORT/alerts`.
    pub fn url(&self) -> String {
        format!("{}/alerts", self.base_url())
    }

    /// Where `role` acknowledges: `http://127.0.0.1:PORT/acknowledge/ROLE`.
    pub fn acknowledge_url(&self, role: &str) -> String {
        format!("{}/acknowledge/{role}", self.base_url())
    }

    /// Where a role's link points, given its path from the desk.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    fn base_url(&self) -> String {
        // A wildcard address is not something to connect to; loopback reaches it.
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// A receiver of every alert that arrives from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedAlert> {
        self.shared.sender.subscribe()
    }

    /// How many alerts have arrived so far.
    pub fn alerts_received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Stops accepting, lets requests in flight finish (at most 5 s), and waits for the server.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            tracing::warn!("alert webhook requests still in flight after 5s; stopping anyway");
            task.abort();
        }
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/alerts", post(receive))
        .route("/", post(receive))
        .route("/acknowledge/{role}", post(acknowledge))
        .route("/respond/{token}", get(respond_page).post(respond_answer))
        .route("/stop/{token}", get(stop_page).post(stop_press))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { PayloadError::NotFound.into_response() })
        .with_state(shared)
}

/// Why a request was refused; each kind has its status code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PayloadError {
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error(
        "request body did not arrive within {}",
        humantime::format_duration(BODY_TIMEOUT)
    )]
    Timeout,
    #[error("cannot read the request body: {0}")]
    Unreadable(axum::Error),
    #[error("request body is not json: {0}")]
    Syntax(serde_json::Error),
    #[error("invalid alertmanager payload at {path}: {message}")]
    Shape { path: String, message: String },
    #[error("not found; post alerts to /alerts")]
    NotFound,
    #[error(transparent)]
    AckBody(AckBodyError),
    #[error(transparent)]
    Ack(AckError),
    #[error("this run names no roles to acknowledge (spec.coordination.roles)")]
    NoRoles,
}

impl PayloadError {
    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unreadable(_) | Self::Syntax(_) | Self::Shape { .. } | Self::AckBody(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound | Self::NoRoles | Self::Ack(AckError::UnknownRole { .. }) => {
                StatusCode::NOT_FOUND
            }
            Self::Ack(AckError::NothingYet) => StatusCode::CONFLICT,
        }
    }

    fn shape(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Shape {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl IntoResponse for PayloadError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.to_string() });
        if let Self::Shape { path, .. } = &self {
            body["path"] = Value::from(path.as_str());
        }
        (self.status(), axum::Json(body)).into_response()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let received_at = Instant::now();
    let received_at_utc = SystemTime::now();
    let alerts = match read_body(&headers, body, MAX_BODY_BYTES)
        .await
        .and_then(|b| parse(&b))
    {
        Ok(alerts) => alerts,
        Err(error) => {
            tracing::warn!(error = %error, "alert webhook refused a payload");
            return error.into_response();
        }
    };
    let count = alerts.len();
    for alert in alerts {
        shared.received.fetch_add(1, Ordering::Relaxed);
        // No subscriber is not an error: the alert is counted and dropped.
        let _ = shared.sender.send(ReceivedAlert {
            received_at,
            received_at_utc,
            status: alert.status,
            labels: alert.labels,
            annotations: alert.annotations.unwrap_or_default(),
        });
    }
    tracing::debug!(alerts = count, "alert webhook received a payload");
    axum::Json(json!({ "status": "ok", "alerts": count })).into_response()
}

/// Reads the body up to `limit` bytes, whatever its content type.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, PayloadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (DRAIN_FACTOR * limit) as u64) {
        return Err(PayloadError::TooLarge(limit));
    }
    tokio::time::timeout(BODY_TIMEOUT, read_capped(body, limit))
        .await
        .map_err(|_| PayloadError::Timeout)?
}

async fn read_capped(mut body: Body, limit: usize) -> Result<Vec<u8>, PayloadError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(PayloadError::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_FACTOR * limit {
            return Err(PayloadError::TooLarge(limit));
        }
        if seen <= limit {
            buf.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(PayloadError::TooLarge(limit));
    }
    Ok(buf)
}

/// `POST /acknowledge/{role}`: 202 for a role's first acknowledgement, 200 for a repeat
/// (the first stands), 404 for an unknown role, 409 before any detection, 400 for a
/// malformed body, 413 for a body over [`MAX_ACK_BODY_BYTES`].
async fn acknowledge(
    State(shared): State<Arc<Shared>>,
    Path(role): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let arrived = Instant::now();
    let outcome = async {
        let bytes = read_body(&headers, body, MAX_ACK_BODY_BYTES).await?;
        let acks = shared.acks.as_ref().ok_or(PayloadError::NoRoles)?;
        if !acks.roles().contains(&role) {
            // An unknown role is the first thing to say, whatever the body holds.
            return Err(PayloadError::Ack(AckError::UnknownRole {
                role: role.clone(),
                known: acks.roles().join(", "),
            }));
        }
        let request = AckRequest::parse(&bytes).map_err(PayloadError::AckBody)?;
        acks.acknowledge(&role, arrived, request)
            .map_err(PayloadError::Ack)
    }
    .await;
    match outcome {
        Ok(AckOutcome::First(ack)) => {
            tracing::info!(role = %ack.role, "acknowledged");
            (StatusCode::ACCEPTED, axum::Json(ack_body(&ack))).into_response()
        }
        Ok(AckOutcome::Repeat(ack)) => (StatusCode::OK, axum::Json(ack_body(&ack))).into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "acknowledgement refused");
            error.into_response()
        }
    }
}

fn ack_body(ack: &Acknowledgement) -> Value {
    json!({
        "role": ack.role,
        "acknowledgedAt": ack.acknowledged_at,
        "timeToAcknowledgeMs": crate::time::ms(ack.time_to_acknowledge),
        "by": ack.by,
        "note": ack.note,
    })
}

/// Security headers of a role's page: no caching (the page is the role's own), no framing,
/// no referrer (the URL carries the token), no script.
fn page_headers() -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ]
}

/// Whether the client asks for JSON rather than a page.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}

/// Whether the body is a form, as a browser sends it.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// An answer refused: JSON, or the page with the reason at the top.
fn refused(desk: &Desk, token: &str, json: bool, error: &AnswerError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    // The reason names no token: log it freely.
    tracing::warn!(error = %error, "an answer was refused");
    let page = (!json)
        .then(|| desk.view(token, Instant::now()).ok())
        .flatten();
    match page {
        Some(view) => page_response(
            status,
            &view,
            Some(&Notice {
                kind: NoticeKind::Refused,
                message: error.to_string(),
            }),
        ),
        None => (status, axum::Json(json!({ "error": error.to_string() }))).into_response(),
    }
}

fn page_response(status: StatusCode, view: &RoleView, notice: Option<&Notice>) -> Response {
    (
        status,
        page_headers(),
        axum::response::Html(render_role_page(view, notice)),
    )
        .into_response()
}

/// `GET /respond/{token}`: the role's page, or its JSON with `Accept: application/json`;
/// 404 for a token of no role, 410 once the run has ended.
async fn respond_page(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(desk) = shared.desk.as_ref() else {
        return PayloadError::NotFound.into_response();
    };
    match desk.view(&token, Instant::now()) {
        Ok(view) if wants_json(&headers) => (page_headers(), axum::Json(view)).into_response(),
        Ok(view) => page_response(StatusCode::OK, &view, None),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::NOT_FOUND);
            (status, axum::Json(json!({ "error": error.to_string() }))).into_response()
        }
    }
}

/// The stop page: one button, and what pressing it does. Nothing of the run is shown.
const STOP_PAGE: &str = "<!doctype html><html lang=en><head><meta charset=utf-8><title>Stop the drill</title></head><body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>Stop the drill</h1><p>Stopping ends the drill now: everything it injected is rolled back, and the run ends as aborted. Your name and reason are journaled.</p><form method=post><p><label>Your name <input name=by maxlength=200 required></label></p><p><label>Why <input name=reason maxlength=200></label></p><p><button type=submit>Stop the drill and roll back</button></p></form></body></html>";

const STOPPED_PAGE: &str = "<!doctype html><html lang=en><head><meta charset=utf-8><title>Stopping</title></head><body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>Stopping</h1><p>The drill is rolling back everything it injected. The journal records who asked, when and why.</p></body></html>";

/// The largest stop request body.
const MAX_STOP_BODY_BYTES: usize = 4 * 1024;

/// `GET /stop/{token}`: the stop page, for this run's token only.
async fn stop_page(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    match shared.stop.as_ref() {
        Some(button) if button.is_token(&token) => {
            (page_headers(), axum::response::Html(STOP_PAGE)).into_response()
        }
        _ => PayloadError::NotFound.into_response(),
    }
}

/// `POST /stop/{token}`: stops the run (JSON `{by, reason}` or the page's form); 202 once
/// the stop is under way, 404 for a wrong token, 410 after the run.
async fn stop_press(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(button) = shared.stop.as_ref() else {
        return PayloadError::NotFound.into_response();
    };
    if !button.is_token(&token) {
        return PayloadError::NotFound.into_response();
    }
    let form = is_form(&headers);
    let bytes = match read_body(&headers, body, MAX_STOP_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let parsed: Result<super::stop::PressBody, String> =
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(super::stop::PressBody::default())
        } else if form {
            serde_urlencoded::from_bytes(&bytes).map_err(|e| e.to_string())
        } else {
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        };
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"error": format!("not a stop request: {e}; send {{\"by\": NAME, \"reason\": TEXT}}")})),
            )
                .into_response();
        }
    };
    match button.press_with(&token, body, "the run's stop page") {
        Ok(_) if form && !wants_json(&headers) => (
            StatusCode::ACCEPTED,
            page_headers(),
            axum::response::Html(STOPPED_PAGE),
        )
            .into_response(),
        Ok(request) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"stopping": true, "by": request.by, "at": request.at})),
        )
            .into_response(),
        Err(super::stop::PressError::Ended) => (
            StatusCode::GONE,
            axum::Json(json!({"error": super::stop::PressError::Ended.to_string()})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `POST /respond/{token}`: records an answer, sent as JSON or as the page's form. 201
/// with the answer (JSON) or the page saying it was recorded; 4xx with the reason, and
/// nothing recorded, otherwise.
async fn respond_answer(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let arrived = Instant::now();
    let Some(desk) = shared.desk.as_ref() else {
        return PayloadError::NotFound.into_response();
    };
    let form = is_form(&headers);
    let json_reply = !form || wants_json(&headers);
    let bytes = match read_body(&headers, body, MAX_ANSWER_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let request = if form {
        AnswerRequest::from_form(&bytes)
    } else {
        AnswerRequest::from_json(&bytes)
    };
    let recorded = request.and_then(|r| desk.answer(&token, r, arrived));
    match recorded {
        Ok(answer) => {
            tracing::info!(role = %answer.role, point = %answer.point, "decision recorded");
            if json_reply {
                (
                    StatusCode::CREATED,
                    axum::Json(json!({
                        "point": answer.point,
                        "role": answer.role,
                        "answer": answer.answer,
                        "answeredAt": answer.answered_at,
                        "afterMs": crate::time::ms(answer.after),
                        "snapshot": answer.snapshot,
                        "journalSeq": answer.journal_seq,
                    })),
                )
                    .into_response()
            } else {
                match desk.view(&token, Instant::now()) {
                    Ok(view) => page_response(
                        StatusCode::CREATED,
                        &view,
                        Some(&Notice {
                            kind: NoticeKind::Recorded,
                            message: format!("Recorded: {} to {}.", answer.answer, answer.point),
                        }),
                    ),
                    Err(error) => refused(desk, &token, true, &error),
                }
            }
        }
        Err(error) => refused(desk, &token, json_reply, &error),
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    version: Option<Value>,
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
pub(crate) struct Alert {
    status: AlertStatus,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// Parses a payload; only `alerts` and each alert's `status` and `labels` are required.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Alert>, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(PayloadError::Syntax)?;
    // serde would also take arrays for structs; the payload and its alerts must be objects.
    if !value.is_object() {
        return Err(PayloadError::shape(".", "expected a json object"));
    }
    if let Some(alerts) = value.get("alerts").and_then(Value::as_array)
        && let Some(i) = alerts.iter().position(|a| !a.is_object())
    {
        return Err(PayloadError::shape(
            format!("alerts[{i}]"),
            "expected an alert object",
        ));
    }
    let payload: Payload = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        PayloadError::shape(path, e.into_inner().to_string())
    })?;
    if let Some(version) = payload.version.filter(|v| *v != "4") {
        tracing::warn!(%version, "alert webhook payload version is not 4; reading it as 4");
    }
    Ok(payload.alerts)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// An Alertmanager v4 webhook payload as Alertmanager 0.27 sends it.
    const SAMPLE: &str = r#"{
      "receiver": "firedrill",
      "status": "firing",
      "alerts": [
        {
          "status": "firing",
          "labels": {
            "alertname": "HighErrorRate",
            "job": "checkout",
            "severity": "page",
            "instance": "127.0.0.1:8081"
          },
          "annotations": {
            "summary": "checkout answers 5xx to more than 5% of requests",
            "runbook_url": "https://runbooks.example.test/checkout"
          },
          "startsAt": "2025-05-04T10:21:33.123Z",
          "endsAt": "0001-01-01T00:00:00Z",
          "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28x%5B1m%5D%29",
          "fingerprint": "c0ffee0123456789"
        },
        {
          "status": "resolved",
          "labels": { "alertname": "InstanceDown", "job": "checkout" },
          "annotations": {},
          "startsAt": "2025-05-04T10:11:00Z",
          "endsAt": "2025-05-04T10:20:00Z",
          "generatorURL": "http://prometheus:9090/graph",
          "fingerprint": "0123456789abcdef"
        }
      ],
      "groupLabels": { "job": "checkout" },
      "commonLabels": { "job": "checkout" },
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{job=\"checkout\"}",
      "truncatedAlerts": 0
    }"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    async fn start() -> WebhookServer {
        crate::tls::install_crypto_provider();
        WebhookServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    async fn start_with_roles() -> (WebhookServer, Arc<Acknowledgements>) {
        crate::tls::install_crypto_provider();
        let acks = Arc::new(Acknowledgements::new(
            vec!["incident-commander".into(), "legal".into()],
            Arc::new(crate::journal::Journal::discard()),
            crate::time::Clock::start(),
        ));
        let desks = Desks {
            acks: Some(acks.clone()),
            desk: None,
            stop: None,
        };
        let server = WebhookServer::bind_with("127.0.0.1:0".parse().unwrap(), desks)
            .await
            .unwrap();
        (server, acks)
    }

    async fn post(url: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }

    async fn start_with_desk() -> (WebhookServer, Arc<Desk>, tempfile::TempDir) {
        crate::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let journal =
            Arc::new(crate::journal::Journal::create(&dir.path().join("j.jsonl")).unwrap());
        let spec: crate::spec::Response = serde_saphyr::from_str(
            "roles: [{name: legal, function: legal}]\ndecisions: [{id: notify, decision: notify-authority, decidedBy: legal, budget: 1h}]",
        )
        .unwrap();
        let desk = Arc::new(
            Desk::new(
                "e",
                "r",
                &spec,
                &[],
                false,
                journal,
                crate::time::Clock::start(),
            )
            .unwrap(),
        );
        let desks = Desks {
            acks: None,
            desk: Some(desk.clone()),
            stop: None,
        };
        let server = WebhookServer::bind_with("127.0.0.1:0".parse().unwrap(), desks)
            .await
            .unwrap();
        (server, desk, dir)
    }

    fn answers_journaled(dir: &tempfile::TempDir) -> usize {
        std::fs::read_to_string(dir.path().join("j.jsonl"))
            .unwrap()
            .matches("\"decision-answered\"")
            .count()
    }

    #[tokio::test]
    async fn a_role_answers_through_its_link_and_hostile_requests_record_nothing() {
        let (server, desk, dir) = start_with_desk().await;
        let link = server.link(&desk.link_path("legal").unwrap());
        let client = reqwest::Client::new();

        // The page before awareness: HTML, never cached, no script, no referrer.
        let page = client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let headers = page.headers().clone();
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        let html = page.text().await.unwrap();
        let token = link.rsplit('/').next().unwrap();
        assert!(!html.contains(token), "the page carries no token");

        let (status, body) = post(
            &link,
            "application/json",
            r#"{"point": "notify", "answer": "yes", "rationale": "r"}"#,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (409, "nothing has been detected yet: no question is put")
        );

        desk.set_awareness(Instant::now(), "monitor");
        let view = client
            .get(&link)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let view: Value = serde_json::from_str(&view).unwrap();
        assert_eq!(view["state"], "live");
        assert_eq!(view["points"][0]["state"], "open");
        let snapshot = view["points"][0]["snapshot"].as_str().unwrap().to_owned();

        let wrong = format!("{}/respond/{}", server.base_url(), "A".repeat(43));
        let cases: Vec<(String, &str, String, u16, &str)> = vec![
            (
                wrong.clone(),
                "application/json",
                r#"{"point": "notify", "answer": "yes", "rationale": "r"}"#.into(),
                404,
                "this link is not valid for this drill",
            ),
            (
                link.clone(),
                "application/json",
                r#"{"point": "#.into(),
                422,
                "body is not json",
            ),
            (
                link.clone(),
                "application/json",
                r#"{"point": "other", "answer": "yes", "rationale": "r"}"#.into(),
                404,
                "unknown decision point `other`; yours are notify",
            ),
            (
                link.clone(),
                "application/json",
                r#"{"point": "notify", "answer": "perhaps", "rationale": "r"}"#.into(),
                422,
                "`perhaps` is not an allowed answer: write one of yes, no",
            ),
            (
                link.clone(),
                "application/json",
                format!(
                    r#"{{"point": "notify", "answer": "yes", "rationale": "{}"}}"#,
                    "x".repeat(MAX_ANSWER_BODY_BYTES)
                ),
                413,
                "request body is larger than 8192 bytes",
            ),
        ];
        for (url, content_type, body, want, says) in cases {
            let (status, answer) = post(&url, content_type, body).await;
            assert_eq!(status, want, "{answer}");
            assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
        }
        let get_wrong = client.get(&wrong).send().await.unwrap();
        assert_eq!(get_wrong.status(), 404);
        assert_eq!(answers_journaled(&dir), 0, "nothing recorded");

        // The page's form: answered, and the page says so.
        let form = format!(
            "point=notify&answer=yes&rationale=the+outage+is+long&snapshot={snapshot}&by=Ann"
        );
        let answered = client
            .post(&link)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), 201);
        assert_eq!(answers_journaled(&dir), 1);
        let again = client
            .post(&link)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        assert!(again.text().await.unwrap().contains("was answered already"));

        // After the run: the link is refused, whatever it asks.
        desk.close();
        assert_eq!(client.get(&link).send().await.unwrap().status(), 410);
        let (status, _) = post(
            &link,
            "application/json",
            r#"{"point": "notify", "answer": "no", "rationale": "r"}"#,
        )
        .await;
        assert_eq!(status, 410);
        assert_eq!(answers_journaled(&dir), 1);
        server.shutdown().await;
    }

    async fn next_alert(rx: &mut broadcast::Receiver<ReceivedAlert>) -> ReceivedAlert {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("no alert within 5s")
            .unwrap()
    }

    #[tokio::test]
    async fn webhook_accepts_alertmanager_v4_sample_and_delivers_alerts_in_order() {
        let server = start().await;
        let mut rx = server.subscribe();
        let before = Instant::now();
        let (status, body) = post(&server.url(), "application/json", SAMPLE).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["alerts"], 2);

        let first = next_alert(&mut rx).await;
        assert_eq!(first.status, AlertStatus::Firing);
        assert_eq!(first.labels["alertname"], "HighErrorRate");
        assert_eq!(first.labels.len(), 4);
        assert_eq!(
            first.annotations["summary"],
            "checkout answers 5xx to more than 5% of requests"
        );
        assert!(first.received_at >= before);
        assert!(matches(
            &first.labels,
            &labels(&[("alertname", "HighErrorRate"), ("job", "checkout")])
        ));

        let second = next_alert(&mut rx).await;
        assert_eq!(second.status, AlertStatus::Resolved);
        assert_eq!(second.labels["alertname"], "InstanceDown");
        assert!(second.annotations.is_empty());
        assert_eq!(server.alerts_received(), 2);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_also_listens_on_root_and_tolerates_any_content_type() {
        let server = start().await;
        let mut rx = server.subscribe();
        let root = format!("http://{}/", server.local_addr());
        let minimal = r#"{"alerts":[{"status":"firing","labels":{"alertname":"A"}}]}"#;
        let (status, _) = post(&root, "text/plain", minimal).await;
        assert_eq!(status, 200);
        let alert = next_alert(&mut rx).await;
        assert_eq!(alert.labels, labels(&[("alertname", "A")]));
        assert!(alert.annotations.is_empty());
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_rejects_an_oversized_body_with_413() {
        let server = start().await;
        let mut body = String::from(r#"{"alerts":[],"padding":""#);
        body.push_str(&"x".repeat(MAX_BODY_BYTES + 1 - body.len() - 2));
        body.push_str("\"}");
        assert_eq!(body.len(), MAX_BODY_BYTES + 1);
        let (status, json) = post(&server.url(), "application/json", body).await;
        assert_eq!(status, 413);
        assert_eq!(json["error"], "request body is larger than 1048576 bytes");
        assert_eq!(server.alerts_received(), 0);

        // Exactly at the limit is fine.
        let mut body = String::from(r#"{"alerts":[],"padding":""#);
        body.push_str(&"x".repeat(MAX_BODY_BYTES - body.len() - 2));
        body.push_str("\"}");
        let (status, _) = post(&server.url(), "application/json", body).await;
        assert_eq!(status, 200);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_refuses_a_huge_declared_body_without_reading_it() {
        let server = start().await;
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        stream
            .write_all(
                b"POST /alerts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                  content-length: 100000000\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("no answer within 5s")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_rejects_malformed_json_with_400() {
        let server = start().await;
        let (status, json) = post(&server.url(), "application/json", "{\"alerts\": [").await;
        assert_eq!(status, 400);
        let error = json["error"].as_str().unwrap();
        assert!(error.starts_with("request body is not json: "), "{error}");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_rejects_a_missing_alerts_field_with_400_naming_it() {
        let server = start().await;
        let (status, json) = post(&server.url(), "application/json", r#"{"version":"4"}"#).await;
        assert_eq!(status, 400);
        assert_eq!(
            json["error"],
            "invalid alertmanager payload at .: missing field `alerts`"
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_rejects_wrong_shapes_with_the_field_path() {
        let server = start().await;
        let cases = [
            (r#"[1, 2]"#, "."),
            (r#"{"alerts": {"status": "firing"}}"#, "alerts"),
            (r#"{"alerts": [["firing", {}]]}"#, "alerts[0]"),
            (r#"{"alerts": [{"labels": {}}]}"#, "alerts[0]"),
            (r#"{"alerts": [{"status": "firing"}]}"#, "alerts[0]"),
            (
                r#"{"alerts": [{"status": "firing", "labels": {}}, {"status": "on", "labels": {}}]}"#,
                "alerts[1].status",
            ),
            (
                r#"{"alerts": [{"status": "firing", "labels": {"a": 1}}]}"#,
                "alerts[0].labels.a",
            ),
        ];
        for (body, path) in cases {
            let (status, json) = post(&server.url(), "application/json", body).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(json["path"], path, "{body}: {json}");
        }
        assert_eq!(server.alerts_received(), 0);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_answers_405_404_and_healthz() {
        let server = start().await;
        let base = format!("http://{}", server.local_addr());
        let status = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(status(reqwest::get(server.url()).await.unwrap()), 405);
        assert_eq!(
            status(reqwest::get(format!("{base}/nope")).await.unwrap()),
            404
        );
        let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
        assert_eq!(health.text().await.unwrap(), "ok");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_url_points_at_loopback_alerts() {
        let server = WebhookServer::bind("0.0.0.0:0".parse().unwrap())
            .await
            .unwrap();
        let port = server.local_addr().port();
        assert_eq!(server.url(), format!("http://127.0.0.1:{port}/alerts"));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_stops_when_dropped() {
        let server = start().await;
        let mut rx = server.subscribe();
        drop(server);
        // The server task owns the last sender; the channel closes once it has stopped.
        let end = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("server still running 5s after drop");
        assert!(matches!(end, Err(broadcast::error::RecvError::Closed)));
    }

    #[tokio::test]
    async fn webhook_bind_reports_a_taken_port() {
        let server = start().await;
        let err = WebhookServer::bind(server.local_addr()).await.unwrap_err();
        assert!(err.is_user_input());
        assert!(err.to_string().starts_with("cannot listen on 127.0.0.1:"));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn acknowledge_answers_409_before_detection_then_202_then_200() {
        let (server, acks) = start_with_roles().await;
        let url = server.acknowledge_url("legal");
        assert_eq!(
            url,
            format!("http://{}/acknowledge/legal", server.local_addr())
        );
        let (status, json) = post(&url, "application/json", "").await;
        assert_eq!(status, 409, "{json}");
        assert_eq!(
            json["error"],
            "nothing to acknowledge yet: no detection so far"
        );

        let aware = Instant::now();
        acks.set_awareness(aware);
        let (status, first) = post(
            &url,
            "application/json",
            r#"{"by": "alice", "note": "on it"}"#,
        )
        .await;
        assert_eq!(status, 202, "{first}");
        assert_eq!(first["role"], "legal");
        assert_eq!(first["by"], "alice");
        assert_eq!(first["note"], "on it");
        let time_to_ack = first["timeToAcknowledgeMs"].as_f64().unwrap();
        assert!(
            time_to_ack >= 0.0 && time_to_ack <= aware.elapsed().as_secs_f64() * 1e3,
            "{first}"
        );
        let recorded = acks.get("legal").unwrap();
        assert_eq!(
            first["acknowledgedAt"],
            recorded.acknowledged_at.to_string()
        );

        let (status, again) = post(&url, "application/json", r#"{"by": "bob"}"#).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, first, "the first acknowledgement stands");
        assert_eq!(acks.missing(), ["incident-commander"]);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn acknowledge_refuses_unknown_roles_and_malformed_bodies() {
        let (server, acks) = start_with_roles().await;
        acks.set_awareness(Instant::now());
        let (status, json) = post(&server.acknowledge_url("ceo"), "application/json", "").await;
        assert_eq!(status, 404);
        assert_eq!(
            json["error"],
            "unknown role `ceo`; the roles are incident-commander, legal"
        );
        let url = server.acknowledge_url("legal");
        for body in [r#"{"by": 7}"#, r#"{"who": "x"}"#, "[]", "{"] {
            let (status, json) = post(&url, "application/json", body).await;
            assert_eq!(status, 400, "{body}: {json}");
            assert!(json["error"].as_str().unwrap().len() > 10, "{json}");
        }
        let (_, json) = post(&url, "application/json", "[]").await;
        assert_eq!(
            json["error"],
            r#"body must be a json object such as {"by": "alice", "note": "on it"}"#
        );
        assert_eq!(acks.missing().len(), 2, "nothing recorded");
        let health = reqwest::get(&url).await.unwrap();
        assert_eq!(health.status().as_u16(), 405);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn acknowledge_bodies_are_capped() {
        let (server, acks) = start_with_roles().await;
        acks.set_awareness(Instant::now());
        let url = server.acknowledge_url("legal");
        let note = "x".repeat(MAX_ACK_BODY_BYTES);
        let (status, json) =
            post(&url, "application/json", format!(r#"{{"note": "{note}"}}"#)).await;
        assert_eq!(status, 413);
        assert_eq!(
            json["error"],
            format!("request body is larger than {MAX_ACK_BODY_BYTES} bytes")
        );
        let note = "x".repeat(MAX_ACK_BODY_BYTES - 20);
        let (status, _) = post(&url, "application/json", format!(r#"{{"note": "{note}"}}"#)).await;
        assert_eq!(status, 202, "a body within the limit is taken");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn acknowledge_without_roles_is_404() {
        let server = start().await;
        let (status, json) = post(
            &format!("http://{}/acknowledge/legal", server.local_addr()),
            "application/json",
            "",
        )
        .await;
        assert_eq!(status, 404);
        assert!(
            json["error"].as_str().unwrap().contains("no roles"),
            "{json}"
        );
        server.shutdown().await;
    }

    #[test]
    fn matches_needs_every_matcher_with_an_equal_value() {
        let alert = labels(&[("alertname", "HighErrorRate"), ("job", "checkout")]);
        assert!(matches(&alert, &BTreeMap::new()));
        assert!(matches(&alert, &labels(&[("job", "checkout")])));
        assert!(!matches(&alert, &labels(&[("job", "cart")])));
        assert!(!matches(&alert, &labels(&[("severity", "page")])));
    }
}
