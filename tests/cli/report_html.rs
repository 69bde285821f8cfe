//! report.html in a real browser: the quick start's result (tests/fixtures/report/) with a
//! scorecard, notifications and coordination is rendered through the library and opened in
//! headless Chromium, which must load it without a console message (the page's
//! Content-Security-Policy turns any external load or script into one) and show the key
//! figures. The screenshot is kept at target/test-artifacts/report.png.

use crate::browser::{chromium_or_skip, console_messages, file_url, run_chromium, target_dir};
use crate::common::shared;

use firedrill::journal::JournalCheck;
use firedrill::report::html;
use firedrill::report::model::{Report, ReportRun};
use firedrill::result::RunResult;
use firedrill::scorecard::{
    Capability, Gate, GateHit, Metric, MetricObservation, Provenance, Repeatability, Scale,
    ScoreConfig, ScoreInput, Scorecard, score,
};

const FIXTURE: &str = include_str!("../fixtures/report/quickstart-result.json");
/// The head of the quick start's journal, as `firedrill verify` printed it.
const JOURNAL_HEAD: &str = "ab5205c42410d5e308f49a2b9f32d90409ab15e9a0c04ae3cf5270489aa03916";

fn scorecard(result: &RunResult) -> Scorecard {
    let secs = |pick: fn(&firedrill::result::IterationResult) -> Option<f64>| {
        result
            .iterations
            .iter()
            .filter_map(pick)
            .map(|ms| ms / 1e3)
            .collect::<Vec<f64>>()
    };
    let name = result.experiment.name.clone();
    let input = ScoreInput {
        capability_metrics: vec![
            MetricObservation::organisation(
                Capability::Detection,
                Metric::TimeToDetectAvailability,
                secs(|it| it.time_to_detect_ms),
            )
            .with_source(&name),
            MetricObservation::organisation(
                Capability::RecoveryContinuity,
                Metric::TimeToRecover,
                secs(|it| it.time_to_recover_ms),
            )
            .with_source(&name),
            MetricObservation::organisation(
                Capability::ThirdPartyResilience,
                Metric::Custom {
                    name: "availability-during-fault".into(),
                    scale: Scale::Ratio {
                        floor: 0.9,
                        target: 0.99,
                    },
                },
                vec![0.995, 0.97, 0.999],
            ),
            MetricObservation::organisation(
                Capability::Containment,
                Metric::Custom {
                    name: "prevention-refused".into(),
                    scale: Scale::Ratio {
                        floor: 0.0,
                        target: 1.0,
                    },
                },
                vec![1.0],
            ),
            MetricObservation::simulated(
                Capability::ReportingReadiness,
                Metric::EarlyWarningDraft,
                result
                    .notifications
                    .iter()
                    .filter(|n| n.kind == "nis2-early-warning")
                    .map(|n| n.time_to_draft_ms / 1e3)
                    .collect(),
            ),
        ],
        gates: vec![GateHit::new(
            Gate::MissingMandatoryNotificationFlag,
            Provenance::Simulated,
        )],
        repeatability: Repeatability {
            runs: 1,
            ..Repeatability::default()
        },
        ..ScoreInput::default()
    };
    score(&input, &ScoreConfig::default()).expect("the scorecard input is valid")
}

