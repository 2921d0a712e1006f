//! apiserver-bench: the whole API server (HTTPS + QUIC, authentication, admission, store)
//! against the embedded store and against etcd 3.4, side by side on this machine — pod
//! creates/s and updates/s with 64 concurrent clients over HTTPS and over QUIC, LIST of
//! every pod, watch fan-out latency over QUIC and over HTTP (and how many watchers the
//! server cut off as too slow: those are told why and disconnected, which the bench tells
//! apart from a watch that is lost), server memory per idle watcher, and creates/s with
//! 1 worker against 2. `--fanout-only --quic-watchers N,N --http-watchers N,N` looks at
//! the fan-out alone.
//!
//! Run: `cargo run --release -p clipper-perf --bin apiserver-bench` (writes
//! perf/results/apiserver.md); `--quick` runs a tiny version for CI and writes nothing
//! unless `--out` is given. etcd must be on PATH (Debian `etcd-server`) for the etcd side.
//!
//! The API server runs in a child process (this binary re-executed with `--serve`), so
//! its resident memory is read from /proc/<pid>/status without the clients' memory in it,
//! and its threads are not the clients' threads. Both still share the machine's cores.

/// mimalloc rather than glibc's malloc: allocation was a quarter of the API server's
/// CPU under a create-heavy load (see perf/results/apiserver.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use clipper_apiserver::cache::{BROADCAST_BATCHES, HISTORY_EVENTS};
use clipper_apiserver::quic::STALL_TIMEOUT;
use clipper_apiserver::run::{ApiServerConfig, StoreChoice};
use clipper_client::{ClientError, Credentials, Options, QuicClient, WatchEvent};
use clipper_perf::{Table, machine_summary, median, percentile};
use clipper_store::local_etcd::LocalEtcd;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper::{Method, Request, StatusCode};
use std::sync::Mutex;

/// Concurrent clients of the create/update measurements.
const CLIENTS: usize = 64;
/// HTTP/2 connections those clients multiplex over (8 streams each).
const CONNECTIONS: usize = 8;
/// Watch streams per HTTP/2 connection and per QUIC connection.
const WATCHERS_PER_CONNECTION: usize = 100;
/// Target size of a pod's JSON.
const POD_BYTES: usize = 2048;
/// Pods the watch writer updates round-robin.
const WATCH_PODS: usize = 100;
/// Watch writer's requests in flight at most.
const WATCH_IN_FLIGHT: usize = 64;
/// Latency samples kept in all (watchers record every k-th revision to stay under it).
const MAX_LATENCY_SAMPLES: u64 = 2_000_000;
/// Longest wait for a child server, a watcher set to open, or events to drain.
const WAIT: Duration = Duration::from_secs(120);
/// Namespace of the create/update/list pods, and of the watched pods.
const NS: &str = "default";
const WATCH_NS: &str = "bench-watch";

#[derive(Clone)]
struct Config {
    quick: bool,
    reps: usize,
    phase: Duration,
    list_pods: usize,
    list_reps: usize,
    quic_watchers: Vec<usize>,
    http_watchers: Vec<usize>,
    /// Updates/s the watch writer aims at…
    watch_rate: u64,
    /// …but no more than this many deliveries/s in all (rate × watchers).
    fanout_budget: u64,
    watch_phase: Duration,
    out: Option<PathBuf>,
    skip_etcd: bool,
    /// Only the watch fan-out (embedded store), printed, nothing written: for looking
    /// at one watcher count.
    fanout_only: bool,
    /// Only the thread-per-core check's creates (2 workers): for profiling the write path.
    creates_only: bool,
    /// When the run started and how busy the machine was (filled in by `run`).
    when: String,
}

fn parse_args() -> Result<Config> {
    let mut cfg = Config {
        quick: false,
        reps: 3,
        phase: Duration::from_secs(5),
        list_pods: 150_000,
        list_reps: 10,
        quic_watchers: vec![10, 1_000, 10_000],
        http_watchers: vec![10, 1_000],
        watch_rate: 5_000,
        fanout_budget: 200_000,
        watch_phase: Duration::from_secs(10),
        out: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("results/apiserver.md")),
        skip_etcd: false,
        fanout_only: false,
        creates_only: false,
        when: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                cfg.quick = true;
                cfg.reps = 1;
                cfg.phase = Duration::from_millis(500);
                cfg.list_pods = 300;
                cfg.list_reps = 3;
                cfg.quic_watchers = vec![20];
                cfg.http_watchers = vec![20];
                cfg.watch_rate = 200;
                cfg.watch_phase = Duration::from_millis(500);
                cfg.out = None;
            }
            "--reps" => cfg.reps = args.next().context("--reps N")?.parse()?,
            "--pods" => cfg.list_pods = args.next().context("--pods N")?.parse()?,
            "--budget" => cfg.fanout_budget = args.next().context("--budget N")?.parse()?,
            "--rate" => cfg.watch_rate = args.next().context("--rate N")?.parse()?,
            "--no-etcd" => cfg.skip_etcd = true,
            "--quic-watchers" => cfg.quic_watchers = counts(args.next())?,
            "--http-watchers" => cfg.http_watchers = counts(args.next())?,
            "--fanout-only" => cfg.fanout_only = true,
            "--creates-only" => cfg.creates_only = true,
            "--out" => cfg.out = Some(args.next().context("--out FILE")?.into()),
            "--no-out" => cfg.out = None,
            other => bail!(
                "unknown argument {other:?} (--quick, --reps N, --pods N, --rate N, --budget N, \
                 --no-etcd, --quic-watchers N,N, --http-watchers N,N, --fanout-only, --creates-only, --out FILE, \
                 --no-out)"
            ),
        }
    }
    if cfg.fanout_only {
        cfg.out = None;
    }
    Ok(cfg)
}

