//! `firedrill serve` black-box: the real binary runs a drill every second on a short local
//! experiment; the history, reports, trend and metrics are read over HTTP and compared with
//! the results folders on disk; SIGTERM stops it with nothing left behind; the database keeps
//! the history across a restart, an older database migrates, and `history` and `trend` read
//! it. The pages are loaded in headless Chromium (screenshots in target/test-artifacts).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::browser::{chromium_or_skip, console_messages, run_chromium, target_dir};
use crate::common::*;
use serde_json::Value;

const FAULTS: &str = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 600ms}";
const EXTRA: &str = "  detection:\n    timeout: 5s\n    signals: [{name: mon, type: probe-fails, probe: api, consecutive: 1}]\n  recovery: {stableFor: 100ms, timeout: 10s}";

/// A folder with the experiment and a schedule running it every second.
fn setup(test: &str, missed: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(test);
    write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "20ms", FAULTS, EXTRA),
    );
    std::fs::write(
        dir.path().join("schedule.yaml"),
        format!(
            "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: every-second\n      cron: \"* * * * * *\"\n      experiment: e.yaml\n      missed: {missed}\n"
        ),
    )
    .unwrap();
    (dir, marker)
}

/// A running `firedrill serve` and what it printed.
struct Server {
    child: Child,
    address: SocketAddr,
    stderr: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Server {
    fn start(dir: &Path, token: Option<&str>) -> Self {
        let mut command = Command::new(firedrill());
        command
            .arg("serve")
            .arg("--schedules")
            .arg(dir.join("schedule.yaml"))
            .arg("--database")
            .arg(dir.join("history.db"))
            .arg("--results")
            .arg(dir.join("results"))
            .args(["--listen", "127.0.0.1:0"]);
        if let Some(token) = token {
            let file = dir.join("token");
            std::fs::write(&file, format!("{token}\n")).unwrap();
            command.arg("--token-file").arg(file);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut address = None;
        wait_for("the listening address", Duration::from_secs(30), || {
            address = stderr
                .lock()
                .unwrap()
                .lines()
                .find_map(|l| l.split("listening on http://").nth(1).map(str::to_owned))
                .and_then(|a| a.trim().parse().ok());
            address.is_some()
        });
        Self {
            child,
            address: address.unwrap(),
            stderr,
            reader,
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> Response {
        get(self.address, path, token)
    }

    fn json(&self, path: &str, token: Option<&str>) -> Value {
        let r = self.get(path, token);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on the pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = wait_exit(&mut self.child, Duration::from_secs(30));
        wait_for("the end of standard error", Duration::from_secs(10), || {
            self.reader.is_finished()
        });
        let text = self.stderr.lock().unwrap().clone();
        (status, text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: String,
    body: String,
}

/// One HTTP/1.0 GET on loopback: the answer is never chunked, and ends with the connection.
fn get(address: SocketAddr, path: &str, token: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n{auth}\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}

fn runs(server: &Server, query: &str, token: Option<&str>) -> Vec<Value> {
    server.json(&format!("/api/runs{query}"), token)["runs"]
        .as_array()
        .unwrap()
        .clone()
}

fn firedrill_cli(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(firedrill())
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap()
}

#[test]
fn serve_runs_drills_on_schedule_and_serves_their_history() {
    let _guard = shared();
    let (dir, marker) = setup("serve", "skip");
    let token = "s3cret-token";
    let server = Server::start(dir.path(), Some(token));

    // Probes stay open; everything else wants the token.
    assert_eq!(server.get("/healthz", None).status, 200);
    assert_eq!(server.get("/readyz", None).status, 200);
    for given in [None, Some("wrong")] {
        let r = server.get("/api/runs", given);
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(
            r.headers.contains("www-authenticate: Bearer"),
            "{}",
            r.headers
        );
    }
    assert_eq!(server.get("/runs", None).status, 401);
    assert_eq!(server.get("/metrics", None).status, 401);

    wait_for("two passed runs", Duration::from_secs(90), || {
        runs(&server, "?status=passed", Some(token)).len() >= 2
    });
    let passed = runs(&server, "?status=passed&experiment=test", Some(token));
    for run in &passed {
        // Ground truth: the results folder the run wrote.
        let on_disk = result(Path::new(run["resultsDir"].as_str().unwrap()));
        assert_eq!(run["runId"], on_disk["runId"]);
        assert_eq!(run["drill"], "every-second");
        assert_eq!(
            run["timeToDetectP50Ms"], on_disk["summary"]["timeToDetectMs"]["p50"],
            "{run}"
        );
        assert_eq!(
            run["timeToRecoverP50Ms"],
            on_disk["summary"]["timeToRecoverMs"]["p50"]
        );
        assert_eq!(run["score"], on_disk["scorecard"]["overall"]["score"]);
        assert!(run["timeToDetectP50Ms"].as_f64().unwrap() > 0.0);
    }
    let id = passed[0]["id"].as_i64().unwrap();
    let detail = server.json(&format!("/api/runs/{id}"), Some(token));
    assert_eq!(detail["result"]["runId"], passed[0]["runId"]);
    assert!(detail["scorecard"]["overall"].is_object());
    assert_eq!(
        server.get("/api/runs/999999", Some(token)).status,
        404,
        "an unknown run"
    );
    assert_eq!(
        server.get("/api/runs?status=bogus", Some(token)).status,
        400
    );
    assert_eq!(
        server.get("/api/runs?since=yesterday", Some(token)).status,
        400
    );

    // The report is the one the run wrote.
    let report = server.get(&format!("/runs/{id}/report"), Some(token));
    assert_eq!(report.status, 200);
    let written = std::fs::read_to_string(
        Path::new(passed[0]["resultsDir"].as_str().unwrap()).join("report.html"),
    )
    .unwrap();
    assert_eq!(report.body, written);

    // The trend: every passed run is a point with its own figures.
    let trend = server.json("/api/trend?experiment=test", Some(token));
    let experiment = &trend["experiments"][0];
    assert_eq!(experiment["experiment"], "test");
    let points = experiment["points"].as_array().unwrap();
    assert!(points.len() >= passed.len());
    for run in &passed {
        let point = points
            .iter()
            .find(|p| p["id"] == run["id"])
            .expect("every run is a point of the trend");
        assert_eq!(point["timeToDetectP50Ms"], run["timeToDetectP50Ms"]);
    }
    // The history's scorecard says how much of the profile its evidence covers.
    let overall = &trend["today"]["scorecard"]["overall"];
    assert!(overall["coverage"].is_number(), "{overall}");
    assert!(overall["verdict"].is_string(), "{overall}");

    let metrics = server.get("/metrics", Some(token));
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers.contains("text/plain; version=0.0.4"));
    let counted: f64 = metrics
        .body
        .lines()
        .find_map(|l| {
            l.strip_prefix("firedrill_runs_total{experiment=\"test\",status=\"passed\"} ")
        })
        .expect("runs counted by status")
        .parse()
        .unwrap();
    assert!(counted >= passed.len() as f64, "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains("firedrill_time_to_detect_seconds_count{experiment=\"test\"}")
    );
    assert!(metrics.body.contains("firedrill_faults_active"));

    let page = server.get("/runs?experiment=test&status=passed", Some(token));
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("href=\"/runs/{id}/report\"")));
    assert!(!page.body.contains(token), "the token never reaches a page");

    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("received SIGTERM"), "{stderr}");
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    // Every fault any run injected was reverted, interrupted runs included.
    for entry in std::fs::read_dir(dir.path().join("results")).unwrap() {
        let journal = journal(&entry.unwrap().path());
        let intents = journal
            .iter()
            .filter(|r| r["kind"] == "fault-intent")
            .count();
        let reverted = journal
            .iter()
            .filter(|r| r["kind"] == "fault-reverted")
            .count();
        assert_eq!(intents, reverted, "a fault was left behind");
    }

    // The history outlives the server, and `history` and `trend` read it.
    let db = dir.path().join("history.db");
    let db = db.to_str().unwrap();
    let out = firedrill_cli(&["history", "--database", db, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = listed["runs"].as_array().unwrap().len();
    assert!(total >= passed.len());
    let out = firedrill_cli(&[
        "history",
        "--database",
        db,
        "--status",
        "passed",
        "--limit",
        "1",
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("ID  STARTED (UTC)"), "{table}");
    assert!(
        table.contains("every-second") && table.ends_with("1 run\n"),
        "{table}"
    );
    let out = firedrill_cli(&["trend", "--database", db]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("EXPERIMENT"), "{table}");
    assert!(
        table.contains("scorecard today (latest run of each experiment): ")
            && table.contains("\ntrend: not measured yet: "),
        "runs seconds apart are no trend: {table}"
    );
    let out = firedrill_cli(&["trend", "--database", db, "--format", "json"]);
    let trend: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(trend["experiments"][0]["runs"].as_u64().unwrap() >= passed.len() as u64);

    // A restart keeps the history and goes on adding to it.
    let server = Server::start(dir.path(), Some(token));
    assert!(runs(&server, "", Some(token)).len() >= total);
    wait_for("a run after the restart", Duration::from_secs(60), || {
        runs(&server, "", Some(token)).len() > total
    });
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(processes_with(&marker).is_empty());
}

#[test]
fn a_suite_drill_records_each_experiment_under_its_suite() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("suite");
    for name in ["first", "second"] {
        write_experiment(
            dir.path(),
            &format!("{name}.yaml"),
            &demo_experiment(&marker, 1, "20ms", FAULTS, EXTRA).replace(
                "metadata: {name: test}",
                &format!("metadata: {{name: {name}}}"),
            ),
        );
    }
    std::fs::write(
        dir.path().join("suite.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Suite\nmetadata: {name: pair}\nspec:\n  experiments: [first.yaml, second.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: pair-drill\n      cron: \"* * * * * *\"\n      suite: suite.yaml\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), None);
    wait_for(
        "both experiments of a suite run",
        Duration::from_secs(90),
        || {
            let all = runs(&server, "?experiment=second", None);
            all.iter()
                .any(|r| r["status"] != "skipped" && r["status"] != "interrupted")
        },
    );
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(processes_with(&marker).is_empty());
    let out = firedrill_cli(&[
        "history",
        "--database",
        dir.path().join("history.db").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["experiment"] == "second" && r["status"] == "passed")
        .expect("the suite's second experiment passed")
        .clone();
    assert_eq!(second["suite"], "pair");
    assert_eq!(second["drill"], "pair-drill");
    let run_dir = PathBuf::from(second["resultsDir"].as_str().unwrap());
    assert!(run_dir.ends_with("02-second"), "{}", run_dir.display());
    let suite_dir = run_dir.parent().unwrap();
    let suite: Value =
        serde_json::from_str(&std::fs::read_to_string(suite_dir.join("suite.json")).unwrap())
            .unwrap();
    assert_eq!(suite["name"], "pair");
    assert_eq!(suite["runs"].as_array().unwrap().len(), 2);
    assert!(suite_dir.join("report.html").is_file());
    let first = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["experiment"] == "first"
                && r["resultsDir"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(suite_dir.to_str().unwrap()))
        })
        .expect("the suite's first experiment is in the history");
    assert_eq!(first["suite"], "pair");
}

/// The first schema, as firedrill wrote it: a database from then must open in this version.
const SCHEMA_V1: &str = "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        experiment TEXT NOT NULL,
        suite TEXT,
        status TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        ttd_p50_ms REAL,
        ttd_max_ms REAL,
        ttr_p50_ms REAL,
        ttr_max_ms REAL,
        score REAL,
        result_json TEXT NOT NULL,
        scorecard_json TEXT,
        report_html TEXT
    );
    CREATE INDEX runs_by_experiment ON runs (experiment, started);";

/// A scheduled drill's roles get their links from serve (to its token holders only), answer
/// through them while the drill runs, and the stored run holds their decisions.
#[test]
fn a_scheduled_drill_gives_its_roles_links_to_token_holders_and_stores_their_answers() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("serve-live");
    let response = format!(
        "{EXTRA}\n  response:\n    timeScale: 3600\n    roles: [{{name: legal, function: legal}}]\n    decisions:\n      - {{id: contain, decision: contain-or-observe, decidedBy: legal, budget: 10h}}"
    );
    write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "20ms", FAULTS, &response),
    );
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: game-day\n      cron: \"* * * * * *\"\n      experiment: e.yaml\n      missed: skip\n",
    )
    .unwrap();
    let token = "live-token";
    let server = Server::start(dir.path(), Some(token));
    assert_eq!(server.get("/api/live", None).status, 401);
    let mut link = None;
    wait_for("legal's link", Duration::from_secs(60), || {
        let live = server.json("/api/live", Some(token));
        link = live["drills"]["game-day"]["links"][0]["link"]
            .as_str()
            .map(str::to_owned);
        link.is_some()
    });
    let link = link.unwrap();
    assert!(link.contains("/respond/"), "{link}");
    let mut answered = None;
    wait_for("the decision put", Duration::from_secs(30), || {
        let out = firedrill_cli(&[
            "respond",
            &link,
            "--decision",
            "contain",
            "--rationale",
            "isolate first",
        ]);
        let ok = out.status.success();
        answered = Some(String::from_utf8_lossy(&out.stdout).into_owned());
        ok
    });
    assert!(
        answered
            .unwrap()
            .starts_with("recorded: legal answered `contain`"),
        "the answer is recorded"
    );
    let mut stored = Vec::new();
    wait_for("the run stored", Duration::from_secs(60), || {
        stored = runs(&server, "?experiment=test", Some(token));
        !stored.is_empty()
    });
    let id = stored[0]["id"].as_i64().unwrap();
    let detail = server.json(&format!("/api/runs/{id}"), Some(token));
    let decision = &detail["result"]["response"]["decisions"][0];
    assert_eq!(decision["answer"], "contain", "{decision}");
    assert_eq!(decision["rationale"], "isolate first");
    // Once the run is over its links are gone, and its token is refused.
    wait_for("the links withdrawn", Duration::from_secs(30), || {
        server.json("/api/live", Some(token))["drills"]["game-day"].is_null()
            || server.json("/api/live", Some(token))["drills"]["game-day"]["links"][0]["link"]
                != link.as_str()
    });
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains(link.rsplit('/').next().unwrap()),
        "a role's token reached serve's log"
    );
    assert!(processes_with(&marker).is_empty());
}

