//! The end-to-end harness: a real `clipper up` process on a temporary data directory,
//! driven by stock kubectl binaries, curl and the Python `kubernetes` client.
#![allow(dead_code)]

pub mod node;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `clipper up`; killed when dropped, so a failing test leaves no process.
pub struct Cluster {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`
    pub server: String,
}

pub fn start_process(data_dir: &Path) -> Child {
    start_process_with(data_dir, &[])
}

/// `clipper up` with extra flags. Without the service proxy and the node agent: clusters
/// of parallel tests share this host's network, and each would put its ClusterIPs on the
/// same link and its pods on the same bridge and agent port; the proxy's and the agent's
/// own tests run a cluster inside a network namespace of their own.
pub fn start_process_with(data_dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clipper"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--no-proxy",
            "--no-agent",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clipper starts")
}

/// Reads stdout until the kubeconfig line; returns the kubeconfig path. stderr is drained
/// in the background so the child never blocks on a full pipe.
pub fn wait_until_serving(child: &mut Child) -> String {
    if let Some(mut stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
        });
    }
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
            std::thread::spawn(move || lines.for_each(drop));
            return path.to_string();
        }
    }
    panic!("clipper up exited before serving");
}

/// SIGTERM, then waits; asserts a clean exit.
pub fn stop(mut child: Child) {
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

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with(tempfile::tempdir().expect("tempdir"), &[])
    }

    /// A cluster in `dir` started with extra `clipper up` flags.
    pub fn start_with(dir: tempfile::TempDir, extra: &[&str]) -> Cluster {
        let mut child = start_process_with(dir.path(), extra);
        let kubeconfig = PathBuf::from(wait_until_serving(&mut child));
        let text = std::fs::read_to_string(&kubeconfig).expect("kubeconfig");
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("server in kubeconfig")
            .trim()
            .to_string();
        Cluster {
            child: Some(child),
            dir,
            kubeconfig,
            server,
        }
    }

    pub fn kubectl(&self, version: &str) -> Kubectl {
        Kubectl {
            bin: kubectl_binary(version),
            kubeconfig: self.kubeconfig.clone(),
            home: self.dir.path().join(format!("home-{version}")),
        }
    }

    /// The cluster CA, PEM, as written into the admin kubeconfig.
    pub fn ca_file(&self) -> PathBuf {
        let path = self.dir.path().join("ca-for-tests.crt");
        if !path.exists() {
            std::fs::write(&path, self.kubeconfig_data("certificate-authority-data"))
                .expect("write CA");
        }
        path
    }

    /// A base64 `*-data` field of the admin kubeconfig, decoded.
    pub fn kubeconfig_data(&self, field: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let prefix = format!("{field}: ");
        let b64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{field} in the kubeconfig"))
            .trim()
            .to_string();
        base64_decode(&b64)
    }

    pub fn stop(mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Finds `kubectl.<version>` (the Google Cloud SDK installs 1.27 to 1.33 side by side) on
/// PATH or in the SDK's bin folder; "default" is plain `kubectl`.
pub fn kubectl_binary(version: &str) -> PathBuf {
    if version == "default" {
        return PathBuf::from("kubectl");
    }
    let name = format!("kubectl.{version}");
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/lib/google-cloud-sdk/bin"));
    dirs.push(PathBuf::from("/usr/local/google-cloud-sdk/bin"));
    dirs.push(PathBuf::from("/opt/google-cloud-sdk/bin"));
    for dir in dirs {
        let candidate = dir.join(&name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} is not installed (the Google Cloud SDK's kubectl component ships it)");
}

pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    /// A kubectl binary (or a wrapper running one) against `kubeconfig`, with its own home.
    pub fn new(bin: PathBuf, kubeconfig: PathBuf, home: PathBuf) -> Kubectl {
        Kubectl {
            bin,
            kubeconfig,
            home,
        }
    }
}

pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// The `kubectl` on PATH with `kubeconfig`.
    pub fn on_path(kubeconfig: &Path) -> Kubectl {
        Kubectl {
            bin: kubectl_binary("default"),
            kubeconfig: kubeconfig.to_path_buf(),
            home: std::env::temp_dir().join("clipper-tests-home"),
        }
    }

    pub fn with_kubeconfig(&self, kubeconfig: &Path) -> Kubectl {
        Kubectl {
            bin: self.bin.clone(),
            kubeconfig: kubeconfig.to_path_buf(),
            home: self.home.clone(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        std::fs::create_dir_all(&self.home).expect("home dir");
        let mut cmd = Command::new(&self.bin);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .args(args);
        cmd
    }

    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let out: Output = child.wait_with_output().expect("kubectl finishes");
        Run {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    /// Runs and asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            r.ok,
            "{} {} failed: {}{}",
            self.bin.display(),
            args.join(" "),
            r.stderr,
            r.stdout
        );
        r.stdout
    }

    /// Runs with stdin and asserts success; returns stdout.
    #[track_caller]
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let r = self.run_with(args, Some(stdin), &[]);
        assert!(
            r.ok,
            "{} {} failed: {}{}",
            self.bin.display(),
            args.join(" "),
            r.stderr,
            r.stdout
        );
        r.stdout
    }

    /// Runs and asserts failure; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            !r.ok,
            "{} {} should fail, printed: {}",
            self.bin.display(),
            args.join(" "),
            r.stdout
        );
        r.stderr
    }

    /// `get -o json` parsed.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl printed JSON: {e}\n{out}"))
    }

    /// Starts a long-running kubectl (e.g. `get -w`) whose stdout lines arrive on a
    /// channel; the process is killed when the returned guard drops.
    pub fn spawn_lines(&self, args: &[&str]) -> (Background, mpsc::Receiver<String>) {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("kubectl runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (Background(child), rx)
    }
}

pub struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a line satisfying `pred`, up to `limit`; returns every line seen.
#[track_caller]
pub fn expect_line(
    rx: &mpsc::Receiver<String>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = pred(&line);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no line {what} within {limit:?}; saw {seen:#?}"),
        }
    }
}

/// Polls `cond` (a look at the cluster through kubectl, which has no event to await)
/// until it holds, for at most `limit`, pausing `poll` between looks.
#[track_caller]
pub fn wait_until(what: &str, limit: Duration, poll: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, limit, poll, &mut cond, |ok| *ok, String::new);
}

/// Polls `read` every `poll` until `done` accepts its value, for at most `limit`; returns
/// that value. On timeout the panic shows the last value read and `context()` (the
/// objects involved, say).
#[track_caller]
pub fn wait_for<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    poll: Duration,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
    context: impl FnOnce() -> String,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let last = read();
        if done(&last) {
            return last;
        }
        if std::time::Instant::now() >= deadline {
            panic!(
                "timed out after {limit:?} waiting for {what}, last {last:?}\n{}",
                context()
            );
        }
        std::thread::sleep(poll);
    }
}

/// Splits table output into rows of whitespace-separated cells.
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64 in kubeconfig")
}
