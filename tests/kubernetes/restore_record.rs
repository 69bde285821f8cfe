//! Restore records: a run's undo records kept in the cluster (`--restore-namespace`), so
//! that `firedrill cleanup` can undo what a runner that died with its journal left in place.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::common::{self, wait_for, wait_until};
use crate::experiment::Experiment;
use crate::fakekube::FakeKube;
use crate::kuberun::{
    CHAOS, cluster, firedrill_in, kube_dir, namespace, records, start_with_env, succeeds_in,
    wait_as_found,
};

/// Where the runs keep their records, as the chart's release namespace.
const DRILLS: &str = "drills";

/// A run's environment: records in [`DRILLS`], and not in a pod (whatever the machine
/// running the tests says).
const MIRROR: &[(&str, &str)] = &[
    ("FIREDRILL_RESTORE_NAMESPACE", DRILLS),
    ("POD_NAME", ""),
    ("POD_NAMESPACE", ""),
];

/// `shop/web` of 3 pods, and the namespace of the records.
fn fake() -> FakeKube {
    let fake = cluster(3);
    namespace(&fake, DRILLS);
    fake
}

/// Scales `shop/web` to 0 for `duration`.
fn scale_down(duration: &str) -> String {
    Experiment::kubernetes("kube-restore")
        .faults(&format!(
            "    - {{name: outage, type: scale, workload: web, replicas: 0, duration: {duration}}}"
        ))
        .yaml()
}

/// The restore records in [`DRILLS`].
fn restore_records(fake: &FakeKube) -> Vec<Value> {
    fake.objects("Secret", Some(DRILLS))
        .into_iter()
        .filter(|s| s["metadata"]["labels"]["firedrill.dev/restore-record"] == "true")
        .collect()
}

/// Each key of a record, decoded.
fn intents(record: &Value) -> Vec<(String, Value)> {
    record["data"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap();
            (k.clone(), serde_json::from_slice(&bytes).unwrap())
        })
        .collect()
}

fn replicas(fake: &FakeKube) -> Value {
    fake.object("Deployment", "shop", "web").unwrap()["spec"]["replicas"].clone()
}

#[test]
fn a_run_records_each_intent_in_the_cluster_before_the_change_and_deletes_the_record_at_the_end() {
    let _guard = common::shared();
    let fake = fake();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start_with_env(&fake, dir.path(), &scale_down("300ms"), MIRROR);
    let seen = std::sync::Mutex::new(None);
    wait_for("the scale-down", Duration::from_secs(20), || {
        if replicas(&fake) != 0 {
            return false;
        }
        *seen.lock().unwrap() = restore_records(&fake).pop();
        true
    });
    let finished = run.finish();
    finished.succeeded();

    // While the fault was in place, the cluster knew how to undo it.
    let record = seen
        .into_inner()
        .unwrap()
        .expect("a restore record during the fault");
    let run_id = records(&finished.out, "kubernetes-connected")[0]["data"]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        record["metadata"]["name"],
        format!("firedrill-restore-{run_id}")
    );
    assert_eq!(record["type"], "firedrill.dev/restore-record");
    let labels = &record["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "firedrill");
    assert_eq!(labels["firedrill.dev/run-id"], run_id.as_str());
    let owner = record["metadata"]["annotations"]["firedrill.dev/owner"]
        .as_str()
        .unwrap();
    assert!(
        owner.ends_with(&format!("/{}", finished_pid(&finished.out))),
        "{owner}"
    );
    let intent = &records(&finished.out, "fault-intent")[0];
    let keys = intents(&record);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].0, format!("intent-{}", intent["seq"]));
    assert_eq!(keys[0].1["fault"], "outage");
    assert_eq!(keys[0].1["restore"], intent["data"]["restore"]);

    // The record was written before the change: one request, after the journal's intent.
    let requests = fake.requests();
    let at = |method: &str, path: &str| {
        requests
            .iter()
            .position(|r| r.method == method && r.path.starts_with(path))
            .unwrap_or_else(|| panic!("no {method} {path}: {requests:?}"))
    };
    let created = at("POST", "/api/v1/namespaces/drills/secrets");
    let scaled = at(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
    );
    assert!(created < scaled, "the record before the change");
    let writes_to_records = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/namespaces/drills/secrets") && r.method != "GET")
        .count();
    assert_eq!(writes_to_records, 2, "one create, one delete: {requests:?}");

    // Everything reverted: the record is gone, and the journal says so.
    let deleted = records(&finished.out, "restore-record-deleted");
    assert_eq!(
        deleted[0]["data"]["record"],
        format!("drills/firedrill-restore-{run_id}")
    );
    wait_as_found(&fake, &before, "the record deleted", Duration::from_secs(5));
}

