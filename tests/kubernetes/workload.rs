//! End-to-end runs of the kubernetes platform: the real binary against the fake API server.
//!
//! Each test seeds the fake, takes its snapshot, runs an experiment, and checks that the
//! snapshot after the run equals the one before (nothing left behind), along with what the
//! fault did and what the run measured.

use std::process::Command;
use std::time::Duration;

use crate::common::{firedrill, wait_for, wait_until};
use crate::experiment::Experiment;
use crate::fakekube::{FakeKube, Request};
use crate::kuberun::{
    CHAOS, cleanup, cluster, kube_dir, rollback, run, start, wait_as_found, without_empty_maps,
    writes,
};
use crate::{common, fakekube};
use serde_json::{Value, json};

/// An experiment on `shop/web` with each Kubernetes probe and these faults.
fn experiment(faults: &str, extra: &str) -> String {
    Experiment::kubernetes("kube-test")
        .probe("{name: web-pods-ready, type: pod-ready, workload: web, timeout: 1s}")
        .probe("{name: web-exists, type: object-exists, kind: Deployment, namespace: shop, objectName: web, timeout: 1s}")
        .signals("10s", "      - {name: degraded, type: probe-fails, probe: web-available, consecutive: 1}")
        .faults(faults)
        .extra(extra)
        .yaml()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[test]
fn pod_delete_recovery_matches_the_clusters_delays_and_leaves_nothing_behind() {
    let _guard = common::alone();
    let fake = cluster(3);
    let (reschedule, ready) = (Duration::from_millis(300), Duration::from_millis(400));
    fake.set_delays(reschedule, ready);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}",
            "",
        ),
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
    let it = &r.result["iterations"][0];
    // The deleted pod was seen gone (or terminating) before the fault phase counted.
    let effect = &it["faults"][0]["effect"];
    assert_eq!(effect["status"], "verified", "{effect}");
    let ttr = it["timeToRecoverMs"].as_f64().unwrap();
    // Availability returns when the replacement is created and Ready: the two delays, plus
    // at most a probe interval and a request or two of the client's.
    let expected = ms(reschedule + ready);
    assert!(
        ttr >= expected - 50.0 && ttr <= expected + 400.0,
        "time to recover {ttr} ms, the fake's delays add up to {expected} ms"
    );
    assert!(it["timeToDetectMs"].as_f64().unwrap() < 300.0, "{it}");
    let deleted: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deleted.len(), 1, "one pod deleted: {deleted:?}");
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
    let lives = fake.pod_history("shop", "web");
    assert_eq!(lives.len(), 4, "three pods and one replacement: {lives:?}");

    // Per-pod recovery, from the watch started before the deletion, against the fake's
    // own record of the pods' lives: the client's observation times within 150 ms, the API
    // server's whole-second timestamps within a second.
    let removed = lives.iter().find(|l| l.deleted.is_some()).unwrap();
    let replacement = lives
        .iter()
        .find(|l| l.created > removed.deleted.unwrap())
        .unwrap();
    let true_reschedule = ms(replacement
        .created
        .duration_since(removed.deleted.unwrap())
        .unwrap());
    let true_ready = ms(replacement
        .ready
        .unwrap()
        .duration_since(replacement.created)
        .unwrap());
    let journal = common::journal(&r.out);
    let rec = &journal
        .iter()
        .find(|j| j["kind"] == "pod-recovered")
        .expect("a pod-recovered record")["data"];
    assert_eq!(rec["pod"], format!("shop/{}", removed.name));
    assert_eq!(rec["replacement"], format!("shop/{}", replacement.name));
    let near = |measured: &Value, truth: f64, tolerance: f64| {
        let m = measured.as_f64().unwrap_or(f64::NAN);
        assert!(
            (m - truth).abs() <= tolerance,
            "measured {m} ms, true {truth} ms: {rec}"
        );
    };
    near(&rec["rescheduleMs"], true_reschedule, 150.0);
    near(&rec["readyMs"], true_ready, 150.0);
    near(&rec["serverReadyMs"], true_ready, 1000.0);
    assert!(
        (true_reschedule - ms(reschedule)).abs() < 100.0,
        "the fake keeps its delay"
    );
}

