//! proxy-bench: Clipper's io_uring service proxy beside HAProxy (mode tcp), nginx's stream
//! module and IPVS, in one run on this machine, with the same cores for every proxy.
//!
//! Run: `cargo run --release -p clipper-perf --bin proxy-bench` (writes
//! perf/results/proxy.md and perf/results/proxy.png). `--quick` runs a tiny subset for CI in
//! a few seconds, skips (with a reason) whatever is not installed, and writes nothing unless
//! `--out` is given. The full run needs `haproxy`, `nginx` with `libnginx-mod-stream`, and
//! `wrk` (deploy/install-deps.sh installs them).
//!
//! Setup. Every proxy is a separate process pinned to the proxy cores (default: the last
//! core) with one worker per core: Clipper's proxy (this binary re-executed as
//! `--serve-clipper`, which runs `clipper_dataplane::start_with` exactly as `clipper proxy`
//! does), `haproxy -db` with `nbthread`, and nginx with `worker_processes`. The load
//! generators (wrk, the bench's own bulk and UDP clients), the nginx HTTP backend and the
//! bench's sinks are pinned to the other cores. All traffic is on 127.0.0.1. Measurements:
//! - keep-alive HTTP with wrk at 100 and 1,000 connections: requests/s and p50/p99/p99.9
//!   latency (wrk's own histogram, read by a Lua `done` hook), and each proxy's CPU time per
//!   request from /proc/<pid>/stat (utime + stime of the process and its children);
//! - new connections/s: wrk with `Connection: close` (every request a new TCP connection
//!   through the proxy and to the backend);
//! - bulk throughput with 1 and 8 streams into a sink, beside a plain copying relay (a
//!   thread pair per connection doing read/write) as the ceiling;
//! - UDP packets/s of 64-byte datagrams from 4 client sockets into a sink;
//! - endpoint churn: a service of 10,000 endpoints (distinct 127.1.x.y addresses, one nginx
//!   backend on the wildcard address answering at all of them) of which every second 10 %
//!   are removed, 10 % marked terminating and 10 % added while wrk drives keep-alive and
//!   new-connection load: update latency, requests/s with and without churn, failed
//!   requests, new connections still reaching taken-out endpoints (from the backend's log),
//!   proxy CPU. Clipper applies the updates itself (`--serve-clipper-churn`, with
//!   `ProxyHandle::apply` as dataplane/proxyd does), HAProxy through its stats socket on
//!   pre-declared server slots, nginx by reloads (it has no run-time API). `--only churn`
//!   runs this section alone and writes perf/results/proxy-churn.md instead of proxy.md.
//!
//! Processes the bench starts are killed when it ends, also on failure (and, through
//! PR_SET_PDEATHSIG, when the bench itself is killed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clipper_perf::{Table, machine_summary, median};

/// Bytes of the static file the HTTP backend serves (a small API-like response).
const BODY_BYTES: usize = 128;
/// Keep-alive connection counts measured (the issue's 100 and 1,000).
const KEEPALIVE_CONNECTIONS: [usize; 2] = [100, 1_000];
/// Concurrent connections of the new-connections measurement.
const CLOSE_CONNECTIONS: usize = 100;
/// Bulk stream counts measured.
const BULK_STREAMS: [usize; 2] = [1, 8];
/// Size of each write of the bulk client and of the copying relay's buffer.
const BULK_CHUNK_BYTES: usize = 64 * 1024;
/// Most writes one bulk stream makes in a phase (a bound beside the deadline: 2^20 × 64 KiB
/// = 64 GiB, more than loopback moves in a phase).
const BULK_MAX_WRITES: u64 = 1 << 20;
/// UDP datagram payload.
const UDP_PAYLOAD_BYTES: usize = 64;
/// UDP client sockets (= flows through the proxy).
const UDP_FLOWS: usize = 4;
/// Most datagrams a UDP phase sends (bound beside the deadline).
const UDP_MAX_DATAGRAMS: u64 = 100_000_000;
/// How long a server may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack beyond wrk's own duration before it is killed as hung.
const WRK_SLACK: Duration = Duration::from_secs(20);
/// Socket timeouts of the bench's own clients and servers: no read waits forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between phases so TIME_WAIT sockets and queues settle.
const SETTLE: Duration = Duration::from_millis(300);
/// File descriptors the bench and its children may open (1,000 connections through a proxy
/// need ~2,000 in the proxy, ~1,000 in wrk and in the backend).
const NOFILE: u64 = 65_536;

/// Scheduling priority of the bench and its processes (when allowed): ahead of other work.
const BENCH_NICE: libc::c_int = -20;

/// wrk's Lua hook: one machine-readable line with requests, duration (µs), errors and
/// latency percentiles (µs) from wrk's full histogram (its --latency text lacks p99.9),
/// then the errors by kind: connect, read, write, status (non-2xx/3xx), timeout.
const WRK_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d %d %d %d\n", summary.requests,
    summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"#;

struct Opts {
    quick: bool,
    reps: usize,
    keepalive: Duration,
    close: Duration,
    bulk: Duration,
    udp: Duration,
    out: Option<PathBuf>,
    plot: Option<PathBuf>,
    proxy_cpus: Vec<usize>,
    load_cpus: Vec<usize>,
    /// Taken before the bench pins itself (which narrows what it sees).
    machine: String,
    /// `--only churn`: the endpoint-churn section alone (its own results file).
    only_churn: bool,
    /// `--only udp`: the UDP section alone (its own results file).
    only_udp: bool,
    /// Endpoints of the churn service.
    churn_endpoints: usize,
    /// Length of each churn run (whole seconds: wrk's unit).
    churn_seconds: u64,
    /// Whether to measure each proxy without churn too (the reference for the ratios).
    churn_baseline: bool,
    /// Time between nginx reloads (each applies one update).
    nginx_reload_every: Duration,
    /// The arguments this run was started with, for the report.
    args: String,
    /// `nproc` before the bench pins itself.
    nproc: String,
}

fn parse_args() -> Result<Opts> {
    let allowed = affinity_cpus()?;
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let (proxy_default, load_default) = if allowed.len() >= 2 {
        let half = allowed.len() / 2;
        (allowed[half..].to_vec(), allowed[..half].to_vec())
    } else {
        (allowed.clone(), allowed.clone())
    };
    let mut o = Opts {
        quick: false,
        reps: 5,
        keepalive: Duration::from_secs(5),
        close: Duration::from_secs(3),
        bulk: Duration::from_secs(3),
        udp: Duration::from_secs(3),
        out: Some(results.join("proxy.md")),
        plot: Some(results.join("proxy.png")),
        proxy_cpus: proxy_default,
        load_cpus: load_default,
        machine: machine_summary(),
        only_churn: false,
        only_udp: false,
        churn_endpoints: CHURN_ENDPOINTS,
        churn_seconds: CHURN_SECONDS,
        churn_baseline: true,
        nginx_reload_every: NGINX_RELOAD_INTERVAL,
        args: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        nproc: nproc(),
    };
    let mut out_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                o.quick = true;
                o.reps = 1;
                o.keepalive = Duration::from_secs(1);
                o.close = Duration::from_secs(1);
                o.bulk = Duration::from_millis(300);
                o.udp = Duration::from_millis(300);
                o.out = None;
                o.plot = None;
                o.churn_endpoints = 200;
                o.churn_seconds = 3;
                o.churn_baseline = false;
                o.nginx_reload_every = CHURN_INTERVAL;
            }
            "--reps" => o.reps = args.next().context("--reps N")?.parse()?,
            "--seconds" => {
                let s = Duration::from_secs_f64(args.next().context("--seconds S")?.parse()?);
                (o.keepalive, o.close, o.bulk, o.udp) = (s, s, s, s);
            }
            "--out" => {
                let p = PathBuf::from(args.next().context("--out PATH")?);
                o.plot = Some(p.with_extension("png"));
                o.out = Some(p);
                out_given = true;
            }
            "--only" => match args.next().as_deref() {
                Some("churn") => o.only_churn = true,
                Some("udp") => o.only_udp = true,
                other => bail!("--only takes `churn`, `udp` or `apply`, not {other:?}"),
            },
            "--churn-endpoints" => {
                o.churn_endpoints = args.next().context("--churn-endpoints N")?.parse()?;
            }
            "--churn-seconds" => {
                o.churn_seconds = args.next().context("--churn-seconds S")?.parse()?;
            }
            "--nginx-reload-every" => {
                o.nginx_reload_every =
                    Duration::from_secs(args.next().context("--nginx-reload-every S")?.parse()?);
            }
            "--proxy-cpus" => o.proxy_cpus = parse_cpus(&args.next().context("--proxy-cpus")?)?,
            "--load-cpus" => o.load_cpus = parse_cpus(&args.next().context("--load-cpus")?)?,
            other => bail!(
                "unknown argument {other}; use --quick, --reps N, --seconds S, --out PATH.md, \
                 --proxy-cpus 1,2 --load-cpus 0, --only churn, --churn-endpoints N, \
                 --churn-seconds S, --nginx-reload-every S"
            ),
        }
    }
    if o.reps == 0 {
        bail!("--reps must be at least 1");
    }
    if o.only_udp {
        // As the churn section: a file of its own.
        o.plot = None;
        if !out_given && !o.quick {
            o.out = Some(results.join("proxy-udp.md"));
        }
    }
    if o.only_churn {
        // The churn section alone has a file of its own and leaves proxy.md as it is.
        o.plot = None;
        if !out_given && !o.quick {
            o.out = Some(results.join("proxy-churn.md"));
        }
    }
    // Bounds: endpoint ids stay below 254 · 65,024 (see `churn_addr`) and runs stay short.
    if !(2..=100_000).contains(&o.churn_endpoints) {
        bail!("--churn-endpoints must be 2..=100000");
    }
    if !(2..=600).contains(&o.churn_seconds) {
        bail!("--churn-seconds must be 2..=600");
    }
    if o.nginx_reload_every.is_zero() {
        bail!("--nginx-reload-every must be at least 1 s");
    }
    if o.proxy_cpus.is_empty() || o.load_cpus.is_empty() {
        bail!("--proxy-cpus and --load-cpus need at least one core each");
    }
    Ok(o)
}

