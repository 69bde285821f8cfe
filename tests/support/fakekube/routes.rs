//! The HTTP side: paths to resources and verbs, query parameters, answers in the real wire
//! format, watch streams of newline-delimited `WatchEvent`s, and the helper endpoints.

use super::Shared;
use super::netpol::{self, Reach};
use super::patch::PatchKind;
use super::security;
use super::selector::{FieldSelector, LabelSelector, labels_of};
use super::store::{self, ApiError, Change, Page, ResDef, Write, reason_for, str_at};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The router: one fallback that parses Kubernetes paths itself.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn respond(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(e: &ApiError) -> Response {
    let mut r = respond(e.code, &e.status());
    if let Some(secs) = e.retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    r
}

/// A request path resolved to a resource.
struct Target {
    def: &'static ResDef,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Resource(Target),
    AccessReview,
    Version,
    Reachable,
    /// `/api`, `/apis` and a group's or version's discovery document (crd.rs).
    Discovery,
    Unknown,
}

fn parse_path(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["fake", "reachable"] => return Route::Reachable,
        ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] => return Route::Discovery,
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::Unknown,
    };
    if (group, version, rest)
        == (
            "authorization.k8s.io",
            "v1",
            &["selfsubjectaccessreviews"][..],
        )
    {
        return Route::AccessReview;
    }
    let (ns, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] => (Some(ns.to_string()), *plural, tail),
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Route::Unknown,
    };
    let Some(def) = store::resource(group, version, plural) else {
        return Route::Unknown;
    };
    if tail.len() > 2
        || (!def.namespaced && ns.is_some())
        || (def.namespaced && ns.is_none() && !tail.is_empty())
    {
        return Route::Unknown;
    }
    Route::Resource(Target {
        def,
        ns,
        name: tail.first().map(|s| s.to_string()),
        sub: tail.get(1).map(|s| s.to_string()),
    })
}

async fn handle(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // Taken before the body is read: `pods/exec` answers with a websocket upgrade.
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let body = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(e) => return error(&ApiError::bad_request(format!("cannot read the body: {e}"))),
    };
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let params: HashMap<String, String> = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let identity = security::authenticate(&shared.lock(), authorization.as_deref());
    let user = match &identity {
        Ok(Some(id)) => id.user(),
        _ => String::new(),
    };
    let response = answer(
        &shared, &method, &uri, &params, &headers, &body, upgrade, identity,
    );
    let dry_run = params.get("dryRun").is_some_and(|d| d == "All") || body_asks_dry_run(&body);
    let mut st = shared.lock();
    st.requests.push(store::Request {
        method: method.to_string(),
        path,
        query,
        status: response.status().as_u16(),
        dry_run,
        user,
    });
    st.settle();
    drop(st);
    shared.wake.notify_one();
    response
}

/// Whether DeleteOptions (alone or inside an Eviction) carry `dryRun: ["All"]`.
fn body_asks_dry_run(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let all = |d: Option<&Value>| {
        d.and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x == "All"))
    };
    all(v.get("dryRun")) || all(v.pointer("/deleteOptions/dryRun"))
}

