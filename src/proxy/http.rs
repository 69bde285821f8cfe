//! HTTP/1.1 awareness for the `http_error` and `http_latency` toxics.
//!
//! The upstream writer frames requests (Content-Length, chunked, no body) so each request is
//! judged on its own; the downstream writer frames responses only to count them, passing
//! every byte through unchanged. Injected responses are *sequenced*: the upstream writer
//! tells the downstream writer, in request order, whether each request was forwarded or
//! answered by a toxic, and the downstream writer writes an injected response only once the
//! real responses to every earlier request on the connection have been passed on. So a
//! pipelined client gets its responses in request order.
//!
//! Anything that does not parse as HTTP/1.1 turns framing off for that connection and passes
//! untouched; so do upgraded connections (`CONNECT`, `Upgrade`, status 101).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::pump::{End, Woke, Writer};
use super::toxics::{Selector, ToxicKind};

/// A request or response head larger than this is not judged; the connection passes through.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields parsed in a head.
const MAX_HEADERS: usize = 100;
/// A chunk-size or trailer line longer than this ends framing.
const MAX_LINE_BYTES: usize = 4096;

/// What the request side tells the response side, one message per request, in order.
pub(crate) enum Control {
    /// The request went upstream; its response will come from the server.
    Forwarded { head_method: bool },
    /// A toxic answered the request; write these bytes in its turn.
    Injected { bytes: Bytes, close: bool },
}

/// The HTTP role of a writer.
pub(crate) enum Http {
    Requests(RequestSide),
    Responses(ResponseSide),
}

pub(crate) struct RequestSide {
    framer: Framer,
    /// Head bytes are held in the framer, not yet forwarded, while a toxic judges.
    held: bool,
    /// Part of the current head went out unjudged (no HTTP toxic was active then).
    head_started: bool,
    /// The body of the current request is dropped: a toxic answered it.
    discard: bool,
    /// A toxic answered with `connection: close`: drop everything after.
    closed: bool,
    ctl: ControlSender,
    framing: Arc<AtomicBool>,
}

pub(crate) struct ResponseSide {
    framer: Framer,
    expected: VecDeque<Control>,
    ctl: ControlReceiver,
    ctl_open: bool,
    framing: Arc<AtomicBool>,
}

/// The request side's messages to the response side of one connection, in order. Every
/// connection has one, and most never carry a message: unlike a tokio channel, which
/// allocates a block of 32 slots when it is created, this allocates nothing before the first
/// message, so an idle connection keeps only the shared state below.
struct Link {
    state: Mutex<LinkState>,
}

