//! OpenTelemetry export, traceparent and firedrill's own metrics, through the real binary:
//! an OTLP receiver in the test (HTTP/protobuf with axum, gRPC with tonic) decodes what
//! arrives; a header-recording server stands for the application under test.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use crate::experiment::{DEMO_API_PROBE, Experiment};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    metrics_service_server::{MetricsService, MetricsServiceServer},
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// What the receiver decoded.
#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
}

type Shared = Arc<Mutex<Received>>;

/// An OTLP receiver on 127.0.0.1:0, served by a runtime of its own.
struct Receiver {
    addr: SocketAddr,
    data: Shared,
    _runtime: tokio::runtime::Runtime,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn http_receiver() -> Receiver {
    use axum::extract::State;
    use axum::routing::post;
    async fn traces(State(d): State<Shared>, body: axum::body::Bytes) -> Vec<u8> {
        let req = ExportTraceServiceRequest::decode(body).expect("a valid trace export");
        d.lock().unwrap().traces.push(req);
        ExportTraceServiceResponse::default().encode_to_vec()
    }
    async fn metrics(State(d): State<Shared>, body: axum::body::Bytes) -> Vec<u8> {
        let req = ExportMetricsServiceRequest::decode(body).expect("a valid metrics export");
        d.lock().unwrap().metrics.push(req);
        ExportMetricsServiceResponse::default().encode_to_vec()
    }
    let rt = runtime();
    let data = Shared::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .with_state(data.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    Receiver {
        addr,
        data,
        _runtime: rt,
    }
}

struct Grpc(Shared);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().traces.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn grpc_receiver() -> Receiver {
    let rt = runtime();
    let data = Shared::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Grpc(data.clone())))
        .add_service(MetricsServiceServer::new(Grpc(data.clone())))
        .serve_with_incoming(incoming);
    rt.spawn(server);
    Receiver {
        addr,
        data,
        _runtime: rt,
    }
}

/// An application that answers 200 to everything and keeps each request's `traceparent`.
fn recording_app() -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut traceparent = None;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("traceparent")
                {
                    traceparent = Some(v.trim().to_owned());
                }
                line.clear();
            }
            keep.lock().unwrap().push(traceparent);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, seen)
}

/// A demo drill of `iterations`, pausing the workload briefly so that the monitor detects
/// it, with a second probe to `app`.
fn experiment(marker: &str, app: SocketAddr, iterations: u32) -> String {
    Experiment::demo(marker, 1)
        .probes(&[
            &format!("{{name: app, type: http, url: \"http://{app}/\", timeout: 500ms}}"),
            DEMO_API_PROBE,
        ])
        .faults("    - {name: freeze, type: process-pause, select: {mode: all, workload: web}, duration: 300ms}")
        .detection("    timeout: 5s\n    signals: [{name: monitor, type: probe-fails, probe: api, consecutive: 1}]")
        .recovery("{stableFor: 200ms, timeout: 10s}")
        .extra(&format!("  iterations: {iterations}"))
        .yaml()
}

/// Runs the drill with `env` and returns (exit code, stderr, result.json).
fn drill(
    test: &str,
    app: SocketAddr,
    iterations: u32,
    args: &[&str],
    env: &[(&str, String)],
) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker(test);
    let file = write_experiment(dir.path(), "e.yaml", &experiment(&marker, app, iterations));
    let out = dir.path().join("out");
    let mut cmd = Command::new(firedrill());
    cmd.args(args)
        .args(["run", "--plain", "--out"])
        .arg(&out)
        .arg(&file)
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = assert_cmd::Command::from_std(cmd)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(processes_with(&marker).is_empty(), "processes left behind");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, result(&out))
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn attr_str(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spans(r: &Received) -> Vec<Span> {
    r.traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| ss.spans.clone())
        .collect()
}

