//! The alert webhook's body (Alertmanager v4 JSON): any bytes get alerts or an error for
//! the sender, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = firedrill::fuzzing::webhook_payload(body);
});
