//! Renderers of results: `result` is the JSON document, `summary` the terminal table,
//! `junit` the JUnit XML for CI.

pub mod html;
pub mod junit;
pub mod model;
pub mod result;
pub mod summary;
