//! `firedrill plan` against a cluster (the fake API server): preflight, targets resolved by
//! the faults' own `plan`, every write sent as a server-side dry run, and `--manifests DIR`
//! with the objects the server returned, checked against the official Kubernetes schemas
//! with PyPI's `kubernetes-validate`.
//!
//! Without `kubernetes-validate` the schema check is skipped with a message, unless `CI` is
//! set, where it fails with the install command.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common;
use crate::common::wait_for;
use crate::fakekube::FakeKube;
use crate::kuberun::{cluster, firedrill_in, kube_dir, start, writes};
use serde_json::{Value, json};

/// How to get the validator (the version `.ci/run` installs).
const INSTALL: &str = "python3 -m pip install kubernetes-validate==1.37.0";
/// The Kubernetes version whose schemas the manifests must pass (k8s-openapi's `v1_33`).
const KUBERNETES: &str = "1.33.0";
/// Replicas of every workload seeded for an example: enough that a `percent: 50` selection
/// takes two pods and stays within `maxAffectedPercent: 50`.
const REPLICAS: i32 = 4;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kube_examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("experiments/kubernetes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no example in experiments/kubernetes");
    files
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Seeds, in `fake`, what the experiment in `file` refers to: its namespaces, its workloads
/// (with the opt-in label and [`REPLICAS`] pods), and the ConfigMaps, Secrets and nodes its
/// faults name. New examples need no change here as long as they name objects with these
/// fields; anything else makes the plan fail, and the test names the file.
fn seed_for(fake: &FakeKube, file: &Path) -> Value {
    let exp = firedrill::spec::load_file(file)
        .unwrap_or_else(|e| panic!("{}: not a valid experiment: {e}", file.display()));
    let doc = serde_json::to_value(&exp).unwrap();
    let target = &doc["spec"]["target"];
    let namespaces: Vec<String> = target["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    let seed = |what: String, object: Value| {
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.apply(object.clone())));
        if applied.is_err() {
            panic!(
                "{}: the fake cannot hold the {what} the experiment refers to: {object}; \
                 extend the fake or seed_for() in tests/kubernetes_plan.rs",
                file.display()
            );
        }
    };
    for ns in &namespaces {
        seed(
            format!("namespace {ns}"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        );
    }
    let opt_in = (
        target["optInLabel"]["key"]
            .as_str()
            .unwrap_or("firedrill.dev/chaos")
            .to_owned(),
        target["optInLabel"]["value"]
            .as_str()
            .unwrap_or("allowed")
            .to_owned(),
    );
    for w in target["workloads"].as_array().into_iter().flatten() {
        let ns = w["namespace"].as_str().unwrap();
        let name = w["objectName"]
            .as_str()
            .or(w["name"].as_str())
            .unwrap()
            .to_owned();
        let mut labels: BTreeMap<String, String> = w["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        if labels.is_empty() {
            labels.insert("app".into(), name.clone());
        }
        labels.insert(opt_in.0.clone(), opt_in.1.clone());
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match w["kind"].as_str().unwrap() {
            "StatefulSet" => fake.add_statefulset(ns, &name, REPLICAS, &pairs),
            "DaemonSet" => fake.add_daemonset(ns, &name, &pairs),
            "Pod" => seed(
                format!("pod {ns}/{name}"),
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "registry.example/app:1.0"}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                }),
            ),
            // A Deployment, or pods chosen by label alone: a Deployment makes such pods,
            // mounting the volumes that faults on it name (`pod-disk-fill`).
            _ => {
                let volumes: Vec<&str> = doc["spec"]["faults"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|f| f["select"]["workload"] == w["name"])
                    .filter_map(|f| f["volume"].as_str())
                    .collect();
                if volumes.is_empty() {
                    fake.add_deployment(ns, &name, REPLICAS, &pairs);
                } else {
                    fake.add_workload(json!({
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": name, "namespace": ns, "labels": labels},
                        "spec": {
                            "replicas": REPLICAS,
                            "selector": {"matchLabels": labels},
                            "template": {
                                "metadata": {"labels": labels},
                                "spec": {
                                    "containers": [{
                                        "name": "app",
                                        "image": "registry.example/app:1.0",
                                        "volumeMounts": volumes.iter().map(|v| json!({"name": v, "mountPath": format!("/{v}")})).collect::<Vec<_>>(),
                                    }],
                                    "volumes": volumes.iter().map(|v| json!({"name": v, "emptyDir": {}})).collect::<Vec<_>>(),
                                },
                            },
                        },
                    }));
                }
            }
        }
    }
    // The kind of a kubernetes-object probe outside the core, apps and networking groups is a
    // custom resource: its definition makes the fake serve it (the plural as kubectl guesses).
    for p in doc["spec"]["steadyState"]["probes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (Some("kubernetes-object"), Some(api_version), Some(kind)) = (
            p["type"].as_str(),
            p["apiVersion"].as_str(),
            p["kind"].as_str(),
        ) else {
            continue;
        };
        let Some((group, version)) = api_version.split_once('/') else {
            continue;
        };
        if [
            "apps",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
        ]
        .contains(&group)
        {
            continue;
        }
        let plural = format!("{}s", kind.to_ascii_lowercase());
        seed(
            format!("definition of {kind}"),
            json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.{group}")},
                "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": plural, "singular": kind.to_ascii_lowercase(), "kind": kind},
                    "versions": [{"name": version, "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
            }),
        );
    }
    let default_ns = namespaces
        .first()
        .cloned()
        .unwrap_or_else(|| "default".into());
    let dependencies = target["dependencies"].as_array().into_iter().flatten();
    for f in doc["spec"]["faults"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(dependencies)
    {
        seed_named_objects(f, &default_ns, &opt_in, &seed);
    }
    doc
}

