//! End-to-end runs of dependency faults on the kubernetes platform: the fault proxy deployed
//! in front of a dependency's Service, against the fake API server, and the proxy's own
//! configuration run locally by the real binary.
//!
//! Each run checks that the fake's snapshot after it equals the one before.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{firedrill, wait_for};
use crate::experiment::Experiment;
use crate::fakekube::FakeKube;
use crate::kuberun::{CHAOS, cleanup, namespace, rollback, start, wait_as_found};
use crate::{common, kuberun};
use serde_json::{Value, json};

const PROXY: &str = "firedrill.dev/proxy";

/// A fake with namespace `shop`, a Deployment `db` of two opted-in pods and the Service
/// `db` in front of them: port 5432 to the pods' 15432, and 9090 to the port named `metrics`.
fn cluster() -> FakeKube {
    let fake = FakeKube::start();
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(50));
    namespace(&fake, "shop");
    fake.add_deployment("shop", "db", 2, &[("app", "db"), CHAOS]);
    fake.apply(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db", CHAOS.0: CHAOS.1}},
        "spec": {
            "selector": {"app": "db"},
            "ports": [
                {"name": "sql", "port": 5432, "targetPort": 15432, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }));
    fake
}

/// An experiment on `shop/db` with the dependency `db` behind the fault proxy, whose pod
/// must be ready within `ready_timeout`, and this fault.
fn experiment(fault: &str, ready_timeout: &str) -> String {
    Experiment::new(
        "kube-proxy-test",
        "    platform: kubernetes\n    namespaces: [shop]\n    workloads:\n      - {name: db, namespace: shop, kind: Deployment, objectName: db}",
    )
    .target_lines(&format!(
        "    dependencies:\n      - name: db\n        namespace: shop\n        service: db\n        ports: [5432]\n        proxy: {{image: registry.example/firedrill:test, readyTimeout: {ready_timeout}}}"
    ))
    .probe("{name: db-exists, type: object-exists, kind: Deployment, namespace: shop, objectName: db, timeout: 1s}")
    .recovery("{stableFor: 100ms, timeout: 20s}")
    .faults(fault)
    .yaml()
}

fn selector(fake: &FakeKube) -> Value {
    fake.object("Service", "shop", "db").unwrap()["spec"]["selector"].clone()
}

