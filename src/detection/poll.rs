//! Polling detection signals: a firing alert seen in Alertmanager's API v2 or in
//! Prometheus' `ALERTS` series.
//!
//! A poller reports an alert when it starts firing: present in one poll's answer and absent
//! from the previous successful one. The first poll reports whatever is already firing; the
//! engine ignores what arrives before the injection, so an alert that fired before the
//! fault and never stopped does not count as its detection. A failed poll changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::platform::prometheus::{ApiClient, ApiError, alerts_selector};

/// Where a polling signal looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `GET /api/v2/alerts?active=true&filter=...` on Alertmanager.
    Alertmanager,
    /// `ALERTS{alertstate="firing",...}` through Prometheus' `/api/v1/query`.
    Prometheus,
}

/// An alert a poller saw start firing.
#[derive(Clone, Debug, PartialEq)]
pub struct PolledAlert {
    /// The signal's name.
    pub signal: String,
    /// When the answer that showed it arrived.
    pub at: Instant,
    /// The alert's labels (for `ALERTS`, without `__name__` and `alertstate`).
    pub labels: BTreeMap<String, String>,
}

/// Remembers which alerts were firing at the last successful poll.
#[derive(Debug, Default)]
pub struct Transitions {
    firing: BTreeSet<BTreeMap<String, String>>,
}

impl Transitions {
    /// Takes a poll's firing alerts; returns those that were not firing at the last one.
    pub fn update(&mut self, now: Vec<BTreeMap<String, String>>) -> Vec<BTreeMap<String, String>> {
        let now: BTreeSet<_> = now.into_iter().collect();
        let started = now.difference(&self.firing).cloned().collect();
        self.firing = now;
        started
    }
}

/// One signal's poller.
#[derive(Debug)]
pub struct Poller {
    name: String,
    source: Source,
    client: ApiClient,
    matchers: BTreeMap<String, String>,
    interval: Duration,
}

