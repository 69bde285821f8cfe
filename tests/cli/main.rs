//! The commands around a run, black-box: the command line, malformed documents, the journal,
//! reports (in headless Chromium), the CI examples, the Helm chart and `firedrill serve`.
//!
//! One test binary, so that the crate is linked once. None of these tests measures time;
//! the ones that run drills take the timing lock for reading all the same (`common::shared`).

#[path = "../support/common.rs"]
mod common;
#[path = "../support/experiment.rs"]
mod experiment;
#[path = "../support/hostile.rs"]
mod hostile;

mod browser;
mod ci_examples;
mod commands;
mod helm;
mod history;
mod hostile_clients;
mod journal;
mod malformed;
mod report_html;
mod review;
mod serve;
mod timestamp;
