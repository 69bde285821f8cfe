//! The OTLP exporters: built only when an endpoint is set, each wrapped so that a failing
//! collector is reported once and never holds up a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;

use super::TelemetryError;

/// How long one export attempt may take unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise:
/// short, so that the flush at exit fits in [`super::FLUSH_TIMEOUT`].
const EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The wire protocol of one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the default.
    HttpProtobuf,
    /// `grpc`.
    Grpc,
}

/// What the `OTEL_*` environment variables ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The protocol of traces, when traces are exported.
    pub traces: Option<Protocol>,
    /// The protocol of metrics, when metrics are exported.
    pub metrics: Option<Protocol>,
    /// The endpoint, for messages.
    pub endpoint: String,
    /// A protocol variable with a value this build cannot speak: (variable, value).
    pub unsupported: Option<(String, String)>,
}

impl OtlpSettings {
    /// Reads the process environment; None when nothing is to be exported.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`; None when nothing is to be exported.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return None;
        }
        let generic = set("OTEL_EXPORTER_OTLP_ENDPOINT");
        let mut unsupported = None;
        let mut signal = |name: &str| -> Option<Protocol> {
            let upper = name.to_ascii_uppercase();
            let endpoint = set(&format!("OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")).or(generic.clone());
            let exporter = set(&format!("OTEL_{upper}_EXPORTER"));
            if endpoint.is_none() || exporter.is_some_and(|e| e.trim() == "none") {
                return None;
            }
            let var = format!("OTEL_EXPORTER_OTLP_{upper}_PROTOCOL");
            let (var, value) = match set(&var) {
                Some(v) => (var, v),
                None => (
                    "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                    set("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|| "http/protobuf".into()),
                ),
            };
            match value.trim() {
                "http/protobuf" => Some(Protocol::HttpProtobuf),
                "grpc" => Some(Protocol::Grpc),
                _ => {
                    unsupported = Some((var, value));
                    None
                }
            }
        };
        let traces = signal("traces");
        let metrics = signal("metrics");
        if traces.is_none() && metrics.is_none() && unsupported.is_none() {
            return None;
        }
        let endpoint = generic
            .or_else(|| set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            .or_else(|| set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
            .unwrap_or_default();
        Some(Self {
            traces,
            metrics,
            endpoint,
            unsupported,
        })
    }

    fn uses_grpc(&self) -> bool {
        self.traces == Some(Protocol::Grpc) || self.metrics == Some(Protocol::Grpc)
    }
}

/// The running exporters.
pub(super) struct Otlp {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    /// Drives the gRPC exporters' connections; kept until they are shut down.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Otlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otlp")
            .field("traces", &self.tracer.is_some())
            .field("metrics", &self.meter.is_some())
            .finish()
    }
}

/// One warning for the whole process, whichever signal fails first.
#[derive(Clone, Debug)]
struct WarnOnce {
    warned: Arc<AtomicBool>,
    endpoint: Arc<str>,
}

impl WarnOnce {
    fn check(&self, result: OTelSdkResult) -> OTelSdkResult {
        if let Err(error) = &result
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                endpoint = %self.endpoint,
                %error,
                "cannot export telemetry; the run goes on and further export errors are not reported"
            );
        }
        result
    }
}

#[derive(Debug)]
struct Spans<E> {
    inner: E,
    warn: WarnOnce,
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Spans<E>
{
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        self.warn.check(self.inner.export(batch).await)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

struct Metrics<E> {
    inner: E,
    warn: WarnOnce,
}

impl<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>
    opentelemetry_sdk::metrics::exporter::PushMetricExporter for Metrics<E>
{
    async fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> OTelSdkResult {
        self.warn.check(self.inner.export(metrics).await)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// A few quick retries: a collector that restarts loses nothing, one that is gone costs
/// well under a second per batch, on the exporter's own thread.
fn retry() -> opentelemetry_otlp::RetryPolicy {
    opentelemetry_otlp::RetryPolicy::default()
        .with_max_retries(2)
        .with_initial_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_millis(400))
        .with_max_jitter(Duration::from_millis(50))
}

/// `service.name` is firedrill unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// names it; the rest of `OTEL_RESOURCE_ATTRIBUTES` comes through the SDK's detectors.
fn resource() -> opentelemetry_sdk::Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.split('=').next().map(str::trim) == Some("service.name"))
        });
    let builder = opentelemetry_sdk::Resource::builder().with_attribute(
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    );
    if named {
        builder.build()
    } else {
        builder.with_service_name("firedrill").build()
    }
}