impl Poller {
    /// A poller of the server at `url` (placeholders already expanded).
    pub fn new(
        name: &str,
        source: Source,
        url: &str,
        matchers: BTreeMap<String, String>,
        interval: Duration,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            name: name.to_owned(),
            source,
            client: ApiClient::new(url)?,
            matchers,
            interval,
        })
    }

    /// The firing alerts matching the signal, now.
    pub async fn firing(&self) -> Result<Vec<BTreeMap<String, String>>, ApiError> {
        // A poll may take up to a second even on a short interval: a slow answer is late,
        // not absent.
        let timeout = self.interval.max(Duration::from_secs(1));
        match self.source {
            Source::Alertmanager => {
                self.client
                    .alertmanager_alerts(&self.matchers, timeout)
                    .await
            }
            Source::Prometheus => {
                let samples = self
                    .client
                    .query(&alerts_selector(&self.matchers), timeout)
                    .await?;
                Ok(samples
                    .into_iter()
                    .map(|mut s| {
                        s.labels.remove("__name__");
                        s.labels.remove("alertstate");
                        s.labels
                    })
                    .collect())
            }
        }
    }

    /// Polls every interval until `stop`, sending each alert that starts firing.
    pub async fn run(self, tx: mpsc::UnboundedSender<PolledAlert>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut transitions = Transitions::default();
        let mut failing = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let polled = tokio::select! {
                () = stop.cancelled() => return,
                polled = self.firing() => polled,
            };
            let at = Instant::now();
            match polled {
                Ok(alerts) => {
                    if failing {
                        tracing::info!(signal = %self.name, "alert poll answers again");
                        failing = false;
                    }
                    for labels in transitions.update(alerts) {
                        let alert = PolledAlert {
                            signal: self.name.clone(),
                            at,
                            labels,
                        };
                        if tx.send(alert).is_err() {
                            return;
                        }
                    }
                }
                Err(error) => {
                    // One warning per outage, not one per poll.
                    if !failing {
                        tracing::warn!(signal = %self.name, error = %error, "alert poll failed; polling on");
                        failing = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::{RawQuery, State};
    use axum::routing::get;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn transitions_report_only_alerts_that_start_firing() {
        let mut t = Transitions::default();
        let a = labels(&[("alertname", "A")]);
        let b = labels(&[("alertname", "B")]);
        assert_eq!(t.update(vec![a.clone()]), std::slice::from_ref(&a));
        assert!(t.update(vec![a.clone()]).is_empty(), "still firing");
        assert_eq!(
            t.update(vec![a.clone(), b.clone()]),
            std::slice::from_ref(&b)
        );
        assert!(t.update(vec![]).is_empty());
        assert_eq!(
            t.update(vec![a.clone()]),
            [a],
            "firing again after it stopped"
        );
    }

    /// A fake server that answers each request with the next scripted body and keeps the
    /// query strings it was sent.
    async fn fake(
        path: &'static str,
        bodies: Vec<&'static str>,
    ) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        let queries = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = (
            Arc::new(AtomicUsize::new(0)),
            queries.clone(),
            Arc::new(bodies),
        );
        type S = (
            Arc<AtomicUsize>,
            Arc<std::sync::Mutex<Vec<String>>>,
            Arc<Vec<&'static str>>,
        );
        let app = Router::new()
            .route(
                path,
                get(
                    |State((n, q, bodies)): State<S>, RawQuery(query): RawQuery| async move {
                        q.lock().unwrap().push(query.unwrap_or_default());
                        let i = n.fetch_add(1, Ordering::SeqCst).min(bodies.len() - 1);
                        bodies[i]
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), queries)
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<PolledAlert>) -> PolledAlert {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("no alert within 5s")
            .unwrap()
    }

    #[tokio::test]
    async fn alertmanager_poller_reports_an_alert_when_it_starts_firing() {
        let (url, queries) = fake(
            "/api/v2/alerts",
            vec![
                "[]",
                "not json",
                r#"[{"labels": {"alertname": "HighErrorRate", "job": "web"}, "status": {"state": "active"}}]"#,
            ],
        )
        .await;
        let matchers = labels(&[("alertname", "HighErrorRate")]);
        let poller = Poller::new(
            "pager",
            Source::Alertmanager,
            &url,
            matchers,
            Duration::from_millis(10),
        )
        .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let task = tokio::spawn(poller.run(tx, stop.clone()));
        let alert = next(&mut rx).await;
        assert_eq!(alert.signal, "pager");
        assert_eq!(alert.labels["job"], "web");
        stop.cancel();
        task.await.unwrap();
        assert!(
            rx.try_recv().is_err(),
            "reported once while it keeps firing"
        );
        let first = queries.lock().unwrap()[0].clone();
        assert_eq!(
            first,
            "active=true&silenced=false&inhibited=false&filter=alertname%3D%22HighErrorRate%22"
        );
    }

    #[tokio::test]
    async fn prometheus_poller_queries_alerts_and_drops_its_own_labels() {
        let (url, queries) = fake(
            "/api/v1/query",
            vec![
                r#"{"status":"success","data":{"resultType":"vector","result":[
                  {"metric":{"__name__":"ALERTS","alertname":"HighErrorRate","alertstate":"firing","severity":"page"},"value":[1,"1"]}]}}"#,
            ],
        )
        .await;
        let poller = Poller::new(
            "rule",
            Source::Prometheus,
            &url,
            labels(&[("alertname", "HighErrorRate")]),
            Duration::from_millis(10),
        )
        .unwrap();
        let firing = poller.firing().await.unwrap();
        assert_eq!(
            firing,
            [labels(&[
                ("alertname", "HighErrorRate"),
                ("severity", "page")
            ])]
        );
        let query = queries.lock().unwrap()[0].clone();
        assert_eq!(
            query,
            "query=ALERTS%7Balertstate%3D%22firing%22%2Calertname%3D%22HighErrorRate%22%7D"
        );
    }
}
