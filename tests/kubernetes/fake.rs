//! The fake Kubernetes API server, driven through kube with typed k8s-openapi objects, exactly
//! as firedrill's Kubernetes platform drives a cluster.

use crate::fakekube::{FakeKube, Reach};
use crate::{common, fakekube};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::{
    DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Polls `check` until it holds, or panics with `what` after `timeout`.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain HTTP/1.1 GET, to see status and headers as they are on the wire.
fn raw_get(fake: &FakeKube, path: &str) -> (u16, String) {
    let addr = fake.url().trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, text)
}

fn api_error(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]},
    }))
    .unwrap()
}

fn names(pods: &[Pod]) -> Vec<String> {
    let mut n: Vec<String> = pods
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    n.sort();
    n
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn ready_pods(api: &Api<Pod>, selector: &str) -> Vec<Pod> {
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|p| ready(p) && p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test]
async fn label_selectors_every_operator_and_paging() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "back"})),
        ("c", json!({"app": "api"})),
        ("d", json!({"app": "db", "tier": "back"})),
        ("e", json!({"app": "web"})),
    ] {
        pods.create(&PostParams::default(), &pod(name, labels))
            .await
            .unwrap();
    }
    for (selector, want) in [
        ("app=web", vec!["a", "b", "e"]),
        ("app!=web", vec!["c", "d"]),
        ("app in (api,db)", vec!["c", "d"]),
        ("app notin (web,db)", vec!["c"]),
        ("tier", vec!["a", "b", "d"]),
        ("!tier", vec!["c", "e"]),
        ("app=web,tier=back", vec!["b"]),
        ("app=web,!tier", vec!["e"]),
    ] {
        let got = pods
            .list(&ListParams::default().labels(selector))
            .await
            .unwrap();
        assert_eq!(names(&got.items), want, "selector {selector}");
    }
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=c"))
        .await
        .unwrap();
    assert_eq!(names(&by_name.items), ["c"]);
    let node = by_name.items[0]
        .spec
        .as_ref()
        .unwrap()
        .node_name
        .clone()
        .unwrap();
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap();
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(node.as_str()))
    );
    assert!(!on_node.items.is_empty());

    // Pages of two over five pods; a pod created between pages does not show: one snapshot.
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = pods.list(&params).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        if pages == 1 {
            pods.create(&PostParams::default(), &pod("f", json!({})))
                .await
                .unwrap();
            assert_eq!(page.metadata.remaining_item_count, Some(3));
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);

    // An expired continue token is 410 Gone.
    let first = pods.list(&ListParams::default().limit(2)).await.unwrap();
    fake.expire_continue_tokens();
    let token = first.metadata.continue_.unwrap();
    let err = api_error(
        pods.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn watch_sees_changes_in_order_with_bookmarks() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.set_bookmark_interval(Duration::from_millis(50));
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=w").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    pods.create(&PostParams::default(), &pod("w1", json!({"app": "w"})))
        .await
        .unwrap();
    pods.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"seen": "yes"}}})),
    )
    .await
    .unwrap();
    pods.delete("w1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    let mut bookmarks = 0;
    while let Some(event) = stream.try_next().await.unwrap() {
        match event {
            WatchEvent::Added(p) => kinds.push(("ADDED", p.metadata.name.unwrap())),
            WatchEvent::Modified(p) => kinds.push(("MODIFIED", p.metadata.name.unwrap())),
            WatchEvent::Deleted(p) => {
                kinds.push(("DELETED", p.metadata.name.unwrap()));
            }
            WatchEvent::Bookmark(b) => {
                assert!(!b.metadata.resource_version.is_empty());
                bookmarks += 1;
            }
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
        if kinds.last().is_some_and(|k| k.0 == "DELETED") && bookmarks > 0 {
            break;
        }
    }
    assert_eq!(kinds.first().unwrap().0, "ADDED");
    assert_eq!(kinds.last().unwrap().0, "DELETED");
    assert!(
        kinds[1..kinds.len() - 1]
            .iter()
            .all(|k| k.0 == "MODIFIED" && k.1 == "w1"),
        "{kinds:?}"
    );
    assert!(kinds.len() >= 3);
    assert!(bookmarks > 0);
}

#[tokio::test]
async fn watch_from_a_compacted_version_is_gone() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    pods.create(&PostParams::default(), &pod("x", json!({})))
        .await
        .unwrap();
    fake.compact();
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn dropped_watches_end_and_the_watcher_recovers() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    // The watcher runs on its own task so that it watches while the test acts.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(
        watcher(pods.clone(), watcher::Config::default()).try_for_each(move |e| {
            if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = e {
                let _ = seen_tx.send(p.metadata.name.unwrap_or_default());
            }
            futures::future::ready(Ok(()))
        }),
    );
    let watches = |fake: &FakeKube| {
        fake.requests()
            .iter()
            .filter(|r| r.query.contains("watch=true"))
            .count()
    };
    eventually("the first watch", Duration::from_secs(5), || async {
        watches(&fake) >= 1
    })
    .await;
    fake.drop_watches();
    eventually("a second watch", Duration::from_secs(5), || async {
        watches(&fake) >= 2
    })
    .await;
    pods.create(&PostParams::default(), &pod("after-drop", json!({})))
        .await
        .unwrap();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(name) = seen.recv().await {
            if name == "after-drop" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true));
    driver.abort();
}

