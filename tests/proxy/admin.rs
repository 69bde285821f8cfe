//! Black-box tests of `firedrill proxy`: every admin API route and error status over raw
//! HTTP, traffic through a proxy, `--config`, bad input and signals.

use std::process::Command;

use crate::common::shared;
use crate::proxy_process::{echo_server, echo_through, start, write};
use serde_json::json;

fn proxy_body(name: &str, upstream: &str) -> String {
    json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream}).to_string()
}

#[test]
fn version_and_an_empty_start() {
    let _guard = shared();
    let p = start(&[]);
    let (status, text) = p.call("GET", "/version", None);
    assert_eq!((status, text.as_str()), (200, "2.12.0"));
    assert_eq!(p.json("GET", "/proxies", None), (200, json!({})));
}

#[test]
fn proxy_routes_and_statuses() {
    let _guard = shared();
    let p = start(&[]);
    let upstream = echo_server();
    let (status, created) = p.json("POST", "/proxies", Some(&proxy_body("web", &upstream)));
    assert_eq!(status, 201);
    assert_eq!(created["name"], "web");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["toxics"], json!([]));
    let listen = created["listen"].as_str().unwrap().to_owned();
    assert!(
        !listen.ends_with(":0"),
        "the real port is reported: {listen}"
    );
    assert_eq!(echo_through(&listen, b"hello").unwrap(), b"hello");

    let (status, body) = p.json("POST", "/proxies", Some(&proxy_body("web", &upstream)));
    assert_eq!(status, 409);
    assert_eq!(body["status"], 409);
    assert!(body["error"].as_str().unwrap().contains("already exists"));

    let (status, list) = p.json("GET", "/proxies", None);
    assert_eq!(status, 200);
    assert_eq!(list["web"]["listen"], listen.as_str());
    assert_eq!(
        p.json("GET", "/proxies/web", None).1["upstream"],
        upstream.as_str()
    );
    assert_eq!(p.json("GET", "/proxies/nope", None).0, 404);

    // Disable: the listener closes; enable: the same address again.
    let (status, off) = p.json("POST", "/proxies/web", Some(r#"{"enabled": false}"#));
    assert_eq!((status, &off["enabled"]), (200, &json!(false)));
    assert!(echo_through(&listen, b"x").is_none());
    let (status, on) = p.json("POST", "/proxies/web", Some(r#"{"enabled": true}"#));
    assert_eq!(
        (status, on["listen"].as_str()),
        (200, Some(listen.as_str()))
    );
    assert_eq!(echo_through(&listen, b"again").unwrap(), b"again");
    assert_eq!(p.json("POST", "/proxies/nope", Some("{}")).0, 404);

    assert_eq!(p.call("DELETE", "/proxies/web", None).0, 204);
    assert_eq!(p.call("DELETE", "/proxies/web", None).0, 404);
    assert!(echo_through(&listen, b"x").is_none());
}

#[test]
fn toxic_routes_and_statuses() {
    let _guard = shared();
    let p = start(&[]);
    let upstream = echo_server();
    p.json("POST", "/proxies", Some(&proxy_body("db", &upstream)));

    let (status, toxic) = p.json(
        "POST",
        "/proxies/db/toxics",
        Some(r#"{"type": "latency", "attributes": {"latency": 10}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(
        toxic,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
               "toxicity": 1.0, "attributes": {"latency": 10, "jitter": 0}})
    );
    let again = p.json(
        "POST",
        "/proxies/db/toxics",
        Some(r#"{"type": "latency", "attributes": {"latency": 10}}"#),
    );
    assert_eq!(again.0, 409);

    let (status, err) = p.json("POST", "/proxies/db/toxics", Some(r#"{"type": "nope"}"#));
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("invalid toxic type")
    );
    let (status, err) = p.json(
        "POST",
        "/proxies/db/toxics",
        Some(r#"{"type": "bandwidth", "attributes": {"rate": "fast"}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("attributes.rate"),
        "{err}"
    );
    let (status, err) = p.json(
        "POST",
        "/proxies/db/toxics",
        Some(r#"{"type": "latency", "stream": "sideways"}"#),
    );
    assert_eq!(status, 400, "{err}");
    let (status, _) = p.json(
        "POST",
        "/proxies/db/toxics",
        Some(r#"{"type": "latency", "toxicity": 1.5, "name": "t2"}"#),
    );
    assert_eq!(status, 400);
    assert_eq!(
        p.json(
            "POST",
            "/proxies/nope/toxics",
            Some(r#"{"type": "latency"}"#)
        )
        .0,
        404
    );

    let (status, list) = p.json("GET", "/proxies/db/toxics", None);
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    assert_eq!(
        p.json("GET", "/proxies/db/toxics/latency_downstream", None)
            .1["attributes"]["latency"],
        10
    );
    assert_eq!(p.json("GET", "/proxies/db/toxics/nope", None).0, 404);

    // Updates merge attributes, as Toxiproxy's do.
    let (status, updated) = p.json(
        "POST",
        "/proxies/db/toxics/latency_downstream",
        Some(r#"{"attributes": {"jitter": 3}, "toxicity": 0.5}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(updated["attributes"], json!({"latency": 10, "jitter": 3}));
    assert_eq!(updated["toxicity"], 0.5);
    assert_eq!(p.json("POST", "/proxies/db/toxics/nope", Some("{}")).0, 404);
    assert_eq!(
        p.json(
            "POST",
            "/proxies/db/toxics/latency_downstream",
            Some(r#"{"attributes": {"latency": -1}}"#)
        )
        .0,
        400
    );
    let proxy = p.json("GET", "/proxies/db", None).1;
    assert_eq!(proxy["toxics"][0]["name"], "latency_downstream");

    assert_eq!(
        p.call("DELETE", "/proxies/db/toxics/latency_downstream", None)
            .0,
        204
    );
    assert_eq!(
        p.call("DELETE", "/proxies/db/toxics/latency_downstream", None)
            .0,
        404
    );
}

#[test]
fn http_toxics_are_accepted_on_the_upstream_stream_only() {
    let _guard = shared();
    let p = start(&[]);
    p.json("POST", "/proxies", Some(&proxy_body("api", &echo_server())));
    let (status, _) = p.json(
        "POST",
        "/proxies/api/toxics",
        Some(r#"{"type": "http_error", "attributes": {"status_code": 503, "probability": 0.3}}"#),
    );
    assert_eq!(status, 400);
    let (status, toxic) = p.json(
        "POST",
        "/proxies/api/toxics",
        Some(r#"{"type": "http_error", "stream": "upstream", "attributes": {"status_code": 503, "probability": 0.3}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(toxic["name"], "http_error_upstream");
    assert_eq!(toxic["attributes"]["probability"], 0.3);
}

#[test]
fn http_toxics_take_a_request_match_and_refuse_a_bad_one() {
    let _guard = shared();
    let p = start(&[]);
    let (_, proxy) = p.json("POST", "/proxies", Some(&proxy_body("api", &echo_server())));
    let listen = proxy["listen"].as_str().unwrap().to_owned();
    for (attributes, field) in [
        (
            json!({"match": {"path_regex": "^/pay/("}}),
            "attributes.match.path_regex",
        ),
        (json!({"match": {"method": ""}}), "attributes.match.method"),
        (json!({"match": {}}), "attributes.match"),
        (json!({"match": {"path": "/pay"}}), "attributes.match"),
        (
            json!({"match": {"header": {"name": "x tenant", "value": "a"}}}),
            "attributes.match.header.name",
        ),
    ] {
        for kind in ["http_error", "http_latency"] {
            let body = json!({"type": kind, "stream": "upstream", "attributes": attributes});
            let (status, err) = p.json("POST", "/proxies/api/toxics", Some(&body.to_string()));
            assert_eq!(status, 400, "{body}: {err}");
            let message = err["error"].as_str().unwrap();
            assert!(message.contains(field), "{body}: {message}");
        }
    }
    let (status, toxic) = p.json(
        "POST",
        "/proxies/api/toxics",
        Some(
            &json!({"name": "pay", "type": "http_error", "stream": "upstream",
                "attributes": {"status_code": 502, "match": {"method": "POST", "path_prefix": "/pay"}}})
            .to_string(),
        ),
    );
    assert_eq!(status, 200, "{toxic}");
    assert_eq!(
        toxic["attributes"]["match"],
        json!({"method": "POST", "path_prefix": "/pay"})
    );
    // The echo upstream sends a forwarded request back as it was; the toxic answers the
    // selected one itself.
    let other = b"POST /cart HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(echo_through(&listen, other).as_deref(), Some(&other[..]));
    let get = b"GET /pay/1 HTTP/1.1\r\n\r\n";
    assert_eq!(echo_through(&listen, get).as_deref(), Some(&get[..]));
    let selected = b"POST /pay/1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    let answer = echo_through(&listen, selected).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 502 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // An update with a bad match is refused and leaves the toxic as it was.
    let (status, err) = p.json(
        "POST",
        "/proxies/api/toxics/pay",
        Some(r#"{"attributes": {"match": {"path_regex": "("}}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("attributes.match.path_regex"),
        "{err}"
    );
    let (_, toxic) = p.json("GET", "/proxies/api/toxics/pay", None);
    assert_eq!(toxic["attributes"]["match"]["path_prefix"], "/pay");
    // `"match": null` removes the match: every request is answered.
    let (status, toxic) = p.json(
        "POST",
        "/proxies/api/toxics/pay",
        Some(r#"{"attributes": {"match": null}}"#),
    );
    assert_eq!(status, 200);
    assert!(toxic["attributes"].get("match").is_none(), "{toxic}");
    let answer = echo_through(&listen, other).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 502 "));
}

#[test]
fn malformed_requests_get_json_errors() {
    let _guard = shared();
    let p = start(&[]);
    let (status, err) = p.json("POST", "/proxies", Some(r#"{"name": "a", "upstream": 7}"#));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("upstream"), "{err}");
    let (status, err) = p.json(
        "POST",
        "/proxies",
        Some(r#"{"name": "a", "upstream": "x:1", "color": 1}"#),
    );
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("color"), "{err}");
    let (status, err) = p.json("POST", "/proxies", Some(r#"{"name": "a"}"#));
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("missing required field"),
        "{err}"
    );
    assert_eq!(p.json("POST", "/proxies", Some("{not json")).0, 400);
    assert_eq!(p.json("POST", "/proxies", Some("")).0, 400);

    let big = format!("[\"{}\"]", "x".repeat(2 * 1024 * 1024));
    let (status, err) = p.json("POST", "/populate", Some(&big));
    assert_eq!((status, &err["status"]), (413, &json!(413)));

    let (status, err) = p.json("GET", "/nowhere", None);
    assert_eq!((status, &err["status"]), (404, &json!(404)));
    let (status, err) = p.json("PUT", "/proxies", Some("{}"));
    assert_eq!((status, &err["status"]), (405, &json!(405)));
    assert_eq!(p.json("DELETE", "/version", None).0, 405);

    // Still alive after all that.
    assert_eq!(p.call("GET", "/version", None).0, 200);
}

#[test]
fn populate_creates_keeps_and_replaces() {
    let _guard = shared();
    let p = start(&[]);
    let up1 = echo_server();
    let up2 = echo_server();
    let body = json!([
        {"name": "a", "listen": "127.0.0.1:0", "upstream": up1},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": up1, "enabled": false},
    ]);
    let (status, out) = p.json("POST", "/populate", Some(&body.to_string()));
    assert_eq!(status, 201);
    let proxies = out["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 2);
    assert_eq!(proxies[1]["enabled"], false);
    let a_listen = proxies[0]["listen"].as_str().unwrap().to_owned();

    // Same listen and upstream: kept, toxics and all. Different upstream: replaced.
    p.json("POST", "/proxies/a/toxics", Some(r#"{"type": "latency"}"#));
    let body = json!([{"name": "a", "listen": a_listen, "upstream": up1},
                      {"name": "b", "listen": "127.0.0.1:0", "upstream": up2}]);
    let (status, out) = p.json("POST", "/populate", Some(&body.to_string()));
    assert_eq!(status, 201);
    assert_eq!(out["proxies"][0]["toxics"].as_array().unwrap().len(), 1);
    assert_eq!(out["proxies"][1]["upstream"], up2.as_str());
    assert_eq!(out["proxies"][1]["enabled"], true);

    let (status, err) = p.json("POST", "/populate", Some(r#"[{"name": "c"}]"#));
    assert_eq!(status, 400, "{err}");
    let (status, err) = p.json("POST", "/populate", Some(r#"{"name": "c"}"#));
    assert_eq!(status, 400, "{err}");
}

#[test]
fn reset_enables_every_proxy_and_removes_every_toxic() {
    let _guard = shared();
    let p = start(&[]);
    let (_, created) = p.json("POST", "/proxies", Some(&proxy_body("r", &echo_server())));
    let listen = created["listen"].as_str().unwrap().to_owned();
    p.json(
        "POST",
        "/proxies/r/toxics",
        Some(r#"{"type": "timeout", "stream": "upstream"}"#),
    );
    p.json("POST", "/proxies/r", Some(r#"{"enabled": false}"#));
    assert_eq!(p.call("POST", "/reset", None).0, 204);
    let proxy = p.json("GET", "/proxies/r", None).1;
    assert_eq!(proxy["enabled"], true);
    assert_eq!(proxy["toxics"], json!([]));
    assert_eq!(echo_through(&listen, b"ok").unwrap(), b"ok");
}

#[test]
fn a_config_file_creates_proxies_at_start() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let upstream = echo_server();
    let config = write(
        dir.path(),
        "proxies.json",
        &json!([{"name": "cfg", "listen": "127.0.0.1:0", "upstream": upstream}]).to_string(),
    );
    let p = start(&["--config", config.to_str().unwrap()]);
    let proxy = p.json("GET", "/proxies/cfg", None).1;
    let listen = proxy["listen"].as_str().unwrap();
    assert_eq!(echo_through(listen, b"cfg").unwrap(), b"cfg");
}

#[test]
fn bad_config_and_bad_flags_exit_2_naming_the_problem() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "bad.json", r#"[{"name": "x", "upstream": 5}]"#);
    let out = Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(["proxy", "--admin", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("[0].upstream"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(["proxy", "--config"])
        .arg(dir.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));

    // A listen address already taken: the file and the address are named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let config = write(
        dir.path(),
        "taken.json",
        &json!([{"name": "t", "listen": addr, "upstream": "127.0.0.1:1"}]).to_string(),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(["proxy", "--admin", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("taken.json") && err.contains(&addr), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(["proxy", "--admin", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigterm_stops_gracefully() {
    let _guard = shared();
    let mut p = start(&[]);
    p.json("POST", "/proxies", Some(&proxy_body("s", &echo_server())));
    let status = p.stop();
    assert_eq!(status.code(), Some(0));
}
