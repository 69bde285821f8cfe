//! Detection canaries on the local platform: requests marked as a drill sent to a workload,
//! and reads of a honeytoken file. docs/security-drills.md says what each imitates and
//! what catching it does not prove.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::kubernetes::lock;
use super::security::{CanaryOutcome, MARKER, SecurityOutcome, marker_payload};
use super::{BuildFault, Built, Fault, FaultContext, FaultError, Intent, local_platform};
use crate::platform::Platform;
use crate::platform::kubernetes::{Undo, remove_created_file, sha256_hex};
use crate::spec;

/// The request header that marks a canary request; its value is the run's marker payload.
pub const CANARY_HEADER: &str = "x-firedrill-canary";

/// How long one canary request may take, connection and answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The most one honeytoken read takes in: a honeytoken is a small file, and a path that
/// names something large must not turn a canary into a long read.
const READ_LIMIT: u64 = 64 * 1024;

/// The User-Agent of canary requests: it names firedrill and the marker, so that a request
/// log alone tells a drill from an attack.
pub fn canary_user_agent() -> String {
    format!(
        "firedrill/{} ({MARKER}; security drill)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Sends `count` requests carrying the canary header to a URL.
#[derive(Debug)]
pub struct CanaryRequestFault {
    spec: spec::CanaryRequest,
    url: String,
    payload: String,
    outcome: Mutex<Option<SecurityOutcome>>,
}

impl CanaryRequestFault {
    /// A canary request to `url` (the spec's URL with its placeholders expanded), marked
    /// with the payload of run `run_id`.
    pub fn new(spec: spec::CanaryRequest, url: String, run_id: &str) -> Self {
        Self {
            spec,
            url,
            payload: marker_payload(run_id),
            outcome: Mutex::new(None),
        }
    }

    fn method(&self) -> &str {
        self.spec.method.as_deref().unwrap_or("GET")
    }
}

#[async_trait]
impl Fault for CanaryRequestFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        Ok(Intent {
            fault: self.spec.name.clone(),
            fault_type: "canary-request".into(),
            changes: vec![format!(
                "send {} {} request(s) to {} with the header {CANARY_HEADER}: {} and the User-Agent {}",
                self.spec.count,
                self.method(),
                self.url,
                self.payload,
                canary_user_agent()
            )],
            undo: vec!["nothing to undo: the requests change nothing".into()],
            targets: vec![self.url.clone()],
            restore: Vec::new(),
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let failed = |message: String| FaultError::Canary {
            fault: self.spec.name.clone(),
            message,
        };
        let method = reqwest::Method::from_bytes(self.method().as_bytes())
            .map_err(|_| failed(format!("`{}` is not an HTTP method", self.method())))?;
        crate::tls::install_crypto_provider();
        // No redirects: a canary goes where the experiment says and nowhere else.
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(canary_user_agent())
            .build()
            .map_err(|e| failed(format!("cannot build the http client: {e}")))?;
        // Outcome line -> how many requests met it, in the order first met.
        let mut tally: Vec<(String, u32)> = Vec::new();
        let mut answered = 0;
        for _ in 0..self.spec.count {
            let sent = client
                .request(method.clone(), &self.url)
                .header(CANARY_HEADER, &self.payload)
                .send()
                .await;
            let line = match sent {
                Ok(response) => {
                    answered += 1;
                    format!("answered {}", response.status().as_u16())
                }
                Err(e) => format!("failed: {}", crate::error::chain(&e.without_url())),
            };
            match tally.iter_mut().find(|(l, _)| *l == line) {
                Some((_, n)) => *n += 1,
                None => tally.push((line, 1)),
            }
        }
        let actions: Vec<String> = tally
            .iter()
            .map(|(line, n)| {
                format!(
                    "{} {} {line} ({n} of {})",
                    self.method(),
                    self.url,
                    self.spec.count
                )
            })
            .collect();
        if answered == 0 {
            return Err(failed(format!(
                "no request reached the target, so no monitor could see it: {}",
                actions.join("; ")
            )));
        }
        *lock(&self.outcome) = Some(SecurityOutcome::Canary(CanaryOutcome {
            actions,
            markers: vec![self.payload.clone()],
        }));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        Ok(Vec::new())
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

/// Reads a honeytoken file `count` times, creating it first (mode 0600, the marker payload
/// inside) when it does not exist; only a file it created is removed on revert.
#[derive(Debug)]
pub struct CanaryFileReadFault {
    spec: spec::CanaryFileRead,
    path: PathBuf,
    content: String,
    /// Whether this fault created the file (and so must remove it).
    created: Mutex<bool>,
    outcome: Mutex<Option<SecurityOutcome>>,
}

impl CanaryFileReadFault {
    /// A honeytoken read; a relative `spec.path` is taken relative to `base` (the
    /// experiment file's folder).
    pub fn new(spec: spec::CanaryFileRead, base: &Path, run_id: &str) -> Self {
        let path = base.join(&spec.path);
        Self {
            spec,
            path,
            content: format!("{}\n", marker_payload(run_id)),
            created: Mutex::new(false),
            outcome: Mutex::new(None),
        }
    }

    /// The honeytoken file's path, resolved.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn undo(&self) -> Undo {
        Undo::RemoveFile {
            path: self.path.display().to_string(),
            sha256: sha256_hex(self.content.as_bytes()),
        }
    }
}

#[async_trait]
impl Fault for CanaryFileReadFault {
    async fn plan(&self) -> Result<Intent, FaultError> {
        let shown = self.path.display();
        let read = format!("open and read {shown} {} time(s)", self.spec.count);
        // A file that appears between now and the injection is someone else's; the
        // recorded undo removes only a file holding this run's marker, so it stays.
        let exists = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_file() => true,
            Ok(_) => {
                return Err(FaultError::Canary {
                    fault: self.spec.name.clone(),
                    message: format!("the honeytoken {shown} is {NOT_A_FILE}"),
                });
            }
            Err(_) => false,
        };
        let (changes, undo, restore) = if exists {
            (
                vec![read],
                vec![format!(
                    "nothing to undo: {shown} existed before and is left as it is"
                )],
                Vec::new(),
            )
        } else {
            (
                vec![
                    format!(
                        "create the honeytoken file {shown} (mode 0600) holding `{}`",
                        self.content.trim_end()
                    ),
                    read,
                ],
                vec![format!(
                    "remove {shown}, which firedrill created, if it still holds what firedrill wrote"
                )],
                vec![self.undo()],
            )
        };
        Ok(Intent {
            fault: self.spec.name.clone(),
            fault_type: "canary-file-read".into(),
            changes,
            undo,
            targets: vec![shown.to_string()],
            restore,
            pool: None,
            writes: Vec::new(),
        })
    }

    async fn inject(&self) -> Result<(), FaultError> {
        let path = self.path.clone();
        let content = self.content.clone();
        let count = self.spec.count;
        let done = tokio::task::spawn_blocking(move || honeytoken_reads(&path, &content, count))
            .await
            .map_err(|e| FaultError::Canary {
                fault: self.spec.name.clone(),
                message: format!("the reads did not finish: {e}"),
            })?;
        let shown = self.path.display();
        let (created, bytes) = match done {
            Ok(done) => done,
            Err((created, e)) => {
                *lock(&self.created) |= created;
                return Err(FaultError::Canary {
                    fault: self.spec.name.clone(),
                    message: format!("cannot read the honeytoken file {shown}: {e}"),
                });
            }
        };
        *lock(&self.created) |= created;
        let mut actions = Vec::new();
        let mut markers = vec![shown.to_string()];
        if created {
            actions.push(format!("created {shown} (mode 0600)"));
            markers.push(self.content.trim_end().to_owned());
        }
        actions.push(format!(
            "opened and read {shown} {count} time(s), {bytes} bytes each"
        ));
        *lock(&self.outcome) = Some(SecurityOutcome::Canary(CanaryOutcome { actions, markers }));
        Ok(())
    }

    async fn verify(&self) -> super::Effect {
        super::effect::of_security(self.security())
    }

    fn outlives_revert(&self) -> bool {
        // What was performed was performed: the outcome is read after the action.
        true
    }

    async fn revert(&self) -> Result<Vec<String>, FaultError> {
        if !*lock(&self.created) {
            return Ok(Vec::new());
        }
        let sha256 = sha256_hex(self.content.as_bytes());
        let done = remove_created_file(&self.path, &sha256).map_err(|e| FaultError::Canary {
            fault: self.spec.name.clone(),
            message: format!("cannot remove {}: {e}", self.path.display()),
        })?;
        *lock(&self.created) = false;
        Ok(vec![done])
    }

    fn affected(&self, _workload: &str) -> usize {
        0
    }

    fn security(&self) -> Option<SecurityOutcome> {
        lock(&self.outcome).clone()
    }
}

/// Why a honeytoken path that names a folder, a FIFO, a device or a symlink is refused.
const NOT_A_FILE: &str = "not a regular file: a FIFO would block the read forever and \
     a device or a symlink would read something other than a honeytoken";

/// Opens the honeytoken for one read, refusing anything but a regular file. The check
/// before opening gives the clear reason; opening without following a symlink and without
/// blocking, then checking what was opened, closes the gap where the path is swapped
/// between the check and the open.
fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let not_a_file = || std::io::Error::other(NOT_A_FILE);
    if !std::fs::symlink_metadata(path)?.is_file() {
        return Err(not_a_file());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_a_file());
    }
    Ok(file)
}

