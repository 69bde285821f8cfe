//! Black-box tests of the command line: the schema, the shipped experiments, usage errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{demo_experiment, firedrill, marker, processes_with, shared, write_experiment};
use assert_cmd::Command;

fn cmd() -> Command {
    let mut c = Command::new(firedrill());
    c.timeout(Duration::from_secs(20));
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn experiment_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            experiment_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            found.push(path);
        }
    }
}

#[test]
fn the_committed_schemas_are_up_to_date() {
    let _guard = shared();
    for (args, file) in [
        (&["schema"][..], "docs/experiment.schema.json"),
        (&["schema", "--suite"][..], "docs/suite.schema.json"),
        (&["schema", "--schedule"][..], "docs/schedule.schema.json"),
    ] {
        let out = cmd().args(args).output().unwrap();
        assert!(out.status.success());
        let committed = std::fs::read_to_string(root().join(file)).unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            committed,
            "run `cargo run -- {} > {file}`",
            args.join(" ")
        );
    }
}

#[test]
fn every_shipped_experiment_is_valid_and_names_the_schema() {
    let _guard = shared();
    let mut files = Vec::new();
    experiment_files(&root().join("experiments"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let schema_file = if text.contains("\nkind: Suite") {
            "docs/suite.schema.json"
        } else {
            "docs/experiment.schema.json"
        };
        assert!(
            first.starts_with("# yaml-language-server: $schema=") && first.ends_with(schema_file),
            "{} must start with the schema line",
            file.display()
        );
        let schema = first.trim_start_matches("# yaml-language-server: $schema=");
        assert!(
            file.parent().unwrap().join(schema).is_file(),
            "{} points at a missing schema",
            file.display()
        );
        cmd().arg("validate").arg(&file).assert().success();
        // Kubernetes experiments are planned against a cluster unless told otherwise;
        // tests/kubernetes_plan.rs plans them against the fake API server.
        let offline: &[&str] = if text.contains("platform: kubernetes") {
            &["--offline"]
        } else {
            &[]
        };
        cmd()
            .arg("plan")
            .args(offline)
            .arg(&file)
            .assert()
            .success();
    }
}

#[test]
fn plan_describes_the_schedule_and_starts_nothing() {
    let _guard = shared();
    let out = cmd()
        .args(["plan", "experiments/quickstart.yaml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("inject freeze-all"), "{text}");
    assert!(text.contains("revert freeze-all (SIGCONT)"), "{text}");
    assert!(text.contains("nothing was started or changed"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let _guard = shared();
    cmd().args(["run"]).assert().code(2);
    cmd()
        .args(["run", "--iterations", "0", "x.yaml"])
        .assert()
        .code(2);
    cmd().args(["no-such-command"]).assert().code(2);
    cmd()
        .args(["run", "/no/such/experiment.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/no/such/experiment.yaml"));
}

#[test]
fn completions_are_generated() {
    let _guard = shared();
    let out = cmd().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("firedrill"));
}

#[test]
fn logs_to_a_file_hold_no_colour_codes() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let marker = marker("plain-log");
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 100ms}";
    let file = write_experiment(
        dir.path(),
        "e.yaml",
        &demo_experiment(
            &marker,
            1,
            "20ms",
            faults,
            // The webhook's listener is logged at info.
            "  detection:\n    timeout: 300ms\n    signals:\n      - {name: pager, type: webhook, match: {alertname: Never}}\n  recovery: {stableFor: 100ms}",
        ),
    );
    // Standard error is a pipe here, as a file would be: no escape codes, whatever the level.
    let output = std::process::Command::new(firedrill())
        .args(["run", "--plain", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(" DEBUG ") || stderr.contains(" INFO "),
        "no log line to look at: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(processes_with(&marker).is_empty());
}

#[test]
fn a_kubernetes_run_without_a_cluster_says_why_once_and_what_to_do_and_scores_nothing() {
    let _guard = shared();
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let missing = home.path().join("missing-kubeconfig");
    let output = cmd()
        .args(["run", "--plain", "--out"])
        .arg(out.path())
        .arg(root().join("experiments/kubernetes/pod-delete.yaml"))
        .env("HOME", home.path())
        .env("KUBECONFIG", &missing)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 3: aborted by a platform error, nothing changed.
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(!stderr.contains("replica(s)"), "{stderr}");
    let cause = format!("cannot read the kubeconfig {}", missing.display());
    assert_eq!(stdout.matches(&cause).count(), 1, "{stdout}");
    assert!(
        !stdout.contains(&format!("'\"{}", missing.display())),
        "{stdout}"
    );
    assert_eq!(stdout.matches("(os error 2)").count(), 1, "{stdout}");
    let next: Vec<&str> = stdout.lines().filter(|l| l.contains("next:")).collect();
    assert_eq!(next.len(), 1, "{stdout}");
    for step in ["KUBECONFIG", "--context", "plan --offline"] {
        assert!(next[0].contains(step), "{stdout}");
    }
    assert!(
        stdout.contains("not scored: the run stopped before its first injection"),
        "{stdout}"
    );
    assert!(!stdout.contains("scorecard"), "{stdout}");
    assert!(!stdout.contains("/100"), "{stdout}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(result["status"], "aborted");
    assert!(
        result["reason"].as_str().unwrap().contains(&cause),
        "{result}"
    );
    assert!(result["nextStep"].as_str().unwrap().contains("KUBECONFIG"));
    assert!(result.get("scorecard").is_none(), "{result}");
    assert!(result.get("scorecardInput").is_none(), "{result}");
    assert!(out.path().join("journal.jsonl").is_file());
}

/// Times, ports, tokens, measured figures, verdicts and folders of a run's output replaced,
/// spaces collapsed: what stays is what the output says, and the versions it names. Progress
/// lines of concurrent tasks, and capabilities of equal scores, come in either order: those
/// are compared sorted.
fn sample_shape(text: &str) -> Vec<String> {
    let figure = regex::Regex::new(r"(\d+\.\d+\.\d+)|\d+(?:\.\d+)?").unwrap();
    let token = regex::Regex::new(r"/stop/\S+").unwrap();
    let verdict = regex::Regex::new(r"\b(PASSED|FAILED)\b").unwrap();
    let met = regex::Regex::new(r"\s(yes|NO)$").unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("objectives missed:"))
        .map(|line| {
            let line = met
                .replace(&verdict.replace_all(line, "VERDICT"), " MET")
                .into_owned();
            let line = if line.starts_with("results: ") {
                "results: DIR"
            } else {
                line.as_str()
            };
            let line = token.replace_all(line, "/stop/TOKEN");
            let line = figure.replace_all(&line, |c: &regex::Captures<'_>| {
                c.get(1).map_or("N".to_owned(), |v| v.as_str().to_owned())
            });
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    let progress_end = lines.iter().position(|l| l == "...").unwrap_or(0);
    lines[..progress_end].sort();
    if let Some(header) = lines.iter().position(|l| l.starts_with("capability score")) {
        let end = lines[header..]
            .iter()
            .position(String::is_empty)
            .map_or(lines.len(), |n| header + n);
        lines[header + 1..end].sort();
    }
    lines
}

/// The ```text block of README.md after "A real run:": its start and end in the file.
fn readme_sample(readme: &str) -> (usize, usize) {
    let intro = readme
        .find("A real run:")
        .expect("README.md shows a real run");
    let start = intro + readme[intro..].find("```text\n").unwrap() + "```text\n".len();
    let end = start + readme[start..].find("```").unwrap();
    (start, end)
}

#[test]
fn the_readme_shows_what_the_quick_start_prints() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quickstart");
    let output = std::process::Command::new(firedrill())
        .current_dir(root())
        .args(["run", "--plain", "--out"])
        .arg(&out)
        .arg("experiments/quickstart.yaml")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    // 0 on a quiet host; 1 when a host loaded by the other tests misses the baseline latency
    // objective. The verdict is left out of the comparison below: the sample is about what
    // the output says, not about this host's timing.
    assert!(matches!(output.status.code(), Some(0 | 1)), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The README shows the progress of the first iteration, then the summary.
    let mut sample = String::new();
    for line in stderr.lines().filter(|l| l.starts_with('[')) {
        sample.push_str(line);
        sample.push('\n');
        if line.ends_with("iteration 2/3: baseline") {
            break;
        }
    }
    sample.push_str("...\n");
    let stamp = firedrill::time::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    sample.push_str(&stdout.replace(
        &out.display().to_string(),
        &format!("firedrill-results/quickstart-{stamp}"),
    ));
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = readme_sample(&readme);
    if sample_shape(&readme[start..end]) == sample_shape(&sample) {
        return;
    }
    if std::env::var_os("FIREDRILL_BLESS").is_some() {
        let new = format!("{}{sample}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert_eq!(
        sample_shape(&readme[start..end]),
        sample_shape(&sample),
        "README.md's sample output differs from a run of the quick start; rewrite it with\n  FIREDRILL_BLESS=1 cargo test --test cli the_readme_shows_what_the_quick_start_prints"
    );
}
