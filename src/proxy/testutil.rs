//! Helpers for the proxy's unit tests: an echo upstream, a proxy in front of it, a client.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::{ProxyConfig, ProxyRegistry, Stream, ToxicConfig, ToxicKind, ToxicUpdate};

/// Deadline for any single step of a test.
pub(crate) const STEP: Duration = Duration::from_secs(5);

/// A registry with one proxy, `p`, in front of an upstream.
pub(crate) struct Harness {
    pub(crate) registry: ProxyRegistry,
    pub(crate) name: String,
    pub(crate) listen: String,
}

/// Starts an upstream that echoes every byte and closes after the client does.
pub(crate) async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

impl Harness {
    /// A proxy in front of an echo server.
    pub(crate) async fn echo() -> Self {
        Self::with_upstream(echo_server().await).await
    }

    /// A proxy in front of `upstream`.
    pub(crate) async fn with_upstream(upstream: String) -> Self {
        let registry = ProxyRegistry::new();
        let info = registry
            .create(ProxyConfig {
                name: "p".into(),
                listen: "127.0.0.1:0".into(),
                upstream,
                enabled: true,
            })
            .await
            .unwrap();
        Self {
            registry,
            name: info.name,
            listen: info.listen,
        }
    }

    pub(crate) async fn connect(&self) -> Client {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(&self.listen))
            .await
            .unwrap()
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream }
    }

    pub(crate) fn add(&self, name: &str, stream: Stream, kind: ToxicKind) {
        self.registry
            .add_toxic(&self.name, ToxicConfig::new(stream, kind).named(name))
            .unwrap();
    }

    pub(crate) fn update_kind(&self, name: &str, kind: ToxicKind) {
        self.registry
            .update_toxic(
                &self.name,
                name,
                ToxicUpdate {
                    kind: Some(kind),
                    toxicity: None,
                },
            )
            .unwrap();
    }
}

/// A client connection to the proxy.
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
}

impl Client {
    pub(crate) async fn write(&mut self, data: &[u8]) {
        tokio::time::timeout(STEP, self.stream.write_all(data))
            .await
            .unwrap()
            .unwrap();
    }

    /// Writes `data` and reads the same bytes back.
    pub(crate) async fn round_trip(&mut self, data: &[u8]) {
        let (mut r, mut w) = self.stream.split();
        let write = async {
            w.write_all(data).await.unwrap();
        };
        let read = async {
            let mut got = vec![0u8; data.len()];
            r.read_exact(&mut got).await.unwrap();
            got
        };
        let (_, got) = tokio::time::timeout(STEP, async { tokio::join!(write, read) })
            .await
            .expect("echo in time");
        assert!(got == data, "echo differs");
    }

    pub(crate) async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.unwrap();
    }
}

/// Reads exactly `want` within `within`, or panics.
pub(crate) async fn read_exact_within(stream: &mut TcpStream, want: &[u8], within: Duration) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(within, stream.read_exact(&mut got))
        .await
        .expect("data in time")
        .unwrap();
    assert_eq!(got, want);
}
