//! Tracing and OpenTelemetry set-up: the log format, OTLP export of traces and metrics when
//! the standard `OTEL_*` environment variables ask for it, the W3C trace context of a run,
//! and the Prometheus registry of long-running modes (docs/observability.md).

mod export;
pub mod metrics;
pub mod prometheus;
pub mod trace;

use std::time::Duration;

use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use export::OtlpSettings;
pub use trace::{TraceContext, Traceparent};

/// How log lines are written to standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, with the span's fields (tracing-subscriber's JSON format).
    Json,
}

/// The longest the exit waits for the last spans and metrics to reach the collector.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// What must be flushed and shut down before the process exits.
#[must_use = "call shutdown before exiting, or the last spans and metrics are lost"]
#[derive(Debug, Default)]
pub struct Telemetry {
    otlp: Option<export::Otlp>,
}

impl Telemetry {
    /// Whether spans and metrics are exported.
    pub fn exporting(&self) -> bool {
        self.otlp.is_some()
    }

    /// Flushes and stops the exporters, waiting at most [`FLUSH_TIMEOUT`].
    pub fn shutdown(self) {
        if let Some(otlp) = self.otlp {
            otlp.shutdown(FLUSH_TIMEOUT);
        }
    }
}

/// Whether log lines are coloured: only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (no-color.org), so that a log redirected to a file holds
/// no escape codes.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber: log lines to standard error in `format`, filtered by
/// `RUST_LOG` (default `warn`), and the OTLP exporters when the environment asks for them.
/// An exporter that cannot be built is reported and left out; it never stops the command.
pub fn init(format: LogFormat) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour(
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
                std::env::var_os("NO_COLOR").as_deref(),
            ))
            .with_target(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let settings = OtlpSettings::from_env();
    let (otlp, problem) = match settings.as_ref().map(export::Otlp::start) {
        Some(Ok(otlp)) => (Some(otlp), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let spans = otlp.as_ref().and_then(export::Otlp::layer);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(spans)
        .try_init();
    if let Some(error) = problem {
        let error = crate::error::chain(&error);
        tracing::warn!(%error, "OpenTelemetry export is off; the run goes on");
    }
    Telemetry { otlp }
}

/// Why the OTLP exporters could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The span exporter could not be built.
    #[error("cannot build the OTLP span exporter")]
    Spans(#[source] opentelemetry_otlp::ExporterBuildError),
    /// The metric exporter could not be built.
    #[error("cannot build the OTLP metric exporter")]
    Metrics(#[source] opentelemetry_otlp::ExporterBuildError),
    /// A protocol variable names a protocol this build cannot speak.
    #[error("{variable}={value} is not supported; use http/protobuf or grpc")]
    Protocol {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
    },
    /// The runtime the gRPC exporter runs on could not be started.
    #[error("cannot start the runtime of the gRPC exporter")]
    Runtime(#[source] std::io::Error),
}

#[cfg(test)]
mod colour_tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".as_ref())));
        assert!(!colour(true, Some("1".as_ref())));
        assert!(!colour(false, None));
    }
}
