//! The API writes a fault will make, described as data before they are made, so that
//! `firedrill plan` can send each one to the API server as a dry run and write the objects
//! it would create or change for review.

use kube::core::ApiResource;
use serde_json::Value;

/// One write to the Kubernetes API. Its Debug shows a Secret's data redacted.
#[derive(Clone)]
pub struct ApiWrite {
    /// The resource written (group, version, kind, plural).
    pub resource: ApiResource,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// What is done to it.
    pub action: WriteAction,
    /// A prevention check's attempt: policy is expected to refuse it, in a dry run as in
    /// the run, so a refusal is the expected answer rather than a failure.
    pub expect_refusal: bool,
}

/// What stands for a secret value wherever a write is shown.
pub const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for ApiWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.redacted();
        f.debug_struct("ApiWrite")
            .field("resource", &shown.resource)
            .field("namespace", &shown.namespace)
            .field("name", &shown.name)
            .field("action", &shown.action)
            .field("expect_refusal", &shown.expect_refusal)
            .finish()
    }
}

/// What a write does to its object.
#[derive(Clone, Debug)]
pub enum WriteAction {
    /// Create the object, given whole (apiVersion, kind and metadata included).
    Create(Value),
    /// Apply a JSON merge patch to the object, or to one of its subresources (`scale`).
    MergePatch {
        /// The subresource, if the patch goes to one.
        subresource: Option<String>,
        /// The patch.
        patch: Value,
    },
    /// Delete the object, with a grace period when one is set.
    Delete {
        /// Seconds of grace; zero forces.
        grace_period_seconds: Option<u32>,
    },
    /// Evict the pod through the Eviction API.
    Evict,
}

impl ApiWrite {
    /// A write to an object of the resource `K`.
    pub fn of<K>(namespace: &str, name: &str, action: WriteAction) -> Self
    where
        K: kube::Resource<DynamicType = ()>,
    {
        Self {
            resource: ApiResource::erase::<K>(&()),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            action,
            expect_refusal: false,
        }
    }

    /// The same write, marked as an attempt that policy is expected to refuse.
    pub fn expecting_refusal(mut self) -> Self {
        self.expect_refusal = true;
        self
    }

    /// The write as it may be shown or written for review: a Secret's `data` and
    /// `stringData` values replaced by `<redacted>`; anything else as it is.
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        if self.resource.kind != "Secret" {
            return out;
        }
        let redact = |v: &mut Value| {
            for field in ["data", "stringData"] {
                if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
                    for value in map.values_mut() {
                        if !value.is_null() {
                            *value = Value::String(REDACTED.to_owned());
                        }
                    }
                }
            }
        };
        match &mut out.action {
            WriteAction::Create(object) => redact(object),
            WriteAction::MergePatch { patch, .. } => redact(patch),
            WriteAction::Delete { .. } | WriteAction::Evict => {}
        }
        out
    }

    /// `verb kind namespace/name`, for messages.
    pub fn describe(&self) -> String {
        let verb = match &self.action {
            WriteAction::Create(_) => "create",
            WriteAction::MergePatch {
                subresource: Some(_),
                ..
            } => "patch the scale of",
            WriteAction::MergePatch { .. } => "patch",
            WriteAction::Delete { .. } => "delete",
            WriteAction::Evict => "evict",
        };
        format!(
            "{verb} {} {}/{}",
            self.resource.kind, self.namespace, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use serde_json::json;

    use super::*;

    #[test]
    fn a_secrets_values_are_redacted_wherever_the_write_is_shown() {
        let patch = json!({"metadata": {"resourceVersion": "7"}, "data": {"password": "c2VjcmV0", "old": null}});
        let w = ApiWrite::of::<Secret>(
            "shop",
            "db",
            WriteAction::MergePatch {
                subresource: None,
                patch: patch.clone(),
            },
        );
        let WriteAction::MergePatch { patch: shown, .. } = w.redacted().action else {
            panic!("a patch stays a patch");
        };
        assert_eq!(
            shown,
            json!({"metadata": {"resourceVersion": "7"}, "data": {"password": "<redacted>", "old": null}})
        );
        assert!(!format!("{w:?}").contains("c2VjcmV0"));
        let created = ApiWrite::of::<Secret>(
            "shop",
            "db",
            WriteAction::Create(json!({"stringData": {"k": "plain"}})),
        );
        assert!(!format!("{created:?}").contains("plain"));
        // A ConfigMap's data is not secret and is shown as it is.
        let cm = ApiWrite::of::<ConfigMap>(
            "shop",
            "cfg",
            WriteAction::MergePatch {
                subresource: None,
                patch: json!({"data": {"mode": "slow"}}),
            },
        );
        assert!(format!("{:?}", cm.redacted()).contains("slow"));
    }
}
