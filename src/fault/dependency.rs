//! Dependency faults: toxics on the embedded fault proxy in front of a dependency.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    BuildFault, Built, ClusterProxyFault, Effect, Fault, FaultContext, FaultError, Intent,
};
use crate::platform::Platform;
use crate::proxy::toxics::{
    Bandwidth, HeaderMatch, HttpError, HttpLatency, Latency, PathRegex, RequestHead, RequestMatch,
    ResetPeer, Timeout,
};
use crate::proxy::{ProxyError, ProxyRegistry, Stream, ToxicConfig, ToxicKind};
use crate::spec::{self, OutageMode};

family! {
    /// What a dependency fault does, through a proxy in front of the dependency.
    DependencyChange {
        /// Delay its data.
        Latency(spec::DependencyLatency),
        /// Answer a share of its HTTP requests with an error.
        Errors(spec::DependencyErrors),
        /// Make it unreachable.
        Outage(spec::DependencyOutage),
        /// Limit its bandwidth.
        Bandwidth(spec::DependencyBandwidth),
    }
}

/// What a dependency fault changes on its proxy.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Toxics added under the fault's name (one per stream where needed).
    Toxics(Vec<ToxicConfig>),
    /// The proxy stops listening and closes its connections.
    Disable,
}

/// A dependency fault bound to the proxy of its dependency.
#[derive(Debug)]
pub struct DependencyFault {
    name: String,
    fault_type: &'static str,
    proxy: String,
    registry: ProxyRegistry,
    change: Change,
}

impl DependencyFault {
    /// Builds the fault for a dependency fault spec.
    pub fn new(spec: &DependencyChange, registry: ProxyRegistry) -> Self {
        Self {
            name: spec.name().to_owned(),
            fault_type: spec.type_name(),
            proxy: spec.dependency().unwrap_or_default().to_owned(),
            registry,
            change: Change::of(spec),
        }
    }

    fn error(&self, e: ProxyError) -> FaultError {
        FaultError::Proxy {
            fault: self.name.clone(),
            source: e,
        }
    }
}

impl Change {
    /// What a dependency fault spec does to its proxy. The toxics carry the fault's name, so
    /// that they can be removed by it.
    pub(crate) fn of(spec: &DependencyChange) -> Self {
        let name = spec.name().to_owned();
        let toxic = |stream: Stream, suffix: &str, kind: ToxicKind| {
            ToxicConfig::new(stream, kind).named(format!("{name}{suffix}"))
        };
        match spec {
            DependencyChange::Latency(f) if f.per_request => Change::Toxics(vec![toxic(
                Stream::Upstream,
                "",
                ToxicKind::HttpLatency(HttpLatency {
                    latency: f.latency.as_millis_u64(),
                    jitter: f.jitter.as_millis_u64(),
                    request_match: f.request_match.as_ref().map(toxic_match),
                }),
            )]),
            DependencyChange::Latency(f) => Change::Toxics(vec![toxic(
                Stream::Downstream,
                "",
                ToxicKind::Latency(Latency {
                    latency: f.latency.as_millis_u64(),
                    jitter: f.jitter.as_millis_u64(),
                }),
            )]),
            DependencyChange::Errors(f) => Change::Toxics(vec![toxic(
                Stream::Upstream,
                "",
                ToxicKind::HttpError(HttpError {
                    status_code: f.status,
                    probability: f.rate,
                    body: format!("firedrill fault {}: injected {}\n", f.name, f.status),
                    request_match: f.request_match.as_ref().map(toxic_match),
                }),
            )]),
            DependencyChange::Outage(f) => match f.mode {
                OutageMode::Refuse => Change::Disable,
                OutageMode::Reset => Change::Toxics(vec![toxic(
                    Stream::Downstream,
                    "",
                    ToxicKind::ResetPeer(ResetPeer { timeout: 0 }),
                )]),
                OutageMode::Blackhole => Change::Toxics(vec![
                    toxic(
                        Stream::Upstream,
                        "-up",
                        ToxicKind::Timeout(Timeout { timeout: 0 }),
                    ),
                    toxic(
                        Stream::Downstream,
                        "-down",
                        ToxicKind::Timeout(Timeout { timeout: 0 }),
                    ),
                ]),
            },
            DependencyChange::Bandwidth(f) => Change::Toxics(vec![
                toxic(
                    Stream::Upstream,
                    "-up",
                    ToxicKind::Bandwidth(Bandwidth { rate: f.rate_kbps }),
                ),
                toxic(
                    Stream::Downstream,
                    "-down",
                    ToxicKind::Bandwidth(Bandwidth { rate: f.rate_kbps }),
                ),
            ]),
        }
    }
}

