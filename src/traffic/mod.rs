//! The traffic of a run (`spec.traffic`, docs/traffic.md): HTTP load at a fixed rate (open
//! model) or a fixed concurrency (closed model), counted per iteration and phase and over
//! time. In the open model every request has an intended send time and its latency counts
//! from it, so a stall of the service shows in full: no coordinated omission.

mod client;
pub mod record;
pub mod schedule;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::result::{IterationTraffic, TrafficPhase, TrafficSummary};
use crate::spec::{self, ConnectionMode, TrafficModel, placeholders};
use client::{Address, Client, Target};
pub use record::{ErrorKind, Outcome, Period, Recorder};
use schedule::Schedule;

/// The file of the time series, in the results folder.
pub const SERIES_FILE: &str = "traffic.jsonl";
/// A phase carried its asked rate when it sent at least this share of it (less one
/// request, for the rounding of a short phase).
pub const SUSTAINED_SHARE: f64 = 0.95;
/// Time allowed past a request's timeout before its bucket of the time series is written.
const GRACE: Duration = Duration::from_secs(1);

/// Why the traffic could not start.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// A placeholder of a request's URL has no value.
    #[error("spec.traffic.requests[{request}].url")]
    Template {
        /// The request's index.
        request: usize,
        /// What is wrong.
        #[source]
        source: placeholders::PlaceholderError,
    },
    /// A request cannot be made from the experiment's fields.
    #[error("spec.traffic.requests[{request}]: {message}")]
    Request {
        /// The request's index.
        request: usize,
        /// What is wrong.
        message: String,
    },
    /// A body file cannot be read.
    #[error("spec.traffic.requests[{request}].bodyFile: cannot read {path}")]
    Body {
        /// The request's index.
        request: usize,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The time series cannot be created.
    #[error("cannot create {0}")]
    Series(String, #[source] std::io::Error),
}

/// What the traffic sends, built from the spec.
struct Shared {
    client: Client,
    targets: Vec<Target>,
    /// Cumulative weights, for picking a target.
    weights: Vec<u64>,
    timeout: Duration,
    recorder: Mutex<Recorder>,
    origin: Instant,
    /// The intended time of the next request not yet sent, in microseconds from `origin`.
    cursor: AtomicU64,
}

impl Shared {
    fn pick(&self) -> &Target {
        let total = self.weights.last().copied().unwrap_or(0);
        let i = pick_index(&self.weights, fastrand::u64(0..total.max(1)));
        &self.targets[i.min(self.targets.len() - 1)]
    }

    fn recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_cursor(&self, t: Instant) {
        let us = u64::try_from(t.saturating_duration_since(self.origin).as_micros());
        self.cursor.store(us.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Until when every request has been counted.
    fn settled(&self, now: Instant) -> Instant {
        let cursor = self.origin + Duration::from_micros(self.cursor.load(Ordering::Relaxed));
        let finished = now.checked_sub(self.timeout + GRACE).unwrap_or(self.origin);
        cursor.min(finished)
    }
}

/// The target a `roll` below the total weight picks, the weights being cumulative.
fn pick_index(cumulative: &[u64], roll: u64) -> usize {
    cumulative.partition_point(|w| *w <= roll)
}

/// The traffic of a run, under way.
pub struct Traffic {
    shared: Arc<Shared>,
    stop: CancellationToken,
    senders: JoinHandle<()>,
    flusher: JoinHandle<()>,
    spec: spec::Traffic,
    availability: Option<f64>,
    window: Option<Duration>,
    series: bool,
    /// When the traffic ended, once it did.
    ended: Option<Instant>,
}

/// What the traffic of a run came to.
pub struct Report {
    /// The run's figures, for result.json.
    pub summary: TrafficSummary,
    /// Each iteration's figures, by index.
    pub iterations: BTreeMap<u32, IterationTraffic>,
    /// Why the time series could not be written, if it could not.
    pub series_error: Option<String>,
}

impl Traffic {
    /// Starts sending `spec`'s requests, their placeholders expanded from `ctx` and body
    /// files read from `base`; requests count from the first [`Traffic::mark`]. The time
    /// series counts from `origin` and goes to `out_dir`'s traffic.jsonl.
    pub async fn start(
        spec: &spec::Traffic,
        slo: Option<&spec::Slo>,
        ctx: &placeholders::Context,
        base: &Path,
        origin: Instant,
        out_dir: Option<&Path>,
    ) -> Result<Self, TrafficError> {
        let (client, targets) = build_targets(spec, ctx, base).await?;
        let mut total = 0;
        let weights = spec
            .requests
            .iter()
            .map(|r| {
                total += u64::from(r.weight);
                total
            })
            .collect();
        let out: Option<Box<dyn std::io::Write + Send>> = match out_dir {
            Some(dir) => {
                let path = dir.join(SERIES_FILE);
                let file = std::fs::File::create(&path)
                    .map_err(|e| TrafficError::Series(path.display().to_string(), e))?;
                Some(Box::new(std::io::BufWriter::new(file)))
            }
            None => None,
        };
        let resolution = spec.resolution.get();
        let shared = Arc::new(Shared {
            client,
            targets,
            weights,
            timeout: spec.timeout.get(),
            recorder: Mutex::new(Recorder::new(
                origin,
                resolution,
                slo.and_then(|s| s.latency.map(|l| l.get())),
                out,
            )),
            origin,
            cursor: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let senders = match &spec.model {
            TrafficModel::Open(m) => tokio::spawn(open(
                shared.clone(),
                Schedule::new(Instant::now(), m.rate),
                m.max_connections as usize,
                stop.clone(),
            )),
            TrafficModel::Closed(m) => {
                tokio::spawn(closed(shared.clone(), m.concurrency, stop.clone()))
            }
        };
        let flusher = tokio::spawn(flush(shared.clone(), resolution, stop.clone()));
        Ok(Self {
            shared,
            stop,
            senders,
            flusher,
            spec: spec.clone(),
            availability: slo.map(|s| s.availability),
            window: slo.map(|s| s.window.get()),
            series: out_dir.is_some(),
            ended: None,
        })
    }

    /// From `at` on, requests belong to `iteration`'s `period`.
    pub fn mark(&self, at: Instant, iteration: u32, period: Period) {
        self.shared.recorder().mark(at, Some((iteration, period)));
    }

    /// Ends the traffic at `end`: nothing intended later is sent or counted.
    pub fn end(&mut self, end: Instant) {
        if self.ended.is_none() {
            self.shared.recorder().mark(end, None);
            self.stop.cancel();
            self.ended = Some(end);
        }
    }

    /// Ends the traffic at `end` unless it already ended, waits for the requests in flight
    /// (within their timeout), and makes the figures.
    pub async fn stop(mut self, end: Instant) -> Report {
        self.end(end);
        let end = self.ended.unwrap_or(end);
        let _ = (&mut self.senders).await;
        let _ = (&mut self.flusher).await;
        let recorder = {
            let mut guard = self.shared.recorder();
            std::mem::replace(
                &mut *guard,
                Recorder::new(end, Duration::from_secs(1), None, None),
            )
        };
        let (tallies, series_error) = recorder.finish(end);
        self.report(&tallies, series_error)
    }

    fn asked(&self) -> Option<f64> {
        match &self.spec.model {
            TrafficModel::Open(m) => Some(m.rate),
            TrafficModel::Closed(_) => None,
        }
    }

    fn report(
        &self,
        tallies: &BTreeMap<(u32, Period), record::Tally>,
        series_error: Option<String>,
    ) -> Report {
        let asked = self.asked();
        let mut totals: BTreeMap<Period, record::Tally> = BTreeMap::new();
        let mut iterations: BTreeMap<u32, IterationTraffic> = BTreeMap::new();
        let mut shortfalls = Vec::new();
        for ((n, period), tally) in tallies {
            totals.entry(*period).or_default().merge(tally);
            if let Some(short) = shortfall(tally, asked) {
                shortfalls.push(format!("iteration {n}, {}: {short}", period.as_str()));
            }
        }
        let by_iteration = tallies
            .keys()
            .map(|(n, _)| *n)
            .collect::<std::collections::BTreeSet<_>>();
        for n in by_iteration {
            let get = |p: Period| tallies.get(&(n, p));
            let phases: BTreeMap<String, TrafficPhase> = tallies
                .iter()
                .filter(|((i, _), _)| *i == n)
                .map(|((_, p), t)| (p.as_str().to_owned(), t.figures(asked)))
                .collect();
            let bad_requests = [Period::Fault, Period::Recovery]
                .iter()
                .filter_map(|p| get(*p))
                .map(record::Tally::bad)
                .sum();
            let measured = [Period::Baseline, Period::Fault, Period::Recovery];
            let sent: u64 = measured
                .iter()
                .filter_map(|p| get(*p))
                .map(|t| t.sent())
                .sum();
            let secs: f64 = measured
                .iter()
                .filter_map(|p| get(*p))
                .map(|t| t.duration().as_secs_f64())
                .sum();
            let rate = (secs > 0.0).then(|| sent as f64 / secs);
            let allowance = self
                .availability
                .zip(self.window)
                .zip(rate)
                .map(|((a, w), r)| record::budget_allowance(a, r, w));
            iterations.insert(
                n,
                IterationTraffic {
                    phases,
                    bad_requests,
                    budget_allowance: allowance,
                    budget_burned: allowance.and_then(|a| record::budget_burned(bad_requests, a)),
                    latency_degradation: record::degradation(
                        get(Period::Fault).and_then(|t| t.quantile_ms(0.99)),
                        get(Period::Baseline).and_then(|t| t.quantile_ms(0.99)),
                    ),
                },
            );
        }
        let (model, concurrency) = match &self.spec.model {
            TrafficModel::Open(_) => ("open", None),
            TrafficModel::Closed(m) => ("closed", Some(m.concurrency)),
        };
        let summary = TrafficSummary {
            model: model.to_owned(),
            asked_rate: asked,
            concurrency,
            connection: match self.spec.connection {
                ConnectionMode::KeepAlive => "keep-alive",
                ConnectionMode::New => "new",
            }
            .to_owned(),
            resolution_ms: self.spec.resolution.get().as_secs_f64() * 1e3,
            series_file: (self.series && series_error.is_none()).then(|| SERIES_FILE.to_owned()),
            sustained: shortfalls.is_empty(),
            shortfalls,
            phases: totals
                .iter()
                .map(|(p, t)| (p.as_str().to_owned(), t.figures(asked)))
                .collect(),
        };
        Report {
            summary,
            iterations,
            series_error,
        }
    }
}

/// Why a phase did not carry the asked rate, if it did not.
fn shortfall(tally: &record::Tally, asked: Option<f64>) -> Option<String> {
    let asked = asked?;
    let secs = tally.duration().as_secs_f64();
    let expected = asked * secs;
    let sent = tally.sent() as f64;
    (sent < SUSTAINED_SHARE * expected - 1.0).then(|| {
        format!(
            "asked {asked} requests/s, sent {:.1}/s ({} of {:.0} expected in {:.1}s): requests waited past their timeout for one of the connections, or this machine could not keep the schedule",
            sent / secs.max(1e-9),
            tally.sent(),
            expected,
            secs
        )
    })
}

/// The clients and targets of the spec's requests.
async fn build_targets(
    spec: &spec::Traffic,
    ctx: &placeholders::Context,
    base: &Path,
) -> Result<(Client, Vec<Target>), TrafficError> {
    let mut authorities: Vec<String> = Vec::new();
    let mut targets = Vec::new();
    for (i, r) in spec.requests.iter().enumerate() {
        let invalid = |message: String| TrafficError::Request {
            request: i,
            message,
        };
        let url = placeholders::expand(&r.url, ctx)
            .map_err(|source| TrafficError::Template { request: i, source })?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| invalid(format!("`{url}` is not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid(format!("`{url}` is not an http:// URL")));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| invalid(format!("`{url}` has no host")))?;
        let host_port = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        let address = match authorities.iter().position(|a| *a == host_port) {
            Some(a) => a,
            None => {
                authorities.push(host_port);
                authorities.len() - 1
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &r.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(format!("header `{name}`: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| invalid(format!("header `{name}`: {e}")))?;
            headers.insert(name, value);
        }
        let body = match (&r.body, r.body_path(base)) {
            (_, Some(path)) => {
                Bytes::from(std::fs::read(&path).map_err(|source| TrafficError::Body {
                    request: i,
                    path: path.display().to_string(),
                    source,
                })?)
            }
            (Some(text), None) => Bytes::from(text.clone()),
            (None, None) => Bytes::new(),
        };
        targets
            .push(Target::new(address, r.method.as_str(), &uri, headers, body).map_err(invalid)?);
    }
    let mut addresses = Vec::new();
    for a in authorities {
        let resolved = tokio::net::lookup_host(a.as_str())
            .await
            .ok()
            .and_then(|mut found| found.next());
        addresses.push(resolved.map_or(Address::Name(a), Address::Resolved));
    }
    let keep_alive = spec.connection == ConnectionMode::KeepAlive;
    Ok((Client::new(addresses, keep_alive), targets))
}

/// The open model: each request leaves at its intended time, on a free connection; when
/// none is free it waits, and the wait counts in its latency.
async fn open(shared: Arc<Shared>, mut schedule: Schedule, slots: usize, stop: CancellationToken) {
    let free = Arc::new(Semaphore::new(slots));
    let timeout = shared.timeout;
    // Whether the sender is late because connections were busy (the service's doing), not
    // because of this machine.
    let mut held_up = false;
    loop {
        let intended = schedule.next_time();
        shared.set_cursor(intended);
        // Nothing is sent that would not be counted: before the first phase begins, and
        // after the end.
        if !shared.recorder().counts(intended) && intended <= Instant::now() {
            schedule.advance();
            continue;
        }
        if intended > Instant::now() {
            held_up = false;
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = tokio::time::sleep_until(intended) => {}
            }
        }
        let permit = match free.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                held_up = true;
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    permit = free.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        schedule.advance();
        let now = Instant::now();
        let deadline = intended + timeout;
        if now >= deadline {
            shared
                .recorder()
                .record(intended, now, Outcome::Error(ErrorKind::NotSent));
            continue;
        }
        if !held_up {
            shared.recorder().lag(intended, now - intended);
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let outcome = shared.client.exchange(shared.pick(), deadline).await;
            shared.recorder().record(intended, Instant::now(), outcome);
            drop(permit);
        });
    }
    // Requests due before the stop that never left: the schedule was not kept.
    let now = Instant::now();
    {
        let mut rec = shared.recorder();
        while schedule.next_time() < now && rec.counts(schedule.next_time()) {
            rec.record(
                schedule.next_time(),
                now,
                Outcome::Error(ErrorKind::NotSent),
            );
            schedule.advance();
        }
    }
    shared.set_cursor(now + timeout + GRACE);
    // Requests in flight end within their timeout.
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(timeout + GRACE, free.acquire_many(all)).await;
}

/// The closed model: `concurrency` senders, each sending its next request when the last
/// one answered; latency counts from the send.
async fn closed(shared: Arc<Shared>, concurrency: u32, stop: CancellationToken) {
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let shared = shared.clone();
        let stop = stop.clone();
        senders.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let sent = Instant::now();
                if !shared.recorder().counts(sent) {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_millis(1)) => {}
                    }
                    continue;
                }
                let outcome = shared
                    .client
                    .exchange(shared.pick(), sent + shared.timeout)
                    .await;
                shared.recorder().record(sent, Instant::now(), outcome);
            }
        }));
    }
    let cursor = tokio::spawn({
        let shared = shared.clone();
        let stop = stop.clone();
        async move {
            // In the closed model a request is sent as soon as it is due.
            while !stop.is_cancelled() {
                shared.set_cursor(Instant::now());
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    });
    for s in senders {
        let _ = s.await;
    }
    let _ = cursor.await;
    shared.set_cursor(Instant::now() + shared.timeout + GRACE);
}

/// Writes the buckets of the time series as they settle, until `stop`.
async fn flush(shared: Arc<Shared>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let settled = shared.settled(Instant::now());
        shared.recorder().flush(settled);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;
    use crate::spec::{Duration as SpecDuration, HttpMethod, OpenModel, TrafficRequest};

    /// A server on loopback that answers every request after `delay`, except those that
    /// arrive before `stall_until`, which wait for it; it counts what it answered.
    async fn server(
        delay: Duration,
        stall: Arc<Mutex<Option<(Instant, Instant)>>>,
    ) -> (String, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let answered = Arc::new(AtomicU64::new(0));
        let count = answered.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (count, stall) = (count.clone(), stall.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                        buf.drain(..end + 4);
                        let now = Instant::now();
                        let window = *stall.lock().unwrap();
                        if let Some((from, until)) = window
                            && now >= from
                            && now < until
                        {
                            tokio::time::sleep_until(until).await;
                        }
                        tokio::time::sleep(delay).await;
                        count.fetch_add(1, Ordering::Relaxed);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (address, answered)
    }

    fn spec(address: &str, rate: f64) -> spec::Traffic {
        spec::Traffic {
            model: TrafficModel::Open(OpenModel {
                rate,
                max_connections: 64,
            }),
            requests: vec![TrafficRequest {
                url: format!("http://{address}/"),
                method: HttpMethod::Get,
                headers: BTreeMap::new(),
                body: None,
                body_file: None,
                weight: 1,
            }],
            timeout: SpecDuration::from_secs(5),
            connection: ConnectionMode::KeepAlive,
            resolution: SpecDuration::from_millis(100),
        }
    }

    /// Ground truth: the server answers in 20 ms, and stalls for exactly one second at the
    /// start of the fault phase. Requests intended in the stall are answered when it ends,
    /// so their latencies from the intended time spread evenly over 0..1 s: the fault
    /// phase's p99 and max must show nearly the whole second. A generator that measured
    /// from the actual send (coordinated omission) would see 64 slow requests at most and a
    /// p99 near 20 ms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stall_of_known_length_shows_in_full_in_the_fault_phase() {
        let delay = Duration::from_millis(20);
        let stall = Arc::new(Mutex::new(None));
        let (address, answered) = server(delay, stall.clone()).await;
        let t0 = Instant::now();
        let traffic = Traffic::start(
            &spec(&address, 200.0),
            None,
            &placeholders::Context::default(),
            Path::new("."),
            t0,
            None,
        )
        .await
        .unwrap();
        let start = Instant::now();
        traffic.mark(start, 1, Period::Baseline);
        let fault = start + Duration::from_secs(1);
        let stall_ends = fault + Duration::from_secs(1);
        *stall.lock().unwrap() = Some((fault, stall_ends));
        tokio::time::sleep_until(fault).await;
        traffic.mark(fault, 1, Period::Fault);
        tokio::time::sleep_until(stall_ends).await;
        traffic.mark(stall_ends, 1, Period::Recovery);
        tokio::time::sleep_until(stall_ends + Duration::from_secs(1)).await;
        let report = traffic.stop(Instant::now()).await;
        let phases = &report.iterations[&1].phases;
        let (base, fault) = (&phases["baseline"], &phases["fault"]);
        let p50 = base.p50.unwrap();
        assert!(
            (20.0..40.0).contains(&p50),
            "baseline p50 {p50} ms vs 20 ms"
        );
        let (p99, max) = (fault.p99.unwrap(), fault.max.unwrap());
        assert!(
            (950.0..1300.0).contains(&p99),
            "fault p99 {p99} ms vs 1 s stall"
        );
        assert!(
            (980.0..1400.0).contains(&max),
            "fault max {max} ms vs 1 s stall"
        );
        // Half of the fault phase's requests waited more than half the stall.
        let median = fault.p50.unwrap();
        assert!((400.0..700.0).contains(&median), "fault p50 {median} ms");
        // The rate held, and the server answered exactly what was counted as sent.
        let sent: u64 = phases.values().map(|p| p.sent).sum();
        assert_eq!(answered.load(Ordering::Relaxed), sent);
        for (name, p) in phases {
            let rate = p.achieved_rate.unwrap();
            assert!((180.0..220.0).contains(&rate), "{name}: {rate}/s");
        }
        assert!(report.summary.sustained, "{:?}", report.summary.shortfalls);
        let lat = report.iterations[&1].latency_degradation.unwrap();
        assert!(lat > 20.0, "degradation {lat}");
    }

    #[test]
    fn requests_are_picked_in_proportion_to_their_weights() {
        // Weights 3, 0 and 1: cumulative 3, 3, 4.
        let cumulative = [3, 3, 4];
        let picks: Vec<usize> = (0..4).map(|roll| pick_index(&cumulative, roll)).collect();
        assert_eq!(picks, [0, 0, 0, 2]);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[pick_index(&cumulative, fastrand::u64(0..4))] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[2]) / 40_000.0;
        assert!((0.23..0.27).contains(&share), "{counts:?}");
    }

    /// The closed model sends its next request when the last one answered: at a 20 ms
    /// server and 4 in flight, about 200 requests a second.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_closed_model_keeps_its_concurrency() {
        let stall = Arc::new(Mutex::new(None));
        let (address, answered) = server(Duration::from_millis(20), stall).await;
        let mut s = spec(&address, 1.0);
        s.model = TrafficModel::Closed(spec::ClosedModel { concurrency: 4 });
        s.connection = ConnectionMode::New;
        let t0 = Instant::now();
        let traffic = Traffic::start(
            &s,
            None,
            &placeholders::Context::default(),
            Path::new("."),
            t0,
            None,
        )
        .await
        .unwrap();
        traffic.mark(Instant::now(), 1, Period::Baseline);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = traffic.stop(Instant::now()).await;
        let base = &report.iterations[&1].phases["baseline"];
        assert_eq!(answered.load(Ordering::Relaxed), base.sent);
        let rate = base.achieved_rate.unwrap();
        assert!((100.0..=200.0).contains(&rate), "{rate}/s at 4 x 20 ms");
        assert!(base.p50.unwrap() >= 20.0);
        assert_eq!(report.summary.asked_rate, None);
        assert!(report.summary.sustained);
    }
}
