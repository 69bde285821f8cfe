//! Black-box runs on the local platform: real processes, signals, dependencies through the
//! embedded proxy, detection (probes, webhooks, real Prometheus and Alertmanager),
//! notifications, suites and telemetry.
//!
//! One test binary, so that the crate is linked once. Every test takes the timing lock
//! (`common::shared`, or `common::alone` when it measures time).

#[path = "../support/common.rs"]
mod common;
#[path = "../support/crash_drill.rs"]
mod crash_drill;
#[path = "../support/experiment.rs"]
mod experiment;
#[path = "../support/hostile.rs"]
mod hostile;

mod alerting;
mod crash;
mod dependency;
mod detection_and_faults;
mod effects;
mod hostile_clients;
mod notifications;
mod respond_browser;
mod response;
mod run;
mod security;
mod suite;
mod telemetry;
mod traffic;