/// The toxic's form of a spec's request match (validated before a run).
fn toxic_match(m: &spec::RequestMatch) -> RequestMatch {
    RequestMatch {
        method: m.method.clone(),
        path_prefix: m.path_prefix.clone(),
        path_regex: m.path_regex.as_deref().map(PathRegex::new),
        header: m.header.as_ref().map(|h| HeaderMatch {
            name: h.name.clone(),
            value: h.value.clone(),
        }),
    }
}

/// The request the check sends through the proxy: `GET /` with no match; with one, a
/// request the match itself selects (its method, its path prefix, its header), or why
/// there is none the check can be sure of.
fn check_request(m: Option<&RequestMatch>) -> Result<check::Request, String> {
    let Some(m) = m else {
        return Ok(check::Request::default());
    };
    let method = m.method.clone().unwrap_or_else(|| "GET".to_owned());
    let header = m.header.as_ref().map(|h| (h.name.clone(), h.value.clone()));
    // A regex that is a plain path, anchored or not, gives a path of its own; any other is
    // only tried against the prefix and `/`, never guessed at.
    let literal = m.path_regex.as_ref().and_then(|r| {
        let text = r.as_str().trim_start_matches('^').trim_end_matches('$');
        (text.starts_with('/') && regex::escape(text) == text).then(|| text.to_owned())
    });
    let candidates = [m.path_prefix.clone(), literal, Some("/".to_owned())];
    for path in candidates.into_iter().flatten() {
        let head = RequestHead {
            method: method.clone(),
            path: path.clone(),
            headers: header
                .iter()
                .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
                .collect(),
        };
        if m.matches(&head) {
            return Ok(check::Request {
                method,
                path,
                header,
            });
        }
    }
    Err(match &m.path_regex {
        Some(r) => format!(
            "the fault acts only on paths matching {}, and the check makes no request it cannot be sure matches; the toxic is on the proxy",
            r.as_str()
        ),
        None => {
            "the check cannot make a request the fault's match selects; the toxic is on the proxy"
                .to_owned()
        }
    })
}

#[async_trait]
impl Fault for DependencyFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let info = self.registry.get(&self.proxy).map_err(|e| self.error(e))?;
        let target = format!(
            "dependency {} ({} -> {})",
            self.proxy, info.listen, info.upstream
        );
        let (changes, undo) = match &self.change {
            Change::Disable => (
                vec![format!(
                    "stop the proxy of {} listening; close its connections",
                    self.proxy
                )],
                vec![format!("start the proxy of {} listening again", self.proxy)],
            ),
            Change::Toxics(toxics) => (
                toxics
                    .iter()
                    .map(|t| {
                        format!(
                            "add toxic {} ({} on {}) to the proxy of {}",
                            t.name.as_deref().unwrap_or_default(),
                            t.kind.type_name(),
                            t.stream.as_str(),
                            self.proxy
                        )
                    })
                    .collect(),
                toxics
                    .iter()
                    .map(|t| {
                        format!(
                            "remove toxic {} from the proxy of {}",
                            t.name.as_deref().unwrap_or_default(),
                            self.proxy
                        )
                    })
                    .collect(),
            ),
        };
        Ok(Intent {
            fault: self.name.clone(),
            fault_type: self.fault_type.to_owned(),
            changes,
            undo,
            targets: vec![target],
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        match &self.change {
            Change::Disable => {
                self.registry
                    .set_enabled(&self.proxy, false)
                    .await
                    .map_err(|e| self.error(e))?;
            }
            Change::Toxics(toxics) => {
                for t in toxics {
                    self.registry
                        .add_toxic(&self.proxy, t.clone())
                        .map_err(|e| self.error(e))?;
                }
            }
        }
        Ok(())
    }

    async fn verify(&self) -> Effect {
        let info = match self.registry.get(&self.proxy) {
            Ok(info) => info,
            Err(e) => {
                return Effect::unverified(format!(
                    "the proxy of {} cannot be read: {e}",
                    self.proxy
                ));
            }
        };
        let at = info.listen.as_str();
        match probe(&self.change) {
            Ok(check::Probe::Throttled { rate }) => {
                check::throttled(at, &info.upstream, rate).await
            }
            Ok(probe) => match probe.sends() {
                Some(sends) => probe.judge(at, &check::observe(at, &sends).await),
                None => Effect::unverified("no check for this toxic; the toxic is on the proxy"),
            },
            Err(why) => Effect::unverified(why),
        }
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        let mut done = Vec::new();
        match &self.change {
            Change::Disable => {
                let info = self.registry.get(&self.proxy).map_err(|e| self.error(e))?;
                if !info.enabled {
                    self.registry
                        .set_enabled(&self.proxy, true)
                        .await
                        .map_err(|e| self.error(e))?;
                    done.push(format!(
                        "the proxy of {} listens again on {}",
                        self.proxy, info.listen
                    ));
                }
            }
            Change::Toxics(toxics) => {
                for t in toxics {
                    let name = t.name.clone().unwrap_or_default();
                    match self.registry.remove_toxic(&self.proxy, &name) {
                        Ok(()) => done.push(format!(
                            "toxic {name} removed from the proxy of {}",
                            self.proxy
                        )),
                        // Already gone: nothing left to undo.
                        Err(ProxyError::ToxicNotFound(_)) => {}
                        Err(e) => return Err(self.error(e)),
                    }
                }
            }
        }
        Ok(done)
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }
}