#[test]
fn scale_is_restored_to_the_recorded_count() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(50), Duration::from_millis(100));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: outage, type: scale, workload: web, replicas: 0, duration: 300ms}",
            "",
        ),
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
    let effect = &r.result["iterations"][0]["faults"][0]["effect"];
    assert_eq!(effect["status"], "verified", "{effect}");
    assert_eq!(
        effect["observed"],
        "Deployment shop/web has 0 pod(s), as scaled"
    );
    let probes = &r.result["probes"];
    assert!(
        probes["web-pods-ready"]["fault"]["errors"]
            .as_u64()
            .unwrap()
            > 0,
        "{probes}"
    );
    assert!(
        probes["web-available"]["fault"]["errors"].as_u64().unwrap() > 0,
        "{probes}"
    );
    for phase in ["baseline", "fault", "recovery"] {
        assert_eq!(probes["web-exists"][phase]["errors"], 0, "{probes}");
        assert!(
            probes["web-exists"][phase]["count"].as_u64().unwrap() > 0,
            "{probes}"
        );
    }
    let journal = common::journal(&r.out);
    let intent = journal
        .iter()
        .find(|j| j["kind"] == "fault-intent")
        .expect("an intent");
    assert_eq!(
        intent["data"]["restore"][0],
        json!({"action": "scale-to", "kind": "Deployment", "namespace": "shop", "name": "web", "replicas": 2})
    );
    let connected = journal
        .iter()
        .position(|j| j["kind"] == "kubernetes-connected")
        .unwrap();
    let intent_at = journal
        .iter()
        .position(|j| j["kind"] == "fault-intent")
        .unwrap();
    assert!(connected < intent_at);
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
}

#[test]
fn quarantine_isolates_the_pod_and_removes_the_policy_and_label() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 2s}",
        "  safety: {maxAffectedPercent: 50}",
    );
    let run = start(&fake, dir.path(), &yaml);
    wait_for("the quarantine policy", Duration::from_secs(10), || {
        !fake.objects("NetworkPolicy", Some("shop")).is_empty()
    });
    let policy = &fake.objects("NetworkPolicy", Some("shop"))[0];
    assert_eq!(
        policy["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "firedrill"
    );
    assert!(policy["metadata"]["labels"]["firedrill.dev/run-id"].is_string());
    wait_for("the pod's quarantine label", Duration::from_secs(5), || {
        fake.objects("Pod", Some("shop"))
            .iter()
            .any(|p| p["metadata"]["labels"]["firedrill.dev/quarantine"].is_string())
    });
    let pods = fake.objects("Pod", Some("shop"));
    let name = |p: &Value| format!("shop/{}", p["metadata"]["name"].as_str().unwrap());
    let isolated = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["firedrill.dev/quarantine"].is_string())
        .unwrap();
    let other = pods.iter().find(|p| name(p) != name(isolated)).unwrap();
    assert!(!fake.reachable(&name(other), fakekube::Reach::Pod(name(isolated))));
    assert!(!fake.reachable(&name(isolated), fakekube::Reach::Pod(name(other))));
    let f = run.finish_within(Duration::from_secs(30));
    assert_eq!(f.code, Some(0));
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn rollout_restart_puts_the_template_back() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: restart, type: rollout-restart, workload: web, duration: 300ms}",
            "",
        ),
    );
    assert!(matches!(r.code, Some(0 | 1)), "{}\n{}", r.stderr, r.result);
    // A restart leaves the Deployment controller's revision history (old ReplicaSets scaled
    // to zero, collected by revisionHistoryLimit), which is not firedrill's to undo; what
    // firedrill changed, the Deployment's template, must be back. The API server omits
    // empty maps (omitempty) where the fake keeps the `annotations: {}` a removed last
    // annotation leaves, so empty maps are dropped before comparing.
    let deployment = |snapshot: Value| {
        let items = without_empty_maps(snapshot);
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .cloned()
            .unwrap()
    };
    let want = deployment(before);
    let settled = wait_until(Duration::from_secs(10), || {
        deployment(fake.snapshot()) == want && fake.objects("Pod", Some("shop")).len() == 2
    });
    assert!(
        settled,
        "before: {want:#}\nafter: {:#}",
        deployment(fake.snapshot())
    );
}

#[test]
fn a_pod_disruption_budget_that_blocks_an_eviction_is_named_and_nothing_is_left() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.add_pdb("shop", "web-budget", &[("app", "web")], 2);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: evict, type: pod-evict, select: {mode: one, workload: web}}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    assert_eq!(r.code, Some(3), "{}\n{}", r.stderr, r.result);
    let reason = r.result["reason"].as_str().unwrap();
    assert!(
        reason.contains("PodDisruptionBudget") && reason.contains("web-budget"),
        "{reason}"
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn a_missing_permission_stops_the_run_before_any_change() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.deny("delete", "", "pods", Some("shop"));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}}",
            "",
        ),
    );
    assert_eq!(r.code, Some(3), "{}\n{}", r.stderr, r.result);
    let reason = r.result["reason"].as_str().unwrap();
    assert!(
        reason.contains("delete pods (core) in namespace shop"),
        "{reason}"
    );
    assert_eq!(writes(&fake), Vec::<Request>::new());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn pods_without_the_opt_in_label_are_refused_before_any_change() {
    let _guard = common::shared();
    let fake = FakeKube::start();
    fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    fake.add_deployment("shop", "web", 2, &[("app", "web")]);
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}}",
            "",
        ),
    );
    assert_eq!(r.code, Some(3), "{}\n{}", r.stderr, r.result);
    let reason = r.result["reason"].as_str().unwrap();
    assert!(
        reason.contains("does not carry the opt-in label firedrill.dev/chaos=allowed"),
        "{reason}"
    );
    assert_eq!(writes(&fake), Vec::<Request>::new());
}

