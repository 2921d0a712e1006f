//! `clipper`: the one binary — daemon subcommands (`up`) and, as they land, the CLI verbs.

/// mimalloc rather than glibc's malloc: allocation was a quarter of the API server's
/// CPU under a create-heavy load (see perf/results/apiserver.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// A daemon's status line on stdout. Write errors are ignored: `clipper up` and `clipper
/// agent` must not die because whoever started them stopped reading (println! panics on
/// a closed pipe).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A daemon's warning on stderr, as [`say!`].
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bootstrap;
mod cli;
mod node_agent;
mod up_config;

/// How often `clipper proxy` checks that its threads still run: how late it notices a failure.
const PROXY_CHECK_PERIOD: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Parser)]
#[command(
    name = "clipper",
    version,
    about = "A Kubernetes-compatible container orchestrator for dedicated Linux hosts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `clipper up`'s flags (each also a key of its configuration file).
#[derive(clap::Args)]
struct UpArgs {
    /// A configuration file (YAML, kebab-case keys; see deploy/clipper.yaml). Flags
    /// given here win over it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the cluster keeps its state [default: /var/lib/clipper].
    #[arg(long, env = "CLIPPER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTPS address of the API server (QUIC on the same port over UDP)
    /// [default: 0.0.0.0:6443].
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The store: `embedded` (under the data directory) or `etcd://host:port,...`
    /// [default: embedded].
    #[arg(long)]
    store: Option<String>,
    /// The Service ClusterIP range [default: 10.96.0.0/12].
    #[arg(long)]
    service_cidr: Option<String>,
    /// The NodePort range, FIRST-LAST [default: 30000-32767].
    #[arg(long)]
    service_node_port_range: Option<String>,
    /// API worker threads [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
    /// This node's name (for the Local traffic policies) [default: the host name].
    #[arg(long)]
    node_name: Option<String>,
    /// Do not run the service proxy (ClusterIPs and NodePorts are then not served on
    /// this host, no service-IP link is created, and there is no cluster DNS).
    #[arg(long)]
    no_proxy: bool,
    /// The link the service proxy puts ClusterIPs on [default: clipper0].
    #[arg(long)]
    service_ip_link: Option<String>,
    /// The cluster DNS address (the kube-dns Service's ClusterIP) [default: the tenth
    /// address of the service range, 10.96.0.10]. Served in process on port 53.
    #[arg(long)]
    cluster_dns: Option<std::net::IpAddr>,
    /// The cluster domain DNS answers for [default: cluster.local].
    #[arg(long)]
    cluster_domain: Option<String>,
    /// Where the service proxy serves /metrics and /healthz [default: 127.0.0.1:10249].
    #[arg(long)]
    proxy_metrics_address: Option<std::net::SocketAddr>,
    /// Connect to endpoints on this node from the node's address instead of keeping
    /// the client's (IP_TRANSPARENT with an nftables mark and policy routing).
    #[arg(long)]
    no_preserve_source: bool,
    /// The scheduler's configuration: a KubeSchedulerConfiguration file
    /// (kubescheduler.config.k8s.io/v1; profiles, plugins, weights, pluginConfig).
    #[arg(long)]
    scheduler_config: Option<PathBuf>,
    /// Do not run the node agent (this host then runs no pods).
    #[arg(long)]
    no_agent: bool,
    /// This node's pod address range [default: 10.244.0.0/24].
    #[arg(long)]
    pod_cidr: Option<String>,
    /// The bridge pods attach to [default: clipper-br0].
    #[arg(long)]
    pod_bridge: Option<String>,
    /// The agent's HTTPS port, for container logs [default: 10250].
    #[arg(long)]
    agent_port: Option<u16>,
    /// The address this node is reached at [default: the default route's source].
    #[arg(long)]
    node_ip: Option<std::net::IpAddr>,
    /// How often node resource metrics are scraped for `kubectl top` (metrics.k8s.io),
    /// e.g. 15s, 500ms [default: 15s].
    #[arg(long)]
    metric_resolution: Option<String>,
}

