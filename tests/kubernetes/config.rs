//! End-to-end runs of the configuration, credential and container faults of the kubernetes
//! platform (config-change, secret-rotate, secret-revoke, container-kill): the real binary
//! against the fake API server. Each run must leave the fake as it found it, and a Secret's
//! values must appear nowhere but in the journal's restore record.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::wait_for;
use crate::experiment::Experiment;
use crate::fakekube::{ExecReply, FakeKube};
use crate::kuberun::{
    Said, cluster, intent_of, rollback, start, start_with_env, without_empty_maps,
};
use base64::Engine;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn config_map(name: &str, data: Value, opted_in: bool) -> Value {
    let labels = if opted_in {
        json!({"firedrill.dev/chaos": "allowed"})
    } else {
        json!({})
    };
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop", "labels": labels}, "data": data})
}

fn secret(name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(b64(v.as_bytes()))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "namespace": "shop",
            "labels": {"firedrill.dev/chaos": "allowed"}, "annotations": {"team": "payments"}},
        "data": data})
}

/// The decoded value of a Secret's key, if the Secret and the key exist.
fn secret_value(fake: &FakeKube, name: &str, key: &str) -> Option<Vec<u8>> {
    let s = fake.object("Secret", "shop", name)?;
    let v = s["data"][key].as_str()?;
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .expect("base64"),
    )
}

/// An experiment on `shop/web` with a workload-available probe and these faults.
fn experiment(faults: &str) -> String {
    Experiment::kubernetes("kube-config-test")
        .faults(faults)
        .yaml()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn config_change_sets_and_removes_keys_restarts_the_workload_and_puts_it_all_back() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    fake.apply(config_map(
        "web-config",
        json!({"CACHE_URL": "redis://cache:6379", "CACHE_FALLBACK": "memory", "OTHER": "kept"}),
        true,
    ));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: bad-cache, type: config-change, namespace: shop, configMap: web-config, set: {CACHE_URL: 'redis://cache.invalid:6379', NEW_KEY: 'on'}, remove: [CACHE_FALLBACK], restartWorkload: web, duration: 1s}",
        ),
    );
    wait_for("the change in place", Duration::from_secs(15), || {
        fake.object("ConfigMap", "shop", "web-config")
            .is_some_and(|c| c["data"]["CACHE_URL"] == "redis://cache.invalid:6379")
    });
    let during = fake.object("ConfigMap", "shop", "web-config").unwrap();
    assert_eq!(during["data"]["NEW_KEY"], "on");
    assert!(during["data"].get("CACHE_FALLBACK").is_none(), "{during}");
    assert_eq!(during["data"]["OTHER"], "kept");
    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);

    let journal = common::journal(&f.out);
    let intent = intent_of(&journal, "bad-cache");
    let restore = intent["data"]["restore"].as_array().unwrap();
    // The restart's undo comes first, so that it is undone last: the pods roll again
    // after the original configuration is back.
    assert_eq!(restore[0]["action"], "restore-template-annotation");
    assert_eq!(restore[1]["action"], "restore-config-map-keys");
    assert_eq!(
        restore[1]["keys"]["CACHE_FALLBACK"],
        json!({"original": "memory", "written": null})
    );
    assert_eq!(
        restore[1]["keys"]["NEW_KEY"],
        json!({"original": null, "written": "on"})
    );
    let patches: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        patches
            .iter()
            .filter(|p| p.contains("/configmaps/web-config"))
            .count(),
        2,
        "changed once, put back once: {patches:?}"
    );
    assert_eq!(
        patches
            .iter()
            .filter(|p| p.contains("/deployments/web"))
            .count(),
        2,
        "restarted, then the annotation put back: {patches:?}"
    );
    // A restart leaves the Deployment controller's revision history, which is not
    // firedrill's to undo (see tests/kubernetes.rs); the ConfigMap and the Deployment's
    // template must be back, empty maps aside (the fake keeps the `annotations: {}` a
    // removed last annotation leaves, where the API server omits it).
    let kept = |snapshot: Value| -> Vec<Value> {
        without_empty_maps(snapshot)
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "ConfigMap")
            .cloned()
            .collect()
    };
    let want = kept(before);
    wait_for("the cluster as it was", Duration::from_secs(10), || {
        kept(fake.snapshot()) == want && fake.objects("Pod", Some("shop")).len() == 2
    });
}