/// Histogram data point counts and counter sums by metric name, over every export (the
/// exporter's temporality is cumulative: the last export holds the totals).
fn metric_totals(r: &Received) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for req in &r.metrics {
        for m in req
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
        {
            let value = match &m.data {
                Some(metric::Data::Histogram(h)) => h.data_points.iter().map(|p| p.count).sum(),
                Some(metric::Data::Sum(s)) => s
                    .data_points
                    .iter()
                    .map(|p| match p.value {
                        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i as u64,
                        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d)) => d as u64,
                        None => 0,
                    })
                    .sum(),
                _ => 0,
            };
            totals.insert(m.name.clone(), value);
        }
    }
    totals
}

#[test]
fn spans_metrics_and_traceparent_reach_an_otlp_http_receiver() {
    let _guard = shared();
    let receiver = http_receiver();
    let (app, seen) = recording_app();
    let (code, stderr, result) = drill(
        "otlp-http",
        app,
        2,
        &[],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", receiver.addr),
            ),
            ("OTEL_SERVICE_NAME", "drill-under-test".into()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=ci".into(),
            ),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("cannot export"), "{stderr}");
    let run_id = result["runId"].as_str().unwrap();
    let trace_id = result["traceId"].as_str().expect("traceId in result.json");
    assert_eq!(trace_id.len(), 32);

    // The process flushes before it exits: everything is here now.
    let data = receiver.data.lock().unwrap();
    let resource = &data.traces[0].resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(
        attr_str(resource, "service.name").as_deref(),
        Some("drill-under-test")
    );
    assert_eq!(
        attr_str(resource, "deployment.environment").as_deref(),
        Some("ci")
    );

    let spans = spans(&data);
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let by_id: BTreeMap<Vec<u8>, &Span> = spans.iter().map(|s| (s.span_id.clone(), s)).collect();
    let parent = |s: &Span| by_id.get(&s.parent_span_id).copied();
    for s in &spans {
        assert_eq!(
            hex(&s.trace_id),
            trace_id,
            "span {} in another trace",
            s.name
        );
        assert_eq!(
            attr_str(&s.attributes, "experiment.name").as_deref(),
            Some("test"),
            "{}",
            s.name
        );
        assert_eq!(
            attr_str(&s.attributes, "run.id").as_deref(),
            Some(run_id),
            "{}",
            s.name
        );
    }
    let run = named("run");
    assert_eq!(run.len(), 1);
    assert!(run[0].parent_span_id.is_empty());
    assert_eq!(
        attr_str(&run[0].attributes, "status").as_deref(),
        Some("passed")
    );

    let iterations = named("iteration");
    assert_eq!(iterations.len(), 2);
    for (i, it) in iterations.iter().enumerate() {
        assert_eq!(parent(it).map(|p| p.name.as_str()), Some("run"));
        let n = attr_str(&it.attributes, "iteration").unwrap();
        let index: usize = n.parse().unwrap();
        assert_eq!(
            result["iterations"][index - 1]["spanId"].as_str(),
            Some(hex(&it.span_id).as_str()),
            "iteration {i}"
        );
    }
    let phases = named("phase");
    let phase_names: BTreeSet<String> = phases
        .iter()
        .map(|p| attr_str(&p.attributes, "phase").unwrap())
        .collect();
    for p in ["baseline", "fault", "recovery"] {
        assert!(phase_names.contains(p), "no {p} phase: {phase_names:?}");
    }
    for p in &phases {
        assert_eq!(parent(p).map(|s| s.name.as_str()), Some("iteration"));
    }
    let faults = named("fault");
    assert_eq!(faults.len(), 2);
    for f in &faults {
        assert_eq!(
            attr_str(&f.attributes, "fault.type").as_deref(),
            Some("process-pause")
        );
        assert_eq!(
            attr_str(&f.attributes, "fault.name").as_deref(),
            Some("freeze")
        );
        let p = parent(f).expect("a fault span has a parent");
        assert_eq!(attr_str(&p.attributes, "phase").as_deref(), Some("fault"));
    }
    let reverts = named("revert");
    assert!(reverts.len() >= 2, "{} reverts", reverts.len());
    for r in &reverts {
        assert_eq!(
            attr_str(&r.attributes, "fault.type").as_deref(),
            Some("process-pause")
        );
    }

    let totals = metric_totals(&data);
    assert_eq!(
        totals.get("firedrill.time_to_detect"),
        Some(&2),
        "{totals:?}"
    );
    assert_eq!(
        totals.get("firedrill.time_to_recover"),
        Some(&2),
        "{totals:?}"
    );
    assert_eq!(
        totals.get("firedrill.faults.injected"),
        Some(&2),
        "{totals:?}"
    );
    assert!(
        totals.get("firedrill.faults.reverted") >= Some(&2),
        "{totals:?}"
    );
    assert!(
        totals.get("firedrill.probe.duration") > Some(&10),
        "{totals:?}"
    );
    assert!(
        !totals.contains_key("firedrill.reverts.failed") || totals["firedrill.reverts.failed"] == 0
    );

    // Every request of the app probe carried the run's trace; those made inside a phase
    // name that phase's span as their parent.
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "{} requests", seen.len());
    let phase_ids: BTreeSet<String> = phases.iter().map(|p| hex(&p.span_id)).collect();
    let mut in_phase = 0;
    for tp in seen.iter() {
        let tp = tp
            .as_deref()
            .expect("every probe request carries traceparent");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], trace_id, "{tp}");
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01");
        in_phase += usize::from(phase_ids.contains(parts[2]));
    }
    assert!(
        in_phase * 2 > seen.len(),
        "{in_phase} of {} in a phase",
        seen.len()
    );
}

