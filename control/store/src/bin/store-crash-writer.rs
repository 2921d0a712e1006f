//! Writes a stream of creates to an embedded store from several concurrent tasks and prints
//! `ack <key> <revision>` (flushed) after each acknowledgement, for the crash test to kill
//! with SIGKILL at an arbitrary point and check against after reopening.
//!
//! Usage: `store-crash-writer <dir> <key-prefix> <tasks>`

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use clipper_store::Store;
use clipper_store::embedded::EmbeddedStore;

/// Creates per task before the writer stops by itself, so that it never runs unbounded if
/// nobody kills it.
const MAX_WRITES_PER_TASK: usize = 100_000;

/// Most concurrent writer tasks accepted on the command line.
const MAX_TASKS: usize = 256;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, prefix, tasks] = &args[..] else {
        return Err("usage: store-crash-writer <dir> <key-prefix> <tasks>".into());
    };
    let tasks: usize = tasks.parse()?;
    if tasks == 0 || tasks > MAX_TASKS {
        return Err(format!("tasks must be 1..={MAX_TASKS}").into());
    }
    let store = Arc::new(EmbeddedStore::open(dir)?);
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let store = store.clone();
        let prefix = prefix.clone();
        set.spawn(async move {
            for i in 0..MAX_WRITES_PER_TASK {
                let key = format!("{prefix}/{t:03}/{i:06}");
                let value = Bytes::from(format!("value of {key}").repeat(8));
                let rev = store.create(Bytes::from(key.clone()), value, 0).await?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {key} {rev}")?;
                out.flush()?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r?.map_err(|e| e.to_string())?;
    }
    Ok(())
}
