//! HTTP probe: status and latency bound.
//!
//! Each observation opens a fresh connection and sends one HTTP/1.1 request with
//! `Connection: close`, so that it goes through the service's balancing as a new user
//! would, and measures connection set-up too. The request head is serialised once; the response
//! head is parsed with httparse and the body read to its end (by `Content-Length`, or to
//! the close that `Connection: close` asks for).
//!
//! Every request carries a W3C `traceparent` from the run's trace context (see
//! `telemetry::trace`), unless the probe sets that header itself.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::json::JsonCheck;
use super::tcp::ConnectError;
use super::{Outcome, Probe, ProbeError, TimedOut, remaining};
use crate::spec;
use crate::telemetry::TraceContext;

/// The largest response read; a larger one fails the observation.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// The largest response whose body is kept to be checked (`expectBody`).
const MAX_CHECKED: usize = 1024 * 1024;

/// What the body must say, compiled once.
#[derive(Debug)]
enum BodyCheck {
    /// A match of this expression in the body as text.
    Regex(regex::Regex),
    /// A JSONPath into the body as JSON and what its values must be.
    Json(JsonCheck),
}

impl BodyCheck {
    /// The check of `expect`, or what is wrong with it (validation refuses it first).
    fn of(expect: &spec::BodyExpectation) -> Result<Self, String> {
        match (&expect.regex, &expect.json_path) {
            (Some(r), None) => regex::Regex::new(r)
                .map(Self::Regex)
                .map_err(|e| format!("expectBody.regex is not a regular expression: {e}")),
            (None, Some(path)) => {
                JsonCheck::new(path, expect.equals.as_ref(), expect.op, expect.value)
                    .map(Self::Json)
                    .map_err(|e| format!("expectBody.jsonPath {e}"))
            }
            _ => Err("expectBody needs `regex` or `jsonPath`, not both".into()),
        }
    }

    /// Why `body` does not say what it must; `None` when it does.
    fn miss(&self, body: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        match self {
            Self::Regex(r) => {
                (!r.is_match(&text)).then(|| format!("the body has no match of `{}`", r.as_str()))
            }
            Self::Json(check) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(json) => check.miss(&json, "the body"),
                Err(e) => Some(format!("the body is not JSON: {e}")),
            },
        }
    }
}

