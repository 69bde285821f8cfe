//! Checks that serde cannot express: references between sections, ranges, uniqueness.
//!
//! Every check runs and every problem is kept, so one `firedrill validate` lists them all.
//! Problems carry field paths only; the loader adds their locations.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use super::{
    AbortCondition, DetectionSignal, Duration, Experiment, FaultSpec, KubernetesTarget,
    KubernetesWorkload, Objective, Probe, Problem, Readiness, ScorecardSpec, Selector,
    WorkloadKind,
};
use crate::scorecard::DEFAULT_MAPPED_FAULT_TYPES;

/// The shortest probe interval.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest probe interval.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// The most replicas of one workload.
const MAX_REPLICAS: u32 = 64;
/// The most memory a memory-pressure fault may hold, in MiB.
const MAX_MEMORY_MIB: u64 = 4096;
/// The most iterations of one run.
const MAX_ITERATIONS: u32 = 1000;
/// The most replicas a scale fault may ask for.
const MAX_SCALE_REPLICAS: u32 = 1000;
/// The longest name (a DNS label).
const MAX_NAME_LEN: usize = 63;

/// Every semantic problem of a parsed document, in the order of the document's fields.
pub fn validate(exp: &Experiment) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
        exp,
    };
    v.check();
    v.problems
}

struct Validator<'a> {
    problems: Vec<Problem>,
    exp: &'a Experiment,
}

/// Which placeholders a string may use.
#[derive(Clone, Copy)]
enum Context {
    /// A workload's command, args, env or readiness command: every placeholder.
    Workload,
    /// A probe's URL, address or command: no per-replica placeholders.
    Probe,
}