/// `N,N,...` (empty: none).
fn counts(arg: Option<String>) -> Result<Vec<usize>> {
    let arg = arg.context("a comma-separated list of watcher counts")?;
    arg.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().with_context(|| format!("watcher count {s:?}")))
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        return serve_child(&args[2..]);
    }
    let cfg = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cfg))
}

// ---------------------------------------------------------------------------------------
// The server child.

/// `--serve DATA_DIR STORE WORKERS`: STORE is `embedded` or an etcd URL. Prints
/// `READY <kubeconfig>` and serves until stdin closes (or the parent dies).
fn serve_child(args: &[String]) -> Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a signal for this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let [dir, store, workers] = args else {
        bail!("--serve DATA_DIR STORE WORKERS");
    };
    let mut config = ApiServerConfig::new(PathBuf::from(dir));
    if store != "embedded" {
        config.store = StoreChoice::Etcd(vec![store.clone()]);
    }
    config.listen = "127.0.0.1:0".parse()?;
    config.workers = workers.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = clipper_apiserver::run::start(&config)
            .await
            .map_err(|e| anyhow!("starting the API server: {e}"))?;
        println!("READY {}", running.admin_kubeconfig.display());
        use std::io::Write;
        std::io::stdout().flush()?;
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        running.shutdown();
        Ok(())
    })
}

/// A child process, killed and reaped on drop.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server child; killed and reaped on drop.
struct ServerProc {
    child: KillOnDrop,
    creds: Credentials,
}

impl ServerProc {
    fn start(dir: &Path, store: &str, workers: usize) -> Result<ServerProc> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .arg("--serve")
            .arg(dir)
            .arg(store)
            .arg(workers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server child")?;
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().context("child stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(WAIT)
            .map_err(|_| anyhow!("the server child did not start within {WAIT:?}"))?;
        let kubeconfig = line
            .trim()
            .strip_prefix("READY ")
            .ok_or_else(|| anyhow!("the server child failed (said {line:?})"))?;
        let creds = Credentials::from_kubeconfig(Path::new(kubeconfig))?;
        Ok(ServerProc { child, creds })
    }

    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------
// HTTPS client: HTTP/2 over rustls with the admin client certificate.

#[derive(Clone)]
struct Https {
    conns: Arc<Vec<SendRequest<Full<Bytes>>>>,
    next: Arc<AtomicUsize>,
    base: String,
}

impl Https {
    async fn connect(creds: &Credentials, connections: usize) -> Result<Https> {
        let conns = clipper_perf::h2_connections(creds, connections).await?;
        Ok(Https {
            conns: Arc::new(conns),
            next: Arc::new(AtomicUsize::new(0)),
            base: format!("https://{}", creds.addr),
        })
    }

    fn conn(&self) -> SendRequest<Full<Bytes>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(Full::new(body))?;
        let mut conn = self.conn();
        conn.ready().await?;
        Ok(conn.send_request(req).await?)
    }

    /// A request whose whole response body is read.
    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, content_type, body).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn create_pod(&self, ns: &str, body: Bytes) -> Result<i64> {
        let (status, resp) = self
            .call(
                Method::POST,
                &format!("/api/v1/namespaces/{ns}/pods"),
                "application/json",
                body,
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("create: {status}: {}", String::from_utf8_lossy(&resp));
        }
        resource_version(&resp).context("create: no resourceVersion")
    }

    /// Sets annotation `bench/seq` to a value never used before (a patch that changes
    /// nothing would not be a write: no new revision, no event).
    async fn patch_pod(&self, ns: &str, name: &str) -> Result<i64> {
        let seq = PATCH_SEQ.fetch_add(1, Ordering::Relaxed);
        let body = format!(r#"{{"metadata":{{"annotations":{{"bench/seq":"{seq}"}}}}}}"#);
        let (status, resp) = self
            .call(
                Method::PATCH,
                &format!("/api/v1/namespaces/{ns}/pods/{name}"),
                "application/merge-patch+json",
                Bytes::from(body),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("patch: {status}: {}", String::from_utf8_lossy(&resp));
        }
        resource_version(&resp).context("patch: no resourceVersion")
    }
}

/// Where the create/update clients send their writes: HTTPS (HTTP/2) or QUIC calls.
#[derive(Clone)]
enum Writer {
    Https(Https),
    /// Calls on their own streams of shared QUIC connections (8, as HTTPS).
    Quic(Arc<Vec<Arc<QuicClient>>>, Arc<AtomicUsize>),
}

impl Writer {
    async fn quic(creds: &Credentials, connections: usize) -> Result<Writer> {
        let mut clients = Vec::new();
        for _ in 0..connections {
            clients.push(QuicClient::new(creds.clone(), Options::default())?);
        }
        Ok(Writer::Quic(Arc::new(clients), Arc::default()))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        match self {
            Writer::Https(h) => h.call(method, path, content_type, body).await,
            Writer::Quic(clients, next) => {
                let c = &clients[next.fetch_add(1, Ordering::Relaxed) % clients.len()];
                let (code, _, body) = c
                    .call(method.as_str(), path, Some(content_type), &body)
                    .await?;
                Ok((StatusCode::from_u16(code)?, body))
            }
        }
    }

    async fn create_pod(&self, ns: &str, body: Bytes) -> Result<i64> {
        let (status, resp) = self
            .call(
                Method::POST,
                &format!("/api/v1/namespaces/{ns}/pods"),
                "application/json",
                body,
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("create: {status}: {}", String::from_utf8_lossy(&resp));
        }
        resource_version(&resp).context("create: no resourceVersion")
    }

