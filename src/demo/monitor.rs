//! A small monitoring stack for the demo: it scrapes the demo replicas' `/metrics`, evaluates
//! two alerting rules the way Prometheus would, and posts firing and resolved alerts to a
//! webhook in Alertmanager's version 4 format. In a drill it stands for the organisation's
//! own monitoring: its alerts reach firedrill through the same webhook a real Alertmanager
//! posts to, so detection is timed from an alert the monitored system raised, not from
//! firedrill's own probe.
//!
//! The rules, per target:
//! - `TargetDown`: every scrape failed (no answer within the timeout) for `down_for`.
//! - `HighErrorRate`: over the last `window`, at least `error_ratio` of the target's
//!   `GET /api` requests were answered with a 5xx status (at least [`MIN_REQUESTS`] of them).

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::time::Timestamp;

/// The fewest requests in a window that an error ratio is judged on.
pub const MIN_REQUESTS: f64 = 5.0;

/// What the monitor watches and when its rules fire.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorConfig {
    /// Each target's name (its `instance` label) and its `/metrics` URL.
    pub targets: Vec<(String, Url)>,
    /// Where alerts are posted.
    pub webhook: Url,
    /// Time between scrapes.
    pub interval: Duration,
    /// How long a scrape may take before the target counts as down.
    pub timeout: Duration,
    /// How long a target must stay down before `TargetDown` fires.
    pub down_for: Duration,
    /// The share of failed requests at which `HighErrorRate` fires.
    pub error_ratio: f64,
    /// The span over which the error ratio is computed.
    pub window: Duration,
}

/// A target's `GET /api` counters, as one scrape read them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    /// Requests answered.
    pub requests: f64,
    /// Requests answered with a 5xx status.
    pub errors: f64,
}

/// An alert of one rule on one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// `TargetDown` or `HighErrorRate`.
    pub name: &'static str,
    /// The target's name.
    pub instance: String,
    /// What it means, in words.
    pub summary: String,
    /// When the rule began to fire.
    pub starts_at: Timestamp,
}

/// A change of an alert's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The rule began to fire.
    Firing(Alert),
    /// The rule stopped firing, at the given time.
    Resolved(Alert, Timestamp),
}

#[derive(Debug, Default)]
struct TargetState {
    down_since: Option<Instant>,
    samples: VecDeque<(Instant, Counts)>,
    down: Option<Alert>,
    errors: Option<Alert>,
}

/// The alerting rules over every target's scrapes: pure state, fed one scrape at a time.
#[derive(Debug)]
pub struct Rules {
    down_for: Duration,
    error_ratio: f64,
    window: Duration,
    targets: BTreeMap<String, TargetState>,
}

impl Rules {
    /// Rules with the thresholds of `config`.
    pub fn new(config: &MonitorConfig) -> Self {
        Self {
            down_for: config.down_for,
            error_ratio: config.error_ratio,
            window: config.window,
            targets: BTreeMap::new(),
        }
    }

    /// Takes one scrape of `instance` at `at` (`None` when it failed); returns the alerts
    /// that began or stopped firing.
    pub fn observe(
        &mut self,
        instance: &str,
        at: Instant,
        now: Timestamp,
        scrape: Option<Counts>,
    ) -> Vec<Transition> {
        let state = self.targets.entry(instance.to_owned()).or_default();
        let mut changes = Vec::new();
        let Some(counts) = scrape else {
            let since = *state.down_since.get_or_insert(at);
            if state.down.is_none() && at.saturating_duration_since(since) >= self.down_for {
                let alert = Alert {
                    name: "TargetDown",
                    instance: instance.to_owned(),
                    summary: format!(
                        "{instance} has not answered a scrape for {:?}",
                        self.down_for
                    ),
                    starts_at: now,
                };
                state.down = Some(alert.clone());
                changes.push(Transition::Firing(alert));
            }
            return changes;
        };
        state.down_since = None;
        if let Some(alert) = state.down.take() {
            changes.push(Transition::Resolved(alert, now));
        }
        // A counter that went down means the replica restarted: its history starts again.
        if state
            .samples
            .back()
            .is_some_and(|(_, last)| counts.requests < last.requests || counts.errors < last.errors)
        {
            state.samples.clear();
        }
        state.samples.push_back((at, counts));
        while state
            .samples
            .get(1)
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) >= self.window)
        {
            state.samples.pop_front();
        }
        let (_, first) = state.samples[0];
        let requests = counts.requests - first.requests;
        let errors = counts.errors - first.errors;
        let high = requests >= MIN_REQUESTS && errors / requests >= self.error_ratio;
        match (&state.errors, high) {
            (None, true) => {
                let alert = Alert {
                    name: "HighErrorRate",
                    instance: instance.to_owned(),
                    summary: format!(
                        "{instance} answered {errors} of its last {requests} API requests with an error"
                    ),
                    starts_at: now,
                };
                state.errors = Some(alert.clone());
                changes.push(Transition::Firing(alert));
            }
            (Some(_), false) => {
                if let Some(alert) = state.errors.take() {
                    changes.push(Transition::Resolved(alert, now));
                }
            }
            _ => {}
        }
        changes
    }
}