/// `clipper agent`'s flags.
#[derive(clap::Args)]
struct AgentArgs {
    /// Credentials for the API server: a kubeconfig with a client certificate (a node's,
    /// `system:node:<name>` in `system:nodes`, or an admin's). When the file does not
    /// exist and --token is given, the agent joins and writes it [default:
    /// <root>/kubeconfig].
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Join with a bootstrap token: the API server's URL (`clipper join` prints the
    /// whole command).
    #[arg(long, requires_all = ["token", "ca_cert_hash"])]
    server: Option<String>,
    /// The bootstrap token to join with (`clipper token create`).
    #[arg(long, requires_all = ["server", "ca_cert_hash"])]
    token: Option<String>,
    /// The pin of the cluster CA's public key (`sha256:<hex>`): the server is trusted
    /// only if its CA matches.
    #[arg(long, requires_all = ["server", "token"])]
    ca_cert_hash: Option<String>,
    /// This node's name [default: the host name].
    #[arg(long)]
    node_name: Option<String>,
    /// Where the agent keeps images, containers, pod files and logs.
    #[arg(long, default_value = "/var/lib/clipper/agent")]
    root: PathBuf,
    /// This node's pod address range (unique per node).
    #[arg(long, default_value = "10.244.0.0/24")]
    pod_cidr: String,
    /// The bridge pods attach to.
    #[arg(long, default_value = "clipper-br0")]
    pod_bridge: String,
    /// The agent's HTTPS port, for container logs.
    #[arg(long, default_value_t = 10250)]
    port: u16,
    /// The address this node is reached at [default: the default route's source].
    #[arg(long)]
    node_ip: Option<std::net::IpAddr>,
    /// The cluster DNS address pods resolve with [default: none: the host's resolvers].
    #[arg(long)]
    cluster_dns: Option<std::net::IpAddr>,
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// Do not run the service proxy (and the cluster DNS) on this node.
    #[arg(long)]
    no_proxy: bool,
    /// The link the service proxy puts ClusterIPs on.
    #[arg(long, default_value = "clipper0")]
    service_ip_link: String,
    /// Where the service proxy serves /metrics and /healthz.
    #[arg(long, default_value = clipper_proxyd::metrics::DEFAULT_METRICS_ADDRESS)]
    proxy_metrics_address: std::net::SocketAddr,
    /// Connect to endpoints on this node from the node's address instead of keeping
    /// the client's.
    #[arg(long)]
    no_preserve_source: bool,
}

