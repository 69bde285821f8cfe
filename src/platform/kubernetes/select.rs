//! Target resolution and the guardrails: which pods a workload has (server-side label
//! selectors, paged lists), which of them a fault takes, and what it may not take.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::ListParams;

use super::{KubeError, PAGE, retry};
use crate::spec::{KubernetesTarget, KubernetesWorkload, OptInLabel, Selector, WorkloadKind};

/// A pod as far as selection and the guardrails care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid, to tell a pod from its replacement of the same name.
    pub uid: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl PodRef {
    /// The parts of a pod that selection needs.
    pub fn from_pod(pod: &Pod) -> Self {
        Self {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A label selector string (`a=b,c=d`) for equality on every label, in key order.
pub fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The selector string of a controller's `spec.selector`, both match labels and
/// expressions.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// The label selector of a workload's pods: its controller's selector and the workload's
/// own `matchLabels`.
pub(super) async fn pod_selector(
    client: &kube::Client,
    w: &KubernetesWorkload,
) -> Result<String, KubeError> {
    let ns = &w.namespace;
    let mut parts = Vec::new();
    if let (Some(name), true) = (&w.object_name, w.kind != WorkloadKind::Pod) {
        let what = format!("get {} {ns}/{name}", w.kind.as_str());
        let missing = || {
            KubeError::NotFound(format!(
                "workload `{}`: {} {ns}/{name} does not exist",
                w.name,
                w.kind.as_str()
            ))
        };
        let selector = match w.kind {
            WorkloadKind::Deployment => {
                let api = Api::<Deployment>::namespaced(client.clone(), ns);
                retry(&what, || api.get_opt(name))
                    .await?
                    .ok_or_else(missing)?
                    .spec
                    .map(|s| s.selector)
            }
            WorkloadKind::StatefulSet => {
                let api = Api::<StatefulSet>::namespaced(client.clone(), ns);
                retry(&what, || api.get_opt(name))
                    .await?
                    .ok_or_else(missing)?
                    .spec
                    .map(|s| s.selector)
            }
            WorkloadKind::DaemonSet => {
                let api = Api::<DaemonSet>::namespaced(client.clone(), ns);
                retry(&what, || api.get_opt(name))
                    .await?
                    .ok_or_else(missing)?
                    .spec
                    .map(|s| s.selector)
            }
            WorkloadKind::Pod => None,
        };
        let selector = selector.map(|s| selector_string(&s)).unwrap_or_default();
        if selector.is_empty() {
            // An empty selector would match every pod of the namespace.
            return Err(KubeError::Refused(format!(
                "workload `{}`: {} {ns}/{name} has an empty pod selector",
                w.name,
                w.kind.as_str()
            )));
        }
        parts.push(selector);
    }
    if !w.match_labels.is_empty() {
        parts.push(label_selector(&w.match_labels));
    }
    // A verifier pod carries the targets' labels for as long as its check runs; it is
    // firedrill's, not the workload's.
    parts.push(format!("!{}", super::VERIFIER));
    Ok(parts.join(","))
}

/// Every pod of a workload, read page by page with the selector applied by the server.
pub(super) async fn pods_of(
    client: &kube::Client,
    w: &KubernetesWorkload,
) -> Result<Vec<Pod>, KubeError> {
    let api = Api::<Pod>::namespaced(client.clone(), &w.namespace);
    if let (WorkloadKind::Pod, Some(name)) = (w.kind, &w.object_name) {
        let what = format!("get pod {}/{name}", w.namespace);
        return Ok(retry(&what, || api.get_opt(name))
            .await?
            .into_iter()
            .collect());
    }
    let selector = pod_selector(client, w).await?;
    let what = format!("list pods in {} matching {selector}", w.namespace);
    let mut pods = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().labels(&selector).limit(PAGE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = retry(&what, || api.list(&params)).await?;
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        pods.extend(page.items);
        if token.is_none() {
            return Ok(pods);
        }
    }
}

/// Picks the pods a selector takes, at random among `pods`.
pub fn choose(pods: &[PodRef], selector: &Selector) -> Vec<PodRef> {
    let mut pool = pods.to_vec();
    fastrand::shuffle(&mut pool);
    pool.truncate(selector.count(pods.len()));
    pool.sort_by(|a, b| a.name.cmp(&b.name));
    pool
}

/// Refuses a namespace outside the allowlist, or a system namespace not allowed.
pub fn check_namespace(target: &KubernetesTarget, ns: &str) -> Result<(), KubeError> {
    if !target.namespaces.iter().any(|n| n == ns) {
        return Err(KubeError::Refused(format!(
            "namespace `{ns}` is not in spec.target.namespaces ({})",
            target.namespaces.join(", ")
        )));
    }
    if crate::spec::is_system_namespace(ns) && !target.allow_system_namespaces {
        return Err(KubeError::Refused(format!(
            "namespace `{ns}` is a system namespace and spec.target.allowSystemNamespaces is false"
        )));
    }
    Ok(())
}

/// Refuses when any pod lacks the opt-in label, naming the first few.
pub fn check_opt_in(pods: &[PodRef], label: &OptInLabel) -> Result<(), KubeError> {
    let missing: Vec<String> = pods
        .iter()
        .filter(|p| p.labels.get(&label.key) != Some(&label.value))
        .map(PodRef::id)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
    Err(KubeError::Refused(format!(
        "pod {}{} does not carry the opt-in label {}={} (set spec.target.requireOptIn: false to act on pods without it)",
        shown.join(", "),
        if missing.len() > shown.len() {
            format!(" and {} more", missing.len() - shown.len())
        } else {
            String::new()
        },
        label.key,
        label.value
    )))
}

/// Refuses when `taking` more pods, with `held` already affected, would exceed the share
/// of `total` that `spec.safety.maxAffectedPercent` allows (at least one pod is allowed).
pub fn check_share(
    fault: &str,
    workload: &str,
    taking: usize,
    held: usize,
    total: usize,
    max_percent: f64,
) -> Result<(), KubeError> {
    let limit = ((total as f64 * max_percent / 100.0).floor() as usize)
        .max(1)
        .min(total);
    if held + taking > limit {
        return Err(KubeError::Refused(format!(
            "fault `{fault}` would affect {taking} of {total} pods of `{workload}` with {held} already affected, above spec.safety.maxAffectedPercent {max_percent}%"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;
    use crate::spec::{SelectFixed, SelectOne, SelectPercent};

    fn pod(name: &str, labels: &[(&str, &str)]) -> PodRef {
        PodRef {
            namespace: "shop".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn target(namespaces: &[&str], system: bool) -> KubernetesTarget {
        KubernetesTarget {
            context: None,
            namespaces: namespaces.iter().map(|s| (*s).to_owned()).collect(),
            allow_system_namespaces: system,
            opt_in_label: OptInLabel::default(),
            require_opt_in: true,
            workloads: Vec::new(),
            dependencies: Vec::new(),
            allow_node_faults: false,
            helper_image: None,
        }
    }

    #[test]
    fn selector_strings() {
        let labels = BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]);
        assert_eq!(label_selector(&labels), "a=1,b=2");
        let sel = LabelSelector {
            match_labels: Some(labels),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["web".into(), "api".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(selector_string(&sel), "a=1,b=2,tier in (web,api),!canary");
    }

    #[test]
    fn selection_modes_take_the_right_number_of_distinct_pods() {
        let pods: Vec<PodRef> = (0..10).map(|i| pod(&format!("p{i}"), &[])).collect();
        let one = choose(
            &pods,
            &Selector::One(SelectOne {
                workload: "w".into(),
            }),
        );
        assert_eq!(one.len(), 1);
        let fixed = choose(
            &pods,
            &Selector::Fixed(SelectFixed {
                workload: "w".into(),
                count: 3,
            }),
        );
        assert_eq!(fixed.len(), 3);
        let mut names: Vec<_> = fixed.iter().map(|p| &p.name).collect();
        names.dedup();
        assert_eq!(names.len(), 3, "distinct pods");
        let pct = choose(
            &pods,
            &Selector::Percent(SelectPercent {
                workload: "w".into(),
                percent: 25.0,
            }),
        );
        assert_eq!(pct.len(), 2, "25% of 10 rounds down");
        let too_many = choose(
            &pods[..2],
            &Selector::Fixed(SelectFixed {
                workload: "w".into(),
                count: 5,
            }),
        );
        assert_eq!(too_many.len(), 2);
        assert!(
            choose(
                &[],
                &Selector::One(SelectOne {
                    workload: "w".into()
                })
            )
            .is_empty()
        );
    }

    #[test]
    fn namespaces_outside_the_allowlist_and_system_ones_are_refused() {
        let t = target(&["shop", "kube-system"], false);
        assert!(check_namespace(&t, "shop").is_ok());
        let e = check_namespace(&t, "billing").unwrap_err().to_string();
        assert!(
            e.contains("`billing` is not in spec.target.namespaces"),
            "{e}"
        );
        let e = check_namespace(&t, "kube-system").unwrap_err().to_string();
        assert!(e.contains("system namespace"), "{e}");
        assert!(check_namespace(&target(&["kube-system"], true), "kube-system").is_ok());
    }

    #[test]
    fn every_pod_needs_the_opt_in_label() {
        let label = OptInLabel::default();
        let ok = pod("a", &[("firedrill.dev/chaos", "allowed")]);
        let wrong = pod("b", &[("firedrill.dev/chaos", "no")]);
        let bare = pod("c", &[]);
        assert!(check_opt_in(std::slice::from_ref(&ok), &label).is_ok());
        let e = check_opt_in(&[ok, wrong, bare], &label)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shop/b, shop/c") && e.contains("firedrill.dev/chaos=allowed"),
            "{e}"
        );
    }

    #[test]
    fn the_share_counts_what_is_already_held() {
        assert!(check_share("f", "w", 2, 0, 4, 50.0).is_ok());
        let e = check_share("f", "w", 1, 2, 4, 50.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 already affected") && e.contains("50%"), "{e}");
        assert!(
            check_share("f", "w", 1, 0, 3, 10.0).is_ok(),
            "one pod is always allowed"
        );
        assert!(check_share("f", "w", 2, 0, 3, 10.0).is_err());
    }
}
