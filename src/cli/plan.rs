//! `firedrill plan FILE...`: what a run would do, changing nothing.

use std::fmt::Write;
use std::path::PathBuf;

use super::ExitStatus;
use crate::spec::{
    self, DetectionSignal, Experiment, FaultSpec, Objective, Probe, Readiness, Selector, Target,
};

/// Arguments of `firedrill plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment files, or a suite file listing them.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Some(plan) = super::load::load_plan(&args.files) else {
        return Ok(ExitStatus::InvalidInput);
    };
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
    for (i, (file, exp)) in plan.experiments.iter().enumerate() {
        if plan.is_suite {
            println!("\n=== {}/{count}: {} ===", i + 1, file.display());
        }
        print!("{}", render(exp));
    }
    Ok(ExitStatus::Success)
}

/// The plan as text.
pub fn render(exp: &Experiment) -> String {
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
    let _ = writeln!(o, "\nnothing was started or changed.");
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
    let _ = writeln!(
        o,
        "  preflight: the run needs these permissions (checked with SelfSubjectAccessReview before anything changes):"
    );
    for p in crate::platform::kubernetes::required_permissions(s) {
        let _ = writeln!(o, "    {p}");
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
    }
}