/// The pid the run recorded in its journal.
fn finished_pid(out: &std::path::Path) -> u64 {
    records(out, "run-started")[0]["data"]["pid"]
        .as_u64()
        .expect("run-started has the pid")
}

#[test]
fn cleanup_restores_what_a_killed_runner_left_from_its_restore_record_alone() {
    let _guard = common::shared();
    let fake = fake();
    fake.apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "shop", "labels": {CHAOS.0: CHAOS.1}},
        "data": {"TIMEOUT_MS": "500"},
    }));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = Experiment::kubernetes("kube-restore")
        .faults(
            "    - {name: outage, type: scale, workload: web, replicas: 0, duration: 60s}\n    - {name: slow-config, type: config-change, namespace: shop, configMap: web-config, set: {TIMEOUT_MS: \"1\"}, duration: 60s}",
        )
        .yaml();
    let mut run = start_with_env(&fake, dir.path(), &yaml, MIRROR);
    let in_place = wait_until(Duration::from_secs(20), || {
        replicas(&fake) == 0
            && fake.object("ConfigMap", "shop", "web-config").unwrap()["data"]["TIMEOUT_MS"] == "1"
    });
    if !in_place {
        run.kill();
        let journal = common::journal(&run.out);
        panic!("the faults were not both in place: {journal:#?}");
    }
    // SIGKILL, as an OOM kill: nothing is reverted, and the journal is lost with the pod.
    run.kill();
    std::fs::remove_dir_all(&run.out).unwrap();
    let record = restore_records(&fake)
        .pop()
        .expect("the record survives the run");
    assert_eq!(intents(&record).len(), 2, "{record}");
    let left = fake.snapshot();
    assert_ne!(left, before);

    let kube = kube_dir(&fake);
    let dry = succeeds_in(
        kube.path(),
        &["cleanup", "--namespace", DRILLS, "--dry-run"],
    );
    assert!(
        dry.stdout
            .contains("would scale Deployment shop/web back to 3 (outage)"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("would put the key(s) `TIMEOUT_MS` of ConfigMap shop/web-config back"),
        "{}",
        dry.stdout
    );
    assert_eq!(fake.snapshot(), left, "a dry run changes nothing");

    let said = succeeds_in(kube.path(), &["cleanup", "--namespace", DRILLS]);
    let out = &said.stdout;
    // Newest intent first.
    let config = out.find("restored: ").unwrap();
    assert!(out[config..].starts_with("restored: "), "{out}");
    let scale = out.find("(outage)").expect("the scale restored");
    let keys = out.find("(slow-config)").expect("the keys restored");
    assert!(keys < scale, "the newest intent is undone first: {out}");
    assert!(
        out.contains("deleted restore record drills/firedrill-restore-"),
        "{out}"
    );
    wait_as_found(
        &fake,
        &before,
        "the cluster restored",
        Duration::from_secs(10),
    );
    assert!(restore_records(&fake).is_empty());

    // Nothing left: a second cleanup changes nothing.
    succeeds_in(kube.path(), &["cleanup", "--namespace", DRILLS]);
    assert_eq!(fake.snapshot(), before);
}

/// A restore record of run `run` owned as `owner`, in a pod when `pod` is some, that
/// would scale `shop/web` to 5.
fn record(run: &str, owner: &str, pod: Option<&str>) -> Value {
    let intent = json!({"fault": "outage", "restore": [
        {"action": "scale-to", "kind": "Deployment", "namespace": "shop", "name": "web", "replicas": 5}
    ]});
    let mut annotations = json!({"firedrill.dev/owner": owner});
    if let Some(pod) = pod {
        annotations["firedrill.dev/owner-pod"] = json!(pod);
    }
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "firedrill.dev/restore-record",
        "metadata": {
            "name": format!("firedrill-restore-{run}"), "namespace": DRILLS,
            "labels": {"app.kubernetes.io/managed-by": "firedrill", "firedrill.dev/run-id": run,
                       "firedrill.dev/restore-record": "true"},
            "annotations": annotations,
        },
        "data": {"intent-7": base64::engine::general_purpose::STANDARD.encode(intent.to_string())},
    })
}