/// Writes the fake answered, as `METHOD path`.
fn writes(fake: &FakeKube) -> Vec<String> {
    kuberun::writes(fake)
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn a_latency_fault_sends_the_service_through_the_proxy_and_puts_everything_back() {
    let _guard = common::shared();
    let fake = cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: dependency-latency, dependency: db, latency: 150ms, duration: 1500ms}",
            "20s",
        ),
    );
    wait_for(
        "the Service switched to the proxy",
        Duration::from_secs(20),
        || selector(&fake).get(PROXY).is_some(),
    );
    assert_eq!(
        selector(&fake),
        json!({PROXY: "db-firedrill-proxy"}),
        "the Service selects the proxy pods only"
    );
    let deployment = fake
        .object("Deployment", "shop", "db-firedrill-proxy")
        .unwrap();
    let config_map = fake
        .object("ConfigMap", "shop", "db-firedrill-proxy")
        .unwrap();
    let upstream = fake
        .object("Service", "shop", "db-firedrill-upstream")
        .unwrap();
    for o in [&deployment, &config_map, &upstream] {
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "firedrill"
        );
        assert!(o["metadata"]["labels"]["firedrill.dev/run-id"].is_string());
        assert!(o["metadata"]["annotations"]["firedrill.dev/owner"].is_string());
    }
    assert_eq!(upstream["spec"]["selector"], json!({"app": "db"}));
    assert_eq!(
        upstream["spec"]["ports"],
        json!([
            {"name": "sql", "port": 5432, "targetPort": 15432, "protocol": "TCP"},
            {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
        ])
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert!(container["resources"]["limits"]["memory"].is_string());
    // The Service finds the proxy where it found its own pods: 15432 by number, and the
    // port named `metrics` by name.
    assert_eq!(
        container["ports"],
        json!([
            {"containerPort": 15432, "protocol": "TCP"},
            {"containerPort": 9090, "name": "metrics", "protocol": "TCP"},
        ])
    );
    wait_for("the proxy pod to be Ready", Duration::from_secs(5), || {
        fake.objects("Pod", Some("shop")).iter().any(|p| {
            p["metadata"]["labels"][PROXY] == "db-firedrill-proxy"
                && p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
    });

    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    wait_as_found(
        &fake,
        &before,
        "the proxy pods to go",
        Duration::from_secs(10),
    );
    assert_eq!(
        writes(&fake),
        [
            "POST /api/v1/namespaces/shop/configmaps",
            "POST /api/v1/namespaces/shop/services",
            "POST /apis/apps/v1/namespaces/shop/deployments",
            "PATCH /api/v1/namespaces/shop/services/db",
            "PATCH /api/v1/namespaces/shop/services/db",
            "DELETE /apis/apps/v1/namespaces/shop/deployments/db-firedrill-proxy",
            "DELETE /api/v1/namespaces/shop/services/db-firedrill-upstream",
            "DELETE /api/v1/namespaces/shop/configmaps/db-firedrill-proxy",
        ],
        "the selector goes back before anything is deleted"
    );
    let journal = common::journal(&f.out);
    let intent = journal
        .iter()
        .find(|r| r["kind"] == "fault-intent")
        .unwrap();
    let actions: Vec<&str> = intent["data"]["restore"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "delete-object",
            "delete-object",
            "delete-object",
            "restore-service-selector"
        ]
    );

    proxy_runs_locally_as_deployed(&deployment, &config_map);
}

/// Runs the Deployment's command with its ConfigMap's file, as the pod would, with the
/// upstream Service replaced by a local echo server and the listen port by a free one, and
/// measures that the configured 150 ms latency is applied on the faulted port only.
fn proxy_runs_locally_as_deployed(deployment: &Value, config_map: &Value) {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(container["command"], json!(["firedrill"]));
    let at = args.iter().position(|a| a == "--config").unwrap();
    let in_pod = &args[at + 1];
    let key = in_pod
        .strip_prefix(&format!("{mount}/"))
        .expect("the config is read from the mounted ConfigMap");
    let text = config_map["data"][key].as_str().unwrap();
    let mut config: Value = serde_json::from_str(text).unwrap();
    let proxies = config.as_array_mut().unwrap();
    assert_eq!(proxies[0]["listen"], "0.0.0.0:15432");
    assert_eq!(
        proxies[0]["upstream"],
        "db-firedrill-upstream.shop.svc:5432"
    );
    assert_eq!(proxies[1]["listen"], "0.0.0.0:9090");
    assert!(proxies[1].get("toxics").is_none());

    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in echo.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    for p in proxies.iter_mut() {
        p["listen"] = json!("127.0.0.1:0");
        p["upstream"] = json!(echo_addr.to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(key);
    std::fs::write(&file, serde_json::to_string(&config).unwrap()).unwrap();
    let mut local_args = args.clone();
    local_args[at + 1] = file.to_str().unwrap().to_owned();
    let mut proxy = Command::new(firedrill())
        .args(&local_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The output is read to its end on a thread of its own, so that the proxy never
    // writes into a closed pipe.
    let stdout = std::io::BufReader::new(proxy.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("proxy ")
                && let Some((name, rest)) = rest.split_once(" listening on ")
            {
                let addr = rest.split_whitespace().next().unwrap().to_owned();
                let _ = tx.send((name.to_owned(), addr));
            }
        }
    });
    let mut listening = std::collections::BTreeMap::new();
    while listening.len() < 2 {
        let (name, addr) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("both proxies listen");
        listening.insert(name, addr);
    }
    let round_trip = |addr: &str| {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            conn.write_all(b"ping\n").unwrap();
            let mut back = [0u8; 5];
            conn.read_exact(&mut back).unwrap();
            assert_eq!(&back, b"ping\n");
            best = best.min(t.elapsed());
        }
        best
    };
    let faulted = round_trip(&listening["sql"]);
    let untouched = round_trip(&listening["metrics"]);
    let _ = proxy.kill();
    let _ = proxy.wait();
    let latency = Duration::from_millis(150);
    assert!(
        faulted >= latency && faulted < latency + Duration::from_millis(500),
        "the faulted port adds 150 ms: {faulted:?}"
    );
    assert!(
        untouched < latency,
        "the other port is not delayed: {untouched:?}"
    );
}

#[test]
fn a_run_killed_mid_fault_is_undone_by_rollback() {
    let _guard = common::shared();
    let fake = cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: errors, type: dependency-errors, dependency: db, rate: 0.5, duration: 60s}",
            "20s",
        ),
    );
    wait_for(
        "the Service switched to the proxy",
        Duration::from_secs(20),
        || selector(&fake).get(PROXY).is_some(),
    );
    // SIGKILL: no handler runs, nothing is reverted.
    run.kill();
    assert_ne!(fake.snapshot(), before);

    let stdout = rollback(dir.path(), &run.out).stdout;
    assert!(
        stdout.contains("put the selector app=db back on Service shop/db"),
        "{stdout}"
    );
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