struct LinkState {
    queue: VecDeque<Control>,
    /// The response side's task, while it waits for a message.
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

pub(crate) struct ControlSender(Arc<Link>);

pub(crate) struct ControlReceiver(Arc<Link>);

fn control_link() -> (ControlSender, ControlReceiver) {
    let link = Arc::new(Link {
        state: Mutex::new(LinkState {
            queue: VecDeque::new(),
            waker: None,
            sender_gone: false,
            receiver_gone: false,
        }),
    });
    (ControlSender(link.clone()), ControlReceiver(link))
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // Every change under this lock is a single push, pop or flag: never half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ControlSender {
    /// Queues a message; dropped when the response side is gone.
    fn send(&self, msg: Control) {
        let waker = {
            let mut state = self.0.lock();
            if state.receiver_gone {
                return;
            }
            state.queue.push_back(msg);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for ControlSender {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock();
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl ControlReceiver {
    fn try_recv(&mut self) -> Option<Control> {
        self.0.lock().queue.pop_front()
    }

    /// The next message; None once the request side is gone and every message it sent has
    /// been taken.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Control>> {
        let mut state = self.0.lock();
        if let Some(msg) = state.queue.pop_front() {
            return Poll::Ready(Some(msg));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for ControlReceiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiver_gone = true;
        state.queue.clear();
        state.waker = None;
    }
}

/// The two HTTP roles of one connection, linked.
pub(crate) fn pair() -> (Http, Http) {
    let (tx, rx) = control_link();
    let framing = Arc::new(AtomicBool::new(true));
    (
        Http::Requests(RequestSide {
            framer: Framer::new(Role::Request),
            held: false,
            head_started: false,
            discard: false,
            closed: false,
            ctl: tx,
            framing: framing.clone(),
        }),
        Http::Responses(ResponseSide {
            framer: Framer::new(Role::Response),
            expected: VecDeque::new(),
            ctl: rx,
            ctl_open: true,
            framing,
        }),
    )
}

impl ResponseSide {
    /// Queues a control message from the request side. Once framing is off, responses are
    /// no longer counted, so a `Forwarded` would never leave the queue (one per request for
    /// the life of a keep-alive connection): it is dropped instead.
    fn take_in(&mut self, msg: Control) {
        if matches!(msg, Control::Forwarded { .. }) && !self.framing.load(Ordering::Relaxed) {
            return;
        }
        self.expected.push_back(msg);
    }

    /// Queues the control messages sent so far.
    fn take_in_sent(&mut self) {
        while let Some(msg) = self.ctl.try_recv() {
            self.take_in(msg);
        }
    }
}

impl Http {
    pub(crate) fn control_open(&self) -> bool {
        matches!(self, Http::Responses(r) if r.ctl_open)
    }

    /// Whether the next bytes go out as they are: nothing to frame, hold, drop or answer
    /// first. True only where `send_requests` and `send_responses` would pass them straight
    /// on. On the response side, the control messages already sent are taken in first.
    pub(crate) fn passes_through(&mut self) -> bool {
        match self {
            Http::Requests(r) => matches!(r.framer.state, State::Opaque) && !r.closed,
            Http::Responses(r) => {
                if r.framing.load(Ordering::Relaxed) && !matches!(r.framer.state, State::Opaque) {
                    return false;
                }
                r.take_in_sent();
                !r.expected
                    .iter()
                    .any(|c| matches!(c, Control::Injected { .. }))
            }
        }
    }
}

/// Polls for the next control message of a response side (pending forever for other roles).
pub(crate) fn poll_control(
    http: &mut Http,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Option<Control>> {
    match http {
        Http::Responses(r) => r.ctl.poll_recv(cx),
        _ => std::task::Poll::Pending,
    }
}

/// The next control message for a response side (pending forever for other roles).
pub(crate) async fn next_control(http: &mut Http) -> Option<Control> {
    match http {
        Http::Responses(r) => std::future::poll_fn(|cx| r.ctl.poll_recv(cx)).await,
        _ => std::future::pending().await,
    }
}

enum Decision {
    Forward(Duration),
    Inject { bytes: Bytes, close: bool },
}

impl Writer {
    fn judging(&self) -> bool {
        match &self.http {
            Http::Requests(r) => {
                r.framing.load(Ordering::Relaxed)
                    && !r.head_started
                    && self.active.iter().any(|a| a.on && a.kind.is_http())
            }
            _ => false,
        }
    }

    fn requests(&mut self) -> &mut RequestSide {
        match &mut self.http {
            Http::Requests(r) => r,
            _ => unreachable!("only the upstream writer frames requests"),
        }
    }

    fn responses(&mut self) -> &mut ResponseSide {
        match &mut self.http {
            Http::Responses(r) => r,
            _ => unreachable!("only the downstream writer frames responses"),
        }
    }

    /// What the HTTP toxics do with the request whose head is `bytes`. A toxic whose match
    /// does not select the request leaves it alone; an `http_error` then does not draw, so
    /// its sequence and its share count the selected requests only.
    fn decide(&mut self, head: &Head, bytes: &[u8]) -> Decision {
        let mut selector = Selector::new(bytes);
        for a in self.active.iter().filter(|a| a.on) {
            if let ToxicKind::HttpError(e) = &a.kind
                && selector.selects(e.request_match.as_ref())
                && a.judge.fails(e.probability)
            {
                let close = head.close || head.expect_continue;
                return Decision::Inject {
                    bytes: Bytes::from(e.response(&a.name, close)),
                    close,
                };
            }
        }
        let mut delay = Duration::ZERO;
        for a in self.active.iter().filter(|a| a.on) {
            if let ToxicKind::HttpLatency(l) = &a.kind
                && selector.selects(l.request_match.as_ref())
            {
                delay += l.sample(&mut self.rng);
            }
        }
        Decision::Forward(delay)
    }

    fn http_latency_on(&self) -> bool {
        self.active
            .iter()
            .any(|a| a.on && matches!(a.kind, ToxicKind::HttpLatency(_)))
    }

    /// The upstream direction: frames requests and applies the HTTP toxics to each.
    pub(crate) async fn send_requests(&mut self, mut data: &[u8], at: Instant) -> Result<(), End> {
        loop {
            if self.requests().closed || data.is_empty() {
                return Ok(());
            }
            let judging = self.judging();
            let side = self.requests();
            match side.framer.state {
                State::Opaque => return self.send(data, at).await,
                State::Head if judging => {
                    let (used, event) = side.framer.feed(data, false);
                    data = &data[used..];
                    match event {
                        Event::Need => {
                            side.held = true;
                            return Ok(());
                        }
                        Event::Opaque => {
                            side.held = false;
                            side.framing.store(false, Ordering::Relaxed);
                            let head = side.framer.take_head();
                            self.send(&head, at).await?;
                        }
                        Event::Head(head) => {
                            side.held = false;
                            let bytes = side.framer.take_head();
                            match self.decide(&head, &bytes) {
                                Decision::Inject { bytes, close } => {
                                    let side = self.requests();
                                    side.ctl.send(Control::Injected { bytes, close });
                                    side.discard = !head.complete;
                                    side.closed = close;
                                }
                                Decision::Forward(delay) => {
                                    if !delay.is_zero() {
                                        let until = Instant::now() + delay;
                                        while self.wait(Some(until)).await? == Woke::Changed {
                                            if !self.http_latency_on() {
                                                break;
                                            }
                                        }
                                    }
                                    self.requests().ctl.send(Control::Forwarded {
                                        head_method: head.head_method,
                                    });
                                    self.send(&bytes, at).await?;
                                }
                            }
                        }
                        Event::End => unreachable!("a head state never ends a message"),
                    }
                }
                State::Head => {
                    let (used, event) = side.framer.feed(data, false);
                    let (piece, rest) = data.split_at(used);
                    data = rest;
                    match event {
                        Event::Need => side.head_started = true,
                        Event::Opaque => {
                            side.framing.store(false, Ordering::Relaxed);
                            side.framer.take_head();
                        }
                        Event::Head(head) => {
                            side.head_started = false;
                            side.framer.take_head();
                            side.ctl.send(Control::Forwarded {
                                head_method: head.head_method,
                            });
                        }
                        Event::End => {}
                    }
                    self.send(piece, at).await?;
                }
                _ => {
                    let (used, event) = side.framer.feed(data, false);
                    let (piece, rest) = data.split_at(used);
                    data = rest;
                    let discard = side.discard;
                    if matches!(event, Event::End) {
                        side.discard = false;
                    }
                    if !discard {
                        self.send(piece, at).await?;
                    }
                }
            }
        }
    }

    /// A held request head is released as soon as no HTTP toxic judges any more.
    pub(crate) async fn toxics_changed(&mut self) -> Result<(), End> {
        if let Http::Requests(r) = &self.http
            && r.held
            && !self.active.iter().any(|a| a.on && a.kind.is_http())
        {
            let side = self.requests();
            side.held = false;
            side.head_started = true;
            let held = side.framer.head.clone();
            self.send(&held, Instant::now()).await?;
        }
        Ok(())
    }

    /// The source ended: a held partial request head still goes out.
    pub(crate) async fn source_ended(&mut self) -> Result<(), End> {
        if let Http::Requests(r) = &mut self.http
            && r.held
        {
            r.held = false;
            let held = r.framer.take_head();
            self.send(&held, Instant::now()).await?;
        }
        Ok(())
    }

    /// A control message reached the response side.
    pub(crate) async fn control(&mut self, msg: Option<Control>) -> Result<(), End> {
        let side = self.responses();
        match msg {
            Some(msg) => side.take_in(msg),
            None => side.ctl_open = false,
        }
        self.flush_injected().await
    }

    /// Writes the injected responses now at the front of the queue.
    async fn flush_injected(&mut self) -> Result<(), End> {
        loop {
            let side = self.responses();
            side.take_in_sent();
            let framing = side.framing.load(Ordering::Relaxed);
            let at_boundary =
                matches!(side.framer.state, State::Head) && side.framer.head.is_empty();
            if framing && !at_boundary {
                return Ok(());
            }
            let front = if framing {
                matches!(side.expected.front(), Some(Control::Injected { .. }))
            } else {
                // Framing is off: injected responses go out as they come (best effort).
                side.expected
                    .iter()
                    .any(|c| matches!(c, Control::Injected { .. }))
            };
            if !front {
                return Ok(());
            }
            let idx = if framing {
                0
            } else {
                side.expected
                    .iter()
                    .position(|c| matches!(c, Control::Injected { .. }))
                    .unwrap_or(0)
            };
            if let Some(Control::Injected { bytes, close }) = side.expected.remove(idx) {
                self.send(&bytes, Instant::now()).await?;
                if close {
                    return Err(End::Close);
                }
            }
        }
    }

    /// The downstream direction: passes responses through unchanged, counting them so that
    /// injected responses go out in request order.
    pub(crate) async fn send_responses(&mut self, mut data: &[u8], at: Instant) -> Result<(), End> {
        self.flush_injected().await?;
        while !data.is_empty() {
            let side = self.responses();
            if !side.framing.load(Ordering::Relaxed) || matches!(side.framer.state, State::Opaque) {
                return self.send(data, at).await;
            }
            let head_method = matches!(
                side.expected.front(),
                Some(Control::Forwarded { head_method: true })
            );
            let (used, event) = side.framer.feed(data, head_method);
            let (piece, rest) = data.split_at(used);
            data = rest;
            let done = match event {
                Event::Head(h) => {
                    side.framer.take_head();
                    h.complete && h.final_response
                }
                Event::End => true,
                Event::Opaque => {
                    side.framing.store(false, Ordering::Relaxed);
                    side.framer.take_head();
                    false
                }
                Event::Need => false,
            };
            if done && matches!(side.expected.front(), Some(Control::Forwarded { .. })) {
                side.expected.pop_front();
            }
            self.send(piece, at).await?;
            if done || !side_framing(&self.http) {
                self.flush_injected().await?;
            }
        }
        Ok(())
    }
}

fn side_framing(http: &Http) -> bool {
    match http {
        Http::Responses(r) => r.framing.load(Ordering::Relaxed),
        _ => true,
    }
}

/// Which messages a framer reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Request,
    Response,
}

/// Where a framer is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// At (or inside) a message head.
    Head,
    /// In a body of known remaining length.
    Fixed(u64),
    /// In a chunk-size line.
    ChunkSize,
    /// In chunk data, this much left, then CRLF.
    ChunkData(u64),
    /// After chunk data, before the next size line.
    ChunkEnd,
    /// In the trailer section; `true` when the current line has content.
    Trailer(bool),
    /// A response body delimited by the close of the connection.
    UntilClose,
    /// Not HTTP (or upgraded): no more framing.
    Opaque,
}

/// What a head says about its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The request method is HEAD (its response has no body).
    pub(crate) head_method: bool,
    /// The message has no body: the next byte starts a new message.
    pub(crate) complete: bool,
    /// The client asked to close after this request (or spoke HTTP/1.0 without keep-alive).
    pub(crate) close: bool,
    /// The request carries `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// Not a 1xx response.
    pub(crate) final_response: bool,
}

/// What happened at the end of the consumed bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Nothing yet: feed more.
    Need,
    /// A head just completed (its bytes are in `head`).
    Head(Head),
    /// A body just ended: the next byte starts a new message.
    End,
    /// Not HTTP/1.1: framing stops.
    Opaque,
}

/// An incremental HTTP/1.1 message framer.
pub(crate) struct Framer {
    role: Role,
    pub(crate) state: State,
    pub(crate) head: Vec<u8>,
    line: usize,
}

impl Framer {
    pub(crate) fn new(role: Role) -> Self {
        Self {
            role,
            state: State::Head,
            head: Vec::new(),
            line: 0,
        }
    }

    pub(crate) fn take_head(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.head)
    }

    /// Consumes a prefix of `data` up to the next event. `head_method`: the response being
    /// framed answers a HEAD request.
    pub(crate) fn feed(&mut self, data: &[u8], head_method: bool) -> (usize, Event) {
        match self.state {
            State::Head => self.feed_head(data, head_method),
            State::Fixed(left) => {
                let n = (data.len() as u64).min(left);
                if n == left {
                    self.state = State::Head;
                    (n as usize, Event::End)
                } else {
                    self.state = State::Fixed(left - n);
                    (n as usize, Event::Need)
                }
            }
            State::UntilClose | State::Opaque => (data.len(), Event::Need),
            State::ChunkSize | State::ChunkData(_) | State::ChunkEnd | State::Trailer(_) => {
                self.feed_chunked(data)
            }
        }
    }

    fn feed_head(&mut self, data: &[u8], head_method: bool) -> (usize, Event) {
        let old = self.head.len();
        let take = data.len();
        self.head.extend_from_slice(data);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let parsed = match self.role {
            Role::Request => {
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&self.head) {
                    Ok(httparse::Status::Complete(n)) => {
                        let info = request_head(&req);
                        Some((n, info))
                    }
                    // A partial head is only waited for while it can still be a request
                    // with a known method: a line protocol such as `ping` must not wait.
                    Ok(httparse::Status::Partial) if plausible_request(&self.head) => None,
                    Ok(httparse::Status::Partial) | Err(_) => return self.opaque(data.len()),
                }
            }
            Role::Response => {
                let mut res = httparse::Response::new(&mut headers);
                match res.parse(&self.head) {
                    Ok(httparse::Status::Complete(n)) => {
                        let info = response_head(&res, head_method);
                        Some((n, info))
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(_) => return self.opaque(data.len()),
                }
            }
        };
        match parsed {
            None if self.head.len() > MAX_HEAD_BYTES => self.opaque(data.len()),
            None => (take, Event::Need),
            Some((n, (head, next))) => {
                self.head.truncate(n);
                self.state = next;
                (n - old, Event::Head(head))
            }
        }
    }

    fn opaque(&mut self, consumed: usize) -> (usize, Event) {
        // Keep what was appended so a holding caller can still forward it.
        self.state = State::Opaque;
        (consumed, Event::Opaque)
    }

    fn feed_chunked(&mut self, data: &[u8]) -> (usize, Event) {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::ChunkData(left) => {
                    let n = ((data.len() - i) as u64).min(left);
                    i += n as usize;
                    self.state = if n == left {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left - n)
                    };
                }
                State::ChunkEnd => {
                    // The CRLF after chunk data; lenient about a bare LF.
                    if data[i] == b'\n' {
                        self.state = State::ChunkSize;
                        self.head.clear();
                    }
                    i += 1;
                }
                State::ChunkSize => {
                    let b = data[i];
                    i += 1;
                    if b == b'\n' {
                        match chunk_size(&self.head) {
                            Some(0) => {
                                self.state = State::Trailer(false);
                                self.line = 0;
                            }
                            Some(n) => self.state = State::ChunkData(n),
                            None => {
                                self.head.clear();
                                self.state = State::Opaque;
                                return (data.len(), Event::Opaque);
                            }
                        }
                        self.head.clear();
                    } else if self.head.len() >= MAX_LINE_BYTES {
                        self.head.clear();
                        self.state = State::Opaque;
                        return (data.len(), Event::Opaque);
                    } else {
                        self.head.push(b);
                    }
                }
                State::Trailer(content) => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\n' if !content => {
                            self.state = State::Head;
                            return (i, Event::End);
                        }
                        b'\n' => {
                            self.state = State::Trailer(false);
                            self.line = 0;
                        }
                        b'\r' => {}
                        _ => {
                            self.line += 1;
                            if self.line > MAX_LINE_BYTES {
                                self.state = State::Opaque;
                                return (data.len(), Event::Opaque);
                            }
                            self.state = State::Trailer(true);
                        }
                    }
                }
                _ => unreachable!("feed_chunked is called in chunked states only"),
            }
        }
        (i, Event::Need)
    }
}

