//! The fault-injection proxy: its admin API over raw HTTP against the real `firedrill proxy`,
//! a published Toxiproxy client, and the integrity and timing of its toxics in the library.
//!
//! One test binary, so that the crate is linked once. Every test takes the timing lock
//! (`common::shared`, or `common::alone` when it measures time).

#[path = "../support/common.rs"]
mod common;
#[path = "../support/experiment.rs"]
mod experiment;
#[path = "../support/hostile.rs"]
mod hostile;
#[path = "../support/proxy_process.rs"]
mod proxy_process;

mod admin;
mod compat;
mod hostile_clients;
mod integrity;
