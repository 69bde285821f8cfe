//! The control loop of the fake: the scheduler binds pods round-robin to schedulable nodes, the
//! kubelet turns them Ready after the ready delay and removes them after their grace period,
//! Deployments roll ReplicaSets (surge 1, none unavailable), ReplicaSets, StatefulSets and
//! DaemonSets keep their pods, replacing a missing one after the reschedule delay.

use super::Shared;
use super::selector::{LabelSelector, labels_of};
use super::store::{
    ApiError, Slot, State, Timer, TimerKind, Write, controller_of, def, is_ready, is_terminating,
    str_at,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs timers and reconciles until the fake stops; woken by every change.
pub async fn run(shared: Arc<Shared>) {
    loop {
        let notified = shared.wake.notified();
        let next = {
            let mut st = shared.lock();
            st.settle();
            st.next_deadline()
        };
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = notified => {}
                }
            }
            None => notified.await,
        }
    }
}

/// The short hash real controllers put in names and labels (`pod-template-hash`).
pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = Sha256::digest(template.to_string().as_bytes());
    let mut n = u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"));
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// An ownerReference to a controller object.
fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Keeps `lastTransitionTime` (and `lastUpdateTime`) of conditions whose status did not change.
fn carry_transitions(old: Option<&Value>, new: &mut [Value], stamp: &str) {
    for c in new {
        let prev = old.and_then(Value::as_array).and_then(|cs| {
            cs.iter()
                .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
        });
        for field in ["lastTransitionTime", "lastUpdateTime"] {
            if c.get(field).is_some() {
                c[field] = prev
                    .and_then(|p| p.get(field))
                    .cloned()
                    .unwrap_or_else(|| json!(stamp));
            }
        }
    }
}

impl State {
    /// Runs due timers and reconciles until nothing changes.
    pub fn settle(&mut self) {
        for _ in 0..200 {
            let fired = self.run_due(Instant::now());
            let changed = self.reconcile();
            if !fired && !changed {
                break;
            }
        }
    }

