//! The API client: configuration from a kubeconfig or the pod's service account, and
//! bounded retries of transient failures.

use std::future::Future;
use std::time::Duration;

use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use super::KubeError;

/// Where a client is connected.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The kubeconfig context, or `in-cluster`.
    pub context: String,
    /// The API server's URL.
    pub server: String,
    /// The configuration the client was built from, for clients that act as someone else.
    config: std::sync::Arc<kube::Config>,
}

impl Connection {
    /// A client for the same API server (URL, CA, TLS settings) that authenticates with
    /// `token` only: the run's own credentials are left out, so that it acts as the
    /// ServiceAccount the token belongs to.
    pub fn client_with_token(&self, token: &str) -> Result<kube::Client, KubeError> {
        let mut config = (*self.config).clone();
        // AuthInfo keeps its token in a secret type; going through serde avoids depending on it.
        config.auth_info =
            serde_json::from_value(serde_json::json!({ "token": token })).map_err(|e| {
                KubeError::Config {
                    context: Some(self.context.clone()),
                    source: Box::new(e),
                }
            })?;
        kube::Client::try_from(config).map_err(|e| KubeError::Config {
            context: Some(self.context.clone()),
            source: Box::new(e),
        })
    }
}

/// Builds a client from `KUBECONFIG` (or `~/.kube/config`) with `context`, or the current
/// context; without any kubeconfig, from the in-cluster service account.
pub async fn connect(context: Option<&str>) -> Result<(kube::Client, Connection), KubeError> {
    // The process-wide TLS provider must be ring before any client is built.
    crate::tls::install_crypto_provider();
    let config_error = |source: Box<dyn std::error::Error + Send + Sync>| KubeError::Config {
        context: context.map(str::to_owned),
        source,
    };
    let kubeconfig = Kubeconfig::read();
    let (config, name) = match kubeconfig {
        Ok(kc) => {
            let name = context
                .map(str::to_owned)
                .or_else(|| kc.current_context.clone())
                .unwrap_or_else(|| "current".to_owned());
            let options = KubeConfigOptions {
                context: context.map(str::to_owned),
                ..KubeConfigOptions::default()
            };
            let config = Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| config_error(Box::new(e)))?;
            (config, name)
        }
        Err(read) if context.is_none() => match Config::incluster() {
            Ok(config) => (config, "in-cluster".to_owned()),
            Err(_) => return Err(config_error(Box::new(read))),
        },
        Err(read) => return Err(config_error(Box::new(read))),
    };
    // Retries are ours (bounded, logged, and for 5xx too); the client's own would multiply them.
    let mut config = config;
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config.clone()).map_err(|e| config_error(Box::new(e)))?;
    Ok((
        client,
        Connection {
            context: name,
            server,
            config: std::sync::Arc::new(config),
        },
    ))
}

/// Whether an API error is worth retrying: 429, 5xx, or a connection that failed.
pub fn is_retriable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The delay a 429 asks for, if it says.
fn retry_after(error: &kube::Error) -> Option<Duration> {
    match error {
        kube::Error::Api(status) => status
            .details
            .as_ref()
            .map(|d| u64::from(d.retry_after_seconds))
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        _ => None,
    }
}

/// How many times a request is tried in all.
pub const ATTEMPTS: u32 = 5;
/// The first back-off; doubled after each failure.
const BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs `request` until it succeeds, fails for good, or has failed [`ATTEMPTS`] times,
/// waiting between attempts (the server's Retry-After where it gives one, bounded).
pub async fn retry<T, F, Fut>(what: &str, mut request: F) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = BACKOFF;
    let mut attempt = 1;
    loop {
        match request().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && is_retriable(&e) => {
                let wait = retry_after(&e).unwrap_or(backoff).min(MAX_BACKOFF);
                tracing::warn!(request = what, attempt, error = %e, wait_ms = wait.as_millis() as u64, "retrying a Kubernetes API request");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                attempt += 1;
            }
            Err(source) => {
                return Err(KubeError::Api {
                    what: what.to_owned(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("boom", "InternalError")
                .with_code(code)
                .boxed(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = retry("get", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(status(500)) } else { Ok(n) } }
        })
        .await
        .unwrap();
        assert_eq!(out, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_bound_and_never_retries_a_client_error() {
        let calls = AtomicU32::new(0);
        let err = retry("get", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(status(429)) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
        assert_eq!(err.kind(), super::super::ErrorKind::Retriable);

        let calls = AtomicU32::new(0);
        let err = retry("get", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(status(403)) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.kind(), super::super::ErrorKind::Infrastructure);
    }
}
