//! Black-box tests of notification drafts, their delivery and the roles' acknowledgements:
//! the real binary, a delivery receiver on loopback, acknowledgements over HTTP while the
//! run goes on.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest, Sha256};

const FREEZE: &str =
    "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 1s}";

/// One request a receiver got: its head and its body.
pub(crate) struct Received {
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// A delivery receiver on 127.0.0.1:0 that answers every request with `status`.
pub(crate) fn receiver(status: u16) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let (head, body) = read_request(&mut stream);
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
            if tx.send(Received { head, body }).is_err() {
                return;
            }
        }
    });
    (format!("http://{addr}/notify"), rx)
}

/// Reads a request's head and the body its content-length announces.
fn read_request(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = content_length(&head);
            if buf.len() >= end + 4 + len {
                return (head, buf[end + 4..end + 4 + len].to_vec());
            }
        }
    }
    (String::from_utf8_lossy(&buf).to_string(), Vec::new())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// POSTs `body` to an `http://` URL and returns the status and the JSON answer.
pub(crate) fn post(url: &str, body: &str) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    let json = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"));
    (status, json)
}

/// A demo experiment of two replicas, frozen for a second, with `extra` spec lines, run in
/// the background: its folder (the results in `out/`), its marker, the run, and its
/// standard error line by line.
pub(crate) fn spawn_demo(
    test: &str,
    extra: &str,
) -> (
    tempfile::TempDir,
    String,
    std::process::Child,
    Arc<Mutex<Vec<String>>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(test);
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", FREEZE, extra),
    );
    let mut child = spawn_run(&file, &dir.path().join("out"));
    let stderr = collect_lines(child.stderr.take().unwrap());
    (dir, marker, child, stderr)
}

/// The run's standard error, line by line, as it comes.
pub(crate) fn collect_lines(
    stream: impl std::io::Read + Send + 'static,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let keep = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            keep.lock().unwrap().push(line);
        }
    });
    lines
}

/// The acknowledgement URL template the run prints, once it has.
fn acknowledge_url(lines: &Arc<Mutex<Vec<String>>>) -> Option<String> {
    lines.lock().unwrap().iter().find_map(|l| {
        let at = l.find("acknowledge at http://")?;
        let url = l[at + "acknowledge at ".len()..]
            .split_whitespace()
            .next()?;
        Some(url.to_owned())
    })
}

pub(crate) fn records_of<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["kind"] == kind).collect()
}

fn record_at(records: &[Value], seq: &Value) -> Value {
    records
        .iter()
        .find(|r| r["seq"] == *seq)
        .unwrap_or_else(|| panic!("no record {seq}"))
        .clone()
}

