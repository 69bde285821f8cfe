//! Checks that serde cannot express: references between sections, ranges, uniqueness.
//!
//! Every check runs and every problem is kept, so one `firedrill validate` lists them all.
//! Problems carry field paths only; the loader adds their locations.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use super::{
    AbortCondition, DetectionSignal, Duration, Experiment, FaultSpec, KubernetesTarget,
    KubernetesWorkload, Objective, Platforms, PodPeer, Probe, Problem, Readiness, ScorecardSpec,
    Selector, WorkloadKind,
};

/// The shortest probe interval.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest probe interval.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// The workload name of the Prometheus that `spec.target.observability` runs.
pub const STACK_PROMETHEUS: &str = "prometheus";
/// The workload name of the Alertmanager that `spec.target.observability` runs.
pub const STACK_ALERTMANAGER: &str = "alertmanager";
/// The most replicas of one workload.
const MAX_REPLICAS: u32 = 64;
/// The most iterations of one run.
const MAX_ITERATIONS: u32 = 1000;
/// The longest name (a DNS label).
const MAX_NAME_LEN: usize = 63;

/// Every semantic problem of a parsed document, in the order of the document's fields.
pub fn validate(exp: &Experiment) -> Vec<Problem> {
    let mut v = Checker {
        problems: Vec::new(),
        exp,
    };
    v.check();
    v.problems
}

/// The checks a fault kind's own validation is made of: each records a problem at a field
/// path, with the message `firedrill validate` prints.
pub struct Checker<'a> {
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

