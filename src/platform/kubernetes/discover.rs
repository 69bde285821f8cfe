//! Finding the resource that serves a kind through the cluster's discovery, for probes of
//! objects of any kind (custom resources included).

use kube::api::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;

/// Why a kind could not be resolved to a resource.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The cluster does not serve the API version at all.
    #[error("the cluster serves no API version `{api_version}` (looking for kind `{kind}`)")]
    NoApiVersion {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// The API version is served, without this kind.
    #[error("the cluster serves no kind `{kind}` in `{api_version}`")]
    NoKind {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// The kind is cluster-scoped where a namespaced one is needed.
    #[error("`{kind}` (`{api_version}`) is cluster-scoped; only namespaced kinds can be probed")]
    ClusterScoped {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Discovery itself failed.
    #[error("discovery of `{api_version}` failed")]
    Api {
        /// The apiVersion asked for.
        api_version: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// The group and version of an `apiVersion` (`v1` is the core group).
pub fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The namespaced resource that serves `kind` in `api_version`: one discovery request
/// (`/api/v1` or `/apis/GROUP/VERSION`).
pub async fn namespaced_resource(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
) -> Result<ApiResource, DiscoverError> {
    let (group, version) = group_version(api_version);
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let owned = || (api_version.to_owned(), kind.to_owned());
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok((resource, caps)) if caps.scope == Scope::Namespaced => Ok(resource),
        Ok(_) => {
            let (api_version, kind) = owned();
            Err(DiscoverError::ClusterScoped { api_version, kind })
        }
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let (api_version, kind) = owned();
            Err(DiscoverError::NoApiVersion { api_version, kind })
        }
        Err(kube::Error::Discovery(_)) => {
            let (api_version, kind) = owned();
            Err(DiscoverError::NoKind { api_version, kind })
        }
        Err(source) => Err(DiscoverError::Api {
            api_version: api_version.to_owned(),
            source,
        }),
    }
}

/// The resource (plural) a kind is served as when discovery cannot be asked: the lower-case
/// plural of the kind, as `kubectl` guesses it. Offline plans and the RBAC catalogue use it.
pub fn guessed_plural(api_version: &str, kind: &str) -> String {
    let (group, version) = group_version(api_version);
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)).plural
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(group_version("v1"), ("", "v1"));
        assert_eq!(
            group_version("example.com/v1alpha1"),
            ("example.com", "v1alpha1")
        );
        assert_eq!(guessed_plural("example.com/v1", "Widget"), "widgets");
        assert_eq!(
            guessed_plural("networking.k8s.io/v1", "NetworkPolicy"),
            "networkpolicies"
        );
    }
}
