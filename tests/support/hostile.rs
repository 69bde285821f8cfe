//! Hostile clients for the listener tests, over raw sockets: a slow request head, idle
//! connections, bodies over the cap or never sent, malformed HTTP and paths out of the
//! folder. [`attack`] runs them all against one listener while a normal client is served.
//!
//! The processes under test get [`LIMITS_ENV`], so that a timeout costs a second, not five.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Short listener limits for the process under test (docs/security.md, "Listeners").
pub const LIMITS_ENV: [(&str, &str); 2] = [
    ("FIREDRILL_LISTENER_HEADER_TIMEOUT", "1s"),
    ("FIREDRILL_LISTENER_REQUEST_TIMEOUT", "2s"),
];

/// How long a hostile client may be held, at most: generous, the machine is shared. With the
/// limits of [`LIMITS_ENV`] an answer comes within about 2 s; without them, never.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// How long a normal request may take while the listener is under attack.
pub const PROMPT: Duration = Duration::from_secs(10);

/// Idle connections opened at once.
pub const IDLE_CONNECTIONS: usize = 500;

/// What a client got: the status of the first answer, if any, and whether the server
/// closed the connection.
#[derive(Debug)]
pub struct Answer {
    /// The status code of the first response line.
    pub status: Option<u16>,
    /// The server closed (or reset) the connection.
    pub closed: bool,
    /// From the last byte sent to the close, or to giving up.
    pub elapsed: Duration,
    /// Everything read.
    pub text: String,
}

impl Answer {
    /// Answered with one of `statuses`, or closed, before the deadline.
    pub fn refused(&self, statuses: &[u16]) -> bool {
        self.elapsed < DEADLINE
            && match self.status {
                Some(status) => statuses.contains(&status),
                None => self.closed,
            }
    }
}

/// The listener under attack.
pub struct Target<'a> {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A route that reads a body.
    pub post_path: &'a str,
    /// The listener's body cap (the declared length it refuses unread).
    pub body_cap: usize,
    /// Text of a file outside the folder it serves: no answer may contain it.
    pub secret: &'a str,
    /// A normal request that the listener must answer with a success meanwhile.
    pub normal: &'a (dyn Fn() -> bool + Sync),
}

/// Reads until the server closes, or `DEADLINE` passes; with `head_only`, also stops once a
/// whole response head has come (a server may answer and then wait for the rest of a body).
pub fn read_answer(stream: &mut TcpStream, head_only: bool) -> Answer {
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let closed = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => {
                bytes.extend_from_slice(&buffer[..n]);
                if head_only && bytes.windows(4).any(|w| w == b"\r\n\r\n") {
                    break false;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() >= DEADLINE {
                    break false;
                }
            }
            Err(_) => break true,
        }
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok());
    Answer {
        status,
        closed,
        elapsed: start.elapsed(),
        text,
    }
}

/// Sends `bytes` (a write the server refuses half-way is fine) and reads the answer's head.
pub fn send(addr: SocketAddr, bytes: &[u8]) -> Answer {
    exchange(addr, bytes, true)
}

fn exchange(addr: SocketAddr, bytes: &[u8], head_only: bool) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    read_answer(&mut stream, head_only)
}

/// A GET with `Connection: close`, read to the end.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        false,
    )
}

/// Slowloris: a request head one byte every 250 ms, never finished. Returns once the server
/// closes the connection, or at the deadline.
pub fn slow_headers(addr: SocketAddr) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let start = Instant::now();
    let head = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
    let mut bytes = head.into_bytes().into_iter().chain(std::iter::repeat(b'a'));
    let mut got = Vec::new();
    let mut buffer = [0_u8; 1024];
    let closed = loop {
        if start.elapsed() >= DEADLINE {
            break false;
        }
        let byte = bytes.next().unwrap_or(b'a');
        if stream.write_all(&[byte]).is_err() {
            break true;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break true,
        }
    };
    let text = String::from_utf8_lossy(&got).into_owned();
    Answer {
        status: text
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok()),
        closed,
        elapsed: start.elapsed(),
        text,
    }
}

/// Opens `n` connections that send nothing.
pub fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nonblocking(true).unwrap();
            stream
        })
        .collect()
}

/// Whether the server has closed every one of `streams` before the deadline.
pub fn all_closed(streams: &mut [TcpStream]) -> bool {
    let start = Instant::now();
    let mut open: Vec<&mut TcpStream> = streams.iter_mut().collect();
    let mut buffer = [0_u8; 1024];
    while start.elapsed() < DEADLINE {
        open.retain_mut(|s| match s.read(&mut buffer) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        });
        if open.is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A POST declaring `declared` bytes, of which 1 KiB is sent.
pub fn declared_too_large(addr: SocketAddr, path: &str, declared: usize) -> Answer {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(std::iter::repeat_n(b'x', 1024));
    send(addr, &bytes)
}

/// A POST declaring 1000 bytes that sends 10 and then waits.
pub fn content_length_lie(addr: SocketAddr, path: &str) -> Answer {
    send(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"a\": 1, "
        )
        .as_bytes(),
    )
}

