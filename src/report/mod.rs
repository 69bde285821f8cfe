//! Renderers of results: `result` is the JSON document, `summary` the terminal table,
//! `junit` the JUnit XML for CI.

pub mod format;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod result;
pub mod summary;
pub mod write;

#[cfg(test)]
pub(crate) mod testutil;
