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
//! - UDP packets/s of 64-byte datagrams from 4 client sockets into a sink.
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
/// latency percentiles (µs) from wrk's full histogram (its --latency text lacks p99.9).
const WRK_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
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
    };
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
            }
            "--proxy-cpus" => o.proxy_cpus = parse_cpus(&args.next().context("--proxy-cpus")?)?,
            "--load-cpus" => o.load_cpus = parse_cpus(&args.next().context("--load-cpus")?)?,
            other => bail!(
                "unknown argument {other}; use --quick, --reps N, --seconds S, --out PATH.md, \
                 --proxy-cpus 1,2 --load-cpus 0"
            ),
        }
    }
    if o.reps == 0 {
        bail!("--reps must be at least 1");
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

/// CPU time (utime + stime) in seconds of `pid` and its direct children.
fn cpu_seconds(pid: u32) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = |p: &str| -> Option<(u32, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let rest = &text[text.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state(0) ppid(1) ... utime(11) stime(12).
        Some((
            f.get(1)?.parse().ok()?,
            f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
        ))
    };
    let mut ticks = stat(&pid.to_string()).map_or(0, |(_, t)| t);
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
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut p = spawn(name, cmd, cpus)?;
    let out = p.child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    if line.trim() != "ready" {
        bail!("{name} failed to start");
    }
    Ok(p)
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
    let cpu0 = proxy_pid.map(cpu_seconds);
    let p = spawn("wrk", cmd, &opts.load_cpus)?;
    let (out, err) = wait_output(p, duration + WRK_SLACK)?;
    let cpu_s = proxy_pid.zip(cpu0).map(|(pid, c0)| cpu_seconds(pid) - c0);
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
    Ok(Http {
        rps: v[0] / secs,
        requests: v[0],
        errors: v[2],
        p50_us: v[3],
        p99_us: v[4],
        p999_us: v[5],
        cpu_s,
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
    out += "- a 10,000-endpoint update applied in ≤ 5 ms with zero failed requests: not measured by this bench.\n";
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

    // Backends.
    let (http, nginx_backend) = if http_ok {
        let (a, p) = start_nginx_backend(dir.path(), &o.load_cpus, nofile)?;
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
        endpoints.insert(
            Via::Clipper,
            start_clipper(dir.path(), &backends, &o.proxy_cpus)?,
        );
    } else {
        r.unavailable.insert(
            Via::Clipper,
            "io_uring is not available on this host".into(),
        );
    }
    if need(has_haproxy, "haproxy", &mut r) {
        endpoints.insert(
            Via::HaProxy,
            start_haproxy(dir.path(), &backends, &o.proxy_cpus, nofile)?,
        );
    }
    if need(has_nginx && stream_module, "nginx stream module", &mut r) {
        endpoints.insert(
            Via::Nginx,
            start_nginx_stream(dir.path(), &backends, &o.proxy_cpus, nofile)?,
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
                    &lua,
                    &o,
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
        for (p, e) in endpoints.iter().filter(|_| !o.quick) {
            let Some(addr) = e.http else { continue };
            let h = wrk(
                addr,
                CLOSE_CONNECTIONS,
                o.close,
                true,
                &lua,
                &o,
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
    r.load_end = loadavg();

    let versions = [("haproxy", "-v"), ("nginx", "-v"), ("wrk", "-v")]
        .iter()
        .filter(|(t, _)| which(t).is_some())
        .map(|(t, a)| version(t, a))
        .collect::<Vec<_>>()
        .join("; ");
    let md = report(&r, &o, &versions);
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
