//! Stress and disk faults in pods (pod-cpu-stress, pod-memory-stress, pod-disk-fill): the
//! real binary adds firedrill's helper as an ephemeral container, proves its effect through
//! `pods/exec`, and stops it at the end or from `firedrill rollback` after a SIGKILL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, wait_for};
use crate::experiment::Experiment;
use crate::fakekube::{FakeKube, HelperStart};
use crate::kuberun::{CHAOS, cluster, namespace, rollback, run, start};

const IMAGE: &str = "registry.example/firedrill:1.0";

fn experiment(faults: &str) -> String {
    Experiment::kubernetes("kube-stress-test")
        .target_lines(&format!("    helperImage: {IMAGE}"))
        .faults(faults)
        .yaml()
}

/// A fake with a Deployment `shop/web` of one pod whose container `app` runs as user 1000,
/// has CPU and memory limits and mounts volume `data` at /data.
fn limited_cluster() -> FakeKube {
    let fake = FakeKube::start();
    namespace(&fake, "shop");
    let labels = json!({"app": "web", CHAOS.0: CHAOS.1});
    fake.add_workload(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{
                        "name": "app",
                        "image": "registry.example/app:1.0",
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        "securityContext": {"runAsUser": 1000, "runAsGroup": 2000},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }));
    fake
}

/// The fake's snapshot without what cannot be undone: ephemeral containers stay listed.
fn without_ephemeral(mut snapshot: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("ephemeralContainers");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut snapshot);
    snapshot
}

fn web_pod(fake: &FakeKube) -> Value {
    fake.objects("Pod", Some("shop"))
        .into_iter()
        .next()
        .expect("a pod")
}

fn helper_states(pod: &Value) -> Vec<Value> {
    pod["status"]["ephemeralContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn pod_cpu_stress_runs_a_restricted_helper_proves_its_load_and_stops_it() {
    let _guard = common::shared();
    let fake = limited_cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: burn, type: pod-cpu-stress, select: {mode: one, workload: web}, workers: 2, load: 80, duration: 2s}",
        ),
    );
    // The run ends when the helper is stopped at the fault's end, not at its deadline.
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
    let effect = &r.result["iterations"][0]["faults"][0]["effect"];
    assert_eq!(effect["status"], "verified", "{effect}");
    // Two workers at 80% within the pod's 0.5 CPU limit: 0.4 s in 0.5 s.
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains("used 0.20 s of CPU in 0.5 s")
            && observed.contains("within the pod's 0.5 CPU limit"),
        "{observed}"
    );

    let pod = web_pod(&fake);
    let helpers = pod["spec"]["ephemeralContainers"].as_array().unwrap();
    assert_eq!(helpers.len(), 1, "{helpers:?}");
    let h = &helpers[0];
    assert_eq!(h["image"], IMAGE);
    let command: Vec<&str> = h["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &command[..7],
        [
            "firedrill",
            "internal",
            "cpu-stress",
            "--workers",
            "2",
            "--load",
            "80"
        ]
    );
    assert!(command.contains(&"--until") && command.contains(&"--id"));
    // Restricted PodSecurity, as the target container's user.
    let sc = &h["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(
        (sc["runAsUser"].as_i64(), sc["runAsGroup"].as_i64()),
        (Some(1000), Some(2000))
    );
    // Stopped by the revert: terminated, and the stop went through exec.
    let states = helper_states(&pod);
    assert!(
        states[0]["state"]["terminated"]["exitCode"] == 0,
        "{states:?}"
    );
    let execs = fake.execs();
    assert!(
        execs
            .iter()
            .any(|e| e.command[..3] == ["firedrill", "internal", "stop"]),
        "{execs:?}"
    );
    let journal = common::journal(&r.out);
    let intent = journal
        .iter()
        .find(|j| j["kind"] == "fault-intent" && j["data"]["fault"] == "burn")
        .unwrap_or_else(|| panic!("no intent in {journal:#?}"));
    assert_eq!(intent["data"]["restore"][0]["action"], "stop-pod-helper");
    assert_eq!(
        without_ephemeral(fake.snapshot()),
        without_ephemeral(before)
    );
}

#[test]
fn a_helper_that_cannot_start_makes_the_fault_ineffective_and_the_run_fail() {
    let _guard = common::shared();
    let fake = limited_cluster();
    fake.set_helper_start(HelperStart::Refuse(
        "ErrImagePull".to_owned(),
        format!("failed to pull image \"{IMAGE}\": not found"),
    ));
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: hold, type: pod-memory-stress, select: {mode: one, workload: web}, sizeMib: 64, duration: 2s}",
        ),
    );
    assert_eq!(r.code, Some(1), "{}\n{}", r.stderr, r.result);
    let effect = &r.result["iterations"][0]["faults"][0]["effect"];
    assert_eq!(effect["status"], "ineffective", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains("has not started") && observed.contains("ErrImagePull"),
        "{observed}"
    );
}

#[test]
fn an_idle_helper_makes_the_fault_ineffective() {
    let _guard = common::shared();
    let fake = limited_cluster();
    fake.set_helpers_idle(true);
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: fill, type: pod-disk-fill, select: {mode: one, workload: web}, volume: data, sizeMib: 100, duration: 2s}",
        ),
    );
    assert_eq!(r.code, Some(1), "{}\n{}", r.stderr, r.result);
    let effect = &r.result["iterations"][0]["faults"][0]["effect"];
    assert_eq!(effect["status"], "ineffective", "{effect}");
    assert!(
        effect["observed"]
            .as_str()
            .unwrap()
            .contains("wrote 0 MiB on volume data"),
        "{effect}"
    );
}