/// The `GET /api` counters of a demo replica's metrics text; `None` when it has none.
pub fn api_counts(text: &str) -> Option<Counts> {
    let mut requests = None;
    let mut errors = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        if !series.contains("path=\"/api\"") {
            continue;
        }
        if series.starts_with("firedrill_demo_requests_total{") {
            *requests.get_or_insert(0.0) += value;
        } else if series.starts_with("firedrill_demo_errors_total{") {
            errors += value;
        }
    }
    requests.map(|requests| Counts { requests, errors })
}

/// The Alertmanager (version 4) payload that announces `change`.
pub fn payload(change: &Transition) -> Value {
    let (status, alert, ends_at) = match change {
        Transition::Firing(a) => ("firing", a, "0001-01-01T00:00:00Z".to_owned()),
        Transition::Resolved(a, at) => ("resolved", a, at.to_string()),
    };
    let labels = json!({
        "alertname": alert.name,
        "instance": alert.instance,
        "job": "firedrill-demo",
        "severity": "page",
    });
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\"}}", alert.name),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "firedrill-demo-monitor",
        "groupLabels": {"alertname": alert.name},
        "commonLabels": labels,
        "commonAnnotations": {"summary": alert.summary},
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": alert.summary},
            "startsAt": alert.starts_at.to_string(),
            "endsAt": ends_at,
            "generatorURL": "",
            "fingerprint": format!("{:016x}", fingerprint(alert)),
        }],
    })
}