/// Creates the honeytoken when it is missing, then opens and reads it `count` times.
/// Returns whether it was created and how many bytes one read gave; on failure, whether it
/// was created (so that it is still removed) and the error.
fn honeytoken_reads(
    path: &Path,
    content: &str,
    count: u32,
) -> Result<(bool, usize), (bool, std::io::Error)> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    // create_new refuses an existing file or symlink, so nothing of someone else's is
    // overwritten or followed.
    let created = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(content.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| (true, e))?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err((false, e)),
    };
    let mut bytes = 0;
    let mut buf = Vec::new();
    for _ in 0..count {
        buf.clear();
        open_regular(path)
            .and_then(|f| f.take(READ_LIMIT).read_to_end(&mut buf))
            .map_err(|e| (created, e))?;
        bytes = buf.len();
    }
    Ok((created, bytes))
}

impl BuildFault for spec::CanaryRequest {
    fn build(&self, platform: &Platform, ctx: &FaultContext) -> Built {
        let local = local_platform(self, platform)?;
        let url = crate::spec::placeholders::expand(&self.url, local.template()).map_err(|e| {
            FaultError::Canary {
                fault: self.name.clone(),
                message: format!("url `{}`: {e}", self.url),
            }
        })?;
        Ok(Arc::new(CanaryRequestFault::new(
            self.clone(),
            url,
            &ctx.run_id,
        )))
    }
}

