//! `pods/exec` over a websocket with the v5 and v4 channel protocols: the request is checked
//! like the API server checks it, the command goes to the test's exec handler (by default it
//! succeeds with no output), and its output and exit status come back on channels 1, 2 and 3.

use super::Shared;
use super::store::{ApiError, str_at};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key, protocol::Role};

/// One command run in a pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Exec {
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name (the first container when the request names none).
    pub container: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// What the client sent on stdin, until it closed it.
    pub stdin: Vec<u8>,
}

/// What a command run in a pod answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecReply {
    /// Bytes on stdout.
    pub stdout: Vec<u8>,
    /// Bytes on stderr.
    pub stderr: Vec<u8>,
    /// Exit code; non-zero answers a Failure status with reason `NonZeroExitCode`.
    pub exit_code: i32,
}

impl ExecReply {
    /// Exit 0 with this on stdout.
    pub fn ok(stdout: &str) -> Self {
        Self {
            stdout: stdout.as_bytes().to_vec(),
            ..Self::default()
        }
    }

    /// Exit with this code and this on stderr.
    pub fn exit(code: i32, stderr: &str) -> Self {
        Self {
            stderr: stderr.as_bytes().to_vec(),
            exit_code: code,
            ..Self::default()
        }
    }
}

/// The test's answer to commands run in pods.
pub type ExecHandler = Arc<dyn Fn(&Exec) -> ExecReply + Send + Sync>;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

/// Checks an exec request and answers `101 Switching Protocols`; the command runs once the
/// connection is upgraded.
pub fn start(
    shared: &Arc<Shared>,
    ns: &str,
    name: &str,
    uri: &Uri,
    headers: &HeaderMap,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let flag = |k: &str| {
        pairs
            .iter()
            .any(|(key, v)| key == k && (v == "true" || v == "1"))
    };
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let wanted_container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let pod = shared
        .lock()
        .get("pods", ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(super::store::def("pods"), name))?;
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let ephemeral: Vec<String> = pod["spec"]["ephemeralContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    if let Some(c) = wanted_container.as_ref().filter(|c| ephemeral.contains(c))
        && super::ephemeral::ephemeral_state(&pod, c) != Some(true)
    {
        return Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}: it is not running"
        )));
    }
    let container = match wanted_container {
        Some(c) if containers.contains(&c) || ephemeral.contains(&c) => c,
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    if !(flag("stdin") || flag("stdout") || flag("stderr")) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if str_at(&pod, "/status/phase") != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\") in pod {name} that is not running"
        )));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok());
    let upgrading = headers
        .get(header::UPGRADE)
        .and_then(|u| u.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let (Some(key), Some(upgrade), true) = (key, upgrade, upgrading) else {
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|p| p.to_str().ok())
        .unwrap_or_default();
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    let protocol = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
        .into_iter()
        .find(|p| offered.contains(p))
        .ok_or_else(|| {
            ApiError::bad_request(
                "no supported stream protocol (v5.channel.k8s.io or v4.channel.k8s.io) offered",
            )
        })?;
    let exec = Exec {
        namespace: ns.to_string(),
        pod: name.to_string(),
        container,
        command,
        stdin: Vec::new(),
    };
    let shared = shared.clone();
    let read_stdin = flag("stdin");
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        run(shared, ws, exec, read_stdin).await;
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        derive_accept_key(key.as_bytes())
            .parse()
            .expect("a header value"),
    );
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol),
    );
    Ok(response)
}

async fn run<S>(
    shared: Arc<Shared>,
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    mut exec: Exec,
    read_stdin: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if read_stdin {
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Binary(b) if b.first() == Some(&STDIN) => {
                    exec.stdin.extend_from_slice(&b[1..])
                }
                Message::Binary(b) if b.as_ref() == [CLOSE, STDIN] => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
    }
    let (helper, handler) = {
        let mut st = shared.lock();
        st.execs.push(exec.clone());
        (
            super::ephemeral::answer(&mut st, &exec),
            st.exec_handler.clone(),
        )
    };
    shared.wake.notify_one();
    let reply = match helper {
        Some(reply) => reply,
        None => handler.map(|h| h(&exec)).unwrap_or_default(),
    };
    let frame = |channel: u8, bytes: &[u8]| {
        let mut v = Vec::with_capacity(bytes.len() + 1);
        v.push(channel);
        v.extend_from_slice(bytes);
        Message::binary(v)
    };
    let status: Value = if reply.exit_code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {:?}, exit code {}", exec.command, reply.exit_code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": reply.exit_code.to_string()}]},
        })
    };
    for (channel, bytes) in [(STDOUT, reply.stdout), (STDERR, reply.stderr)] {
        if !bytes.is_empty() && ws.send(frame(channel, &bytes)).await.is_err() {
            return;
        }
    }
    let _ = ws.send(frame(STATUS, status.to_string().as_bytes())).await;
    let _ = ws.close(None).await;
}
