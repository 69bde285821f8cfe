//! One HTTP/1.1 exchange on a plain hyper client connection over a tokio TcpStream, with
//! an idle-connection pool per address for keep-alive.

use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::record::{ErrorKind, Outcome};

/// A request ready to send many times.
pub struct Target {
    /// Index into the client's addresses.
    address: usize,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Target {
    /// A request to `url` (absolute http://); `address` is the index of its address.
    pub fn new(
        address: usize,
        method: &str,
        url: &http::Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Self, String> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let authority = url
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        let mut headers = headers;
        if !headers.contains_key(header::HOST) {
            let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
            headers.insert(header::HOST, host);
        }
        Ok(Self {
            address,
            method,
            path: url
                .path_and_query()
                .map_or("/".to_owned(), |p| p.as_str().to_owned()),
            headers,
            body,
        })
    }
}

/// Where a target's connections go: resolved once, or by name on every connection when
/// the name did not resolve at the start.
pub enum Address {
    /// A resolved address.
    Resolved(SocketAddr),
    /// `host:port`, resolved on each connection.
    Name(String),
}

/// The connections of the traffic.
pub struct Client {
    addresses: Vec<Address>,
    idle: Vec<Mutex<Vec<SendRequest<Full<Bytes>>>>>,
    keep_alive: bool,
}

impl Client {
    /// A client for these addresses; `keep_alive` reuses connections.
    pub fn new(addresses: Vec<Address>, keep_alive: bool) -> Self {
        let idle = addresses.iter().map(|_| Mutex::new(Vec::new())).collect();
        Self {
            addresses,
            idle,
            keep_alive,
        }
    }

    async fn connect(&self, address: usize) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
        let stream = match &self.addresses[address] {
            Address::Resolved(a) => TcpStream::connect(a).await,
            Address::Name(n) => TcpStream::connect(n.as_str()).await,
        }
        .map_err(|_| ErrorKind::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Connect)?;
        tokio::spawn(async move {
            // The connection ends when the server closes it or its sender is dropped.
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn take_idle(&self, address: usize) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle[address].lock().unwrap_or_else(|e| e.into_inner());
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Sends `target` and reads its whole answer, unless `deadline` passes first.
    pub async fn exchange(&self, target: &Target, deadline: Instant) -> Outcome {
        match tokio::time::timeout_at(deadline, self.exchange_inner(target)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Error(ErrorKind::Timeout),
        }
    }

    async fn exchange_inner(&self, target: &Target) -> Outcome {
        // A kept connection the server closed meanwhile fails before any answer: the
        // request goes once more on a new connection, as a browser's would.
        if self.keep_alive
            && let Some(sender) = self.take_idle(target.address)
        {
            match self.send(sender, target).await {
                Err(ErrorKind::Io) => {}
                Err(kind) => return Outcome::Error(kind),
                Ok(status) => return Outcome::Status(status),
            }
        }
        let sender = match self.connect(target.address).await {
            Ok(s) => s,
            Err(kind) => return Outcome::Error(kind),
        };
        match self.send(sender, target).await {
            Ok(status) => Outcome::Status(status),
            Err(kind) => Outcome::Error(kind),
        }
    }

    async fn send(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        target: &Target,
    ) -> Result<u16, ErrorKind> {
        sender.ready().await.map_err(|_| ErrorKind::Io)?;
        let mut request = Request::new(Full::new(target.body.clone()));
        *request.method_mut() = target.method.clone();
        *request.uri_mut() = target
            .path
            .parse()
            .map_err(|_: http::uri::InvalidUri| ErrorKind::Io)?;
        *request.headers_mut() = target.headers.clone();
        if !self.keep_alive {
            request
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| ErrorKind::Io)?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| ErrorKind::Io)?;
        }
        if self.keep_alive && !sender.is_closed() {
            self.idle[target.address]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
        Ok(status)
    }
}
