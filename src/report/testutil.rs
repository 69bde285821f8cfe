//! A report built from a real quick-start result, for the renderers' tests.

use super::model::{Report, ReportRun};
use super::write::single_report;
use crate::journal::JournalCheck;
use crate::result::evidence::input_for_run;
use crate::result::{
    CanaryOutcome, FaultRecord, PreventionOutcome, RunResult, RunStatus, SecurityOutcome,
};
use crate::scorecard::evidence::score_input;
use crate::spec::MARKER;

const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");
const RESULT: &str = include_str!("../../tests/fixtures/results/quickstart-result.json");

/// The quick start's experiment.
pub fn quickstart_spec() -> crate::spec::Spec {
    crate::spec::load_str("quickstart.yaml", QUICKSTART)
        .expect("the quick start is valid")
        .spec
}

/// The quick-start result of tests/fixtures, scored, with an intact journal.
pub fn quickstart_run() -> ReportRun {
    let spec = quickstart_spec();
    let mut result: RunResult = serde_json::from_str(RESULT).expect("the fixture is a result");
    let journal = JournalCheck {
        file: "journal.jsonl".to_owned(),
        records: 131,
        head: Some("5e1f".repeat(16)),
        intact: true,
        finished: true,
        signed: false,
        faults_injected: 9,
        faults_traced: 9,
        detail: "131 records verify".to_owned(),
    };
    let input = input_for_run(&spec, &result, &journal);
    result.scorecard = score_input(&input, None);
    result.scorecard_input = Some(input);
    ReportRun {
        dir: String::new(),
        result,
        journal,
    }
}

/// The quick start's report, as `firedrill run` writes it.
pub fn quickstart_report() -> Report {
    let mut report = single_report(quickstart_run());
    report.generated_at = "2026-11-28T04:30:00Z".parse().unwrap();
    report
}

/// The quick start with two detection canaries and two prevention checks in each
/// iteration: one canary missed in iterations 1 and 3, one check accepted in iteration 1;
/// scored as `firedrill run` would.
pub fn security_run() -> ReportRun {
    let mut spec = crate::spec::load_str("quickstart.yaml", QUICKSTART)
        .expect("the quick start is valid")
        .spec;
    for fault in [
        "{name: env-file, type: canary-request, url: 'http://127.0.0.1:1/admin/.env', detectedBy: [pager]}",
        "{name: honeytoken, type: canary-file-read, path: /tmp/firedrill-canary-honeytoken}",
        "{name: privileged, type: prevent-privileged-pod, namespace: shop}",
        "{name: host-path, type: prevent-host-path, namespace: shop}",
    ] {
        spec.faults
            .push(serde_saphyr::from_str(fault).expect("a security drill"));
    }
    let mut run = quickstart_run();
    let result = &mut run.result;
    for it in &mut result.iterations {
        let n = it.index;
        let noticed = |ms: f64| FaultRecord {
            detected_at: Some(Some(format!("2026-11-28T04:27:3{n}.000Z").parse().unwrap())),
            detected_by: Some(Some("pager".to_owned())),
            time_to_detect_ms: Some(Some(ms)),
            ..canary(
                "env-file",
                "canary-request",
                "GET http://127.0.0.1:4100/admin/.env answered 404 <script>",
            )
        };
        it.faults.push(noticed(4200.0 + f64::from(n)));
        let honeytoken = canary(
            "honeytoken",
            "canary-file-read",
            "read /tmp/firedrill-canary-honeytoken (96 bytes)",
        );
        it.faults.push(if n == 2 {
            FaultRecord {
                detected_at: Some(Some("2026-11-28T04:27:35.000Z".parse().unwrap())),
                detected_by: Some(Some("pager".to_owned())),
                time_to_detect_ms: Some(Some(61_000.0)),
                ..honeytoken
            }
        } else {
            honeytoken
        });
        it.faults.push(check(
            "privileged",
            "prevent-privileged-pod",
            "create pod shop/firedrill-canary-privileged (privileged)",
            n != 1,
        ));
        it.faults.push(check(
            "host-path",
            "prevent-host-path",
            "create pod shop/firedrill-canary-host-path (hostPath /)",
            true,
        ));
    }
    result.iterations[0].status = crate::result::IterationStatus::Failed;
    result.status = RunStatus::Failed;
    result.reason = Some("iteration 1: prevention check `privileged` was accepted: create pod shop/firedrill-canary-privileged (privileged); undone at once (deleted pod shop/firedrill-canary-privileged)".to_owned());
    let input = input_for_run(&spec, result, &run.journal);
    result.scorecard = score_input(&input, None);
    result.scorecard_input = Some(input);
    run
}

/// A canary record not noticed (yet).
fn canary(name: &str, fault_type: &str, action: &str) -> FaultRecord {
    FaultRecord {
        name: name.to_owned(),
        fault_type: fault_type.to_owned(),
        targets: Vec::new(),
        injected_at: Some("2026-11-28T04:27:30.000Z".parse().unwrap()),
        reverted_at: Some("2026-11-28T04:27:30.100Z".parse().unwrap()),
        error: None,
        probes: Default::default(),
        probes_alone: Default::default(),
        security: Some(SecurityOutcome::Canary(CanaryOutcome {
            actions: vec![action.to_owned()],
            markers: vec![format!("{MARKER}-{name}"), MARKER.to_owned()],
        })),
        detected_at: Some(None),
        detected_by: Some(None),
        time_to_detect_ms: Some(None),
        effect: None,
    }
}

