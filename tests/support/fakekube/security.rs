//! Who is asking and whether they may: ServiceAccount tokens from the TokenRequest API, a
//! small RBAC evaluator over the namespace's Roles and RoleBindings for requests that carry
//! such a token, and PodSecurity admission of pod creations by the namespace's
//! `pod-security.kubernetes.io/enforce` label, with a test switch for a policy engine's 422.
//!
//! Requests with any other token (the kubeconfig's `fake-token`) stay all-powerful, as before.
//! ClusterRoles and ClusterRoleBindings are not stored, so a binding to a ClusterRole grants
//! nothing here.

use super::store::{ApiError, State, def, random_suffix, str_at};
use serde_json::{Value, json};

/// The prefix of every token the TokenRequest API hands out.
const TOKEN_PREFIX: &str = "fake-sa-token.";
/// The label that sets the Pod Security level a namespace enforces.
pub const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// A ServiceAccount a token was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid when the token was issued: a token of a deleted ServiceAccount is refused.
    pub uid: String,
}

impl Identity {
    /// `system:serviceaccount:NS:NAME`, as the API server names the user.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// How pod creations are admitted beyond PodSecurity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Admission {
    /// PodSecurity by the namespace label; ServiceAccount tokens go through RBAC.
    #[default]
    Standard,
    /// A ValidatingAdmissionPolicy named so refuses (422 Invalid) any pod that breaks the
    /// baseline level, whatever the namespace's labels say; PodSecurity still applies.
    Policy(String),
    /// Everything is admitted and every ServiceAccount token may do anything.
    Permissive,
}

/// Answers a TokenRequest for `ns/name`: a token that identifies the ServiceAccount.
pub fn token_request(
    st: &mut State,
    ns: &str,
    name: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let sa = st
        .get("serviceaccounts", ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(def("serviceaccounts"), name))?;
    if body
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "TokenRequest")
    {
        return Err(ApiError::bad_request("the body is not a TokenRequest"));
    }
    let expiration = body
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if expiration < 600 {
        return Err(ApiError::invalid(
            def("serviceaccounts"),
            name,
            &[(
                "spec.expirationSeconds".into(),
                format!(
                    "Invalid value: {expiration}: may not specify a duration less than 10 minutes"
                ),
            )],
        ));
    }
    let token = format!("{TOKEN_PREFIX}{ns}.{name}.{}", random_suffix(16));
    st.tokens.insert(
        token.clone(),
        Identity {
            namespace: ns.to_string(),
            name: name.to_string(),
            uid: str_at(&sa, "/metadata/uid").to_string(),
        },
    );
    let expires =
        st.wall(std::time::Instant::now()) + std::time::Duration::from_secs(expiration as u64);
    let audiences = body
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .cloned()
        .unwrap_or_else(|| vec![json!("https://kubernetes.default.svc.cluster.local")]);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null},
        "status": {"token": token, "expirationTimestamp": super::store::rfc3339(expires)},
    }))
}

/// The ServiceAccount behind the request's bearer token, if it carries one of ours; 401 for
/// a token of ours that is unknown or whose ServiceAccount is gone.
pub fn authenticate(st: &State, authorization: Option<&str>) -> Result<Option<Identity>, ApiError> {
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        return Ok(None);
    };
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let unauthorized = || ApiError::new(401, "Unauthorized", "Unauthorized");
    let id = st.tokens.get(token).ok_or_else(unauthorized)?;
    match st.get("serviceaccounts", &id.namespace, &id.name) {
        Some(sa) if str_at(sa, "/metadata/uid") == id.uid => Ok(Some(id.clone())),
        _ => Err(unauthorized()),
    }
}

fn has(list: &Value, wanted: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|v| v == "*" || v == wanted))
}

/// Whether a RoleBinding's subjects include the ServiceAccount.
fn binds(binding: &Value, id: &Identity) -> bool {
    binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            let name = str_at(s, "/name");
            match str_at(s, "/kind") {
                "ServiceAccount" => {
                    name == id.name
                        && match str_at(s, "/namespace") {
                            "" => str_at(binding, "/metadata/namespace") == id.namespace,
                            ns => ns == id.namespace,
                        }
                }
                "Group" => {
                    name == "system:serviceaccounts"
                        || name == format!("system:serviceaccounts:{}", id.namespace)
                }
                "User" => name == id.user(),
                _ => false,
            }
        })
}

/// Whether the namespace's Roles, through its RoleBindings, allow the request.
fn allowed(
    st: &State,
    id: &Identity,
    verb: &str,
    group: &str,
    resource: &str,
    ns: Option<&str>,
    name: Option<&str>,
) -> bool {
    let Some(ns) = ns else {
        return false;
    };
    st.list("rolebindings", Some(ns))
        .into_iter()
        .filter(|b| str_at(b, "/roleRef/kind") == "Role" && binds(b, id))
        .filter_map(|b| st.get("roles", ns, str_at(b, "/roleRef/name")))
        .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
        .any(|rule| {
            has(&rule["apiGroups"], group)
                && has(&rule["resources"], resource)
                && has(&rule["verbs"], verb)
                && match rule["resourceNames"].as_array().filter(|n| !n.is_empty()) {
                    None => true,
                    Some(names) => name.is_some_and(|n| names.iter().any(|v| v == n)),
                }
        })
}