#[test]
fn cleanup_puts_back_what_a_dead_runs_proxy_changed() {
    let _guard = common::shared();
    let fake = cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: down, type: dependency-outage, dependency: db, mode: reset, duration: 60s}",
            "20s",
        ),
    );
    wait_for(
        "the Service switched to the proxy",
        Duration::from_secs(20),
        || selector(&fake).get(PROXY).is_some(),
    );
    run.kill();
    // The killed run's pid is gone: cleanup takes its objects for a dead run's.
    let stdout = cleanup(dir.path(), "shop").stdout;
    assert!(stdout.contains("put the selector app=db back"), "{stdout}");
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

#[test]
fn a_proxy_that_never_becomes_available_aborts_the_run_and_leaves_nothing() {
    let _guard = common::shared();
    let fake = cluster();
    // The seeded pods are Ready already; the proxy's never will be.
    fake.set_delays(Duration::from_millis(20), Duration::from_secs(3600));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: dependency-latency, dependency: db, latency: 100ms, duration: 1s}",
            "1s",
        ),
    );
    let f = run.finish();
    assert_eq!(f.code, Some(3), "{}", f.stderr);
    let result = &f.result;
    let reason = result["reason"].as_str().unwrap();
    assert!(
        reason.contains("the proxy Deployment shop/db-firedrill-proxy was not available within 1s")
            && reason.contains("was not switched"),
        "{reason}"
    );
    assert!(
        !writes(&fake).iter().any(|w| w.starts_with("PATCH")),
        "the Service was never touched: {:?}",
        writes(&fake)
    );
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

#[test]
fn headless_services_are_refused_before_any_change() {
    let _guard = common::shared();
    let fake = cluster();
    let mut svc = fake.object("Service", "shop", "db").unwrap();
    svc["spec"]["clusterIP"] = json!("None");
    fake.apply(svc);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: dependency-latency, dependency: db, latency: 100ms, duration: 1s}",
            "5s",
        ),
    );
    let f = run.finish();
    assert_eq!(f.code, Some(3), "{}", f.stderr);
    let result = &f.result;
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("Service shop/db is headless"),
        "{}",
        result["reason"]
    );
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert!(
        !common::journal_has(&f.out, "fault-intent"),
        "refused when the run starts, before any fault"
    );
    assert_eq!(fake.snapshot(), before);
}

/// The path a planned write goes to, as the API server sees it.
fn path_of(w: &firedrill::platform::kubernetes::ApiWrite) -> (String, String) {
    use firedrill::platform::kubernetes::WriteAction;
    let r = &w.resource;
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let collection = format!("{base}/namespaces/{}/{}", w.namespace, r.plural);
    match &w.action {
        WriteAction::Create(_) => ("POST".to_owned(), collection),
        WriteAction::MergePatch { .. } => ("PATCH".to_owned(), format!("{collection}/{}", w.name)),
        WriteAction::Delete { .. } => ("DELETE".to_owned(), format!("{collection}/{}", w.name)),
        WriteAction::Evict => (
            "POST".to_owned(),
            format!("{collection}/{}/eviction", w.name),
        ),
    }
}

#[test]
fn the_writes_planned_are_the_writes_made() {
    use firedrill::fault::{ClusterProxyFault, Fault};
    use firedrill::platform::kubernetes::{Cluster, WriteAction};
    let _guard = common::shared();
    let fake = cluster();
    let before = fake.snapshot();
    let exp: firedrill::spec::Experiment = serde_saphyr::from_str(&experiment(
        "    - {name: slow, type: dependency-bandwidth, dependency: db, rateKbps: 50, duration: 1s}",
        "20s",
    ))
    .unwrap();
    let firedrill::spec::Target::Kubernetes(target) = exp.spec.target else {
        panic!("a kubernetes experiment")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cluster = Cluster {
            client: fake.client().await,
            target: std::sync::Arc::new(target),
            run_id: "r1".to_owned(),
            max_affected_percent: 100.0,
        };
        let firedrill::spec::FaultSpec::DependencyBandwidth(bandwidth) = &exp.spec.faults[0] else {
            panic!("the experiment's fault is a dependency-bandwidth fault");
        };
        let fault = ClusterProxyFault::new(
            firedrill::fault::DependencyChange::Bandwidth(bandwidth.clone()),
            cluster,
        );
        let intent = fault.plan().await.unwrap();
        let planned: Vec<(String, String)> = intent.writes.iter().map(path_of).collect();
        let seen = fake.requests().len();
        fault.inject().await.unwrap();
        let made: Vec<(String, String)> = fake.requests()[seen..]
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        assert_eq!(made, planned);
        for w in &intent.writes {
            let stored = fake
                .object(&w.resource.kind, &w.namespace, &w.name)
                .unwrap();
            match &w.action {
                WriteAction::Create(object) => {
                    for field in ["spec", "data"] {
                        if let Some(v) = object.get(field) {
                            // The server fills in defaults only where the fake does too.
                            assert_eq!(&stored[field], v, "{} {field}", w.describe());
                        }
                    }
                    assert_eq!(
                        stored["metadata"]["labels"],
                        object["metadata"]["labels"],
                        "{}",
                        w.describe()
                    );
                }
                WriteAction::MergePatch { patch, .. } => {
                    assert_eq!(
                        stored["spec"]["selector"],
                        json!({PROXY: "db-firedrill-proxy"})
                    );
                    assert_eq!(patch["spec"]["selector"]["app"], Value::Null);
                }
                other => panic!("unexpected write {other:?}"),
            }
        }
        let undone = fault.revert().await.unwrap();
        assert_eq!(undone.len(), 4, "{undone:?}");
        assert!(
            fault.revert().await.unwrap().is_empty(),
            "a second revert does nothing"
        );
    });
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

