//! Black-box tests of the journal's RFC 3161 time-stamps, against a real time-stamping
//! authority on loopback: `openssl ts -reply` behind a small HTTP server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::common::*;
use assert_cmd::Command;

/// What the test TSA answers.
const GRANT: u8 = 0;
/// A TimeStampResp with status rejection and the text "busy".
const REJECT: u8 = 1;
/// Bytes that are no reply at all.
const GARBAGE: u8 = 2;

const REJECTION: [u8; 15] = [
    0x30, 0x0d, 0x30, 0x0b, 0x02, 0x01, 0x02, 0x30, 0x06, 0x0c, 0x04, b'b', b'u', b's', b'y',
];

/// A time-stamping authority on 127.0.0.1: a CA, a TSA certificate it issued, and an HTTP
/// server that answers each request with `openssl ts -reply`.
struct Tsa {
    url: String,
    ca: PathBuf,
    cert: PathBuf,
    mode: Arc<AtomicU8>,
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    let output = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need the openssl command (apt-get install openssl): {e}")
        });
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Tsa {
    /// Makes the certificates and the configuration in `dir` and starts serving.
    fn start(dir: &Path) -> Self {
        let dir = dir.join("tsa");
        std::fs::create_dir(&dir).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Firedrill Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                "/CN=Firedrill Test TSA",
            ],
        );
        std::fs::write(
            dir.join("tsa.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "tsa.ext",
                "-out",
                "tsa.pem",
            ],
        );
        std::fs::write(dir.join("tsaserial"), "01\n").unwrap();
        std::fs::write(
            dir.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n\n[ tsa_config ]\ndir = {}\n\
                 serial = $dir/tsaserial\ncrypto_device = builtin\nsigner_cert = $dir/tsa.pem\n\
                 signer_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
                 digests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = yes\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                dir.display()
            ),
        )
        .unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/tsa", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(GRANT));
        let serving = mode.clone();
        let root = dir.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                answer(stream, &root, n, serving.load(Ordering::SeqCst));
            }
        });
        Self {
            url,
            ca: dir.join("ca.pem"),
            cert: dir.join("tsa.pem"),
            mode,
        }
    }

    fn answer_with(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// Reads one HTTP request and answers it as the TSA does in `mode`.
fn answer(stream: std::net::TcpStream, dir: &Path, n: usize, mode: u8) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "content-type" => value.trim().clone_into(&mut content_type),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let reply = match mode {
        GRANT if content_type == "application/timestamp-query" => {
            let query = dir.join(format!("query-{n}.tsq"));
            let reply = dir.join(format!("reply-{n}.tsr"));
            std::fs::write(&query, &body).unwrap();
            openssl(
                dir,
                &[
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-queryfile",
                    query.to_str().unwrap(),
                    "-inkey",
                    "tsa.key",
                    "-signer",
                    "tsa.pem",
                    "-out",
                    reply.to_str().unwrap(),
                ],
            );
            std::fs::read(&reply).unwrap()
        }
        REJECT => REJECTION.to_vec(),
        _ => b"<html>not a time-stamping authority</html>".to_vec(),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/timestamp-reply\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.len()
    );
    let _ = stream.write_all(&reply);
}