fn millis(rfc3339: &Value) -> f64 {
    let t = humantime::parse_rfc3339(rfc3339.as_str().unwrap()).unwrap();
    t.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn sha256_of(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn drafts_delivery_and_acknowledgements_are_recorded() {
    let _guard = shared();
    let (deliver_url, received) = receiver(202);
    let extra = format!(
        r#"  detection:
    timeout: 5s
    signals: [{{name: mon, type: probe-fails, probe: api, consecutive: 2}}]
  recovery: {{stableFor: 300ms, timeout: 10s}}
  notification:
    entity: {{name: Example Payments SE, sector: banking, memberStates: [DE]}}
    suspectedMalicious: false
    dora: true
    deliver: {{url: "{deliver_url}", timeout: 5s}}
  coordination:
    roles: [incident-commander, legal, communications]
    timeout: 3s"#
    );
    let (dir, marker, mut child, stderr) = spawn_demo("notify", &extra);
    let out = dir.path().join("out");
    wait_for("the acknowledgement URL", Duration::from_secs(20), || {
        acknowledge_url(&stderr).is_some()
    });
    let template = acknowledge_url(&stderr).unwrap();
    assert!(template.ends_with("/acknowledge/{role}"), "{template}");
    let url = |role: &str| template.replace("{role}", role);

    wait_for("the detection", Duration::from_secs(20), || {
        journal_has(&out, "detected")
    });
    let (status, legal) = post(&url("legal"), r#"{"by": "alice", "note": "on it"}"#);
    assert_eq!(status, 202, "{legal}");
    let (status, commander) = post(&url("incident-commander"), "");
    assert_eq!(status, 202, "{commander}");
    let (status, again) = post(&url("legal"), r#"{"by": "bob"}"#);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, legal, "the first acknowledgement stands");
    let (status, _) = post(&url("ceo"), "");
    assert_eq!(status, 404);

    let exit = wait_exit(&mut child, Duration::from_secs(60));
    let lines = stderr.lock().unwrap().join("\n");
    assert_eq!(exit.code(), Some(0), "{lines}");
    assert!(
        lines.contains("waiting up to")
            && lines.contains("for acknowledgements from communications at "),
        "{lines}"
    );
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");

    let r = result(&out);
    let records = journal(&out);
    let iteration = &r["iterations"][0];
    assert_eq!(iteration["detectedBy"], "mon");
    assert_eq!(r["files"]["notifications"], "notifications/");

    // Three drafts, on disk as JSON and Markdown, each journaled with its hash.
    let notes = r["notifications"].as_array().unwrap();
    let kinds: Vec<&str> = notes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "nis2-early-warning",
            "nis2-incident-notification",
            "dora-initial-notification"
        ]
    );
    for n in notes {
        let kind = n["kind"].as_str().unwrap();
        assert_eq!(n["iteration"], 1);
        assert_eq!(n["awarenessAt"], iteration["detectedAt"]);
        let due_h = if kind == "nis2-incident-notification" {
            72.0
        } else {
            24.0
        };
        let due = millis(&n["deadlineAt"]) - millis(&n["awarenessAt"]);
        assert!((due - due_h * 3600e3).abs() < 0.5, "{n}");
        let file = n["file"].as_str().unwrap();
        assert_eq!(file, format!("notifications/iteration-1-{kind}.json"));
        let draft: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(file)).unwrap()).unwrap();
        assert_eq!(draft["exercise"], true);
        assert!(draft["title"].as_str().unwrap().starts_with("EXERCISE"));
        let md = std::fs::read_to_string(out.join(file.replace(".json", ".md"))).unwrap();
        assert!(md.lines().next().unwrap().contains("EXERCISE"));
        assert!(md.lines().last().unwrap().contains("EXERCISE"));
        let drafted = record_at(&records, &n["journalSeq"]);
        assert_eq!(drafted["kind"], "notification-drafted");
        assert_eq!(drafted["data"]["kind"], kind);
        assert_eq!(
            drafted["data"]["sha256"],
            sha256_of(&out.join(file)).as_str()
        );
        let ttd = n["timeToDraftMs"].as_f64().unwrap();
        assert!((0.0..60_000.0).contains(&ttd), "{n}");
        // Every field's evidence points at records that exist, before the draft's own.
        for f in draft["fields"].as_array().unwrap() {
            for seq in f["evidence"].as_array().unwrap() {
                assert!(
                    seq.as_u64().unwrap() < n["journalSeq"].as_u64().unwrap(),
                    "{f}"
                );
                record_at(&records, seq);
            }
            if f["status"] == "unknown" {
                assert_eq!(f["value"], Value::Null, "{f}");
            }
        }
    }
    // One member state and no declaration: cross-border impact cannot be filled.
    assert_eq!(
        notes[0]["mandatoryFlagsMissing"],
        serde_json::json!(["crossBorderImpact"])
    );
    let early: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(notes[0]["file"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let field = |key: &str| {
        early["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(field("startedAt")["value"], iteration["injectedAt"]);
    assert_eq!(
        field("affectedTargets")["value"],
        serde_json::json!(["web/0", "web/1"])
    );
    let detected = records_of(&records, "detected");
    assert_eq!(field("detection")["evidence"][0], detected[0]["seq"]);
    assert_eq!(field("suspectedMalicious")["value"], false);

    // The early warning went to the receiver as it was written, and the run recorded it.
    let got = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        got.head.starts_with("POST /notify HTTP/1.1"),
        "{}",
        got.head
    );
    assert!(
        got.head
            .to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    assert_eq!(
        got.body,
        std::fs::read(out.join(notes[0]["file"].as_str().unwrap())).unwrap()
    );
    let delivery = &notes[0]["delivery"];
    assert_eq!(delivery["status"], 202);
    assert_eq!(delivery["url"], deliver_url.as_str());
    assert_eq!(delivery["error"], Value::Null);
    let ttd = delivery["timeToDeliverMs"].as_f64().unwrap();
    let stamps = millis(&delivery["deliveredAt"]) - millis(&notes[0]["awarenessAt"]);
    assert!((ttd - stamps).abs() <= 2.0, "{ttd} vs {stamps}");
    assert!(
        notes[1]["delivery"].is_null(),
        "only the early warning is delivered"
    );
    let delivered = records_of(&records, "notification-delivered");
    assert_eq!(delivered.len(), 1);
    let drafted_seq = notes[0]["journalSeq"].as_u64().unwrap();
    assert!(
        delivered[0]["seq"].as_u64().unwrap() > drafted_seq,
        "drafted before delivered"
    );

    // Two roles acknowledged; the third is a finding.
    let c = &r["coordination"];
    assert_eq!(c["awarenessAt"], iteration["detectedAt"]);
    assert_eq!(c["timeoutMs"], 3000.0);
    let acks = c["acknowledgements"].as_array().unwrap();
    let roles: Vec<&str> = acks.iter().map(|a| a["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["incident-commander", "legal", "communications"]);
    assert_eq!(acks[1]["by"], "alice");
    assert_eq!(acks[1]["note"], "on it");
    assert_eq!(acks[1]["acknowledgedAt"], legal["acknowledgedAt"]);
    for a in &acks[..2] {
        let tta = a["timeToAcknowledgeMs"].as_f64().unwrap();
        let stamps = millis(&a["acknowledgedAt"]) - millis(&c["awarenessAt"]);
        assert!(tta >= 0.0 && (tta - stamps).abs() <= 2.0, "{a}");
        let rec = record_at(&records, &a["journalSeq"]);
        assert_eq!(rec["kind"], "acknowledged");
        assert_eq!(rec["data"]["role"], a["role"]);
    }
    assert_eq!(acks[2]["acknowledgedAt"], Value::Null);
    assert_eq!(acks[2]["timeToAcknowledgeMs"], Value::Null);
    assert_eq!(records_of(&records, "acknowledged").len(), 2);
    let missing = records_of(&records, "not-acknowledged");
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["data"]["role"], "communications");
    // The run waited the whole coordination timeout for the missing role (the journal's
    // time is read from the wall clock on its own, hence the margin).
    let waited = millis(&missing[0]["time"]) - millis(&c["awarenessAt"]);
    assert!(waited >= 3000.0 - 50.0, "{waited}");
    assert_eq!(r["status"], "passed");

    // The drafts are sealed with the figures: one removed is named by verify.
    let draft = notes[0]["file"].as_str().unwrap().to_owned();
    let verify = || {
        Command::new(firedrill())
            .arg("verify")
            .arg(&out)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap()
    };
    assert_eq!(verify().status.code(), Some(0));
    std::fs::remove_file(out.join(&draft)).unwrap();
    let v = verify();
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("FILE MISSING: {draft}")), "{text}");
}

#[test]
fn a_failed_delivery_is_recorded_and_never_fails_the_run() {
    let _guard = shared();
    let (deliver_url, _received) = receiver(503);
    let extra = format!(
        r#"  detection:
    timeout: 5s
    signals: [{{name: mon, type: probe-fails, probe: api, consecutive: 2}}]
  recovery: {{stableFor: 300ms, timeout: 10s}}
  notification:
    deliver: {{url: "{deliver_url}", timeout: 2s}}
  response: {{timeScale: 60}}"#
    );
    let drill = run_demo("notify-503", 2, "50ms", FREEZE, &extra, 0);
    let r = &drill.result;
    let early = &r["notifications"][0];
    assert_eq!(early["kind"], "nis2-early-warning");
    // A game day at time scale 60: the early warning falls due 24 min after awareness, and
    // its drafting is timed in exercise time (real seconds times 60).
    assert_eq!(
        millis(&early["deadlineAt"]) - millis(&early["awarenessAt"]),
        24.0 * 60.0 * 1000.0
    );
    let draft_metric = r["scorecardInput"]["capabilityMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "early-warning-draft")
        .unwrap();
    let real_secs = early["timeToDraftMs"].as_f64().unwrap() / 1e3;
    assert!(
        (draft_metric["values"][0].as_f64().unwrap() - real_secs * 60.0).abs() < 1e-9,
        "{draft_metric}"
    );
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(drill.out.join(early["file"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(file["timeScale"], 60.0);
    assert_eq!(
        early["mandatoryFlagsMissing"],
        serde_json::json!(["suspectedMalicious", "crossBorderImpact"])
    );
    assert_eq!(early["delivery"]["status"], 503);
    assert_eq!(early["delivery"]["error"], "answered with HTTP status 503");
    assert_eq!(early["delivery"]["deliveredAt"], Value::Null);
    assert_eq!(
        r["notifications"].as_array().unwrap().len(),
        2,
        "no DORA draft"
    );
    assert!(r.get("coordination").is_none());
    let records = journal(&drill.out);
    let failed = records_of(&records, "notification-delivery-failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["status"], 503);
    assert_eq!(
        records_of(&records, "run-started")[0]["data"]["timeScale"],
        60.0
    );
}

#[test]
fn sigterm_while_waiting_for_acknowledgements_ends_the_wait() {
    let _guard = shared();
    let extra = r#"  detection:
    timeout: 5s
    signals: [{name: mon, type: probe-fails, probe: api, consecutive: 2}]
  recovery: {stableFor: 300ms, timeout: 10s}
  coordination:
    roles: [legal]
    timeout: 10m"#;
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("notify-term");
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", FREEZE, extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    let _stderr = collect_lines(child.stderr.take().unwrap());
    wait_for(
        "the wait for acknowledgements",
        Duration::from_secs(30),
        || journal_has(&out, "acknowledgements-awaited"),
    );
    let sent = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(20));
    let r = result(&out);
    assert_eq!(r["status"], "interrupted");
    assert_eq!(
        r["iterations"][0]["status"], "passed",
        "the drill itself had ended"
    );
    assert_eq!(
        r["coordination"]["acknowledgements"][0]["acknowledgedAt"],
        Value::Null
    );
    let records = journal(&out);
    let missing = records_of(&records, "not-acknowledged");
    assert_eq!(
        missing[0]["data"]["reason"],
        "the run was interrupted first"
    );
    assert!(processes_with(&marker).is_empty());
}

#[test]
fn acknowledgements_before_any_detection_are_refused_with_409() {
    let _guard = shared();
    // A fault nobody notices: the monitor never fails, so nothing is ever detected.
    let extra = r#"  detection:
    timeout: 500ms
    signals: [{name: mon, type: probe-fails, probe: api, consecutive: 1000}]
  recovery: {stableFor: 200ms, timeout: 10s}
  coordination:
    roles: [legal]
    timeout: 10m"#;
    let faults =
        "    - {name: kill, type: process-kill, select: {mode: one, workload: web}, duration: 1s}";
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("notify-409");
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", faults, extra),
    );
    let out = dir.path().join("out");
    let mut child = spawn_run(&file, &out);
    let stderr = collect_lines(child.stderr.take().unwrap());
    wait_for("the acknowledgement URL", Duration::from_secs(20), || {
        acknowledge_url(&stderr).is_some()
    });
    let url = acknowledge_url(&stderr).unwrap().replace("{role}", "legal");
    let (status, json) = post(&url, "");
    assert_eq!(status, 409, "{json}");
    assert_eq!(
        json["error"],
        "nothing to acknowledge yet: no detection so far"
    );
    // Nothing detected: no awareness, so the run does not wait ten minutes.
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(exit.code(), Some(0));
    let r = result(&out);
    assert_eq!(r["coordination"]["awarenessAt"], Value::Null);
    assert_eq!(
        r["coordination"]["acknowledgements"][0]["acknowledgedAt"],
        Value::Null
    );
    let records = journal(&out);
    assert_eq!(
        records_of(&records, "not-acknowledged")[0]["data"]["reason"],
        "nothing was detected, so there was nothing to acknowledge"
    );
    assert!(processes_with(&marker).is_empty());
}
