//! Running a drill with the same engine as `firedrill run`: each experiment in turn into its
//! own results folder, a suite's combined reports, and the scorecard of every run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::scheduler::{DrillFailed, Finished, Runner};
use crate::engine::{self, Progress, ProgressSink, Rollback, RunOptions};
use crate::report::write::{SuiteEntry, SuiteResult};
use crate::result::RunStatus;
use crate::scorecard::Capability;
use crate::spec::{Experiment, Target};
use crate::telemetry::prometheus::Registry;

/// What a drill runs, loaded and validated when `serve` starts.
#[derive(Clone, Debug)]
pub struct DrillPlan {
    /// The drill's name.
    pub name: String,
    /// The suite, when the drill runs one.
    pub suite: Option<SuitePlan>,
    /// Each experiment with its file, in order.
    pub experiments: Vec<(PathBuf, Experiment)>,
}

/// A suite's name, file and weights.
#[derive(Clone, Debug)]
pub struct SuitePlan {
    /// The suite's name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The suite file.
    pub file: String,
    /// Weights of the combined scorecard.
    pub weights: BTreeMap<Capability, f64>,
}

impl DrillPlan {
    /// Everything the drill acts on; see [`targets`].
    pub fn targets(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .experiments
            .iter()
            .flat_map(|(_, exp)| targets(exp))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// What an experiment acts on, for the per-target guard: on the local platform the experiment
/// itself (its workloads are processes it starts, named after it), on Kubernetes each workload
/// object as namespace, kind and name (or its label selector when it names no object).
pub fn targets(exp: &Experiment) -> Vec<String> {
    match &exp.spec.target {
        Target::Local(_) => vec![format!("local/{}", exp.metadata.name)],
        Target::Kubernetes(k) => k
            .workloads
            .iter()
            .map(|w| {
                let object = match &w.object_name {
                    Some(name) => name.clone(),
                    None => w
                        .match_labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                };
                format!("kubernetes/{}/{:?}/{object}", w.namespace, w.kind)
            })
            .collect(),
    }
}

/// Why one experiment of a drill gave no result; the drill stops there.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// The run could not start.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    /// The run panicked; what it had injected was reverted as far as possible.
    #[error("the run panicked; reverted {reverted:?}, failed to revert {failed:?}")]
    Panicked {
        /// The faults reverted.
        reverted: Vec<String>,
        /// The faults that could not be.
        failed: Vec<String>,
    },
    /// The results could not be written.
    #[error(transparent)]
    Results(#[from] crate::report::write::WriteError),
}

/// Runs drills through the engine, each run into a folder under `results`.
pub struct EngineRunner {
    plans: BTreeMap<String, DrillPlan>,
    results: PathBuf,
    context: Option<String>,
    metrics: Arc<Registry>,
    live: LiveLinks,
}

impl EngineRunner {
    /// A runner of these drills.
    pub fn new(
        plans: Vec<DrillPlan>,
        results: PathBuf,
        context: Option<String>,
        metrics: Arc<Registry>,
        live: LiveLinks,
    ) -> Self {
        metrics.describe_runs();
        Self {
            plans: plans.into_iter().map(|p| (p.name.clone(), p)).collect(),
            results,
            context,
            metrics,
            live,
        }
    }
}

/// The roles' links of the drills running now, by drill: each a secret of its role's, shown
/// only to holders of serve's bearer token (`GET /api/live`).
#[derive(Clone, Debug, Default)]
pub struct LiveLinks {
    drills: Arc<std::sync::Mutex<BTreeMap<String, LiveDrill>>>,
    /// Whether each run's stop link is printed on serve's standard error: only when serve
    /// has no token, since its pages then cannot offer a button (and the terminal of
    /// `firedrill run` gets the link the same way).
    announce: Arc<std::sync::atomic::AtomicBool>,
}

/// The links of one running drill.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveDrill {
    /// The experiment running.
    pub experiment: String,
    /// Role and link, in the experiment's order.
    pub links: Vec<LiveLink>,
    /// The run's stop page, when the run listens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// The run's stop button, which serve presses for its token holders.
    #[serde(skip)]
    pub button: Option<Arc<crate::detection::stop::StopButton>>,
    /// When the run started.
    #[serde(skip)]
    pub since: Option<crate::time::Timestamp>,
    /// The stop form's nonce: drawn per run and shown only in serve's page for this run, so
    /// that a form posted from another site (which cannot read the page) or from a page of
    /// an earlier run is refused.
    #[serde(skip)]
    pub form: Option<crate::response::RoleToken>,
}

/// One role's link.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LiveLink {
    /// The role.
    pub role: String,
    /// Its page.
    pub link: String,
}

