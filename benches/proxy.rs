//! The fault proxy against a direct loopback connection, HAProxy and nginx.
//!
//! A load generator and its echo server, in one binary with a mode per subcommand;
//! `benches/proxy-vs-peers.sh` starts the proxies and drives it (see BENCHMARKS.md, section 3).
//! Plain std threads and blocking sockets, so the client costs the same through every target.
//!
//! - `echo`: the upstream. The first byte of a connection picks its mode: `E` echoes, `S`
//!   sinks until end of stream, then answers the byte count (8 bytes, little-endian).
//! - `compare`: round-robin over the targets, several rounds: 1 KiB request/response
//!   round trips over one connection (HdrHistogram, one request in flight), and a bulk
//!   stream of 64 KiB writes into the sink, timed until the sink has counted every byte.
//! - `toxic`: the latency toxic's error against its setting, through the admin API.
//! - `idle`: resident memory per idle proxied connection (VmRSS of the proxy process).
//!
//! `cargo bench --bench proxy` alone only prints where to start.

use std::io::{self, BufRead as _, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;

/// Request and response size of the request/response test.
const MESSAGE_BYTES: usize = 1024;

/// Write size of the bulk test.
const BULK_WRITE_BYTES: usize = 64 * 1024;

/// Round trips a target runs before the next one takes its turn.
const RTT_BLOCK: u64 = 1_000;

/// Fewest round trips per latency toxic setting and round.
const MIN_TOXIC_ROUND_TRIPS: u64 = 200;

/// Seconds of bulk streaming a target runs (one connection) before the next one's turn.
const BULK_BLOCK_SECS: f64 = 0.5;

#[derive(Parser)]
#[command(about = "Fault proxy benchmark: run benches/proxy-vs-peers.sh")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Echo (`E`) and sink (`S`) server on 127.0.0.1, port from the OS; prints its address.
    Echo,
    /// Prints a free loopback port (bound, then released).
    FreePort,
    /// Creates a proxy through firedrill's admin API; prints its listen address.
    CreateProxy {
        #[arg(long)]
        admin: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        upstream: String,
    },
    /// Request/response and bulk, round-robin over the targets.
    Compare(CompareArgs),
    /// The latency toxic's error against its setting.
    Toxic(ToxicArgs),
    /// Memory per idle proxied connection.
    Idle(IdleArgs),
    /// firedrill's proxy from the library, on a runtime of `threads` workers (1: a
    /// current-thread runtime, as the binary's), no toxics; prints its address. A control
    /// for the binary: the same proxy without the admin API.
    LibProxy {
        #[arg(long)]
        upstream: String,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Paced round trips over a pool of connections, each replaced after a number of round
    /// trips or on an error, for a long run (benches/long-run.sh): connections come and go
    /// all the time, and a toxic that breaks one costs a reconnection, not the run.
    Churn(ChurnArgs),
    /// Load on one target for a while, to profile a proxy under it.
    Load {
        #[arg(long)]
        addr: String,
        /// `rr` (1 KiB request/response) or `bulk` (64 KiB writes).
        #[arg(long)]
        kind: String,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
    },
}

#[derive(Args)]
struct CompareArgs {
    /// The direct address of the echo server (the baseline).
    #[arg(long, required_unless_present = "report_only")]
    direct: Option<String>,
    /// `NAME=ADDR` of a proxy in front of the same echo server; repeat.
    #[arg(long = "target", value_parser = parse_named)]
    targets: Vec<(String, String)>,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Recorded round trips per target and round.
    #[arg(long, default_value_t = 20_000)]
    round_trips: u64,
    /// Unrecorded round trips first, on the same connection.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Round trips a target runs before the next one takes its turn.
    #[arg(long, default_value_t = RTT_BLOCK, value_parser = clap::value_parser!(u64).range(1..))]
    block: u64,
    /// Seconds of bulk streaming per target and round.
    #[arg(long, default_value_t = 2.0)]
    bulk_secs: f64,
    /// Number of the first round of this run: it picks the turn orders, so that rounds run
    /// one invocation each (with fresh proxy processes between them) take turns as in one run.
    #[arg(long, default_value_t = 0)]
    first_round: usize,
    /// Appends each round's figures to this file (tab-separated: round, target, RTT p50,
    /// p99, max in µs, bulk MB/s).
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Measures and records without printing the tables.
    #[arg(long)]
    no_report: bool,
    /// Prints the tables from the rounds recorded in `--samples`, without measuring.
    #[arg(long, requires = "samples")]
    report_only: bool,
}

#[derive(Args)]
struct ToxicArgs {
    /// Base URL of firedrill's admin API.
    #[arg(long)]
    admin: String,
    /// The echo server, upstream of the proxy this creates, and the direct baseline.
    #[arg(long)]
    upstream: String,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Settings in ms.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    latencies: Vec<u64>,
    /// Recorded round trips per setting and round take about this long.
    #[arg(long, default_value_t = 2.0)]
    secs_per_setting: f64,
}

#[derive(Args)]
struct ChurnArgs {
    #[arg(long)]
    addr: String,
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Round trips started per second (missed ticks are skipped, not caught up).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Connections held open at once; round trips take turns over them.
    #[arg(long, default_value_t = 20)]
    connections: usize,
    /// Round trips over a connection before it is closed and replaced.
    #[arg(long, default_value_t = 50)]
    per_connection: u64,
}

#[derive(Args)]
struct IdleArgs {
    /// `NAME=ADDR=PID`: a proxy's listen address and the process to weigh; repeat.
    #[arg(long = "target", value_parser = parse_idle_target)]
    targets: Vec<(String, String, u32)>,
    /// Idle connections opened after the warm-up ones.
    #[arg(long, default_value_t = 2_000)]
    connections: usize,
    /// Connections opened first and counted in the baseline (one-time growth).
    #[arg(long, default_value_t = 100)]
    warmup: usize,
}

fn parse_named(s: &str) -> Result<(String, String), String> {
    let (name, addr) = s.split_once('=').ok_or("expected NAME=ADDR")?;
    Ok((name.to_owned(), addr.to_owned()))
}

fn parse_idle_target(s: &str) -> Result<(String, String, u32), String> {
    let mut parts = s.splitn(3, '=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(addr), Some(pid)) => Ok((
            name.to_owned(),
            addr.to_owned(),
            pid.parse().map_err(|e| format!("pid: {e}"))?,
        )),
        _ => Err("expected NAME=ADDR=PID".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` runs every bench target with `--bench`; this one needs its peers.
    if args.len() == 1 || args[1..].iter().all(|a| a == "--bench") {
        println!(
            "proxy: run benches/proxy-vs-peers.sh (it builds this target and starts the peers)"
        );
        return ExitCode::SUCCESS;
    }
    let result = match Cli::parse().mode {
        Mode::Echo => echo(),
        Mode::FreePort => TcpListener::bind("127.0.0.1:0").and_then(|l| {
            println!("{}", l.local_addr()?.port());
            Ok(())
        }),
        Mode::CreateProxy {
            admin,
            name,
            upstream,
        } => create_proxy(&admin, &name, &upstream).map(|listen| println!("{listen}")),
        Mode::Compare(a) => compare(&a),
        Mode::Toxic(a) => toxic(&a),
        Mode::Idle(a) => idle(&a),
        Mode::Churn(a) => churn(&a),
        Mode::Load { addr, kind, secs } => load(&addr, &kind, secs),
        Mode::LibProxy { upstream, threads } => lib_proxy(upstream, threads),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("proxy bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn echo() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        // Small stacks: the idle test holds thousands of these threads.
        thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = serve_one(stream);
            })?;
    }
    Ok(())
}

fn serve_one(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut mode = [0u8; 1];
    stream.read_exact(&mut mode)?;
    match mode[0] {
        b'E' => {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                stream.write_all(&buf[..n])?;
            }
        }
        b'S' => {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            stream.write_all(&total.to_le_bytes())?;
            stream.shutdown(Shutdown::Write)
        }
        other => Err(io::Error::other(format!("unknown mode byte {other}"))),
    }
}

fn connect(addr: &str, mode: u8) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(&[mode])?;
    Ok(s)
}

fn histogram() -> Histogram<u64> {
    // Nanoseconds up to 60 s, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// One request/response connection. Round trips are closed-loop: each request is sent when
/// the previous answer has arrived, so there is no schedule to fall behind and nothing to
/// correct for coordinated omission.
struct Echo {
    stream: TcpStream,
    request: [u8; MESSAGE_BYTES],
    answer: [u8; MESSAGE_BYTES],
}

impl Echo {
    fn connect(addr: &str) -> io::Result<Self> {
        Ok(Self {
            stream: connect(addr, b'E')?,
            request: [0x5a; MESSAGE_BYTES],
            answer: [0; MESSAGE_BYTES],
        })
    }

    /// `n` round trips, recorded into `h` in nanoseconds when given.
    fn run(&mut self, n: u64, mut h: Option<&mut Histogram<u64>>) -> io::Result<()> {
        for _ in 0..n {
            let start = Instant::now();
            self.stream.write_all(&self.request)?;
            self.stream.read_exact(&mut self.answer)?;
            let rtt = start.elapsed();
            if let Some(h) = h.as_deref_mut() {
                h.record(rtt.as_nanos().max(1) as u64)
                    .map_err(io::Error::other)?;
            }
        }
        Ok(())
    }
}

/// `warmup` unrecorded round trips, then `n` recorded ones, over one new connection.
fn round_trips(addr: &str, warmup: u64, n: u64) -> io::Result<Histogram<u64>> {
    let mut e = Echo::connect(addr)?;
    let mut h = histogram();
    e.run(warmup, None)?;
    e.run(n, Some(&mut h))?;
    Ok(h)
}

/// Streams 64 KiB writes for `secs`, then half-closes and waits for the sink's count: the
/// bytes and seconds returned count only bytes that reached the server.
fn bulk(addr: &str, secs: f64) -> io::Result<(f64, f64)> {
    let mut s = connect(addr, b'S')?;
    let block = vec![0xa5u8; BULK_WRITE_BYTES];
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    while Instant::now() < until {
        s.write_all(&block)?;
        sent += block.len() as u64;
    }
    s.shutdown(Shutdown::Write)?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count)?;
    let elapsed = start.elapsed().as_secs_f64();
    let received = u64::from_le_bytes(count);
    if received != sent {
        return Err(io::Error::other(format!(
            "sink counted {received} bytes of {sent}"
        )));
    }
    Ok((received as f64, elapsed))
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Median and (min, max) of a sample.
fn median_spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

fn fmt_ms((median, lo, hi): (f64, f64, f64), digits: usize) -> String {
    format!("{median:.digits$} ({lo:.digits$} to {hi:.digits$})")
}

/// Per round and target: RTT p50, p99, max (µs) and bulk MB/s.
#[derive(Default, Clone)]
struct Sample {
    p50: f64,
    p99: f64,
    max: f64,
    mbps: f64,
}

fn compare(a: &CompareArgs) -> io::Result<()> {
    let (names, samples) = match (&a.direct, a.report_only) {
        (Some(direct), false) => {
            let (names, samples) = measure(a, direct)?;
            if let Some(path) = &a.samples {
                append_samples(path, a.first_round, &names, &samples)?;
            }
            if a.no_report {
                return Ok(());
            }
            (names, samples)
        }
        _ => read_samples(a.samples.as_deref().expect("clap requires --samples"))?,
    };
    report(a, &names, &samples);
    Ok(())
}

/// Runs the rounds; returns the target names (direct first) and each one's samples per round.
fn measure(a: &CompareArgs, direct: &str) -> io::Result<(Vec<String>, Vec<Vec<Sample>>)> {
    let mut names = vec!["direct".to_owned()];
    let mut addrs = vec![direct.to_owned()];
    for (n, addr) in &a.targets {
        names.push(n.clone());
        addrs.push(addr.clone());
    }
    let k = names.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); k];
    // Within a round the targets take turns in short blocks, so a burst of load from
    // elsewhere on the host lands on all of them alike.
    let rtt_blocks = a.round_trips.div_ceil(a.block);
    let bulk_blocks = bulk_blocks(a);
    for round in a.first_round..a.first_round + a.rounds {
        let mut conns = addrs
            .iter()
            .map(|addr| Echo::connect(addr))
            .collect::<io::Result<Vec<_>>>()?;
        for c in &mut conns {
            c.run(a.warmup, None)?;
        }
        let mut hs: Vec<_> = (0..k).map(|_| histogram()).collect();
        for b in 0..rtt_blocks as usize {
            for i in turn_order(k, round, b) {
                let n = a.block.min(a.round_trips - b as u64 * a.block);
                conns[i].run(n, Some(&mut hs[i]))?;
            }
        }
        drop(conns);
        let mut bytes_secs = vec![(0.0, 0.0); k];
        for b in 0..bulk_blocks {
            for i in turn_order(k, round, rtt_blocks as usize + b) {
                let (bytes, secs) = bulk(&addrs[i], BULK_BLOCK_SECS)?;
                bytes_secs[i].0 += bytes;
                bytes_secs[i].1 += secs;
            }
        }
        for i in 0..k {
            let h = &hs[i];
            let s = Sample {
                p50: us(h.value_at_quantile(0.5)),
                p99: us(h.value_at_quantile(0.99)),
                max: us(h.max()),
                mbps: bytes_secs[i].0 / bytes_secs[i].1 / 1e6,
            };
            eprintln!(
                "round {}: {:>17}: rtt p50 {:7.1} us  p99 {:7.1} us  max {:8.1} us  bulk {:7.0} MB/s",
                round + 1,
                names[i],
                s.p50,
                s.p99,
                s.max,
                s.mbps
            );
            samples[i].push(s);
        }
    }
    Ok((names, samples))
}

/// The order in which `k` targets take their turns in block `block` of round `round`: a
/// fresh shuffle each time, the same for every run. With a fixed cyclic order (a rotation
/// of who goes first) each target always followed the same one, and where the processes
/// sat after that one's block carried over: the target after `direct` came out up to 8 µs
/// slower at p50 than a second process of the same binary placed elsewhere in the cycle.
fn turn_order(k: usize, round: usize, block: usize) -> Vec<usize> {
    // splitmix64 of the round and block: cheap, deterministic, and well mixed.
    let mut state = ((round as u64) << 32 | block as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..k).collect();
    for i in (1..k).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    order
}

fn bulk_blocks(a: &CompareArgs) -> usize {
    (a.bulk_secs / BULK_BLOCK_SECS).ceil().max(1.0) as usize
}

/// Appends one line per round and target: round, name, p50, p99, max, MB/s.
fn append_samples(
    path: &Path,
    first_round: usize,
    names: &[String],
    samples: &[Vec<Sample>],
) -> io::Result<()> {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let rounds = samples.first().map_or(0, Vec::len);
    for r in 0..rounds {
        for (name, s) in names.iter().zip(samples) {
            let s = &s[r];
            writeln!(
                out,
                "{}\t{name}\t{}\t{}\t{}\t{}",
                first_round + r,
                s.p50,
                s.p99,
                s.max,
                s.mbps
            )?;
        }
    }
    Ok(())
}

/// Reads what `append_samples` wrote: the targets in order of appearance (direct first) and
/// their samples, round by round. Every round must have every target.
fn read_samples(path: &Path) -> io::Result<(Vec<String>, Vec<Vec<Sample>>)> {
    let bad = |line: usize, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}:{line}: {why}", path.display()),
        )
    };
    let text = std::fs::read_to_string(path)?;
    let mut names: Vec<String> = Vec::new();
    let mut samples: Vec<Vec<Sample>> = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let [_, name, p50, p99, max, mbps] = f[..] else {
            return Err(bad(no + 1, "expected 6 tab-separated fields"));
        };
        let num = |v: &str| v.parse::<f64>().map_err(|_| bad(no + 1, "not a number"));
        let sample = Sample {
            p50: num(p50)?,
            p99: num(p99)?,
            max: num(max)?,
            mbps: num(mbps)?,
        };
        match names.iter().position(|n| n == name) {
            Some(i) => samples[i].push(sample),
            None => {
                names.push(name.to_owned());
                samples.push(vec![sample]);
            }
        }
    }
    let rounds = samples.first().map_or(0, Vec::len);
    if rounds == 0 || samples.iter().any(|s| s.len() != rounds) || names[0] != "direct" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: every round needs direct first and the same targets",
                path.display()
            ),
        ));
    }
    Ok((names, samples))
}

/// Prints the tables: per target, the median (min to max) over rounds; then the targets.
fn report(a: &CompareArgs, names: &[String], samples: &[Vec<Sample>]) {
    let rounds = samples[0].len();
    // Added latency and throughput ratio per round against the same round's direct run.
    let added = |i: usize, f: fn(&Sample) -> f64| -> Vec<f64> {
        (0..rounds)
            .map(|r| f(&samples[i][r]) - f(&samples[0][r]))
            .collect()
    };
    let ratio = |i: usize| -> Vec<f64> {
        (0..rounds)
            .map(|r| samples[i][r].mbps / samples[0][r].mbps)
            .collect()
    };
    let col = |i: usize, f: fn(&Sample) -> f64| -> Vec<f64> { samples[i].iter().map(f).collect() };

    println!(
        "Request/response: 1 KiB each way, one connection per target, {} round trips after {} \
         warm-up, in blocks of {block} taking turns. Bulk: 64 KiB writes, {bulk_blocks} \
         connections of {BULK_BLOCK_SECS} s per target taking turns. {rounds} rounds; median (min \
         to max) over rounds; added and ratio against direct in the same round.",
        a.round_trips,
        a.warmup,
        block = a.block,
        bulk_blocks = bulk_blocks(a),
    );
    println!();
    println!(
        "| target | RTT p50 µs | RTT p99 µs | added p50 µs | added p99 µs | bulk MB/s | bulk vs direct |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let p50 = median_spread(&col(i, |s| s.p50));
        let p99 = median_spread(&col(i, |s| s.p99));
        let mbps = median_spread(&col(i, |s| s.mbps));
        let (add50, add99, rat) = if i == 0 {
            ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        } else {
            (
                median_spread(&added(i, |s| s.p50)),
                median_spread(&added(i, |s| s.p99)),
                median_spread(&ratio(i)),
            )
        };
        let dash = |v: (f64, f64, f64), d: usize| {
            if i == 0 {
                "—".to_owned()
            } else {
                fmt_ms(v, d)
            }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            name,
            fmt_ms(p50, 1),
            fmt_ms(p99, 1),
            dash(add50, 1),
            dash(add99, 1),
            fmt_ms(mbps, 0),
            dash(rat, 2),
        );
        summary.push((name.clone(), add50.0, add99.0, rat.0));
    }

    // Targets: firedrill against the better of the peers.
    let Some((_, f50, f99, fr)) = summary.iter().find(|s| s.0 == "firedrill").cloned() else {
        return;
    };
    let peers: Vec<_> = summary
        .iter()
        .skip(1)
        .filter(|s| !s.0.starts_with("firedrill"))
        .collect();
    if peers.is_empty() {
        return;
    }
    let best50 = peers.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let best99 = peers.iter().map(|s| s.2).fold(f64::INFINITY, f64::min);
    let best_ratio = peers.iter().map(|s| s.3).fold(0.0, f64::max);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!("| target | firedrill | best peer | firedrill / best peer | verdict |");
    println!("|---|---|---|---|---|");
    println!(
        "| added latency p50 ≤ best peer | {f50:.1} µs | {best50:.1} µs | {:.2}x | {} |",
        f50 / best50,
        verdict(f50 <= best50)
    );
    println!(
        "| added latency p99 ≤ best peer | {f99:.1} µs | {best99:.1} µs | {:.2}x | {} |",
        f99 / best99,
        verdict(f99 <= best99)
    );
    println!(
        "| bulk throughput ≥ best peer | {fr:.2}x direct | {best_ratio:.2}x direct | {:.2}x | {} |",
        fr / best_ratio,
        verdict(fr >= best_ratio)
    );
}

/// One HTTP/1.1 exchange with `Connection: close`; returns the status and body.
fn http(method: &str, url: &str, body: Option<&str>) -> io::Result<(u16, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other(format!("not an http:// URL: {url}")))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line: {status_line:?}")))?;
    let mut response = String::new();
    reader.read_to_string(&mut response)?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}

fn create_proxy(admin: &str, name: &str, upstream: &str) -> io::Result<String> {
    let request = serde_json::json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream});
    let (status, body) = http(
        "POST",
        &format!("{admin}/proxies"),
        Some(&request.to_string()),
    )?;
    if status != 201 {
        return Err(io::Error::other(format!(
            "POST /proxies answered {status}: {body}"
        )));
    }
    let v: serde_json::Value = serde_json::from_str(&body).map_err(io::Error::other)?;
    v["listen"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("no listen address in {body}")))
}

/// A setting in ms and its errors per round in ms: p50, p99, max.
type ToxicRow = (u64, Vec<f64>, Vec<f64>, Vec<f64>);

fn toxic(a: &ToxicArgs) -> io::Result<()> {
    let name = "bench_latency";
    let listen = create_proxy(&a.admin, name, &a.upstream)?;
    let toxics_url = format!("{}/proxies/{name}/toxics", a.admin);
    // error = RTT − setting − direct RTT p50 of the same round: the proxy's own cost counts
    // against the toxic, as a client would see it.
    let mut rows: Vec<ToxicRow> = a
        .latencies
        .iter()
        .map(|&l| (l, Vec::new(), Vec::new(), Vec::new()))
        .collect();
    for round in 0..a.rounds {
        let direct = round_trips(&a.upstream, 500, 5_000)?;
        let base = us(direct.value_at_quantile(0.5)) / 1000.0;
        for row in &mut rows {
            let l = row.0;
            let body = serde_json::json!({
                "name": "lat", "type": "latency", "stream": "downstream",
                "attributes": {"latency": l, "jitter": 0}
            });
            let (status, text) = http("POST", &toxics_url, Some(&body.to_string()))?;
            if status != 200 {
                return Err(io::Error::other(format!(
                    "adding the toxic answered {status}: {text}"
                )));
            }
            // At least 200, so that p99 is not the single worst round trip (at 100 ms, 50
            // round trips made one scheduling stall of the host decide the verdict).
            let n = ((a.secs_per_setting * 1000.0 / l as f64) as u64).max(MIN_TOXIC_ROUND_TRIPS);
            let h = round_trips(&listen, 5, n)?;
            let err = |q: f64| us(h.value_at_quantile(q)) / 1000.0 - l as f64 - base;
            row.1.push(err(0.5));
            row.2.push(err(0.99));
            row.3.push(us(h.max()) / 1000.0 - l as f64 - base);
            eprintln!(
                "round {}/{} latency {l:>3} ms: {n} round trips, error p50 {:+.3} ms  p99 {:+.3} ms  max {:+.3} ms",
                round + 1,
                a.rounds,
                err(0.5),
                err(0.99),
                us(h.max()) / 1000.0 - l as f64 - base
            );
            let (status, text) = http("DELETE", &format!("{toxics_url}/lat"), None)?;
            if status != 204 && status != 200 {
                return Err(io::Error::other(format!(
                    "removing the toxic answered {status}: {text}"
                )));
            }
        }
    }
    http("DELETE", &format!("{}/proxies/{name}", a.admin), None)?;
    println!(
        "Latency toxic (downstream, jitter 0) on firedrill's proxy; error = RTT − setting − \
         direct RTT p50 of the same round; {} rounds; median (min to max) over rounds, in ms.",
        a.rounds
    );
    println!();
    println!("| setting | error p50 ms | error p99 ms | error max ms | p99 within 1 ms |");
    println!("|---|---|---|---|---|");
    for (l, p50, p99, max) in &rows {
        let p99m = median_spread(p99);
        println!(
            "| {l} ms | {} | {} | {} | {} |",
            fmt_ms(median_spread(p50), 3),
            fmt_ms(p99m, 3),
            fmt_ms(median_spread(max), 3),
            if p99m.0.abs() <= 1.0 { "met" } else { "MISSED" }
        );
    }
    Ok(())
}

fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no VmRSS for pid {pid}")))
}

/// Opens `n` connections through `addr`, each with one echoed byte so the proxy has
/// connected upstream and set up its side, and keeps them open.
fn open_idle(addr: &str, n: usize, into: &mut Vec<TcpStream>) -> io::Result<()> {
    for _ in 0..n {
        let mut s = connect(addr, b'E')?;
        s.write_all(b"x")?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        into.push(s);
    }
    Ok(())
}

fn idle(a: &IdleArgs) -> io::Result<()> {
    println!(
        "Idle connections: {} opened through each proxy after {} warm-up ones, one echoed byte \
         each, then held; VmRSS of the proxy process before and after (settled 1 s).",
        a.connections, a.warmup
    );
    println!();
    println!("| proxy | VmRSS before KiB | VmRSS after KiB | per idle connection KiB |");
    println!("|---|---|---|---|");
    for (name, addr, pid) in &a.targets {
        let mut held = Vec::new();
        open_idle(addr, a.warmup, &mut held)?;
        thread::sleep(Duration::from_secs(1));
        let before = rss_kib(*pid)?;
        open_idle(addr, a.connections, &mut held)?;
        thread::sleep(Duration::from_secs(1));
        let after = rss_kib(*pid)?;
        println!(
            "| {name} | {before} | {after} | {:.1} |",
            (after as f64 - before as f64) / a.connections as f64
        );
        drop(held);
        // Let the proxy and the echo server close them before the next one.
        thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

fn load(addr: &str, kind: &str, secs: f64) -> io::Result<()> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    match kind {
        "rr" => {
            let mut e = Echo::connect(addr)?;
            let mut h = histogram();
            while Instant::now() < until {
                e.run(RTT_BLOCK, Some(&mut h))?;
            }
            println!(
                "{} round trips, p50 {:.1} us, p99 {:.1} us",
                h.len(),
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.99))
            );
        }
        "bulk" => {
            let (bytes, secs) = bulk(addr, secs)?;
            println!("{:.0} MB/s", bytes / secs / 1e6);
        }
        other => return Err(io::Error::other(format!("unknown load kind {other}"))),
    }
    Ok(())
}

fn churn(a: &ChurnArgs) -> io::Result<()> {
    struct Slot {
        echo: Option<Echo>,
        used: u64,
    }
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.secs);
    let tick = Duration::from_secs_f64(1.0 / a.rate.max(0.001));
    let mut slots: Vec<Slot> = (0..a.connections.max(1))
        .map(|_| Slot {
            echo: None,
            used: 0,
        })
        .collect();
    let (mut done, mut errors, mut opened) = (0u64, 0u64, 0u64);
    let mut h = histogram();
    let mut next = start;
    let mut turn = 0usize;
    while Instant::now() < until {
        let now = Instant::now();
        if now < next {
            thread::sleep(next - now);
        }
        // Pace from the schedule; after a slow round trip, skip the ticks it covered.
        next += tick;
        let now = Instant::now();
        if next < now {
            next = now;
        }
        let count = slots.len();
        let slot = &mut slots[turn % count];
        turn += 1;
        if slot.used >= a.per_connection {
            slot.echo = None;
        }
        if slot.echo.is_none() {
            match Echo::connect(&a.addr) {
                Ok(e) => {
                    slot.echo = Some(e);
                    slot.used = 0;
                    opened += 1;
                }
                Err(_) => {
                    errors += 1;
                    continue;
                }
            }
        }
        let echo = slot.echo.as_mut().expect("connected above");
        match echo.run(1, Some(&mut h)) {
            Ok(()) => {
                done += 1;
                slot.used += 1;
            }
            Err(_) => {
                errors += 1;
                slot.echo = None;
            }
        }
    }
    println!(
        "{done} round trips, {errors} errors, {opened} connections opened, p50 {:.1} us, p99 {:.1} us",
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99))
    );
    Ok(())
}

fn lib_proxy(upstream: String, threads: usize) -> io::Result<()> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let registry = firedrill::proxy::ProxyRegistry::new();
        let info = registry
            .create(firedrill::proxy::ProxyConfig {
                name: "bench".into(),
                listen: "127.0.0.1:0".into(),
                upstream,
                enabled: true,
            })
            .await
            .map_err(io::Error::other)?;
        println!("listening on {}", info.listen);
        io::stdout().flush()?;
        std::future::pending::<io::Result<()>>().await
    })
}