#[test]
fn a_configmap_without_the_opt_in_label_is_refused_before_any_change() {
    let _guard = common::shared();
    let fake = cluster(1);
    fake.apply(config_map("web-config", json!({"MODE": "fast"}), false));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: config-change, namespace: shop, configMap: web-config, set: {MODE: slow}, duration: 1s}",
        ),
    );
    let f = run.finish();
    assert_ne!(f.code, Some(0));
    assert!(
        f.stderr
            .contains("ConfigMap shop/web-config does not carry the opt-in label")
            || f.stdout
                .contains("ConfigMap shop/web-config does not carry the opt-in label"),
        "{}\n{}",
        f.stdout,
        f.stderr
    );
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("configmaps")),
        "nothing was changed"
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn secret_values_reach_only_the_journals_restore_record() {
    let _guard = common::shared();
    let fake = cluster(1);
    let original = "orig-password-7d1f0c";
    let from_env = "env-password-93ab51e";
    let api_key = "partner-key-55c2a8";
    fake.apply(secret("db", &[("password", original), ("user", "web")]));
    fake.apply(secret("db2", &[("password", "second-original-61e")]));
    fake.apply(secret("partner", &[("api-key", api_key)]));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start_with_env(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: rotate, type: secret-rotate, namespace: shop, secret: db, key: password, duration: 1s}\n    - {name: rotate-env, type: secret-rotate, namespace: shop, secret: db2, key: password, valueFromEnv: FIREDRILL_NEW_DB2_PASSWORD, duration: 1s}\n    - {name: revoke, type: secret-revoke, namespace: shop, secret: partner, key: api-key, duration: 1s}",
        ),
        &[("FIREDRILL_NEW_DB2_PASSWORD", from_env)],
    );
    let mut rotated = None;
    wait_for("every change in place", Duration::from_secs(15), || {
        let now = secret_value(&fake, "db", "password");
        if now.as_deref().is_some_and(|v| v != original.as_bytes()) {
            rotated = now;
        }
        rotated.is_some()
            && secret_value(&fake, "db2", "password").as_deref() == Some(from_env.as_bytes())
            && secret_value(&fake, "partner", "api-key").is_none()
    });
    let rotated = rotated.unwrap();
    assert_eq!(rotated.len(), original.len(), "same length");
    assert!(rotated.iter().all(u8::is_ascii_alphanumeric));
    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(fake.snapshot(), before, "every value put back");

    // The journal holds secret material: readable by its owner only.
    assert_eq!(mode(&f.out.join("journal.jsonl")), 0o600);

    let rotated = String::from_utf8(rotated).unwrap();
    let secrets = [original, &rotated, from_env, api_key, "second-original-61e"];
    let needles: Vec<String> = secrets
        .iter()
        .flat_map(|s| [s.to_string(), b64(s.as_bytes())])
        .collect();
    // The process output and every file of the run: nothing, but the journal's restore
    // records.
    for (what, text) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{what} holds a secret value");
        }
    }
    let all = files(&f.out);
    assert!(all.len() > 2, "{all:?}");
    for file in &all {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        if file.file_name().unwrap() == "journal.jsonl" {
            for line in text.lines() {
                let mut record: Value = serde_json::from_str(line).unwrap();
                let is_intent = record["kind"] == "fault-intent";
                if is_intent {
                    record["data"]["restore"] = Value::Null;
                }
                let rest = record.to_string();
                for n in &needles {
                    assert!(
                        !rest.contains(n.as_str()),
                        "a journal record outside `restore` holds a secret value: {}",
                        record["kind"]
                    );
                }
            }
            continue;
        }
        for n in &needles {
            assert!(
                !text.contains(n.as_str()),
                "{} holds a secret value",
                file.display()
            );
        }
    }
    // Where the originals are: base64 in the restore records; the new values nowhere at all
    // (a digest of what was written, not the value, lets the undo check it).
    let journal = std::fs::read_to_string(f.out.join("journal.jsonl")).unwrap();
    assert!(journal.contains(&b64(original.as_bytes())));
    assert!(journal.contains(&b64(api_key.as_bytes())));
    for new in [rotated.as_str(), from_env] {
        assert!(!journal.contains(new) && !journal.contains(&b64(new.as_bytes())));
    }
    let records = common::journal(&f.out);
    let restore = &intent_of(&records, "rotate")["data"]["restore"][0];
    assert_eq!(restore["action"], "restore-secret-keys");
    assert_eq!(
        restore["keys"]["password"]["original"],
        b64(original.as_bytes())
    );
    assert_eq!(
        restore["keys"]["password"]["writtenSha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn a_deleted_secret_is_created_again_by_rollback_after_sigkill() {
    let _guard = common::shared();
    let fake = cluster(1);
    fake.apply(secret(
        "partner",
        &[("api-key", "partner-key-0b9e"), ("id", "42")],
    ));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: revoke-all, type: secret-revoke, namespace: shop, secret: partner, deleteSecret: true, duration: 60s}",
        ),
    );
    wait_for("the Secret deleted", Duration::from_secs(15), || {
        fake.object("Secret", "shop", "partner").is_none()
    });
    // SIGKILL: nothing is reverted by the run itself.
    run.kill();
    let out = &run.out;
    assert_ne!(fake.snapshot(), before);

    let Said { stdout, stderr } = rollback(dir.path(), out);
    assert!(
        stdout.contains("create Secret shop/partner again as it was"),
        "{stdout}"
    );
    assert!(!stdout.contains("partner-key-0b9e") && !stderr.contains("partner-key-0b9e"));
    assert_eq!(fake.snapshot(), before, "the Secret is back as it was");
    let back = fake.object("Secret", "shop", "partner").unwrap();
    assert_eq!(back["type"], "Opaque");
    assert_eq!(back["metadata"]["annotations"]["team"], "payments");
    // The rollback's own record repeats the undo actions: readable by its owner only.
    assert_eq!(mode(&out.join("rollback.jsonl")), 0o600);

    rollback(dir.path(), out);
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn a_secret_changed_by_someone_else_meanwhile_is_not_clobbered() {
    let _guard = common::shared();
    let fake = cluster(1);
    let original = "orig-pass-c41d";
    fake.apply(secret("db", &[("password", original), ("user", "web")]));
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: rotate, type: secret-rotate, namespace: shop, secret: db, key: password, duration: 3s}",
        ),
    );
    wait_for("the rotation in place", Duration::from_secs(15), || {
        secret_value(&fake, "db", "password").is_some_and(|v| v != original.as_bytes())
    });
    // An operator rotates it again, for real, while the fault is in place.
    let mut theirs = fake.object("Secret", "shop", "db").unwrap();
    theirs["data"]["password"] = json!(b64(b"operator-chosen-value"));
    fake.apply(theirs);
    let f = run.finish();
    assert_eq!(
        f.code,
        Some(4),
        "rollback_failed\n{}\n{}",
        f.stdout,
        f.stderr
    );
    let said = format!("{}{}", f.stdout, f.stderr);
    assert!(
        said.contains("`password` of Secret shop/db were changed by someone else"),
        "{said}"
    );
    assert_eq!(
        secret_value(&fake, "db", "password").as_deref(),
        Some(&b"operator-chosen-value"[..]),
        "the newer value is kept"
    );
    assert!(!said.contains(original) && !said.contains("operator-chosen-value"));
    assert_eq!(f.result["status"], "rollback_failed");
}

