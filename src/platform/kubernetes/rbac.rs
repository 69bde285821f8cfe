//! RBAC rules per fault type, probe and detection signal, derived from the permission table
//! ([`super::preflight::needs`]) so that the Helm chart's Roles and the docs' table cannot
//! drift from what a run checks before it starts.
//!
//! A run's own preflight asks for the permissions of one experiment; an installation does not
//! know its experiments in advance, so the catalogue here grants, per type, the union over
//! every option and workload kind that type accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::preflight::{Use, Verb, needs};
pub use crate::spec::Scope;
use crate::spec::{ObjectKind, WorkloadKind};

/// What a catalogue entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// Resolving workloads to their pods, which every run does.
    Workloads,
    /// A fault type.
    Fault,
    /// A probe type.
    Probe,
    /// A detection signal type.
    Signal,
    /// The runs' restore records in the cluster (`--restore-namespace`) and
    /// `firedrill cleanup`, which applies those of dead runs.
    Restore,
}

impl Section {
    /// The key of the section in YAML output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workloads => "workloads",
            Self::Fault => "faults",
            Self::Probe => "probes",
            Self::Signal => "signals",
            Self::Restore => "restoreRecords",
        }
    }
}

/// One rule row: verbs on one resource (with its subresource) of one API group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// The API group, empty for core (any group: a probe may read custom resources).
    pub api_group: String,
    /// The resource, with `/subresource` when there is one.
    pub resource: String,
    /// The verbs, in the order of [`Verb`].
    pub verbs: Vec<Verb>,
}

/// Rules by scope; scopes without rules are absent.
pub type ScopedRules = BTreeMap<Scope, Vec<Rule>>;

/// One fault type, probe type or signal type and the permissions it needs.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Which kind of thing this is.
    pub section: Section,
    /// The type as written in experiment documents.
    pub name: &'static str,
    uses: Vec<(Scope, Use)>,
}

impl Entry {
    fn new(section: Section, name: &'static str, uses: Vec<(Scope, Use)>) -> Self {
        Self {
            section,
            name,
            uses,
        }
    }

    /// The rules this entry needs, merged by resource.
    pub fn rules(&self) -> ScopedRules {
        merge([self])
    }

    /// Whether the entry needs any permission at all (local-only types need none).
    pub fn needs_api(&self) -> bool {
        !self.uses.is_empty()
    }
}

/// Every workload kind (kept complete by the exhaustive match below).
const WORKLOAD_KINDS: [WorkloadKind; 4] = [
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
    WorkloadKind::Pod,
];

/// Every object kind an `object-exists` probe accepts.
const OBJECT_KINDS: [ObjectKind; 8] = [
    ObjectKind::Pod,
    ObjectKind::Service,
    ObjectKind::ConfigMap,
    ObjectKind::Secret,
    ObjectKind::Deployment,
    ObjectKind::StatefulSet,
    ObjectKind::DaemonSet,
    ObjectKind::NetworkPolicy,
];

// A new kind fails to compile here, which is the reminder to add it to the lists above.
const _: fn(WorkloadKind, ObjectKind) = |w, o| {
    match w {
        WorkloadKind::Deployment
        | WorkloadKind::StatefulSet
        | WorkloadKind::DaemonSet
        | WorkloadKind::Pod => {}
    }
    match o {
        ObjectKind::Pod
        | ObjectKind::Service
        | ObjectKind::ConfigMap
        | ObjectKind::Secret
        | ObjectKind::Deployment
        | ObjectKind::StatefulSet
        | ObjectKind::DaemonSet
        | ObjectKind::NetworkPolicy => {}
    }
};

