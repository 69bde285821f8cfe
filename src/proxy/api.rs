//! The admin API, compatible with Toxiproxy 2.x's REST API.
//!
//! Errors are `{"error": "...", "status": N}`. Bodies are capped at [`MAX_BODY_BYTES`] (413
//! beyond). Malformed bodies get 400 with the field path.

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpListener;

use super::{
    ProxyConfig, ProxyError, ProxyRegistry, ProxyUpdate, TOXIPROXY_VERSION, ToxicConfig, ToxicKind,
    ToxicUpdate,
};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self::new(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message,
        )
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": self.message, "status": self.status.as_u16()})),
        )
            .into_response()
    }
}

/// Parses JSON, naming the field path and position on error.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." {
            String::new()
        } else {
            format!("at {path}: ")
        };
        ApiError::from(ProxyError::BadRequestBody(format!("{at}{inner}")))
    })?;
    de.end()
        .map_err(|e| ApiError::from(ProxyError::BadRequestBody(e.to_string())))?;
    Ok(value)
}

/// The body of `POST /proxies` and elements of `/populate`: Toxiproxy clients may send the
/// `toxics` they read back; it is ignored, as Toxiproxy does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    upstream: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, rename = "toxics")]
    _toxics: Option<serde::de::IgnoredAny>,
}

impl From<ProxyBody> for ProxyConfig {
    fn from(b: ProxyBody) -> Self {
        Self {
            name: b.name,
            listen: b.listen.unwrap_or_else(|| "127.0.0.1:0".into()),
            upstream: b.upstream,
            enabled: b.enabled.unwrap_or(true),
        }
    }
}

/// The body of `POST /proxies/{name}`: the name and toxics a client sends back are ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyUpdateBody {
    #[serde(default, rename = "name")]
    _name: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, rename = "toxics")]
    _toxics: Option<serde::de::IgnoredAny>,
}

/// The body of `POST /proxies/{name}/toxics/{toxic}`: attributes merge into the current ones,
/// as in Toxiproxy.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToxicUpdateBody {
    #[serde(default, rename = "name")]
    _name: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, rename = "stream")]
    stream: Option<String>,
    #[serde(default)]
    toxicity: Option<f64>,
    #[serde(default)]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The admin API's routes.
pub fn router(registry: ProxyRegistry) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(remove),
        )
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(registry)
}

/// Serves the admin API on `listener` until `shutdown` completes, with the limits of every
/// listener (src/listener.rs); a declared body over [`MAX_BODY_BYTES`] gets its 413 there.
pub async fn serve(
    registry: ProxyRegistry,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), crate::listener::ListenerError> {
    let limits = crate::listener::Limits::new(MAX_BODY_BYTES);
    crate::listener::serve(listener, router(registry), limits, shutdown).await
}

type Reg = State<ProxyRegistry>;

/// firedrill's own metrics of the proxies (Toxiproxy serves its own at the same path).
async fn metrics(State(registry): State<ProxyRegistry>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            crate::telemetry::prometheus::CONTENT_TYPE,
        )],
        registry.metrics(),
    )
        .into_response()
}

async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
        TOXIPROXY_VERSION,
    )
        .into_response()
}

async fn reset(State(r): Reg) -> Result<StatusCode, ApiError> {
    r.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn populate(
    State(r): Reg,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: Vec<ProxyBody> = parse_json(&body?)?;
    let proxies = r
        .populate(body.into_iter().map(ProxyConfig::from).collect())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "proxies": proxies })),
    )
        .into_response())
}

async fn list(State(r): Reg) -> Response {
    let map: serde_json::Map<String, serde_json::Value> = r
        .list()
        .into_iter()
        .map(|p| (p.name.clone(), json!(p)))
        .collect();
    axum::Json(map).into_response()
}

async fn create(State(r): Reg, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body: ProxyBody = parse_json(&body?)?;
    let info = r.create(body.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(info)).into_response())
}

async fn show(State(r): Reg, Path(proxy): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(r.get(&proxy)?).into_response())
}

async fn update(
    State(r): Reg,
    Path(proxy): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    r.get(&proxy)?;
    let body: ProxyUpdateBody = parse_json(&body?)?;
    let info = r
        .update(
            &proxy,
            ProxyUpdate {
                listen: body.listen,
                upstream: body.upstream,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(axum::Json(info).into_response())
}

async fn remove(State(r): Reg, Path(proxy): Path<String>) -> Result<StatusCode, ApiError> {
    r.remove(&proxy).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn toxics(State(r): Reg, Path(proxy): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(r.toxics(&proxy)?).into_response())
}

async fn add_toxic(
    State(r): Reg,
    Path(proxy): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Check the proxy first, so an unknown proxy is a 404 whatever the body.
    r.get(&proxy)?;
    let config: ToxicConfig = parse_json(&body?)?;
    Ok(axum::Json(r.add_toxic(&proxy, config)?).into_response())
}

async fn toxic(
    State(r): Reg,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(r.toxic(&proxy, &toxic)?).into_response())
}

async fn update_toxic(
    State(r): Reg,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let current = r.toxic(&proxy, &toxic)?;
    let body: ToxicUpdateBody = parse_json(&body?)?;
    if let Some(kind) = body.kind.filter(|k| k != current.kind.type_name()) {
        return Err(ProxyError::BadAttributes {
            path: "type".into(),
            message: format!("cannot change the type of a toxic to {kind:?}"),
        }
        .into());
    }
    if let Some(stream) = body.stream.filter(|s| s != current.stream.as_str()) {
        return Err(ProxyError::BadAttributes {
            path: "stream".into(),
            message: format!("cannot change the stream of a toxic to {stream:?}"),
        }
        .into());
    }
    let kind = match body.attributes {
        None => None,
        Some(changes) => {
            let mut attributes = match current.kind.attributes() {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            attributes.extend(changes);
            Some(ToxicKind::from_parts(
                current.kind.type_name(),
                serde_json::Value::Object(attributes),
            )?)
        }
    };
    let info = r.update_toxic(
        &proxy,
        &toxic,
        ToxicUpdate {
            toxicity: body.toxicity,
            kind,
        },
    )?;
    Ok(axum::Json(info).into_response())
}

async fn remove_toxic(
    State(r): Reg,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    r.remove_toxic(&proxy, &toxic)?;
    Ok(StatusCode::NO_CONTENT)
}
