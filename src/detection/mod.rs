//! Detection signals: how firedrill learns that the organisation noticed a fault.

pub mod api;
pub mod poll;
pub mod webhook;