impl LiveLinks {
    /// What `edit` changes of the drill's entry, made when missing.
    fn update(&self, drill: &str, experiment: &str, edit: impl FnOnce(&mut LiveDrill)) {
        if let Ok(mut all) = self.drills.lock() {
            let entry = all.entry(drill.to_owned()).or_insert_with(|| LiveDrill {
                experiment: experiment.to_owned(),
                links: Vec::new(),
                stop: None,
                button: None,
                since: None,
                form: None,
            });
            entry.experiment = experiment.to_owned();
            edit(entry);
        }
    }

    fn set(&self, drill: &str, experiment: &str, links: &[(String, String)]) {
        self.update(drill, experiment, |entry| {
            entry.links = links
                .iter()
                .map(|(role, link)| LiveLink {
                    role: role.clone(),
                    link: link.clone(),
                })
                .collect();
        });
    }

    /// Presses the stop button of the drill running as `drill`, saying it came `via` serve's
    /// API or its page; `None` when no run of it is under way.
    pub fn stop(
        &self,
        drill: &str,
        body: crate::detection::stop::PressBody,
        via: &str,
    ) -> Option<Result<crate::detection::stop::StopRequest, crate::detection::stop::PressError>>
    {
        let button = self
            .drills
            .lock()
            .ok()
            .and_then(|all| all.get(drill).and_then(|d| d.button.clone()))?;
        Some(button.press(body, via))
    }

    fn clear(&self, drill: &str) {
        if let Ok(mut all) = self.drills.lock() {
            all.remove(drill);
        }
    }

    /// The running drills' links, by drill.
    pub fn snapshot(&self) -> BTreeMap<String, LiveDrill> {
        self.drills
            .lock()
            .map(|all| all.clone())
            .unwrap_or_default()
    }

    /// The drill running as `drill`, if one is.
    pub fn get(&self, drill: &str) -> Option<LiveDrill> {
        self.drills
            .lock()
            .ok()
            .and_then(|all| all.get(drill).cloned())
    }

