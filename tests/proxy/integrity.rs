//! The toxic contract through the public library API: bytes survive any sequence of toxic
//! changes on a live connection, a race of toxic swaps under a streaming client, and the
//! latency toxic's accuracy against the clock.

use std::time::Duration;

use firedrill::proxy::toxics::{
    Bandwidth, HttpError, HttpLatency, Latency, Slicer, SlowClose, Timeout,
};
use firedrill::proxy::{ProxyConfig, ProxyRegistry, Stream, ToxicConfig, ToxicKind, ToxicUpdate};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Deadline for one whole exchange.
const EXCHANGE: Duration = Duration::from_secs(20);

async fn echo_server() -> String {
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

async fn proxy(registry: &ProxyRegistry) -> String {
    registry
        .create(ProxyConfig {
            name: "p".into(),
            listen: "127.0.0.1:0".into(),
            upstream: echo_server().await,
            enabled: true,
        })
        .await
        .unwrap()
        .listen
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Toxics that slow or cut data but never close the connection.
fn harmless(i: u8, stream: Stream) -> ToxicKind {
    match (i % 7, stream) {
        (0, _) => ToxicKind::Latency(Latency {
            latency: u64::from(i % 5) * 3,
            jitter: u64::from(i % 3),
        }),
        (1, _) => ToxicKind::Bandwidth(Bandwidth {
            rate: 2000 + u64::from(i) * 100,
        }),
        (2, _) => ToxicKind::Slicer(Slicer {
            average_size: u64::from(i % 50) + 1,
            size_variation: u64::from(i % 7),
            delay: u64::from(i % 4) * 50,
        }),
        (3, _) => ToxicKind::SlowClose(SlowClose { delay: 5 }),
        (4, _) => ToxicKind::Timeout(Timeout { timeout: 0 }),
        (5, Stream::Upstream) => ToxicKind::HttpLatency(HttpLatency {
            latency: 2,
            jitter: 0,
            request_match: None,
        }),
        (6, Stream::Upstream) => ToxicKind::HttpError(HttpError {
            probability: 0.0,
            ..HttpError::default()
        }),
        _ => ToxicKind::Latency(Latency::default()),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add { slot: u8, kind: u8, upstream: bool },
    Update { slot: u8, kind: u8 },
    Remove { slot: u8 },
    Send { len: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8, any::<u8>(), any::<bool>()).prop_map(|(slot, kind, upstream)| Op::Add {
            slot,
            kind,
            upstream
        }),
        (0..4u8, any::<u8>()).prop_map(|(slot, kind)| Op::Update { slot, kind }),
        (0..4u8).prop_map(|slot| Op::Remove { slot }),
        (1..4096usize).prop_map(|len| Op::Send { len }),
    ]
}

/// Runs `ops` against a live connection, then removes every toxic and checks the echo.
async fn run_ops(ops: Vec<Op>, seed: u64) -> Result<(), String> {
    let registry = ProxyRegistry::new();
    let listen = proxy(&registry).await;
    let stream = TcpStream::connect(&listen).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.map(|_| got)
    });
    let mut sent = Vec::new();
    let mut slots: [Option<(Stream, u8)>; 4] = [None; 4];
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Add {
                slot,
                kind,
                upstream,
            } => {
                let stream = if upstream {
                    Stream::Upstream
                } else {
                    Stream::Downstream
                };
                let name = format!("t{slot}");
                if slots[slot as usize].is_none() {
                    let kind_value = harmless(kind, stream);
                    let stream = if kind_value.is_http() {
                        Stream::Upstream
                    } else {
                        stream
                    };
                    registry
                        .add_toxic("p", ToxicConfig::new(stream, kind_value).named(name))
                        .map_err(|e| e.to_string())?;
                    slots[slot as usize] = Some((stream, kind));
                }
            }
            Op::Update { slot, kind } => {
                if let Some((stream, old)) = slots[slot as usize] {
                    // Same type, new attributes: pick a value of the same family.
                    let same = harmless(old.wrapping_add(kind.wrapping_mul(7)), stream);
                    let same = if same.type_name() == harmless(old, stream).type_name() {
                        same
                    } else {
                        harmless(old, stream)
                    };
                    registry
                        .update_toxic(
                            "p",
                            &format!("t{slot}"),
                            ToxicUpdate {
                                toxicity: Some(if kind % 2 == 0 { 1.0 } else { 0.5 }),
                                kind: Some(same),
                            },
                        )
                        .map_err(|e| e.to_string())?;
                }
            }
            Op::Remove { slot } => {
                if slots[slot as usize].take().is_some() {
                    registry
                        .remove_toxic("p", &format!("t{slot}"))
                        .map_err(|e| e.to_string())?;
                }
            }
            Op::Send { len } => {
                let data = pattern(len, seed.wrapping_add(n as u64));
                // A held stream (timeout 0) takes only what the buffers hold; write in the
                // background of the next operations instead of waiting here.
                tokio::time::timeout(Duration::from_millis(200), w.write_all(&data))
                    .await
                    .map_err(|_| "a write stayed blocked".to_string())?
                    .map_err(|e| e.to_string())?;
                sent.extend_from_slice(&data);
            }
        }
    }
    for (slot, used) in slots.iter().enumerate() {
        if used.is_some() {
            registry
                .remove_toxic("p", &format!("t{slot}"))
                .map_err(|e| e.to_string())?;
        }
    }
    w.shutdown().await.map_err(|e| e.to_string())?;
    let got = tokio::time::timeout(EXCHANGE, reader)
        .await
        .map_err(|_| "the echo did not finish".to_string())?
        .unwrap()
        .map_err(|e| e.to_string())?;
    registry.shutdown().await;
    if got != sent {
        let first = got.iter().zip(&sent).position(|(a, b)| a != b);
        return Err(format!(
            "sent {} bytes, got {} back; first difference at {first:?}",
            sent.len(),
            got.len()
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// What arrives equals what was sent, in order, whatever toxics come and go.
    #[test]
    fn bytes_survive_any_sequence_of_toxic_changes(ops in prop::collection::vec(op(), 1..24), seed in any::<u64>()) {
        let _guard = crate::common::shared();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(run_ops(ops, seed));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

/// Swaps latency, slicer and bandwidth on and off while a client streams 8 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_toxics_under_a_streaming_client_keeps_every_byte() {
    let _guard = crate::common::shared_async().await;
    let registry = ProxyRegistry::new();
    let listen = proxy(&registry).await;
    let stream = TcpStream::connect(&listen).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let data = pattern(8 * 1024 * 1024, 42);
    let expected = data.clone();
    let writer = tokio::spawn(async move {
        for piece in data.chunks(8192) {
            w.write_all(piece).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    });
    let swaps = [
        (
            "lat",
            ToxicKind::Latency(Latency {
                latency: 1,
                jitter: 1,
            }),
        ),
        (
            "slice",
            ToxicKind::Slicer(Slicer {
                average_size: 512,
                size_variation: 256,
                delay: 10,
            }),
        ),
        ("bw", ToxicKind::Bandwidth(Bandwidth { rate: 20_000 })),
    ];
    let mut rounds = 0;
    while !reader.is_finished() && rounds < 10_000 {
        let (name, kind) = &swaps[rounds % swaps.len()];
        let stream = if rounds % 2 == 0 {
            Stream::Upstream
        } else {
            Stream::Downstream
        };
        registry
            .add_toxic("p", ToxicConfig::new(stream, kind.clone()).named(*name))
            .unwrap();
        // Let the pumps meet the toxic mid-chunk; sometimes long enough to wait in it.
        if rounds % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
        registry.remove_toxic("p", name).unwrap();
        rounds += 1;
    }
    writer.await.unwrap();
    let got = tokio::time::timeout(EXCHANGE, reader)
        .await
        .unwrap()
        .unwrap();
    assert!(
        rounds > 10,
        "only {rounds} swaps happened during the transfer"
    );
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the echo differs from what was sent");
    registry.shutdown().await;
}

/// Tolerance of the latency toxic on loopback: the median round trip through a 100 ms
/// downstream latency is within [100, 115] ms.
const LATENCY_TOLERANCE: Duration = Duration::from_millis(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_accurate_against_the_clock() {
    let _guard = crate::common::alone_async().await;
    let registry = ProxyRegistry::new();
    let listen = proxy(&registry).await;
    registry
        .add_toxic(
            "p",
            ToxicConfig::new(
                Stream::Downstream,
                ToxicKind::Latency(Latency {
                    latency: 100,
                    jitter: 0,
                }),
            ),
        )
        .unwrap();
    let mut s = TcpStream::connect(&listen).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut samples = Vec::new();
    for i in 0..15u8 {
        let start = Instant::now();
        s.write_all(&[i; 32]).await.unwrap();
        let mut buf = [0u8; 32];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    let p50 = samples[samples.len() / 2];
    let want = Duration::from_millis(100);
    assert!(
        p50 >= want && p50 <= want + LATENCY_TOLERANCE,
        "p50 {p50:?} outside [100 ms, 115 ms]; all: {samples:?}"
    );
    assert!(
        samples[0] >= want,
        "no round trip may be faster than the latency"
    );
    registry.shutdown().await;
}