/// A folder with a drill that pauses its workload for a minute (and listens for a webhook
/// that never comes, so that the run has its own stop link); it runs every second.
fn long_drill(test: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(test);
    let long = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 60s}";
    let extra = "  detection:\n    timeout: 90s\n    signals: [{name: pager, type: webhook, match: {alertname: Never}}]\n  recovery: {stableFor: 100ms, timeout: 10s}";
    write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 1, "20ms", long, extra),
    );
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: long-drill\n      cron: \"* * * * * *\"\n      experiment: e.yaml\n      missed: skip\n",
    )
    .unwrap();
    (dir, marker)
}

/// Every journal under the results folder, as one text.
fn journals(dir: &Path) -> String {
    std::fs::read_dir(dir.join("results"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// One HTTP/1.0 POST on loopback with these extra header lines; the whole answer.
fn post(address: SocketAddr, path: &str, content_type: &str, body: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: test\r\n{headers}content-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// A token holder stops a scheduled drill mid-fault through serve's API: the run rolls
/// back and is stored as aborted, saying who stopped it.
#[test]
fn a_token_holder_stops_a_running_drill_through_serve() {
    let _guard = shared();
    let (dir, marker) = long_drill("serve-stop");
    let token = "stop-token";
    let server = Server::start(dir.path(), Some(token));
    let post = |path: &str, body: &str, token: Option<&str>| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        post(server.address, path, "application/json", body, &auth)
    };
    assert!(post("/api/drills/long-drill/stop", "{}", None).starts_with("HTTP/1.0 401"));
    let mut stop_page = None;
    wait_for("the drill's stop link", Duration::from_secs(60), || {
        let live = server.json("/api/live", Some(token));
        stop_page = live["drills"]["long-drill"]["stop"]
            .as_str()
            .map(str::to_owned);
        stop_page.is_some()
    });
    assert!(stop_page.unwrap().contains("/stop/"));
    wait_for("the fault injected", Duration::from_secs(30), || {
        journals(dir.path()).contains("\"fault-injected\"")
    });
    let answer = post(
        "/api/drills/long-drill/stop",
        r#"{"by": "ops on call", "reason": "a real incident"}"#,
        Some(token),
    );
    assert!(answer.starts_with("HTTP/1.0 202"), "{answer}");
    assert!(post("/api/drills/nope/stop", "{}", Some(token)).starts_with("HTTP/1.0 404"));
    let mut stored = Vec::new();
    wait_for("the aborted run stored", Duration::from_secs(60), || {
        stored = runs(&server, "?status=aborted", Some(token));
        !stored.is_empty()
    });
    let id = stored[0]["id"].as_i64().unwrap();
    let detail = server.json(&format!("/api/runs/{id}"), Some(token));
    assert_eq!(
        detail["result"]["reason"],
        "stopped by ops on call through firedrill serve: a real incident; everything was reverted"
    );
    assert_eq!(detail["result"]["rollback"]["reverted"][0], "freeze");
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(processes_with(&marker).is_empty());
}

/// A person presses the stop button on serve's page for the running drill: the form needs
/// serve's token and the page's nonce, and a form from another site or with a wrong token
/// is refused with nothing journaled. The run rolls back and is stored as stopped by them.
#[test]
fn the_stop_button_on_serves_page_stops_a_running_drill() {
    let _guard = shared();
    let (dir, marker) = long_drill("serve-stop-page");
    let token = "page-token";
    let server = Server::start(dir.path(), Some(token));
    wait_for("the fault injected", Duration::from_secs(60), || {
        journals(dir.path()).contains("\"fault-injected\"")
    });
    let list = server.get("/runs", Some(token));
    assert!(
        list.body
            .contains("<a href=\"/drills/long-drill\">stop…</a>"),
        "{}",
        list.body
    );
    // The page is for token holders, as every page.
    assert_eq!(server.get("/drills/long-drill", None).status, 401);
    let page = server.get("/drills/long-drill", Some(token));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.headers.contains("no-store"), "{}", page.headers);
    assert!(
        page.body
            .contains("method=\"post\" action=\"/drills/long-drill/stop\""),
        "{}",
        page.body
    );
    let nonce = page
        .body
        .split("name=\"nonce\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form carries its nonce")
        .to_owned();
    let press = |form: &str, headers: &str| {
        post(
            server.address,
            "/drills/long-drill/stop",
            "application/x-www-form-urlencoded",
            form,
            headers,
        )
    };
    let good = format!("nonce={nonce}&token={token}&by=Dana+on+call&reason=customers+complain");
    let browser = "Origin: http://test\r\nSec-Fetch-Site: same-origin\r\n";
    let wrong_token = press(
        &format!("nonce={nonce}&token=guess&by=Mallory&reason=x"),
        browser,
    );
    assert!(wrong_token.starts_with("HTTP/1.0 403"), "{wrong_token}");
    assert!(
        wrong_token.contains("not serve&#x27;s token"),
        "{wrong_token}"
    );
    let cross_site = press(&good, "Sec-Fetch-Site: cross-site\r\n");
    assert!(cross_site.starts_with("HTTP/1.0 403"), "{cross_site}");
    let no_nonce = press(&format!("token={token}&by=Dana"), browser);
    assert!(no_nonce.starts_with("HTTP/1.0 409"), "{no_nonce}");
    let nameless = press(&format!("nonce={nonce}&token={token}&by=+"), browser);
    assert!(nameless.starts_with("HTTP/1.0 422"), "{nameless}");
    assert!(
        !journals(dir.path()).contains("stop-requested"),
        "a refused press journals nothing"
    );
    assert_eq!(server.get("/drills/long-drill", Some(token)).status, 200);

    let confirmed = press(&good, browser);
    assert!(confirmed.starts_with("HTTP/1.0 202"), "{confirmed}");
    assert!(
        confirmed.contains("Stopping drill long-drill"),
        "{confirmed}"
    );
    assert!(confirmed.contains("Dana on call asked at"), "{confirmed}");
    assert!(!confirmed.contains(token), "the token is never shown back");
    let mut stored = Vec::new();
    wait_for("the stopped run stored", Duration::from_secs(60), || {
        stored = runs(&server, "?status=aborted", Some(token));
        !stored.is_empty()
    });
    let id = stored[0]["id"].as_i64().unwrap();
    let detail = server.json(&format!("/api/runs/{id}"), Some(token));
    assert_eq!(
        detail["result"]["reason"],
        "stopped by Dana on call through firedrill serve's stop page: customers complain; everything was reverted"
    );
    assert_eq!(detail["result"]["rollback"]["reverted"][0], "freeze");
    let journal = std::fs::read_to_string(
        Path::new(detail["resultsDir"].as_str().unwrap()).join("journal.jsonl"),
    )
    .unwrap();
    let stop: Value = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["kind"] == "stop-requested")
        .expect("the press is journaled");
    assert_eq!(stop["data"]["by"], "Dana on call");
    assert_eq!(stop["data"]["via"], "firedrill serve's stop page");
    assert!(stop["data"]["at"].as_str().is_some());
    assert!(!journal.contains(&nonce) && !journal.contains(token));
    // The form of that page cannot stop the next run.
    wait_for("the next run under way", Duration::from_secs(60), || {
        server
            .get("/drills/long-drill", Some(token))
            .body
            .contains("Running now")
    });
    let stale = press(&good, browser);
    assert!(stale.starts_with("HTTP/1.0 409"), "{stale}");
    // Behind a proxy that adds the bearer header, the token field may stay empty.
    let page = server.get("/drills/long-drill", Some(token)).body;
    let next = page
        .split("name=\"nonce\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let proxied = press(
        &format!("nonce={next}&token=&by=Sam&reason="),
        &format!("{browser}Authorization: Bearer {token}\r\n"),
    );
    assert!(proxied.starts_with("HTTP/1.0 202"), "{proxied}");
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(&nonce));
    assert!(processes_with(&marker).is_empty());
}