impl BuildFault for spec::CanaryFileRead {
    fn build(&self, platform: &Platform, ctx: &FaultContext) -> Built {
        let local = local_platform(self, platform)?;
        Ok(Arc::new(CanaryFileReadFault::new(
            self.clone(),
            local.experiment_dir(),
            &ctx.run_id,
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// Request outcomes counted by line, for tests of the tally.
    fn outcome_counts(outcome: &SecurityOutcome) -> BTreeMap<String, u32> {
        let SecurityOutcome::Canary(c) = outcome else {
            panic!("not a canary: {outcome:?}")
        };
        c.actions
            .iter()
            .map(|a| {
                let (line, n) = a.rsplit_once(" (").unwrap();
                let n: u32 = n.split_once(' ').unwrap().0.parse().unwrap();
                (line.to_owned(), n)
            })
            .collect()
    }

    /// A server on 127.0.0.1 port 0 that answers 404 to every request and keeps each
    /// request's head.
    async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            lock(&kept).push(String::from_utf8_lossy(&head).into_owned());
                            let _ = sock
                                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                                .await;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/admin/.env"), heads)
    }

    fn request_spec(count: u32, method: Option<&str>) -> spec::CanaryRequest {
        spec::CanaryRequest {
            name: "admin-probe".into(),
            url: "unused: the url is expanded by build".into(),
            method: method.map(str::to_owned),
            count,
            detected_by: Vec::new(),
            at: spec::Duration::default(),
            duration: spec::Duration::default(),
        }
    }

    #[tokio::test]
    async fn every_request_carries_the_marker_header_and_user_agent() {
        let (url, heads) = recording_server().await;
        let fault = CanaryRequestFault::new(request_spec(3, Some("POST")), url.clone(), "r-7");
        let intent = fault.plan().await.unwrap();
        assert!(
            intent.changes[0].contains("send 3 POST request(s)"),
            "{intent:?}"
        );
        assert!(
            fault.security().is_none(),
            "no outcome before the injection"
        );
        fault.inject().await.unwrap();

        let heads = lock(&heads).clone();
        assert_eq!(heads.len(), 3, "{heads:?}");
        let payload = marker_payload("r-7");
        for head in &heads {
            let lower = head.to_ascii_lowercase();
            assert!(head.starts_with("POST /admin/.env HTTP/1.1\r\n"), "{head}");
            assert!(
                lower.contains(&format!(
                    "{CANARY_HEADER}: {}",
                    payload.to_ascii_lowercase()
                )),
                "{head}"
            );
            assert!(
                lower.contains(&format!(
                    "user-agent: {}",
                    canary_user_agent().to_ascii_lowercase()
                )),
                "{head}"
            );
        }
        let outcome = fault.security().unwrap();
        assert_eq!(
            outcome_counts(&outcome),
            BTreeMap::from([(format!("POST {url} answered 404"), 3)])
        );
        let SecurityOutcome::Canary(c) = outcome else {
            unreachable!()
        };
        assert_eq!(c.markers, vec![payload]);
        assert_eq!(fault.revert().await.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_target_that_answers_nothing_fails_the_injection() {
        // A port that was free a moment ago: connections are refused.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", free.local_addr().unwrap());
        drop(free);
        let fault = CanaryRequestFault::new(request_spec(2, None), url, "r-1");
        let err = fault.inject().await.unwrap_err().to_string();
        assert!(err.contains("no request reached the target"), "{err}");
        assert!(
            err.contains("failed: ") && err.contains("(2 of 2)"),
            "{err}"
        );
        assert!(fault.security().is_none());
    }

    fn file_spec(path: &str, count: u32) -> spec::CanaryFileRead {
        spec::CanaryFileRead {
            name: "honeytoken".into(),
            path: path.into(),
            count,
            detected_by: Vec::new(),
            at: spec::Duration::default(),
            duration: spec::Duration::default(),
        }
    }

    #[tokio::test]
    async fn a_missing_honeytoken_is_created_read_and_removed_once() {
        let dir = tempfile::tempdir().unwrap();
        let fault = CanaryFileReadFault::new(file_spec("token.txt", 4), dir.path(), "r-2");
        let path = dir.path().join("token.txt");
        assert_eq!(fault.path(), path);

        let intent = fault.plan().await.unwrap();
        assert!(
            intent.changes[0].starts_with("create the honeytoken file"),
            "{intent:?}"
        );
        assert_eq!(intent.restore.len(), 1, "the journal can undo it");
        assert!(!path.exists(), "plan changes nothing");

        fault.inject().await.unwrap();
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content.trim_end(), marker_payload("r-2"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let SecurityOutcome::Canary(c) = fault.security().unwrap() else {
            unreachable!()
        };
        assert!(c.actions[0].starts_with("created "), "{c:?}");
        assert!(
            c.actions[1].contains(&format!("4 time(s), {} bytes each", content.len())),
            "{c:?}"
        );
        assert!(c.markers.contains(&marker_payload("r-2")), "{c:?}");

        let done = fault.revert().await.unwrap();
        assert_eq!(done, vec![format!("removed {}", path.display())]);
        assert!(!path.exists());
        assert!(
            fault.revert().await.unwrap().is_empty(),
            "a second revert does nothing"
        );
    }

    #[tokio::test]
    async fn an_existing_honeytoken_is_read_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws-credentials");
        std::fs::write(&path, "the organisation's own honeytoken\n").unwrap();
        let fault = CanaryFileReadFault::new(
            file_spec(path.to_str().unwrap(), 1),
            Path::new("/elsewhere"),
            "r-3",
        );
        assert_eq!(fault.path(), path, "an absolute path is taken as it is");
        let intent = fault.plan().await.unwrap();
        assert!(intent.restore.is_empty(), "{intent:?}");
        assert!(intent.undo[0].starts_with("nothing to undo"), "{intent:?}");
        fault.inject().await.unwrap();
        let SecurityOutcome::Canary(c) = fault.security().unwrap() else {
            unreachable!()
        };
        assert_eq!(c.actions.len(), 1, "nothing created: {c:?}");
        assert!(fault.revert().await.unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "the organisation's own honeytoken\n"
        );
    }

    #[tokio::test]
    async fn a_honeytoken_in_a_missing_folder_fails_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let fault = CanaryFileReadFault::new(file_spec("no/such/token", 1), dir.path(), "r");
        let err = fault.inject().await.unwrap_err().to_string();
        assert!(err.contains("no/such/token"), "{err}");
        assert!(fault.revert().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_fifo_as_honeytoken_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let fault = CanaryFileReadFault::new(file_spec("pipe", 3), dir.path(), "r");
        let err = fault.plan().await.unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("not a regular file"), "{err}");
        // The injection refuses it too, should the FIFO appear after the plan.
        let err = tokio::time::timeout(Duration::from_secs(10), fault.inject())
            .await
            .expect("the injection returns instead of blocking on the FIFO")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("not a regular file"), "{err}");
        assert!(fault.revert().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_large_honeytoken_is_read_only_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; READ_LIMIT as usize * 2]).unwrap();
        let fault = CanaryFileReadFault::new(file_spec("big", 2), dir.path(), "r");
        fault.inject().await.unwrap();
        let SecurityOutcome::Canary(c) = fault.security().unwrap() else {
            unreachable!()
        };
        assert!(
            c.actions[0].ends_with(&format!("2 time(s), {READ_LIMIT} bytes each")),
            "{c:?}"
        );
    }

    #[test]
    fn only_a_file_with_the_written_content_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "ours").unwrap();
        let sha = sha256_hex(b"ours");
        std::fs::write(&path, "replaced by someone").unwrap();
        let kept = remove_created_file(&path, &sha).unwrap();
        assert!(kept.contains("left in place"), "{kept}");
        assert!(path.exists());
        std::fs::write(&path, "ours").unwrap();
        assert_eq!(
            remove_created_file(&path, &sha).unwrap(),
            format!("removed {}", path.display())
        );
        assert!(!path.exists());
        assert!(
            remove_created_file(&path, &sha)
                .unwrap()
                .contains("already gone")
        );
    }
}
