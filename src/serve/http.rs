//! The web interface and JSON API of `firedrill serve`, on one port: read-only but for the
//! stop of a running drill.
//!
//! `/healthz` and `/readyz` are always open (probes carry no token); the stop button's form
//! checks serve's token itself (a form cannot send the header); everything else needs the
//! bearer token when one is configured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::pages::{self, DrillInfo, Frame};
use super::scheduler::{Entry, next_after};
use super::store::{DrillStatus, RunFilter, Store, StoreError};
use crate::telemetry::prometheus::{CONTENT_TYPE, Registry};

/// What the handlers share.
pub struct AppState {
    /// The run history.
    pub store: Arc<Store>,
    /// firedrill's metrics.
    pub metrics: Arc<Registry>,
    /// The SHA-256 of the bearer token, when one is required.
    pub token: Option<[u8; 32]>,
    /// The drills, as listed on the runs page.
    pub drills: Vec<(DrillInfo, Option<Entry>)>,
    /// True once the schedules are loaded; false again when shutting down.
    pub ready: AtomicBool,
    /// The roles' links of the drills running now.
    pub live: super::drill::LiveLinks,
}

impl AppState {
    /// The digest kept of a token: the token itself is not kept in memory longer than needed.
    pub fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn frame(&self) -> Frame {
        Frame {
            version: env!("CARGO_PKG_VERSION"),
            database: self.store.path().display().to_string(),
        }
    }
}

/// The largest request body serve takes (the listener refuses a larger one with 413): its
/// only bodies are a stop press's few hundred bytes of JSON and the stop form.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let guarded = Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/report", get(report))
        .route("/trend", get(trend_page))
        .route("/api/runs", get(api_runs))
        .route("/api/runs/{id}", get(api_run))
        .route("/api/trend", get(api_trend))
        .route("/api/live", get(api_live))
        .route("/api/drills/{drill}/stop", axum::routing::post(api_stop))
        .route("/drills/{drill}", get(drill_page))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    if state.token.is_none() {
        // Without a token the pages offer no stop button: the run's own link is the way.
        state.live.announce_stop_links();
    }
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        // The stop form authenticates itself: a browser's form cannot send the header.
        .route(
            "/drills/{drill}/stop",
            axum::routing::post(stop_form)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_STOP_FORM_BYTES)),
        )
        .merge(guarded)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// Compares in time independent of where the two differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries serve's bearer token.
fn has_bearer(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.token else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| AppState::digest(t.trim()))
        .is_some_and(|g| same(&g, expected))
}

async fn require_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if state.token.is_none() || has_bearer(&state, &headers) {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"firedrill\""),
    );
    response
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response();
    }
    match state.store.ping() {
        Ok(()) => "ready\n".into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the database does not answer: {error}\n"),
        )
            .into_response(),
    }
}

/// An error answer: JSON for the API, text for pages.
struct Failure {
    status: StatusCode,
    message: String,
    json: bool,
}

impl Failure {
    fn store(error: StoreError, json: bool) -> Self {
        tracing::error!(error = %crate::error::chain(&error), "the run history failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the run history database failed".to_owned(),
            json,
        }
    }

    fn page(error: pages::PageError) -> Self {
        tracing::error!(error = %crate::error::chain(&error), "a page failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the page could not be drawn".to_owned(),
            json: false,
        }
    }

    fn not_found(json: bool) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "no such run".to_owned(),
            json,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if self.json {
            (
                self.status,
                axum::Json(serde_json::json!({ "error": self.message })),
            )
                .into_response()
        } else {
            (self.status, format!("{}\n", self.message)).into_response()
        }
    }
}

