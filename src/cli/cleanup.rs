//! `firedrill cleanup`: removes what firedrill left in a cluster that no live run owns.
//!
//! A run is live when its objects' owner annotation (`firedrill.dev/owner`, `HOST/PID`)
//! names this host and a process that still exists. Objects owned by another host are
//! left alone unless `--any-host` is given, since their run cannot be seen from here.

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
    /// List what would be removed, changing nothing.
    #[arg(long)]
    dry_run: bool,
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
    let mut undos = Vec::new();
    let mut kept = 0;
    for ns in &scopes {
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
        "{} object(s) {}, {kept} kept for live runs, {failed} failed",
        undos.len() - failed,
        if args.dry_run {
            "to clean up"
        } else {
            "cleaned up"
        }
    );
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::RollbackFailed
    })
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