#[tokio::test]
async fn a_deleted_pod_is_replaced_after_the_delays() {
    let _g = common::alone_async().await;
    let fake = FakeKube::start();
    let (reschedule, ready_after) = (Duration::from_millis(150), Duration::from_millis(250));
    fake.set_delays(reschedule, ready_after);
    fake.add_deployment("default", "web", 2, &[("app", "web")]);
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let before = ready_pods(&pods, "app=web").await;
    assert_eq!(before.len(), 2);
    let victim = before[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually("a Ready replacement", Duration::from_secs(5), || async {
        let now = ready_pods(&pods, "app=web").await;
        now.len() == 2 && !names(&now).contains(&victim)
    })
    .await;
    let history = fake.pod_history("default", "web");
    assert_eq!(history.len(), 3);
    let old = history.iter().find(|l| l.name == victim).unwrap();
    let new = history
        .iter()
        .find(|l| l.created >= old.deleted.unwrap())
        .unwrap();
    assert!(
        new.name.starts_with("web-") && new.name.len() == "web-".len() + 10 + 1 + 5,
        "{}",
        new.name
    );
    // The fake's timers never fire early; late by at most the tolerance on a loaded machine.
    let tolerance = Duration::from_millis(300);
    let recreate = new.created.duration_since(old.deleted.unwrap()).unwrap();
    assert!(
        recreate >= reschedule && recreate < reschedule + tolerance,
        "recreated after {recreate:?}"
    );
    let to_ready = new.ready.unwrap().duration_since(new.created).unwrap();
    assert!(
        to_ready >= ready_after && to_ready < ready_after + tolerance,
        "ready after {to_ready:?}"
    );
    let deployments: Api<Deployment> = Api::namespaced(fake.client().await, "default");
    let status = deployments.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        (
            status.ready_replicas,
            status.available_replicas,
            status.replicas
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(status.observed_generation, Some(1));
}

#[tokio::test]
async fn graceful_delete_keeps_the_pod_terminating() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 1, &[("app", "web")]);
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let name = ready_pods(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let answer = pods
        .delete(&name, &DeleteParams::default().grace_period(1))
        .await
        .unwrap();
    let terminating = answer.left().expect("the pod, terminating");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(1));
    assert!(
        pods.get(&name)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let killing = fake.objects("Event", Some("default"));
    assert!(
        killing
            .iter()
            .any(|e| e["reason"] == "Killing" && e["involvedObject"]["name"] == name.as_str())
    );
    // Force deletion ends the grace period at once.
    pods.delete(&name, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(api_error(pods.get(&name).await.unwrap_err()).code, 404);
    // Without force, the pod leaves the store when its grace period ends.
    let mut graceful = pod("graceful", json!({}));
    graceful
        .spec
        .as_mut()
        .unwrap()
        .termination_grace_period_seconds = Some(1);
    pods.create(&PostParams::default(), &graceful)
        .await
        .unwrap();
    pods.delete("graceful", &DeleteParams::default())
        .await
        .unwrap();
    assert!(pods.get_opt("graceful").await.unwrap().is_some());
    eventually(
        "the end of the grace period",
        Duration::from_secs(5),
        || async { pods.get_opt("graceful").await.unwrap().is_none() },
    )
    .await;
    let life = fake
        .pod_history("default", "")
        .into_iter()
        .find(|l| l.name == "graceful")
        .unwrap();
    let terminating = life
        .gone
        .unwrap()
        .duration_since(life.deleted.unwrap())
        .unwrap();
    assert!(
        terminating >= Duration::from_secs(1),
        "gone after {terminating:?}"
    );
}

#[tokio::test]
async fn scale_to_zero_and_back_and_rollout_restart() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.set_delays(Duration::from_millis(10), Duration::from_millis(20));
    fake.add_deployment("default", "web", 3, &[("app", "web")]);
    let client = fake.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pp = PatchParams::default();
    deployments
        .patch_scale("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 0}})))
        .await
        .unwrap();
    eventually("no pods", Duration::from_secs(5), || async {
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    let scale = deployments
        .patch_scale("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(
        deployments
            .get_scale("web")
            .await
            .unwrap()
            .status
            .unwrap()
            .selector
            .as_deref(),
        Some("app=web")
    );
    eventually("three Ready pods", Duration::from_secs(5), || async {
        ready_pods(&pods, "app=web").await.len() == 3
    })
    .await;

    let before = names(&ready_pods(&pods, "app=web").await);
    deployments.restart("web").await.unwrap();
    eventually("every pod replaced", Duration::from_secs(10), || async {
        let now = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items;
        let fresh: Vec<_> = now.iter().filter(|p| ready(p)).collect();
        now.len() == 3
            && fresh.len() == 3
            && now
                .iter()
                .all(|p| !before.contains(p.metadata.name.as_ref().unwrap()))
    })
    .await;
    eventually("the rollout status", Duration::from_secs(5), || async {
        let d = deployments.get("web").await.unwrap();
        let s = d.status.unwrap();
        s.updated_replicas == Some(3)
            && s.ready_replicas == Some(3)
            && s.replicas == Some(3)
            && s.observed_generation == d.metadata.generation
    })
    .await;
    // The surge is one: never more than four pods alive at once.
    let lives = fake.pod_history("default", "web");
    let mut moments: Vec<_> = lives.iter().map(|l| l.created).collect();
    moments.sort();
    for t in moments {
        let alive = lives
            .iter()
            .filter(|l| l.created <= t && l.deleted.is_none_or(|d| d > t))
            .count();
        assert!(alive <= 4, "{alive} pods alive at once");
    }
}

#[tokio::test]
async fn statefulset_and_daemonset_keep_their_pods() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.set_delays(Duration::from_millis(10), Duration::from_millis(20));
    fake.add_statefulset("default", "db", 3, &[("app", "db")]);
    fake.add_daemonset("kube-system", "agent", &[("app", "agent")]);
    let client = fake.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        names(&ready_pods(&pods, "app=db").await),
        ["db-0", "db-1", "db-2"]
    );
    let old_uid = pods.get("db-1").await.unwrap().metadata.uid;
    pods.delete("db-1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually("db-1 again", Duration::from_secs(5), || async {
        pods.get_opt("db-1")
            .await
            .unwrap()
            .is_some_and(|p| ready(&p) && p.metadata.uid != old_uid)
    })
    .await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    eventually("sts status", Duration::from_secs(5), || async {
        sts.get("db").await.unwrap().status.unwrap().ready_replicas == Some(3)
    })
    .await;

    let system: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let agents = ready_pods(&system, "app=agent").await;
    let mut nodes: Vec<_> = agents
        .iter()
        .map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node-1", "node-2", "node-3"]);
    fake.add_node("node-4");
    eventually("an agent on node-4", Duration::from_secs(5), || async {
        ready_pods(&system, "app=agent")
            .await
            .iter()
            .any(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("node-4"))
    })
    .await;
    let ds: Api<DaemonSet> = Api::namespaced(client, "kube-system");
    eventually("ds status", Duration::from_secs(5), || async {
        ds.get("agent").await.unwrap().status.unwrap().number_ready == 4
    })
    .await;
}

#[tokio::test]
async fn eviction_honours_disruption_budgets_and_drains_cordoned_nodes() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.set_delays(Duration::from_millis(10), Duration::from_millis(20));
    fake.add_deployment("default", "web", 3, &[("app", "web")]);
    fake.add_deployment("default", "free", 3, &[("app", "free")]);
    fake.add_pdb("default", "web-budget", &[("app", "web")], 3);
    let client = fake.client_without_retries().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let web = ready_pods(&pods, "app=web").await;
    let err = api_error(
        pods.evict(
            web[0].metadata.name.as_ref().unwrap(),
            &EvictParams::default(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (429, "TooManyRequests"));
    assert!(err.message.contains("web-budget"), "{}", err.message);
    assert_eq!(ready_pods(&pods, "app=web").await.len(), 3);

    // Cordon the node of a pod without a budget, evict it: the replacement lands elsewhere.
    let free = ready_pods(&pods, "app=free").await;
    let victim = free[0].metadata.name.clone().unwrap();
    let node = free[0].spec.as_ref().unwrap().node_name.clone().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    assert_eq!(
        nodes.get(&node).await.unwrap().spec.unwrap().unschedulable,
        Some(true)
    );
    pods.evict(&victim, &EvictParams::default()).await.unwrap();
    eventually("the replacement", Duration::from_secs(5), || async {
        let now = ready_pods(&pods, "app=free").await;
        now.len() == 3 && !names(&now).contains(&victim)
    })
    .await;
    let replacement = ready_pods(&pods, "app=free")
        .await
        .into_iter()
        .find(|p| !free.iter().any(|f| f.metadata.name == p.metadata.name))
        .unwrap();
    assert_ne!(replacement.spec.unwrap().node_name.unwrap(), node);
}

#[tokio::test]
async fn access_reviews_and_the_matching_forbidden() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 1, &[("app", "web")]);
    fake.deny("delete", "", "pods", Some("default"));
    let client = fake.client().await;
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ask = |verb: &str, ns: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some("pods".into()),
                group: Some(String::new()),
                namespace: Some(ns.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let allowed = |r: SelfSubjectAccessReview| r.status.unwrap().allowed;
    assert!(!allowed(
        reviews
            .create(&PostParams::default(), &ask("delete", "default"))
            .await
            .unwrap()
    ));
    assert!(allowed(
        reviews
            .create(&PostParams::default(), &ask("get", "default"))
            .await
            .unwrap()
    ));
    assert!(allowed(
        reviews
            .create(&PostParams::default(), &ask("delete", "other"))
            .await
            .unwrap()
    ));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let name = ready_pods(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let err = api_error(
        pods.delete(&name, &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert!(
        err.message.contains("cannot delete resource \"pods\""),
        "{}",
        err.message
    );
    assert!(pods.get(&name).await.is_ok());
}

#[tokio::test]
async fn errors_are_statuses_with_the_right_codes() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 1, &[("app", "web")]);
    let client = fake.client_without_retries().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &pod("one", json!({})))
        .await
        .unwrap();

    let e = api_error(
        pods.create(&PostParams::default(), &pod("one", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}});
    let e = api_error(
        pods.patch("one", &PatchParams::default(), &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    let empty: Pod =
        serde_json::from_value(json!({"metadata": {"name": "empty"}, "spec": {"containers": []}}))
            .unwrap();
    let e = api_error(
        pods.create(&PostParams::default(), &empty)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.contains("spec.containers"), "{}", e.message);
    let e = api_error(
        deployments
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": -1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    let e = api_error(pods.get("missing").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));

    fake.fail_next("GET", "/api/v1/namespaces/default/pods", 500, 1);
    let e = api_error(pods.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    assert!(
        pods.list(&ListParams::default()).await.is_ok(),
        "only one failure was asked for"
    );
    fake.fail_next("GET", "/api/v1/namespaces/default/pods", 429, 1);
    let e = api_error(pods.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));

    fake.fail_next("GET", "/api/v1/nodes", 429, 1);
    let (code, text) = raw_get(&fake, "/api/v1/nodes");
    assert_eq!(code, 429);
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{text}"
    );
    let (code, text) = raw_get(&fake, "/apis/example.com/v1/widgets");
    assert_eq!(code, 404);
    assert!(text.contains("\"kind\":\"Status\""), "{text}");
    let statuses: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/nodes")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429]);
}

#[tokio::test]
async fn dry_runs_answer_and_change_nothing() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 2, &[("app", "web")]);
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let before = fake.snapshot();
    let rv_before = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let answered = pods
        .create(&dry, &pod("ghost", json!({"app": "ghost"})))
        .await
        .unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("ghost"));
    assert!(pods.get_opt("ghost").await.unwrap().is_none());
    let name = ready_pods(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let patched = pods
        .patch(
            &name,
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"metadata": {"labels": {"chaos": "yes"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched
            .metadata
            .labels
            .unwrap()
            .get("chaos")
            .map(String::as_str),
        Some("yes")
    );
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    pods.delete(&name, &dp).await.unwrap();
    assert!(
        !pods
            .get(&name)
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap()
            .contains_key("chaos")
    );
    assert_eq!(fake.snapshot(), before);
    assert_eq!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version,
        rv_before
    );
    assert_eq!(fake.requests().iter().filter(|r| r.dry_run).count(), 3);
}

#[tokio::test]
async fn strategic_and_merge_patches_on_labels() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    pods.create(
        &PostParams::default(),
        &pod("p", json!({"app": "web", "keep": "me"})),
    )
    .await
    .unwrap();
    let pp = PatchParams::default();
    pods.patch(
        "p",
        &pp,
        &Patch::Strategic(json!({"metadata": {"labels": {"quarantine": "true"}}})),
    )
    .await
    .unwrap();
    let labels = pods.get("p").await.unwrap().metadata.labels.unwrap();
    assert_eq!(
        (
            labels["app"].as_str(),
            labels["keep"].as_str(),
            labels["quarantine"].as_str()
        ),
        ("web", "me", "true")
    );
    pods.patch(
        "p",
        &pp,
        &Patch::Merge(
            json!({"metadata": {"labels": {"quarantine": null}, "annotations": {"a": "b"}}}),
        ),
    )
    .await
    .unwrap();
    let meta = pods.get("p").await.unwrap().metadata;
    assert!(!meta.labels.unwrap().contains_key("quarantine"));
    assert_eq!(meta.annotations.unwrap()["a"], "b");
}

#[tokio::test]
async fn events_from_the_fake_and_from_the_test() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 1, &[("app", "web")]);
    let client = fake.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let name = ready_pods(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    fake.add_warning_event(
        "default",
        &name,
        "BackOff",
        "Back-off restarting failed container app",
    );
    let events: Api<Event> = Api::namespaced(client, "default");
    let about = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap();
    let reasons: Vec<_> = about
        .items
        .iter()
        .map(|e| e.reason.clone().unwrap())
        .collect();
    assert!(reasons.contains(&"Scheduled".to_string()), "{reasons:?}");
    let warning = about
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("BackOff"))
        .unwrap();
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert_eq!(
        warning.involved_object.uid,
        pods.get(&name).await.unwrap().metadata.uid
    );
}

