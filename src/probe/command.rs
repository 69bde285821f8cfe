//! Command probe: an exit code.

use std::process::Stdio;

use async_trait::async_trait;

use super::{Outcome, Probe};
use crate::platform::local::process;

/// Runs a command per observation; a command still running at the timeout is killed
/// with its process group.
#[derive(Debug)]
pub struct CommandProbe {
    argv: Vec<String>,
    expect: i32,
}

impl CommandProbe {
    /// Builds the probe for an already expanded command line.
    pub fn new(argv: Vec<String>, expect: i32) -> Self {
        Self { argv, expect }
    }
}

#[async_trait]
impl Probe for CommandProbe {
    async fn observe(&self) -> Outcome {
        let Some((program, args)) = self.argv.split_first() else {
            return Outcome::fail("empty command");
        };
        let mut cmd = process::command(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = match process::spawn(&mut cmd, "probe") {
            Ok(c) => c,
            Err(e) => return Outcome::fail(format!("cannot start `{program}`: {e}")),
        };
        let pid = child.id();
        // If the caller drops this future at the timeout, kill_on_drop reaps the leader;
        // the guard takes its process group with it.
        let _guard = GroupGuard(pid);
        let status = child.wait().await;
        match status {
            Ok(s) if s.code() == Some(self.expect) => Outcome::pass(),
            Ok(s) => Outcome::fail(format!("{s}, expected exit code {}", self.expect)),
            Err(e) => Outcome::fail(format!("wait failed: {e}")),
        }
    }
}

struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = process::signal_group(pid, libc::SIGKILL);
            process::forget(pid);
        }
    }
}
