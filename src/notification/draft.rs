//! The content of each draft, built from what the run knows at awareness. Pure: no clock,
//! no I/O, so that every field can be tested against the facts it was given.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::spec::Notification;
use crate::time::Timestamp;

/// The kinds of draft: the reports the law asks for.
pub use crate::spec::Report as DraftKind;

/// The title, watermarked.
pub fn title(kind: DraftKind) -> &'static str {
    match kind {
        DraftKind::Nis2EarlyWarning => "EXERCISE: NIS2 early warning",
        DraftKind::Nis2IncidentNotification => {
            "EXERCISE: NIS2 incident notification (initial assessment)"
        }
        DraftKind::Nis2FinalReport => "EXERCISE: NIS2 final report",
        DraftKind::DoraInitialNotification => "EXERCISE: DORA initial notification (outline)",
        DraftKind::DoraIntermediateReport => "EXERCISE: DORA intermediate report (outline)",
        DraftKind::DoraFinalReport => "EXERCISE: DORA final report (outline)",
    }
}

/// What the law asks and by when, citing only docs' regulatory references.
pub fn legal_basis(kind: DraftKind) -> &'static str {
    match kind {
        DraftKind::Nis2EarlyWarning => {
            "Directive (EU) 2022/2555 (NIS2), Article 23(4)(a): an early warning within 24 hours of becoming aware of the significant incident"
        }
        DraftKind::Nis2IncidentNotification => {
            "Directive (EU) 2022/2555 (NIS2), Article 23(4)(b): an incident notification within 72 hours of becoming aware, updating the early warning"
        }
        DraftKind::Nis2FinalReport => {
            "Directive (EU) 2022/2555 (NIS2), Article 23(4)(d): a final report within one month of the incident notification (severity and impact, type of threat or root cause, applied and ongoing mitigation, cross-border impact)"
        }
        DraftKind::DoraInitialNotification => {
            "Regulation (EU) 2022/2554 (DORA), Article 19, with RTS (EU) 2025/301, Article 5: an initial notification within 4 hours of classification as major and within 24 hours of becoming aware"
        }
        DraftKind::DoraIntermediateReport => {
            "Regulation (EU) 2022/2554 (DORA), Article 19, with RTS (EU) 2025/301, Article 5: an intermediate report within 72 hours of the initial notification"
        }
        DraftKind::DoraFinalReport => {
            "Regulation (EU) 2022/2554 (DORA), Article 19, with RTS (EU) 2025/301, Article 5: a final report within one month of the latest intermediate report"
        }
    }
}

/// The field that names the report a draft updates, for the kinds that update one.
fn updates_field(kind: DraftKind) -> Option<(&'static str, &'static str)> {
    match kind {
        DraftKind::Nis2IncidentNotification => {
            Some(("updatesEarlyWarning", "Updates the early warning"))
        }
        DraftKind::Nis2FinalReport => Some((
            "updatesIncidentNotification",
            "Follows the incident notification",
        )),
        DraftKind::DoraIntermediateReport => Some((
            "updatesInitialNotification",
            "Updates the initial notification",
        )),
        DraftKind::DoraFinalReport => Some((
            "updatesIntermediateReport",
            "Follows the intermediate report",
        )),
        _ => None,
    }
}

/// A distance in exercise time, run at a time scale: the distance divided by the scale.
fn scaled(d: Duration, time_scale: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() / time_scale).unwrap_or(d)
}

/// How far a field's value can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldStatus {
    /// Measured or declared; the evidence says where.
    Known,
    /// Inferred from what is known; the note says how.
    Estimated,
    /// Not something this run knows; the value is null.
    Unknown,
}

impl FieldStatus {
    /// The status as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Known => "known",
            Self::Estimated => "estimated",
            Self::Unknown => "unknown",
        }
    }
}

