//! Selection, injection and recovery tracking at 5,000 pods in one namespace (fake API
//! server): firedrill's way against a naive list-everything-and-poll client.
//!
//! The namespace holds a Deployment `big` of 4,950 pods and the target, a Deployment `web` of
//! 50 pods (a subset by label). Each way deletes 10 of web's pods and waits until each has a
//! Ready replacement:
//!
//! - firedrill: the library's own calls. Selection lists web's pods with the label selector
//!   applied by the server, in pages of 500; the recovery tracker lists them once and
//!   watches; the pod-delete fault sends one DELETE per pod.
//! - naive: lists every pod of the namespace in one request and filters by label in the
//!   client; the same DELETEs; then lists the whole namespace again every `POLL` until every
//!   deleted pod has a Ready replacement.
//!
//! Requests are counted by the fake (`requests()`), times by the client's monotonic clock.
//! Run: `cargo bench --bench kubernetes_scale` (figures in BENCHMARKS.md, section 4).

// The fake's own unit tests, built with `--all-targets`, import what only tests/ uses.
#[allow(unused_imports)]
#[path = "../tests/support/fakekube/mod.rs"]
mod fakekube;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakekube::FakeKube;
use firedrill::fault::{Fault, PodRemoval, PodRemovalFault};
use firedrill::platform::PlatformEvent;
use firedrill::platform::kubernetes::{Cluster, track};
use firedrill::spec::KubernetesTarget;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const NS: &str = "bench";
const OTHERS: i32 = 4950;
const TARGETS: i32 = 50;
const DELETED: usize = 10;
const RESCHEDULE: Duration = Duration::from_millis(200);
const READY: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(250);
const ROUNDS: usize = 3;

/// Requests of one phase: count, and how many were lists, watches, deletes.
#[derive(Default, Clone, Copy)]
struct Counted {
    all: usize,
    lists: usize,
    watches: usize,
    deletes: usize,
    other: usize,
}

fn count(fake: &FakeKube, from: usize) -> (Counted, usize) {
    let requests = fake.requests();
    let mut c = Counted::default();
    for r in &requests[from..] {
        c.all += 1;
        if r.method == "DELETE" {
            c.deletes += 1;
        } else if r.query.contains("watch=true") || r.query.contains("watch=1") {
            c.watches += 1;
        } else if r.method == "GET" && r.path.ends_with("/pods") {
            c.lists += 1;
        } else {
            c.other += 1;
        }
    }
    (c, requests.len())
}

/// One phase's figures.
struct Phase {
    name: &'static str,
    time: Duration,
    requests: Counted,
}

fn seed() -> FakeKube {
    let fake = FakeKube::start();
    fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    let t = Instant::now();
    fake.add_deployment(NS, "big", OTHERS, &[("app", "big")]);
    fake.add_deployment(
        NS,
        "web",
        TARGETS,
        &[("app", "web"), ("firedrill.dev/chaos", "allowed")],
    );
    eprintln!(
        "seeded {} pods in {:.2} s",
        OTHERS + TARGETS,
        t.elapsed().as_secs_f64()
    );
    fake.set_delays(RESCHEDULE, READY);
    fake
}

fn cluster(client: kube::Client) -> Cluster {
    let target: KubernetesTarget = serde_json::from_value(json!({
        "namespaces": [NS],
        "workloads": [{"name": "web", "namespace": NS, "kind": "Deployment", "objectName": "web"}],
    }))
    .expect("a target");
    Cluster {
        client,
        target: Arc::new(target),
        run_id: "bench".into(),
        max_affected_percent: 100.0,
    }
}

fn fault_spec() -> PodRemoval {
    PodRemoval::Delete(
        serde_json::from_value(json!({
            "name": "delete-some", "force": true,
            "select": {"mode": "fixed", "count": DELETED, "workload": "web"},
        }))
        .expect("a fault"),
    )
}