/// Without a token, serve's page for a running drill offers no button: it says how to stop
/// the drill, and serve prints the run's own stop link on its standard error.
#[test]
fn without_a_token_the_drill_page_says_how_to_stop_it() {
    let _guard = shared();
    let (dir, marker) = long_drill("serve-stop-open");
    let server = Server::start(dir.path(), None);
    let mut link = None;
    wait_for(
        "the run's stop link printed",
        Duration::from_secs(60),
        || {
            link = server.stderr.lock().unwrap().lines().find_map(|l| {
                l.split("drill long-drill: stop the drill (and roll back) at: ")
                    .nth(1)
                    .map(str::to_owned)
            });
            link.is_some()
        },
    );
    let page = server.get("/drills/long-drill", None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Running now"), "{}", page.body);
    assert!(!page.body.contains("<form class=\"stop\""), "{}", page.body);
    assert!(!page.body.contains("name=\"nonce\""));
    assert!(page.body.contains("has no <code>--token-file</code>"));
    assert!(page.body.contains("Open the run's own stop link"));
    assert!(
        !page.body.contains(link.as_deref().unwrap().trim()),
        "the link is a secret, never on an open page"
    );
    let refused = post(
        server.address,
        "/drills/long-drill/stop",
        "application/x-www-form-urlencoded",
        "by=someone",
        "",
    );
    assert!(refused.starts_with("HTTP/1.0 403"), "{refused}");
    assert!(!journals(dir.path()).contains("stop-requested"));
    assert_eq!(server.get("/drills/nope", None).status, 404);
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(processes_with(&marker).is_empty());
}

/// With no drill that can come due, serve keeps serving the history until a signal.
#[test]
fn a_schedule_without_drills_serves_the_history_until_stopped() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills: []\n",
    )
    .unwrap();
    let mut server = Server::start(dir.path(), None);
    // Long enough for a server that stopped by itself to have gone.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "serve exited with nothing to schedule: {}",
        server.stderr.lock().unwrap()
    );
    assert_eq!(server.get("/healthz", None).status, 200);
    assert!(
        server.json("/api/runs", None).is_array() || server.json("/api/runs", None).is_object()
    );
    // Without a token nobody could be told apart: the roles' links are not served.
    let live = server.get("/api/live", None);
    assert_eq!(live.status, 403, "{}", live.body);
    assert!(live.body.contains("--token-file"), "{}", live.body);
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("serving the history only"), "{stderr}");
}