/// Pod names of `web`.
fn web_pods(fake: &FakeKube) -> Vec<String> {
    fake.objects("Pod", Some("shop"))
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Plays the kubelet for a killed container: after `down` its restartCount goes up (the
/// container running again, not Ready), after `up` more it is Ready.
fn restart_container(
    fake: &FakeKube,
    pod: &str,
    down: Duration,
    up: Duration,
) -> (Instant, Instant) {
    std::thread::sleep(down);
    let mut p = fake.object("Pod", "shop", pod).unwrap();
    let status = &mut p["status"]["containerStatuses"][0];
    let count = status["restartCount"].as_i64().unwrap();
    status["restartCount"] = json!(count + 1);
    status["ready"] = json!(false);
    status["lastState"] = json!({"terminated": {"exitCode": 143, "reason": "Error",
        "startedAt": "2025-01-01T00:00:00Z", "finishedAt": "2025-01-01T00:00:01Z"}});
    status["state"] = json!({"running": {"startedAt": "2025-01-01T00:00:02Z"}});
    for c in p["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
            c["status"] = json!("False");
        }
    }
    // Written over whatever changed since it was read, as the kubelet's status writes are.
    p["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    fake.apply(p.clone());
    let restarted = Instant::now();
    std::thread::sleep(up);
    p["status"]["containerStatuses"][0]["ready"] = json!(true);
    for c in p["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
            c["status"] = json!("True");
        }
    }
    fake.apply(p);
    (restarted, Instant::now())
}

#[test]
fn container_kill_runs_kill_through_exec_and_measures_the_restart() {
    let _guard = common::alone();
    let fake = cluster(2);
    let (tx, rx) = std::sync::mpsc::channel::<(String, Instant)>();
    let tx = std::sync::Mutex::new(tx);
    fake.on_exec(move |e| {
        let _ = tx.lock().unwrap().send((e.pod.clone(), Instant::now()));
        ExecReply::ok("")
    });
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let (down, up) = (Duration::from_millis(300), Duration::from_millis(400));
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: kill-web, type: container-kill, select: {mode: one, workload: web}, duration: 2s}",
        ),
    );
    let (pod, killed) = rx.recv_timeout(Duration::from_secs(20)).expect("an exec");
    let (restarted, ready) = restart_container(&fake, &pod, down, up);
    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);

    let execs = fake.execs();
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(execs[0].container, "app");
    assert_eq!(execs[0].command, ["/bin/sh", "-c", "kill -s TERM 1"]);
    let journal = common::journal(&f.out);
    let intent = intent_of(&journal, "kill-web");
    assert!(
        intent["data"]["changes"][0]
            .as_str()
            .unwrap()
            .contains("restartCount now 0"),
        "{intent}"
    );
    assert_eq!(
        intent["data"]["undo"][0],
        "nothing to undo: the kubelet restarts the container"
    );
    let event = journal
        .iter()
        .find(|r| r["kind"] == "container-restarted")
        .unwrap_or_else(|| panic!("no container-restarted in {journal:#?}"));
    let d = &event["data"];
    assert_eq!(d["pod"], format!("shop/{pod}"));
    assert_eq!(
        (d["restartCountBefore"].as_i64(), d["restartCount"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(d["serverRestartMs"], 1000);
    // Against the fake kubelet's own record: the kill time is taken as the exec is sent,
    // and each change is seen through the watch, within 150 ms.
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    let restart_ms = d["restartMs"].as_f64().unwrap();
    let ready_ms = d["readyMs"].as_f64().unwrap();
    let truth_restart = ms(killed, restarted);
    let truth_ready = ms(killed, ready);
    assert!(
        (restart_ms - truth_restart).abs() < 150.0,
        "restart measured {restart_ms} ms, the fake restarted it after {truth_restart} ms"
    );
    assert!(
        (ready_ms - truth_ready).abs() < 150.0,
        "ready measured {ready_ms} ms, the fake made it Ready after {truth_ready} ms"
    );
    let reverted = journal
        .iter()
        .find(|r| r["kind"] == "fault-reverted")
        .unwrap();
    assert!(
        reverted.to_string().contains("restartCount 0 → 1"),
        "{reverted}"
    );
    assert_eq!(fake.snapshot(), before);
    assert!(web_pods(&fake).contains(&pod), "the pod was kept");
}

#[test]
fn container_kill_in_an_image_without_a_shell_fails_naming_the_pod() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.on_exec(|_| {
        ExecReply::exit(
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/bin/sh\": stat /bin/sh: no such file or directory",
        )
    });
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: kill-web, type: container-kill, select: {mode: one, workload: web}, duration: 1s}",
        ),
    );
    let f = run.finish();
    assert_ne!(f.code, Some(0));
    let said = format!("{}{}", f.stdout, f.stderr);
    let pod = &fake.execs()[0].pod;
    assert!(
        said.contains(&format!("container app of pod shop/{pod} failed"))
            && said.contains("stat /bin/sh: no such file or directory")
            && said.contains("needs a shell"),
        "{said}"
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn container_kill_without_the_exec_permission_stops_before_anything_runs() {
    let _guard = common::shared();
    let fake = cluster(1);
    fake.deny("create", "", "pods/exec", Some("shop"));
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: kill-web, type: container-kill, select: {mode: one, workload: web}}",
        ),
    );
    let f = run.finish();
    assert_ne!(f.code, Some(0));
    let said = format!("{}{}", f.stdout, f.stderr);
    assert!(
        said.contains("create pods/exec (core) in namespace shop"),
        "{said}"
    );
    assert!(fake.execs().is_empty());
}