fn verb_of(method: &Method, t: &Target, watch: bool) -> &'static str {
    match (method.as_str(), t.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// A delete's or an eviction's uid precondition, checked as the API server does: a 409 when
/// the object of that name is another one (a replacement).
fn uid_precondition(
    shared: &Arc<Shared>,
    def: &'static ResDef,
    ns: &str,
    name: &str,
    options: &Value,
) -> Result<(), ApiError> {
    let Some(uid) = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let store = shared.lock();
    match store.get(def.plural, ns, name) {
        Some(obj) if str_at(obj, "/metadata/uid") != uid => Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                str_at(obj, "/metadata/uid")
            ),
        )),
        _ => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    identity: Result<Option<security::Identity>, ApiError>,
) -> Response {
    let path = uri.path();
    if let Some(code) = shared.lock().take_failure(method.as_str(), path) {
        let mut e = ApiError::new(
            code,
            reason_for(code),
            format!("injected failure {code} for {method} {path}"),
        );
        if code == 429 {
            e.retry_after = Some(1);
        }
        return error(&e);
    }
    let route = parse_path(path);
    let t = match route {
        Route::Unknown => {
            return error(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
        Route::Version => return respond(200, &version()),
        Route::Discovery => {
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let doc = super::crd::discovery(&shared.lock(), &segs);
            return match doc {
                Some(doc) => respond(200, &doc),
                None => error(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
        }
        Route::Reachable => return reachable(shared, params),
        Route::AccessReview if method == Method::POST => return access_review(shared, body),
        Route::AccessReview => {
            return error(&ApiError::new(
                405,
                "MethodNotAllowed",
                "only create is supported",
            ));
        }
        Route::Resource(t) => t,
    };
    // Another fake's custom resource is not served here.
    let served = super::crd::served(&shared.lock(), t.def);
    if !served {
        return error(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let watch = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    // RBAC checks `create` on pods/exec, whatever the method of the upgrade request.
    let verb = if t.sub.as_deref() == Some("exec") {
        "create"
    } else {
        verb_of(method, &t, watch)
    };
    let resource = match &t.sub {
        Some(sub) => format!("{}/{sub}", t.def.plural),
        None => t.def.plural.to_string(),
    };
    match identity {
        Err(e) => return error(&e),
        Ok(Some(id)) => {
            if let Err(e) = security::authorize(
                &shared.lock(),
                &id,
                verb,
                t.def.group,
                &resource,
                t.ns.as_deref(),
                t.name.as_deref(),
            ) {
                return error(&e);
            }
        }
        Ok(None) => {}
    }
    if shared
        .lock()
        .denied(verb, t.def.group, &resource, t.ns.as_deref())
    {
        let name = t.name.as_deref().unwrap_or_default();
        let group = t.def.group;
        let scope = match &t.ns {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_string(),
        };
        let head = if name.is_empty() {
            resource.clone()
        } else {
            format!("{resource} \"{name}\"")
        };
        let e = ApiError::new(
            403,
            "Forbidden",
            format!(
                "{head} is forbidden: User \"system:serviceaccount:firedrill:fake\" cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}"
            ),
        );
        return error(&e);
    }
    if let (Some(name), Some("exec"), "pods") = (t.name.as_deref(), t.sub.as_deref(), t.def.plural)
    {
        let ns = t.ns.clone().unwrap_or_default();
        return match super::exec::start(shared, &ns, name, uri, headers, upgrade) {
            Ok(r) => r,
            Err(e) => error(&e),
        };
    }
    let w = Write {
        dry: params.get("dryRun").is_some_and(|d| d == "All"),
        seed: false,
    };
    let parsed_body = || -> Result<Value, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
    };
    let ns = t.ns.clone().unwrap_or_default();
    if method == Method::GET && t.name.is_none() && watch {
        return watch_stream(shared, &t, params);
    }
    let result: Result<(u16, Value), ApiError> = (|| {
        let name = t.name.as_deref();
        match (method.as_str(), name, t.sub.as_deref()) {
            ("GET", None, None) => list(shared, &t, params).map(|v| (200, v)),
            ("GET", Some(name), Some("ephemeralcontainers")) if t.def.plural == "pods" => shared
                .lock()
                .get(t.def.plural, &ns, name)
                .cloned()
                .map(|v| (200, v))
                .ok_or_else(|| ApiError::not_found(t.def, name)),
            ("PUT", Some(name), Some("ephemeralcontainers")) if t.def.plural == "pods" => {
                let b = parsed_body()?;
                super::ephemeral::update(&mut shared.lock(), &ns, name, None, &b, w)
                    .map(|v| (200, v))
            }
            ("GET", Some(name), None | Some("status")) => shared
                .lock()
                .get(t.def.plural, &ns, name)
                .cloned()
                .map(|v| (200, v))
                .ok_or_else(|| ApiError::not_found(t.def, name)),
            ("GET", Some(name), Some("scale")) if scalable(t.def) => {
                scale_of(shared, t.def, &ns, name).map(|v| (200, v))
            }
            ("POST", None, None) => {
                let b = parsed_body()?;
                let mut st = shared.lock();
                if t.def.plural == "pods" {
                    security::admit_pod(&st, &ns, &b)?;
                }
                st.create(t.def, &ns, b, w).map(|v| (201, v))
            }
            ("POST", Some(name), Some("token")) if t.def.plural == "serviceaccounts" => {
                let b = parsed_body()?;
                security::token_request(&mut shared.lock(), &ns, name, &b).map(|v| (201, v))
            }
            ("POST", Some(name), Some("eviction")) if t.def.plural == "pods" => {
                let b = parsed_body()?;
                if b.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k != "Eviction")
                {
                    return Err(ApiError::bad_request("the body is not an Eviction"));
                }
                uid_precondition(shared, t.def, &ns, name, &b["deleteOptions"])?;
                let dry = w.dry
                    || b.pointer("/deleteOptions/dryRun")
                        .and_then(Value::as_array)
                        .is_some_and(|d| d.iter().any(|x| x == "All"));
                shared
                    .lock()
                    .evict(&ns, name, &b, Write { dry, seed: false })
                    .map(|v| (201, v))
            }
            ("PUT", Some(name), None | Some("status")) => shared
                .lock()
                .update(t.def, &ns, name, parsed_body()?, t.sub.as_deref(), w)
                .map(|v| (200, v)),
            ("PUT", Some(name), Some("scale")) if scalable(t.def) => {
                let b = parsed_body()?;
                write_scale(shared, t.def, &ns, name, |_| Ok(b.clone()), w).map(|v| (200, v))
            }
            ("PATCH", Some(name), sub) => {
                let ct = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let kind = PatchKind::from_content_type(ct).ok_or_else(|| {
                    ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"))
                })?;
                let b = parsed_body()?;
                match sub {
                    Some("ephemeralcontainers") if t.def.plural == "pods" => {
                        super::ephemeral::update(&mut shared.lock(), &ns, name, Some(kind), &b, w)
                            .map(|v| (200, v))
                    }
                    None | Some("status") => shared
                        .lock()
                        .patch(t.def, &ns, name, kind, &b, sub, w)
                        .map(|v| (200, v)),
                    Some("scale") if scalable(t.def) => write_scale(
                        shared,
                        t.def,
                        &ns,
                        name,
                        |current| {
                            let mut s = current.clone();
                            super::patch::apply(kind, &mut s, &b).map_err(ApiError::bad_request)?;
                            Ok(s)
                        },
                        w,
                    )
                    .map(|v| (200, v)),
                    _ => Err(ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )),
                }
            }
            ("DELETE", Some(name), None) => {
                let opts: Value = if body.is_empty() {
                    json!({})
                } else {
                    parsed_body()?
                };
                let grace = params
                    .get("gracePeriodSeconds")
                    .and_then(|g| g.parse().ok())
                    .or_else(|| opts.get("gracePeriodSeconds").and_then(Value::as_i64));
                let propagation = params.get("propagationPolicy").cloned().or_else(|| {
                    opts.get("propagationPolicy")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                uid_precondition(shared, t.def, &ns, name, &opts)?;
                let dry = w.dry
                    || opts
                        .get("dryRun")
                        .and_then(Value::as_array)
                        .is_some_and(|d| d.iter().any(|x| x == "All"));
                shared
                    .lock()
                    .delete(
                        t.def,
                        &ns,
                        name,
                        grace,
                        propagation.as_deref(),
                        Write { dry, seed: false },
                    )
                    .map(|v| (200, v))
            }
            ("DELETE", None, None) => {
                let listed = list(shared, &t, params)?;
                let mut st = shared.lock();
                if !w.dry {
                    for item in listed["items"].as_array().into_iter().flatten() {
                        let _ = st.delete(
                            t.def,
                            str_at(item, "/metadata/namespace"),
                            str_at(item, "/metadata/name"),
                            None,
                            None,
                            w,
                        );
                    }
                }
                Ok((200, listed))
            }
            ("GET" | "POST" | "PUT" | "PATCH" | "DELETE", _, _) => Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )),
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({method})"
                ),
            )),
        }
    })();
    match result {
        Ok((code, v)) => respond(code, &v),
        Err(e) => error(&e),
    }
}

