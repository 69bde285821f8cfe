//! The kubernetes-object probe end to end: a custom resource served by the fake through its
//! CustomResourceDefinition and found by discovery, its condition passing and then failing
//! when the test flips it; a JSONPath on a built-in object; a malformed probe refused with its
//! field path; a kind the cluster does not serve refused before anything changes.

use std::time::Duration;

use kube::Api;
use kube::api::{DynamicObject, ListParams};
use serde_json::{Value, json};

use crate::common;
use crate::common::wait_for;
use crate::experiment::Experiment;
use crate::fakekube::FakeKube;
use crate::kuberun::{cluster, firedrill_in, kube_dir, run, start_with_env, wait_as_found};

/// The CustomResourceDefinition of `widgets.example.com`, namespaced, with a status
/// subresource.
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}
            }]
        }
    })
}

/// A Widget in `shop` labelled `app=shop`, whose Ready condition has `status`.
fn widget(name: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "shop"}},
        "spec": {"size": 3},
        "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message}]}
    })
}

/// The fake of `kuberun::cluster` with the Widget kind and two Ready widgets.
fn cluster_with_widgets() -> FakeKube {
    let fake = cluster(2);
    fake.apply(widget_crd());
    fake.apply(widget("orders", "True", "Reconciled", "all good"));
    fake.apply(widget("payments", "True", "Reconciled", "all good"));
    fake
}

const WIDGETS_READY: &str = r#"{name: widgets-ready, type: kubernetes-object, apiVersion: example.com/v1, kind: Widget, namespace: shop, matchLabels: {app: shop}, expect: {condition: {type: Ready, status: "True"}}, timeout: 1s}"#;

/// The requests to a path answered so far.
fn requests_to(fake: &FakeKube, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.path == path).count()
}