fn firedrill_cmd(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(firedrill())
        .args(args)
        .env_remove("FIREDRILL_SIGN_KEY")
        .env_remove("FIREDRILL_TIMESTAMP_URL")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// Runs a short drill into `dir/out` with the given extra arguments.
fn drill(dir: &Path, marker: &str, extra: &[&str]) -> (PathBuf, Output) {
    let faults = "    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 200ms}";
    let file = write_experiment(
        dir,
        "e.yaml",
        &demo_experiment(marker, 1, "20ms", faults, "  recovery: {stableFor: 100ms}"),
    );
    let out = dir.join("out");
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--plain".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend(["--out".as_ref(), out.as_os_str(), file.as_os_str()]);
    let output = firedrill_cmd(&args);
    (out, output)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_time_stamped_run_verifies_and_every_tampering_is_caught() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let tsa = Tsa::start(dir.path());
    let marker = marker("timestamp");
    let (out, run) = drill(dir.path(), &marker, &["--timestamp-url", &tsa.url]);
    // The verdict (0 passed, 1 objectives missed) is not what this test is about.
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", text(&run));
    let token = out.join("journal.tst");
    assert!(token.is_file(), "{}", text(&run));

    let verify = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["verify".as_ref(), out.as_os_str()];
        args.extend_from_slice(extra);
        firedrill_cmd(&args)
    };
    let with_cert = ["--tsa-cert".as_ref(), tsa.cert.as_os_str()];
    let r = verify(&with_cert);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(
        t.contains("time-stamped over all")
            && t.contains("by CN=Firedrill Test TSA")
            && t.contains("time-stamp token signature valid"),
        "{t}"
    );
    let r = verify(&[]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(t.contains("signature was not checked"), "{t}");

    // OpenSSL agrees, over the message docs/journal.md describes.
    let journal = out.join("journal.jsonl");
    let original = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let message = dir.path().join("message");
    std::fs::write(
        &message,
        format!(
            "firedrill-journal-v1\n{}\n{}",
            lines.len(),
            last["hash"].as_str().unwrap()
        ),
    )
    .unwrap();
    let checked = openssl(
        dir.path(),
        &[
            "ts",
            "-verify",
            "-data",
            message.to_str().unwrap(),
            "-in",
            token.to_str().unwrap(),
            "-token_in",
            "-CAfile",
            tsa.ca.to_str().unwrap(),
            "-untrusted",
            tsa.cert.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("Verification: OK"));

    // Another certificate's key did not sign the token.
    let r = verify(&["--tsa-cert".as_ref(), tsa.ca.as_os_str()]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(t.contains("TIMESTAMP SIGNATURE INVALID"), "{t}");

    // A certificate that cannot be read is bad input.
    let r = verify(&[
        "--tsa-cert".as_ref(),
        dir.path().join("none.pem").as_os_str(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
    let r = verify(&["--tsa-cert".as_ref(), message.as_os_str()]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(2), "{t}");
    assert!(t.contains("not an X.509 certificate"), "{t}");

    // A record edited and the chain after it rewritten: the chain holds, the time-stamp
    // does not.
    let mut rewritten = Vec::new();
    let mut prev = String::new();
    for (i, line) in lines.iter().enumerate() {
        let mut rec: serde_json::Value = serde_json::from_str(line).unwrap();
        if i == 1 {
            rec["data"]["forged"] = serde_json::json!(true);
        }
        if i > 0 {
            rec["prev"] = serde_json::json!(prev);
        }
        let hash = firedrill::journal::hash_of(&rec);
        rec["hash"] = serde_json::json!(hash);
        prev = hash;
        rewritten.push(rec.to_string());
    }
    std::fs::write(&journal, rewritten.join("\n") + "\n").unwrap();
    let r = verify(&with_cert);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(
        t.contains("chain intact")
            && t.contains("TIMESTAMP MISMATCH")
            && t.contains("matches no head"),
        "{t}"
    );
    std::fs::write(&journal, &original).unwrap();

    // A new seal appended without a time-stamp: both commands say so.
    let r = firedrill_cmd(&["report".as_ref(), out.as_os_str()]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(t.contains("run again with --timestamp-url"), "{t}");
    let r = verify(&with_cert);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "covers {} record(s) (time-stamped at",
            lines.len()
        )) && t.contains("appended after the time-stamp"),
        "{t}"
    );
    // Time-stamped again, it verifies again.
    let r = firedrill_cmd(&[
        "report".as_ref(),
        out.as_os_str(),
        "--timestamp-url".as_ref(),
        tsa.url.as_ref(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let r = verify(&with_cert);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(processes_with(&marker).is_empty());
}

#[test]
fn a_failing_tsa_is_named_and_the_run_keeps_its_verdict() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let tsa = Tsa::start(dir.path());

    // A URL that is not one is refused before anything runs.
    let r = firedrill_cmd(&[
        "run".as_ref(),
        "--timestamp-url".as_ref(),
        "tsa.example".as_ref(),
        "nothing.yaml".as_ref(),
    ]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(2), "{t}");
    assert!(t.contains("not an http or https URL"), "{t}");

    tsa.answer_with(REJECT);
    let marker = marker("timestamp-fail");
    let (out, run) = drill(dir.path(), &marker, &["--timestamp-url", &tsa.url]);
    let t = text(&run);
    // The run's exit status is its verdict's, whatever the TSA did.
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let verdict = if result["status"] == "passed" {
        Some(0)
    } else {
        Some(1)
    };
    assert_eq!(run.status.code(), verdict, "{t}");
    assert!(
        t.contains("cannot time-stamp the journal")
            && t.contains("refused the request: rejection (busy)"),
        "{t}"
    );
    assert!(!out.join("journal.tst").exists());
    let r = firedrill_cmd(&["verify".as_ref(), out.as_os_str()]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(t.contains("not time-stamped"), "{t}");
    // Asked to check a token there is none of.
    let r = firedrill_cmd(&[
        "verify".as_ref(),
        out.as_os_str(),
        "--tsa-cert".as_ref(),
        tsa.cert.as_os_str(),
    ]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));

    tsa.answer_with(GARBAGE);
    let r = firedrill_cmd(&[
        "report".as_ref(),
        out.as_os_str(),
        "--timestamp-url".as_ref(),
        tsa.url.as_ref(),
    ]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(t.contains("is not an RFC 3161 reply"), "{t}");

    // Nothing listens: the address of a listener that was closed.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsa", l.local_addr().unwrap())
    };
    let r = firedrill_cmd(&[
        "report".as_ref(),
        out.as_os_str(),
        "--timestamp-url".as_ref(),
        closed.as_ref(),
    ]);
    let t = text(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(
        t.contains("cannot reach the time-stamping authority"),
        "{t}"
    );
    assert!(processes_with(&marker).is_empty());
}
