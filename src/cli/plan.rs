//! `firedrill plan FILE...`: what a run would do, changing nothing.
//!
//! Experiments on the kubernetes platform are planned against the cluster: preflight,
//! targets resolved with the guardrails by each fault's own `plan`, and every write the run
//! would make sent to the API server as a server-side dry run. `--offline` plans them from
//! the document alone.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Value, json};

use super::ExitStatus;
use crate::platform::Platform;
use crate::platform::kubernetes::{self as kube_platform, KubernetesPlatform, WriteAction};
use crate::spec::{self, DetectionSignal, Experiment, Objective, Probe, Readiness, Target};

/// Arguments of `firedrill plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment files, or a suite file listing them.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Plan experiments on the kubernetes platform from the document alone, without a
    /// cluster: no targets resolved, no permission checked, no dry run.
    #[arg(long, conflicts_with_all = ["manifests", "context"])]
    offline: bool,
    /// Write the object each write of the run would create or change, as the API server
    /// returned it from the dry run, to this folder (absent or empty), one YAML file each,
    /// with an index in manifests.json.
    #[arg(long, value_name = "DIR")]
    manifests: Option<PathBuf>,
    /// The kubeconfig context for experiments on the kubernetes platform (overrides
    /// `spec.target.context`).
    #[arg(long, value_name = "CONTEXT")]
    context: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Some(plan) = super::load::load_plan(&args.files) else {
        return Ok(ExitStatus::InvalidInput);
    };
    if let Some(dir) = &args.manifests {
        // Files of an earlier plan beside this one's would be reviewed as if they were its.
        let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if occupied || dir.is_file() {
            say!(
                "error: --manifests {}: the folder must be absent or empty",
                dir.display()
            );
            return Ok(ExitStatus::InvalidInput);
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let mut manifests = args.manifests.as_deref().map(Manifests::new);
    let count = plan.experiments.len();
    if plan.is_suite {
        println!(
            "suite {}: {count} experiments, run one after the other and scored together",
            plan.name
        );
        if let Some(d) = &plan.description {
            println!("  {d}");
        }
    }
    let mut status = ExitStatus::Success;
    let mut runtime = None;
    for (i, (file, exp)) in plan.experiments.iter().enumerate() {
        if plan.is_suite {
            println!("\n=== {}/{count}: {} ===", i + 1, file.display());
        }
        let target = match &exp.spec.target {
            Target::Kubernetes(target) if !args.offline => target,
            _ => {
                print!("{}", render(exp));
                continue;
            }
        };
        print!("{}", describe(exp));
        let runtime = match &mut runtime {
            Some(r) => r,
            None => runtime.insert(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?,
            ),
        };
        let ok = runtime.block_on(against_cluster(
            exp,
            &file.display().to_string(),
            target,
            args.context.as_deref(),
            manifests.as_mut(),
        ));
        if ok {
            println!(
                "\nnothing was changed: every write above was sent as a server-side dry run (dryRun=All)."
            );
        } else {
            println!("\nnothing was changed; a run would stop where the plan failed above.");
            status = ExitStatus::Aborted;
        }
    }
    if let Some(m) = manifests {
        m.finish()?;
    }
    Ok(status)
}

/// The objects written for review, and their index.
struct Manifests {
    dir: PathBuf,
    index: Vec<Value>,
}

impl Manifests {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            index: Vec::new(),
        }
    }

    /// Records a write's dry run; writes its object when the server accepted it.
    fn add(
        &mut self,
        entry: Value,
        fault: &str,
        write: &kube_platform::ApiWrite,
        outcome: &Result<kube_platform::DryRun, kube_platform::KubeError>,
    ) -> anyhow::Result<Option<String>> {
        let number = self.index.len() + 1;
        let mut entry = entry;
        let file = match outcome {
            Ok(dry) => {
                let name = kube_platform::manifest_file_name(number, fault, write);
                let object = kube_platform::for_review(dry.object.clone());
                let yaml = serde_saphyr::to_string(&object).map_err(|e| {
                    anyhow::anyhow!("cannot write {} as YAML: {e}", write.describe())
                })?;
                let path = self.dir.join(&name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                entry["manifest"] = json!(name);
                entry["manifestKind"] = object["kind"].clone();
                entry["shows"] = json!(if dry.current {
                    "the object as it is now, which the write removes"
                } else {
                    "the object as it would be after the write"
                });
                entry["dryRun"] = json!("accepted");
                Some(name)
            }
            Err(e) => {
                entry["manifest"] = Value::Null;
                entry["dryRun"] = json!("refused");
                entry["error"] = json!(kube_platform::server_message(e));
                None
            }
        };
        self.index.push(entry);
        Ok(file)
    }

    fn finish(self) -> anyhow::Result<()> {
        let path = self.dir.join("manifests.json");
        let text = serde_json::to_string_pretty(&json!({"writes": self.index}))
            .context("cannot encode the manifest index")?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        say!("manifests: {}", self.dir.display());
        Ok(())
    }
}

