//! A real browser takes part in a drill: headless Chromium, driven through chromedriver over
//! WebDriver, opens each role's link in its own tab, reads the situation, answers the
//! decision put to the role and sees it recorded. The run's result and journal must then hold
//! exactly what was typed in the browser. Screenshots of both pages, before and after
//! answering, are kept under TARGET/artifacts/respond-browser.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::*;

/// The whole test, browser included; past it the test fails and everything it started is
/// killed.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);

/// Each wait for something on a page or from the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(40);

const FREEZE: &str =
    "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 1s}";

/// A game day at 3600 times real speed: a budget of 24 h is 24 s real, room enough for a
/// browser to answer, and the run waits at most four budgets for an open question.
const RESPONSE: &str = r#"  detection: {timeout: 10s, signals: [{name: mon, type: probe-fails, probe: api, consecutive: 2}]}
  recovery: {stableFor: 300ms, timeout: 10s}
  response:
    timeScale: 3600
    scenario: {malicious: false}
    significance: {outage: 10m}
    services: [{name: checkout, probes: [api], memberStates: [DE, FR], customerFacing: true}]
    roles:
      - {name: incident-commander, function: cyber}
      - {name: legal, function: legal}
    decisions:
      - {id: significance, decision: nis2-significant-incident, decidedBy: incident-commander, budget: 24h}
      - {id: notify, decision: notify-authority, decidedBy: legal, after: {decision: significance}, budget: 24h}"#;

/// What one role types into its page.
struct Typed {
    role: &'static str,
    point: &'static str,
    answer: &'static str,
    rationale: &'static str,
    by: &'static str,
}

const COMMANDER: Typed = Typed {
    role: "incident-commander",
    point: "significance",
    answer: "yes",
    rationale: "Checkout is down for customers in DE and FR; the outage is still growing.",
    by: "Ada Commander",
};

const LEGAL: Typed = Typed {
    role: "legal",
    point: "notify",
    answer: "yes",
    rationale: "The commander judged it significant: the early warning is due within 24 h.",
    by: "Lee Counsel",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_answers_each_roles_decision_and_the_run_records_it() {
    let _guard = shared_async().await;
    let Some(tools) = browser_or_skip("the role's page in a real browser") else {
        return;
    };
    // Dropping the future on timeout drops the guards inside it, which kill the run and
    // chromedriver's process group.
    tokio::time::timeout(TEST_TIMEOUT, drill_in_a_browser(tools))
        .await
        .unwrap_or_else(|_| panic!("the browser drill did not finish within {TEST_TIMEOUT:?}"));
}

async fn drill_in_a_browser(tools: Tools) {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("respond-browser");
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(&marker, 2, "50ms", FREEZE, RESPONSE),
    );
    let out = dir.path().join("out");
    let mut run = Killed::new(spawn_run(&file, &out), false);
    let stderr = collect_lines(run.child.stderr.take().unwrap());
    let commander_link = wait_async("the incident commander's link", || {
        link_of(&stderr, COMMANDER.role)
    })
    .await;
    let legal_link = wait_async("legal's link", || link_of(&stderr, LEGAL.role)).await;
    assert_ne!(commander_link, legal_link, "one link per role");

    let artifacts = target_dir().join("artifacts").join("respond-browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let driver = Chromedriver::start(&tools.chromedriver, &artifacts.join("chromedriver.log"));
    let profile = tempfile::tempdir_in(dir.path()).unwrap();
    let browser = driver.connect(&tools.chromium, profile.path()).await;

    // Two tabs, as on a game day: the incident commander's and legal's.
    browser.goto(&commander_link).await.unwrap();
    let commander_tab = browser.window().await.unwrap();
    let legal_tab = browser.new_window(true).await.unwrap().handle;
    browser.switch_to_window(legal_tab.clone()).await.unwrap();
    browser.goto(&legal_link).await.unwrap();
    assert_eq!(
        text(&browser, "dd.role").await,
        "legal",
        "legal's tab shows legal's page"
    );

    browser.switch_to_window(commander_tab).await.unwrap();
    wait_until_open(&browser, COMMANDER.point).await;
    let shot = |name: &str| artifacts.join(format!("{name}.png"));
    screenshot(&browser, &shot("incident-commander-open")).await;
    assert_eq!(text(&browser, "dd.role").await, "incident-commander");
    let point = "#point-significance";
    let affected = text(
        &browser,
        &format!("{point} tr.field[data-key=affected-services] td.value"),
    )
    .await;
    assert!(affected.contains("checkout"), "{affected}");
    let unknown = browser
        .find_all(Locator::Css(&format!(
            "{point} tr.field[data-certainty=unknown]"
        )))
        .await
        .unwrap();
    assert!(
        !unknown.is_empty(),
        "the situation admits what is not known"
    );
    let clock = browser
        .find(Locator::Css(&format!(
            "{point} li.clock[data-deadline=nis2-early-warning]"
        )))
        .await
        .expect("the early warning's clock is shown");
    assert_eq!(
        clock.attr("data-state").await.unwrap().as_deref(),
        Some("running")
    );
    let shown_commander = answer(&browser, &COMMANDER).await;
    screenshot(&browser, &shot("incident-commander-answered")).await;

    browser.switch_to_window(legal_tab).await.unwrap();
    // The second question is put by the first answer.
    wait_until_open(&browser, LEGAL.point).await;
    screenshot(&browser, &shot("legal-open")).await;
    let shown_legal = answer(&browser, &LEGAL).await;
    screenshot(&browser, &shot("legal-answered")).await;

    let status = wait_async("the run's end", || run.child.try_wait().unwrap()).await;
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        stderr.lock().unwrap().join("\n")
    );
    run.done();
    assert!(processes_with(&marker).is_empty(), "processes left behind");

    // The listener went with the run: the link no longer gives a page.
    let _ = browser.goto(&legal_link).await;
    let after = browser.find(Locator::Css("section.point")).await;
    assert!(after.is_err(), "a page after the run's end");
    browser.close().await.unwrap();
    drop(driver);

    let records = journal(&out);
    let decisions = result(&out)["response"]["decisions"].clone();
    let decisions = decisions.as_array().expect("response.decisions");
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    for (typed, shown) in [(&COMMANDER, shown_commander), (&LEGAL, shown_legal)] {
        let d = decisions
            .iter()
            .find(|d| d["point"] == typed.point)
            .unwrap_or_else(|| panic!("no decision {} in {decisions:?}", typed.point));
        assert_eq!(d["answer"], typed.answer, "{d}");
        assert_eq!(d["rationale"], typed.rationale, "{d}");
        assert_eq!(d["by"], typed.by, "{d}");
        assert_eq!(d["timely"], true, "{d}");
        assert_eq!(
            d["snapshot"],
            shown.as_str(),
            "the snapshot the page showed"
        );
        let record = records
            .iter()
            .find(|r| r["kind"] == "decision-answered" && r["data"]["point"] == typed.point)
            .unwrap_or_else(|| panic!("no decision-answered record for {}", typed.point));
        assert_eq!(record["seq"], d["journalSeq"], "{d}");
        let data = &record["data"];
        assert_eq!(data["snapshot"], d["snapshot"]);
        assert_eq!(data["snapshotShown"], true);
        assert_eq!(data["role"], typed.role);
        assert_eq!(data["timeScale"], 3600.0);
        let situation = &data["situation"];
        let affected = situation["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == "affected-services")
            .unwrap_or_else(|| panic!("no affected services in {situation}"));
        assert_eq!(affected["value"], json!(["checkout"]), "{situation}");
    }
    let asked: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "decision-asked")
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");

    // The links are secrets: no file of the results holds a token.
    for link in [&commander_link, &legal_link] {
        let token = link.rsplit('/').next().unwrap();
        assert!(token.len() >= 20, "{link}");
        for path in files_under(&out) {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{} holds a role's token",
                path.display()
            );
        }
    }
}