#[derive(Subcommand)]
enum ImageAction {
    /// Import an OCI image layout (a directory, or a tar or tar.gz of one) into the node's
    /// image store.
    Import {
        /// The layout directory or archive.
        path: PathBuf,
        /// The reference to store it under (default: the layout's ref.name annotation).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the images in the node's image store.
    Ls,
}

#[derive(Subcommand)]
enum ProxyAction {
    /// Per-service connections, bytes, errors and connect latency of a running proxy
    /// (`clipper up`'s or a standalone one), from its /metrics.
    Stats {
        /// The proxy's metrics URL.
        #[arg(long, default_value = "http://127.0.0.1:10249/metrics")]
        url: String,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run a one-host cluster: every component that exists, in one process.
    Up(Box<UpArgs>),
    /// Run the node agent alone, joined to an existing control plane.
    Agent(Box<AgentArgs>),
    /// The node's image store (what pods' `image:` names resolve to).
    Image {
        #[command(subcommand)]
        action: ImageAction,
        /// The agent's directory (`<data-dir>/agent` under `clipper up`).
        #[arg(long, global = true, default_value = "/var/lib/clipper/agent")]
        root: PathBuf,
    },
    /// The per-container monitor the agent starts (internal).
    #[command(hide = true)]
    Shim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// kubectl's verbs (get, apply, create, delete, patch, label, annotate, scale, cordon,
    /// uncordon, api-resources, events, describe): src/cli/.
    #[command(flatten)]
    Kubectl(cli::Verb),
    /// Run one of the benchmarks of perf/ (they are separate binaries installed next to
    /// `clipper`; `cargo build --release -p clipper-perf` builds them). Without a name,
    /// lists them.
    Bench {
        /// store, proto, scheduler, scheduler-core, proxy or apiserver.
        name: Option<String>,
        /// Passed to the benchmark (e.g. --quick, --workload SchedulingBasic).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the service proxy standalone from a static configuration file (YAML, or JSON by
    /// extension; see dataplane/proxy.example.yaml). Prints `listening <name> <address>` per
    /// service once it serves. `clipper proxy stats` summarizes a running proxy's metrics.
    Proxy {
        #[command(subcommand)]
        action: Option<ProxyAction>,
        /// The configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Proxy threads, one io_uring each (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Leave thread placement to the kernel instead of pinning thread i to core i.
        #[arg(long)]
        no_pin: bool,
        /// Where /metrics and /healthz are served (port 0: any free port, printed).
        #[arg(long, default_value = clipper_proxyd::metrics::DEFAULT_METRICS_ADDRESS)]
        metrics_address: std::net::SocketAddr,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // hickory's server logs every query at INFO.
                .unwrap_or_else(|_| "info,hickory_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse_from(cli::global_flags_after_verb(std::env::args_os()));
    if let Command::Kubectl(verb) = cli.command {
        return cli::run(verb);
    }
    if let Command::Proxy {
        action: None,
        config,
        threads,
        no_pin,
        metrics_address,
    } = &cli.command
    {
        // One line even if a cause spans several (a YAML parser message might).
        let result = match config {
            Some(config) => proxy(config, *threads, !no_pin, *metrics_address),
            None => Err(anyhow::anyhow!(
                "clipper proxy needs --config FILE (or the stats subcommand)"
            )),
        }
        .map_err(|e| anyhow::anyhow!("{}", format!("{e:#}").replace('\n', " ")));
        return report(result);
    }
    if let Command::Bench { name, args } = &cli.command {
        return report(bench(name.as_deref(), args));
    }
    if let Command::Shim { args } = &cli.command {
        let code = clipper_agent::oci::shim::shim_main(args);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    if let Command::Image { action, root } = &cli.command {
        return report(image(action, root));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => {
                let UpArgs {
                    config,
                    data_dir,
                    listen,
                    store,
                    service_cidr,
                    service_node_port_range,
                    workers,
                    node_name,
                    no_proxy,
                    service_ip_link,
                    cluster_dns,
                    cluster_domain,
                    proxy_metrics_address,
                    no_preserve_source,
                    scheduler_config,
                    no_agent,
                    pod_cidr,
                    pod_bridge,
                    agent_port,
                    node_ip,
                    metric_resolution,
                } = *args;
                let mut c = match &config {
                    Some(path) => up_config::UpConfig::load(path).map_err(anyhow::Error::msg)?,
                    None => up_config::UpConfig::default(),
                };
                // Flags win over the file.
                macro_rules! set {
                    ($($field:ident),*) => { $(if let Some(v) = $field { c.$field = v; })* };
                }
                set!(
                    data_dir,
                    listen,
                    store,
                    service_cidr,
                    service_node_port_range,
                    service_ip_link,
                    cluster_domain,
                    proxy_metrics_address,
                    pod_cidr,
                    pod_bridge,
                    agent_port,
                    metric_resolution
                );
                if node_ip.is_some() {
                    c.node_ip = node_ip;
                }
                c.agent &= !no_agent;
                if workers.is_some() {
                    c.workers = workers;
                }
                if node_name.is_some() {
                    c.node_name = node_name;
                }
                if cluster_dns.is_some() {
                    c.cluster_dns = cluster_dns;
                }
                if scheduler_config.is_some() {
                    c.scheduler_config = scheduler_config;
                }
                c.proxy &= !no_proxy;
                c.preserve_source &= !no_preserve_source;
                c.validate().map_err(anyhow::Error::msg)?;
                up(c).await
            }
            Command::Proxy {
                action: Some(ProxyAction::Stats { url }),
                ..
            } => proxy_stats(&url).await,
            Command::Agent(args) => agent(*args).await,
            Command::Proxy { .. }
            | Command::Bench { .. }
            | Command::Kubectl(_)
            | Command::Shim { .. }
            | Command::Image { .. } => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    report(result)
}

/// The benchmarks of perf/: `clipper bench NAME` runs the binary `NAME-bench`.
const BENCHES: [(&str, &str); 6] = [
    (
        "store",
        "embedded store vs etcd: durable creates/s, watch latency",
    ),
    ("proto", "rkyv vs JSON encode/decode of API objects"),
    (
        "scheduler",
        "scheduler_perf workloads through the API server, vs kube-scheduler",
    ),
    (
        "scheduler-core",
        "the scheduler's decision core alone, in process",
    ),
    ("proxy", "the io_uring proxy vs HAProxy, nginx and IPVS"),
    (
        "apiserver",
        "API server creates, LIST, watch fan-out over HTTPS and QUIC",
    ),
];

/// `clipper bench`: finds `<name>-bench` next to this executable and runs it, passing
/// its exit status through.
fn bench(name: Option<&str>, args: &[String]) -> anyhow::Result<()> {
    let Some(name) = name else {
        println!("benchmarks (clipper bench NAME [ARGS]; --quick for a smoke run):");
        for (n, what) in BENCHES {
            println!("  {n:<15} {what}");
        }
        return Ok(());
    };
    if !BENCHES.iter().any(|(n, _)| *n == name) {
        let known: Vec<&str> = BENCHES.iter().map(|(n, _)| *n).collect();
        anyhow::bail!("no benchmark {name:?}; known: {}", known.join(", "));
    }
    let exe = std::env::current_exe().context("locating the clipper executable")?;
    let dir = exe
        .parent()
        .context("the clipper executable has no directory")?;
    let bin = dir.join(format!("{name}-bench"));
    if !bin.exists() {
        anyhow::bail!(
            "{} is not installed next to clipper; build the benchmarks with `cargo build --release -p clipper-perf` (they land in the same directory)",
            bin.display()
        );
    }
    let status = std::process::Command::new(&bin)
        .args(args)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    if !status.success() {
        anyhow::bail!("{name}-bench failed ({status})");
    }
    Ok(())
}

/// The exit code for `result`; an error is printed as one line.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line with the chain of causes; no backtrace for user-facing errors.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `clipper proxy`: the io_uring service proxy on a static configuration, until SIGINT or
/// SIGTERM (exit 0) or until a proxy thread fails (exit 1). No async runtime drives the data
/// path; a current-thread runtime only waits for the signals and the threads' end.
/// `clipper proxy stats`: one line per service from the proxy's /metrics.
async fn proxy_stats(url: &str) -> anyhow::Result<()> {
    let text = clipper_proxyd::metrics::scrape(url)
        .await
        .map_err(|e| anyhow::anyhow!("reading the proxy's metrics: {e}"))?;
    let summary = clipper_proxyd::metrics::summarize(&text);
    if summary.is_empty() {
        println!("no services");
    } else {
        print!("{}", clipper_proxyd::metrics::render_table(&summary));
    }
    Ok(())
}

fn proxy(
    config_path: &std::path::Path,
    threads: Option<usize>,
    pin: bool,
    metrics_address: std::net::SocketAddr,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    // The dataplane's errors already name their cause in their message: print the message,
    // not the chain (which would repeat the cause).
    let config = clipper_dataplane::Config::load(config_path)
        .map_err(|e| anyhow::anyhow!("proxy configuration {}: {e}", config_path.display()))?;
    if config.services.is_empty() {
        anyhow::bail!(
            "proxy configuration {}: no services to serve",
            config_path.display()
        );
    }
    if !clipper_dataplane::uring::io_uring_available() {
        anyhow::bail!(
            "io_uring is not available here (kernel.io_uring_disabled or a seccomp filter?)"
        );
    }
    let threads = match threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    // Handlers first: a signal that arrives once we report readiness must stop us cleanly.
    let shutdown = runtime.block_on(async { Shutdown::install() })?;
    let options = clipper_dataplane::DriverOptions {
        pin_threads: pin,
        ..Default::default()
    };
    let handle = clipper_dataplane::start_with(&config, threads, options)
        .map_err(|e| anyhow::anyhow!("starting the proxy: {e}"))?;
    let (_stop_metrics, stop_rx) = tokio::sync::watch::channel(false);
    let (metrics_at, _metrics_task) = runtime
        .block_on(clipper_proxyd::metrics::serve(
            metrics_address,
            handle.metrics().clone(),
            stop_rx,
        ))
        .with_context(|| format!("serving metrics on {metrics_address}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "metrics http://{metrics_at}/metrics")?;
    for service in &config.services {
        if let Some(addr) = handle.listen_addr(&service.name) {
            writeln!(out, "listening {} {addr}", service.name)?;
        }
    }
    out.flush()?;
    drop(out);
    // The threads run until they fail or we stop them: wait for a signal, and look every
    // `PROXY_CHECK_PERIOD` whether a thread ended (which only an error makes it do).
    let failed = runtime.block_on(async {
        let mut tick = tokio::time::interval(PROXY_CHECK_PERIOD);
        tokio::select! {
            r = shutdown.wait() => r.map(|()| false),
            _ = async { loop { tick.tick().await; if handle.is_finished() { break; } } } => Ok(true),
        }
    })?;
    if failed {
        handle
            .join()
            .map_err(|e| anyhow::anyhow!("proxy stopped: {e}"))?;
        anyhow::bail!("proxy stopped: a proxy thread ended without an error");
    }
    handle
        .shutdown()
        .map_err(|e| anyhow::anyhow!("stopping the proxy: {e}"))?;
    Ok(())
}

/// Parses `--store`.
fn store_choice(
    data_dir: &std::path::Path,
    store: &str,
) -> anyhow::Result<clipper_apiserver::run::StoreChoice> {
    use clipper_apiserver::run::StoreChoice;
    if store == "embedded" {
        return Ok(StoreChoice::Embedded(data_dir.join("store")));
    }
    if let Some(list) = store.strip_prefix("etcd://") {
        let endpoints: Vec<String> = list
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| format!("http://{e}"))
            .collect();
        if endpoints.is_empty() {
            anyhow::bail!("--store etcd:// needs at least one host:port");
        }
        return Ok(StoreChoice::Etcd(endpoints));
    }
    anyhow::bail!("--store must be `embedded` or `etcd://host:port,...`, not {store:?}")
}

/// `clipper up`: the store, the API server (with its in-process controllers), the
/// scheduler, the garbage collector, and the service proxy with the cluster DNS. The
/// workload controllers and the node agent are not built yet.
async fn up(c: up_config::UpConfig) -> anyhow::Result<()> {
    let metric_resolution = c.metric_resolution().map_err(anyhow::Error::msg)?;
    let dns_ip = match c.cluster_dns {
        Some(ip) => ip,
        None => default_cluster_dns(&c.service_cidr)?,
    };
    let proxy = c.proxy.then(|| ProxyOptions {
        node_name: c.node_name.clone().unwrap_or_else(host_name),
        link: c.service_ip_link.clone(),
        metrics_address: c.proxy_metrics_address,
        preserve_source: c.preserve_source,
        dns_ip: Some(dns_ip),
        cluster_domain: c.cluster_domain.clone(),
        pod_cidr: c.agent.then(|| c.pod_cidr.clone()),
    });
    let agent = c.agent.then(|| node_agent::AgentOptions {
        node_name: c.node_name.clone().unwrap_or_else(host_name),
        root: c.data_dir.join("agent"),
        pod_cidr: c.pod_cidr.clone(),
        pod_bridge: c.pod_bridge.clone(),
        port: c.agent_port,
        node_ip: c.node_ip,
        cluster_dns: c.proxy.then_some(dns_ip),
        cluster_domain: c.cluster_domain.clone(),
        ca_pem: String::new(),
    });
    let scheduler_config = c.scheduler_config.clone();
    let (data_dir, listen, store, service_cidr, workers) = (
        c.data_dir.clone(),
        c.listen,
        c.store.clone(),
        c.service_cidr.clone(),
        c.workers,
    );
    let node_port_range =
        clipper_apiserver::services::parse_node_port_range(&c.service_node_port_range)
            .map_err(anyhow::Error::msg)?;
    // A bad configuration file fails before anything starts.
    let scheduler_config = match &scheduler_config {
        None => clipper_scheduler::Config::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("reading the scheduler configuration {}", path.display())
            })?;
            clipper_scheduler::Config::parse(&text).map_err(|e| {
                anyhow::anyhow!(
                    "the scheduler configuration {}: {}",
                    path.display(),
                    e.to_string().replace('\n', " ")
                )
            })?
        }
    };
    let profile_names: Vec<String> = scheduler_config
        .profiles
        .iter()
        .map(|p| p.scheduler_name.clone())
        .collect();
    // Handlers first: a signal that arrives once we report readiness must stop us cleanly.
    let shutdown = Shutdown::install()?;
    let mut config = clipper_apiserver::run::ApiServerConfig::new(&data_dir);
    config.store = store_choice(&data_dir, &store)?;
    config.listen = listen;
    config.service_cidr = service_cidr;
    config.node_port_range = node_port_range;
    if let Some(w) = workers {
        config.workers = w;
    }
    let running = clipper_apiserver::run::start(&config)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    say!(
        "clipper: API server listening on https://{} (QUIC node protocol on the same port over UDP)",
        running.addr
    );
    // The metrics pipeline (metrics-server's part) runs in the API server's process.
    let metrics = clipper_apiserver::metrics::start(running.server.clone(), metric_resolution);
    say!(
        "clipper: resource metrics scraped every {} (metrics.k8s.io, kubectl top)",
        c.metric_resolution
    );
    let (stop_scheduler, scheduler) = start_scheduler(&running, scheduler_config)?;
    say!(
        "clipper: scheduler running (profiles: {})",
        profile_names.join(", ")
    );
    let (stop_controllers, controllers) = start_controllers(&running).await?;
    say!("clipper: controllers running (garbage collector, replicaset, deployment, endpointslice)");
    let proxy = match proxy {
        Some(opts) => Some(start_proxy(&running, opts).await?),
        None => None,
    };
    let agent = match agent {
        Some(opts) => Some(start_node_agent(&running, opts).await?),
        None => None,
    };
    say!(
        "clipper: not built yet: the other workload controllers (DaemonSet, StatefulSet, Job, ...)"
    );
    say!("export KUBECONFIG={}", running.admin_kubeconfig.display());
    shutdown.wait().await?;
    if let Some((stop, task)) = agent {
        let _ = stop.send(true);
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => say_err!("clipper: the node agent had stopped: {e}"),
            Err(e) => say_err!("clipper: the node agent's task failed: {e}"),
        }
    }
    if let Some(proxy) = proxy {
        proxy.stop().await;
    }
    let _ = stop_controllers.send(true);
    if let Err(e) = controllers.await
        && !e.is_cancelled()
    {
        say_err!("clipper: the controllers' task failed: {e}");
    }
    let _ = stop_scheduler.send(true);
    match scheduler.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => say_err!("clipper: the scheduler had stopped: {e}"),
        Err(e) => say_err!("clipper: the scheduler task failed: {e}"),
    }
    drop(metrics);
    running.shutdown();
    say!("clipper: stopped");
    Ok(())
}

/// The node agent, in process but through the API under the node's own identity
/// (`system:node:<name>` in `system:nodes`, `<data-dir>/agent.kubeconfig`), so that the
/// node authorizer applies to it as to any agent.
async fn start_node_agent(
    running: &clipper_apiserver::run::RunningApiServer,
    mut opts: node_agent::AgentOptions,
) -> anyhow::Result<(tokio::sync::watch::Sender<bool>, node_agent::AgentTask)> {
    let user = format!("system:node:{}", opts.node_name);
    let kubeconfig = running
        .component_kubeconfig(&user, &["system:nodes"], "agent.kubeconfig")
        .map_err(|e| anyhow::anyhow!("the node agent's kubeconfig: {}", e.message))?;
    let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig)?;
    let quic = clipper_client::QuicClient::new(creds, clipper_client::Options::default())?;
    opts.ca_pem = running.ca_pem.clone();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = node_agent::start(quic, opts, stop_rx).await?;
    Ok((stop, task))
}

/// `clipper agent`: the node agent alone, until SIGINT or SIGTERM.
async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let node_name = args.node_name.clone().unwrap_or_else(host_name);
    let kubeconfig = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| args.root.join("kubeconfig"));
    if !kubeconfig.exists() {
        let (Some(server), Some(token), Some(ca_cert_hash)) =
            (&args.server, &args.token, &args.ca_cert_hash)
        else {
            anyhow::bail!(
                "no credentials: {} does not exist; give --kubeconfig FILE, or join with --server, --token and --ca-cert-hash (clipper join prints them)",
                kubeconfig.display()
            );
        };
        say!("clipper: joining {server} as node {node_name}");
        std::fs::create_dir_all(&args.root)
            .with_context(|| format!("creating {}", args.root.display()))?;
        let join = bootstrap::JoinOptions {
            server: server.clone(),
            token: token.clone(),
            ca_cert_hash: ca_cert_hash.clone(),
            node_name: node_name.clone(),
        };
        bootstrap::bootstrap(&join, &kubeconfig).await?;
        say!(
            "clipper: the node's certificate was issued; credentials in {}",
            kubeconfig.display()
        );
    }
    let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig)?;
    let ca_pem = node_agent::certificate_pem(&creds.ca);
    let quic = clipper_client::QuicClient::new(creds, clipper_client::Options::default())?;
    // The proxy and the DNS first, as in clipper up; the DNS only with --cluster-dns.
    let proxy = if args.no_proxy {
        None
    } else {
        let opts = ProxyOptions {
            node_name: node_name.clone(),
            link: args.service_ip_link.clone(),
            metrics_address: args.proxy_metrics_address,
            preserve_source: !args.no_preserve_source,
            dns_ip: args.cluster_dns,
            cluster_domain: args.cluster_domain.clone(),
            pod_cidr: Some(args.pod_cidr.clone()),
        };
        Some(run_proxy(&quic, opts).await?)
    };
    let opts = node_agent::AgentOptions {
        node_name,
        root: args.root,
        pod_cidr: args.pod_cidr,
        pod_bridge: args.pod_bridge,
        port: args.port,
        node_ip: args.node_ip,
        cluster_dns: args.cluster_dns,
        cluster_domain: args.cluster_domain,
        ca_pem,
    };
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = node_agent::start(quic, opts, stop_rx).await?;
    shutdown.wait().await?;
    let _ = stop.send(true);
    let result = task.await;
    if let Some(proxy) = proxy {
        proxy.stop().await;
    }
    result??;
    say!("clipper: agent stopped");
    Ok(())
}