#[test]
fn server_errors_mid_run_are_retried() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    let before = fake.snapshot();
    fake.fail_next(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        500,
        2,
    );
    fake.fail_next(
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        429,
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: outage, type: scale, workload: web, replicas: 0, duration: 200ms}",
            "",
        ),
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
    let failed: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.status >= 429)
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
}

#[test]
fn a_run_killed_mid_fault_is_undone_by_rollback_from_its_journal() {
    let _guard = common::shared();
    let fake = cluster(3);
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 60s}\n    - {name: outage, type: scale, workload: web, replicas: 0, duration: 60s}",
        "",
    );
    let mut run = start(&fake, dir.path(), &yaml);
    wait_for("both faults in place", Duration::from_secs(10), || {
        !fake.objects("NetworkPolicy", Some("shop")).is_empty()
            && fake
                .object("Deployment", "shop", "web")
                .is_some_and(|d| d["spec"]["replicas"] == 0)
    });
    // SIGKILL: no handler runs, nothing is reverted.
    run.kill();
    assert_ne!(fake.snapshot(), before);

    let out = &run.out;
    let stdout = rollback(dir.path(), out).stdout;
    assert!(
        stdout.contains("scale Deployment shop/web back to 3"),
        "{stdout}"
    );
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
    let log = firedrill::journal::read_verified(&out.join("rollback.jsonl")).unwrap();
    assert!(log.iter().any(|r| r["kind"] == "undo-applied"));
    let verified = Command::new(firedrill())
        .arg("verify")
        .arg(out.join("rollback.jsonl"))
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "rollback.jsonl is chained like the journal"
    );

    // A second rollback finds nothing left to do and changes nothing.
    rollback(dir.path(), out);
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn cleanup_removes_what_a_dead_run_left_and_keeps_a_live_runs() {
    let _guard = common::shared();
    let fake = cluster(2);
    let pod = fake.objects("Pod", Some("shop"))[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let policy = |name: &str, owner: &str| {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "shop",
                "labels": {"app.kubernetes.io/managed-by": "firedrill", "firedrill.dev/run-id": "r1"},
                "annotations": {"firedrill.dev/owner": owner}},
            "spec": {"podSelector": {"matchLabels": {"firedrill.dev/quarantine": name}}, "policyTypes": ["Ingress", "Egress"]}
        })
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    fake.apply(policy("dead", &format!("{}/2147483646", host.trim())));
    fake.apply(policy(
        "live",
        &format!("{}/{}", host.trim(), std::process::id()),
    ));
    let mut p = fake.object("Pod", "shop", &pod).unwrap();
    p["metadata"]["labels"]["firedrill.dev/quarantine"] = json!("dead");
    fake.apply(p);
    let dir = kube_dir(&fake);
    let stdout = cleanup(dir.path(), "shop").stdout;
    let left: Vec<_> = fake
        .objects("NetworkPolicy", Some("shop"))
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, vec!["live".to_owned()], "{stdout}");
    let now = fake.object("Pod", "shop", &pod).unwrap();
    assert!(
        now["metadata"]["labels"]
            .get("firedrill.dev/quarantine")
            .is_none()
    );
}

