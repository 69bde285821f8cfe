//! Ephemeral containers (`pods/{name}/ephemeralcontainers`) and firedrill's helper in them.
//!
//! The subresource is checked as the API server checks it: only `spec.ephemeralContainers`
//! is taken from the body; existing ones may not be changed or removed; names are unique in
//! the pod; ports, resources, probes, lifecycle and subPath mounts are refused; mounts name
//! pod volumes; PodSecurity admission covers them. A container added is started by the fake
//! kubelet at once (`ephemeralContainerStatuses[].state.running`), unless the test made
//! starts fail ([`HelperStart::Refuse`]).
//!
//! A container running `firedrill internal ...` is firedrill's helper, which the fake models:
//! it ends by itself at its `--for` or `--until`, whichever comes first (terminated, exit 0);
//! `firedrill internal status --id ID` run in it through `pods/exec` answers what a real
//! helper would show (its CPU time, resident memory, file and volume), or nothing done when
//! the test made helpers idle; `firedrill internal stop --id ID` ends it.

use super::patch::{self, PatchKind};
use super::store::{ApiError, State, TimerKind, Write, def, str_at};
use super::{Exec, ExecReply};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How the fake kubelet starts an ephemeral container.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum HelperStart {
    /// It runs at once.
    #[default]
    Run,
    /// It stays waiting with this reason and message (`ErrImagePull`, ...).
    Refuse(String, String),
}

/// What the test set for ephemeral containers.
#[derive(Clone, Debug, Default)]
pub struct Helpers {
    /// How they start.
    pub start: HelperStart,
    /// Helpers that run but do nothing (no CPU, no memory, no file).
    pub idle: bool,
}

/// The fields an ephemeral container may not have.
const FORBIDDEN: [&str; 6] = [
    "ports",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

fn names_in(spec: &Value, field: &str) -> Vec<String> {
    spec[field]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| str_at(c, "/name").to_string())
        .collect()
}

