//! The API writes a fault will make, described as data before they are made, so that
//! `firedrill plan` can send each one to the API server as a dry run and write the objects
//! it would create or change for review.

use kube::core::ApiResource;
use serde_json::Value;

/// One write to the Kubernetes API.
#[derive(Clone, Debug)]
pub struct ApiWrite {
    /// The resource written (group, version, kind, plural).
    pub resource: ApiResource,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// What is done to it.
    pub action: WriteAction,
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
        }
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