/// The filters of `/runs` and `/api/runs`; empty values (an unset form field) mean no filter.
#[derive(Debug, Default, Deserialize)]
struct RunQuery {
    experiment: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

impl RunQuery {
    fn filter(self, json: bool) -> Result<RunFilter, Failure> {
        let bad = |message: String| Failure {
            status: StatusCode::BAD_REQUEST,
            message,
            json,
        };
        let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let status = given(self.status)
            .map(|s| s.parse::<DrillStatus>())
            .transpose()
            .map_err(|e| bad(format!("status: {e}")))?;
        let since = given(self.since);
        let until = given(self.until);
        for (name, value) in [("since", &since), ("until", &until)] {
            if let Some(v) = value {
                super::store::check_time(v).map_err(|m| bad(format!("{name}: {m}")))?;
            }
        }
        let limit = match given(self.limit) {
            Some(l) => Some(
                l.parse::<u32>()
                    .map_err(|_| bad(format!("limit: `{l}` is not a whole number")))?,
            ),
            None => None,
        };
        Ok(RunFilter {
            experiment: given(self.experiment),
            status,
            since,
            until,
            limit,
        })
    }
}

/// The most runs a page lists when no limit is given.
const PAGE_LIMIT: u32 = 500;

async fn runs_page(
    State(state): State<Arc<AppState>>,
    Query(query): Query<RunQuery>,
) -> Result<Html<String>, Failure> {
    let mut filter = query.filter(false)?;
    filter.limit = Some(filter.limit.unwrap_or(PAGE_LIMIT).min(PAGE_LIMIT));
    let rows = state
        .store
        .runs(&filter)
        .map_err(|e| Failure::store(e, false))?;
    let experiments = state
        .store
        .experiments()
        .map_err(|e| Failure::store(e, false))?;
    let now = jiff::Timestamp::now();
    let drills: Vec<DrillInfo> = state
        .drills
        .iter()
        .map(|(info, entry)| DrillInfo {
            next_due: entry
                .as_ref()
                .and_then(|e| next_after(e, now))
                .map(|t| format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S"))),
            ..info.clone()
        })
        .collect();
    let running: std::collections::BTreeMap<String, String> = state
        .live
        .snapshot()
        .into_iter()
        .map(|(name, live)| (name, live.experiment))
        .collect();
    pages::runs(
        &state.frame(),
        &drills,
        &running,
        &experiments,
        &filter,
        &rows,
    )
    .map(Html)
    .map_err(Failure::page)
}

async fn run_page(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Html<String>, Failure> {
    let detail = state
        .store
        .run(id)
        .map_err(|e| Failure::store(e, false))?
        .ok_or_else(|| Failure::not_found(false))?;
    pages::run(&state.frame(), &detail)
        .map(Html)
        .map_err(Failure::page)
}

async fn report(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Html<String>, Failure> {
    state
        .store
        .report(id)
        .map_err(|e| Failure::store(e, false))?
        .map(Html)
        .ok_or_else(|| Failure::not_found(false))
}

async fn trend_page(State(state): State<Arc<AppState>>) -> Result<Html<String>, Failure> {
    let results = state
        .store
        .results(None)
        .map_err(|e| Failure::store(e, false))?;
    let database = state.store.path().display().to_string();
    let trend = super::trend::compute(&results, &database, crate::time::Timestamp::now());
    pages::trend(&state.frame(), &trend)
        .map(Html)
        .map_err(Failure::page)
}

async fn api_runs(
    State(state): State<Arc<AppState>>,
    Query(query): Query<RunQuery>,
) -> Result<Response, Failure> {
    let filter = query.filter(true)?;
    let rows = state
        .store
        .runs(&filter)
        .map_err(|e| Failure::store(e, true))?;
    Ok(axum::Json(serde_json::json!({ "runs": rows })).into_response())
}

async fn api_run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Response, Failure> {
    let detail = state
        .store
        .run(id)
        .map_err(|e| Failure::store(e, true))?
        .ok_or_else(|| Failure::not_found(true))?;
    Ok(axum::Json(detail).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct TrendQuery {
    experiment: Option<String>,
}

async fn api_trend(
    State(state): State<Arc<AppState>>,
    Query(query): Query<TrendQuery>,
) -> Result<Response, Failure> {
    let experiment = query.experiment.filter(|e| !e.is_empty());
    let results = state
        .store
        .results(experiment.as_deref())
        .map_err(|e| Failure::store(e, true))?;
    Ok(axum::Json(super::trend::compute(
        &results,
        &state.store.path().display().to_string(),
        crate::time::Timestamp::now(),
    ))
    .into_response())
}

/// The roles' links of the drills running now. They are secrets of the roles': shown only
/// when serve requires a bearer token, so that only its holders can hand them out.
async fn api_live(State(state): State<Arc<AppState>>) -> Response {
    if state.token.is_none() {
        return (
            StatusCode::FORBIDDEN,
            "the roles' links are secrets: start serve with --token-file to read them here; a role reached by chat gets its link in its chat\n",
        )
            .into_response();
    }
    let mut response =
        axum::Json(serde_json::json!({"drills": state.live.snapshot()})).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Stops the drill running as `drill` and rolls it back, for a holder of serve's bearer
/// token (`{"by": NAME, "reason": TEXT}`, both optional); journaled by the run with who and
/// when. Without a token nobody can be told apart, so serve stops nothing.
async fn api_stop(
    State(state): State<Arc<AppState>>,
    Path(drill): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if state.token.is_none() {
        return (
            StatusCode::FORBIDDEN,
            "a stop is for token holders: start serve with --token-file; the run's own stop link (printed at its start) works without it\n",
        )
            .into_response();
    }
    let press: crate::detection::stop::PressBody = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("not a stop request: {e}; send {{\"by\": NAME, \"reason\": TEXT}}\n"),
                )
                    .into_response();
            }
        }
    };
    match state.live.stop(&drill, press, "firedrill serve") {
        None => (
            StatusCode::NOT_FOUND,
            format!("no run of drill `{drill}` is under way\n"),
        )
            .into_response(),
        Some(Ok(request)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"stopping": drill, "by": request.by, "at": request.at})),
        )
            .into_response(),
        Some(Err(e)) => (StatusCode::GONE, format!("{e}\n")).into_response(),
    }
}

/// The largest stop form accepted.
const MAX_STOP_FORM_BYTES: usize = 8 * 1024;

