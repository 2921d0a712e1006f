//! `clipper`: the one binary — daemon subcommands (`up`) and, as they land, the CLI verbs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Default data directory of `clipper up`.
const DEFAULT_DATA_DIR: &str = "/var/lib/clipper";

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

#[derive(Subcommand)]
enum Command {
    /// Run a one-host cluster: every component that exists, in one process.
    Up {
        /// Where the cluster keeps its state.
        #[arg(long, default_value = DEFAULT_DATA_DIR, env = "CLIPPER_DATA_DIR")]
        data_dir: PathBuf,
        /// HTTPS address of the API server.
        #[arg(long, default_value = "0.0.0.0:6443")]
        listen: std::net::SocketAddr,
        /// The store: `embedded` (under the data directory) or `etcd://host:port,...`.
        #[arg(long, default_value = "embedded")]
        store: String,
        /// The Service ClusterIP range.
        #[arg(long, default_value = "10.96.0.0/12")]
        service_cidr: String,
        /// API worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
            Command::Up {
                data_dir,
                listen,
                store,
                service_cidr,
                workers,
            } => up(data_dir, listen, &store, service_cidr, workers).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line with the chain of causes; no backtrace for user-facing errors.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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

/// `clipper up`: the store and the API server (with its in-process controllers). The
/// scheduler, the other controllers, the node agent, the proxy and DNS are not built yet.
async fn up(
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
    store: &str,
    service_cidr: String,
    workers: Option<usize>,
) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives once we report readiness must stop us cleanly.
    let shutdown = Shutdown::install()?;
    let mut config = clipper_apiserver::run::ApiServerConfig::new(&data_dir);
    config.store = store_choice(&data_dir, store)?;
    config.listen = listen;
    config.service_cidr = service_cidr;
    if let Some(w) = workers {
        config.workers = w;
    }
    let running = clipper_apiserver::run::start(&config)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!("clipper: API server listening on https://{}", running.addr);
    println!(
        "clipper: not built yet: scheduler, controllers (besides namespaces and CRDs), node agent, proxy, DNS"
    );
    println!("export KUBECONFIG={}", running.admin_kubeconfig.display());
    shutdown.wait().await?;
    running.shutdown();
    println!("clipper: stopped");
    Ok(())
}

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