/// The catalogue: workloads first, then every fault, probe and signal type in the order of
/// the experiment document's schema (a test checks that no type is missing).
pub fn catalogue() -> Vec<Entry> {
    use Scope::Target;
    use Section::{Fault, Probe, Signal, Workloads};
    let each = |kinds: &[WorkloadKind], f: fn(WorkloadKind) -> Use| -> Vec<(Scope, Use)> {
        kinds.iter().map(|&k| (Target, f(k))).collect()
    };
    let mut entries = vec![Entry::new(
        Workloads,
        "workloads",
        each(&WORKLOAD_KINDS, Use::Resolve),
    )];
    // Each fault kind declares what its type is granted (`FaultKind::granted`).
    entries.extend(
        crate::spec::fault_types()
            .into_iter()
            .map(|t| Entry::new(Fault, t.name, t.granted)),
    );
    entries.extend([
        Entry::new(Probe, "http", vec![]),
        Entry::new(Probe, "tcp", vec![]),
        Entry::new(Probe, "command", vec![]),
        Entry::new(
            Probe,
            "workload-available",
            each(&WORKLOAD_KINDS, Use::WorkloadAvailable),
        ),
        Entry::new(Probe, "pod-ready", each(&WORKLOAD_KINDS, Use::Resolve)),
        Entry::new(
            Probe,
            "object-exists",
            OBJECT_KINDS
                .iter()
                .map(|k| {
                    let (group, _, resource) = k.api();
                    (Target, Use::ObjectExists(group, resource))
                })
                .collect(),
        ),
        // Its resource is whatever kind the experiment names, which an installation cannot
        // know in advance: `firedrill rbac --experiment FILE` prints what one needs.
        Entry::new(Probe, "kubernetes-object", vec![]),
        Entry::new(Probe, "prometheus", vec![]),
        Entry::new(Signal, "probe-fails", vec![]),
        Entry::new(Signal, "webhook", vec![]),
        Entry::new(Signal, "kubernetes-event", vec![(Target, Use::WatchEvents)]),
        Entry::new(Signal, "alertmanager-alert", vec![]),
        Entry::new(Signal, "prometheus-alert", vec![]),
        Entry::new(
            Section::Restore,
            "restore-records",
            vec![(Scope::Restore, Use::RestoreRecords)],
        ),
    ]);
    entries
}

/// Rules by scope, each a set of verbs on a resource of a group.
type Acc = BTreeMap<Scope, BTreeMap<(String, String), BTreeSet<Verb>>>;

/// Merges the permissions of `entries` into rules, one per scope and resource.
pub fn merge<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> ScopedRules {
    let mut acc: Acc = BTreeMap::new();
    for entry in entries {
        for &(scope, u) in &entry.uses {
            for (verb, group, resource, subresource) in needs(u) {
                let resource = if subresource.is_empty() {
                    resource.to_owned()
                } else {
                    format!("{resource}/{subresource}")
                };
                acc.entry(scope)
                    .or_default()
                    .entry((group.to_owned(), resource))
                    .or_default()
                    .insert(verb);
            }
        }
    }
    rules_of(acc)
}

/// The rules that grant `permissions` (one experiment's, from preflight's table), with
/// `targets` the namespaces of its target: merged with `into`.
pub fn add_permissions(
    into: &mut ScopedRules,
    permissions: &[super::Permission],
    targets: &[String],
) {
    let mut acc: Acc = BTreeMap::new();
    for (scope, rules) in std::mem::take(into) {
        for r in rules {
            acc.entry(scope)
                .or_default()
                .entry((r.api_group, r.resource))
                .or_default()
                .extend(r.verbs);
        }
    }
    for p in permissions {
        let scope = if p.namespace.is_empty() {
            Scope::Cluster
        } else if targets.contains(&p.namespace) {
            Scope::Target
        } else {
            Scope::Peers
        };
        let resource = if p.subresource.is_empty() {
            p.resource.clone()
        } else {
            format!("{}/{}", p.resource, p.subresource)
        };
        acc.entry(scope)
            .or_default()
            .entry((p.group.clone(), resource))
            .or_default()
            .insert(p.verb);
    }
    *into = rules_of(acc);
}

