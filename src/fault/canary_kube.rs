//! Detection canaries on the kubernetes platform: benign actions a working security monitor
//! must notice. `canary-secret-read` reads a honeytoken Secret with a dedicated
//! ServiceAccount's short-lived token; `canary-exec` and `canary-dns-lookup` run a
//! suspicious-looking, harmless command in pods through `pods/exec`;
//! `canary-denied-requests` sends requests the API server must refuse.
//!
//! Every object a canary creates carries the marker in its name, firedrill's labels and
//! `firedrill.dev/canary: "true"`, is journaled (`Intent::restore`) before it is created and
//! is deleted when the fault is reverted. docs/security-drills.md says what each canary
//! imitates and what catching it does not prove.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ListParams, PostParams};

use super::container::container_of;
use super::kubernetes::{Created, create_owned, kube_error, lock, owner, pick, undo_all};
use super::security::{CanaryOutcome, SecurityOutcome, marker_name, marker_payload};
use super::{BuildFault, Built, Fault, FaultContext, FaultError, Intent, kubernetes_platform};
use crate::platform::Platform;
use crate::platform::kubernetes::{
    ApiWrite, Cluster, Connection, KubeError, OWNER, PodRef, Undo, WriteAction, retry,
};
use crate::platform::kubernetes::{exec_capture, exit_code};
use crate::spec::{self, MARKER};

/// The label put on every object a security drill creates.
pub const CANARY_LABEL: &str = "firedrill.dev/canary";
/// How long a ServiceAccount token asked for by a drill lives (the API's minimum).
const TOKEN_SECONDS: i64 = 600;
/// How long a read by a freshly bound ServiceAccount may keep meeting 403 while the API
/// server's authorizer catches up with the new RoleBinding.
const RBAC_SETTLE: Duration = Duration::from_secs(10);
/// How much of a command's output an outcome keeps.
const SHOWN_OUTPUT: usize = 200;
/// The key of the honeytoken Secret's payload.
const HONEYTOKEN_KEY: &str = "token";

/// The metadata of an object a security drill creates: the marker name, firedrill's labels,
/// the canary label and the owner annotation.
pub(super) fn drill_meta(cluster: &Cluster, fault: &str, ns: &str, name: &str) -> ObjectMeta {
    let mut labels = cluster.ownership_labels();
    labels.insert("firedrill.dev/fault".to_owned(), marker_name(fault));
    labels.insert(CANARY_LABEL.to_owned(), "true".to_owned());
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(ns.to_owned()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(OWNER.to_owned(), owner())])),
        ..ObjectMeta::default()
    }
}

/// A ServiceAccount with no permission of its own, which mounts no token anywhere.
pub(super) fn drill_service_account(
    cluster: &Cluster,
    fault: &str,
    ns: &str,
    name: &str,
) -> ServiceAccount {
    ServiceAccount {
        metadata: drill_meta(cluster, fault, ns, name),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// The create of `object`, for the intent.
pub(super) fn create_write<K>(ns: &str, name: &str, object: &K) -> ApiWrite
where
    K: kube::Resource<DynamicType = ()> + serde::Serialize,
{
    ApiWrite::of::<K>(
        ns,
        name,
        WriteAction::Create(serde_json::to_value(object).unwrap_or_default()),
    )
}

/// Creates an object the intent journaled and records its deletion in `restore` once it
/// exists, also when a retried create finds the object its first attempt made. An object of
/// that name without this run's id is someone else's (or a leftover of a crashed run): it
/// is left alone and the fault fails.
pub(super) async fn create_recorded<K>(
    cluster: &Cluster,
    fault: &str,
    object: &K,
    restore: &Mutex<Vec<Undo>>,
) -> Result<(), FaultError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = object.meta().namespace.clone().unwrap_or_default();
    let name = object.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&());
    let api = Api::<K>::namespaced(cluster.client.clone(), &ns);
    match create_owned(&api, object, &cluster.run_id)
        .await
        .map_err(kube_error(fault))?
    {
        Created::Ours(_) => {
            lock(restore).push(Undo::delete_of::<K>(&ns, &name).of_run(&cluster.run_id));
            Ok(())
        }
        Created::Unread(e) => Err(kube_error(fault)(e)),
        Created::Taken(_) => Err(FaultError::Unsafe {
            fault: fault.to_owned(),
            message: format!(
                "{kind} {ns}/{name} already exists: a leftover of an earlier run (undo it with `firedrill rollback` on that run's results) or someone else's; left as it is"
            ),
        }),
    }
}