fn policy(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

#[tokio::test]
async fn network_policies_decide_reachability() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 2, &[("app", "web")]);
    fake.add_deployment("default", "db", 1, &[("app", "db")]);
    let pod_of = |app: &str| {
        let p = fake
            .objects("Pod", Some("default"))
            .into_iter()
            .find(|p| p["metadata"]["labels"]["app"] == app)
            .unwrap();
        format!("default/{}", p["metadata"]["name"].as_str().unwrap())
    };
    let (web, db) = (pod_of("web"), pod_of("db"));
    assert!(fake.reachable(&web, Reach::Pod(db.clone())));
    assert!(fake.reachable(&web, Reach::Dns));

    // Deny-all on the db pod isolates it both ways.
    let netpols: Api<NetworkPolicy> = Api::namespaced(fake.client().await, "default");
    let deny_all: NetworkPolicy =
        serde_json::from_value(policy("isolate-db", json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"]}))).unwrap();
    netpols
        .create(&PostParams::default(), &deny_all)
        .await
        .unwrap();
    assert!(!fake.reachable(&web, Reach::Pod(db.clone())));
    assert!(!fake.reachable(&db, Reach::Pod(web.clone())));
    assert!(!fake.reachable(&db, Reach::Dns));
    assert!(fake.reachable(&web, Reach::Dns));
    let (code, _) = raw_get(&fake, &format!("/fake/reachable?from={db}&to={web}"));
    assert_eq!(code, 503);
    let (code, _) = raw_get(&fake, &format!("/fake/reachable?from={web}&to=dns"));
    assert_eq!(code, 200);
    netpols
        .delete("isolate-db", &DeleteParams::default())
        .await
        .unwrap();
    assert!(fake.reachable(&db, Reach::Pod(web.clone())));

    // Egress only to 10.0.0.0/8 (but not 10.1.0.0/16) on 443: nothing else, DNS included.
    fake.apply(policy(
        "web-egress",
        json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"protocol": "TCP", "port": 443}]}],
        }),
    ));
    assert!(fake.reachable(&web, Reach::Cidr("10.2.3.4".into(), 443)));
    assert!(!fake.reachable(&web, Reach::Cidr("10.2.3.4".into(), 80)));
    assert!(!fake.reachable(&web, Reach::Cidr("10.1.2.3".into(), 443)));
    assert!(!fake.reachable(&web, Reach::Cidr("8.8.8.8".into(), 443)));
    assert!(!fake.reachable(&web, Reach::Dns));
    assert!(fake.reachable(&db, Reach::Dns), "db is not selected");
    let (code, _) = raw_get(
        &fake,
        &format!("/fake/reachable?from={web}&to=10.2.0.0/16:443"),
    );
    assert_eq!(code, 200);
    // Allowing DNS to kube-dns in kube-system brings it back.
    fake.apply(policy(
        "web-dns",
        json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}],
            }],
        }),
    ));
    assert!(fake.reachable(&web, Reach::Dns));
    assert!(!fake.reachable(&web, Reach::PodPort(db.clone(), 8080)));
    assert!(
        fake.reachable(&web, Reach::PodPort(db, 443)),
        "pod IPs are in 10.0.0.0/8"
    );
}

