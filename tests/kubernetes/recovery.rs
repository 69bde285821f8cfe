//! Per-pod recovery figures in result.json and the reports, and Warning events as a
//! detection signal: the real binary against the fake API server.

use std::time::{Duration, SystemTime};

use crate::common;
use crate::common::wait_for;
use crate::experiment::Experiment;
use crate::fakekube::FakeKube;
use crate::kuberun::{CHAOS, namespace, start};
use serde_json::{Value, json};

/// The API server's timestamps have whole-second resolution: a difference of two of them
/// errs by less than a second either way (and a figure a whole delay off fails).
const SERVER_TOLERANCE_MS: f64 = 999.0;
/// The client's figures are two watch observations apart; each comes a few milliseconds
/// after the fake's change, plus the fake controller's wake-up. 250 ms leaves room for a
/// loaded two-core machine without hiding a figure off by a whole delay.
const CLIENT_TOLERANCE_MS: f64 = 250.0;

/// A Deployment `web` of 3 pods in `shop` whose pods have a grace period of 1 s (so that a
/// deletion gets a deletionTimestamp, as on a real cluster), all Ready; then the delays.
fn cluster(reschedule: Duration, ready: Duration) -> FakeKube {
    let fake = FakeKube::start();
    namespace(&fake, "shop");
    let labels = json!({"app": "web", CHAOS.0: CHAOS.1});
    fake.set_delays(Duration::from_millis(10), Duration::from_millis(10));
    fake.apply(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "app", "image": "registry.example/app:1.0"}],
                },
            },
        },
    }));
    wait_for("three Ready pods", Duration::from_secs(10), || {
        fake.object("Deployment", "shop", "web").and_then(|d| {
            d.pointer("/status/availableReplicas")
                .and_then(Value::as_i64)
        }) == Some(3)
    });
    fake.set_delays(reschedule, ready);
    fake
}

/// An experiment on `shop/web` of every pod (the figures are per pod) with this fault and
/// these detection signals.
fn experiment(fault: &str, signals: &str) -> String {
    Experiment::kubernetes("kube-recovery")
        .interval("50ms")
        .signals("20s", signals)
        .recovery("{stableFor: 200ms, timeout: 30s}")
        .safety("{maxAffectedPercent: 100}")
        .faults(&format!("    - {fault}"))
        .yaml()
}

const PROBE_SIGNAL: &str =
    "      - {name: degraded, type: probe-fails, probe: web-available, consecutive: 1}";

fn near(what: &str, measured: &Value, truth: f64, tolerance: f64, context: &Value) {
    let m = measured.as_f64().unwrap_or(f64::NAN);
    assert!(
        (m - truth).abs() <= tolerance,
        "{what}: measured {m} ms, expected {truth} ± {tolerance} ms: {context}"
    );
}