#[test]
fn spans_and_metrics_reach_an_otlp_grpc_receiver() {
    let _guard = shared();
    let receiver = grpc_receiver();
    let (app, _) = recording_app();
    let (code, stderr, result) = drill(
        "otlp-grpc",
        app,
        1,
        &[],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", receiver.addr),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let data = receiver.data.lock().unwrap();
    let spans = spans(&data);
    let resource = &data.traces[0].resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(
        attr_str(resource, "service.name").as_deref(),
        Some("firedrill")
    );
    for name in ["run", "iteration", "phase", "fault", "revert"] {
        assert!(spans.iter().any(|s| s.name == name), "no {name} span");
    }
    assert!(
        spans
            .iter()
            .all(|s| hex(&s.trace_id) == result["traceId"].as_str().unwrap())
    );
    let totals = metric_totals(&data);
    assert_eq!(
        totals.get("firedrill.time_to_detect"),
        Some(&1),
        "{totals:?}"
    );
}

#[test]
fn an_unreachable_collector_warns_once_in_json_and_the_run_passes() {
    let _guard = shared();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (app, seen) = recording_app();
    let (code, stderr, result) = drill(
        "otlp-down",
        app,
        1,
        &["--log-format", "json"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{closed}")),
            // Export during the run too, not only at exit.
            ("OTEL_BSP_SCHEDULE_DELAY", "50".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100".into()),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(result["status"], "passed");
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let warnings: Vec<_> = logs
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot export telemetry"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(
        warnings[0]["fields"]["endpoint"],
        format!("http://{closed}")
    );
    // The human progress lines are still there, unchanged.
    assert!(stderr.contains("iteration 1/1: baseline"), "{stderr}");
    // With export off the trace id is still the run's, on every request.
    let trace_id = result["traceId"].as_str().unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|t| t.as_deref().is_some_and(|t| t.contains(trace_id)))
    );
}

#[test]
fn without_otel_variables_nothing_is_exported_and_requests_still_carry_the_run_s_trace() {
    let _guard = shared();
    let (app, seen) = recording_app();
    let (code, stderr, result) = drill("otlp-off", app, 1, &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("export"), "{stderr}");
    assert!(result["iterations"][0]["spanId"].is_null());
    let trace_id = result["traceId"].as_str().unwrap();
    let seen = seen.lock().unwrap();
    let parents: BTreeSet<&str> = seen
        .iter()
        .map(|t| {
            let t = t.as_deref().unwrap();
            assert_eq!(&t[3..35], trace_id, "{t}");
            &t[36..52]
        })
        .collect();
    assert_eq!(parents.len(), seen.len(), "a fresh parent id per request");
}

/// `GET path` on `addr`; returns the status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    (status, body.to_owned())
}

