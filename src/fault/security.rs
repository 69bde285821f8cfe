//! What detection canaries and prevention checks share: the marker they carry, and the
//! outcome a check hands to the engine for the journal, the result and the scorecard.

use serde::{Deserialize, Serialize};

pub use crate::spec::MARKER;

/// The name of an object a canary or a check creates: the marker and the fault's name, cut
/// to a DNS label (63 characters, lower case).
pub fn marker_name(fault: &str) -> String {
    let mut name: String = format!("{MARKER}-{fault}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

/// The inert payload a canary carries (a honeytoken's content, a request header's value):
/// the marker, what it is, and the run it belongs to.
pub fn marker_payload(run_id: &str) -> String {
    format!("{MARKER}: a security drill by firedrill, not an attack (run {run_id})")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_names_are_dns_labels_that_carry_the_marker() {
        assert_eq!(marker_name("Honey_Token"), "firedrill-canary-honey-token");
        let long = marker_name(&"x".repeat(100));
        assert_eq!(long.len(), 63);
        assert!(long.starts_with(MARKER));
        assert_eq!(marker_name(&format!("{}-", "a".repeat(46))).len(), 63);
        assert!(!marker_name(&format!("{}--x", "a".repeat(44))).ends_with('-'));
    }

    #[test]
    fn the_payload_names_the_run() {
        let p = marker_payload("r-1");
        assert!(p.starts_with(MARKER));
        assert!(p.contains("run r-1"));
    }
}
