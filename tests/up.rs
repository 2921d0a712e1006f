//! `clipper up` as a user runs it: a real process on a data directory — it starts, stops
//! cleanly on SIGTERM, starts again on the same directory, and refuses a second instance
//! on the same data directory with a clear message.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn start(data_dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clipper starts")
}

/// Reads stdout until the store reports it is open; returns that line.
fn wait_until_open(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        if line.contains("embedded store open") {
            // Keep draining in the background so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return line;
        }
    }
    panic!("clipper up exited before opening its store");
}

fn stop(mut child: Child) {
    let pid = child.id() as i32;
    // SAFETY: kill(2) on the pid of a child we spawned and have not yet waited for, so
    // the pid cannot have been reused.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM delivered");
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "clipper up exits cleanly on SIGTERM: {status:?}"
    );
}

#[test]
fn up_starts_stops_restarts_and_refuses_a_second_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = start(dir.path());
    let line = wait_until_open(&mut first);
    assert!(
        line.contains("revision 0"),
        "a fresh store starts at revision 0: {line}"
    );

    let second = start(dir.path())
        .wait_with_output()
        .expect("second instance runs");
    assert!(
        !second.status.success(),
        "a second `clipper up` on the same data dir must fail"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.starts_with("error: "),
        "one clear error line, got: {stderr}"
    );
    assert!(
        stderr.contains("in use") || stderr.contains("lock"),
        "the error says why: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "no panic: {stderr}"
    );

    stop(first);
    let mut again = start(dir.path());
    wait_until_open(&mut again);
    stop(again);
}
