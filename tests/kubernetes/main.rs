//! The kubernetes platform end to end: the real binary against the fake API server of
//! `tests/support/fakekube/` (docs/testing-kubernetes.md), and the fake's own tests.
//!
//! One test binary, so that the crate and the fake are compiled and linked once. Every test
//! takes the timing lock (`common::shared`, or `common::alone` when it measures time).
//! The real-cluster test is ignored: `cargo test --test kubernetes -- --ignored`.

#[path = "../support/common.rs"]
mod common;
#[path = "../support/crash_drill.rs"]
mod crash_drill;
#[path = "../support/experiment.rs"]
mod experiment;
#[path = "../support/fakekube/mod.rs"]
mod fakekube;
#[path = "../support/kuberun.rs"]
mod kuberun;

mod config;
mod crash;
mod fake;
mod network;
mod object_probe;
mod plan;
mod proxy;
mod recovery;
mod restore_record;
mod security;
mod stress;
mod workload;
