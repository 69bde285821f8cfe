//! What the check of a fault found after its injection (docs/effects.md): the checks live
//! with the faults; their finding is part of the result.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the check of a fault found, recorded as `faults[].effect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Effect {
    /// The fault was seen in force.
    Verified {
        /// What was observed.
        observed: String,
    },
    /// No check was possible.
    Unverified {
        /// Why not.
        why: String,
    },
    /// The fault was checked and is not in force: the iteration fails and is no evidence.
    Ineffective {
        /// What was observed instead.
        observed: String,
    },
}

impl Effect {
    /// Verified, with what was observed.
    pub fn verified(observed: impl Into<String>) -> Self {
        Self::Verified {
            observed: observed.into(),
        }
    }

    /// Unverified, with why no check was possible.
    pub fn unverified(why: impl Into<String>) -> Self {
        Self::Unverified { why: why.into() }
    }

    /// Ineffective, with what was observed instead.
    pub fn ineffective(observed: impl Into<String>) -> Self {
        Self::Ineffective {
            observed: observed.into(),
        }
    }

    /// `verified`, `unverified` or `ineffective`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Verified { .. } => "verified",
            Self::Unverified { .. } => "unverified",
            Self::Ineffective { .. } => "ineffective",
        }
    }

    /// Whether the check showed the fault not in force.
    pub fn is_ineffective(&self) -> bool {
        matches!(self, Self::Ineffective { .. })
    }

    /// What was observed, or why nothing could be.
    pub fn detail(&self) -> &str {
        match self {
            Self::Verified { observed } | Self::Ineffective { observed } => observed,
            Self::Unverified { why } => why,
        }
    }

    /// The effects of several targets as one: ineffective when any is (a fault that missed
    /// part of its targets did not do what it said), verified when all are, unverified
    /// otherwise. The details are joined in order.
    pub fn all(effects: impl IntoIterator<Item = Effect>) -> Effect {
        let effects: Vec<Effect> = effects.into_iter().collect();
        if effects.is_empty() {
            return Effect::unverified("no target to check");
        }
        let join = |status: &str| {
            effects
                .iter()
                .filter(|e| e.status() == status)
                .map(Effect::detail)
                .collect::<Vec<_>>()
                .join("; ")
        };
        if effects.iter().any(Effect::is_ineffective) {
            Effect::ineffective(join("ineffective"))
        } else if effects.iter().all(|e| matches!(e, Effect::Verified { .. })) {
            Effect::verified(join("verified"))
        } else {
            Effect::unverified(join("unverified"))
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_targets_make_one_effect() {
        let v = |s: &str| Effect::verified(s);
        assert_eq!(
            Effect::all([v("a"), v("b")]),
            Effect::verified("a; b"),
            "all verified"
        );
        assert_eq!(
            Effect::all([v("a"), Effect::ineffective("b gone"), v("c")]),
            Effect::ineffective("b gone"),
            "one miss makes it ineffective"
        );
        assert_eq!(
            Effect::all([v("a"), Effect::unverified("no /proc")]),
            Effect::unverified("no /proc")
        );
        assert_eq!(Effect::all([]), Effect::unverified("no target to check"));
        let json = serde_json::to_value(Effect::ineffective("x")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "ineffective", "observed": "x"})
        );
        assert_eq!(Effect::unverified("why").to_string(), "unverified: why");
    }
}
