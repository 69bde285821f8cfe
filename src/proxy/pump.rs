//! One proxied connection: a reader and a writer per direction. The reader timestamps chunks
//! into a bounded queue; the writer passes each chunk through the current toxic chain.
//!
//! The toxic contract lives here: the writer keeps the unwritten rest of its chunk across
//! every wait, and every wait also watches the proxy's toxic set, so adding, changing or
//! removing a toxic re-plans the rest at once without dropping, duplicating or reordering a
//! byte.

use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead as _, AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::gate::Gate;
use super::http::{self, Http};
use super::toxics::{Judge, ToxicKind};
use super::{Stream, ToxicEntry};

/// The largest chunk read at once while chunks queue for toxics.
const CHUNK_BYTES: usize = 16 * 1024;

/// The largest chunk read at once while no toxic is set: the chunk is written before the next
/// read and the buffer is the thread's, lent to one read at a time, so a larger one costs no
/// more memory than a chunk in flight, and a stream moves in a quarter of the system calls
/// of 16 KiB reads. (128 KiB was tried but not yet measured against the peers: it stays at 64
/// until a run of benches/proxy-vs-peers.sh shows it helps.)
const DIRECT_CHUNK_BYTES: usize = 64 * 1024;

/// Chunks a direction may queue while its writer is held by a toxic; then TCP backpressure.
const QUEUED_CHUNKS: usize = 32;

/// The toxics of a proxy, as the connections watch them.
pub(crate) type ToxicSet = Arc<Vec<ToxicEntry>>;

/// Bytes read from one side, with the time they were read (latency counts from it).
pub(crate) struct Chunk {
    pub(crate) data: Bytes,
    pub(crate) at: Instant,
}

/// What a reader passes to its writer.
pub(crate) enum Input {
    Data(Chunk),
    Eof,
    Failed,
}

/// How a writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The source ended; the close was passed on.
    Done,
    /// A toxic closes the whole connection.
    Close,
    /// A toxic (or a reset from the other side) resets the connection.
    Reset,
    /// The connection was stopped from outside, or the output failed.
    Stopped,
}

/// A toxic as one writer of one connection sees it.
#[derive(Clone)]
pub(crate) struct Active {
    pub(crate) id: u64,
    pub(crate) generation: u64,
    pub(crate) name: String,
    /// Whether the toxicity roll made it act on this connection.
    pub(crate) on: bool,
    /// When it became active here (timers count from it).
    pub(crate) since: Instant,
    pub(crate) kind: ToxicKind,
    pub(crate) judge: Arc<Judge>,
}

/// What to do next with the rest of a chunk.
enum Step {
    Hold,
    Wait(Instant),
    Close,
    Write {
        n: usize,
        pause: Duration,
        last: bool,
    },
}

/// What, besides data, ends a direct read's wait.
enum Event {
    Stopped,
    /// The toxic set changed (false: the proxy is gone).
    ToxicsChanged(bool),
    Control(Option<http::Control>),
}

/// Why a wait returned without an error.
#[derive(PartialEq, Eq)]
pub(crate) enum Woke {
    Elapsed,
    Changed,
}