/// The effect recorded for the first fault of the first iteration.
fn effect(result: &Value) -> &Value {
    &result["iterations"][0]["faults"][0]["effect"]
}

/// The pods created in `shop` whose name ends with `-verify`.
fn verifier_creations(fake: &FakeKube) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/namespaces/shop/pods")
        .map(|r| format!("{} {}", r.status, r.path))
        .collect()
}

#[test]
fn an_error_fault_in_the_cluster_is_verified_by_a_request_from_a_verifier_pod() {
    let _guard = common::shared();
    let fake = cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: errors, type: dependency-errors, dependency: db, status: 503, rate: 1, duration: 3s}",
            "20s",
        ),
    );
    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let effect = effect(&f.result);
    assert_eq!(effect["status"], "verified", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.starts_with("from verifier pod shop/db-firedrill-verify, ")
            && observed
                .contains("request 1 (GET /) through db.shop.svc:5432 was answered `HTTP/1.1 503"),
        "{observed}"
    );
    assert_eq!(verifier_creations(&fake).len(), 1);
    let pod = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/api/v1/namespaces/shop/pods")
        .unwrap();
    assert_eq!(pod.status, 201);
    // Journaled before it was created: the intent's restore deletes it, first.
    let journal = common::journal(&f.out);
    let intent = journal
        .iter()
        .find(|r| r["kind"] == "fault-intent")
        .unwrap();
    let last = intent["data"]["restore"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(
        (&last["kind"], &last["name"]),
        (&json!("Pod"), &json!("db-firedrill-verify")),
        "{intent}"
    );
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

#[test]
fn a_per_request_latency_fault_in_the_cluster_is_verified_by_its_delay() {
    let _guard = common::shared();
    let fake = cluster();
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: dependency-latency, dependency: db, latency: 300ms, perRequest: true, duration: 3s}",
            "20s",
        ),
    );
    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let effect = effect(&f.result);
    assert_eq!(effect["status"], "verified", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains(
            "through db.shop.svc:5432 was answered after 302 ms (300 ms of latency asked)"
        ),
        "{observed}"
    );
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

#[test]
fn a_fault_the_proxy_does_not_apply_is_ineffective_and_fails_the_run() {
    let _guard = common::shared();
    let fake = cluster();
    fake.set_proxies_untouched(true);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: dependency-latency, dependency: db, latency: 300ms, perRequest: true, duration: 3s}",
            "20s",
        ),
    );
    let f = run.finish();
    assert_eq!(f.code, Some(1), "{}", f.stderr);
    let effect = effect(&f.result);
    assert_eq!(effect["status"], "ineffective", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains("was answered after 2 ms (300 ms of latency asked)"),
        "{observed}"
    );
    assert!(
        f.result["reason"]
            .as_str()
            .unwrap()
            .contains("fault `slow` was not in force"),
        "{}",
        f.result["reason"]
    );
    wait_as_found(
        &fake,
        &before,
        "the cluster as it was",
        Duration::from_secs(10),
    );
}

#[test]
fn a_per_chunk_latency_on_a_port_not_declared_http_is_left_unverified() {
    let _guard = common::shared();
    let fake = cluster();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    - {name: slow, type: dependency-latency, dependency: db, latency: 100ms, duration: 1s}",
            "20s",
        ),
    );
    let f = run.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let effect = effect(&f.result);
    assert_eq!(effect["status"], "unverified", "{effect}");
    assert!(
        effect["why"]
            .as_str()
            .unwrap()
            .contains("port 5432 (sql) of Service shop/db is not declared HTTP"),
        "{effect}"
    );
    assert!(verifier_creations(&fake).is_empty());
}