    /// Prints each run's stop link on standard error from now on (serve without a token).
    pub fn announce_stop_links(&self) {
        self.announce
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn announces(&self) -> bool {
        self.announce.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Keeps `firedrill_faults_active` true while a run injects and reverts, and the roles'
/// links where serve's token holders can read them.
struct ActiveFaults {
    metrics: Arc<Registry>,
    experiment: String,
    drill: String,
    live: LiveLinks,
}

impl ProgressSink for ActiveFaults {
    fn progress(&self, event: &Progress) {
        let delta = match event {
            Progress::Injected { .. } => 1.0,
            Progress::Reverted { .. } => -1.0,
            Progress::RespondAt { links, .. } => {
                self.live.set(&self.drill, &self.experiment, links);
                return;
            }
            Progress::StopAt { link } => {
                self.live.update(&self.drill, &self.experiment, |entry| {
                    entry.stop = Some(link.clone());
                });
                if self.live.announces() {
                    // The terminal, as `firedrill run` prints it; never through tracing.
                    eprintln!(
                        "firedrill serve: drill {}: stop the drill (and roll back) at: {link}",
                        self.drill
                    );
                }
                return;
            }
            _ => return,
        };
        self.metrics.add(
            "firedrill_faults_active",
            &[("experiment", &self.experiment)],
            delta,
        );
    }
}

#[async_trait::async_trait]
impl Runner for EngineRunner {
    async fn run(
        &self,
        drill: &str,
        cancel: CancellationToken,
    ) -> Result<Vec<Finished>, DrillFailed> {
        let plan = self
            .plans
            .get(drill)
            .ok_or_else(|| format!("no drill named {drill}"))?;
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%S%.3fZ")
            .to_string();
        let out_dir = self.results.join(format!("{drill}-{stamp}"));
        let started = crate::time::Timestamp::now();
        let mut runs = Vec::new();
        let mut not_run = Vec::new();
        let mut failure = None;
        for (i, (file, exp)) in plan.experiments.iter().enumerate() {
            if cancel.is_cancelled() || failure.is_some() {
                not_run.push(file.display().to_string());
                continue;
            }
            let rel = if plan.suite.is_some() {
                format!("{:02}-{}", i + 1, exp.metadata.name)
            } else {
                String::new()
            };
            let dir = out_dir.join(&rel);
            match self.run_one(drill, file, exp, &dir, &rel, &cancel).await {
                Ok(run) => {
                    if run.result.status == RunStatus::Interrupted {
                        cancel.cancel();
                    }
                    runs.push((dir, run));
                }
                Err(error) => {
                    not_run.push(file.display().to_string());
                    failure = Some(format!(
                        "{}: {}",
                        file.display(),
                        crate::error::chain(&error)
                    ));
                }
            }
        }
        if let Some(suite) = &plan.suite {
            write_suite(suite, &out_dir, started, &runs, not_run);
        }
        let finished = runs
            .into_iter()
            .map(|(dir, run)| Finished {
                report_html: std::fs::read_to_string(dir.join("report.html")).ok(),
                result: run.result,
                dir,
            })
            .collect();
        match failure {
            None => Ok(finished),
            Some(reason) => Err(DrillFailed { finished, reason }),
        }
    }
}

impl EngineRunner {
    /// Runs one experiment of a drill into `dir` and writes its results.
    async fn run_one(
        &self,
        drill: &str,
        file: &Path,
        exp: &Experiment,
        dir: &Path,
        rel: &str,
        cancel: &CancellationToken,
    ) -> Result<crate::report::model::ReportRun, RunError> {
        let mut options = RunOptions {
            out_dir: Some(dir.to_path_buf()),
            iterations: None,
            firedrill: engine::default_firedrill_path(),
            source_file: Some(file.display().to_string()),
            sign_key: None,
            context: self.context.clone(),
            restore_namespace: None,
            stop: None,
        };
        let progress = Arc::new(ActiveFaults {
            metrics: self.metrics.clone(),
            experiment: exp.metadata.name.clone(),
            drill: drill.to_owned(),
            live: self.live.clone(),
        });
        // Kept where serve's token holders can press it while the run goes on.
        let button = crate::detection::stop::StopButton::new()
            .map(Arc::new)
            .map_err(|e| {
                RunError::Engine(engine::EngineError::Response(format!(
                    "cannot make the stop button: {e}"
                )))
            })?;
        let form = crate::response::RoleToken::generate().map_err(|e| {
            RunError::Engine(engine::EngineError::Response(format!(
                "cannot make the stop form's nonce: {e}"
            )))
        })?;
        self.live.update(drill, &exp.metadata.name, |entry| {
            entry.button = Some(button.clone());
            entry.since = Some(crate::time::Timestamp::now());
            entry.form = Some(form);
        });
        options.stop = Some(button);
        let result = drive(exp.clone(), options, progress, cancel.clone()).await;
        // The links end with the run: the tokens are refused from now on.
        self.live.clear(drill);
        let result = result?;
        // Whatever the run's own accounting said, what is active now is what it could
        // not revert.
        self.metrics.set(
            "firedrill_faults_active",
            &[("experiment", &exp.metadata.name)],
            result.rollback.failed.len() as f64,
        );
        crate::report::write::finish_run(dir, rel, result, Default::default())
            .map_err(RunError::from)
    }
}

/// suite.json and the suite's combined reports; a failure is logged, the runs still count.
fn write_suite(
    suite: &SuitePlan,
    out_dir: &Path,
    started: crate::time::Timestamp,
    runs: &[(PathBuf, crate::report::model::ReportRun)],
    not_run: Vec<String>,
) {
    let report_runs = runs.iter().map(|(_, r)| r.clone()).collect();
    let (report, input) =
        crate::report::write::suite_report(&suite.name, report_runs, Some(&suite.weights), None);
    let mut result = SuiteResult {
        schema_version: crate::result::SCHEMA_VERSION,
        name: suite.name.clone(),
        description: suite.description.clone(),
        file: Some(suite.file.clone()),
        status: report.status,
        started_at: started,
        finished_at: crate::time::Timestamp::now(),
        runs: report
            .runs
            .iter()
            .map(|r| SuiteEntry {
                dir: r.dir.clone(),
                experiment: r.result.experiment.name.clone(),
                status: r.result.status,
            })
            .collect(),
        not_run,
        scorecard_input: input,
        scorecard: report.scorecard.clone(),
        history: report.history.clone(),
        files: Default::default(),
    };
    if let Err(error) = crate::report::write::finish_suite(out_dir, &mut result, &report) {
        tracing::warn!(error = %crate::error::chain(&error), suite = %suite.name, "cannot write the suite's results");
    }
}

/// Runs one experiment in its own task, so that a panic in it is caught here and what it
/// injected is reverted.
async fn drive(
    exp: Experiment,
    options: RunOptions,
    progress: Arc<dyn ProgressSink>,
    cancel: CancellationToken,
) -> Result<crate::result::RunResult, RunError> {
    let rollback = Rollback::new();
    let task = tokio::spawn(engine::run(
        exp,
        options,
        cancel,
        progress,
        rollback.clone(),
    ));
    match task.await {
        Ok(result) => result.map_err(RunError::from),
        Err(join) => {
            tracing::error!(error = %join, "the run failed unexpectedly; reverting what was injected");
            let rolled = rollback.revert_all_emergency().await;
            // The process table is shared by every drill: stopping them all is the price of
            // never leaving a panicked run's processes behind.
            crate::platform::local::process::kill_all_now();
            Err(RunError::Panicked {
                reverted: rolled.reverted,
                failed: rolled.failed,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(target: &str) -> Experiment {
        let text = format!(
            "apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {{name: checkout}}
spec:
{target}
  steadyState:
    interval: 1s
    probes:
      - {{name: up, type: workload-available, workload: web}}
  faults:
    - {{name: kill, type: pod-delete, select: {{mode: one, workload: web}}, duration: 1s}}
"
        );
        crate::spec::load_str("e.yaml", &text).unwrap()
    }

    #[test]
    fn why_a_run_gave_no_result_reads_as_before() {
        let panicked = RunError::Panicked {
            reverted: vec!["kill".into()],
            failed: Vec::new(),
        };
        assert_eq!(
            panicked.to_string(),
            r#"the run panicked; reverted ["kill"], failed to revert []"#
        );
        let engine = RunError::from(engine::EngineError::OutDir(
            "/results/x".into(),
            std::io::Error::other("read-only file system"),
        ));
        assert_eq!(
            crate::error::chain(&engine),
            "cannot create the results folder /results/x: read-only file system"
        );
    }

    #[test]
    fn kubernetes_targets_are_workload_objects_and_local_ones_the_experiment() {
        let exp = experiment(
            "  target:
    platform: kubernetes
    namespaces: [shop]
    workloads:
      - {name: web, namespace: shop, kind: Deployment, objectName: web}
      - {name: cache, namespace: shop, kind: Pod, matchLabels: {app: cache, tier: db}}",
        );
        assert_eq!(
            targets(&exp),
            [
                "kubernetes/shop/Deployment/web",
                "kubernetes/shop/Pod/app=cache,tier=db"
            ]
        );
    }
}
