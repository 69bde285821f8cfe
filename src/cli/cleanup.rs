//! `firedrill cleanup`: removes what firedrill left in a cluster that no live run owns.
//!
//! A run is live when its objects' owner annotation (`firedrill.dev/owner`, `HOST/PID`)
//! names this host and a process that still exists. Objects owned by another host are
//! left alone unless `--any-host` is given, since their run cannot be seen from here.
//!
//! Restore records (the undo records a run keeps in the cluster with `--restore-namespace`)
//! are applied first: those of a run whose pod has ended (read through the API when the
//! record names a pod) or, without a pod, whose process is gone as above. They undo what the
//! run changed in objects it did not create (a scale, a ConfigMap's keys, a cordon...).

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::ListParams;

use super::ExitStatus;
use crate::platform::kubernetes::{
    self, EGRESS_BLOCK, MANAGED_BY, MANAGER, OWNER, QUARANTINE, RUN_ID, Undo,
};

/// Arguments of `firedrill cleanup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kubeconfig context [default: the current one]
    #[arg(long, value_name = "CONTEXT")]
    context: Option<String>,
    /// Look only in these namespaces [default: every namespace]
    #[arg(long = "namespace", short = 'n', value_name = "NAMESPACE")]
    namespaces: Vec<String>,
    /// Also remove objects whose run was on another host.
    #[arg(long)]
    any_host: bool,
    /// List what would be removed and restored, changing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only apply the restore records of runs that are not live (what the chart's janitor
    /// does), leaving the search for objects firedrill created to another cleanup.
    #[arg(long)]
    restore_records_only: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(cleanup(args))
}

async fn cleanup(args: Args) -> anyhow::Result<ExitStatus> {
    let (client, conn) = kubernetes::connect(args.context.as_deref())
        .await
        .context("cannot connect to the cluster")?;
    println!("cluster: context {} at {}", conn.context, conn.server);
    let scopes: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    let mut kept = 0;
    let mut restored = Restored::default();
    for ns in &scopes {
        restore_dead_runs(&client, ns.as_deref(), &args, &mut kept, &mut restored).await?;
    }
    let mut undos = Vec::new();
    for ns in scopes.iter().filter(|_| !args.restore_records_only) {
        let owned = OwnedBy {
            client: &client,
            ns: ns.as_deref(),
            any_host: args.any_host,
            selector: &format!("{MANAGED_BY}={MANAGER}"),
        };
        let (live, dead) = owned.partition::<NetworkPolicy>(&mut kept).await?;
        let live_policies: Vec<String> = live.into_iter().filter_map(|p| p.metadata.name).collect();
        for p in dead {
            undos.push(Undo::DeleteNetworkPolicy {
                namespace: p.metadata.namespace.unwrap_or_default(),
                name: p.metadata.name.unwrap_or_default(),
            });
        }
        undos.extend(proxies(&client, ns.as_deref(), args.any_host, &mut kept).await?);
        undos.extend(drill_objects(&client, ns.as_deref(), args.any_host, &mut kept).await?);
        let pods: Api<Pod> = match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        // Each label names the NetworkPolicy that selects the pod.
        for key in [QUARANTINE, EGRESS_BLOCK] {
            let params = ListParams::default().labels(key);
            let what = format!("list pods labelled {key}");
            let Some(items) = list_unless_forbidden(&pods, &params, &what).await? else {
                say!(
                    "warning: cannot list pods (forbidden): pods labelled {key} are left as they are"
                );
                continue;
            };
            for p in items {
                let policy = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(key))
                    .cloned()
                    .unwrap_or_default();
                if live_policies.contains(&policy) {
                    continue;
                }
                undos.push(Undo::RemovePodLabel {
                    namespace: p.metadata.namespace.clone().unwrap_or_default(),
                    pod: p.metadata.name.clone().unwrap_or_default(),
                    key: key.to_owned(),
                });
            }
        }
    }
    // Selectors and labels first, so that nothing is left pointing at an object that is
    // gone: a Service at a deleted proxy, a pod marked for a deleted policy.
    undos.sort_by_key(|u| match u {
        Undo::RestoreServiceSelector { .. } => 0,
        Undo::RemovePodLabel { .. } => 1,
        _ => 2,
    });
    let mut failed = 0;
    for undo in &undos {
        if args.dry_run {
            println!("would {undo}");
            continue;
        }
        match kubernetes::apply_undo(&client, undo).await {
            Ok(done) => println!("{done}"),
            Err(e) => {
                failed += 1;
                say!("FAILED to {undo}: {}", crate::error::chain(&e));
            }
        }
    }
    println!(
        "{} object(s) {}, {} restore record(s) {}, {kept} kept for live runs, {} failed",
        undos.len() - failed,
        if args.dry_run {
            "to clean up"
        } else {
            "cleaned up"
        },
        restored.records,
        if args.dry_run { "to apply" } else { "applied" },
        failed + restored.failed
    );
    Ok(if failed == 0 && restored.failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::RollbackFailed
    })
}