/// The ConfigMaps, Secrets, Services and nodes a fault or a dependency names (`configMap`,
/// `secret`, `service`, `node` and their `...Name` forms, at any depth), with the keys it
/// mentions (`key`, `keys`, and the keys of `set`, `data` or `values`), so that changing or
/// removing them is possible, and the ports (`port`, `ports`) a Service serves.
fn seed_named_objects(
    fault: &Value,
    default_ns: &str,
    opt_in: &(String, String),
    seed: &dyn Fn(String, Value),
) {
    let Value::Object(map) = fault else {
        if let Value::Array(items) = fault {
            items
                .iter()
                .for_each(|i| seed_named_objects(i, default_ns, opt_in, seed));
        }
        return;
    };
    let ns = map
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_ns);
    let mut keys = BTreeSet::new();
    for k in ["key", "keys", "remove"] {
        match map.get(k) {
            Some(Value::String(s)) => {
                keys.insert(s.clone());
            }
            Some(Value::Array(items)) => {
                keys.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)));
            }
            _ => {}
        }
    }
    for k in ["set", "data", "values"] {
        if let Some(Value::Object(m)) = map.get(k) {
            keys.extend(m.keys().cloned());
        }
    }
    if keys.is_empty() {
        keys.insert("value".into());
    }
    let labels = json!({opt_in.0.clone(): opt_in.1.clone()});
    for (field, value) in map {
        // A node chosen by name: `node: {type: named, name: N}`.
        if field == "node"
            && let Some(name) = value["name"].as_str()
            && !name.starts_with("node-")
        {
            seed(
                format!("node {name}"),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}}),
            );
            continue;
        }
        let Some(name) = value.as_str() else {
            seed_named_objects(value, default_ns, opt_in, seed);
            continue;
        };
        match field.as_str() {
            "configMap" | "configMapName" => seed(
                format!("ConfigMap {ns}/{name}"),
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "data": keys.iter().map(|k| (k.clone(), json!("original"))).collect::<serde_json::Map<_, _>>(),
                }),
            ),
            "secret" | "secretName" => seed(
                format!("Secret {ns}/{name}"),
                json!({
                    "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "data": keys.iter().map(|k| (k.clone(), json!("b3JpZ2luYWw="))).collect::<serde_json::Map<_, _>>(),
                }),
            ),
            "service" | "serviceName" => {
                let ports: Vec<u64> = match (map.get("port"), map.get("ports")) {
                    (Some(Value::Number(p)), _) => p.as_u64().into_iter().collect(),
                    (_, Some(Value::Array(ps))) => ps
                        .iter()
                        .filter_map(|p| p.as_u64().or(p["port"].as_u64()))
                        .collect(),
                    _ => vec![80],
                };
                let ports: Vec<Value> = ports
                    .iter()
                    .map(|p| json!({"name": format!("p{p}"), "port": p, "targetPort": p, "protocol": "TCP"}))
                    .collect();
                seed(
                    format!("Service {ns}/{name}"),
                    json!({
                        "apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": name, "namespace": ns, "labels": labels},
                        "spec": {"selector": {"app": name}, "ports": ports},
                    }),
                )
            }
            "node" | "nodeName" if !name.starts_with("node-") => seed(
                format!("node {name}"),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}}),
            ),
            _ => {}
        }
    }
}