impl Validator<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            location: None,
            message: message.into(),
        });
    }

    fn check(&mut self) {
        let exp = self.exp;
        self.name("metadata.name", &exp.metadata.name);
        let spec = &exp.spec;
        self.target();
        self.steady_state();

        if spec.faults.is_empty() {
            self.problem("spec.faults", "at least one fault is required");
        }
        self.unique(
            "spec.faults",
            spec.faults.iter().map(FaultSpec::name),
            "fault",
        );
        for (i, fault) in spec.faults.iter().enumerate() {
            self.fault(&format!("spec.faults[{i}]"), fault);
        }

        if let Some(detection) = &spec.detection {
            let path = "spec.detection";
            if detection.timeout.is_zero() {
                self.problem(format!("{path}.timeout"), "must be more than 0s");
            }
            if detection.webhook_listen.parse::<SocketAddr>().is_err() {
                self.problem(
                    format!("{path}.webhookListen"),
                    format!(
                        "`{}` is not a socket address; write IP:PORT, such as 127.0.0.1:0 (port 0 picks a free port)",
                        detection.webhook_listen
                    ),
                );
            }
            if detection.signals.is_empty() {
                self.problem(
                    format!("{path}.signals"),
                    "at least one signal is required when detection is present",
                );
            }
            self.unique(
                "spec.detection.signals",
                detection.signals.iter().map(DetectionSignal::name),
                "signal",
            );
            for (i, signal) in detection.signals.iter().enumerate() {
                let path = format!("{path}.signals[{i}]");
                if signal.timeout().is_some_and(super::Duration::is_zero) {
                    self.problem(format!("{path}.timeout"), "must be more than 0s");
                }
                match signal {
                    DetectionSignal::ProbeFails(s) => {
                        self.probe_ref(&format!("{path}.probe"), &s.probe);
                        if s.consecutive == 0 {
                            self.problem(format!("{path}.consecutive"), "must be at least 1");
                        }
                    }
                    DetectionSignal::Webhook(s) => {
                        if s.matchers.is_empty() {
                            self.problem(
                                format!("{path}.match"),
                                "must name at least one label, or every alert would match",
                            );
                        }
                    }
                    DetectionSignal::KubernetesEvent(s) => {
                        if self.platform_fits(&path, "kubernetes-event", true) {
                            self.kubernetes_workload(&format!("{path}.workload"), &s.workload);
                        }
                        if s.reasons.is_empty() {
                            self.problem(
                                format!("{path}.reasons"),
                                "must name at least one event reason, such as BackOff or Unhealthy",
                            );
                        }
                        for (j, reason) in s.reasons.iter().enumerate() {
                            let at = format!("{path}.reasons[{j}]");
                            if reason.is_empty() || reason.chars().any(char::is_whitespace) {
                                self.problem(
                                    at,
                                    format!("`{reason}` is not an event reason; reasons are single words such as BackOff"),
                                );
                            } else if let Some(first) =
                                s.reasons[..j].iter().position(|r| r == reason)
                            {
                                self.problem(
                                    at,
                                    format!(
                                        "`{reason}` is already listed at {path}.reasons[{first}]"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }

        let interval = spec.steady_state.interval;
        let recovery = &spec.recovery;
        if recovery.stable_for.is_zero() {
            self.problem("spec.recovery.stableFor", "must be more than 0s");
        } else if recovery.stable_for < interval {
            self.problem(
                "spec.recovery.stableFor",
                format!(
                    "{} is shorter than the probe interval ({interval}): no probe would run in it",
                    recovery.stable_for
                ),
            );
        }
        if recovery.timeout.is_zero() {
            self.problem("spec.recovery.timeout", "must be more than 0s");
        }

        for (i, objective) in spec.objectives.iter().enumerate() {
            let path = format!("spec.objectives[{i}]");
            match objective {
                Objective::TimeToDetect(o) | Objective::TimeToRecover(o) => {
                    self.percentile(&format!("{path}.percentile"), o.percentile);
                }
                Objective::Availability(o) => {
                    if let Some(probe) = &o.probe {
                        self.probe_ref(&format!("{path}.probe"), probe);
                    }
                    self.ratio(&format!("{path}.min"), o.min);
                }
                Objective::Latency(o) => {
                    self.probe_ref(&format!("{path}.probe"), &o.probe);
                    self.percentile(&format!("{path}.percentile"), o.percentile);
                }
            }
        }

        if let Some(scorecard) = &spec.scorecard {
            self.scorecard(scorecard);
        }

        if !(1..=MAX_ITERATIONS).contains(&spec.iterations) {
            self.problem(
                "spec.iterations",
                format!(
                    "{} is out of range: write 1 to {MAX_ITERATIONS}",
                    spec.iterations
                ),
            );
        }

        let safety = &spec.safety;
        for (i, condition) in safety.abort_when.iter().enumerate() {
            let path = format!("spec.safety.abortWhen[{i}]");
            self.probe_ref(&format!("{path}.probe"), condition.probe());
            match condition {
                AbortCondition::ConsecutiveFailures(c) => {
                    if c.count == 0 {
                        self.problem(format!("{path}.count"), "must be at least 1");
                    }
                }
                AbortCondition::SuccessRatio(c) => {
                    self.ratio(&format!("{path}.below"), c.below);
                    if c.window < interval {
                        self.problem(
                            format!("{path}.window"),
                            format!(
                                "{} is shorter than the probe interval ({interval}): the window would hold no observation",
                                c.window
                            ),
                        );
                    }
                }
                AbortCondition::Latency(_) => {}
            }
        }
        if !(safety.max_affected_percent > 0.0 && safety.max_affected_percent <= 100.0) {
            self.problem(
                "spec.safety.maxAffectedPercent",
                format!(
                    "{} is out of range: write more than 0 and at most 100",
                    safety.max_affected_percent
                ),
            );
        }
        if safety.timeout.is_zero() {
            self.problem("spec.safety.timeout", "must be more than 0s");
        }
        self.notification();
        self.coordination();
    }

    fn notification(&mut self) {
        let Some(n) = &self.exp.spec.notification else {
            return;
        };
        let path = "spec.notification";
        if self.exp.spec.detection.is_none() {
            self.problem(
                path,
                "needs spec.detection: drafts are written at the first detection, which nothing would signal",
            );
        }
        if let Some(entity) = &n.entity {
            if entity.name.trim().is_empty() {
                self.problem(format!("{path}.entity.name"), "must not be empty");
            }
            if entity.sector.as_ref().is_some_and(|s| s.trim().is_empty()) {
                self.problem(
                    format!("{path}.entity.sector"),
                    "must not be empty; leave it out when it is not known",
                );
            }
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, code) in entity.member_states.iter().enumerate() {
                let item = format!("{path}.entity.memberStates[{i}]");
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    self.problem(
                        item,
                        format!(
                            "`{code}` is not an ISO 3166-1 alpha-2 code: write two upper-case letters, such as DE"
                        ),
                    );
                } else if let Some(first) = seen.get(code.as_str()) {
                    self.problem(
                        item,
                        format!(
                            "`{code}` is already listed at {path}.entity.memberStates[{first}]"
                        ),
                    );
                } else {
                    seen.insert(code, i);
                }
            }
        }
        if let Some(deliver) = &n.deliver {
            self.delivery_url(&format!("{path}.deliver.url"), &deliver.url);
            self.positive(&format!("{path}.deliver.timeout"), deliver.timeout);
        }
    }

    fn coordination(&mut self) {
        let Some(c) = &self.exp.spec.coordination else {
            return;
        };
        let path = "spec.coordination";
        if self.exp.spec.detection.is_none() {
            self.problem(
                path,
                "needs spec.detection: roles acknowledge the first detection, which nothing would signal",
            );
        }
        if c.roles.is_empty() {
            self.problem(format!("{path}.roles"), "at least one role is required");
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, role) in c.roles.iter().enumerate() {
            let item = format!("{path}.roles[{i}]");
            self.name(&item, role);
            if let Some(first) = seen.get(role.as_str()) {
                self.problem(
                    item,
                    format!("the role `{role}` is already listed at {path}.roles[{first}]"),
                );
            } else {
                seen.insert(role, i);
            }
        }
        self.positive(&format!("{path}.timeout"), c.timeout);
    }

    fn target(&mut self) {
        let local = match &self.exp.spec.target {
            super::Target::Local(local) => local,
            super::Target::Kubernetes(kube) => return self.kubernetes_target(kube),
        };
        let path = "spec.target.workloads";
        if local.workloads.is_empty() {
            self.problem(path, "at least one workload is required");
        }
        self.unique(
            path,
            local.workloads.iter().map(|w| w.name.as_str()),
            "workload",
        );
        self.unique(
            "spec.target.dependencies",
            local.dependencies.iter().map(|d| d.name.as_str()),
            "dependency",
        );
        for (i, d) in local.dependencies.iter().enumerate() {
            let path = format!("spec.target.dependencies[{i}]");
            self.name(&format!("{path}.name"), &d.name);
            if self.placeholders(&format!("{path}.upstream"), &d.upstream, Context::Probe) {
                let sample = expand_for_check(&d.upstream);
                let valid = sample
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !valid {
                    self.problem(
                        format!("{path}.upstream"),
                        format!("`{}` is not host:port", d.upstream),
                    );
                }
                if d.upstream.contains("{dependency.") {
                    self.problem(
                        format!("{path}.upstream"),
                        "a dependency cannot be reached through another dependency's proxy",
                    );
                }
            }
        }
        for (i, w) in local.workloads.iter().enumerate() {
            let path = format!("{path}[{i}]");
            self.command(&format!("{path}.command"), &w.command, Context::Workload);
            for (j, arg) in w.args.iter().enumerate() {
                self.placeholders(&format!("{path}.args[{j}]"), arg, Context::Workload);
            }
            for (key, value) in &w.env {
                self.placeholders(&format!("{path}.env.{key}"), value, Context::Workload);
            }
            if !(1..=MAX_REPLICAS).contains(&w.replicas) {
                self.problem(
                    format!("{path}.replicas"),
                    format!("{} is out of range: write 1 to {MAX_REPLICAS}", w.replicas),
                );
            }
            if let Some(Readiness::Command(r)) = &w.readiness {
                self.command(
                    &format!("{path}.readiness.command"),
                    &r.command,
                    Context::Workload,
                );
            }
        }
    }

    fn kubernetes_target(&mut self, kube: &KubernetesTarget) {
        if kube.namespaces.is_empty() {
            self.problem(
                "spec.target.namespaces",
                "at least one namespace is required: firedrill touches nothing outside this allowlist",
            );
        }
        for (i, ns) in kube.namespaces.iter().enumerate() {
            let path = format!("spec.target.namespaces[{i}]");
            self.name(&path, ns);
            if is_system_namespace(ns) && !kube.allow_system_namespaces {
                self.problem(
                    path,
                    format!(
                        "`{ns}` is a system namespace; set spec.target.allowSystemNamespaces: true to allow it"
                    ),
                );
            }
        }
        if kube.opt_in_label.key.trim().is_empty() {
            self.problem("spec.target.optInLabel.key", "must not be empty");
        }
        if let Some(context) = &kube.context
            && context.trim().is_empty()
        {
            self.problem(
                "spec.target.context",
                "must not be empty; leave it out to use the current context",
            );
        }
        let path = "spec.target.workloads";
        if kube.workloads.is_empty() {
            self.problem(path, "at least one workload is required");
        }
        self.unique(
            path,
            kube.workloads.iter().map(|w| w.name.as_str()),
            "workload",
        );
        for (i, w) in kube.workloads.iter().enumerate() {
            let path = format!("{path}[{i}]");
            if !kube.namespaces.contains(&w.namespace) {
                self.problem(
                    format!("{path}.namespace"),
                    format!(
                        "`{}` is not in spec.target.namespaces{}",
                        w.namespace,
                        known_list(kube.namespaces.iter().map(String::as_str))
                    ),
                );
            }
            if let Some(name) = &w.object_name
                && name.trim().is_empty()
            {
                self.problem(format!("{path}.objectName"), "must not be empty");
            }
            match (w.kind, &w.object_name, w.match_labels.is_empty()) {
                (WorkloadKind::Pod, Some(_), false) => self.problem(
                    path.clone(),
                    "a Pod workload names one pod (objectName) or selects pods (matchLabels), not both",
                ),
                (WorkloadKind::Pod, None, true) => self.problem(
                    path.clone(),
                    "a Pod workload needs objectName (one pod) or matchLabels (pods by label)",
                ),
                (kind, None, _) if kind != WorkloadKind::Pod => self.problem(
                    format!("{path}.objectName"),
                    format!("a {} workload needs the name of the object", kind.as_str()),
                ),
                _ => {}
            }
            for (key, value) in &w.match_labels {
                if key.trim().is_empty() || key.contains([',', '=', '!', ' ', '(', ')']) {
                    self.problem(
                        format!("{path}.matchLabels"),
                        format!("`{key}` is not a label key"),
                    );
                }
                if value.contains([',', '=', '!', ' ', '(', ')']) {
                    self.problem(
                        format!("{path}.matchLabels.{key}"),
                        format!("`{value}` is not a label value"),
                    );
                }
            }
        }
    }

    /// The Kubernetes workload named `name`, or a problem at `path`.
    fn kubernetes_workload(&mut self, path: &str, name: &str) -> Option<KubernetesWorkload> {
        let exp = self.exp;
        let super::Target::Kubernetes(kube) = &exp.spec.target else {
            return None;
        };
        let found = kube.workloads.iter().find(|w| w.name == name).cloned();
        if found.is_none() {
            self.problem(
                path,
                format!(
                    "no workload is named `{name}`{}",
                    known_list(kube.workloads.iter().map(|w| w.name.as_str()))
                ),
            );
        }
        found
    }

    /// Checks that a probe or fault fits the experiment's platform; false when it does not.
    fn platform_fits(&mut self, path: &str, type_name: &str, kubernetes: bool) -> bool {
        let on_kubernetes = matches!(self.exp.spec.target, super::Target::Kubernetes(_));
        if kubernetes && !on_kubernetes {
            self.problem(
                format!("{path}.type"),
                format!("`{type_name}` acts on the kubernetes platform; this experiment's target is local"),
            );
            return false;
        }
        if !kubernetes && on_kubernetes {
            self.problem(
                format!("{path}.type"),
                format!("`{type_name}` acts on the local platform; this experiment's target is kubernetes"),
            );
            return false;
        }
        true
    }

    fn steady_state(&mut self) {
        let steady = &self.exp.spec.steady_state;
        let path = "spec.steadyState";
        let interval = steady.interval;
        if interval < MIN_INTERVAL || interval > MAX_INTERVAL {
            self.problem(
                format!("{path}.interval"),
                format!("{interval} is out of range: write {MIN_INTERVAL} to {MAX_INTERVAL}"),
            );
        }
        if steady.baseline.is_zero() {
            self.problem(format!("{path}.baseline"), "must be more than 0s");
        }
        if steady.probes.is_empty() {
            self.problem(format!("{path}.probes"), "at least one probe is required");
        }
        self.unique(
            "spec.steadyState.probes",
            steady.probes.iter().map(Probe::name),
            "probe",
        );
        for (i, probe) in steady.probes.iter().enumerate() {
            let path = format!("{path}.probes[{i}]");
            match probe {
                Probe::Http(p) => self.url(&format!("{path}.url"), &p.url),
                Probe::Tcp(p) => {
                    self.placeholders(&format!("{path}.address"), &p.address, Context::Probe);
                }
                Probe::Command(p) => {
                    self.command(&format!("{path}.command"), &p.command, Context::Probe);
                }
                Probe::WorkloadAvailable(p) => {
                    if self.platform_fits(&path, "workload-available", true)
                        && let Some(w) =
                            self.kubernetes_workload(&format!("{path}.workload"), &p.workload)
                        && w.kind == WorkloadKind::Pod
                    {
                        self.problem(
                            format!("{path}.workload"),
                            format!("`{}` is a Pod workload; workload-available needs a Deployment, StatefulSet or DaemonSet (use pod-ready for pods)", p.workload),
                        );
                    }
                }
                Probe::PodReady(p) => {
                    if self.platform_fits(&path, "pod-ready", true) {
                        self.kubernetes_workload(&format!("{path}.workload"), &p.workload);
                    }
                }
                Probe::ObjectExists(p) => {
                    if self.platform_fits(&path, "object-exists", true) {
                        self.name(&format!("{path}.objectName"), &p.object_name);
                        if let super::Target::Kubernetes(kube) = &self.exp.spec.target
                            && !kube.namespaces.contains(&p.namespace)
                        {
                            self.problem(
                                format!("{path}.namespace"),
                                format!(
                                    "`{}` is not in spec.target.namespaces{}",
                                    p.namespace,
                                    known_list(kube.namespaces.iter().map(String::as_str))
                                ),
                            );
                        }
                    }
                }
            }
            if probe.timeout().is_zero() {
                self.problem(format!("{path}.timeout"), "must be more than 0s");
            }
            self.ratio(
                &format!("{path}.minSuccessRatio"),
                probe.min_success_ratio(),
            );
        }
    }

    fn fault(&mut self, path: &str, fault: &FaultSpec) {
        if !self.platform_fits(path, fault.type_name(), fault.is_kubernetes()) {
            return;
        }
        if let Some(selector) = fault.selector() {
            self.selector(&format!("{path}.select"), selector);
        }
        if let Some(dep) = fault.dependency()
            && let super::Target::Local(local) = &self.exp.spec.target
            && !local.dependencies.iter().any(|d| d.name == dep)
        {
            self.problem(
                format!("{path}.dependency"),
                format!(
                    "no dependency is named `{dep}`{}",
                    known_list(local.dependencies.iter().map(|d| d.name.as_str()))
                ),
            );
        }
        match fault {
            FaultSpec::ProcessKill(_) => {}
            FaultSpec::ProcessPause(f) => self.positive(&format!("{path}.duration"), f.duration),
            FaultSpec::CpuStress(f) => {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                let max = u32::try_from(2 * cpus).unwrap_or(u32::MAX);
                if !(1..=max).contains(&f.workers) {
                    self.problem(
                        format!("{path}.workers"),
                        format!(
                            "{} is out of range: write 1 to {max} (twice the {cpus} CPUs of this host)",
                            f.workers
                        ),
                    );
                }
                if !(1..=100).contains(&f.load) {
                    self.problem(
                        format!("{path}.load"),
                        format!("{} is out of range: write 1 to 100 (percent)", f.load),
                    );
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
            FaultSpec::DependencyLatency(f) => {
                self.positive(&format!("{path}.latency"), f.latency);
                if f.jitter > f.latency {
                    self.problem(
                        format!("{path}.jitter"),
                        format!(
                            "{} is more than the latency ({}): delays cannot be negative",
                            f.jitter, f.latency
                        ),
                    );
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
            FaultSpec::DependencyErrors(f) => {
                if !(400..=599).contains(&f.status) {
                    self.problem(
                        format!("{path}.status"),
                        format!(
                            "{} is out of range: write an error status from 400 to 599",
                            f.status
                        ),
                    );
                }
                if !(f.rate > 0.0 && f.rate <= 1.0) {
                    self.problem(
                        format!("{path}.rate"),
                        format!(
                            "{} is out of range: write more than 0 and at most 1",
                            f.rate
                        ),
                    );
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
            FaultSpec::DependencyOutage(f) => {
                self.positive(&format!("{path}.duration"), f.duration)
            }
            FaultSpec::DependencyBandwidth(f) => {
                if f.rate_kbps == 0 {
                    self.problem(format!("{path}.rateKbps"), "must be at least 1");
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
            FaultSpec::PodDelete(f) => {
                if f.force && f.grace_period.is_some() {
                    self.problem(
                        format!("{path}.gracePeriod"),
                        "force deletes with a grace period of 0; leave gracePeriod out or force off",
                    );
                }
            }
            FaultSpec::PodEvict(_) => {}
            FaultSpec::Scale(f) => {
                if let Some(w) = self.kubernetes_workload(&format!("{path}.workload"), &f.workload)
                    && !matches!(w.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
                {
                    self.problem(
                        format!("{path}.workload"),
                        format!(
                            "`{}` is a {}; only a Deployment or a StatefulSet can be scaled",
                            f.workload,
                            w.kind.as_str()
                        ),
                    );
                }
                if f.replicas > MAX_SCALE_REPLICAS {
                    self.problem(
                        format!("{path}.replicas"),
                        format!(
                            "{} is out of range: write 0 to {MAX_SCALE_REPLICAS}",
                            f.replicas
                        ),
                    );
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
            FaultSpec::RolloutRestart(f) => {
                if let Some(w) = self.kubernetes_workload(&format!("{path}.workload"), &f.workload)
                    && w.kind == WorkloadKind::Pod
                {
                    self.problem(
                        format!("{path}.workload"),
                        format!("`{}` is a Pod workload; a rollout restart needs a Deployment, StatefulSet or DaemonSet", f.workload),
                    );
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
            FaultSpec::Quarantine(f) => self.positive(&format!("{path}.duration"), f.duration),
            FaultSpec::MemoryPressure(f) => {
                if !(1..=MAX_MEMORY_MIB).contains(&f.size_mib) {
                    self.problem(
                        format!("{path}.sizeMib"),
                        format!(
                            "{} is out of range: write 1 to {MAX_MEMORY_MIB} (MiB)",
                            f.size_mib
                        ),
                    );
                }
                self.positive(&format!("{path}.duration"), f.duration);
            }
        }
    }

    fn selector(&mut self, path: &str, selector: &Selector) {
        let name = selector.workload();
        let local = match &self.exp.spec.target {
            super::Target::Local(local) => local,
            super::Target::Kubernetes(_) => return self.kubernetes_selector(path, selector),
        };
        let Some(workload) = local.workloads.iter().find(|w| w.name == name) else {
            self.problem(
                format!("{path}.workload"),
                format!(
                    "no workload is named `{name}`{}",
                    known_list(local.workloads.iter().map(|w| w.name.as_str()))
                ),
            );
            return;
        };
        let replicas = workload.replicas;
        match selector {
            Selector::Fixed(s) if s.count == 0 || s.count > replicas => {
                self.problem(
                    format!("{path}.count"),
                    format!(
                        "{} is out of range: workload `{name}` has {replicas} replica{}, write 1 to {replicas}",
                        s.count,
                        plural(replicas)
                    ),
                );
                return;
            }
            Selector::Percent(s) if !(s.percent > 0.0 && s.percent <= 100.0) => {
                self.problem(
                    format!("{path}.percent"),
                    format!(
                        "{} is out of range: write more than 0 and at most 100",
                        s.percent
                    ),
                );
                return;
            }
            _ => {}
        }
        let max = self.exp.spec.safety.max_affected_percent;
        if replicas == 0 || !(max > 0.0 && max <= 100.0) {
            return; // Reported elsewhere; the share would mean nothing.
        }
        let total = replicas as usize;
        let picked = selector.count(total);
        let share = picked as f64 * 100.0 / total as f64;
        if share > max {
            self.problem(
                path,
                format!(
                    "selects {picked} of the {total} replicas of `{name}` ({}%), more than spec.safety.maxAffectedPercent ({}%)",
                    round1(share),
                    round1(max)
                ),
            );
        }
    }

    /// A selector over a Kubernetes workload's pods, whose number is known only at run time:
    /// the share is checked again then, against the pods that exist.
    fn kubernetes_selector(&mut self, path: &str, selector: &Selector) {
        self.kubernetes_workload(&format!("{path}.workload"), selector.workload());
        let max = self.exp.spec.safety.max_affected_percent;
        match selector {
            Selector::Fixed(s) if s.count == 0 => {
                self.problem(format!("{path}.count"), "must be at least 1");
            }
            Selector::Percent(s) if !(s.percent > 0.0 && s.percent <= 100.0) => {
                self.problem(
                    format!("{path}.percent"),
                    format!(
                        "{} is out of range: write more than 0 and at most 100",
                        s.percent
                    ),
                );
            }
            Selector::Percent(s) if s.percent > max => self.problem(
                path,
                format!(
                    "selects {}% of the pods, more than spec.safety.maxAffectedPercent ({}%)",
                    round1(s.percent),
                    round1(max)
                ),
            ),
            Selector::All(_) if max < 100.0 => self.problem(
                path,
                format!(
                    "selects every pod, more than spec.safety.maxAffectedPercent ({}%)",
                    round1(max)
                ),
            ),
            _ => {}
        }
    }

    fn name(&mut self, path: &str, name: &str) {
        if let Some(message) = name_problem(name) {
            self.problem(path, message);
        }
    }

    /// Checks each name and reports every repeat at the repeat, naming the first use.
    fn unique<'n>(&mut self, path: &str, names: impl Iterator<Item = &'n str>, what: &str) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.enumerate() {
            let item = format!("{path}[{i}].name");
            self.name(&item, name);
            if let Some(first) = seen.get(name) {
                self.problem(
                    item,
                    format!("the {what} name `{name}` is already used by {path}[{first}]"),
                );
            } else {
                seen.insert(name, i);
            }
        }
    }

    fn command(&mut self, path: &str, command: &[String], context: Context) {
        match command.first() {
            None => self.problem(path, "must name a program: the list is empty"),
            Some(program) if program.trim().is_empty() => {
                self.problem(format!("{path}[0]"), "the program must not be empty");
            }
            Some(_) => {}
        }
        for (i, part) in command.iter().enumerate() {
            self.placeholders(&format!("{path}[{i}]"), part, context);
        }
    }

    /// Checks placeholders; returns false when any is wrong.
    fn placeholders(&mut self, path: &str, text: &str, context: Context) -> bool {
        let names = match super::placeholders::references(text) {
            Ok(names) => names,
            Err(e) => {
                self.problem(
                    path,
                    format!("{e} in `{text}`: a placeholder is written `{{name}}`"),
                );
                return false;
            }
        };
        let mut ok = true;
        for name in names {
            if let Some(message) = self.placeholder(&name, context) {
                self.problem(path, message);
                ok = false;
            }
        }
        ok
    }

    /// What is wrong with the placeholder `{name}` here, if anything.
    fn placeholder(&self, name: &str, context: Context) -> Option<String> {
        let local = match &self.exp.spec.target {
            super::Target::Local(local) => local,
            super::Target::Kubernetes(_) => {
                if ["replica.", "dependency.", "workload."]
                    .iter()
                    .any(|p| name.starts_with(p))
                    || matches!(name, "port" | "replica")
                {
                    return Some(format!(
                        "the placeholder `{{{name}}}` exists only on the local platform; on kubernetes write the address as reached from where firedrill runs"
                    ));
                }
                return match name {
                    "firedrill" => None,
                    "webhook" if self.has_webhook_signal() => None,
                    "webhook" => Some(
                        "the placeholder `{webhook}` needs a webhook signal in spec.detection.signals"
                            .to_owned(),
                    ),
                    _ => Some(format!(
                        "unknown placeholder `{{{name}}}`; allowed here: {{firedrill}}, {{webhook}}"
                    )),
                };
            }
        };
        let has_webhook = self.exp.spec.detection.as_ref().is_some_and(|d| {
            d.signals
                .iter()
                .any(|s| matches!(s, DetectionSignal::Webhook(_)))
        });
        if let Some(rest) = name.strip_prefix("replica.") {
            let Some((workload, index)) = rest.rsplit_once('.') else {
                return Some(format!(
                    "the placeholder `{{{name}}}` needs a workload and an index, as in `{{replica.web.0}}`"
                ));
            };
            let Some(w) = local.workloads.iter().find(|w| w.name == workload) else {
                return Some(format!(
                    "the placeholder `{{{name}}}` names no workload{}",
                    known_list(local.workloads.iter().map(|w| w.name.as_str()))
                ));
            };
            return match index.parse::<u32>() {
                Ok(i) if i < w.replicas => None,
                _ => Some(format!(
                    "the placeholder `{{{name}}}` names no replica: `{workload}` has replicas 0 to {}",
                    w.replicas.saturating_sub(1)
                )),
            };
        }
        if let Some(dep) = name.strip_prefix("dependency.") {
            return (!local.dependencies.iter().any(|d| d.name == dep)).then(|| {
                format!(
                    "the placeholder `{{{name}}}` names no dependency{}",
                    known_list(local.dependencies.iter().map(|d| d.name.as_str()))
                )
            });
        }
        if let Some(workload) = name.strip_prefix("workload.") {
            return (!local.workloads.iter().any(|w| w.name == workload)).then(|| {
                format!(
                    "the placeholder `{{{name}}}` names no workload{}",
                    known_list(local.workloads.iter().map(|w| w.name.as_str()))
                )
            });
        }
        match (name, context) {
            ("firedrill", _) | ("port" | "replica", Context::Workload) => None,
            ("webhook", _) if has_webhook => None,
            ("webhook", _) => Some(
                "the placeholder `{webhook}` needs a webhook signal in spec.detection.signals"
                    .to_owned(),
            ),
            ("port" | "replica", Context::Probe) => Some(format!(
                "the placeholder `{{{name}}}` belongs to one replica and is only allowed in workloads; a probe reaches a workload through `{{workload.NAME}}`"
            )),
            _ => {
                let allowed = match context {
                    Context::Workload => {
                        "{port}, {replica}, {firedrill}, {workload.NAME}, {replica.NAME.INDEX}, {dependency.NAME}, {webhook}"
                    }
                    Context::Probe => {
                        "{firedrill}, {workload.NAME}, {replica.NAME.INDEX}, {dependency.NAME}, {webhook}"
                    }
                };
                Some(format!(
                    "unknown placeholder `{{{name}}}`; allowed here: {allowed}"
                ))
            }
        }
    }

    fn has_webhook_signal(&self) -> bool {
        self.exp.spec.detection.as_ref().is_some_and(|d| {
            d.signals
                .iter()
                .any(|s| matches!(s, DetectionSignal::Webhook(_)))
        })
    }

    fn url(&mut self, path: &str, url: &str) {
        if !self.placeholders(path, url, Context::Probe) {
            return;
        }
        if url.starts_with("https://") {
            self.problem(
                path,
                "https is not supported: only plain http:// URLs are supported by this build",
            );
            return;
        }
        // Placeholders stand for an address or a URL; try the URL with stand-ins.
        let expanded = expand_for_check(url);
        match reqwest::Url::parse(&expanded) {
            Ok(parsed) if parsed.scheme() == "http" && parsed.host().is_some() => {}
            Ok(parsed) => self.problem(
                path,
                format!(
                    "`{url}` is a {} URL; write an absolute http:// URL such as http://{{workload.web}}/health",
                    parsed.scheme()
                ),
            ),
            Err(e) => self.problem(
                path,
                format!(
                    "`{url}` is not an absolute http:// URL ({e}); write one such as http://{{workload.web}}/health"
                ),
            ),
        }
    }

    /// An absolute http:// or https:// URL once placeholders are expanded.
    fn delivery_url(&mut self, path: &str, url: &str) {
        if !self.placeholders(path, url, Context::Probe) {
            return;
        }
        let expanded = expand_for_check(url);
        match reqwest::Url::parse(&expanded) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            Ok(parsed) => self.problem(
                path,
                format!(
                    "`{url}` is a {} URL; write an absolute http:// or https:// URL such as https://notify.example.test/incidents",
                    parsed.scheme()
                ),
            ),
            Err(e) => self.problem(
                path,
                format!(
                    "`{url}` is not an absolute http:// or https:// URL ({e}); write one such as https://notify.example.test/incidents"
                ),
            ),
        }
    }

    fn probe_ref(&mut self, path: &str, name: &str) {
        let probes = &self.exp.spec.steady_state.probes;
        if !probes.iter().any(|p| p.name() == name) {
            self.problem(
                path,
                format!(
                    "no probe is named `{name}`{}",
                    known_list(probes.iter().map(Probe::name))
                ),
            );
        }
    }

    fn scorecard(&mut self, scorecard: &ScorecardSpec) {
        let path = "spec.scorecard";
        let used: BTreeSet<&str> = self
            .exp
            .spec
            .faults
            .iter()
            .map(FaultSpec::type_name)
            .collect();
        for (fault_type, capabilities) in &scorecard.capabilities {
            let field = format!("{path}.capabilities.{fault_type}");
            if !DEFAULT_MAPPED_FAULT_TYPES.contains(&fault_type.as_str()) {
                self.problem(
                    &field,
                    format!(
                        "`{fault_type}` is not a fault type: write one of {}",
                        DEFAULT_MAPPED_FAULT_TYPES.join(", ")
                    ),
                );
            } else if !used.contains(fault_type.as_str()) {
                self.problem(
                    &field,
                    format!("no fault of type `{fault_type}` in spec.faults: the mapping would never apply"),
                );
            }
            let mut seen = BTreeSet::new();
            for (i, capability) in capabilities.iter().enumerate() {
                if !seen.insert(capability) {
                    self.problem(
                        format!("{field}[{i}]"),
                        format!("`{}` is listed twice", super::capability_key(*capability)),
                    );
                }
            }
        }
        let targets = &scorecard.targets;
        for (name, target) in [
            ("timeToDetect", targets.time_to_detect),
            ("timeToRecover", targets.time_to_recover),
            ("earlyWarningDraft", targets.early_warning_draft),
            ("earlyWarningDelivery", targets.early_warning_delivery),
            ("timeToAcknowledge", targets.time_to_acknowledge),
        ] {
            let Some(target) = target else { continue };
            let field = format!("{path}.targets.{name}");
            self.positive(&format!("{field}.target"), target.target);
            if target.limit.get() <= target.target.get() {
                self.problem(
                    format!("{field}.limit"),
                    format!(
                        "{} must be longer than the target {}",
                        target.limit, target.target
                    ),
                );
            }
        }
        if let Some(multiple) = targets.latency_during_fault {
            let field = format!("{path}.targets.latencyDuringFault");
            if !(multiple.target.is_finite() && multiple.target > 0.0) {
                self.problem(format!("{field}.target"), "must be a number above 0");
            }
            if let Some(limit) = multiple.limit
                && !(limit.is_finite() && limit > multiple.target)
            {
                self.problem(
                    format!("{field}.limit"),
                    "must be a number above the target",
                );
            }
        }
        for (capability, weight) in &scorecard.weights {
            if !(weight.is_finite() && *weight >= 0.0) {
                self.problem(
                    format!("{path}.weights.{}", super::capability_key(*capability)),
                    "must be a number, 0 or above",
                );
            }
        }
    }

    fn positive(&mut self, path: &str, d: Duration) {
        if d.is_zero() {
            self.problem(path, "must be more than 0s");
        }
    }

    fn ratio(&mut self, path: &str, value: f64) {
        if !(0.0..=1.0).contains(&value) {
            self.problem(
                path,
                format!("{value} is out of range: write a ratio from 0 to 1, such as 0.99"),
            );
        }
    }

    fn percentile(&mut self, path: &str, value: f64) {
        if !(value > 0.0 && value <= 100.0) {
            self.problem(
                path,
                format!("{value} is out of range: write more than 0 and at most 100, such as 99"),
            );
        }
    }
}

/// The URL with each placeholder replaced by something of the shape it expands to.
fn expand_for_check(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + end];
        out.push_str(match name {
            "webhook" => "http://127.0.0.1:1/webhook",
            "firedrill" => "firedrill",
            _ => "127.0.0.1:1",
        });
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `; known: a, b` listing the names that exist, or a note that there are none.
fn known_list<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let names: BTreeSet<&str> = names.collect();
    if names.is_empty() {
        " (there are none)".to_owned()
    } else {
        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("; known: {}", list.join(", "))
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A percentage with at most one decimal, without a trailing `.0`.
fn round1(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// What is wrong with a DNS-label-like name, if anything.
/// Whether a namespace belongs to Kubernetes itself: kube-system, kube-public,
/// kube-node-lease, or any other `kube-*`.
pub fn is_system_namespace(ns: &str) -> bool {
    ns.starts_with("kube-")
}

pub(super) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.chars().count()
        ))
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some(format!(
            "`{name}` may use only lower-case letters, digits and `-`"
        ))
    } else if name.starts_with('-') || name.ends_with('-') {
        Some(format!(
            "`{name}` must start and end with a letter or digit"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: minimal}
spec:
  target:
    platform: local
    workloads:
      - name: web
        command: ["{firedrill}", demo, serve, --port, "{port}"]
        replicas: 2
  steadyState:
    probes:
      - {name: api, type: http, url: "http://{workload.web}/api"}
  faults:
    - name: kill-one
      type: process-kill
      select: {mode: one, workload: web}
"#;

    fn parse(text: &str) -> Experiment {
        serde_saphyr::from_str(text).expect("the test document parses")
    }

    /// The paths and messages of the problems of `base` with `from` replaced by `to`.
    fn problems_in(base: &str, from: &str, to: &str) -> Vec<(String, String)> {
        assert!(base.contains(from), "{from}");
        validate(&parse(&base.replace(from, to)))
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect()
    }

    /// Asserts that `base` with `from` replaced by `to` has a problem at `path` saying `needle`.
    fn assert_problem_in(base: &str, from: &str, to: &str, path: &str, needle: &str) {
        let problems = problems_in(base, from, to);
        assert!(
            problems
                .iter()
                .any(|(p, m)| p == path && m.contains(needle)),
            "expected {path}: …{needle}… in {problems:#?}"
        );
    }

    fn problems_with(from: &str, to: &str) -> Vec<(String, String)> {
        problems_in(VALID, from, to)
    }

    fn assert_one(from: &str, to: &str, path: &str, needle: &str) {
        assert_problem_in(VALID, from, to, path, needle);
    }

    #[test]
    fn the_minimal_document_is_valid() {
        assert_eq!(validate(&parse(VALID)), Vec::new());
    }

    #[test]
    fn names_are_dns_labels() {
        assert_one(
            "{name: minimal}",
            "{name: Minimal_1}",
            "metadata.name",
            "lower-case",
        );
        assert_one(
            "{name: minimal}",
            "{name: -x}",
            "metadata.name",
            "start and end",
        );
        let long = "a".repeat(64);
        assert_one(
            "{name: minimal}",
            &format!("{{name: {long}}}"),
            "metadata.name",
            "at most 63",
        );
        assert_one(
            "name: kill-one",
            "name: Kill",
            "spec.faults[0].name",
            "lower-case",
        );
    }

    #[test]
    fn names_are_unique() {
        let problems = problems_with(
            "      select: {mode: one, workload: web}\n",
            "      select: {mode: one, workload: web}\n    - {name: kill-one, type: process-kill, select: {mode: one, workload: web}}\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "spec.faults[1].name");
        assert!(problems[0].1.contains("already used by spec.faults[0]"));
    }

    #[test]
    fn sections_must_not_be_empty() {
        let doc = VALID
            .replace(
                "  faults:\n    - name: kill-one\n      type: process-kill\n      select: {mode: one, workload: web}\n",
                "  faults: []\n",
            )
            .replace(
                "    probes:\n      - {name: api, type: http, url: \"http://{workload.web}/api\"}\n",
                "    probes: []\n",
            );
        let paths: Vec<String> = validate(&parse(&doc)).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["spec.steadyState.probes", "spec.faults"]);
    }

    #[test]
    fn ranges() {
        assert_one(
            "replicas: 2",
            "replicas: 0",
            "spec.target.workloads[0].replicas",
            "1 to 64",
        );
        assert_one(
            "replicas: 2",
            "replicas: 65",
            "spec.target.workloads[0].replicas",
            "1 to 64",
        );
        assert_one(
            "  steadyState:\n",
            "  steadyState:\n    interval: 5ms\n",
            "spec.steadyState.interval",
            "out of range",
        );
        assert_one(
            "  steadyState:\n",
            "  steadyState:\n    interval: 2m\n",
            "spec.steadyState.interval",
            "out of range",
        );
        assert_one(
            "url: \"http://{workload.web}/api\"",
            "url: \"http://{workload.web}/api\", minSuccessRatio: 1.5",
            "spec.steadyState.probes[0].minSuccessRatio",
            "0 to 1",
        );
        assert_one(
            "url: \"http://{workload.web}/api\"",
            "url: \"http://{workload.web}/api\", timeout: 0s",
            "spec.steadyState.probes[0].timeout",
            "more than 0s",
        );
    }

    #[test]
    fn urls_and_placeholders() {
        assert_one(
            "http://{workload.web}/api",
            "https://{workload.web}/api",
            "spec.steadyState.probes[0].url",
            "only plain http://",
        );
        assert_one(
            "http://{workload.web}/api",
            "http://{workload.db}/api",
            "spec.steadyState.probes[0].url",
            "names no workload; known: `web`",
        );
        assert_one(
            "http://{workload.web}/api",
            "http://{host}/api",
            "spec.steadyState.probes[0].url",
            "unknown placeholder `{host}`",
        );
        assert_one(
            "http://{workload.web}/api",
            "http://127.0.0.1:{port}/api",
            "spec.steadyState.probes[0].url",
            "only allowed in workloads",
        );
        assert_one(
            "http://{workload.web}/api",
            "{workload.web}/api",
            "spec.steadyState.probes[0].url",
            "absolute http://",
        );
        assert_one(
            "http://{workload.web}/api",
            "http://{workload.web/api",
            "spec.steadyState.probes[0].url",
            "unbalanced `{`",
        );
        assert_one(
            "\"{port}\"]",
            "\"{port}}\"]",
            "spec.target.workloads[0].command[4]",
            "unbalanced `}`",
        );
        assert_one(
            "\"{port}\"]",
            "\"{webhook}\"]",
            "spec.target.workloads[0].command[4]",
            "needs a webhook signal",
        );
        assert_one(
            "[\"{firedrill}\", demo, serve, --port, \"{port}\"]",
            "[]",
            "spec.target.workloads[0].command",
            "list is empty",
        );
    }

    #[test]
    fn selectors_and_the_safety_share() {
        assert_one(
            "{mode: one, workload: web}",
            "{mode: one, workload: api}",
            "spec.faults[0].select.workload",
            "no workload is named `api`",
        );
        assert_one(
            "{mode: one, workload: web}",
            "{mode: fixed, workload: web, count: 3}",
            "spec.faults[0].select.count",
            "has 2 replicas",
        );
        assert_one(
            "{mode: one, workload: web}",
            "{mode: percent, workload: web, percent: 0}",
            "spec.faults[0].select.percent",
            "out of range",
        );
        let problems = problems_with(
            "      select: {mode: one, workload: web}\n",
            "      select: {mode: all, workload: web}\n  safety: {maxAffectedPercent: 50}\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "spec.faults[0].select");
        assert!(
            problems[0]
                .1
                .contains("2 of the 2 replicas of `web` (100%)"),
            "{}",
            problems[0].1
        );
        assert!(problems[0].1.contains("(50%)"), "{}", problems[0].1);
    }

    #[test]
    fn fault_parameters() {
        let fault = "    - name: kill-one\n      type: process-kill\n      select: {mode: one, workload: web}\n";
        let with = |f: &str| VALID.replace(fault, f);
        let paths = |doc: String| -> Vec<String> {
            validate(&parse(&doc)).into_iter().map(|p| p.path).collect()
        };
        assert_eq!(
            paths(with(
                "    - {name: p, type: process-pause, select: {mode: one, workload: web}, duration: 0s}\n"
            )),
            ["spec.faults[0].duration"]
        );
        assert_eq!(
            paths(with(
                "    - {name: c, type: cpu-stress, workers: 0, load: 101, duration: 1s}\n"
            )),
            ["spec.faults[0].workers", "spec.faults[0].load"]
        );
        assert_eq!(
            paths(with(
                "    - {name: m, type: memory-pressure, sizeMib: 5000, duration: 1s}\n"
            )),
            ["spec.faults[0].sizeMib"]
        );
    }

    #[test]
    fn detection_recovery_objectives_and_safety() {
        let tail = r#"
  detection:
    webhookListen: localhost
    timeout: 0s
    signals:
      - {name: mon, type: probe-fails, probe: nope, consecutive: 0}
      - {name: pager, type: webhook, match: {}}
  recovery: {stableFor: 50ms, timeout: 0s}
  objectives:
    - {metric: time-to-detect, percentile: 0, max: 1s}
    - {metric: availability, probe: nope, phase: fault, min: 2}
    - {metric: latency, probe: api, phase: fault, percentile: 101, max: 1s}
  iterations: 0
  safety:
    maxAffectedPercent: 0
    timeout: 0s
    abortWhen:
      - {type: consecutive-failures, probe: nope, count: 0}
      - {type: success-ratio, probe: api, below: -1, window: 1ms}
"#;
        let doc = format!("{VALID}{tail}");
        let paths: Vec<String> = validate(&parse(&doc)).into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "spec.detection.timeout",
                "spec.detection.webhookListen",
                "spec.detection.signals[0].probe",
                "spec.detection.signals[0].consecutive",
                "spec.detection.signals[1].match",
                "spec.recovery.stableFor",
                "spec.recovery.timeout",
                "spec.objectives[0].percentile",
                "spec.objectives[1].probe",
                "spec.objectives[1].min",
                "spec.objectives[2].percentile",
                "spec.iterations",
                "spec.safety.abortWhen[0].probe",
                "spec.safety.abortWhen[0].count",
                "spec.safety.abortWhen[1].below",
                "spec.safety.abortWhen[1].window",
                "spec.safety.maxAffectedPercent",
                "spec.safety.timeout",
            ]
        );
    }

    #[test]
    fn detection_needs_a_signal() {
        let doc = format!("{VALID}  detection: {{signals: []}}\n");
        let paths: Vec<String> = validate(&parse(&doc)).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["spec.detection.signals"]);
    }

    const DETECTION: &str =
        "  detection: {signals: [{name: mon, type: probe-fails, probe: api}]}\n";

    #[test]
    fn notification_and_coordination_are_valid_as_documented() {
        let doc = format!(
            "{VALID}{DETECTION}  notification:\n    entity: {{name: Example Payments SE, sector: banking, memberStates: [DE, FR]}}\n    suspectedMalicious: false\n    dora: true\n    deliver: {{url: \"http://{{workload.web}}/notify\", timeout: 2s}}\n  coordination: {{roles: [incident-commander, legal], timeout: 10m}}\n"
        );
        let exp = parse(&doc);
        assert!(validate(&exp).is_empty(), "{:?}", validate(&exp));
        let n = exp.spec.notification.unwrap();
        assert_eq!(n.cross_border_impact, None, "absent stays unknown");
        assert!(n.dora);
        let https = doc.replace(
            "http://{workload.web}/notify",
            "https://notify.example.test/in",
        );
        assert!(validate(&parse(&https)).is_empty());
    }

    #[test]
    fn notification_and_coordination_problems_name_their_fields() {
        let doc = format!(
            "{VALID}{DETECTION}  notification:\n    entity: {{name: \" \", memberStates: [DE, fr, DEU, DE]}}\n    deliver: {{url: \"ftp://x/y\", timeout: 0s}}\n  coordination: {{roles: [legal, Legal, legal], timeout: 0s}}\n"
        );
        let problems = validate(&parse(&doc));
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.notification.entity.name",
                "spec.notification.entity.memberStates[1]",
                "spec.notification.entity.memberStates[2]",
                "spec.notification.entity.memberStates[3]",
                "spec.notification.deliver.url",
                "spec.notification.deliver.timeout",
                "spec.coordination.roles[1]",
                "spec.coordination.roles[2]",
                "spec.coordination.timeout",
            ]
        );
        assert!(
            problems[1].message.contains("ISO 3166-1 alpha-2"),
            "{problems:?}"
        );
        assert!(
            problems[3].message.contains("memberStates[0]"),
            "{problems:?}"
        );
        assert!(problems[4].message.contains("ftp URL"), "{problems:?}");
        assert!(problems[7].message.contains("roles[0]"), "{problems:?}");

        let empty = format!("{VALID}{DETECTION}  coordination: {{roles: []}}\n");
        let paths: Vec<String> = validate(&parse(&empty))
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(paths, ["spec.coordination.roles"]);
        let unknown = format!(
            "{VALID}{DETECTION}  notification: {{deliver: {{url: \"http://{{workload.nope}}/x\"}}}}\n"
        );
        let paths: Vec<String> = validate(&parse(&unknown))
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(paths, ["spec.notification.deliver.url"]);
    }

    #[test]
    fn notification_and_coordination_need_detection() {
        let doc =
            format!("{VALID}  notification: {{dora: true}}\n  coordination: {{roles: [legal]}}\n");
        let paths: Vec<String> = validate(&parse(&doc)).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["spec.notification", "spec.coordination"]);
    }

    const KUBE: &str = r#"
apiVersion: firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: kube}
spec:
  target:
    platform: kubernetes
    namespaces: [shop]
    workloads:
      - {name: web, namespace: shop, kind: Deployment, objectName: web}
      - {name: db, namespace: shop, kind: Pod, matchLabels: {app: db}}
  steadyState:
    probes:
      - {name: up, type: workload-available, workload: web}
      - {name: api, type: http, url: "http://127.0.0.1:8080/health"}
  faults:
    - name: delete-one
      type: pod-delete
      select: {mode: one, workload: web}
"#;

    fn kube_problems(from: &str, to: &str) -> Vec<(String, String)> {
        problems_in(KUBE, from, to)
    }

    fn assert_kube(from: &str, to: &str, path: &str, needle: &str) {
        assert_problem_in(KUBE, from, to, path, needle);
    }

    #[test]
    fn the_kubernetes_document_is_valid() {
        assert_eq!(kube_problems("shop]", "shop]"), vec![]);
    }

    #[test]
    fn kubernetes_targets_keep_to_the_allowlist() {
        assert_kube(
            "namespaces: [shop]",
            "namespaces: []",
            "spec.target.namespaces",
            "at least one namespace",
        );
        assert_kube(
            "namespaces: [shop]",
            "namespaces: [shop, kube-system]",
            "spec.target.namespaces[1]",
            "system namespace",
        );
        assert_eq!(
            kube_problems(
                "namespaces: [shop]",
                "namespaces: [shop, kube-system]\n    allowSystemNamespaces: true"
            ),
            vec![]
        );
        assert_kube(
            "{name: web, namespace: shop,",
            "{name: web, namespace: billing,",
            "spec.target.workloads[0].namespace",
            "`billing` is not in spec.target.namespaces",
        );
        assert_kube(
            "kind: Deployment, objectName: web}",
            "kind: Deployment}",
            "spec.target.workloads[0].objectName",
            "needs the name of the object",
        );
        assert_kube(
            "kind: Pod, matchLabels: {app: db}}",
            "kind: Pod}",
            "spec.target.workloads[1]",
            "objectName (one pod) or matchLabels",
        );
    }

    #[test]
    fn faults_and_probes_keep_to_their_platform() {
        assert_kube(
            "type: pod-delete\n      select: {mode: one, workload: web}",
            "type: process-kill\n      select: {mode: one, workload: web}",
            "spec.faults[0].type",
            "acts on the local platform",
        );
        assert_one(
            "type: process-kill\n      select: {mode: one, workload: web}",
            "type: pod-delete\n      select: {mode: one, workload: web}",
            "spec.faults[0].type",
            "acts on the kubernetes platform",
        );
        assert_one(
            "{name: api, type: http, url: \"http://{workload.web}/api\"}",
            "{name: api, type: pod-ready, workload: web}",
            "spec.steadyState.probes[0].type",
            "acts on the kubernetes platform",
        );
        assert_kube(
            "http://127.0.0.1:8080/health",
            "http://{workload.web}/health",
            "spec.steadyState.probes[1].url",
            "only on the local platform",
        );
        assert_kube(
            "workload: web}\n      - {name: api",
            "workload: db}\n      - {name: api",
            "spec.steadyState.probes[0].workload",
            "is a Pod workload",
        );
        assert_kube(
            "{mode: one, workload: web}",
            "{mode: one, workload: nope}",
            "spec.faults[0].select.workload",
            "no workload is named `nope`",
        );
        assert_kube(
            "type: pod-delete\n      select: {mode: one, workload: web}",
            "type: scale\n      workload: db\n      replicas: 0\n      duration: 1s",
            "spec.faults[0].workload",
            "only a Deployment or a StatefulSet can be scaled",
        );
        assert_kube(
            "type: pod-delete\n      select: {mode: one, workload: web}",
            "type: pod-delete\n      select: {mode: one, workload: web}\n      force: true\n      gracePeriod: 5s",
            "spec.faults[0].gracePeriod",
            "force deletes with a grace period of 0",
        );
        assert_kube(
            "{mode: one, workload: web}",
            "{mode: all, workload: web}\n  safety: {maxAffectedPercent: 50}",
            "spec.faults[0].select",
            "more than spec.safety.maxAffectedPercent",
        );
    }

    #[test]
    fn kubernetes_event_signals_name_a_workload_and_their_reasons() {
        const SIGNAL: &str = "      select: {mode: one, workload: web}\n";
        let with = |signal: &str| {
            format!(
                "      select: {{mode: one, workload: web}}\n  detection:\n    signals:\n      - {signal}\n"
            )
        };
        assert_eq!(
            kube_problems(
                SIGNAL,
                &with(
                    "{name: crash, type: kubernetes-event, workload: web, reasons: [BackOff, Unhealthy]}"
                )
            ),
            vec![]
        );
        assert_kube(
            SIGNAL,
            &with("{name: crash, type: kubernetes-event, workload: nope, reasons: [BackOff]}"),
            "spec.detection.signals[0].workload",
            "no workload is named `nope`",
        );
        assert_kube(
            SIGNAL,
            &with("{name: crash, type: kubernetes-event, workload: web, reasons: []}"),
            "spec.detection.signals[0].reasons",
            "at least one event reason",
        );
        assert_kube(
            SIGNAL,
            &with(
                "{name: crash, type: kubernetes-event, workload: web, reasons: [BackOff, \"Back Off\"]}",
            ),
            "spec.detection.signals[0].reasons[1]",
            "not an event reason",
        );
        assert_kube(
            SIGNAL,
            &with(
                "{name: crash, type: kubernetes-event, workload: web, reasons: [BackOff, BackOff]}",
            ),
            "spec.detection.signals[0].reasons[1]",
            "already listed at spec.detection.signals[0].reasons[0]",
        );
        assert_one(
            "{name: api, type: http, url: \"http://{workload.web}/api\"}",
            "{name: api, type: http, url: \"http://{workload.web}/api\"}\n  detection:\n    signals:\n      - {name: crash, type: kubernetes-event, workload: web, reasons: [BackOff]}",
            "spec.detection.signals[0].type",
            "acts on the kubernetes platform",
        );
    }
}
