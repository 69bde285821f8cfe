//! The OpenTelemetry instruments of a run. They record into the global meter provider,
//! which is a no-op unless OTLP metric export is on.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

/// Bucket bounds for time to detect and recover, in seconds: sub-second alert pipelines up
/// to half-hour human ones.
const RESPONSE_BOUNDS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0,
];

/// Bucket bounds for probe latency, in seconds: loopback round trips to timeouts.
const LATENCY_BOUNDS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The instruments, created once from the global meter.
#[derive(Debug)]
pub struct RunMetrics {
    time_to_detect: Histogram<f64>,
    time_to_recover: Histogram<f64>,
    probe_duration: Histogram<f64>,
    faults_injected: Counter<u64>,
    faults_reverted: Counter<u64>,
    reverts_failed: Counter<u64>,
}

/// The process's instruments. The first call must come after [`super::init`], or they
/// stay no-ops.
pub fn run_metrics() -> &'static RunMetrics {
    static METRICS: OnceLock<RunMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = opentelemetry::global::meter("firedrill");
        RunMetrics {
            time_to_detect: meter
                .f64_histogram("firedrill.time_to_detect")
                .with_unit("s")
                .with_description("Time from the first injection to the first detection signal")
                .with_boundaries(RESPONSE_BOUNDS.to_vec())
                .build(),
            time_to_recover: meter
                .f64_histogram("firedrill.time_to_recover")
                .with_unit("s")
                .with_description(
                    "Time from the first injection until the steady state holds again",
                )
                .with_boundaries(RESPONSE_BOUNDS.to_vec())
                .build(),
            probe_duration: meter
                .f64_histogram("firedrill.probe.duration")
                .with_unit("s")
                .with_description("Latency of each probe observation")
                .with_boundaries(LATENCY_BOUNDS.to_vec())
                .build(),
            faults_injected: meter
                .u64_counter("firedrill.faults.injected")
                .with_description("Faults injected")
                .build(),
            faults_reverted: meter
                .u64_counter("firedrill.faults.reverted")
                .with_description("Faults reverted")
                .build(),
            reverts_failed: meter
                .u64_counter("firedrill.reverts.failed")
                .with_description("Attempts to revert a fault that failed")
                .build(),
        }
    })
}

fn experiment(name: &str) -> KeyValue {
    KeyValue::new("experiment.name", name.to_owned())
}

impl RunMetrics {
    /// An iteration's time to detect.
    pub fn detected(&self, exp: &str, after: Duration) {
        self.time_to_detect
            .record(after.as_secs_f64(), &[experiment(exp)]);
    }

    /// An iteration's time to recover.
    pub fn recovered(&self, exp: &str, after: Duration) {
        self.time_to_recover
            .record(after.as_secs_f64(), &[experiment(exp)]);
    }

    /// One probe observation in `phase`.
    pub fn observed(
        &self,
        exp: &str,
        probe: &str,
        phase: &'static str,
        latency: Duration,
        ok: bool,
    ) {
        self.probe_duration.record(
            latency.as_secs_f64(),
            &[
                experiment(exp),
                KeyValue::new("probe.name", probe.to_owned()),
                KeyValue::new("phase", phase),
                KeyValue::new("outcome", if ok { "pass" } else { "fail" }),
            ],
        );
    }

    /// A fault injected.
    pub fn injected(&self, exp: &str, fault_type: &str) {
        self.faults_injected.add(
            1,
            &[
                experiment(exp),
                KeyValue::new("fault.type", fault_type.to_owned()),
            ],
        );
    }

    /// A revert that succeeded or failed.
    pub fn reverted(&self, exp: &str, fault_type: &str, ok: bool) {
        let attrs = [
            experiment(exp),
            KeyValue::new("fault.type", fault_type.to_owned()),
        ];
        if ok {
            self.faults_reverted.add(1, &attrs);
        } else {
            self.reverts_failed.add(1, &attrs);
        }
    }
}
