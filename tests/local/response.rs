//! Black-box tests of the people's decisions in a drill: the real binary, a chat webhook on
//! loopback that gets the role's link, answers through `firedrill respond` and over HTTP
//! while the run goes on, and a role that never answers.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::notifications::{post, receiver, records_of, spawn_demo};

const FREEZE: &str =
    "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 1s}";

/// The link the run printed for `role`.
fn link_of(lines: &Arc<Mutex<Vec<String>>>, role: &str) -> Option<String> {
    let prefix = format!("respond as {role}: ");
    lines.lock().unwrap().iter().find_map(|l| {
        let at = l.find(&prefix)?;
        Some(l[at + prefix.len()..].trim().to_owned())
    })
}

/// Every file under `dir`, read as bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

fn respond(args: &[&str]) -> std::process::Output {
    Command::new(firedrill())
        .arg("respond")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn decisions_reach_roles_by_chat_and_are_answered_journaled_and_judged() {
    let _guard = shared();
    let (chat_url, chat) = receiver(200);
    let (inbox_url, inbox) = receiver(202);
    // At scale 3600 an hour of exercise time is a second: budgets of 10 h give each role
    // 10 s, and the run waits 4 budgets (40 s) for an answer that does not come.
    let extra = format!(
        r#"  detection:
    timeout: 5s
    signals: [{{name: mon, type: probe-fails, probe: api, consecutive: 2}}]
  recovery: {{stableFor: 300ms, timeout: 10s}}
  notification:
    entity: {{name: Example Payments SE, memberStates: [DE, FR]}}
    deliver: {{url: "{inbox_url}", timeout: 5s}}
  response:
    timeScale: 3600
    scenario: {{malicious: false}}
    significance: {{outage: 10m}}
    services:
      - {{name: checkout, probes: [api], memberStates: [DE, FR], customerFacing: true}}
    roles:
      - {{name: incident-commander, function: cyber, reach: {{type: chat, url: "{chat_url}"}}}}
      - {{name: legal, function: legal, reach: {{type: chat, url: "{chat_url}", format: mattermost}}}}
      - {{name: communications, function: communications}}
    decisions:
      - {{id: significance, decision: nis2-significant-incident, decidedBy: incident-commander, budget: 10h}}
      - {{id: malicious, decision: nis2-suspected-malicious, decidedBy: incident-commander, budget: 10h}}
      - {{id: notify, decision: notify-authority, decidedBy: legal, after: {{decision: significance}}, budget: 10h}}
      - {{id: customers, decision: inform-customers, decidedBy: communications, budget: 2h}}
    approvals:
      - {{report: nis2-early-warning, reviewedBy: incident-commander, approvedBy: legal, budget: 10h}}"#
    );
    let (dir, marker, mut child, stderr) = spawn_demo("respond", &extra);
    let out = dir.path().join("out");
    wait_for("the roles' links", Duration::from_secs(20), || {
        link_of(&stderr, "communications").is_some()
    });
    let legal = link_of(&stderr, "legal").unwrap();
    let commander = link_of(&stderr, "incident-commander").unwrap();

    // The chat gets one Slack message per decision put to the commander, with its link.
    let message = chat.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(message.head.starts_with("POST "), "{}", message.head);
    let body: Value = serde_json::from_slice(&message.body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "EXERCISE (firedrill drill test): a decision waits for incident-commander."
        ),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("<{commander}|Open your decision page>")),
        "{text}"
    );
    let second = chat.recv_timeout(Duration::from_secs(5)).unwrap();
    let texts = [
        text.to_owned(),
        serde_json::from_slice::<Value>(&second.body).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    assert!(
        texts
            .iter()
            .any(|t| t.contains("*Is this a significant incident"))
    );
    assert!(texts.iter().any(|t| t.contains("*Do we suspect")));
    let review = chat.recv_timeout(Duration::from_secs(5)).unwrap();
    let review: Value = serde_json::from_slice(&review.body).unwrap();
    assert!(
        review["text"]
            .as_str()
            .unwrap()
            .contains("*Review the draft of the NIS2 early warning"),
        "{review}"
    );
    // The early warning waits for its approval: nothing reaches the inbox yet.
    assert!(inbox.try_recv().is_err(), "submitted before approval");

    // Legal's question waits for the commander's answer.
    let shown = respond(&[&legal]);
    let page = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(shown.status.code(), Some(0), "{page}");
    assert!(
        page.contains("not asked yet: waits for the answer to `significance`"),
        "{page}"
    );
    let early = respond(&[&legal, "--decision", "yes", "--rationale", "too early"]);
    assert_eq!(early.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&early.stderr).trim(),
        "error: no decision is open for legal now"
    );

    // Two open for the commander: --point says which; a wrong answer is refused.
    let both = respond(&[&commander, "--decision", "yes", "--rationale", "r"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("3 decisions are open for incident-commander: say which with --point (significance, malicious, review-nis2-early-warning)"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    let wrong = respond(&[
        &commander,
        "--point",
        "significance",
        "--decision",
        "maybe",
        "--rationale",
        "r",
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("the answer was refused (HTTP 422): `maybe` is not an allowed answer: write one of yes, no"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let answered = respond(&[
        &commander,
        "--point",
        "significance",
        "--decision",
        "yes",
        "--rationale",
        "checkout fails for everyone",
        "--by",
        "Ann",
    ]);
    let said = String::from_utf8_lossy(&answered.stdout);
    assert_eq!(answered.status.code(), Some(0), "{said}");
    assert!(
        said.starts_with("recorded: incident-commander answered `significance` with yes after "),
        "{said}"
    );

    // Legal's question is put now, and legal's chat (Mattermost) says so.
    let told = chat.recv_timeout(Duration::from_secs(10)).unwrap();
    let told: Value = serde_json::from_slice(&told.body).unwrap();
    let told = told["text"].as_str().unwrap();
    assert!(
        told.starts_with("EXERCISE (firedrill drill test): a decision waits for legal."),
        "{told}"
    );
    assert!(
        told.ends_with(&format!("[Open your decision page]({legal})")),
        "{told}"
    );

    // Legal answers over HTTP, as a script would.
    let json = respond(&[&legal, "--format", "json"]);
    let view: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(view["points"][0]["state"], "open");
    let snapshot = view["points"][0]["snapshot"].as_str().unwrap().to_owned();
    let (status, hostile) = post(&legal, r#"{"point": "notify", "answer": "yes"}"#);
    assert_eq!(status, 422, "{hostile}");
    let (status, recorded) = post(
        &legal,
        &format!(
            r#"{{"point": "notify", "answer": "no", "rationale": "we wait for forensics", "snapshot": "{snapshot}", "by": "Lea"}}"#
        ),
    );
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["snapshot"], snapshot.as_str());
    let malicious = respond(&[
        &commander,
        "--point",
        "malicious",
        "--decision",
        "no",
        "--rationale",
        "a freeze, no intruder",
    ]);
    assert_eq!(malicious.status.code(), Some(0));

    // The draft is reviewed, then approved by legal, and only then submitted to the inbox.
    let reviewed = respond(&[
        &commander,
        "--decision",
        "ready for approval",
        "--rationale",
        "flags and times are right",
    ]);
    assert_eq!(
        reviewed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reviewed.stderr)
    );
    let told = chat.recv_timeout(Duration::from_secs(10)).unwrap();
    let told: Value = serde_json::from_slice(&told.body).unwrap();
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("**Approve the NIS2 early warning for submission?"),
        "{told}"
    );
    assert!(inbox.try_recv().is_err(), "submitted before approval");
    let approved = respond(&[
        &legal,
        "--point",
        "approve-nis2-early-warning",
        "--decision",
        "approve",
        "--rationale",
        "ready to go",
        "--by",
        "Lea",
    ]);
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let submitted = inbox.recv_timeout(Duration::from_secs(10)).unwrap();
    let draft: Value = serde_json::from_slice(&submitted.body).unwrap();
    assert_eq!(draft["title"], "EXERCISE: NIS2 early warning");
    // The submitted early warning carries the people's judgement, not the experiment's.
    let flag = draft["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "suspectedMalicious")
        .unwrap();
    assert_eq!(flag["value"], false, "{flag}");
    assert_eq!(flag["status"], "known");
    assert!(
        flag["note"]
            .as_str()
            .unwrap()
            .starts_with("decided by incident-commander (`malicious`)"),
        "{flag}"
    );
    assert_eq!(draft["approvedBy"], "legal");

    // Communications never answers: the run waits for it, then ends well all the same.
    let exit = wait_exit(&mut child, Duration::from_secs(60));
    let lines = stderr.lock().unwrap().join("\n");
    assert_eq!(exit.code(), Some(0), "{lines}");
    assert!(lines.contains("waiting up to"), "{lines}");
    assert!(
        lines.contains("for decisions: customers (communications)"),
        "{lines}"
    );
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");

    let r = result(&out);
    let response = &r["response"];
    assert_eq!(response["timeScale"], 3600.0);
    assert_eq!(response["judgedOnIteration"], 1);
    let decisions = response["decisions"].as_array().unwrap();
    let decision = |id: &str| decisions.iter().find(|d| d["point"] == id).unwrap();
    let significance = decision("significance");
    assert_eq!(significance["answer"], "yes");
    assert_eq!(significance["by"], "Ann");
    assert_eq!(significance["timely"], true);
    // A 1 s freeze is 1 h of exercise time: beyond the 10 min line, so significant.
    assert_eq!(significance["consistency"], "consistent");
    assert_eq!(significance["hindsight"], "yes");
    let notify = decision("notify");
    assert_eq!(notify["handedFrom"], "incident-commander");
    assert_eq!(decision("significance")["handedFrom"], Value::Null);
    assert_eq!(
        decision("approve-nis2-early-warning")["handedFrom"],
        "incident-commander",
        "approval after another role's review is a hand-off"
    );
    assert!(
        std::fs::read_to_string(out.join("scorecard.md"))
            .unwrap()
            .contains("hand-off-delay")
    );
    assert_eq!(notify["answer"], "no");
    assert_eq!(notify["snapshot"], snapshot.as_str());
    assert_eq!(notify["consistency"], "inconsistent");
    assert_eq!(notify["hindsight"], "yes");
    assert!(notify["score"].as_f64().unwrap() < 100.0);
    assert_eq!(decision("malicious")["consistency"], "consistent");
    let customers = decision("customers");
    assert_eq!(customers["answer"], Value::Null);
    assert_eq!(customers["score"], 0.0);
    assert_eq!(customers["findings"][0], "never answered");
    let roles = response["roles"].as_array().unwrap();
    assert_eq!(roles[0]["reach"], "chat");
    assert_eq!(roles[0]["chat"].as_array().unwrap().len(), 3);
    assert_eq!(roles[0]["chat"][0]["status"], 200);
    assert_eq!(roles[1]["chat"][0]["point"], "notify");
    assert_eq!(roles[1]["chat"][1]["point"], "approve-nis2-early-warning");
    assert_eq!(roles[2]["linkOpenedAt"], Value::Null);

    // The journal holds what was shown with each answer, and the snapshot's hash is its hash.
    let records = journal(&out);
    let answers = records_of(&records, "decision-answered");
    assert_eq!(answers.len(), 5, "refused answers record nothing");
    let by_legal = answers
        .iter()
        .find(|a| a["data"]["role"] == "legal")
        .unwrap();
    assert_eq!(by_legal["seq"], notify["journalSeq"]);
    assert_eq!(by_legal["data"]["snapshotShown"], true);
    assert_eq!(by_legal["data"]["rationale"], "we wait for forensics");
    assert_eq!(by_legal["data"]["timeScale"], 3600.0);
    let situation = &by_legal["data"]["situation"];
    assert_eq!(
        firedrill::journal::hash_of(situation),
        snapshot,
        "the snapshot's hash is the hash of the situation journaled"
    );
    assert_eq!(records_of(&records, "decision-asked").len(), 6);
    assert_eq!(records_of(&records, "chat-posted").len(), 5);
    assert_eq!(records_of(&records, "notification-approved").len(), 1);
    assert_eq!(records_of(&records, "notification-submitted").len(), 1);
    let approved_draft = records_of(&records, "notification-approved-draft");
    assert_eq!(
        approved_draft[0]["data"]["decided"],
        serde_json::json!(["suspectedMalicious"])
    );
    let file = approved_draft[0]["data"]["file"].as_str().unwrap();
    assert_eq!(
        file,
        "notifications/iteration-1-nis2-early-warning.approved.json"
    );
    assert_eq!(
        std::fs::read(out.join(file)).unwrap(),
        submitted.body,
        "what was submitted is the file"
    );
    let approval = &response["approvals"][0];
    assert_eq!(approval["report"], "nis2-early-warning");
    assert_eq!(approval["review"], "ready for approval");
    assert_eq!(approval["outcome"], "approved");
    assert_eq!(approval["withinDeadline"], true);
    assert_eq!(approval["submission"]["status"], 202);
    assert_eq!(r["notifications"][0]["delivery"]["status"], 202);
    let ready = approval["timeToApproveMs"].as_f64().unwrap();
    let delivered = r["notifications"][0]["delivery"]["timeToDeliverMs"]
        .as_f64()
        .unwrap();
    assert!(ready > 0.0 && delivered > 0.0, "{approval}");
    assert_eq!(records_of(&records, "response-closed").len(), 1);

    // No file of the run holds a token.
    for link in [&legal, &commander] {
        let token = link.rsplit('/').next().unwrap();
        for (path, bytes) in files_under(&out) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(token),
                "{} holds a role's token",
                path.display()
            );
        }
    }
}

/// Waits until the run says `point` is put to its role.
fn wait_put(lines: &Arc<Mutex<Vec<String>>>, point: &str) {
    let said = format!("decision `{point}` put to ");
    wait_for(&said, Duration::from_secs(20), || {
        lines.lock().unwrap().iter().any(|l| l.contains(&said))
    });
}

#[test]
fn reports_after_the_first_run_on_their_own_clocks_from_the_approval_they_follow() {
    let _guard = shared();
    let (inbox_url, inbox) = receiver(202);
    // At scale 3600 the one-month final report is due 672 s after the notification's
    // approval, and DORA's intermediate report 72 s after the initial notification's.
    let extra = format!(
        r#"  detection:
    timeout: 5s
    signals: [{{name: mon, type: probe-fails, probe: api, consecutive: 2}}]
  recovery: {{stableFor: 300ms, timeout: 10s}}
  notification:
    dora: true
    entity: {{name: Example Payments SE, memberStates: [DE]}}
    deliver: {{url: "{inbox_url}", timeout: 5s}}
  response:
    timeScale: 3600
    roles:
      - {{name: legal, function: legal}}
    approvals:
      - {{report: nis2-incident-notification, approvedBy: legal, budget: 10h}}
      - {{report: nis2-final-report, approvedBy: legal, budget: 7d}}
      - {{report: dora-initial-notification, approvedBy: legal, budget: 10h}}
      - {{report: dora-intermediate-report, approvedBy: legal, budget: 10h}}"#
    );
    let (dir, marker, mut child, stderr) = spawn_demo("reports", &extra);
    let out = dir.path().join("out");
    wait_for("legal's link", Duration::from_secs(20), || {
        link_of(&stderr, "legal").is_some()
    });
    let legal = link_of(&stderr, "legal").unwrap();
    wait_put(&stderr, "approve-nis2-incident-notification");
    // The early warning needs no approval: it goes to the inbox as drafted.
    let early = inbox.recv_timeout(Duration::from_secs(10)).unwrap();
    let early: Value = serde_json::from_slice(&early.body).unwrap();
    assert_eq!(early["kind"], "nis2-early-warning");
    // The final report waits for the notification's approval.
    let page = String::from_utf8_lossy(&respond(&[&legal]).stdout).into_owned();
    assert!(
        page.contains("waits for the approval `approve-nis2-incident-notification`"),
        "{page}"
    );
    assert!(
        page.contains("starts when the NIS2 incident notification is submitted"),
        "{page}"
    );
    let answer = |point: &str, decision: &str| {
        let said = respond(&[
            &legal,
            "--point",
            point,
            "--decision",
            decision,
            "--rationale",
            "read and checked",
        ]);
        assert_eq!(
            said.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&said.stderr)
        );
    };
    answer("approve-nis2-incident-notification", "approve");
    let notification = inbox.recv_timeout(Duration::from_secs(10)).unwrap();
    let notification: Value = serde_json::from_slice(&notification.body).unwrap();
    assert_eq!(notification["kind"], "nis2-incident-notification");
    assert_eq!(notification["approvedBy"], "legal");
    // Its approval drafts the final report and puts it to legal.
    wait_put(&stderr, "approve-nis2-final-report");
    let final_file = out.join("notifications/iteration-1-nis2-final-report.json");
    wait_for("the final report's draft", Duration::from_secs(10), || {
        final_file.exists()
    });
    answer("approve-nis2-final-report", "approve");
    let final_report = inbox.recv_timeout(Duration::from_secs(10)).unwrap();
    let final_report: Value = serde_json::from_slice(&final_report.body).unwrap();
    assert_eq!(final_report["kind"], "nis2-final-report");
    let field = |draft: &Value, key: &str| {
        draft["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == key)
            .unwrap_or_else(|| panic!("{key} missing: {draft}"))
            .clone()
    };
    assert_eq!(
        field(&final_report, "updatesIncidentNotification")["value"],
        "notifications/iteration-1-nis2-incident-notification.approved.json"
    );
    assert_eq!(field(&final_report, "rootCause")["status"], "estimated");
    // DORA's initial notification is rejected: its intermediate report is never put.
    answer("approve-dora-initial-notification", "reject");

    let exit = wait_exit(&mut child, Duration::from_secs(60));
    let lines = stderr.lock().unwrap().join("\n");
    assert_eq!(exit.code(), Some(0), "{lines}");
    assert!(
        !lines.contains("`approve-dora-intermediate-report` put"),
        "{lines}"
    );
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");

    let r = result(&out);
    let approvals = r["response"]["approvals"].as_array().unwrap();
    let approval = |report: &str| approvals.iter().find(|a| a["report"] == report).unwrap();
    let notified = approval("nis2-incident-notification");
    assert_eq!(notified["outcome"], "approved");
    assert_eq!(notified["clockStartedMs"], 0.0);
    assert_eq!(notified["deadlineMs"], 72.0 * 3_600_000.0);
    let finished = approval("nis2-final-report");
    assert_eq!(finished["outcome"], "approved");
    assert_eq!(finished["withinDeadline"], true);
    assert_eq!(finished["deadlineMs"], 28.0 * 24.0 * 3_600_000.0);
    // The final report's clock started when the notification was approved, and its time
    // to approve runs from there, not from awareness.
    let started = finished["clockStartedMs"].as_f64().unwrap();
    let notified_after = notified["timeToApproveMs"].as_f64().unwrap();
    assert!(
        (started - notified_after).abs() < 1.0,
        "{started} vs {notified_after}"
    );
    assert!(finished["timeToApproveMs"].as_f64().unwrap() < started + 60_000.0 * 3600.0);
    assert_eq!(finished["submission"]["status"], 202);
    assert_eq!(approval("dora-initial-notification")["outcome"], "rejected");
    let never = approval("dora-intermediate-report");
    assert_eq!(never["outcome"], "not-put");
    assert_eq!(never["clockStartedMs"], Value::Null);

    // The final report's draft is in result.json, due a month of exercise time after the
    // notification's approval.
    let notifications = r["notifications"].as_array().unwrap();
    let drafted = notifications
        .iter()
        .find(|n| n["kind"] == "nis2-final-report")
        .unwrap();
    assert_eq!(drafted["delivery"]["status"], 202);
    let records = journal(&out);
    let approved_at = records_of(&records, "notification-approved")
        .into_iter()
        .find(|a| a["data"]["report"] == "nis2-incident-notification")
        .unwrap()["data"]["at"]
        .as_str()
        .unwrap()
        .to_owned();
    let stamp = |v: Value| serde_json::from_value::<firedrill::time::Timestamp>(v).unwrap();
    let due = stamp(drafted["deadlineAt"].clone());
    let from = stamp(Value::String(approved_at));
    let month_at_scale = 28.0 * 24.0 * 3_600_000.0 / 3600.0;
    assert!(
        (due.ms_since(from) - month_at_scale).abs() < 1.0,
        "{} ms",
        due.ms_since(from)
    );
    let kinds: Vec<&str> = records_of(&records, "notification-drafted")
        .iter()
        .map(|d| d["data"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "nis2-early-warning",
            "nis2-incident-notification",
            "dora-initial-notification",
            "nis2-final-report"
        ]
    );
    let submitted: Vec<&str> = records_of(&records, "notification-submitted")
        .iter()
        .map(|d| d["data"]["report"].as_str().unwrap())
        .collect();
    assert_eq!(
        submitted,
        ["nis2-incident-notification", "nis2-final-report"]
    );
    // The scorecard times the final report from its own clock; the one never put is not
    // scored.
    let scorecard = std::fs::read_to_string(out.join("scorecard.md")).unwrap();
    assert!(
        scorecard.contains("time-to-approve (nis2-final-report)"),
        "{scorecard}"
    );
    assert!(
        !scorecard.contains("time-to-approve (dora-intermediate-report)"),
        "{scorecard}"
    );
}

#[test]
fn an_automated_runbook_answers_unattended_runs_and_is_labelled_so() {
    let _guard = shared();
    let extra = r#"  detection:
    timeout: 5s
    signals: [{name: mon, type: probe-fails, probe: api, consecutive: 2}]
  recovery: {stableFor: 300ms, timeout: 10s}
  response:
    timeScale: 60
    responders: runbook
    roles: [{name: incident-commander, function: cyber}]
    decisions:
      - id: significance
        decision: nis2-significant-incident
        decidedBy: incident-commander
        budget: 1h
        runbook:
          - {answer: yes, when: {failedProbe: api}, for: 10s}
      - id: customers
        decision: inform-customers
        decidedBy: incident-commander
        budget: 1h
        runbook:
          - {answer: no}"#;
    let drill = run_demo_with("runbook", 2, "50ms", FREEZE, extra, 0, |y| y);
    let response = &drill.result["response"];
    assert_eq!(response["responders"], "runbook");
    for d in response["decisions"].as_array().unwrap() {
        assert_eq!(d["by"], "automated runbook", "{d}");
        assert!(
            d["rationale"]
                .as_str()
                .unwrap()
                .starts_with("automated runbook, rule 1: "),
            "{d}"
        );
        assert_eq!(d["timely"], true, "{d}");
    }
    assert_eq!(response["decisions"][0]["answer"], "yes");
    assert_eq!(response["decisions"][1]["answer"], "no");
    let records = journal(&drill.out);
    let answers = records_of(&records, "decision-answered");
    assert_eq!(answers.len(), 2);
    assert!(answers.iter().all(|a| a["data"]["responders"] == "runbook"));
    let names: Vec<&str> = drill.result["scorecard"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["metrics"].as_array().unwrap())
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"decision-quality (automated runbook)"),
        "{names:?}"
    );
    assert!(!names.contains(&"decision-quality"), "{names:?}");
    assert!(
        !names.contains(&"time-to-assemble"),
        "no people to assemble: {names:?}"
    );
}
