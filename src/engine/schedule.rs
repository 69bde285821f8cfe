//! The fault phase's timetable: every injection and revert at its offset from the start of
//! the phase.

use std::time::Duration;

use tokio::time::Instant;

/// One step: inject or revert the fault at `fault` (its index in the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Step {
    pub(super) at: Duration,
    pub(super) fault: usize,
    pub(super) inject: bool,
}

/// The steps still to take, in order.
pub(super) struct Schedule {
    start: Instant,
    steps: std::iter::Peekable<std::vec::IntoIter<Step>>,
}

impl Schedule {
    /// The timetable of faults given as `(at, duration)`, in the spec's order, for a phase
    /// that starts at `start`. Injections come before reverts at the same offset, then the
    /// spec's order.
    pub(super) fn new(
        faults: impl IntoIterator<Item = (Duration, Duration)>,
        start: Instant,
    ) -> Self {
        let mut steps: Vec<Step> = faults
            .into_iter()
            .enumerate()
            .flat_map(|(fault, (at, duration))| {
                [
                    Step {
                        at,
                        fault,
                        inject: true,
                    },
                    Step {
                        at: at + duration,
                        fault,
                        inject: false,
                    },
                ]
            })
            .collect();
        steps.sort_by_key(|s| (s.at, !s.inject, s.fault));
        Self {
            start,
            steps: steps.into_iter().peekable(),
        }
    }

    /// When the next step is due, if one is left.
    pub(super) fn next_at(&mut self) -> Option<Instant> {
        self.steps.peek().map(|s| self.start + s.at)
    }

    /// Takes the next step.
    pub(super) fn take(&mut self) -> Option<Step> {
        self.steps.next()
    }

    /// Whether every step has been taken.
    pub(super) fn is_done(&mut self) -> bool {
        self.steps.peek().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn all(mut schedule: Schedule) -> Vec<(u64, usize, bool)> {
        std::iter::from_fn(|| schedule.take())
            .map(|s| (s.at.as_secs(), s.fault, s.inject))
            .collect()
    }

    #[test]
    fn injections_come_before_reverts_at_the_same_offset_then_the_spec_order() {
        let schedule = Schedule::new(
            [(secs(0), secs(5)), (secs(5), secs(5)), (secs(0), secs(5))],
            Instant::now(),
        );
        assert_eq!(
            all(schedule),
            [
                (0, 0, true),
                (0, 2, true),
                (5, 1, true),
                (5, 0, false),
                (5, 2, false),
                (10, 1, false),
            ]
        );
    }

    #[test]
    fn steps_fall_due_from_the_start_of_the_phase() {
        let start = Instant::now();
        let mut schedule = Schedule::new([(secs(2), secs(3))], start);
        assert!(!schedule.is_done());
        assert_eq!(schedule.next_at(), Some(start + secs(2)));
        schedule.take();
        assert_eq!(schedule.next_at(), Some(start + secs(5)));
        schedule.take();
        assert!(schedule.is_done());
        assert_eq!(schedule.next_at(), None);
    }

    #[test]
    fn a_run_without_faults_has_nothing_to_do() {
        let mut schedule = Schedule::new([], Instant::now());
        assert!(schedule.is_done());
    }
}