/// Connects, runs the preflight, plans every fault with the code a run uses and dry-runs
/// its writes, printing each step; false when anything stops it or the server refuses a write.
async fn against_cluster(
    exp: &Experiment,
    file: &str,
    target: &spec::KubernetesTarget,
    context: Option<&str>,
    mut manifests: Option<&mut Manifests>,
) -> bool {
    let run_id = plan_run_id();
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let started =
        KubernetesPlatform::start(&exp.spec, target, context, None, &run_id, events).await;
    let platform = match started {
        Ok(p) => p,
        Err(e) => {
            println!(
                "\nagainst the cluster: the cluster is not ready for the run: {}",
                kube_platform::server_message(&e)
            );
            if matches!(e, kube_platform::KubeError::Config { .. }) {
                println!("  (plan --offline describes the experiment without a cluster)");
            }
            return false;
        }
    };
    let c = platform.connection().clone();
    println!(
        "\nagainst the cluster (context {} at {}):",
        c.context, c.server
    );
    println!(
        "  preflight: every permission granted; every workload found, with its pods, within the guardrails"
    );
    println!("  names that carry the run id use this plan's ({run_id}); a run gets its own");
    let client = platform.cluster().client.clone();
    let platform = Platform::Kubernetes(platform, crate::spec::placeholders::Context::default());
    let ctx = crate::fault::FaultContext {
        firedrill: crate::engine::default_firedrill_path(),
        run_id: run_id.clone(),
    };
    let mut ok = true;
    for f in &exp.spec.faults {
        println!("  fault {} ({}):", f.name(), f.type_name());
        let intent = match crate::fault::build(f, &platform, &ctx) {
            Ok(fault) => fault.plan().await,
            Err(e) => Err(e),
        };
        let intent = match intent {
            Ok(i) => i,
            Err(e) => {
                println!("    cannot plan: {}", crate::error::chain(&e));
                ok = false;
                continue;
            }
        };
        println!("    targets: {}", intent.targets.join(", "));
        for change in &intent.changes {
            println!("    change: {change}");
        }
        for undo in &intent.undo {
            println!("    undo: {undo}");
        }
        for write in &intent.writes {
            let outcome = kube_platform::dry_run(&client, write).await;
            let entry = json!({
                "experiment": exp.metadata.name,
                "file": file,
                "runId": run_id,
                "fault": f.name(),
                "write": write.describe(),
                "action": action_name(&write.action),
                "subresource": match &write.action {
                    WriteAction::MergePatch { subresource, .. } => json!(subresource),
                    _ => Value::Null,
                },
                "apiVersion": write.resource.api_version,
                "kind": write.resource.kind,
                "namespace": write.namespace,
                "name": write.name,
            });
            let written = match manifests.as_deref_mut() {
                Some(m) => match m.add(entry, f.name(), write, &outcome) {
                    Ok(file) => file,
                    Err(e) => {
                        println!("    cannot write the manifest: {e:#}");
                        ok = false;
                        None
                    }
                },
                None => None,
            };
            match &outcome {
                // A prevention check's attempt goes through admission in a dry run too: the
                // answer previews the check's outcome, and neither answer stops the plan.
                Ok(_) if write.expect_refusal => println!(
                    "    dry run ACCEPTED: {}{}: policy would let this through; the run will record it as a finding and delete the object at once",
                    write.describe(),
                    written.map(|f| format!(" -> {f}")).unwrap_or_default()
                ),
                Err(e) if write.expect_refusal && is_policy_refusal(e) => println!(
                    "    dry run refused, as the prevention check expects: {}: {}",
                    write.describe(),
                    kube_platform::server_message(e)
                ),
                Ok(_) => println!(
                    "    dry run accepted: {}{}",
                    write.describe(),
                    written.map(|f| format!(" -> {f}")).unwrap_or_default()
                ),
                Err(e) => {
                    ok = false;
                    println!(
                        "    dry run REFUSED: {}: {}",
                        write.describe(),
                        kube_platform::server_message(e)
                    );
                }
            }
        }
    }
    ok
}