/// The writing end of one direction.
pub(crate) struct Writer {
    pub(crate) dir: Stream,
    out: Option<OwnedWriteHalf>,
    toxics: watch::Receiver<ToxicSet>,
    pub(crate) active: Vec<Active>,
    /// Bytes passed per `limit_data` toxic id.
    sent: Vec<(u64, u64)>,
    pub(crate) rng: fastrand::Rng,
    stop: CancellationToken,
    pub(crate) http: Http,
    /// Whether the proxy has any toxic, on either stream (the direct path ends then).
    proxy_has_toxics: bool,
    /// Bytes written, for the proxy's metrics.
    written: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => super::timer::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Writer {
    pub(crate) fn new(
        dir: Stream,
        out: OwnedWriteHalf,
        toxics: watch::Receiver<ToxicSet>,
        stop: CancellationToken,
        http: Http,
    ) -> Self {
        let mut w = Self {
            dir,
            out: Some(out),
            toxics,
            active: Vec::new(),
            sent: Vec::new(),
            rng: fastrand::Rng::new(),
            stop,
            http,
            proxy_has_toxics: false,
            written: None,
        };
        w.refresh();
        w
    }

    /// Counts the bytes written into `counter`.
    pub(crate) fn counting(
        mut self,
        counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        self.written = Some(counter);
        self
    }

    /// Takes the current toxic set: keeps what is unchanged, rolls the toxicity of what is new
    /// or updated (as Toxiproxy does when a toxic is added or updated).
    fn refresh(&mut self) {
        let set = self.toxics.borrow_and_update().clone();
        self.proxy_has_toxics = !set.is_empty();
        let now = Instant::now();
        let mut next = Vec::with_capacity(set.len());
        for t in set.iter().filter(|t| t.stream == self.dir) {
            match self.active.iter().find(|a| a.id == t.id) {
                Some(a) if a.generation == t.generation => next.push(a.clone()),
                _ => next.push(Active {
                    id: t.id,
                    generation: t.generation,
                    name: t.name.clone(),
                    on: self.rng.f64() < t.toxicity,
                    since: now,
                    kind: t.kind.clone(),
                    judge: t.judge.clone(),
                }),
            }
        }
        self.sent.retain(|(id, _)| next.iter().any(|a| a.id == *id));
        self.active = next;
    }

    fn on(&self) -> impl Iterator<Item = &Active> {
        self.active.iter().filter(|a| a.on)
    }

    /// The earliest timer of a `timeout` or `reset_peer` toxic, and what it does.
    fn timer(&self) -> Option<(Instant, End)> {
        self.on()
            .filter_map(|a| match &a.kind {
                ToxicKind::Timeout(t) => t.close_after().map(|d| (a.since + d, End::Close)),
                ToxicKind::ResetPeer(r) => Some((a.since + r.reset_after(), End::Reset)),
                _ => None,
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Waits until `until` (or forever), returning early when the toxics change.
    pub(crate) async fn wait(&mut self, until: Option<Instant>) -> Result<Woke, End> {
        let timer = self.timer();
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(End::Stopped),
            changed = self.toxics.changed() => {
                if changed.is_err() {
                    return Err(End::Stopped);
                }
                self.refresh();
                Ok(Woke::Changed)
            }
            () = sleep_until_opt(timer.map(|t| t.0)) => Err(timer.map_or(End::Close, |t| t.1)),
            () = sleep_until_opt(until) => Ok(Woke::Elapsed),
        }
    }

    fn plan(&mut self, len: usize, at: Instant, samples: &mut Vec<(u64, u64, Duration)>) -> Step {
        let mut delay = Duration::ZERO;
        for a in self.active.iter().filter(|a| a.on) {
            match &a.kind {
                ToxicKind::Timeout(_) => return Step::Hold,
                ToxicKind::Latency(l) => {
                    let d = match samples
                        .iter()
                        .find(|(id, g, _)| *id == a.id && *g == a.generation)
                    {
                        Some((_, _, d)) => *d,
                        None => {
                            let d = l.sample(&mut self.rng);
                            samples.push((a.id, a.generation, d));
                            d
                        }
                    };
                    delay += d;
                }
                _ => {}
            }
        }
        let due = at + delay;
        if !delay.is_zero() && Instant::now() < due {
            return Step::Wait(due);
        }
        let mut n = len;
        let mut pause = Duration::ZERO;
        for a in self.active.iter().filter(|a| a.on) {
            match &a.kind {
                ToxicKind::LimitData(l) => {
                    let left = l.allowance(sent_by(&self.sent, a.id));
                    if left == 0 {
                        return Step::Close;
                    }
                    n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                }
                ToxicKind::Slicer(s) => {
                    n = n.min(s.slice(&mut self.rng));
                    pause += s.pause();
                }
                ToxicKind::Bandwidth(b) => n = n.min(b.piece()),
                _ => {}
            }
        }
        let mut last = false;
        for a in self.active.iter().filter(|a| a.on) {
            match &a.kind {
                ToxicKind::Bandwidth(b) => pause += b.pause(n),
                ToxicKind::LimitData(l) => {
                    last |= l.allowance(sent_by(&self.sent, a.id)) == n as u64;
                }
                _ => {}
            }
        }
        Step::Write { n, pause, last }
    }

    /// Passes bytes through the byte-level toxics (everything but the HTTP ones).
    pub(crate) async fn send(&mut self, mut rest: &[u8], at: Instant) -> Result<(), End> {
        if self.active.is_empty() {
            return self.write(rest).await;
        }
        let mut samples = Vec::new();
        while !rest.is_empty() {
            match self.plan(rest.len(), at, &mut samples) {
                Step::Hold => {
                    self.wait(None).await?;
                }
                Step::Wait(until) => {
                    self.wait(Some(until)).await?;
                }
                Step::Close => return Err(End::Close),
                Step::Write { n, pause, last } => {
                    let (piece, tail) = rest.split_at(n);
                    rest = tail;
                    self.write(piece).await?;
                    for a in self.active.iter().filter(|a| a.on) {
                        if matches!(a.kind, ToxicKind::LimitData(_)) {
                            match self.sent.iter_mut().find(|(id, _)| *id == a.id) {
                                Some(s) => s.1 += n as u64,
                                None => self.sent.push((a.id, n as u64)),
                            }
                        }
                    }
                    if last {
                        return Err(End::Close);
                    }
                    if !pause.is_zero() {
                        self.wait(Some(Instant::now() + pause)).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        let Some(out) = self.out.as_mut() else {
            return Err(End::Stopped);
        };
        // Most writes fit the socket's buffer at once: then there is no wait, and no
        // cancellation to register for it.
        if let Some(c) = &self.written {
            c.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let mut rest = bytes;
        match out.try_write(rest) {
            Ok(n) if n == rest.len() => return Ok(()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(End::Reset),
        }
        tokio::select! {
            () = self.stop.cancelled() => Err(End::Stopped),
            r = out.write_all(rest) => r.map_err(|_| End::Reset),
        }
    }

    /// Writes what the socket takes of `bytes` at once, when nothing stands between them and
    /// the socket: no toxic on this direction and no HTTP framing to keep (see
    /// `Http::passes_through`). Returns how many bytes went out, or None when the chunk must
    /// take the full path (`process`). Without a toxic this is the path of nearly every
    /// chunk, and it skips the layers of futures that the full path builds for a step that
    /// never waits.
    fn write_now(&mut self, bytes: &[u8]) -> Option<usize> {
        if !self.active.is_empty() || !self.http.passes_through() {
            return None;
        }
        let out = self.out.as_ref()?;
        // An error is left to `write`, which meets it again and ends the connection.
        let n = out.try_write(bytes).unwrap_or(0);
        if let Some(c) = &self.written {
            c.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Some(n)
    }

    /// Waits out `slow_close` after the source ended; removal ends the wait at once.
    async fn slow_close(&mut self) -> Result<(), End> {
        let eof = Instant::now();
        loop {
            let delay = self
                .on()
                .filter_map(|a| match &a.kind {
                    ToxicKind::SlowClose(s) => Some(s.delay()),
                    _ => None,
                })
                .max();
            match delay {
                Some(d) if Instant::now() < eof + d => {
                    self.wait(Some(eof + d)).await?;
                }
                _ => return Ok(()),
            }
        }
    }

    async fn process(&mut self, data: &[u8], at: Instant) -> Result<(), End> {
        match self.http {
            Http::Requests(_) => self.send_requests(data, at).await,
            Http::Responses(_) => self.send_responses(data, at).await,
        }
    }

    /// Runs until the source ends or the connection stops.
    ///
    /// While the proxy has no toxic, the writer reads its source itself and passes each
    /// chunk on at once: no queue, no second wake-up per chunk. From the first toxic on, for
    /// the rest of the connection, a reader queues timestamped chunks so that a toxic can
    /// hold data while reading goes on. The switch happens between two chunks with nothing
    /// buffered, and both modes pass chunks through the same `process` (HTTP framing
    /// included), so no byte is dropped, duplicated or reordered.
    pub(crate) async fn run(mut self, mut from: OwnedReadHalf) -> End {
        let stop = self.stop.clone();
        let end = match self.direct(&mut from, &stop).await {
            Some(end) => end,
            // Boxed, as every path but the direct one: a future is as large as its largest
            // state, and an idle connection would otherwise carry the room of these.
            None => Box::pin(self.queued_mode(from, stop)).await,
        };
        self.finish(end).await
    }

    /// Runs the rest of the connection with a reader queueing chunks for the toxics.
    async fn queued_mode(&mut self, from: OwnedReadHalf, stop: CancellationToken) -> End {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let ((), end) = tokio::join!(read_loop(from, tx, stop.clone()), async {
            let end = self.queued(rx).await;
            // The reader stops with the connection, or at the end of its source.
            if end != End::Done {
                stop.cancel();
            }
            end
        });
        end
    }

    /// Reads and passes chunks directly while no toxic is set. Returns how the connection
    /// ended, or None when a toxic arrived.
    async fn direct(&mut self, from: &mut OwnedReadHalf, stop: &CancellationToken) -> Option<End> {
        let cancelled = stop.cancelled();
        tokio::pin!(cancelled);
        // A receiver of its own, so that one registration for toxic changes lasts across
        // reads while `self` stays free for the writing (a `changed()` per read would
        // register and unregister each time).
        let mut watch = self.toxics.clone();
        // A stop, a toxic change and a control message are polled only when one of them
        // has woken the task, not each time it goes back to waiting for data.
        let mut gate = Gate::new();
        loop {
            if self.proxy_has_toxics {
                return None;
            }
            let changed = watch.changed();
            tokio::pin!(changed);
            // Until the next toxic change.
            loop {
                let control_open = self.http.control_open();
                // Data first: on a wake-up for data, nothing else is polled. Toxic changes
                // are still seen before the data is passed on (below), and a stop at the
                // latest when the task's budget sends the read back pending.
                let read = tokio::select! {
                    biased;
                    read = std::future::poll_fn(|cx| poll_read_lent(from, cx)) => read,
                    event = std::future::poll_fn(|cx| gate.poll(cx, |cx| {
                        if cancelled.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Event::Stopped);
                        }
                        if let Poll::Ready(changed) = changed.as_mut().poll(cx) {
                            return Poll::Ready(Event::ToxicsChanged(changed.is_ok()));
                        }
                        if control_open {
                            return http::poll_control(&mut self.http, cx).map(Event::Control);
                        }
                        Poll::Pending
                    })) => {
                        match event {
                            Event::Stopped | Event::ToxicsChanged(false) => {
                                return Some(End::Stopped);
                            }
                            Event::ToxicsChanged(true) => {
                                if let Err(end) = Box::pin(self.take_toxics()).await {
                                    return Some(end);
                                }
                                break;
                            }
                            Event::Control(msg) => {
                                if let Err(end) = Box::pin(self.control(msg)).await {
                                    return Some(end);
                                }
                                continue;
                            }
                        }
                    }
                };
                let (buf, n) = match read {
                    Ok(read) => read,
                    Err(_) => return Some(End::Reset),
                };
                if n == 0 {
                    give_back(buf);
                    return Some(Box::pin(self.source_done()).await);
                }
                let data = &buf[..n];
                let passed = if self.toxics.has_changed().unwrap_or(false) {
                    // A toxic added while the data came in applies to it.
                    let at = Instant::now();
                    if let Err(end) = Box::pin(self.take_toxics()).await {
                        return Some(end);
                    }
                    Box::pin(self.process(data, at)).await
                } else {
                    match self.write_now(data) {
                        Some(done) if done == n => Ok(()),
                        // Passing through still: the rest only waits for room.
                        Some(done) => self.write(&data[done..]).await,
                        None => Box::pin(self.process(data, Instant::now())).await,
                    }
                };
                give_back(buf);
                if let Err(end) = passed {
                    return Some(end);
                }
                if self.proxy_has_toxics {
                    return None;
                }
            }
        }
    }

    /// Takes a change of the toxic set: a held request head goes out if no HTTP toxic
    /// judges any more.
    async fn take_toxics(&mut self) -> Result<(), End> {
        self.refresh();
        self.toxics_changed().await
    }

    /// Passes on what the reader queues, through the toxics, until the source ends or the
    /// connection stops.
    async fn queued(&mut self, mut inbox: mpsc::Receiver<Input>) -> End {
        let stop = self.stop.clone();
        let cancelled = stop.cancelled();
        tokio::pin!(cancelled);
        loop {
            let timer = self.timer();
            let control_open = self.http.control_open();
            let input = tokio::select! {
                biased;
                () = &mut cancelled => return End::Stopped,
                changed = self.toxics.changed() => {
                    if changed.is_err() {
                        return End::Stopped;
                    }
                    self.refresh();
                    if let Err(end) = self.toxics_changed().await {
                        return end;
                    }
                    continue;
                }
                () = sleep_until_opt(timer.map(|t| t.0)) => return timer.map_or(End::Close, |t| t.1),
                msg = http::next_control(&mut self.http), if control_open => {
                    if let Err(end) = self.control(msg).await {
                        return end;
                    }
                    continue;
                }
                input = inbox.recv() => input,
            };
            match input {
                Some(Input::Data(chunk)) => {
                    if let Err(end) = self.process(&chunk.data, chunk.at).await {
                        return end;
                    }
                }
                Some(Input::Eof) | None => return self.source_done().await,
                Some(Input::Failed) => return End::Reset,
            }
        }
    }

    /// The source ended: a held head goes out, `slow_close` is waited out.
    async fn source_done(&mut self) -> End {
        if let Err(end) = self.source_ended().await {
            return end;
        }
        if let Err(end) = self.slow_close().await {
            return end;
        }
        End::Done
    }

    /// Passes the end on to the output: a FIN when the source ended, an RST on a reset.
    async fn finish(&mut self, end: End) -> End {
        match end {
            End::Done => {
                if let Some(mut out) = self.out.take() {
                    let _ = out.shutdown().await;
                    // Keep the socket open for the other direction; dropping the half would
                    // only shut down the write side again.
                    out.forget();
                }
            }
            End::Reset => {
                if let Some(out) = self.out.take() {
                    let _ = socket2::SockRef::from(out.as_ref()).set_linger(Some(Duration::ZERO));
                    // No FIN: the socket closes (with RST) when its read half goes.
                    out.forget();
                }
            }
            End::Close | End::Stopped => {}
        }
        end
    }
}

thread_local! {
    /// The direct path's read buffer, lent to one read at a time: a connection holds it only
    /// while it passes a chunk on, so an idle connection holds none and a busy one does not
    /// allocate per chunk.
    static SPARE: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// Takes the thread's spare read buffer, or a new one while another read holds it.
fn lend() -> Vec<u8> {
    SPARE
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; DIRECT_CHUNK_BYTES])
}

/// Returns a read buffer to the thread for the next read.
fn give_back(buf: Vec<u8>) {
    // Only while the thread is being torn down can this fail; the buffer is freed then.
    let _ = SPARE.try_with(|spare| spare.set(Some(buf)));
}

/// Reads what the socket has into a lent buffer; pending, holding no buffer, while it has
/// nothing. A read shorter than the buffer tells tokio the socket is drained, so the next
/// wait goes straight to epoll instead of first trying a read that can only fail with
/// EAGAIN.
fn poll_read_lent(
    from: &mut OwnedReadHalf,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<(Vec<u8>, usize)>> {
    let mut buf = lend();
    let mut read = ReadBuf::new(&mut buf);
    match Pin::new(from).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            let n = read.filled().len();
            Poll::Ready(Ok((buf, n)))
        }
        Poll::Ready(Err(e)) => {
            give_back(buf);
            Poll::Ready(Err(e))
        }
        Poll::Pending => {
            give_back(buf);
            Poll::Pending
        }
    }
}

/// One read into `buf` if the socket has data now; None when it has none after all.
async fn read_now(from: &mut OwnedReadHalf, buf: &mut BytesMut) -> Option<std::io::Result<usize>> {
    let mut read = std::pin::pin!(from.read_buf(buf));
    // Polled once: when the socket turns out empty, the caller waits for readiness
    // alongside its other events (cancellation, toxic changes) instead of in here.
    std::future::poll_fn(|cx| {
        Poll::Ready(match read.as_mut().poll(cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        })
    })
    .await
}

/// Bytes a `limit_data` toxic has let through on this direction.
fn sent_by(sent: &[(u64, u64)], id: u64) -> u64 {
    sent.iter().find(|(t, _)| *t == id).map_or(0, |s| s.1)
}

/// Reads one side into the queue of the writer of the other side.
async fn read_loop(mut from: OwnedReadHalf, to: mpsc::Sender<Input>, stop: CancellationToken) {
    // Registered once: a new cancellation future per chunk costs a lock and a list update.
    let cancelled = stop.cancelled();
    tokio::pin!(cancelled);
    loop {
        // Wait for data before taking a buffer, so that an idle connection holds none.
        let ready = tokio::select! {
            biased;
            () = &mut cancelled => return,
            r = from.readable() => r,
        };
        let mut buf = BytesMut::with_capacity(CHUNK_BYTES);
        let read = match ready {
            Ok(()) => match read_now(&mut from, &mut buf).await {
                None => continue,
                Some(r) => r,
            },
            Err(e) => Err(e),
        };
        let input = match read {
            Ok(0) => Input::Eof,
            Ok(_) => Input::Data(Chunk {
                data: buf.freeze(),
                at: Instant::now(),
            }),
            Err(_) => Input::Failed,
        };
        let last = !matches!(input, Input::Data(_));
        if to.send(input).await.is_err() || last {
            return;
        }
    }
}

/// Serves one accepted client: connects upstream and pumps both ways until both ends close,
/// a toxic closes or resets, or `stop` fires.
pub(crate) async fn serve(
    client: TcpStream,
    upstream: String,
    toxics: watch::Receiver<ToxicSet>,
    stop: CancellationToken,
    active: super::registry::ActiveConnection,
) {
    let stats = active.stats();
    // Boxed: the connect (name resolution included) is larger than the pumping that follows,
    // and the connection's future would keep its room for the life of the connection.
    let connect = Box::pin(async {
        tokio::select! {
            () = stop.cancelled() => None,
            r = TcpStream::connect(&upstream) => match r {
                Ok(s) => Some(s),
                Err(error) => {
                    tracing::debug!(upstream = %upstream, error = %error, "cannot connect upstream");
                    None
                }
            },
        }
    });
    let Some(server) = connect.await else {
        return;
    };
    drop(upstream);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (requests, responses) = http::pair();
    let up = Writer::new(
        Stream::Upstream,
        server_write,
        toxics.clone(),
        stop.clone(),
        requests,
    )
    .counting(stats.bytes_upstream.clone());
    let down = Writer::new(
        Stream::Downstream,
        client_write,
        toxics,
        stop.clone(),
        responses,
    )
    .counting(stats.bytes_downstream.clone());
    // A task per direction: a readiness event wakes only the direction it concerns, where
    // one task joining both would poll the idle direction too, at times before the busy one.
    let down_stop = stop.clone();
    let down = tokio::spawn(async move {
        if down.run(server_read).await != End::Done {
            down_stop.cancel();
        }
    });
    if up.run(client_read).await != End::Done {
        stop.cancel();
    }
    let _ = down.await;
    drop(active);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;
    use tokio_util::sync::CancellationToken;

    use super::super::registry::{ActiveConnection, ProxyStats};
    use super::super::testutil::{Harness, STEP};
    use super::super::{Stream, http};
    use super::{ToxicSet, Writer, serve};

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Without a toxic, a chunk goes out with one `try_write`. When the upstream does not read,
    /// its socket fills and a write takes part of a chunk: the rest must follow, in order.
    #[tokio::test]
    async fn a_chunk_the_socket_takes_only_in_part_still_goes_out_whole() {
        const LEN: usize = 8 * 1024 * 1024;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap().to_string();
        let received = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            // Not reading for a while fills the socket buffers behind the proxy.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let mut got = Vec::with_capacity(LEN);
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let h = Harness::with_upstream(upstream).await;
        let mut client = h.connect().await;
        let sent = pattern(LEN);
        tokio::time::timeout(STEP, async {
            client.stream.write_all(&sent).await.unwrap();
            client.stream.shutdown().await.unwrap();
        })
        .await
        .expect("the proxy takes the whole stream");
        let got = tokio::time::timeout(STEP, received).await.unwrap().unwrap();
        assert_eq!(got.len(), LEN, "bytes lost or added");
        assert!(got == sent, "bytes reordered or changed");
    }

    /// What an idle connection keeps is mostly its two futures: the connection's own
    /// (connect, then the upstream direction) and the downstream direction's task. A future
    /// is as large as its largest state, so a cold path inlined into the pump (the toxics,
    /// the HTTP control messages, the queued mode, the connect) makes every idle connection
    /// carry its room. HAProxy keeps 3.3 KiB per idle connection in all; these two must
    /// leave room in that for the sockets' registrations, the task headers and the links.
    /// Unoptimised builds, where futures are largest, must stay within it too.
    #[tokio::test]
    async fn an_idle_connection_keeps_small_futures() {
        const FUTURE_BUDGET: usize = 1536;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let client = TcpStream::connect(&addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (toxics_tx, toxics) = watch::channel::<ToxicSet>(Arc::new(Vec::new()));
        let stats = Arc::new(ProxyStats::default());
        let (server_read, server_write) = server.into_split();
        let (_requests, responses) = http::pair();
        let down = Writer::new(
            Stream::Downstream,
            server_write,
            toxics.clone(),
            CancellationToken::new(),
            responses,
        );
        let direction = down.run(server_read);
        let connection = serve(
            client,
            addr,
            toxics,
            CancellationToken::new(),
            ActiveConnection::open(&stats),
        );
        let sizes = [
            ("a direction", std::mem::size_of_val(&direction)),
            ("a connection", std::mem::size_of_val(&connection)),
        ];
        for (what, size) in sizes {
            assert!(
                size <= FUTURE_BUDGET,
                "the future of {what} takes {size} bytes, over {FUTURE_BUDGET}"
            );
        }
        drop(toxics_tx);
    }
}
