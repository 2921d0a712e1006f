//! Crash test: a writer process is killed with SIGKILL mid-stream, several times; every
//! write it saw acknowledged must be there after reopening, with its revision, and the
//! revisions must be exactly 1..=current.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use clipper_store::embedded::EmbeddedStore;
use clipper_store::{RangeRequest, Revision, Store};

/// How many kill/restart rounds.
const ROUNDS: usize = 4;
/// Acknowledgements read before each kill.
const ACKS_BEFORE_KILL: usize = 1500;
/// Concurrent writer tasks in the writer process (so that batches hold many writes).
const WRITER_TASKS: &str = "32";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked: HashMap<String, Revision> = HashMap::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
            .arg(dir.path())
            .arg(format!("round{round}"))
            .arg(WRITER_TASKS)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the writer");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut n = 0;
        while n < ACKS_BEFORE_KILL {
            let line = match lines.next() {
                Some(Ok(l)) => l,
                other => panic!("the writer stopped early in round {round}: {other:?}"),
            };
            let mut parts = line.split(' ');
            let (Some("ack"), Some(key), Some(rev)) = (parts.next(), parts.next(), parts.next())
            else {
                panic!("unexpected writer output: {line}");
            };
            acked.insert(key.to_string(), rev.parse().expect("revision"));
            n += 1;
        }
        child.kill().expect("SIGKILL");
        // Acks printed before the kill landed are acknowledged writes too.
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ack ") {
                let (key, rev) = rest.split_once(' ').expect("ack line");
                acked.insert(key.to_string(), rev.parse().expect("revision"));
            }
        }
        child.wait().expect("reaping the writer");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopening after kill -9");
    let all = store
        .range(RangeRequest::range("", "\0"))
        .await
        .expect("range");
    let current = store.current_revision().await.expect("revision");
    let found: HashMap<String, Revision> = all
        .kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
            )
        })
        .collect();
    assert!(acked.len() >= ROUNDS * ACKS_BEFORE_KILL);
    for (key, rev) in &acked {
        assert_eq!(
            found.get(key),
            Some(rev),
            "acknowledged write {key}@{rev} was lost"
        );
    }
    let mut revs: Vec<Revision> = found.values().copied().collect();
    revs.sort_unstable();
    assert_eq!(
        revs,
        (1..=current).collect::<Vec<_>>(),
        "revisions have a gap or a duplicate"
    );
    for kv in &all.kvs {
        let key = String::from_utf8_lossy(&kv.key);
        assert_eq!(kv.value, format!("value of {key}").repeat(8).as_bytes());
    }
}