/// `clipper image import|ls`.
fn image(action: &ImageAction, root: &std::path::Path) -> anyhow::Result<()> {
    let store = clipper_agent::oci::image::ImageStore::open(root.join("images"))
        .map_err(|e| anyhow::anyhow!("the image store under {}: {e}", root.display()))?;
    match action {
        ImageAction::Import { path, name } => {
            let imported = store
                .import(path, name.as_deref())
                .map_err(|e| anyhow::anyhow!("importing {}: {e}", path.display()))?;
            for i in imported {
                say!("imported {} ({})", i.reference, i.id);
            }
        }
        ImageAction::Ls => {
            say!("{:<60} {:<20} {:>10}", "REFERENCE", "IMAGE ID", "SIZE");
            for i in store.list().map_err(|e| anyhow::anyhow!("{e}"))? {
                let id = i.id.trim_start_matches("sha256:");
                say!(
                    "{:<60} {:<20} {:>10}",
                    i.reference,
                    &id[..id.len().min(13)],
                    i.size
                );
            }
        }
    }
    Ok(())
}

type SchedulerTask =
    tokio::task::JoinHandle<Result<clipper_schedulerd::Stats, clipper_client::ClientError>>;

/// The scheduler, in process but through the API like any client: its own identity
/// (`system:kube-scheduler`, `<data-dir>/scheduler.kubeconfig`), informers over QUIC,
/// bindings and events as calls on the same QUIC connection.
fn start_scheduler(
    running: &clipper_apiserver::run::RunningApiServer,
    config: clipper_scheduler::Config,
) -> anyhow::Result<(tokio::sync::watch::Sender<bool>, SchedulerTask)> {
    let kubeconfig = running
        .component_kubeconfig("system:kube-scheduler", &[], "scheduler.kubeconfig")
        .map_err(|e| anyhow::anyhow!("the scheduler's kubeconfig: {}", e.message))?;
    let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig)?;
    let quic = clipper_client::QuicClient::new(creds, clipper_client::Options::default())?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let looped = clipper_schedulerd::SchedulerLoop::new(&quic, config, seed);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    Ok((stop, tokio::spawn(looped.run(stop_rx))))
}