#[test]
fn a_live_runs_record_is_kept_and_an_ended_pods_record_is_applied() {
    let _guard = common::shared();
    let fake = fake();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    let running_pod = fake.objects("Pod", Some("shop"))[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    // This test's own process: live. A running pod: live, whatever its host says.
    fake.apply(record(
        "live-pid",
        &format!("{host}/{}", std::process::id()),
        None,
    ));
    fake.apply(record(
        "live-pod",
        "runner-x/1",
        Some(&format!("shop/{running_pod}")),
    ));
    // Another host without a pod: left unless --any-host.
    fake.apply(record("elsewhere", "another-host/1", None));
    let kube = kube_dir(&fake);
    let said = succeeds_in(kube.path(), &["cleanup", "--namespace", DRILLS]);
    for run in ["live-pid", "live-pod", "elsewhere"] {
        assert!(
            said.stdout.contains(&format!(
                "keep restore record drills/firedrill-restore-{run}"
            )),
            "{}",
            said.stdout
        );
    }
    assert_eq!(restore_records(&fake).len(), 3);
    assert_eq!(replicas(&fake), 3, "nothing restored for a live run");

    // The pod ends (an OOM kill, an eviction): its record is applied.
    fake.apply(record(
        "gone-pod",
        "runner-y/1",
        Some("drills/runner-y-abcde"),
    ));
    let said = succeeds_in(kube.path(), &["cleanup", "--namespace", DRILLS]);
    assert!(
        said.stdout
            .contains("restore what run gone-pod (pod drills/runner-y-abcde) left"),
        "{}",
        said.stdout
    );
    assert_eq!(replicas(&fake), 5, "the ended pod's record applied");
    assert!(
        fake.object("Secret", DRILLS, "firedrill-restore-gone-pod")
            .is_none()
    );
    assert_eq!(restore_records(&fake).len(), 3, "the live ones are kept");
}

#[test]
fn a_restore_record_the_cluster_refuses_means_the_fault_is_not_injected() {
    let _guard = common::shared();
    for status in [403, 500] {
        let fake = fake();
        let before = fake.snapshot();
        fake.fail_next("POST", "/api/v1/namespaces/drills/secrets", status, 100);
        let dir = tempfile::tempdir().unwrap();
        let finished = start_with_env(&fake, dir.path(), &scale_down("60s"), MIRROR).finish();
        let output = finished.output();
        assert_ne!(finished.code, Some(0), "{output}");
        assert!(
            output.contains(
                "`outage` was not injected: the restore record drills/firedrill-restore-"
            ),
            "{status}: {output}"
        );
        assert_eq!(records(&finished.out, "restore-record-failed").len(), 1);
        assert!(
            records(&finished.out, "fault-injected").is_empty(),
            "{status}: the fault was not injected"
        );
        // Only the revert that closes the intent may have set the count it already had.
        let scales = fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with("/web/scale"))
            .count();
        assert!(scales <= 1, "{status}: {scales} scale requests");
        assert_eq!(replicas(&fake), 3);
        wait_as_found(&fake, &before, "the fake untouched", Duration::from_secs(5));
    }
}

#[test]
fn a_run_without_permission_for_its_restore_record_stops_at_preflight() {
    let _guard = common::shared();
    let fake = fake();
    fake.deny("create", "", "secrets", Some(DRILLS));
    let dir = tempfile::tempdir().unwrap();
    let finished = start_with_env(&fake, dir.path(), &scale_down("60s"), MIRROR).finish();
    let output = finished.output();
    assert_ne!(finished.code, Some(0), "{output}");
    assert!(output.contains("missing permissions"), "{output}");
    assert!(output.contains("secrets"), "{output}");
    assert!(!fake.requests().iter().any(|r| r.method == "PATCH"));
}

#[test]
fn a_restore_namespace_that_is_not_a_namespace_name_is_refused_with_exit_2() {
    let fake = fake();
    let dir = kube_dir(&fake);
    std::fs::write(dir.path().join("exp.yaml"), scale_down("1s")).unwrap();
    let exp = dir.path().join("exp.yaml");
    let output = firedrill_in(
        dir.path(),
        &[
            "run",
            "--restore-namespace",
            "Not_A_Namespace",
            exp.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a namespace name"), "{stderr}");
}