/// Methods whose partial request line is waited for (RFC 9110, WebDAV, PURGE, QUERY).
const METHODS: [&[u8]; 19] = [
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"PURGE",
];

/// Whether the start of a head can still become a request line with a known method.
fn plausible_request(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(head.len());
    let rest = &head[start..];
    match rest.iter().position(|b| *b == b' ') {
        Some(end) => METHODS.contains(&&rest[..end]),
        None => METHODS.iter().any(|m| m.starts_with(rest)),
    }
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let size = text.split(';').next()?.trim();
    if size.is_empty() || size.len() > 15 {
        return None;
    }
    u64::from_str_radix(size, 16).ok()
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    header(headers, name).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// How the body is framed, from Transfer-Encoding and Content-Length (RFC 9112 section 6).
fn body_state(headers: &[httparse::Header<'_>], otherwise: State) -> State {
    let te: Vec<&str> = header(headers, "transfer-encoding").collect();
    if !te.is_empty() {
        let last = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|t| !t.is_empty());
        return match last {
            Some(t) if t.eq_ignore_ascii_case("chunked") => State::ChunkSize,
            _ => State::Opaque,
        };
    }
    let mut lengths = header(headers, "content-length")
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().parse::<u64>());
    match lengths.next() {
        None => otherwise,
        Some(Ok(n)) if lengths.all(|l| l == Ok(n)) => {
            if n == 0 {
                State::Head
            } else {
                State::Fixed(n)
            }
        }
        Some(_) => State::Opaque,
    }
}

