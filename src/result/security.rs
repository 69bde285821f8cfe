//! What a detection canary or a prevention check did when it was injected, as the result
//! records it.

use serde::{Deserialize, Serialize};

/// What a security drill did when it was injected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SecurityOutcome {
    /// A detection canary was performed; the detection signals must now notice it.
    Canary(CanaryOutcome),
    /// A prevention check tried an action policy must refuse.
    Prevention(PreventionOutcome),
}

/// What a canary did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryOutcome {
    /// Each action, e.g. `GET http://127.0.0.1:4000/admin/.env answered 404`.
    pub actions: Vec<String>,
    /// The markers it carried: object names, header values, domains.
    pub markers: Vec<String>,
}

/// What a prevention check's attempt met.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreventionOutcome {
    /// The action tried, e.g. `create pod shop/firedrill-canary-privileged (privileged)`.
    pub action: String,
    /// Whether policy refused it (the expected outcome).
    pub refused: bool,
    /// The HTTP status of the answer (403 or 422 for a refusal, 200 or 201 for an acceptance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The API's reason (`Forbidden`, `Invalid`), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The API's message, e.g. `pods "x" is forbidden: violates PodSecurity "restricted:latest"`.
    pub message: String,
    /// What was undone at once after an acceptance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undone: Vec<String>,
    /// The markers the attempt carried.
    pub markers: Vec<String>,
}