fn rules_of(acc: Acc) -> ScopedRules {
    acc.into_iter()
        .map(|(scope, rows)| {
            let rules = rows
                .into_iter()
                .map(|((api_group, resource), verbs)| Rule {
                    api_group,
                    resource,
                    verbs: verbs.into_iter().collect(),
                })
                .collect();
            (scope, rules)
        })
        .collect()
}

/// A type named on the command line that the catalogue does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown {section} type `{name}`; known: {known}")]
pub struct UnknownType {
    section: &'static str,
    name: String,
    known: String,
}

/// The entries of `section` named in `names`, failing on the first unknown name.
pub fn select<'a>(
    catalogue: &'a [Entry],
    section: Section,
    names: &[String],
) -> Result<Vec<&'a Entry>, UnknownType> {
    names
        .iter()
        .map(|name| {
            catalogue
                .iter()
                .find(|e| e.section == section && e.name == name)
                .ok_or_else(|| UnknownType {
                    section: match section {
                        Section::Workloads => "workloads",
                        Section::Fault => "fault",
                        Section::Probe => "probe",
                        Section::Signal => "signal",
                        Section::Restore => "restore",
                    },
                    name: name.clone(),
                    known: catalogue
                        .iter()
                        .filter(|e| e.section == section)
                        .map(|e| e.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

fn flow_rule(r: &Rule, group_key: &str, resource_key: &str) -> String {
    let verbs: Vec<&str> = r.verbs.iter().map(|v| v.as_str()).collect();
    format!(
        "{{{group_key}: \"{}\", {resource_key}: {}, verbs: [{}]}}",
        r.api_group,
        r.resource,
        verbs.join(", ")
    )
}

/// Role rules by scope as YAML, each row a valid Kubernetes PolicyRule.
pub fn to_role_yaml(rules: &ScopedRules) -> String {
    let mut out = String::new();
    for scope in Scope::ALL {
        let Some(rows) = rules.get(&scope) else {
            continue;
        };
        let _ = writeln!(out, "{}:", scope.as_str());
        for r in rows {
            let verbs: Vec<&str> = r.verbs.iter().map(|v| v.as_str()).collect();
            let _ = writeln!(
                out,
                "  - {{apiGroups: [\"{}\"], resources: [{}], verbs: [{}]}}",
                r.api_group,
                r.resource,
                verbs.join(", ")
            );
        }
    }
    if out.is_empty() {
        out.push_str("{}\n");
    }
    out
}

/// The command that writes the chart's data file.
pub const HELM_DATA_COMMAND: &str =
    "cargo run -q -- rbac --format helm > charts/firedrill/files/rbac-rules.yaml";

/// The chart's data file (`charts/firedrill/files/rbac-rules.yaml`): every entry's rules by
/// scope, one row per resource; the templates merge the rows of the enabled types.
pub fn to_helm_data(catalogue: &[Entry]) -> String {
    let mut out = format!(
        "# The permissions of each fault, probe and signal type, generated from firedrill's\n\
         # permission table. Do not edit: regenerate with\n#   {HELM_DATA_COMMAND}\n"
    );
    let mut section = None;
    for entry in catalogue.iter().filter(|e| e.needs_api()) {
        if matches!(entry.section, Section::Workloads | Section::Restore) {
            let _ = writeln!(out, "{}:", entry.section.as_str());
            write_scopes(&mut out, &entry.rules(), "  ");
            continue;
        }
        if section != Some(entry.section) {
            section = Some(entry.section);
            let _ = writeln!(out, "{}:", entry.section.as_str());
        }
        let _ = writeln!(out, "  {}:", entry.name);
        write_scopes(&mut out, &entry.rules(), "    ");
    }
    out
}

fn write_scopes(out: &mut String, rules: &ScopedRules, indent: &str) {
    for (scope, rows) in rules {
        let _ = writeln!(out, "{indent}{}:", scope.as_str());
        for r in rows {
            let _ = writeln!(out, "{indent}  - {}", flow_rule(r, "apiGroup", "resource"));
        }
    }
}

/// The command that writes the docs' table.
pub const MARKDOWN_COMMAND: &str = "cargo run -q -- rbac --format markdown";

/// Start and end markers of the generated table in the docs.
pub const MARKDOWN_MARKERS: (&str, &str) = (
    "<!-- rbac-table: generated by `firedrill rbac --format markdown`; do not edit -->",
    "<!-- end of rbac-table -->",
);

/// The docs' table: one row per type that needs the API, a column per scope.
pub fn to_markdown(catalogue: &[Entry]) -> String {
    let mut out = String::from(
        "| type | in each target namespace | in peer namespaces | cluster-wide | in the restore namespace |\n|---|---|---|---|---|\n",
    );
    for entry in catalogue.iter().filter(|e| e.needs_api()) {
        let what = match entry.section {
            Section::Workloads => "resolving workloads (every run)".to_owned(),
            Section::Fault => format!("`{}` fault", entry.name),
            Section::Probe => format!("`{}` probe", entry.name),
            Section::Signal => format!("`{}` signal", entry.name),
            Section::Restore => "restore records (`run --restore-namespace`, `cleanup`)".to_owned(),
        };
        let rules = entry.rules();
        let cell = |scope| {
            rules.get(&scope).map_or_else(String::new, |rows| {
                rows.iter()
                    .map(|r| {
                        let verbs: Vec<&str> = r.verbs.iter().map(|v| v.as_str()).collect();
                        let group = if r.api_group.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", r.api_group)
                        };
                        format!("`{}`{group}: {}", r.resource, verbs.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>")
            })
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} |",
            cell(Scope::Target),
            cell(Scope::Peers),
            cell(Scope::Cluster),
            cell(Scope::Restore)
        );
    }
    out
}

/// A human-readable table of rules by scope.
pub fn to_table(rules: &ScopedRules) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<18} {:<24} VERBS",
        "SCOPE", "API GROUP", "RESOURCE"
    );
    for (scope, rows) in rules {
        for r in rows {
            let verbs: Vec<&str> = r.verbs.iter().map(|v| v.as_str()).collect();
            let group = if r.api_group.is_empty() {
                "core"
            } else {
                &r.api_group
            };
            let _ = writeln!(
                out,
                "{:<8} {:<18} {:<24} {}",
                scope.as_str(),
                group,
                r.resource,
                verbs.join(",")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::kubernetes::required_permissions;
    use crate::spec::{DetectionSignal, Probe as ProbeSpec, Target};

    fn schema_tags(def: &str) -> Vec<String> {
        let schema = serde_json::to_value(schemars::schema_for!(crate::spec::Experiment)).unwrap();
        schema["$defs"][def]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v["properties"]["type"]["const"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn names(section: Section) -> Vec<String> {
        catalogue()
            .iter()
            .filter(|e| e.section == section)
            .map(|e| e.name.to_owned())
            .collect()
    }

    #[test]
    fn every_fault_probe_and_signal_type_of_the_schema_is_in_the_catalogue() {
        assert_eq!(names(Section::Fault), schema_tags("FaultSpec"));
        assert_eq!(names(Section::Probe), schema_tags("Probe"));
        assert_eq!(names(Section::Signal), schema_tags("DetectionSignal"));
    }

    #[test]
    fn rows_merge_by_resource_and_keep_the_verb_order() {
        let cat = catalogue();
        let picked = select(
            &cat,
            Section::Fault,
            &["pod-delete".into(), "pod-evict".into()],
        )
        .unwrap();
        let yaml = to_role_yaml(&merge(picked));
        assert_eq!(
            yaml,
            "target:\n  - {apiGroups: [\"\"], resources: [pods], verbs: [list, watch, delete]}\n  \
             - {apiGroups: [\"\"], resources: [pods/eviction], verbs: [create]}\n"
        );
        let err = select(&cat, Section::Fault, &["pod-explode".into()]).unwrap_err();
        assert!(
            err.to_string().contains("unknown fault type `pod-explode`"),
            "{err}"
        );
    }

    #[test]
    fn restore_records_are_the_only_rows_of_the_restore_namespace() {
        for e in catalogue() {
            let restore = e.rules().contains_key(&Scope::Restore);
            assert_eq!(restore, e.section == Section::Restore, "{}", e.name);
        }
        let cat = catalogue();
        let data = to_helm_data(&cat);
        assert!(
            data.contains(
                "restoreRecords:\n  restore:\n    - {apiGroup: \"\", resource: pods, verbs: [get]}\n    - {apiGroup: \"\", resource: secrets, verbs: [get, list, create, patch, delete]}\n"
            ),
            "{data}"
        );
        let table = to_markdown(&cat);
        assert!(
            table
                .lines()
                .all(|l| l.matches(" | ").count() == 4 || l.starts_with("|---")),
            "five columns: {table}"
        );
    }

    #[test]
    fn node_faults_are_the_only_cluster_wide_rows() {
        for e in catalogue() {
            let cluster = e.rules().contains_key(&Scope::Cluster);
            assert_eq!(cluster, e.name.starts_with("node-"), "{}", e.name);
        }
    }

    /// Each example experiment on the kubernetes platform must be runnable with the rules the
    /// chart grants for the types it uses: the catalogue covers what preflight will ask.
    #[test]
    fn the_catalogue_covers_what_preflight_asks_for_every_kubernetes_example() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/kubernetes");
        let cat = catalogue();
        let mut checked = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let exp: crate::spec::Experiment = serde_saphyr::from_str(&text).unwrap();
            let Target::Kubernetes(target) = &exp.spec.target else {
                continue;
            };
            let mut entries: Vec<&Entry> = cat
                .iter()
                .filter(|e| e.section == Section::Workloads)
                .collect();
            let by = |section, name: &str| {
                cat.iter()
                    .find(|e| e.section == section && e.name == name)
                    .unwrap()
            };
            for f in &exp.spec.faults {
                entries.push(by(Section::Fault, f.type_name()));
            }
            // A kubernetes-object probe's resource is granted per experiment, not by type.
            let mut dynamic = Vec::new();
            for p in &exp.spec.steady_state.probes {
                let name = match p {
                    ProbeSpec::WorkloadAvailable(_) => "workload-available",
                    ProbeSpec::PodReady(_) => "pod-ready",
                    ProbeSpec::ObjectExists(_) => "object-exists",
                    ProbeSpec::KubernetesObject(p) => {
                        dynamic.push((
                            crate::platform::kubernetes::discover::group_version(&p.api_version)
                                .0
                                .to_owned(),
                            crate::platform::kubernetes::discover::guessed_plural(
                                &p.api_version,
                                &p.kind,
                            ),
                        ));
                        continue;
                    }
                    _ => continue,
                };
                entries.push(by(Section::Probe, name));
            }
            for s in exp.spec.detection.iter().flat_map(|d| &d.signals) {
                if let DetectionSignal::KubernetesEvent(_) = s {
                    entries.push(by(Section::Signal, "kubernetes-event"));
                }
            }
            let granted = merge(entries);
            let has = |scope: Scope, p: &super::super::Permission| {
                let resource = if p.subresource.is_empty() {
                    p.resource.clone()
                } else {
                    format!("{}/{}", p.resource, p.subresource)
                };
                granted.get(&scope).is_some_and(|rows| {
                    rows.iter().any(|r| {
                        r.api_group == p.group
                            && r.resource == resource
                            && r.verbs.contains(&p.verb)
                    })
                })
            };
            for p in required_permissions(&exp.spec) {
                if dynamic.contains(&(p.group.clone(), p.resource.clone())) {
                    continue;
                }
                let scope = if p.namespace.is_empty() {
                    Scope::Cluster
                } else if target.namespaces.contains(&p.namespace) {
                    Scope::Target
                } else {
                    Scope::Peers
                };
                assert!(
                    has(scope, &p),
                    "{}: {p} is not granted in scope {}",
                    path.display(),
                    scope.as_str()
                );
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} kubernetes examples found");
    }
}