fn report() -> Report {
    let mut result: RunResult =
        serde_json::from_str(FIXTURE).expect("the fixture is a result.json");
    // A detection canary no signal noticed and a prevention check policy refused, so that the
    // security drills section is rendered under the page's policy too.
    for record in [
        serde_json::json!({
            "name": "env-file", "type": "canary-request", "targets": [],
            "injectedAt": result.iterations[0].injected_at, "revertedAt": null, "error": null,
            "security": {"kind": "canary", "actions": ["GET http://127.0.0.1:1/admin/.env answered 404"],
                         "markers": ["firedrill-canary-env-file"]},
            "detectedAt": null, "detectedBy": null, "timeToDetectMs": null
        }),
        serde_json::json!({
            "name": "privileged", "type": "prevent-privileged-pod", "targets": [],
            "injectedAt": result.iterations[0].injected_at, "revertedAt": null, "error": null,
            "security": {"kind": "prevention", "action": "create pod shop/firedrill-canary-privileged (privileged)",
                         "refused": true, "status": 403, "reason": "Forbidden",
                         "message": "pods \"firedrill-canary-privileged\" is forbidden", "markers": ["firedrill-canary-privileged"]}
        }),
    ] {
        result.iterations[0]
            .faults
            .push(serde_json::from_value(record).expect("a fault record"));
    }
    let scorecard = scorecard(&result);
    Report {
        title: result.experiment.name.clone(),
        generated_at: result.finished_at,
        status: result.status,
        scorecard: Some(scorecard),
        history: None,
        runs: vec![ReportRun {
            dir: String::new(),
            journal: JournalCheck {
                file: "journal.jsonl".into(),
                records: 102,
                head: Some(JOURNAL_HEAD.into()),
                intact: true,
                finished: true,
                signed: false,
                faults_injected: 9,
                faults_traced: 9,
                detail: "102 records, chain intact, ends with run-finished".into(),
            },
            result,
        }],
        reviews: Default::default(),
    }
}

