//! End-to-end runs of the network faults (egress-block, dns-outage) and the node faults
//! (node-cordon, node-drain): the real binary against the fake API server.
//!
//! Each test seeds the fake, takes its snapshot, runs an experiment, checks what the fault
//! did while it was in place (reachability under the NetworkPolicies held, where pods run,
//! the node's `spec.unschedulable`), and that the snapshot after the run equals the one
//! before.

use std::path::Path;
use std::time::Duration;

use crate::common;
use crate::common::wait_for;
use crate::experiment::Experiment;
use crate::fakekube::{FakeKube, Reach};
use crate::kuberun::{
    CHAOS, Finished, KubeRun, cleanup, cluster, firedrill_in, intents, namespace, rollback, start,
    wait_as_found,
};
use serde_json::{Value, json};

const EGRESS_LABEL: &str = "firedrill.dev/egress-block";

/// An experiment on `shop/web` with these faults; `target` adds lines to the target.
fn experiment(target: &str, faults: &str, extra: &str) -> String {
    Experiment::kubernetes("kube-network-test")
        .target_lines(target)
        .faults(faults)
        .extra(extra)
        .yaml()
}

fn id(pod: &Value) -> String {
    format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap(),
        pod["metadata"]["name"].as_str().unwrap()
    )
}

/// The pods of `ns` with a label `key=value`.
fn pods_with(fake: &FakeKube, ns: &str, key: &str, value: &str) -> Vec<Value> {
    fake.objects("Pod", Some(ns))
        .into_iter()
        .filter(|p| p["metadata"]["labels"][key] == value)
        .collect()
}

/// Waits until the egress policy is created and a pod carries its label; returns the
/// labelled pod and another pod of `web`.
fn wait_for_the_egress_policy(fake: &FakeKube) -> (String, String) {
    wait_for(
        "the egress policy and label",
        Duration::from_secs(10),
        || {
            !fake.objects("NetworkPolicy", Some("shop")).is_empty()
                && fake
                    .objects("Pod", Some("shop"))
                    .iter()
                    .any(|p| p["metadata"]["labels"][EGRESS_LABEL].is_string())
        },
    );
    let pods = fake.objects("Pod", Some("shop"));
    let blocked = pods
        .iter()
        .find(|p| p["metadata"]["labels"][EGRESS_LABEL].is_string())
        .unwrap();
    let other = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == "web" && id(p) != id(blocked))
        .unwrap();
    (id(blocked), id(other))
}

/// Asserts a reachability answer; on failure shows the policies and pod addresses held.
#[track_caller]
fn expect(fake: &FakeKube, from: &str, to: Reach, reachable: bool) {
    if fake.reachable(from, to.clone()) != reachable {
        let pods: Vec<String> = fake
            .objects("Pod", None)
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    id(p),
                    p["status"]["podIP"],
                    p["metadata"]["labels"]
                )
            })
            .collect();
        panic!(
            "{from} -> {to:?} should be {}reachable\npolicies: {:#}\npods:\n{}",
            if reachable { "" } else { "un" },
            Value::Array(fake.objects("NetworkPolicy", None)),
            pods.join("\n")
        );
    }
}

