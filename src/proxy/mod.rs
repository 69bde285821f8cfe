//! The fault-injection proxy: TCP proxies carrying toxics, a registry to drive them from the
//! engine, and an admin API compatible with Toxiproxy 2.x.
//!
//! A [`ProxyRegistry`] owns the proxies. Each proxy listens on its address and, for every
//! client, connects to its upstream and pumps bytes both ways through its toxics (see
//! `pump`). Toxics are data ([`ToxicKind`]); changing them on a live connection never drops,
//! duplicates or reorders a byte.

pub mod api;
mod gate;
pub(crate) mod http;
mod pump;
mod registry;
#[cfg(test)]
mod testutil;
mod timer;
pub mod toxics;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use registry::ProxyRegistry;
pub use toxics::ToxicKind;

/// The Toxiproxy version whose API this one follows, reported by `GET /version`.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// Which way a toxic acts: `upstream` is client to server, `downstream` server to client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to server.
    Upstream,
    /// Server to client (Toxiproxy's default).
    #[default]
    Downstream,
}

impl Stream {
    /// The name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }

    fn parse(s: &str) -> Result<Self, ProxyError> {
        match s {
            "upstream" => Ok(Self::Upstream),
            "downstream" => Ok(Self::Downstream),
            other => Err(ProxyError::InvalidStream(other.to_owned())),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:0".to_owned()
}

fn yes() -> bool {
    true
}

/// A proxy to create: the body of `POST /proxies` and an element of `POST /populate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Unique name.
    pub name: String,
    /// Address to listen on; port 0 picks a free port (the real one is reported).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Address to connect to, `host:port`, resolved for each connection.
    pub upstream: String,
    /// Whether to listen at once.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A proxy in a `firedrill proxy --config` file: the `POST /populate` fields and, beyond
/// Toxiproxy's format, the toxics it starts with, so that a proxy can run faulty from its
/// first connection without a call to its admin API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredProxy {
    /// Unique name.
    pub name: String,
    /// Address to listen on; port 0 picks a free port (the real one is reported).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Address to connect to, `host:port`, resolved for each connection.
    pub upstream: String,
    /// Whether to listen at once.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Toxics added once the proxy exists, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toxics: Vec<ToxicConfig>,
}

impl ConfiguredProxy {
    /// The proxy to create and the toxics to add to it.
    pub fn split(self) -> (ProxyConfig, Vec<ToxicConfig>) {
        (
            ProxyConfig {
                name: self.name,
                listen: self.listen,
                upstream: self.upstream,
                enabled: self.enabled,
            },
            self.toxics,
        )
    }
}

/// A change to a proxy: the body of `POST /proxies/{name}`; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyUpdate {
    /// New listen address (restarts the proxy, closing its connections).
    pub listen: Option<String>,
    /// New upstream (restarts the proxy, closing its connections).
    pub upstream: Option<String>,
    /// Listen, or stop listening and close every connection.
    pub enabled: Option<bool>,
}

/// A proxy as reported: `{name, listen, upstream, enabled, toxics}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProxyInfo {
    /// Unique name.
    pub name: String,
    /// The address listened on (the real port once bound).
    pub listen: String,
    /// The address connected to.
    pub upstream: String,
    /// Whether it listens.
    pub enabled: bool,
    /// Its toxics, in the order they apply.
    pub toxics: Vec<ToxicInfo>,
}

/// A toxic to add: `{name?, type, stream?, toxicity?, attributes}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "wire::ToxicRequest", into = "wire::ToxicRequest")]
pub struct ToxicConfig {
    /// Unique within the proxy; defaults to `TYPE_STREAM`.
    pub name: Option<String>,
    /// Which way it acts (default downstream).
    pub stream: Stream,
    /// Probability, 0.0 to 1.0, that it acts on a given connection (default 1.0).
    pub toxicity: f64,
    /// Type and attributes.
    pub kind: ToxicKind,
}

impl ToxicConfig {
    /// A toxic acting on every connection, named `TYPE_STREAM`.
    pub fn new(stream: Stream, kind: ToxicKind) -> Self {
        Self {
            name: None,
            stream,
            toxicity: 1.0,
            kind,
        }
    }

    /// The same toxic with a name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A change to a toxic: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToxicUpdate {
    /// New toxicity.
    pub toxicity: Option<f64>,
    /// New attributes (the type cannot change).
    pub kind: Option<ToxicKind>,
}

/// A toxic as reported: `{name, type, stream, toxicity, attributes}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToxicInfo {
    /// Unique within the proxy.
    pub name: String,
    /// Type and attributes.
    #[serde(flatten)]
    pub kind: ToxicKind,
    /// Which way it acts.
    pub stream: Stream,
    /// Probability that it acts on a connection.
    pub toxicity: f64,
}

/// A toxic inside a proxy, as the connections see it.
#[derive(Clone, Debug)]
pub(crate) struct ToxicEntry {
    /// Stable for the toxic's life (keeps `limit_data` counts across updates).
    pub(crate) id: u64,
    /// New on every update: the toxicity is rolled again and timers restart.
    pub(crate) generation: u64,
    pub(crate) name: String,
    pub(crate) stream: Stream,
    pub(crate) toxicity: f64,
    pub(crate) kind: ToxicKind,
    pub(crate) judge: Arc<toxics::Judge>,
}

impl ToxicEntry {
    fn info(&self) -> ToxicInfo {
        ToxicInfo {
            name: self.name.clone(),
            kind: self.kind.clone(),
            stream: self.stream,
            toxicity: self.toxicity,
        }
    }
}

