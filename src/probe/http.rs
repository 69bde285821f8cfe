//! HTTP probe: status and latency bound.
//!
//! Each observation opens a fresh connection and sends one request with
//! `Connection: close`, so that it goes through the service's balancing as a new user
//! would, and measures connection set-up too. It drives hyper's HTTP/1.1 client directly:
//! at a 10 ms schedule a pooled general-purpose client spent more CPU on bookkeeping
//! (URL parsing, pool lookups, a spawned task per connection) than on the request.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Outcome, Probe, ProbeError};
use crate::spec;

/// One request per observation on a new connection.
#[derive(Debug)]
pub struct HttpProbe {
    /// `host:port` to connect to, as written in the URL.
    authority: String,
    /// The address, when the URL names an IP literal (resolved once).
    addr: Option<SocketAddr>,
    request: http::Request<Full<Bytes>>,
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
        let connect_to = format!("{host}:{port}");
        let addr = host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port));
        let mut builder = http::Request::builder()
            .method(spec.method.as_str())
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, authority.as_str())
            .header(http::header::CONNECTION, "close")
            .header(
                http::header::USER_AGENT,
                concat!("firedrill/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &spec.headers {
            let name = http::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| invalid(format!("invalid header name `{k}`: {e}")))?;
            let value = http::header::HeaderValue::from_str(v)
                .map_err(|e| invalid(format!("invalid value of header `{k}`: {e}")))?;
            builder = builder.header(name, value);
        }
        let body = spec.body.clone().map(Bytes::from).unwrap_or_default();
        let request = builder
            .body(Full::new(body))
            .map_err(|e| invalid(format!("invalid request: {e}")))?;
        Ok(Self {
            authority: connect_to,
            addr,
            request,
            expect_status: spec.expect_status,
            max_latency: spec.max_latency.map(spec::Duration::get),
        })
    }

    async fn exchange(&self) -> Result<u16, String> {
        let stream = match self.addr {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect(&self.authority).await,
        }
        .map_err(|e| format!("connection to {} failed: {e}", self.authority))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        let request = self.request.clone();
        let exchange = async move {
            let resp = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request failed: {}", crate::engine::chain(&e)))?;
            let status = resp.status().as_u16();
            // The body is part of what a user waits for.
            resp.into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the body failed: {e}"))?;
            Ok::<u16, String>(status)
        };
        // The connection future carries the bytes; it ends once the exchange drops the
        // sender and the server closes.
        let (status, _) = tokio::join!(exchange, conn);
        status
    }
}

#[async_trait]
impl Probe for HttpProbe {
    async fn observe(&self) -> Outcome {
        let started = Instant::now();
        let status = match self.exchange().await {
            Ok(s) => s,
            Err(e) => return Outcome::fail(e),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> spec::HttpProbe {
        let yaml =
            format!("{{name: p, url: \"{url}\", headers: {{x-drill: yes}}, maxLatency: 1s}}");
        serde_saphyr::from_str(&yaml).unwrap()
    }

    async fn server(status: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let body = if req.contains("x-drill: yes") {
                    "seen"
                } else {
                    "missing header"
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
                    .await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn passes_on_the_expected_status_and_fails_otherwise() {
        let ok = server("200 OK").await;
        let probe = HttpProbe::new(&spec("x"), &format!("http://{ok}/api?x=1")).unwrap();
        assert_eq!(probe.observe().await, Outcome::pass());

        let bad = server("503 Service Unavailable").await;
        let probe = HttpProbe::new(&spec("x"), &format!("http://{bad}/api")).unwrap();
        let o = probe.observe().await;
        assert!(!o.ok && o.detail.unwrap().contains("status 503"));
    }

    #[tokio::test]
    async fn a_refused_connection_fails() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let probe = HttpProbe::new(&spec("x"), &format!("http://127.0.0.1:{port}/")).unwrap();
        let o = probe.observe().await;
        assert!(
            !o.ok && o.detail.unwrap().contains("connection to"),
            "refused"
        );
    }

    #[test]
    fn rejects_other_schemes() {
        assert!(HttpProbe::new(&spec("x"), "https://127.0.0.1/").is_err());
        assert!(HttpProbe::new(&spec("x"), "not a url").is_err());
    }
}