/// Whether a dry run's error is policy refusing the write (authorization, admission or
/// validation), rather than a failure to reach or use the API.
fn is_policy_refusal(e: &kube_platform::KubeError) -> bool {
    matches!(
        e,
        kube_platform::KubeError::Api { source: kube::Error::Api(s), .. }
            if (400..500).contains(&s.code) && !matches!(s.code, 401 | 404 | 409 | 429)
    )
}

/// A run id of the shape a run's has, so that names built from it look as they will.
fn plan_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}-{:08x}", fastrand::u32(..))
}

fn action_name(action: &WriteAction) -> &'static str {
    match action {
        WriteAction::Create(_) => "create",
        WriteAction::MergePatch {
            subresource: Some(_),
            ..
        } => "patch-subresource",
        WriteAction::MergePatch { .. } => "patch",
        WriteAction::Delete { .. } => "delete",
        WriteAction::Evict => "evict",
    }
}

/// The plan as text, from the document alone.
pub fn render(exp: &Experiment) -> String {
    let mut o = describe(exp);
    let _ = writeln!(o, "\nnothing was started or changed.");
    o
}

/// What the document describes.
fn describe(exp: &Experiment) -> String {
    let s = &exp.spec;
    let mut o = String::new();
    let _ = writeln!(o, "experiment {}", exp.metadata.name);
    if let Some(d) = &exp.metadata.description {
        let _ = writeln!(o, "  {d}");
    }
    match &s.target {
        Target::Local(target) => render_local(&mut o, target),
        Target::Kubernetes(target) => render_kubernetes(&mut o, target, s),
    }

    let _ = writeln!(
        o,
        "\nsteady state: every {} for the whole run; baseline of {} before each injection",
        s.steady_state.interval, s.steady_state.baseline
    );
    for p in &s.steady_state.probes {
        let what = match p {
            Probe::Http(h) => format!(
                "{} {} expecting {} within {}{}",
                h.method.as_str(),
                h.url,
                h.expect_status,
                h.timeout,
                h.max_latency
                    .map(|m| format!(", slower than {m} fails"))
                    .unwrap_or_default()
            ),
            Probe::Tcp(t) => format!("TCP connect to {} within {}", t.address, t.timeout),
            Probe::WorkloadAvailable(w) => format!(
                "{} has all its desired replicas available, read within {}",
                w.workload, w.timeout
            ),
            Probe::PodReady(r) => format!(
                "every pod of {} is Ready, read within {}",
                r.workload, r.timeout
            ),
            Probe::ObjectExists(x) => format!(
                "{} {}/{} exists, read within {}",
                x.kind.as_str(),
                x.namespace,
                x.object_name,
                x.timeout
            ),
            Probe::KubernetesObject(o) => {
                let which = match &o.object_name {
                    Some(name) => format!("{} {} {}/{name}", o.api_version, o.kind, o.namespace),
                    None => format!(
                        "every {} {} in {} labelled {} (at least one)",
                        o.api_version,
                        o.kind,
                        o.namespace,
                        o.match_labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                };
                let what = match &o.expect {
                    None => "exists".to_owned(),
                    Some(crate::spec::ObjectExpectation::Condition(c)) => format!(
                        "has condition {}={}{}",
                        c.type_,
                        c.status.as_str(),
                        c.reason
                            .as_ref()
                            .map(|r| format!(" (reason {r})"))
                            .unwrap_or_default()
                    ),
                    Some(crate::spec::ObjectExpectation::Field(f)) => {
                        match (&f.equals, f.op, f.value) {
                            (Some(v), _, _) => format!("has {} equal to {v}", f.json_path),
                            (None, Some(op), Some(v)) => {
                                format!("has {} {} {v}", f.json_path, op.as_str())
                            }
                            _ => format!("has {}", f.json_path),
                        }
                    }
                };
                format!("{which} {what}, read within {}", o.timeout)
            }
            Probe::Command(c) => format!(
                "`{}` exiting {} within {}",
                c.command.join(" "),
                c.expect_exit_code,
                c.timeout
            ),
            Probe::Prometheus(q) => format!(
                "every value of `{}` at {} {} {} (an empty answer {}), within {}",
                q.query,
                q.url,
                q.expect.op.as_str(),
                q.expect.value,
                match q.on_empty {
                    crate::spec::OnEmpty::Fail => "fails",
                    crate::spec::OnEmpty::Pass => "passes",
                },
                q.timeout
            ),
        };
        let _ = writeln!(
            o,
            "  {}: {what} (baseline needs {:.0}% passing)",
            p.name(),
            p.min_success_ratio() * 100.0
        );
    }

    let _ = writeln!(
        o,
        "\nschedule of each of {} iteration(s), from the start of the fault phase (cooldown {}):",
        s.iterations, s.cooldown
    );
    let mut steps: Vec<(spec::Duration, String)> = Vec::new();
    for f in &s.faults {
        steps.push((f.at(), format!("inject {} ({})", f.name(), f.describe())));
        let end = spec::Duration(f.at().get() + f.duration().get());
        let undo = f.undo(&s.target);
        steps.push((end, format!("revert {} ({undo})", f.name())));
    }
    steps.sort_by_key(|(at, _)| *at);
    for (at, what) in steps {
        let _ = writeln!(o, "  +{:<8} {what}", at.to_string());
    }

    let in_cluster = matches!(s.target, spec::Target::Kubernetes(_));
    let _ = writeln!(
        o,
        "\nproof of effect, checked after each injection (a fault not in force fails its iteration):"
    );
    for f in &s.faults {
        let _ = writeln!(o, "  {}: {}", f.name(), f.effect_check(in_cluster));
    }

    match &s.detection {
        Some(d) => {
            let _ = writeln!(o, "\ndetection (timeout {} after injection):", d.timeout);
            for sig in &d.signals {
                let what = match sig {
                    DetectionSignal::ProbeFails(p) => {
                        format!("probe `{}` fails {} times in a row", p.probe, p.consecutive)
                    }
                    DetectionSignal::Webhook(w) => format!(
                        "a firing alert with {} posted to the webhook on {}",
                        w.matchers
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(","),
                        d.webhook_listen
                    ),
                    DetectionSignal::KubernetesEvent(k) => format!(
                        "a Warning event ({}) about workload `{}` or its pods, new after injection",
                        k.reasons.join(", "),
                        k.workload
                    ),
                    DetectionSignal::AlertmanagerAlert(a) => format!(
                        "a firing alert with {} in Alertmanager at {}, polled every {}",
                        label_list(&a.matchers),
                        a.url,
                        a.interval
                    ),
                    DetectionSignal::PrometheusAlert(a) => format!(
                        "ALERTS firing with {} in Prometheus at {}, polled every {}",
                        label_list(&a.matchers),
                        a.url,
                        a.interval
                    ),
                };
                let _ = writeln!(o, "  {}: {what}", sig.name());
            }
        }
        None => {
            let _ = writeln!(
                o,
                "\ndetection: none configured; time to detect is not measured"
            );
        }
    }
    let _ = writeln!(
        o,
        "\nrecovery: every probe passing for {} after the faults end, within {}",
        s.recovery.stable_for, s.recovery.timeout
    );
    if let Some(t) = &s.traffic {
        let pace = match &t.model {
            crate::spec::TrafficModel::Open(m) => format!(
                "{} requests/s (open model, at most {} connections)",
                m.rate, m.max_connections
            ),
            crate::spec::TrafficModel::Closed(m) => {
                format!("{} requests in flight (closed model)", m.concurrency)
            }
        };
        let _ = writeln!(
            o,
            "\ntraffic: {pace}, {} kind(s) of request, timeout {}, through the whole run",
            t.requests.len(),
            t.timeout
        );
    }
    if !s.objectives.is_empty() {
        let _ = writeln!(o, "\nobjectives:");
        for obj in &s.objectives {
            let line = match obj {
                Objective::TimeToDetect(d) => {
                    format!("time to detect p{} <= {}", d.percentile, d.max)
                }
                Objective::TimeToRecover(d) => {
                    format!("time to recover p{} <= {}", d.percentile, d.max)
                }
                Objective::Availability(a) => format!(
                    "availability of {} in the {} phase >= {}",
                    a.probe.as_deref().unwrap_or("all probes"),
                    a.phase.as_str(),
                    a.min
                ),
                Objective::Latency(l) => format!(
                    "latency p{} of {} in the {} phase <= {}",
                    l.percentile,
                    l.probe,
                    l.phase.as_str(),
                    l.max
                ),
                Objective::BudgetBurned(b) => {
                    format!("error budget burned by an iteration <= {}", b.max)
                }
                Objective::LatencyDegradation(b) => {
                    format!("traffic p99 fault / p99 baseline <= {}", b.max)
                }
                Objective::TrafficAvailability(a) => format!(
                    "traffic availability in the {} phase >= {}",
                    a.phase.as_str(),
                    a.min
                ),
            };
            let _ = writeln!(o, "  {line}");
        }
    }
    if let Some(n) = &s.notification {
        let mut kinds = vec![
            "NIS2 early warning (24 h)",
            "NIS2 incident notification (72 h)",
        ];
        if n.dora {
            kinds.push("DORA initial notification (24 h)");
        }
        let _ = writeln!(
            o,
            "\nnotifications: at each iteration's first detection, draft {} (watermarked EXERCISE)",
            kinds.join(", ")
        );
        if let Some(d) = &n.deliver {
            let _ = writeln!(
                o,
                "  post the early warning to {} (timeout {})",
                crate::notification::redact_url(&d.url),
                d.timeout
            );
        }
    }
    if let Some(c) = &s.coordination {
        let _ = writeln!(
            o,
            "\ncoordination: after the first detection, wait up to {} for acknowledgements from {}",
            c.timeout,
            c.roles.join(", ")
        );
    }
    if let Some(r) = s.response.as_ref().filter(|r| !r.roles.is_empty()) {
        let scale = if (r.time_scale - 1.0).abs() < f64::EPSILON {
            String::new()
        } else {
            format!(" (exercise time, at time scale {})", r.time_scale)
        };
        let _ = writeln!(
            o,
            "\nresponse: each role gets a link of its own{scale}; after the first detection:"
        );
        for role in &r.roles {
            let reach = match &role.reach {
                crate::spec::Reach::Chat(chat) => format!(
                    "told by chat at {}",
                    crate::notification::redact_url(&chat.url)
                ),
                crate::spec::Reach::None {} => "opens the link the run prints".to_owned(),
            };
            let _ = writeln!(o, "  {} ({}): {reach}", role.name, role.function.trim());
        }
        for d in &r.decisions {
            let what = match (&d.decision, &d.question) {
                (Some(decision), _) => serde_json::to_value(decision)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                (None, Some(question)) => format!("\"{question}\""),
                (None, None) => String::new(),
            };
            let trigger = match &d.after {
                crate::spec::Trigger::Detection => "at detection".to_owned(),
                crate::spec::Trigger::Decision(earlier) => format!("once `{earlier}` is answered"),
            };
            let delay = if d.delay.is_zero() {
                String::new()
            } else {
                format!(" + {}", d.delay)
            };
            let _ = writeln!(
                o,
                "  {}: {what} to {}, {trigger}{delay}, within {}",
                d.id, d.decided_by, d.budget
            );
        }
        for a in &r.approvals {
            let review = a
                .reviewed_by
                .as_ref()
                .map(|r| format!("reviewed by {r}, then "))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {}: {review}approved by {}, each within {}; ready (and submitted) only once approved",
                a.report.id(),
                a.approved_by,
                a.budget
            );
        }
    }
    let mapped: Vec<String> = crate::scorecard::evidence::exercised(s)
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let _ = writeln!(
        o,
        "\nscorecard: the faults exercise {}; evidence and traceability come from the journal",
        if mapped.is_empty() {
            "no capability".to_owned()
        } else {
            mapped.join(", ")
        }
    );
    let _ = writeln!(
        o,
        "\nsafety: at most {}% of a workload's replicas affected at once; the run stops after {}",
        s.safety.max_affected_percent, s.safety.timeout
    );
    for c in &s.safety.abort_when {
        let _ = writeln!(o, "  abort when {c:?}");
    }
    for c in &s.safety.stop_when {
        let labels: Vec<String> = c
            .matchers()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let source = match c {
            spec::StopCondition::Webhook(_) => "posted to the run's webhook".to_owned(),
            spec::StopCondition::AlertmanagerAlert(p) => {
                format!("seen in Alertmanager at {} every {}", p.url, p.interval)
            }
            spec::StopCondition::PrometheusAlert(p) => {
                format!(
                    "seen in Prometheus' ALERTS at {} every {}",
                    p.url, p.interval
                )
            }
        };
        let _ = writeln!(
            o,
            "  stop and roll back when an alert {{{}}} fires, {source} (stop condition {})",
            labels.join(", "),
            c.name()
        );
    }
    o
}

