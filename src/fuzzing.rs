//! Entry points for the fuzz targets in `tests/fuzz` (docs/fuzzing.md): thin forwarders to
//! parsers that are not public. Not part of the supported API.

use crate::proxy::http::{Event, Framer, Role};

/// Frames `data` as HTTP/1.1 requests (or responses, each answering a HEAD request when
/// `head_method`), fed in pieces whose lengths cycle through `steps` (zeros are skipped),
/// the way the proxy's writers feed it. Returns each event but `Need` with the offset at
/// which it happened.
///
/// Panics when the framer stalls (consumes nothing and asks for more) or claims more bytes
/// than it was given: the proxy would spin or lose bytes.
pub fn frame(
    response: bool,
    head_method: bool,
    data: &[u8],
    steps: &[usize],
) -> Vec<(usize, String)> {
    let mut framer = Framer::new(if response {
        Role::Response
    } else {
        Role::Request
    });
    let mut events = Vec::new();
    let mut steps = steps.iter().copied().filter(|s| *s > 0).cycle();
    let mut pos = 0;
    while pos < data.len() {
        let step = steps.next().unwrap_or(data.len());
        let end = (pos + step).min(data.len());
        let mut piece = &data[pos..end];
        while !piece.is_empty() {
            let (used, event) = framer.feed(piece, head_method);
            assert!(
                used <= piece.len(),
                "the framer used {used} of {} bytes",
                piece.len()
            );
            assert!(
                used > 0 || event != Event::Need,
                "the framer asked for more without using any of {} bytes",
                piece.len()
            );
            pos += used;
            piece = &piece[used..];
            if matches!(event, Event::Head(_) | Event::Opaque) {
                framer.take_head();
            }
            if event != Event::Need {
                events.push((pos, format!("{event:?}")));
            }
            // Held head bytes are bounded: a head past the limit turns framing off.
            assert!(
                framer.head.len() <= 64 * 1024 + piece.len() + step,
                "head of {} bytes held",
                framer.head.len()
            );
        }
    }
    events
}

/// Reads an alert webhook body as the webhook does; the number of alerts, or the error as
/// the sender would see it.
pub fn webhook_payload(body: &[u8]) -> Result<usize, String> {
    crate::detection::webhook::parse(body)
        .map(|alerts| alerts.len())
        .map_err(|e| e.to_string())
}
