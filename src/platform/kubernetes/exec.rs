//! Running a command in a container through `pods/exec`, for the faults that act inside
//! pods and for `firedrill rollback`, which stops their helpers.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::AsyncReadExt;

/// How long one exec may take, connection included.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a command's output is kept for messages.
const OUTPUT_LIMIT: u64 = 4096;
/// Why a command run through `pods/exec` did not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The API server refused or failed the exec. Only its own message is kept: kube's
    /// errors repeat their cause in it.
    #[error("{0}")]
    Api(kube::Error),
    /// No answer within [`EXEC_TIMEOUT`].
    #[error("no answer within {}s", EXEC_TIMEOUT.as_secs())]
    NoAnswer,
    /// The kill ran and failed.
    #[error(
        "{answer}{}; the image needs a shell and `kill` (distroless and scratch images have neither)",
        stderr_note(stderr)
    )]
    KillFailed {
        /// The exec status' message.
        answer: String,
        /// The start of the command's standard error, trimmed.
        stderr: String,
    },
}

/// ` (stderr: ...)`, or nothing when the command wrote no error.
fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {stderr})")
    }
}

/// What a command run through `pods/exec` answered.
pub struct ExecOutput {
    /// The final status; none when the stream ended without one.
    pub status: Option<Status>,
    /// The start of its standard output.
    pub stdout: String,
    /// The start of its standard error.
    pub stderr: String,
}

/// The exit code a failed exec's status carries.
pub fn exit_code(s: &Status) -> Option<i32> {
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse::<i32>().ok())
}

/// Runs `command` in a container through `pods/exec`, keeping the first [`OUTPUT_LIMIT`]
/// bytes of each output stream, within [`EXEC_TIMEOUT`]; the error is the API server's
/// answer or the timeout.
pub async fn exec_capture(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
) -> Result<ExecOutput, ExecError> {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    let params = AttachParams::default()
        .container(container.to_owned())
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let run = async {
        let mut process = api
            .exec(pod, command.to_vec(), &params)
            .await
            .map_err(ExecError::Api)?;
        let status = process.take_status();
        // Both streams are read at once and to their end: kube's exec buffers are small, so
        // a stream left unread stalls the other and the status behind them.
        let (stdout, stderr) =
            tokio::join!(keep_prefix(process.stdout()), keep_prefix(process.stderr()));
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        let _ = process.join().await;
        Ok::<_, ExecError>(ExecOutput {
            status,
            stdout,
            stderr,
        })
    };
    tokio::time::timeout(EXEC_TIMEOUT, run)
        .await
        .map_err(|_| ExecError::NoAnswer)?
}

/// The first [`OUTPUT_LIMIT`] bytes of a stream as text; the rest is read and dropped so
/// that the writer never blocks.
async fn keep_prefix(stream: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut kept = Vec::new();
    if let Some(mut stream) = stream {
        let _ = (&mut stream)
            .take(OUTPUT_LIMIT)
            .read_to_end(&mut kept)
            .await;
        let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    }
    String::from_utf8_lossy(&kept).into_owned()
}
