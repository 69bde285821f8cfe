//! Black-box tests: `firedrill validate` on malformed experiments exits 2 quickly, without
//! a panic, and points at `file:line:column` with the field path.

use crate::common::shared;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

/// Generous for a debug build on a loaded machine; hostile inputs take milliseconds.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fixture, expected `:line:column`, expected field path, and a piece of the message.
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "syntax-unclosed-flow.yaml",
        ":20:15",
        "spec.faults[0].select",
        "unclosed bracket",
    ),
    (
        "syntax-bad-indent.yaml",
        ":12:8",
        "spec.target.workloads",
        "did not find expected",
    ),
    (
        "wrong-type-iterations.yaml",
        ":21:15",
        "spec.iterations",
        "invalid value `many`, expected a whole number",
    ),
    (
        "wrong-type-in-tagged-enum.yaml",
        ":11:19",
        "spec.target.workloads[0].replicas",
        "string \"two\"",
    ),
    (
        "unknown-field-top-level.yaml",
        ":21:1",
        "status",
        "unknown field `status`, expected one of `apiVersion`",
    ),
    (
        "unknown-field-in-fault.yaml",
        ":21:7",
        "spec.faults[0].duraton",
        "did you mean `duration`?",
    ),
    (
        "unknown-field-typo-suggests.yaml",
        ":22:5",
        "spec.recovery.stableFr",
        "unknown field `stableFr`, did you mean `stableFor`?",
    ),
    (
        "unknown-field-deep-in-selector.yaml",
        ":20:42",
        "spec.faults[0].select.replica",
        "unknown field `replica`",
    ),
    (
        "unknown-variant-fault-type.yaml",
        ":19:13",
        "spec.faults[0].type",
        "unknown variant `process-kil`, expected one of process-kill",
    ),
    (
        "unknown-variant-platform.yaml",
        ":7:15",
        "spec.target.platform",
        "unknown variant `nomad`",
    ),
    (
        "unknown-variant-signal.yaml",
        ":21:15",
        "spec.faults[0].signal",
        "unknown variant `SIGSTOP`",
    ),
    (
        "wrong-api-version.yaml",
        ":1:13",
        "apiVersion",
        "expected one of firedrill.dev/v1alpha1",
    ),
    (
        "bad-duration.yaml",
        ":17:18",
        "spec.steadyState.probes[0].timeout",
        "invalid duration `fast`",
    ),
    (
        "duration-without-unit.yaml",
        ":13:15",
        "spec.steadyState.baseline",
        "the unit is missing",
    ),
    (
        "missing-spec.yaml",
        ":1:1",
        ": missing field `spec`",
        "missing field `spec`",
    ),
    (
        "missing-duration-in-pause.yaml",
        ":18:7",
        "spec.faults[0]",
        "missing field `duration`",
    ),
    (
        "missing-command-in-workload.yaml",
        ":9:9",
        "spec.target.workloads[0]",
        "missing field `command`",
    ),
    (
        "null-name.yaml",
        ":4:7",
        "metadata.name",
        "expected a string",
    ),
    (
        "not-a-mapping.yaml",
        ":1:1",
        "",
        "the document must be a mapping",
    ),
    ("empty.yaml", ":1:1", "", "the file is empty"),
    ("comments-only.yaml", ":1:1", "", "the file is empty"),
    (
        "alias-bomb.yaml",
        ":26:16",
        "spec.faults[0].lol",
        "alias bomb",
    ),
    (
        "deep-nesting.yaml",
        ":21:42",
        "spec.faults[0].extra",
        "more than 32 levels deep",
    ),
    (
        "two-documents.yaml",
        ":21:1",
        "",
        "more than one YAML document",
    ),
    (
        "duplicate-keys.yaml",
        ":12:9",
        "spec.target.workloads[0].replicas",
        "duplicate key `replicas`",
    ),
    (
        "bom-then-invalid.yaml",
        ":2:7",
        "kind",
        "unknown variant `Experimentt`",
    ),
    (
        "https-url.yaml",
        ":16:14",
        "spec.steadyState.probes[0].url",
        "only plain http://",
    ),
    (
        "unknown-placeholder.yaml",
        ":10:90",
        "spec.target.workloads[0].command[7]",
        "unknown placeholder `{host}`",
    ),
    (
        "selector-exceeds-safety.yaml",
        ":20:15",
        "spec.faults[0].select",
        "(100%), more than spec.safety.maxAffectedPercent (50%)",
    ),
    (
        "scorecard-overrides.yaml",
        ":23:41",
        "spec.scorecard.targets.timeToDetect.limit",
        "1m must be longer than the target 5m",
    ),
    (
        "scorecard-unknown-capability.yaml",
        ":20:33",
        "spec.scorecard.capabilities.process-kill[1]",
        "unknown variant `resilience`, expected one of detection",
    ),
    (
        "semantic-many-problems.yaml",
        ":25:15",
        "spec.iterations",
        "0 is out of range",
    ),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs `firedrill validate FILE`, checks the common promises, and returns standard error.
