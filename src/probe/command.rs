//! Command probe: an exit code.

use std::process::Stdio;
use std::time::Duration;

use super::{Outcome, Probe};
use crate::platform::local::process;

/// Runs a command per observation in its own process group; a command still running at
/// the timeout is killed with its group.
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

impl Probe for CommandProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        let Some((program, args)) = self.argv.split_first() else {
            return Outcome::fail("empty command");
        };
        let mut cmd = process::std_command(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Outcome::fail(format!("cannot start `{program}`: {e}")),
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(s)) if s.code() == Some(self.expect) => return Outcome::pass(),
                Ok(Some(s)) => {
                    return Outcome::fail(format!("{s}, expected exit code {}", self.expect));
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(None) => {
                    let _ = process::signal_group(child.id(), libc::SIGKILL);
                    let _ = child.wait();
                    return Outcome::fail(format!(
                        "timed out after {}",
                        humantime::format_duration(timeout)
                    ));
                }
                Err(e) => return Outcome::fail(format!("wait failed: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_timeouts() {
        let t = Duration::from_secs(2);
        assert!(CommandProbe::new(vec!["true".into()], 0).observe(t).ok);
        assert!(!CommandProbe::new(vec!["false".into()], 0).observe(t).ok);
        assert!(CommandProbe::new(vec!["false".into()], 1).observe(t).ok);
        let start = std::time::Instant::now();
        let o = CommandProbe::new(vec!["sleep".into(), "5".into()], 0)
            .observe(Duration::from_millis(100));
        assert!(!o.ok && o.detail.unwrap().contains("timed out"));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(
            !CommandProbe::new(vec!["/no/such/program".into()], 0)
                .observe(t)
                .ok
        );
    }
}
