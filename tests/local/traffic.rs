//! Traffic through a run (`spec.traffic`): what result.json and traffic.jsonl say against
//! what an independent server counted, and an objective on the traffic failing the run.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::*;

/// Answers `/bad` with 503 and everything else with 200, counting each; keep-alive.
struct Counter {
    address: String,
    ok: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
}

fn counting_server() -> Counter {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ok2, bad2) = (ok.clone(), bad.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (ok, bad) = (ok2.clone(), bad2.clone());
            std::thread::spawn(move || serve(stream, &ok, &bad));
        }
    });
    Counter { address, ok, bad }
}

fn serve(mut stream: TcpStream, ok: &AtomicU64, bad: &AtomicU64) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let answer: &[u8] = if head.starts_with("GET /bad ") {
            bad.fetch_add(1, Ordering::SeqCst);
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
        } else {
            ok.fetch_add(1, Ordering::SeqCst);
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        };
        if stream.write_all(answer).is_err() {
            return;
        }
    }
}

fn count(phase: &serde_json::Value, field: &str, key: &str) -> u64 {
    phase[field][key].as_u64().unwrap_or(0)
}

#[test]
fn traffic_figures_match_what_the_server_counted_and_an_objective_fails_the_run() {
    let _guard = shared();
    let server = counting_server();
    let faults = "    - {name: freeze, type: process-pause, select: {mode: one, workload: web}, duration: 1s}";
    let extra = format!(
        r#"  recovery: {{stableFor: 200ms, timeout: 10s}}
  traffic:
    model: {{type: open, rate: 50}}
    requests:
      - {{url: "http://{a}/ok", weight: 3}}
      - {{url: "http://{a}/bad", weight: 1}}
    timeout: 2s
  slo: {{availability: 0.99, window: 1h}}
  objectives:
    - {{metric: traffic-availability, phase: baseline, min: 0.99}}
    - {{metric: budget-burned, max: 1000}}
  iterations: 2
  cooldown: 300ms"#,
        a = server.address
    );
    let d = run_demo("traffic", 1, "20ms", faults, &extra, 1);
    let r = &d.result;
    assert_eq!(r["status"], "failed");
    let objective = |name: &str| {
        r["objectives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no objective {name}: {}", r["objectives"]))
            .clone()
    };
    // A quarter of the requests get 503: the baseline's availability misses 0.99, and
    // the objective reads the baseline's good share.
    let availability = objective("traffic-availability baseline");
    assert_eq!(availability["met"], false, "{availability}");
    let measured = availability["measured"].as_f64().unwrap();
    let baseline = &r["traffic"]["phases"]["baseline"];
    let (requests, bad) = (
        baseline["requests"].as_f64().unwrap(),
        baseline["bad"].as_f64().unwrap(),
    );
    assert!(bad > 0.0, "{baseline}");
    assert!(
        (measured - (1.0 - bad / requests)).abs() < 1e-9,
        "{measured} {baseline}"
    );
    assert_eq!(objective("budget-burned")["met"], true);
    assert_eq!(objective("traffic rate sustained")["met"], true);

    // The independent count: every answer the server gave is in result.json.
    let traffic = &r["traffic"];
    assert_eq!(traffic["sustained"], true, "{traffic}");
    let phases = traffic["phases"].as_object().unwrap();
    for name in ["baseline", "fault", "recovery", "cooldown"] {
        assert!(phases.contains_key(name), "{name} missing: {traffic}");
    }
    let total = |field: &str, key: &str| phases.values().map(|p| count(p, field, key)).sum::<u64>();
    let unanswered = total("errorKinds", "timeout") + total("errorKinds", "io");
    let (ok, bad) = (
        server.ok.load(Ordering::SeqCst),
        server.bad.load(Ordering::SeqCst),
    );
    let (ok_seen, bad_seen) = (total("status", "2xx"), total("status", "5xx"));
    assert!(ok + bad > 50, "the server saw {ok} + {bad}");
    assert!(
        ok.abs_diff(ok_seen) + bad.abs_diff(bad_seen) <= unanswered,
        "server counted {ok} ok and {bad} bad; result.json {ok_seen} and {bad_seen} ({unanswered} unanswered)"
    );
    // The rate asked is the rate sent, phase by phase.
    for (name, p) in phases {
        let rate = p["achievedRate"].as_f64().unwrap();
        let secs = p["durationMs"].as_f64().unwrap() / 1e3;
        let expected = 50.0 * secs;
        let sent = p["sent"].as_f64().unwrap();
        assert!(
            (sent - expected).abs() <= 0.1 * expected + 2.0,
            "{name}: sent {sent} in {secs}s at {rate}/s, expected {expected}"
        );
    }

    // Each iteration: its budget burned is its bad requests over its allowance.
    for it in r["iterations"].as_array().unwrap() {
        let t = &it["traffic"];
        let bad: u64 = ["fault", "recovery"]
            .iter()
            .map(|p| t["phases"][p]["bad"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(t["badRequests"].as_u64().unwrap(), bad, "{t}");
        let burned = t["budgetBurned"].as_f64().unwrap();
        let allowance = t["budgetAllowance"].as_f64().unwrap();
        assert!((burned - bad as f64 / allowance).abs() < 1e-9, "{t}");
        // An hour at about 50 requests/s, 1% of it.
        assert!((1500.0..2100.0).contains(&allowance), "{allowance}");
        assert!(t["latencyDegradation"].as_f64().is_some(), "{t}");
    }

    // The time series adds up to the phase totals.
    assert_eq!(r["files"]["traffic"], "traffic.jsonl");
    let series = std::fs::read_to_string(d.out.join("traffic.jsonl")).unwrap();
    let mut sums: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for line in series.lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = sums
            .entry(l["phase"].as_str().unwrap().to_owned())
            .or_default();
        s[0] += l["requests"].as_u64().unwrap();
        s[1] += l["errors"].as_u64().unwrap();
        s[2] += l["bad"].as_u64().unwrap();
    }
    for (name, p) in phases {
        let want = [
            p["requests"].as_u64().unwrap(),
            p["errors"].as_u64().unwrap(),
            p["bad"].as_u64().unwrap(),
        ];
        assert_eq!(sums.get(name), Some(&want), "{name}");
    }

    // The series is sealed with the other figures, and JUnit fails the objective.
    let sealed = journal(&d.out)
        .into_iter()
        .rev()
        .find(|rec| rec["kind"] == "files-sealed")
        .expect("a seal");
    assert!(
        sealed["data"]["files"]["traffic.jsonl"].is_string(),
        "{sealed}"
    );
    let junit = std::fs::read_to_string(d.out.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="traffic-availability baseline""#),
        "{junit}"
    );
    // `verify` holds the folder as sealed, and catches an edited time series.
    let verify = || {
        std::process::Command::new(firedrill())
            .arg("verify")
            .arg(&d.out)
            .output()
            .unwrap()
    };
    let before = verify();
    assert_eq!(
        before.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&before.stdout)
    );
    std::fs::write(
        d.out.join("traffic.jsonl"),
        series.replacen("\"errors\":", "\"errors\":1", 1),
    )
    .unwrap();
    let after = verify();
    let text = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(1), "{text}");
    assert!(text.contains("FILE CHANGED: traffic.jsonl"), "{text}");
}
