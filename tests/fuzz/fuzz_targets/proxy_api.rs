//! The Toxiproxy-compatible admin API's bodies, through its real router: any bytes as the
//! body of create proxy, populate, update proxy, create toxic and update toxic. Each gets
//! an answer with a status, never a panic; a 5xx for a body is a finding.
//!
//! Bodies that could start a proxy go to a registry that is shut down, so that they are
//! parsed but never bind a listener (the fuzzer must not open ports it chose, nor resolve
//! names); updates that leave it disabled, and toxic bodies, go to a live registry holding
//! one disabled proxy.
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use firedrill::proxy::ProxyConfig;
use firedrill::proxy::ProxyRegistry;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

struct Api {
    runtime: tokio::runtime::Runtime,
    live: Router,
    closed: Router,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (live, closed) = runtime.block_on(async {
            let disabled = || ProxyConfig {
                name: "p".into(),
                listen: "127.0.0.1:0".into(),
                upstream: "127.0.0.1:9".into(),
                enabled: false,
            };
            let live = ProxyRegistry::new();
            live.create(disabled()).await.expect("a disabled proxy");
            let closed = ProxyRegistry::new();
            closed.create(disabled()).await.expect("a disabled proxy");
            closed.shutdown().await;
            (
                firedrill::proxy::api::router(live),
                firedrill::proxy::api::router(closed),
            )
        });
        Api {
            runtime,
            live,
            closed,
        }
    })
}

fn call(router: &Router, method: Method, uri: &str, body: Vec<u8>) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a request");
    let response = api()
        .runtime
        .block_on(router.clone().oneshot(request))
        .expect("the router answers");
    response.status()
}

fn check(status: StatusCode, what: &str, body: &[u8]) {
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{what} answered {status} for {:?}",
        String::from_utf8_lossy(body)
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, body)) = input.split_first() else {
        return;
    };
    let api = api();
    let post = |router: &Router, uri: &str| call(router, Method::POST, uri, body.to_vec());
    match which % 4 {
        0 => check(post(&api.closed, "/proxies"), "create proxy", body),
        1 => check(post(&api.closed, "/populate"), "populate", body),
        2 => {
            // The disabled proxy of the live registry takes any update that leaves it
            // disabled: it then never listens, whatever address the body names.
            let enables = serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|v| v.get("enabled") == Some(&serde_json::Value::Bool(true)));
            let router = if enables { &api.closed } else { &api.live };
            check(post(router, "/proxies/p"), "update proxy", body);
        }
        _ => {
            // A toxic: created from the body, updated with the same body, then removed so
            // that the next input starts from the same registry.
            let status = post(&api.live, "/proxies/p/toxics");
            check(status, "create toxic", body);
            let toxics = toxic_list(api);
            for toxic in &toxics {
                use_toxic(toxic);
            }
            let names: Vec<String> = toxics
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect();
            for name in &names {
                let uri = format!("/proxies/p/toxics/{}", percent(name));
                check(post(&api.live, &uri), "update toxic", body);
                let gone = call(&api.live, Method::DELETE, &uri, Vec::new());
                assert_eq!(
                    gone,
                    StatusCode::NO_CONTENT,
                    "toxic {name:?} could not be removed"
                );
            }
        }
    }
});

fn toxic_list(api: &Api) -> Vec<serde_json::Value> {
    let request = Request::get("/proxies/p/toxics")
        .body(Body::empty())
        .expect("a request");
    api.runtime.block_on(async {
        let response = api.live.clone().oneshot(request).await.expect("an answer");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        serde_json::from_slice(&bytes).expect("a list")
    })
}

/// Does with an accepted toxic what the proxy does per connection and per chunk: a toxic
/// the API accepted must never make the proxy panic. Every delay is added to the present
/// instant, as the proxy adds it to `Instant::now()`.
fn use_toxic(toxic: &serde_json::Value) {
    use firedrill::proxy::toxics::{
        Bandwidth, HttpError, HttpLatency, Latency, LimitData, ResetPeer, Slicer, SlowClose,
        Timeout,
    };
    fn read<T: serde::de::DeserializeOwned>(toxic: &serde_json::Value) -> T {
        serde_json::from_value(toxic["attributes"].clone())
            .expect("an accepted toxic's attributes read back")
    }
    let now = std::time::Instant::now();
    let delay = |d: std::time::Duration, what: &str| {
        assert!(
            now.checked_add(d).is_some(),
            "{what} of {d:?} overflows the clock: {toxic}"
        );
    };
    let mut rng = fastrand::Rng::with_seed(7);
    match toxic["type"].as_str().unwrap_or_default() {
        "latency" => delay(read::<Latency>(toxic).sample(&mut rng), "latency"),
        "http_latency" => delay(read::<HttpLatency>(toxic).sample(&mut rng), "http latency"),
        "bandwidth" => {
            let b: Bandwidth = read(toxic);
            let piece = b.piece();
            delay(b.pause(piece.min(1 << 20)), "bandwidth pause");
        }
        "slicer" => {
            let s: Slicer = read(toxic);
            let _ = s.slice(&mut rng);
            delay(s.pause(), "slicer pause");
        }
        "slow_close" => delay(read::<SlowClose>(toxic).delay(), "slow close"),
        "timeout" => {
            if let Some(d) = read::<Timeout>(toxic).close_after() {
                delay(d, "timeout");
            }
        }
        "reset_peer" => delay(read::<ResetPeer>(toxic).reset_after(), "reset"),
        "limit_data" => {
            let l: LimitData = read(toxic);
            let _ = l.allowance(0);
            let _ = l.allowance(u64::MAX);
        }
        "http_error" => {
            let h: HttpError = read(toxic);
            let _ = h.response(toxic["name"].as_str().unwrap_or_default(), true);
        }
        other => panic!("the API accepted a toxic of unknown type {other:?}"),
    }
}

/// A path segment: every byte but unreserved ones percent-encoded.
fn percent(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