/// What a dependency fault's check sends and how it judges what came back, from its change:
/// `Err` says why there is no check.
pub(crate) fn probe(change: &Change) -> Result<check::Probe, String> {
    let toxics = match change {
        Change::Disable => return Ok(check::Probe::Refused),
        Change::Toxics(toxics) => toxics,
    };
    Ok(match toxics.first().map(|t| &t.kind) {
        Some(ToxicKind::HttpError(e)) => check::Probe::Errors {
            request: check_request(e.request_match.as_ref())?,
            status: e.status_code,
            rate: e.probability,
        },
        Some(ToxicKind::HttpLatency(l)) => check::Probe::Delayed {
            request: check_request(l.request_match.as_ref())?,
            latency: std::time::Duration::from_millis(l.latency),
        },
        Some(ToxicKind::Latency(Latency { latency, .. })) => check::Probe::Delayed {
            request: check::Request::default(),
            latency: std::time::Duration::from_millis(*latency),
        },
        Some(ToxicKind::ResetPeer(_)) => check::Probe::Reset,
        Some(ToxicKind::Timeout(_)) => check::Probe::Silent,
        Some(ToxicKind::Bandwidth(b)) => check::Probe::Throttled { rate: b.rate },
        _ => return Err("no check for this toxic; the toxic is on the proxy".to_owned()),
    })
}

/// The checks of a dependency fault: a request of firedrill's own sent through the proxy,
/// as the application's would go, and what came back. Sending ([`observe`]) and judging
/// ([`Probe::judge`]) are apart, so that a verifier pod in a cluster sends the same requests
/// and firedrill judges what it writes back as it judges its own.
pub(crate) mod check {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::Instant;

    use super::Effect;

    /// What one request through the proxy met, as a verifier pod writes it.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "met", rename_all = "kebab-case")]
    pub enum Seen {
        /// The connection was refused or could not be made.
        NoConnection {
            /// Why.
            error: String,
        },
        /// An answer: its first line, and after how long its first bytes came.
        Answer {
            /// The first line (at most 80 characters).
            line: String,
            /// Milliseconds from the connection's start.
            after_ms: u64,
        },
        /// The connection ended with no answer.
        Closed {
            /// Milliseconds from the connection's start.
            after_ms: u64,
        },
        /// Nothing came within the time given.
        Silence {
            /// How long the check waited, in milliseconds.
            waited_ms: u64,
        },
    }

