//! `clipper`: the one binary — daemon subcommands (`up`) and, as they land, the CLI verbs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use clipper_store::Store as _;

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
            Command::Up { data_dir } => up(data_dir).await,
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

/// `clipper up`. Today only the store exists; it opens (or creates) the embedded store,
/// holds it until interrupted, and says plainly what is not built yet.
async fn up(data_dir: PathBuf) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives once we report readiness must stop us cleanly.
    let shutdown = Shutdown::install()?;
    let store_dir = data_dir.join("store");
    let store = clipper_store::embedded::EmbeddedStore::open(&store_dir)
        .with_context(|| format!("opening the embedded store in {}", store_dir.display()))?;
    let revision = store.current_revision().await?;
    println!(
        "clipper: embedded store open at {} (revision {revision})",
        store_dir.display()
    );
    println!(
        "clipper: only the store exists so far; the API server, scheduler, controllers, node agent, \
         proxy and DNS are not built yet, so there is no cluster to talk to. Press Ctrl-C to stop."
    );
    shutdown.wait().await?;
    store.close().context("closing the store")?;
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