#[test]
fn a_database_of_the_first_schema_migrates() {
    let _guard = shared();
    // Migrations are append-only: the first is what it always was.
    assert_eq!(firedrill::serve::store::MIGRATIONS[0], SCHEMA_V1);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let result = include_str!("../fixtures/results/quickstart-result.json");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute(
            "INSERT INTO runs (run_id, experiment, status, started, finished, ttd_p50_ms, result_json, report_html)
             VALUES ('old-run', 'quickstart', 'passed', '2026-01-05T10:00:00.000Z', '2026-01-05T10:01:00.000Z', 594.5, ?1, '<p>old</p>')",
            [result],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let db_arg = db.to_str().unwrap();
    let out = firedrill_cli(&["history", "--database", db_arg, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &listed["runs"][0];
    assert_eq!(run["runId"], "old-run");
    assert_eq!(run["timeToDetectP50Ms"], 594.5);
    assert_eq!(run["hasReport"], true);
    assert!(run["drill"].is_null());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, firedrill::serve::store::SCHEMA_VERSION);
    // The columns of the second schema are there and writable.
    conn.execute(
        "INSERT INTO drill_state (drill, last_due) VALUES ('d', '2026-01-05T10:00:00Z')",
        [],
    )
    .unwrap();
    let out = firedrill_cli(&[
        "history",
        "--database",
        db_arg,
        "--since",
        "2026-01-06",
        "--format",
        "json",
    ]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed["runs"].as_array().unwrap().is_empty());
}

#[test]
fn history_refuses_what_it_cannot_read() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let out = firedrill_cli(&["history", "--database", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(!missing.exists(), "reading never creates a database");
    let out = firedrill_cli(&[
        "history",
        "--database",
        missing.to_str().unwrap(),
        "--since",
        "last week",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since: `last week`"));
}

#[test]
fn a_bad_schedule_is_refused_before_serving() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad-exp.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Experiment\nmetadata: {name: x}\nspec: {}\n",
    )
    .unwrap();
    let schedule = dir.path().join("s.yaml");
    std::fs::write(
        &schedule,
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: a\n      cron: \"61 * * * *\"\n      timeZone: Mars/Olympus\n      experiment: e.yaml\n    - name: a\n      cron: \"* * * * *\"\n      experiment: e.yaml\n      suite: s.yaml\n",
    )
    .unwrap();
    let serve = |schedule: &Path| {
        assert_cmd::Command::new(firedrill())
            .arg("serve")
            .arg("--schedules")
            .arg(schedule)
            .arg("--database")
            .arg(dir.path().join("h.db"))
            .args(["--listen", "127.0.0.1:0"])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap()
    };
    let out = serve(&schedule);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = schedule.display().to_string();
    for expected in [
        format!("{file}:6:13: spec.drills[0].cron: invalid cron pattern `61 * * * *`"),
        format!("{file}:7:17: spec.drills[0].timeZone: unknown IANA time zone `Mars/Olympus`"),
        format!("{file}:9:13: spec.drills[1].name: `a` names another drill already"),
        format!("{file}:12:14: spec.drills[1].suite: give `experiment` or `suite`, not both"),
    ] {
        assert!(stderr.contains(&expected), "{expected}\nnot in:\n{stderr}");
    }
    assert!(!stderr.contains("listening"), "{stderr}");

    std::fs::write(
        &schedule,
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: a\n      cron: \"* * * * *\"\n      experiment: bad-exp.yaml\n      colour: red\n",
    )
    .unwrap();
    let out = serve(&schedule);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("s.yaml:8:7: spec.drills[0].colour: unknown field `colour`"),
        "{stderr}"
    );

    std::fs::write(
        &schedule,
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: a\n      cron: \"* * * * *\"\n      experiment: bad-exp.yaml\n",
    )
    .unwrap();
    let out = serve(&schedule);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad-exp.yaml"), "{stderr}");
    assert!(
        stderr.contains("spec.drills[0]: ") && stderr.contains("has the problems above"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("h.db").exists(),
        "nothing starts on a bad schedule"
    );
}

#[test]
fn the_example_schedule_is_valid_and_its_files_exist() {
    let _guard = shared();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/serve/schedule.yaml");
    let schedule = firedrill::spec::load_schedule(&file).expect("the example schedule is valid");
    assert_eq!(schedule.spec.drills.len(), 3);
    for drill in &schedule.spec.drills {
        let named = drill.file(&file).unwrap();
        assert!(
            firedrill::spec::load_document(&named).is_ok(),
            "{}",
            named.display()
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=../../docs/schedule.schema.json"));
}

// ---------------------------------------------------------------------------------------------
// The pages in a real browser.

#[test]
fn the_pages_render_in_headless_chromium() {
    let Some(binary) = chromium_or_skip("the pages") else {
        return;
    };
    let _guard = shared();
    let (dir, marker) = setup("pages", "run-once");
    let server = Server::start(dir.path(), None);
    wait_for("two passed runs", Duration::from_secs(90), || {
        runs(&server, "?status=passed", None).len() >= 2
    });
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(processes_with(&marker).is_empty());
    // The pages read the history only: served again, with no drill due for a while, they are
    // looked at with no run starting meanwhile.
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills:\n    - name: every-second\n      cron: \"0 0 1 1 *\"\n      experiment: e.yaml\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), None);
    let id = runs(&server, "?status=passed", None)[0]["id"]
        .as_i64()
        .unwrap();
    let base = format!("http://{}", server.address);
    let work = dir.path();
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for (path, expected, shot) in [
        ("/runs?experiment=test", "every-second", "serve-runs.png"),
        (
            &format!("/runs/{id}") as &str,
            "Time to recover",
            "serve-run.png",
        ),
        ("/trend", "Scorecard today", "serve-trend.png"),
        (
            &format!("/runs/{id}/report") as &str,
            "Capability profile",
            "serve-report.png",
        ),
    ] {
        let url = format!("{base}{path}");
        let run = run_chromium(&binary, work, &url, &["--dump-dom".into()]);
        let (dom, console) = (&run.stdout, console_messages(&run.stderr));
        assert!(console.is_empty(), "{path}: console messages: {console:#?}");
        assert!(
            dom.contains(expected),
            "{path}: {expected:?} not on the page"
        );
        let png = artifacts.join(shot);
        let _ = std::fs::remove_file(&png);
        run_chromium(
            &binary,
            work,
            &url,
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1280,1000".into(),
                "--hide-scrollbars".into(),
            ],
        );
        let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    }
    let trend = server.get("/trend", None).body;
    assert!(trend.contains("<polyline"), "the trend is drawn");
    assert!(trend.contains("id=\"overall-score\""));
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn serve_rolls_back_at_its_start_the_runs_a_crash_left_unfinished() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schedule.yaml"),
        "apiVersion: firedrill.dev/v1alpha1\nkind: Schedule\nspec:\n  drills: []\n",
    )
    .unwrap();
    // A run killed mid-fault: its journal holds the intent (a file it created) and no end.
    let left = dir.path().join("left-behind.txt");
    std::fs::write(&left, "canary").unwrap();
    let digest = {
        use sha2::Digest;
        firedrill::journal::hex(&sha2::Sha256::digest(b"canary"))
    };
    let crashed = dir.path().join("results/nightly-20261207T010000.000Z");
    std::fs::create_dir_all(&crashed).unwrap();
    let journal = firedrill::journal::Journal::create(&crashed.join("journal.jsonl")).unwrap();
    journal.record(
        "run-started",
        serde_json::json!({"runId": "1796000000-crashed", "experiment": "web-drill"}),
        true,
    );
    journal.record(
        "fault-intent",
        serde_json::json!({
            "fault": "plant", "type": "canary-file-read", "changes": ["create the file"],
            "undo": ["remove it"], "targets": ["host"],
            "restore": [{"action": "remove-file", "path": left.display().to_string(), "sha256": digest}],
        }),
        true,
    );
    drop(journal);
    // A run that ended: left alone.
    let ended = dir.path().join("results/nightly-20261207T020000.000Z");
    std::fs::create_dir_all(&ended).unwrap();
    let journal = firedrill::journal::Journal::create(&ended.join("journal.jsonl")).unwrap();
    journal.record(
        "run-finished",
        serde_json::json!({"status": "passed"}),
        true,
    );
    drop(journal);

    let server = Server::start(dir.path(), None);
    wait_for("the rollback", Duration::from_secs(20), || !left.exists());
    let history = runs(&server, "", None);
    let run = history
        .iter()
        .find(|r| r["runId"] == "1796000000-crashed")
        .unwrap_or_else(|| panic!("the rolled-back run is in the history: {history:?}"));
    assert_eq!(run["status"], "interrupted", "{run}");
    assert_eq!(run["drill"], "nightly", "{run}");
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("rolled it back from its journal"),
        "{run}"
    );
    let log = firedrill::journal::read_verified(&crashed.join("rollback.jsonl")).unwrap();
    assert_eq!(log.last().unwrap()["kind"], "rollback-finished");
    assert!(!ended.join("rollback.jsonl").exists());
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("a run that did not finish: 1 change(s) undone"),
        "{stderr}"
    );

    // Rolled back once: the next start leaves it.
    let server = Server::start(dir.path(), None);
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("did not finish"), "{stderr}");
    assert!(!crashed.join("rollback-2.jsonl").exists());
}