/// The controllers that run outside the API server (the garbage collector, the
/// ReplicaSet and Deployment controllers), in process but through the API: each under
/// Kubernetes' own identity for it (the service accounts
/// `kube-system/generic-garbage-collector`, `replicaset-controller`,
/// `deployment-controller`; `<name>.kubeconfig`) with its ClusterRole and binding,
/// watches and writes over QUIC.
async fn start_controllers(
    running: &clipper_apiserver::run::RunningApiServer,
) -> anyhow::Result<(
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
)> {
    use clipper_controllers::{
        controller, deployment, endpointslice as eps, garbagecollector as gc, replicaset as rs,
    };
    let creds = clipper_client::Credentials::from_kubeconfig(&running.admin_kubeconfig)?;
    let admin = clipper_client::RestClient::new(creds, "clipper-up")?;
    let rbac = gc::rbac_objects()
        .into_iter()
        .chain(rs::rbac_objects())
        .chain(deployment::rbac_objects())
        .chain(eps::rbac_objects());
    for (path, obj) in rbac {
        match admin.create(path, &obj).await {
            Ok(_) => {}
            Err(clipper_client::ClientError::Status(s)) if s.code == 409 => {}
            Err(e) => anyhow::bail!("creating the controllers' RBAC ({path}): {e}"),
        }
    }
    let client = |user: &str, groups: &[&str], file: &str| -> anyhow::Result<_> {
        let kubeconfig = running
            .component_kubeconfig(user, groups, file)
            .map_err(|e| anyhow::anyhow!("the kubeconfig {file}: {}", e.message))?;
        let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig)?;
        Ok(clipper_client::QuicClient::new(
            creds,
            clipper_client::Options::default(),
        )?)
    };
    let groups = controller::SERVICE_ACCOUNT_GROUPS;
    let collector = gc::GarbageCollector::new(&client(
        gc::USER,
        gc::GROUPS,
        "garbage-collector.kubeconfig",
    )?);
    let replicasets = rs::ReplicaSetController::new(&client(
        rs::USER,
        groups,
        "replicaset-controller.kubeconfig",
    )?);
    let deployments = deployment::DeploymentController::new(&client(
        deployment::USER,
        groups,
        "deployment-controller.kubeconfig",
    )?);
    let endpointslices = eps::EndpointSliceController::new(&client(
        eps::USER,
        groups,
        "endpointslice-controller.kubeconfig",
    )?);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        tokio::join!(
            collector.run(stop_rx.clone()),
            replicasets.run(stop_rx.clone()),
            deployments.run(stop_rx.clone()),
            endpointslices.run(stop_rx)
        );
    });
    Ok((stop, task))
}

