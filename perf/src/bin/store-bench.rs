//! store-bench: the embedded store against etcd 3.4, side by side on this machine —
//! durable write throughput at 1, 16 and 256 concurrent writers, concurrent reads, and
//! watch delivery latency at a steady write rate.
//!
//! Run: `cargo run --release -p clipper-perf --bin store-bench` (writes
//! perf/results/store.md); `--quick` runs a short version for CI and writes nothing unless
//! `--out` is given. etcd must be on PATH (Debian `etcd-server`); the bench starts it on
//! loopback ports with its data in a temporary directory on the same disk as the
//! embedded store's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clipper_perf::{Table, machine_summary, median, percentile};
use clipper_store::embedded::EmbeddedStore;
use clipper_store::local_etcd::LocalEtcd;
use clipper_store::{AnyStore, Store, prefix_end};
use tokio::sync::Semaphore;

/// Bytes of each written value (a small Kubernetes object).
const VALUE_BYTES: usize = 1024;
/// Concurrent writer counts measured.
const WRITER_COUNTS: [usize; 3] = [1, 16, 256];
/// Keys written before the read measurement.
const READ_KEYS: usize = 10_000;
/// Concurrent readers in the read measurement.
const READERS: usize = 64;
/// Gets a reader does between yields to the scheduler (an in-memory get never waits, so a
/// reader would otherwise starve the timer that ends the phase).
const READS_PER_YIELD: u64 = 64;
/// The steady write rate of the watch-latency measurement.
const WATCH_RATE_PER_S: u64 = 10_000;
/// Writes issued per pacing tick (one tick per millisecond at 10,000 writes/s).
const WRITES_PER_TICK: u64 = 10;
/// Writes in flight at most during the watch measurement; bounds the bench's memory when a
/// store cannot keep up (its latency then shows it).
const MAX_IN_FLIGHT: usize = 4096;
/// Most samples of the disk's fdatasync latency per repetition.
const FSYNC_SAMPLES: usize = 20_000;
/// Fraction of the watch measurement's first events left out as warm-up.
const WARMUP_FRACTION: f64 = 0.1;

struct Config {
    reps: usize,
    phase: Duration,
    /// The watch measurement runs longer: at 10,000 writes/s of 1 KiB, 10 s write more than
    /// the embedded store's 64 MiB memtable, so a background flush falls inside it.
    watch_phase: Duration,
    out: Option<std::path::PathBuf>,
    quick: bool,
    /// Print the watch latency of every half second (to see whether spikes are periodic).
    trace: bool,
    /// Run only this backend (for profiling one); the report then has one side only.
    only: Option<Kind>,
}

fn parse_args() -> Result<Config> {
    let mut cfg = Config {
        reps: 5,
        phase: Duration::from_secs(3),
        watch_phase: Duration::from_secs(10),
        out: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/store.md")),
        quick: false,
        only: None,
        trace: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                cfg.quick = true;
                cfg.reps = 1;
                cfg.phase = Duration::from_millis(500);
                cfg.watch_phase = Duration::from_millis(500);
                cfg.out = None;
            }
            "--reps" => cfg.reps = args.next().context("--reps N")?.parse()?,
            "--seconds" => {
                cfg.phase = Duration::from_secs_f64(args.next().context("--seconds S")?.parse()?)
            }
            "--watch-seconds" => {
                cfg.watch_phase =
                    Duration::from_secs_f64(args.next().context("--watch-seconds S")?.parse()?)
            }
            "--out" => cfg.out = Some(args.next().context("--out PATH")?.into()),
            "--trace" => cfg.trace = true,
            "--only" => {
                cfg.only = match args.next().as_deref() {
                    Some("embedded") => Some(Kind::Embedded),
                    Some("etcd") => Some(Kind::Etcd),
                    _ => bail!("--only embedded|etcd"),
                };
                cfg.out = None;
            }
            other => bail!(
                "unknown argument {other}; use --quick, --reps N, --seconds S, --watch-seconds S, --out PATH, \
                 --only embedded|etcd, --trace"
            ),
        }
    }
    if cfg.reps == 0 {
        bail!("--reps must be at least 1");
    }
    Ok(cfg)
}

/// One backend under test, with what keeps it alive.
struct Backend {
    store: Arc<AnyStore>,
    _etcd: Option<LocalEtcd>,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Embedded,
    Etcd,
}

