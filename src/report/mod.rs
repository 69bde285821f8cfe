//! Renderers of results (the result itself is `crate::result`): `summary` the terminal table,
//! `junit` the JUnit XML for CI, `markdown` scorecard.md, `html` report.html (its charts'
//! geometry in `svg`, shared with the pages of `firedrill serve`; what `security` and
//! `decisions` say, shared by all three); `write` completes a
//! results folder with all of them.

pub mod board;
pub mod decisions;
pub mod findings;
pub mod format;
pub mod history;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod security;
pub mod summary;
pub mod svg;
pub mod write;

#[cfg(test)]
pub(crate) mod testutil;