#[test]
fn pod_disk_fill_mounts_the_targets_volume_and_refuses_one_it_does_not_mount() {
    let _guard = common::shared();
    let fake = limited_cluster();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: fill, type: pod-disk-fill, select: {mode: one, workload: web}, volume: data, fillToPercent: 90, duration: 2s}",
        ),
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
    let effect = &r.result["iterations"][0]["faults"][0]["effect"];
    assert_eq!(effect["status"], "verified", "{effect}");
    let h = &web_pod(&fake)["spec"]["ephemeralContainers"][0];
    assert_eq!(h["volumeMounts"][0]["name"], "data");
    assert!(
        h["command"]
            .as_array()
            .unwrap()
            .windows(2)
            .any(|w| w[0] == "--percent" && w[1] == "90"),
        "{h}"
    );

    let fake = limited_cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: fill, type: pod-disk-fill, select: {mode: one, workload: web}, volume: logs, sizeMib: 10, duration: 2s}",
        ),
    );
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr.contains("container app of pod shop/web-")
            && r.stderr
                .contains("does not mount volume `logs` (it mounts: data)"),
        "{}",
        r.stderr
    );
    assert_eq!(fake.snapshot(), before, "nothing was added");
}

#[test]
fn pod_memory_stress_near_the_memory_limit_is_refused_unless_allowed() {
    let _guard = common::shared();
    let fake = limited_cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: hold, type: pod-memory-stress, select: {mode: one, workload: web}, sizeMib: 240, duration: 2s}",
        ),
    );
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr
            .contains("240 MiB is 94% of the 256Mi memory limit of container app")
            && r.stderr.contains("allowOom: true"),
        "{}",
        r.stderr
    );
    assert_eq!(fake.snapshot(), before);

    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: hold, type: pod-memory-stress, select: {mode: one, workload: web}, sizeMib: 240, allowOom: true, duration: 1s}",
        ),
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stderr, r.result);
}

#[test]
fn a_helper_left_by_a_killed_run_is_stopped_by_rollback() {
    let _guard = common::shared();
    let fake = cluster(1);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: burn, type: pod-cpu-stress, select: {mode: one, workload: web}, duration: 60s}",
        ),
    );
    wait_for("the helper running", Duration::from_secs(20), || {
        helper_states(&web_pod(&fake))
            .iter()
            .any(|s| s["state"].get("running").is_some())
    });
    // SIGKILL: no handler runs, nothing is reverted.
    run.kill();
    assert!(
        helper_states(&web_pod(&fake))[0]["state"]
            .get("running")
            .is_some()
    );
    let stdout = rollback(dir.path(), &run.out).stdout;
    assert!(
        stdout.contains("stop firedrill's helper in ephemeral container firedrill-burn-")
            && stdout.contains(": stopped"),
        "{stdout}"
    );
    let states = helper_states(&web_pod(&fake));
    assert_eq!(
        states[0]["state"]["terminated"]["exitCode"], 0,
        "{states:?}"
    );
    assert_eq!(
        without_ephemeral(fake.snapshot()),
        without_ephemeral(before)
    );
}

#[test]
fn without_the_ephemeral_containers_permission_nothing_is_written() {
    let _guard = common::shared();
    let fake = cluster(1);
    fake.deny("patch", "", "pods/ephemeralcontainers", Some("shop"));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: burn, type: pod-cpu-stress, select: {mode: one, workload: web}, duration: 1s}",
        ),
    );
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr
            .contains("patch pods/ephemeralcontainers (core) in namespace shop"),
        "{}",
        r.stderr
    );
    assert!(
        fake.requests().iter().all(|q| q.method == "GET"
            || q.method == "POST" && q.path.contains("selfsubjectaccessreviews")),
        "{:?}",
        fake.requests()
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn the_fake_refuses_what_the_api_server_refuses_of_ephemeral_containers() {
    let _guard = common::shared();
    let fake = limited_cluster();
    let pod = web_pod(&fake);
    let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = fake.client().await;
        use k8s_openapi::api::core::v1::Pod;
        use kube::api::{Api, Patch, PatchParams};
        let api = Api::<Pod>::namespaced(client, "shop");
        let pp = PatchParams::default();
        let add = |c: Value| Patch::Strategic(json!({"spec": {"ephemeralContainers": [c]}}));
        let refused = api
            .patch_ephemeral_containers(
                &name,
                &pp,
                &add(json!({"name": "x", "image": IMAGE, "resources": {"limits": {"cpu": "1"}}})),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("cannot be set for an Ephemeral Container"), "{refused}");
        let refused = api
            .patch_ephemeral_containers(
                &name,
                &pp,
                &add(json!({"name": "x", "image": IMAGE, "volumeMounts": [{"name": "nope", "mountPath": "/n"}]})),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("Not found: \"nope\""), "{refused}");
        let added = api
            .patch_ephemeral_containers(&name, &pp, &add(json!({"name": "x", "image": IMAGE})))
            .await
            .unwrap();
        assert_eq!(added.spec.unwrap().ephemeral_containers.unwrap().len(), 1);
        // Existing ones may not be removed.
        let removed = api
            .patch_ephemeral_containers(
                &name,
                &pp,
                &Patch::Merge(json!({"spec": {"ephemeralContainers": []}})),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(removed.contains("may not be removed"), "{removed}");
    });
}
