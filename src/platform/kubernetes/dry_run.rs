//! Server-side dry runs of the writes a fault plans (`dryRun=All`): the API server admits,
//! validates and defaults each write as it would for the run, and persists nothing. What it
//! answers is the object as it would be after the write, which `firedrill plan --manifests`
//! writes out for review.

use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::write::REDACTED;
use super::{ApiWrite, KubeError, WriteAction, retry};

/// What a write's dry run gave back.
#[derive(Clone, Debug)]
pub struct DryRun {
    /// The object as it would be after a create or a patch (the server's answer), or, for a
    /// delete or an eviction, the object as it is now.
    pub object: Value,
    /// Whether `object` is the object as it is now (delete, evict) rather than after the write.
    pub current: bool,
}

/// Sends `write` to the API server as a dry run; the server's refusal (403, 404, 409, 422,
/// a PodDisruptionBudget's 429) comes back as [`KubeError::Api`] with its Status.
pub async fn dry_run(client: &kube::Client, write: &ApiWrite) -> Result<DryRun, KubeError> {
    let api: Api<DynamicObject> = if write.namespace.is_empty() {
        Api::all_with(client.clone(), &write.resource)
    } else {
        Api::namespaced_with(client.clone(), &write.namespace, &write.resource)
    };
    let what = format!("dry run: {}", write.describe());
    let name = write.name.as_str();
    match &write.action {
        WriteAction::Create(object) => {
            let object: DynamicObject =
                serde_json::from_value(object.clone()).map_err(|e| KubeError::Api {
                    what: what.clone(),
                    source: kube::Error::SerdeError(e),
                })?;
            let post = PostParams {
                dry_run: true,
                ..PostParams::default()
            };
            let created = retry(&what, || api.create(&post, &object)).await?;
            Ok(after(created))
        }
        WriteAction::MergePatch { subresource, patch } => {
            let params = PatchParams::default().dry_run();
            let patch = Patch::Merge(patch);
            let patched = match subresource {
                Some(sub) => {
                    retry(&what, || api.patch_subresource(sub, name, &params, &patch)).await?
                }
                None => retry(&what, || api.patch(name, &params, &patch)).await?,
            };
            Ok(after(patched))
        }
        WriteAction::Delete {
            grace_period_seconds,
        } => {
            let current = current(&api, write, &what).await?;
            let params = DeleteParams {
                dry_run: true,
                grace_period_seconds: *grace_period_seconds,
                ..DeleteParams::default()
            };
            retry(&what, || api.delete(name, &params)).await?;
            Ok(current)
        }
        WriteAction::Evict => {
            let current = current(&api, write, &what).await?;
            super::evict(client, &write.namespace, &write.name, None, true).await?;
            Ok(current)
        }
    }
}

fn after(object: DynamicObject) -> DryRun {
    DryRun {
        object: serde_json::to_value(object).unwrap_or_default(),
        current: false,
    }
}

/// The object a delete or an eviction would remove, as it is now. Pods are read with a list
/// by name, which resolving a workload already needs permission for; anything else with get.
async fn current(
    api: &Api<DynamicObject>,
    write: &ApiWrite,
    what: &str,
) -> Result<DryRun, KubeError> {
    let object = if write.resource.plural == "pods" && write.resource.group.is_empty() {
        let params = ListParams::default().fields(&format!("metadata.name={}", write.name));
        let found = retry(what, || api.list(&params)).await?;
        found.items.into_iter().next().ok_or_else(|| {
            KubeError::NotFound(format!(
                "{}: pod {}/{} does not exist",
                what, write.namespace, write.name
            ))
        })?
    } else {
        retry(what, || api.get(&write.name)).await?
    };
    let mut object = serde_json::to_value(object).unwrap_or_default();
    // A list's items come without apiVersion and kind; a manifest needs both.
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".into(), json!(write.resource.api_version));
        map.insert("kind".into(), json!(write.resource.kind));
    }
    Ok(DryRun {
        object,
        current: true,
    })
}

/// The object as written for review: without `metadata.managedFields` and `status`, which
/// the server fills and a reviewer does not change, and with every value of a Secret's
/// `data` and `stringData` replaced by [`REDACTED`].
pub fn for_review(mut object: Value) -> Value {
    let Value::Object(map) = &mut object else {
        return object;
    };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove("managedFields");
    }
    if map.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = map.get_mut(field) {
                values
                    .values_mut()
                    .for_each(|v| *v = Value::String(REDACTED.to_owned()));
            }
        }
    }
    object
}

/// The file a write's object goes to: `NN-FAULT-KIND[-SUBRESOURCE]-NAMESPACE-NAME.yaml` (no
/// namespace part for a cluster-scoped object), in lower case, with anything but letters, digits,
/// dots and dashes made a dash.
pub fn manifest_file_name(index: usize, fault: &str, write: &ApiWrite) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let mut parts = vec![
        format!("{index:02}"),
        clean(fault),
        clean(&write.resource.kind),
    ];
    // A subresource's answer is its own kind (a `scale` patch answers with a Scale).
    if let WriteAction::MergePatch {
        subresource: Some(sub),
        ..
    } = &write.action
    {
        parts.push(clean(sub));
    }
    if !write.namespace.is_empty() {
        parts.push(clean(&write.namespace));
    }
    parts.push(clean(&write.name));
    format!("{}.yaml", parts.join("-"))
}

/// The API server's answer in an error, as `CODE Reason: message`, when it gave one.
pub fn server_message(error: &KubeError) -> String {
    match error {
        KubeError::Api {
            source: kube::Error::Api(status),
            ..
        } => format!("{} {}: {}", status.code, status.reason, status.message),
        other => {
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Node, Secret};

    use super::*;

    #[test]
    fn review_copies_drop_server_noise_and_redact_secrets() {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop", "managedFields": [{"manager": "x"}], "uid": "u"},
            "data": {"password": "c2VjcmV0"},
            "stringData": {"token": "plain"},
            "status": {},
        });
        assert_eq!(
            for_review(secret),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "namespace": "shop", "uid": "u"},
                "data": {"password": "<redacted>"},
                "stringData": {"token": "<redacted>"},
            })
        );
        let config = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        assert_eq!(for_review(config.clone()), config);
    }

    #[test]
    fn file_names_are_numbered_and_safe() {
        let w = ApiWrite::of::<Secret>("shop", "db", WriteAction::Evict);
        assert_eq!(
            manifest_file_name(3, "Rotate_DB", &w),
            "03-rotate-db-secret-shop-db.yaml"
        );
        let n = ApiWrite::of::<Node>("", "node-1", WriteAction::Evict);
        assert_eq!(
            manifest_file_name(12, "drain", &n),
            "12-drain-node-node-1.yaml"
        );
        let s = ApiWrite::of::<Deployment>(
            "shop",
            "web",
            WriteAction::MergePatch {
                subresource: Some("scale".into()),
                patch: json!({}),
            },
        );
        assert_eq!(
            manifest_file_name(1, "outage", &s),
            "01-outage-deployment-scale-shop-web.yaml"
        );
    }
}
