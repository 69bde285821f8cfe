//! Experiment documents for the black-box tests, built up section by section and written
//! out as the YAML a user would write.
//!
//! A preset gives the target, probes and pacing a group of tests shares
//! ([`Experiment::kubernetes`], [`Experiment::demo`], [`Experiment::local`]); a test then
//! changes what it is about (its faults, detection, recovery, safety or any extra section)
//! and takes the text with [`Experiment::yaml`]. Sections are given as the lines they are in
//! the document, so that a test reads like the experiment it runs.

#![allow(dead_code)]

/// The probe of [`Experiment::demo`]: the demo service's API through its workload address.
pub const DEMO_API_PROBE: &str = r#"{name: api, type: http, url: "http://{workload.web}/api", timeout: 200ms, maxLatency: 30ms, minSuccessRatio: 0.8}"#;

/// The probe of [`Experiment::kubernetes`]: the Deployment `shop/web` is available.
pub const WEB_AVAILABLE: &str =
    "{name: web-available, type: workload-available, workload: web, timeout: 1s}";

/// An experiment document under construction.
#[derive(Debug, Clone)]
pub struct Experiment {
    name: String,
    target: String,
    interval: String,
    baseline: String,
    probes: Vec<String>,
    detection: Option<String>,
    recovery: Option<String>,
    safety: Option<String>,
    faults: String,
    extra: Vec<String>,
}

impl Experiment {
    /// An experiment named `name` whose `target:` section holds `target` (its lines,
    /// indented under `target:`), probing every 20 ms after a 200 ms baseline, with no
    /// probe, fault or other section yet.
    pub fn new(name: &str, target: &str) -> Self {
        Experiment {
            name: name.to_owned(),
            target: with_newline(target),
            interval: "20ms".to_owned(),
            baseline: "200ms".to_owned(),
            probes: Vec::new(),
            detection: None,
            recovery: None,
            safety: None,
            faults: String::new(),
            extra: Vec::new(),
        }
    }

    /// The kubernetes platform on namespace `shop` and its Deployment `web`, probed by
    /// [`WEB_AVAILABLE`], recovered when stable for 200 ms within 20 s: the cluster of
    /// `kuberun::cluster`.
    pub fn kubernetes(name: &str) -> Self {
        Self::new(
            name,
            "    platform: kubernetes\n    namespaces: [shop]\n    workloads:\n      - {name: web, namespace: shop, kind: Deployment, objectName: web}",
        )
        .probe(WEB_AVAILABLE)
        .recovery("{stableFor: 200ms, timeout: 20s}")
    }

    /// The local platform with these `workloads:` entries (their lines, indented as list
    /// items under `workloads:`).
    pub fn local(name: &str, workloads: &str) -> Self {
        Self::new(
            name,
            &format!(
                "    platform: local\n    workloads:\n{}",
                workloads.trim_end()
            ),
        )
    }

    /// The demo service as workload `web` of `replicas` processes, tagged with `marker` so
    /// that the test finds them, probed through its service by [`DEMO_API_PROBE`].
    pub fn demo(marker: &str, replicas: u32) -> Self {
        Self::local(
            "test",
            &format!(
                r#"      - name: web
        command: ["{{firedrill}}", demo, serve, --port, "{{port}}", --name, "{marker}"]
        replicas: {replicas}
        readiness: {{type: http, path: /health, period: 10ms}}"#
            ),
        )
        .baseline("300ms")
        .probe(DEMO_API_PROBE)
    }

    /// Renames the experiment.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Lines added at the end of the `target:` section (dependencies, node faults allowed...).
    pub fn target_lines(mut self, lines: &str) -> Self {
        self.target.push_str(&with_newline(lines));
        self
    }

    /// The probing interval of the steady state.
    pub fn interval(mut self, interval: &str) -> Self {
        self.interval = interval.to_owned();
        self
    }

    /// How long the baseline lasts.
    pub fn baseline(mut self, baseline: &str) -> Self {
        self.baseline = baseline.to_owned();
        self
    }

    /// Adds a probe, written as one flow mapping (`{name: ..., type: ...}`).
    pub fn probe(mut self, probe: &str) -> Self {
        self.probes.push(probe.to_owned());
        self
    }

    /// Replaces the probes with these, in this order.
    pub fn probes(mut self, probes: &[&str]) -> Self {
        self.probes = probes.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// The `detection:` section, as its lines indented under `detection:`.
    pub fn detection(mut self, lines: &str) -> Self {
        self.detection = Some(lines.trim_end().to_owned());
        self
    }

    /// A detection section that gives up after `timeout`, with these `signals:` entries
    /// (their lines, indented as list items under `signals:`).
    pub fn signals(self, timeout: &str, signals: &str) -> Self {
        self.detection(&format!(
            "    timeout: {timeout}\n    signals:\n{}",
            signals.trim_end()
        ))
    }

    /// The `recovery:` section, as a flow mapping.
    pub fn recovery(mut self, recovery: &str) -> Self {
        self.recovery = Some(recovery.to_owned());
        self
    }

    /// No `recovery:` section: the run's defaults.
    pub fn default_recovery(mut self) -> Self {
        self.recovery = None;
        self
    }

    /// The `safety:` section, as a flow mapping.
    pub fn safety(mut self, safety: &str) -> Self {
        self.safety = Some(safety.to_owned());
        self
    }

    /// The `faults:` list, as its lines (`    - {name: ..., type: ...}`).
    pub fn faults(mut self, lines: &str) -> Self {
        self.faults = lines.trim_end().to_owned();
        self
    }

    /// Other lines of `spec` (indented by two spaces), written after everything else;
    /// empty lines are left out.
    pub fn extra(mut self, lines: &str) -> Self {
        if !lines.trim().is_empty() {
            self.extra.push(lines.trim_end().to_owned());
        }
        self
    }

    /// The document.
    pub fn yaml(&self) -> String {
        let mut doc = format!(
            "apiVersion: firedrill.dev/v1alpha1\nkind: Experiment\nmetadata: {{name: {}}}\nspec:\n  target:\n{}  steadyState:\n    interval: {}\n    baseline: {}\n    probes:\n",
            self.name, self.target, self.interval, self.baseline
        );
        for probe in &self.probes {
            doc.push_str(&format!("      - {probe}\n"));
        }
        if let Some(detection) = &self.detection {
            doc.push_str(&format!("  detection:\n{detection}\n"));
        }
        if let Some(recovery) = &self.recovery {
            doc.push_str(&format!("  recovery: {recovery}\n"));
        }
        if let Some(safety) = &self.safety {
            doc.push_str(&format!("  safety: {safety}\n"));
        }
        doc.push_str(&format!("  faults:\n{}\n", self.faults));
        for lines in &self.extra {
            doc.push_str(lines);
            doc.push('\n');
        }
        doc
    }
}

fn with_newline(lines: &str) -> String {
    let lines = lines.trim_end();
    if lines.is_empty() {
        String::new()
    } else {
        format!("{lines}\n")
    }
}