/// Waits until the page shows `point` open, reloading it meanwhile (it would reload itself
/// only every 5 s).
async fn wait_until_open(browser: &Client, point: &str) {
    let open = format!("#point-{point}[data-state=open]");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while browser.find(Locator::Css(&open)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the page never showed {point} open:\n{}",
            browser.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        browser.refresh().await.unwrap();
    }
}

/// Answers `typed.point` on the page as a person would: picks the answer by its label, types
/// the rationale and the name, submits, and checks that the page says it was recorded.
/// Returns the snapshot the form named.
async fn answer(browser: &Client, typed: &Typed) -> String {
    let point = format!("#point-{}", typed.point);
    let question = text(browser, &format!("{point} h2.question")).await;
    assert!(!question.is_empty(), "a question is shown");
    let snapshot = browser
        .find(Locator::Css(&format!("{point} input[name=snapshot]")))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(snapshot.len(), 64, "a SHA-256 in hex: {snapshot:?}");

    let mut labels = Vec::new();
    for n in 0.. {
        let Ok(label) = browser
            .find(Locator::Css(&format!(
                "label[for=answer-{}-{n}]",
                typed.point
            )))
            .await
        else {
            break;
        };
        labels.push(label.text().await.unwrap());
    }
    assert_eq!(labels, ["yes", "no"]);
    let n = labels.iter().position(|l| l == typed.answer).unwrap();
    let radio = browser
        .find(Locator::Id(&format!("answer-{}-{n}", typed.point)))
        .await
        .unwrap();
    radio.click().await.unwrap();
    assert!(radio.is_selected().await.unwrap());
    browser
        .find(Locator::Id(&format!("rationale-{}", typed.point)))
        .await
        .unwrap()
        .send_keys(typed.rationale)
        .await
        .unwrap();
    browser
        .find(Locator::Id(&format!("by-{}", typed.point)))
        .await
        .unwrap()
        .send_keys(typed.by)
        .await
        .unwrap();
    let button = browser
        .find(Locator::Css(&format!("{point} button[type=submit]")))
        .await
        .unwrap();
    assert_eq!(button.text().await.unwrap(), "Record the decision");
    button.click().await.unwrap();

    let notice = wait_for_element(browser, "p.notice").await;
    assert_eq!(
        notice.attr("class").await.unwrap().as_deref(),
        Some("notice recorded"),
        "{}",
        notice.text().await.unwrap()
    );
    assert_eq!(
        notice.attr("role").await.unwrap().as_deref(),
        Some("status")
    );
    let state = browser
        .find(Locator::Css(&point))
        .await
        .unwrap()
        .attr("data-state")
        .await
        .unwrap();
    assert_eq!(state.as_deref(), Some("answered"));
    assert_eq!(
        text(browser, &format!("{point} p.answer strong")).await,
        typed.answer
    );
    assert_eq!(
        text(browser, &format!("{point} blockquote.rationale")).await,
        typed.rationale
    );
    assert_eq!(text(browser, &format!("{point} span.by")).await, typed.by);
    snapshot
}