/// The changes an intent lists, as one text.
fn changes(intent: &Value) -> String {
    let data = if intent["data"].is_null() {
        intent
    } else {
        &intent["data"]
    };
    data["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {intent}"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn egress_block_on_one_port_of_a_range_cuts_only_that_port() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "",
            "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: cidr, cidr: 10.0.5.0/24, port: 5432}, duration: 5s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    let (blocked, other) = wait_for_the_egress_policy(&fake);
    let policy = &fake.objects("NetworkPolicy", Some("shop"))[0];
    assert_eq!(
        policy["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "firedrill"
    );
    assert!(policy["metadata"]["labels"]["firedrill.dev/run-id"].is_string());
    assert!(policy["metadata"]["annotations"]["firedrill.dev/owner"].is_string());
    let cidr = |to: &str, port| Reach::Cidr(to.to_owned(), port);
    expect(&fake, &blocked, cidr("10.0.5.7", 5432), false);
    expect(&fake, &blocked, cidr("10.0.5.200", 5432), false);
    expect(&fake, &blocked, cidr("10.0.5.7", 443), true);
    expect(&fake, &blocked, cidr("10.0.6.7", 5432), true);
    expect(&fake, &blocked, cidr("1.1.1.1", 443), true);
    expect(&fake, &blocked, Reach::Pod(other.clone()), true);
    expect(&fake, &other, cidr("10.0.5.7", 5432), true);

    let Finished {
        code,
        stderr,
        result,
        out,
        ..
    } = run.finish();
    assert_eq!(code, Some(0), "{stderr}\n{result}");
    expect(&fake, &blocked, cidr("10.0.5.7", 5432), true);
    assert_eq!(fake.snapshot(), before);
    let intent = &intents(&out)[0];
    assert!(
        changes(intent).contains("to everything except 10.0.5.0/24 port 5432/TCP"),
        "{intent}"
    );
}

#[test]
fn egress_block_of_pods_by_label_keeps_their_neighbours_reachable() {
    let _guard = common::shared();
    let fake = cluster(2);
    // The dependency lives outside the allowlist: it is only read, never changed.
    namespace(&fake, "data");
    fake.add_deployment("data", "db", 1, &[("app", "db"), ("tier", "storage")]);
    fake.add_deployment("data", "cache", 1, &[("app", "cache"), ("tier", "storage")]);
    fake.add_deployment("shop", "db", 1, &[("app", "db"), ("tier", "storage")]);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "",
            "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: pods, namespace: data, matchLabels: {app: db, tier: storage}}, duration: 5s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    let (blocked, other) = wait_for_the_egress_policy(&fake);
    let db = id(&pods_with(&fake, "data", "app", "db")[0]);
    let cache = id(&pods_with(&fake, "data", "app", "cache")[0]);
    let same_labels_elsewhere = id(&pods_with(&fake, "shop", "app", "db")[0]);
    expect(&fake, &blocked, Reach::Pod(db.clone()), false);
    expect(&fake, &blocked, Reach::Pod(cache.clone()), true);
    expect(&fake, &blocked, Reach::Pod(same_labels_elsewhere), true);
    expect(&fake, &blocked, Reach::Pod(other.clone()), true);
    expect(&fake, &blocked, Reach::Cidr("1.1.1.1".into(), 443), true);
    expect(&fake, &other, Reach::Pod(db.clone()), true);

    let Finished {
        code,
        stderr,
        result,
        ..
    } = run.finish();
    assert_eq!(code, Some(0), "{stderr}\n{result}");
    expect(&fake, &blocked, Reach::Pod(db), true);
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn dns_outage_cuts_the_cluster_dns_and_port_53_and_warns_of_other_policies() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.add_deployment("kube-system", "coredns", 1, &[("k8s-app", "kube-dns")]);
    // A policy of the application's own that limits web's egress: it adds up with ours.
    fake.apply(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "web-egress", "namespace": "shop"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 443}]}]}
    }));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "",
            "    - {name: no-dns, type: dns-outage, select: {mode: one, workload: web}, duration: 5s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    wait_for("the dns policy", Duration::from_secs(10), || {
        fake.objects("NetworkPolicy", Some("shop")).len() == 2
            && fake
                .objects("Pod", Some("shop"))
                .iter()
                .any(|p| p["metadata"]["labels"][EGRESS_LABEL].is_string())
    });
    let (blocked, other) = wait_for_the_egress_policy(&fake);
    let dns_pod = id(&pods_with(&fake, "kube-system", "k8s-app", "kube-dns")[0]);
    expect(&fake, &blocked, Reach::Dns, false);
    expect(
        &fake,
        &blocked,
        Reach::PodPort(dns_pod.clone(), 8080),
        false,
    );
    expect(&fake, &blocked, Reach::Cidr("8.8.8.8".into(), 53), false);
    expect(&fake, &blocked, Reach::Cidr("8.8.8.8".into(), 443), true);
    expect(&fake, &blocked, Reach::PodPort(other.clone(), 8080), true);
    // The other web pod is limited by the application's policy alone: no DNS either way.
    expect(&fake, &other, Reach::Dns, false);

    let Finished {
        code,
        stderr,
        result,
        out,
        ..
    } = run.finish();
    assert_eq!(code, Some(0), "{stderr}\n{result}");
    assert_eq!(fake.snapshot(), before);
    let intent = &intents(&out)[0];
    assert!(
        changes(intent).contains("warning: NetworkPolicy shop/web-egress also limits the egress"),
        "{intent}"
    );
}

