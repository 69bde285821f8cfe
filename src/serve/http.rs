//! The read-only web interface and JSON API of `firedrill serve`, on one port.
//!
//! `/healthz` and `/readyz` are always open (probes carry no token); everything else needs
//! the bearer token when one is configured.

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
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// Compares in time independent of where the two differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = &state.token else {
        return next.run(request).await;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| AppState::digest(t.trim()));
    if given.is_some_and(|g| same(&g, expected)) {
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
    pages::runs(&state.frame(), &drills, &experiments, &filter, &rows)
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
    match state.live.stop(&drill, press) {
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