    /// When the next timer is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().map(|t| t.at).min()
    }

    fn later(&self, delay: Duration) -> Instant {
        if self.immediate {
            Instant::now()
        } else {
            Instant::now() + delay
        }
    }

    fn run_due(&mut self, now: Instant) -> bool {
        let (mut due, rest): (Vec<Timer>, Vec<Timer>) = std::mem::take(&mut self.timers)
            .into_iter()
            .partition(|t| t.at <= now);
        self.timers = rest;
        due.sort_by_key(|t| t.at);
        let fired = !due.is_empty();
        // Active pods per ReplicaSet, counted once per batch: seeding thousands of pods fires
        // thousands of creations at once, and counting for each made it quadratic.
        let mut active = HashMap::new();
        for t in due {
            match t.kind {
                TimerKind::Create(slot) => self.create_for(&slot, &mut active),
                TimerKind::Ready { ns, name, uid } => self.mark_ready(&ns, &name, &uid),
                TimerKind::HelperEnd {
                    ns,
                    name,
                    uid,
                    container,
                } => super::ephemeral::end(self, &ns, &name, &uid, &container, 0),
                TimerKind::Finalize { ns, name, uid } => {
                    if self
                        .get("pods", &ns, &name)
                        .is_some_and(|p| p["metadata"]["uid"] == uid.as_str())
                    {
                        self.remove(def("pods"), &ns, &name);
                    }
                }
            }
        }
        fired
    }

    fn reconcile(&mut self) -> bool {
        let mut changed = self.start_pods();
        for plural in [
            "deployments",
            "replicasets",
            "statefulsets",
            "daemonsets",
            "poddisruptionbudgets",
        ] {
            let objs: Vec<Value> = self.list(plural, None).into_iter().cloned().collect();
            for o in objs {
                changed |= match plural {
                    "deployments" => self.reconcile_deployment(&o),
                    "replicasets" => self.reconcile_replicaset(&o),
                    "statefulsets" => self.reconcile_statefulset(&o),
                    "daemonsets" => self.reconcile_daemonset(&o),
                    _ => self.reconcile_budget(&o),
                };
            }
        }
        changed
    }

    /// Names of the nodes new pods may go to: not cordoned, and Ready.
    pub fn schedulable_nodes(&self) -> Vec<String> {
        self.list("nodes", None)
            .into_iter()
            .filter(|n| n.pointer("/spec/unschedulable") != Some(&json!(true)))
            .filter(|n| {
                n.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_none_or(|cs| {
                        !cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] != "True")
                    })
            })
            .map(|n| str_at(n, "/metadata/name").to_string())
            .collect()
    }

    /// Pods whose controller is the object with this uid, terminating ones included.
    fn owned_pods(&self, ns: &str, uid: &str) -> Vec<Value> {
        self.list("pods", Some(ns))
            .into_iter()
            .filter(|p| controller_of(p).is_some_and(|r| r["uid"] == uid))
            .cloned()
            .collect()
    }

    /// Active and Ready pods whose controller has this uid, counted without copying them:
    /// at thousands of pods, copies on every reconcile made each write cost about a second.
    fn owned_counts(&self, ns: &str, uid: &str) -> (i64, i64) {
        let mut active = 0;
        let mut ready = 0;
        for p in self.list("pods", Some(ns)) {
            if is_terminating(p) || !controller_of(p).is_some_and(|r| r["uid"] == uid) {
                continue;
            }
            active += 1;
            if is_ready(p) {
                ready += 1;
            }
        }
        (active, ready)
    }

    fn pending(&self, slot: impl Fn(&Slot) -> bool) -> usize {
        self.timers
            .iter()
            .filter(|t| matches!(&t.kind, TimerKind::Create(s) if slot(s)))
            .count()
    }

    /// Writes a status if it differs from the stored one.
    fn set_status(&mut self, plural: &str, ns: &str, name: &str, status: Value) -> bool {
        let Some(mut obj) = self.get(plural, ns, name).cloned() else {
            return false;
        };
        if obj.get("status") == Some(&status) {
            return false;
        }
        obj["status"] = status;
        self.put(def(plural), obj);
        true
    }

    fn set_replicas(&mut self, plural: &str, ns: &str, name: &str, replicas: i64) -> bool {
        let Some(mut obj) = self.get(plural, ns, name).cloned() else {
            return false;
        };
        if obj.pointer("/spec/replicas").and_then(Value::as_i64) == Some(replicas) {
            return false;
        }
        obj["spec"]["replicas"] = json!(replicas);
        let g = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        obj["metadata"]["generation"] = json!(g + 1);
        self.put(def(plural), obj);
        true
    }

    /// Binds new pods to nodes, gives them an IP and starts their way to Ready.
    fn start_pods(&mut self) -> bool {
        let mut changed = false;
        let waiting: Vec<Value> = self
            .list("pods", None)
            .into_iter()
            .filter(|p| !is_terminating(p) && !self.started.contains(str_at(p, "/metadata/uid")))
            .cloned()
            .collect();
        for mut pod in waiting {
            let uid = str_at(&pod, "/metadata/uid").to_string();
            if str_at(&pod, "/status/phase") != "Pending" || is_ready(&pod) {
                self.started.insert(uid);
                continue;
            }
            let (ns, name) = (
                str_at(&pod, "/metadata/namespace").to_string(),
                str_at(&pod, "/metadata/name").to_string(),
            );
            let stamp = self.now_stamp();
            let mut node = str_at(&pod, "/spec/nodeName").to_string();
            let picked = node.is_empty();
            if picked {
                // A nodeSelector no node matches leaves the pod Pending, as the scheduler does.
                let wanted = pod["spec"]["nodeSelector"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let nodes: Vec<String> = self
                    .schedulable_nodes()
                    .into_iter()
                    .filter(|n| {
                        let labels = self
                            .get("nodes", "", n)
                            .map(|o| o["metadata"]["labels"].clone())
                            .unwrap_or(Value::Null);
                        wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
                    })
                    .collect();
                if nodes.is_empty() {
                    let unschedulable = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": "0/0 nodes are available: no schedulable node.", "lastTransitionTime": stamp}]);
                    if pod.pointer("/status/conditions/0/reason") != Some(&json!("Unschedulable")) {
                        pod["status"]["conditions"] = unschedulable;
                        self.put(def("pods"), pod);
                        changed = true;
                    }
                    continue;
                }
                node = nodes[self.next_node % nodes.len()].clone();
                self.next_node += 1;
            }
            self.started.insert(uid.clone());
            let node_obj = self.get("nodes", "", &node).cloned().unwrap_or(Value::Null);
            let host_ip = node_obj
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .and_then(|a| a["address"].as_str())
                .unwrap_or("192.168.0.1")
                .to_string();
            self.next_ip += 1;
            let pod_ip = format!("10.244.{}.{}", self.next_ip / 250, self.next_ip % 250 + 2);
            pod["spec"]["nodeName"] = json!(node);
            pod["status"]["hostIP"] = json!(host_ip);
            pod["status"]["hostIPs"] = json!([{"ip": host_ip}]);
            pod["status"]["podIP"] = json!(pod_ip);
            pod["status"]["podIPs"] = json!([{"ip": pod_ip}]);
            pod["status"]["conditions"] =
                json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp}]);
            let pod = self.put(def("pods"), pod);
            if let Some(life) = self.lives.iter_mut().find(|l| l.uid == uid) {
                life.node = Some(node.clone());
            }
            if picked {
                self.emit_event(
                    &pod,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                    "default-scheduler",
                );
            }
            let at = self.later(self.ready_delay);
            self.timers.push(Timer {
                at,
                kind: TimerKind::Ready { ns, name, uid },
            });
            changed = true;
        }
        changed
    }

    /// The kubelet's part: containers running, the pod Ready.
    fn mark_ready(&mut self, ns: &str, name: &str, uid: &str) {
        let Some(mut pod) = self.get("pods", ns, name).cloned() else {
            return;
        };
        if pod["metadata"]["uid"] != uid || is_terminating(&pod) {
            return;
        }
        let now = Instant::now();
        let stamp = super::store::rfc3339(self.wall(now));
        // A verifier pod runs its check and ends instead of turning Ready.
        if let Some(done) = super::verifier::finish(self, &pod, &stamp) {
            self.put(def("pods"), done);
            return;
        }
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                json!({
                    "name": c["name"], "image": c["image"], "imageID": "",
                    "containerID": format!("containerd://{:016x}", fastrand::u64(..)),
                    "ready": true, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": stamp}},
                })
            })
            .collect();
        let scheduled = pod
            .pointer("/status/conditions/0/lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(stamp));
        pod["status"]["phase"] = json!("Running");
        pod["status"]["startTime"] = json!(stamp);
        pod["status"]["containerStatuses"] = json!(statuses);
        pod["status"]["conditions"] = json!([
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": stamp},
            {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
            {"type": "Ready", "status": "True", "lastTransitionTime": stamp},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": stamp},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled},
        ]);
        let pod = self.put(def("pods"), pod);
        let wall = self.wall(now);
        if let Some(life) = self.lives.iter_mut().find(|l| l.uid == uid) {
            life.ready = Some(wall);
        }
        let names: Vec<&str> = containers
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        self.emit_event(
            &pod,
            "Normal",
            "Started",
            &format!("Started container {}", names.join(", ")),
            "kubelet",
        );
    }

    /// Creates a pod from a controller's template.
    fn create_pod(
        &mut self,
        owner: &Value,
        name: &str,
        extra_labels: &[(&str, String)],
        node: Option<&str>,
    ) {
        let ns = str_at(owner, "/metadata/namespace").to_string();
        let template = &owner["spec"]["template"];
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                "ownerReferences": [owner_ref(owner)],
            },
            "spec": template["spec"].clone(),
        });
        if let Some(a) = template.pointer("/metadata/annotations") {
            pod["metadata"]["annotations"] = a.clone();
        }
        for (k, v) in extra_labels {
            pod["metadata"]["labels"][*k] = json!(v);
        }
        if let Some(node) = node {
            pod["spec"]["nodeName"] = json!(node);
        }
        match self.create(def("pods"), &ns, pod, Write::default()) {
            Ok(_) => {
                let kind = str_at(owner, "/kind").to_string();
                let owner_name = str_at(owner, "/metadata/name").to_string();
                let message = if kind == "StatefulSet" {
                    format!("create Pod {name} in StatefulSet {owner_name} successful")
                } else {
                    format!("Created pod: {name}")
                };
                let component = format!("{}-controller", kind.to_lowercase());
                self.emit_event(owner, "Normal", "SuccessfulCreate", &message, &component);
            }
            Err(ApiError { message, .. }) => {
                let message = format!("Error creating: {message}");
                self.emit_event(
                    owner,
                    "Warning",
                    "FailedCreate",
                    &message,
                    "fake-controller",
                );
            }
        }
    }

    fn create_for(&mut self, slot: &Slot, active: &mut HashMap<String, i64>) {
        match slot {
            Slot::ReplicaSet { ns, name } => {
                let Some(rs) = self.get("replicasets", ns, name).cloned() else {
                    return;
                };
                let desired = rs
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let uid = str_at(&rs, "/metadata/uid").to_string();
                let count = match active.get(&uid) {
                    Some(n) => *n,
                    None => {
                        let n = self
                            .list("pods", Some(ns))
                            .into_iter()
                            .filter(|p| {
                                !is_terminating(p)
                                    && controller_of(p).is_some_and(|r| r["uid"] == uid)
                            })
                            .count() as i64;
                        active.insert(uid.clone(), n);
                        n
                    }
                };
                if count < desired {
                    let pod_name = format!("{name}-{}", super::store::random_suffix(5));
                    self.create_pod(&rs, &pod_name, &[], None);
                    active.insert(uid, count + 1);
                }
            }
            Slot::StatefulSet { ns, name, ordinal } => {
                let Some(sts) = self.get("statefulsets", ns, name).cloned() else {
                    return;
                };
                let desired = sts
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let pod_name = format!("{name}-{ordinal}");
                if i64::from(*ordinal) >= desired || self.get("pods", ns, &pod_name).is_some() {
                    return;
                }
                let revision = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
                let labels = [
                    ("controller-revision-hash", revision),
                    ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                    ("apps.kubernetes.io/pod-index", ordinal.to_string()),
                ];
                self.create_pod(&sts, &pod_name, &labels, None);
                if let Some(mut pod) = self.get("pods", ns, &pod_name).cloned() {
                    pod["spec"]["hostname"] = json!(pod_name);
                    if let Some(service) = sts.pointer("/spec/serviceName").and_then(Value::as_str)
                    {
                        pod["spec"]["subdomain"] = json!(service);
                    }
                    self.put(def("pods"), pod);
                }
            }
            Slot::DaemonSet { ns, name, node } => {
                let Some(ds) = self.get("daemonsets", ns, name).cloned() else {
                    return;
                };
                if !self.schedulable_nodes().contains(node) {
                    return;
                }
                let uid = str_at(&ds, "/metadata/uid").to_string();
                let present = self
                    .owned_pods(ns, &uid)
                    .iter()
                    .any(|p| !is_terminating(p) && str_at(p, "/spec/nodeName") == node);
                if !present {
                    let pod_name = format!("{name}-{}", super::store::random_suffix(5));
                    let revision = template_hash(&ds["spec"]["template"]);
                    let generation = ds
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let labels = [
                        ("controller-revision-hash", revision),
                        ("pod-template-generation", generation.to_string()),
                    ];
                    self.create_pod(&ds, &pod_name, &labels, Some(node));
                }
            }
        }
    }

    fn reconcile_deployment(&mut self, dep: &Value) -> bool {
        let mut changed = false;
        let ns = str_at(dep, "/metadata/namespace").to_string();
        let name = str_at(dep, "/metadata/name").to_string();
        let uid = str_at(dep, "/metadata/uid").to_string();
        let desired = dep
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let hash = template_hash(&dep["spec"]["template"]);
        let new_name = format!("{name}-{hash}");
        let owned = |st: &State| -> Vec<Value> {
            st.list("replicasets", Some(&ns))
                .into_iter()
                .filter(|rs| controller_of(rs).is_some_and(|r| r["uid"] == uid.as_str()))
                .cloned()
                .collect()
        };
        let mut sets = owned(self);
        if !sets
            .iter()
            .any(|rs| str_at(rs, "/metadata/name") == new_name)
        {
            let revision = sets
                .iter()
                .filter_map(|rs| {
                    str_at(
                        rs,
                        "/metadata/annotations/deployment.kubernetes.io~1revision",
                    )
                    .parse::<i64>()
                    .ok()
                })
                .max()
                .unwrap_or(0)
                + 1;
            let mut template = dep["spec"]["template"].clone();
            template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = dep["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": new_name,
                    "namespace": ns,
                    "labels": template["metadata"]["labels"],
                    "annotations": {
                        "deployment.kubernetes.io/revision": revision.to_string(),
                        "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                        "deployment.kubernetes.io/max-replicas": (desired + 1).to_string(),
                    },
                    "ownerReferences": [owner_ref(dep)],
                },
                "spec": {"replicas": if sets.is_empty() { desired } else { 0 }, "selector": selector, "template": template},
            });
            if self
                .create(def("replicasets"), &ns, rs, Write::default())
                .is_ok()
            {
                changed = true;
                sets = owned(self);
            }
        }
        let replicas = |rs: &Value| {
            rs.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let mut stats = Vec::new();
        for rs in &sets {
            let (active, ready) = self.owned_counts(&ns, str_at(rs, "/metadata/uid"));
            stats.push((
                str_at(rs, "/metadata/name").to_string(),
                replicas(rs),
                active,
                ready,
            ));
        }
        let sum_old: i64 = stats.iter().filter(|s| s.0 != new_name).map(|s| s.1).sum();
        let new_current = stats.iter().find(|s| s.0 == new_name).map_or(0, |s| s.1);
        let new_target = if sum_old == 0 {
            desired
        } else {
            desired.min(new_current.max(desired + 1 - sum_old)).max(0)
        };
        changed |= self.set_replicas("replicasets", &ns, &new_name, new_target);
        if sum_old > 0 {
            let ready_total: i64 = stats.iter().map(|s| s.3).sum();
            let old_unready: i64 = stats
                .iter()
                .filter(|s| s.0 != new_name)
                .map(|s| (s.1 - s.3).max(0))
                .sum();
            let mut removable = (ready_total - desired).max(0) + old_unready;
            for (rs_name, current, _, _) in stats.iter().filter(|s| s.0 != new_name) {
                let take = removable.min(*current);
                if take > 0 {
                    removable -= take;
                    changed |= self.set_replicas("replicasets", &ns, rs_name, current - take);
                }
            }
        }
        let active: i64 = stats.iter().map(|s| s.2).sum();
        let ready: i64 = stats.iter().map(|s| s.3).sum();
        let updated = stats.iter().find(|s| s.0 == new_name).map_or(0, |s| s.2);
        let stamp = self.now_stamp();
        let available = ready >= desired;
        let complete = updated == desired && active == desired && available;
        let mut conditions = vec![
            json!({"type": "Available", "status": if available { "True" } else { "False" },
                "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                "lastUpdateTime": stamp, "lastTransitionTime": stamp}),
            json!({"type": "Progressing", "status": "True",
                "reason": if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                "message": format!("ReplicaSet \"{new_name}\" {}", if complete { "has successfully progressed." } else { "is progressing." }),
                "lastUpdateTime": stamp, "lastTransitionTime": stamp}),
        ];
        carry_transitions(dep.pointer("/status/conditions"), &mut conditions, &stamp);
        if let Some(old) = dep.pointer("/status/conditions/1")
            && old["reason"] == conditions[1]["reason"]
        {
            conditions[1]["lastUpdateTime"] = old["lastUpdateTime"].clone();
        }
        let mut status = json!({
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": active,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": conditions,
        });
        if desired > ready {
            status["unavailableReplicas"] = json!(desired - ready);
        }
        changed |= self.set_status("deployments", &ns, &name, status);
        changed
    }

    fn reconcile_replicaset(&mut self, rs: &Value) -> bool {
        let mut changed = false;
        let ns = str_at(rs, "/metadata/namespace").to_string();
        let name = str_at(rs, "/metadata/name").to_string();
        let desired = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let uid = str_at(rs, "/metadata/uid");
        // Counted on references; the pods are cloned only when some must go (at thousands
        // of pods, cloning them on every pass made each API write take seconds).
        let (count, ready) = self
            .list("pods", Some(&ns))
            .into_iter()
            .filter(|p| !is_terminating(p) && controller_of(p).is_some_and(|r| r["uid"] == uid))
            .fold((0usize, 0usize), |(n, r), p| {
                (n + 1, r + usize::from(is_ready(p)))
            });
        let this =
            |s: &Slot| matches!(s, Slot::ReplicaSet { ns: n, name: m } if *n == ns && *m == name);
        let pending = self.pending(this) as i64;
        let missing = desired - count as i64 - pending;
        if missing > 0 {
            let at = self.later(self.reschedule_delay);
            for _ in 0..missing {
                self.timers.push(Timer {
                    at,
                    kind: TimerKind::Create(Slot::ReplicaSet {
                        ns: ns.clone(),
                        name: name.clone(),
                    }),
                });
            }
            changed = true;
        } else if missing < 0 {
            let mut surplus = -missing;
            while surplus > 0 {
                let Some(i) = self
                    .timers
                    .iter()
                    .rposition(|t| matches!(&t.kind, TimerKind::Create(s) if this(s)))
                else {
                    break;
                };
                self.timers.remove(i);
                surplus -= 1;
            }
            let mut active: Vec<Value> = self
                .owned_pods(&ns, uid)
                .into_iter()
                .filter(|p| !is_terminating(p))
                .collect();
            // Not-ready pods go first, then the newest, as the ReplicaSet controller ranks them.
            active.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(str_at(p, "/metadata/creationTimestamp").to_string()),
                )
            });
            for pod in active.iter().take(surplus as usize) {
                self.delete_pod(&ns, str_at(pod, "/metadata/name"), None);
            }
            changed = true;
        }
        let (count, ready) = if missing < 0 {
            self.list("pods", Some(&ns))
                .into_iter()
                .filter(|p| !is_terminating(p) && controller_of(p).is_some_and(|r| r["uid"] == uid))
                .fold((0usize, 0usize), |(n, r), p| {
                    (n + 1, r + usize::from(is_ready(p)))
                })
        } else {
            (count, ready)
        };
        let status = json!({
            "replicas": count,
            "fullyLabeledReplicas": count,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"],
        });
        changed |= self.set_status("replicasets", &ns, &name, status);
        changed
    }

    fn reconcile_statefulset(&mut self, sts: &Value) -> bool {
        let mut changed = false;
        let ns = str_at(sts, "/metadata/namespace").to_string();
        let name = str_at(sts, "/metadata/name").to_string();
        let desired = sts
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let revision = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
        let ordinal_of = |p: &Value| -> Option<i64> {
            str_at(p, "/metadata/name")
                .strip_prefix(&format!("{name}-"))?
                .parse()
                .ok()
        };
        for ordinal in 0..desired.max(0) {
            let pod_name = format!("{name}-{ordinal}");
            let slot = Slot::StatefulSet {
                ns: ns.clone(),
                name: name.clone(),
                ordinal: ordinal as u32,
            };
            if self.get("pods", &ns, &pod_name).is_some() || self.pending(|s| *s == slot) > 0 {
                continue;
            }
            let at = self.later(self.reschedule_delay);
            self.timers.push(Timer {
                at,
                kind: TimerKind::Create(slot),
            });
            changed = true;
        }
        let before = self.timers.len();
        self.timers.retain(|t| {
            !matches!(&t.kind, TimerKind::Create(Slot::StatefulSet { ns: n, name: m, ordinal })
            if *n == ns && *m == name && i64::from(*ordinal) >= desired)
        });
        changed |= self.timers.len() != before;
        let active: Vec<Value> = self
            .owned_pods(&ns, str_at(sts, "/metadata/uid"))
            .into_iter()
            .filter(|p| !is_terminating(p))
            .collect();
        for pod in active
            .iter()
            .filter(|p| ordinal_of(p).is_none_or(|o| o >= desired))
        {
            self.delete_pod(&ns, str_at(pod, "/metadata/name"), None);
            changed = true;
        }
        let active: Vec<Value> = active
            .into_iter()
            .filter(|p| ordinal_of(p).is_some_and(|o| o < desired))
            .collect();
        let all_ready = active.len() as i64 == desired && active.iter().all(is_ready);
        let outdated =
            |p: &&Value| str_at(p, "/metadata/labels/controller-revision-hash") != revision;
        if all_ready && let Some(pod) = active.iter().filter(outdated).max_by_key(|p| ordinal_of(p))
        {
            self.delete_pod(&ns, str_at(pod, "/metadata/name"), None);
            changed = true;
        }
        let ready = active.iter().filter(|p| is_ready(p)).count();
        let updated = active.iter().filter(|p| !outdated(p)).count();
        let current_revision = if updated == active.len() {
            revision.clone()
        } else {
            active
                .iter()
                .find(outdated)
                .map(|p| str_at(p, "/metadata/labels/controller-revision-hash").to_string())
                .unwrap_or_else(|| revision.clone())
        };
        let status = json!({
            "observedGeneration": sts["metadata"]["generation"],
            "replicas": active.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": if current_revision == revision { updated } else { active.len() - updated },
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        });
        changed |= self.set_status("statefulsets", &ns, &name, status);
        changed
    }

    fn reconcile_daemonset(&mut self, ds: &Value) -> bool {
        let mut changed = false;
        let ns = str_at(ds, "/metadata/namespace").to_string();
        let name = str_at(ds, "/metadata/name").to_string();
        let revision = template_hash(&ds["spec"]["template"]);
        let nodes = self.schedulable_nodes();
        let all_nodes: Vec<String> = self
            .list("nodes", None)
            .iter()
            .map(|n| str_at(n, "/metadata/name").to_string())
            .collect();
        let active: Vec<Value> = self
            .owned_pods(&ns, str_at(ds, "/metadata/uid"))
            .into_iter()
            .filter(|p| !is_terminating(p))
            .collect();
        for node in &nodes {
            let slot = Slot::DaemonSet {
                ns: ns.clone(),
                name: name.clone(),
                node: node.clone(),
            };
            if active.iter().any(|p| str_at(p, "/spec/nodeName") == node)
                || self.pending(|s| *s == slot) > 0
            {
                continue;
            }
            let at = self.later(self.reschedule_delay);
            self.timers.push(Timer {
                at,
                kind: TimerKind::Create(slot),
            });
            changed = true;
        }
        for pod in active
            .iter()
            .filter(|p| !all_nodes.iter().any(|n| n == str_at(p, "/spec/nodeName")))
        {
            self.delete_pod(&ns, str_at(pod, "/metadata/name"), Some(0));
            changed = true;
        }
        let outdated =
            |p: &&Value| str_at(p, "/metadata/labels/controller-revision-hash") != revision;
        let pending = self.pending(
            |s| matches!(s, Slot::DaemonSet { ns: n, name: m, .. } if *n == ns && *m == name),
        );
        if pending == 0
            && active.iter().all(is_ready)
            && let Some(pod) = active.iter().find(outdated)
        {
            self.delete_pod(&ns, str_at(pod, "/metadata/name"), None);
            changed = true;
        }
        let ready = active.iter().filter(|p| is_ready(p)).count();
        let status = json!({
            "observedGeneration": ds["metadata"]["generation"],
            "desiredNumberScheduled": nodes.len(),
            "currentNumberScheduled": active.len(),
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": active.iter().filter(|p| !outdated(p)).count(),
            "numberMisscheduled": 0,
        });
        changed |= self.set_status("daemonsets", &ns, &name, status);
        changed
    }

    fn reconcile_budget(&mut self, pdb: &Value) -> bool {
        let (expected, healthy, desired) = self.budget(pdb);
        let allowed = (healthy - desired).max(0);
        let stamp = self.now_stamp();
        let mut conditions = vec![json!({
            "type": "DisruptionAllowed",
            "status": if allowed > 0 { "True" } else { "False" },
            "reason": if allowed > 0 { "SufficientPods" } else { "InsufficientPods" },
            "message": "",
            "observedGeneration": pdb["metadata"]["generation"],
            "lastTransitionTime": stamp,
        })];
        carry_transitions(pdb.pointer("/status/conditions"), &mut conditions, &stamp);
        let status = json!({
            "observedGeneration": pdb["metadata"]["generation"],
            "expectedPods": expected,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
            "conditions": conditions,
        });
        let ns = str_at(pdb, "/metadata/namespace").to_string();
        let name = str_at(pdb, "/metadata/name").to_string();
        self.set_status("poddisruptionbudgets", &ns, &name, status)
    }
}

/// Whether a LabelSelector object selects these labels (a bad selector selects nothing).
pub fn selects(selector: &Value, obj: &Value) -> bool {
    LabelSelector::from_object(selector).is_ok_and(|s| s.matches(&labels_of(obj)))
}