#[tokio::test]
async fn the_fake_serves_a_custom_resource_and_discovery_finds_it() {
    let _guard = common::shared_async().await;
    let fake = cluster_with_widgets();
    let client = fake.client().await;
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let (resource, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget",
        ))
        .expect("Widget discovered");
    assert_eq!(resource.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        discovery
            .resolve_gvk(&kube::api::GroupVersionKind::gvk(
                "apps",
                "v1",
                "Deployment"
            ))
            .is_some()
    );
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), "shop", &resource);
    let labelled = api
        .list(&ListParams::default().labels("app=shop"))
        .await
        .unwrap();
    assert_eq!(labelled.items.len(), 2);
    assert!(
        api.list(&ListParams::default().labels("app=other"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let orders = api.get("orders").await.unwrap();
    assert_eq!(orders.data["status"]["conditions"][0]["status"], "True");

    // Another fake without the definition does not serve the kind.
    let other = FakeKube::start();
    let other_client = other.client().await;
    let err = kube::discovery::pinned_kind(
        &other_client,
        &kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err}"
    );
}

#[test]
fn a_custom_resource_condition_passes_and_fails_when_the_test_flips_it() {
    let _guard = common::shared();
    let fake = cluster_with_widgets();
    fake.set_delays(Duration::from_millis(20), Duration::from_millis(20));
    let before = fake.snapshot();

    // Every widget Ready the whole run: the probe passes in every phase.
    let dir = tempfile::tempdir().unwrap();
    let yaml = Experiment::kubernetes("widget-probe")
        .probe(WIDGETS_READY)
        .faults("    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}")
        .yaml();
    let r = run(&fake, dir.path(), &yaml);
    let result = r.succeeded();
    let probe = &result["probes"]["widgets-ready"];
    // A deletion is over at once: the fault phase may see no observation.
    for phase in ["baseline", "fault", "recovery"] {
        assert_eq!(probe[phase]["errors"], 0, "{phase}: {probe}");
    }
    for phase in ["baseline", "recovery"] {
        assert!(
            probe[phase]["count"].as_u64().unwrap() > 0,
            "{phase}: {probe}"
        );
    }
    // Discovery once at preflight and once for the probe; then one list per observation.
    assert_eq!(requests_to(&fake, "/apis/example.com/v1"), 2);
    let lists = requests_to(&fake, "/apis/example.com/v1/namespaces/shop/widgets");
    let observed: u64 = ["baseline", "fault", "recovery"]
        .iter()
        .map(|p| probe[*p]["count"].as_u64().unwrap())
        .sum();
    assert!(
        lists as u64 >= observed,
        "{lists} lists, {observed} observations"
    );
    wait_as_found(
        &fake,
        &before,
        "the deployment to settle",
        Duration::from_secs(5),
    );

    // One widget turns not Ready mid-run and stays so: the steady state never comes back.
    let dir = tempfile::tempdir().unwrap();
    let yaml = Experiment::kubernetes("widget-probe")
        .probe(WIDGETS_READY)
        .recovery("{stableFor: 200ms, timeout: 1s}")
        .faults("    - {name: outage, type: scale, workload: web, replicas: 0, duration: 1s}")
        .yaml();
    let run = start_with_env(
        &fake,
        dir.path(),
        &yaml,
        &[("RUST_LOG", "firedrill::probe=info")],
    );
    wait_for("the scale fault in place", Duration::from_secs(15), || {
        fake.object("Deployment", "shop", "web")
            .is_some_and(|d| d["spec"]["replicas"] == 0)
    });
    fake.apply(widget("orders", "False", "Degraded", "disk full"));
    let f = run.finish();
    assert_ne!(f.code, Some(0), "{}", f.output());
    assert!(
        f.stderr
            .contains("Widget orders: Ready is False (reason Degraded: disk full), expected True"),
        "{}",
        f.stderr
    );
    assert!(
        !f.stderr.contains("Widget payments:"),
        "only the widget that is not Ready is named: {}",
        f.stderr
    );
    let probe = &f.result["probes"]["widgets-ready"];
    assert_eq!(probe["baseline"]["errors"], 0, "{probe}");
    assert!(probe["recovery"]["errors"].as_u64().unwrap() > 0, "{probe}");
}

#[test]
fn a_json_path_reads_a_built_in_object_and_no_match_is_a_failure() {
    let _guard = common::shared();
    let fake = cluster(3);
    fake.set_delays(Duration::from_millis(300), Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let yaml = Experiment::kubernetes("field-probe")
        .probe(r#"{name: web-replicas, type: kubernetes-object, apiVersion: apps/v1, kind: Deployment, namespace: shop, objectName: web, expect: {field: {jsonPath: "$.status.availableReplicas", op: ">=", value: 3}}, timeout: 1s}"#)
        .probe(r#"{name: web-container, type: kubernetes-object, apiVersion: apps/v1, kind: Deployment, namespace: shop, objectName: web, expect: {field: {jsonPath: "$.spec.template.spec.containers[0].name", equals: app}}, timeout: 1s}"#)
        .probe(r#"{name: web-pods, type: kubernetes-object, apiVersion: v1, kind: Pod, namespace: shop, matchLabels: {app: web}, timeout: 1s}"#)
        .faults("    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}")
        .yaml();
    let r = start_with_env(
        &fake,
        dir.path(),
        &yaml,
        &[("RUST_LOG", "firedrill::probe=info")],
    )
    .finish();
    let result = r.succeeded();
    let probes = &result["probes"];
    assert_eq!(probes["web-replicas"]["baseline"]["errors"], 0, "{probes}");
    let errors = |phase: &str| probes["web-replicas"][phase]["errors"].as_u64().unwrap();
    assert!(
        errors("fault") + errors("recovery") > 0,
        "the deleted pod leaves 2 of 3 available for a while: {probes}"
    );
    assert!(
        r.stderr
            .contains("Deployment web: $.status.availableReplicas is 2, expected >= 3"),
        "{}",
        r.stderr
    );
    for phase in ["baseline", "fault", "recovery"] {
        assert_eq!(probes["web-container"][phase]["errors"], 0, "{probes}");
        assert_eq!(probes["web-pods"][phase]["errors"], 0, "{probes}");
    }

    // Labels that match nothing fail, saying so.
    let dir = tempfile::tempdir().unwrap();
    let yaml = Experiment::kubernetes("field-probe")
        .probe(r#"{name: no-pods, type: kubernetes-object, apiVersion: v1, kind: Pod, namespace: shop, matchLabels: {app: nothing}, timeout: 1s}"#)
        .faults("    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}, force: true}")
        .yaml();
    let f = start_with_env(
        &fake,
        dir.path(),
        &yaml,
        &[("RUST_LOG", "firedrill::probe=info")],
    )
    .finish();
    assert_ne!(f.code, Some(0), "{}", f.output());
    assert!(
        f.stderr
            .contains("no object matched: Pod in shop with labels app=nothing"),
        "{}",
        f.stderr
    );
}

#[test]
fn a_malformed_probe_is_refused_with_its_field_path() {
    let _guard = common::shared();
    let fake = cluster(1);
    let dir = kube_dir(&fake);
    let check = |probe: &str| {
        let file = dir.path().join("exp.yaml");
        let yaml = Experiment::kubernetes("bad-probe")
            .probe(probe)
            .faults(
                "    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}}",
            )
            .yaml();
        std::fs::write(&file, yaml).unwrap();
        let out = firedrill_in(dir.path(), &["validate", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let text = check(
        r#"{name: w, type: kubernetes-object, apiVersion: example.com/v1/x, kind: widget, namespace: other, expect: {field: {jsonPath: "$.spec.size", op: ">="}}}"#,
    );
    for expected in [
        "spec.steadyState.probes[1].apiVersion: `example.com/v1/x` is not an API version",
        "spec.steadyState.probes[1].kind: `widget` is not a kind",
        "spec.steadyState.probes[1].namespace: `other` is not in spec.target.namespaces",
        "spec.steadyState.probes[1]: give `objectName` (one object) or `matchLabels`",
        "spec.steadyState.probes[1].expect.field: with `jsonPath`, give `equals`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    // Problems point at the file's line and column.
    assert!(text.contains("exp.yaml:"), "{text}");

    let text = check(
        r#"{name: w, type: kubernetes-object, apiVersion: example.com/v1, kind: Widget, namespace: shop, objectName: orders, expect: {condition: {type: Ready, status: "True", reasn: Ok}}}"#,
    );
    assert!(
        text.contains("spec.steadyState.probes[1].expect.condition") && text.contains("reasn"),
        "{text}"
    );
}

#[test]
fn a_kind_the_cluster_does_not_serve_stops_the_run_naming_it() {
    let _guard = common::shared();
    let fake = cluster_with_widgets();
    let before = fake.snapshot();
    for (api_version, kind, expected) in [
        (
            "example.com/v1",
            "Gadget",
            "the cluster serves no kind `Gadget` in `example.com/v1`",
        ),
        (
            "nothere.example.com/v1",
            "Widget",
            "the cluster serves no API version `nothere.example.com/v1` (looking for kind `Widget`)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let yaml = Experiment::kubernetes("unknown-kind")
            .probe(&format!("{{name: gone, type: kubernetes-object, apiVersion: {api_version}, kind: {kind}, namespace: shop, objectName: x}}"))
            .faults("    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}}")
            .yaml();
        let f = run(&fake, dir.path(), &yaml);
        // As any cluster that is not ready for the run: aborted before anything changed.
        assert_eq!(f.code, Some(3), "{}", f.output());
        assert!(f.output().contains(expected), "{}", f.output());
        assert!(f.output().contains("probe `gone`"), "{}", f.output());
        assert_eq!(fake.snapshot(), before);
    }
}

#[test]
fn preflight_checks_the_resource_discovery_found_for_the_kind() {
    let _guard = common::shared();
    let fake = cluster_with_widgets();
    // A plural no guess from the kind would find.
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!("gizmos.example.com");
    crd["spec"]["names"] = json!({"plural": "gizmos", "singular": "gizmo", "kind": "Gadget"});
    fake.apply(crd);
    fake.deny("list", "example.com", "gizmos", Some("shop"));
    let before = fake.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let yaml = Experiment::kubernetes("denied-kind")
        .probe("{name: gadgets, type: kubernetes-object, apiVersion: example.com/v1, kind: Gadget, namespace: shop, matchLabels: {app: shop}}")
        .faults("    - {name: delete-one, type: pod-delete, select: {mode: one, workload: web}}")
        .yaml();
    let f = run(&fake, dir.path(), &yaml);
    assert_eq!(f.code, Some(3), "{}", f.output());
    assert!(
        f.output()
            .contains("list gizmos (example.com) in namespace shop"),
        "{}",
        f.output()
    );
    assert_eq!(fake.snapshot(), before);
}

#[test]
fn rbac_prints_an_experiments_rules_with_the_resource_its_probe_reads() {
    let _guard = common::shared();
    let fake = cluster(1);
    let dir = kube_dir(&fake);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/kubernetes/custom-resource.yaml");
    let out = firedrill_in(
        dir.path(),
        &[
            "rbac",
            "--experiment",
            example.to_str().unwrap(),
            "--format",
            "yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "target:\n  \
         - {apiGroups: [\"\"], resources: [pods], verbs: [list, watch, delete]}\n  \
         - {apiGroups: [\"apps\"], resources: [deployments], verbs: [get]}\n  \
         - {apiGroups: [\"cert-manager.io\"], resources: [certificates], verbs: [list]}\n"
    );
}
