//! A stable address in front of a workload's replicas, like a Kubernetes Service.
//!
//! Each accepted connection goes to the next ready replica, round robin. With no ready
//! replica the connection is closed at once, as a Service without endpoints refuses it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::replica::Replica;

/// Picks the next ready replica after the one chosen last.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next ready replica, if any.
    pub fn pick<'a>(&self, replicas: &'a [Arc<Replica>]) -> Option<&'a Arc<Replica>> {
        let n = replicas.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &replicas[(start + i) % n])
            .find(|r| r.is_ready())
    }
}

/// Accepts connections on `listener` and forwards each to a ready replica until `stop`.
pub(super) async fn serve(
    listener: TcpListener,
    replicas: Vec<Arc<Replica>>,
    stop: CancellationToken,
) {
    let rr = RoundRobin::default();
    loop {
        let (client, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                // Running out of descriptors is transient; back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let Some(replica) = rr.pick(&replicas) else {
            drop(client);
            continue;
        };
        let backend = SocketAddr::from(([127, 0, 0, 1], replica.port));
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = forward(client, backend) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn forward(mut client: TcpStream, backend: SocketAddr) {
    let _ = client.set_nodelay(true);
    let Ok(mut upstream) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_unready() {
        let replicas: Vec<_> = (0..3)
            .map(|i| Arc::new(Replica::new("web", i, 1000 + i as u16)))
            .collect();
        let rr = RoundRobin::default();
        assert!(rr.pick(&replicas).is_none(), "nobody is ready yet");
        replicas[0].force_ready(true);
        replicas[2].force_ready(true);
        let picks: Vec<u32> = (0..4).map(|_| rr.pick(&replicas).unwrap().index).collect();
        assert!(picks.iter().all(|i| *i == 0 || *i == 2), "{picks:?}");
        assert!(picks.contains(&0) && picks.contains(&2), "{picks:?}");
    }
}
