//! The kubelet's part for firedrill's verifier pods: a pod whose container runs
//! `firedrill internal check --blocked ADDR --allowed ADDR` does not run anything; when it
//! would start, the fake works out what its two connections would see under the
//! NetworkPolicies it holds (`netpol::reachable`, from the pod itself, an address that is a
//! pod's being that pod) and completes the pod as a kubelet reports a finished container:
//! phase Succeeded (exit 0) or Failed, the container `terminated` with the exit code and the
//! finding as its termination message.
//!
//! A dependency fault's verifier pod runs `firedrill internal http-check --to
//! SERVICE.NS.svc:PORT`: the fake has no proxy process to send it through, so it answers from
//! what firedrill configured, the proxy's ConfigMap (`proxy.json`) of the Deployment the
//! Service now selects: the first toxic of the port's proxy decides each request's fate (a
//! latency answers after it, an error toxic answers its status at its rate, a reset closes,
//! a timeout is silent, a proxy not enabled refuses). `set_proxies_untouched(true)` answers
//! every request `200 OK` at once, as a proxy that passes requests untouched.

use super::netpol::{self, Reach};
use super::store::{State, str_at};
use serde_json::{Value, json};

/// The `--blocked` and `--allowed` addresses of a verifier pod's check, if it is one.
fn check_args(pod: &Value) -> Option<(String, String)> {
    let container = pod.pointer("/spec/containers/0")?;
    let words: Vec<&str> = container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let at = words
        .windows(3)
        .position(|w| w == ["firedrill", "internal", "check"])?;
    let rest = &words[at + 3..];
    let value = |flag: &str| {
        rest.windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].to_string())
    };
    Some((value("--blocked")?, value("--allowed")?))
}

/// What one connection from `from` to `addr` (`IP:PORT`) sees: the real check's JSON.
fn attempt(state: &State, from: &str, addr: &str) -> Value {
    let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, "0"));
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().unwrap_or(0);
    let to = state
        .list("pods", None)
        .into_iter()
        .find(|p| {
            str_at(p, "/status/podIP") == ip
                && format!(
                    "{}/{}",
                    str_at(p, "/metadata/namespace"),
                    str_at(p, "/metadata/name")
                ) != from
        })
        .map(|p| {
            Reach::PodPort(
                format!(
                    "{}/{}",
                    str_at(p, "/metadata/namespace"),
                    str_at(p, "/metadata/name")
                ),
                port,
            )
        })
        .unwrap_or_else(|| Reach::Cidr(ip.to_string(), port));
    let reached = netpol::reachable(state, from, &to).unwrap_or(false);
    json!({
        "target": addr,
        "reached": reached,
        "how": if reached { "connected".to_string() } else { "timed out after 3000 ms".to_string() },
    })
}

/// The words of the pod's first container, command then arguments, after `firedrill
/// internal SUBCOMMAND`.
fn internal_args<'a>(pod: &'a Value, subcommand: &str) -> Option<Vec<&'a str>> {
    let container = pod.pointer("/spec/containers/0")?;
    let words: Vec<&str> = container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let at = words
        .windows(3)
        .position(|w| w == ["firedrill", "internal", subcommand])?;
    Some(words[at + 3..].to_vec())
}