/// A prevention check's record.
fn check(name: &str, fault_type: &str, action: &str, refused: bool) -> FaultRecord {
    let marker = format!("{MARKER}-{name}");
    FaultRecord {
        name: name.to_owned(),
        fault_type: fault_type.to_owned(),
        targets: Vec::new(),
        injected_at: Some("2026-11-28T04:27:30.200Z".parse().unwrap()),
        reverted_at: Some("2026-11-28T04:27:30.300Z".parse().unwrap()),
        error: None,
        probes: Default::default(),
        probes_alone: Default::default(),
        security: Some(SecurityOutcome::Prevention(PreventionOutcome {
            action: action.to_owned(),
            refused,
            status: Some(if refused { 403 } else { 201 }),
            reason: refused.then(|| "Forbidden".to_owned()),
            message: if refused {
                format!(
                    "pods \"{marker}\" is forbidden: violates PodSecurity \"restricted:latest\""
                )
            } else {
                "created".to_owned()
            },
            undone: if refused {
                Vec::new()
            } else {
                vec![format!("deleted pod shop/{marker}")]
            },
            markers: vec![marker],
        })),
        detected_at: None,
        detected_by: None,
        time_to_detect_ms: None,
        effect: None,
    }
}

/// The quick start with decisions put to people, at 60× exercise time: significance answered
/// in time and consistent with hindsight (its rationale carries a tag), cross-border answered
/// late and inconsistent with 20% unknown, notifying the authority never answered, informing
/// customers never put.
pub fn response_run() -> ReportRun {
    use crate::result::{ChatPostResult, DecisionResult, ResponseResult, ResponseRoleResult};
    let at = |t: &str| Some(format!("2026-11-28T04:{t}Z").parse().unwrap());
    let put =
        |point: &str, decision: &str, question: &str, by: &str, budget_min: f64| DecisionResult {
            point: point.to_owned(),
            decision: decision.to_owned(),
            question: question.to_owned(),
            decided_by: by.to_owned(),
            handed_from: None,
            budget_ms: budget_min * 60_000.0,
            asked_at: at("27:40.000"),
            answer: None,
            rationale: None,
            by: None,
            answered_at: None,
            time_to_decide_ms: None,
            snapshot: None,
            unknown_share: None,
            timely: false,
            consistency: None,
            hindsight: None,
            timeliness: 0.0,
            score: 0.0,
            findings: vec!["never answered".to_owned()],
            journal_seq: None,
        };
    let significance = DecisionResult {
        answer: Some("yes".to_owned()),
        rationale: Some("Card payments down for <b>all</b> customers".to_owned()),
        by: Some("Dana Reyes".to_owned()),
        answered_at: at("27:52.000"),
        time_to_decide_ms: Some(720_000.0),
        snapshot: Some("9f2c".repeat(16)),
        unknown_share: Some(0.25),
        timely: true,
        consistency: Some("consistent".to_owned()),
        hindsight: Some("yes".to_owned()),
        timeliness: 100.0,
        score: 100.0,
        findings: Vec::new(),
        journal_seq: Some(88),
        ..put(
            "significance",
            "nis2-significant-incident",
            "Is this a significant incident under NIS2?",
            "incident-commander",
            30.0,
        )
    };
    let cross_border = DecisionResult {
        answer: Some("no".to_owned()),
        rationale: Some("Only domestic merchants reported errors".to_owned()),
        by: Some("Dana Reyes".to_owned()),
        answered_at: at("29:55.000"),
        time_to_decide_ms: Some(8_100_000.0),
        snapshot: Some("41ab".repeat(16)),
        unknown_share: Some(0.2),
        timely: false,
        consistency: Some("inconsistent".to_owned()),
        hindsight: Some("yes".to_owned()),
        timeliness: 21.4,
        score: 7.3,
        findings: vec![
            "answered 2h of exercise time after its budget".to_owned(),
            "hindsight gives `yes`, and 80% of what mattered was known when it was answered"
                .to_owned(),
        ],
        journal_seq: Some(97),
        ..put(
            "cross-border",
            "nis2-cross-border",
            "Does the incident affect other member states?",
            "incident-commander",
            15.0,
        )
    };
    let authority = put(
        "authority",
        "notify-authority",
        "Do we notify the competent authority now?",
        "legal",
        240.0,
    );
    let customers = DecisionResult {
        asked_at: None,
        findings: vec!["never put: what triggers it did not happen".to_owned()],
        ..put(
            "customers",
            "inform-customers",
            "Do we inform our customers now?",
            "communications",
            60.0,
        )
    };
    let role = |role: &str, function: &str, chat: bool, opened: Option<&str>| ResponseRoleResult {
        role: role.to_owned(),
        function: function.to_owned(),
        reach: if chat { "chat" } else { "none" }.to_owned(),
        link_opened_at: opened.and_then(at),
        chat: Vec::new(),
    };
    let mut run = quickstart_run();
    run.result.response = Some(ResponseResult {
        approvals: Vec::new(),
        responders: "people".to_owned(),
        time_scale: 60.0,
        awareness_at: at("27:38.500"),
        judged_on_iteration: Some(1),
        roles: vec![
            ResponseRoleResult {
                chat: vec![ChatPostResult {
                    point: "significance".to_owned(),
                    url: "https://chat.example/hooks/…".to_owned(),
                    status: Some(200),
                    error: None,
                    journal_seq: 80,
                }],
                ..role(
                    "incident-commander",
                    "Leads the response",
                    true,
                    Some("27:45.000"),
                )
            },
            role("legal", "Judges the duty to notify", true, None),
            role("communications", "Speaks to customers", false, None),
        ],
        decisions: vec![significance, cross_border, authority, customers],
    });
    run
}
