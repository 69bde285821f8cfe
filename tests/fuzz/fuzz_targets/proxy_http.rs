//! The proxy's HTTP/1.1 framing: requests or responses, pipelined, fed whole and in pieces.
//! Framing must never stall, never claim bytes it was not given, and find the same message
//! boundaries however the bytes are split; it may only give up (pass bytes through) sooner.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The events before framing gives up.
fn before_opaque(events: &[(usize, String)]) -> &[(usize, String)] {
    let n = events
        .iter()
        .position(|(_, e)| e == "Opaque")
        .unwrap_or(events.len());
    &events[..n]
}

fuzz_target!(|input: &[u8]| {
    // First byte: role and HEAD; next four: the piece lengths; the rest is the stream.
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    if rest.len() < 4 {
        return;
    }
    let (steps, data) = rest.split_at(4);
    let response = flags & 1 == 1;
    let head_method = flags & 2 == 2;
    let steps: Vec<usize> = steps.iter().map(|s| usize::from(*s)).collect();
    let whole = firedrill::fuzzing::frame(response, head_method, data, &[data.len().max(1)]);
    let pieces = firedrill::fuzzing::frame(response, head_method, data, &steps);
    let (a, b) = (before_opaque(&whole), before_opaque(&pieces));
    let common = a.len().min(b.len());
    assert_eq!(
        a[..common],
        b[..common],
        "the same stream framed whole and in pieces of {steps:?} disagrees"
    );
    // Neither may go on finding messages after the other stopped without giving up.
    if a.len() != b.len() {
        let (longer_ends_opaque, shorter_ends_opaque) = if a.len() > b.len() {
            (whole.len() > a.len(), pieces.len() > b.len())
        } else {
            (pieces.len() > b.len(), whole.len() > a.len())
        };
        let _ = longer_ends_opaque;
        assert!(
            shorter_ends_opaque,
            "framed whole: {whole:?}; in pieces of {steps:?}: {pieces:?}"
        );
    }
});