fn render_local(o: &mut String, target: &spec::LocalTarget) {
    let _ = writeln!(
        *o,
        "\ntargets (platform local, ready within {}):",
        target.startup_timeout
    );
    for w in &target.workloads {
        let argv: Vec<&str> = w
            .command
            .iter()
            .chain(&w.args)
            .map(String::as_str)
            .collect();
        let _ = writeln!(
            *o,
            "  {}: {} replica(s) of `{}` behind the service address {{workload.{}}}",
            w.name,
            w.replicas,
            argv.join(" "),
            w.name
        );
        let readiness = match &w.readiness {
            Some(Readiness::Http(h)) => format!(
                "HTTP GET {} expecting {} every {}",
                h.path, h.expect_status, h.period
            ),
            Some(Readiness::Tcp(t)) => format!("TCP connect every {}", t.period),
            Some(Readiness::Command(c)) => format!("`{}` every {}", c.command.join(" "), c.period),
            None => "TCP connect every 100ms (default)".to_owned(),
        };
        let _ = writeln!(
            *o,
            "    readiness: {readiness}; restart {:?} with back-off {} up to {}",
            w.restart.policy, w.restart.backoff, w.restart.max_backoff
        );
    }
    for d in &target.dependencies {
        let _ = writeln!(
            *o,
            "  dependency {}: {} behind a fault proxy at {{dependency.{}}} (also ${})",
            d.name,
            d.upstream,
            d.name,
            crate::platform::local::dependency_env(&d.name)
        );
    }
}