/// Errors of the proxy, each with the HTTP status the admin API answers (as Toxiproxy's
/// api.go catalogue).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The request body is not what the route takes.
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// A required field is empty or absent.
    #[error("missing required field: {0}")]
    MissingField(&'static str),
    /// A name that cannot be used in a URL path.
    #[error("invalid name {0:?}: use 1 to 256 characters, no '/'")]
    InvalidName(String),
    /// No proxy by that name.
    #[error("proxy not found: {0}")]
    ProxyNotFound(String),
    /// A proxy by that name exists.
    #[error("proxy already exists: {0}")]
    ProxyAlreadyExists(String),
    /// Neither upstream nor downstream.
    #[error("stream was invalid, can be either upstream or downstream: {0:?}")]
    InvalidStream(String),
    /// Not a toxic type we know.
    #[error("invalid toxic type: {0:?}")]
    InvalidToxicType(String),
    /// The attributes do not fit the type.
    #[error("invalid toxic attributes at {path}: {message}")]
    BadAttributes {
        /// Field path, such as `attributes.latency`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Toxicity outside 0.0..=1.0.
    #[error("toxicity {0} is not between 0.0 and 1.0")]
    InvalidToxicity(f64),
    /// An HTTP toxic on the downstream stream.
    #[error("{0} judges requests, so it needs \"stream\": \"upstream\"")]
    HttpToxicNeedsUpstream(&'static str),
    /// A toxic by that name exists on the proxy.
    #[error("toxic already exists: {0}")]
    ToxicAlreadyExists(String),
    /// No toxic by that name on the proxy.
    #[error("toxic not found: {0}")]
    ToxicNotFound(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry was shut down.
    #[error("the proxy registry is shut down")]
    ShutDown,
}

impl ProxyError {
    /// The HTTP status the admin API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequestBody(_)
            | Self::MissingField(_)
            | Self::InvalidName(_)
            | Self::InvalidStream(_)
            | Self::InvalidToxicType(_)
            | Self::BadAttributes { .. }
            | Self::InvalidToxicity(_)
            | Self::HttpToxicNeedsUpstream(_) => 400,
            Self::ProxyNotFound(_) | Self::ToxicNotFound(_) => 404,
            Self::ProxyAlreadyExists(_) | Self::ToxicAlreadyExists(_) => 409,
            Self::Listen { .. } => 500,
            Self::ShutDown => 503,
        }
    }

    /// Whether the caller's input is at fault (a 4xx), as opposed to the host.
    pub fn is_user_error(&self) -> bool {
        (400..500).contains(&self.status())
    }
}

/// The JSON shapes of requests, kept apart from the library types.
mod wire {
    use serde::{Deserialize, Serialize};

    use super::{ProxyError, Stream, ToxicConfig, ToxicKind};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct ToxicRequest {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) name: Option<String>,
        #[serde(rename = "type")]
        pub(super) kind: String,
        #[serde(default)]
        pub(super) stream: Option<String>,
        #[serde(default)]
        pub(super) toxicity: Option<f64>,
        #[serde(default)]
        pub(super) attributes: Option<serde_json::Value>,
    }

    impl TryFrom<ToxicRequest> for ToxicConfig {
        type Error = ProxyError;

        fn try_from(r: ToxicRequest) -> Result<Self, ProxyError> {
            let stream = match r.stream.as_deref() {
                None | Some("") => Stream::Downstream,
                Some(s) => Stream::parse(s)?,
            };
            let attributes = r
                .attributes
                .filter(|a| !a.is_null())
                .unwrap_or_else(|| serde_json::json!({}));
            Ok(Self {
                name: r.name.filter(|n| !n.is_empty()),
                stream,
                toxicity: r.toxicity.unwrap_or(1.0),
                kind: ToxicKind::from_parts(&r.kind, attributes)?,
            })
        }
    }

    impl From<ToxicConfig> for ToxicRequest {
        fn from(c: ToxicConfig) -> Self {
            Self {
                name: c.name,
                kind: c.kind.type_name().to_owned(),
                stream: Some(c.stream.as_str().to_owned()),
                toxicity: Some(c.toxicity),
                attributes: Some(c.kind.attributes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::toxics::Latency;

    #[test]
    fn toxic_config_reads_toxiproxy_json() {
        let c: ToxicConfig =
            serde_json::from_str(r#"{"type":"latency","attributes":{"latency":100,"jitter":10}}"#)
                .unwrap();
        assert_eq!(
            c,
            ToxicConfig::new(
                Stream::Downstream,
                ToxicKind::Latency(Latency {
                    latency: 100,
                    jitter: 10
                })
            )
        );
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["type"], "latency");
        assert_eq!(back["attributes"]["jitter"], 10);
        assert!(
            serde_json::from_str::<ToxicConfig>(r#"{"type":"latency","stream":"sideways"}"#)
                .is_err()
        );
    }

    #[test]
    fn toxic_info_has_toxiproxy_shape() {
        let info = ToxicInfo {
            name: "l".into(),
            kind: ToxicKind::Latency(Latency::default()),
            stream: Stream::Upstream,
            toxicity: 0.5,
        };
        assert_eq!(
            serde_json::to_value(info).unwrap(),
            serde_json::json!({"name":"l","type":"latency","stream":"upstream","toxicity":0.5,"attributes":{"latency":0,"jitter":0}})
        );
    }

    #[test]
    fn every_error_has_a_status() {
        assert_eq!(ProxyError::ProxyNotFound("x".into()).status(), 404);
        assert_eq!(ProxyError::ToxicAlreadyExists("x".into()).status(), 409);
        assert!(ProxyError::InvalidToxicType("x".into()).is_user_error());
    }
}
