//! Detection signals: how firedrill learns that the organisation noticed a fault.

pub mod kubernetes;
pub mod poll;
pub mod signals;
pub mod stop;
pub mod webhook;