/// What the requests of `firedrill internal http-check` meet, worked out from the proxy's
/// configuration: the check's JSON and its exit code.
fn http_check(state: &State, args: &[&str]) -> (String, i32) {
    let value = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1]);
    let to = value("--to").unwrap_or_default();
    let tries: usize = value("--tries").and_then(|t| t.parse().ok()).unwrap_or(1);
    let status: Option<u64> = value("--status").and_then(|s| s.parse().ok());
    let wait: u64 = value("--wait")
        .and_then(|w| w.strip_suffix("ms"))
        .and_then(|w| w.parse().ok())
        .unwrap_or(2000);
    let ok = json!({"met": "answer", "line": "HTTP/1.1 200 OK", "after_ms": 2});
    let (host, port) = to.rsplit_once(':').unwrap_or((to, "80"));
    let port: u64 = port.parse().unwrap_or(80);
    let mut parts = host.split('.');
    let (svc, ns) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    // The port's proxy in the configuration of the proxy the Service selects.
    let proxy = state.get("services", ns, svc).and_then(|service| {
        let deployment = service["spec"]["selector"]["firedrill.dev/proxy"].as_str()?;
        let name = service["spec"]["ports"]
            .as_array()?
            .iter()
            .find(|p| p["port"].as_u64() == Some(port))
            .map(|p| {
                p["name"]
                    .as_str()
                    .map_or_else(|| format!("port-{port}"), str::to_owned)
            })?;
        let config = state.get("configmaps", ns, deployment)?;
        let proxies: Value = serde_json::from_str(config["data"]["proxy.json"].as_str()?).ok()?;
        proxies
            .as_array()?
            .iter()
            .find(|p| p["name"].as_str() == Some(name.as_str()))
            .cloned()
    });
    let mut seen = Vec::new();
    for _ in 0..tries.max(1) {
        let met = match &proxy {
            _ if state.proxies_untouched => ok.clone(),
            None => ok.clone(),
            Some(p) if p["enabled"] == false => {
                json!({"met": "no-connection", "error": "Connection refused (os error 111)"})
            }
            Some(p) => {
                let toxic = &p["toxics"][0];
                let attributes = &toxic["attributes"];
                match toxic["type"].as_str().unwrap_or_default() {
                    "latency" | "http_latency" => {
                        json!({"met": "answer", "line": "HTTP/1.1 200 OK",
                        "after_ms": attributes["latency"].as_u64().unwrap_or(0) + 2})
                    }
                    "http_error" => {
                        let rate = attributes["probability"].as_f64().unwrap_or(1.0);
                        if fastrand::f64() < rate {
                            let code = attributes["status_code"].as_u64().unwrap_or(503);
                            json!({"met": "answer", "line": format!("HTTP/1.1 {code} Fault Injected"), "after_ms": 1})
                        } else {
                            ok.clone()
                        }
                    }
                    "reset_peer" => json!({"met": "closed", "after_ms": 1}),
                    "timeout" => json!({"met": "silence", "waited_ms": wait}),
                    _ => ok.clone(),
                }
            }
        };
        let stop = met["met"] == "no-connection"
            || status.is_some_and(|s| {
                met["line"]
                    .as_str()
                    .is_some_and(|l| l.contains(&format!(" {s} ")))
            });
        seen.push(met);
        if stop {
            break;
        }
    }
    (json!({"to": to, "seen": seen}).to_string(), 0)
}

/// The pod completed with its check's finding, if it is a verifier pod.
pub fn finish(state: &State, pod: &Value, stamp: &str) -> Option<Value> {
    let (message, code) = if let Some(args) = internal_args(pod, "http-check") {
        http_check(state, &args)
    } else {
        let (blocked, allowed) = check_args(pod)?;
        let from = format!(
            "{}/{}",
            str_at(pod, "/metadata/namespace"),
            str_at(pod, "/metadata/name")
        );
        let blocked = attempt(state, &from, &blocked);
        let allowed = attempt(state, &from, &allowed);
        let code = match (blocked["reached"] == true, allowed["reached"] == true) {
            (true, _) => 1,
            (false, true) => 0,
            (false, false) => 2,
        };
        (
            json!({"blocked": blocked, "allowed": allowed}).to_string(),
            code,
        )
    };
    let container = &pod["spec"]["containers"][0];
    let container_id = format!("containerd://{:016x}", fastrand::u64(..));
    let mut pod = pod.clone();
    pod["status"]["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
    pod["status"]["startTime"] = json!(stamp);
    pod["status"]["containerStatuses"] = json!([{
        "name": container["name"], "image": container["image"], "imageID": "",
        "containerID": container_id,
        "ready": false, "started": false, "restartCount": 0,
        "state": {"terminated": {
            "exitCode": code,
            "reason": if code == 0 { "Completed" } else { "Error" },
            "message": message,
            "startedAt": stamp, "finishedAt": stamp,
            "containerID": container_id,
        }},
    }]);
    let scheduled = pod
        .pointer("/status/conditions/0/lastTransitionTime")
        .cloned()
        .unwrap_or_else(|| json!(stamp));
    pod["status"]["conditions"] = json!([
        {"type": "PodReadyToStartContainers", "status": "False", "lastTransitionTime": stamp},
        {"type": "Initialized", "status": "True", "reason": "PodCompleted", "lastTransitionTime": stamp},
        {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": stamp},
        {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": stamp},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled},
    ]);
    Some(pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_is_found_in_the_command_and_its_arguments() {
        let pod = json!({"spec": {"containers": [{"name": "check", "command": ["firedrill"],
            "args": ["internal", "check", "--blocked", "10.0.0.1:80", "--allowed", "10.0.0.2:8080", "--timeout", "3s"]}]}});
        assert_eq!(
            check_args(&pod),
            Some(("10.0.0.1:80".to_string(), "10.0.0.2:8080".to_string()))
        );
        let app = json!({"spec": {"containers": [{"name": "app", "args": ["serve"]}]}});
        assert_eq!(check_args(&app), None);
    }
}
