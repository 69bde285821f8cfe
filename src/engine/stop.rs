//! Why a run stops before its end, and the guard that says when: the caller's cancellation
//! (the CLI cancels on SIGINT or SIGTERM) or the run's safety timeout.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::detection::stop::StopButton;

/// Why the run stopped before its end.
#[derive(Debug, PartialEq)]
pub(super) enum Stop {
    Interrupted,
    Aborted(String),
}

impl Stop {
    /// A probe task that ended while the run still listened to it.
    pub(super) fn probe_ended(joined: Result<(), tokio::task::JoinError>) -> Self {
        match joined {
            Err(e) if e.is_panic() => Self::Aborted("a probe task panicked".into()),
            _ => Self::Aborted("a probe task ended unexpectedly".into()),
        }
    }

    /// Why the run is rolling back, as the progress line says it.
    pub(super) fn rollback_reason(stop: Option<&Self>) -> String {
        match stop {
            Some(Self::Interrupted) => "interrupted".to_owned(),
            Some(Self::Aborted(r)) => format!("aborted: {r}"),
            None => "run finished".to_owned(),
        }
    }
}

/// The run's stop conditions, watched by every wait of the run.
pub(super) struct Guard {
    cancel: CancellationToken,
    deadline: Instant,
    button: Option<Arc<StopButton>>,
}

impl Guard {
    /// Stops on `cancel`, or at `deadline` (the run's safety timeout).
    pub(super) fn new(cancel: CancellationToken, deadline: Instant) -> Self {
        Self {
            cancel,
            deadline,
            button: None,
        }
    }

    /// Stops when `button` is pressed too.
    pub(super) fn with_button(mut self, button: Arc<StopButton>) -> Self {
        self.button = Some(button);
        self
    }

    /// The stop button, for the listener to serve.
    pub(super) fn button(&self) -> Option<Arc<StopButton>> {
        self.button.clone()
    }

    /// Resolves when the stop button is pressed; never without one.
    async fn pressed(&self) -> Stop {
        match &self.button {
            Some(b) => Stop::Aborted(b.pressed().await.describe()),
            None => std::future::pending().await,
        }
    }

    /// Resolves when the run is cancelled or stopped by its button (for waits that outlive
    /// the deadline).
    pub(super) async fn halted(&self) -> Stop {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Stop::Interrupted,
            stop = self.pressed() => stop,
        }
    }

    /// The run's safety deadline.
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The cancellation itself, for a wait that takes one.
    pub(super) fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Resolves when the run must stop: a cancellation first, then the safety timeout.
    pub(super) async fn stopped(&self) -> Stop {
        self.stopped_while(|| "the run's safety timeout passed".to_owned())
            .await
    }

    /// As [`Guard::stopped`], with `timeout` saying what the safety timeout cut short.
    pub(super) async fn stopped_while(&self, timeout: impl FnOnce() -> String) -> Stop {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Stop::Interrupted,
            stop = self.pressed() => stop,
            () = tokio::time::sleep_until(self.deadline) => Stop::Aborted(timeout()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_safety_timeout_aborts_the_run() {
        let guard = Guard::new(
            CancellationToken::new(),
            Instant::now() + Duration::from_secs(5),
        );
        let started = Instant::now();
        assert_eq!(
            guard.stopped().await,
            Stop::Aborted("the run's safety timeout passed".into())
        );
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancellation_wins_over_a_deadline_that_has_passed_too() {
        let cancel = CancellationToken::new();
        let guard = Guard::new(cancel.clone(), Instant::now());
        cancel.cancel();
        assert_eq!(guard.stopped().await, Stop::Interrupted);
        assert_eq!(guard.halted().await, Stop::Interrupted);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stop_button_aborts_the_run_saying_who() {
        let button = Arc::new(StopButton::new().unwrap());
        let guard = Guard::new(
            CancellationToken::new(),
            Instant::now() + Duration::from_secs(60),
        )
        .with_button(button.clone());
        let press = crate::detection::stop::PressBody {
            by: Some("Dana".into()),
            reason: None,
        };
        button.press(press, "firedrill serve").unwrap();
        let expected = Stop::Aborted("stopped by Dana through firedrill serve".into());
        assert_eq!(guard.stopped().await, expected);
        assert_eq!(guard.halted().await, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_says_what_it_cut_short() {
        let guard = Guard::new(CancellationToken::new(), Instant::now());
        let stop = guard.stopped_while(|| "cut short".to_owned()).await;
        assert_eq!(stop, Stop::Aborted("cut short".into()));
    }

    #[test]
    fn the_rollback_reason_names_the_stop() {
        assert_eq!(Stop::rollback_reason(None), "run finished");
        assert_eq!(
            Stop::rollback_reason(Some(&Stop::Interrupted)),
            "interrupted"
        );
        assert_eq!(
            Stop::rollback_reason(Some(&Stop::Aborted("why".into()))),
            "aborted: why"
        );
    }
}