/// 403 unless RBAC allows the ServiceAccount the request; the message as the API server words it.
pub fn authorize(
    st: &State,
    id: &Identity,
    verb: &str,
    group: &str,
    resource: &str,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<(), ApiError> {
    if st.admission == Admission::Permissive || allowed(st, id, verb, group, resource, ns, name) {
        return Ok(());
    }
    let (plural, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let head = match name {
        Some(n) => format!("{resource} \"{n}\""),
        None => resource.to_string(),
    };
    let scope = match ns {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    };
    let mut details = json!({"kind": plural});
    if let Some(n) = name {
        details["name"] = json!(n);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    let sub_text = if sub.is_empty() {
        String::new()
    } else {
        format!("/{sub}")
    };
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!(
            "{head} is forbidden: User \"{}\" cannot {verb} resource \"{plural}{sub_text}\" in API group \"{group}\"{scope}",
            id.user()
        ),
    );
    e.details = Some(details);
    Err(e)
}

/// The Pod Security checks a pod breaks at `level` (`baseline` or `restricted`), each as the
/// API server words it.
pub fn violations(pod: &Value, level: &str) -> Vec<String> {
    let spec = &pod["spec"];
    let containers: Vec<&Value> = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|f| spec[*f].as_array().into_iter().flatten())
        .collect();
    let names = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        containers
            .iter()
            .filter(|c| pred(c))
            .map(|c| format!("\"{}\"", str_at(c, "/name")))
            .collect()
    };
    let quoted = |v: Vec<String>| {
        let noun = if v.len() == 1 {
            "container"
        } else {
            "containers"
        };
        format!("{noun} {}", v.join(", "))
    };
    let mut out = Vec::new();
    let host: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec[**f] == json!(true))
        .map(|f| format!("{f}=true"))
        .collect();
    if !host.is_empty() {
        out.push(format!("host namespaces ({})", host.join(", ")));
    }
    let privileged = names(&|c| c.pointer("/securityContext/privileged") == Some(&json!(true)));
    if !privileged.is_empty() {
        out.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            quoted(privileged)
        ));
    }
    let host_paths: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| format!("\"{}\"", str_at(v, "/name")))
        .collect();
    if !host_paths.is_empty() {
        let noun = if host_paths.len() == 1 {
            "volume"
        } else {
            "volumes"
        };
        out.push(format!(
            "hostPath volumes ({noun} {})",
            host_paths.join(", ")
        ));
    }
    if level != "restricted" {
        return out;
    }
    let escalation =
        names(&|c| c.pointer("/securityContext/allowPrivilegeEscalation") != Some(&json!(false)));
    if !escalation.is_empty() {
        out.push(format!(
            "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
            quoted(escalation)
        ));
    }
    let capabilities = names(&|c| {
        !c.pointer("/securityContext/capabilities/drop")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x == "ALL"))
    });
    if !capabilities.is_empty() {
        out.push(format!(
            "unrestricted capabilities ({} must set securityContext.capabilities.drop=[\"ALL\"])",
            quoted(capabilities)
        ));
    }
    let pod_non_root = spec.pointer("/securityContext/runAsNonRoot") == Some(&json!(true));
    let root = names(&|c| {
        !pod_non_root && c.pointer("/securityContext/runAsNonRoot") != Some(&json!(true))
    });
    if !root.is_empty() {
        out.push(format!(
            "runAsNonRoot != true (pod or {} must set securityContext.runAsNonRoot=true)",
            quoted(root)
        ));
    }
    let pod_seccomp = spec
        .pointer("/securityContext/seccompProfile/type")
        .is_some();
    let seccomp =
        names(&|c| !pod_seccomp && c.pointer("/securityContext/seccompProfile/type").is_none());
    if !seccomp.is_empty() {
        out.push(format!(
            "seccompProfile (pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
            quoted(seccomp)
        ));
    }
    out
}

/// Admits a pod creation (dry runs too, as the real admission chain does): PodSecurity by
/// the namespace's enforce label (403), then the test's policy engine (422).
pub fn admit_pod(st: &State, ns: &str, pod: &Value) -> Result<(), ApiError> {
    if st.admission == Admission::Permissive {
        return Ok(());
    }
    let name = str_at(pod, "/metadata/name");
    let head = if name.is_empty() {
        "pods".to_string()
    } else {
        format!("pods \"{name}\"")
    };
    let level = st
        .get("namespaces", "", ns)
        .map(|n| {
            str_at(
                n,
                &format!("/metadata/labels/{}", ENFORCE.replace('/', "~1")),
            )
            .to_string()
        })
        .unwrap_or_default();
    if matches!(level.as_str(), "baseline" | "restricted") {
        let broken = violations(pod, &level);
        if !broken.is_empty() {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{head} is forbidden: violates PodSecurity \"{level}:latest\": {}",
                    broken.join(", ")
                ),
            ));
        }
    }
    if let super::security::Admission::Policy(policy) = &st.admission
        && !violations(pod, "baseline").is_empty()
    {
        let mut e = ApiError::new(
            422,
            "Invalid",
            format!(
                "{head} is forbidden: ValidatingAdmissionPolicy '{policy}' with binding '{policy}-binding' denied request: pods may not use the host's namespaces, privileged containers or host paths"
            ),
        );
        e.details = Some(
            json!({"name": name, "kind": "pods", "causes": [{"message": "pods may not use the host's namespaces, privileged containers or host paths"}]}),
        );
        return Err(e);
    }
    Ok(())
}