    async fn patch_pod(&self, ns: &str, name: &str) -> Result<i64> {
        match self {
            Writer::Https(h) => h.patch_pod(ns, name).await,
            Writer::Quic(..) => {
                let seq = PATCH_SEQ.fetch_add(1, Ordering::Relaxed);
                let body = format!(r#"{{"metadata":{{"annotations":{{"bench/seq":"{seq}"}}}}}}"#);
                let (status, resp) = self
                    .call(
                        Method::PATCH,
                        &format!("/api/v1/namespaces/{ns}/pods/{name}"),
                        "application/merge-patch+json",
                        Bytes::from(body),
                    )
                    .await?;
                if status != StatusCode::OK {
                    bail!("patch: {status}: {}", String::from_utf8_lossy(&resp));
                }
                resource_version(&resp).context("patch: no resourceVersion")
            }
        }
    }
}

/// Patch values never used before (a patch that changes nothing is not a write).
static PATCH_SEQ: AtomicU64 = AtomicU64::new(0);

/// The first `"resourceVersion":"N"` in a JSON document (the object's own, which comes
/// first in its metadata; pods carry no other).
fn resource_version(json: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"resourceVersion\":\"";
    let at = json.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let end = json[at..].iter().position(|b| *b == b'"')? + at;
    std::str::from_utf8(&json[at..end]).ok()?.parse().ok()
}

/// A ~2 KiB pod: labels, annotations, two containers with env, ports, resources, probes.
fn pod_json(name: &str) -> Bytes {
    let mut pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "bench", "tier": "backend", "pod-template-hash": "5d8f9c7b6"},
            "annotations": {"bench/pad": ""},
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/team/app:1.2.3",
                    "args": ["--port=8080", "--log-level=info"],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "MODE", "value": "production"},
                        {"name": "REGION", "value": "eu-west-1"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                },
                {
                    "name": "sidecar",
                    "image": "registry.example.com/infra/proxy:0.9",
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                },
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
        },
    });
    let len = serde_json::to_vec(&pod).map(|v| v.len()).unwrap_or(0);
    pod["metadata"]["annotations"]["bench/pad"] =
        serde_json::Value::String("x".repeat(POD_BYTES.saturating_sub(len)));
    Bytes::from(serde_json::to_vec(&pod).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Measurements.

/// Creates with `CLIENTS` concurrent clients for `phase` (or until `max` pods); returns
/// (creates/s, names created by client 0..CLIENTS, mutating latencies in ms).
async fn creates(
    https: &Writer,
    prefix: &str,
    phase: Duration,
    max: usize,
) -> Result<(f64, Vec<Vec<String>>, Vec<f64>)> {
    let start = Instant::now();
    let deadline = start + phase;
    let per_client = max.div_ceil(CLIENTS);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let https = https.clone();
        let prefix = prefix.to_string();
        tasks.spawn(async move {
            let mut names = Vec::new();
            let mut lat = Vec::new();
            for i in 0..per_client {
                if Instant::now() >= deadline {
                    break;
                }
                let name = format!("{prefix}-{c}-{i}");
                let t = Instant::now();
                https.create_pod(NS, pod_json(&name)).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                names.push(name);
            }
            anyhow::Ok((c, names, lat))
        });
    }
    let mut names = vec![Vec::new(); CLIENTS];
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (c, n, l) = r??;
        names[c] = n;
        lat.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total: usize = names.iter().map(Vec::len).sum();
    Ok((total as f64 / elapsed, names, lat))
}

/// Merge-patches with `CLIENTS` concurrent clients for `phase`, each cycling over its own
/// pods; returns (updates/s, latencies in ms).
async fn updates(
    https: &Writer,
    names: &[Vec<String>],
    phase: Duration,
) -> Result<(f64, Vec<f64>)> {
    let start = Instant::now();
    let deadline = start + phase;
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for own in names.iter().filter(|n| !n.is_empty()).cloned() {
        let https = https.clone();
        let count = count.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut seq = 0u64;
            while Instant::now() < deadline && seq < 10_000_000 {
                let name = &own[seq as usize % own.len()];
                let t = Instant::now();
                https.patch_pod(NS, name).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                seq += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r??);
    }
    Ok((
        count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        lat,
    ))
}

/// Full LISTs of every pod; returns (latencies in ms, bytes of the last response).
async fn lists(https: &Https, reps: usize) -> Result<(Vec<f64>, usize, usize)> {
    let mut lat = Vec::new();
    let (mut bytes, mut items) = (0, 0);
    for i in 0..reps {
        let t = Instant::now();
        let (status, body) = https
            .call(
                Method::GET,
                "/api/v1/pods",
                "application/json",
                Bytes::new(),
            )
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        if status != StatusCode::OK {
            bail!("list: {status}");
        }
        bytes = body.len();
        if i == 0 {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            items = v["items"].as_array().map(Vec::len).unwrap_or(0);
        }
    }
    Ok((lat, bytes, items))
}

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Quic,
    Http,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Quic => "QUIC",
            Transport::Http => "HTTPS (HTTP/2)",
        }
    }
}

/// What one watcher saw.
#[derive(Default)]
struct WatcherLog {
    events: AtomicU64,
    /// (revision, receipt) of every `stride`-th revision.
    samples: Mutex<Vec<(i64, Instant)>>,
    /// Set when the server ended this watch because it fell behind, with the server's
    /// reason: the watch was told why and disconnected (as it must be), not lost. Its
    /// task then ends without an error; any other end of a watch is an error.
    cut_off: Mutex<Option<String>>,
}