async fn start(kind: Kind) -> Result<Backend> {
    let dir = tempfile::tempdir()?;
    Ok(match kind {
        Kind::Embedded => Backend {
            store: Arc::new(EmbeddedStore::open(dir.path().join("store"))?.into()),
            _etcd: None,
            _dir: dir,
        },
        Kind::Etcd => {
            let etcd = LocalEtcd::start(dir.path()).await?;
            let store = etcd.connect().await?;
            Backend {
                store: Arc::new(store.into()),
                _etcd: Some(etcd),
                _dir: dir,
            }
        }
    })
}

fn value(stamp_ns: u64) -> Bytes {
    let mut v = vec![b'x'; VALUE_BYTES];
    v[..8].copy_from_slice(&stamp_ns.to_le_bytes());
    Bytes::from(v)
}

/// Durable creates per second with `writers` concurrent writers, each awaiting its ack.
async fn writes_per_s(store: &Arc<AnyStore>, writers: usize, phase: Duration) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for w in 0..writers {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        tasks.spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("/bench/w{writers}/{w:03}/{i:08}");
                store.create(Bytes::from(key), value(i), 0).await?;
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(phase).await;
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(counted as f64 / elapsed.as_secs_f64())
}

/// Gets per second of random existing keys from `READERS` concurrent readers.
async fn reads_per_s(store: &Arc<AnyStore>, phase: Duration) -> Result<f64> {
    let sem = Arc::new(Semaphore::new(256));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..READ_KEYS {
        let (store, permit) = (store.clone(), sem.clone().acquire_owned().await?);
        tasks.spawn(async move {
            let _permit = permit;
            store
                .create(Bytes::from(format!("/bench/r/{i:06}")), value(0), 0)
                .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for r in 0..READERS {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        tasks.spawn(async move {
            let mut x = r as u64 * 0x9E37_79B9 + 1;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = format!("/bench/r/{:06}", x % READ_KEYS as u64);
                let (kv, _) = store.get(key.as_bytes()).await?;
                if kv.is_none() {
                    anyhow::bail!("key {key} missing");
                }
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
                // The embedded store answers a get without waiting; let the timer run.
                if n.is_multiple_of(READS_PER_YIELD) {
                    tokio::task::yield_now().await;
                }
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(phase).await;
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(counted as f64 / elapsed.as_secs_f64())
}

/// Watch delivery latency (ms, from just before a write is issued to the watcher receiving
/// its event) at a steady `WATCH_RATE_PER_S`; returns p50, p99 and the achieved rate.
async fn watch_latency(
    store: &Arc<AnyStore>,
    phase: Duration,
    trace: bool,
) -> Result<(f64, f64, f64)> {
    let epoch = Instant::now();
    let mut watch = store
        .watch(
            Bytes::from_static(b"/bench/l/"),
            prefix_end(b"/bench/l/"),
            0,
        )
        .await?;
    let total = (phase.as_secs_f64() * WATCH_RATE_PER_S as f64) as u64;
    let receiver = tokio::spawn(async move {
        let mut lat_ms = Vec::with_capacity(total as usize);
        while (lat_ms.len() as u64) < total {
            let batch = match tokio::time::timeout(Duration::from_secs(30), watch.next()).await {
                Ok(Some(Ok(b))) => b,
                Ok(Some(Err(e))) => anyhow::bail!("watch ended: {e}"),
                Ok(None) => anyhow::bail!("watch closed"),
                Err(_) => anyhow::bail!("no watch event for 30 s"),
            };
            let now = epoch.elapsed().as_nanos() as u64;
            for e in batch {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(&e.kv.value[..8]);
                lat_ms.push((now.saturating_sub(u64::from_le_bytes(stamp))) as f64 / 1e6);
            }
        }
        anyhow::Ok(lat_ms)
    });
    let sem = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tick = tokio::time::interval(Duration::from_micros(
        1_000_000 * WRITES_PER_TICK / WATCH_RATE_PER_S,
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut issued = 0u64;
    let mut writers = tokio::task::JoinSet::new();
    while issued < total {
        tick.tick().await;
        for _ in 0..WRITES_PER_TICK.min(total - issued) {
            let permit = sem.clone().acquire_owned().await?;
            let store = store.clone();
            let i = issued;
            writers.spawn(async move {
                let _permit = permit;
                let stamp = epoch.elapsed().as_nanos() as u64;
                store
                    .create(Bytes::from(format!("/bench/l/{i:08}")), value(stamp), 0)
                    .await
            });
            issued += 1;
        }
        while let Some(r) = writers.try_join_next() {
            r??;
        }
    }
    while let Some(r) = writers.join_next().await {
        r??;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let lat = receiver.await??;
    if trace {
        for (i, c) in lat.chunks(WATCH_RATE_PER_S as usize / 2).enumerate() {
            eprintln!(
                "    half-second {i}: p50 {:.2} p99 {:.2} max {:.2}",
                percentile(c, 50.0),
                percentile(c, 99.0),
                percentile(c, 100.0)
            );
        }
    }
    let skip = (lat.len() as f64 * WARMUP_FRACTION) as usize;
    let lat = &lat[skip..];
    Ok((percentile(lat, 50.0), percentile(lat, 99.0), rate))
}

/// The results of one backend in one repetition.
#[derive(Default, Clone)]
struct Run {
    writes: Vec<f64>,
    reads: f64,
    p50_ms: f64,
    p99_ms: f64,
    rate: f64,
}

/// CPU time counters from /proc/stat: (steal, total) in ticks, for the share of CPU the
/// hypervisor took from this machine during the run.
fn cpu_steal_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.get(7).copied().unwrap_or(0), v.iter().take(8).sum())
}

/// The disk's own floor: latency (ms) of appending 4 KiB to a file and `fdatasync`ing it,
/// one at a time, for `phase` or `FSYNC_SAMPLES` samples; returns p50, p99 and max.
fn fsync_floor(phase: Duration) -> Result<(f64, f64, f64)> {
    use std::io::Write as _;
    let dir = tempfile::tempdir()?;
    let mut f = std::fs::File::create(dir.path().join("fsync-probe"))?;
    let block = vec![0x5au8; 4096];
    let mut lat = Vec::new();
    let started = Instant::now();
    while lat.len() < FSYNC_SAMPLES && started.elapsed() < phase {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        percentile(&lat, 100.0),
    ))
}

/// One measurement on a fresh store of `kind` (a fresh etcd process for etcd), so that one
/// measurement's backlog (an LSM flush, etcd's backend commit) does not land in the next.
async fn measure(kind: Kind, what: What, cfg: &Config, run: &mut Run) -> Result<()> {
    let b = start(kind).await?;
    let name = if kind == Kind::Embedded {
        "embedded"
    } else {
        "etcd"
    };
    match what {
        What::Writes(i) => {
            let w = WRITER_COUNTS[i];
            let v = writes_per_s(&b.store, w, cfg.phase).await?;
            eprintln!("  {name}: {w} writers: {v:.0} creates/s");
            run.writes.push(v);
        }
        What::Reads => {
            run.reads = reads_per_s(&b.store, cfg.phase).await?;
            eprintln!("  {name}: reads: {:.0} gets/s", run.reads);
        }
        What::Watch => {
            let (p50, p99, rate) = watch_latency(&b.store, cfg.watch_phase, cfg.trace).await?;
            eprintln!("  {name}: watch: p50 {p50:.2} ms, p99 {p99:.2} ms at {rate:.0} writes/s");
            (run.p50_ms, run.p99_ms, run.rate) = (p50, p99, rate);
        }
    }
    Ok(())
}

/// Which measurement.
#[derive(Clone, Copy)]
enum What {
    Writes(usize),
    Reads,
    Watch,
}

fn med(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    median(&runs.iter().map(f).collect::<Vec<_>>())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let cfg = parse_args()?;
    let mut embedded = Vec::new();
    let mut etcd = Vec::new();
    let mut floor = Vec::new();
    let steal_start = cpu_steal_ticks();
    for rep in 0..cfg.reps {
        floor.push(fsync_floor(cfg.phase)?);
        let (p50, p99, max) = floor[rep];
        eprintln!("disk: fdatasync p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
        eprintln!("repetition {}/{}", rep + 1, cfg.reps);
        // Each measurement runs on both backends back to back, so that a disk whose speed
        // drifts over minutes (as a VM's does) treats both alike.
        let (mut e, mut d) = (Run::default(), Run::default());
        let whats = (0..WRITER_COUNTS.len())
            .map(What::Writes)
            .chain([What::Reads, What::Watch]);
        for what in whats {
            if cfg.only != Some(Kind::Etcd) {
                measure(Kind::Embedded, what, &cfg, &mut e)
                    .await
                    .context("embedded store")?;
            }
            if cfg.only != Some(Kind::Embedded) {
                measure(Kind::Etcd, what, &cfg, &mut d)
                    .await
                    .context("etcd")?;
            }
        }
        embedded.push(e);
        etcd.push(d);
    }
    if cfg.only.is_some() {
        return Ok(());
    }
    let steal_end = cpu_steal_ticks();
    let steal_pct = 100.0 * (steal_end.0.saturating_sub(steal_start.0)) as f64
        / (steal_end.1.saturating_sub(steal_start.1)).max(1) as f64;
    let mut t = Table::new(&["measurement", "embedded", "etcd 3.4", "embedded / etcd"]);
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.1}×", a / b)
        } else {
            "–".into()
        }
    };
    for (i, w) in WRITER_COUNTS.iter().enumerate() {
        let (a, b) = (med(&embedded, |r| r.writes[i]), med(&etcd, |r| r.writes[i]));
        t.row_text(
            &format!(
                "durable creates/s, {w} writer{}",
                if *w == 1 { "" } else { "s" }
            ),
            &[format!("{a:.0}"), format!("{b:.0}"), ratio(a, b)],
        );
    }
    let (a, b) = (med(&embedded, |r| r.reads), med(&etcd, |r| r.reads));
    t.row_text(
        &format!("gets/s, {READERS} concurrent readers"),
        &[format!("{a:.0}"), format!("{b:.0}"), ratio(a, b)],
    );
    for (label, f) in [
        (
            "watch delivery p50 (ms)",
            (|r: &Run| r.p50_ms) as fn(&Run) -> f64,
        ),
        ("watch delivery p99 (ms)", |r: &Run| r.p99_ms),
    ] {
        let (a, b) = (med(&embedded, f), med(&etcd, f));
        t.row_text(
            &format!("{label} at {WATCH_RATE_PER_S} writes/s"),
            &[format!("{a:.2}"), format!("{b:.2}"), ratio(a, b)],
        );
    }
    let (a, b) = (med(&embedded, |r| r.rate), med(&etcd, |r| r.rate));
    t.row_text(
        "achieved write rate in the watch test (writes/s)",
        &[format!("{a:.0}"), format!("{b:.0}"), "".into()],
    );

    let last = WRITER_COUNTS.len() - 1;
    let speedup = med(&embedded, |r| r.writes[last]) / med(&etcd, |r| r.writes[last]).max(1e-9);
    let p99 = med(&embedded, |r| r.p99_ms);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut out = String::new();
    out.push_str("# Store benchmark: embedded vs etcd 3.4\n\n");
    out.push_str(&format!(
        "Command: `cargo run --release -p clipper-perf --bin store-bench`{}\n\n",
        if cfg.quick { " --quick" } else { "" }
    ));
    out.push_str(&format!(
        "Machine: {}; data on the same disk (temporary directories).\n\n",
        machine_summary()
    ));
    out.push_str(&format!(
        "Each figure is the median of {} repetitions; every measurement runs on a fresh store \
         (a fresh etcd process for etcd), embedded and etcd back to back; throughput phases run {:.1} s, the watch phase {:.1} \
         s. Writes are creates of {VALUE_BYTES}-byte \
         values, each awaited until acknowledged (durable: fdatasync'd by the embedded store's \
         group commit, by etcd's WAL). Reads are gets of random keys among {READ_KEYS}. Watch \
         delivery latency is measured from just before a write is issued to the watcher \
         receiving its event (so it includes the write's own commit), at a paced \
         {WATCH_RATE_PER_S} writes/s, first {:.0}% left out as warm-up. The bench's client, the \
         embedded store and etcd share the machine's cores.\n\n",
        cfg.reps,
        cfg.phase.as_secs_f64(),
        cfg.watch_phase.as_secs_f64(),
        WARMUP_FRACTION * 100.0
    ));
    out.push_str(&t.markdown());
    out.push_str(&format!(
        "\nThe disk's own floor in the same runs (4 KiB append + fdatasync, one at a time, \
         median over repetitions): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms. CPU time taken \
         by the hypervisor (steal) during the run: {steal_pct:.0}%.\n",
        median(&floor.iter().map(|f| f.0).collect::<Vec<_>>()),
        median(&floor.iter().map(|f| f.1).collect::<Vec<_>>()),
        median(&floor.iter().map(|f| f.2).collect::<Vec<_>>())
    ));
    out.push_str(&format!(
        "\nTargets:\n\n- embedded ≥ 5× etcd's durable write throughput at 256 writers: {:.1}× — {}\n\
         - p99 watch delivery ≤ 10 ms at {WATCH_RATE_PER_S} writes/s (embedded): {p99:.2} ms — {}\n",
        speedup,
        verdict(speedup >= 5.0),
        verdict(p99 <= 10.0)
    ));
    println!("{out}");
    if let Some(path) = &cfg.out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &out).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
