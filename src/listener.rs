//! The one serving loop every HTTP listener of firedrill uses, with its limits against
//! hostile clients (docs/security.md, "Listeners").
//!
//! `axum::serve` sets no header read timeout, no cap on connections and no time limit on a
//! request body: a client that sends its request head a byte at a time, declares a body it
//! never sends, or opens connections and says nothing holds them for as long as it likes.
//! [`serve`] bounds each of these, so one hostile client cannot stop the others being served.
//!
//! Its timers run on a thread of their own: `firedrill proxy` serves its admin API on a
//! runtime without tokio's timer driver (see `proxy::timer`), and a timer asked of a runtime
//! without one panics.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

/// How long a client has to send a whole request head, and how long a kept-alive
/// connection may wait silent for its next request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request may take from its head to its answer, reading its body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; one more is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 512;

/// The largest request head (request line and headers) read before a 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const _: () = assert!(MAX_HEAD_BYTES >= 8192, "hyper refuses a smaller buffer");

/// How long to wait after a failed accept (such as too many open files) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Overrides of the limits, for tests and for tuning: durations as humantime (`2s`).
const HEADER_TIMEOUT_ENV: &str = "FIREDRILL_LISTENER_HEADER_TIMEOUT";
const REQUEST_TIMEOUT_ENV: &str = "FIREDRILL_LISTENER_REQUEST_TIMEOUT";
const MAX_CONNECTIONS_ENV: &str = "FIREDRILL_LISTENER_MAX_CONNECTIONS";

/// Why a listener cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The thread that keeps the listener's time could not start.
    #[error("cannot start the listener's timer thread")]
    Timer(#[source] std::io::Error),
}

/// What one listener allows a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// The largest request body: a larger declared length gets a 413 without a byte of it
    /// read, and a chunked body fails its reader once past it.
    pub max_body_bytes: usize,
}

impl Limits {
    /// The defaults with `max_body_bytes`, then the `FIREDRILL_LISTENER_*` overrides.
    pub fn new(max_body_bytes: usize) -> Limits {
        Limits {
            header_timeout: duration_from_env(HEADER_TIMEOUT_ENV).unwrap_or(HEADER_TIMEOUT),
            request_timeout: duration_from_env(REQUEST_TIMEOUT_ENV).unwrap_or(REQUEST_TIMEOUT),
            max_connections: from_env(MAX_CONNECTIONS_ENV, |v| {
                v.parse::<usize>().ok().filter(|n| *n > 0)
            })
            .unwrap_or(MAX_CONNECTIONS),
            max_body_bytes,
        }
    }

    /// The same limits with another request timeout (unless the environment sets one).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Limits {
        if duration_from_env(REQUEST_TIMEOUT_ENV).is_none() {
            self.request_timeout = timeout;
        }
        self
    }
}

fn from_env<T>(name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    let value = std::env::var(name).ok()?;
    let parsed = parse(value.trim());
    if parsed.is_none() {
        tracing::warn!(variable = name, value = %value, "ignoring an unreadable listener limit; the default applies");
    }
    parsed
}

fn duration_from_env(name: &str) -> Option<Duration> {
    from_env(name, |v| {
        humantime::parse_duration(v).ok().filter(|d| !d.is_zero())
    })
}