impl Otlp {
    /// Builds the exporters the settings ask for and installs the global meter provider.
    pub(super) fn start(settings: &OtlpSettings) -> Result<Self, TelemetryError> {
        if let Some((variable, value)) = &settings.unsupported {
            return Err(TelemetryError::Protocol {
                variable: variable.clone(),
                value: value.clone(),
            });
        }
        let runtime = if settings.uses_grpc() {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("otlp-grpc")
                    .enable_all()
                    .build()
                    .map_err(TelemetryError::Runtime)?,
            )
        } else {
            None
        };
        // tonic's channel starts its worker on the runtime current when it is built.
        let entered = runtime.as_ref().map(tokio::runtime::Runtime::enter);
        let warn = WarnOnce {
            warned: Arc::new(AtomicBool::new(false)),
            endpoint: settings.endpoint.as_str().into(),
        };
        let resource = resource();
        let tracer = match settings.traces {
            None => None,
            Some(protocol) => {
                let builder = opentelemetry_otlp::SpanExporter::builder();
                let exporter = match protocol {
                    Protocol::HttpProtobuf => builder
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_timeout(EXPORT_TIMEOUT)
                        .with_retry_policy(retry())
                        .build(),
                    Protocol::Grpc => builder
                        .with_tonic()
                        .with_timeout(EXPORT_TIMEOUT)
                        .with_retry_policy(retry())
                        .build(),
                }
                .map_err(TelemetryError::Spans)?;
                Some(
                    SdkTracerProvider::builder()
                        .with_resource(resource.clone())
                        .with_batch_exporter(Spans {
                            inner: exporter,
                            warn: warn.clone(),
                        })
                        .build(),
                )
            }
        };
        let meter = match settings.metrics {
            None => None,
            Some(protocol) => {
                let builder = opentelemetry_otlp::MetricExporter::builder();
                let exporter = match protocol {
                    Protocol::HttpProtobuf => builder
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_timeout(EXPORT_TIMEOUT)
                        .with_retry_policy(retry())
                        .build(),
                    Protocol::Grpc => builder
                        .with_tonic()
                        .with_timeout(EXPORT_TIMEOUT)
                        .with_retry_policy(retry())
                        .build(),
                }
                .map_err(TelemetryError::Metrics)?;
                let provider = SdkMeterProvider::builder()
                    .with_resource(resource)
                    .with_periodic_exporter(Metrics {
                        inner: exporter,
                        warn,
                    })
                    .build();
                opentelemetry::global::set_meter_provider(provider.clone());
                Some(provider)
            }
        };
        drop(entered);
        Ok(Self {
            tracer,
            meter,
            runtime,
        })
    }

    /// The layer that turns firedrill's spans into OpenTelemetry spans, when traces are
    /// exported. Only firedrill's own spans go out (`FIREDRILL_OTEL_FILTER`, default
    /// `firedrill=info`): the exporter's HTTP and gRPC stacks trace too, and exporting
    /// their spans would feed the exporter its own work.
    pub(super) fn layer<S>(&self) -> Option<Box<dyn tracing_subscriber::Layer<S> + Send + Sync>>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        let tracer = self.tracer.as_ref()?.tracer("firedrill");
        let filter = tracing_subscriber::EnvFilter::try_from_env("FIREDRILL_OTEL_FILTER")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("firedrill=info"));
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(filter)
                .boxed(),
        )
    }

    /// Flushes and stops both exporters on a thread of their own, waiting at most
    /// `timeout`: a collector that does not answer must not hold the exit.
    pub(super) fn shutdown(self, timeout: Duration) {
        let Self {
            tracer,
            meter,
            runtime,
        } = self;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("otlp-flush".into())
            .spawn(move || {
                if let Some(t) = tracer {
                    let _ = t.shutdown_with_timeout(timeout);
                }
                if let Some(m) = meter {
                    let _ = m.shutdown_with_timeout(timeout);
                }
                let _ = done_tx.send(());
            });
        if spawned.is_ok() && done_rx.recv_timeout(timeout).is_err() {
            tracing::warn!(
                timeout = ?timeout,
                "telemetry was not flushed in time; some spans or metrics may be lost"
            );
        }
        if let Some(rt) = runtime {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Option<OtlpSettings> {
        OtlpSettings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn nothing_is_exported_unless_an_endpoint_is_set() {
        assert_eq!(settings(&[]), None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
        assert_eq!(
            settings(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ]),
            None
        );
    }

    #[test]
    fn signals_follow_their_own_endpoint_exporter_and_protocol_variables() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).unwrap();
        assert_eq!(s.traces, Some(Protocol::HttpProtobuf));
        assert_eq!(s.metrics, Some(Protocol::HttpProtobuf));
        assert_eq!(s.endpoint, "http://c:4318");

        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap();
        assert_eq!((s.traces, s.metrics), (Some(Protocol::Grpc), None));

        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])
        .unwrap();
        assert_eq!((s.traces, s.metrics), (None, Some(Protocol::Grpc)));

        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ])
        .unwrap();
        assert_eq!(
            s.unsupported,
            Some(("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/json".into()))
        );
        let err = Otlp::start(&s).unwrap_err();
        assert!(err.to_string().contains("http/json"), "{err}");
    }
}