/// A short-lived token of the ServiceAccount `ns/name` (TokenRequest API, default audiences).
pub(super) async fn service_account_token(
    cluster: &Cluster,
    ns: &str,
    name: &str,
) -> Result<String, KubeError> {
    let api = Api::<ServiceAccount>::namespaced(cluster.client.clone(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(TOKEN_SECONDS),
            bound_object_ref: None,
        },
        ..TokenRequest::default()
    };
    let what = format!("request a token of ServiceAccount {ns}/{name}");
    let post = PostParams::default();
    let answer = retry(&what, || api.create_token_request(name, &post, &request)).await?;
    answer
        .status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| KubeError::NotFound(format!("{what}: the answer holds no token")))
}

/// The user name the API server gives a ServiceAccount.
pub(super) fn user_of(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

/// An API error's status, reason and message, or its text when it is not a Status.
pub(super) fn status_of(e: &kube::Error) -> (Option<u16>, Option<String>, String) {
    match e {
        kube::Error::Api(s) => (
            Some(s.code),
            Some(s.reason.clone()).filter(|r| !r.is_empty()),
            s.message.clone(),
        ),
        other => (None, None, other.to_string()),
    }
}

/// `canary-secret-read`.
pub struct CanarySecretReadFault {
    spec: spec::CanarySecretRead,
    cluster: Cluster,
    connection: Connection,
    run_id: String,
    /// Whether the honeytoken Secret is firedrill's to create (it did not exist at plan).
    create_secret: Mutex<bool>,
    restore: Mutex<Vec<Undo>>,
    outcome: Mutex<Option<SecurityOutcome>>,
}

impl CanarySecretReadFault {
    /// A canary-secret-read fault; `connection` builds the ServiceAccount's own client.
    pub fn new(
        spec: spec::CanarySecretRead,
        cluster: Cluster,
        connection: Connection,
        run_id: String,
    ) -> Self {
        Self {
            spec,
            cluster,
            connection,
            run_id,
            create_secret: Mutex::new(false),
            restore: Mutex::new(Vec::new()),
            outcome: Mutex::new(None),
        }
    }

    /// The ServiceAccount's, Role's and RoleBinding's name.
    fn account(&self) -> String {
        marker_name(&self.spec.name)
    }

    /// The honeytoken Secret's name.
    fn secret_name(&self) -> String {
        self.spec
            .secret
            .clone()
            .unwrap_or_else(|| marker_name(&self.spec.name))
    }

    fn honeytoken(&self) -> Secret {
        let ns = &self.spec.namespace;
        Secret {
            metadata: drill_meta(&self.cluster, &self.spec.name, ns, &self.secret_name()),
            type_: Some("Opaque".to_owned()),
            data: Some(BTreeMap::from([(
                HONEYTOKEN_KEY.to_owned(),
                k8s_openapi::ByteString(marker_payload(&self.run_id).into_bytes()),
            )])),
            ..Secret::default()
        }
    }

    fn role(&self) -> Role {
        let ns = &self.spec.namespace;
        Role {
            metadata: drill_meta(&self.cluster, &self.spec.name, ns, &self.account()),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".to_owned()]),
                resource_names: Some(vec![self.secret_name()]),
                verbs: vec!["get".to_owned()],
                non_resource_urls: None,
            }]),
        }
    }

    fn binding(&self) -> RoleBinding {
        let ns = &self.spec.namespace;
        let name = self.account();
        RoleBinding {
            metadata: drill_meta(&self.cluster, &self.spec.name, ns, &name),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_owned(),
                kind: "Role".to_owned(),
                name: name.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_owned(),
                name,
                namespace: Some(ns.clone()),
                api_group: None,
            }]),
        }
    }

    /// Reads the Secret once as the ServiceAccount; a 403 is tried again until the new
    /// RoleBinding takes effect or [`RBAC_SETTLE`] has passed. The value is dropped at once.
    async fn read_once(&self, api: &Api<Secret>, name: &str) -> Result<u32, kube::Error> {
        let deadline = tokio::time::Instant::now() + RBAC_SETTLE;
        let mut refused = 0;
        loop {
            match api.get(name).await {
                Ok(secret) => {
                    drop(secret);
                    return Ok(refused);
                }
                Err(kube::Error::Api(s))
                    if s.code == 403 && tokio::time::Instant::now() < deadline =>
                {
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl Fault for CanarySecretReadFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = &self.spec.name;
        let ns = &self.spec.namespace;
        self.cluster
            .check_namespace(ns)
            .map_err(kube_error(fault))?;
        let secret = self.secret_name();
        let account = self.account();
        let api = Api::<Secret>::namespaced(self.cluster.client.clone(), ns);
        let exists = retry(&format!("get Secret {ns}/{secret}"), || {
            api.get_opt(&secret)
        })
        .await
        .map_err(kube_error(fault))?
        .is_some();
        let sa = drill_service_account(&self.cluster, fault, ns, &account);
        let run = &self.cluster.run_id;
        let mut restore = vec![Undo::delete_of::<ServiceAccount>(ns, &account).of_run(run)];
        let mut writes = vec![create_write(ns, &account, &sa)];
        let mut changes = vec![format!(
            "create ServiceAccount {ns}/{account} (no permission of its own)"
        )];
        if exists {
            changes.push(format!(
                "use the existing Secret {ns}/{secret} as the honeytoken (read, left as it is)"
            ));
        } else {
            restore.push(Undo::delete_of::<Secret>(ns, &secret).of_run(run));
            writes.push(create_write(ns, &secret, &self.honeytoken()));
            changes.push(format!(
                "create the honeytoken Secret {ns}/{secret} holding `{MARKER}: ...` (inert)"
            ));
        }
        restore.push(Undo::delete_of::<Role>(ns, &account).of_run(run));
        restore.push(Undo::delete_of::<RoleBinding>(ns, &account).of_run(run));
        writes.push(create_write(ns, &account, &self.role()));
        writes.push(create_write(ns, &account, &self.binding()));
        changes.push(format!(
            "create Role and RoleBinding {ns}/{account} allowing `get` on Secret {secret} only"
        ));
        changes.push(format!(
            "read Secret {ns}/{secret} {} time(s) as {} with a {TOKEN_SECONDS}s token",
            self.spec.reads,
            user_of(ns, &account)
        ));
        *lock(&self.create_secret) = !exists;
        Ok(Intent {
            fault: fault.clone(),
            fault_type: "canary-secret-read".to_owned(),
            changes,
            undo: restore.iter().rev().map(ToString::to_string).collect(),
            targets: vec![format!("{ns}/{secret}")],
            restore,
            pool: None,
            writes,
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let fault = &self.spec.name;
        let ns = &self.spec.namespace;
        let account = self.account();
        let secret = self.secret_name();
        let mut markers = vec![account.clone()];
        let mut actions = Vec::new();
        create_recorded(
            &self.cluster,
            fault,
            &drill_service_account(&self.cluster, fault, ns, &account),
            &self.restore,
        )
        .await?;
        if *lock(&self.create_secret) {
            create_recorded(&self.cluster, fault, &self.honeytoken(), &self.restore).await?;
            actions.push(format!(
                "created the honeytoken Secret {ns}/{secret} (key `{HONEYTOKEN_KEY}`: {})",
                marker_payload(&self.run_id)
            ));
            markers.push(secret.clone());
        }
        create_recorded(&self.cluster, fault, &self.role(), &self.restore).await?;
        create_recorded(&self.cluster, fault, &self.binding(), &self.restore).await?;
        let token = service_account_token(&self.cluster, ns, &account)
            .await
            .map_err(kube_error(fault))?;
        let client = self
            .connection
            .client_with_token(&token)
            .map_err(kube_error(fault))?;
        drop(token);
        let api = Api::<Secret>::namespaced(client, ns);
        let user = user_of(ns, &account);
        let mut waited = 0;
        for n in 1..=self.spec.reads {
            waited += self.read_once(&api, &secret).await.map_err(|source| {
                kube_error(fault)(KubeError::Api {
                    what: format!("read Secret {ns}/{secret} as {user} (read {n})"),
                    source,
                })
            })?;
        }
        let mut read = format!(
            "read Secret {ns}/{secret} {} time(s) as {user}, each answered 200 (values not kept)",
            self.spec.reads
        );
        if waited > 0 {
            read.push_str(&format!(
                "; {waited} earlier attempt(s) met 403 while the RoleBinding took effect"
            ));
        }
        actions.push(read);
        *lock(&self.outcome) = Some(SecurityOutcome::Canary(CanaryOutcome { actions, markers }));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, &self.spec.name, &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

/// `canary-exec` and `canary-dns-lookup`: a command run in the selected pods.
pub struct CanaryExecFault {
    name: String,
    type_name: &'static str,
    select: spec::Selector,
    container: Option<String>,
    command: Vec<String>,
    markers: Vec<String>,
    cluster: Cluster,
    chosen: Mutex<Vec<(PodRef, String)>>,
    outcome: Mutex<Option<SecurityOutcome>>,
}

/// The default command of `canary-exec`: what an intruder's first look around does, made
/// harmless (the read goes nowhere) and recognisable (it prints the marker).
pub fn default_exec_command() -> Vec<String> {
    vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        format!("cat /etc/shadow >/dev/null 2>&1; echo {MARKER}"),
    ]
}

/// The domain `canary-dns-lookup` looks up when none is given: `.invalid` never resolves.
pub fn default_canary_domain() -> String {
    format!("{MARKER}.invalid")
}

impl CanaryExecFault {
    /// A canary-exec fault.
    pub fn exec(spec: &spec::CanaryExec, cluster: Cluster) -> Self {
        let command = if spec.command.is_empty() {
            default_exec_command()
        } else {
            spec.command.clone()
        };
        Self::new(
            &spec.name,
            "canary-exec",
            &spec.select,
            spec.container.clone(),
            command,
            vec![MARKER.to_owned()],
            cluster,
        )
    }

    /// A canary-dns-lookup fault.
    pub fn dns_lookup(spec: &spec::CanaryDnsLookup, cluster: Cluster) -> Self {
        let domain = spec.domain.clone().unwrap_or_else(default_canary_domain);
        let command = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            format!("nslookup {domain} || getent hosts {domain}"),
        ];
        Self::new(
            &spec.name,
            "canary-dns-lookup",
            &spec.select,
            spec.container.clone(),
            command,
            vec![domain],
            cluster,
        )
    }

    fn new(
        name: &str,
        type_name: &'static str,
        select: &spec::Selector,
        container: Option<String>,
        command: Vec<String>,
        markers: Vec<String>,
        cluster: Cluster,
    ) -> Self {
        Self {
            name: name.to_owned(),
            type_name,
            select: select.clone(),
            container,
            command,
            markers,
            cluster,
            chosen: Mutex::new(Vec::new()),
            outcome: Mutex::new(None),
        }
    }
}

/// At most [`SHOWN_OUTPUT`] characters of a command's output, on one line.
fn shown(output: &str) -> String {
    let one_line = output.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > SHOWN_OUTPUT {
        let cut: String = one_line.chars().take(SHOWN_OUTPUT).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

#[async_trait]
impl Fault for CanaryExecFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = &self.name;
        let (pods, pool) = pick(&self.cluster, fault, &self.select).await?;
        let mut chosen = Vec::new();
        for p in pods {
            let api = Api::<Pod>::namespaced(self.cluster.client.clone(), &p.namespace);
            let pod = retry(&format!("get pod {}", p.id()), || api.get(&p.name))
                .await
                .map_err(kube_error(fault))?;
            let container =
                container_of(&pod, self.container.as_deref()).map_err(|e| FaultError::Unsafe {
                    fault: fault.clone(),
                    message: format!("pod {} {e}", p.id()),
                })?;
            chosen.push((p, container));
        }
        let command = self.command.join(" ");
        let intent = Intent {
            fault: fault.clone(),
            fault_type: self.type_name.to_owned(),
            changes: chosen
                .iter()
                .map(|(p, c)| format!("run `{command}` in container {c} of pod {}", p.id()))
                .collect(),
            undo: vec!["nothing to undo: the canary leaves no change behind".to_owned()],
            targets: chosen.iter().map(|(p, _)| p.id()).collect(),
            restore: Vec::new(),
            pool: Some(pool),
            // An exec writes no object and has no dry run: there is nothing for plan to send.
            writes: Vec::new(),
        };
        *lock(&self.chosen) = chosen;
        Ok(intent)
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let chosen = lock(&self.chosen).clone();
        let command = self.command.join(" ");
        let mut actions = Vec::new();
        for (p, container) in &chosen {
            let out = exec_capture(
                &self.cluster.client,
                &p.namespace,
                &p.name,
                container,
                &self.command,
            )
            .await
            .map_err(|source| FaultError::Exec {
                fault: self.name.clone(),
                target: format!("container {container} of pod {}", p.id()),
                source,
            })?;
            // The command's own failure (no such file, a name that does not resolve) is
            // part of the canary, not an error: the monitor must notice the attempt.
            let exit = match &out.status {
                None => "no exit status".to_owned(),
                Some(s) if s.status.as_deref() == Some("Success") => "exit 0".to_owned(),
                Some(s) => exit_code(s).map_or_else(
                    || format!("failed: {}", s.message.clone().unwrap_or_default()),
                    |c| format!("exit {c}"),
                ),
            };
            let mut line = format!(
                "ran `{command}` in container {container} of pod {}: {exit}",
                p.id()
            );
            let stdout = shown(&out.stdout);
            if !stdout.is_empty() {
                line.push_str(&format!(", output: {stdout}"));
            }
            let stderr = shown(&out.stderr);
            if !stderr.is_empty() {
                line.push_str(&format!(", errors: {stderr}"));
            }
            actions.push(line);
        }
        *lock(&self.outcome) = Some(SecurityOutcome::Canary(CanaryOutcome {
            actions,
            markers: self.markers.clone(),
        }));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        Ok(vec![
            "nothing to undo: the canary leaves no change behind".to_owned(),
        ])
    }

    fn affected(&self, _workload: &str) -> usize {
        // The command changes nothing in the pods: they stay available.
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

/// `canary-denied-requests`: a ServiceAccount with no permission lists Secrets.
pub struct CanaryDeniedRequestsFault {
    spec: spec::CanaryDeniedRequests,
    cluster: Cluster,
    connection: Connection,
    restore: Mutex<Vec<Undo>>,
    outcome: Mutex<Option<SecurityOutcome>>,
}

impl CanaryDeniedRequestsFault {
    /// A canary-denied-requests fault; `connection` builds the ServiceAccount's own client.
    pub fn new(spec: spec::CanaryDeniedRequests, cluster: Cluster, connection: Connection) -> Self {
        Self {
            spec,
            cluster,
            connection,
            restore: Mutex::new(Vec::new()),
            outcome: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Fault for CanaryDeniedRequestsFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let fault = &self.spec.name;
        let ns = &self.spec.namespace;
        self.cluster
            .check_namespace(ns)
            .map_err(kube_error(fault))?;
        let account = marker_name(fault);
        let sa = drill_service_account(&self.cluster, fault, ns, &account);
        let restore =
            vec![Undo::delete_of::<ServiceAccount>(ns, &account).of_run(&self.cluster.run_id)];
        Ok(Intent {
            fault: fault.clone(),
            fault_type: "canary-denied-requests".to_owned(),
            changes: vec![
                format!("create ServiceAccount {ns}/{account} (no permission of its own)"),
                format!(
                    "list Secrets in {ns} {} time(s) as {}; each must be refused (403)",
                    self.spec.count,
                    user_of(ns, &account)
                ),
            ],
            undo: restore.iter().map(ToString::to_string).collect(),
            targets: vec![format!("{ns}/{account}")],
            restore,
            pool: None,
            writes: vec![create_write(ns, &account, &sa)],
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let fault = &self.spec.name;
        let ns = &self.spec.namespace;
        let account = marker_name(fault);
        create_recorded(
            &self.cluster,
            fault,
            &drill_service_account(&self.cluster, fault, ns, &account),
            &self.restore,
        )
        .await?;
        let token = service_account_token(&self.cluster, ns, &account)
            .await
            .map_err(kube_error(fault))?;
        let client = self
            .connection
            .client_with_token(&token)
            .map_err(kube_error(fault))?;
        drop(token);
        let api = Api::<Secret>::namespaced(client, ns);
        let params = ListParams::default().limit(1);
        let mut refused = 0;
        let mut allowed = 0;
        let mut other: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..self.spec.count {
            match api.list(&params).await {
                // A success means the account can read Secrets: the values are dropped unread.
                Ok(list) => {
                    drop(list);
                    allowed += 1;
                }
                Err(kube::Error::Api(s)) if s.code == 403 => refused += 1,
                Err(e) => {
                    let (code, _, message) = status_of(&e);
                    let key = code.map_or_else(|| message.clone(), |c| format!("{c} {message}"));
                    *other.entry(key).or_default() += 1;
                }
            }
        }
        let user = user_of(ns, &account);
        let mut actions = vec![format!(
            "sent {} list-Secrets request(s) in {ns} as {user}: {refused} answered 403 Forbidden",
            self.spec.count
        )];
        if allowed > 0 {
            actions.push(format!(
                "WARNING: {allowed} request(s) SUCCEEDED: {user}, a ServiceAccount given no permission, can list Secrets in {ns}; something grants every ServiceAccount more than it should"
            ));
        }
        for (answer, n) in other {
            actions.push(format!("{n} request(s) answered {answer}"));
        }
        *lock(&self.outcome) = Some(SecurityOutcome::Canary(CanaryOutcome {
            actions,
            markers: vec![account],
        }));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        undo_all(&self.cluster, &self.spec.name, &self.restore).await
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

impl BuildFault for spec::CanarySecretRead {
    fn build(&self, platform: &Platform, ctx: &FaultContext) -> Built {
        let k = kubernetes_platform(self, platform)?;
        Ok(Arc::new(CanarySecretReadFault::new(
            self.clone(),
            k.cluster().clone(),
            k.connection().clone(),
            ctx.run_id.clone(),
        )))
    }
}

impl BuildFault for spec::CanaryExec {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let k = kubernetes_platform(self, platform)?;
        Ok(Arc::new(CanaryExecFault::exec(self, k.cluster().clone())))
    }
}

impl BuildFault for spec::CanaryDnsLookup {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let k = kubernetes_platform(self, platform)?;
        Ok(Arc::new(CanaryExecFault::dns_lookup(
            self,
            k.cluster().clone(),
        )))
    }
}

impl BuildFault for spec::CanaryDeniedRequests {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        let k = kubernetes_platform(self, platform)?;
        Ok(Arc::new(CanaryDeniedRequestsFault::new(
            self.clone(),
            k.cluster().clone(),
            k.connection().clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_commands_carry_the_marker_and_change_nothing() {
        let exec = default_exec_command().join(" ");
        assert!(
            exec.contains(MARKER) && exec.contains(">/dev/null"),
            "{exec}"
        );
        assert_eq!(default_canary_domain(), "firedrill-canary.invalid");
    }

    #[test]
    fn shown_output_is_one_short_line() {
        assert_eq!(shown("a\n  b\n"), "a b");
        let long = shown(&"x".repeat(500));
        assert_eq!(long.chars().count(), SHOWN_OUTPUT + 3);
    }
}