fn scalable(def: &ResDef) -> bool {
    matches!(def.plural, "deployments" | "statefulsets" | "replicasets")
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn selectors(params: &HashMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn list(
    shared: &Arc<Shared>,
    t: &Target,
    params: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut st = shared.lock();
    let (page_id, offset) = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?)))
                })
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            if !st.pages.contains_key(&decoded.0) {
                return Err(ApiError::new(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ));
            }
            (Some(decoded.0), decoded.1)
        }
        None => (None, 0),
    };
    let (rv, items) = match page_id {
        Some(id) => {
            let page = &st.pages[&id];
            (page.rv, page.items.clone())
        }
        None => {
            let (labels, fields) = selectors(params)?;
            (
                st.rv,
                st.select(t.def.plural, t.ns.as_deref(), &labels, &fields),
            )
        }
    };
    let total = items.len();
    let end = if limit > 0 {
        (offset + limit).min(total)
    } else {
        total
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if end < total {
        let id = match page_id {
            Some(id) => id,
            None => st.keep_page(Page {
                rv,
                items: items.clone(),
            }),
        };
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id}:{end}"));
        meta["continue"] = json!(token);
        meta["remainingItemCount"] = json!(total - end);
    }
    Ok(json!({
        "kind": format!("{}List", t.def.kind),
        "apiVersion": t.def.api_version(),
        "metadata": meta,
        "items": items[offset.min(total)..end],
    }))
}