/// A chunked POST that keeps sending 64 KiB chunks, up to `limit` bytes, until the server
/// stops taking them; returns the answer and how much was sent.
pub fn chunked_over(addr: SocketAddr, path: &str, limit: usize) -> (Answer, usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut sent = 0;
    if stream.write_all(head.as_bytes()).is_ok() {
        let chunk = {
            let mut c = format!("{:x}\r\n", 64 * 1024).into_bytes();
            c.extend(std::iter::repeat_n(b'x', 64 * 1024));
            c.extend_from_slice(b"\r\n");
            c
        };
        while sent < limit && stream.write_all(&chunk).is_ok() {
            sent += 64 * 1024;
        }
    }
    (read_answer(&mut stream, true), sent)
}

/// Malformed requests, by name.
pub fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let huge_header = {
        let mut b = b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: ".to_vec();
        b.extend(std::iter::repeat_n(b'a', 200 * 1024));
        b.extend_from_slice(b"\r\n\r\n");
        b
    };
    vec![
        ("garbage", (0..=255_u8).cycle().take(4096).collect()),
        (
            "invalid request line",
            b"NOT A REQUEST LINE AT ALL\r\n\r\n".to_vec(),
        ),
        ("huge header line", huge_header),
        (
            "invalid header bytes",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x00\x7f: \x01\x02\r\n\r\n".to_vec(),
        ),
        ("HTTP/0.9", b"GET /\r\n\r\n".to_vec()),
        ("unknown version", b"GET / HTTP/7.3\r\nHost: x\r\n\r\n".to_vec()),
        (
            "bad Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n".to_vec(),
        ),
        (
            "negative Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        ),
        (
            "two different Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello".to_vec(),
        ),
        (
            "Content-Length and chunked",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
        ),
    ]
}

/// Request targets that try to leave the folder served.
pub const TRAVERSALS: &[&str] = &[
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/..%5c..%5c..%5cetc%5cpasswd",
    "//etc/passwd",
    "/runs/..%2f..%2fsecret.txt",
    "/runs/1/../../secret.txt",
    "/results/../secret.txt",
    "/secret.txt",
    "/leak",
    "/results/leak",
    "/runs/leak",
    "/respond/..%2f..%2fsecret.txt",
    "/proxies/..%2f..%2fsecret.txt",
    "/%00/etc/passwd",
];

/// Every attack in turn against `target`, with the normal request answered during the slow
/// and idle ones and after each of the others. Panics naming the case that failed.
pub fn attack(target: &Target) {
    let addr = target.addr;
    assert!(
        (target.normal)(),
        "the normal request fails before any attack"
    );

    // 1 and 3: a slow head and many idle connections, with a normal client served meanwhile.
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| slow_headers(addr));
        let mut idle = idle_connections(addr, IDLE_CONNECTIONS);
        let start = Instant::now();
        let mut served = false;
        while !served && start.elapsed() < PROMPT {
            served = (target.normal)();
        }
        assert!(
            served,
            "a normal request is not served within {PROMPT:?} beside {IDLE_CONNECTIONS} idle connections and a slow head"
        );
        let slow = slow.join().unwrap();
        assert!(
            slow.closed && slow.elapsed < DEADLINE,
            "a request head sent a byte at a time is not cut off: {slow:?}"
        );
        assert!(
            all_closed(&mut idle),
            "{IDLE_CONNECTIONS} idle connections are not all closed within {DEADLINE:?}"
        );
    });

    // 2: bodies over the cap, never sent, or chunked past the cap.
    let declared = declared_too_large(addr, target.post_path, target.body_cap * 64);
    assert!(
        declared.refused(&[413]),
        "a declared body of {} bytes: {declared:?}",
        target.body_cap * 64
    );
    assert!((target.normal)(), "not serving after a declared huge body");
    let lie = content_length_lie(addr, target.post_path);
    assert!(
        lie.refused(&[400, 408, 413]),
        "a body shorter than its Content-Length: {lie:?}"
    );
    assert!((target.normal)(), "not serving after a Content-Length lie");
    let limit = target.body_cap * 2 + 1024 * 1024;
    let (chunked, sent) = chunked_over(addr, target.post_path, limit);
    assert!(
        chunked.refused(&[400, 413]),
        "a chunked body of {sent} bytes (cap {}): {chunked:?}",
        target.body_cap
    );
    assert!(
        (target.normal)(),
        "not serving after a chunked body over the cap"
    );

    // 4: malformed HTTP.
    for (name, bytes) in malformed() {
        let answer = send(addr, &bytes);
        assert!(
            answer.refused(&[400, 404, 405, 413, 431, 501, 505]),
            "{name}: {answer:?}"
        );
        assert!((target.normal)(), "not serving after {name}");
    }

    // 5: paths out of the folder.
    for path in TRAVERSALS {
        let answer = get(addr, path);
        assert!(answer.refused(&[400, 401, 404, 405]), "{path}: {answer:?}");
        assert!(
            !answer.text.contains(target.secret) && !answer.text.contains("root:"),
            "{path} served a file outside the folder: {answer:?}"
        );
    }
    assert!((target.normal)(), "not serving after the attacks");
}

/// Every file under `dir` with its bytes, sorted by path (empty when `dir` does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, bytes));
        }
    }
    found.sort();
    found
}

/// A file outside `folder` holding a marker, and a symbolic link `folder/leak` to it: what a
/// listener must never serve. Returns the marker.
pub fn plant_secret(folder: &std::path::Path) -> String {
    let marker = format!("secret-{}", fastrand::u64(..));
    let outside = folder.parent().unwrap().join("secret.txt");
    std::fs::write(&outside, &marker).unwrap();
    std::fs::create_dir_all(folder).unwrap();
    let _ = std::os::unix::fs::symlink(&outside, folder.join("leak"));
    marker
}
