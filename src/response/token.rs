//! Per-role tokens: the secret in each person's link. Random from the operating system,
//! one per role and per run, compared in constant time, never printed, and refused once
//! the run has ended.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Random bytes in a token: 256 bits, twice the 128 a guess must beat.
pub const TOKEN_BYTES: usize = 32;
/// Characters in a token's text: unpadded URL-safe base64 of `TOKEN_BYTES`.
pub const TOKEN_CHARS: usize = 43;

/// Why a token could not be issued or was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The operating system gave no random bytes.
    #[error("cannot read random bytes from the operating system: {0}")]
    Entropy(getrandom::Error),
    /// A role's name is empty or only white space.
    #[error("a role needs a name")]
    EmptyRole,
    /// Two roles of one run share a name.
    #[error("the role `{0}` is named twice")]
    DuplicateRole(String),
    /// The run has ended: its tokens are revoked.
    #[error("this link has expired: the drill's run has ended")]
    Revoked,
    /// The token presented is not the one issued (or names no role of the run).
    #[error("this link is not valid for this drill")]
    Refused,
}

impl TokenError {
    /// Whether the request was at fault (a wrong or expired link), rather than the host.
    pub fn is_user_input(&self) -> bool {
        !matches!(self, Self::Entropy(_))
    }
}

/// One role's secret token. Its `Debug` and `Display` print `[redacted]`; only
/// [`RoleToken::expose`] gives the text, to build the role's link.
#[derive(Clone)]
pub struct RoleToken(String);

impl RoleToken {
    /// A fresh token of `TOKEN_BYTES` random bytes from the operating system.
    pub fn generate() -> Result<Self, TokenError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(TokenError::Entropy)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The secret text, for the role's link only: never log it or write it to a report.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for RoleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoleToken([redacted])")
    }
}

impl fmt::Display for RoleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether two byte strings are equal, looking at every byte whatever the first difference.
/// Only the length may show in the time taken, and a token's length is public.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the compiler from turning the fold into an early exit.
    std::hint::black_box(difference) == 0
}

/// The tokens of one run: one per role, all refused once the run has ended.
pub struct RoleTokens {
    tokens: BTreeMap<String, RoleToken>,
    revoked: AtomicBool,
}