/// How the stop form reaches the run: serve's pages say it, the POST checks it.
const STOP_VIA: &str = "firedrill serve's stop page";

/// A page of serve that must not be kept by a browser or a proxy: it carries the form's
/// nonce, or tells what a press did.
fn uncached(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /drills/{drill}`: the drill running now, with its stop form for token holders, or
/// how to stop it when serve has no token.
async fn drill_page(
    State(state): State<Arc<AppState>>,
    Path(drill): Path<String>,
) -> Result<Response, Failure> {
    let known = state.drills.iter().any(|(d, _)| d.name == drill);
    let running = state.live.get(&drill);
    if !known && running.is_none() {
        return Err(Failure {
            status: StatusCode::NOT_FOUND,
            message: format!("no drill named {drill}"),
            json: false,
        });
    }
    let view = pages::DrillView {
        name: drill,
        running: running.map(|r| pages::RunningView {
            experiment: r.experiment,
            since: r
                .since
                .map(|t| format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S"))),
            listens: r.stop.is_some(),
            // Only a token holder's page carries the form, and so the nonce.
            nonce: r
                .form
                .filter(|_| state.token.is_some())
                .map(|f| f.expose().to_owned()),
        }),
        token: state.token.is_some(),
    };
    pages::drill(&state.frame(), &view)
        .map(|html| uncached(StatusCode::OK, html))
        .map_err(Failure::page)
}

/// What the stop form sends.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopForm {
    /// Serve's token, typed in; may be left empty when a proxy in front sends the header.
    #[serde(default)]
    token: Option<String>,
    /// The nonce of the page the form came from.
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /drills/{drill}/stop`: the stop form of serve's page. It needs serve's token (typed
/// in the form, or the bearer header a proxy in front adds), the nonce of the page for the
/// run under way (a page another site cannot read), and a name; a browser's cross-site
/// request is refused whatever it carries. Nothing is pressed or journaled otherwise.
async fn stop_form(
    State(state): State<Arc<AppState>>,
    Path(drill): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let frame = state.frame();
    let answer =
        |status: StatusCode, outcome: pages::StopOutcome| match pages::stopped(&frame, &outcome) {
            Ok(html) => uncached(status, html),
            Err(e) => Failure::page(e).into_response(),
        };
    let refused = |status: StatusCode, message: String| {
        answer(
            status,
            pages::StopOutcome {
                drill: drill.clone(),
                stopping: None,
                refused: Some(message),
            },
        )
    };
    let Some(expected) = &state.token else {
        return refused(
            StatusCode::FORBIDDEN,
            "serve has no --token-file, so it stops nothing: use the run's own stop link (serve prints it on its standard error when the run starts)".to_owned(),
        );
    };
    // Browsers say where a request comes from; a form posted by another site is refused
    // before anything is read from it.
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !matches!(site, "same-origin" | "none") {
        return refused(
            StatusCode::FORBIDDEN,
            format!("a stop must come from serve's own page, not from another site ({site})"),
        );
    }
    let form: StopForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("not the stop form: {e}"),
            );
        }
    };
    let typed = form
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .is_some_and(|t| same(&AppState::digest(t), expected));
    if !typed && !has_bearer(&state, &headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "that is not serve's token: nothing was stopped".to_owned(),
        );
    }
    let Some(running) = state.live.get(&drill) else {
        return refused(
            StatusCode::NOT_FOUND,
            format!("no run of drill {drill} is under way"),
        );
    };
    let nonce_ok = match (&running.form, form.nonce.as_deref()) {
        (Some(expected), Some(given)) => expected.matches(given),
        _ => false,
    };
    if !nonce_ok {
        return refused(
            StatusCode::CONFLICT,
            "this form is not from the page of the run under way (an earlier run's page, or another site's): open the drill's page again".to_owned(),
        );
    }
    if form.by.as_deref().is_none_or(|b| b.trim().is_empty()) {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "say who you are: the journal records who stopped the drill".to_owned(),
        );
    }
    let press = crate::detection::stop::PressBody {
        by: form.by,
        reason: form.reason,
    };
    match state.live.stop(&drill, press, STOP_VIA) {
        None => refused(
            StatusCode::NOT_FOUND,
            format!("no run of drill {drill} is under way"),
        ),
        Some(Ok(request)) => answer(
            StatusCode::ACCEPTED,
            pages::StopOutcome {
                drill: drill.clone(),
                stopping: Some(pages::Stopping {
                    experiment: running.experiment,
                    by: request.by.clone(),
                    at: format!("{} UTC", request.at.strftime("%Y-%m-%d %H:%M:%S")),
                    reason: request.describe(),
                }),
                refused: None,
            },
        ),
        Some(Err(e)) => refused(StatusCode::GONE, e.to_string()),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_every_byte() {
        let a = AppState::digest("secret");
        assert!(same(&a, &AppState::digest("secret")));
        assert!(!same(&a, &AppState::digest("secreT")));
        assert!(!same(&a, &AppState::digest("")));
    }
}