#[tokio::test]
async fn snapshot_equal_after_recreate_and_different_with_a_leftover() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.set_delays(Duration::from_millis(10), Duration::from_millis(20));
    fake.add_deployment("default", "web", 2, &[("app", "web")]);
    fake.add_statefulset("default", "db", 2, &[("app", "db")]);
    let client = fake.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let solo = pod("solo", json!({"app": "solo"}));
    pods.create(&PostParams::default(), &solo).await.unwrap();
    let before = fake.snapshot();
    for p in pods.list(&ListParams::default()).await.unwrap().items {
        pods.delete(
            p.metadata.name.as_ref().unwrap(),
            &DeleteParams::default().grace_period(0),
        )
        .await
        .unwrap();
    }
    eventually("four Ready pods again", Duration::from_secs(5), || async {
        ready_pods(&pods, "app in (web,db)").await.len() == 4
    })
    .await;
    // A pod no controller owns stays gone; created again under its name, it compares equal.
    assert!(pods.get_opt("solo").await.unwrap().is_none());
    assert_eq!(fake.pod_history("default", "").len(), 1);
    assert_ne!(fake.snapshot(), before);
    pods.create(&PostParams::default(), &solo).await.unwrap();
    assert_eq!(fake.snapshot(), before);
    fake.apply(policy(
        "leftover",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    ));
    assert_ne!(fake.snapshot(), before);
    let netpols: Api<NetworkPolicy> = Api::namespaced(client.clone(), "default");
    netpols
        .delete("leftover", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(fake.snapshot(), before);
    let nodes: Api<Node> = Api::all(client);
    nodes
        .patch(
            "node-2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    assert_ne!(fake.snapshot(), before, "a cordon left behind shows");
}

#[tokio::test]
async fn kubeconfig_points_kube_at_the_fake() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    let dir = tempfile::tempdir().unwrap();
    let path = fake.write_kubeconfig(dir.path());
    firedrill::tls::install_crypto_provider();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let options = kube::config::KubeConfigOptions {
        context: Some("fake".into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap();
    assert_eq!(
        config.cluster_url.to_string().trim_end_matches('/'),
        fake.url()
    );
    let client = kube::Client::try_from(config).unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
}

#[tokio::test]
async fn a_watch_with_a_selector_sees_objects_leave_and_enter_it() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(
            &WatchParams::default().labels("role=canary").timeout(10),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    pods.create(&PostParams::default(), &pod("c", json!({"role": "stable"})))
        .await
        .unwrap();
    let relabel = |role: &str| Patch::Merge(json!({"metadata": {"labels": {"role": role}}}));
    pods.patch("c", &PatchParams::default(), &relabel("canary"))
        .await
        .unwrap();
    pods.patch("c", &PatchParams::default(), &relabel("stable"))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Modified(p) => {
                assert_eq!(p.metadata.labels.unwrap()["role"], "canary");
                kinds.push("MODIFIED")
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    // Pod status updates may add MODIFIED events in between, all while the pod is a canary.
    kinds.retain(|k| *k != "MODIFIED");
    assert_eq!(kinds, ["ADDED", "DELETED"]);
}

#[tokio::test]
async fn exec_runs_commands_over_the_channel_protocol() {
    use kube::api::AttachParams;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.add_deployment("default", "web", 1, &[("app", "web")]);
    fake.on_exec(|e| match e.command.as_slice() {
        [cmd, ..] if cmd == "cat" => fakekube::ExecReply {
            stdout: e.stdin.clone(),
            ..Default::default()
        },
        [cmd, arg] if cmd == "echo" => fakekube::ExecReply::ok(&format!("{arg}\n")),
        _ => fakekube::ExecReply::exit(127, "command not found\n"),
    });
    let pods: Api<Pod> = Api::namespaced(fake.client().await, "default");
    let name = ready_pods(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();

    let mut echo = pods
        .exec(&name, ["echo", "hello"], &AttachParams::default())
        .await
        .unwrap();
    let mut out = String::new();
    echo.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = echo.take_status().unwrap().await.unwrap();
    assert_eq!(out, "hello\n");
    assert_eq!(status.status, Some("Success".to_string()));

    let mut missing = pods
        .exec(&name, ["nonesuch"], &AttachParams::default())
        .await
        .unwrap();
    let mut err = String::new();
    missing
        .stderr()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let status = missing.take_status().unwrap().await.unwrap();
    assert_eq!(err, "command not found\n");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(
        status.details.unwrap().causes.unwrap()[0]
            .message
            .as_deref(),
        Some("127")
    );

    let mut cat = pods
        .exec(
            &name,
            ["cat"],
            &AttachParams::default().stdin(true).stderr(false),
        )
        .await
        .unwrap();
    let mut stdin = cat.stdin().unwrap();
    stdin.write_all(b"through stdin").await.unwrap();
    // Dropping kube's stdin writer does not end stdin: shutting it down does.
    stdin.shutdown().await.unwrap();
    let mut out = String::new();
    cat.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "through stdin");

    let execs = fake.execs();
    assert_eq!(execs.len(), 3);
    assert_eq!(
        (execs[0].container.as_str(), execs[0].command.clone()),
        ("app", vec!["echo".to_string(), "hello".into()])
    );
    let Err(e) = pods
        .exec("nonesuch", ["true"], &AttachParams::default())
        .await
    else {
        panic!("exec in a missing pod must fail");
    };
    assert!(e.to_string().contains("404"), "{e}");
}

#[tokio::test]
async fn deployments_created_through_the_api_and_garbage_collection() {
    let _g = common::shared_async().await;
    let fake = FakeKube::start();
    fake.set_delays(Duration::from_millis(10), Duration::from_millis(20));
    let client = fake.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["kept", "gone"] {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}},
            },
        }))
        .unwrap();
        deployments
            .create(&PostParams::default(), &d)
            .await
            .unwrap();
    }
    eventually("four Ready pods", Duration::from_secs(5), || async {
        ready_pods(&pods, "app in (kept,gone)").await.len() == 4
    })
    .await;
    // Background propagation takes the ReplicaSet and the pods along; Orphan leaves them.
    deployments
        .delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        pods.list(&ListParams::default().labels("app=gone"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        fake.objects("ReplicaSet", Some("default"))
            .iter()
            .all(|rs| rs["metadata"]["labels"]["app"] != "gone")
    );
    deployments
        .delete("kept", &DeleteParams::orphan())
        .await
        .unwrap();
    let orphans = pods
        .list(&ListParams::default().labels("app=kept"))
        .await
        .unwrap()
        .items;
    assert_eq!(orphans.len(), 2);
    let rs = fake.objects("ReplicaSet", Some("default"));
    assert_eq!(rs.len(), 1);
    assert!(
        rs[0]["metadata"]
            .get("ownerReferences")
            .is_none_or(|r| r.as_array().unwrap().is_empty())
    );
}
