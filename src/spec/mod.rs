//! The experiment document: types, loading with source locations, and validation.

mod capability;
mod duration;
mod fault;
mod load;
mod location;
mod permission;
pub mod placeholders;
mod response;
mod schedule;
mod scorecard;
mod structure;
mod suite;
mod traffic;
mod types;
mod validate;

pub use capability::Capability;
pub use duration::{Duration, DurationError};
pub(crate) use fault::fault_kinds;
pub use fault::*;
pub use load::{Document, load_document, load_file, load_schedule, load_str};
pub use permission::{Scope, Use};
pub use response::*;
pub use schedule::{
    Drill, Missed, Schedule, ScheduleError, ScheduleKind, ScheduleSpec, parse_cron, parse_time_zone,
};
pub use scorecard::{DurationTarget, MultipleTarget, ScorecardSpec, ScorecardTargets};
pub use suite::{Suite, SuiteKind, SuiteSpec, capability_key};
pub use traffic::*;
pub use types::*;
pub use validate::{
    Checker, CidrError, STACK_ALERTMANAGER, STACK_PROMETHEUS, is_system_namespace, parse_cidr,
    validate,
};

use std::fmt;

/// A line and column in an experiment file, both starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// One thing wrong with an experiment document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Field path such as `spec.faults[2].duration`; empty for the whole document.
    pub path: String,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// What is wrong, in lower case without a final period.
    pub message: String,
}

/// Every problem found in one file.
#[derive(Clone, Debug)]
pub struct Problems {
    /// The file as the user named it.
    pub file: String,
    /// The problems, in document order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} has {} problem{}:",
            self.file,
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "  {}", self.file)?;
            if let Some(loc) = p.location {
                write!(f, ":{}:{}", loc.line, loc.column)?;
            }
            if p.path.is_empty() {
                writeln!(f, ": {}", printable(&p.message))?;
            } else {
                writeln!(f, ": {}: {}", printable(&p.path), printable(&p.message))?;
            }
        }
        Ok(())
    }
}

/// Text from the file (a key, a value) with its control characters escaped, so that an
/// escape sequence in a hostile file is shown, not sent to the terminal of whoever checks it.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// Why an experiment could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The document is malformed or invalid.
    #[error("{0}")]
    Invalid(Problems),
}

impl SpecError {
    /// Every failure to load an experiment is the user's input to fix.
    pub fn is_user_input(&self) -> bool {
        true
    }
}