/// What the restore records did.
#[derive(Default)]
struct Restored {
    /// Records applied (or, with `--dry-run`, to apply).
    records: usize,
    /// Undo records that failed, and records that could not be deleted.
    failed: usize,
}

/// Applies the restore records of dead runs in `ns` (every namespace when none), each
/// newest intent first, with the undo `firedrill rollback` applies; a record fully applied
/// is deleted, one with a failure is kept for the next cleanup.
async fn restore_dead_runs(
    client: &kube::Client,
    ns: Option<&str>,
    args: &Args,
    kept: &mut usize,
    restored: &mut Restored,
) -> anyhow::Result<()> {
    let records = match kubernetes::list_records(client, ns).await {
        Ok(records) => records,
        Err(kubernetes::KubeError::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 403 => {
            say!(
                "warning: cannot list secrets (forbidden): restore records{} are left as they are",
                ns.map(|ns| format!(" in {ns}")).unwrap_or_default()
            );
            return Ok(());
        }
        Err(e) => return Err(e).context("cannot list the restore records"),
    };
    let here = kubernetes::owner();
    let this_host = |owner: &str| {
        owner.rsplit_once('/').map(|(h, _)| h) == here.rsplit_once('/').map(|(h, _)| h)
    };
    for record in records {
        let live = match &record.pod {
            Some(pod) => match kubernetes::pod_running(client, pod).await {
                Ok(running) => running,
                Err(e) => {
                    say!(
                        "warning: cannot tell whether pod {pod} of restore record {} still runs, kept: {}",
                        record.path(),
                        crate::error::chain(&e)
                    );
                    true
                }
            },
            None => is_live(&record.owner, args.any_host),
        };
        let whose = record
            .pod
            .as_ref()
            .map_or_else(|| record.owner.clone(), |p| format!("pod {p}"));
        if live {
            println!(
                "keep restore record {}: its run ({whose}) is live",
                record.path()
            );
            *kept += 1;
            continue;
        }
        restored.records += 1;
        let verb = if args.dry_run {
            "would restore"
        } else {
            "restore"
        };
        println!(
            "{verb} what run {} ({whose}) left, from restore record {}:",
            record.run_id,
            record.path()
        );
        for problem in &record.unreadable {
            say!("warning: {}: {problem}", record.path());
        }
        let mut failed = record.unreadable.len();
        for (fault, undo) in record.undo_order() {
            if args.dry_run {
                println!("  would {undo} ({fault})");
                continue;
            }
            let done = if undo.is_local() {
                match undo {
                    Undo::RemoveFile { path, sha256 } if this_host(&record.owner) => {
                        kubernetes::remove_created_file(std::path::Path::new(path), sha256)
                            .map_err(|e| e.to_string())
                    }
                    _ => Err(format!("it is on the run's host ({})", record.owner)),
                }
            } else {
                kubernetes::apply_undo(client, undo)
                    .await
                    .map_err(|e| crate::error::chain(&e))
            };
            match done {
                Ok(done) => println!("  restored: {done} ({fault})"),
                Err(error) => {
                    failed += 1;
                    say!("  FAILED to {undo} ({fault}): {error}");
                }
            }
        }
        if args.dry_run {
            continue;
        }
        if failed > 0 {
            say!(
                "restore record {} is kept: {failed} undo record(s) failed",
                record.path()
            );
            restored.failed += failed;
            continue;
        }
        match kubernetes::delete_record(client, &record).await {
            Ok(()) => println!("deleted restore record {}", record.path()),
            Err(e) => {
                restored.failed += 1;
                say!(
                    "FAILED to delete restore record {}: {}",
                    record.path(),
                    crate::error::chain(&e)
                );
            }
        }
    }
    Ok(())
}

/// What dependency proxies of dead runs left: each proxy Deployment's Service selector to
/// put back (from the Deployment's annotations), then the Deployments, ConfigMaps and
/// Services firedrill created.
async fn proxies(
    client: &kube::Client,
    ns: Option<&str>,
    any_host: bool,
    kept: &mut usize,
) -> anyhow::Result<Vec<Undo>> {
    let owned = OwnedBy {
        client,
        ns,
        any_host,
        selector: &format!("{MANAGED_BY}={MANAGER}"),
    };
    let mut undos = Vec::new();
    for d in owned.dead_objects::<Deployment>(kept).await? {
        let namespace = d.metadata.namespace.clone().unwrap_or_default();
        let annotations = d.metadata.annotations.clone().unwrap_or_default();
        if let (Some(service), Some(selector)) = (
            annotations.get(crate::fault::PROXIED_SERVICE),
            annotations
                .get(crate::fault::ORIGINAL_SELECTOR)
                .and_then(|s| serde_json::from_str(s).ok()),
        ) {
            undos.push(Undo::RestoreServiceSelector {
                namespace: namespace.clone(),
                name: service.clone(),
                selector,
                added: vec![crate::fault::PROXY.to_owned()],
            });
        }
        undos.push(delete_dead(&d));
    }
    undos.extend(owned.dead::<ConfigMap>(kept).await?);
    undos.extend(owned.dead::<Service>(kept).await?);
    Ok(undos)
}

/// What security drills of dead runs left: the pods of prevention checks, and the
/// ServiceAccounts, honeytoken Secrets, Roles and RoleBindings of canaries. Only objects
/// firedrill created carry the canary label; an organisation's own honeytoken does not.
async fn drill_objects(
    client: &kube::Client,
    ns: Option<&str>,
    any_host: bool,
    kept: &mut usize,
) -> anyhow::Result<Vec<Undo>> {
    let owned = OwnedBy {
        client,
        ns,
        any_host,
        selector: &format!("{MANAGED_BY}={MANAGER},{}=true", crate::fault::CANARY_LABEL),
    };
    let mut undos = owned.dead::<Pod>(kept).await?;
    // The binding before the Role and the account it names, the Secret last.
    undos.extend(owned.dead::<RoleBinding>(kept).await?);
    undos.extend(owned.dead::<Role>(kept).await?);
    undos.extend(owned.dead::<ServiceAccount>(kept).await?);
    undos.extend(owned.dead::<Secret>(kept).await?);
    Ok(undos)
}

/// Objects firedrill created, found by a label selector, whose run is gone.
struct OwnedBy<'a> {
    client: &'a kube::Client,
    ns: Option<&'a str>,
    any_host: bool,
    selector: &'a str,
}