/// Why an observation got no whole response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// No connection could be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The deadline passed.
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    /// Writing or reading failed for another reason than the deadline.
    #[error("connection to {authority} broken")]
    Broken {
        /// The `host:port` connected to.
        authority: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The response was larger than [`MAX_RESPONSE`].
    #[error("response larger than {MAX_RESPONSE} bytes")]
    TooLarge,
    /// The connection closed before the body its `Content-Length` announced.
    #[error("the response body was cut short")]
    CutShort,
    /// The connection closed before a response head.
    #[error("the connection closed before a response")]
    Closed,
    /// The response head is not HTTP/1.x.
    #[error("malformed response")]
    Malformed(#[source] httparse::Error),
}

/// One request per observation on a new connection.
#[derive(Debug)]
pub struct HttpProbe {
    /// `host:port` to connect to.
    authority: String,
    /// The address, when the URL names an IP literal (resolved once).
    addr: Option<SocketAddr>,
    /// The request head without its final empty line, serialised.
    head: Vec<u8>,
    /// The request body.
    body: Vec<u8>,
    /// Where `traceparent` comes from; None when the probe's headers set their own.
    trace: Option<Arc<TraceContext>>,
    /// Whether the probe's headers set `traceparent`.
    own_traceparent: bool,
    is_head: bool,
    /// The statuses that pass, and how the experiment wrote them.
    statuses: Vec<(u16, u16)>,
    expect_status: String,
    body_check: Option<BodyCheck>,
    max_latency: Option<Duration>,
}

impl HttpProbe {
    /// Builds the probe for an already expanded URL.
    pub fn new(spec: &spec::HttpProbe, url: &str) -> Result<Self, ProbeError> {
        let invalid = |message: String| ProbeError::Invalid {
            probe: spec.name.clone(),
            message,
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e| invalid(format!("invalid URL `{url}`: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid(format!(
                "URL `{url}` is not plain http://; only http:// is supported by this build"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| invalid(format!("URL `{url}` has no host")))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let addr = host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port));
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: firedrill/{}\r\n",
            spec.method.as_str(),
            authority.as_str(),
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in &spec.headers {
            http::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| invalid(format!("invalid header name `{k}`: {e}")))?;
            http::header::HeaderValue::from_str(v)
                .map_err(|e| invalid(format!("invalid value of header `{k}`: {e}")))?;
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = spec.body.clone().unwrap_or_default();
        if !body.is_empty()
            || !matches!(spec.method, spec::HttpMethod::Get | spec::HttpMethod::Head)
        {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        let connect_to = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            authority: connect_to,
            addr,
            head: head.into_bytes(),
            body: body.into_bytes(),
            trace: None,
            own_traceparent: spec
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("traceparent")),
            is_head: matches!(spec.method, spec::HttpMethod::Head),
            statuses: spec
                .expect_status
                .ranges()
                .map_err(|e| invalid(format!("expectStatus: {e}")))?,
            expect_status: spec.expect_status.to_string(),
            body_check: spec
                .expect_body
                .as_ref()
                .map(BodyCheck::of)
                .transpose()
                .map_err(invalid)?,
            max_latency: spec.max_latency.map(spec::Duration::get),
        })
    }

    /// Takes each request's `traceparent` from `trace`.
    pub fn with_trace(mut self, trace: Arc<TraceContext>) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The request of one observation, with its `traceparent`.
    fn request(&self) -> Vec<u8> {
        let mut request = Vec::with_capacity(self.head.len() + 72 + self.body.len());
        request.extend_from_slice(&self.head);
        if !self.own_traceparent {
            let parent = self.trace.as_ref().map_or_else(
                || TraceContext::detached().traceparent(),
                |t| t.traceparent(),
            );
            request.extend_from_slice(format!("traceparent: {parent}\r\n").as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(&self.body);
        request
    }

    /// Sends the request and reads the whole response; returns its status, and its body
    /// when the probe checks it.
    fn exchange(&self, timeout: Duration) -> Result<(u16, Vec<u8>), ExchangeError> {
        let keep = self.body_check.is_some();
        let deadline = std::time::Instant::now() + timeout;
        let mut stream = super::tcp::connect(&self.authority, self.addr, timeout)?;
        let _ = stream.set_nodelay(true);
        let timed_out = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ExchangeError::TimedOut(TimedOut)
            }
            _ => ExchangeError::Broken {
                authority: self.authority.clone(),
                source,
            },
        };
        stream
            .set_write_timeout(Some(remaining(deadline)?))
            .map_err(timed_out)?;
        stream.write_all(&self.request()).map_err(timed_out)?;
        // One read usually holds the whole response: the timeout is set again only for
        // the reads after it.
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(timed_out)?;
        let mut first_read = true;
        let mut buf = vec![0u8; 4096];
        let mut filled = 0;
        let mut status: Option<(u16, usize, Option<usize>)> = None;
        loop {
            if let Some((code, head_len, Some(len))) = status
                && filled >= head_len + len
            {
                return Ok((code, kept(keep, &buf, head_len, filled.min(head_len + len))));
            }
            if filled == buf.len() {
                if buf.len() >= MAX_RESPONSE || (keep && buf.len() >= MAX_CHECKED) {
                    return Err(ExchangeError::TooLarge);
                }
                // A body to check is kept whole: the space grows instead.
                if keep {
                    buf.resize(buf.len() * 2, 0);
                } else {
                    // Past the head only the length matters: keep reading into the same space.
                    match status {
                        Some((code, head_len, len)) => {
                            status =
                                Some((code, 0, len.map(|l| (head_len + l).saturating_sub(filled))));
                            filled = 0;
                        }
                        None => buf.resize(buf.len() * 2, 0),
                    }
                }
            }
            if !first_read {
                stream
                    .set_read_timeout(Some(remaining(deadline)?))
                    .map_err(timed_out)?;
            }
            first_read = false;
            let n = stream.read(&mut buf[filled..]).map_err(timed_out)?;
            if n == 0 {
                return match status {
                    Some((code, head_len, None)) => Ok((code, kept(keep, &buf, head_len, filled))),
                    Some((_, _, Some(_))) => Err(ExchangeError::CutShort),
                    None => Err(ExchangeError::Closed),
                };
            }
            filled += n;
            if status.is_none() {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&buf[..filled]) {
                    Ok(httparse::Status::Complete(head_len)) => {
                        let code = resp.code.unwrap_or(0);
                        let len = if self.is_head
                            || code == 204
                            || code == 304
                            || (100..200).contains(&code)
                        {
                            Some(0)
                        } else {
                            resp.headers
                                .iter()
                                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                                .and_then(|h| std::str::from_utf8(h.value).ok())
                                .and_then(|v| v.trim().parse::<usize>().ok())
                        };
                        status = Some((code, head_len, len));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(ExchangeError::Malformed(e)),
                }
            }
        }
    }
}

/// The body of a response read into `buf`, when it is kept.
fn kept(keep: bool, buf: &[u8], head_len: usize, end: usize) -> Vec<u8> {
    if keep {
        buf[head_len.min(end)..end].to_vec()
    } else {
        Vec::new()
    }
}