/// One field of a draft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// A stable camelCase key, such as `suspectedMalicious`.
    pub key: String,
    /// The label shown to people.
    pub label: String,
    /// The value; null when unknown.
    pub value: Value,
    /// Known, estimated or unknown.
    pub status: FieldStatus,
    /// The `seq` of each journal record the value rests on.
    pub evidence: Vec<u64>,
    /// How the value was obtained, or why it is not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A notification draft, as written to `notifications/iteration-N-KIND.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Draft {
    /// Always true: a drill never produces a real notification.
    pub exercise: bool,
    /// The title, starting with EXERCISE.
    pub title: String,
    /// Which draft.
    pub kind: DraftKind,
    /// The provision and its deadline.
    pub legal_basis: String,
    /// The experiment's name.
    pub experiment: String,
    /// The run's id.
    pub run_id: String,
    /// The iteration whose detection is the awareness.
    pub iteration: u32,
    /// Awareness: the iteration's first detection, RFC 3339 UTC.
    pub awareness_at: Timestamp,
    /// When the draft is due, RFC 3339 UTC: the legal deadline after awareness, run at the
    /// exercise's time scale.
    pub deadline_at: Timestamp,
    /// How many times faster than real time the legal clocks ran (`spec.response.timeScale`):
    /// at 60 a 24 h deadline falls 24 min after awareness.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub time_scale: f64,
    /// When the draft was prepared, RFC 3339 UTC.
    pub drafted_at: Timestamp,
    /// The fields, in the order a person would fill them.
    pub fields: Vec<Field>,
}

impl Draft {
    /// How many fields are known, estimated and unknown.
    pub fn counts(&self) -> (u32, u32, u32) {
        let count = |s: FieldStatus| self.fields.iter().filter(|f| f.status == s).count() as u32;
        (
            count(FieldStatus::Known),
            count(FieldStatus::Estimated),
            count(FieldStatus::Unknown),
        )
    }

    /// The mandatory flags of an early warning that it leaves unknown; empty for other kinds.
    pub fn mandatory_flags_missing(&self) -> Vec<String> {
        if self.kind != DraftKind::Nis2EarlyWarning {
            return Vec::new();
        }
        self.fields
            .iter()
            .filter(|f| MANDATORY_FLAGS.contains(&f.key.as_str()))
            .filter(|f| f.status == FieldStatus::Unknown)
            .map(|f| f.key.clone())
            .collect()
    }

    /// The field with this key.
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }
}

/// The flags NIS2 Art. 23(4)(a) asks the early warning to state.
const MANDATORY_FLAGS: [&str; 2] = ["suspectedMalicious", "crossBorderImpact"];

/// One fault of the iteration as the journal records it.
#[derive(Clone, Debug, Default)]
pub struct IncidentFault {
    /// The fault's name.
    pub name: String,
    /// Its type, such as `process-pause`.
    pub fault_type: String,
    /// What it acted on, such as `web/1`.
    pub targets: Vec<String>,
    /// Its `fault-intent` and `fault-injected` records.
    pub evidence: Vec<u64>,
}

/// What the run knows at awareness, and the journal records each fact rests on.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The experiment's name.
    pub experiment: String,
    /// The run's id.
    pub run_id: String,
    /// The iteration.
    pub iteration: u32,
    /// The record naming the experiment file (`run-started`), for what the experiment declares.
    pub declared_seq: u64,
    /// Awareness: the first detection.
    pub awareness_at: Timestamp,
    /// The signal that detected it.
    pub detected_by: String,
    /// The signal's type, such as `probe-fails` or `webhook`.
    pub detection_type: String,
    /// The `detected` record and, for a webhook, the `alert-received` record.
    pub detection_evidence: Vec<u64>,
    /// The first injection, the incident's start.
    pub started_at: Option<Timestamp>,
    /// The faults injected before awareness.
    pub faults: Vec<IncidentFault>,
    /// Replicas of each workload, for "N of M replicas".
    pub replicas: BTreeMap<String, usize>,
    /// Probes that failed at least once between injection and awareness.
    pub failed_probes: Vec<String>,
    /// Probe observations between injection and awareness.
    pub observations: u64,
    /// Of which failed.
    pub failures: u64,
    /// Time the steady state did not hold between injection and awareness.
    pub outage: Duration,
    /// The `observations-summarised` record of these figures.
    pub observations_seq: Option<u64>,
    /// Whether the steady state had not come back at awareness.
    pub ongoing: bool,
    /// How many times faster than real time the legal clocks run (`spec.response.timeScale`).
    pub time_scale: f64,
    /// When the observation figures end: `None` at awareness, or a later moment for a report
    /// drafted later (a final or intermediate report).
    pub observed_until: Option<Timestamp>,
}

fn one() -> f64 {
    1.0
}

fn is_one(scale: &f64) -> bool {
    (*scale - 1.0).abs() < f64::EPSILON
}

/// The report a draft updates or follows: its file and journal record, and when it was
/// submitted (its clock's start for the reports that run from it).
#[derive(Clone, Copy, Debug)]
pub struct Earlier<'a> {
    /// Its file, relative to the results folder.
    pub file: &'a str,
    /// Its `notification-drafted` (or approval) record.
    pub seq: u64,
    /// When it was submitted, for a report whose clock runs from that.
    pub submitted_at: Option<Timestamp>,
}