    /// The request a check sends: `GET /` unless a fault's match asks for another.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Request {
        /// The method.
        pub method: String,
        /// The path.
        pub path: String,
        /// A header to send, as `(name, value)`.
        pub header: Option<(String, String)>,
    }

    impl Default for Request {
        fn default() -> Self {
            Self {
                method: "GET".to_owned(),
                path: "/".to_owned(),
                header: None,
            }
        }
    }

    impl Request {
        /// The request head as sent to the proxy at `at`.
        pub fn head(&self, at: &str) -> String {
            let mut head = format!(
                "{} {} HTTP/1.1\r\nHost: {at}\r\nUser-Agent: firedrill-effect-check\r\nConnection: close\r\n",
                self.method, self.path
            );
            if let Some((name, value)) = &self.header {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            if !matches!(self.method.as_str(), "GET" | "HEAD") {
                // No body, said so, so that the server does not wait for one.
                head.push_str("Content-Length: 0\r\n");
            }
            head.push_str("\r\n");
            head
        }

        /// How the request reads in an effect: `POST /pay`.
        fn shown(&self) -> String {
            format!("{} {}", self.method, self.path)
        }
    }

    /// What a check sends: the same request up to `tries` times, one after another.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Sends {
        /// The request.
        pub request: Request,
        /// How long each request waits for its answer.
        pub wait: Duration,
        /// At most this many requests.
        pub tries: usize,
        /// Stop at the first answer with this status.
        pub until_status: Option<u16>,
    }

    impl Sends {
        /// One request, `GET /` unless told otherwise.
        fn one(request: Request, wait: Duration) -> Self {
            Self {
                request,
                wait,
                tries: 1,
                until_status: None,
            }
        }

        /// The longest the requests can take: each its wait and its connection's 2 s.
        pub fn longest(&self) -> Duration {
            (self.wait + Duration::from_secs(2)) * u32::try_from(self.tries).unwrap_or(u32::MAX)
        }
    }

    /// The check of a dependency fault: what it sends, and how it judges what came back.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Probe {
        /// The proxy no longer listens: a connection fails.
        Refused,
        /// A reset toxic: the request is cut off with no answer.
        Reset,
        /// A timeout toxic: no answer, the connection held open.
        Silent,
        /// A latency toxic: the answer comes no sooner than most of the latency.
        Delayed {
            /// The request sent.
            request: Request,
            /// The latency asked.
            latency: Duration,
        },
        /// An error toxic: some request is answered with its status.
        Errors {
            /// The request sent.
            request: Request,
            /// The status the toxic answers.
            status: u16,
            /// The share of requests it answers.
            rate: f64,
        },
        /// A bandwidth toxic: a transfer through the proxy and one straight to the dependency
        /// ([`throttled`]), not a request and its first bytes.
        Throttled {
            /// The limit, KB/s.
            rate: u64,
        },
    }

    /// Enough requests that all would miss an error toxic of `rate` with a chance below 1 in
    /// 1000.
    fn needed(rate: f64) -> usize {
        if rate >= 1.0 {
            1
        } else if rate <= 0.0 {
            usize::MAX
        } else {
            ((0.001f64).ln() / (1.0 - rate).ln()).ceil() as usize
        }
    }

    /// Whether an answer's first line carries `status`.
    fn answered_with(line: &str, status: u16) -> bool {
        line.starts_with("HTTP/") && format!("{line} ").contains(&format!(" {status} "))
    }

    impl Probe {
        /// What the check sends; none for a bandwidth toxic, whose check is a transfer.
        pub fn sends(&self) -> Option<Sends> {
            let one = |request: &Request, wait| Some(Sends::one(request.clone(), wait));
            match self {
                Self::Refused | Self::Reset | Self::Silent => {
                    one(&Request::default(), Duration::from_secs(1))
                }
                Self::Delayed { request, latency } => one(
                    request,
                    (*latency + Duration::from_secs(2)).min(Duration::from_secs(30)),
                ),
                Self::Errors {
                    request,
                    status,
                    rate,
                } => Some(Sends {
                    request: request.clone(),
                    wait: Duration::from_secs(2),
                    tries: needed(rate.clamp(0.0, 1.0)).min(50),
                    until_status: Some(*status),
                }),
                Self::Throttled { .. } => None,
            }
        }

        /// What the requests through `at` met says of the fault.
        pub fn judge(&self, at: &str, seen: &[Seen]) -> Effect {
            let Some(first) = seen.first() else {
                return Effect::unverified(format!("no request was sent through {at}"));
            };
            let unreachable = |e: &str| Effect::unverified(format!("{at} cannot be reached: {e}"));
            match self {
                Self::Refused => match first {
                    Seen::NoConnection { error } => {
                        Effect::verified(format!("a connection to {at} fails: {error}"))
                    }
                    _ => Effect::ineffective(format!("{at} still accepts connections")),
                },
                Self::Reset => match first {
                    Seen::Closed { after_ms } => Effect::verified(format!(
                        "a request through {at} was cut off with no answer after {after_ms} ms"
                    )),
                    Seen::Answer { line, .. } => {
                        Effect::ineffective(format!("a request through {at} was answered: {line}"))
                    }
                    Seen::NoConnection { error } => unreachable(error),
                    Seen::Silence { .. } => Effect::unverified(format!(
                        "a request through {at} met neither an answer nor the connection's end in 1 s"
                    )),
                },
                Self::Silent => match first {
                    Seen::Silence { .. } => Effect::verified(format!(
                        "a request through {at} got no answer in 1 s, its connection held open"
                    )),
                    Seen::Answer { line, .. } => {
                        Effect::ineffective(format!("a request through {at} was answered: {line}"))
                    }
                    Seen::Closed { .. } => Effect::ineffective(format!(
                        "a request through {at} was closed at once instead of left hanging"
                    )),
                    Seen::NoConnection { error } => unreachable(error),
                },
                Self::Delayed { request, latency } => {
                    let after = match first {
                        Seen::Answer { after_ms, .. } | Seen::Closed { after_ms } => {
                            Duration::from_millis(*after_ms)
                        }
                        Seen::NoConnection { error } => return unreachable(error),
                        Seen::Silence { waited_ms } => {
                            return Effect::unverified(format!(
                                "a request through {at} got no answer in {waited_ms} ms: nothing to time"
                            ));
                        }
                    };
                    let shown = format!(
                        "a request ({}) through {at} was answered after {} ms ({} ms of latency asked)",
                        request.shown(),
                        after.as_millis(),
                        latency.as_millis()
                    );
                    if after >= latency.mul_f64(0.8) {
                        Effect::verified(shown)
                    } else {
                        Effect::ineffective(shown)
                    }
                }
                Self::Errors {
                    request,
                    status,
                    rate,
                } => judge_errors(at, request, *status, *rate, seen),
                Self::Throttled { .. } => {
                    Effect::unverified("the bandwidth check is a transfer, not a request")
                }
            }
        }
    }

    /// An error toxic answers a share of the requests with its status, without the
    /// dependency: one answer with it is enough; none in as many requests as make a miss
    /// unlikely is `ineffective`.
    fn judge_errors(at: &str, req: &Request, status: u16, rate: f64, seen: &[Seen]) -> Effect {
        let rate = rate.clamp(0.0, 1.0);
        let mut lines = Vec::new();
        for (n, s) in seen.iter().enumerate() {
            match s {
                Seen::Answer { line, .. } if answered_with(line, status) => {
                    return Effect::verified(format!(
                        "request {} ({}) through {at} was answered `{line}`",
                        n + 1,
                        req.shown()
                    ));
                }
                Seen::Answer { line, .. } => lines.push(line.clone()),
                Seen::NoConnection { error } => {
                    return Effect::unverified(format!("{at} cannot be reached: {error}"));
                }
                Seen::Closed { .. } => lines.push("closed with no answer".to_owned()),
                Seen::Silence { waited_ms } => {
                    lines.push(format!("no answer in {} s", *waited_ms as f64 / 1000.0))
                }
            }
        }
        lines.dedup();
        let tries = seen.len();
        let what = format!(
            "{tries} request(s) ({}) through {at}, none answered {status}: {}",
            req.shown(),
            lines.join(", ")
        );
        if tries < needed(rate) {
            Effect::unverified(format!(
                "at a rate of {:.1}%, {what}; so few cannot show it",
                rate * 100.0
            ))
        } else {
            Effect::ineffective(what)
        }
    }

    /// Sends the check's requests through the proxy at `at`, one after another, and says
    /// what each met; stops at a connection that fails or at an answer with the status
    /// looked for.
    pub async fn observe(at: &str, sends: &Sends) -> Vec<Seen> {
        let mut seen = Vec::new();
        for _ in 0..sends.tries.max(1) {
            let s = send(at, &sends.request, sends.wait).await;
            let stop = match &s {
                Seen::NoConnection { .. } => true,
                Seen::Answer { line, .. } => sends
                    .until_status
                    .is_some_and(|status| answered_with(line, status)),
                _ => false,
            };
            seen.push(s);
            if stop {
                break;
            }
        }
        seen
    }

    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// Sends `req` through the proxy at `at` and waits up to `wait` for the first bytes of
    /// the answer or the connection's end.
    async fn send(at: &str, req: &Request, wait: Duration) -> Seen {
        let start = Instant::now();
        let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(at)).await;
        let mut stream = match connect {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Seen::NoConnection {
                    error: e.to_string(),
                };
            }
            Err(_) => {
                return Seen::NoConnection {
                    error: std::io::Error::from(std::io::ErrorKind::TimedOut).to_string(),
                };
            }
        };
        let head = req.head(at);
        if stream.write_all(head.as_bytes()).await.is_err() {
            return Seen::Closed {
                after_ms: millis(start.elapsed()),
            };
        }
        let mut buf = vec![0; 512];
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => Seen::Closed {
                after_ms: millis(start.elapsed()),
            },
            Ok(Ok(n)) => Seen::Answer {
                line: first_line(&buf[..n]),
                after_ms: millis(start.elapsed()),
            },
            Err(_) => Seen::Silence {
                waited_ms: millis(wait),
            },
        }
    }

    fn first_line(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect()
    }

    /// The most padding the bandwidth check puts in its request, in header lines of at most
    /// `PAD_LINE` bytes: well under the header limits of common servers (8 KiB a line for
    /// nginx and Apache, 16 KiB in all for Node), so that the dependency reads it all
    /// before it answers.
    const MAX_PAD: usize = 8000;
    const PAD_LINE: usize = 4000;

    /// How long the transfer must take at the limit for the check to tell (milliseconds).
    const MIN_SHOWN_MS: f64 = 100.0;

    /// `GET /` padded with `pad` bytes of headers.
    pub(super) fn padded_head(at: &str, pad: usize) -> String {
        let mut head = format!(
            "GET / HTTP/1.1\r\nHost: {at}\r\nUser-Agent: firedrill-effect-check\r\nConnection: close\r\n"
        );
        let mut left = pad;
        while left > 0 {
            let line = left.min(PAD_LINE);
            head.push_str("X-Firedrill-Pad: ");
            head.push_str(&"x".repeat(line));
            head.push_str("\r\n");
            left -= line;
        }
        head.push_str("\r\n");
        head
    }

    /// The least time `up` bytes one way, then `down` bytes the other, take through a
    /// bandwidth toxic of `rate` KB/s (milliseconds): it writes a tenth of a second's worth
    /// at once and then pauses, so all but the last piece of each way wait their turn.
    pub(super) fn least_ms(up: usize, down: usize, rate: u64) -> f64 {
        let piece = rate.saturating_mul(100) as usize;
        let held = up.saturating_sub(piece) + down.saturating_sub(piece);
        held as f64 / rate.max(1) as f64
    }

    /// What one transfer moved, and when its last byte came.
    struct Moved {
        up: usize,
        down: usize,
        last: Duration,
    }

    /// Sends `head` to `at` and reads the answer to its end: at most 5 s in all, 1 s of
    /// silence once it has begun (a toxic's pause is a tenth of a second).
    async fn transfer(at: &str, head: &str) -> Result<Moved, String> {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        let mut stream =
            match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(at)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(format!("{at} cannot be reached: {e}")),
                Err(_) => return Err(format!("{at} cannot be reached in 2 s")),
            };
        let write = tokio::time::timeout_at(deadline, stream.write_all(head.as_bytes())).await;
        if !matches!(write, Ok(Ok(()))) {
            return Err(format!("{at} did not take the check's request"));
        }
        let mut buf = vec![0; 16 * 1024];
        let mut down = 0;
        let mut last = start.elapsed();
        loop {
            let until = if down == 0 {
                deadline
            } else {
                deadline.min(Instant::now() + Duration::from_secs(1))
            };
            match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => {
                    down += n;
                    last = start.elapsed();
                }
            }
        }
        if down == 0 {
            return Err(format!("a request through {at} got no answer"));
        }
        Ok(Moved {
            up: head.len(),
            down,
            last,
        })
    }

    /// A bandwidth toxic holds a transfer back: a request padded to take a few tenths of a
    /// second at the limit, and its whole answer, through the proxy at `at` take at least
    /// what the limit allows; the same request straight to `upstream` shows how much of that
    /// is the dependency's own time.
    pub(super) async fn throttled(at: &str, upstream: &str, rate: u64) -> Effect {
        let bare = padded_head(at, 0).len();
        // A tenth of a second's worth passes at once; then 0.3 s more.
        let wanted = (rate.saturating_mul(400) as usize).saturating_sub(bare);
        let head = padded_head(at, wanted.min(MAX_PAD));
        let through = match transfer(at, &head).await {
            Ok(moved) => moved,
            Err(why) => return Effect::unverified(why),
        };
        let least = least_ms(through.up, through.down, rate);
        let what = format!(
            "a request of {} bytes and its answer of {} bytes",
            through.up, through.down
        );
        if least < MIN_SHOWN_MS {
            return Effect::unverified(format!(
                "{what} through {at} take only {least:.0} ms at {rate} KB/s: too small a transfer to show the limit (the dependency's answer to GET / is small); the toxic is on the proxy"
            ));
        }
        let took = through.last.as_secs_f64() * 1e3;
        if took < 0.8 * least {
            return Effect::ineffective(format!(
                "{what} went through {at} in {took:.0} ms, faster than {rate} KB/s allows (at least {least:.0} ms)"
            ));
        }
        // The dependency's own time, without the proxy, is not the limit's doing.
        let own = match transfer(upstream, &head).await {
            Ok(moved) => moved.last.as_secs_f64() * 1e3,
            Err(_) => 0.0,
        };
        let shown = format!(
            "{what} took {took:.0} ms through {at}, {own:.0} ms straight to the dependency; at {rate} KB/s they take at least {least:.0} ms"
        );
        if took - own >= 0.8 * least {
            Effect::verified(shown)
        } else {
            Effect::unverified(format!(
                "{shown}: the dependency's own time hides the limit"
            ))
        }
    }
}