async fn firedrill_way(fake: &FakeKube) -> Vec<Phase> {
    let c = cluster(fake.client().await);
    let w = c.workload("web").expect("web").clone();
    let mut phases = Vec::new();
    let (_, mut mark) = count(fake, 0);

    let t = Instant::now();
    let fault = PodRemovalFault::new(fault_spec(), c.clone());
    let intent = fault.plan().await.expect("plan");
    let (requests, m) = count(fake, mark);
    mark = m;
    phases.push(Phase {
        name: "selection",
        time: t.elapsed(),
        requests,
    });

    let t = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    track(
        &c,
        &w,
        intent.targets.clone(),
        tx,
        stop.clone(),
        Duration::from_secs(60),
    )
    .await
    .expect("track");
    let watch_started = t.elapsed();
    let (set_up, m) = count(fake, mark);
    mark = m;
    let t = Instant::now();
    fault.inject().await.expect("inject");
    let (requests, m) = count(fake, mark);
    mark = m;
    phases.push(Phase {
        name: "injection",
        time: t.elapsed(),
        requests,
    });

    let mut recovered = 0;
    while recovered < intent.targets.len() {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(PlatformEvent::PodRecovered(_))) => recovered += 1,
            Ok(Some(_)) => {}
            _ => panic!("the tracker did not report every recovery"),
        }
    }
    stop.cancel();
    let (mut requests, _) = count(fake, mark);
    // The tracker's requests were made before the injection; they belong here.
    requests.all += set_up.all;
    requests.lists += set_up.lists;
    requests.watches += set_up.watches;
    requests.other += set_up.other;
    phases.push(Phase {
        name: "recovery tracking",
        time: t.elapsed() + watch_started,
        requests,
    });
    phases
}

fn labels_match(pod: &Pod, want: &BTreeMap<String, String>) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    want.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn naive_way(fake: &FakeKube) -> Vec<Phase> {
    let api = Api::<Pod>::namespaced(fake.client().await, NS);
    let want: BTreeMap<String, String> = [("app".to_owned(), "web".to_owned())].into();
    let mut phases = Vec::new();
    let (_, mut mark) = count(fake, 0);

    let t = Instant::now();
    let all = api.list(&ListParams::default()).await.expect("list");
    let before: BTreeSet<String> = all
        .items
        .iter()
        .filter(|p| labels_match(p, &want))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let mut names: Vec<String> = before.iter().cloned().collect();
    fastrand::shuffle(&mut names);
    names.truncate(DELETED);
    let (requests, m) = count(fake, mark);
    mark = m;
    phases.push(Phase {
        name: "selection",
        time: t.elapsed(),
        requests,
    });

    let t = Instant::now();
    for n in &names {
        api.delete(n, &DeleteParams::default().grace_period(0))
            .await
            .expect("delete");
    }
    let (requests, m) = count(fake, mark);
    mark = m;
    phases.push(Phase {
        name: "injection",
        time: t.elapsed(),
        requests,
    });

    // Recovered when every deleted pod is gone and as many new pods of web are Ready.
    let t = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = api.list(&ListParams::default()).await.expect("list");
        let web: Vec<&Pod> = all
            .items
            .iter()
            .filter(|p| labels_match(p, &want))
            .collect();
        let gone = names.iter().all(|n| {
            !web.iter()
                .any(|p| p.metadata.name.as_deref() == Some(n.as_str()))
        });
        let fresh_ready = web
            .iter()
            .filter(|p| {
                p.metadata
                    .name
                    .as_ref()
                    .is_some_and(|n| !before.contains(n))
                    && ready(p)
            })
            .count();
        if gone && fresh_ready >= names.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the naive poll never saw recovery"
        );
        tokio::time::sleep(POLL).await;
    }
    let (requests, _) = count(fake, mark);
    phases.push(Phase {
        name: "recovery tracking",
        time: t.elapsed(),
        requests,
    });
    phases
}

fn print(way: &str, round: usize, phases: &[Phase]) {
    for p in phases {
        let r = p.requests;
        println!(
            "| {way} | {round} | {} | {} | {} | {} | {} | {} | {:.0} |",
            p.name,
            r.all,
            r.lists,
            r.watches,
            r.deletes,
            r.other,
            p.time.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and then this only
    // checks that it builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("run with `cargo bench --bench kubernetes_scale`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "{} pods in namespace {NS} ({TARGETS} targets by label), {DELETED} deleted, reschedule {} ms, ready {} ms, naive poll every {} ms",
        OTHERS + TARGETS,
        RESCHEDULE.as_millis(),
        READY.as_millis(),
        POLL.as_millis()
    );
    println!("| way | round | phase | requests | lists | watches | deletes | other | time (ms) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for round in 1..=ROUNDS {
        // A fresh fake for each, so that neither way inherits the other's replacements.
        let fake = seed();
        let phases = rt.block_on(firedrill_way(&fake));
        print("firedrill", round, &phases);
        drop(fake);
        let fake = seed();
        let phases = rt.block_on(naive_way(&fake));
        print("naive", round, &phases);
    }
}