fn parse_cpus(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|c| {
            c.trim()
                .parse()
                .with_context(|| format!("core number {c:?}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Processes: pinned, killed on drop and on the bench's death.

/// The cores this process may run on.
fn affinity_cpus() -> Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            bail!("sched_getaffinity: {}", std::io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}

/// Pins the calling thread (and the threads and processes it creates later) to `cpus`.
fn pin_current(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: as in `affinity_cpus`; CPU_SET indexes below CPU_SETSIZE only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raises the open-file limit for the bench and its children as far as allowed; returns the
/// limit in force.
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write a valid rlimit; failure (a lower hard limit
    // in a container) is fine: the bench then runs with what it has.
    unsafe {
        let mut cur: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) != 0 {
            return 1024;
        }
        let want = (NOFILE as libc::rlim_t).max(cur.rlim_cur);
        let up = libc::rlimit {
            rlim_cur: want,
            rlim_max: want.max(cur.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &up) != 0 {
            let soft = libc::rlimit {
                rlim_cur: cur.rlim_max,
                rlim_max: cur.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur);
        cur.rlim_cur as u64
    }
}

/// A started process, killed (SIGKILL) and reaped when dropped.
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` pinned to `cpus`, dying with the bench.
fn spawn(name: &str, mut cmd: Command, cpus: &[usize]) -> Result<Proc> {
    let cpus = cpus.to_vec();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, sched_setaffinity) on stack data.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            pin_current(&cpus)
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {name} ({cmd:?})"))?;
    Ok(Proc {
        name: name.into(),
        child,
    })
}

/// Waits for `child` at most `limit`; kills it if it takes longer.
fn wait_output(mut p: Proc, limit: Duration) -> Result<(String, String)> {
    let deadline = Instant::now() + limit;
    loop {
        if p.child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} did not finish within {limit:?}; killed", p.name);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = p.child.stdout.take() {
        o.read_to_string(&mut out)?;
    }
    if let Some(mut e) = p.child.stderr.take() {
        e.read_to_string(&mut err)?;
    }
    Ok((out, err))
}

/// CPU time (utime + stime) in seconds of `pid` and its direct children, those that ended
/// and were reaped included (cutime + cstime: nginx's old workers after a reload).
fn cpu_seconds(pid: u32) -> f64 {
    let hz = clipper_perf::clock_ticks_per_second();
    let fields = |p: &str| -> Option<Vec<u64>> {
        let text = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let rest = &text[text.rfind(')')? + 2..];
        // After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14);
        // the state letter parses as 0.
        Some(
            rest.split_whitespace()
                .take(15)
                .map(|x| x.parse().unwrap_or(0))
                .collect(),
        )
    };
    let stat = |p: &str| -> Option<(u32, u64)> {
        let f = fields(p)?;
        Some((u32::try_from(*f.get(1)?).ok()?, f.get(11)? + f.get(12)?))
    };
    let mut ticks = fields(&pid.to_string())
        .filter(|f| f.len() == 15)
        .map_or(0, |f| f[11] + f[12] + f[13] + f[14]);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.bytes().all(|b| b.is_ascii_digit())
                && let Some((ppid, t)) = stat(&name)
                && ppid == pid
            {
                ticks += t;
            }
        }
    }
    ticks as f64 / hz
}

/// A free loopback port (bound and released; the tiny race is acceptable on a test host).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until something accepts TCP connections on `addr`.
fn wait_tcp(addr: SocketAddr, who: &str) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{who} is not listening on {addr} after {READY_TIMEOUT:?}")
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// First line of a tool's version output.
fn version(tool: &str, arg: &str) -> String {
    Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Servers of the bench itself: bulk sink, UDP sink, copying relay.

/// Counts bytes received on accepted TCP connections until `stop`.
struct BulkSink {
    addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl BulkSink {
    fn start() -> Result<BulkSink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (bytes.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        let (b, s) = (b.clone(), s.clone());
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(IO_TIMEOUT));
                        std::thread::spawn(move || {
                            let mut buf = vec![0u8; 256 * 1024];
                            while !s.load(Ordering::Relaxed) {
                                match c.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        b.fetch_add(n as u64, Ordering::Relaxed);
                                    }
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(BulkSink { addr, bytes, stop })
    }
}

impl Drop for BulkSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Counts datagrams received on one UDP socket until `stop`.
struct UdpSink {
    addr: SocketAddr,
    packets: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl UdpSink {
    fn start() -> Result<UdpSink> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = sock.local_addr()?;
        let packets = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (packets.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if sock.recv(&mut buf).is_ok() {
                    p.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(UdpSink {
            addr,
            packets,
            stop,
        })
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Exits the process when stdin reaches EOF: the bench holds the pipe's other end, so a
/// server it started never outlives it.
fn exit_on_stdin_eof() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// `--serve-relay LISTEN TARGET`: the plain copying relay (two threads per connection,
/// blocking read/write through a 64 KiB buffer), the ceiling for bulk throughput.
fn serve_relay(listen: &str, target: &str) -> Result<()> {
    let listener = TcpListener::bind(listen)?;
    let target: SocketAddr = target.parse()?;
    println!("ready");
    std::io::stdout().flush()?;
    exit_on_stdin_eof();
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            continue;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        for (mut from, mut to) in [(client.try_clone()?, server.try_clone()?), (server, client)] {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; BULK_CHUNK_BYTES];
                loop {
                    match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            });
        }
    }
    Ok(())
}

/// `--serve-clipper CONFIG THREADS`: Clipper's proxy as `clipper proxy` runs it, in a process
/// of its own so that it is pinned and accounted like the other proxies.
fn serve_clipper(config: &str, threads: &str) -> Result<()> {
    let config = clipper_dataplane::Config::load(Path::new(config))?;
    let threads: usize = threads.parse()?;
    let handle = clipper_dataplane::start_with(
        &config,
        threads,
        clipper_dataplane::DriverOptions::default(),
    )?;
    println!("ready");
    std::io::stdout().flush()?;
    let mut sink = [0u8; 64];
    while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
    handle.shutdown()?;
    Ok(())
}

/// Starts this binary with `args` pinned to `cpus`; waits for its `ready` line.
fn spawn_self(name: &str, args: &[&str], cpus: &[usize]) -> Result<Proc> {
    spawn_self_reader(name, args, cpus).map(|(p, _)| p)
}

/// [`spawn_self`], keeping the reader of the process's stdout for what it prints later.
fn spawn_self_reader(
    name: &str,
    args: &[&str],
    cpus: &[usize],
) -> Result<(Proc, BufReader<std::process::ChildStdout>)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut p = spawn(name, cmd, cpus)?;
    let mut out = BufReader::new(p.child.stdout.take().context("stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    if line.trim() != "ready" {
        bail!("{name} failed to start");
    }
    Ok((p, out))
}

// ---------------------------------------------------------------------------------------
// The paths under test.

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Via {
    Direct,
    Clipper,
    HaProxy,
    Nginx,
    Ipvs,
    Relay,
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::Direct => "direct (no proxy)",
            Via::Clipper => "Clipper (io_uring)",
            Via::HaProxy => "HAProxy (mode tcp)",
            Via::Nginx => "nginx stream",
            Via::Ipvs => "IPVS",
            Via::Relay => "copying relay (ceiling)",
        }
    }
    fn short(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Clipper => "Clipper",
            Via::HaProxy => "HAProxy",
            Via::Nginx => "nginx",
            Via::Ipvs => "IPVS",
            Via::Relay => "relay",
        }
    }
}

/// Where a path accepts each kind of traffic, and the process to account CPU to.
struct Endpoint {
    http: Option<SocketAddr>,
    bulk: Option<SocketAddr>,
    udp: Option<SocketAddr>,
    proc: Option<Proc>,
}

/// The backends every path forwards to.
struct Backends {
    http: Option<SocketAddr>,
    bulk: BulkSink,
    udp: UdpSink,
    _nginx: Option<Proc>,
}

fn nginx_prefix(dir: &Path, name: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::create_dir_all(p.join("logs"))?;
    Ok(p)
}

/// The nginx HTTP backend: one worker, a `BODY_BYTES` static file, unlimited keep-alive.
fn start_nginx_backend(dir: &Path, cpus: &[usize], nofile: u64) -> Result<(SocketAddr, Proc)> {
    let prefix = nginx_prefix(dir, "backend")?;
    let www = prefix.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "x".repeat(BODY_BYTES - 1) + "\n")?;
    let port = free_port()?;
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile {nofile};\n\
         pid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
         events {{ worker_connections {conns}; multi_accept on; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000000;\n  keepalive_timeout 300s;\n\
         \x20 default_type text/html;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n\
         \x20 fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n\
         \x20 server {{ listen 127.0.0.1:{port} backlog=8192; root {w}; }}\n}}\n",
        p = prefix.display(),
        w = www.display(),
        conns = nofile.saturating_sub(100).max(1000),
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let p = spawn("nginx backend", cmd, cpus)?;
    let addr = loopback(port);
    wait_tcp(addr, "nginx backend")?;
    Ok((addr, p))
}

fn start_clipper(dir: &Path, b: &Backends, cpus: &[usize]) -> Result<Endpoint> {
    let (hp, bp, up) = (free_port()?, free_port()?, free_port()?);
    let mut yaml = String::from("services:\n");
    if let Some(h) = b.http {
        yaml += &format!(
            "  - name: http\n    listen: 127.0.0.1:{hp}\n    backends: [{{addr: \"{h}\"}}]\n"
        );
    }
    yaml += &format!(
        "  - name: bulk\n    listen: 127.0.0.1:{bp}\n    backends: [{{addr: \"{}\"}}]\n",
        b.bulk.addr
    );
    yaml += &format!(
        "  - name: udp\n    listen: 127.0.0.1:{up}\n    protocol: UDP\n    backends: [{{addr: \"{}\"}}]\n",
        b.udp.addr
    );
    let path = dir.join("clipper-proxy.yaml");
    std::fs::write(&path, yaml)?;
    let threads = cpus.len().to_string();
    let p = spawn_self(
        "clipper proxy",
        &[
            "--serve-clipper",
            path.to_str().context("utf-8 path")?,
            &threads,
        ],
        cpus,
    )?;
    Ok(Endpoint {
        http: b.http.map(|_| loopback(hp)),
        bulk: Some(loopback(bp)),
        udp: Some(loopback(up)),
        proc: Some(p),
    })
}

fn start_haproxy(dir: &Path, b: &Backends, cpus: &[usize], nofile: u64) -> Result<Endpoint> {
    let (hp, bp) = (free_port()?, free_port()?);
    let mut cfg = format!(
        "global\n  nbthread {}\n  maxconn {}\n\ndefaults\n  mode tcp\n  timeout connect 5s\n\
         \x20 timeout client 300s\n  timeout server 300s\n\n",
        cpus.len(),
        // Two descriptors per proxied connection, and some to spare.
        (nofile / 2).saturating_sub(100).max(1000)
    );
    if let Some(h) = b.http {
        cfg += &format!(
            "frontend http\n  bind 127.0.0.1:{hp}\n  default_backend http\nbackend http\n  server s1 {h}\n\n"
        );
    }
    cfg += &format!(
        "frontend bulk\n  bind 127.0.0.1:{bp}\n  default_backend bulk\nbackend bulk\n  server s1 {}\n",
        b.bulk.addr
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg)?;
    let log = std::fs::File::create(dir.join("haproxy.log"))?;
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let p = spawn("haproxy", cmd, cpus)?;
    wait_tcp(loopback(bp), "haproxy")
        .with_context(|| std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default())?;
    Ok(Endpoint {
        http: b.http.map(|_| loopback(hp)),
        bulk: Some(loopback(bp)),
        udp: None,
        proc: Some(p),
    })
}

fn start_nginx_stream(dir: &Path, b: &Backends, cpus: &[usize], nofile: u64) -> Result<Endpoint> {
    let prefix = nginx_prefix(dir, "stream")?;
    let (hp, bp, up) = (free_port()?, free_port()?, free_port()?);
    let workers = cpus.len();
    // One worker runs without a master (one process to account); more need the master.
    let master = if workers > 1 { "on" } else { "off" };
    let mut servers = String::new();
    if let Some(h) = b.http {
        servers += &format!(
            "  server {{ listen 127.0.0.1:{hp} backlog=8192; proxy_pass {h}; proxy_timeout 300s; }}\n"
        );
    }
    servers += &format!(
        "  server {{ listen 127.0.0.1:{bp} backlog=8192; proxy_pass {}; proxy_timeout 300s; }}\n",
        b.bulk.addr
    );
    servers += &format!(
        "  server {{ listen 127.0.0.1:{up} udp; proxy_pass {}; proxy_timeout 30s; }}\n",
        b.udp.addr
    );
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         daemon off;\nmaster_process {master};\nworker_processes {workers};\nworker_rlimit_nofile {nofile};\n\
         pid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
         events {{ worker_connections {conns}; multi_accept on; }}\n\
         stream {{\n{servers}}}\n",
        p = prefix.display(),
        // A stream connection holds two descriptors.
        conns = (nofile / 2).saturating_sub(100).max(1000),
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let p = spawn("nginx stream", cmd, cpus)?;
    wait_tcp(loopback(bp), "nginx stream").with_context(|| {
        std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
    })?;
    Ok(Endpoint {
        http: b.http.map(|_| loopback(hp)),
        bulk: Some(loopback(bp)),
        udp: Some(loopback(up)),
        proc: Some(p),
    })
}

/// IPVS needs the kernel's ip_vs; this says why it cannot run here, or None if it could.
fn ipvs_unavailable() -> Option<String> {
    if which("ipvsadm").is_none() {
        return Some("ipvsadm is not installed".into());
    }
    match Command::new("ipvsadm").arg("-Ln").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            Some(format!(
                "the kernel has no IPVS (`ipvsadm -Ln`: {})",
                err.lines().next().unwrap_or("failed").trim()
            ))
        }
        Err(e) => Some(format!("ipvsadm: {e}")),
    }
}

// ---------------------------------------------------------------------------------------
// Load.

/// One wrk run.
#[derive(Clone, Copy, Default)]
struct Http {
    rps: f64,
    requests: f64,
    errors: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// Proxy CPU seconds spent during the run (None for the direct path).
    cpu_s: Option<f64>,
    /// Socket errors: connect, read, write, timeout.
    socket_errors: f64,
    /// Responses with a status ≥ 400.
    status_errors: f64,
}

fn wrk(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    close: bool,
    lua: &Path,
    opts: &Opts,
    proxy_pid: Option<u32>,
) -> Result<Http> {
    let cpu0 = proxy_pid.map(cpu_seconds);
    let p = spawn_wrk(addr, connections, duration, close, lua, opts)?;
    let mut h = wrk_result(p, duration)?;
    h.cpu_s = proxy_pid.zip(cpu0).map(|(pid, c0)| cpu_seconds(pid) - c0);
    Ok(h)
}

/// Starts wrk against `addr` (`close`: every request on a new connection).
fn spawn_wrk(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    close: bool,
    lua: &Path,
    opts: &Opts,
) -> Result<Proc> {
    let threads = opts.load_cpus.len().min(connections).max(1);
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        // wrk takes whole seconds.
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(lua);
    if close {
        cmd.arg("-H").arg("Connection: close");
    }
    cmd.arg(format!("http://{addr}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn("wrk", cmd, &opts.load_cpus)
}

/// Waits for a wrk started by [`spawn_wrk`] and reads its result line.
fn wrk_result(p: Proc, duration: Duration) -> Result<Http> {
    let (out, err) = wait_output(p, duration + WRK_SLACK)?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .with_context(|| format!("wrk printed no result: {out}{err}"))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if v.len() < 6 {
        bail!("wrk result line {line:?}");
    }
    let secs = (v[1] / 1e6).max(1e-9);
    let kind = |i: usize| v.get(i).copied().unwrap_or(0.0);
    Ok(Http {
        rps: v[0] / secs,
        requests: v[0],
        errors: v[2],
        p50_us: v[3],
        p99_us: v[4],
        p999_us: v[5],
        cpu_s: None,
        socket_errors: kind(7) + kind(8) + kind(9) + kind(11),
        status_errors: kind(10),
    })
}

/// Bulk throughput in Gbit/s of `streams` connections writing into the sink via `addr`.
fn bulk(addr: SocketAddr, streams: usize, duration: Duration, sink: &BulkSink) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut conns = Vec::new();
    for _ in 0..streams {
        let s = TcpStream::connect(addr).with_context(|| format!("bulk connect {addr}"))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        conns.push(s);
    }
    let writers: Vec<_> = conns
        .into_iter()
        .map(|mut s| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let buf = vec![0x5au8; BULK_CHUNK_BYTES];
                for _ in 0..BULK_MAX_WRITES {
                    if stop.load(Ordering::Relaxed) || s.write_all(&buf).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // Warm-up: let the streams ramp before counting.
    std::thread::sleep(duration / 10);
    let (b0, t0) = (sink.bytes.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(duration);
    let (b1, t1) = (sink.bytes.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.join();
    }
    Ok((b1 - b0) as f64 * 8.0 / (t1 - t0).as_secs_f64() / 1e9)
}

/// UDP datagrams/s that reach the sink via `addr`, from `UDP_FLOWS` client sockets.
fn udp(addr: SocketAddr, duration: Duration, sink: &UdpSink) -> Result<f64> {
    let socks: Vec<UdpSocket> = (0..UDP_FLOWS)
        .map(|_| -> Result<UdpSocket> {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.connect(addr)?;
            Ok(s)
        })
        .collect::<Result<_>>()?;
    let payload = [0x42u8; UDP_PAYLOAD_BYTES];
    let (p0, t0) = (sink.packets.load(Ordering::Relaxed), Instant::now());
    let deadline = t0 + duration;
    let mut sent = 0u64;
    while sent < UDP_MAX_DATAGRAMS {
        for s in &socks {
            // A full socket buffer drops the datagram, as a network would.
            let _ = s.send(&payload);
        }
        sent += socks.len() as u64;
        if sent.is_multiple_of(1024) && Instant::now() >= deadline {
            break;
        }
    }
    // Datagrams still queued in the proxy arrive within a moment; count them.
    std::thread::sleep(Duration::from_millis(100));
    let p1 = sink.packets.load(Ordering::Relaxed);
    Ok((p1 - p0) as f64 / duration.as_secs_f64())
}

// ---------------------------------------------------------------------------------------
// Endpoint churn: a service with 10,000 endpoints that change every second while serving.

/// Endpoints of the churn service (the issue's 10,000).
const CHURN_ENDPOINTS: usize = 10_000;
/// Share of the endpoints each update changes in each of three ways (see [`ChurnSet::step`]).
const CHURN_PERCENT: usize = 10;
/// Time between updates (Clipper and HAProxy).
const CHURN_INTERVAL: Duration = Duration::from_secs(1);
/// Time between nginx reloads in the full run; each applies one update.
const NGINX_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// Length of a churn run.
const CHURN_SECONDS: u64 = 20;
/// wrk keep-alive connections during a churn run.
const CHURN_KEEPALIVE_CONNECTIONS: usize = 100;
/// wrk `Connection: close` clients during a churn run (at the same time).
const CHURN_CLOSE_CONNECTIONS: usize = 50;
/// A request that reaches an endpoint this long after the update that took the endpoint out
/// returned was balanced with an outdated endpoint list.
const STALE_AFTER_MS: f64 = 1_000.0;
/// HAProxy CLI: commands per connection (one `;`-separated line). HAProxy runs a line in one
/// go; with thousands of servers a command takes a fraction of a millisecond (finding the
/// server walks the list), and a line that keeps its thread busy for seconds makes its
/// watchdog abort the process.
const HAPROXY_CLI_BATCH: usize = 50;
/// Address of HAProxy's spare server slots (disabled): a request logged there is misrouted.
const SPARE_ADDR: [u8; 4] = [127, 255, 255, 254];
/// Longest HAProxy may take to start with the churn backend's server slots (it needs seconds
/// for 11,000 on this machine).
const HAPROXY_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one update (all its CLI commands, or an nginx reload) may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(10);
/// The churn backend flushes its log every 100 ms; this is waited before reading it.
const LOG_FLUSH: Duration = Duration::from_millis(500);
/// Seed of the churn sequence (plus the repetition number).
const CHURN_SEED: u64 = 0x6368_7572_6e00_0001;

/// The churn service's endpoints, identified by number, and their changes; deterministic for
/// a seed, so that the Clipper child (which applies the updates itself), the bench (which
/// drives HAProxy and nginx) and the backend-log check all see the same sequence.
#[derive(Clone)]
struct ChurnSet {
    ready: Vec<u32>,
    terminating: Vec<u32>,
    next_id: u32,
    per_update: usize,
    rng: clipper_dataplane::balance::SplitMix64,
}

/// One update, by endpoint number.
struct ChurnStep {
    /// Removed (they were marked terminating by the previous update).
    removed: Vec<u32>,
    /// Ready endpoints now marked terminating (serving, not ready).
    drained: Vec<u32>,
    /// New endpoints (ready).
    added: Vec<u32>,
}

impl ChurnSet {
    fn new(endpoints: usize, seed: u64) -> ChurnSet {
        Self::with_per_update(endpoints, (endpoints * CHURN_PERCENT / 100).max(1), seed)
    }

    /// As [`Self::new`] with `per_update` endpoints changed each way per update.
    fn with_per_update(endpoints: usize, per_update: usize, seed: u64) -> ChurnSet {
        ChurnSet {
            ready: (0..endpoints as u32).collect(),
            terminating: Vec::new(),
            next_id: endpoints as u32,
            per_update: per_update.max(1),
            rng: clipper_dataplane::balance::SplitMix64(seed),
        }
    }

    /// The next update: the endpoints the previous one marked terminating go, `per_update`
    /// random ready ones are marked terminating, `per_update` new ones come. The list keeps
    /// its length; each endpoint lives on as terminating for one interval, as a pod in its
    /// grace period does.
    fn step(&mut self) -> ChurnStep {
        let removed = std::mem::take(&mut self.terminating);
        let n = self.per_update.min(self.ready.len().saturating_sub(1));
        let mut drained = Vec::with_capacity(n);
        for _ in 0..n {
            let i = clipper_dataplane::balance::below(&mut self.rng, self.ready.len());
            drained.push(self.ready.swap_remove(i));
        }
        self.terminating.clone_from(&drained);
        let added: Vec<u32> = (self.next_id..self.next_id + self.per_update as u32).collect();
        self.next_id += self.per_update as u32;
        self.ready.extend(&added);
        ChurnStep {
            removed,
            drained,
            added,
        }
    }
}

/// Endpoint `id`'s address: 127.1.0.1, 127.1.0.2, … (254 per third octet, then the second
/// octet goes up). All of 127.0.0.0/8 is local, so one backend listening on the wildcard
/// address answers at each of them.
fn churn_addr(id: u32, port: u16) -> SocketAddr {
    let (hi, lo) = (id / 65_024, id % 65_024);
    SocketAddr::from((
        [
            127,
            (1 + hi).min(254) as u8,
            (lo / 254) as u8,
            (lo % 254 + 1) as u8,
        ],
        port,
    ))
}

/// The churn service as Clipper's control loop would hand it over: the full endpoint list,
/// ready ones and terminating (serving) ones.
fn churn_spec(
    set: &ChurnSet,
    listen: SocketAddr,
    port: u16,
) -> clipper_dataplane::service::ServiceSpec {
    churn_spec_with(set, listen, port, None)
}

/// [`churn_spec`], with ClientIP affinity (hence a Maglev table) when `affinity` is set.
fn churn_spec_with(
    set: &ChurnSet,
    listen: SocketAddr,
    port: u16,
    affinity: Option<clipper_dataplane::Nanos>,
) -> clipper_dataplane::service::ServiceSpec {
    use clipper_dataplane::service::{
        BalancerKind, Conditions, Endpoint, Protocol, ServiceKey, ServiceSpec,
    };
    let ep = |id: &u32, conditions| Endpoint {
        addr: churn_addr(*id, port),
        weight: 1,
        conditions,
    };
    ServiceSpec {
        name: "churn".into(),
        key: ServiceKey {
            addr: listen,
            protocol: Protocol::Tcp,
        },
        balancer: BalancerKind::RoundRobin,
        affinity_timeout: affinity,
        endpoints: set
            .ready
            .iter()
            .map(|i| ep(i, Conditions::READY))
            .chain(
                set.terminating
                    .iter()
                    .map(|i| ep(i, Conditions::SERVING_TERMINATING)),
            )
            .collect(),
    }
}

/// One [`ChurnStep`] as Clipper's control loop hands it over: the endpoint changes alone
/// (`Change::Endpoints`; dataplane/proxyd derives them by diffing the lists it holds).
fn churn_delta(step: &ChurnStep, port: u16) -> Vec<clipper_dataplane::service::EndpointChange> {
    use clipper_dataplane::service::{Conditions, Endpoint, EndpointChange};
    let ep = |id: &u32, conditions| Endpoint {
        addr: churn_addr(*id, port),
        weight: 1,
        conditions,
    };
    step.removed
        .iter()
        .map(|id| EndpointChange::Remove(churn_addr(*id, port)))
        .chain(
            step.drained
                .iter()
                .map(|id| EndpointChange::Set(ep(id, Conditions::SERVING_TERMINATING))),
        )
        .chain(
            step.added
                .iter()
                .map(|id| EndpointChange::Set(ep(id, Conditions::READY))),
        )
        .collect()
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall-clock time in milliseconds since the Unix epoch (the backend logs in this clock).
fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// `--serve-clipper-churn LISTEN BACKEND_PORT ENDPOINTS THREADS SEED TICKS INTERVAL_MS
/// UNTIL_MS`: Clipper's proxy serving the churn service on LISTEN. After `ready`, a `go` line
/// on stdin starts the updates: TICKS times, every INTERVAL_MS (none after UNTIL_MS), the
/// next [`ChurnSet::step`] is applied with `ProxyHandle::apply` — what the control loop in
/// dataplane/proxyd does — and one `TICK` line reports it. Runs until stdin closes.
fn serve_clipper_churn(a: &[String]) -> Result<()> {
    use clipper_dataplane::Change;
    let [
        listen,
        port,
        endpoints,
        threads,
        seed,
        ticks,
        interval_ms,
        until_ms,
    ] = a
    else {
        bail!("--serve-clipper-churn takes 8 arguments");
    };
    let listen: SocketAddr = listen.parse()?;
    let port: u16 = port.parse()?;
    let mut set = ChurnSet::new(endpoints.parse()?, seed.parse()?);
    let (ticks, interval, until): (u32, _, _) = (
        ticks.parse()?,
        Duration::from_millis(interval_ms.parse()?),
        Duration::from_millis(until_ms.parse()?),
    );
    let handle = clipper_dataplane::start_with(
        &clipper_dataplane::Config::default(),
        threads.parse()?,
        clipper_dataplane::DriverOptions::default(),
    )?;
    let spec = churn_spec(&set, listen, port);
    let key = spec.key;
    let report = handle.apply([Change::Upsert(spec)]);
    if let Some(e) = report.errors.first() {
        bail!("serving the churn service: {e}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    if stdin.read_line(&mut line)? > 0 && line.trim() == "go" {
        let t0 = Instant::now();
        for k in 1..=ticks {
            let at = t0 + interval * k;
            if at > t0 + until {
                break;
            }
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let b0 = Instant::now();
            let step = set.step();
            let delta = churn_delta(&step, port);
            let build = b0.elapsed();
            let c0 = thread_cpu();
            let a0 = Instant::now();
            let report = handle.apply([Change::Endpoints { key, delta }]);
            let latency = a0.elapsed();
            let cpu = thread_cpu().saturating_sub(c0);
            writeln!(
                out,
                "TICK {:.3} {} {} {} {}",
                unix_ms(),
                latency.as_nanos(),
                cpu.as_nanos(),
                build.as_nanos(),
                report.errors.len() + usize::from(report.table.compiled != 1)
            )?;
            out.flush()?;
        }
        writeln!(out, "DONE")?;
        out.flush()?;
    }
    let mut sink = [0u8; 64];
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    handle.shutdown()?;
    Ok(())
}

/// How [`apply_micro`] hands an update over.
#[derive(Clone, Copy, PartialEq)]
enum ApplyForm {
    /// `Change::Endpoints`: the changed endpoints only (what dataplane/proxyd sends).
    Delta,
    /// `Change::Upsert`: the full endpoint list (the form before deltas existed).
    FullList,
}

/// `apply` alone, without load: one variant of the sequence of updates.
struct ApplyMicro {
    /// What the service is and how much of it each update changes.
    label: String,
    endpoints: usize,
    /// Endpoints listed in an update that were not listed, or not with these conditions, in
    /// the one before (removed + newly terminating + added).
    changed: usize,
    /// Whether the proxy's driver ran (else the table alone was driven).
    driver: bool,
    /// Per update: `apply`'s wall time and the calling thread's CPU time, µs.
    wall_us: Vec<f64>,
    cpu_us: Vec<f64>,
    /// Maglev services: per update, from calling `apply` to the new table installed by the
    /// builder thread (`ProxyHandle::wait_maglev_builds`), µs.
    table_in_us: Vec<f64>,
}

/// Updates measured per variant of [`apply_micro`] (after [`APPLY_MICRO_WARMUP`] unmeasured
/// ones); fewer for the Maglev variant, whose updates take longer.
const APPLY_MICRO_UPDATES: usize = 200;
const APPLY_MICRO_MAGLEV_UPDATES: usize = 40;
const APPLY_MICRO_WARMUP: usize = 5;

/// `apply` of the churn sequence with nothing else running: a proxy with one thread and no
/// traffic (or the table alone where io_uring is missing), the calling thread timing each
/// `apply` of the change in `form` — wall and thread CPU, and for a Maglev service the time
/// until its new table is in. The change is built before the clock starts, as in the churn
/// runs.
fn apply_micro(
    label: &str,
    endpoints: usize,
    per_update: usize,
    affinity: bool,
    form: ApplyForm,
    updates: usize,
) -> Result<ApplyMicro> {
    use clipper_dataplane::Change;
    let affinity = affinity.then_some(10_800 * clipper_dataplane::SECOND);
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let port = 80;
    let mut set = ChurnSet::with_per_update(endpoints, per_update, CHURN_SEED);
    let driver = clipper_dataplane::uring::io_uring_available();
    let (handle, table) = if driver {
        let h = clipper_dataplane::start_with(
            &clipper_dataplane::Config::default(),
            1,
            clipper_dataplane::DriverOptions::default(),
        )?;
        (Some(h), None)
    } else {
        (None, Some(clipper_dataplane::TableHandle::default()))
    };
    let apply = |change: Change| -> Result<()> {
        if let Some(h) = &handle {
            let report = h.apply([change]);
            if let Some(e) = report.errors.first() {
                bail!("apply: {e}");
            }
        } else if let Some(t) = &table {
            t.apply([change]);
        }
        Ok(())
    };
    let first = churn_spec_with(&set, listen, port, affinity);
    let mut key = first.key;
    if let Some(h) = &handle {
        let report = h.apply([Change::Upsert(first)]);
        if let Some(e) = report.errors.first() {
            bail!("apply: {e}");
        }
        key.addr = report.listen_addr("churn").context("churn listener")?;
    } else {
        apply(Change::Upsert(first))?;
    }
    let mut m = ApplyMicro {
        label: label.to_string(),
        endpoints,
        changed: 3 * set.per_update,
        driver,
        wall_us: Vec::with_capacity(updates),
        cpu_us: Vec::with_capacity(updates),
        table_in_us: Vec::new(),
    };
    for k in 0..APPLY_MICRO_WARMUP + updates {
        let step = set.step();
        let change = match form {
            ApplyForm::Delta => Change::Endpoints {
                key,
                delta: churn_delta(&step, port),
            },
            ApplyForm::FullList => {
                let mut spec = churn_spec_with(&set, listen, port, affinity);
                spec.key = key;
                Change::Upsert(spec)
            }
        };
        let c0 = thread_cpu();
        let a0 = Instant::now();
        apply(change)?;
        let wall = a0.elapsed();
        let cpu = thread_cpu().saturating_sub(c0);
        // The Maglev table (built on the proxy's builder thread) is waited for before the next
        // update, so that updates do not pile up behind it.
        let table_in = match &handle {
            Some(h) if affinity.is_some() => {
                if !h.wait_maglev_builds(Duration::from_secs(10)) {
                    bail!("Maglev build not done within 10 s");
                }
                Some(a0.elapsed())
            }
            _ => None,
        };
        if k >= APPLY_MICRO_WARMUP {
            m.wall_us.push(wall.as_secs_f64() * 1e6);
            m.cpu_us.push(cpu.as_secs_f64() * 1e6);
            if let Some(t) = table_in {
                m.table_in_us.push(t.as_secs_f64() * 1e6);
            }
        }
    }
    if let Some(h) = handle {
        h.shutdown()?;
    }
    Ok(m)
}

/// The variants the report shows: the churn runs' update (10 % of the endpoints each way),
/// a smaller one (1 %), and the 10 % update of a service with ClientIP affinity, which
/// rebuilds its Maglev table.
fn apply_micro_all(endpoints: usize) -> Result<Vec<ApplyMicro>> {
    let ten = (endpoints * CHURN_PERCENT / 100).max(1);
    let one = (endpoints / 100).max(1);
    Ok(vec![
        apply_micro(
            "round robin, 10 % each way, delta",
            endpoints,
            ten,
            false,
            ApplyForm::Delta,
            APPLY_MICRO_UPDATES,
        )?,
        apply_micro(
            "round robin, 1 % each way, delta",
            endpoints,
            one,
            false,
            ApplyForm::Delta,
            APPLY_MICRO_UPDATES,
        )?,
        apply_micro(
            "round robin, 10 % each way, full list (`Upsert`)",
            endpoints,
            ten,
            false,
            ApplyForm::FullList,
            APPLY_MICRO_UPDATES,
        )?,
        apply_micro(
            "ClientIP affinity (Maglev table), 10 % each way, delta",
            endpoints,
            ten,
            true,
            ApplyForm::Delta,
            APPLY_MICRO_MAGLEV_UPDATES,
        )?,
    ])
}

/// The markdown table of [`apply_micro_all`].
fn apply_micro_section(ms: &[ApplyMicro]) -> String {
    let mut md = String::new();
    let mut t = Table::new(&[
        "service",
        "endpoints",
        "changed per update",
        "updates",
        "wall p50",
        "wall p99",
        "CPU p50",
        "CPU p99",
        "new Maglev table in, p50",
        "… p99",
    ]);
    for m in ms {
        let table_in = |p: f64| {
            if m.table_in_us.is_empty() {
                "–".to_string()
            } else {
                fmt_us(clipper_perf::percentile(&m.table_in_us, p))
            }
        };
        t.row_text(
            &m.label,
            &[
                fmt_count(m.endpoints),
                fmt_count(m.changed),
                m.wall_us.len().to_string(),
                fmt_us(median(&m.wall_us)),
                fmt_us(clipper_perf::percentile(&m.wall_us, 99.0)),
                fmt_us(median(&m.cpu_us)),
                fmt_us(clipper_perf::percentile(&m.cpu_us, 99.0)),
                table_in(50.0),
                table_in(99.0),
            ],
        );
    }
    md += &t.markdown();
    if ms.iter().any(|m| !m.driver) {
        md += "
io_uring is not available here: the table (`TableHandle::apply`) was driven \
               without the proxy's threads.\n";
    }
    md
}

/// `--only apply`: [`apply_micro_all`] alone, printed (and written to `--out` if given).
fn bench_apply_only() -> Result<()> {
    let mut endpoints = CHURN_ENDPOINTS;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => {
                args.next();
            }
            "--churn-endpoints" => {
                endpoints = args.next().context("--churn-endpoints N")?.parse()?;
            }
            "--out" => out = Some(PathBuf::from(args.next().context("--out PATH")?)),
            other => bail!("--only apply takes --churn-endpoints N and --out PATH, not {other}"),
        }
    }
    if !(2..=100_000).contains(&endpoints) {
        bail!("--churn-endpoints must be 2..=100000");
    }
    let ms = apply_micro_all(endpoints)?;
    let md = format!(
        "# `apply` of an endpoint update, alone\n\nGenerated by `cargo run --release -p \
         clipper-perf --bin proxy-bench -- --only apply`; machine: {}; 1-minute load average \
         {}.\n\n{}",
        machine_summary(),
        loadavg(),
        apply_micro_section(&ms)
    );
    println!("{md}");
    if let Some(out) = out {
        std::fs::write(&out, &md).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// One update as applied to a proxy.
#[derive(Clone, Copy, Default)]
struct Update {
    /// How long it took (what that spans depends on the proxy; see the report), µs.
    latency_us: f64,
    /// When it was in force, Unix ms.
    done_unix_ms: f64,
    /// Clipper: CPU time of the thread that called `apply`, µs.
    apply_cpu_us: Option<f64>,
    /// Clipper: building the endpoint list before `apply`, µs.
    build_us: Option<f64>,
    /// Failures the proxy reported (CLI error replies, a reload without new workers, …).
    errors: usize,
}

/// What the backend's log says about new connections (the `Connection: close` requests).
#[derive(Clone, Default)]
struct Routing {
    /// Requests logged.
    logged: u64,
    /// … to an endpoint after the update that took it out (terminating or removed) was in
    /// force.
    after_update: u64,
    /// … of which more than [`STALE_AFTER_MS`] after.
    stale: u64,
    /// … to an address that was never an endpoint in this run.
    unknown: u64,
    /// Per update: the last request to an endpoint it took out, ms after the update was in
    /// force (0 if none came after).
    settle_ms: Vec<f64>,
}

/// One run of a proxy with or without churn.
struct ChurnRun {
    keep: Http,
    close: Http,
    /// Proxy CPU seconds per wall second over the wrk run.
    cpu_cores: f64,
    updates: Vec<Update>,
    /// Updates planned but not started in time (the previous one was still running).
    skipped: usize,
    routing: Routing,
    /// nginx: most worker processes seen at once during the run (old ones still draining
    /// their connections included).
    peak_workers: Option<usize>,
    /// From starting the proxy to its serving the initial endpoints, seconds.
    start_s: f64,
}

#[derive(Default)]
struct ChurnResults {
    endpoints: usize,
    per_update: usize,
    /// (path, with churn) → runs.
    runs: BTreeMap<(Via, bool), Vec<ChurnRun>>,
    unavailable: BTreeMap<Via, String>,
    backend_port: u16,
    /// Clipper's `apply` of the same kind of update with nothing else running.
    apply_alone: Vec<ApplyMicro>,
}

/// The churn backend: nginx (1 worker) on the wildcard address, answering loopback peers
/// only, logging `$msec $server_addr` of every `Connection: close` request.
struct ChurnBackend {
    port: u16,
    log: PathBuf,
    _proc: Proc,
}

fn start_churn_backend(dir: &Path, cpus: &[usize], nofile: u64) -> Result<ChurnBackend> {
    let prefix = nginx_prefix(dir, "churn-backend")?;
    let www = prefix.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "x".repeat(BODY_BYTES - 1) + "\n")?;
    let port = free_port()?;
    let log = prefix.join("logs/churn.log");
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile {nofile};\n\
         pid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
         events {{ worker_connections {conns}; multi_accept on; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000000;\n  keepalive_timeout 300s;\n\
         \x20 default_type text/html;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n\
         \x20 fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n\
         \x20 log_format churn '$msec $server_addr';\n\
         \x20 map $http_connection $churn_close {{ ~*close 1; default 0; }}\n\
         \x20 server {{\n    listen {port} backlog=8192;\n    allow 127.0.0.0/8;\n    deny all;\n\
         \x20   root {w};\n    access_log {l} churn buffer=256k flush=100ms if=$churn_close;\n  }}\n}}\n",
        p = prefix.display(),
        w = www.display(),
        l = log.display(),
        conns = nofile.saturating_sub(100).max(1000),
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let p = spawn("nginx churn backend", cmd, cpus)?;
    // An endpoint address other than 127.0.0.1 proves the wildcard listener answers there.
    wait_tcp(churn_addr(0, port), "nginx churn backend")?;
    Ok(ChurnBackend {
        port,
        log,
        _proc: p,
    })
}

/// What the runs of the churn section share.
struct ChurnCtx<'a> {
    o: &'a Opts,
    dir: &'a Path,
    lua: &'a Path,
    nofile: u64,
    backend: &'a ChurnBackend,
}

/// A proxy serving the churn service, and what its updates go through.
enum ChurnProxy {
    Clipper {
        proc: Proc,
        out: BufReader<std::process::ChildStdout>,
    },
    HaProxy {
        proc: Proc,
        sock: PathBuf,
    },
    Nginx {
        proc: Proc,
        conf: PathBuf,
        prefix: PathBuf,
    },
}

impl Drop for ChurnProxy {
    /// nginx's workers are children of its master, not of the bench: a master killed with
    /// SIGKILL would leave them running. SIGTERM makes the master stop them and exit; what is
    /// left after a bounded wait is killed.
    fn drop(&mut self) {
        if let ChurnProxy::Nginx { proc, .. } = self {
            let pid = proc.pid();
            // SAFETY: kill has no memory-safety preconditions; `pid` is our child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(proc.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            for c in children(pid) {
                // SAFETY: as above; these are the master's (so the bench's) descendants.
                unsafe { libc::kill(c as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

impl ChurnProxy {
    fn pid(&self) -> u32 {
        match self {
            ChurnProxy::Clipper { proc, .. }
            | ChurnProxy::HaProxy { proc, .. }
            | ChurnProxy::Nginx { proc, .. } => proc.pid(),
        }
    }
}

/// When updates happen in one run.
#[derive(Clone, Copy)]
struct Plan {
    t0: Instant,
    interval: Duration,
    ticks: u32,
    /// No update starts after this.
    until: Instant,
}

fn haproxy_churn_config(ctx: &ChurnCtx, set: &ChurnSet, listen: SocketAddr, sock: &Path) -> String {
    let port = ctx.backend.port;
    let mut cfg = format!(
        "global\n  nbthread {}\n  maxconn {}\n  stats socket {} mode 600 level admin\n  stats timeout 60s\n\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 300s\n  timeout server 300s\n\n\
         frontend churn\n  bind {listen}\n  default_backend churn\n\n\
         # roundrobin is limited by design to 4,095 active servers; static-rr recomputes its\n\
         # whole map on every server state change (seconds at 11,000 slots). random (power of\n\
         # two choices) is dynamic and has no limit.\n\
         backend churn\n  balance random\n",
        ctx.o.proxy_cpus.len(),
        (ctx.nofile / 2).saturating_sub(100).max(1000),
        sock.display(),
    );
    // Slot i holds endpoint i at start; `per_update` spare slots take new endpoints.
    for id in &set.ready {
        cfg += &format!("  server s{id} {}\n", churn_addr(*id, port));
    }
    let spare = SocketAddr::from((SPARE_ADDR, port));
    for slot in set.ready.len()..set.ready.len() + set.per_update {
        cfg += &format!("  server s{slot} {spare} disabled\n");
    }
    cfg
}

fn nginx_churn_config(ctx: &ChurnCtx, set: &ChurnSet, listen: SocketAddr, prefix: &Path) -> String {
    let port = ctx.backend.port;
    let mut upstream = String::new();
    for id in &set.ready {
        upstream += &format!("    server {};\n", churn_addr(*id, port));
    }
    // Terminating endpoints take no new connections (ready ones exist); existing ones stay.
    for id in &set.terminating {
        upstream += &format!("    server {} down;\n", churn_addr(*id, port));
    }
    format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         daemon off;\nmaster_process on;\nworker_processes {workers};\nworker_rlimit_nofile {nofile};\n\
         pid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\n\
         events {{ worker_connections {conns}; multi_accept on; }}\n\
         stream {{\n  upstream churn {{\n{upstream}  }}\n\
         \x20 server {{ listen {listen} backlog=8192; proxy_pass churn; proxy_timeout 300s; }}\n}}\n",
        workers = ctx.o.proxy_cpus.len(),
        nofile = ctx.nofile,
        p = prefix.display(),
        conns = (ctx.nofile / 2).saturating_sub(100).max(1000),
    )
}

/// Starts `via` serving the churn service with the initial endpoints of `seed`.
fn start_churn_proxy(
    ctx: &ChurnCtx,
    via: Via,
    seed: u64,
    plan: (u32, Duration),
) -> Result<(SocketAddr, ChurnProxy)> {
    let o = ctx.o;
    let set = ChurnSet::new(o.churn_endpoints, seed);
    let listen = loopback(free_port()?);
    match via {
        Via::Clipper => {
            let args: Vec<String> = vec![
                "--serve-clipper-churn".into(),
                listen.to_string(),
                ctx.backend.port.to_string(),
                o.churn_endpoints.to_string(),
                o.proxy_cpus.len().to_string(),
                seed.to_string(),
                plan.0.to_string(),
                plan.1.as_millis().to_string(),
                (o.churn_seconds * 1000).to_string(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (proc, out) = spawn_self_reader("clipper proxy (churn)", &args, &o.proxy_cpus)?;
            Ok((listen, ChurnProxy::Clipper { proc, out }))
        }
        Via::HaProxy => {
            let sock = ctx.dir.join("haproxy-churn.sock");
            let _ = std::fs::remove_file(&sock);
            let path = ctx.dir.join("haproxy-churn.cfg");
            std::fs::write(&path, haproxy_churn_config(ctx, &set, listen, &sock))?;
            let log_path = ctx.dir.join("haproxy-churn.log");
            let log = std::fs::File::create(&log_path)?;
            let mut cmd = Command::new("haproxy");
            cmd.arg("-db")
                .arg("-f")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let proc = spawn("haproxy (churn)", cmd, &o.proxy_cpus)?;
            // Its sockets exist before it serves (it binds, then sets up 10,000 servers, then
            // listens): ready once the stats socket answers.
            wait_haproxy_cli(&sock)
                .with_context(|| std::fs::read_to_string(&log_path).unwrap_or_default())?;
            wait_tcp(listen, "haproxy (churn)")?;
            Ok((listen, ChurnProxy::HaProxy { proc, sock }))
        }
        Via::Nginx => {
            let prefix = nginx_prefix(ctx.dir, "stream-churn")?;
            let conf = prefix.join("nginx.conf");
            std::fs::write(&conf, nginx_churn_config(ctx, &set, listen, &prefix))?;
            let mut cmd = Command::new("nginx");
            cmd.arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(prefix.join("logs/error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let proc = spawn("nginx stream (churn)", cmd, &o.proxy_cpus)?;
            wait_tcp(listen, "nginx stream (churn)").with_context(|| {
                std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
            })?;
            Ok((listen, ChurnProxy::Nginx { proc, conf, prefix }))
        }
        other => bail!("{} has no churn driver", other.label()),
    }
}

/// Clipper applies its updates itself; this starts them and reads its `TICK` lines.
/// The child's stdin stays open: the proxy stops when it closes.
fn drive_clipper(
    stdin: Option<&mut std::process::ChildStdin>,
    out: &mut BufReader<std::process::ChildStdout>,
    ticks: u32,
) -> Result<Vec<Update>> {
    let stdin = stdin.context("the Clipper proxy's stdin")?;
    stdin.write_all(b"go\n")?;
    stdin.flush()?;
    let mut updates = Vec::new();
    // One line per tick and DONE: bounded.
    for _ in 0..=ticks {
        let mut line = String::new();
        if out.read_line(&mut line)? == 0 {
            bail!("the Clipper proxy ended during the churn");
        }
        let line = line.trim();
        if line == "DONE" {
            break;
        }
        let v: Vec<f64> = line
            .strip_prefix("TICK ")
            .with_context(|| format!("unexpected line from the Clipper proxy: {line}"))?
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(f64::NAN))
            .collect();
        if v.len() != 5 || v.iter().any(|x| x.is_nan()) {
            bail!("bad TICK line from the Clipper proxy: {line}");
        }
        updates.push(Update {
            done_unix_ms: v[0],
            latency_us: v[1] / 1e3,
            apply_cpu_us: Some(v[2] / 1e3),
            build_us: Some(v[3] / 1e3),
            errors: v[4] as usize,
        });
    }
    Ok(updates)
}

/// Sends `commands` to HAProxy's stats socket, [`HAPROXY_CLI_BATCH`] per connection as one
/// `;`-separated line (HAProxy runs a line's commands in order and closes), one connection
/// after another. Returns the error replies (anything but the empty reply of `state` and
/// the "IP changed" of `addr`).
fn haproxy_cli(sock: &Path, commands: &[String]) -> Result<Vec<String>> {
    let mut errors = Vec::new();
    for batch in commands.chunks(HAPROXY_CLI_BATCH) {
        let line = batch.join("; ");
        let mut s = std::os::unix::net::UnixStream::connect(sock)
            .with_context(|| format!("connecting to {}", sock.display()))?;
        s.set_read_timeout(Some(UPDATE_TIMEOUT))?;
        s.set_write_timeout(Some(UPDATE_TIMEOUT))?;
        s.write_all(line.as_bytes())?;
        s.write_all(b"\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)
            .context("reading HAProxy's reply")?;
        errors.extend(
            reply
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("IP changed"))
                .map(str::to_string),
        );
    }
    Ok(errors)
}

/// Waits until HAProxy's stats socket answers `show info`.
fn wait_haproxy_cli(sock: &Path) -> Result<()> {
    let deadline = Instant::now() + HAPROXY_START_TIMEOUT;
    while Instant::now() < deadline {
        if haproxy_cli(sock, &["show info".to_string()]).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "haproxy's stats socket {} does not answer after {HAPROXY_START_TIMEOUT:?}",
        sock.display()
    )
}

/// HAProxy: each update as runtime-API commands on pre-declared server slots — `maint` for
/// removed endpoints, `drain` for terminating ones, `addr` + `ready` on a free slot for new
/// ones — what HAProxy users do with `server-template` slots.
fn drive_haproxy(
    sock: &Path,
    mut set: ChurnSet,
    port: u16,
    plan: Plan,
) -> Result<(Vec<Update>, usize)> {
    let mut slot_of: std::collections::HashMap<u32, usize> =
        set.ready.iter().map(|id| (*id, *id as usize)).collect();
    let mut free: std::collections::VecDeque<usize> =
        (set.ready.len()..set.ready.len() + set.per_update).collect();
    let mut updates = Vec::new();
    let mut skipped = 0;
    for k in 1..=plan.ticks {
        let at = plan.t0 + plan.interval * k;
        if Instant::now().max(at) > plan.until {
            skipped += 1;
            continue;
        }
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let step = set.step();
        let mut commands = Vec::with_capacity(4 * set.per_update);
        for id in &step.removed {
            let slot = slot_of
                .remove(id)
                .context("removed endpoint without a slot")?;
            commands.push(format!("set server churn/s{slot} state maint"));
            free.push_back(slot);
        }
        for id in &step.drained {
            let slot = slot_of.get(id).context("drained endpoint without a slot")?;
            commands.push(format!("set server churn/s{slot} state drain"));
        }
        for id in &step.added {
            let slot = free.pop_front().context("no free HAProxy server slot")?;
            slot_of.insert(*id, slot);
            let ip = churn_addr(*id, port).ip();
            commands.push(format!("set server churn/s{slot} addr {ip}"));
            commands.push(format!("set server churn/s{slot} state ready"));
        }
        let t = Instant::now();
        let errors = haproxy_cli(sock, &commands)?;
        updates.push(Update {
            latency_us: t.elapsed().as_secs_f64() * 1e6,
            done_unix_ms: unix_ms(),
            errors: errors.len(),
            ..Update::default()
        });
        if let Some(e) = errors.first() {
            eprintln!("  haproxy: {} error replies, first: {e}", errors.len());
        }
    }
    Ok((updates, skipped))
}

/// The children of `pid` (from /proc/PID/task/PID/children, or, on kernels without it, from
/// every process's parent in /proc).
fn children(pid: u32) -> Vec<u32> {
    if let Ok(list) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return list
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    let ppid = |p: &str| -> Option<u32> {
        let text = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        text[text.rfind(')')? + 2..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
                .filter(|c| ppid(&c.to_string()) == Some(pid))
                .collect()
        })
        .unwrap_or_default()
}

/// nginx workers of `master` that have finished starting (their title is set at the end of
/// their initialisation) and are not shutting down.
fn nginx_workers(master: u32) -> Vec<u32> {
    children(master)
        .into_iter()
        .filter(|c| {
            let cmd = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("worker process") && !cmd.contains("shutting down")
        })
        .collect()
}

/// nginx: each update a rewritten configuration and a reload (SIGHUP to the master); the
/// update is in force when the master has started the new workers.
fn drive_nginx(
    ctx: &ChurnCtx,
    master: u32,
    conf: &Path,
    prefix: &Path,
    listen: SocketAddr,
    mut set: ChurnSet,
    plan: Plan,
) -> Result<(Vec<Update>, usize, usize)> {
    let workers = ctx.o.proxy_cpus.len();
    let mut updates = Vec::new();
    let mut skipped = 0;
    let mut peak = children(master).len();
    for k in 1..=plan.ticks {
        let at = plan.t0 + plan.interval * k;
        if Instant::now().max(at) > plan.until {
            skipped += 1;
            continue;
        }
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        set.step();
        let tmp = conf.with_extension("conf.new");
        std::fs::write(&tmp, nginx_churn_config(ctx, &set, listen, prefix))?;
        std::fs::rename(&tmp, conf)?;
        let old: Vec<u32> = children(master);
        peak = peak.max(old.len());
        let t = Instant::now();
        // SAFETY: kill has no memory-safety preconditions; `master` is our child.
        unsafe { libc::kill(master as libc::pid_t, libc::SIGHUP) };
        let mut errors = 1;
        while t.elapsed() < UPDATE_TIMEOUT {
            let fresh = nginx_workers(master)
                .into_iter()
                .filter(|w| !old.contains(w))
                .count();
            if fresh >= workers {
                errors = 0;
                peak = peak.max(children(master).len());
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        updates.push(Update {
            latency_us: t.elapsed().as_secs_f64() * 1e6,
            done_unix_ms: unix_ms(),
            errors,
            ..Update::default()
        });
        if errors > 0 {
            eprintln!("  nginx: no new workers {UPDATE_TIMEOUT:?} after the reload");
        }
    }
    peak = peak.max(children(master).len());
    Ok((updates, skipped, peak))
}

/// Checks the backend's log of new-connection requests against the updates: which requests
/// reached an endpoint after the update that took it out was in force.
fn routing(log: &str, endpoints: usize, seed: u64, port: u16, updates: &[Update]) -> Routing {
    use std::collections::{HashMap, HashSet};
    let mut set = ChurnSet::new(endpoints, seed);
    let ip = |id: u32| churn_addr(id, port).ip();
    let mut known: HashSet<std::net::IpAddr> = set.ready.iter().map(|i| ip(*i)).collect();
    let mut out_at: HashMap<std::net::IpAddr, (usize, f64)> = HashMap::new();
    for (i, u) in updates.iter().enumerate() {
        let step = set.step();
        for id in step.drained {
            out_at.insert(ip(id), (i, u.done_unix_ms));
        }
        known.extend(step.added.into_iter().map(ip));
    }
    let mut r = Routing {
        settle_ms: vec![0.0; updates.len()],
        ..Routing::default()
    };
    for line in log.lines() {
        let mut f = line.split_whitespace();
        let (Some(Ok(t)), Some(Ok(addr))) = (
            f.next().map(str::parse::<f64>),
            f.next().map(str::parse::<std::net::IpAddr>),
        ) else {
            continue;
        };
        let t_ms = t * 1e3;
        r.logged += 1;
        if !known.contains(&addr) {
            r.unknown += 1;
        }
        if let Some((i, done)) = out_at.get(&addr)
            && t_ms >= *done
        {
            let late = t_ms - done;
            r.after_update += 1;
            r.settle_ms[*i] = r.settle_ms[*i].max(late);
            if late > STALE_AFTER_MS {
                r.stale += 1;
            }
        }
    }
    r
}

/// One run: a fresh proxy with the initial endpoints; both wrk loads for `churn_seconds`;
/// with `churn`, the updates meanwhile.
fn churn_run(ctx: &ChurnCtx, via: Via, churn: bool, seed: u64) -> Result<ChurnRun> {
    let o = ctx.o;
    let secs = o.churn_seconds;
    let interval = if via == Via::Nginx {
        o.nginx_reload_every
    } else {
        CHURN_INTERVAL
    };
    // Updates at interval, 2·interval, … while wrk runs (none in its last second).
    let ticks = if churn {
        ((secs.saturating_sub(1) * 1000) / (interval.as_millis() as u64).max(1)) as u32
    } else {
        0
    };
    let s0 = Instant::now();
    let (listen, mut proxy) = start_churn_proxy(ctx, via, seed, (ticks, interval))?;
    let start_s = s0.elapsed().as_secs_f64();
    let pid = proxy.pid();
    let log_from = std::fs::metadata(&ctx.backend.log).map_or(0, |m| m.len());
    let dur = Duration::from_secs(secs);
    let cpu0 = cpu_seconds(pid);
    let w0 = Instant::now();
    let keep = spawn_wrk(listen, CHURN_KEEPALIVE_CONNECTIONS, dur, false, ctx.lua, o)?;
    let close = spawn_wrk(listen, CHURN_CLOSE_CONNECTIONS, dur, true, ctx.lua, o)?;
    let plan = Plan {
        t0: Instant::now(),
        interval,
        ticks,
        until: Instant::now() + dur,
    };
    let set = ChurnSet::new(o.churn_endpoints, seed);
    let port = ctx.backend.port;
    let (keep, close, cpu_s, wall, driven) = std::thread::scope(|s| {
        type Driven = (Vec<Update>, usize, Option<usize>);
        let driver = s.spawn(|| -> Result<Driven> {
            match &mut proxy {
                _ if ticks == 0 => Ok((Vec::new(), 0, None)),
                ChurnProxy::Clipper { proc, out } => {
                    drive_clipper(proc.child.stdin.as_mut(), out, ticks).map(|u| (u, 0, None))
                }
                ChurnProxy::HaProxy { sock, .. } => {
                    drive_haproxy(sock, set, port, plan).map(|(u, sk)| (u, sk, None))
                }
                ChurnProxy::Nginx { conf, prefix, .. } => {
                    drive_nginx(ctx, pid, conf, prefix, listen, set, plan)
                        .map(|(u, sk, peak)| (u, sk, Some(peak)))
                }
            }
        });
        let keep = wrk_result(keep, dur);
        let close = wrk_result(close, dur);
        let (cpu_s, wall) = (cpu_seconds(pid) - cpu0, w0.elapsed().as_secs_f64());
        // The drivers are bounded by their own timeouts; a Clipper child that stopped
        // answering is killed, which ends the reader.
        let deadline = Instant::now() + UPDATE_TIMEOUT + WRK_SLACK;
        while !driver.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !driver.is_finished() {
            // SAFETY: kill has no memory-safety preconditions; `pid` is our child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let driven = driver
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the churn driver panicked")));
        (keep, close, cpu_s, wall, driven)
    });
    let (keep, close) = (keep?, close?);
    let (updates, skipped, peak_workers) =
        driven.with_context(|| format!("churn through {}", via.label()))?;
    drop(proxy);
    std::thread::sleep(LOG_FLUSH);
    let log = std::fs::read(&ctx.backend.log)
        .map(|b| String::from_utf8_lossy(&b[(log_from as usize).min(b.len())..]).into_owned())
        .unwrap_or_default();
    let routing = routing(&log, o.churn_endpoints, seed, port, &updates);
    Ok(ChurnRun {
        keep,
        close,
        cpu_cores: cpu_s / wall.max(1e-9),
        updates,
        skipped,
        routing,
        peak_workers,
        start_s,
    })
}

/// The churn section: every available proxy, with and without churn, `reps` times.
fn run_churn(o: &Opts, dir: &Path, lua: &Path, nofile: u64) -> Result<ChurnResults> {
    // First, before anything else runs: `apply` alone.
    let apply_alone = apply_micro_all(o.churn_endpoints)?;
    let backend = start_churn_backend(dir, &o.load_cpus, nofile)?;
    let ctx = ChurnCtx {
        o,
        dir,
        lua,
        nofile,
        backend: &backend,
    };
    let mut c = ChurnResults {
        endpoints: o.churn_endpoints,
        per_update: ChurnSet::new(o.churn_endpoints, 0).per_update,
        backend_port: backend.port,
        apply_alone,
        ..ChurnResults::default()
    };
    let mut paths = Vec::new();
    if clipper_dataplane::uring::io_uring_available() {
        paths.push(Via::Clipper);
    } else {
        c.unavailable.insert(
            Via::Clipper,
            "io_uring is not available on this host".into(),
        );
    }
    if which("haproxy").is_some() {
        paths.push(Via::HaProxy);
    } else {
        c.unavailable
            .insert(Via::HaProxy, "haproxy is not installed".into());
    }
    if Path::new("/usr/lib/nginx/modules/ngx_stream_module.so").is_file() {
        paths.push(Via::Nginx);
    } else {
        c.unavailable.insert(
            Via::Nginx,
            "the nginx stream module is not installed".into(),
        );
    }
    c.unavailable.insert(
        Via::Ipvs,
        ipvs_unavailable().unwrap_or_else(|| {
            "this section does not drive IPVS (it would be one `ipvsadm` edit per real server)"
                .into()
        }),
    );
    for rep in 0..o.reps {
        eprintln!(
            "proxy-bench: churn repetition {}/{} ({} endpoints)",
            rep + 1,
            o.reps,
            o.churn_endpoints
        );
        let seed = CHURN_SEED + rep as u64;
        // Without and with churn, the order alternating between repetitions.
        let modes: &[bool] = match (o.churn_baseline, rep % 2) {
            (false, _) => &[true],
            (true, 0) => &[false, true],
            (true, _) => &[true, false],
        };
        for &p in &paths {
            for &churn in modes {
                let run = churn_run(&ctx, p, churn, seed).with_context(|| {
                    format!(
                        "{} through {}",
                        if churn { "churn" } else { "no churn" },
                        p.label()
                    )
                })?;
                let lat: Vec<f64> = run.updates.iter().map(|u| u.latency_us).collect();
                eprintln!(
                    "  {:<8} {:<20} keep-alive {:>8} req/s  new conns {:>7}/s  failed {}+{}/{}+{}  cpu {:.2}  updates {} (p50 {}, max {})  after-update {} stale {}",
                    if churn { "churn" } else { "no churn" },
                    p.label(),
                    fmt_rate(run.keep.rps),
                    fmt_rate(run.close.rps),
                    run.keep.socket_errors,
                    run.close.socket_errors,
                    run.keep.status_errors,
                    run.close.status_errors,
                    run.cpu_cores,
                    run.updates.len(),
                    fmt_dur_us(median(&lat)),
                    fmt_dur_us(lat.iter().copied().fold(0.0, f64::max)),
                    run.routing.after_update,
                    run.routing.stale,
                );
                c.runs.entry((p, churn)).or_default().push(run);
                std::thread::sleep(SETTLE);
            }
        }
    }
    Ok(c)
}

/// Workers (threads or processes) each proxy runs.
fn ctx_workers(o: &Opts) -> usize {
    o.proxy_cpus.len()
}

/// A duration in µs, in ms below 1 s and in s above.
fn fmt_dur_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else {
        fmt_us(us)
    }
}

/// Every update of a path's churn runs.
fn churn_updates(runs: &[ChurnRun]) -> Vec<Update> {
    runs.iter()
        .flat_map(|r| r.updates.iter().copied())
        .collect()
}

/// The target line of issue #6 for churn.
fn churn_target(c: &ChurnResults) -> String {
    let Some(runs) = c.runs.get(&(Via::Clipper, true)) else {
        return "- a 10,000-endpoint update applied in ≤ 5 ms with zero failed requests: not measured in this run.\n".into();
    };
    let lat: Vec<f64> = churn_updates(runs).iter().map(|u| u.latency_us).collect();
    let p99 = clipper_perf::percentile(&lat, 99.0);
    let failed: f64 = runs.iter().map(|r| r.keep.errors + r.close.errors).sum();
    let stale: u64 = runs.iter().map(|r| r.routing.stale).sum();
    let ok = p99 <= 5_000.0 && failed == 0.0 && stale == 0 && c.endpoints >= CHURN_ENDPOINTS;
    let alone = c
        .apply_alone
        .first()
        .map(|m| {
            format!(
                " (p50 {}; `apply` alone, without load: p50 {}, p99 {})",
                fmt_dur_us(median(&lat)),
                fmt_dur_us(median(&m.wall_us)),
                fmt_dur_us(clipper_perf::percentile(&m.wall_us, 99.0))
            )
        })
        .unwrap_or_default();
    format!(
        "- a {}-endpoint update applied in ≤ 5 ms with zero failed requests: update p99 under \
         load {}{alone}, {failed:.0} failed requests, {stale} requests routed by an outdated \
         list{} — {}\n",
        fmt_count(c.endpoints),
        fmt_dur_us(p99),
        if c.endpoints < CHURN_ENDPOINTS {
            " (fewer endpoints than the target's 10,000)"
        } else {
            ""
        },
        if ok { "**met**" } else { "**not met**" }
    )
}

/// 10000 → "10,000".
fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The churn section of the report (second-level headings).
fn churn_section(c: &ChurnResults, o: &Opts) -> String {
    let n = fmt_count(c.endpoints);
    let k = fmt_count(c.per_update);
    let mut md = format!("## Endpoint churn: {n} endpoints changing while serving\n\n");
    md += &format!(
        "Each run starts the proxy afresh with one TCP service of {n} endpoints: {n} distinct \
         addresses 127.1.x.y:{port}, all real and reachable — one nginx (1 worker, the same \
         {BODY_BYTES}-byte file) listens on the wildcard address and the whole of 127.0.0.0/8 \
         is local; it serves loopback peers only. For {secs} s two wrk run at once through the \
         proxy: {CHURN_KEEPALIVE_CONNECTIONS} keep-alive connections and \
         {CHURN_CLOSE_CONNECTIONS} `Connection: close` clients (every request a new connection, \
         hence a new backend choice). In a churn run one update every {interval} s (nginx: \
         every {reload} s) changes {CHURN_PERCENT}% of the endpoints in each of three ways: the \
         {k} marked terminating by the previous update are removed, {k} ready ones are marked \
         terminating (serving, not ready: no new connections while ready ones exist, existing \
         ones continue) and {k} new addresses are added, ready — {m} of the {n} listed \
         endpoints change per update. The same seeded sequence goes to every proxy. Each \
         proxy is measured with and without churn in every repetition (order alternating); \
         {reps} repetition(s).\n\n",
        port = c.backend_port,
        secs = o.churn_seconds,
        interval = CHURN_INTERVAL.as_secs(),
        reload = o.nginx_reload_every.as_secs(),
        m = fmt_count(3 * c.per_update),
        reps = o.reps,
    );
    md += "How an update reaches each proxy, and what its update latency spans:\n\n";
    md += "- **Clipper**: `ProxyHandle::apply([Change::Endpoints { key, delta }])` with the \
           changed endpoints only (removed, set terminating, added), as the control loop in \
           dataplane/proxyd sends them (it diffs the lists it holds), called in the proxy's \
           process (on the proxy core, beside the worker thread). `apply` makes the next \
           version of the service from the previous one with O(1) work per changed endpoint \
           (`Service::apply_delta`: the eligible set and the address index updated in place \
           of a copy; stats of the endpoints that stayed kept, only added and removed ones \
           registered or dropped), swaps the table (arc-swap) and wakes the threads without \
           waiting for them: every accept loads the table afresh, so once `apply` has \
           returned, the next new connection on every thread is balanced over the new list. \
           The figure is `apply`'s wall time; building the change list before it is not \
           included (shown below).\n";
    md += &format!(
        "- **HAProxy**: a backend of {} pre-declared server slots with `balance random` (power \
         of two choices; `roundrobin` is limited by design to 4,095 active servers, and \
         `static-rr` recomputes its whole map on every state change — at 11,000 slots a line of \
         20 commands kept HAProxy's thread busy past its watchdog, which aborted the process). \
         An update is {} stats-socket commands — `set server churn/sN state maint` (removed), \
         `state drain` (terminating), `addr` + `state ready` on a free slot (added) — sent {} \
         per connection as one `;`-separated line, one connection after another. The figure \
         runs from sending the first command to reading the reply to the last; commands take \
         effect one by one, so an update is not atomic.\n",
        fmt_count(c.endpoints + c.per_update),
        fmt_count(4 * c.per_update),
        HAPROXY_CLI_BATCH
    );
    md += &format!(
        "- **nginx stream**: open-source nginx has no run-time API for upstreams (the `api` \
         module is NGINX Plus), so an update is a rewritten configuration and a reload \
         (SIGHUP): new workers with the new list, the old ones finishing their connections — \
         one update every {} s here, not every second. The figure runs from the SIGHUP to the \
         new worker processes having finished starting (their process title is set at the \
         end of their initialisation); writing the file before is not included. The master then \
         waits 100 ms before it tells the old workers to stop (`ngx_msleep(100)` in \
         src/os/unix/ngx_process_cycle.c), so they take new connections that much longer — the \
         settle column below shows it.\n",
        o.nginx_reload_every.as_secs()
    );
    for (p, why) in &c.unavailable {
        md += &format!("- **{}: n/a** — {why}\n", p.label());
    }

    md += "\n### Update latency (every update of the churn runs)\n\n";
    let mut t = Table::new(&[
        "proxy",
        "updates",
        "p50",
        "p99",
        "max",
        "p50 of each run (min – max)",
        "failed updates",
        "not started in time",
    ]);
    for p in [Via::Clipper, Via::HaProxy, Via::Nginx] {
        let Some(runs) = c.runs.get(&(p, true)) else {
            continue;
        };
        let ups = churn_updates(runs);
        let lat: Vec<f64> = ups.iter().map(|u| u.latency_us).collect();
        let per_run: Vec<f64> = runs
            .iter()
            .filter(|r| !r.updates.is_empty())
            .map(|r| median(&r.updates.iter().map(|u| u.latency_us).collect::<Vec<_>>()))
            .collect();
        t.row_text(
            p.label(),
            &[
                ups.len().to_string(),
                fmt_dur_us(median(&lat)),
                fmt_dur_us(clipper_perf::percentile(&lat, 99.0)),
                fmt_dur_us(lat.iter().copied().fold(0.0, f64::max)),
                format!(
                    "{} – {}",
                    fmt_dur_us(per_run.iter().copied().fold(f64::INFINITY, f64::min)),
                    fmt_dur_us(per_run.iter().copied().fold(0.0, f64::max))
                ),
                ups.iter().filter(|u| u.errors > 0).count().to_string(),
                runs.iter().map(|r| r.skipped).sum::<usize>().to_string(),
            ],
        );
    }
    md += &t.markdown();
    if let Some(runs) = c.runs.get(&(Via::Clipper, true)) {
        let ups = churn_updates(runs);
        let cpu: Vec<f64> = ups.iter().filter_map(|u| u.apply_cpu_us).collect();
        let build: Vec<f64> = ups.iter().filter_map(|u| u.build_us).collect();
        md += &format!(
            "\nClipper: CPU time of the thread calling `apply`, per update: p50 {} (max {}); \
             building the change list before it: p50 {}.\n",
            fmt_us(median(&cpu)),
            fmt_us(cpu.iter().copied().fold(0.0, f64::max)),
            fmt_us(median(&build)),
        );
    }
    if !c.apply_alone.is_empty() {
        md += &format!(
            "\n### Clipper's `apply` alone (no load)\n\nBefore the runs, in the bench process \
             (on the load cores): a proxy with one thread and no traffic, one service of {n} \
             endpoints, and the churn runs' sequence of updates applied back to back by \
             `ProxyHandle::apply`, each timed by the calling thread (wall and thread CPU; \
             building the change not included) — what an update costs when the core is not \
             shared with a busy worker. As a delta (`Change::Endpoints`, what proxyd sends), \
             also for a smaller update (1 % each way); as the full list \
             (`Change::Upsert(spec)`, the only form before deltas) for comparison; and the \
             delta of a service with ClientIP affinity, whose Maglev table is rebuilt whenever \
             its candidates change (O(table size): 100 slots per endpoint) on the proxy's \
             builder thread: `apply` returns once the table is swapped (removed and terminating \
             endpoints get no new connections from then on, the previous Maglev table serving \
             the rest); the last columns time from calling `apply` to the new Maglev table \
             installed (`ProxyHandle::wait_maglev_builds`), when new endpoints start to get \
             their share. Reproduce with `cargo run --release -p clipper-perf --bin proxy-bench \
             -- --only apply`.\n\n"
        );
        md += &apply_micro_section(&c.apply_alone);
    }

    md += "\n### Serving during churn (medians over repetitions; a ratio is the median of the \
           ratios within each repetition, with their range)\n\n";
    let mut t = Table::new(&[
        "proxy",
        "keep-alive req/s, no churn",
        "… churn",
        "churn / no churn",
        "new conn/s, no churn",
        "… churn",
        "churn / no churn",
        "proxy CPU (cores), no churn",
        "… churn",
    ]);
    for p in [Via::Clipper, Via::HaProxy, Via::Nginx] {
        let (base, churn) = (c.runs.get(&(p, false)), c.runs.get(&(p, true)));
        if base.is_none() && churn.is_none() {
            continue;
        }
        let m = |runs: Option<&Vec<ChurnRun>>, f: &dyn Fn(&ChurnRun) -> f64| {
            runs.map(|r| median(&r.iter().map(f).collect::<Vec<_>>()))
        };
        let cell = |x: Option<f64>, fmt: &dyn Fn(f64) -> String| x.map_or("—".into(), fmt);
        let keep = (m(base, &|r| r.keep.rps), m(churn, &|r| r.keep.rps));
        let close = (m(base, &|r| r.close.rps), m(churn, &|r| r.close.rps));
        let cpu = (m(base, &|r| r.cpu_cores), m(churn, &|r| r.cpu_cores));
        // Runs of one repetition are adjacent in time: their ratio is the least drift-prone.
        let rel = |f: &dyn Fn(&ChurnRun) -> f64| match (base, churn) {
            (Some(b), Some(ch)) if b.len() == ch.len() => {
                let r: Vec<f64> = b
                    .iter()
                    .zip(ch)
                    .map(|(b, ch)| f(ch) / f(b).max(1e-9))
                    .collect();
                format!(
                    "{:.2}× ({:.2}–{:.2})",
                    median(&r),
                    r.iter().copied().fold(f64::INFINITY, f64::min),
                    r.iter().copied().fold(0.0, f64::max)
                )
            }
            _ => "—".into(),
        };
        t.row_text(
            p.label(),
            &[
                cell(keep.0, &fmt_rate),
                cell(keep.1, &fmt_rate),
                rel(&|r| r.keep.rps),
                cell(close.0, &fmt_rate),
                cell(close.1, &fmt_rate),
                rel(&|r| r.close.rps),
                cell(cpu.0, &|x| format!("{x:.2}")),
                cell(cpu.1, &|x| format!("{x:.2}")),
            ],
        );
    }
    md += &t.markdown();

    md += "\n### Failed requests, and new connections to endpoints already taken out (sums over runs)\n\n";
    let mut t = Table::new(&[
        "proxy",
        "failed requests, churn: socket errors / non-2xx",
        "failed requests, no churn",
        "new-connection requests checked",
        "to an endpoint after the update taking it out",
        "… more than 1 s after",
        "settle p50",
        "settle max",
        "to an address never listed",
    ]);
    for p in [Via::Clipper, Via::HaProxy, Via::Nginx] {
        let (base, churn) = (c.runs.get(&(p, false)), c.runs.get(&(p, true)));
        let Some(runs) = churn else { continue };
        let sum = |f: &dyn Fn(&ChurnRun) -> f64| runs.iter().map(f).sum::<f64>();
        let settle: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.routing.settle_ms.iter().copied())
            .collect();
        let base_failed = base.map_or("—".into(), |b| {
            format!(
                "{:.0}",
                b.iter()
                    .map(|r| r.keep.errors + r.close.errors)
                    .sum::<f64>()
            )
        });
        t.row_text(
            p.label(),
            &[
                format!(
                    "{:.0} / {:.0}",
                    sum(&|r| r.keep.socket_errors + r.close.socket_errors),
                    sum(&|r| r.keep.status_errors + r.close.status_errors)
                ),
                base_failed,
                format!("{:.0}", sum(&|r| r.routing.logged as f64)),
                format!("{:.0}", sum(&|r| r.routing.after_update as f64)),
                format!("{:.0}", sum(&|r| r.routing.stale as f64)),
                format!("{:.0} ms", median(&settle)),
                format!("{:.0} ms", settle.iter().copied().fold(0.0, f64::max)),
                format!("{:.0}", sum(&|r| r.routing.unknown as f64)),
            ],
        );
    }
    md += &t.markdown();
    if let Some(runs) = c.runs.get(&(Via::Nginx, true)) {
        let procs: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.peak_workers.map(|p| p as f64))
            .collect();
        md += &format!(
            "\nnginx: most worker processes at once during a churn run (median over runs; {} \
             configured): {:.0} — a reloaded-away worker lives on until its connections close.\n",
            ctx_workers(o),
            median(&procs)
        );
    }

    let starts: Vec<String> = [Via::Clipper, Via::HaProxy, Via::Nginx]
        .iter()
        .filter_map(|p| {
            let runs: Vec<f64> = [true, false]
                .iter()
                .filter_map(|ch| c.runs.get(&(*p, *ch)))
                .flatten()
                .map(|r| r.start_s)
                .collect();
            (!runs.is_empty()).then(|| format!("{} {:.2} s", p.short(), median(&runs)))
        })
        .collect();
    md += &format!(
        "\nStarting with {n} endpoints, until the service is served (median; not part of any \
         figure above): {}.\n",
        starts.join(", ")
    );
    md += "\nWhat the figures mean, and what limits them:\n\n";
    md += "- **Failed requests** are wrk's: socket errors (connect, read, write, timeout) and \
           responses with a status ≥ 400, summed over both loads of every run. Every endpoint \
           stays reachable (the backend answers at every address, removed ones included), so a \
           request fails only through the proxy — a connection it dropped, reset or refused — \
           not because a removed endpoint is gone. Whether taken-out endpoints still get new \
           connections is what the next columns show.\n";
    md += &format!(
        "- **New connections to endpoints already taken out**: the backend logs each \
         `Connection: close` request (`$msec $server_addr`: its end, to the millisecond, and the \
         endpoint address it came in on). A request counts when it reached an endpoint after \
         the update that made it terminating was in force (Clipper: `apply` returned; HAProxy: \
         the last reply read; nginx: the new workers up). Requests whose backend was chosen \
         just before are legitimate, so the count alone is no fault; **more than {:.0} s \
         after** means the proxy balanced over an outdated list (target: 0). **Settle** is, \
         per update, how long after it the last such request ended (0 when none did): an upper \
         bound on how long old choices went on, including the requests' own duration and the \
         backend clock's millisecond granularity — not a measurement of when each thread \
         switched.\n",
        STALE_AFTER_MS / 1e3
    );
    md += "- **Requests/s** are the medians of the runs' wrk results; keep-alive connections \
           pick a backend once, at connect, so churn reaches them only through the proxy's \
           CPU and locks, while every new connection is balanced over the current list. Clipper's \
           round robin is a cursor over the eligible list (O(1) per new connection), nginx's \
           walks the whole list (O(n) with n endpoints); HAProxy's random draws two servers \
           from a hash tree (O(log n)). \
           The balancers differ (round robin vs power of two choices), so requests/s compare \
           proxies, not algorithms. nginx after a reload: the keep-alive connections stay with \
           the old worker while new connections go to the new one, so two processes share the \
           proxy core and the keep-alive side no longer waits behind the new connections' peer \
           selection in one event loop — its keep-alive req/s can rise with churn while its new \
           connections/s fall; that is scheduling, not a gain from churn.\n";
    md += "- **Proxy CPU** is utime + stime of the proxy's process (nginx: master and \
           workers, old ones included) over the wrk run, per wall second: Clipper's includes \
           `apply` and building the list on its control thread, HAProxy's the stats-socket \
           commands, nginx's the configuration parsing of every reload. The bench's own work \
           of producing HAProxy's commands and nginx's files runs on the load core and is not \
           counted.\n";
    md += "- **Update latency** of Clipper is measured in the proxy process by the thread \
           calling `apply`, which shares the proxy core with the worker thread under load: it \
           includes waiting for that core. HAProxy's includes a Unix-socket round trip per \
           line, and HAProxy 2.6's CLI finds each server by walking the backend's server list \
           (`get_backend_server` in src/proxy.c; by name or by `#id` alike), so a command costs \
           time proportional to the slot's position among the servers. nginx's includes the \
           master's parse of the whole file and the fork of the workers.\n";
    md
}

// ---------------------------------------------------------------------------------------
// Results.

#[derive(Default)]
struct Results {
    /// (path, connections) → runs.
    keepalive: BTreeMap<(Via, usize), Vec<Http>>,
    close: BTreeMap<Via, Vec<Http>>,
    /// (path, streams) → Gbit/s.
    bulk: BTreeMap<(Via, usize), Vec<f64>>,
    udp: BTreeMap<Via, Vec<f64>>,
    /// Paths that could not run, and why.
    unavailable: BTreeMap<Via, String>,
    skipped: Vec<String>,
    load_start: String,
    load_end: String,
    /// Whether the bench ran at `BENCH_NICE`.
    niced: bool,
    /// The endpoint-churn section, if it ran.
    churn: Option<ChurnResults>,
}

fn med(runs: &[Http], f: impl Fn(&Http) -> f64) -> f64 {
    median(&runs.iter().map(f).collect::<Vec<_>>())
}

/// CPU µs per request (median over runs), if the path has a proxy process.
fn cpu_us_per_req(runs: &[Http]) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.cpu_s.map(|c| c * 1e6 / r.requests.max(1.0)))
        .collect();
    (!v.is_empty()).then(|| median(&v))
}

fn fmt_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn ratio(x: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 => format!("{:.2}×", x / b),
        _ => "—".into(),
    }
}

const PATHS: [Via; 5] = [
    Via::Direct,
    Via::Clipper,
    Via::HaProxy,
    Via::Nginx,
    Via::Ipvs,
];

/// The 1-minute load average (other work on the machine skews every row alike, but it widens
/// the spread between runs).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn report(r: &Results, o: &Opts, versions: &str) -> String {
    let mut md = String::new();
    md += "# Service proxy benchmark: Clipper vs HAProxy vs nginx stream vs IPVS\n\n";
    md += "Generated by `cargo run --release -p clipper-perf --bin proxy-bench` (perf/src/bin/proxy-bench.rs).\n\n";
    md += &format!("- Machine: {}\n", o.machine);
    md += &format!("- Peers: {versions}\n");
    md += &format!(
        "- 1-minute load average at start / end of the run: {} / {} (other work on the machine); \
         bench and proxies at nice {}\n",
        r.load_start,
        r.load_end,
        if r.niced { BENCH_NICE } else { 0 }
    );
    md += &format!(
        "- Proxy cores {:?} (each proxy one worker per core: Clipper threads, HAProxy `nbthread`, nginx \
         `worker_processes`); load generators, the nginx HTTP backend and the bench's sinks on cores {:?}. \
         All traffic on 127.0.0.1.\n",
        o.proxy_cpus, o.load_cpus
    );
    md += &format!(
        "- Medians of {} runs; keep-alive runs {:?}, new-connection runs {:?}, bulk {:?}, UDP {:?}. Runs of the \
         different paths are interleaved.\n",
        o.reps, o.keepalive, o.close, o.bulk, o.udp
    );
    md += &format!(
        "- Backend: nginx (1 worker) serving a {BODY_BYTES}-byte static file; load: wrk with a Lua hook for \
         p99.9. CPU per request: utime+stime of the proxy process (and children) from /proc over the run, \
         divided by the requests wrk completed.\n\n"
    );
    for (p, why) in &r.unavailable {
        md += &format!("- **{}: n/a** — {why}\n", p.label());
    }
    if !r.unavailable.is_empty() {
        md += "\n";
    }

    md += "## Keep-alive HTTP requests (wrk)\n\n";
    let mut t = Table::new(&[
        "path",
        "conns",
        "req/s",
        "p50",
        "p99",
        "p99.9",
        "proxy CPU/req",
        "req per proxy CPU-s",
        "req/s vs HAProxy",
        "req/CPU-s vs HAProxy",
        "errors",
    ]);
    for &c in &KEEPALIVE_CONNECTIONS {
        let ha = r.keepalive.get(&(Via::HaProxy, c));
        let ha_rps = ha.map(|h| med(h, |x| x.rps));
        let ha_eff = ha.and_then(|h| cpu_us_per_req(h)).map(|u| 1e6 / u);
        for p in PATHS {
            let Some(runs) = r.keepalive.get(&(p, c)) else {
                if r.unavailable.contains_key(&p) {
                    t.row_text(p.label(), &[c.to_string(), "n/a (see above)".into()]);
                }
                continue;
            };
            let rps = med(runs, |x| x.rps);
            let cpu = cpu_us_per_req(runs);
            let eff = cpu.map(|u| 1e6 / u);
            t.row_text(
                p.label(),
                &[
                    c.to_string(),
                    fmt_rate(rps),
                    fmt_us(med(runs, |x| x.p50_us)),
                    fmt_us(med(runs, |x| x.p99_us)),
                    fmt_us(med(runs, |x| x.p999_us)),
                    cpu.map_or("—".into(), |u| format!("{u:.2} µs")),
                    eff.map_or("—".into(), fmt_rate),
                    if p == Via::Direct {
                        "—".into()
                    } else {
                        ratio(rps, ha_rps)
                    },
                    eff.map_or("—".into(), |e| ratio(e, ha_eff)),
                    format!("{:.0}", runs.iter().map(|x| x.errors).sum::<f64>()),
                ],
            );
        }
    }
    md += &t.markdown();

    md += &format!(
        "\n## New connections (wrk, `Connection: close`, {CLOSE_CONNECTIONS} concurrent)\n\n"
    );
    let mut t = Table::new(&[
        "path",
        "connections/s",
        "p50",
        "p99",
        "proxy CPU/conn",
        "conn/s vs HAProxy",
        "errors",
    ]);
    let ha_close = r.close.get(&Via::HaProxy).map(|h| med(h, |x| x.rps));
    for p in PATHS {
        let Some(runs) = r.close.get(&p) else {
            continue;
        };
        let rps = med(runs, |x| x.rps);
        t.row_text(
            p.label(),
            &[
                fmt_rate(rps),
                fmt_us(med(runs, |x| x.p50_us)),
                fmt_us(med(runs, |x| x.p99_us)),
                cpu_us_per_req(runs).map_or("—".into(), |u| format!("{u:.2} µs")),
                if p == Via::Direct {
                    "—".into()
                } else {
                    ratio(rps, ha_close)
                },
                format!("{:.0}", runs.iter().map(|x| x.errors).sum::<f64>()),
            ],
        );
    }
    md += &t.markdown();

    md += &format!(
        "\n## Bulk throughput (own client → sink, {} KiB writes)\n\n",
        BULK_CHUNK_BYTES / 1024
    );
    let mut t = Table::new(&[
        "path",
        "1 stream",
        "8 streams",
        "1 stream vs relay",
        "8 streams vs relay",
    ]);
    let relay: Vec<Option<f64>> = BULK_STREAMS
        .iter()
        .map(|s| r.bulk.get(&(Via::Relay, *s)).map(|v| median(v)))
        .collect();
    for p in [
        Via::Direct,
        Via::Relay,
        Via::Clipper,
        Via::HaProxy,
        Via::Nginx,
    ] {
        let v: Vec<Option<f64>> = BULK_STREAMS
            .iter()
            .map(|s| r.bulk.get(&(p, *s)).map(|v| median(v)))
            .collect();
        if v.iter().all(Option::is_none) {
            continue;
        }
        let cell = |x: Option<f64>| x.map_or("—".into(), |g| format!("{g:.2} Gbit/s"));
        let vs = |x: Option<f64>, b: Option<f64>| {
            if p == Via::Direct || p == Via::Relay {
                "—".into()
            } else {
                x.map_or("—".into(), |x| ratio(x, b))
            }
        };
        t.row_text(
            p.label(),
            &[
                cell(v[0]),
                cell(v[1]),
                vs(v[0], relay[0]),
                vs(v[1], relay[1]),
            ],
        );
    }
    md += &t.markdown();

    md += &udp_section(r);

    if let Some(c) = &r.churn {
        md += "\n";
        md += &churn_section(c, o);
    }

    md += "\n## Targets of issue #6, as measured here\n\n";
    md += &targets(r);
    if !r.skipped.is_empty() {
        md += "\n## Skipped\n\n";
        for s in &r.skipped {
            md += &format!("- {s}\n");
        }
    }
    md
}

/// The UDP table: datagrams/s per path, against nginx.
fn udp_section(r: &Results) -> String {
    let mut md = String::new();
    md += &format!(
        "\n## UDP ({UDP_PAYLOAD_BYTES}-byte datagrams, {UDP_FLOWS} flows, one sending thread)\n\n"
    );
    let mut t = Table::new(&["path", "datagrams/s delivered", "vs nginx"]);
    let ng = r.udp.get(&Via::Nginx).map(|v| median(v));
    for p in PATHS {
        match r.udp.get(&p) {
            Some(v) => t.row_text(
                p.label(),
                &[
                    fmt_rate(median(v)),
                    if matches!(p, Via::Direct | Via::Nginx) {
                        "—".into()
                    } else {
                        ratio(median(v), ng)
                    },
                ],
            ),
            None if p == Via::HaProxy => t.row_text(
                p.label(),
                &["n/a (HAProxy does not proxy UDP)".into(), "—".into()],
            ),
            None => {}
        }
    }
    md += &t.markdown();
    md
}

/// The report of `--only udp`: the UDP section with the run's circumstances.
fn udp_report(r: &Results, o: &Opts) -> String {
    let mut md = String::new();
    md += "# Service proxy benchmark: UDP (Clipper vs nginx stream)\n\n";
    md += &format!(
        "Generated by `cargo run --release -p clipper-perf --bin proxy-bench -- --only udp` \
         (perf/src/bin/proxy-bench.rs; this run: `proxy-bench {}`). The full run (without \
         `--only`) puts the same section into proxy.md.\n\n",
        o.args
    );
    md += &format!("- Machine: {} (`nproc`: {})\n", o.machine, o.nproc);
    md += &format!(
        "- 1-minute load average at start / end of the run: {} / {} (the machine is shared: \
         other builds and benchmarks may run); bench and proxies at nice {}\n",
        r.load_start,
        r.load_end,
        if r.niced { BENCH_NICE } else { 0 }
    );
    md += &format!(
        "- Proxy cores {:?}, the sending thread and the sink on cores {:?}; medians of {} \
         runs of {:.1} s each, paths interleaved. All traffic on 127.0.0.0/8.\n",
        o.proxy_cpus,
        o.load_cpus,
        o.reps,
        o.udp.as_secs_f64()
    );
    md += &udp_section(r);
    md
}

/// The report of `--only churn`: the churn section with the run's circumstances.
fn churn_report(r: &Results, o: &Opts, versions: &str) -> String {
    let mut md = String::new();
    md += "# Service proxy benchmark: endpoint churn (Clipper vs HAProxy vs nginx stream)\n\n";
    md += &format!(
        "Generated by `cargo run --release -p clipper-perf --bin proxy-bench -- --only churn` \
         (perf/src/bin/proxy-bench.rs; this run: `proxy-bench {}`). The full run (without \
         `--only`) puts the same section into proxy.md.\n\n",
        o.args
    );
    md += &format!("- Machine: {} (`nproc`: {})\n", o.machine, o.nproc);
    md += &format!("- Peers: {versions}\n");
    md += &format!(
        "- 1-minute load average at start / end of the run: {} / {} (the machine is shared: \
         other builds and benchmarks may run); bench and proxies at nice {}\n",
        r.load_start,
        r.load_end,
        if r.niced { BENCH_NICE } else { 0 }
    );
    md += &format!(
        "- Proxy cores {:?} (each proxy one worker per core: Clipper threads, HAProxy \
         `nbthread`, nginx `worker_processes`); wrk, the nginx backend and the bench on cores \
         {:?}. All traffic on 127.0.0.0/8.\n\n",
        o.proxy_cpus, o.load_cpus
    );
    if let Some(c) = &r.churn {
        md += &churn_section(c, o);
        md += "\n## Target of issue #6\n\n";
        md += &churn_target(c);
    }
    if !r.skipped.is_empty() {
        md += "\n## Skipped\n\n";
        for s in &r.skipped {
            md += &format!("- {s}\n");
        }
    }
    md
}

/// Online cores, as `nproc` prints them (the machine summary shows the ones this process may
/// use).
fn nproc() -> String {
    Command::new("nproc")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The issue's targets, each with the measured figure and met / not met.
fn targets(r: &Results) -> String {
    let mut out = String::new();
    let verdict = |ok: bool| if ok { "**met**" } else { "**not met**" };
    for &c in &KEEPALIVE_CONNECTIONS {
        let get = |p| r.keepalive.get(&(p, c));
        if let (Some(cl), Some(ha)) = (get(Via::Clipper), get(Via::HaProxy)) {
            let x = med(cl, |h| h.rps) / med(ha, |h| h.rps);
            out += &format!(
                "- ≥ 1.5× HAProxy's requests/s, {c} connections: {x:.2}× — {}\n",
                verdict(x >= 1.5)
            );
            if let (Some(a), Some(b)) = (cpu_us_per_req(cl), cpu_us_per_req(ha)) {
                let e = b / a;
                out += &format!(
                    "- … at equal CPU (requests per proxy CPU-second), {c} connections: {e:.2}× — {}\n",
                    verdict(e >= 1.5)
                );
            }
            let (p_cl, p_ha) = (med(cl, |h| h.p99_us), med(ha, |h| h.p99_us));
            out += &format!(
                "- p99 no worse than HAProxy's, {c} connections: {} vs {} — {}\n",
                fmt_us(p_cl),
                fmt_us(p_ha),
                verdict(p_cl <= p_ha)
            );
        }
        if let (Some(cl), Some(ng)) = (get(Via::Clipper), get(Via::Nginx)) {
            let x = med(cl, |h| h.rps) / med(ng, |h| h.rps);
            out += &format!(
                "- ≥ 1.5× nginx stream's requests/s, {c} connections: {x:.2}× — {}\n",
                verdict(x >= 1.5)
            );
            if let (Some(a), Some(b)) = (cpu_us_per_req(cl), cpu_us_per_req(ng)) {
                let e = b / a;
                out += &format!(
                    "- … at equal CPU vs nginx stream, {c} connections: {e:.2}× — {}\n",
                    verdict(e >= 1.5)
                );
            }
        }
    }
    if let (Some(cl), Some(ha)) = (r.close.get(&Via::Clipper), r.close.get(&Via::HaProxy)) {
        let x = med(cl, |h| h.rps) / med(ha, |h| h.rps);
        out += &format!(
            "- ≥ 1.5× HAProxy's new connections/s: {x:.2}× — {}\n",
            verdict(x >= 1.5)
        );
    }
    for &s in &BULK_STREAMS {
        if let (Some(cl), Some(re)) = (r.bulk.get(&(Via::Clipper, s)), r.bulk.get(&(Via::Relay, s)))
        {
            let x = median(cl) / median(re);
            out += &format!(
                "- bulk ≥ 90% of the copying relay, {s} stream(s): {:.0}% — {}\n",
                x * 100.0,
                verdict(x >= 0.9)
            );
        }
    }
    match &r.churn {
        Some(c) => out += &churn_target(c),
        None => {
            out += "- a 10,000-endpoint update applied in ≤ 5 ms with zero failed requests: not measured in this run (`--only churn` measures it).\n"
        }
    }
    if let Some(why) = r.unavailable.get(&Via::Ipvs) {
        out += &format!("- IPVS as the kernel reference: not measured — {why}.\n");
    }
    out
}

/// Requests/s per path at 100 and 1,000 keep-alive connections, as two bar panels.
fn plot(r: &Results, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let font = std::fs::read(FONT)
        .with_context(|| format!("plot font {FONT} (Debian fonts-dejavu-core)"))?;
    // The registry wants 'static bytes; the font lives as long as the process anyway.
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| anyhow::anyhow!("{FONT} is not a usable font"))?;
    let root = BitMapBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Keep-alive HTTP requests/s through each proxy (median; same proxy core for all)",
        ("sans-serif", 22),
    )?;
    let panels = root.split_evenly((1, KEEPALIVE_CONNECTIONS.len()));
    let colors = [
        RGBColor(120, 120, 120),
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
    ];
    for (panel, &c) in panels.iter().zip(&KEEPALIVE_CONNECTIONS) {
        let bars: Vec<(Via, f64)> = PATHS
            .iter()
            .filter_map(|&p| r.keepalive.get(&(p, c)).map(|v| (p, med(v, |h| h.rps))))
            .collect();
        let ymax = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.15;
        // A segmented range 0..k has k + 1 segments, one per bar.
        let last = bars.len().saturating_sub(1) as u32;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{c} connections"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d((0u32..last).into_segmented(), 0f64..ymax)?;
        let labels: Vec<&str> = bars.iter().map(|b| b.0.short()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_desc("requests/s")
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => {
                    labels.get(*i as usize).copied().unwrap_or("").to_string()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|y| fmt_rate(*y))
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, (p, v)) in bars.iter().enumerate() {
            let color = colors[PATHS.iter().position(|q| q == p).unwrap_or(0) % colors.len()];
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i as u32), 0.0),
                    (SegmentValue::Exact(i as u32 + 1), *v),
                ],
                color.filled(),
            );
            bar.set_margin(0, 0, 14, 14);
            chart.draw_series(std::iter::once(bar))?;
            let centered = TextStyle::from(("sans-serif", 14).into_font())
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(
                fmt_rate(*v),
                (SegmentValue::CenterOf(i as u32), *v + ymax * 0.01),
                centered,
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("--serve-clipper") if args.len() == 4 => serve_clipper(&args[2], &args[3]),
        Some("--serve-relay") if args.len() == 4 => serve_relay(&args[2], &args[3]),
        Some("--serve-clipper-churn") => serve_clipper_churn(&args[2..]),
        _ if args.windows(2).any(|w| w[0] == "--only" && w[1] == "apply") => bench_apply_only(),
        _ => bench(),
    };
    if let Err(e) = result {
        eprintln!("proxy-bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn bench() -> Result<()> {
    let o = parse_args()?;
    let nofile = raise_nofile();
    // The machine may be shared (builds of other work): nice -20 (root only; ignored
    // otherwise) lets the bench and every process it starts preempt that work, so it skews
    // the runs less. Linux applies it to this thread, and threads and children inherit it.
    // SAFETY: setpriority has no memory-safety preconditions.
    let niced = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BENCH_NICE) } == 0;
    // Every thread the bench starts from here on (clients, sinks) runs on the load cores.
    pin_current(&o.load_cpus).context("pinning the bench to the load cores")?;
    let dir = tempfile::tempdir()?;
    let lua = dir.path().join("report.lua");
    std::fs::write(&lua, WRK_LUA)?;
    let mut r = Results {
        niced,
        load_start: loadavg(),
        ..Results::default()
    };

    let have = |t: &str| which(t).is_some();
    let (has_wrk, has_nginx, has_haproxy) = (have("wrk"), have("nginx"), have("haproxy"));
    let stream_module = Path::new("/usr/lib/nginx/modules/ngx_stream_module.so").is_file();
    let need = |ok: bool, what: &str, r: &mut Results| {
        if !ok {
            r.skipped.push(format!("{what} is not installed"));
        }
        ok
    };
    if !o.quick {
        let mut missing = Vec::new();
        for (ok, what) in [
            (has_wrk, "wrk"),
            (has_nginx, "nginx"),
            (has_haproxy, "haproxy"),
            (stream_module, "libnginx-mod-stream"),
        ] {
            if !ok {
                missing.push(what);
            }
        }
        if !missing.is_empty() {
            bail!(
                "the full run needs {} (run deploy/install-deps.sh), or use --quick",
                missing.join(", ")
            );
        }
    }
    let http_ok = need(has_wrk, "wrk", &mut r) & need(has_nginx, "nginx", &mut r);
    let tools = Tools {
        http_ok,
        has_nginx,
        has_haproxy,
        stream_module,
    };
    if !o.only_churn {
        run_main(&o, dir.path(), &lua, nofile, &tools, &mut r)?;
    }
    if o.only_udp {
        // The UDP section alone: no churn runs.
    } else if http_ok {
        r.churn = Some(run_churn(&o, dir.path(), &lua, nofile)?);
    } else {
        r.skipped
            .push("endpoint churn: needs wrk and nginx (the backend)".into());
    }
    r.load_end = loadavg();

    let versions = [("haproxy", "-v"), ("nginx", "-v"), ("wrk", "-v")]
        .iter()
        .filter(|(t, _)| which(t).is_some())
        .map(|(t, a)| version(t, a))
        .collect::<Vec<_>>()
        .join("; ");
    let md = if o.only_udp {
        udp_report(&r, &o)
    } else if o.only_churn {
        churn_report(&r, &o, &versions)
    } else {
        report(&r, &o, &versions)
    };
    println!("{md}");
    if let Some(out) = &o.out {
        std::fs::write(out, &md).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("proxy-bench: wrote {}", out.display());
    }
    if let Some(png) = &o.plot {
        if r.keepalive.is_empty() {
            eprintln!("proxy-bench: no keep-alive results, no plot");
        } else {
            plot(&r, png).with_context(|| format!("plotting {}", png.display()))?;
            eprintln!("proxy-bench: wrote {}", png.display());
        }
    }
    Ok(())
}

/// Which tools the run found.
struct Tools {
    http_ok: bool,
    has_nginx: bool,
    has_haproxy: bool,
    stream_module: bool,
}

/// The main comparison: keep-alive, new connections, bulk and UDP through every path.
fn run_main(
    o: &Opts,
    dir: &Path,
    lua: &Path,
    nofile: u64,
    tools: &Tools,
    r: &mut Results,
) -> Result<()> {
    let need = |ok: bool, what: &str, r: &mut Results| {
        if !ok {
            r.skipped.push(format!("{what} is not installed"));
        }
        ok
    };
    let Tools {
        http_ok,
        has_nginx,
        has_haproxy,
        stream_module,
    } = *tools;
    // Backends.
    let (http, nginx_backend) = if http_ok {
        let (a, p) = start_nginx_backend(dir, &o.load_cpus, nofile)?;
        (Some(a), Some(p))
    } else {
        (None, None)
    };
    let backends = Backends {
        http,
        bulk: BulkSink::start()?,
        udp: UdpSink::start()?,
        _nginx: nginx_backend,
    };

    // Paths.
    let mut endpoints: BTreeMap<Via, Endpoint> = BTreeMap::new();
    endpoints.insert(
        Via::Direct,
        Endpoint {
            http: backends.http,
            bulk: Some(backends.bulk.addr),
            udp: Some(backends.udp.addr),
            proc: None,
        },
    );
    if clipper_dataplane::uring::io_uring_available() {
        endpoints.insert(Via::Clipper, start_clipper(dir, &backends, &o.proxy_cpus)?);
    } else {
        r.unavailable.insert(
            Via::Clipper,
            "io_uring is not available on this host".into(),
        );
    }
    if need(has_haproxy, "haproxy", r) {
        endpoints.insert(
            Via::HaProxy,
            start_haproxy(dir, &backends, &o.proxy_cpus, nofile)?,
        );
    }
    if need(has_nginx && stream_module, "nginx stream module", r) {
        endpoints.insert(
            Via::Nginx,
            start_nginx_stream(dir, &backends, &o.proxy_cpus, nofile)?,
        );
    }
    if let Some(why) = ipvs_unavailable() {
        r.unavailable.insert(Via::Ipvs, why);
    }
    let relay_port = free_port()?;
    let relay_listen = loopback(relay_port).to_string();
    let relay_target = backends.bulk.addr.to_string();
    let relay = spawn_self(
        "copying relay",
        &["--serve-relay", &relay_listen, &relay_target],
        &o.proxy_cpus,
    )?;
    endpoints.insert(
        Via::Relay,
        Endpoint {
            http: None,
            bulk: Some(loopback(relay_port)),
            udp: None,
            proc: Some(relay),
        },
    );
    for (p, e) in &endpoints {
        if let Some(pr) = &e.proc {
            eprintln!("proxy-bench: {} ready (pid {})", p.label(), pr.pid());
        }
    }
    if o.quick {
        for why in &r.skipped {
            println!("skipped: {why}");
        }
        for (p, why) in &r.unavailable {
            println!("skipped: {}: {why}", p.label());
        }
    }

    // Phases; the paths interleave within each repetition so drift hits all of them alike.
    let keepalive_conns: &[usize] = if o.quick {
        &[100]
    } else {
        &KEEPALIVE_CONNECTIONS
    };
    let bulk_streams: &[usize] = if o.quick { &[1] } else { &BULK_STREAMS };
    let (keepalive_conns, bulk_streams) = if o.only_udp {
        (&[][..], &[][..])
    } else {
        (keepalive_conns, bulk_streams)
    };
    for rep in 0..o.reps {
        eprintln!("proxy-bench: repetition {}/{}", rep + 1, o.reps);
        for &c in keepalive_conns {
            for (p, e) in &endpoints {
                let Some(addr) = e.http else { continue };
                let h = wrk(
                    addr,
                    c,
                    o.keepalive,
                    false,
                    lua,
                    o,
                    e.proc.as_ref().map(Proc::pid),
                )
                .with_context(|| format!("keep-alive through {}", p.label()))?;
                eprintln!(
                    "  keep-alive {c:>4} {:<26} {:>10} req/s  p99 {}",
                    p.label(),
                    fmt_rate(h.rps),
                    fmt_us(h.p99_us)
                );
                r.keepalive.entry((*p, c)).or_default().push(h);
                std::thread::sleep(SETTLE);
            }
        }
        // The quick run leaves out new connections (seconds of TIME_WAIT churn for CI).
        for (p, e) in endpoints.iter().filter(|_| !o.quick && !o.only_udp) {
            let Some(addr) = e.http else { continue };
            let h = wrk(
                addr,
                CLOSE_CONNECTIONS,
                o.close,
                true,
                lua,
                o,
                e.proc.as_ref().map(Proc::pid),
            )
            .with_context(|| format!("new connections through {}", p.label()))?;
            eprintln!(
                "  new conns      {:<26} {:>10} conn/s",
                p.label(),
                fmt_rate(h.rps)
            );
            r.close.entry(*p).or_default().push(h);
            std::thread::sleep(SETTLE);
        }
        for &s in bulk_streams {
            for (p, e) in &endpoints {
                let Some(addr) = e.bulk else { continue };
                let g = bulk(addr, s, o.bulk, &backends.bulk)
                    .with_context(|| format!("bulk through {}", p.label()))?;
                eprintln!("  bulk {s} stream(s) {:<26} {g:.2} Gbit/s", p.label());
                r.bulk.entry((*p, s)).or_default().push(g);
                std::thread::sleep(SETTLE);
            }
        }
        for (p, e) in &endpoints {
            let Some(addr) = e.udp else { continue };
            let pps = udp(addr, o.udp, &backends.udp)
                .with_context(|| format!("UDP through {}", p.label()))?;
            eprintln!(
                "  udp            {:<26} {} datagrams/s",
                p.label(),
                fmt_rate(pps)
            );
            r.udp.entry(*p).or_default().push(pps);
            std::thread::sleep(SETTLE);
        }
    }
    drop(endpoints);
    Ok(())
}