/// The draft of `kind` for `incident`. `earlier` is the report it updates: the early
/// warning for an incident notification, the submitted report a final or intermediate
/// report's clock runs from.
pub fn build(
    kind: DraftKind,
    incident: &Incident,
    spec: &Notification,
    drafted_at: Timestamp,
    earlier: Option<Earlier<'_>>,
) -> Draft {
    let f = Facts { incident, spec };
    let mut fields = Vec::new();
    if let Some((key, label)) = updates_field(kind) {
        fields.push(match earlier {
            Some(e) => known(key, label, json!(e.file), vec![e.seq]),
            None => unknown(
                key,
                label,
                "the report it updates could not be written in this iteration",
            ),
        });
    }
    let clock_from = match (kind.follows(), earlier.and_then(|e| e.submitted_at)) {
        (Some(_), Some(submitted)) => submitted,
        _ => incident.awareness_at,
    };
    let deadline_at = clock_from + scaled(kind.span(), incident.time_scale);
    let mut deadline_evidence = incident.detection_evidence.clone();
    if kind.follows().is_some() {
        deadline_evidence = earlier.map(|e| vec![e.seq]).unwrap_or_default();
    }
    fields.extend([f.entity_name(), f.sector(), f.member_states()]);
    fields.push(f.awareness());
    let mut deadline = known(
        "deadline",
        "Deadline",
        json!(deadline_at),
        deadline_evidence,
    );
    if let Some(e) = kind.follows() {
        deadline.note = Some(format!(
            "{} after the submission of {}",
            humantime::format_duration(kind.span()),
            e.label()
        ));
    }
    fields.push(deadline);
    if kind.is_dora() {
        fields.push(unknown(
            "classifiedAsMajorAt",
            "Classified as major at",
            "classification as major is the entity's judgement, which a drill cannot make; the initial notification is due within 4 hours of it, and within 24 hours of awareness in any case",
        ));
    } else {
        fields.push(f.suspected_malicious());
        fields.push(f.cross_border());
    }
    fields.extend([
        f.started(),
        f.detection(),
        f.services_affected(),
        f.affected_targets(),
        f.availability(),
    ]);
    if kind != DraftKind::Nis2EarlyWarning {
        fields.push(f.outage());
        fields.push(f.ongoing());
    }
    if matches!(
        kind,
        DraftKind::Nis2IncidentNotification | DraftKind::Nis2FinalReport
    ) {
        fields.push(unknown(
            "severity",
            "Severity",
            "the severity and significance of an incident are a legal judgement that a drill cannot evidence; the measured impact is in the fields above",
        ));
    }
    if kind == DraftKind::Nis2IncidentNotification {
        fields.push(unknown(
            "indicatorsOfCompromise",
            "Indicators of compromise",
            "none available: the drill injected faults and observed no adversary",
        ));
    }
    if kind.follows().is_some() {
        fields.push(f.root_cause());
        fields.push(unknown(
            "mitigation",
            "Mitigation applied and ongoing",
            "the measures taken are the organisation's to state; the drill records only whether the steady state came back (Ongoing above)",
        ));
    }
    Draft {
        exercise: true,
        title: title(kind).to_owned(),
        kind,
        legal_basis: legal_basis(kind).to_owned(),
        experiment: incident.experiment.clone(),
        run_id: incident.run_id.clone(),
        iteration: incident.iteration,
        awareness_at: incident.awareness_at,
        deadline_at,
        time_scale: incident.time_scale,
        drafted_at,
        fields,
    }
}

fn field(
    key: &str,
    label: &str,
    value: Value,
    status: FieldStatus,
    evidence: Vec<u64>,
    note: Option<String>,
) -> Field {
    Field {
        key: key.to_owned(),
        label: label.to_owned(),
        value,
        status,
        evidence,
        note,
    }
}

fn known(key: &str, label: &str, value: Value, evidence: Vec<u64>) -> Field {
    field(key, label, value, FieldStatus::Known, evidence, None)
}

fn unknown(key: &str, label: &str, why: &str) -> Field {
    field(
        key,
        label,
        Value::Null,
        FieldStatus::Unknown,
        Vec::new(),
        Some(why.to_owned()),
    )
}

struct Facts<'a> {
    incident: &'a Incident,
    spec: &'a Notification,
}

