//! The kubernetes-object probe: objects of any kind, custom resources included, read through
//! kube's dynamic API, each checked against a condition or a JSONPath.
//!
//! The first observation finds the resource that serves the kind through discovery; what it
//! finds is kept for the run, so each later observation is one request (a get by name, or
//! a list by labels).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams};
use serde_json::Value;

use super::json::JsonCheck;
use super::{Outcome, Probe, ProbeError};
use crate::platform::kubernetes::{Cluster, discover};
use crate::spec::{ConditionExpectation, KubernetesObjectProbe, ObjectExpectation};

/// What each object must satisfy, compiled once.
#[derive(Clone, Debug)]
enum Expect {
    /// Existing, not being deleted.
    Exists,
    /// A status condition.
    Condition(ConditionExpectation),
    /// A JSONPath and what its values must be.
    Field(JsonCheck),
}

impl Expect {
    fn of(spec: &KubernetesObjectProbe) -> Result<Self, String> {
        Ok(match &spec.expect {
            None => Self::Exists,
            Some(ObjectExpectation::Condition(c)) => Self::Condition(c.clone()),
            Some(ObjectExpectation::Field(f)) => Self::Field(
                JsonCheck::new(&f.json_path, f.equals.as_ref(), f.op, f.value)
                    .map_err(|e| format!("expect.field.jsonPath {e}"))?,
            ),
        })
    }

    /// Why `object` (as JSON) does not satisfy the expectation; `None` when it does.
    fn miss(&self, object: &Value) -> Option<String> {
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return Some("being deleted".to_owned());
        }
        match self {
            Self::Exists => None,
            Self::Field(check) => check.miss(object, "the object"),
            Self::Condition(want) => condition_miss(want, object),
        }
    }
}

/// Why `object`'s conditions lack `want`, saying what they hold instead.
fn condition_miss(want: &ConditionExpectation, object: &Value) -> Option<String> {
    let conditions = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = |c: &Value, key: &str| c.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(found) = conditions
        .iter()
        .find(|c| text(c, "type").as_deref() == Some(want.type_.as_str()))
    else {
        let present: Vec<String> = conditions
            .iter()
            .filter_map(|c| Some(format!("{}={}", text(c, "type")?, text(c, "status")?)))
            .collect();
        return Some(if present.is_empty() {
            format!("no condition {} (no conditions)", want.type_)
        } else {
            format!(
                "no condition {} (conditions: {})",
                want.type_,
                present.join(", ")
            )
        });
    };
    let status = text(found, "status").unwrap_or_default();
    let reason = text(found, "reason").filter(|r| !r.is_empty());
    let message = text(found, "message").filter(|m| !m.is_empty());
    let status_ok = status == want.status.as_str();
    let reason_ok = want
        .reason
        .as_ref()
        .is_none_or(|r| reason.as_deref() == Some(r.as_str()));
    if status_ok && reason_ok {
        return None;
    }
    let mut seen = format!(
        "{} is {}",
        want.type_,
        if status.is_empty() { "unset" } else { &status }
    );
    match &reason {
        Some(r) => seen.push_str(&format!(" (reason {r}")),
        None => seen.push_str(" (no reason"),
    }
    if let Some(m) = &message {
        seen.push_str(&format!(": {m}"));
    }
    seen.push(')');
    let mut expected = format!("expected {}", want.status.as_str());
    if let Some(r) = &want.reason {
        expected.push_str(&format!(" with reason {r}"));
    }
    Some(format!("{seen}, {expected}"))
}

/// A probe of objects of any kind.
pub struct ObjectProbe {
    spec: KubernetesObjectProbe,
    expect: Expect,
    cluster: Cluster,
    runtime: tokio::runtime::Handle,
    /// The resource discovery found, kept for the run.
    resource: tokio::sync::OnceCell<ApiResource>,
}