/// A stable id of an alert's labels (FNV-1a), as Alertmanager gives each alert one.
fn fingerprint(alert: &Alert) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in alert.name.bytes().chain([0]).chain(alert.instance.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the monitor's HTTP client")]
pub struct MonitorError(#[source] reqwest::Error);

/// Scrapes every target each interval and posts each change of an alert to the webhook,
/// in order; a post that fails is tried again at the next interval. Each change is also
/// printed as a line (`alert firing: TargetDown web-0`). Ends when `shutdown` completes.
pub async fn run(
    config: MonitorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MonitorError> {
    crate::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(MonitorError)?;
    let mut rules = Rules::new(&config);
    let mut outbox: VecDeque<Transition> = VecDeque::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            _ = ticker.tick() => {}
        }
        let scrapes = futures::future::join_all(
            config
                .targets
                .iter()
                .map(|(_, url)| scrape(&client, url.clone())),
        )
        .await;
        let (at, now) = (Instant::now(), Timestamp::now());
        for ((name, _), counts) in config.targets.iter().zip(scrapes) {
            for change in rules.observe(name, at, now, counts) {
                match &change {
                    Transition::Firing(a) => println!("alert firing: {} {}", a.name, a.instance),
                    Transition::Resolved(a, _) => {
                        println!("alert resolved: {} {}", a.name, a.instance)
                    }
                }
                outbox.push_back(change);
            }
        }
        while let Some(change) = outbox.front() {
            let sent = client
                .post(config.webhook.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload(change).to_string())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if !sent {
                break;
            }
            outbox.pop_front();
        }
    }
}

/// One scrape: the counters, or `None` when the target did not answer in time.
async fn scrape(client: &reqwest::Client, url: Url) -> Option<Counts> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    api_counts(&response.text().await.ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::webhook::{AlertStatus, WebhookServer};

    fn config() -> MonitorConfig {
        MonitorConfig {
            targets: Vec::new(),
            webhook: Url::parse("http://127.0.0.1:9/alerts").unwrap(),
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(100),
            down_for: Duration::from_millis(500),
            error_ratio: 0.2,
            window: Duration::from_secs(2),
        }
    }

    fn stamp() -> Timestamp {
        "2026-12-07T10:00:00.000Z".parse().unwrap()
    }

    fn counts(requests: f64, errors: f64) -> Option<Counts> {
        Some(Counts { requests, errors })
    }

    fn names(changes: &[Transition]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Transition::Firing(a) => format!("firing {}", a.name),
                Transition::Resolved(a, _) => format!("resolved {}", a.name),
            })
            .collect()
    }

    #[test]
    fn a_target_is_down_once_it_has_failed_every_scrape_for_the_time_given() {
        let mut rules = Rules::new(&config());
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(
            rules
                .observe("web-0", ms(0), stamp(), counts(10.0, 0.0))
                .is_empty()
        );
        assert!(rules.observe("web-0", ms(100), stamp(), None).is_empty());
        assert!(rules.observe("web-0", ms(500), stamp(), None).is_empty());
        let fired = rules.observe("web-0", ms(600), stamp(), None);
        assert_eq!(names(&fired), ["firing TargetDown"]);
        assert!(rules.observe("web-0", ms(700), stamp(), None).is_empty());
        let back = rules.observe("web-0", ms(800), stamp(), counts(11.0, 0.0));
        assert_eq!(names(&back), ["resolved TargetDown"]);
        // Another target's state is its own.
        assert!(rules.observe("web-1", ms(800), stamp(), None).is_empty());
    }

    #[test]
    fn the_error_rate_fires_over_the_window_and_resolves_when_it_falls() {
        let mut rules = Rules::new(&config());
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        assert!(
            rules
                .observe("web-0", s(0), stamp(), counts(100.0, 0.0))
                .is_empty()
        );
        // 2 errors of 10: 20%, but fewer requests than the rule judges on would not count.
        assert!(
            rules
                .observe("web-0", s(1), stamp(), counts(104.0, 1.0))
                .is_empty()
        );
        let fired = rules.observe("web-0", s(2), stamp(), counts(110.0, 2.0));
        assert_eq!(names(&fired), ["firing HighErrorRate"]);
        // Still failing over the last two seconds (5 of 16): no change.
        assert!(
            rules
                .observe("web-0", s(3), stamp(), counts(120.0, 6.0))
                .is_empty()
        );
        // The errors stop; once they leave the window (4 of 30) the rule resolves.
        let resolved = rules.observe("web-0", s(4), stamp(), counts(140.0, 6.0));
        assert_eq!(names(&resolved), ["resolved HighErrorRate"]);
    }

    #[test]
    fn a_restarted_replica_starts_its_counters_again_without_a_false_alert() {
        let mut rules = Rules::new(&config());
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        rules.observe("web-0", s(0), stamp(), counts(1000.0, 0.0));
        assert!(
            rules
                .observe("web-0", s(1), stamp(), counts(3.0, 0.0))
                .is_empty()
        );
        assert!(
            rules
                .observe("web-0", s(2), stamp(), counts(20.0, 0.0))
                .is_empty()
        );
    }

    #[test]
    fn api_counters_are_read_from_the_demos_metrics() {
        let text = "\
# HELP firedrill_demo_requests_total Requests answered.
# TYPE firedrill_demo_requests_total counter
firedrill_demo_requests_total{path=\"/api\",code=\"200\"} 40
firedrill_demo_requests_total{path=\"/api\",code=\"502\"} 7
firedrill_demo_requests_total{path=\"/health\",code=\"200\"} 99
firedrill_demo_errors_total{path=\"/api\"} 7
firedrill_demo_errors_total{path=\"/health\"} 1
firedrill_demo_up 1
";
        assert_eq!(api_counts(text), counts(47.0, 7.0));
        assert_eq!(api_counts("firedrill_demo_up 1\n"), None);
    }

    #[tokio::test]
    async fn its_alerts_reach_firedrills_webhook_as_alertmanagers_do() {
        let server = WebhookServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut alerts = server.subscribe();
        let alert = Alert {
            name: "TargetDown",
            instance: "web-0".to_owned(),
            summary: "web-0 has not answered".to_owned(),
            starts_at: stamp(),
        };
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::new();
        for change in [
            Transition::Firing(alert.clone()),
            Transition::Resolved(alert, stamp()),
        ] {
            let answer = client
                .post(server.url())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload(&change).to_string())
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
        }
        let firing = alerts.recv().await.unwrap();
        assert_eq!(firing.status, AlertStatus::Firing);
        assert_eq!(firing.labels["alertname"], "TargetDown");
        assert_eq!(firing.labels["instance"], "web-0");
        assert_eq!(firing.annotations["summary"], "web-0 has not answered");
        assert_eq!(alerts.recv().await.unwrap().status, AlertStatus::Resolved);
    }

    #[tokio::test]
    async fn a_frozen_replica_raises_target_down_through_the_webhook() {
        let server = WebhookServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut alerts = server.subscribe();
        // A target that accepts connections and never answers, as a paused process does.
        let frozen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/metrics", frozen.local_addr().unwrap())).unwrap();
        let mut cfg = config();
        cfg.targets = vec![("web-0".to_owned(), url)];
        cfg.webhook = Url::parse(&server.url()).unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(run(cfg, stop.clone().cancelled_owned()));
        let alert = tokio::time::timeout(Duration::from_secs(10), alerts.recv())
            .await
            .expect("an alert within 10 s")
            .unwrap();
        assert_eq!(alert.labels["alertname"], "TargetDown");
        stop.cancel();
        task.await.unwrap().unwrap();
    }
}