#[test]
#[ignore = "needs a cluster: set KUBECONFIG"]
fn real_cluster_pod_delete() {
    let _guard = common::shared();
    // Runs the shipped example against the cluster KUBECONFIG names; see docs/kubernetes.md
    // for setting one up on kind.
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(out.path())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/experiments/kubernetes/pod-delete.yaml"
        ))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn evictions_are_tracked_through_a_dropped_watch() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(300), Duration::from_millis(300));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        "    - {name: evict, type: pod-evict, select: {mode: one, workload: web}}",
        "  safety: {maxAffectedPercent: 50}",
    );
    // A rate limit on the first eviction is retried; it is not a budget's refusal.
    fake.fail_next("POST", "/api/v1/namespaces/shop/pods/", 429, 1);
    let run = start(&fake, dir.path(), &yaml);
    wait_for("the eviction", Duration::from_secs(10), || {
        fake.requests()
            .iter()
            .any(|r| r.path.ends_with("/eviction") && r.status < 300)
    });
    fake.drop_watches();
    let f = run.finish_within(Duration::from_secs(30));
    assert_eq!(f.code, Some(0));
    let evictions: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .map(|r| r.status)
        .collect();
    let all: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(
        evictions,
        vec![429, 201],
        "retried after the rate limit: {all:?}"
    );
    let journal = common::journal(&f.out);
    let rec = journal
        .iter()
        .find(|j| j["kind"] == "pod-recovered")
        .expect("a pod-recovered record after the watch was dropped");
    assert!(rec["data"]["readyMs"].as_f64().is_some(), "{rec}");
    let watches = fake
        .requests()
        .iter()
        .filter(|r| r.query.contains("watch=true"))
        .count();
    assert!(watches >= 2, "the watch was started again ({watches})");
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
}

#[test]
fn a_revert_that_keeps_failing_is_reported_and_rollback_finishes_it() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        "    - {name: outage, type: scale, workload: web, replicas: 0, duration: 300ms}",
        "",
    )
    .replace("timeout: 20s}", "timeout: 1s}");
    let run = start(&fake, dir.path(), &yaml);
    wait_for("the scale to zero", Duration::from_secs(10), || {
        fake.object("Deployment", "shop", "web")
            .is_some_and(|d| d["spec"]["replicas"] == 0)
    });
    // Every attempt of the scheduled revert and of the final rollback (tried twice) fails.
    fake.fail_next(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        500,
        15,
    );
    let f = run.finish();
    assert_eq!(f.code, Some(4), "rollback_failed");
    assert_eq!(f.result["status"], "rollback_failed");
    assert_ne!(fake.snapshot(), before);

    rollback(dir.path(), &f.out);
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
}

#[test]
fn an_interrupted_run_reverts_before_it_exits() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        "    - {name: outage, type: scale, workload: web, replicas: 0, duration: 60s}",
        "",
    );
    let mut run = start(&fake, dir.path(), &yaml);
    wait_for("the scale to zero", Duration::from_secs(10), || {
        fake.object("Deployment", "shop", "web")
            .is_some_and(|d| d["spec"]["replicas"] == 0)
    });
    // SAFETY: signalling a child process we started.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let f = run.finish_within(Duration::from_secs(20));
    assert_eq!(f.code, Some(130));
    assert_eq!(
        fake.object("Deployment", "shop", "web").unwrap()["spec"]["replicas"],
        2,
        "scaled back before exiting"
    );
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );
}

#[test]
fn scaling_down_beyond_the_safety_share_is_refused_before_any_change() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: outage, type: scale, workload: web, replicas: 0, duration: 1s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    assert_eq!(r.code, Some(3), "{}\n{}", r.stderr, r.result);
    let reason = r.result["reason"].as_str().unwrap();
    assert!(
        reason.contains("would affect 2 of 2 pods of `web`")
            && reason.contains("maxAffectedPercent 50%"),
        "{reason}"
    );
    assert_eq!(writes(&fake), Vec::<Request>::new());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn targets_are_listed_in_pages_with_the_selector_applied_by_the_server() {
    let _guard = common::shared();
    let fake = cluster(2);
    // More pods than one page holds, and pods of another app the selector must leave out.
    fake.add_deployment("shop", "big", 501, &[("app", "big"), CHAOS]);
    let dir = tempfile::tempdir().unwrap();
    let yaml = experiment(
        "    - {name: delete-one, type: pod-delete, select: {mode: one, workload: big}, force: true}",
        "",
    )
    // Deleting one of 501 pods of `big` is not seen by the probes of `web`.
    .replace("timeout: 10s", "timeout: 500ms")
    .replace(
        "{name: web, namespace: shop, kind: Deployment, objectName: web}",
        "{name: web, namespace: shop, kind: Deployment, objectName: web}\n      - {name: big, namespace: shop, kind: Deployment, objectName: big}",
    );
    let r = run(&fake, dir.path(), &yaml);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET"
                && r.path == "/api/v1/namespaces/shop/pods"
                && !r.query.contains("watch=true")
                // The proof of effect lists the deleted pod by its name: at most one item.
                && !r.query.contains("fieldSelector=metadata.name")
        })
        .collect();
    assert!(
        lists
            .iter()
            .all(|r| r.query.contains("labelSelector=") && r.query.contains("limit=500")),
        "{lists:?}"
    );
    assert!(
        lists.iter().any(|r| r.query.contains("continue=")),
        "a second page was asked for: {lists:?}"
    );
    let deleted: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0].contains("/pods/big-"), "{deleted:?}");
}
