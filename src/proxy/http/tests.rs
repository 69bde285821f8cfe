use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::proxy::testutil::{Harness, STEP, echo_server};
use crate::proxy::toxics::{HttpError, HttpLatency};
use crate::proxy::{Stream, ToxicConfig, ToxicKind};

/// Feeds `data` in pieces of `step` bytes and collects the events with their end offsets.
fn frame(role: Role, data: &[u8], step: usize) -> Vec<(usize, Event)> {
    let mut f = Framer::new(role);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let end = (pos + step).min(data.len());
        let mut piece = &data[pos..end];
        while !piece.is_empty() {
            let (used, ev) = f.feed(piece, false);
            pos += used;
            piece = &piece[used..];
            if matches!(ev, Event::Head(_)) {
                f.take_head();
            }
            if ev != Event::Need {
                out.push((pos, ev));
            }
        }
    }
    out
}

fn ends(events: &[(usize, Event)]) -> Vec<usize> {
    events
        .iter()
        .filter(|(_, e)| matches!(e, Event::End | Event::Head(Head { complete: true, .. })))
        .map(|(p, _)| *p)
        .collect()
}

#[test]
fn request_boundaries_are_found_whatever_the_split() {
    let a = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let b = b"POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    let c = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec();
    let all = [a.clone(), b.clone(), c.clone()].concat();
    let want = vec![a.len(), a.len() + b.len(), all.len()];
    for step in 1..=all.len() {
        assert_eq!(ends(&frame(Role::Request, &all, step)), want, "step {step}");
    }
}

#[test]
fn non_http_turns_framing_off() {
    let events = frame(Role::Request, b"\x00\x01binary\r\n\r\n", 64);
    assert_eq!(events[0].1, Event::Opaque);
    let events = frame(Role::Request, b"*1\r\n$4\r\nPING\r\n", 64);
    assert_eq!(events[0].1, Event::Opaque);
    // A line protocol is not waited for, even without a line end.
    let events = frame(Role::Request, b"ping", 64);
    assert_eq!(events[0].1, Event::Opaque);
    assert!(plausible_request(b"\r\nPO"));
    assert!(plausible_request(b"GET /x"));
    assert!(!plausible_request(b"GETX"));
}

#[test]
fn responses_without_bodies_end_at_the_head() {
    let mut f = Framer::new(Role::Response);
    let (_, ev) = f.feed(b"HTTP/1.1 204 No Content\r\n\r\n", false);
    assert!(matches!(
        ev,
        Event::Head(Head {
            complete: true,
            final_response: true,
            ..
        })
    ));
    f.take_head();
    let (_, ev) = f.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
    assert!(
        matches!(ev, Event::Head(Head { complete: true, .. })),
        "HEAD: no body"
    );
    f.take_head();
    let (_, ev) = f.feed(b"HTTP/1.1 100 Continue\r\n\r\n", false);
    assert!(matches!(
        ev,
        Event::Head(Head {
            final_response: false,
            ..
        })
    ));
}

#[test]
fn without_framing_the_response_side_keeps_only_injected_answers() {
    let (requests, responses) = pair();
    let (Http::Requests(req), Http::Responses(mut resp)) = (requests, responses) else {
        unreachable!("pair() gives the request side first");
    };
    let forwarded = || Control::Forwarded { head_method: false };
    req.ctl.send(forwarded());
    resp.take_in_sent();
    assert_eq!(resp.expected.len(), 1, "counted while framing is on");

    req.framing.store(false, Ordering::Relaxed);
    for _ in 0..1000 {
        req.ctl.send(forwarded());
    }
    req.ctl.send(Control::Injected {
        bytes: bytes::Bytes::from_static(b"HTTP/1.1 503 x\r\n\r\n"),
        close: false,
    });
    resp.take_in_sent();
    assert_eq!(
        resp.expected.len(),
        2,
        "the earlier count and the injected answer"
    );
    assert!(matches!(
        resp.expected.back(),
        Some(Control::Injected { .. })
    ));
}

/// An HTTP/1.1 upstream with keep-alive: answers `200` with body `METHOD PATH BODYLEN`,
/// chunked when the path is `/chunked`; counts the requests it saw.
async fn http_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_http(s, counter.clone()));
        }
    });
    (addr, seen)
}

async fn serve_http(mut s: TcpStream, seen: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        let Some((method, path, body)) = read_request(&mut s, &mut buf).await else {
            return;
        };
        seen.fetch_add(1, Ordering::SeqCst);
        let text = format!("{method} {path} {}", body.len());
        let resp = if path == "/chunked" {
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{text}\r\n0\r\n\r\n",
                text.len()
            )
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
        };
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut tmp = [0u8; 4096];
    let n = s.read(&mut tmp).await.ok()?;
    if n == 0 {
        return None;
    }
    buf.extend_from_slice(&tmp[..n]);
    Some(())
}

