//! The stop button: a person (or a script) stops a running drill, which then rolls back
//! everything it injected, as an abort does (exit code 3). It is pressed through a secret
//! link of the run's listener (`/stop/TOKEN`, a page with a button, or a POST), or by
//! `firedrill serve` for one of its token holders; who pressed it, when and why are
//! journaled at once.

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use crate::journal::Journal;
use crate::response::{RoleToken, TokenError};
use crate::time::{Clock, Timestamp};

/// The longest name or reason kept, in characters.
const MAX_TEXT: usize = 200;

/// Who stopped the run, how, when and why.
#[derive(Clone, Debug, PartialEq)]
pub struct StopRequest {
    /// Who, as they said (or `someone` when they did not).
    pub by: String,
    /// How: `the run's stop page`, `firedrill serve`.
    pub via: String,
    /// Why, when they said.
    pub reason: Option<String>,
    /// When.
    pub at: Timestamp,
}

impl StopRequest {
    /// The run's reason for stopping, as the result says it.
    pub fn describe(&self) -> String {
        let why = self
            .reason
            .as_deref()
            .map_or(String::new(), |r| format!(": {r}"));
        format!("stopped by {} through {}{why}", self.by, self.via)
    }
}

/// What a press says, as JSON or as the page's form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PressBody {
    /// Who presses.
    #[serde(default)]
    pub by: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why a press was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PressError {
    /// The link's token is not this run's.
    #[error("no such stop link")]
    Unknown,
    /// The run has ended: there is nothing to stop.
    #[error("the run has ended: there is nothing left to stop")]
    Ended,
}

/// One run's stop button.
pub struct StopButton {
    token: RoleToken,
    pressed: watch::Sender<Option<StopRequest>>,
    ended: Mutex<bool>,
    journal: Mutex<Option<(Arc<Journal>, Clock)>>,
}

impl std::fmt::Debug for StopButton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopButton").finish_non_exhaustive()
    }
}

impl StopButton {
    /// A button with a fresh random token.
    pub fn new() -> Result<Self, TokenError> {
        Ok(Self {
            token: RoleToken::generate()?,
            pressed: watch::Sender::new(None),
            ended: Mutex::new(false),
            journal: Mutex::new(None),
        })
    }

    /// Journals presses from now on (the run's journal is made after the button).
    pub fn attach(&self, journal: Arc<Journal>, clock: Clock) {
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some((journal, clock));
    }

    /// The path of the stop page: a secret, never journaled.
    pub fn path(&self) -> String {
        format!("/stop/{}", self.token.expose())
    }

    /// Whether `presented` is this run's token (compared in constant time).
    pub fn is_token(&self, presented: &str) -> bool {
        self.token.matches(presented)
    }

    /// Presses through the stop link: the token must be this run's.
    pub fn press_with(
        &self,
        presented: &str,
        body: PressBody,
        via: &str,
    ) -> Result<StopRequest, PressError> {
        if !self.is_token(presented) {
            return Err(PressError::Unknown);
        }
        self.press(body, via)
    }

    /// Presses for a caller that authenticated otherwise (serve's bearer token). The first
    /// press stands; a later one returns it.
    pub fn press(&self, body: PressBody, via: &str) -> Result<StopRequest, PressError> {
        if *self.ended.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(PressError::Ended);
        }
        if let Some(first) = self.pressed.borrow().clone() {
            return Ok(first);
        }
        let tidy = |s: Option<String>| {
            s.map(|s| s.trim().chars().take(MAX_TEXT).collect::<String>())
                .filter(|s| !s.is_empty())
        };
        let request = StopRequest {
            by: tidy(body.by).unwrap_or_else(|| "someone".to_owned()),
            via: via.to_owned(),
            reason: tidy(body.reason),
            at: Timestamp::now(),
        };
        if let Some((journal, _)) = &*self.journal.lock().unwrap_or_else(|e| e.into_inner()) {
            journal.record(
                "stop-requested",
                json!({"by": request.by, "via": request.via, "reason": request.reason, "at": request.at}),
                true,
            );
        }
        tracing::warn!(by = %request.by, via = %request.via, "stop requested: rolling back");
        self.pressed.send_replace(Some(request.clone()));
        Ok(request)
    }

    /// Resolves once the button is pressed, with who pressed it.
    pub async fn pressed(&self) -> StopRequest {
        let mut rx = self.pressed.subscribe();
        loop {
            if let Some(request) = rx.borrow_and_update().clone() {
                return request;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The run has ended: later presses are refused.
    pub fn end(&self) {
        *self.ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_press_with_the_token_stops_once_and_is_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::create(&dir.path().join("journal.jsonl")).unwrap());
        let button = Arc::new(StopButton::new().unwrap());
        button.attach(journal.clone(), Clock::start());
        let token = button.path().trim_start_matches("/stop/").to_owned();
        assert_eq!(token.len(), crate::response::TOKEN_CHARS);
        let waiting = tokio::spawn({
            let button = button.clone();
            async move { button.pressed().await }
        });
        assert_eq!(
            button.press_with("wrong", PressBody::default(), "the run's stop page"),
            Err(PressError::Unknown)
        );
        let body = PressBody {
            by: Some("  Dana  ".into()),
            reason: Some("customers complain".into()),
        };
        let request = button
            .press_with(&token, body, "the run's stop page")
            .unwrap();
        assert_eq!(request.by, "Dana");
        assert_eq!(
            request.describe(),
            "stopped by Dana through the run's stop page: customers complain"
        );
        assert_eq!(waiting.await.unwrap(), request);
        // The first press stands.
        let again = button
            .press(PressBody::default(), "firedrill serve")
            .unwrap();
        assert_eq!(again, request);
        button.end();
        assert_eq!(
            button.press(PressBody::default(), "firedrill serve"),
            Err(PressError::Ended)
        );
        let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let stops: Vec<_> = records
            .iter()
            .filter(|r| r["kind"] == "stop-requested")
            .collect();
        assert_eq!(stops.len(), 1, "journaled once");
        assert_eq!(stops[0]["data"]["by"], "Dana");
        assert!(!text.contains(&token), "the token is never journaled");
    }
}
