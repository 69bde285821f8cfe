//! Acknowledgements of the incident by the roles an experiment names: who said "I am on
//! it", when, and how long after awareness (the run's first detection).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::journal::Journal;
use crate::result::{AcknowledgementResult, CoordinationResult};
use crate::time::{Clock, ms};

/// The largest acknowledgement body accepted: a name and a short note.
pub const MAX_ACK_BODY_BYTES: usize = 4096;

/// The optional body of `POST /acknowledge/{role}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Who acknowledges, as they say.
    #[serde(default)]
    pub by: Option<String>,
    /// What they add.
    #[serde(default)]
    pub note: Option<String>,
}

impl AckRequest {
    /// Reads a body: empty (or only white space) is an acknowledgement without detail.
    pub fn parse(body: &[u8]) -> Result<Self, AckBodyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(AckBodyError::NotJson)?;
        if !value.is_object() {
            return Err(AckBodyError::NotAnObject);
        }
        serde_json::from_value(value).map_err(AckBodyError::Invalid)
    }
}

/// Why an acknowledgement's body was refused; the sender's to fix.
#[derive(Debug, thiserror::Error)]
pub enum AckBodyError {
    /// The body does not parse as JSON.
    #[error("body is not json: {0}")]
    NotJson(serde_json::Error),
    /// The body is JSON but not an object.
    #[error("body must be a json object such as {{\"by\": \"alice\", \"note\": \"on it\"}}")]
    NotAnObject,
    /// The object has a field of the wrong type, or an unknown one.
    #[error("invalid acknowledgement: {0}")]
    Invalid(serde_json::Error),
}

/// One role's acknowledgement.
#[derive(Clone, Debug, PartialEq)]
pub struct Acknowledgement {
    /// The role.
    pub role: String,
    /// When the request arrived, on the monotonic clock.
    pub at: Instant,
    /// The same, in UTC on the run's clock.
    pub acknowledged_at: crate::time::Timestamp,
    /// From awareness to the acknowledgement.
    pub time_to_acknowledge: Duration,
    /// Who acknowledged, as they said.
    pub by: Option<String>,
    /// What they added.
    pub note: Option<String>,
    /// The `acknowledged` journal record.
    pub journal_seq: u64,
}

/// What an acknowledgement request did.
#[derive(Clone, Debug, PartialEq)]
pub enum AckOutcome {
    /// The role's first acknowledgement, now recorded.
    First(Acknowledgement),
    /// The role had acknowledged already; the first acknowledgement stands.
    Repeat(Acknowledgement),
}

/// Why an acknowledgement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The experiment names no such role.
    #[error("unknown role `{role}`; the roles are {known}")]
    UnknownRole {
        /// The role asked for.
        role: String,
        /// The roles there are, comma-separated.
        known: String,
    },
    /// Nothing has been detected yet.
    #[error("nothing to acknowledge yet: no detection so far")]
    NothingYet,
}