/// Reads one request, decoding a chunked body; independent of the proxy's framer.
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String, Vec<u8>)> {
    let (n, method, path, len, chunked) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(n) = req.parse(buf).ok()? {
            let len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap()
                })
                .unwrap_or(0);
            let chunked = req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
            break (
                n,
                req.method?.to_owned(),
                req.path?.to_owned(),
                len,
                chunked,
            );
        }
        fill(s, buf).await?;
    };
    buf.drain(..n);
    let mut body = Vec::new();
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(s, buf).await?;
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&buf[..line_end])
                    .ok()?
                    .split(';')
                    .next()?,
                16,
            )
            .ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(s, buf).await?;
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        while buf.len() < len {
            fill(s, buf).await?;
        }
        body = buf.drain(..len).collect();
    }
    Some((method, path, body))
}

/// Reads one response: status and body (chunked bodies decoded).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String) {
    tokio::time::timeout(STEP, async {
        let (n, code, len, chunked) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut res = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = res.parse(buf).unwrap() {
                let len = res
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| {
                        std::str::from_utf8(h.value)
                            .unwrap()
                            .parse::<usize>()
                            .unwrap()
                    })
                    .unwrap_or(0);
                let chunked = res
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
                break (n, res.code.unwrap(), len, chunked);
            }
            fill(s, buf).await.expect("response");
        };
        buf.drain(..n);
        if chunked {
            while !buf.windows(5).any(|w| w == b"0\r\n\r\n") {
                fill(s, buf).await.expect("chunked body");
            }
            let end = buf.windows(5).position(|w| w == b"0\r\n\r\n").unwrap() + 5;
            let raw: Vec<u8> = buf.drain(..end).collect();
            let text = String::from_utf8(raw).unwrap();
            let body = text.split("\r\n").nth(1).unwrap().to_owned();
            return (code, body);
        }
        while buf.len() < len {
            fill(s, buf).await.expect("body");
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        (code, String::from_utf8(body).unwrap())
    })
    .await
    .expect("a response in time")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

const CHUNKED_POST: &str = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";

fn http_error(p: &Harness, probability: f64) {
    p.registry
        .add_toxic(
            &p.name,
            ToxicConfig::new(
                Stream::Upstream,
                ToxicKind::HttpError(HttpError {
                    probability,
                    ..HttpError::default()
                }),
            ),
        )
        .unwrap();
}

#[tokio::test]
async fn keep_alive_and_chunked_bodies_pass_unchanged() {
    let (upstream, seen) = http_server().await;
    let h = Harness::with_upstream(upstream).await;
    http_error(&h, 0.0);
    let mut c = h.connect().await;
    let mut buf = Vec::new();
    for req in [
        get("/a"),
        CHUNKED_POST.to_owned(),
        get("/chunked"),
        get("/b"),
    ] {
        c.write(req.as_bytes()).await;
        let (code, body) = read_response(&mut c.stream, &mut buf).await;
        assert_eq!(code, 200);
        assert!(body.starts_with(req.split(' ').next().unwrap()), "{body}");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_http_toxic_added_to_a_live_keep_alive_connection_judges_its_next_request() {
    let (upstream, seen) = http_server().await;
    let h = Harness::with_upstream(upstream).await;
    let mut c = h.connect().await;
    let mut buf = Vec::new();
    // No toxic yet: the connection passes chunks straight on, framing as it goes.
    for req in [CHUNKED_POST.to_owned(), get("/a")] {
        c.write(req.as_bytes()).await;
        assert_eq!(read_response(&mut c.stream, &mut buf).await.0, 200);
    }
    http_error(&h, 1.0);
    c.write(get("/b").as_bytes()).await;
    let (code, body) = read_response(&mut c.stream, &mut buf).await;
    assert_eq!((code, body), (503, HttpError::default().body));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "the judged request never went upstream"
    );
    h.registry
        .remove_toxic(&h.name, "http_error_upstream")
        .unwrap();
    c.write(get("/c").as_bytes()).await;
    let (code, body) = read_response(&mut c.stream, &mut buf).await;
    assert_eq!((code, body.as_str()), (200, "GET /c 0"));
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_http_toxic_added_in_the_middle_of_a_body_judges_the_request_after_it() {
    // An upstream that records what reaches it and answers once a chunked body has ended.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = got.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut tmp = [0u8; 4096];
        let mut answered = false;
        while let Ok(n @ 1..) = s.read(&mut tmp).await {
            let ended = {
                let mut all = record.lock().unwrap();
                all.extend_from_slice(&tmp[..n]);
                all.ends_with(b"0\r\n\r\n")
            };
            if ended && !answered {
                answered = true;
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .unwrap();
            }
        }
    });
    let h = Harness::with_upstream(upstream).await;
    let mut c = h.connect().await;
    let (start, end) = CHUNKED_POST.split_at(CHUNKED_POST.find("6\r\n").unwrap());
    c.write(start.as_bytes()).await;
    let deadline = Instant::now() + STEP;
    while got.lock().unwrap().len() < start.len() {
        assert!(
            Instant::now() < deadline,
            "the head and first chunk reach the upstream"
        );
        tokio::task::yield_now().await;
    }
    // The toxic arrives with the request's body half passed: the rest of the body is
    // not a request, the GET after it is.
    http_error(&h, 1.0);
    c.write(format!("{end}{}", get("/b")).as_bytes()).await;
    let mut buf = Vec::new();
    let (code, body) = read_response(&mut c.stream, &mut buf).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = read_response(&mut c.stream, &mut buf).await;
    assert_eq!((code, body), (503, HttpError::default().body));
    assert_eq!(*got.lock().unwrap(), CHUNKED_POST.as_bytes());
}

