//! The W3C trace context of a run: one trace id per run, the span that probe requests
//! belong to, and the `traceparent` header they carry.
//!
//! With OpenTelemetry export on, the trace id is the run span's, and a request's parent is
//! its probe span (exported when `FIREDRILL_OTEL_FILTER` enables debug spans) or else the
//! phase span it happened in, so the application's spans hang under the drill's. With
//! export off, the trace id is drawn at random once per run and each request gets a fresh
//! parent id: the application's traces still share the run's trace id, which result.json
//! records. The sampled flag is always set, so that an application sampling by its parent
//! keeps the drill's requests.

use std::sync::{Arc, Mutex};

use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// A W3C `traceparent` value (version 00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceparent {
    /// 16 bytes, never all zero.
    pub trace_id: [u8; 16],
    /// 8 bytes, never all zero.
    pub parent_id: [u8; 8],
    /// Whether the sampled flag is set.
    pub sampled: bool,
}

impl Traceparent {
    /// Parses a `traceparent` header value; None unless it is valid version 00.
    pub fn parse(value: &str) -> Option<Self> {
        let parts: Vec<&str> = value.trim().split('-').collect();
        let [version, trace, parent, flags] = parts.as_slice() else {
            return None;
        };
        if *version != "00" || trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
            return None;
        }
        let lower_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if ![trace, parent, flags].iter().all(|s| lower_hex(s)) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        decode_hex(trace, &mut trace_id)?;
        decode_hex(parent, &mut parent_id)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The trace id in lower-case hex, as tracing back-ends show it.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
}

impl std::fmt::Display for Traceparent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            u8::from(self.sampled)
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn decode_hex(s: &str, out: &mut [u8]) -> Option<()> {
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(())
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    loop {
        let mut out = [0u8; N];
        out.iter_mut().for_each(|b| *b = fastrand::u8(..));
        if out != [0; N] {
            return out;
        }
    }
}

/// The OpenTelemetry ids of a span, when it is exported.
fn otel_ids(span: &tracing::Span) -> Option<([u8; 16], [u8; 8])> {
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
}

/// The OpenTelemetry span id of `span` in hex, when it is exported.
pub fn span_id(span: &tracing::Span) -> Option<String> {
    otel_ids(span).map(|(_, s)| hex(&s))
}

/// The trace context of one run, shared with the probes' threads.
#[derive(Debug)]
pub struct TraceContext {
    trace_id: [u8; 16],
    /// The phase span requests belong to; `Span::none()` between iterations.
    phase: Mutex<tracing::Span>,
}

impl TraceContext {
    /// The context of a run whose span is `run`: its trace id when the span is exported,
    /// else a random one.
    pub fn for_run(run: &tracing::Span) -> Arc<Self> {
        let trace_id = otel_ids(run).map_or_else(random_nonzero, |(t, _)| t);
        Arc::new(Self {
            trace_id,
            phase: Mutex::new(tracing::Span::none()),
        })
    }

    /// A context with a random trace id and no spans, for probes outside a run.
    pub fn detached() -> Arc<Self> {
        Self::for_run(&tracing::Span::none())
    }

    /// The trace id in lower-case hex.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, tracing::Span> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests from now on belong to `phase`. The context holds the span open until the
    /// next phase or [`TraceContext::leave`].
    pub fn enter_phase(&self, phase: &tracing::Span) {
        *self.lock() = phase.clone();
    }

    /// Requests from now on belong to no phase.
    pub fn leave(&self) {
        *self.lock() = tracing::Span::none();
    }

    /// A debug-level span for one observation of `probe`, child of the current phase.
    pub fn probe_span(&self, probe: &str) -> tracing::Span {
        let phase = self.lock().clone();
        tracing::debug_span!(target: "firedrill::probe", parent: &phase, "probe", probe.name = %probe)
    }

    /// The `traceparent` of a request made now, inside the current tracing span.
    pub fn traceparent(&self) -> Traceparent {
        let parent = otel_ids(&tracing::Span::current())
            .or_else(|| otel_ids(&self.lock()))
            .filter(|(t, _)| *t == self.trace_id)
            .map_or_else(random_nonzero, |(_, s)| s);
        Traceparent {
            trace_id: self.trace_id,
            parent_id: parent,
            sampled: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_malformed_values() {
        let t = TraceContext::detached().traceparent();
        let text = t.to_string();
        assert_eq!(text.len(), 55);
        assert_eq!(Traceparent::parse(&text), Some(t));
        assert!(t.sampled);
        for bad in [
            "",
            "00-00000000000000000000000000000000-0000000000000001-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        ] {
            assert_eq!(Traceparent::parse(bad), None, "{bad}");
        }
        let known =
            Traceparent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap();
        assert_eq!(known.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert!(!known.sampled);
    }

    #[test]
    fn the_trace_id_is_stable_per_run_and_parents_differ_per_request() {
        let run = TraceContext::detached();
        let (a, b) = (run.traceparent(), run.traceparent());
        assert_eq!(a.trace_id, b.trace_id);
        assert_eq!(a.trace_id_hex(), run.trace_id());
        assert_ne!(a.parent_id, b.parent_id);
        assert_ne!(TraceContext::detached().trace_id(), run.trace_id());
    }
}
