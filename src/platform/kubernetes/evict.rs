//! Evictions through the Eviction API, built here rather than with kube's `Api::evict`,
//! whose body names the delete options `delete_options`: an API server reads only
//! `deleteOptions`, so a uid precondition or a dry run sent that way is silently ignored.

use k8s_openapi::api::core::v1::Pod;
use kube::Resource as _;
use kube::api::DynamicObject;
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::{KubeError, retry};

/// Evicts `namespace/name`: for real, or as a server-side dry run. With `uid`, only that pod
/// (not a replacement of the same name). A PodDisruptionBudget's refusal is an answer, not a
/// busy server: it ends the retries at once as [`KubeError::Disruption`]; other 429s and
/// 5xx are retried.
pub async fn evict(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
    dry_run: bool,
) -> Result<(), KubeError> {
    let (url, body) = eviction_request(namespace, name, uid, dry_run);
    let what = format!(
        "evict pod {namespace}/{name}{}",
        if dry_run { " (dry run)" } else { "" }
    );
    let refused = retry(&what, || {
        let request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        async move {
            let request = request.map_err(kube::Error::HttpError)?;
            match client.request::<Value>(request).await {
                Ok(_) => Ok(None),
                Err(kube::Error::Api(status)) if is_budget_refusal(&status) => {
                    Ok(Some(status.message.clone()))
                }
                Err(e) => Err(e),
            }
        }
    })
    .await?;
    match refused {
        None => Ok(()),
        Some(message) => Err(KubeError::Disruption {
            pod: format!("{namespace}/{name}"),
            message,
        }),
    }
}

/// The eviction's URL and body.
fn eviction_request(
    namespace: &str,
    name: &str,
    uid: Option<&str>,
    dry_run: bool,
) -> (String, Vec<u8>) {
    let pods = ApiResource::erase::<Pod>(&());
    let mut url = format!(
        "{}/{name}/eviction",
        DynamicObject::url_path(&pods, Some(namespace))
    );
    let mut options = serde_json::Map::new();
    if dry_run {
        url.push_str("?dryRun=All");
        options.insert("dryRun".into(), json!(["All"]));
    }
    if let Some(uid) = uid {
        options.insert("preconditions".into(), json!({"uid": uid}));
    }
    let body = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
        "deleteOptions": options,
    });
    (url, serde_json::to_vec(&body).unwrap_or_default())
}

/// Whether a 429 from the eviction subresource is a PodDisruptionBudget saying no.
pub fn is_budget_refusal(status: &kube::core::Status) -> bool {
    status.code == 429
        && (status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "DisruptionBudget"))
            || status.message.to_lowercase().contains("disruption budget"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_delete_options_as_the_api_server_reads_them() {
        let (url, body) = eviction_request("shop", "web-1", Some("u-1"), false);
        assert_eq!(url, "/api/v1/namespaces/shop/pods/web-1/eviction");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({
                "apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": "web-1", "namespace": "shop"},
                "deleteOptions": {"preconditions": {"uid": "u-1"}},
            })
        );
        let (url, body) = eviction_request("shop", "web-1", None, true);
        assert_eq!(
            url,
            "/api/v1/namespaces/shop/pods/web-1/eviction?dryRun=All"
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["deleteOptions"], json!({"dryRun": ["All"]}));
    }

    #[test]
    fn only_a_budget_429_is_a_refusal() {
        let status = |code: u16, message: &str| kube::core::Status {
            code,
            message: message.to_owned(),
            ..kube::core::Status::default()
        };
        assert!(is_budget_refusal(&status(
            429,
            "Cannot evict pod as it would violate the pod's disruption budget."
        )));
        assert!(!is_budget_refusal(&status(429, "too many requests")));
        assert!(!is_budget_refusal(&status(500, "disruption budget")));
    }
}