/// `kubernetes-validate` as a command, or why it is not there (a panic under CI).
fn validator() -> Option<String> {
    let bin = std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let present = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Some(bin);
    }
    if std::env::var_os("CI").is_some() {
        panic!("`{bin}` cannot be run; install it: {INSTALL}");
    }
    eprintln!("skipped the schema check: `{bin}` cannot be run; install it with `{INSTALL}`");
    None
}

fn index(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("manifests.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["writes"].as_array().unwrap().clone()
}

fn manifest(dir: &Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}\n{text}"))
}

#[test]
fn every_kubernetes_example_plans_with_dry_runs_only_and_its_manifests_pass_the_official_schemas() {
    let _guard = common::shared();
    let validate = validator();
    for file in kube_examples() {
        let name = file.display().to_string();
        let fake = FakeKube::start();
        let doc = seed_for(&fake, &file);
        let dir = kube_dir(&fake);
        let out_dir = dir.path().join("manifests");
        let before = fake.snapshot();
        let out = firedrill_in(
            dir.path(),
            &["plan", "--manifests", out_dir.to_str().unwrap(), &name],
        );
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("every write above was sent as a server-side dry run"),
            "{name}: {stdout}"
        );

        // Nothing changed, and every write the server saw was a dry run.
        assert_eq!(
            fake.snapshot(),
            before,
            "{name}: the plan changed the cluster"
        );
        let sent = writes(&fake);
        // A command run through exec has no dry run: such faults plan with no write.
        let exec_only = |f: &serde_json::Value| {
            matches!(
                f["type"].as_str(),
                Some("container-kill" | "canary-exec" | "canary-dns-lookup")
            )
        };
        let faults = doc["spec"]["faults"].as_array().unwrap();
        if faults.iter().all(exec_only) {
            assert!(sent.is_empty(), "{name}: {sent:?}");
            continue;
        }
        assert!(!sent.is_empty(), "{name}: no write was dry-run");
        for r in &sent {
            assert!(r.dry_run, "{name}: a write without dryRun: {r:?}");
        }

        // One accepted entry per write, each fault with at least one, each file written.
        let entries = index(&out_dir);
        assert_eq!(entries.len(), sent.len(), "{name}: {entries:?} / {sent:?}");
        for f in faults.iter().filter(|f| !exec_only(f)) {
            assert!(
                entries.iter().any(|e| e["fault"] == f["name"]),
                "{name}: fault {} has no write in manifests.json",
                f["name"]
            );
        }
        let mut files = Vec::new();
        for e in &entries {
            assert_eq!(e["dryRun"], "accepted", "{name}: {e}");
            let m = e["manifest"].as_str().unwrap();
            assert!(m.starts_with(&format!("{:02}-", files.len() + 1)), "{m}");
            let object = manifest(&out_dir, m);
            // A subresource answers with its own kind: a `scale` patch with a Scale.
            let kind = match e["subresource"].as_str() {
                Some("scale") => json!("Scale"),
                _ => e["kind"].clone(),
            };
            assert_eq!(object["kind"], kind, "{name}: {m}");
            assert_eq!(object["kind"], e["manifestKind"], "{name}: {m}");
            assert_eq!(object["metadata"]["name"], e["name"], "{name}: {m}");
            assert!(
                object.get("status").is_none(),
                "{name}: {m} keeps its status"
            );
            files.push(out_dir.join(m));
        }

        let Some(bin) = &validate else { continue };
        let checked = Command::new(bin)
            .args(["--strict", "-k", KUBERNETES])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{name}: the manifests fail the Kubernetes {KUBERNETES} schemas:\n{}\n{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

/// The quarantine example, short enough to run in a test.
fn short_quarantine() -> String {
    let text = std::fs::read_to_string(root().join("experiments/kubernetes/quarantine.yaml"))
        .unwrap()
        .replace("interval: 500ms", "interval: 50ms")
        .replace("baseline: 2s", "baseline: 200ms")
        .replace("duration: 20s", "duration: 1500ms")
        .replace("stableFor: 2s", "stableFor: 200ms");
    assert!(
        text.contains("duration: 1500ms"),
        "the example changed: {text}"
    );
    text
}

/// `object` without what the server sets, with the run id and the owner's process made
/// placeholders, so that a plan's object and a run's compare.
fn comparable(object: &Value, run_id: &str) -> Value {
    let mut o = object.clone();
    o.as_object_mut().unwrap().remove("status");
    let meta = o["metadata"].as_object_mut().unwrap();
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
    ] {
        meta.remove(field);
    }
    if let Some(owner) = meta
        .get_mut("annotations")
        .and_then(|a| a.get_mut("firedrill.dev/owner"))
    {
        *owner = json!("HOST/PID");
    }
    let text = o.to_string().replace(&run_id.to_lowercase(), "RUN");
    let text = text.replace(run_id, "RUN");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_planned_network_policy_is_the_one_the_run_creates() {
    let _guard = common::alone();
    let fake = cluster(REPLICAS);
    let dir = kube_dir(&fake);
    let yaml = short_quarantine();
    let exp = dir.path().join("quarantine.yaml");
    std::fs::write(&exp, &yaml).unwrap();
    let out_dir = dir.path().join("manifests");
    let out = firedrill_in(
        dir.path(),
        &[
            "plan",
            "--manifests",
            out_dir.to_str().unwrap(),
            exp.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entries = index(&out_dir);
    let policy_entry = entries
        .iter()
        .find(|e| e["kind"] == "NetworkPolicy")
        .unwrap_or_else(|| panic!("no NetworkPolicy in {entries:?}"));
    assert_eq!(policy_entry["action"], "create");
    let planned = manifest(&out_dir, policy_entry["manifest"].as_str().unwrap());
    let plan_run = policy_entry["runId"].as_str().unwrap().to_owned();
    assert!(fake.objects("NetworkPolicy", Some("shop")).is_empty());

    // The run, with the policy taken while it is in place.
    let run = start(&fake, dir.path(), &yaml);
    let mut created = None;
    wait_for("the run's NetworkPolicy", Duration::from_secs(30), || {
        created = fake
            .objects("NetworkPolicy", Some("shop"))
            .into_iter()
            .next();
        created.is_some()
    });
    let f = run.finish();
    assert_eq!(f.code, Some(0));
    let created = created.unwrap();
    let result = &f.result;
    let journal = common::journal(&f.out);
    let run_id = journal
        .iter()
        .find(|r| r["kind"] == "run-started")
        .and_then(|r| r["data"]["runId"].as_str())
        .unwrap_or_else(|| panic!("no run id in the journal; result: {result}"))
        .to_owned();
    assert_ne!(run_id, plan_run);
    assert_eq!(
        comparable(&planned, &plan_run),
        comparable(&created, &run_id),
        "the plan's NetworkPolicy differs from the run's"
    );
    assert!(fake.objects("NetworkPolicy", Some("shop")).is_empty());
}

#[test]
fn a_write_the_server_refuses_is_reported_with_its_message_and_exits_3() {
    let _guard = common::shared();
    let fake = cluster(REPLICAS);
    fake.fail_next(
        "POST",
        "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
        422,
        1,
    );
    let dir = kube_dir(&fake);
    let out_dir = dir.path().join("manifests");
    let before = fake.snapshot();
    let file = root().join("experiments/kubernetes/quarantine.yaml");
    let out = firedrill_in(
        dir.path(),
        &[
            "plan",
            "--manifests",
            out_dir.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("dry run REFUSED: create NetworkPolicy shop/firedrill-isolate-one-")
            && all.contains("422 Invalid: injected failure 422"),
        "{all}"
    );
    // The other writes are still tried and reported.
    assert!(
        all.contains("dry run accepted: patch Pod shop/web-"),
        "{all}"
    );
    let entries = index(&out_dir);
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["dryRun"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{entries:?}");
    assert!(refused[0]["manifest"].is_null());
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("422 Invalid")
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn an_eviction_a_disruption_budget_blocks_is_refused_at_plan_time() {
    let _guard = common::shared();
    let fake = cluster(REPLICAS);
    fake.add_pdb("shop", "web-budget", &[("app", "web")], REPLICAS);
    let dir = kube_dir(&fake);
    let file = root().join("experiments/kubernetes/pod-evict.yaml");
    let before = fake.snapshot();
    let out = firedrill_in(dir.path(), &["plan", file.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("dry run REFUSED: evict Pod shop/web-") && all.contains("web-budget"),
        "{all}"
    );
    // One eviction request per chosen pod: a budget's no is not retried.
    let evictions = writes(&fake)
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .count();
    assert_eq!(evictions, 2, "{all}");
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn a_missing_permission_stops_the_plan_before_any_write() {
    let _guard = common::shared();
    let fake = cluster(REPLICAS);
    fake.deny(
        "create",
        "networking.k8s.io",
        "networkpolicies",
        Some("shop"),
    );
    let dir = kube_dir(&fake);
    let file = root().join("experiments/kubernetes/quarantine.yaml");
    let out = firedrill_in(dir.path(), &["plan", file.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("missing permissions")
            && all.contains("create networkpolicies (networking.k8s.io) in namespace shop"),
        "{all}"
    );
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
}

#[test]
fn offline_plans_need_no_cluster_and_online_ones_say_how_to_go_offline() {
    let _guard = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let file = root().join("experiments/kubernetes/scale.yaml");
    let file = file.to_str().unwrap();
    // No kubeconfig at all: KUBECONFIG names a missing file.
    let offline = firedrill_in(dir.path(), &["plan", "--offline", file]);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline));
    assert!(
        String::from_utf8_lossy(&offline.stdout)
            .contains("resolved against the cluster at run time"),
        "{}",
        text(&offline)
    );
    let online = firedrill_in(dir.path(), &["plan", file]);
    let all = text(&online);
    assert_eq!(online.status.code(), Some(3), "{all}");
    assert!(
        all.contains("cannot load the Kubernetes configuration") && all.contains("--offline"),
        "{all}"
    );
    // --offline and --manifests contradict each other; a used folder is refused.
    let both = firedrill_in(
        dir.path(),
        &[
            "plan",
            "--offline",
            "--manifests",
            dir.path().to_str().unwrap(),
            file,
        ],
    );
    assert_eq!(both.status.code(), Some(2), "{}", text(&both));
    std::fs::write(dir.path().join("old.yaml"), "x: 1\n").unwrap();
    let used = firedrill_in(
        dir.path(),
        &["plan", "--manifests", dir.path().to_str().unwrap(), file],
    );
    assert_eq!(used.status.code(), Some(2), "{}", text(&used));
    assert!(
        text(&used).contains("must be absent or empty"),
        "{}",
        text(&used)
    );
}
