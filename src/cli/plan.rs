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
use crate::spec::{
    self, DetectionSignal, Experiment, FaultSpec, Objective, Probe, Readiness, Selector, Target,
};

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
    let started = KubernetesPlatform::start(&exp.spec, target, context, &run_id, events).await;
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
        steps.push((
            f.at(),
            format!("inject {} ({})", f.name(), describe_fault(f)),
        ));
        let end = spec::Duration(f.at().get() + f.duration().get());
        let undo = match f {
            FaultSpec::ProcessKill(_) => "restart any replica still down",
            FaultSpec::ProcessPause(_) => "SIGCONT",
            FaultSpec::CpuStress(_) | FaultSpec::MemoryPressure(_) => "stop the helper process",
            FaultSpec::DependencyOutage(o) if o.mode == spec::OutageMode::Refuse => {
                "the proxy listens again"
            }
            FaultSpec::DependencyLatency(_)
            | FaultSpec::DependencyErrors(_)
            | FaultSpec::DependencyOutage(_)
            | FaultSpec::DependencyBandwidth(_) => "remove the toxic from the proxy",
            FaultSpec::PodDelete(_) | FaultSpec::PodEvict(_) => {
                "nothing to undo: the controller replaces the pods"
            }
            FaultSpec::Scale(_) => "scale back to the replica count recorded before",
            FaultSpec::RolloutRestart(_) => {
                "put the template's restart annotation back as recorded (the pods roll once more)"
            }
            FaultSpec::Quarantine(_) => {
                "delete the NetworkPolicy and remove the quarantine label from the pods"
            }
            FaultSpec::ConfigChange(_) => {
                "put the keys back as recorded, where they still hold what firedrill wrote"
            }
            FaultSpec::SecretRotate(_) => {
                "put the original value back from the journal, where the key still holds what firedrill wrote"
            }
            FaultSpec::SecretRevoke(r) if r.delete_secret => {
                "create the Secret again as recorded in the journal"
            }
            FaultSpec::SecretRevoke(_) => {
                "put the key back from the journal, unless someone else has set it meanwhile"
            }
            FaultSpec::ContainerKill(_) => "nothing to undo: the kubelet restarts the container",
            FaultSpec::EgressBlock(_) | FaultSpec::DnsOutage(_) => {
                "delete the NetworkPolicy and remove the egress-block label from the pods"
            }
            FaultSpec::NodeCordon(_) | FaultSpec::NodeDrain(_) => {
                "put the node's spec.unschedulable back as recorded (uncordon)"
            }
            FaultSpec::CanaryRequest(_)
            | FaultSpec::CanaryExec(_)
            | FaultSpec::CanaryDnsLookup(_) => {
                "nothing to undo: the canary leaves no change behind"
            }
            FaultSpec::CanaryFileRead(_) => "remove the honeytoken file if firedrill created it",
            FaultSpec::CanarySecretRead(_) => {
                "delete the ServiceAccount, Role, RoleBinding and honeytoken Secret firedrill created"
            }
            FaultSpec::CanaryDeniedRequests(_) => "delete the ServiceAccount firedrill created",
            FaultSpec::PreventPrivilegedPod(_)
            | FaultSpec::PreventHostPath(_)
            | FaultSpec::PreventPodSecurity(_) => {
                "nothing when refused; an accepted pod is deleted at once"
            }
            FaultSpec::PreventSecretRead(_) => {
                "delete the ServiceAccount firedrill created, if it created one"
            }
        };
        let undo = match &s.target {
            Target::Kubernetes(_) if f.dependency().is_some() => {
                "put the Service's selector back, then delete the proxy, its upstream Service and its ConfigMap"
            }
            _ => undo,
        };
        steps.push((end, format!("revert {} ({undo})", f.name())));
    }
    steps.sort_by_key(|(at, _)| *at);
    for (at, what) in steps {
        let _ = writeln!(o, "  +{:<8} {what}", at.to_string());
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

fn peer(p: &spec::PodPeer) -> String {
    if p.match_labels.is_empty() {
        format!("every pod in {}", p.namespace)
    } else {
        let labels: Vec<String> = p
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("pods {} in {}", labels.join(","), p.namespace)
    }
}

fn node(n: &spec::NodeChoice) -> String {
    match n {
        spec::NodeChoice::Named(x) => format!("node {}", x.name),
        spec::NodeChoice::OfWorkload(x) => format!("the node of one pod of {}", x.workload),
    }
}

fn describe_fault(f: &FaultSpec) -> String {
    let sel = |s: &Selector| match s {
        Selector::One(x) => format!("one replica of {}", x.workload),
        Selector::All(x) => format!("every replica of {}", x.workload),
        Selector::Fixed(x) => format!("{} replica(s) of {}", x.count, x.workload),
        Selector::Percent(x) => format!("{}% of the replicas of {}", x.percent, x.workload),
    };
    let pods = |s: &Selector| match s {
        Selector::One(x) => format!("one pod of {}", x.workload),
        Selector::All(x) => format!("every pod of {}", x.workload),
        Selector::Fixed(x) => format!("{} pod(s) of {}", x.count, x.workload),
        Selector::Percent(x) => format!("{}% of the pods of {}", x.percent, x.workload),
    };
    match f {
        FaultSpec::ProcessKill(k) => format!("{} to {}", k.signal.name(), sel(&k.select)),
        FaultSpec::ProcessPause(p) => format!("SIGSTOP {} for {}", sel(&p.select), p.duration),
        FaultSpec::CpuStress(c) => {
            format!("{} worker(s) at {}% for {}", c.workers, c.load, c.duration)
        }
        FaultSpec::MemoryPressure(m) => format!("hold {} MiB for {}", m.size_mib, m.duration),
        FaultSpec::DependencyLatency(d) => format!(
            "delay {} by {} ± {}{} for {}",
            d.dependency,
            d.latency,
            d.jitter,
            if d.per_request { " per request" } else { "" },
            d.duration
        ),
        FaultSpec::DependencyErrors(d) => format!(
            "answer {:.0}% of the HTTP requests to {} with {} for {}",
            d.rate * 100.0,
            d.dependency,
            d.status,
            d.duration
        ),
        FaultSpec::DependencyOutage(d) => {
            format!(
                "{:?} connections to {} for {}",
                d.mode, d.dependency, d.duration
            )
        }
        FaultSpec::DependencyBandwidth(d) => {
            format!(
                "limit {} to {} KB/s for {}",
                d.dependency, d.rate_kbps, d.duration
            )
        }
        FaultSpec::PodDelete(d) => format!(
            "delete {}{}",
            pods(&d.select),
            if d.force {
                " at once (force)".to_owned()
            } else {
                d.grace_period
                    .map(|g| format!(" with a grace period of {g}"))
                    .unwrap_or_default()
            }
        ),
        FaultSpec::PodEvict(e) => format!("evict {} (PodDisruptionBudgets apply)", pods(&e.select)),
        FaultSpec::Scale(x) => format!("scale {} to {} for {}", x.workload, x.replicas, x.duration),
        FaultSpec::RolloutRestart(r) => format!("rollout restart of {}", r.workload),
        FaultSpec::Quarantine(q) => format!(
            "deny-all NetworkPolicy on {} for {}",
            pods(&q.select),
            q.duration
        ),
        FaultSpec::ConfigChange(c) => {
            let mut what: Vec<String> = c.set.keys().map(|k| format!("set `{k}`")).collect();
            what.extend(c.remove.iter().map(|k| format!("remove `{k}`")));
            format!(
                "{} in ConfigMap {}/{} for {}{}",
                what.join(", "),
                c.namespace,
                c.config_map,
                c.duration,
                restarting(c.restart_workload.as_deref())
            )
        }
        // Never a value: only where the new one comes from.
        FaultSpec::SecretRotate(r) => format!(
            "replace the value of `{}` in Secret {}/{} with {} for {}{}",
            r.key,
            r.namespace,
            r.secret,
            r.value_from_env.as_deref().map_or_else(
                || "a fresh random value of the same length".to_owned(),
                |v| format!("the value of ${v}")
            ),
            r.duration,
            restarting(r.restart_workload.as_deref())
        ),
        FaultSpec::SecretRevoke(r) => format!(
            "{} for {}{}",
            match &r.key {
                Some(k) if !r.delete_secret => {
                    format!("remove `{k}` from Secret {}/{}", r.namespace, r.secret)
                }
                _ => format!("delete Secret {}/{}", r.namespace, r.secret),
            },
            r.duration,
            restarting(r.restart_workload.as_deref())
        ),
        FaultSpec::ContainerKill(k) => format!(
            "{} to PID 1 of {} through exec",
            if k.command.is_empty() {
                k.signal.unwrap_or(spec::Signal::Term).name().to_owned()
            } else {
                format!("`{}`", k.command.join(" "))
            },
            k.container.as_deref().map_or_else(
                || format!("the container of {}", pods(&k.select)),
                |c| format!("container {c} of {}", pods(&k.select))
            )
        ),
        FaultSpec::EgressBlock(e) => {
            let to = match &e.destination {
                spec::EgressDestination::Cidr(c) => match (c.port, c.protocol) {
                    (Some(p), proto) => format!(
                        "{} port {p}/{}",
                        c.cidr,
                        proto.unwrap_or(spec::NetworkProtocol::Tcp).as_str()
                    ),
                    (None, Some(proto)) => format!("{} ({})", c.cidr, proto.as_str()),
                    (None, None) => c.cidr.clone(),
                },
                spec::EgressDestination::Pods(p) => peer(p),
            };
            format!(
                "block egress from {} to {to} for {}",
                pods(&e.select),
                e.duration
            )
        }
        FaultSpec::DnsOutage(d) => format!(
            "block egress from {} to the cluster DNS ({}) and port 53 for {}",
            pods(&d.select),
            peer(&d.dns),
            d.duration
        ),
        FaultSpec::NodeCordon(n) => format!("cordon {} for {}", node(&n.node), n.duration),
        FaultSpec::NodeDrain(n) => format!(
            "cordon and drain {} (evictions, PodDisruptionBudgets apply), uncordoned after {}",
            node(&n.node),
            n.duration
        ),
        FaultSpec::CanaryRequest(c) => format!(
            "send {} {} request(s) marked `{}` to {}",
            c.count,
            c.method.as_deref().unwrap_or("GET"),
            spec::MARKER,
            c.url
        ),
        FaultSpec::CanaryFileRead(c) => {
            format!("read the honeytoken file {} {} time(s)", c.path, c.count)
        }
        FaultSpec::CanarySecretRead(c) => format!(
            "read the honeytoken Secret {}/{} {} time(s) with a dedicated ServiceAccount",
            c.namespace,
            c.secret
                .clone()
                .unwrap_or_else(|| format!("{}-{}", spec::MARKER, c.name)),
            c.reads
        ),
        FaultSpec::CanaryExec(c) => format!(
            "run a suspicious-looking, harmless command in {}",
            pods(&c.select)
        ),
        FaultSpec::CanaryDnsLookup(c) => format!(
            "look up {} from {}",
            c.domain
                .clone()
                .unwrap_or_else(|| format!("{}.invalid", spec::MARKER)),
            pods(&c.select)
        ),
        FaultSpec::CanaryDeniedRequests(c) => format!(
            "send {} requests the API server must refuse (list Secrets in {} with no permission)",
            c.count, c.namespace
        ),
        FaultSpec::PreventPrivilegedPod(p) => {
            format!("try to create a privileged pod in {}", p.namespace)
        }
        FaultSpec::PreventHostPath(p) => format!(
            "try to create a pod mounting the host path {} in {}",
            p.path.as_deref().unwrap_or("/"),
            p.namespace
        ),
        FaultSpec::PreventPodSecurity(p) => format!(
            "try to create a pod that breaks the Pod Security level {} of {}",
            match p.level {
                Some(spec::PodSecurityLevel::Baseline) => "baseline",
                Some(spec::PodSecurityLevel::Restricted) => "restricted",
                None => "(the namespace's enforce label)",
            },
            p.namespace
        ),
        FaultSpec::PreventSecretRead(p) => format!(
            "try to read the Secret {}/{} as {}",
            p.namespace,
            p.secret,
            p.service_account.as_deref().map_or_else(
                || "a ServiceAccount with no permission".to_owned(),
                |sa| format!("the ServiceAccount {sa}")
            )
        ),
    }
}

/// The rollout restart a configuration fault adds, as a clause.
fn restarting(workload: Option<&str>) -> String {
    workload
        .map(|w| format!(", then rollout restart of {w}"))
        .unwrap_or_default()
}

fn label_list(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