fn rejected(file: &Path) -> String {
    let out = Command::cargo_bin("firedrill")
        .expect("the binary is built")
        .arg("validate")
        .arg(file)
        .timeout(TIMEOUT)
        .output()
        .expect("firedrill runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn every_malformed_fixture_is_rejected_with_its_location_and_path() {
    let _guard = shared();
    let dir = fixtures().join("malformed");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every fixture has a row in CASES, and the reverse"
    );
    assert!(CASES.len() >= 25);

    for (name, location, path, message) in CASES {
        let file = dir.join(name);
        let stderr = rejected(&file);
        let at = format!("{}{location}: ", file.display());
        let line = stderr
            .lines()
            .find(|l| l.contains(&at))
            .unwrap_or_else(|| panic!("{name}: no problem at {location} in\n{stderr}"));
        assert!(line.contains(path), "{name}: path {path} missing in {line}");
        assert!(
            line.contains(message),
            "{name}: `{message}` missing in {line}"
        );
    }
}

#[test]
fn every_semantic_problem_is_reported_in_document_order() {
    let _guard = shared();
    let file = fixtures().join("malformed/semantic-many-problems.yaml");
    let stderr = rejected(&file);
    assert!(stderr.contains("has 7 problems"), "{stderr}");
    let expected = [
        (":4:9: metadata.name:", "may use only lower-case letters"),
        (
            ":11:19: spec.target.workloads[0].replicas:",
            "write 1 to 64",
        ),
        (
            ":20:37: spec.faults[0].select.workload:",
            "no workload is named `db`",
        ),
        (
            ":21:13: spec.faults[1].name:",
            "already used by spec.faults[0]",
        ),
        (":23:13: spec.faults[1].load:", "write 1 to 100"),
        (":24:17: spec.faults[1].duration:", "must be more than 0s"),
        (":25:15: spec.iterations:", "write 1 to 1000"),
    ];
    let lines: Vec<&str> = stderr.lines().skip(1).collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, (at, message)) in lines.iter().zip(expected) {
        assert!(line.contains(at) && line.contains(message), "{line}");
    }
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let _guard = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("latin1.yaml");
    std::fs::write(
        &file,
        b"apiVersion: firedrill.dev/v1alpha1\nkind: Experiment\nmetadata: {name: caf\xe9}\n",
    )
    .expect("write");
    let stderr = rejected(&file);
    assert!(stderr.contains("latin1.yaml:3:21: "), "{stderr}");
    assert!(stderr.contains("not valid UTF-8: byte 0xe9"), "{stderr}");
}

#[test]
fn utf16_is_named_as_such() {
    let _guard = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("utf16.yaml");
    let mut bytes = vec![0xff, 0xfe];
    for unit in "kind: Experiment\n".encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(&file, bytes).expect("write");
    let stderr = rejected(&file);
    assert!(stderr.contains("utf16.yaml:1:1: "), "{stderr}");
    assert!(stderr.contains("looks like UTF-16"), "{stderr}");
}

#[test]
fn a_50_mb_file_is_refused_before_parsing() {
    let _guard = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let mut text = String::from("apiVersion: firedrill.dev/v1alpha1\n");
    while text.len() < 50 * 1024 * 1024 {
        text.push_str(line);
    }
    std::fs::write(&file, &text).expect("write");
    let stderr = rejected(&file);
    assert!(stderr.contains("huge.yaml:1:1: "), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the file is {} bytes, more than the limit of 1048576 bytes (1 MiB)",
            text.len()
        )),
        "{stderr}"
    );
}

#[test]
fn the_valid_fixtures_are_accepted() {
    let _guard = shared();
    let dir = fixtures().join("valid");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let file = entry.expect("entry").path();
        Command::cargo_bin("firedrill")
            .expect("the binary is built")
            .arg("validate")
            .arg(&file)
            .timeout(TIMEOUT)
            .assert()
            .success()
            .stdout(predicates::str::contains(": valid ("));
        count += 1;
    }
    assert!(count >= 3);
}

