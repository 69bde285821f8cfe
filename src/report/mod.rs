//! Renderers of results. `result` is the JSON document; `summary` the terminal table.

pub mod result;
pub mod summary;
