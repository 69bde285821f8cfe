//! What detection canaries and prevention checks share: the marker they carry, and the
//! outcome a check hands to the engine for the journal, the result and the scorecard.

pub use crate::result::{CanaryOutcome, PreventionOutcome, SecurityOutcome};
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