/// The page with a script that writes, on the body, how many distinct rows of text the
/// header (the first screen) lays out.
fn with_line_count(html: &str) -> String {
    const SCRIPT: &str = r#"<script>
window.addEventListener('load', () => {
  const header = document.querySelector('header.verdict');
  const rows = new Set();
  const walker = document.createTreeWalker(header, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) {
      if (rect.width > 0 && rect.height > 0) rows.add(Math.round(rect.top + rect.height / 2));
    }
  }
  // Rows whose middles are within a few pixels are one line of text.
  const sorted = [...rows].sort((a, b) => a - b);
  let lines = 0, last = -100;
  for (const y of sorted) { if (y - last > 6) { lines++; last = y; } }
  document.body.setAttribute('data-first-screen-lines', String(lines));
});
</script>"#;
    html.replace(
        "default-src 'none';",
        "default-src 'none'; script-src 'unsafe-inline';",
    )
    .replace("</body>", &format!("{SCRIPT}</body>"))
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let _guard = shared();
    let Some(binary) = chromium_or_skip("the report") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let report = report();
    let page = work.path().join("report.html");
    let html = html::render(&report).expect("the report renders");
    std::fs::write(&page, &html).unwrap();

    // The console check must be able to fail: a page that logs, and one that loads an
    // external image under the report's policy, both show up.
    let canary = work.path().join("canary.html");
    std::fs::write(
        &canary,
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">\
         <p>canary</p><img src=\"https://example.invalid/x.png\" alt=\"\">",
    )
    .unwrap();
    let run = run_chromium(
        &binary,
        work.path(),
        &file_url(&canary),
        &["--dump-dom".into()],
    );
    assert!(
        !console_messages(&run.stderr).is_empty(),
        "Chromium's console log is not where this test looks for it:\n{}",
        run.stderr
    );

    let run = run_chromium(
        &binary,
        work.path(),
        &file_url(&page),
        &["--dump-dom".into()],
    );
    let console = console_messages(&run.stderr);
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = run.stdout;
    let scorecard = report.scorecard.as_ref().unwrap();
    // Detection, recovery, containment and third parties: 65% of the profile, graded.
    let overall = format!("{:.1}", scorecard.overall.score.unwrap());
    assert!(
        dom.contains(&format!("id=\"overall-score\">{overall} / 100<")),
        "overall score {overall} not shown"
    );
    assert!(
        dom.contains("covers 65% of the weight (4 of 8 capabilities); a grade needs 60%"),
        "coverage"
    );
    for text in [
        "Had this been real",
        "NIS2 early warning, due within 24 h of awareness: not prepared by anyone",
        "Findings that matter most",
        "Overrides of the defaults",
        "Simulated by firedrill, not scored: Reporting readiness",
    ] {
        assert!(dom.contains(text), "{text:?} not on the board");
    }
    // Iteration 1 of the fixture detected after 594.592 ms.
    assert!(
        dom.contains("<td class=\"num\">595 ms</td>"),
        "time to detect"
    );
    for text in [
        "Experiment: quickstart",
        "not evidenced",
        // Upper-cased by the style sheet, not in the DOM.
        "Passed",
        "never acknowledged",
        "EXERCISE",
        JOURNAL_HEAD,
        "A scorecard is supporting evidence, not an attestation.",
        "Security drills",
        "A caught canary proves that this known signal is detected; it does not prove that novel attacks would be.",
        "<code>firedrill-canary-privileged</code>",
    ] {
        assert!(dom.contains(text), "{text:?} not in the rendered page");
    }
    assert!(dom.contains("<svg"), "the charts are inline SVG");

    // The board's first screen is for a board member: fewer than 25 lines of text at
    // 1280 px. A copy of the page with a script (and a policy that lets it run) counts the
    // distinct rows of text in the header as laid out.
    let counted = work.path().join("counted.html");
    std::fs::write(&counted, with_line_count(&html)).unwrap();
    let lines = |width: u32| -> usize {
        let run = run_chromium(
            &binary,
            work.path(),
            &file_url(&counted),
            &[
                "--dump-dom".into(),
                format!("--window-size={width},1000"),
                "--virtual-time-budget=2000".into(),
            ],
        );
        let marker = "data-first-screen-lines=\"";
        let at = run.stdout.find(marker).expect("the count was written") + marker.len();
        let digits: String = run.stdout[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("a count")
    };
    let at_1280 = lines(1280);
    eprintln!("first screen: {at_1280} lines of text at 1280 px");
    assert!(
        (10..25).contains(&at_1280),
        "the first screen has {at_1280} lines of text at 1280 px"
    );
    // The count can fail: a narrow window wraps the same words into many more lines.
    let narrow = lines(420);
    eprintln!("first screen: {narrow} lines of text at 420 px");
    assert!(narrow >= 25, "the line count does not see wrapping");

    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("report.png");
    let _ = std::fs::remove_file(&png);
    run_chromium(
        &binary,
        work.path(),
        &file_url(&page),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1000".into(),
            "--hide-scrollbars".into(),
        ],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    std::fs::write(artifacts.join("report.html"), &html).unwrap();
    eprintln!("screenshot: {}", png.display());

    // At print size the board is the whole first A4 page, and the engineering detail
    // starts after it.
    let pdf = artifacts.join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    run_chromium(
        &binary,
        work.path(),
        &file_url(&page),
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    let Some(pages) = pdf_pages(&pdf) else {
        return;
    };
    assert!(pages.len() > 2, "the whole report on {} pages", pages.len());
    let first = &pages[0];
    for text in [
        overall.as_str(),
        "Coverage:",
        "Findings that matter most",
        "Had this been real",
        "DORA major-incident line",
        "Overrides of the defaults",
    ] {
        assert!(
            first.contains(text),
            "{text:?} not on the first printed page:\n{first}"
        );
    }
    assert!(
        !first.contains("Capability profile") && pages[1].contains("Capability profile"),
        "the first printed page is the board alone:\n{first}"
    );
    eprintln!("printed: {} A4 pages, {}", pages.len(), pdf.display());
}

/// The text of each page of a PDF (`pdftotext`, from poppler-utils), after checking the
/// pages are A4; none without pdftotext, which only CI requires.
fn pdf_pages(pdf: &std::path::Path) -> Option<Vec<String>> {
    let info = match std::process::Command::new("pdfinfo").arg(pdf).output() {
        Ok(info) => String::from_utf8_lossy(&info.stdout).into_owned(),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipped the print check: pdfinfo and pdftotext (poppler-utils) are not installed"
            );
            return None;
        }
        Err(e) => panic!("pdfinfo (poppler-utils) is needed under CI: {e}"),
    };
    assert!(info.contains("pts (A4)"), "not A4: {info}");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // pdftotext ends every page with a form feed.
    Some(
        text.split('\u{c}')
            .filter(|page| !page.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    )
}