/// The text of the element `css` selects.
async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits for an element `css` selects, without reloading (after a submit, the next page may
/// still be loading).
async fn wait_for_element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Ok(found) = browser.find(Locator::Css(css)).await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {css} within {STEP_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves a PNG of the current tab and prints where.
async fn screenshot(browser: &Client, path: &Path) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Polls `found` every 50 ms until it gives a value, or panics after [`STEP_TIMEOUT`].
async fn wait_async<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} after {STEP_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The run's standard error, line by line, as it comes.
fn collect_lines(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    use std::io::BufRead as _;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let keep = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            keep.lock().unwrap().push(line);
        }
    });
    lines
}

/// The link the run printed for `role` (`respond as ROLE: URL`, perhaps after a time prefix).
fn link_of(lines: &Arc<Mutex<Vec<String>>>, role: &str) -> Option<String> {
    let prefix = format!("respond as {role}: ");
    lines.lock().unwrap().iter().find_map(|l| {
        let at = l.find(&prefix)?;
        let link = l[at + prefix.len()..].split_whitespace().next()?;
        Some(link.to_owned())
    })
}

/// Every file under `dir`, in subfolders too.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(
        !files.is_empty(),
        "the run wrote nothing to {}",
        dir.display()
    );
    files
}

/// The folder cargo builds into, wherever CARGO_TARGET_DIR put it: this test binary lives in
/// TARGET/debug/deps (as in tests/cli/browser.rs).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Chromium and chromedriver.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// Chromium and chromedriver on PATH; without them the test is skipped, or fails when CI is
/// set, since `what` must be checked in a browser there.
fn browser_or_skip(what: &str) -> Option<Tools> {
    let chromium = on_path("chromium");
    let chromedriver = on_path("chromedriver");
    if let (Some(chromium), Some(chromedriver)) = (chromium.clone(), chromedriver.clone()) {
        return Some(Tools {
            chromium,
            chromedriver,
        });
    }
    let missing: Vec<&str> = [("chromium", chromium), ("chromedriver", chromedriver)]
        .into_iter()
        .filter(|(_, found)| found.is_none())
        .map(|(name, _)| name)
        .collect();
    let why = format!(
        "{} not on PATH (apt-get install chromium chromium-driver fonts-dejavu-core)",
        missing.join(" and ")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}, and CI is set: {what} must be checked in a browser"
    );
    eprintln!("skipped: {why}; set CI to make this a failure");
    None
}

/// A child killed when dropped: the whole process group if it leads one.
struct Killed {
    child: Child,
    group: bool,
    done: bool,
}

impl Killed {
    fn new(child: Child, group: bool) -> Self {
        Self {
            child,
            group,
            done: false,
        }
    }

    /// The child exited on its own: nothing to kill.
    fn done(&mut self) {
        self.done = true;
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.group {
            if let Ok(group) = i32::try_from(self.child.id()) {
                // SAFETY: kill(2) with a negative pid signals the process group we created.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// chromedriver on a loopback port, in its own process group with the browsers it starts,
/// all killed when this is dropped.
struct Chromedriver {
    /// Killed with its group, the browser included, when dropped.
    _process: Killed,
    url: String,
}

impl Chromedriver {
    /// Starts chromedriver on a free port, logging to `log`, and waits until it listens.
    fn start(binary: &Path, log: &Path) -> Self {
        // chromedriver does not say which port it took given --port=0: pick one, free it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut process = Killed::new(child, true);
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        wait_for("chromedriver to listen", STEP_TIMEOUT, || {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("chromedriver exited: {status}");
            }
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        });
        Self {
            _process: process,
            url: format!("http://{address}"),
        }
    }

    /// A WebDriver session with headless Chromium, its profile in `profile`.
    async fn connect(&self, chromium: &Path, profile: &Path) -> Client {
        let options = json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1000,2000",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session on {}: {e}", self.url))
    }
}
