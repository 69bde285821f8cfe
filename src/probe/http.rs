//! HTTP probe: status and latency bound.

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Outcome, Probe, ProbeError};
use crate::spec;

/// Sends one request per observation on a fresh connection, so that each observation goes
/// through the service's balancing as a new user would.
#[derive(Debug)]
pub struct HttpProbe {
    client: reqwest::Client,
    method: reqwest::Method,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    body: Option<String>,
    expect_status: u16,
    max_latency: Option<Duration>,
}

impl HttpProbe {
    /// Builds the probe for an already expanded URL.
    pub fn new(spec: &spec::HttpProbe, url: &str) -> Result<Self, ProbeError> {
        let invalid = |message: String| ProbeError::Invalid {
            probe: spec.name.clone(),
            message,
        };
        let url =
            reqwest::Url::parse(url).map_err(|e| invalid(format!("invalid URL `{url}`: {e}")))?;
        if url.scheme() != "http" {
            return Err(invalid(format!(
                "URL scheme `{}` is not supported; use http://",
                url.scheme()
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &spec.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| invalid(format!("invalid header name `{k}`: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|e| invalid(format!("invalid value of header `{k}`: {e}")))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(spec.timeout.get())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("firedrill/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ProbeError::Client {
                probe: spec.name.clone(),
                source,
            })?;
        let method = reqwest::Method::from_bytes(spec.method.as_str().as_bytes())
            .map_err(|e| invalid(format!("invalid method: {e}")))?;
        Ok(Self {
            client,
            method,
            url,
            headers,
            body: spec.body.clone(),
            expect_status: spec.expect_status,
            max_latency: spec.max_latency.map(spec::Duration::get),
        })
    }
}

#[async_trait]
impl Probe for HttpProbe {
    async fn observe(&self) -> Outcome {
        let started = Instant::now();
        let mut req = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if let Some(body) = &self.body {
            req = req.body(body.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::fail(describe(&e)),
        };
        let status = resp.status().as_u16();
        // The body is part of what a user waits for.
        if let Err(e) = resp.bytes().await {
            return Outcome::fail(format!("reading the body failed: {}", describe(&e)));
        }
        let elapsed = started.elapsed();
        if status != self.expect_status {
            return Outcome::fail(format!("status {status}, expected {}", self.expect_status));
        }
        match self.max_latency {
            Some(max) if elapsed > max => Outcome::fail(format!(
                "took {:.1}ms, more than {:.1}ms",
                elapsed.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            )),
            _ => Outcome::pass(),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad body"
    } else {
        "request failed"
    };
    let mut msg = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