#[test]
fn dns_outage_without_other_policies_is_undone_completely() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.add_deployment("kube-system", "coredns", 2, &[("k8s-app", "kube-dns")]);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "",
            "    - {name: no-dns, type: dns-outage, select: {mode: one, workload: web}, duration: 5s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    let (blocked, other) = wait_for_the_egress_policy(&fake);
    for dns_pod in pods_with(&fake, "kube-system", "k8s-app", "kube-dns") {
        expect(&fake, &blocked, Reach::PodPort(id(&dns_pod), 8080), false);
        expect(&fake, &other, Reach::PodPort(id(&dns_pod), 8080), true);
    }
    expect(&fake, &blocked, Reach::Dns, false);
    expect(&fake, &other, Reach::Dns, true);
    let Finished {
        code,
        stderr,
        result,
        out,
        ..
    } = run.finish();
    assert_eq!(code, Some(0), "{stderr}\n{result}");
    expect(&fake, &blocked, Reach::Dns, true);
    expect(&fake, &blocked, Reach::Cidr("8.8.8.8".into(), 53), true);
    assert_eq!(fake.snapshot(), before);
    assert!(!changes(&intents(&out)[0]).contains("warning"));
}

/// Whether a node is cordoned.
fn cordoned(fake: &FakeKube, node: &str) -> bool {
    fake.object("Node", "", node).unwrap()["spec"]["unschedulable"] == true
}

fn node_of(pod: &Value) -> String {
    pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn node_drain_evicts_the_allowlisted_pods_and_uncordons_the_node() {
    let _guard = common::shared();
    let fake = cluster(3);
    fake.set_delays(Duration::from_millis(100), Duration::from_millis(100));
    namespace(&fake, "billing");
    fake.add_deployment("billing", "api", 3, &[("app", "api"), CHAOS]);
    fake.add_daemonset("shop", "agent", &[("app", "agent"), CHAOS]);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    allowNodeFaults: true\n",
            "    - {name: drain, type: node-drain, node: {type: of-workload, workload: web}, duration: 5s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    wait_for("a cordoned node", Duration::from_secs(10), || {
        fake.objects("Node", None)
            .iter()
            .any(|n| n["spec"]["unschedulable"] == true)
    });
    let node = fake
        .objects("Node", None)
        .into_iter()
        .find(|n| n["spec"]["unschedulable"] == true)
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_owned())
        .unwrap();
    // The web pod on the node is evicted and replaced on another node.
    wait_for(
        "web rescheduled off the node",
        Duration::from_secs(10),
        || {
            let web = pods_with(&fake, "shop", "app", "web");
            web.iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .filter(|p| !node_of(p).is_empty() && node_of(p) != node)
                .count()
                == 3
                && web.iter().all(|p| node_of(p) != node)
        },
    );
    assert!(cordoned(&fake, &node));
    // The other namespace's pod and the DaemonSet's pod stay on the node.
    assert!(
        pods_with(&fake, "billing", "app", "api")
            .iter()
            .any(|p| node_of(p) == node)
    );
    assert!(
        pods_with(&fake, "shop", "app", "agent")
            .iter()
            .any(|p| node_of(p) == node)
    );

    let Finished {
        code,
        stderr,
        result,
        out,
        ..
    } = run.finish();
    assert_eq!(code, Some(0), "{stderr}\n{result}");
    assert!(!cordoned(&fake, &node));
    wait_as_found(
        &fake,
        &before,
        "the cluster to settle",
        Duration::from_secs(5),
    );
    let text = changes(&intents(&out)[0]);
    assert!(text.contains(&format!("cordon node {node}")), "{text}");
    assert_eq!(text.matches("evict pod shop/web-").count(), 1, "{text}");
    assert!(
        text.contains(&format!(
            "leave alone 1 pod(s) on node {node} in namespaces outside spec.target.namespaces"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "leave alone 1 pod(s) on node {node} owned by a DaemonSet"
        )),
        "{text}"
    );
    let evictions: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .collect();
    assert_eq!(evictions.len(), 1, "{evictions:?}");
}