/// Runs `fault` on all 3 pods and checks every pod's figures against the delays, in
/// result.json, in its summary, and in the reports.
fn per_pod_figures_match_the_delays(fault: &str) {
    let _guard = common::alone();
    let (reschedule, ready) = (Duration::from_secs(1), Duration::from_secs(1));
    let fake = cluster(reschedule, ready);
    let dir = tempfile::tempdir().unwrap();
    let run = start(&fake, dir.path(), &experiment(fault, PROBE_SIGNAL));
    let finished = run.finish_within(Duration::from_secs(90));
    let result = finished.succeeded();
    let it = &result["iterations"][0];
    let pods = it["podRecovery"].as_array().expect("podRecovery").clone();
    assert_eq!(pods.len(), 3, "{it}");
    let targets: Vec<&Value> = it["faults"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let (r_ms, ready_ms) = (reschedule.as_secs_f64() * 1e3, ready.as_secs_f64() * 1e3);
    for p in &pods {
        assert!(targets.contains(&&p["pod"]), "{p} is one of {targets:?}");
        assert!(
            p["replacement"]
                .as_str()
                .is_some_and(|r| r.starts_with("shop/web-")),
            "{p}"
        );
        near(
            "rescheduleMs",
            &p["rescheduleMs"],
            r_ms,
            CLIENT_TOLERANCE_MS,
            p,
        );
        near("readyMs", &p["readyMs"], ready_ms, CLIENT_TOLERANCE_MS, p);
        near(
            "serverRescheduleMs",
            &p["serverRescheduleMs"],
            r_ms,
            SERVER_TOLERANCE_MS,
            p,
        );
        near(
            "serverReadyMs",
            &p["serverReadyMs"],
            ready_ms,
            SERVER_TOLERANCE_MS,
            p,
        );
    }
    let replacements: std::collections::BTreeSet<&str> = pods
        .iter()
        .filter_map(|p| p["replacement"].as_str())
        .collect();
    assert_eq!(replacements.len(), 3, "one replacement each: {pods:?}");

    let summary = &result["summary"]["podRecovery"];
    assert_eq!(summary["pods"], 3, "{summary}");
    for (key, truth, tolerance) in [
        ("rescheduleMs", r_ms, CLIENT_TOLERANCE_MS),
        ("readyMs", ready_ms, CLIENT_TOLERANCE_MS),
        ("serverRescheduleMs", r_ms, SERVER_TOLERANCE_MS),
        ("serverReadyMs", ready_ms, SERVER_TOLERANCE_MS),
    ] {
        assert_eq!(summary[key]["count"], 3, "{summary}");
        near(key, &summary[key]["p50"], truth, tolerance, summary);
        near(key, &summary[key]["max"], truth, tolerance, summary);
    }

    let markdown = std::fs::read_to_string(finished.out.join("scorecard.md")).unwrap();
    assert!(markdown.contains("## Pod recovery"), "{markdown}");
    let html = std::fs::read_to_string(finished.out.join("report.html")).unwrap();
    assert!(
        html.contains("Pod recovery"),
        "the HTML report has the section"
    );
}

#[test]
fn pod_delete_figures_per_pod_agree_with_the_fakes_delays() {
    per_pod_figures_match_the_delays(
        "{name: delete-all, type: pod-delete, select: {mode: all, workload: web}}",
    );
}

#[test]
fn pod_evict_figures_per_pod_agree_with_the_fakes_delays() {
    per_pod_figures_match_the_delays(
        "{name: evict-all, type: pod-evict, select: {mode: all, workload: web}}",
    );
}

fn millis(at: &Value) -> f64 {
    let t = humantime::parse_rfc3339(at.as_str().expect("a time")).unwrap();
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

#[test]
fn a_new_warning_event_with_a_listed_reason_on_a_workload_pod_detects_the_fault() {
    let _guard = common::shared();
    let fake = cluster(Duration::from_millis(300), Duration::from_millis(300));
    let old_pod = fake.objects("Pod", Some("shop"))[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.add_deployment("shop", "api", 1, &[("app", "api"), CHAOS]);
    // Older than the injection: listed by the watch, never counted.
    fake.add_warning_event(
        "shop",
        &old_pod,
        "BackOff",
        "Back-off restarting failed container",
    );
    let dir = tempfile::tempdir().unwrap();
    let signal = "      - {name: crash-loop, type: kubernetes-event, workload: web, reasons: [BackOff, Unhealthy]}";
    let yaml = experiment(
        "{name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}",
        signal,
    );
    let run = start(&fake, dir.path(), &yaml);
    wait_for("the deletion", Duration::from_secs(20), || {
        fake.requests().iter().any(|r| r.method == "DELETE")
    });
    let history = || fake.pod_history("shop", "web");
    wait_for("the replacement", Duration::from_secs(10), || {
        history().len() == 4
    });
    let replacement = history()
        .into_iter()
        .max_by_key(|l| l.created)
        .unwrap()
        .name;
    let api_pod = fake
        .objects("Pod", Some("shop"))
        .into_iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .find(|n| n.starts_with("api-"))
        .unwrap();
    // Not counted: a reason not listed, a pod of another workload, a Normal event.
    fake.add_warning_event("shop", &replacement, "FailedMount", "volume not found");
    fake.add_warning_event("shop", &api_pod, "BackOff", "another workload's pod");
    let added = SystemTime::now();
    fake.add_warning_event("shop", &replacement, "Unhealthy", "Readiness probe failed");
    let finished = run.finish_within(Duration::from_secs(90));
    let result = finished.succeeded();
    let it = &result["iterations"][0];
    assert_eq!(it["detectedBy"], "crash-loop", "{it}");
    let added_ms = added
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3;
    // Detection is the client's observation of the event: after it was added, by a watch
    // delivery and a channel hop (well under 250 ms, see CLIENT_TOLERANCE_MS).
    let detected = millis(&it["detectedAt"]);
    assert!(
        detected >= added_ms - 2.0 && detected <= added_ms + CLIENT_TOLERANCE_MS,
        "detected at {detected}, the event was added at {added_ms}: {it}"
    );
    let injected = millis(&it["injectedAt"]);
    near(
        "timeToDetectMs",
        &it["timeToDetectMs"],
        added_ms - injected,
        CLIENT_TOLERANCE_MS,
        it,
    );
    let event = &it["detectionEvent"];
    assert_eq!(event["reason"], "Unhealthy", "{event}");
    assert_eq!(
        event["object"],
        format!("Pod shop/{replacement}"),
        "{event}"
    );
    assert_eq!(event["signal"], "crash-loop");
    near(
        "serverTimeToDetectMs",
        &event["serverTimeToDetectMs"],
        added_ms - injected,
        SERVER_TOLERANCE_MS,
        event,
    );
    let counted: Vec<&Value> = it["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "kubernetes-event")
        .collect();
    assert_eq!(
        counted.len(),
        1,
        "only the Unhealthy event counts: {counted:?}"
    );
}

#[test]
fn without_a_matching_event_the_fault_is_not_detected() {
    let _guard = common::shared();
    let fake = cluster(Duration::from_millis(100), Duration::from_millis(100));
    let pod = fake.objects("Pod", Some("shop"))[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.add_warning_event("shop", &pod, "BackOff", "before the run");
    let dir = tempfile::tempdir().unwrap();
    let signal = "      - {name: crash-loop, type: kubernetes-event, workload: web, reasons: [BackOff], timeout: 2s}";
    let yaml = experiment(
        "{name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}",
        signal,
    );
    let run = start(&fake, dir.path(), &yaml);
    wait_for("the deletion", Duration::from_secs(20), || {
        fake.requests().iter().any(|r| r.method == "DELETE")
    });
    fake.add_warning_event("shop", &pod, "Unhealthy", "a reason not listed");
    let finished = run.finish_within(Duration::from_secs(90));
    let result = finished.succeeded();
    let it = &result["iterations"][0];
    assert!(it["detectedAt"].is_null(), "{it}");
    assert!(it.get("detectionEvent").is_none(), "{it}");
    let watches: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/namespaces/shop/events")
        .map(|r| r.query)
        .collect();
    assert!(
        watches
            .iter()
            .any(|q| q.contains("watch=true") && q.contains("fieldSelector=type%3DWarning")),
        "one watch of the Warning events: {watches:?}"
    );
}

#[test]
fn an_event_watch_the_api_server_refuses_aborts_the_run_before_any_change() {
    let _guard = common::shared();
    let fake = cluster(Duration::from_millis(100), Duration::from_millis(100));
    // Past the permission check, the list of events is refused every time, as when a
    // policy forbids what the access review allowed: the watch would retry for ever.
    fake.fail_next("GET", "/api/v1/namespaces/shop/events", 403, 1000);
    let dir = tempfile::tempdir().unwrap();
    let signal =
        "      - {name: crash-loop, type: kubernetes-event, workload: web, reasons: [BackOff]}";
    let yaml = experiment(
        "{name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}",
        signal,
    );
    let finished = start(&fake, dir.path(), &yaml).finish_within(Duration::from_secs(60));
    let output = finished.output();
    assert!(
        output
            .contains("the event watch of signal `crash-loop` did not start, nothing was changed"),
        "{output}\n{}",
        finished.result
    );
    assert_ne!(finished.code, Some(0), "{output}");
    assert!(
        !fake.requests().iter().any(|r| r.method == "DELETE"),
        "no pod was deleted"
    );
}