impl Facts<'_> {
    fn declared(&self) -> Vec<u64> {
        vec![self.incident.declared_seq]
    }

    /// Each fault as `name (type)`.
    fn fault_names(&self) -> Vec<String> {
        self.incident
            .faults
            .iter()
            .map(|f| format!("{} ({})", f.name, f.fault_type))
            .collect()
    }

    /// Where the observation figures end, as the notes say it.
    fn until(&self) -> String {
        match self.incident.observed_until {
            None => "awareness".to_owned(),
            Some(t) => format!("the draft ({t})"),
        }
    }

    fn root_cause(&self) -> Field {
        let i = self.incident;
        if i.faults.is_empty() {
            return unknown(
                "rootCause",
                "Type of threat or root cause",
                "no fault is recorded before awareness; the root cause is the organisation's analysis",
            );
        }
        let faults = self.fault_names();
        field(
            "rootCause",
            "Type of threat or root cause",
            json!(faults),
            FieldStatus::Estimated,
            i.faults
                .iter()
                .flat_map(|f| f.evidence.iter().copied())
                .collect(),
            Some(
                "the faults the drill injected; the organisation's own root-cause analysis replaces this".into(),
            ),
        )
    }

    fn entity_name(&self) -> Field {
        match &self.spec.entity {
            Some(e) => known("entityName", "Entity", json!(e.name), self.declared()),
            None => unknown(
                "entityName",
                "Entity",
                "the experiment names no entity (spec.notification.entity)",
            ),
        }
    }

    fn sector(&self) -> Field {
        match self.spec.entity.as_ref().and_then(|e| e.sector.as_ref()) {
            Some(s) => known("sector", "Sector", json!(s), self.declared()),
            None => unknown(
                "sector",
                "Sector",
                "the experiment names no sector (spec.notification.entity.sector)",
            ),
        }
    }

    fn member_states(&self) -> Field {
        match self.spec.entity.as_ref().map(|e| &e.member_states) {
            Some(states) if !states.is_empty() => known(
                "memberStates",
                "Member states",
                json!(states),
                self.declared(),
            ),
            _ => unknown(
                "memberStates",
                "Member states",
                "the experiment names no member state (spec.notification.entity.memberStates)",
            ),
        }
    }

    fn awareness(&self) -> Field {
        let mut f = known(
            "awarenessAt",
            "Became aware at",
            json!(self.incident.awareness_at),
            self.incident.detection_evidence.clone(),
        );
        f.note = Some(format!(
            "the first detection of iteration {}",
            self.incident.iteration
        ));
        f
    }

    fn suspected_malicious(&self) -> Field {
        let (key, label) = ("suspectedMalicious", "Suspected unlawful or malicious act");
        match self.spec.suspected_malicious {
            Some(v) => {
                let mut f = known(key, label, json!(v), self.declared());
                f.note =
                    Some("declared by the exercise in spec.notification.suspectedMalicious".into());
                f
            }
            None => unknown(
                key,
                label,
                "not declared (spec.notification.suspectedMalicious); the early warning must state it",
            ),
        }
    }

    fn cross_border(&self) -> Field {
        let (key, label) = ("crossBorderImpact", "Possible cross-border impact");
        let states = self
            .spec
            .entity
            .as_ref()
            .map(|e| e.member_states.as_slice())
            .unwrap_or_default();
        match self.spec.cross_border_impact {
            Some(v) => {
                let mut f = known(key, label, json!(v), self.declared());
                f.note =
                    Some("declared by the exercise in spec.notification.crossBorderImpact".into());
                f
            }
            None if states.len() > 1 => field(
                key,
                label,
                json!("possible"),
                FieldStatus::Estimated,
                self.declared(),
                Some(format!(
                    "not declared; the entity provides services in {} member states ({})",
                    states.len(),
                    states.join(", ")
                )),
            ),
            None => unknown(
                key,
                label,
                "not declared (spec.notification.crossBorderImpact); the early warning must state it",
            ),
        }
    }

    fn started(&self) -> Field {
        let evidence: Vec<u64> = self
            .incident
            .faults
            .iter()
            .flat_map(|f| f.evidence.iter().copied())
            .collect();
        match self.incident.started_at {
            Some(t) => {
                let mut f = known("startedAt", "Incident started at", json!(t), evidence);
                f.note = Some("the first fault injection".into());
                f
            }
            None => unknown(
                "startedAt",
                "Incident started at",
                "no injection is recorded before awareness",
            ),
        }
    }

    fn detection(&self) -> Field {
        let i = self.incident;
        known(
            "detection",
            "Detected by",
            json!({"signal": i.detected_by, "type": i.detection_type}),
            i.detection_evidence.clone(),
        )
    }

    fn observations_evidence(&self) -> Vec<u64> {
        self.incident.observations_seq.into_iter().collect()
    }

    fn services_affected(&self) -> Field {
        let i = self.incident;
        let mut f = known(
            "servicesAffected",
            "Services affected (failing probes)",
            json!(i.failed_probes),
            self.observations_evidence(),
        );
        if i.failed_probes.is_empty() {
            f.note = Some(format!(
                "no probe failed between injection and {}",
                self.until()
            ));
        }
        f
    }

    fn affected_targets(&self) -> Field {
        let i = self.incident;
        let targets: BTreeSet<&str> = i
            .faults
            .iter()
            .flat_map(|f| f.targets.iter().map(String::as_str))
            .collect();
        if targets.is_empty() {
            return unknown(
                "affectedTargets",
                "Affected replicas and components",
                "no fault with targets is recorded before awareness",
            );
        }
        let evidence: BTreeSet<u64> = i
            .faults
            .iter()
            .flat_map(|f| f.evidence.iter().copied())
            .collect();
        // Replica targets are `workload/index`; count them against each workload's size.
        let mut per_workload: BTreeMap<&str, usize> = BTreeMap::new();
        let mut others = Vec::new();
        for t in &targets {
            match t.split_once('/') {
                Some((w, _)) if i.replicas.contains_key(w) => {
                    *per_workload.entry(w).or_default() += 1;
                }
                _ => others.push(*t),
            }
        }
        let mut parts: Vec<String> = per_workload
            .iter()
            .map(|(w, n)| format!("{n} of {} replicas of {w}", i.replicas[*w]))
            .collect();
        parts.extend(others.iter().map(|t| (*t).to_owned()));
        let faults = self.fault_names();
        field(
            "affectedTargets",
            "Affected replicas and components",
            json!(targets),
            FieldStatus::Known,
            evidence.into_iter().collect(),
            Some(format!(
                "{}; from the faults {}",
                parts.join(", "),
                faults.join(", ")
            )),
        )
    }

    fn availability(&self) -> Field {
        let i = self.incident;
        let Some(ratio) = crate::measure::availability(i.observations, i.failures) else {
            return unknown(
                "availabilitySoFar",
                "Availability so far",
                &format!(
                    "no probe observation between injection and {}",
                    self.until()
                ),
            );
        };
        field(
            "availabilitySoFar",
            "Availability so far",
            json!((ratio * 1e4).round() / 1e4),
            FieldStatus::Known,
            self.observations_evidence(),
            Some(format!(
                "{:.1}%: {} of {} probe observations passed between injection and {}",
                ratio * 100.0,
                i.observations - i.failures,
                i.observations,
                self.until()
            )),
        )
    }

    fn outage(&self) -> Field {
        let ms = (self.incident.outage.as_secs_f64() * 1e6).round() / 1e3;
        let mut f = known(
            "outageSoFarMs",
            "Outage so far (ms)",
            json!(ms),
            self.observations_evidence(),
        );
        f.note = Some(format!(
            "time the steady state did not hold between injection and {}",
            self.until()
        ));
        f
    }

    fn ongoing(&self) -> Field {
        let mut f = known(
            "ongoing",
            "Ongoing",
            json!(self.incident.ongoing),
            self.observations_evidence(),
        );
        f.note = Some(if self.incident.ongoing {
            format!("the steady state had not come back at {}", self.until())
        } else {
            format!("the steady state had already come back at {}", self.until())
        });
        f
    }
}