#[test]
fn a_budget_that_blocks_a_drain_is_named_and_the_node_uncordoned() {
    let _guard = common::shared();
    let fake = cluster(3);
    fake.add_pdb("shop", "web-budget", &[("app", "web")], 3);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "    allowNodeFaults: true\n",
            "    - {name: drain, type: node-drain, node: {type: named, name: node-2}, duration: 5s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    let Finished {
        code,
        stderr,
        result,
        ..
    } = run.finish();
    assert_eq!(code, Some(3), "{stderr}\n{result}");
    let reason = result["reason"].as_str().unwrap();
    assert!(
        reason.contains("PodDisruptionBudget") && reason.contains("web-budget"),
        "{reason}"
    );
    assert!(!cordoned(&fake, "node-2"));
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn node_faults_are_refused_without_the_targets_opt_in() {
    let _guard = common::shared();
    let fake = cluster(1);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exp.yaml");
    std::fs::write(
        &file,
        experiment(
            "",
            "    - {name: cordon, type: node-cordon, node: {type: named, name: node-1}, duration: 1s}",
            "",
        ),
    )
    .unwrap();
    fake.write_kubeconfig(dir.path());
    let out = firedrill_in(dir.path(), &["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let text = format!("{stdout}{stderr}");
    assert!(
        text.contains("spec.faults[0].type") && text.contains("allowNodeFaults: true"),
        "{text}"
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn a_run_killed_while_a_node_is_cordoned_is_uncordoned_by_rollback() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut run = start(
        &fake,
        dir.path(),
        &experiment(
            "    allowNodeFaults: true\n",
            "    - {name: cordon, type: node-cordon, node: {type: named, name: node-2}, duration: 60s}\n    - {name: no-dns, type: dns-outage, select: {mode: one, workload: web}, duration: 60s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    wait_for("both faults in place", Duration::from_secs(10), || {
        cordoned(&fake, "node-2")
            && fake
                .objects("Pod", Some("shop"))
                .iter()
                .any(|p| p["metadata"]["labels"][EGRESS_LABEL].is_string())
    });
    // SIGKILL: no handler runs, nothing is reverted.
    run.kill();
    assert_ne!(fake.snapshot(), before);

    let stdout = rollback(dir.path(), &run.out).stdout;
    assert!(stdout.contains("uncordon node node-2"), "{stdout}");
    assert!(!cordoned(&fake, "node-2"));
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn cleanup_removes_the_egress_label_and_policy_a_dead_run_left() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    kill_during_an_egress_block(&fake, dir.path());
    let stdout = cleanup(dir.path(), "shop").stdout;
    assert!(stdout.contains(EGRESS_LABEL), "{stdout}");
    assert_eq!(fake.snapshot(), before);
}

/// A runner that may not list pods still removes the policy a dead run left, and says that
/// the pods' labels stay.
#[test]
fn cleanup_without_leave_to_list_pods_removes_the_policy_and_says_so() {
    let _guard = common::shared();
    let fake = cluster(2);
    let dir = tempfile::tempdir().unwrap();
    kill_during_an_egress_block(&fake, dir.path());
    fake.deny("list", "", "pods", None);
    let said = cleanup(dir.path(), "shop");
    assert!(
        said.stderr.contains(&format!(
            "warning: cannot list pods (forbidden): pods labelled {EGRESS_LABEL} are left as they are"
        )),
        "{}",
        said.stderr
    );
    assert!(fake.objects("NetworkPolicy", Some("shop")).is_empty());
    let labelled = fake
        .objects("Pod", Some("shop"))
        .into_iter()
        .filter(|p| p["metadata"]["labels"].get(EGRESS_LABEL).is_some())
        .count();
    assert_eq!(labelled, 1);
}

/// Starts a run that blocks egress from one pod and kills it once the policy is in place.
fn kill_during_an_egress_block(fake: &FakeKube, dir: &Path) {
    let mut run = start(
        fake,
        dir,
        &experiment(
            "",
            "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: cidr, cidr: 10.0.5.0/24}, duration: 60s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    wait_for_the_egress_policy(fake);
    run.kill();
}

/// An eviction carries its uid precondition where the API server reads it: a pod replaced
/// under the same name is not evicted, the pod it names is.
#[test]
fn an_eviction_names_the_pod_by_uid() {
    let _guard = common::shared();
    let fake = cluster(2);
    let pod = fake.objects("Pod", Some("shop"))[0].clone();
    let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_owned();
    firedrill::tls::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = fake.client().await;
        let stale = firedrill::platform::kubernetes::evict(
            &client,
            "shop",
            &name,
            Some("another-uid"),
            false,
        )
        .await;
        let err = stale.expect_err("a stale uid must be refused");
        assert!(format!("{err:?}").contains("409"), "{err:?}");
        assert!(fake.object("Pod", "shop", &name).is_some());
        firedrill::platform::kubernetes::evict(&client, "shop", &name, Some(&uid), false)
            .await
            .unwrap();
    });
    let statuses = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(statuses, [409, 201]);
}

/// The image the verifier pods run (the fake runs nothing: it works out the check's finding).
const IMAGE: &str = "registry.example/firedrill:test";
const VERIFIER_LABEL: &str = "firedrill.dev/verifier";

/// Starts a run of these faults with a firedrill image for the verifier pods.
fn start_verified(fake: &FakeKube, dir: &Path, faults: &str) -> KubeRun {
    start(
        fake,
        dir,
        &experiment(
            &format!("    helperImage: {IMAGE}\n"),
            faults,
            "  safety: {maxAffectedPercent: 50}",
        ),
    )
}

/// The verifier pods there now.
fn verifier_pods(fake: &FakeKube) -> Vec<Value> {
    fake.objects("Pod", None)
        .into_iter()
        .filter(|p| p["metadata"]["labels"][VERIFIER_LABEL].is_string())
        .collect()
}

/// The effect recorded for the first fault of the first iteration.
fn effect(finished: &Finished) -> &Value {
    &finished.result["iterations"][0]["faults"][0]["effect"]
}

/// The namespace `shop` enforcing the restricted Pod Security level, so that a verifier pod
/// that breaks it is refused.
fn restricted(fake: &FakeKube) {
    fake.apply(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop",
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
    );
}

/// How many verifier pods were created (POST of a pod named `...-verify`, answered 201).
fn verifier_creations(fake: &FakeKube) -> usize {
    fake.requests()
        .into_iter()
        .filter(|r| {
            r.method == "POST" && r.path.ends_with("/namespaces/shop/pods") && r.status == 201
        })
        .count()
}

#[test]
fn quarantine_is_verified_by_a_verifier_pod_outside_the_quarantined_pods() {
    let _guard = common::shared();
    let fake = cluster(3);
    restricted(&fake);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start_verified(
        &fake,
        dir.path(),
        "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 5s}",
    );
    let finished = run.finish();
    assert_eq!(finished.code, Some(0), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "verified", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains("outside the quarantined pods"),
        "{observed}"
    );
    assert!(
        observed.contains("the blocked connection failed"),
        "{observed}"
    );
    assert_eq!(verifier_creations(&fake), 1);
    // Journaled before it was created: the intent's restore deletes it.
    let intent = &intents(&finished.out)[0];
    let restore = intent["data"]["restore"]
        .as_array()
        .unwrap_or_else(|| panic!("{intent}"));
    assert!(
        restore
            .iter()
            .any(|u| u["kind"] == "Pod" && u["name"].as_str().unwrap().ends_with("-verify")),
        "{intent}"
    );
    assert!(verifier_pods(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn quarantine_on_a_cluster_that_ignores_network_policies_is_ineffective() {
    let _guard = common::shared();
    let fake = cluster(3);
    fake.ignore_network_policies(true);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start_verified(
        &fake,
        dir.path(),
        "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 5s}",
    );
    let finished = run.finish();
    assert_eq!(finished.code, Some(1), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "ineffective", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains(
            "the cluster does not enforce NetworkPolicies (its network plugin ignores them)"
        ),
        "{observed}"
    );
    assert!(
        finished.output().contains("NOT in force"),
        "{}",
        finished.output()
    );
    assert!(verifier_pods(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn egress_block_is_verified_from_a_pod_its_policy_selects() {
    let _guard = common::shared();
    let fake = cluster(2);
    restricted(&fake);
    let before = fake.snapshot();
    // New pods take a second to start: long enough to look at the verifier pod.
    fake.set_delays(Duration::from_millis(50), Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let run = start_verified(
        &fake,
        dir.path(),
        "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: cidr, cidr: 10.0.5.0/24, port: 5432}, duration: 5s}",
    );
    // While it checks, the verifier carries the targets' labels and the policy's, is owned
    // by the policy (no controller adopts it) and waits on a readiness gate nobody sets.
    wait_for("the verifier pod", Duration::from_secs(10), || {
        !verifier_pods(&fake).is_empty()
    });
    let pod = &verifier_pods(&fake)[0];
    let policy = &fake.objects("NetworkPolicy", Some("shop"))[0];
    assert_eq!(pod["metadata"]["labels"]["app"], "web", "{pod}");
    assert_eq!(
        pod["metadata"]["labels"][EGRESS_LABEL], policy["metadata"]["name"],
        "{pod}"
    );
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "NetworkPolicy", "{pod}");
    assert_eq!(owner["uid"], policy["metadata"]["uid"], "{pod}");
    assert_eq!(owner["controller"], true, "{pod}");
    assert_eq!(
        pod["spec"]["readinessGates"][0]["conditionType"], "firedrill.dev/never-ready",
        "{pod}"
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never", "{pod}");
    assert_eq!(pod["spec"]["containers"][0]["image"], IMAGE, "{pod}");
    let finished = run.finish();
    assert_eq!(finished.code, Some(0), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "verified", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(observed.contains("10.0.5.1:5432"), "{observed}");
    assert!(observed.contains("selected by the policy"), "{observed}");
    let created = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/namespaces/shop/pods"))
        .count();
    assert_eq!(created, 1);
    assert!(verifier_pods(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn egress_block_on_a_cluster_that_ignores_network_policies_is_ineffective() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.ignore_network_policies(true);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start_verified(
        &fake,
        dir.path(),
        "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: cidr, cidr: 10.0.5.0/24, port: 5432}, duration: 5s}",
    );
    let finished = run.finish();
    assert_eq!(finished.code, Some(1), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "ineffective", "{effect}");
    assert!(
        effect["observed"]
            .as_str()
            .unwrap()
            .contains("does not enforce NetworkPolicies"),
        "{effect}"
    );
    assert!(verifier_pods(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn dns_outage_is_verified_against_a_dns_pod() {
    let _guard = common::shared();
    let fake = cluster(2);
    fake.add_deployment("kube-system", "coredns", 1, &[("k8s-app", "kube-dns")]);
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let run = start_verified(
        &fake,
        dir.path(),
        "    - {name: no-dns, type: dns-outage, select: {mode: one, workload: web}, duration: 5s}",
    );
    let finished = run.finish();
    assert_eq!(finished.code, Some(0), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "verified", "{effect}");
    let observed = effect["observed"].as_str().unwrap();
    assert!(
        observed.contains(":53 (pod kube-system/coredns-"),
        "{observed}"
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn without_a_firedrill_image_a_policy_fault_is_unverified_and_says_why() {
    let _guard = common::shared();
    let fake = cluster(2);
    let dir = tempfile::tempdir().unwrap();
    let run = start(
        &fake,
        dir.path(),
        &experiment(
            "",
            "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 3s}",
            "  safety: {maxAffectedPercent: 50}",
        ),
    );
    let finished = run.finish();
    assert_eq!(finished.code, Some(0), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "unverified", "{effect}");
    assert!(
        effect["why"]
            .as_str()
            .unwrap()
            .contains("spec.target.helperImage"),
        "{effect}"
    );
    assert_eq!(verifier_creations(&fake), 0);
}

#[test]
fn a_run_killed_while_its_verifier_pod_runs_is_undone_by_rollback() {
    let _guard = common::shared();
    for fault in [
        "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 60s}",
        "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: cidr, cidr: 10.0.5.0/24}, duration: 60s}",
    ] {
        let fake = cluster(2);
        let before = fake.snapshot();
        // The verifier pod never gets to run its check: it is there when the run dies.
        fake.set_delays(Duration::from_millis(50), Duration::from_secs(60));
        let dir = tempfile::tempdir().unwrap();
        let mut run = start_verified(&fake, dir.path(), fault);
        wait_for("the verifier pod", Duration::from_secs(15), || {
            !verifier_pods(&fake).is_empty()
        });
        run.kill();
        assert_ne!(fake.snapshot(), before);
        let said = rollback(dir.path(), &run.out);
        assert!(said.stdout.contains("-verify"), "{}", said.stdout);
        assert!(verifier_pods(&fake).is_empty());
        assert_eq!(fake.snapshot(), before, "{fault}");
    }
}

/// `firedrill cleanup` removes a dead run's policy, and with it the verifier pod it owns
/// (the garbage collector follows the pod's controller reference).
#[test]
fn cleanup_removes_a_dead_runs_verifier_pod_with_its_policy() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    fake.set_delays(Duration::from_millis(50), Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_verified(
        &fake,
        dir.path(),
        "    - {name: db-down, type: egress-block, select: {mode: one, workload: web}, destination: {type: cidr, cidr: 10.0.5.0/24}, duration: 60s}",
    );
    wait_for("the verifier pod", Duration::from_secs(15), || {
        !verifier_pods(&fake).is_empty()
    });
    run.kill();
    cleanup(dir.path(), "shop");
    assert!(verifier_pods(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}

/// A verifier pod that never ends (here: never started) leaves the fault unverified, naming
/// what the pod was doing, and is deleted.
#[test]
fn a_verifier_pod_that_does_not_end_in_time_leaves_the_fault_unverified() {
    let _guard = common::shared();
    let fake = cluster(2);
    let before = fake.snapshot();
    fake.set_delays(Duration::from_millis(50), Duration::from_secs(120));
    let dir = tempfile::tempdir().unwrap();
    let run = start_verified(
        &fake,
        dir.path(),
        "    - {name: isolate, type: quarantine, select: {mode: one, workload: web}, duration: 30s}",
    );
    let finished = run.finish();
    assert_eq!(finished.code, Some(0), "{}", finished.output());
    let effect = effect(&finished);
    assert_eq!(effect["status"], "unverified", "{effect}");
    let why = effect["why"].as_str().unwrap();
    assert!(why.contains("did not end within 20 s"), "{why}");
    assert!(verifier_pods(&fake).is_empty());
    assert_eq!(fake.snapshot(), before);
}
