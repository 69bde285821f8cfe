//! What the iterations listen to, as one stream: the probes' observations, the platform's
//! events, the detection signals (detection/signals.rs), and the end of a probe task.

use std::future::Future;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use super::stop::Stop;
use crate::detection::poll::PolledAlert;
use crate::detection::signals::{Signal, SignalStream};
use crate::detection::webhook::ReceivedAlert;
use crate::platform::PlatformEvent;
use crate::probe::Observation;

/// One input of an iteration.
#[derive(Debug)]
pub(super) enum Input {
    /// A probe's observation.
    Observation(Observation),
    /// A replica or pod changed; Warning events come as [`Input::Signal`] instead.
    Platform(PlatformEvent),
    /// A detection signal's input.
    Signal(Signal),
    /// A probe task ended, which it must not while the run listens.
    ProbeEnded(Stop),
}

/// The channels the iterations listen on, and the probe tasks that feed them.
pub(super) struct Inputs {
    observations: mpsc::Receiver<Observation>,
    platform: mpsc::UnboundedReceiver<PlatformEvent>,
    signals: SignalStream,
    probe_tasks: JoinSet<()>,
}

impl Inputs {
    /// Inputs over these channels and the webhook's alerts; the sender is for the pollers.
    pub(super) fn new(
        observations: mpsc::Receiver<Observation>,
        platform: mpsc::UnboundedReceiver<PlatformEvent>,
        alerts: Option<broadcast::Receiver<ReceivedAlert>>,
    ) -> (Self, mpsc::UnboundedSender<PolledAlert>) {
        let (signals, polled) = SignalStream::new(alerts);
        let inputs = Self {
            observations,
            platform,
            signals,
            probe_tasks: JoinSet::new(),
        };
        (inputs, polled)
    }

    /// Starts a probe task, watched from now on.
    pub(super) fn spawn_probe(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.probe_tasks.spawn(task);
    }

    /// The platform's events so far, taken without waiting (those of the start-up).
    pub(super) fn platform_events_so_far(&mut self) -> Vec<PlatformEvent> {
        std::iter::from_fn(|| self.platform.try_recv().ok()).collect()
    }

    /// The next input, in this order when several are ready: a probe task's end (only when
    /// `watch_probes`), an observation, a platform event, a signal. Cancel-safe.
    pub(super) async fn next(&mut self, watch_probes: bool) -> Input {
        tokio::select! {
            biased;
            Some(joined) = self.probe_tasks.join_next(), if watch_probes => {
                Input::ProbeEnded(Stop::probe_ended(joined))
            }
            Some(obs) = self.observations.recv() => Input::Observation(obs),
            Some(ev) = self.platform.recv() => match ev {
                PlatformEvent::KubernetesWarning(e) => Input::Signal(Signal::Warning(e)),
                ev => Input::Platform(ev),
            },
            signal = self.signals.next() => Input::Signal(signal),
        }
    }

    /// Stops taking observations and waits for every probe task to end: a probe thread
    /// ends at its next tick, or when it finds nobody listening.
    pub(super) async fn close(&mut self) {
        self.observations.close();
        while self.probe_tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::detection::kubernetes::WarningEvent;
    use crate::probe::Outcome;

    fn observation() -> Observation {
        Observation {
            probe: 0,
            started: Instant::now(),
            finished: Instant::now(),
            outcome: Outcome::pass(),
        }
    }

    async fn next_within(inputs: &mut Inputs, watch_probes: bool) -> Option<Input> {
        tokio::time::timeout(Duration::from_millis(50), inputs.next(watch_probes))
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_warning_event_joins_the_signals_and_other_events_stay_platform_events() {
        let (_obs_tx, obs_rx) = mpsc::channel(4);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (mut inputs, _polled) = Inputs::new(obs_rx, events_rx, None);
        let warning = WarningEvent {
            signal: "backoff".into(),
            object: "Pod shop/web-0".into(),
            reason: "BackOff".into(),
            message: "restarting".into(),
            event_time: None,
            observed_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            time_to_detect_ms: None,
            server_time_to_detect_ms: None,
            observed: None,
        };
        events_tx
            .send(PlatformEvent::KubernetesWarning(Box::new(warning)))
            .unwrap();
        events_tx
            .send(PlatformEvent::ReplicaReady {
                replica: "web/0".into(),
            })
            .unwrap();
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::Signal(Signal::Warning(w))) if w.reason == "BackOff"
        ));
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::Platform(PlatformEvent::ReplicaReady { .. }))
        ));
    }

    #[tokio::test]
    async fn observations_come_before_events_and_signals() {
        let (obs_tx, obs_rx) = mpsc::channel(4);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (mut inputs, polled) = Inputs::new(obs_rx, events_rx, None);
        polled
            .send(PolledAlert {
                signal: "poller".into(),
                at: Instant::now(),
                labels: Default::default(),
            })
            .unwrap();
        events_tx
            .send(PlatformEvent::ReplicaUnready {
                replica: "web/0".into(),
            })
            .unwrap();
        obs_tx.send(observation()).await.unwrap();
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::Observation(_))
        ));
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::Platform(_))
        ));
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::Signal(Signal::Polled(_)))
        ));
        assert!(next_within(&mut inputs, true).await.is_none());
    }

    #[tokio::test]
    async fn a_probe_task_that_ends_stops_the_run_only_when_watched() {
        let (_obs_tx, obs_rx) = mpsc::channel(4);
        let (_events_tx, events_rx) = mpsc::unbounded_channel();
        let (mut inputs, _polled) = Inputs::new(obs_rx, events_rx, None);
        inputs.spawn_probe(async {});
        tokio::task::yield_now().await;
        assert!(next_within(&mut inputs, false).await.is_none());
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::ProbeEnded(Stop::Aborted(r))) if r == "a probe task ended unexpectedly"
        ));
        inputs.spawn_probe(async { panic!("a probe broke") });
        assert!(matches!(
            next_within(&mut inputs, true).await,
            Some(Input::ProbeEnded(Stop::Aborted(r))) if r == "a probe task panicked"
        ));
    }

    #[tokio::test]
    async fn closing_waits_for_the_probe_tasks() {
        let (obs_tx, obs_rx) = mpsc::channel(4);
        let (_events_tx, events_rx) = mpsc::unbounded_channel();
        let (mut inputs, _polled) = Inputs::new(obs_rx, events_rx, None);
        // A probe that sends until nobody listens, as the probe threads do.
        inputs.spawn_probe(async move {
            while obs_tx.send(observation()).await.is_ok() {
                tokio::task::yield_now().await;
            }
        });
        tokio::time::timeout(Duration::from_secs(5), inputs.close())
            .await
            .expect("the probe task ends once nobody listens");
    }
}