struct ProxyOptions {
    node_name: String,
    link: String,
    metrics_address: std::net::SocketAddr,
    preserve_source: bool,
    /// The cluster DNS address served on this node; none: no DNS here.
    dns_ip: Option<std::net::IpAddr>,
    /// This node's pod range, when its agent runs pods here (their clients reach
    /// same-node endpoints from the node's address: see NodeContext::pod_networks).
    pod_cidr: Option<String>,
    cluster_domain: String,
}

/// The tenth address of the service range (kubeadm's convention: 10.96.0.10).
fn default_cluster_dns(service_cidr: &str) -> anyhow::Result<std::net::IpAddr> {
    let (base, bits) = service_cidr
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--service-cidr {service_cidr:?} is not a CIDR"))?;
    let base: std::net::IpAddr = base
        .parse()
        .map_err(|_| anyhow::anyhow!("--service-cidr {service_cidr:?} is not a CIDR"))?;
    let bits: u32 = bits
        .parse()
        .map_err(|_| anyhow::anyhow!("--service-cidr {service_cidr:?} is not a CIDR"))?;
    Ok(match base {
        std::net::IpAddr::V4(v) if bits <= 28 => std::net::IpAddr::V4((u32::from(v) + 10).into()),
        std::net::IpAddr::V6(v) if bits <= 124 => std::net::IpAddr::V6((u128::from(v) + 10).into()),
        _ => anyhow::bail!(
            "--service-cidr {service_cidr:?} is too small for a cluster DNS address; give --cluster-dns"
        ),
    })
}

