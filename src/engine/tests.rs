//! The engine with stand-in security drills: local processes and a real webhook, no cluster.
//! Each stand-in canary posts the alerts it is told to, so that the ground truth of every
//! time to detect is known.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::fault::security::{CanaryOutcome, PreventionOutcome, SecurityOutcome};
use crate::fault::{FaultError, Intent};
use crate::result::{FaultRecord, IterationResult, IterationStatus, RunStatus};

/// What a stand-in canary did, on the monotonic clock.
#[derive(Clone, Debug, Default)]
struct Trace {
    /// When its `inject` began.
    started: Option<Instant>,
    /// Each alert: just before it was posted, and when the webhook had answered.
    alerts: Vec<(Instant, Instant)>,
}

type Traces = Arc<Mutex<BTreeMap<String, Trace>>>;

/// Alerts a stand-in posts: each `(delay after its injection began, alertname)`.
type Alerts = Vec<(Duration, &'static str)>;

/// A drill that performs nothing but reports a security outcome; a canary posts firing
/// alerts named `alertname` to the run's webhook, each `delay` after its injection began.
struct StandIn {
    name: String,
    alerts: Alerts,
    outcome: SecurityOutcome,
    webhook: Arc<Mutex<Option<String>>>,
    traces: Traces,
}

#[async_trait]
impl Fault for StandIn {
    async fn plan(&self) -> Result<Intent, FaultError> {
        Ok(Intent {
            fault: self.name.clone(),
            fault_type: "stand-in".to_owned(),
            changes: vec!["nothing: a stand-in security drill".to_owned()],
            undo: vec!["nothing to undo".to_owned()],
            targets: Vec::new(),
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let started = Instant::now();
        self.traces
            .lock()
            .unwrap()
            .entry(self.name.clone())
            .or_default()
            .started = Some(started);
        let url = self.webhook.lock().unwrap().clone().expect("webhook ready");
        for (delay, alertname) in self.alerts.clone() {
            let (url, traces, name) = (url.clone(), self.traces.clone(), self.name.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(started + delay).await;
                let sent = Instant::now();
                post_alert(&url, alertname).await;
                let answered = Instant::now();
                traces
                    .lock()
                    .unwrap()
                    .entry(name)
                    .or_default()
                    .alerts
                    .push((sent, answered));
            });
        }
        Ok(())
    }

    async fn verify(&self) -> crate::fault::Effect {
        crate::fault::Effect::verified("a stand-in performs nothing to see")
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        Ok(Vec::new())
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        Some(self.outcome.clone())
    }
}

/// Posts one firing alert in Alertmanager's webhook format and waits for the answer.
async fn post_alert(url: &str, alertname: &str) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, path) = rest.split_at(rest.find('/').expect("a path"));
    let body = format!(
        r#"{{"version":"4","status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"{alertname}"}}}}]}}"#
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn experiment(faults: &str) -> Experiment {
    let text = format!(
        r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {{name: security-drills}}
spec:
  target:
    platform: local
    workloads: [{{name: web, command: [sleep, "60"], readiness: {{type: command, command: ["true"], period: 50ms}}}}]
  steadyState:
    interval: 50ms
    baseline: 200ms
    probes: [{{name: ok, type: command, command: ["true"]}}]
  detection:
    timeout: 3s
    signals:
      - {{name: sig-a, type: webhook, match: {{alertname: A}}}}
      - {{name: sig-b, type: webhook, match: {{alertname: B}}, timeout: 2s}}
  faults:
{faults}
  recovery: {{stableFor: 100ms, timeout: 5s}}
  safety: {{timeout: 30s}}
  iterations: 1
"#
    );
    // Read without validation: the stand-ins act on any platform.
    serde_saphyr::from_str(&text).expect("the experiment parses")
}

/// Runs the experiment with every fault replaced by its stand-in; the result, the journal's
/// records and what each stand-in did.
async fn run_stand_ins(
    exp: Experiment,
    stand_ins: Vec<(&'static str, Alerts, SecurityOutcome)>,
) -> (RunResult, Vec<Value>, BTreeMap<String, Trace>) {
    let dir = tempfile::tempdir().unwrap();
    let webhook: Arc<Mutex<Option<String>>> = Arc::default();
    let traces: Traces = Arc::default();
    let progress: Arc<dyn ProgressSink> = {
        let webhook = webhook.clone();
        Arc::new(move |p: &Progress| {
            if let Progress::Ready {
                webhook: Some(url), ..
            } = p
            {
                *webhook.lock().unwrap() = Some(url.clone());
            }
        })
    };
    let build: FaultBuilder = {
        let (webhook, traces) = (webhook.clone(), traces.clone());
        Arc::new(move |spec, _platform, _ctx| {
            let (_, alerts, outcome) = stand_ins
                .iter()
                .find(|(name, _, _)| *name == spec.name())
                .expect("a stand-in for every fault")
                .clone();
            Ok(Arc::new(StandIn {
                name: spec.name().to_owned(),
                alerts,
                outcome,
                webhook: webhook.clone(),
                traces: traces.clone(),
            }) as Arc<dyn Fault>)
        })
    };
    let opts = RunOptions {
        out_dir: Some(dir.path().to_owned()),
        ..RunOptions::default()
    };
    let result = run_with(
        exp,
        opts,
        CancellationToken::new(),
        progress,
        Arc::new(Rollback::default()),
        build,
    )
    .await
    .unwrap();
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let records = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let traces = traces.lock().unwrap().clone();
    (result, records, traces)
}

fn canary() -> SecurityOutcome {
    SecurityOutcome::Canary(CanaryOutcome {
        actions: vec!["GET http://127.0.0.1:1/admin/.env answered 404".to_owned()],
        markers: vec!["firedrill-canary".to_owned()],
    })
}

fn ms_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1e3
}

/// The engine starts a canary's clock a moment before the stand-in records its own start,
/// and records its injection a moment after.
const TOLERANCE_MS: f64 = 100.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_canary_is_noticed_by_its_own_signals_from_its_own_injection() {
    let exp = experiment(
        r#"
    - {name: early, type: canary-request, url: "http://127.0.0.1:1/x", detectedBy: [sig-a]}
    - {name: late, type: canary-request, url: "http://127.0.0.1:1/x", detectedBy: [sig-a], at: 600ms}
    - {name: deaf, type: canary-request, url: "http://127.0.0.1:1/x", detectedBy: [sig-b], at: 600ms}
    - {name: any, type: canary-request, url: "http://127.0.0.1:1/x", at: 600ms}"#,
    );
    let (result, journal, traces) = run_stand_ins(
        exp,
        vec![
            ("early", vec![(Duration::from_millis(100), "A")], canary()),
            ("late", vec![(Duration::from_millis(250), "A")], canary()),
            ("deaf", Vec::new(), canary()),
            ("any", Vec::new(), canary()),
        ],
    )
    .await;
    assert_eq!(result.status, RunStatus::Passed, "{:?}", result.reason);
    let it = &result.iterations[0];
    let record = |name: &str| it.faults.iter().find(|f| f.name == name).unwrap();
    let trace = |name: &str| traces[name].clone();

    // Ground truth: between posting the alert and its answer, from the canary's own start.
    let within = |name: &str, by_trace: &Trace| {
        let start = trace(name).started.unwrap();
        let (sent, answered) = by_trace.alerts[0];
        let (by, at, ttd) = {
            let r = record(name);
            let (at, by, ttd) = r.noticed().unwrap_or_else(|| {
                panic!(
                    "{name} not noticed; began {start:?}, alerts {:?}; events {:#?}",
                    by_trace.alerts, it.events
                )
            });
            (by.to_owned(), at, ttd)
        };
        assert!(
            at >= it.started_at,
            "{name} noticed at {at}, before the iteration began"
        );
        let (low, high) = (ms_between(start, sent), ms_between(start, answered));
        assert!(
            ttd >= low && ttd <= high + TOLERANCE_MS,
            "{name}: time to detect {ttd} ms, the alert was posted {low} ms after it began and answered at {high} ms"
        );
        (by, ttd)
    };
    let (by, early_ttd) = within("early", &trace("early"));
    assert_eq!(by, "sig-a");
    // From its own injection: counted from the iteration's, 600 ms earlier, it would lie
    // above the window.
    let (by, _) = within("late", &trace("late"));
    assert_eq!(by, "sig-a");
    // No signal named: any signal counts, here the alert that answered `late`.
    let (by, _) = within("any", &trace("late"));
    assert_eq!(by, "sig-a");
    // The iteration's own detection is the first signal, as before.
    assert_eq!(it.detected_by.as_deref(), Some("sig-a"));
    let iteration_ttd = it.time_to_detect_ms.unwrap();
    assert!(
        (iteration_ttd - early_ttd).abs() <= TOLERANCE_MS,
        "{iteration_ttd} vs {early_ttd}"
    );

    let deaf = record("deaf");
    a_missed_canary_is_written_as_null(deaf);
    each_outcome_is_journaled_and_the_missed_one_at_its_deadline(it, &journal);
}

/// Only sig-b counts for `deaf`, and only sig-a fired: it was missed, written as null.
fn a_missed_canary_is_written_as_null(deaf: &FaultRecord) {
    assert!(deaf.noticed().is_none());
    let json = serde_json::to_value(deaf).unwrap();
    assert!(
        json["detectedAt"].is_null() && json.get("detectedAt").is_some(),
        "{json}"
    );
    assert!(json["timeToDetectMs"].is_null() && json.get("detectedBy").is_some());
    // A fault that is not a canary has no such fields.
    let plain = serde_json::to_value(FaultRecord {
        security: None,
        detected_at: None,
        detected_by: None,
        time_to_detect_ms: None,
        ..deaf.clone()
    })
    .unwrap();
    assert!(plain.get("detectedAt").is_none(), "{plain}");
}

/// The journal holds each outcome; the wait for `deaf` ended at its deadline (sig-b's own
/// 2 s after it began), and the iteration waited for it though it had recovered before.
fn each_outcome_is_journaled_and_the_missed_one_at_its_deadline(
    it: &IterationResult,
    journal: &[Value],
) {
    let kinds = |kind: &str| -> Vec<&Value> {
        journal
            .iter()
            .filter(|r| r["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let detected: Vec<&str> = kinds("canary-detected")
        .iter()
        .map(|r| r["data"]["fault"].as_str().unwrap())
        .collect();
    assert_eq!(detected.len(), 3, "{detected:?}");
    for name in ["early", "late", "any"] {
        assert!(detected.contains(&name), "{detected:?}");
    }
    let missed = kinds("canary-missed");
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["data"]["fault"], "deaf");
    assert_eq!(missed[0]["data"]["waitedMs"], 2000.0);
    let seq = |r: &Value| r["seq"].as_u64().unwrap();
    let recovered = kinds("recovered");
    assert!(
        seq(missed[0]) > seq(recovered[0]),
        "the wait for the canary outlasted recovery"
    );
    let missed_event = it
        .events
        .iter()
        .find(|e| e.kind == "canary-missed")
        .unwrap();
    let deaf_injected = it
        .events
        .iter()
        .find(|e| e.kind == "fault-injected" && e.detail.starts_with("deaf "))
        .unwrap();
    let waited = missed_event.offset_ms - deaf_injected.offset_ms;
    assert!(
        (waited - 2000.0).abs() <= TOLERANCE_MS,
        "the missed canary is recorded at its deadline: {waited} ms after its injection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_prevention_check_fails_the_iteration_and_the_run() {
    let exp = experiment(
        r#"
    - {name: privileged, type: prevent-privileged-pod, namespace: shop}
    - {name: host-path, type: prevent-host-path, namespace: shop}"#,
    );
    let check = |action: &str, refused: bool, undone: &[&str]| {
        SecurityOutcome::Prevention(PreventionOutcome {
            action: action.to_owned(),
            refused,
            status: Some(if refused { 403 } else { 201 }),
            reason: refused.then(|| "Forbidden".to_owned()),
            message: if refused {
                "pods \"firedrill-canary-host-path\" is forbidden".to_owned()
            } else {
                "created".to_owned()
            },
            undone: undone.iter().map(|s| (*s).to_owned()).collect(),
            markers: vec!["firedrill-canary-privileged".to_owned()],
        })
    };
    let (result, journal, _) = run_stand_ins(
        exp,
        vec![
            (
                "privileged",
                Vec::new(),
                check(
                    "create pod shop/firedrill-canary-privileged (privileged)",
                    false,
                    &["deleted pod shop/firedrill-canary-privileged"],
                ),
            ),
            (
                "host-path",
                Vec::new(),
                check(
                    "create pod shop/firedrill-canary-host-path (hostPath /)",
                    true,
                    &[],
                ),
            ),
        ],
    )
    .await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        result.reason.as_deref(),
        Some(
            "iteration 1: prevention check `privileged` was accepted: create pod shop/firedrill-canary-privileged (privileged); undone at once (deleted pod shop/firedrill-canary-privileged)"
        )
    );
    let it = &result.iterations[0];
    assert_eq!(it.status, IterationStatus::Failed);
    assert!(it.recovered_at.is_some(), "it failed for the finding alone");
    assert_eq!(
        journal
            .iter()
            .filter(|r| r["kind"] == "prevention-accepted")
            .count(),
        1
    );
    assert_eq!(
        journal
            .iter()
            .filter(|r| r["kind"] == "prevention-refused")
            .count(),
        1
    );
    // Prevention checks are not canaries: nothing waits for a signal.
    assert!(it.faults.iter().all(|f| f.detected_at.is_none()));
}
