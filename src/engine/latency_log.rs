//! latency.hlog: each probe's latency per phase and iteration, as an HdrHistogram interval
//! log whose base time is the start of the run (docs/result.md).

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::measure::{LogInterval, ProbeRecorders};
use crate::spec::Phase;

/// A probe's recorders of one iteration with the start (since the run's origin) and the
/// length of each phase.
#[derive(Clone)]
pub(super) struct PhaseLog {
    pub(super) probe: String,
    pub(super) bounds: [(Duration, Duration); 3],
    pub(super) recorders: ProbeRecorders,
    pub(super) iteration: u32,
}

impl PhaseLog {
    /// One interval per phase, tagged `PROBE.PHASE.ITERATION`.
    fn intervals(&self) -> impl Iterator<Item = LogInterval<'_>> {
        Phase::ALL
            .iter()
            .zip(&self.bounds)
            .map(move |(ph, (start, length))| LogInterval {
                tag: format!("{}.{}.{}", self.probe, ph.as_str(), self.iteration),
                start: *start,
                length: *length,
                histogram: self.recorders.phase(*ph).histogram(),
            })
    }
}

/// Writes the log to `path`; whether it did. A failure is logged and the run goes on.
pub(super) fn write(path: &Path, origin: SystemTime, logs: &[PhaseLog]) -> bool {
    let intervals: Vec<LogInterval<'_>> = logs.iter().flat_map(PhaseLog::intervals).collect();
    let written = std::fs::File::create(path)
        .and_then(|mut f| crate::measure::write_interval_log(&mut f, origin, &intervals));
    match written {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot write latency.hlog; the run goes on");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(probe: &str, iteration: u32) -> PhaseLog {
        let mut recorders = ProbeRecorders::default();
        let interval = Duration::from_millis(100);
        recorders
            .phase_mut(Phase::Fault)
            .record(Duration::from_millis(3), true, interval);
        let second = Duration::from_secs(1);
        PhaseLog {
            probe: probe.to_owned(),
            bounds: [
                (Duration::ZERO, second),
                (second, second),
                (2 * second, second),
            ],
            recorders,
            iteration,
        }
    }

    #[test]
    fn every_probe_phase_and_iteration_is_one_tagged_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.hlog");
        assert!(write(
            &path,
            SystemTime::UNIX_EPOCH,
            &[log("api", 1), log("api", 2)]
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        for phase in ["baseline", "fault", "recovery"] {
            for n in [1, 2] {
                assert!(text.contains(&format!("Tag=api.{phase}.{n},")), "{text}");
            }
        }
    }

    #[test]
    fn a_folder_that_is_not_there_is_no_failure_of_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("latency.hlog");
        assert!(!write(&path, SystemTime::UNIX_EPOCH, &[log("api", 1)]));
    }
}