/// Parses a Prometheus text exposition strictly enough to catch format mistakes: every
/// sample belongs to a family declared by HELP and TYPE before it. Returns samples by
/// their full series text and the family types.
fn parse_exposition(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
    let mut types = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helps.insert(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helps.contains(name), "TYPE before HELP: {line}");
            types.insert(name.to_owned(), kind.to_owned());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(name);
            let kind = types
                .get(family)
                .unwrap_or_else(|| panic!("undeclared: {line}"));
            if kind == "counter" {
                assert!(family.ends_with("_total"), "{line}");
            }
            samples.insert(series.to_owned(), value.parse::<f64>().unwrap());
        }
    }
    (samples, types)
}

#[test]
fn the_proxy_serves_its_metrics_and_the_counters_move() {
    let _guard = shared();
    let (upstream, _) = recording_app();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.json");
    std::fs::write(
        &config,
        format!(
            r#"[{{"name": "app", "listen": "127.0.0.1:0", "upstream": "{upstream}",
                 "toxics": [{{"type": "latency", "attributes": {{"latency": 1}}}}]}}]"#
        ),
    )
    .unwrap();
    let mut child = Command::new(firedrill())
        .args(["proxy", "--admin", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin = None;
    let mut listen = None;
    while admin.is_none() || listen.is_none() {
        let line = lines
            .next()
            .expect("the proxy prints its addresses")
            .unwrap();
        if let Some(a) = line.strip_prefix("admin API on http://") {
            admin = Some(a.parse::<SocketAddr>().unwrap());
        } else if let Some(rest) = line.strip_prefix("proxy app listening on ") {
            listen = Some(
                rest.split(' ')
                    .next()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap(),
            );
        }
    }
    let (admin, listen) = (admin.unwrap(), listen.unwrap());

    let (status, before) = get(admin, "/metrics");
    assert_eq!(status, 200);
    let (samples, types) = parse_exposition(&before);
    assert_eq!(types["firedrill_proxy_connections_total"], "counter");
    assert_eq!(types["firedrill_proxy_bytes_total"], "counter");
    assert_eq!(types["firedrill_proxy_connections_active"], "gauge");
    assert_eq!(samples["firedrill_proxy_proxies"], 1.0);
    assert_eq!(
        samples[r#"firedrill_proxy_toxics_active{proxy="app"}"#],
        1.0
    );
    assert_eq!(
        samples[r#"firedrill_proxy_connections_total{proxy="app"}"#],
        0.0
    );

    for _ in 0..3 {
        let (status, _) = {
            let mut s = std::net::TcpStream::connect(listen).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            (text.split(' ').nth(1).unwrap().to_owned(), text)
        };
        assert_eq!(status, "200");
    }
    let mut after = BTreeMap::new();
    wait_for("the connections to close", Duration::from_secs(5), || {
        after = parse_exposition(&get(admin, "/metrics").1).0;
        after[r#"firedrill_proxy_connections_active{proxy="app"}"#] == 0.0
    });
    assert_eq!(
        after[r#"firedrill_proxy_connections_total{proxy="app"}"#],
        3.0
    );
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".len() as f64;
    assert_eq!(
        after[r#"firedrill_proxy_bytes_total{direction="upstream",proxy="app"}"#],
        3.0 * request
    );
    assert!(after[r#"firedrill_proxy_bytes_total{direction="downstream",proxy="app"}"#] > 0.0);

    terminate(child.id());
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

/// Sends SIGTERM, on which the proxy shuts down and exits 0.
fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
