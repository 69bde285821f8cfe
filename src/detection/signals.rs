//! One stream of detection signals, whatever their source: alerts posted to the webhook,
//! alerts a poller saw start firing, and Warning events of the cluster. The engine takes
//! them from here in one place; a probe's failing streak is counted from the observations
//! themselves (engine/iteration.rs), as the probes are the steady state too.

use tokio::sync::{broadcast, mpsc};

use super::kubernetes::WarningEvent;
use super::poll::PolledAlert;
use super::webhook::ReceivedAlert;

/// A detection signal's input, from whichever source it came.
#[derive(Clone, Debug)]
pub enum Signal {
    /// An alert posted to the webhook.
    Alert(ReceivedAlert),
    /// An alert a `prometheus-alert` or `alertmanager-alert` poller saw start firing.
    Polled(PolledAlert),
    /// A Warning event that a `kubernetes-event` signal counts. The watch reports these
    /// with the platform's other events, in order with them; they join the stream there.
    Warning(Box<WarningEvent>),
}

/// The alert sources merged: webhook alerts first, then polled ones, when both are ready.
pub struct SignalStream {
    alerts: Option<broadcast::Receiver<ReceivedAlert>>,
    polled: mpsc::UnboundedReceiver<PolledAlert>,
}

impl SignalStream {
    /// A stream over the webhook's alerts (when the run listens for them), and the sender
    /// that pollers report to.
    pub fn new(
        alerts: Option<broadcast::Receiver<ReceivedAlert>>,
    ) -> (Self, mpsc::UnboundedSender<PolledAlert>) {
        let (tx, polled) = mpsc::unbounded_channel();
        (Self { alerts, polled }, tx)
    }

    /// The next signal; pending for ever once every source has closed. Cancel-safe: a
    /// signal is taken only when this resolves.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            biased;
            Some(alert) = recv_alert(&mut self.alerts) => Signal::Alert(alert),
            Some(alert) = self.polled.recv() => Signal::Polled(alert),
            else => std::future::pending().await,
        }
    }
}

/// The next alert of the webhook; alerts missed by a slow reader are skipped, and a closed
/// webhook is a source that never speaks again.
async fn recv_alert(rx: &mut Option<broadcast::Receiver<ReceivedAlert>>) -> Option<ReceivedAlert> {
    let Some(r) = rx.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match r.recv().await {
            Ok(a) => return Some(a),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                *rx = None;
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use tokio::time::Instant;

    use super::*;
    use crate::detection::webhook::AlertStatus;

    fn alert(name: &str) -> ReceivedAlert {
        ReceivedAlert {
            received_at: Instant::now(),
            received_at_utc: SystemTime::now(),
            status: AlertStatus::Firing,
            labels: BTreeMap::from([("alertname".to_owned(), name.to_owned())]),
            annotations: BTreeMap::new(),
        }
    }

    fn polled(signal: &str) -> PolledAlert {
        PolledAlert {
            signal: signal.to_owned(),
            at: Instant::now(),
            labels: BTreeMap::new(),
        }
    }

    async fn next_within(stream: &mut SignalStream) -> Option<Signal> {
        tokio::time::timeout(Duration::from_millis(50), stream.next())
            .await
            .ok()
    }

    #[tokio::test]
    async fn webhook_alerts_come_before_polled_ones_when_both_are_ready() {
        let (webhook, rx) = broadcast::channel(8);
        let (mut stream, tx) = SignalStream::new(Some(rx));
        tx.send(polled("poller")).unwrap();
        webhook.send(alert("HighErrorRate")).unwrap();
        assert!(matches!(
            next_within(&mut stream).await,
            Some(Signal::Alert(a)) if a.labels["alertname"] == "HighErrorRate"
        ));
        assert!(matches!(
            next_within(&mut stream).await,
            Some(Signal::Polled(p)) if p.signal == "poller"
        ));
        assert!(next_within(&mut stream).await.is_none());
    }

    #[tokio::test]
    async fn alerts_missed_by_a_slow_reader_are_skipped_not_fatal() {
        let (webhook, rx) = broadcast::channel(1);
        let (mut stream, _tx) = SignalStream::new(Some(rx));
        webhook.send(alert("first")).unwrap();
        webhook.send(alert("second")).unwrap();
        assert!(matches!(
            next_within(&mut stream).await,
            Some(Signal::Alert(a)) if a.labels["alertname"] == "second"
        ));
    }

    #[tokio::test]
    async fn closed_sources_fall_silent_while_the_others_still_speak() {
        let (webhook, rx) = broadcast::channel(8);
        let (mut stream, tx) = SignalStream::new(Some(rx));
        drop(webhook);
        assert!(next_within(&mut stream).await.is_none());
        tx.send(polled("poller")).unwrap();
        assert!(matches!(
            next_within(&mut stream).await,
            Some(Signal::Polled(_))
        ));
        drop(tx);
        assert!(next_within(&mut stream).await.is_none());
    }

    #[tokio::test]
    async fn a_run_without_a_webhook_still_hears_its_pollers() {
        let (mut stream, tx) = SignalStream::new(None);
        tx.send(polled("poller")).unwrap();
        assert!(matches!(
            next_within(&mut stream).await,
            Some(Signal::Polled(_))
        ));
    }
}