impl OwnedBy<'_> {
    /// A delete for each object of kind `K` that matches and whose run is not live.
    async fn dead<K>(&self, kept: &mut usize) -> anyhow::Result<Vec<Undo>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Ok(self
            .dead_objects::<K>(kept)
            .await?
            .iter()
            .map(delete_dead)
            .collect())
    }

    /// The objects of kind `K` that match and whose run is not live; the live ones are
    /// counted in `kept` and named.
    async fn dead_objects<K>(&self, kept: &mut usize) -> anyhow::Result<Vec<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Ok(self.partition::<K>(kept).await?.1)
    }

    /// The objects of kind `K` that match, split into those whose run is live (counted in
    /// `kept` and named) and the others.
    async fn partition<K>(&self, kept: &mut usize) -> anyhow::Result<(Vec<K>, Vec<K>)>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let kind = K::kind(&());
        let api: Api<K> = scoped(self.client, self.ns);
        let params = ListParams::default().labels(self.selector);
        let plural = K::plural(&());
        let what = format!("list {plural} managed by firedrill");
        // Kinds such as secrets and roles are often not granted: what can be listed is still
        // cleaned up.
        let items = list_unless_forbidden(&api, &params, &what)
            .await?
            .unwrap_or_else(|| {
                say!("warning: cannot list {plural} (forbidden): skipped");
                Vec::new()
            });
        let (mut live, mut dead) = (Vec::new(), Vec::new());
        for object in items {
            let meta = object.meta();
            let owner = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(OWNER))
                .cloned()
                .unwrap_or_default();
            if is_live(&owner, self.any_host) {
                println!(
                    "keep {kind} {}/{}: its run ({owner}) is live",
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default()
                );
                *kept += 1;
                live.push(object);
            } else {
                dead.push(object);
            }
        }
        Ok((live, dead))
    }
}