fn watch_stream(shared: &Arc<Shared>, t: &Target, params: &HashMap<String, String>) -> Response {
    let (labels, fields) = match selectors(params) {
        Ok(s) => s,
        Err(e) => return error(&e),
    };
    let since: Option<u64> = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v != 0);
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let (plural, kind, api_version) = (t.def.plural, t.def.kind, t.def.api_version());
    let ns = t.ns.clone();
    let selected = Arc::new(move |o: &Value| {
        ns.as_deref()
            .is_none_or(|ns| str_at(o, "/metadata/namespace") == ns)
            && labels.matches(&labels_of(o))
            && fields.matches(o)
    });
    let in_selection = selected.clone();
    // The event a watch with these selectors sees for a change, if any.
    let event_of = move |c: &Change| -> Option<&'static str> {
        if c.res != plural {
            return None;
        }
        let now = in_selection(&c.object);
        let before = c.previous.as_ref().is_some_and(|p| in_selection(p));
        match (c.kind, before, now) {
            ("MODIFIED", true, true) => Some("MODIFIED"),
            ("MODIFIED", false, true) => Some("ADDED"),
            ("MODIFIED", true, false) => Some("DELETED"),
            ("MODIFIED", false, false) => None,
            (kind, _, true) => Some(kind),
            _ => None,
        }
    };
    let (initial, mut live, interval, too_old) =
        {
            let st = shared.lock();
            let live = st.tx.subscribe();
            let mut initial: Vec<Value> = Vec::new();
            let mut too_old = None;
            match since {
                Some(rv) if rv < st.log_floor => too_old = Some((rv, st.log_floor)),
                Some(rv) => initial.extend(st.log.iter().filter(|c| c.rv > rv).filter_map(|c| {
                    event_of(c).map(|kind| json!({"type": kind, "object": c.object}))
                })),
                None => initial.extend(
                    st.list(plural, None)
                        .into_iter()
                        .filter(|o| selected(o))
                        .map(|o| json!({"type": "ADDED", "object": o})),
                ),
            }
            (initial, live, st.bookmark_interval, too_old)
        };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(1024);
    let mut drops = shared.drops.subscribe();
    let shared = shared.clone();
    tokio::spawn(async move {
        let line = |v: Value| Ok(Bytes::from(format!("{v}\n")));
        if let Some((rv, floor)) = too_old {
            let status = ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {rv} ({floor})"),
            )
            .status();
            let _ = tx
                .send(line(json!({"type": "ERROR", "object": status})))
                .await;
            return;
        }
        for event in initial {
            if tx.send(line(event)).await.is_err() {
                return;
            }
        }
        let end = timeout.map(|d| tokio::time::Instant::now() + d);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                change = live.recv() => match change {
                    Ok(c) => {
                        if let Some(kind) = event_of(&c)
                            && tx.send(line(json!({"type": kind, "object": c.object}))).await.is_err()
                        {
                            return;
                        }
                    }
                    // A watcher that fell behind is ended, as the API server does; it resumes.
                    Err(_) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    let rv = shared.lock().rv;
                    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": rv.to_string()}}});
                    if tx.send(line(bookmark)).await.is_err() {
                        return;
                    }
                }
                _ = drops.changed() => return,
                _ = async { match end { Some(e) => tokio::time::sleep_until(e).await, None => std::future::pending().await } } => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

fn scale_of(shared: &Arc<Shared>, def: &ResDef, ns: &str, name: &str) -> Result<Value, ApiError> {
    let st = shared.lock();
    let obj = st
        .get(def.plural, ns, name)
        .ok_or_else(|| ApiError::not_found(def, name))?;
    Ok(scale_from(obj))
}

fn scale_from(obj: &Value) -> Value {
    let selector = LabelSelector::from_object(&obj["spec"]["selector"])
        .unwrap_or_default()
        .to_query();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

fn write_scale(
    shared: &Arc<Shared>,
    def: &'static ResDef,
    ns: &str,
    name: &str,
    change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    w: Write,
) -> Result<Value, ApiError> {
    let mut st = shared.lock();
    let obj = st
        .get(def.plural, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(def, name))?;
    let current = scale_from(&obj);
    let wanted = change(&current)?;
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        let scale = ResDef {
            plural: "scale",
            kind: "Scale",
            group: "autoscaling",
            version: "v1",
            namespaced: true,
            status: false,
            generation: false,
        };
        return Err(ApiError::invalid(
            &scale,
            name,
            &[(
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let given = str_at(&wanted, "/metadata/resourceVersion");
    if !given.is_empty() && given != str_at(&obj, "/metadata/resourceVersion") {
        return Err(ApiError::conflict(def, name));
    }
    let mut new = obj.clone();
    new["spec"]["replicas"] = json!(replicas);
    let stored = st.update(def, ns, name, new, None, w)?;
    Ok(scale_from(&stored))
}

fn access_review(shared: &Arc<Shared>, body: &Bytes) -> Response {
    let mut review: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(&ApiError::bad_request(format!(
                "the body is not valid JSON: {e}"
            )));
        }
    };
    if serde_json::from_value::<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview>(
        review.clone(),
    )
    .is_err()
    {
        return error(&ApiError::bad_request(
            "the body is not a SelfSubjectAccessReview",
        ));
    }
    let attrs = &review["spec"]["resourceAttributes"];
    let resource = match str_at(attrs, "/subresource") {
        "" => str_at(attrs, "/resource").to_string(),
        sub => format!("{}/{sub}", str_at(attrs, "/resource")),
    };
    let ns = Some(str_at(attrs, "/namespace")).filter(|n| !n.is_empty());
    let denied = shared.lock().denied(
        str_at(attrs, "/verb"),
        str_at(attrs, "/group"),
        &resource,
        ns,
    );
    review["status"] = if denied {
        json!({"allowed": false, "denied": true, "reason": "denied by the fake API server for this test"})
    } else {
        json!({"allowed": true, "reason": "the fake API server allows everything not denied"})
    };
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["metadata"] = json!({});
    respond(201, &review)
}

fn reachable(shared: &Arc<Shared>, params: &HashMap<String, String>) -> Response {
    let (Some(from), Some(to)) = (params.get("from"), params.get("to")) else {
        return (
            StatusCode::BAD_REQUEST,
            "needs from=ns/pod and to=ns/pod|cidr:port|dns\n",
        )
            .into_response();
    };
    let to = match Reach::parse(to) {
        Ok(t) => t,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    match netpol::reachable(&shared.lock(), from, &to) {
        Ok(true) => (StatusCode::OK, "reachable\n").into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "unreachable\n").into_response(),
        Err(e) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
    }
}
