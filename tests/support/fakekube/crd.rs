//! Custom resources and discovery. Storing a CustomResourceDefinition (apiextensions.k8s.io/v1)
//! makes each of its served versions a resource of this fake: get, list (label and field
//! selectors), watch, create, update, patch and delete, namespaced or cluster-scoped as the
//! definition says, with a `status` subresource when it declares one. Discovery answers as the
//! API server does: `/api` (APIVersions), `/api/v1` and `/apis/GROUP/VERSION`
//! (APIResourceList), `/apis` (APIGroupList) and `/apis/GROUP` (APIGroup), listing the
//! built-in resources and the custom ones this fake's definitions serve.
//!
//! The resources of definitions are registered for the whole test process (the store refers
//! to resources as `&'static ResDef`), but each fake serves only those of its own stored
//! definitions: another test's custom resource is a 404 here. The first definition of a group,
//! version and plural fixes its kind and scope for the process, and a plural must not be
//! reused by another group (the store keys objects by plural).

use super::store::{RESOURCES, ResDef, State, str_at};
use serde_json::{Value, json};
use std::sync::Mutex;

/// The resources of every definition seen in this process.
static CUSTOM: Mutex<Vec<&'static ResDef>> = Mutex::new(Vec::new());

/// Every custom resource registered in this process.
pub fn custom() -> Vec<&'static ResDef> {
    CUSTOM.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Registers the resources a definition serves (once per group, version and plural).
pub fn register(crd: &Value) {
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let kind = str_at(crd, "/spec/names/kind");
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut custom = CUSTOM.lock().unwrap_or_else(|e| e.into_inner());
    for v in versions {
        let version = str_at(&v, "/name");
        let known = RESOURCES
            .iter()
            .chain(custom.iter().copied())
            .any(|r| r.group == group && r.version == version && r.plural == plural);
        if known || group.is_empty() || version.is_empty() || plural.is_empty() {
            continue;
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
        custom.push(Box::leak(Box::new(ResDef {
            plural: leak(plural),
            kind: leak(kind),
            group: leak(group),
            version: leak(version),
            namespaced,
            status: v.pointer("/subresources/status").is_some(),
            generation: true,
        })));
    }
}

/// Whether this fake serves `def`: a built-in resource, or one of its stored definitions'.
pub fn served(st: &State, def: &ResDef) -> bool {
    RESOURCES.iter().any(|r| std::ptr::eq(r, def))
        || st
            .list("customresourcedefinitions", None)
            .iter()
            .any(|crd| {
                str_at(crd, "/spec/group") == def.group
                    && str_at(crd, "/spec/names/plural") == def.plural
                    && crd
                        .pointer("/spec/versions")
                        .and_then(Value::as_array)
                        .is_some_and(|vs| {
                            vs.iter().any(|v| {
                                str_at(v, "/name") == def.version
                                    && v.get("served").and_then(Value::as_bool) != Some(false)
                            })
                        })
            })
}

/// Every resource this fake serves.
fn served_defs(st: &State) -> Vec<&'static ResDef> {
    RESOURCES
        .iter()
        .chain(custom())
        .filter(|d| served(st, d))
        .collect()
}

/// `{groupVersion, version}` entries and the preferred one of a group.
fn group_entry(group: &str, defs: &[&'static ResDef]) -> Value {
    let mut versions: Vec<&str> = defs
        .iter()
        .filter(|d| d.group == group)
        .map(|d| d.version)
        .collect();
    versions.dedup();
    versions.sort_unstable();
    versions.dedup();
    let entry = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(|v| entry(v)).collect::<Vec<_>>(),
        "preferredVersion": entry(versions.first().copied().unwrap_or("v1")),
    })
}

/// The discovery document at `segs` (`["apis", "example.com", "v1"]`), or `None` for a
/// group or version that is not served.
pub fn discovery(st: &State, segs: &[&str]) -> Option<Value> {
    let defs = served_defs(st);
    let resource_list = |group: &str, version: &str| {
        let mine: Vec<&&ResDef> = defs
            .iter()
            .filter(|d| d.group == group && d.version == version)
            .collect();
        if mine.is_empty() {
            return None;
        }
        let verbs = json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ]);
        let mut resources = Vec::new();
        for d in mine {
            resources.push(json!({
                "name": d.plural,
                "singularName": d.kind.to_ascii_lowercase(),
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": verbs,
            }));
            if d.status {
                resources.push(json!({
                    "name": format!("{}/status", d.plural),
                    "singularName": "",
                    "namespaced": d.namespaced,
                    "kind": d.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        let group_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }))
    };
    match segs {
        ["api"] => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [],
        })),
        ["api", version] => resource_list("", version),
        ["apis"] => {
            let mut groups: Vec<&str> = defs
                .iter()
                .map(|d| d.group)
                .filter(|g| !g.is_empty())
                .collect();
            groups.sort_unstable();
            groups.dedup();
            Some(json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": groups.iter().map(|g| group_entry(g, &defs)).collect::<Vec<_>>(),
            }))
        }
        ["apis", group] if defs.iter().any(|d| d.group == *group) => {
            let mut g = group_entry(group, &defs);
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            Some(g)
        }
        ["apis", group, version] => resource_list(group, version),
        _ => None,
    }
}
