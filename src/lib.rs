//! firedrill: declarative chaos and resilience drills with measured detection and recovery.

pub mod cli;
pub mod demo;
pub mod detection;
pub mod spec;