const WATERMARK: &str = "**EXERCISE. NOT A REAL NOTIFICATION.** Drafted by firedrill during a resilience drill; do not send to an authority.";

/// The draft as Markdown, watermarked EXERCISE at the top and the bottom.
pub fn render_markdown(d: &Draft) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "> {WATERMARK}\n");
    let _ = writeln!(s, "# {}\n", d.title);
    let _ = writeln!(s, "{}.\n", d.legal_basis);
    let _ = writeln!(
        s,
        "Experiment `{}`, run `{}`, iteration {}.\n",
        cell(&d.experiment),
        d.run_id,
        d.iteration
    );
    let _ = writeln!(s, "- Became aware: {}", d.awareness_at);
    if is_one(&d.time_scale) {
        let _ = writeln!(s, "- Due by: {}", d.deadline_at);
    } else {
        let _ = writeln!(
            s,
            "- Due by: {} ({} after {} in exercise time, at time scale {})",
            d.deadline_at,
            humantime::format_duration(d.kind.span()),
            d.kind
                .follows()
                .map_or("awareness", |earlier| earlier.label()),
            d.time_scale
        );
    }
    let _ = writeln!(s, "- Drafted: {}\n", d.drafted_at);
    let _ = writeln!(s, "| Field | Value | Status | Evidence (journal seq) |");
    let _ = writeln!(s, "|---|---|---|---|");
    for f in &d.fields {
        let mut value = display(&f.value);
        if let Some(note) = &f.note {
            value = if f.value.is_null() {
                format!("*{}*", cell(note))
            } else {
                format!("{value} *({})*", cell(note))
            };
        }
        let evidence: Vec<String> = f.evidence.iter().map(|n| format!("#{n}")).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            cell(&f.label),
            value,
            f.status.as_str(),
            if evidence.is_empty() {
                "none".to_owned()
            } else {
                evidence.join(", ")
            }
        );
    }
    let (k, e, u) = d.counts();
    let _ = writeln!(
        s,
        "\n{k} known, {e} estimated, {u} unknown. Known values were measured or declared by the exercise and point at the journal records they rest on; estimated values say how they were inferred; unknown values are left empty, never invented.\n"
    );
    let _ = writeln!(s, "> {WATERMARK}");
    s
}

