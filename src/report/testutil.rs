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
    }
}
