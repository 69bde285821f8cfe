//! The CI examples in examples/ci stay true: the drill they run is valid, their flags exist,
//! and every file they publish is one that a run writes.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// The files a run writes into its results folder that the examples publish.
fn written_by_a_run() -> Vec<&'static str> {
    vec![
        "report.html",
        "scorecard.md",
        "junit.xml",
        "result.json",
        "journal.jsonl",
    ]
}

fn example(name: &str) -> (String, serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: serde_json::Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    (text, yaml)
}

/// The `firedrill run ...` command line of an example, split into words.
fn run_line(text: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.contains("firedrill run "))
        .expect("a firedrill run line");
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let at = words.iter().position(|w| w.ends_with("firedrill")).unwrap();
    words[at + 1..].to_vec()
}

fn check(name: &str, published: Vec<String>) {
    let (text, _) = example(name);
    let args = run_line(&text);
    assert_eq!(args[0], "run", "{name}");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .map(|i| args[i + 1].clone())
        .expect("--out");
    // The experiment exists and is valid.
    let experiment = args
        .iter()
        .skip(1)
        .find(|a| a.ends_with(".yaml"))
        .expect("an experiment file");
    let output = assert_cmd::Command::new(firedrill())
        .arg("validate")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(experiment))
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(output.status.success(), "{name}: {experiment} is not valid");
    // Every flag is one `firedrill run` has.
    let help = assert_cmd::Command::new(firedrill())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(flag.as_str()),
            "{name}: `firedrill run` has no {flag}"
        );
    }
    // Everything published is something a run writes, in the folder it writes to.
    assert!(!published.is_empty());
    for path in published {
        let file = path
            .strip_prefix(&format!("{out}/"))
            .unwrap_or_else(|| panic!("{name}: {path} is outside {out}"));
        assert!(
            written_by_a_run().contains(&file),
            "{name}: a run does not write {file}"
        );
    }
}

#[test]
fn the_github_actions_example_matches_the_binary() {
    let _guard = shared();
    let (_, yaml) = example("github-actions.yml");
    let steps = yaml["jobs"]["drill"]["steps"].as_array().unwrap();
    let mut published = Vec::new();
    for step in steps {
        if let Some(paths) = step["with"]["path"].as_str() {
            published.extend(
                paths
                    .lines()
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
        if let Some(report) = step["with"]["report_paths"].as_str() {
            published.push(report.to_owned());
            assert_eq!(
                step["if"], "always()",
                "the JUnit report is published on failure too"
            );
        }
    }
    check("github-actions.yml", published);
}

#[test]
fn the_gitlab_example_matches_the_binary() {
    let _guard = shared();
    let (_, yaml) = example("gitlab-ci.yml");
    let artifacts = &yaml["resilience-gate"]["artifacts"];
    assert_eq!(
        artifacts["when"], "always",
        "the reports are kept on failure too"
    );
    let mut published: Vec<String> = artifacts["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    published.push(artifacts["reports"]["junit"].as_str().unwrap().to_owned());
    check("gitlab-ci.yml", published);
}
