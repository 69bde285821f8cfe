//! A schedule file for `firedrill serve`: drills, each an experiment or a suite run on a cron
//! pattern in a time zone (docs/serve.md).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiVersion, Metadata, Problem};

/// A schedule file: `kind: Schedule`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Schedule {
    /// Always `firedrill.dev/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Schedule`.
    pub kind: ScheduleKind,
    /// Name, description and labels of the schedule, all optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// The drills.
    pub spec: ScheduleSpec,
}

/// The kind of a schedule document.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ScheduleKind {
    /// A schedule of drills.
    Schedule,
}

/// The body of a schedule.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// The drills, each with its own cron pattern.
    pub drills: Vec<Drill>,
}

/// One drill: an experiment or a suite file run on a cron pattern.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Drill {
    /// Unique name among the drills: lower-case letters, digits and `-`.
    pub name: String,
    /// Cron pattern with five fields, or six with seconds first (`*/30 * * * * *`).
    pub cron: String,
    /// The IANA time zone the pattern is read in, such as `Europe/Paris`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// An experiment file, relative to the schedule file; exactly one of `experiment` and `suite`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// A suite file, relative to the schedule file; exactly one of `experiment` and `suite`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// What to do about scheduled times that passed while firedrill was down or the drill ran.
    #[serde(default)]
    pub missed: Missed,
    /// Whether the drill is scheduled at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// The policy for scheduled times that passed unrun.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// Record them as skipped and wait for the next scheduled time.
    #[default]
    Skip,
    /// Run once at once for all of them, then keep to the schedule.
    RunOnce,
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_true() -> bool {
    true
}

impl Drill {
    /// The experiment or suite file, resolved against the folder of the schedule file.
    pub fn file(&self, schedule_file: &Path) -> Option<PathBuf> {
        let base = schedule_file.parent().unwrap_or(Path::new(""));
        self.experiment
            .as_deref()
            .or(self.suite.as_deref())
            .map(|file| base.join(file))
    }
}

/// Why a drill's cron pattern or time zone is unusable; both are the schedule author's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron pattern does not parse; croner's message says where.
    #[error(transparent)]
    Cron(#[from] croner::errors::CronError),
    /// No IANA time zone has this name.
    #[error("unknown IANA time zone `{name}`")]
    TimeZone {
        /// The name given.
        name: String,
        /// The zone database's answer.
        #[source]
        source: jiff::Error,
    },
}

/// Parses a cron pattern: five fields, or six with seconds first.
pub fn parse_cron(pattern: &str) -> Result<croner::Cron, ScheduleError> {
    Ok(croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(pattern)?)
}

/// Looks up an IANA time zone by name.
pub fn parse_time_zone(name: &str) -> Result<jiff::tz::TimeZone, ScheduleError> {
    jiff::tz::TimeZone::get(name).map_err(|source| ScheduleError::TimeZone {
        name: name.to_owned(),
        source,
    })
}

/// Every problem of a parsed schedule, with field paths.
pub fn validate(schedule: &Schedule) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: String| {
        problems.push(Problem {
            path,
            location: None,
            message,
        });
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, drill) in schedule.spec.drills.iter().enumerate() {
        let at = format!("spec.drills[{i}]");
        if let Some(message) = super::validate::name_problem(&drill.name) {
            problem(format!("{at}.name"), message);
        } else if !seen.insert(drill.name.as_str()) {
            problem(
                format!("{at}.name"),
                format!("`{}` names another drill already", drill.name),
            );
        }
        if let Err(error) = parse_cron(&drill.cron) {
            problem(
                format!("{at}.cron"),
                format!("invalid cron pattern `{}`: {error}", drill.cron),
            );
        }
        if let Err(error) = parse_time_zone(&drill.time_zone) {
            // The zone database's own wording is left out of the validation message.
            problem(format!("{at}.timeZone"), error.to_string());
        }
        match (&drill.experiment, &drill.suite) {
            (Some(_), Some(_)) => problem(
                format!("{at}.suite"),
                "give `experiment` or `suite`, not both".to_owned(),
            ),
            (None, None) => problem(
                at.clone(),
                "an `experiment` or a `suite` file is required".to_owned(),
            ),
            (Some(file), None) | (None, Some(file)) if file.trim().is_empty() => {
                let field = if drill.experiment.is_some() {
                    "experiment"
                } else {
                    "suite"
                };
                problem(format!("{at}.{field}"), "must name a file".to_owned());
            }
            _ => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_patterns_take_five_or_six_fields() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("* * * * * *").is_ok());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("every minute").is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert!(parse_time_zone("Europe/Paris").is_ok());
        assert!(parse_time_zone("UTC").is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn errors_read_as_the_validation_messages() {
        let zone = parse_time_zone("Mars/Olympus").unwrap_err();
        assert_eq!(zone.to_string(), "unknown IANA time zone `Mars/Olympus`");
        assert!(std::error::Error::source(&zone).is_some());
        let cron = parse_cron("61 * * * *").unwrap_err();
        let croner = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse("61 * * * *")
            .unwrap_err();
        assert_eq!(cron.to_string(), croner.to_string());
    }
}