impl Probe for HttpProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        let started = std::time::Instant::now();
        let (status, body) = match self.exchange(timeout) {
            Ok(s) => s,
            Err(e) => return Outcome::fail(crate::error::chain(&e)),
        };
        let elapsed = started.elapsed();
        if !self
            .statuses
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&status))
        {
            return Outcome::fail(format!("status {status}, expected {}", self.expect_status));
        }
        if let Some(miss) = self.body_check.as_ref().and_then(|c| c.miss(&body)) {
            return Outcome::fail(miss);
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn spec(extra: &str) -> spec::HttpProbe {
        let yaml = format!("{{name: p, url: x, headers: {{x-drill: yes}}{extra}}}");
        serde_saphyr::from_str(&yaml).unwrap()
    }

    /// A server answering every connection with `response(request)`.
    fn server(response: impl Fn(&str) -> Vec<u8> + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let _ = s.write_all(&response(&req));
            }
        });
        addr
    }

    fn ok_with(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    const T: Duration = Duration::from_secs(2);

    #[test]
    fn statuses_pass_by_code_class_or_range() {
        let answer = |code: u16| {
            server(move |_| format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").into_bytes())
        };
        let probe = |extra: &str, addr: SocketAddr| {
            HttpProbe::new(&spec(extra), &format!("http://{addr}/")).unwrap()
        };
        let created = answer(201);
        assert_eq!(
            probe(", expectStatus: 2xx", created).observe(T),
            Outcome::pass()
        );
        assert_eq!(
            probe(", expectStatus: \"200-204\"", created).observe(T),
            Outcome::pass()
        );
        assert_eq!(
            probe(", expectStatus: \"200, 202\"", created).observe(T),
            Outcome::fail("status 201, expected 200, 202")
        );
        assert_eq!(
            probe("", created).observe(T),
            Outcome::fail("status 201, expected 200")
        );
        assert!(HttpProbe::new(&spec(", expectStatus: 6xx"), "http://127.0.0.1:1/").is_err());
    }

    #[test]
    fn the_body_must_say_what_expect_body_asks() {
        let addr = server(|req| {
            if req.starts_with("GET /big") {
                let pad = "x".repeat(20_000);
                ok_with(&format!(r#"{{"pad": "{pad}", "status": "ok"}}"#))
            } else if req.starts_with("GET /json") {
                ok_with(r#"{"status": "ok", "queue": {"depth": 7}, "items": [1, 2]}"#)
            } else {
                ok_with("ready: yes")
            }
        });
        let probe = |extra: &str, path: &str| {
            HttpProbe::new(&spec(extra), &format!("http://{addr}{path}"))
                .unwrap()
                .observe(T)
        };
        assert_eq!(
            probe(", expectBody: {regex: \"ready: (yes|true)\"}", "/"),
            Outcome::pass()
        );
        assert_eq!(
            probe(", expectBody: {regex: \"^down\"}", "/"),
            Outcome::fail("the body has no match of `^down`")
        );
        let eq = ", expectBody: {jsonPath: \"$.status\", equals: ok}";
        assert_eq!(probe(eq, "/json"), Outcome::pass());
        assert_eq!(
            probe(eq, "/big"),
            Outcome::pass(),
            "a body of several reads is kept whole"
        );
        assert_eq!(
            probe(
                ", expectBody: {jsonPath: \"$.status\", equals: degraded}",
                "/json"
            ),
            Outcome::fail("$.status is \"ok\", expected \"degraded\"")
        );
        assert_eq!(
            probe(
                ", expectBody: {jsonPath: \"$.queue.depth\", op: \"<\", value: 10}",
                "/json"
            ),
            Outcome::pass()
        );
        assert_eq!(
            probe(
                ", expectBody: {jsonPath: \"$.items[*]\", op: \">\", value: 1}",
                "/json"
            ),
            Outcome::fail("$.items[*] is 1, expected > 1")
        );
        assert_eq!(
            probe(
                ", expectBody: {jsonPath: \"$.missing\", equals: 1}",
                "/json"
            ),
            Outcome::fail("$.missing selects nothing in the body")
        );
        let not_json = probe(eq, "/");
        assert!(
            !not_json.ok
                && not_json
                    .detail
                    .as_deref()
                    .is_some_and(|m| m.starts_with("the body is not JSON")),
            "{not_json:?}"
        );
    }

    #[test]
    fn passes_on_the_expected_status_and_sends_headers() {
        let addr = server(|req| {
            if req.contains("x-drill: yes") && req.starts_with("GET /api?x=1 HTTP/1.1") {
                ok_with("seen")
            } else {
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()
            }
        });
        let probe = HttpProbe::new(&spec(""), &format!("http://{addr}/api?x=1")).unwrap();
        assert_eq!(probe.observe(T), Outcome::pass());
    }

    #[test]
    fn fails_on_another_status_a_refusal_or_a_cut_body() {
        let addr =
            server(|_| b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec());
        let o = HttpProbe::new(&spec(""), &format!("http://{addr}/"))
            .unwrap()
            .observe(T);
        assert!(!o.ok && o.detail.unwrap().contains("status 503"));

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = HttpProbe::new(&spec(""), &format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .observe(T);
        assert!(!o.ok && o.detail.unwrap().contains("connection to"));

        let addr = server(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec());
        let o = HttpProbe::new(&spec(""), &format!("http://{addr}/"))
            .unwrap()
            .observe(T);
        assert!(!o.ok && o.detail.unwrap().contains("cut short"));
    }

    #[test]
    fn failures_read_as_they_always_have() {
        let observe = |response: &'static [u8]| {
            let addr = server(move |_| response.to_vec());
            HttpProbe::new(&spec(""), &format!("http://{addr}/"))
                .unwrap()
                .observe(T)
                .detail
                .unwrap()
        };
        assert_eq!(observe(b""), "the connection closed before a response");
        assert_eq!(
            observe(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            "the response body was cut short"
        );
        assert_eq!(
            observe(b"NOT HTTP\r\n\r\n"),
            format!("malformed response: {}", httparse::Error::Version)
        );
        assert_eq!(
            ExchangeError::TooLarge.to_string(),
            format!("response larger than {MAX_RESPONSE} bytes")
        );
    }

    #[test]
    fn reads_bodies_without_a_length_to_the_close_and_large_ones_whole() {
        let addr =
            server(|_| b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end".to_vec());
        assert!(
            HttpProbe::new(&spec(""), &format!("http://{addr}/"))
                .unwrap()
                .observe(T)
                .ok
        );
        let big = "x".repeat(100_000);
        let addr = server(move |_| ok_with(&big));
        assert!(
            HttpProbe::new(&spec(""), &format!("http://{addr}/"))
                .unwrap()
                .observe(T)
                .ok
        );
    }

    #[test]
    fn a_silent_server_times_out_and_a_slow_one_breaks_the_bound() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let start = std::time::Instant::now();
        let o = HttpProbe::new(&spec(""), &format!("http://{addr}/"))
            .unwrap()
            .observe(Duration::from_millis(100));
        assert!(!o.ok && o.detail.unwrap().contains("timed out"));
        assert!(start.elapsed() < Duration::from_secs(1));
        drop(listener);

        let addr = server(|_| {
            std::thread::sleep(Duration::from_millis(50));
            ok_with("late")
        });
        let o = HttpProbe::new(&spec(", maxLatency: 10ms"), &format!("http://{addr}/"))
            .unwrap()
            .observe(T);
        assert!(!o.ok && o.detail.unwrap().contains("more than"));
    }

    #[test]
    fn sends_a_valid_traceparent_with_the_run_s_trace_id_unless_the_probe_sets_one() {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let tx = std::sync::Mutex::new(tx);
        let addr = server(move |req| {
            let _ = tx.lock().unwrap().send(req.to_owned());
            ok_with("")
        });
        let trace = TraceContext::detached();
        let probe = HttpProbe::new(&spec(""), &format!("http://{addr}/"))
            .unwrap()
            .with_trace(trace.clone());
        let mut parents = Vec::new();
        for _ in 0..2 {
            assert!(probe.observe(T).ok);
            let req = rx.recv_timeout(T).unwrap();
            let value = req
                .lines()
                .find_map(|l| l.strip_prefix("traceparent: "))
                .unwrap_or_else(|| panic!("no traceparent in {req}"));
            let parsed = crate::telemetry::Traceparent::parse(value).unwrap();
            assert_eq!(parsed.trace_id_hex(), trace.trace_id());
            assert!(parsed.sampled);
            assert!(req.ends_with("\r\n\r\n"), "{req:?}");
            parents.push(parsed.parent_id);
        }
        assert_ne!(parents[0], parents[1]);

        let own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let s: spec::HttpProbe = serde_saphyr::from_str(&format!(
            "{{name: p, url: x, headers: {{traceparent: '{own}'}}}}"
        ))
        .unwrap();
        let probe = HttpProbe::new(&s, &format!("http://{addr}/"))
            .unwrap()
            .with_trace(trace);
        assert!(probe.observe(T).ok);
        let req = rx.recv_timeout(T).unwrap();
        assert_eq!(req.matches("traceparent").count(), 1, "{req}");
        assert!(req.contains(own));
    }

    #[test]
    fn rejects_other_schemes() {
        assert!(HttpProbe::new(&spec(""), "https://127.0.0.1/").is_err());
        assert!(HttpProbe::new(&spec(""), "not a url").is_err());
    }
}
