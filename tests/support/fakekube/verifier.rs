//! The kubelet's part for firedrill's verifier pods: a pod whose container runs
//! `firedrill internal check --blocked ADDR --allowed ADDR` does not run anything; when it
//! would start, the fake works out what its two connections would see under the
//! NetworkPolicies it holds (`netpol::reachable`, from the pod itself, an address that is a
//! pod's being that pod) and completes the pod as a kubelet reports a finished container:
//! phase Succeeded (exit 0) or Failed, the container `terminated` with the exit code and the
//! finding as its termination message.

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

/// The pod completed with its check's finding, if it is a verifier pod.
pub fn finish(state: &State, pod: &Value, stamp: &str) -> Option<Value> {
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
    let message = json!({"blocked": blocked, "allowed": allowed}).to_string();
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