/// The kube-dns Service (kube-system), as kubeadm creates it, pinned to the cluster DNS
/// address so the allocator never hands that address to another Service.
async fn ensure_dns_service(
    running: &clipper_apiserver::run::RunningApiServer,
    ip: std::net::IpAddr,
) -> anyhow::Result<()> {
    let creds = clipper_client::Credentials::from_kubeconfig(&running.admin_kubeconfig)?;
    let rest = clipper_client::RestClient::new(creds, "clipper-up")?;
    let svc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": DNS_SERVICE.1,
            "namespace": DNS_SERVICE.0,
            "labels": {
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "ClusterDNS",
            },
        },
        "spec": {
            "clusterIP": ip.to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    });
    match rest
        .create(
            &format!("/api/v1/namespaces/{}/services", DNS_SERVICE.0),
            &svc,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(clipper_client::ClientError::Status(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(anyhow::anyhow!("creating the kube-dns Service: {e}")),
    }
}

/// The Service the in-process DNS server answers on (the proxy leaves it alone).
const DNS_SERVICE: (&str, &str) = ("kube-system", "kube-dns");

/// The host name, for the default node name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

type ProxyTask =
    tokio::task::JoinHandle<Result<clipper_proxyd::Stats, clipper_client::ClientError>>;

/// The service proxy: the io_uring data path (one ring per core) driven by its control
/// loop under its own identity (`system:kube-proxy`, `proxy.kubeconfig`). Returns once
/// the proxy serves the cluster's Services as of startup.
async fn start_proxy(
    running: &clipper_apiserver::run::RunningApiServer,
    opts: ProxyOptions,
) -> anyhow::Result<RunningProxy> {
    let kubeconfig = running
        .component_kubeconfig("system:kube-proxy", &[], "proxy.kubeconfig")
        .map_err(|e| anyhow::anyhow!("the service proxy's kubeconfig: {}", e.message))?;
    let creds = clipper_client::Credentials::from_kubeconfig(&kubeconfig)?;
    let quic = clipper_client::QuicClient::new(creds, clipper_client::Options::default())?;
    if let Some(ip) = opts.dns_ip {
        ensure_dns_service(running, ip).await?;
    }
    run_proxy(&quic, opts).await
}

/// The proxy and the cluster DNS on this node, under `quic`'s identity (`clipper up`'s
/// kube-proxy, or `clipper agent`'s node, which `clipper:node-proxier` lets read
/// Services and EndpointSlices).
async fn run_proxy(
    quic: &std::sync::Arc<clipper_client::QuicClient>,
    opts: ProxyOptions,
) -> anyhow::Result<RunningProxy> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let empty = clipper_dataplane::Config::from_yaml("services: []")
        .map_err(|e| anyhow::anyhow!("the service proxy's configuration: {e}"))?;
    let handle = clipper_dataplane::start(&empty, threads)
        .map_err(|e| anyhow::anyhow!("starting the service proxy: {e}"))?;
    let link = match clipper_proxyd::vip::VipLink::ensure(&opts.link).await {
        Ok(l) => Some(l),
        Err(e) => {
            say_err!(
                "clipper: warning: cannot manage the service IP link {} ({e}); ClusterIPs are not reachable on this host, NodePorts are",
                opts.link
            );
            None
        }
    };
    let mut ctx = clipper_proxyd::NodeContext::new(&opts.node_name);
    if opts.dns_ip.is_some() {
        // The DNS answers on its ClusterIP itself.
        ctx.skip
            .insert((DNS_SERVICE.0.to_string(), DNS_SERVICE.1.to_string()));
    }
    let zone = clipper_dns::ZoneHandle::new(
        clipper_dns::Zone::new(clipper_dns::ZoneConfig {
            cluster_domain: opts.cluster_domain.clone(),
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("--cluster-domain: {e}"))?,
    );
    let serve_dns = link.is_some();
    if opts.preserve_source {
        match clipper_proxyd::tproxy::install().await {
            Ok(()) => ctx.preserve_source = true,
            Err(e) => say_err!(
                "clipper: warning: endpoints see the node's address, not the client's ({e})"
            ),
        }
    }
    if let Some(cidr) = &opts.pod_cidr {
        let (net, prefix) = clipper_agent::cni::parse_cidr(cidr)
            .map_err(|e| anyhow::anyhow!("pod-cidr {cidr}: {e}"))?;
        ctx.pod_networks.push((std::net::IpAddr::V4(net), prefix));
    }
    let tproxy = ctx.preserve_source;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (metrics_at, _) = clipper_proxyd::metrics::serve(
        opts.metrics_address,
        handle.metrics().clone(),
        stop_rx.clone(),
    )
    .await
    .with_context(|| {
        format!(
            "serving the proxy's metrics on {} (--proxy-metrics-address)",
            opts.metrics_address
        )
    })?;
    let looped = clipper_proxyd::ProxyLoop::new(
        quic,
        std::sync::Arc::new(handle),
        link,
        opts.dns_ip.into_iter().collect(),
        ctx,
    )
    .with_dns(zone.clone());
    let mut ready = looped.ready();
    let task = tokio::spawn(looped.run(stop_rx));
    tokio::select! {
        r = ready.wait_for(|r| *r) => {
            r.map_err(|_| anyhow::anyhow!("the service proxy stopped before it synced"))?;
        }
        _ = tokio::time::sleep(PROXY_SYNC_TIMEOUT) => {
            anyhow::bail!("the service proxy did not sync within {PROXY_SYNC_TIMEOUT:?}");
        }
    }
    say!(
        "clipper: service proxy running (node {}, service IPs on {}, metrics http://{metrics_at}/metrics)",
        opts.node_name,
        opts.link
    );
    let dns = if let (true, Some(dns_ip)) = (serve_dns, opts.dns_ip) {
        let at = std::net::SocketAddr::new(dns_ip, 53);
        let upstreams = match clipper_dns::system_upstreams(&[at]) {
            Ok(u) => u,
            Err(e) => {
                say_err!("clipper: warning: cluster DNS forwards nothing: {e}");
                Vec::new()
            }
        };
        let server =
            clipper_dns::DnsServer::start(at, zone, clipper_dns::ForwardConfig::new(upstreams))
                .await
                .map_err(|e| anyhow::anyhow!("starting the cluster DNS on {at}: {e}"))?;
        say!(
            "clipper: cluster DNS on {at} ({}), other names forwarded to the host's resolvers",
            opts.cluster_domain
        );
        Some(server)
    } else {
        if opts.dns_ip.is_some() {
            say_err!("clipper: warning: no service IP link, so no cluster DNS");
        }
        None
    };
    Ok(RunningProxy {
        stop,
        task,
        dns,
        tproxy,
    })
}

struct RunningProxy {
    stop: tokio::sync::watch::Sender<bool>,
    task: ProxyTask,
    dns: Option<clipper_dns::DnsServer>,
    /// The return path for kept source addresses is installed (removed on stop).
    tproxy: bool,
}

impl RunningProxy {
    /// Stops the DNS server and the proxy, and removes the return path.
    async fn stop(self) {
        if let Some(dns) = self.dns
            && let Err(e) = dns.shutdown().await
        {
            say_err!("clipper: the cluster DNS had stopped: {e}");
        }
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => say_err!("clipper: the service proxy had stopped: {e}"),
            Err(e) => say_err!("clipper: the service proxy task failed: {e}"),
        }
        if self.tproxy {
            clipper_proxyd::tproxy::remove().await;
        }
    }
}

/// How long `clipper up` waits for the service proxy's first sync.
const PROXY_SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// SIGINT (Ctrl-C) and SIGTERM, installed before the process reports readiness.
struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    fn install() -> anyhow::Result<Shutdown> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Shutdown {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        Ok(())
    }
}