/// `PATCH` (with `kind`) or `PUT` (`kind` none) of a pod's ephemeral containers.
pub fn update(
    st: &mut State,
    ns: &str,
    name: &str,
    kind: Option<PatchKind>,
    body: &Value,
    w: Write,
) -> Result<Value, ApiError> {
    let pods = def("pods");
    let old = st
        .get("pods", ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    let mut changed = old.clone();
    match kind {
        Some(kind) => patch::apply(kind, &mut changed, body).map_err(ApiError::bad_request)?,
        None => changed = body.clone(),
    }
    let old_list = old["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let new_list = changed["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    for existing in &old_list {
        let n = str_at(existing, "/name");
        match new_list.iter().find(|c| str_at(c, "/name") == n) {
            None => problems.push(format!(
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"{n}\" may not be removed"
            )),
            Some(c) if c != existing => problems.push(format!(
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"{n}\" may not be changed"
            )),
            Some(_) => {}
        }
    }
    let spec = &old["spec"];
    let volumes = names_in(spec, "volumes");
    let mut taken: Vec<String> = names_in(spec, "containers");
    taken.extend(names_in(spec, "initContainers"));
    for (i, c) in new_list.iter().enumerate() {
        let n = str_at(c, "/name").to_string();
        let at = format!("spec.ephemeralContainers[{i}]");
        if taken.contains(&n) {
            problems.push(format!("{at}.name: Duplicate value: \"{n}\""));
        }
        taken.push(n.clone());
        if old_list.iter().any(|o| str_at(o, "/name") == n) {
            continue;
        }
        if str_at(c, "/image").is_empty() {
            problems.push(format!("{at}.image: Required value"));
        }
        for f in FORBIDDEN {
            if c.get(f).is_some() {
                problems.push(format!(
                    "{at}.{f}: Forbidden: cannot be set for an Ephemeral Container"
                ));
            }
        }
        for (j, m) in c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let v = str_at(m, "/name");
            if !volumes.iter().any(|x| x == v) {
                problems.push(format!("{at}.volumeMounts[{j}].name: Not found: \"{v}\""));
            }
            if m.get("subPath").is_some() {
                problems.push(format!(
                    "{at}.volumeMounts[{j}].subPath: Forbidden: cannot be set for an Ephemeral Container"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!("Pod \"{name}\" is invalid: {}", problems.join(", ")),
        ));
    }
    let mut updated = old.clone();
    updated["spec"]["ephemeralContainers"] = Value::Array(new_list.clone());
    super::security::admit_pod(st, ns, &updated)?;
    let stored = st.update(pods, ns, name, updated, None, w)?;
    if w.dry {
        return Ok(stored);
    }
    let added: Vec<Value> = new_list
        .into_iter()
        .filter(|c| !old_list.iter().any(|o| o["name"] == c["name"]))
        .collect();
    start(st, ns, name, &added);
    Ok(st.get("pods", ns, name).cloned().unwrap_or(stored))
}

/// The fake kubelet starts the containers added, and times each helper's end.
fn start(st: &mut State, ns: &str, name: &str, added: &[Value]) {
    let Some(mut pod) = st.get("pods", ns, name).cloned() else {
        return;
    };
    let uid = str_at(&pod, "/metadata/uid").to_string();
    let now = st.now_stamp();
    let mut statuses = pod["status"]["ephemeralContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in added {
        let container = str_at(c, "/name").to_string();
        let state = match &st.helpers.start {
            HelperStart::Run => {
                if let Some(after) = lifetime(c) {
                    st.timers.push(super::store::Timer {
                        at: Instant::now() + after,
                        kind: TimerKind::HelperEnd {
                            ns: ns.to_string(),
                            name: name.to_string(),
                            uid: uid.clone(),
                            container: container.clone(),
                        },
                    });
                }
                json!({"running": {"startedAt": now}})
            }
            HelperStart::Refuse(reason, message) => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
        };
        statuses.push(json!({
            "name": container,
            "image": c["image"],
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "state": state,
        }));
    }
    pod["status"]["ephemeralContainerStatuses"] = Value::Array(statuses);
    let status_only = Write {
        dry: false,
        seed: false,
    };
    let _ = st.update(def("pods"), ns, name, pod, Some("status"), status_only);
}

/// How long a helper runs: the earlier of its `--for` and its `--until`.
fn lifetime(container: &Value) -> Option<Duration> {
    let args: Vec<&str> = container["command"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if args.get(1) != Some(&"internal") {
        return None;
    }
    let after = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .copied()
    };
    let mut life = after("--for").and_then(parse_duration);
    if let Some(until) = after("--until").and_then(|u| u.parse::<u64>().ok()) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(until.saturating_sub(now));
        life = Some(life.map_or(left, |l| l.min(left)));
    }
    life
}

/// `250ms`, `5s`, `2m`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

/// Ends a helper: its container terminates with `exit_code`.
pub fn end(st: &mut State, ns: &str, name: &str, uid: &str, container: &str, exit_code: i32) {
    let Some(mut pod) = st.get("pods", ns, name).cloned() else {
        return;
    };
    if str_at(&pod, "/metadata/uid") != uid {
        return;
    }
    let Some(statuses) = pod["status"]["ephemeralContainerStatuses"].as_array_mut() else {
        return;
    };
    let Some(s) = statuses.iter_mut().find(|s| s["name"] == container) else {
        return;
    };
    let Some(started) = s.pointer("/state/running/startedAt").cloned() else {
        return;
    };
    let finished = st.now_stamp();
    s["state"] = json!({"terminated": {
        "exitCode": exit_code,
        "reason": if exit_code == 0 { "Completed" } else { "Error" },
        "startedAt": started,
        "finishedAt": finished,
    }});
    let status_only = Write {
        dry: false,
        seed: false,
    };
    let _ = st.update(def("pods"), ns, name, pod, Some("status"), status_only);
}

/// Whether `container` of the pod is an ephemeral container, and whether it runs.
pub fn ephemeral_state(pod: &Value, container: &str) -> Option<bool> {
    let listed = pod["spec"]["ephemeralContainers"]
        .as_array()?
        .iter()
        .any(|c| c["name"] == container);
    if !listed {
        return None;
    }
    let running = pod["status"]["ephemeralContainerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["name"] == container && s.pointer("/state/running").is_some());
    Some(running)
}

/// The answer of firedrill's helper commands run in an ephemeral container, if `exec` is one.
pub fn answer(st: &mut State, exec: &Exec) -> Option<ExecReply> {
    let cmd: Vec<&str> = exec.command.iter().map(String::as_str).collect();
    let ["firedrill", "internal", what, "--id", id, ..] = cmd.as_slice() else {
        return None;
    };
    let pod = st.get("pods", &exec.namespace, &exec.pod)?.clone();
    let helper = pod["spec"]["ephemeralContainers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == exec.container)?
        .clone();
    let args: Vec<String> = helper["command"]
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let marked = args.windows(2).any(|w| w[0] == "--id" && w[1] == *id);
    let running = ephemeral_state(&pod, &exec.container) == Some(true);
    let alive = marked && running;
    match *what {
        "status" => {
            if !alive {
                return Some(ExecReply::ok("{\"helpers\":[]}\n"));
            }
            Some(ExecReply::ok(&format!(
                "{}\n",
                json!({"helpers": [status_of(&args, &pod, st.helpers.idle)]})
            )))
        }
        "stop" => {
            if alive {
                let uid = str_at(&pod, "/metadata/uid").to_string();
                end(st, &exec.namespace, &exec.pod, &uid, &exec.container, 0);
                Some(ExecReply::ok("{\"stopped\":[1],\"running\":[]}\n"))
            } else {
                Some(ExecReply::ok("{\"stopped\":[],\"running\":[]}\n"))
            }
        }
        _ => None,
    }
}

/// What a real helper with these arguments shows after half a second.
fn status_of(args: &[String], pod: &Value, idle: bool) -> Value {
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let kind = args.get(2).cloned().unwrap_or_default();
    let window = 0.5;
    let mut status = json!({
        "pid": 1,
        "kind": kind,
        "state": "S",
        "cpuSeconds": 0.0,
        "windowSeconds": window,
        "rssKib": 2048,
    });
    if idle {
        if kind == "disk-fill" {
            status["fileBytes"] = json!(0);
        }
        return status;
    }
    match kind.as_str() {
        "cpu-stress" => {
            let workers = after("--workers").unwrap_or(1.0);
            let load = after("--load").unwrap_or(100.0) / 100.0;
            let limit = cpu_limit(pod).unwrap_or(f64::MAX);
            status["state"] = json!("R");
            status["cpuSeconds"] = json!(workers.min(limit) * load * window);
        }
        "memory-pressure" => {
            status["rssKib"] = json!(after("--mib").unwrap_or(0.0) as u64 * 1024 + 2048);
        }
        "disk-fill" => {
            let total: u64 = 10 * 1024 * 1024 * 1024;
            let bytes = match (after("--mib"), after("--percent")) {
                (Some(mib), _) => mib as u64 * 1024 * 1024,
                (None, Some(p)) => (total as f64 * p / 100.0) as u64,
                _ => 0,
            };
            status["fileBytes"] = json!(bytes);
            status["volume"] = json!({
                "totalBytes": total,
                "usedBytes": bytes,
                "availableBytes": total - bytes.min(total),
            });
        }
        _ => {}
    }
    status
}

/// The pod's CPU limit in cores, when every container has one.
fn cpu_limit(pod: &Value) -> Option<f64> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .map(|c| {
            let q = c.pointer("/resources/limits/cpu")?.as_str()?;
            match q.strip_suffix('m') {
                Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
                None => q.parse().ok(),
            }
        })
        .sum()
}