/// Builds a dependency fault: on this host, toxics on the embedded proxy; on kubernetes, a
/// proxy deployed in front of the dependency's Service.
fn build_dependency(change: DependencyChange, platform: &Platform) -> Built {
    Ok(match platform {
        Platform::Local(p) => Arc::new(DependencyFault::new(&change, p.proxies().clone())),
        Platform::Kubernetes(k, _) => Arc::new(ClusterProxyFault::new(change, k.cluster().clone())),
    })
}

impl BuildFault for spec::DependencyLatency {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Latency(self.clone()), platform)
    }
}

impl BuildFault for spec::DependencyErrors {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Errors(self.clone()), platform)
    }
}

impl BuildFault for spec::DependencyOutage {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Outage(self.clone()), platform)
    }
}

impl BuildFault for spec::DependencyBandwidth {
    fn build(&self, platform: &Platform, _ctx: &FaultContext) -> Built {
        build_dependency(DependencyChange::Bandwidth(self.clone()), platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_match(yaml: &str) -> RequestMatch {
        toxic_match(&serde_saphyr::from_str::<spec::RequestMatch>(yaml).unwrap())
    }

    #[test]
    fn the_check_sends_a_request_the_match_selects() {
        assert_eq!(check_request(None), Ok(check::Request::default()));
        let m =
            spec_match("{method: POST, pathPrefix: /pay, header: {name: X-Tenant, value: blue}}");
        let request = check_request(Some(&m)).unwrap();
        assert_eq!(
            request.head("127.0.0.1:1"),
            "POST /pay HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUser-Agent: firedrill-effect-check\r\nConnection: close\r\nX-Tenant: blue\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(m.matches_bytes(request.head("h").as_bytes()));
        let literal = spec_match("{pathRegex: '^/health$'}");
        assert_eq!(check_request(Some(&literal)).unwrap().path, "/health");
        let fits = spec_match("{pathPrefix: /pay/, pathRegex: '^/pay'}");
        assert_eq!(check_request(Some(&fits)).unwrap().path, "/pay/");
        let unsure = spec_match("{pathRegex: '^/pay/[0-9]+$'}");
        let why = check_request(Some(&unsure)).unwrap_err();
        assert!(why.contains("^/pay/[0-9]+$"), "{why}");
    }

    #[test]
    fn what_requests_met_is_judged_the_same_wherever_they_were_sent() {
        use check::{Probe, Seen};
        let answer = |line: &str, after_ms| Seen::Answer {
            line: line.into(),
            after_ms,
        };
        let slow = Probe::Delayed {
            request: check::Request::default(),
            latency: std::time::Duration::from_millis(300),
        };
        let at = "db.shop.svc:80";
        assert_eq!(
            slow.judge(at, &[answer("HTTP/1.1 200 OK", 290)]).status(),
            "verified"
        );
        let fast = slow.judge(at, &[answer("HTTP/1.1 200 OK", 2)]);
        assert!(fast.is_ineffective(), "{fast:?}");
        assert!(fast.detail().contains("after 2 ms"), "{fast:?}");
        let refused = Seen::NoConnection {
            error: "connection refused".into(),
        };
        assert_eq!(
            slow.judge(at, std::slice::from_ref(&refused)).status(),
            "unverified"
        );
        assert_eq!(Probe::Refused.judge(at, &[refused]).status(), "verified");

        let errors = Probe::Errors {
            request: check::Request::default(),
            status: 503,
            rate: 0.5,
        };
        let sends = errors.sends().unwrap();
        assert_eq!((sends.tries, sends.until_status), (10, Some(503)));
        let ok = answer("HTTP/1.1 200 OK", 1);
        let hit = errors.judge(
            at,
            &[ok.clone(), answer("HTTP/1.1 503 Service Unavailable", 1)],
        );
        assert!(hit.detail().starts_with("request 2 (GET /)"), "{hit:?}");
        assert!(errors.judge(at, &vec![ok.clone(); 10]).is_ineffective());
        assert_eq!(errors.judge(at, &vec![ok; 3]).status(), "unverified");
        let json = serde_json::to_value(Seen::Silence { waited_ms: 1000 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"met": "silence", "waited_ms": 1000})
        );
    }

    #[test]
    fn the_bandwidth_check_counts_what_the_toxic_must_hold_back() {
        // 10 KB/s: 1000 bytes pass at once each way, the rest at 10 bytes a millisecond.
        assert_eq!(check::least_ms(4000, 500, 10), 300.0);
        assert_eq!(check::least_ms(4000, 3000, 10), 500.0);
        assert_eq!(check::least_ms(100, 100, 1000), 0.0);
        let head = check::padded_head("127.0.0.1:1", 9000);
        assert_eq!(
            head.len(),
            check::padded_head("127.0.0.1:1", 0).len() + 9000 + 3 * 19
        );
        assert!(head.lines().all(|l| l.trim_end().len() <= 4000 + 17));
        assert!(head.ends_with("\r\n\r\n"));
    }

    /// A limit in force shows on the check's transfer; the same proxy without it lets the
    /// transfer through at full speed.
    #[tokio::test]
    async fn the_bandwidth_check_sees_the_limit_and_its_absence() {
        // A dependency that answers every request with 6000 bytes and closes.
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = server.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = server.accept().await {
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = vec![b'y'; 6000];
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&body).await;
                });
            }
        });
        let registry = ProxyRegistry::new();
        let at = registry
            .create(crate::proxy::ProxyConfig {
                name: "db".into(),
                listen: "127.0.0.1:0".into(),
                upstream: upstream.clone(),
                enabled: true,
            })
            .await
            .unwrap()
            .listen;
        let free = check::throttled(&at, &upstream, 10).await;
        assert_eq!(free.status(), "ineffective", "{free:?}");
        for (name, stream) in [("bw-up", Stream::Upstream), ("bw-down", Stream::Downstream)] {
            let kind = ToxicKind::Bandwidth(Bandwidth { rate: 10 });
            registry
                .add_toxic("db", ToxicConfig::new(stream, kind).named(name))
                .unwrap();
        }
        let held = check::throttled(&at, &upstream, 10).await;
        assert_eq!(held.status(), "verified", "{held:?}");
    }

    #[test]
    fn the_toxic_and_the_proxy_deployed_in_a_cluster_carry_the_match() {
        let fault = DependencyChange::Errors(
            serde_saphyr::from_str(
                "{name: pay, dependency: db, rate: 1, duration: 1s, match: {pathPrefix: /pay}}",
            )
            .unwrap(),
        );
        let Change::Toxics(toxics) = Change::of(&fault) else {
            panic!("errors add a toxic")
        };
        let ToxicKind::HttpError(e) = &toxics[0].kind else {
            panic!("{:?}", toxics[0].kind)
        };
        assert_eq!(
            e.request_match.as_ref().unwrap().path_prefix.as_deref(),
            Some("/pay")
        );

        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!(
            {"spec": {"selector": {"app": "db"}, "ports": [{"name": "http", "port": 80}]}}
        ))
        .unwrap();
        let ports = crate::fault::proxied_ports(&svc, &[80]).unwrap();
        let file = crate::fault::proxy_file(&fault, &ports, "db-upstream");
        let text = serde_json::to_value(&file).unwrap();
        assert_eq!(
            text[0]["toxics"][0]["attributes"]["match"],
            serde_json::json!({"path_prefix": "/pay"})
        );
        let back: Vec<crate::proxy::ConfiguredProxy> = serde_json::from_value(text).unwrap();
        assert_eq!(back, file, "the deployed proxy reads the same toxic back");
    }
}
