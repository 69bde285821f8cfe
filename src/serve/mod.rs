//! `firedrill serve`: drills on cron schedules, their history in SQLite, and a read-only web
//! interface and JSON API over that history (docs/serve.md).
//!
//! `store` keeps the history, `scheduler` decides when drills run, `drill` runs them with the
//! engine, `trend` summarises the history, `pages` and `http` show it.

pub mod drill;
pub mod http;
pub mod pages;
pub mod recover;
pub mod scheduler;
pub mod store;
pub mod trend;
