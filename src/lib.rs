//! firedrill: declarative chaos and resilience drills with measured detection and recovery.

pub mod cli;
pub mod demo;
pub mod detection;
pub mod engine;
pub mod error;
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
pub mod journal;
#[cfg(test)]
mod layers;
pub mod listener;
pub mod measure;
pub mod notification;
pub mod platform;
pub mod probe;
pub mod proxy;
pub mod report;
pub mod response;
pub mod result;
pub mod review;
pub mod scorecard;
pub mod serve;
pub mod spec;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod traffic;