impl WatcherLog {
    fn cut_off(&self, reason: String) {
        *self.cut_off.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    fn is_cut_off(&self) -> bool {
        self.cut_off
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

struct FanoutResult {
    watchers: usize,
    offered_rate: u64,
    achieved_rate: f64,
    delivered: f64,
    /// Delivered to the watchers that were not cut off.
    kept_delivered: f64,
    /// Watchers the server ended as too slow, and the first one's reason.
    cut_off: usize,
    cut_reason: Option<String>,
    /// Watchers not cut off that still missed events after the drain.
    short: usize,
    /// A watch that ended with an error (not a cut-off).
    lost: Option<String>,
    p50_ms: f64,
    p99_ms: f64,
    rss_per_watcher: f64,
}

/// Opens `n` watchers from `from`, sharing a connection per `WATCHERS_PER_CONNECTION`.
async fn open_watchers(
    creds: &Credentials,
    transport: Transport,
    n: usize,
    from: i64,
    stride: i64,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<Arc<WatcherLog>>, tokio::task::JoinSet<Result<()>>)> {
    let mut logs = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let groups = n.div_ceil(WATCHERS_PER_CONNECTION);
    for g in 0..groups {
        let in_group = WATCHERS_PER_CONNECTION.min(n - g * WATCHERS_PER_CONNECTION);
        match transport {
            Transport::Quic => {
                let client = QuicClient::new(creds.clone(), Options::default())?;
                for _ in 0..in_group {
                    let log = Arc::new(WatcherLog::default());
                    logs.push(log.clone());
                    let mut watch = client.watch(clipper_proto::wire::WatchRequest {
                        group: String::new(),
                        version: "v1".into(),
                        resource: "pods".into(),
                        namespace: Some(WATCH_NS.into()),
                        label_selector: String::new(),
                        field_selector: String::new(),
                        from_revision: Some(from),
                        token: None,
                    });
                    let stop = stop.clone();
                    tasks.spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            match watch.next().await {
                                Ok(WatchEvent::Event { revision, .. }) => {
                                    record(&log, revision, stride);
                                }
                                Ok(WatchEvent::Synced(_)) => {}
                                // The server ended the watch with 410: the client would
                                // relist. Watching from a fresh revision, only a watcher
                                // that fell behind the cache's history gets that.
                                Ok(WatchEvent::Relisting) => {
                                    log.cut_off("410: fell behind the watch cache".into());
                                    return Ok(());
                                }
                                Err(ClientError::Status(s)) if s.code == 429 => {
                                    log.cut_off(format!("{}: {}", s.code, s.reason));
                                    return Ok(());
                                }
                                Err(e) => {
                                    return Err(anyhow!(e).context(format!(
                                        "a QUIC watch ended after {} events",
                                        log.events.load(Ordering::Relaxed)
                                    )));
                                }
                            }
                        }
                        Ok(())
                    });
                }
            }
            Transport::Http => {
                let https = Https::connect(creds, 1).await?;
                for _ in 0..in_group {
                    let log = Arc::new(WatcherLog::default());
                    logs.push(log.clone());
                    let path = format!(
                        "/api/v1/namespaces/{WATCH_NS}/pods?watch=1&resourceVersion={from}&timeoutSeconds=3600"
                    );
                    let resp = https
                        .send(Method::GET, &path, "application/json", Bytes::new())
                        .await?;
                    if resp.status() != StatusCode::OK {
                        bail!("watch: {}", resp.status());
                    }
                    let mut body = resp.into_body();
                    let stop = stop.clone();
                    tasks.spawn(async move {
                        let mut buf: Vec<u8> = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let Some(frame) = body.frame().await else {
                                bail!("the watch ended");
                            };
                            let Ok(data) = frame?.into_data() else {
                                continue;
                            };
                            buf.extend_from_slice(&data);
                            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                                let line = &buf[..nl];
                                if line.starts_with(br#"{"type":"ERROR""#) {
                                    // The server's reason, as kube-apiserver sends it.
                                    let v: serde_json::Value =
                                        serde_json::from_slice(line).unwrap_or_default();
                                    let reason = format!(
                                        "{}: {}",
                                        v["object"]["code"], v["object"]["message"]
                                    );
                                    if v["object"]["code"] == 410 {
                                        log.cut_off(reason);
                                        return Ok(());
                                    }
                                    bail!("the watch ended with {reason}");
                                }
                                if let Some(rev) = resource_version(line) {
                                    record(&log, rev, stride);
                                }
                                buf.drain(..=nl);
                            }
                        }
                        Ok(())
                    });
                }
            }
        }
    }
    Ok((logs, tasks))
}

fn record(log: &WatcherLog, revision: i64, stride: i64) {
    log.events.fetch_add(1, Ordering::Relaxed);
    if revision % stride == 0 {
        log.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((revision, Instant::now()));
    }
}