/// Serves `app` on `listener` until `shutdown` completes, then lets connections finish (each
/// bounded by the limits) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ListenerError> {
    let clock = Clock::get()?;
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let stop = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // A connection reset before it was accepted concerns that client only; a
                    // full descriptor table clears as connections close.
                    tracing::debug!(error = %error, "accepting a connection failed");
                    clock.sleep_for(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream);
            continue;
        };
        let app = app.clone();
        let limits = limits.clone();
        let stop = stop.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            serve_connection(stream, app, limits, clock, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    stop.cancel();
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Over the cap: a short 503 if the socket takes it at once, then close, so the client is not
/// left waiting in the backlog behind connections that may never speak.
fn refuse(stream: TcpStream) {
    tracing::debug!("too many connections; refusing one");
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    );
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: Arc<Limits>,
    clock: Clock,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let service_limits = limits.clone();
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        handle(
            app.clone(),
            service_limits.clone(),
            service_clock.clone(),
            request,
        )
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(clock.clone())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(error = %error, "connection closed with an error");
            }
        }
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            // The limits bound what is left, but a client that reads no answer is not bounded
            // by them: it gets as long as a request may take, then the connection is dropped.
            let grace = limits.header_timeout + limits.request_timeout;
            tokio::select! {
                _ = connection => {}
                () = clock.sleep_for(grace) => {}
            }
        }
    }
}

async fn handle(
    mut app: Router,
    limits: Arc<Limits>,
    clock: Clock,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Ok(refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {} bytes",
                limits.max_body_bytes
            ),
        ));
    }
    let max = limits.max_body_bytes;
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, max)));
    tokio::select! {
        answered = app.call(request) => match answered {
            Ok(response) => Ok(response),
            Err(never) => match never {},
        },
        () = clock.sleep_for(limits.request_timeout) => Ok(refusal(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request took longer than {}",
                humantime::format_duration(limits.request_timeout)
            ),
        )),
    }
}

/// The listeners' timers, on a runtime of their own, run by one thread for the process;
/// a sleep made there can be awaited on any runtime.
#[derive(Clone, Debug)]
struct Clock(tokio::runtime::Handle);

impl Clock {
    fn get() -> Result<Clock, ListenerError> {
        static TIMER: OnceLock<Result<tokio::runtime::Handle, String>> = OnceLock::new();
        let started = TIMER.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("firedrill-listener-timer".into())
                .spawn(move || {
                    // Built on its own thread: a runtime cannot be dropped (on a failed
                    // start) inside the caller's.
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                    {
                        Ok(runtime) => {
                            if tx.send(Ok(runtime.handle().clone())).is_ok() {
                                runtime.block_on(std::future::pending::<()>());
                            }
                        }
                        Err(error) => {
                            let _ = tx.send(Err(error.to_string()));
                        }
                    }
                })
                .map_err(|error| error.to_string())?;
            // Blocks once, for the thread's start.
            rx.recv()
                .map_err(|_| "the timer thread ended before it started".to_owned())?
        });
        match started {
            Ok(handle) => Ok(Clock(handle.clone())),
            Err(message) => Err(ListenerError::Timer(std::io::Error::other(message.clone()))),
        }
    }

    fn sleep_for(&self, duration: Duration) -> ClockSleep {
        let _entered = self.0.enter();
        ClockSleep(Box::pin(tokio::time::sleep(duration)))
    }
}

/// A sleep of the [`Clock`].
struct ClockSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for ClockSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for ClockSleep {}

impl hyper::rt::Timer for Clock {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_for(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_for(deadline.saturating_duration_since(Instant::now())))
    }
}

/// An answer after which the connection closes: the rest of the request is not read. JSON in
/// the shape of the proxy API's errors (`{"error", "status"}`), which the webhook's clients
/// read too.
fn refusal(status: StatusCode, message: String) -> Response<Body> {
    let body = serde_json::json!({ "error": message, "status": status.as_u16() });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_closes_the_connection_and_says_why_in_json() {
        let response = refusal(StatusCode::PAYLOAD_TOO_LARGE, "too big".to_owned());
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[tokio::test]
    async fn a_sleep_of_the_clock_ends_on_a_runtime_without_timers() {
        let clock = Clock::get().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        // On a thread of its own: a runtime cannot be driven inside the test's.
        let slept = std::thread::spawn(move || {
            runtime.block_on(async {
                let start = Instant::now();
                clock.sleep_for(Duration::from_millis(20)).await;
                start.elapsed()
            })
        })
        .join()
        .unwrap();
        assert!(slept >= Duration::from_millis(20), "{slept:?}");
    }
}