/// The delete of an object of a dead run. When the object names its run (`RUN_ID`), the
/// delete is limited to that run's object: it is read again first and deleted with its uid as
/// a precondition, so an object a later run created under the same name after the list is
/// left alone.
fn delete_dead<K>(object: &K) -> Undo
where
    K: kube::Resource<DynamicType = ()>,
{
    let meta = object.meta();
    let undo = Undo::delete_of::<K>(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    );
    match meta.labels.as_ref().and_then(|l| l.get(RUN_ID)) {
        Some(run) => undo.of_run(run),
        None => undo,
    }
}

/// The objects `params` selects, or None when the runner may not list them (403).
async fn list_unless_forbidden<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &str,
) -> anyhow::Result<Option<Vec<K>>>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match kubernetes::retry(what, || api.list(params)).await {
        Ok(list) => Ok(Some(list.items)),
        Err(kubernetes::KubeError::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 403 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An API over one namespace, or all.
fn scoped<K>(client: &kube::Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Whether the run named by an owner annotation (`HOST/PID`) still runs.
fn is_live(owner: &str, any_host: bool) -> bool {
    let Some((host, pid)) = owner.rsplit_once('/') else {
        return false;
    };
    let here = crate::fault::owner();
    let this_host = here.rsplit_once('/').map(|(h, _)| h) == Some(host);
    if !this_host {
        return !any_host;
    }
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_live_while_its_process_exists_on_this_host() {
        let me = crate::fault::owner();
        assert!(is_live(&me, false));
        let host = me.rsplit_once('/').unwrap().0;
        // Process ids above the kernel's maximum never exist.
        assert!(!is_live(&format!("{host}/2147483646"), false));
        assert!(is_live("elsewhere/1", false), "another host's run is kept");
        assert!(!is_live("elsewhere/1", true));
        assert!(!is_live("garbage", false));
    }

    #[test]
    fn a_dead_runs_object_is_deleted_only_as_that_runs_object() {
        let mut account = ServiceAccount::default();
        account.metadata.namespace = Some("shop".into());
        account.metadata.name = Some("firedrill-canary-burst".into());
        let Undo::DeleteObject { name, run_id, .. } = delete_dead(&account) else {
            panic!("a delete");
        };
        assert_eq!(name, "firedrill-canary-burst");
        assert_eq!(run_id, None, "an object without a run id: deleted by name");
        account.metadata.labels = Some([(RUN_ID.to_owned(), "a-dead-run".to_owned())].into());
        let Undo::DeleteObject { run_id, .. } = delete_dead(&account) else {
            panic!("a delete");
        };
        assert_eq!(run_id.as_deref(), Some("a-dead-run"));
    }
}