/// Waits until every watcher has seen `events` events or was cut off as too slow;
/// false on timeout. A watcher task that ended with an error (a watch lost, not cut off)
/// is reported at once as the error.
async fn wait_events(
    logs: &[Arc<WatcherLog>],
    tasks: &mut tokio::task::JoinSet<Result<()>>,
    events: u64,
    timeout: Duration,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        while let Some(r) = tasks.try_join_next() {
            r.context("a watcher task panicked")??;
        }
        if logs
            .iter()
            .all(|l| l.events.load(Ordering::Relaxed) >= events || l.is_cut_off())
        {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(false)
}

async fn fanout(
    server: &ServerProc,
    https: &Https,
    transport: Transport,
    n: usize,
    cfg: &Config,
) -> Result<FanoutResult> {
    let rate = cfg.watch_rate.min(cfg.fanout_budget / n as u64).max(1);
    let expected = rate * cfg.watch_phase.as_secs_f64().ceil() as u64;
    let stride = ((expected * n as u64) / MAX_LATENCY_SAMPLES).max(1) as i64;
    // A fresh starting revision: one update, its acknowledged revision.
    let from = https.patch_pod(WATCH_NS, "w-0").await?;
    let rss_before = server.rss_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let (logs, mut tasks) = open_watchers(&server.creds, transport, n, from, stride, stop.clone())
        .await
        .with_context(|| format!("opening {n} {} watchers", transport.name()))?;
    // Warm-up: one event reaches everyone (the watches are established), then idle.
    https.patch_pod(WATCH_NS, "w-1").await?;
    let warm = wait_events(&logs, &mut tasks, 1, WAIT)
        .await
        .with_context(|| format!("warm-up of {n} {} watchers", transport.name()))?;
    let behind = logs
        .iter()
        .filter(|l| l.events.load(Ordering::Relaxed) < 1)
        .count();
    if !warm || behind > 0 {
        bail!(
            "{behind} of {n} {} watchers did not receive the warm-up event within {WAIT:?} \
             ({} cut off as too slow)",
            transport.name(),
            logs.iter().filter(|l| l.is_cut_off()).count()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = server.rss_bytes();
    let base: Vec<u64> = logs
        .iter()
        .map(|l| l.events.load(Ordering::Relaxed))
        .collect();

    // The paced writer.
    let acks: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(WATCH_IN_FLIGHT));
    let start = Instant::now();
    let mut writes = tokio::task::JoinSet::new();
    let mut issued = 0u64;
    let total = rate * cfg.watch_phase.as_millis() as u64 / 1000;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while issued < total && start.elapsed() < cfg.watch_phase * 2 {
        tick.tick().await;
        let due = (rate as f64 * start.elapsed().as_secs_f64()) as u64;
        while issued < due.min(total) {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let https = https.clone();
            let acks = acks.clone();
            let seq = issued + 2;
            writes.spawn(async move {
                let _permit = permit;
                let name = format!("w-{}", seq % WATCH_PODS as u64);
                let rev = https.patch_pod(WATCH_NS, &name).await?;
                acks.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(rev, Instant::now());
                anyhow::Ok(())
            });
            issued += 1;
        }
        while let Some(r) = writes.try_join_next() {
            r??;
        }
    }
    while let Some(r) = writes.join_next().await {
        r??;
    }
    let write_secs = start.elapsed().as_secs_f64();
    let acked = acks.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
    // Drain: everyone sees every acknowledged update (bounded wait).
    let target = base.iter().copied().min().unwrap_or(0) + acked;
    let drain = if cfg.quick {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(30)
    };
    let lost = match wait_events(&logs, &mut tasks, target, drain).await {
        Ok(_) => None,
        Err(e) => Some(format!("{e:#}")),
    };
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    let delivered: u64 = logs
        .iter()
        .zip(&base)
        .map(|(l, b)| l.events.load(Ordering::Relaxed) - b)
        .sum();
    let cut: Vec<String> = logs
        .iter()
        .filter_map(|l| l.cut_off.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .collect();
    // Delivery to the watchers the server kept: every acknowledged update must reach
    // each of them (anything less is an event lost, not a watcher disconnected as slow).
    let kept: Vec<u64> = logs
        .iter()
        .zip(&base)
        .filter(|(l, _)| !l.is_cut_off())
        .map(|(l, b)| l.events.load(Ordering::Relaxed) - b)
        .collect();
    let short = kept.iter().filter(|e| **e < acked).count();
    let acks = acks.lock().unwrap_or_else(|e| e.into_inner());
    let mut lat = Vec::new();
    for l in &logs {
        for (rev, at) in l.samples.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if let Some(ack) = acks.get(rev) {
                // Signed: a watcher may see R before the writer has read its response.
                let ms = if *at >= *ack {
                    (*at - *ack).as_secs_f64() * 1e3
                } else {
                    -((*ack - *at).as_secs_f64() * 1e3)
                };
                lat.push(ms);
            }
        }
    }
    Ok(FanoutResult {
        watchers: n,
        offered_rate: rate,
        achieved_rate: acked as f64 / write_secs,
        delivered: delivered as f64 / (acked.max(1) * n as u64) as f64,
        kept_delivered: kept.iter().sum::<u64>() as f64
            / (acked.max(1) * kept.len().max(1) as u64) as f64,
        cut_off: cut.len(),
        cut_reason: cut.first().cloned(),
        short,
        lost,
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
        rss_per_watcher: rss_idle.saturating_sub(rss_before) as f64 / n as f64,
    })
}

// ---------------------------------------------------------------------------------------
// One backend, start to finish.

/// Creates and updates over one transport.
#[derive(Default)]
struct WriteResult {
    creates: Vec<f64>,
    create_p99_ms: f64,
    updates: Vec<f64>,
    update_p99_ms: f64,
}

#[derive(Default)]
struct BackendResult {
    /// Over HTTPS, then over QUIC.
    writes: [WriteResult; 2],
    list_ms: Vec<f64>,
    list_pods: usize,
    list_bytes: usize,
    topup_secs: f64,
    fanout: Vec<(Transport, FanoutResult)>,
    rss_after_list: u64,
}

async fn run_backend(label: &str, store: &str, dir: &Path, cfg: &Config) -> Result<BackendResult> {
    let server = ServerProc::start(dir, store, 2)?;
    let https = Https::connect(&server.creds, CONNECTIONS).await?;
    let mut out = BackendResult::default();
    let mut all_names: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
    let reps = if cfg.fanout_only { 0 } else { cfg.reps };
    let writers = [
        ("HTTPS", Writer::Https(https.clone())),
        ("QUIC", Writer::quic(&server.creds, CONNECTIONS).await?),
    ];
    for (t, (name, writer)) in writers.iter().enumerate() {
        let w = &mut out.writes[t];
        let mut create_lat = Vec::new();
        let mut own: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
        for rep in 0..reps {
            let (rate, names, lat) =
                creates(writer, &format!("c{t}-{rep}"), cfg.phase, usize::MAX / 2).await?;
            eprintln!("[{label}] {name} creates rep {rep}: {rate:.0}/s");
            w.creates.push(rate);
            create_lat.extend(lat);
            for (a, n) in own.iter_mut().zip(names) {
                a.extend(n);
            }
        }
        w.create_p99_ms = percentile(&create_lat, 99.0);
        let mut update_lat = Vec::new();
        for rep in 0..reps {
            let (rate, lat) = updates(writer, &own, cfg.phase).await?;
            eprintln!("[{label}] {name} updates rep {rep}: {rate:.0}/s");
            w.updates.push(rate);
            update_lat.extend(lat);
        }
        w.update_p99_ms = percentile(&update_lat, 99.0);
        for (a, n) in all_names.iter_mut().zip(own) {
            a.extend(n);
        }
    }
    drop(writers);

    // Top up to the LIST population.
    let have: usize = all_names.iter().map(Vec::len).sum();
    if have < cfg.list_pods && !cfg.fanout_only {
        let t = Instant::now();
        creates(
            &Writer::Https(https.clone()),
            "fill",
            Duration::from_secs(600),
            cfg.list_pods - have,
        )
        .await?;
        out.topup_secs = t.elapsed().as_secs_f64();
    }
    let list_reps = if cfg.fanout_only { 0 } else { cfg.list_reps };
    let (lat, bytes, items) = lists(&https, list_reps).await?;
    eprintln!(
        "[{label}] list of {items} pods ({bytes} bytes): p50 {:.0} ms",
        median(&lat)
    );
    out.list_ms = lat;
    out.list_bytes = bytes;
    out.list_pods = items;
    out.rss_after_list = server.rss_bytes();

    // Watch fan-out.
    let ns =
        format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{WATCH_NS}"}}}}"#);
    let (status, body) = https
        .call(
            Method::POST,
            "/api/v1/namespaces",
            "application/json",
            Bytes::from(ns),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating namespace {WATCH_NS}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    for i in 0..WATCH_PODS {
        https
            .create_pod(WATCH_NS, pod_json(&format!("w-{i}")))
            .await?;
    }
    let plan: Vec<(Transport, usize)> = cfg
        .quic_watchers
        .iter()
        .map(|n| (Transport::Quic, *n))
        .chain(cfg.http_watchers.iter().map(|n| (Transport::Http, *n)))
        .collect();
    for (transport, n) in plan {
        let r = fanout(&server, &https, transport, n, cfg).await?;
        eprintln!(
            "[{label}] {} × {n}: {:.0} updates/s of {}, delivered {:.1}% (to the {} kept: {:.1}%, \
             {} short), cut off as slow {} ({:?}), lost: {:?}, p50 {:.1} ms, p99 {:.1} ms, \
             {:.1} KiB/watcher",
            transport.name(),
            r.achieved_rate,
            r.offered_rate,
            r.delivered * 100.0,
            n - r.cut_off,
            r.kept_delivered * 100.0,
            r.short,
            r.cut_off,
            r.cut_reason,
            r.lost,
            r.p50_ms,
            r.p99_ms,
            r.rss_per_watcher / 1024.0
        );
        out.fanout.push((transport, r));
    }
    drop(https);
    drop(server);
    Ok(out)
}

/// Creates/s with `workers` API workers (embedded store), median over reps.
async fn workers_check(workers: usize, cfg: &Config) -> Result<Vec<f64>> {
    let dir = tempfile::tempdir()?;
    let server = ServerProc::start(dir.path(), "embedded", workers)?;
    let https = Writer::Https(Https::connect(&server.creds, CONNECTIONS).await?);
    let mut rates = Vec::new();
    for rep in 0..cfg.reps {
        let (rate, _, _) = creates(&https, &format!("t{rep}"), cfg.phase, usize::MAX / 2).await?;
        eprintln!("[workers={workers}] creates rep {rep}: {rate:.0}/s");
        rates.push(rate);
    }
    Ok(rates)
}

async fn run(mut cfg: Config) -> Result<()> {
    let started = Instant::now();
    cfg.when = format!(
        "started {} UTC, load average {} at the start",
        utc_now(),
        load_average()
    );
    if cfg.creates_only {
        let rates = workers_check(2, &cfg).await?;
        println!(
            "creates/s over HTTPS, 2 workers: median {:.0} of {rates:.0?}",
            median(&rates)
        );
        return Ok(());
    }
    let embedded_dir = tempfile::tempdir()?;
    let embedded = run_backend("embedded", "embedded", embedded_dir.path(), &cfg).await?;
    drop(embedded_dir);
    if cfg.fanout_only {
        return Ok(());
    }
    let etcd = if cfg.skip_etcd {
        None
    } else {
        let dir = tempfile::tempdir()?;
        let local = LocalEtcd::start(dir.path()).await?;
        let r = run_backend("etcd", local.endpoint(), &dir.path().join("api"), &cfg).await;
        drop(local);
        Some(r?)
    };
    let w1 = workers_check(1, &cfg).await?;
    let w2 = workers_check(2, &cfg).await?;

    cfg.when = format!("{}, {} at the end", cfg.when, load_average());
    let report = render(&cfg, &embedded, etcd.as_ref(), &w1, &w2, started.elapsed());
    println!("{report}");
    if let Some(out) = &cfg.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn render(
    cfg: &Config,
    e: &BackendResult,
    etcd: Option<&BackendResult>,
    w1: &[f64],
    w2: &[f64],
    took: Duration,
) -> String {
    let n = |f: f64| format!("{f:.0}");
    let ms = |f: f64| format!("{f:.1} ms");
    let mut t = Table::new(&[
        "measurement",
        "embedded store",
        "etcd 3.4",
        "embedded / etcd",
        "Kubernetes reference, target",
    ]);
    let reps = cfg.reps;
    // A row of one figure per backend (`None`: not measured), with their ratio when
    // `ratio` (throughputs).
    let mut row = |label: &str,
                   f: &dyn Fn(&BackendResult) -> Option<f64>,
                   fmt: &dyn Fn(f64) -> String,
                   ratio: bool,
                   reference: &str| {
        let (fe, fx) = (f(e), etcd.and_then(f));
        let cell = |v: Option<f64>| v.map(fmt).unwrap_or_else(|| "—".into());
        let r = match (fe, fx) {
            (Some(a), Some(b)) if ratio && b > 0.0 => format!("{:.1}×", a / b),
            _ => "—".into(),
        };
        t.row_text(label, &[cell(fe), cell(fx), r, reference.into()]);
    };
    for (i, tr) in ["HTTPS", "QUIC"].iter().enumerate() {
        let target = if i == 0 {
            "target ≥ 20,000 durable creates/s (embedded)"
        } else {
            "—"
        };
        row(
            &format!("pod creates/s over {tr}, 64 clients (median of {reps})"),
            &|b: &BackendResult| Some(median(&b.writes[i].creates)),
            &n,
            true,
            target,
        );
        row(
            &format!("create latency p99 over {tr}"),
            &|b: &BackendResult| Some(b.writes[i].create_p99_ms),
            &ms,
            false,
            "SLO: mutating calls p99 ≤ 1 s",
        );
        row(
            &format!("pod updates/s (merge patch) over {tr}, 64 clients (median of {reps})"),
            &|b: &BackendResult| Some(median(&b.writes[i].updates)),
            &n,
            true,
            "—",
        );
        row(
            &format!("update latency p99 over {tr}"),
            &|b: &BackendResult| Some(b.writes[i].update_p99_ms),
            &ms,
            false,
            "SLO: mutating calls p99 ≤ 1 s",
        );
    }
    let side = |f: &dyn Fn(&BackendResult) -> String| -> Vec<String> {
        vec![f(e), etcd.map(f).unwrap_or_else(|| "—".into()), "—".into()]
    };
    let mut row = |label: &str, cells: Vec<String>, reference: &str| {
        let mut c = cells;
        c.push(reference.into());
        t.row_text(label, &c);
    };
    row(
        "LIST pods: count, response size",
        side(&|b| {
            format!(
                "{}, {:.0} MiB",
                b.list_pods,
                b.list_bytes as f64 / 1048576.0
            )
        }),
        "—",
    );
    row(
        &format!("LIST all pods p50 / p99 ({} lists)", cfg.list_reps),
        side(&|b| {
            format!(
                "{} / {}",
                ms(median(&b.list_ms)),
                ms(percentile(&b.list_ms, 99.0))
            )
        }),
        "target p99 < 1 s",
    );
    row(
        "server RSS after the LIST",
        side(&|b| format!("{:.0} MiB", b.rss_after_list as f64 / 1048576.0)),
        "—",
    );
    for (i, (transport, f)) in e.fanout.iter().enumerate() {
        let other = etcd.and_then(|b| b.fanout.get(i)).map(|x| &x.1);
        let cell = |f: &FanoutResult| {
            let mut c = format!(
                "{:.0}/s of {} offered; p50 {} / p99 {}; delivered {:.1}%",
                f.achieved_rate,
                f.offered_rate,
                ms(f.p50_ms),
                ms(f.p99_ms),
                f.delivered * 100.0
            );
            if f.cut_off > 0 {
                c.push_str(&format!(
                    "; {} of {} cut off as slow ({}), the rest got {:.1}%",
                    f.cut_off,
                    f.watchers,
                    f.cut_reason.as_deref().unwrap_or(""),
                    f.kept_delivered * 100.0
                ));
            }
            if f.short > 0 {
                c.push_str(&format!("; {} still short after the drain", f.short));
            }
            if let Some(l) = &f.lost {
                c.push_str(&format!("; LOST: {l}"));
            }
            c
        };
        let reference = if transport == &Transport::Quic && f.watchers >= 10_000 {
            "target p99 ≤ 50 ms at 10,000 watchers × 5,000 updates/s; kube-apiserver's watch cache ≈ 40,000 updates/s on 72 cores"
        } else if f.watchers >= 1000 {
            "kube-apiserver's watch cache ≈ 40,000 updates/s on 72 cores"
        } else {
            "—"
        };
        row(
            &format!(
                "watch {} × {}: updates/s; delivery p50 / p99",
                transport.name(),
                f.watchers
            ),
            vec![
                cell(f),
                other.map(cell).unwrap_or_else(|| "—".into()),
                "—".into(),
            ],
            reference,
        );
        row(
            &format!(
                "server memory per idle {} watcher (× {})",
                transport.name(),
                f.watchers
            ),
            vec![
                format!("{:.1} KiB", f.rss_per_watcher / 1024.0),
                other
                    .map(|o| format!("{:.1} KiB", o.rss_per_watcher / 1024.0))
                    .unwrap_or_else(|| "—".into()),
                "—".into(),
            ],
            "target < 16 KiB",
        );
    }
    let mut tw = Table::new(&[
        "API workers",
        "pod creates/s over HTTPS (embedded, median)",
        "all reps",
        "vs 1 worker",
    ]);
    for (w, r) in [(1, w1), (2, w2)] {
        tw.row_text(
            &w.to_string(),
            &[
                n(median(r)),
                r.iter().map(|x| n(*x)).collect::<Vec<_>>().join(", "),
                format!("{:.2}×", median(r) / median(w1).max(1e-9)),
            ],
        );
    }
    let topup = |b: &BackendResult| format!("{:.0} s", b.topup_secs);
    format!(
        "# API server benchmark\n\n\
         Machine: {machine}. The API server runs as a child process (this binary re-executed \
         with `--serve`, 2 HTTP workers unless stated); the clients run in the parent; both \
         share the same cores, so every figure is client + server on {cores} cores.\n\n\
         Command: `cargo run --release -p clipper-perf --bin apiserver-bench{quick}` (took \
         {took:.0} s; {when}).\n\n\
         {table}\n\
         {targets}\n\
         Thread-per-core check (embedded store, {reps} reps of {phase:?}):\n\n{tw}\n\
         ## Method\n\n\
         - Creates and updates: {CLIENTS} concurrent clients, each a loop of one request at a \
           time, multiplexed as HTTP/2 streams over {CONNECTIONS} TLS connections (rustls, the \
           admin client certificate), or as QUIC calls (one stream each) over {CONNECTIONS} \
           QUIC connections; every acknowledged write is durable (fsynced by the \
           store). Pods are ~{POD_BYTES} bytes of JSON. Updates are JSON merge patches of one \
           annotation. Each repetition lasts {phase:?}.\n\
         - LIST: `GET /api/v1/pods` of every pod (the pods of the create/update phases, topped \
           up to {list_pods}; the top-up took {topup_e} embedded / {topup_etcd} etcd), whole \
           body read.\n\
         - Watch fan-out: watchers on namespace `{WATCH_NS}` from the current revision; QUIC \
           watchers share one `QuicClient` connection per {WATCHERS_PER_CONNECTION}, HTTP \
           watchers (`?watch=1`, JSON lines) one HTTP/2 connection per \
           {WATCHERS_PER_CONNECTION}. A writer merge-patches {WATCH_PODS} pods at a paced rate \
           (at most {WATCH_IN_FLIGHT} in flight) for {wphase:?}: {rate} updates/s, capped so \
           rate × watchers ≤ {budget} deliveries/s (two cores cannot serialize, send, receive \
           and parse more). Latency = a watcher's receipt of revision R − the writer's \
           receipt of the response that acknowledged R, on the parent's clock; it can be \
           slightly negative (a watcher can see R before the writer's task reads its \
           response). \"Delivered\" = events received / (acknowledged updates × watchers). \
           A watcher that falls more than {BROADCAST_BATCHES} store commits behind the watch \
           cache's broadcast catches up from the cache's history ({HISTORY_EVENTS} events); \
           one that falls behind the history too is ended by the server with a 410 that \
           says so (QUIC: an error frame, on which the client would relist; HTTP: an ERROR \
           event), and one whose stream accepts \
           nothing for {STALL_TIMEOUT:?} is reset (429 StreamStalled): the bench counts such \
           a watcher as cut off as slow and stops it; a watch that ends in any other way is \
           lost, and reported.\n\
         - Memory per idle watcher: the server child's VmRSS with the watchers open, \
           established and idle, minus its VmRSS before they were opened, divided by the \
           watchers. RSS deltas are noisy at small counts (allocator pages); read the largest \
           count.\n\
         - etcd: 3.4, single member on loopback, started by the bench with its data on the \
           same disk.\n",
        machine = machine_summary(),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        quick = {
            let args: Vec<String> = std::env::args().skip(1).collect();
            if args.is_empty() {
                String::new()
            } else {
                format!(" -- {}", args.join(" "))
            }
        },
        took = took.as_secs_f64(),
        when = cfg.when,
        table = t.markdown(),
        targets = targets(cfg, e),
        tw = tw.markdown(),
        phase = cfg.phase,
        list_pods = cfg.list_pods,
        topup_e = topup(e),
        topup_etcd = etcd.map(topup).unwrap_or_else(|| "—".into()),
        wphase = cfg.watch_phase,
        rate = cfg.watch_rate,
        budget = cfg.fanout_budget,
    )
}

/// The issue's targets against the embedded store's figures, met or missed.
fn targets(cfg: &Config, e: &BackendResult) -> String {
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut out = String::from("Targets (embedded store):\n\n");
    let creates = median(&e.writes[0].creates);
    out.push_str(&format!(
        "- ≥ 20,000 durable pod creates/s over HTTPS with 64 clients: {creates:.0}/s — {}\n",
        met(creates >= 20_000.0)
    ));
    let list_p99 = percentile(&e.list_ms, 99.0);
    out.push_str(&format!(
        "- LIST of {} pods p99 < 1 s: {list_p99:.0} ms — {}{}\n",
        e.list_pods,
        met(list_p99 < 1000.0 && e.list_pods >= cfg.list_pods),
        if cfg.list_pods < 150_000 {
            " (with fewer pods than the issue's 150,000)"
        } else {
            ""
        }
    ));
    for (t, f) in &e.fanout {
        if *t != Transport::Quic || f.watchers < 1000 {
            continue;
        }
        let ok = f.p99_ms <= 50.0 && f.cut_off == 0 && f.short == 0 && f.lost.is_none();
        out.push_str(&format!(
            "- QUIC watch delivery p99 ≤ 50 ms with {} watchers at 5,000 updates/s: p99 {:.1} \
             ms at {:.0} updates/s ({:.0} deliveries/s), {:.1}% delivered — {}{}\n",
            f.watchers,
            f.p99_ms,
            f.achieved_rate,
            f.achieved_rate * f.watchers as f64,
            f.delivered * 100.0,
            met(ok && f.offered_rate >= 5_000),
            if f.offered_rate < 5_000 {
                format!(
                    " (measured at {} updates/s, not 5,000: rate × watchers is capped at {} \
                     deliveries/s on this machine)",
                    f.offered_rate, cfg.fanout_budget
                )
            } else {
                String::new()
            }
        ));
        out.push_str(&format!(
            "- server memory per idle QUIC watcher < 16 KiB (× {}): {:.1} KiB — {}\n",
            f.watchers,
            f.rss_per_watcher / 1024.0,
            met(f.rss_per_watcher < 16.0 * 1024.0)
        ));
    }
    out
}

/// The 1-minute load average (other work on the machine shows up here).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// `YYYY-MM-DD HH:MM`, UTC.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Days to civil date (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}