impl ObjectProbe {
    /// A probe that makes its requests on `runtime`.
    pub fn new(
        spec: &KubernetesObjectProbe,
        cluster: Cluster,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, ProbeError> {
        let expect = Expect::of(spec).map_err(|message| ProbeError::Invalid {
            probe: spec.name.clone(),
            message,
        })?;
        Ok(Self {
            spec: spec.clone(),
            expect,
            cluster,
            runtime,
            resource: tokio::sync::OnceCell::new(),
        })
    }

    /// `kind/name` or `kind` objects labelled so, in the namespace, for messages.
    fn what(&self) -> String {
        let s = &self.spec;
        match &s.object_name {
            Some(name) => format!("{} {}/{name}", s.kind, s.namespace),
            None => format!(
                "{} in {} with labels {}",
                s.kind,
                s.namespace,
                selector(&s.match_labels)
            ),
        }
    }

    async fn observe_async(&self) -> Outcome {
        let s = &self.spec;
        let client = &self.cluster.client;
        let resource = match self
            .resource
            .get_or_try_init(|| discover::namespaced_resource(client, &s.api_version, &s.kind))
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::fail(crate::error::chain(&e)),
        };
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), &s.namespace, resource);
        let objects = match &s.object_name {
            Some(name) => api.get_opt(name).await.map(|o| o.into_iter().collect()),
            None => api
                .list(&ListParams::default().labels(&selector(&s.match_labels)))
                .await
                .map(|l| l.items),
        };
        let objects: Vec<DynamicObject> = match objects {
            Ok(o) => o,
            Err(e) => return Outcome::fail(format!("read {}: {e}", self.what())),
        };
        if objects.is_empty() {
            return Outcome::fail(format!("no object matched: {}", self.what()));
        }
        let misses: Vec<String> = objects
            .iter()
            .filter_map(|o| {
                let json = serde_json::to_value(o).ok()?;
                let miss = self.expect.miss(&json)?;
                let name = o.metadata.name.as_deref().unwrap_or_default();
                Some(format!("{} {name}: {miss}", s.kind))
            })
            .collect();
        if misses.is_empty() {
            Outcome::pass()
        } else {
            Outcome::fail(misses.join("; "))
        }
    }
}

/// `a=b,c=d`, the label selector of `labels`.
fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Probe for ObjectProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        self.runtime.block_on(async {
            match tokio::time::timeout(timeout, self.observe_async()).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::fail("timed out"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    use serde_json::json;

    fn probe(extra: &str) -> KubernetesObjectProbe {
        serde_saphyr::from_str(&format!(
            "{{name: p, apiVersion: example.com/v1, kind: Widget, namespace: shop, objectName: w{extra}}}"
        ))
        .unwrap()
    }

    fn widget(conditions: Value) -> Value {
        json!({"metadata": {"name": "w"}, "spec": {"size": 3}, "status": {"conditions": conditions}})
    }

    #[test]
    fn a_condition_must_have_its_status_and_a_miss_says_what_it_has() {
        let ready = Expect::of(&probe(
            ", expect: {condition: {type: Ready, status: \"True\"}}",
        ))
        .unwrap();
        assert_eq!(
            ready.miss(&widget(json!([{"type": "Ready", "status": "True"}]))),
            None
        );
        assert_eq!(
            ready.miss(&widget(json!([{"type": "Ready", "status": "False", "reason": "Degraded", "message": "disk full"}]))),
            Some("Ready is False (reason Degraded: disk full), expected True".into())
        );
        assert_eq!(
            ready.miss(&widget(json!([{"type": "Synced", "status": "True"}]))),
            Some("no condition Ready (conditions: Synced=True)".into())
        );
        assert_eq!(
            ready.miss(&json!({"metadata": {"name": "w"}})),
            Some("no condition Ready (no conditions)".into())
        );
        let with_reason = Expect::of(&probe(
            ", expect: {condition: {type: Ready, status: \"True\", reason: Reconciled}}",
        ))
        .unwrap();
        assert_eq!(
            with_reason.miss(&widget(
                json!([{"type": "Ready", "status": "True", "reason": "Stale"}])
            )),
            Some("Ready is True (reason Stale), expected True with reason Reconciled".into())
        );
    }

    #[test]
    fn a_field_uses_the_json_path_check_and_deletion_always_fails() {
        let field = Expect::of(&probe(
            ", expect: {field: {jsonPath: $.spec.size, op: \">=\", value: 4}}",
        ))
        .unwrap();
        assert_eq!(
            field.miss(&widget(json!([]))),
            Some("$.spec.size is 3, expected >= 4".into())
        );
        let exists = Expect::of(&probe("")).unwrap();
        assert_eq!(exists.miss(&widget(json!([]))), None);
        let mut gone = widget(json!([]));
        gone["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(exists.miss(&gone), Some("being deleted".into()));
        assert!(Expect::of(&probe(", expect: {field: {jsonPath: \"$[\", equals: 1}}")).is_err());
    }

    #[test]
    fn condition_statuses_are_a_closed_set_and_yaml_booleans_spell_them() {
        let status = |s: &str| {
            serde_saphyr::from_str::<KubernetesObjectProbe>(&format!(
                "{{name: p, apiVersion: v1, kind: Pod, namespace: shop, objectName: w, expect: {{condition: {{type: Ready, status: {s}}}}}}}"
            ))
            .map(|p| match p.expect {
                Some(ObjectExpectation::Condition(c)) => c.status,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(status("\"True\"").unwrap(), spec::ConditionStatus::True);
        assert_eq!(status("True").unwrap(), spec::ConditionStatus::True);
        assert_eq!(status("false").unwrap(), spec::ConditionStatus::False);
        assert_eq!(status("Unknown").unwrap(), spec::ConditionStatus::Unknown);
        let err = status("Ready").unwrap_err();
        assert!(err.to_string().contains("True"), "{err}");
    }
}