#[tokio::test]
async fn probability_one_answers_every_request_without_forwarding() {
    let (upstream, seen) = http_server().await;
    let h = Harness::with_upstream(upstream).await;
    http_error(&h, 1.0);
    let mut c = h.connect().await;
    let mut buf = Vec::new();
    for req in [get("/a"), CHUNKED_POST.to_owned(), get("/b")] {
        c.write(req.as_bytes()).await;
        let (code, body) = read_response(&mut c.stream, &mut buf).await;
        assert_eq!(code, 503);
        assert_eq!(body, HttpError::default().body);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_middle_probability_fails_the_drawn_requests_and_keeps_pipelined_order() {
    let (upstream, seen) = http_server().await;
    let h = Harness::with_upstream(upstream).await;
    http_error(&h, 0.5);
    // The same toxic on the same proxy replays the same draws.
    let judge = crate::proxy::toxics::Judge::for_toxic(&h.name, "http_error_upstream");
    let fails: Vec<bool> = (0..12).map(|_| judge.fails(0.5)).collect();
    assert!(fails.contains(&true) && fails.contains(&false), "{fails:?}");
    let mut c = h.connect().await;
    let mut buf = Vec::new();
    // All at once: pipelined. The drawn ones are answered by the toxic, in order.
    let all: String = (0..12).map(|i| get(&format!("/{i}"))).collect();
    c.write(all.as_bytes()).await;
    for (i, fail) in fails.iter().enumerate() {
        let (code, body) = read_response(&mut c.stream, &mut buf).await;
        if *fail {
            assert_eq!(code, 503, "request {i}");
        } else {
            assert_eq!((code, body), (200, format!("GET /{i} 0")), "request {i}");
        }
    }
    let forwarded = fails.iter().filter(|f| !**f).count();
    assert_eq!(seen.load(Ordering::SeqCst), forwarded);
}

#[tokio::test]
async fn http_latency_delays_each_request_and_removal_releases_it() {
    let (upstream, _) = http_server().await;
    let h = Harness::with_upstream(upstream).await;
    h.add(
        "hl",
        Stream::Upstream,
        ToxicKind::HttpLatency(HttpLatency {
            latency: 100,
            jitter: 0,
            request_match: None,
        }),
    );
    let mut c = h.connect().await;
    let mut buf = Vec::new();
    for path in ["/a", "/b"] {
        let start = Instant::now();
        c.write(get(path).as_bytes()).await;
        assert_eq!(read_response(&mut c.stream, &mut buf).await.0, 200);
        assert!(start.elapsed() >= Duration::from_millis(100));
    }
    h.update_kind(
        "hl",
        ToxicKind::HttpLatency(HttpLatency {
            latency: 60_000,
            jitter: 0,
            request_match: None,
        }),
    );
    c.write(get("/c").as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.registry.remove_toxic(&h.name, "hl").unwrap();
    let (code, body) = read_response(&mut c.stream, &mut buf).await;
    assert_eq!((code, body.as_str()), (200, "GET /c 0"));
}

#[tokio::test]
async fn non_http_traffic_passes_untouched() {
    let h = Harness::with_upstream(echo_server().await).await;
    http_error(&h, 1.0);
    let mut c = h.connect().await;
    let data: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
    c.round_trip(&data).await;
    c.round_trip(b"GET / HTTP/1.1\r\n\r\n").await;
    // A short line protocol on a fresh connection is not held either.
    let mut c = h.connect().await;
    c.round_trip(b"ping").await;
}

#[tokio::test]
async fn a_partial_head_held_by_a_toxic_flows_when_it_is_removed() {
    let h = Harness::with_upstream(echo_server().await).await;
    http_error(&h, 1.0);
    let mut c = h.connect().await;
    c.write(b"GET /x HTTP/1.1\r\nHo").await;
    let mut one = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(100), c.stream.read(&mut one)).await;
    assert!(early.is_err(), "a partial head is held while judged");
    h.registry
        .remove_toxic(&h.name, "http_error_upstream")
        .unwrap();
    crate::proxy::testutil::read_exact_within(
        &mut c.stream,
        b"GET /x HTTP/1.1\r\nHo",
        Duration::from_secs(2),
    )
    .await;
}

#[tokio::test]
async fn an_answer_to_connection_close_closes_after_it() {
    let (upstream, seen) = http_server().await;
    let h = Harness::with_upstream(upstream).await;
    http_error(&h, 1.0);
    let mut c = h.connect().await;
    c.write(b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc")
        .await;
    let mut all = Vec::new();
    tokio::time::timeout(STEP, c.stream.read_to_end(&mut all))
        .await
        .expect("closed after the answer")
        .unwrap();
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(text.ends_with(&HttpError::default().body), "{text}");
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn head_responses_have_no_body_and_keep_the_count_right() {
    // An upstream that answers HEAD with a Content-Length but no body, then GET normally.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        while let Some((method, _, _)) = read_request(&mut s, &mut buf).await {
            let resp: &[u8] = if method == "HEAD" {
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
            };
            s.write_all(resp).await.unwrap();
        }
    });
    let h = Harness::with_upstream(addr).await;
    http_error(&h, 0.5);
    // The toxic's draws replay: compute which of the requests it answers itself.
    let judge = crate::proxy::toxics::Judge::for_toxic(&h.name, "http_error_upstream");
    let fails: Vec<bool> = (0..6).map(|_| judge.fails(0.5)).collect();
    let mut c = h.connect().await;
    // HEAD, then five GETs, pipelined.
    let mut requests = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    for _ in 0..5 {
        requests.extend_from_slice(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    c.write(&requests).await;
    let injected =
        String::from_utf8(HttpError::default().response("http_error_upstream", false)).unwrap();
    let want: String = fails
        .iter()
        .enumerate()
        .map(|(i, fail)| match (i, fail) {
            (_, true) => injected.clone(),
            (0, false) => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_owned(),
            (_, false) => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_owned(),
        })
        .collect();
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(STEP, c.stream.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

/// Every connection has a control link and most never use it: it must not allocate room for
/// messages before the first one.
#[test]
fn an_unused_control_link_holds_no_room_for_messages() {
    let (requests, responses) = pair();
    let (Http::Requests(req), Http::Responses(resp)) = (requests, responses) else {
        unreachable!("pair() gives the request side first");
    };
    assert_eq!(resp.ctl.0.lock().queue.capacity(), 0);
    req.ctl.send(Control::Forwarded { head_method: false });
    assert!(resp.ctl.0.lock().queue.capacity() > 0);
}

/// What the request side sent before it went away still arrives, in order; then the end.
#[test]
fn a_control_link_delivers_what_was_sent_before_the_end() {
    let (requests, responses) = pair();
    let (Http::Requests(req), Http::Responses(mut resp)) = (requests, responses) else {
        unreachable!("pair() gives the request side first");
    };
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(resp.ctl.poll_recv(&mut cx).is_pending(), "nothing sent yet");
    req.ctl.send(Control::Forwarded { head_method: true });
    req.ctl.send(Control::Forwarded { head_method: false });
    drop(req);
    for expected in [true, false] {
        match resp.ctl.poll_recv(&mut cx) {
            std::task::Poll::Ready(Some(Control::Forwarded { head_method })) => {
                assert_eq!(head_method, expected, "out of order");
            }
            _ => panic!("a message sent before the end was lost"),
        }
    }
    assert!(matches!(
        resp.ctl.poll_recv(&mut cx),
        std::task::Poll::Ready(None)
    ));
}

/// A waiting response side is woken by a message and by the end of the request side.
#[test]
fn a_control_link_wakes_its_receiver() {
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (requests, responses) = pair();
    let (Http::Requests(req), Http::Responses(mut resp)) = (requests, responses) else {
        unreachable!("pair() gives the request side first");
    };
    let count = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
    let waker = std::task::Waker::from(count.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(resp.ctl.poll_recv(&mut cx).is_pending());
    req.ctl.send(Control::Forwarded { head_method: false });
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "not woken by a message");
    assert!(resp.ctl.poll_recv(&mut cx).is_ready());
    assert!(resp.ctl.poll_recv(&mut cx).is_pending());
    drop(req);
    assert_eq!(count.0.load(Ordering::SeqCst), 2, "not woken by the end");
}
