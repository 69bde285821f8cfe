//! Hostile clients against the real `firedrill proxy`'s admin API: each gets a bounded answer
//! or a closed connection, a normal client is served meanwhile, and the proxies are as they
//! were (docs/security.md, "Listeners").

use std::net::SocketAddr;

use crate::common::shared;
use crate::hostile::{self, LIMITS_ENV, Target};
use crate::proxy_process::{echo_server, start_with_env};
use serde_json::json;

#[test]
fn admin_api_withstands_hostile_clients() {
    let _guard = shared();
    let p = start_with_env(&[], &LIMITS_ENV);
    let upstream = echo_server();
    let body = json!({"name": "web", "listen": "127.0.0.1:0", "upstream": upstream}).to_string();
    assert_eq!(p.call("POST", "/proxies", Some(&body)).0, 201);
    let before = p.json("GET", "/proxies", None);
    let folder = tempfile::tempdir().unwrap();
    let secret = hostile::plant_secret(&folder.path().join("served"));
    let addr: SocketAddr = p.admin.parse().unwrap();
    let normal = move || hostile::get(addr, "/version").status == Some(200);

    hostile::attack(&Target {
        addr,
        post_path: "/proxies",
        body_cap: 1024 * 1024,
        secret: &secret,
        normal: &normal,
    });

    assert_eq!(
        p.json("GET", "/proxies", None),
        before,
        "the attacks changed the proxies"
    );
}

#[test]
fn admin_api_refuses_connections_over_the_cap() {
    let _guard = shared();
    // A header timeout longer than the test, so the idle connections hold their places.
    let p = start_with_env(
        &[],
        &[
            ("FIREDRILL_LISTENER_HEADER_TIMEOUT", "60s"),
            ("FIREDRILL_LISTENER_MAX_CONNECTIONS", "20"),
        ],
    );
    let addr: SocketAddr = p.admin.parse().unwrap();
    let mut idle = hostile::idle_connections(addr, 20);
    // One past the cap: a 503 or a close at once, not a wait in the backlog.
    let refused = hostile::get(addr, "/version");
    assert!(refused.refused(&[503]), "{refused:?}");
    assert!(
        refused.elapsed < hostile::PROMPT,
        "refused only after {:?}",
        refused.elapsed
    );
    // Places free up as connections close.
    idle.truncate(0);
    let served = crate::common::wait_until(hostile::PROMPT, || {
        hostile::get(addr, "/version").status == Some(200)
    });
    assert!(served, "not serving once the idle connections closed");
}