impl RoleTokens {
    /// A fresh token for each role; role names are trimmed and must be distinct.
    pub fn issue<'a>(roles: impl IntoIterator<Item = &'a str>) -> Result<Self, TokenError> {
        let mut tokens = BTreeMap::new();
        for role in roles {
            let role = role.trim();
            if role.is_empty() {
                return Err(TokenError::EmptyRole);
            }
            if tokens.contains_key(role) {
                return Err(TokenError::DuplicateRole(role.to_owned()));
            }
            tokens.insert(role.to_owned(), RoleToken::generate()?);
        }
        Ok(Self {
            tokens,
            revoked: AtomicBool::new(false),
        })
    }

    /// The token of a role, to build its link.
    pub fn token(&self, role: &str) -> Option<&RoleToken> {
        self.tokens.get(role)
    }

    /// The roles, in name order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.tokens.keys().map(String::as_str)
    }

    /// Accepts `presented` for `role` while the run lasts.
    pub fn check(&self, role: &str, presented: &str) -> Result<(), TokenError> {
        if self.is_revoked() {
            return Err(TokenError::Revoked);
        }
        match self.tokens.get(role) {
            Some(token) if token.matches(presented) => Ok(()),
            Some(_) => Err(TokenError::Refused),
            None => {
                // The same work as for a known role, so that time does not tell which exist.
                let stand_in = [b'A'; TOKEN_CHARS];
                std::hint::black_box(constant_time_eq(&stand_in, presented.as_bytes()));
                Err(TokenError::Refused)
            }
        }
    }

    /// The role whose token `presented` is, while the run lasts. Every token is compared,
    /// so the time taken does not tell which role came closest.
    pub fn authenticate(&self, presented: &str) -> Result<&str, TokenError> {
        if self.is_revoked() {
            return Err(TokenError::Revoked);
        }
        let mut found = None;
        for (role, token) in &self.tokens {
            if token.matches(presented) {
                found = Some(role.as_str());
            }
        }
        found.ok_or(TokenError::Refused)
    }

    /// Ends the run's tokens: every later check is refused. Safe to call twice.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }

    /// Whether the tokens are revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for RoleTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleTokens")
            .field("roles", &self.tokens.keys().collect::<Vec<_>>())
            .field("revoked", &self.is_revoked())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn tokens_are_unique_over_many() {
        let mut seen = BTreeSet::new();
        for _ in 0..10_000 {
            let token = RoleToken::generate().unwrap();
            assert!(seen.insert(token.expose().to_owned()), "a token repeated");
        }
    }

    #[test]
    fn tokens_are_url_safe_text_of_the_stated_length() {
        for _ in 0..100 {
            let token = RoleToken::generate().unwrap();
            let text = token.expose();
            assert_eq!(text.len(), TOKEN_CHARS);
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{text}"
            );
            assert_eq!(URL_SAFE_NO_PAD.decode(text).unwrap().len(), TOKEN_BYTES);
        }
    }

    #[test]
    fn the_bytes_are_not_all_alike() {
        // A broken source (zeros, or a constant pattern) fails this: over 25,600 random
        // bits, the share set lies within 0.45-0.55 but for odds far below one in a billion.
        let mut ones = 0u32;
        for _ in 0..100 {
            let bytes = URL_SAFE_NO_PAD
                .decode(RoleToken::generate().unwrap().expose())
                .unwrap();
            ones += bytes.iter().map(|b| b.count_ones()).sum::<u32>();
        }
        let total = 100 * TOKEN_BYTES as u32 * 8;
        let share = f64::from(ones) / f64::from(total);
        assert!((0.45..0.55).contains(&share), "{share}");
    }

    #[test]
    fn constant_time_compare_is_correct() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        let token = RoleToken::generate().unwrap();
        let copy = token.expose().to_owned();
        assert!(token.matches(&copy), "a copy in other memory matches");
        let mut other = token.expose().to_owned();
        let last = if other.ends_with('A') { "B" } else { "A" };
        other.replace_range(TOKEN_CHARS - 1.., last);
        assert!(!token.matches(&other));
        assert!(!token.matches(""));
    }

    #[test]
    fn debug_and_display_never_print_the_secret() {
        let tokens = RoleTokens::issue(["legal", "incident-commander"]).unwrap();
        let token = tokens.token("legal").unwrap();
        let secret = token.expose();
        for printed in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{tokens:?}"),
            format!("{:?}", tokens.token("incident-commander")),
        ] {
            assert!(!printed.contains(secret), "{printed}");
            assert!(
                !printed.contains(&secret[..8]),
                "not even a prefix: {printed}"
            );
        }
        assert_eq!(format!("{token}"), "[redacted]");
        assert!(format!("{tokens:?}").contains("legal"));
    }

    #[test]
    fn each_role_has_its_own_token_and_only_it_is_accepted() {
        let tokens = RoleTokens::issue(["legal", "communications"]).unwrap();
        let legal = tokens.token("legal").unwrap().expose().to_owned();
        let comms = tokens.token("communications").unwrap().expose().to_owned();
        assert_ne!(legal, comms);
        assert!(tokens.check("legal", &legal).is_ok());
        assert!(matches!(
            tokens.check("legal", &comms),
            Err(TokenError::Refused)
        ));
        assert!(matches!(
            tokens.check("nobody", &legal),
            Err(TokenError::Refused)
        ));
        assert_eq!(tokens.authenticate(&comms).unwrap(), "communications");
        assert!(matches!(
            tokens.authenticate("guess"),
            Err(TokenError::Refused)
        ));
        let again = RoleTokens::issue(["legal"]).unwrap();
        assert!(
            again.check("legal", &legal).is_err(),
            "another run's token for the same role is refused"
        );
    }

    #[test]
    fn tokens_are_refused_after_the_run_ends() {
        let tokens = RoleTokens::issue(["legal"]).unwrap();
        let legal = tokens.token("legal").unwrap().expose().to_owned();
        tokens.revoke();
        tokens.revoke();
        assert!(tokens.is_revoked());
        assert!(matches!(
            tokens.check("legal", &legal),
            Err(TokenError::Revoked)
        ));
        assert!(matches!(
            tokens.authenticate(&legal),
            Err(TokenError::Revoked)
        ));
    }

    #[test]
    fn role_names_must_be_present_and_distinct() {
        assert!(matches!(
            RoleTokens::issue(["legal", " legal "]),
            Err(TokenError::DuplicateRole(r)) if r == "legal"
        ));
        assert!(matches!(
            RoleTokens::issue(["  "]),
            Err(TokenError::EmptyRole)
        ));
        let tokens = RoleTokens::issue(["b", "a"]).unwrap();
        assert_eq!(tokens.roles().collect::<Vec<_>>(), ["a", "b"]);
    }
}