#[test]
fn one_validate_lists_every_structural_problem() {
    let _guard = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let quickstart = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quickstart.yaml"),
    )
    .expect("the quick start");
    let text = quickstart
        .replacen("        maxLatency: 250ms", "        maxLatncy: 250ms", 1)
        .replacen("  iterations: 3", "  iterations: -1", 1)
        .replacen("    stableFor: 2s", "    stableFr: 2s", 1);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let file = dir.path().join("typos.yaml");
    std::fs::write(&file, &text).expect("write");
    let stderr = rejected(&file);
    let name = file.display().to_string();
    let expected = [
        (
            format!(
                "{name}:{}:9: spec.steadyState.probes[0].maxLatncy:",
                line_of("maxLatncy")
            ),
            "unknown field `maxLatncy`, did you mean `maxLatency`?",
        ),
        (
            format!("{name}:{}:5: spec.recovery.stableFr:", line_of("stableFr")),
            "unknown field `stableFr`, did you mean `stableFor`?",
        ),
        (
            format!("{name}:{}:15: spec.iterations:", line_of("iterations: -1")),
            "invalid value `-1`, expected a whole number from 0 to 4294967295",
        ),
    ];
    for (at, message) in &expected {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(at.as_str()) && l.contains(message)),
            "no `{at} {message}` in\n{stderr}"
        );
    }
    assert!(stderr.contains("has 3 problems"), "{stderr}");
}

/// The minimal valid experiment with these lines added under `spec`.
fn with_traffic(spec_lines: &str) -> String {
    let minimal = std::fs::read_to_string(fixtures().join("valid/minimal.yaml")).unwrap();
    format!("{}\n{spec_lines}\n", minimal.trim_end())
}

#[test]
fn bad_traffic_is_rejected_with_the_field_path() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let request = r#"{url: "http://{workload.web}/"}"#;
    let cases = [
        (
            format!("  traffic: {{model: {{type: open, rate: 0}}, requests: [{request}]}}"),
            "spec.traffic.model.rate",
            "0 is out of range",
        ),
        (
            format!("  traffic: {{model: {{type: open, rate: 1000000}}, requests: [{request}]}}"),
            "spec.traffic.model.rate",
            "at most 50000 requests per second",
        ),
        (
            r#"  traffic: {model: {type: open, rate: 10}, requests: [{url: "http://exa mple/"}]}"#
                .to_owned(),
            "spec.traffic.requests[0].url",
            "not an absolute http:// URL",
        ),
        (
            r#"  traffic: {model: {type: open, rate: 10}, requests: [{url: "http://{workload.web}/", bodyFile: no-such-body.json}]}"#
                .to_owned(),
            "spec.traffic.requests[0].bodyFile",
            "cannot read",
        ),
        (
            r#"  traffic: {model: {type: closed, concurrency: 2}, requests: [{url: "http://{workload.web}/", weight: 0}]}"#
                .to_owned(),
            "spec.traffic.requests",
            "the weights sum to 0",
        ),
        (
            format!(
                "  traffic: {{model: {{type: open, rate: 10}}, requests: [{request}]}}\n  objectives: [{{metric: budget-burned, max: 0.1}}]"
            ),
            "spec.objectives[0].metric",
            "needs `spec.slo`",
        ),
        (
            format!(
                "  traffic: {{model: {{type: open, rate: 10}}, requests: [{request}]}}\n  slo: {{availability: 1, window: 30d}}"
            ),
            "spec.slo.availability",
            "no error budget",
        ),
        (
            "  objectives: [{metric: traffic-availability, phase: fault, min: 0.9}]".to_owned(),
            "spec.objectives[0].metric",
            "add `spec.traffic`",
        ),
    ];
    for (i, (lines, path, message)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("traffic-{i}.yaml"));
        std::fs::write(&file, with_traffic(lines)).unwrap();
        let stderr = rejected(&file);
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!(": {path}: ")))
            .unwrap_or_else(|| panic!("case {i}: no problem at {path} in\n{stderr}"));
        assert!(
            line.contains(message),
            "case {i}: `{message}` missing in {line}"
        );
        assert!(
            line.contains(&format!("{}:", file.display())),
            "case {i}: no file:line:column in {line}"
        );
    }
}