impl<'a> Checker<'a> {
    /// The experiment being checked.
    pub fn experiment(&self) -> &'a Experiment {
        self.exp
    }

    /// A command run in a container or by a probe: a program, and placeholders a probe may use.
    pub fn exec_command(&mut self, path: &str, command: &[String]) {
        self.command(path, command, Context::Probe);
    }

    /// A container's name, when one is given: a DNS label.
    pub fn container(&mut self, path: &str, name: Option<&str>) {
        if let Some(c) = name
            && let Some(message) = dns_label_problem(c)
        {
            self.problem(path, message);
        }
    }

    /// Records a problem at `path`.
    pub fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
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
                    DetectionSignal::AlertmanagerAlert(s) | DetectionSignal::PrometheusAlert(s) => {
                        self.alert_poll(&path, s);
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
                Objective::BudgetBurned(o) => {
                    self.needs_traffic(&path, "budget-burned");
                    if spec.slo.is_none() {
                        self.problem(
                            format!("{path}.metric"),
                            "budget-burned needs `spec.slo`: add an availability target and a window",
                        );
                    }
                    self.non_negative(&format!("{path}.max"), o.max);
                }
                Objective::LatencyDegradation(o) => {
                    self.needs_traffic(&path, "latency-degradation");
                    self.non_negative(&format!("{path}.max"), o.max);
                }
                Objective::TrafficAvailability(o) => {
                    self.needs_traffic(&path, "traffic-availability");
                    self.ratio(&format!("{path}.min"), o.min);
                }
            }
        }
        if let Some(traffic) = &spec.traffic {
            self.traffic(traffic);
        }
        if let Some(slo) = &spec.slo {
            self.slo(slo);
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
        self.stop_conditions(spec);
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
        self.response();
    }

    /// An HTTP probe's statuses read, and its body expectation is one whole way to check.
    fn http_expectations(&mut self, path: &str, p: &super::HttpProbe) {
        if let Err(e) = p.expect_status.ranges() {
            self.problem(
                format!("{path}.expectStatus"),
                format!("{e}: write a code (200), a class (\"2xx\"), a range (\"200-299\") or several, comma-separated"),
            );
        }
        let Some(b) = &p.expect_body else { return };
        let at = format!("{path}.expectBody");
        match (&b.regex, &b.json_path) {
            (Some(r), None) => {
                if let Err(e) = regex::Regex::new(r) {
                    self.problem(
                        format!("{at}.regex"),
                        format!("not a regular expression: {e}"),
                    );
                }
                if b.equals.is_some() || b.op.is_some() || b.value.is_some() {
                    self.problem(
                        at.clone(),
                        "`equals`, `op` and `value` go with `jsonPath`, not with `regex`",
                    );
                }
            }
            (None, Some(jp)) => self.json_path(&at, jp, b.equals.as_ref(), b.op, b.value),
            (Some(_), Some(_)) => self.problem(at.clone(), "give `regex` or `jsonPath`, not both"),
            (None, None) => self.problem(
                at.clone(),
                "give `regex`, or `jsonPath` with what it must select",
            ),
        }
    }

    /// A JSONPath at `{at}.jsonPath` and what its values must be: `equals`, or `op` and a
    /// finite `value` (an HTTP probe's body, a kubernetes-object probe's field).
    fn json_path(
        &mut self,
        at: &str,
        jp: &str,
        equals: Option<&serde_json::Value>,
        op: Option<super::CompareOp>,
        value: Option<f64>,
    ) {
        if let Err(e) = jsonpath_rust::parser::parse_json_path(jp) {
            self.problem(format!("{at}.jsonPath"), format!("not a JSONPath: {e}"));
        }
        match (equals, op, value) {
            (Some(_), None, None) => {}
            (None, Some(_), Some(v)) if v.is_finite() => {}
            (None, Some(_), Some(_)) => {
                self.problem(format!("{at}.value"), "must be a finite number");
            }
            _ => self.problem(
                at,
                "with `jsonPath`, give `equals` (a JSON value), or `op` and `value` (a number)",
            ),
        }
    }

    /// A kubernetes-object probe: a kind written as the API writes it, one object or a
    /// label selector in an allowed namespace, and an expectation that can hold.
    fn object_probe(&mut self, path: &str, p: &super::KubernetesObjectProbe) {
        let (group, version) = p.group_version();
        let version_ok = version.starts_with('v')
            && version
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let group_ok = p.api_version.contains('/') != group.is_empty()
            && !group.contains('/')
            && group
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !version_ok || !group_ok {
            self.problem(
                format!("{path}.apiVersion"),
                format!(
                    "`{}` is not an API version: write `v1` for the core group, or GROUP/VERSION such as `apps/v1` or `example.com/v1alpha1`",
                    p.api_version
                ),
            );
        }
        let kind_ok = p.kind.starts_with(|c: char| c.is_ascii_uppercase())
            && p.kind.bytes().all(|b| b.is_ascii_alphanumeric());
        if !kind_ok {
            self.problem(
                format!("{path}.kind"),
                format!(
                    "`{}` is not a kind: letters and digits starting with a capital, as the API writes it (`Deployment`, `Certificate`)",
                    p.kind
                ),
            );
        }
        self.allowed_namespace(&format!("{path}.namespace"), &p.namespace);
        match (&p.object_name, p.match_labels.is_empty()) {
            (Some(name), true) => self.object_name(&format!("{path}.objectName"), name),
            (None, false) => self.match_labels(&format!("{path}.matchLabels"), &p.match_labels),
            (Some(_), false) => self.problem(
                path,
                "give `objectName` (one object) or `matchLabels` (every object with those labels), not both",
            ),
            (None, true) => self.problem(
                path,
                "give `objectName` (one object) or `matchLabels` (every object with those labels)",
            ),
        }
        match &p.expect {
            None => {}
            Some(super::ObjectExpectation::Condition(c)) => {
                if c.type_.trim().is_empty() {
                    self.problem(format!("{path}.expect.condition.type"), "must not be empty");
                }
                if c.reason.as_ref().is_some_and(|r| r.trim().is_empty()) {
                    self.problem(
                        format!("{path}.expect.condition.reason"),
                        "must not be empty; leave it out to accept any reason",
                    );
                }
            }
            Some(super::ObjectExpectation::Field(f)) => self.json_path(
                &format!("{path}.expect.field"),
                &f.json_path,
                f.equals.as_ref(),
                f.op,
                f.value,
            ),
        }
    }

    /// A polling signal or stop condition: its server's URL, the alert it names, a sane
    /// interval.
    fn alert_poll(&mut self, path: &str, s: &super::AlertPollSignal) {
        self.url(&format!("{path}.url"), &s.url);
        if !s.matchers.contains_key("alertname") {
            self.problem(
                format!("{path}.match"),
                "must name the alert: add `alertname`",
            );
        }
        for name in s.matchers.keys() {
            if !is_label_name(name) {
                self.problem(
                    format!("{path}.match.{name}"),
                    format!("`{name}` is not a label name: letters, digits and `_`, not starting with a digit"),
                );
            }
        }
        if s.interval < MIN_INTERVAL || s.interval > MAX_INTERVAL {
            self.problem(
                format!("{path}.interval"),
                format!(
                    "{} is out of range: write {MIN_INTERVAL} to {MAX_INTERVAL}",
                    s.interval
                ),
            );
        }
    }

    /// The stop conditions: names of their own (a detection signal's name would make an
    /// alert ambiguous), an alert named, no timeout.
    fn stop_conditions(&mut self, spec: &super::Spec) {
        let signals: Vec<&str> = spec
            .detection
            .iter()
            .flat_map(|d| &d.signals)
            .map(DetectionSignal::name)
            .collect();
        for (i, c) in spec.safety.stop_when.iter().enumerate() {
            let path = format!("spec.safety.stopWhen[{i}]");
            let name = c.name();
            if name.is_empty() {
                self.problem(format!("{path}.name"), "must not be empty");
            } else if signals.contains(&name) {
                self.problem(
                    format!("{path}.name"),
                    format!(
                        "`{name}` is a detection signal's name too: give the stop condition its own"
                    ),
                );
            } else if let Some(first) = spec.safety.stop_when[..i]
                .iter()
                .position(|other| other.name() == name)
            {
                self.problem(
                    format!("{path}.name"),
                    format!("`{name}` is already the name of spec.safety.stopWhen[{first}]"),
                );
            }
            if c.timeout().is_some() {
                self.problem(
                    format!("{path}.timeout"),
                    "a stop condition has no timeout: it watches the whole run",
                );
            }
            match c {
                super::StopCondition::Webhook(s) if s.matchers.is_empty() => self.problem(
                    format!("{path}.match"),
                    "must name the labels of the alert, such as `alertname: CustomerImpact`: an empty match would stop the run at any alert",
                ),
                super::StopCondition::Webhook(_) => {}
                super::StopCondition::AlertmanagerAlert(s)
                | super::StopCondition::PrometheusAlert(s) => self.alert_poll(&path, s),
            }
        }
    }

    fn response(&mut self) {
        let Some(r) = &self.exp.spec.response else {
            return;
        };
        let scale = r.time_scale;
        if !(scale.is_finite() && scale > 0.0 && scale <= super::MAX_TIME_SCALE) {
            self.problem(
                "spec.response.timeScale",
                format!(
                    "{scale} is not a factor above 0 and at most {}: 60 runs a 24 h clock in 24 min",
                    super::MAX_TIME_SCALE
                ),
            );
        }
        if !r.decisions.is_empty() && self.exp.spec.detection.is_none() {
            self.problem(
                "spec.response.decisions",
                "needs spec.detection: decisions are put at the first detection, which nothing would signal",
            );
        }
        self.unique(
            "spec.response.roles",
            r.roles.iter().map(|role| role.name.as_str()),
            "role",
        );
        for (i, role) in r.roles.iter().enumerate() {
            let path = format!("spec.response.roles[{i}]");
            let function = role.function.trim();
            if function.is_empty() {
                self.problem(
                    format!("{path}.function"),
                    format!(
                        "must not be empty: write one of {} or the role's function in your own words",
                        super::KNOWN_FUNCTIONS.join(", ")
                    ),
                );
            } else if function.chars().count() > super::MAX_FUNCTION_CHARS {
                self.problem(
                    format!("{path}.function"),
                    format!("is longer than {} characters", super::MAX_FUNCTION_CHARS),
                );
            }
            if let super::Reach::Chat(chat) = &role.reach {
                self.delivery_url(&format!("{path}.reach.url"), &chat.url);
                self.positive(&format!("{path}.reach.timeout"), chat.timeout);
            }
        }
        self.decision_points(r);
        self.approvals(r);
        let probes: BTreeSet<&str> = self
            .exp
            .spec
            .steady_state
            .probes
            .iter()
            .map(Probe::name)
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, service) in r.services.iter().enumerate() {
            let path = format!("spec.response.services[{i}]");
            if service.name.trim().is_empty() {
                self.problem(format!("{path}.name"), "must not be empty");
            } else if let Some(first) = seen.get(service.name.as_str()) {
                self.problem(
                    format!("{path}.name"),
                    format!(
                        "the service `{}` is already listed at spec.response.services[{first}]",
                        service.name
                    ),
                );
            } else {
                seen.insert(&service.name, i);
            }
            if service.probes.is_empty() {
                self.problem(
                    format!("{path}.probes"),
                    "name at least one steady-state probe that watches the service",
                );
            }
            for (j, probe) in service.probes.iter().enumerate() {
                if !probes.contains(probe.as_str()) {
                    self.problem(
                        format!("{path}.probes[{j}]"),
                        format!(
                            "no steady-state probe is named `{probe}`; the probes are {}",
                            probes.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
            self.member_states(&format!("{path}.memberStates"), &service.member_states);
        }
        if let Some(s) = &r.significance {
            let path = "spec.response.significance";
            if s.outage.is_none() && s.availability_below.is_none() {
                self.problem(
                    path,
                    "draw at least one line: outage (such as 30m) or availabilityBelow (such as 0.9)",
                );
            }
            if let Some(outage) = s.outage {
                self.positive(&format!("{path}.outage"), outage);
            }
            if let Some(a) = s.availability_below
                && !(a > 0.0 && a <= 1.0)
            {
                self.problem(
                    format!("{path}.availabilityBelow"),
                    format!("{a} is not a share above 0 and at most 1, such as 0.9"),
                );
            }
        }
        if let Some(d) = r.major_outage {
            self.positive("spec.response.majorOutage", d);
        }
        if let Some(d) = r.recovery_objective {
            self.positive("spec.response.recoveryObjective", d);
        }
    }

    /// The decision points: unique ids, a role that exists, a trigger that names an earlier
    /// point, a catalogued or a well-formed custom decision, and a budget.
    fn decision_points(&mut self, r: &super::Response) {
        let roles: Vec<&str> = r.roles.iter().map(|role| role.name.as_str()).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, point) in r.decisions.iter().enumerate() {
            let path = format!("spec.response.decisions[{i}]");
            self.name(&format!("{path}.id"), &point.id);
            if let Some(first) = seen.get(point.id.as_str()) {
                self.problem(
                    format!("{path}.id"),
                    format!(
                        "the decision point `{}` is already listed at spec.response.decisions[{first}]",
                        point.id
                    ),
                );
            }
            if !roles.contains(&point.decided_by.as_str()) {
                self.problem(
                    format!("{path}.decidedBy"),
                    if roles.is_empty() {
                        format!(
                            "no role is named `{}`: list the roles under spec.response.roles",
                            point.decided_by
                        )
                    } else {
                        format!(
                            "no role is named `{}`; the roles are {}",
                            point.decided_by,
                            roles.join(", ")
                        )
                    },
                );
            }
            if let super::Trigger::Decision(earlier) = &point.after
                && !seen.contains_key(earlier.as_str())
            {
                self.problem(
                    format!("{path}.after.decision"),
                    if r.decisions.iter().any(|p| &p.id == earlier) {
                        format!(
                            "`{earlier}` is not listed before this point: a decision can only follow one listed earlier"
                        )
                    } else {
                        format!("no decision point is named `{earlier}`")
                    },
                );
            }
            match (&point.decision, &point.question) {
                (Some(_), Some(_)) => self.problem(
                    format!("{path}.question"),
                    "write either a catalogued decision or a question with answers, not both",
                ),
                (Some(_), None) if !point.answers.is_empty() => self.problem(
                    format!("{path}.answers"),
                    "a catalogued decision has its own answers: leave answers out",
                ),
                (Some(_), None) => {}
                (None, None) => self.problem(
                    path.clone(),
                    "write a catalogued decision (such as decision: nis2-significant-incident) or a question with answers",
                ),
                (None, Some(question)) => {
                    if let Err(e) = super::tidy_custom_decision(question, &point.answers) {
                        let field = match e {
                            super::CustomDecisionError::EmptyQuestion
                            | super::CustomDecisionError::QuestionTooLong(_) => "question",
                            _ => "answers",
                        };
                        self.problem(format!("{path}.{field}"), e.to_string());
                    }
                }
            }
            self.positive(&format!("{path}.budget"), point.budget);
            self.runbook(r, point, &path);
            seen.insert(&point.id, i);
        }
    }

    /// A decision point's runbook: rules only where a runbook answers, one at least there,
    /// answers the decision allows, conditions that can hold.
    fn runbook(&mut self, r: &super::Response, point: &super::DecisionPointSpec, path: &str) {
        let runbook = r.responders == super::Responders::Runbook;
        if !runbook {
            if !point.runbook.is_empty() {
                self.problem(
                    format!("{path}.runbook"),
                    "rules answer only when spec.response.responders is runbook; people answer this drill",
                );
            }
            return;
        }
        if point.runbook.is_empty() {
            self.problem(
                format!("{path}.runbook"),
                "with responders: runbook, every decision needs at least one rule, such as {answer: yes, when: {availabilityBelow: 0.9}, for: 5m}",
            );
        }
        let allowed: Vec<String> = match (&point.decision, &point.question) {
            (Some(d), _) => d.answers().iter().map(|a| (*a).to_owned()).collect(),
            (None, Some(_)) => point.answers.iter().map(|a| a.trim().to_owned()).collect(),
            (None, None) => Vec::new(),
        };
        for (j, rule) in point.runbook.iter().enumerate() {
            let rule_path = format!("{path}.runbook[{j}]");
            let given = rule.answer.trim().to_lowercase();
            if !allowed.is_empty() && !allowed.iter().any(|a| a.to_lowercase() == given) {
                self.problem(
                    format!("{rule_path}.answer"),
                    format!(
                        "`{}` is not an allowed answer: write one of {}",
                        rule.answer,
                        allowed.join(", ")
                    ),
                );
            }
            if let Some(a) = rule.when.availability_below
                && !(a > 0.0 && a <= 1.0)
            {
                self.problem(
                    format!("{rule_path}.when.availabilityBelow"),
                    format!("{a} is not a share above 0 and at most 1, such as 0.9"),
                );
            }
            if let Some(probe) = &rule.when.failed_probe {
                self.probe_ref(&format!("{rule_path}.when.failedProbe"), probe);
            }
        }
    }

    /// The approvals: a draft the run writes, roles that exist, each draft once, ids that no
    /// decision point takes, a budget.
    fn approvals(&mut self, r: &super::Response) {
        let roles: Vec<&str> = r.roles.iter().map(|role| role.name.as_str()).collect();
        let notification = self.exp.spec.notification.as_ref();
        let mut seen: HashMap<super::Report, usize> = HashMap::new();
        let listed: Vec<super::Report> = r.approvals.iter().map(|a| a.report).collect();
        for (i, a) in r.approvals.iter().enumerate() {
            let path = format!("spec.response.approvals[{i}]");
            if r.responders == super::Responders::Runbook {
                self.problem(
                    path.clone(),
                    "approvals are people's: with responders: runbook nobody would approve the draft",
                );
            }
            match notification {
                None => self.problem(
                    format!("{path}.report"),
                    "needs spec.notification: the drafts to approve are written only when notifications are",
                ),
                Some(n) if a.report.is_dora() && !n.dora => {
                    self.problem(
                        format!("{path}.report"),
                        format!(
                            "{} is drafted only with spec.notification.dora: true",
                            a.report.label()
                        ),
                    );
                }
                Some(_) => {}
            }
            if let Some(earlier) = a.report.follows()
                && !listed.contains(&earlier)
            {
                self.problem(
                    format!("{path}.report"),
                    format!(
                        "{}'s clock runs from the submission of {}, which no approval lists: add an approval of `{}`",
                        a.report.id(),
                        earlier.label(),
                        earlier.id()
                    ),
                );
            }
            if let Some(first) = seen.get(&a.report) {
                self.problem(
                    format!("{path}.report"),
                    format!(
                        "{} is already approved at spec.response.approvals[{first}]",
                        a.report.id()
                    ),
                );
            } else {
                seen.insert(a.report, i);
            }
            for (field, role) in [
                ("reviewedBy", a.reviewed_by.as_deref()),
                ("approvedBy", Some(a.approved_by.as_str())),
            ] {
                if let Some(role) = role
                    && !roles.contains(&role)
                {
                    self.problem(
                        format!("{path}.{field}"),
                        format!(
                            "no role is named `{role}`; the roles are {}",
                            roles.join(", ")
                        ),
                    );
                }
            }
            let (review, approve) = a.report.point_ids();
            for id in [review, approve] {
                if r.decisions.iter().any(|d| d.id == id) {
                    self.problem(
                        format!("{path}.report"),
                        format!("the decision point id `{id}` is the approval's own: rename the decision point"),
                    );
                }
            }
            self.positive(&format!("{path}.budget"), a.budget);
        }
    }

    /// ISO 3166-1 alpha-2 codes, each listed once.
    fn member_states(&mut self, path: &str, codes: &[String]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, code) in codes.iter().enumerate() {
            let item = format!("{path}[{i}]");
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
                    format!("`{code}` is already listed at {path}[{first}]"),
                );
            } else {
                seen.insert(code, i);
            }
        }
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
            self.member_states(
                &format!("{path}.entity.memberStates"),
                &entity.member_states,
            );
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
        if let Some(obs) = &local.observability {
            self.observability(local, obs);
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

    fn observability(&mut self, local: &super::LocalTarget, obs: &super::Observability) {
        let path = "spec.target.observability";
        for (i, w) in local.workloads.iter().enumerate() {
            let taken = w.name == STACK_PROMETHEUS
                || (w.name == STACK_ALERTMANAGER && obs.alertmanager.is_some());
            if taken {
                self.problem(
                    format!("spec.target.workloads[{i}].name"),
                    format!(
                        "`{}` is the name of the workload that {path} runs; rename this one",
                        w.name
                    ),
                );
            }
        }
        let prom = &obs.prometheus;
        let ppath = format!("{path}.prometheus");
        for (i, rule) in prom.rules.iter().enumerate() {
            if rule.trim().is_empty() {
                self.problem(format!("{ppath}.rules[{i}]"), "must name a file");
            }
        }
        if let Some(scrape) = &prom.scrape {
            for (i, name) in scrape.iter().enumerate() {
                if !local.workloads.iter().any(|w| &w.name == name) {
                    self.problem(
                        format!("{ppath}.scrape[{i}]"),
                        format!(
                            "no workload is named `{name}`{}",
                            known_list(local.workloads.iter().map(|w| w.name.as_str()))
                        ),
                    );
                }
            }
        }
        if !prom.metrics_path.starts_with('/') || prom.metrics_path.contains(char::is_whitespace) {
            self.problem(
                format!("{ppath}.metricsPath"),
                format!("`{}` is not a path such as /metrics", prom.metrics_path),
            );
        }
        for (field, d) in [
            ("scrapeInterval", prom.scrape_interval),
            ("evaluationInterval", prom.evaluation_interval),
        ] {
            self.stack_interval(&format!("{ppath}.{field}"), d, false);
        }
        if let Some(am) = &obs.alertmanager {
            let apath = format!("{path}.alertmanager");
            if let Some(config) = &am.config {
                if config.trim().is_empty() {
                    self.problem(format!("{apath}.config"), "must name a file");
                }
                let defaults = super::AlertmanagerStack::default();
                for (field, set) in [
                    ("groupWait", am.group_wait != defaults.group_wait),
                    (
                        "groupInterval",
                        am.group_interval != defaults.group_interval,
                    ),
                    (
                        "repeatInterval",
                        am.repeat_interval != defaults.repeat_interval,
                    ),
                ] {
                    if set {
                        self.problem(
                            format!("{apath}.{field}"),
                            format!("applies to the generated configuration only; with `config`, set it in {config}"),
                        );
                    }
                }
            }
            self.stack_interval(&format!("{apath}.groupWait"), am.group_wait, true);
            self.stack_interval(&format!("{apath}.groupInterval"), am.group_interval, false);
            self.stack_interval(
                &format!("{apath}.repeatInterval"),
                am.repeat_interval,
                false,
            );
        }
    }

    /// An interval given to Prometheus or Alertmanager, which take whole milliseconds.
    fn stack_interval(&mut self, path: &str, d: Duration, zero_ok: bool) {
        let get = d.get();
        if !get.subsec_nanos().is_multiple_of(1_000_000) {
            self.problem(path, format!("{d} is not a whole number of milliseconds"));
        } else if get.is_zero() && !zero_ok {
            self.problem(path, "must be more than 0s");
        } else if !get.is_zero() && get < MIN_INTERVAL.get() {
            self.problem(
                path,
                format!("{d} is out of range: write at least {MIN_INTERVAL}"),
            );
        }
    }

    fn kubernetes_target(&mut self, kube: &KubernetesTarget) {
        self.kubernetes_dependencies(kube);
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

    fn kubernetes_dependencies(&mut self, kube: &KubernetesTarget) {
        let path = "spec.target.dependencies";
        self.unique(
            path,
            kube.dependencies.iter().map(|d| d.name.as_str()),
            "dependency",
        );
        for (i, d) in kube.dependencies.iter().enumerate() {
            let path = format!("{path}[{i}]");
            if !kube.namespaces.contains(&d.namespace) {
                self.problem(
                    format!("{path}.namespace"),
                    format!(
                        "`{}` is not in spec.target.namespaces{}",
                        d.namespace,
                        known_list(kube.namespaces.iter().map(String::as_str))
                    ),
                );
            }
            self.name(&format!("{path}.service"), &d.service);
            for (j, port) in d.ports.iter().enumerate() {
                if *port == 0 {
                    self.problem(
                        format!("{path}.ports[{j}]"),
                        "0 is out of range: write a Service port from 1 to 65535",
                    );
                } else if d.ports[..j].contains(port) {
                    self.problem(
                        format!("{path}.ports[{j}]"),
                        format!("port {port} appears twice"),
                    );
                }
            }
            if let Some(proxy) = &d.proxy {
                if proxy.image.trim().is_empty() {
                    self.problem(
                        format!("{path}.proxy.image"),
                        "must not be empty: no image is published; build one from the repository's Dockerfile",
                    );
                }
                self.positive(&format!("{path}.proxy.readyTimeout"), proxy.ready_timeout);
            }
        }
    }

    /// Pods by label: a namespace name and label keys and values the API accepts.
    pub fn pod_peer(&mut self, path: &str, peer: &PodPeer) {
        self.name(&format!("{path}.namespace"), &peer.namespace);
        self.match_labels(&format!("{path}.matchLabels"), &peer.match_labels);
    }

    fn match_labels(&mut self, path: &str, labels: &std::collections::BTreeMap<String, String>) {
        for (key, value) in labels {
            if key.trim().is_empty() || key.contains([',', '=', '!', ' ', '(', ')']) {
                self.problem(path, format!("`{key}` is not a label key"));
            }
            if value.contains([',', '=', '!', ' ', '(', ')']) {
                self.problem(
                    format!("{path}.{key}"),
                    format!("`{value}` is not a label value"),
                );
            }
        }
    }

    /// The Kubernetes workload named `name`, or a problem at `path`.
    pub fn kubernetes_workload(&mut self, path: &str, name: &str) -> Option<KubernetesWorkload> {
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
                Probe::Http(p) => {
                    self.url(&format!("{path}.url"), &p.url);
                    self.http_expectations(&path, p);
                }
                Probe::Prometheus(p) => {
                    self.url(&format!("{path}.url"), &p.url);
                    if p.query.trim().is_empty() {
                        self.problem(format!("{path}.query"), "must not be empty");
                    }
                    if !p.expect.value.is_finite() {
                        self.problem(
                            format!("{path}.expect.value"),
                            format!("{} is not a finite number", p.expect.value),
                        );
                    }
                }
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
                Probe::KubernetesObject(p) => {
                    if self.platform_fits(&path, "kubernetes-object", true) {
                        self.object_probe(&path, p);
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
        if let Some(signals) = fault.canary_signals() {
            self.canary_signals(path, signals);
        }
        // Dependency faults act on both platforms: through the embedded proxy locally, through
        // a proxy deployed in front of the dependency's Service on kubernetes.
        let fits = match fault.platforms() {
            Platforms::Both => true,
            Platforms::Local => self.platform_fits(path, fault.type_name(), false),
            Platforms::Kubernetes => self.platform_fits(path, fault.type_name(), true),
        };
        if !fits {
            return;
        }
        if let Some(dep) = fault.dependency()
            && let super::Target::Kubernetes(kube) = &self.exp.spec.target
        {
            match kube.dependencies.iter().find(|d| d.name == dep) {
                None => self.problem(
                    format!("{path}.dependency"),
                    format!(
                        "no dependency is named `{dep}`{}",
                        known_list(kube.dependencies.iter().map(|d| d.name.as_str()))
                    ),
                ),
                Some(d) if d.proxy.is_none() => {
                    let i = kube
                        .dependencies
                        .iter()
                        .position(|x| x.name == dep)
                        .unwrap_or_default();
                    self.problem(
                        format!("{path}.dependency"),
                        format!(
                            "`{}` on kubernetes acts through a proxy deployed in front of the Service; dependency `{dep}` has none: set spec.target.dependencies[{i}].proxy.image",
                            fault.type_name()
                        ),
                    );
                }
                Some(_) => {}
            }
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
        fault.validate(path, self);
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
    /// A namespace a fault names directly, which must be in the allowlist.
    pub fn allowed_namespace(&mut self, path: &str, ns: &str) {
        if let super::Target::Kubernetes(kube) = &self.exp.spec.target
            && !kube.namespaces.iter().any(|n| n == ns)
        {
            self.problem(
                path,
                format!(
                    "`{ns}` is not in spec.target.namespaces{}",
                    known_list(kube.namespaces.iter().map(String::as_str))
                ),
            );
        }
    }

    /// The name of a ConfigMap or Secret: a DNS subdomain.
    pub fn object_name(&mut self, path: &str, name: &str) {
        let ok = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            self.problem(
                path,
                format!(
                    "`{name}` is not an object name: lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters"
                ),
            );
        }
    }

    /// A key of a ConfigMap's or Secret's data.
    pub fn data_key(&mut self, path: &str, key: &str) {
        let ok = !key.is_empty()
            && key.len() <= 253
            && key != "."
            && key != ".."
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            self.problem(
                path,
                format!(
                    "`{key}` is not a valid key: letters, digits, `-`, `_` and `.`, at most 253 characters"
                ),
            );
        }
    }

    /// The workload a configuration fault restarts, a controller of the target.
    pub fn restart_workload(&mut self, path: &str, name: Option<&str>) {
        let Some(name) = name else { return };
        let at = format!("{path}.restartWorkload");
        if let Some(w) = self.kubernetes_workload(&at, name)
            && w.kind == WorkloadKind::Pod
        {
            self.problem(
                at,
                format!("`{name}` is a Pod workload; a rollout restart needs a Deployment, StatefulSet or DaemonSet"),
            );
        }
    }

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
            let stack = stack_workloads(local);
            let known = || {
                local
                    .workloads
                    .iter()
                    .map(|w| w.name.as_str())
                    .chain(stack.iter().copied())
            };
            return (!known().any(|w| w == workload)).then(|| {
                format!(
                    "the placeholder `{{{name}}}` names no workload{}",
                    known_list(known())
                )
            });
        }
        match (name, context) {
            ("firedrill" | "experimentDir", _) | ("port" | "replica", Context::Workload) => None,
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
                        "{port}, {replica}, {firedrill}, {experimentDir}, {workload.NAME}, {replica.NAME.INDEX}, {dependency.NAME}, {webhook}"
                    }
                    Context::Probe => {
                        "{firedrill}, {experimentDir}, {workload.NAME}, {replica.NAME.INDEX}, {dependency.NAME}, {webhook}"
                    }
                };
                Some(format!(
                    "unknown placeholder `{{{name}}}`; allowed here: {allowed}"
                ))
            }
        }
    }

    /// A canary is only worth its name when something is waiting for it: the experiment
    /// needs detection signals, and the ones the canary names must exist.
    fn canary_signals(&mut self, path: &str, names: &[String]) {
        let Some(detection) = &self.exp.spec.detection else {
            self.problem(
                format!("{path}.type"),
                "a detection canary needs spec.detection: the signals that must notice it",
            );
            return;
        };
        let known: Vec<String> = detection
            .signals
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        for (i, name) in names.iter().enumerate() {
            if !known.iter().any(|k| k == name) {
                self.problem(
                    format!("{path}.detectedBy[{i}]"),
                    format!(
                        "no detection signal is named `{name}`{}",
                        known_list(known.iter().map(String::as_str))
                    ),
                );
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

    /// An absolute http:// URL once placeholders are expanded.
    pub fn url(&mut self, path: &str, url: &str) {
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
            if !super::FAULT_TYPES.contains(&fault_type.as_str()) {
                self.problem(
                    &field,
                    format!(
                        "`{fault_type}` is not a fault type: write one of {}",
                        super::FAULT_TYPES.join(", ")
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
            ("timeToDetectCanary", targets.time_to_detect_canary),
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
        if let Some(threshold) = scorecard.coverage_threshold
            && !(threshold.is_finite() && (0.0..=100.0).contains(&threshold))
        {
            self.problem(
                format!("{path}.coverageThreshold"),
                format!("{threshold} is out of range: write a percentage from 0 to 100"),
            );
        }
        if let Some(age) = scorecard.max_evidence_age
            && age.get() < std::time::Duration::from_secs(86_400)
        {
            self.problem(
                format!("{path}.maxEvidenceAge"),
                format!("{age} is shorter than a day: evidence is dated by the day"),
            );
        }
        let probes = &self.exp.spec.steady_state.probes;
        let mut seen = BTreeSet::new();
        for (i, name) in scorecard.organisation_monitoring.iter().enumerate() {
            let field = format!("{path}.organisationMonitoring[{i}]");
            if !probes.iter().any(|p| p.name() == name) {
                self.problem(
                    &field,
                    format!(
                        "no probe named `{name}` in spec.steadyState.probes: write one of {}",
                        known_list(probes.iter().map(Probe::name))
                    ),
                );
            } else if !seen.insert(name) {
                self.problem(&field, format!("`{name}` is listed twice"));
            }
        }
    }

    /// A count from 1 to `max`.
    pub fn count(&mut self, path: &str, n: u32, max: u32) {
        if !(1..=max).contains(&n) {
            self.problem(path, format!("{n} is out of range: write 1 to {max}"));
        }
    }

    /// A canary domain: a DNS name that carries the marker, so that a security team can
    /// tell the lookup from an attack.
    pub fn canary_domain(&mut self, path: &str, domain: &str) {
        let name = domain.trim_end_matches('.');
        let labels_ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !labels_ok {
            self.problem(
                path,
                format!(
                    "`{domain}` is not a DNS name: dot-separated labels of letters, digits and `-`"
                ),
            );
        } else if !name.to_ascii_lowercase().contains(super::MARKER) {
            self.problem(
                path,
                format!(
                    "`{domain}` does not carry the marker `{}`: write e.g. `{}.example.com` so that a security team can tell the drill from an attack",
                    super::MARKER,
                    super::MARKER
                ),
            );
        }
    }

    /// A container image reference, when one is given.
    pub fn image(&mut self, path: &str, image: Option<&str>) {
        if let Some(image) = image
            && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
        {
            self.problem(
                path,
                format!("`{image}` is not an image reference such as registry.k8s.io/pause:3.10"),
            );
        }
    }

    /// A duration above zero.
    pub fn positive(&mut self, path: &str, d: Duration) {
        if d.is_zero() {
            self.problem(path, "must be more than 0s");
        }
    }

    /// An objective on the traffic needs `spec.traffic`.
    fn needs_traffic(&mut self, path: &str, metric: &str) {
        if self.exp.spec.traffic.is_none() {
            self.problem(
                format!("{path}.metric"),
                format!("{metric} measures the traffic: add `spec.traffic`"),
            );
        }
    }

    fn non_negative(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value >= 0.0) {
            self.problem(
                path,
                format!("{value} is out of range: write a number of at least 0"),
            );
        }
    }

    /// `spec.traffic`: a rate or a concurrency the generator can keep, requests that parse,
    /// weights that pick something.
    fn traffic(&mut self, t: &super::Traffic) {
        use super::{MAX_CONNECTIONS, MAX_RATE, MAX_RESOLUTION, MAX_TIMEOUT, MIN_RESOLUTION};
        match &t.model {
            super::TrafficModel::Open(o) => {
                if !(o.rate.is_finite() && o.rate > 0.0 && o.rate <= MAX_RATE) {
                    self.problem(
                        "spec.traffic.model.rate",
                        format!(
                            "{} is out of range: write more than 0 and at most {MAX_RATE} requests per second (one machine cannot keep a higher rate's schedule)",
                            o.rate
                        ),
                    );
                }
                if !(1..=MAX_CONNECTIONS).contains(&o.max_connections) {
                    self.problem(
                        "spec.traffic.model.maxConnections",
                        format!(
                            "{} is out of range: write 1 to {MAX_CONNECTIONS}",
                            o.max_connections
                        ),
                    );
                }
            }
            super::TrafficModel::Closed(c) => {
                if !(1..=MAX_CONNECTIONS).contains(&c.concurrency) {
                    self.problem(
                        "spec.traffic.model.concurrency",
                        format!(
                            "{} is out of range: write 1 to {MAX_CONNECTIONS}",
                            c.concurrency
                        ),
                    );
                }
            }
        }
        if t.timeout.is_zero() || t.timeout > MAX_TIMEOUT {
            self.problem(
                "spec.traffic.timeout",
                format!(
                    "{} is out of range: write more than 0s and at most {MAX_TIMEOUT}",
                    t.timeout
                ),
            );
        }
        if t.resolution < MIN_RESOLUTION || t.resolution > MAX_RESOLUTION {
            self.problem(
                "spec.traffic.resolution",
                format!(
                    "{} is out of range: write {MIN_RESOLUTION} to {MAX_RESOLUTION}",
                    t.resolution
                ),
            );
        }
        if t.requests.is_empty() {
            self.problem("spec.traffic.requests", "must list at least one request");
        } else if t.requests.iter().all(|r| r.weight == 0) {
            self.problem(
                "spec.traffic.requests",
                "the weights sum to 0: give at least one request a weight above 0",
            );
        }
        for (i, r) in t.requests.iter().enumerate() {
            let path = format!("spec.traffic.requests[{i}]");
            self.url(&format!("{path}.url"), &r.url);
            if r.body.is_some() && r.body_file.is_some() {
                self.problem(
                    format!("{path}.bodyFile"),
                    "write either `body` or `bodyFile`, not both",
                );
            }
            for (name, value) in &r.headers {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    self.problem(
                        format!("{path}.headers.{name}"),
                        "is not a valid header name",
                    );
                } else if http::HeaderValue::from_str(value).is_err() {
                    self.problem(
                        format!("{path}.headers.{name}"),
                        "is not a valid header value",
                    );
                }
            }
        }
    }

    /// `spec.slo`: a target below 1 (else there is no budget) and a window.
    fn slo(&mut self, slo: &super::Slo) {
        if !(slo.availability > 0.0 && slo.availability < 1.0) {
            self.problem(
                "spec.slo.availability",
                format!(
                    "{} is out of range: write a share above 0 and below 1, such as 0.999 (at 1 there is no error budget)",
                    slo.availability
                ),
            );
        }
        if slo.window.is_zero() {
            self.problem("spec.slo.window", "must be more than 0s");
        }
        if slo.latency.is_some_and(|l| l.is_zero()) {
            self.problem("spec.slo.latency", "must be more than 0s");
        }
        if self.exp.spec.traffic.is_none() {
            self.problem(
                "spec.slo",
                "the error budget is counted on the traffic: add `spec.traffic`",
            );
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

/// The workloads `spec.target.observability` adds.
fn stack_workloads(local: &super::LocalTarget) -> Vec<&'static str> {
    match &local.observability {
        None => Vec::new(),
        Some(o) if o.alertmanager.is_some() => vec![STACK_PROMETHEUS, STACK_ALERTMANAGER],
        Some(_) => vec![STACK_PROMETHEUS],
    }
}

/// A Prometheus label name.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

/// Why a text is not a CIDR range as Kubernetes writes ipBlocks; always the author's to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    /// No `/` between an address and a prefix length.
    #[error("`{0}` is not in CIDR notation: write ADDRESS/PREFIX, e.g. 10.0.5.0/24 or 10.0.5.7/32")]
    Notation(String),
    /// The part before the `/` is not an IP address.
    #[error("`{address}` in `{text}` is not an IP address")]
    Address {
        /// The part before the `/`.
        address: String,
        /// The whole range.
        text: String,
    },
    /// The part after the `/` is not a prefix length of the address' family.
    #[error("`{prefix}` in `{text}` is not a prefix length from 0 to {max}")]
    Prefix {
        /// The part after the `/`.
        prefix: String,
        /// The whole range.
        text: String,
        /// 32 or 128.
        max: u8,
    },
    /// Bits past the prefix are set.
    #[error("`{text}` has host bits set: the range starts at {start}/{len}")]
    HostBits {
        /// The whole range.
        text: String,
        /// The range's first address.
        start: std::net::IpAddr,
        /// The prefix length.
        len: u8,
    },
}

/// Parses a range in CIDR notation (`10.0.5.0/24`, `fd00::/64`) whose host bits are zero,
/// as Kubernetes writes ipBlocks.
pub fn parse_cidr(text: &str) -> Result<(std::net::IpAddr, u8), CidrError> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| CidrError::Notation(text.to_owned()))?;
    let ip: std::net::IpAddr = addr.parse().map_err(|_| CidrError::Address {
        address: addr.to_owned(),
        text: text.to_owned(),
    })?;
    let max: u8 = if ip.is_ipv6() { 128 } else { 32 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| CidrError::Prefix {
            prefix: len.to_owned(),
            text: text.to_owned(),
            max,
        })?;
    let bits = match ip {
        std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        std::net::IpAddr::V6(v6) => u128::from(v6),
    };
    let host = bits.checked_shl(u32::from(len)).unwrap_or(0);
    if host != 0 {
        let network = bits & !(u128::MAX.checked_shr(u32::from(len)).unwrap_or(0));
        let start = match ip {
            std::net::IpAddr::V4(_) => {
                std::net::IpAddr::from(std::net::Ipv4Addr::from((network >> 96) as u32))
            }
            std::net::IpAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::from(network)),
        };
        return Err(CidrError::HostBits {
            text: text.to_owned(),
            start,
            len,
        });
    }
    Ok((ip, len))
}

/// What is wrong with a DNS-label-like name, if anything.
/// Whether a namespace belongs to Kubernetes itself: kube-system, kube-public,
/// kube-node-lease, or any other `kube-*`.
pub fn is_system_namespace(ns: &str) -> bool {
    ns.starts_with("kube-")
}

/// Why `name` is not a DNS label (a container's name), if it is not.
fn dns_label_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!ok).then(|| {
        format!("`{name}` is not a container name: lower-case letters, digits and `-`, at most 63 characters")
    })
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
        has(&problems_in(base, from, to), path, needle);
    }

    /// Asserts that `problems` has one at `path` saying `needle`.
    fn has(problems: &[(String, String)], path: &str, needle: &str) {
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

    /// VALID with a detection stack, a Prometheus probe and two polling signals.
    fn with_stack(extra: &str) -> String {
        VALID
            .replace(
                "        replicas: 2\n",
                &format!(
                    "        replicas: 2\n    observability:\n      prometheus: {{rules: [rules.yml]}}\n      alertmanager: {{{extra}}}\n"
                ),
            )
            .replace(
                "      - {name: api, type: http, url: \"http://{workload.web}/api\"}\n",
                "      - {name: api, type: http, url: \"http://{workload.web}/api\"}\n      - {name: ratio, type: prometheus, url: \"http://{workload.prometheus}\", query: up, expect: {op: \">\", value: 0}}\n",
            )
            + "  detection:\n    signals:\n      - {name: am, type: alertmanager-alert, url: \"http://{workload.alertmanager}\", match: {alertname: A}}\n      - {name: prom, type: prometheus-alert, url: \"http://{workload.prometheus}\", match: {alertname: A}}\n"
    }

    #[test]
    fn the_detection_stack_document_is_valid() {
        let doc = with_stack("");
        assert_eq!(validate(&parse(&doc)), [], "{doc}");
    }

    #[test]
    fn detection_stack_probe_and_polling_problems_name_their_fields() {
        let problems = |doc: &str| -> Vec<(String, String)> {
            validate(&parse(doc))
                .into_iter()
                .map(|p| (p.path, p.message))
                .collect()
        };
        let has = |list: &[(String, String)], path: &str, needle: &str| {
            assert!(
                list.iter().any(|(p, m)| p == path && m.contains(needle)),
                "no `{needle}` at {path} in {list:?}"
            );
        };
        let base = with_stack("");
        let cases = [
            (
                "query: up",
                "query: \" \"",
                "spec.steadyState.probes[1].query",
                "must not be empty",
            ),
            (
                "http://{workload.prometheus}\", query",
                "http://{workload.grafana}\", query",
                "spec.steadyState.probes[1].url",
                "names no workload",
            ),
            (
                "match: {alertname: A}}\n      - {name: prom",
                "match: {job: A}}\n      - {name: prom",
                "spec.detection.signals[0].match",
                "add `alertname`",
            ),
            (
                "url: \"http://{workload.prometheus}\", match: {alertname: A}",
                "url: \"http://{workload.prometheus}\", match: {alertname: A, 1x: b}, interval: 1ms",
                "spec.detection.signals[1].match.1x",
                "not a label name",
            ),
            (
                "url: \"http://{workload.prometheus}\", match: {alertname: A}",
                "url: \"http://{workload.prometheus}\", match: {alertname: A}, interval: 1ms",
                "spec.detection.signals[1].interval",
                "out of range",
            ),
            (
                "rules: [rules.yml]}",
                "rules: [rules.yml], scrape: [db]}",
                "spec.target.observability.prometheus.scrape[0]",
                "no workload is named `db`",
            ),
            (
                "rules: [rules.yml]}",
                "rules: [rules.yml], scrapeInterval: 1500us}",
                "spec.target.observability.prometheus.scrapeInterval",
                "whole number of milliseconds",
            ),
            (
                "rules: [rules.yml]}",
                "rules: [rules.yml], evaluationInterval: 0s}",
                "spec.target.observability.prometheus.evaluationInterval",
                "more than 0s",
            ),
            (
                "rules: [rules.yml]}",
                "rules: [rules.yml], metricsPath: metrics}",
                "spec.target.observability.prometheus.metricsPath",
                "not a path",
            ),
            (
                "- name: web\n",
                "- name: prometheus\n",
                "spec.target.workloads[0].name",
                "rename this one",
            ),
        ];
        for (from, to, path, needle) in cases {
            assert!(base.contains(from), "{from}");
            has(&problems(&base.replacen(from, to, 1)), path, needle);
        }
        let own = with_stack("config: am.yml, groupInterval: 1s");
        has(
            &problems(&own),
            "spec.target.observability.alertmanager.groupInterval",
            "generated configuration only",
        );
        // Without an Alertmanager its workload does not exist.
        let no_am = base.replace("      alertmanager: {}\n", "");
        has(
            &problems(&no_am),
            "spec.detection.signals[0].url",
            "names no workload",
        );
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
    fn http_expectations_name_their_fields() {
        let with = |fields: &str| {
            let doc = VALID.replace(
                "      - {name: api, type: http, url: \"http://{workload.web}/api\"}\n",
                &format!("      - {{name: api, type: http, url: \"http://{{workload.web}}/api\"{fields}}}\n"),
            );
            validate(&parse(&doc))
                .into_iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
        };
        assert!(
            with(", expectStatus: \"2xx, 404\", expectBody: {jsonPath: \"$.a\", equals: [1]}")
                .is_empty()
        );
        assert!(with(", expectBody: {regex: \"ok\"}").is_empty());
        let problems =
            with(", expectStatus: \"299-200\", expectBody: {jsonPath: \"$[\", op: \"<\"}");
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with(
            "spec.steadyState.probes[0].expectStatus: `299-200` is a range from high to low"
        ));
        assert!(
            problems[1]
                .starts_with("spec.steadyState.probes[0].expectBody.jsonPath: not a JSONPath")
        );
        assert!(problems[2].starts_with("spec.steadyState.probes[0].expectBody: with `jsonPath`"));
        let problems = with(", expectBody: {regex: \"(\", equals: 1}");
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].starts_with(
                "spec.steadyState.probes[0].expectBody.regex: not a regular expression"
            )
        );
    }

    #[test]
    fn stop_conditions_have_names_of_their_own_and_name_their_alert() {
        let with = |conditions: &str| {
            let doc = format!("{VALID}{DETECTION}  safety:\n    stopWhen:\n{conditions}");
            validate(&parse(&doc))
                .into_iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
        };
        let good = "      - {name: hurt, type: alertmanager-alert, url: \"http://127.0.0.1:9093\", match: {alertname: HighErrorRate}}\n      - {name: stop, type: webhook, match: {alertname: StopTheDrill}}\n      - {name: burn, type: prometheus-alert, url: \"http://127.0.0.1:9090\", match: {alertname: Burn}, interval: 1s}\n";
        assert_eq!(with(good), Vec::<String>::new());
        let bad = "      - {name: mon, type: webhook, match: {}}\n      - {name: x, type: alertmanager-alert, url: \"ftp://x\", match: {job: a}, timeout: 5s}\n      - {name: x, type: webhook, match: {alertname: A}}\n";
        let problems = with(bad);
        let paths: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.safety.stopWhen[0].name",
                "spec.safety.stopWhen[0].match",
                "spec.safety.stopWhen[1].timeout",
                "spec.safety.stopWhen[1].url",
                "spec.safety.stopWhen[1].match",
                "spec.safety.stopWhen[2].name",
            ],
            "{problems:#?}"
        );
        assert!(problems[0].contains("a detection signal's name too"));
        assert!(problems[5].contains("already the name of spec.safety.stopWhen[1]"));
        // A kind it cannot be is refused when the document is read.
        let doc = format!(
            "{VALID}  safety:\n    stopWhen: [{{name: a, type: probe-fails, probe: api}}]\n"
        );
        assert!(crate::spec::load_str(&doc, "e.yaml").is_err());
    }

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
    fn a_time_scale_is_a_positive_factor_within_the_limit() {
        let with = |scale: &str| format!("{VALID}  response: {{timeScale: {scale}}}\n");
        let exp = parse(&with("60"));
        assert!(validate(&exp).is_empty());
        assert_eq!(exp.spec.response.unwrap().time_scale, 60.0);
        let default = parse(&format!("{VALID}  response: {{}}\n"));
        assert_eq!(default.spec.response.unwrap().time_scale, 1.0);
        for bad in ["0", "-2", "10001", ".nan", ".inf"] {
            let problems = validate(&parse(&with(bad)));
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert_eq!(problems[0].path, "spec.response.timeScale");
            assert!(
                problems[0]
                    .message
                    .contains("not a factor above 0 and at most 10000"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn response_problems_name_their_fields() {
        let doc = format!(
            r#"{VALID}  notification: {{dora: false}}
  response:
    significance: {{availabilityBelow: 1.5}}
    services:
      - {{name: checkout, probes: [api, nope], memberStates: [de]}}
      - {{name: checkout, probes: []}}
    roles:
      - {{name: legal, function: " "}}
      - {{name: legal, function: legal, reach: {{type: chat, url: "ftp://x"}}}}
    decisions:
      - {{id: notify, decision: notify-authority, question: "Why?", decidedBy: ceo, after: {{decision: later}}, budget: 0s}}
      - {{id: later, question: "Post?", answers: [yes], decidedBy: legal, budget: 1h}}
      - {{id: notify, decidedBy: legal, budget: 1h}}
    approvals:
      - {{report: dora-initial-notification, approvedBy: cfo, budget: 1h}}
      - {{report: nis2-final-report, approvedBy: legal, budget: 7d}}
"#
        );
        let problems = validate(&parse(&doc));
        let found: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        let paths: Vec<&str> = found.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                "spec.notification",
                "spec.response.decisions",
                "spec.response.roles[1].name",
                "spec.response.roles[0].function",
                "spec.response.roles[1].reach.url",
                "spec.response.decisions[0].decidedBy",
                "spec.response.decisions[0].after.decision",
                "spec.response.decisions[0].question",
                "spec.response.decisions[0].budget",
                "spec.response.decisions[1].answers",
                "spec.response.decisions[2].id",
                "spec.response.decisions[2]",
                "spec.response.approvals[0].report",
                "spec.response.approvals[0].approvedBy",
                "spec.response.approvals[1].report",
                "spec.response.services[0].probes[1]",
                "spec.response.services[0].memberStates[0]",
                "spec.response.services[1].name",
                "spec.response.services[1].probes",
                "spec.response.significance.availabilityBelow",
            ],
            "{found:#?}"
        );
        let says = |path: &str| found.iter().find(|(p, _)| *p == path).unwrap().1;
        assert!(
            says("spec.response.decisions[0].after.decision")
                .contains("not listed before this point")
        );
        assert_eq!(
            says("spec.response.decisions[0].decidedBy"),
            "no role is named `ceo`; the roles are legal, legal"
        );
        assert!(says("spec.response.decisions[1].answers").contains("at least two answers"));
        assert!(says("spec.response.approvals[0].report").contains("notification.dora: true"));
        assert!(
            says("spec.response.approvals[1].report")
                .contains("runs from the submission of the NIS2 incident notification")
        );
    }

    #[test]
    fn runbook_rules_answer_only_unattended_runs_and_only_what_is_allowed() {
        let with = |responders: &str, rules: &str| {
            let doc = format!(
                "{VALID}{DETECTION}  response:\n    responders: {responders}\n    roles: [{{name: ic, function: cyber}}]\n    decisions:\n      - {{id: s, decision: contain-or-observe, decidedBy: ic, budget: 1h{rules}}}\n"
            );
            validate(&parse(&doc))
                .into_iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            with(
                "runbook",
                ", runbook: [{answer: Contain, when: {availabilityBelow: 0.9, failedProbe: api}, for: 5m}]"
            ),
            Vec::<String>::new()
        );
        let problems = with(
            "runbook",
            ", runbook: [{answer: yes, when: {availabilityBelow: 0, failedProbe: nope}}]",
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("spec.response.decisions[0].runbook[0].answer: `yes` is not an allowed answer: write one of contain, observe"), "{problems:?}");
        assert!(
            problems[1].starts_with("spec.response.decisions[0].runbook[0].when.availabilityBelow"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("spec.response.decisions[0].runbook[0].when.failedProbe"),
            "{problems:?}"
        );
        assert_eq!(
            with("runbook", ""),
            [
                "spec.response.decisions[0].runbook: with responders: runbook, every decision needs at least one rule, such as {answer: yes, when: {availabilityBelow: 0.9}, for: 5m}"
            ]
        );
        assert_eq!(
            with("people", ", runbook: [{answer: contain}]"),
            [
                "spec.response.decisions[0].runbook: rules answer only when spec.response.responders is runbook; people answer this drill"
            ]
        );
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
    fn kubernetes_object_probes_name_their_problems() {
        let probe = "{name: up, type: workload-available, workload: web}";
        let good = r#"{name: up, type: kubernetes-object, apiVersion: example.com/v1, kind: Widget, namespace: shop, objectName: orders, expect: {condition: {type: Ready, status: "True"}}}"#;
        assert_eq!(kube_problems(probe, good), vec![]);
        let by_labels = r#"{name: up, type: kubernetes-object, apiVersion: v1, kind: Pod, namespace: shop, matchLabels: {app: web}, expect: {field: {jsonPath: "$.status.phase", equals: Running}}}"#;
        assert_eq!(kube_problems(probe, by_labels), vec![]);
        let p = "spec.steadyState.probes[0]";
        let problems = kube_problems(
            probe,
            r#"{name: up, type: kubernetes-object, apiVersion: Example.com/v1, kind: widget, namespace: billing, objectName: orders, matchLabels: {app: x}, expect: {condition: {type: " ", status: "True", reason: ""}}}"#,
        );
        has(
            &problems,
            &format!("{p}.apiVersion"),
            "is not an API version",
        );
        has(&problems, &format!("{p}.kind"), "`widget` is not a kind");
        has(
            &problems,
            &format!("{p}.namespace"),
            "`billing` is not in spec.target.namespaces",
        );
        has(&problems, p, "not both");
        has(
            &problems,
            &format!("{p}.expect.condition.type"),
            "must not be empty",
        );
        has(
            &problems,
            &format!("{p}.expect.condition.reason"),
            "leave it out",
        );
        let problems = kube_problems(
            probe,
            r#"{name: up, type: kubernetes-object, apiVersion: apps/v1, kind: Deployment, namespace: shop, expect: {field: {jsonPath: "$[", op: ">"}}}"#,
        );
        has(
            &problems,
            p,
            "give `objectName` (one object) or `matchLabels`",
        );
        has(
            &problems,
            &format!("{p}.expect.field.jsonPath"),
            "not a JSONPath",
        );
        has(&problems, &format!("{p}.expect.field"), "give `equals`");
        let problems = problems_with(
            "{name: api, type: http, url: \"http://{workload.web}/api\"}",
            good,
        );
        has(
            &problems,
            &format!("{p}.type"),
            "acts on the kubernetes platform",
        );
    }

    #[test]
    fn security_drills_name_their_problems() {
        let detection = "  detection:\n    signals:\n      - {name: siem, type: webhook, match: {alertname: Canary}}\n";
        let with = |faults: &str, detection: &str| {
            problems_in(
                KUBE,
                "  faults:\n",
                &format!("{detection}  faults:\n{faults}"),
            )
        };
        let good = "    - {name: a, type: canary-secret-read, namespace: shop, detectedBy: [siem]}
    - {name: b, type: canary-dns-lookup, select: {mode: one, workload: web}, domain: firedrill-canary.example.com}
    - {name: c, type: canary-denied-requests, namespace: shop, count: 5}
    - {name: d, type: prevent-privileged-pod, namespace: shop}
    - {name: e, type: prevent-host-path, namespace: shop, path: /etc}
    - {name: f, type: prevent-pod-security, namespace: shop, level: restricted}
    - {name: g, type: prevent-secret-read, namespace: shop, secret: db-credentials, serviceAccount: web}
";
        assert_eq!(with(good, detection), vec![]);

        // A canary with nothing waiting for it.
        let p = with(
            "    - {name: a, type: canary-secret-read, namespace: shop}\n",
            "",
        );
        has(&p, "spec.faults[0].type", "needs spec.detection");

        let bad = "    - {name: a, type: canary-secret-read, namespace: other, secret: Not_A_Name, reads: 0, detectedBy: [siem, pager]}
    - {name: b, type: canary-dns-lookup, select: {mode: one, workload: web}, domain: evil.example.com}
    - {name: c, type: canary-dns-lookup, select: {mode: one, workload: web}, domain: 'bad domain'}
    - {name: d, type: canary-denied-requests, namespace: shop, count: 501}
    - {name: e, type: prevent-host-path, namespace: shop, path: etc, image: 'two words'}
    - {name: f, type: prevent-secret-read, namespace: shop, secret: db, serviceAccount: Web_App}
";
        let p = with(bad, detection);
        has(
            &p,
            "spec.faults[0].namespace",
            "not in spec.target.namespaces",
        );
        has(&p, "spec.faults[0].secret", "not an object name");
        has(&p, "spec.faults[0].reads", "write 1 to 100");
        has(
            &p,
            "spec.faults[0].detectedBy[1]",
            "no detection signal is named `pager`",
        );
        has(&p, "spec.faults[1].domain", "does not carry the marker");
        has(&p, "spec.faults[2].domain", "is not a DNS name");
        has(&p, "spec.faults[3].count", "write 1 to 500");
        has(&p, "spec.faults[4].path", "not an absolute path");
        has(&p, "spec.faults[4].image", "not an image reference");
        has(&p, "spec.faults[5].serviceAccount", "not an object name");
        assert_eq!(p.len(), 10, "{p:#?}");

        // The local canaries belong to the local platform.
        let p = with(
            "    - {name: a, type: canary-request, url: http://127.0.0.1:1/x, detectedBy: [siem]}\n",
            detection,
        );
        has(&p, "spec.faults[0].type", "local");
    }

    #[test]
    fn configuration_credential_and_container_faults_name_their_problems() {
        let fault = |yaml: &str| format!("    - {yaml}\n");
        let with =
            |yaml: &str| problems_in(KUBE, "  faults:\n", &format!("  faults:\n{}", fault(yaml)));
        assert_eq!(
            with(
                "{name: c, type: config-change, namespace: shop, configMap: web-config, set: {MODE: slow}, remove: [TTL], restartWorkload: web, duration: 1s}"
            ),
            vec![]
        );
        let p = with(
            "{name: c, type: config-change, namespace: other, configMap: Web_Config, set: {'bad key': x, MODE: slow}, remove: [MODE, TTL, TTL], restartWorkload: db, duration: 0s}",
        );
        has(
            &p,
            "spec.faults[0].namespace",
            "not in spec.target.namespaces",
        );
        has(&p, "spec.faults[0].configMap", "not an object name");
        has(&p, "spec.faults[0].set.bad key", "not a valid key");
        has(&p, "spec.faults[0].remove[0]", "also in `set`");
        has(&p, "spec.faults[0].remove[2]", "listed twice");
        has(&p, "spec.faults[0].restartWorkload", "Pod workload");
        has(&p, "spec.faults[0].duration", "more than 0s");
        has(
            &with("{name: c, type: config-change, namespace: shop, configMap: cfg, duration: 1s}"),
            "spec.faults[0]",
            "changes nothing",
        );
        assert_eq!(
            with(
                "{name: r, type: secret-rotate, namespace: shop, secret: db, key: password, valueFromEnv: NEW_PASSWORD, duration: 1s}"
            ),
            vec![]
        );
        has(
            &with(
                "{name: r, type: secret-rotate, namespace: shop, secret: db, key: password, valueFromEnv: 1-bad, duration: 1s}",
            ),
            "spec.faults[0].valueFromEnv",
            "not an environment variable name",
        );
        assert_eq!(
            with(
                "{name: r, type: secret-revoke, namespace: shop, secret: db, deleteSecret: true, duration: 1s}"
            ),
            vec![]
        );
        has(
            &with(
                "{name: r, type: secret-revoke, namespace: shop, secret: db, key: k, deleteSecret: true, duration: 1s}",
            ),
            "spec.faults[0].key",
            "exclude each other",
        );
        has(
            &with("{name: r, type: secret-revoke, namespace: shop, secret: db, duration: 1s}"),
            "spec.faults[0]",
            "revokes nothing",
        );
        assert_eq!(
            with(
                "{name: k, type: container-kill, select: {mode: one, workload: web}, container: app, signal: SIGTERM}"
            ),
            vec![]
        );
        let p = with(
            "{name: k, type: container-kill, select: {mode: one, workload: web}, container: App, signal: SIGKILL, command: [pkill, java]}",
        );
        has(&p, "spec.faults[0].container", "not a container name");
        has(&p, "spec.faults[0].signal", "never reaches PID 1");
        has(&p, "spec.faults[0].command", "exclude each other");
        // A secret value has no field to be written in.
        let text = KUBE.replace(
            "  faults:\n",
            &format!(
                "  faults:\n{}",
                fault("{name: r, type: secret-rotate, namespace: shop, secret: db, key: k, value: hunter2, duration: 1s}")
            ),
        );
        assert!(serde_saphyr::from_str::<Experiment>(&text).is_err());
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
    fn a_dependency_fault_match_is_checked_field_by_field() {
        const FAULT: &str = "type: process-kill\n      select: {mode: one, workload: web}";
        let with = |fault: &str| {
            let doc = VALID
                .replace(
                    "        replicas: 2\n",
                    "        replicas: 2\n    dependencies:\n      - {name: db, upstream: \"{workload.web}\"}\n",
                )
                .replace(FAULT, fault);
            problems_in(&doc, "kill-one", "dep")
        };
        let errors =
            "type: dependency-errors\n      dependency: db\n      rate: 0.5\n      duration: 1s";
        assert_eq!(
            with(&format!(
                "{errors}\n      match: {{method: POST, pathPrefix: /pay, pathRegex: '^/pay/[0-9]+$', header: {{name: x-tenant, value: blue}}}}"
            )),
            vec![]
        );
        let problems = with(&format!(
            "{errors}\n      match: {{method: '', pathPrefix: pay, pathRegex: '/pay/(', header: {{name: 'x tenant', value: a}}}}"
        ));
        has(&problems, "spec.faults[0].match.method", "is empty");
        has(
            &problems,
            "spec.faults[0].match.pathPrefix",
            "does not start with /",
        );
        has(
            &problems,
            "spec.faults[0].match.pathRegex",
            "is not a regular expression",
        );
        has(
            &problems,
            "spec.faults[0].match.header.name",
            "is not a header name",
        );
        assert_eq!(problems.len(), 4, "{problems:#?}");
        has(
            &with(&format!("{errors}\n      match: {{}}")),
            "spec.faults[0].match",
            "names no condition",
        );
        let latency = "type: dependency-latency\n      dependency: db\n      latency: 100ms\n      duration: 1s\n      match: {pathPrefix: /pay}";
        has(
            &with(latency),
            "spec.faults[0].match",
            "needs perRequest: true",
        );
        assert_eq!(with(&format!("{latency}\n      perRequest: true")), vec![]);
    }

    #[test]
    fn kubernetes_dependency_faults_need_a_dependency_with_a_proxy() {
        const WORKLOADS: &str = "kind: Pod, matchLabels: {app: db}}\n";
        const FAULT: &str = "type: pod-delete\n      select: {mode: one, workload: web}";
        let dep = |d: &str| format!("{WORKLOADS}    dependencies:\n      - {d}\n");
        let latency = "type: dependency-latency\n      dependency: db\n      latency: 100ms\n      duration: 1s";
        let valid = dep(
            "{name: db, namespace: shop, service: db, ports: [5432], proxy: {image: registry.example/firedrill:1}}",
        );
        let both = |d: &str, f: &str| {
            let doc = KUBE.replace(WORKLOADS, d).replace(FAULT, f);
            validate(&parse(&doc))
                .into_iter()
                .map(|p| (p.path, p.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(both(&valid, latency), vec![]);
        let problems = both(&dep("{name: db, namespace: shop, service: db}"), latency);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "spec.faults[0].dependency");
        assert!(
            problems[0]
                .1
                .contains("spec.target.dependencies[0].proxy.image")
        );
        let problems = both(
            &valid,
            &latency.replace("dependency: db", "dependency: cache"),
        );
        assert_eq!(problems[0].0, "spec.faults[0].dependency");
        assert!(
            problems[0]
                .1
                .contains("no dependency is named `cache`; known: `db`"),
            "{problems:?}"
        );
        let problems = both(
            &dep(
                "{name: db, namespace: billing, service: Db, ports: [0, 5432, 5432], proxy: {image: ' ', readyTimeout: 0s}}",
            ),
            FAULT,
        );
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.target.dependencies[0].namespace",
                "spec.target.dependencies[0].service",
                "spec.target.dependencies[0].ports[0]",
                "spec.target.dependencies[0].ports[2]",
                "spec.target.dependencies[0].proxy.image",
                "spec.target.dependencies[0].proxy.readyTimeout",
            ]
        );
    }
    #[test]
    fn network_and_node_faults_name_their_fields() {
        let fault = "type: pod-delete\n      select: {mode: one, workload: web}";
        let block = |dest: &str| {
            format!(
                "type: egress-block\n      select: {{mode: one, workload: web}}\n      destination: {dest}\n      duration: 5s"
            )
        };
        assert_eq!(
            kube_problems(fault, &block("{type: cidr, cidr: 10.0.5.0/24, port: 5432}")),
            vec![]
        );
        assert_eq!(
            kube_problems(
                fault,
                &block("{type: pods, namespace: data, matchLabels: {app: db}}")
            ),
            vec![]
        );
        assert_kube(
            fault,
            &block("{type: cidr, cidr: 10.0.5.1/24}"),
            "spec.faults[0].destination.cidr",
            "host bits set: the range starts at 10.0.5.0/24",
        );
        assert_kube(
            fault,
            &block("{type: cidr, cidr: 10.0.5.1}"),
            "spec.faults[0].destination.cidr",
            "not in CIDR notation",
        );
        assert_kube(
            fault,
            &block("{type: cidr, cidr: 0.0.0.0/0}"),
            "spec.faults[0].destination.cidr",
            "use a quarantine fault",
        );
        assert_kube(
            fault,
            &block("{type: cidr, cidr: fd00::/64, port: 0}"),
            "spec.faults[0].destination.port",
            "write 1 to 65535",
        );
        assert_kube(
            fault,
            &block("{type: pods, namespace: Data}"),
            "spec.faults[0].destination.namespace",
            "",
        );
        assert_kube(
            fault,
            "type: dns-outage\n      select: {mode: one, workload: web}\n      dns: {namespace: kube-system, matchLabels: {k8s-app: \"a b\"}}\n      duration: 5s",
            "spec.faults[0].dns.matchLabels.k8s-app",
            "not a label value",
        );
        assert_kube(
            fault,
            "type: dns-outage\n      select: {mode: one, workload: web}\n      duration: 0s",
            "spec.faults[0].duration",
            "",
        );
        let drain =
            "type: node-drain\n      node: {type: of-workload, workload: web}\n      duration: 5s";
        assert_kube(
            fault,
            drain,
            "spec.faults[0].type",
            "set spec.target.allowNodeFaults: true",
        );
        let allowed = |from: &str, to: &str| {
            problems_in(
                &KUBE.replace(
                    "namespaces: [shop]",
                    "namespaces: [shop]\n    allowNodeFaults: true",
                ),
                from,
                to,
            )
        };
        assert_eq!(allowed(fault, drain), vec![]);
        assert_eq!(
            allowed(
                fault,
                "type: node-cordon\n      node: {type: named, name: node-1}\n      duration: 5s"
            ),
            vec![]
        );
        assert_eq!(
            allowed(
                fault,
                "type: node-cordon\n      node: {type: of-workload, workload: nope}\n      duration: 5s"
            )
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
            vec!["spec.faults[0].node.workload"]
        );
    }

    #[test]
    fn cidrs_are_parsed_as_kubernetes_writes_them() {
        assert_eq!(
            parse_cidr("10.0.5.0/24").unwrap(),
            ("10.0.5.0".parse().unwrap(), 24)
        );
        assert_eq!(parse_cidr("fd00::/64").unwrap().1, 64);
        assert!(parse_cidr("10.0.5.7/32").is_ok());
        assert!(parse_cidr("10.0.5.0/33").is_err());
        assert!(parse_cidr("nonsense/8").is_err());
    }

    #[test]
    fn cidr_errors_read_as_the_validation_messages() {
        let message = |text| parse_cidr(text).unwrap_err().to_string();
        assert_eq!(
            message("10.0.5.0"),
            "`10.0.5.0` is not in CIDR notation: write ADDRESS/PREFIX, e.g. 10.0.5.0/24 or 10.0.5.7/32"
        );
        assert_eq!(
            message("nonsense/8"),
            "`nonsense` in `nonsense/8` is not an IP address"
        );
        assert_eq!(
            message("10.0.5.0/33"),
            "`33` in `10.0.5.0/33` is not a prefix length from 0 to 32"
        );
        assert_eq!(
            message("fd00::1/64"),
            "`fd00::1/64` has host bits set: the range starts at fd00::/64"
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