fn render_kubernetes(o: &mut String, target: &spec::KubernetesTarget, s: &spec::Spec) {
    let _ = writeln!(
        o,
        "\ntargets (platform kubernetes, context {}; resolved against the cluster at run time):",
        target.context.as_deref().unwrap_or("current")
    );
    let _ = writeln!(
        o,
        "  namespaces allowed: {}{}",
        target.namespaces.join(", "),
        if target.allow_system_namespaces {
            " (system namespaces allowed)"
        } else {
            ""
        }
    );
    if target.require_opt_in {
        let _ = writeln!(
            o,
            "  every target pod must carry the label {}={}",
            target.opt_in_label.key, target.opt_in_label.value
        );
    } else {
        let _ = writeln!(
            o,
            "  the opt-in label is not required (requireOptIn: false)"
        );
    }
    let _ = writeln!(
        o,
        "  faults affect at most {}% of a workload's pods at once",
        s.safety.max_affected_percent
    );
    for w in &target.workloads {
        let labels = crate::platform::kubernetes::label_selector(&w.match_labels);
        let what = match (&w.object_name, labels.is_empty()) {
            (Some(name), true) => format!("{} {}/{}", w.kind.as_str(), w.namespace, name),
            (Some(name), false) => format!(
                "{} {}/{}, its pods matching {labels}",
                w.kind.as_str(),
                w.namespace,
                name
            ),
            (None, _) => format!("pods in {} matching {labels}", w.namespace),
        };
        let _ = writeln!(o, "  {}: {what}", w.name);
    }
    for d in &target.dependencies {
        let ports = if d.ports.is_empty() {
            "every port".to_owned()
        } else {
            format!(
                "port {}",
                d.ports
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let proxy = match &d.proxy {
            Some(p) => format!(
                "dependency faults deploy the fault proxy ({}) in front of it, on {ports}",
                p.image
            ),
            None => "no proxy: dependency faults cannot act on it".to_owned(),
        };
        let _ = writeln!(
            o,
            "  dependency {}: Service {}/{}; {proxy}",
            d.name, d.namespace, d.service
        );
    }
    let _ = writeln!(
        o,
        "  preflight: the run needs these permissions (checked with SelfSubjectAccessReview before anything changes):"
    );
    for p in crate::platform::kubernetes::required_permissions(s) {
        let _ = writeln!(o, "    {p}");
    }
}

fn label_list(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