/// A JSON value as text for a table cell.
fn display(v: &Value) -> String {
    match v {
        Value::Null => "unknown".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(s) => cell(s),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", display(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Text that cannot break out of a Markdown table cell or inject markup.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '*' | '_' | '`' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Entity;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs))
    }

    fn incident() -> Incident {
        Incident {
            experiment: "quickstart".into(),
            run_id: "r1".into(),
            iteration: 2,
            declared_seq: 1,
            awareness_at: at(10),
            detected_by: "synthetic-monitor".into(),
            detection_type: "probe-fails".into(),
            detection_evidence: vec![21],
            started_at: Some(at(9)),
            faults: vec![IncidentFault {
                name: "freeze-all".into(),
                fault_type: "process-pause".into(),
                targets: vec!["web/0".into(), "web/1".into()],
                evidence: vec![17, 18],
            }],
            replicas: BTreeMap::from([("web".to_owned(), 3)]),
            failed_probes: vec!["api".into()],
            observations: 8,
            failures: 6,
            outage: Duration::from_millis(700),
            observations_seq: Some(22),
            ongoing: true,
            time_scale: 1.0,
            observed_until: None,
        }
    }

    fn spec(yaml: &str) -> Notification {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn deadlines_run_from_awareness() {
        let i = incident();
        let n = spec("{}");
        let ew = build(DraftKind::Nis2EarlyWarning, &i, &n, at(11), None);
        let inn = build(DraftKind::Nis2IncidentNotification, &i, &n, at(11), None);
        let dora = build(DraftKind::DoraInitialNotification, &i, &n, at(11), None);
        assert_eq!(ew.awareness_at, at(10));
        assert_eq!(ew.deadline_at, at(10 + 24 * 3600));
        assert_eq!(inn.deadline_at, at(10 + 72 * 3600));
        assert_eq!(dora.deadline_at, at(10 + 24 * 3600));
        assert_eq!(
            ew.field("deadline").unwrap().value,
            json!("2027-01-16T08:00:10.000Z")
        );
        assert_eq!(ew.field("deadline").unwrap().evidence, vec![21]);
        assert_eq!(
            dora.field("classifiedAsMajorAt").unwrap().status,
            FieldStatus::Unknown
        );
        assert_eq!(ew.drafted_at, at(11));
        assert!(!render_markdown(&ew).contains("exercise time"));
    }

    #[test]
    fn a_time_scale_runs_the_legal_clocks_faster() {
        let mut i = incident();
        i.time_scale = 60.0;
        let n = spec("{}");
        let ew = build(DraftKind::Nis2EarlyWarning, &i, &n, at(11), None);
        let inn = build(DraftKind::Nis2IncidentNotification, &i, &n, at(11), None);
        // 24 h at 60 is 24 min; 72 h is 72 min.
        assert_eq!(ew.deadline_at, at(10 + 24 * 60));
        assert_eq!(inn.deadline_at, at(10 + 72 * 60));
        assert_eq!(ew.field("deadline").unwrap().value, json!(at(10 + 24 * 60)));
        assert_eq!(ew.time_scale, 60.0);
        let text = render_markdown(&ew);
        assert!(
            text.contains("(1day after awareness in exercise time, at time scale 60)"),
            "{text}"
        );
        let json = serde_json::to_value(&ew).unwrap();
        assert_eq!(json["timeScale"], 60.0);
        let plain = serde_json::to_value(build(
            DraftKind::Nis2EarlyWarning,
            &incident(),
            &n,
            at(11),
            None,
        ))
        .unwrap();
        assert!(plain.get("timeScale").is_none(), "1 is left out: {plain}");
    }

    #[test]
    fn measured_facts_are_known_with_their_evidence() {
        let d = build(
            DraftKind::Nis2EarlyWarning,
            &incident(),
            &spec("{}"),
            at(11),
            None,
        );
        let started = d.field("startedAt").unwrap();
        assert_eq!(started.status, FieldStatus::Known);
        assert_eq!(started.value, json!(at(9)));
        assert_eq!(started.evidence, vec![17, 18]);
        let availability = d.field("availabilitySoFar").unwrap();
        assert_eq!(availability.value, json!(0.25));
        assert_eq!(availability.evidence, vec![22]);
        assert!(availability.note.as_ref().unwrap().contains("2 of 8"));
        let targets = d.field("affectedTargets").unwrap();
        assert_eq!(targets.value, json!(["web/0", "web/1"]));
        assert!(
            targets
                .note
                .as_ref()
                .unwrap()
                .starts_with("2 of 3 replicas of web")
        );
        assert_eq!(d.field("servicesAffected").unwrap().value, json!(["api"]));
        assert_eq!(
            d.field("detection").unwrap().value,
            json!({"signal": "synthetic-monitor", "type": "probe-fails"})
        );
    }

    #[test]
    fn what_a_drill_cannot_know_is_unknown_and_null() {
        let mut i = incident();
        i.observations = 0;
        i.failures = 0;
        let d = build(
            DraftKind::Nis2IncidentNotification,
            &i,
            &spec("{}"),
            at(11),
            None,
        );
        for key in [
            "entityName",
            "sector",
            "memberStates",
            "suspectedMalicious",
            "crossBorderImpact",
            "severity",
            "indicatorsOfCompromise",
            "availabilitySoFar",
            "updatesEarlyWarning",
        ] {
            let f = d.field(key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(f.status, FieldStatus::Unknown, "{key}");
            assert_eq!(f.value, Value::Null, "{key}");
            assert!(f.evidence.is_empty(), "{key}");
            assert!(f.note.is_some(), "{key} says why");
        }
    }

    #[test]
    fn flags_missing_only_when_not_declared() {
        let i = incident();
        let none = build(DraftKind::Nis2EarlyWarning, &i, &spec("{}"), at(11), None);
        assert_eq!(
            none.mandatory_flags_missing(),
            ["suspectedMalicious", "crossBorderImpact"]
        );
        let both = spec("{suspectedMalicious: false, crossBorderImpact: true}");
        let d = build(DraftKind::Nis2EarlyWarning, &i, &both, at(11), None);
        assert!(d.mandatory_flags_missing().is_empty());
        assert_eq!(d.field("suspectedMalicious").unwrap().value, json!(false));
        assert_eq!(d.field("crossBorderImpact").unwrap().evidence, vec![1]);
        let inn = build(
            DraftKind::Nis2IncidentNotification,
            &i,
            &spec("{}"),
            at(11),
            None,
        );
        assert!(
            inn.mandatory_flags_missing().is_empty(),
            "early warning only"
        );
    }

    #[test]
    fn several_member_states_make_cross_border_impact_an_estimated_possibility() {
        let mut n = spec("{suspectedMalicious: true}");
        n.entity = Some(Entity {
            name: "Example Payments SE".into(),
            sector: Some("banking".into()),
            member_states: vec!["DE".into(), "FR".into()],
        });
        let d = build(DraftKind::Nis2EarlyWarning, &incident(), &n, at(11), None);
        let f = d.field("crossBorderImpact").unwrap();
        assert_eq!(f.status, FieldStatus::Estimated);
        assert_eq!(f.value, json!("possible"));
        assert!(f.note.as_ref().unwrap().contains("DE, FR"));
        assert!(d.mandatory_flags_missing().is_empty());
        assert_eq!(d.counts(), (11, 1, 0));
        n.entity.as_mut().unwrap().member_states.truncate(1);
        let d = build(DraftKind::Nis2EarlyWarning, &incident(), &n, at(11), None);
        assert_eq!(
            d.field("crossBorderImpact").unwrap().status,
            FieldStatus::Unknown
        );
        assert_eq!(d.mandatory_flags_missing(), ["crossBorderImpact"]);
    }

    #[test]
    fn incident_notification_points_at_the_early_warning() {
        let d = build(
            DraftKind::Nis2IncidentNotification,
            &incident(),
            &spec("{}"),
            at(11),
            Some(Earlier {
                file: "notifications/iteration-2-nis2-early-warning.json",
                seq: 30,
                submitted_at: None,
            }),
        );
        let f = &d.fields[0];
        assert_eq!(f.key, "updatesEarlyWarning");
        assert_eq!(f.status, FieldStatus::Known);
        assert_eq!(f.evidence, vec![30]);
        assert_eq!(d.field("ongoing").unwrap().value, json!(true));
        assert_eq!(d.field("outageSoFarMs").unwrap().value, json!(700.0));
    }

    #[test]
    fn a_final_report_runs_from_the_submission_it_follows_and_sums_up_to_its_drafting() {
        let mut i = incident();
        i.time_scale = 60.0;
        i.observed_until = Some(at(600));
        i.ongoing = false;
        let d = build(
            DraftKind::Nis2FinalReport,
            &i,
            &spec("{}"),
            at(601),
            Some(Earlier {
                file: "notifications/iteration-2-nis2-incident-notification.approved.json",
                seq: 44,
                submitted_at: Some(at(300)),
            }),
        );
        // 28 days at 60 is 11 h 12 min, from the notification's submission.
        assert_eq!(d.deadline_at, at(300 + 28 * 24 * 60));
        let deadline = d.field("deadline").unwrap();
        assert_eq!(deadline.evidence, vec![44]);
        assert!(
            deadline
                .note
                .as_ref()
                .unwrap()
                .contains("after the submission of the NIS2 incident notification")
        );
        assert_eq!(d.fields[0].key, "updatesIncidentNotification");
        assert_eq!(d.fields[0].evidence, vec![44]);
        let root = d.field("rootCause").unwrap();
        assert_eq!(root.status, FieldStatus::Estimated);
        assert_eq!(root.value, json!(["freeze-all (process-pause)"]));
        assert_eq!(root.evidence, vec![17, 18]);
        assert_eq!(d.field("mitigation").unwrap().status, FieldStatus::Unknown);
        assert_eq!(d.field("severity").unwrap().status, FieldStatus::Unknown);
        let ongoing = d.field("ongoing").unwrap();
        assert_eq!(ongoing.value, json!(false));
        assert!(ongoing.note.as_ref().unwrap().contains("at the draft ("));
        let md = render_markdown(&d);
        assert!(
            md.contains("(28days after the NIS2 incident notification in exercise time"),
            "{md}"
        );

        let dora = build(
            DraftKind::DoraIntermediateReport,
            &i,
            &spec("{}"),
            at(601),
            Some(Earlier {
                file: "notifications/iteration-2-dora-initial-notification.approved.json",
                seq: 45,
                submitted_at: Some(at(300)),
            }),
        );
        assert_eq!(dora.deadline_at, at(300 + 72 * 60));
        assert_eq!(dora.fields[0].key, "updatesInitialNotification");
        assert!(dora.field("suspectedMalicious").is_none());
        assert_eq!(
            dora.field("classifiedAsMajorAt").unwrap().status,
            FieldStatus::Unknown
        );
    }

    #[test]
    fn every_draft_is_watermarked() {
        for kind in DraftKind::ALL {
            let d = build(kind, &incident(), &spec("{}"), at(11), None);
            assert!(d.exercise);
            assert!(d.title.starts_with("EXERCISE"), "{}", d.title);
            let json = serde_json::to_value(&d).unwrap();
            assert_eq!(json["exercise"], true);
            assert_eq!(json["kind"], kind.id());
            let md = render_markdown(&d);
            let first = md.lines().next().unwrap();
            let last = md.lines().last().unwrap();
            assert!(first.contains("EXERCISE"), "{first}");
            assert!(last.contains("EXERCISE"), "{last}");
            assert!(md.contains(&format!("# {}", d.title)));
            let back: Draft = serde_json::from_value(json).unwrap();
            assert_eq!(back, d);
        }
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let mut n = spec("{}");
        n.entity = Some(Entity {
            name: "Evil | Corp\n<script>".into(),
            sector: None,
            member_states: Vec::new(),
        });
        let md = render_markdown(&build(
            DraftKind::Nis2EarlyWarning,
            &incident(),
            &n,
            at(11),
            None,
        ));
        let row = md.lines().find(|l| l.starts_with("| Entity |")).unwrap();
        assert_eq!(row, "| Entity | Evil \\| Corp \\<script\\> | known | #1 |");
    }
}