/// The roles, the awareness and the acknowledgements so far. Shared by the webhook, which
/// records acknowledgements, and the engine, which sets awareness and waits.
#[derive(Debug)]
pub struct Acknowledgements {
    roles: Vec<String>,
    journal: Arc<Journal>,
    clock: Clock,
    state: Mutex<State>,
    changed: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct State {
    awareness: Option<Instant>,
    acks: BTreeMap<String, Acknowledgement>,
}

impl Acknowledgements {
    /// Roles that must acknowledge; acknowledgements are journaled into `journal`.
    pub fn new(roles: Vec<String>, journal: Arc<Journal>, clock: Clock) -> Self {
        Self {
            roles,
            journal,
            clock,
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The roles, as named in the experiment.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Sets awareness, unless it is set already; returns whether it was set now.
    pub fn set_awareness(&self, at: Instant) -> bool {
        let mut state = self.lock();
        if state.awareness.is_some() {
            return false;
        }
        state.awareness = Some(at);
        true
    }

    /// Awareness, once something was detected.
    pub fn awareness(&self) -> Option<Instant> {
        self.lock().awareness
    }

    /// Records `role`'s acknowledgement that arrived `at`, and journals it; a repeat keeps
    /// the first.
    pub fn acknowledge(
        &self,
        role: &str,
        at: Instant,
        request: AckRequest,
    ) -> Result<AckOutcome, AckError> {
        if !self.roles.iter().any(|r| r == role) {
            return Err(AckError::UnknownRole {
                role: role.to_owned(),
                known: self.roles.join(", "),
            });
        }
        let mut state = self.lock();
        let awareness = state.awareness.ok_or(AckError::NothingYet)?;
        if let Some(first) = state.acks.get(role) {
            return Ok(AckOutcome::Repeat(first.clone()));
        }
        let time_to_acknowledge = at.saturating_duration_since(awareness);
        let acknowledged_at = self.clock.at(at);
        let (journal_seq, _) = self.journal.record_with_seq(
            "acknowledged",
            json!({
                "role": role,
                "by": request.by,
                "note": request.note,
                "at": acknowledged_at,
                "timeToAcknowledgeMs": ms(time_to_acknowledge),
            }),
            false,
        );
        let ack = Acknowledgement {
            role: role.to_owned(),
            at,
            acknowledged_at,
            time_to_acknowledge,
            by: request.by,
            note: request.note,
            journal_seq,
        };
        state.acks.insert(role.to_owned(), ack.clone());
        let count = state.acks.len();
        drop(state);
        self.changed.send_replace(count);
        Ok(AckOutcome::First(ack))
    }

    /// The roles that have not acknowledged, in the experiment's order.
    pub fn missing(&self) -> Vec<String> {
        let state = self.lock();
        self.roles
            .iter()
            .filter(|r| !state.acks.contains_key(*r))
            .cloned()
            .collect()
    }

    /// The acknowledgement of `role`, if it came.
    pub fn get(&self, role: &str) -> Option<Acknowledgement> {
        self.lock().acks.get(role).cloned()
    }

    /// A receiver that changes with every first acknowledgement (the count so far).
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.changed.subscribe()
    }

    /// The result: one entry per role, in the experiment's order; `timeout` is the wait
    /// after awareness.
    pub fn result(&self, timeout: Duration) -> CoordinationResult {
        let state = self.lock();
        CoordinationResult {
            awareness_at: state.awareness.map(|t| self.clock.at(t)),
            timeout_ms: ms(timeout),
            acknowledgements: self
                .roles
                .iter()
                .map(|role| match state.acks.get(role) {
                    Some(a) => AcknowledgementResult {
                        role: role.clone(),
                        acknowledged_at: Some(a.acknowledged_at),
                        time_to_acknowledge_ms: Some(ms(a.time_to_acknowledge)),
                        by: a.by.clone(),
                        note: a.note.clone(),
                        journal_seq: Some(a.journal_seq),
                    },
                    None => AcknowledgementResult {
                        role: role.clone(),
                        acknowledged_at: None,
                        time_to_acknowledge_ms: None,
                        by: None,
                        note: None,
                        journal_seq: None,
                    },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acks() -> Acknowledgements {
        Acknowledgements::new(
            vec!["incident-commander".into(), "legal".into()],
            Arc::new(Journal::discard()),
            Clock::start(),
        )
    }

    #[test]
    fn nothing_to_acknowledge_before_awareness() {
        let a = acks();
        let err = a
            .acknowledge("legal", Instant::now(), AckRequest::default())
            .unwrap_err();
        assert_eq!(err, AckError::NothingYet);
        assert_eq!(a.missing(), ["incident-commander", "legal"]);
    }

    #[test]
    fn unknown_roles_are_refused_naming_the_known_ones() {
        let a = acks();
        a.set_awareness(Instant::now());
        let err = a
            .acknowledge("ceo", Instant::now(), AckRequest::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown role `ceo`; the roles are incident-commander, legal"
        );
    }

    #[test]
    fn time_to_acknowledge_runs_from_awareness_and_the_first_stands() {
        let a = acks();
        let mut rx = a.subscribe();
        let t0 = Instant::now();
        assert!(a.set_awareness(t0));
        assert!(!a.set_awareness(t0 + Duration::from_secs(1)), "set once");
        let request = AckRequest {
            by: Some("alice".into()),
            note: None,
        };
        let AckOutcome::First(first) = a
            .acknowledge("legal", t0 + Duration::from_millis(1500), request)
            .unwrap()
        else {
            panic!("not first")
        };
        assert_eq!(first.time_to_acknowledge, Duration::from_millis(1500));
        assert_eq!(first.journal_seq, 1);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 1);
        let again = a
            .acknowledge("legal", t0 + Duration::from_secs(9), AckRequest::default())
            .unwrap();
        assert_eq!(again, AckOutcome::Repeat(first.clone()));
        assert!(!rx.has_changed().unwrap(), "a repeat changes nothing");
        assert_eq!(a.missing(), ["incident-commander"]);

        let result = a.result(Duration::from_secs(60));
        assert_eq!(result.timeout_ms, 60_000.0);
        assert_eq!(result.acknowledgements[0].role, "incident-commander");
        assert_eq!(result.acknowledgements[0].acknowledged_at, None);
        assert_eq!(
            result.acknowledgements[1].time_to_acknowledge_ms,
            Some(1500.0)
        );
        assert_eq!(result.acknowledgements[1].by.as_deref(), Some("alice"));
        assert_eq!(result.acknowledgements[1].journal_seq, Some(1));
    }

    #[test]
    fn bodies_are_optional_and_closed() {
        assert_eq!(AckRequest::parse(b"").unwrap(), AckRequest::default());
        assert_eq!(AckRequest::parse(b" \n").unwrap(), AckRequest::default());
        assert_eq!(
            AckRequest::parse(br#"{"by": "alice", "note": "on it"}"#).unwrap(),
            AckRequest {
                by: Some("alice".into()),
                note: Some("on it".into())
            }
        );
        let e = AckRequest::parse(br#"{"by": 1}"#).unwrap_err().to_string();
        assert!(e.starts_with("invalid acknowledgement: "), "{e}");
        let e = AckRequest::parse(br#"{"who": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `who`"), "{e}");
        let e = AckRequest::parse(b"[1]").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"body must be a json object such as {"by": "alice", "note": "on it"}"#
        );
        let e = AckRequest::parse(b"{").unwrap_err().to_string();
        assert!(e.starts_with("body is not json: "), "{e}");
    }
}