fn request_head(req: &httparse::Request<'_, '_>) -> (Head, State) {
    let method = req.method.unwrap_or_default();
    let http10 = req.version == Some(0);
    let close = has_token(req.headers, "connection", "close")
        || (http10 && !has_token(req.headers, "connection", "keep-alive"));
    let upgrade =
        method.eq_ignore_ascii_case("CONNECT") || header(req.headers, "upgrade").next().is_some();
    let next = if upgrade {
        State::Opaque
    } else {
        body_state(req.headers, State::Head)
    };
    let head = Head {
        head_method: method.eq_ignore_ascii_case("HEAD"),
        complete: next == State::Head,
        close,
        expect_continue: has_token(req.headers, "expect", "100-continue"),
        final_response: true,
    };
    (head, next)
}

fn response_head(res: &httparse::Response<'_, '_>, head_method: bool) -> (Head, State) {
    let code = res.code.unwrap_or(0);
    let next = if code == 101 {
        State::Opaque
    } else if (100..200).contains(&code) || code == 204 || code == 304 || head_method {
        State::Head
    } else {
        body_state(res.headers, State::UntilClose)
    };
    let head = Head {
        head_method,
        complete: next == State::Head,
        close: false,
        expect_continue: false,
        final_response: !(100..200).contains(&code),
    };
    (head, next)
}

#[cfg(test)]
mod tests;
