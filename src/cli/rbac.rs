//! `firedrill rbac`: the RBAC rules that fault, probe and signal types need, from the
//! permission table that preflight checks.

use super::ExitStatus;
use crate::platform::kubernetes::rbac::{self, Section};

/// Arguments of `firedrill rbac`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fault type whose rules to include (repeatable).
    #[arg(long = "fault-type", value_name = "TYPE")]
    fault_types: Vec<String>,
    /// A probe type whose rules to include (repeatable).
    #[arg(long = "probe-type", value_name = "TYPE")]
    probe_types: Vec<String>,
    /// A detection signal type whose rules to include (repeatable).
    #[arg(long = "signal-type", value_name = "TYPE")]
    signal_types: Vec<String>,
    /// An experiment (or suite) file whose runs' permissions to include (repeatable): what
    /// preflight checks, with the resource of a kubernetes-object probe's kind guessed from
    /// the kind as kubectl does (`Certificate` is `certificates`).
    #[arg(long = "experiment", value_name = "FILE")]
    experiments: Vec<std::path::PathBuf>,
    /// Every type of the catalogue.
    #[arg(long, conflicts_with_all = ["fault_types", "probe_types", "signal_types", "experiments"])]
    all: bool,
    /// Output: `table` or `yaml` (Role rules by scope) for the types chosen; `helm` (the
    /// chart's data file) or `markdown` (the docs' table) for the whole catalogue.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Scope, API group, resource and verbs, one line per rule.
    Table,
    /// Role rules by scope (`target`, `peers`, `cluster`, and `restore`: the namespace of
    /// the restore records, with the types chosen).
    Yaml,
    /// The Helm chart's `files/rbac-rules.yaml`.
    Helm,
    /// The Markdown table of docs/kubernetes.md and docs/helm.md.
    Markdown,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let catalogue = rbac::catalogue();
    let chosen = !args.fault_types.is_empty()
        || !args.probe_types.is_empty()
        || !args.signal_types.is_empty()
        || !args.experiments.is_empty();
    match args.format {
        Format::Helm | Format::Markdown => {
            if chosen {
                say!(
                    "error: --format helm and --format markdown cover the whole catalogue; leave out --fault-type, --probe-type, --signal-type and --experiment"
                );
                return Ok(ExitStatus::InvalidInput);
            }
            if args.format == Format::Helm {
                print!("{}", rbac::to_helm_data(&catalogue));
            } else {
                print!("{}", rbac::to_markdown(&catalogue));
            }
            return Ok(ExitStatus::Success);
        }
        Format::Table | Format::Yaml => {}
    }
    if !chosen && !args.all {
        say!(
            "error: name the types with --fault-type, --probe-type and --signal-type, or experiments with --experiment, or pass --all"
        );
        return Ok(ExitStatus::InvalidInput);
    }
    let entries = if args.all {
        catalogue.iter().collect()
    } else if args.fault_types.is_empty()
        && args.probe_types.is_empty()
        && args.signal_types.is_empty()
    {
        // Experiments alone: their own permissions, resolving the workloads included.
        Vec::new()
    } else {
        // Resolving the workloads comes with every run, and the restore records with every
        // run that keeps them in the cluster (as the chart's do) and with `cleanup`.
        let mut entries: Vec<_> = catalogue
            .iter()
            .filter(|e| matches!(e.section, Section::Workloads | Section::Restore))
            .collect();
        for (section, names) in [
            (Section::Fault, &args.fault_types),
            (Section::Probe, &args.probe_types),
            (Section::Signal, &args.signal_types),
        ] {
            match rbac::select(&catalogue, section, names) {
                Ok(found) => entries.extend(found),
                Err(err) => {
                    say!("error: {err}");
                    return Ok(ExitStatus::InvalidInput);
                }
            }
        }
        entries
    };
    if args.probe_types.iter().any(|t| t == "kubernetes-object") {
        say!(
            "note: a kubernetes-object probe reads the kind its experiment names: get (objectName) or list (matchLabels) on that resource; --experiment FILE includes it"
        );
    }
    let mut rules = rbac::merge(entries);
    if !args.experiments.is_empty() {
        let Some(plan) = super::load::load_plan(&args.experiments) else {
            return Ok(ExitStatus::InvalidInput);
        };
        for (_, exp) in &plan.experiments {
            if let crate::spec::Target::Kubernetes(target) = &exp.spec.target {
                let permissions = crate::platform::kubernetes::required_permissions(&exp.spec);
                rbac::add_permissions(&mut rules, &permissions, &target.namespaces);
            }
        }
    }
    match args.format {
        Format::Yaml => print!("{}", rbac::to_role_yaml(&rules)),
        _ => print!("{}", rbac::to_table(&rules)),
    }
    Ok(ExitStatus::Success)
}
