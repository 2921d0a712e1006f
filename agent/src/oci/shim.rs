//! The per-container shim (CRI-O's conmon, in role): a process of its own that outlives
//! the agent, runs the container with runc, writes its output to the log in the CRI
//! format, and records how it exited.
//!
//! **Invocation contract.** The runtime runs `<shim_program> <shim_args...> --runc <path>
//! --runc-root <dir> --bundle <dir> --id <id> --log <file>` with stdin `/dev/null` and
//! stdout/stderr on `<bundle>/shim.log`; the program must call [`shim_main`] with the
//! arguments after `<shim_args...>`, before it starts any thread (the shim forks). The
//! agent crate's `clipper-shim` binary does exactly that, and `clipper shim ...` may too.
//!
//! What the shim does: forks (the first process exits at once, so the caller reaps it and
//! the shim is nobody's child but init's), starts a new session, becomes a child
//! subreaper, runs `runc create` with pipes as the container's stdout and stderr, then
//! `runc start`, and writes `<bundle>/start.json`. Two threads copy the pipes into the log
//! file, one CRI line (`<RFC 3339 nanos> <stdout|stderr> <F|P> <text>`) per output line,
//! lines longer than [`MAX_LOG_LINE`] split into partial (`P`) pieces. When the container's
//! init process exits (the shim, as subreaper, reaps it) the shim reads the memory
//! cgroup's OOM kill counter and writes `<bundle>/exit.json` atomically: the exit code
//! (a signal `n` as `128 + n`), start and finish times, OOM. A failure to create or start
//! is written to `exit.json` as `error`, with runc's message. The container stays in
//! runc's state (stopped) until the runtime removes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{attach, rfc3339, write_atomic};

/// The longest log line written whole; longer output lines are split into `P` pieces
/// (containerd's and the kubelet's 16 KiB).
pub const MAX_LOG_LINE: usize = 16 * 1024;
/// How long `runc create` and `runc start` may take: mounts, cgroups and namespaces are
/// set up in well under a second on a healthy host; this only stops a hung runc.
const RUNC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long output is still copied after the container's init exited: other processes of
/// the container may hold the pipes a moment longer (the kernel kills them with init).
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a bounded wait for a child process checks it.
const CHILD_POLL: Duration = Duration::from_millis(5);

/// `start.json`: written once `runc start` succeeded.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct StartRecord {
    pub pid: u32,
    pub started_at: String,
}

/// `exit.json`: written once the container exited (or could not be started).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct ExitRecord {
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
    /// Set when the container never ran: runc's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The shim's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShimArgs {
    pub runc: PathBuf,
    pub runc_root: PathBuf,
    pub bundle: PathBuf,
    pub id: String,
    pub log: PathBuf,
    /// The container reads a pipe the shim keeps open for attached clients.
    pub stdin: bool,
    /// The pipe closes when the first client that wrote to it leaves.
    pub stdin_once: bool,
    /// The container runs on a pty whose master the shim holds.
    pub tty: bool,
}

impl ShimArgs {
    pub(crate) fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut out = Vec::new();
        for (flag, value) in [
            ("--runc", self.runc.as_os_str()),
            ("--runc-root", self.runc_root.as_os_str()),
            ("--bundle", self.bundle.as_os_str()),
            ("--id", std::ffi::OsStr::new(&self.id)),
            ("--log", self.log.as_os_str()),
        ] {
            out.push(flag.into());
            out.push(value.to_os_string());
        }
        for (flag, on) in [
            ("--stdin", self.stdin),
            ("--stdin-once", self.stdin_once),
            ("--tty", self.tty),
        ] {
            if on {
                out.push(flag.into());
            }
        }
        out
    }

    fn parse(args: &[String]) -> Result<ShimArgs, String> {
        let (mut runc, mut runc_root, mut bundle, mut id, mut log) = (None, None, None, None, None);
        let (mut stdin, mut stdin_once, mut tty) = (false, false, false);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let switch = match flag.as_str() {
                "--stdin" => Some(&mut stdin),
                "--stdin-once" => Some(&mut stdin_once),
                "--tty" => Some(&mut tty),
                _ => None,
            };
            if let Some(on) = switch {
                *on = true;
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .clone();
            match flag.as_str() {
                "--runc" => runc = Some(PathBuf::from(value)),
                "--runc-root" => runc_root = Some(PathBuf::from(value)),
                "--bundle" => bundle = Some(PathBuf::from(value)),
                "--id" => id = Some(value),
                "--log" => log = Some(PathBuf::from(value)),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(ShimArgs {
            runc: runc.ok_or("--runc is required")?,
            runc_root: runc_root.ok_or("--runc-root is required")?,
            bundle: bundle.ok_or("--bundle is required")?,
            id: id.ok_or("--id is required")?,
            log: log.ok_or("--log is required")?,
            stdin,
            stdin_once,
            tty,
        })
    }

    fn exit_file(&self) -> PathBuf {
        self.bundle.join("exit.json")
    }
}

/// The shim's entry point (see the module docs for the contract): `args` are its options.
/// Returns the process exit code: 0 once the shim has detached (the first process), or
/// when the container's exit was recorded (the detached one).
pub fn shim_main(args: &[String]) -> i32 {
    let args = match ShimArgs::parse(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("clipper shim: {e}");
            return 2;
        }
    };
    if let Some(threads) = thread_count().filter(|&n| n > 1) {
        eprintln!(
            "clipper shim: called with {threads} threads running; it must be the first thing the program does"
        );
        return 2;
    }
    // SAFETY: the process is single-threaded (checked above), so the child is a complete
    // copy of it and may go on running Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("clipper shim: fork: {}", io::Error::last_os_error());
        return 1;
    }
    if pid > 0 {
        return 0; // The caller reaps this process; the child carries on alone.
    }
    // SAFETY: setsid and prctl take no pointers; they detach this process from the
    // caller's session and make it the reaper of the container's orphaned processes.
    unsafe {
        libc::setsid();
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    match run(&args) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("clipper shim {}: {error}", args.id);
            let record = ExitRecord {
                exit_code: 128,
                signal: None,
                started_at: None,
                finished_at: rfc3339(SystemTime::now()),
                oom_killed: false,
                error: Some(error),
            };
            if let Err(e) = write_record(&args.exit_file(), &record) {
                eprintln!("clipper shim {}: writing the exit file: {e}", args.id);
            }
            1
        }
    }
}

/// The number of threads of this process (`/proc/self/status`), if readable.
fn thread_count() -> Option<usize> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

fn write_record<T: Serialize>(path: &Path, record: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(record).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a two-int array, as pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor this function borrows; no memory involved.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whatever is buffered in a pipe now, without waiting for more.
fn drain_now(fd: &OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(mut file) = fd.try_clone().map(File::from) else {
        return out;
    };
    if set_nonblocking(fd, true).is_err() {
        return out;
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let _ = set_nonblocking(fd, false);
    out
}

/// Runs a command to completion within `timeout`, killing it past that. Returns its
/// exit status and its stdout+stderr (when they were captured).
fn run_bounded(
    mut command: Command,
    what: &str,
) -> Result<(std::process::ExitStatus, String), String> {
    let mut child = command
        .spawn()
        .map_err(|e| format!("running {what}: {e}"))?;
    drop(command); // Closes the parent's copies of descriptors handed to the child.
    let deadline = Instant::now() + RUNC_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut output = String::new();
                if let Some(mut out) = child.stdout.take() {
                    let _ = out.read_to_string(&mut output);
                }
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut output);
                }
                return Ok((status, output.trim().to_string()));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within {RUNC_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(CHILD_POLL),
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    }
}

/// The last error runc logged (its `--log` file holds JSON lines).
fn runc_logged_error(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        (value.get("level")?.as_str()? == "error")
            .then(|| value.get("msg")?.as_str().map(str::to_string))?
    })
}

/// Binds a unix socket at `path`, replacing a stale one.
fn listen(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    let _ = fs::remove_file(path);
    std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| format!("listening on {}: {e}", path.display()))
}

fn run(args: &ShimArgs) -> Result<(), String> {
    let (out_r, out_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let attach_listener = listen(&args.bundle.join(attach::SOCKET))?;
    let console = if args.tty {
        let path = args.bundle.join("console.sock");
        Some((listen(&path)?, path))
    } else {
        None
    };
    // Without a tty, a container with stdin reads a pipe whose other end the shim keeps.
    let (stdin_r, mut stdin_w) = if args.stdin && !args.tty {
        let (r, w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        (Some(r), Some(File::from(w)))
    } else {
        (None, None)
    };
    let pid_file = args.bundle.join("init.pid");
    let runc_log = args.bundle.join("runc.log");
    let mut create = Command::new(&args.runc);
    create
        .arg("--root")
        .arg(&args.runc_root)
        .arg("--log")
        .arg(&runc_log)
        .arg("--log-format")
        .arg("json")
        .arg("create")
        .arg("--bundle")
        .arg(&args.bundle)
        .arg("--pid-file")
        .arg(&pid_file);
    if let Some((_, path)) = &console {
        create.arg("--console-socket").arg(path);
    }
    create
        .arg(&args.id)
        .stdin(match stdin_r {
            Some(r) => Stdio::from(r),
            None => Stdio::null(),
        })
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    let (status, _) = run_bounded(create, "runc create")?;
    // Until `runc start` the container's process waits on runc's exec FIFO: whatever is
    // in the pipes now was written by runc itself, not the container.
    let mut chatter = drain_now(&out_r);
    chatter.extend(drain_now(&err_r));
    let chatter = String::from_utf8_lossy(&chatter).trim().to_string();
    if !status.success() {
        let logged = runc_logged_error(&runc_log);
        let message = match (logged, chatter.is_empty()) {
            (Some(logged), _) => logged,
            (None, false) => chatter,
            (None, true) => format!("{status}"),
        };
        return Err(format!("runc create: {message}"));
    }
    if !chatter.is_empty() {
        eprintln!("runc create: {chatter}");
    }
    let init_pid: i32 = fs::read_to_string(&pid_file)
        .map_err(|e| format!("reading {}: {e}", pid_file.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", pid_file.display()))?;

    if let Some(dir) = args.log.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .map_err(|e| format!("opening the log {}: {e}", args.log.display()));
    let log_file = match log_file {
        Ok(file) => file,
        Err(e) => {
            kill(init_pid, libc::SIGKILL);
            return Err(e);
        }
    };
    // With a tty, runc hands over the pty's master: the container's output and input.
    let mut outputs = vec![
        (out_r, "stdout", attach::STDOUT),
        (err_r, "stderr", attach::STDERR),
    ];
    let mut pty = None;
    if let Some((listener, _)) = &console {
        let master = match attach::receive_pty(listener, RUNC_TIMEOUT) {
            Ok(master) => master,
            Err(e) => {
                kill(init_pid, libc::SIGKILL);
                return Err(format!("the container's console: {e}"));
            }
        };
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("the console: {e}"));
        outputs.push((dup(&master)?, "stdout", attach::STDOUT));
        stdin_w = Some(File::from(dup(&master)?));
        pty = Some(master);
    }
    let hub = attach::Hub::new(stdin_w, args.stdin_once, pty);
    hub.serve(attach_listener);
    let log = Arc::new(Mutex::new(log_file));
    let (done_tx, done_rx) = mpsc::channel();
    let streams = outputs.len();
    for (fd, stream, kind) in outputs {
        let log = Arc::clone(&log);
        let hub = Arc::clone(&hub);
        let done = done_tx.clone();
        std::thread::spawn(move || {
            copy_stream(File::from(fd), stream, &log, &hub, kind);
            let _ = done.send(());
        });
    }
    drop(done_tx);

    let started_at = SystemTime::now();
    let mut start = Command::new(&args.runc);
    start
        .arg("--root")
        .arg(&args.runc_root)
        .arg("start")
        .arg(&args.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match run_bounded(start, "runc start") {
        Ok((status, _)) if status.success() => {}
        Ok((status, output)) => {
            kill(init_pid, libc::SIGKILL);
            let message = if output.is_empty() {
                status.to_string()
            } else {
                output
            };
            return Err(format!("runc start: {message}"));
        }
        Err(e) => {
            kill(init_pid, libc::SIGKILL);
            return Err(e);
        }
    }
    let start_record = StartRecord {
        pid: u32::try_from(init_pid).unwrap_or(0),
        started_at: rfc3339(started_at),
    };
    if let Err(e) = write_record(&args.bundle.join("start.json"), &start_record) {
        eprintln!("writing start.json: {e}");
    }

    let (exit_code, signal) = wait_for(init_pid)?;
    let finished_at = SystemTime::now();
    // Output written just before the exit is still in the pipes: copy it before the exit
    // is reported, so a reader of exit.json finds the complete log.
    let deadline = Instant::now() + OUTPUT_DRAIN_TIMEOUT;
    for _ in 0..streams {
        let left = deadline.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            eprintln!("output still open {OUTPUT_DRAIN_TIMEOUT:?} after the container exited");
            break;
        }
    }
    // Attached clients have had the last output: their sessions end with the container.
    hub.close_all();
    let record = ExitRecord {
        exit_code,
        signal,
        started_at: Some(rfc3339(started_at)),
        finished_at: rfc3339(finished_at),
        oom_killed: oom_killed(&args.bundle),
        error: None,
    };
    write_record(&args.exit_file(), &record).map_err(|e| format!("writing exit.json: {e}"))
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill takes no pointers; `pid` is the container's init, which this shim reaps.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Reaps children (the shim is their subreaper) until `pid` exits; its exit code (128 +
/// the signal when killed) and the signal.
fn wait_for(pid: i32) -> Result<(i32, Option<i32>), String> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live int waitpid writes to.
        let reaped = unsafe { libc::waitpid(-1, &mut status, 0) };
        if reaped < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("waiting for the container's process {pid}: {err}"));
        }
        if reaped != pid {
            continue; // An orphan of the container, reparented here.
        }
        if libc::WIFEXITED(status) {
            return Ok((libc::WEXITSTATUS(status), None));
        }
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            return Ok((128 + signal, Some(signal)));
        }
    }
}

/// Whether the container's memory cgroup recorded an OOM kill (cgroups v1's
/// `memory.oom_control`, v2's `memory.events`).
fn oom_killed(bundle: &Path) -> bool {
    let Some(cgroup) = fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["linux"]["cgroupsPath"].as_str().map(str::to_string))
    else {
        return false;
    };
    let relative = cgroup.trim_start_matches('/');
    let candidates = [
        Path::new("/sys/fs/cgroup/memory")
            .join(relative)
            .join("memory.oom_control"),
        Path::new("/sys/fs/cgroup")
            .join(relative)
            .join("memory.events"),
    ];
    candidates.iter().any(|path| {
        fs::read_to_string(path).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

/// Copies one output stream into the log, a CRI line per output line.
fn copy_stream(mut input: File, stream: &str, log: &Mutex<File>, hub: &attach::Hub, kind: u8) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        hub.broadcast(kind, &buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        let lines = split_lines(&mut pending, false);
        write_lines(log, stream, &lines);
    }
    let lines = split_lines(&mut pending, true);
    write_lines(log, stream, &lines);
}

/// Takes the complete lines (and over-long pieces) out of `pending`: `(text, partial)`.
/// At the end of the stream what is left is a last, full line.
pub(crate) fn split_lines(pending: &mut Vec<u8>, at_end: bool) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let rest = &pending[start..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(pos) if pos <= MAX_LOG_LINE => {
                out.push((rest[..pos].to_vec(), false));
                start += pos + 1;
            }
            _ if rest.len() > MAX_LOG_LINE => {
                out.push((rest[..MAX_LOG_LINE].to_vec(), true));
                start += MAX_LOG_LINE;
            }
            _ => break,
        }
    }
    if at_end && start < pending.len() {
        out.push((pending[start..].to_vec(), false));
        start = pending.len();
    }
    pending.drain(..start);
    out
}

fn write_lines(log: &Mutex<File>, stream: &str, lines: &[(Vec<u8>, bool)]) {
    if lines.is_empty() {
        return;
    }
    let timestamp = rfc3339(SystemTime::now());
    let mut text = Vec::new();
    for (line, partial) in lines {
        text.extend_from_slice(timestamp.as_bytes());
        text.push(b' ');
        text.extend_from_slice(stream.as_bytes());
        text.extend_from_slice(if *partial { b" P " } else { b" F " });
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let mut file = match log.lock() {
        Ok(file) => file,
        Err(poisoned) => poisoned.into_inner(),
    };
    // A full disk loses output rather than blocking the container on its pipe.
    let _ = file.write_all(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_newlines_and_at_the_size_limit() {
        let mut pending = b"one\ntwo\nthr".to_vec();
        assert_eq!(
            split_lines(&mut pending, false),
            vec![(b"one".to_vec(), false), (b"two".to_vec(), false)]
        );
        assert_eq!(pending, b"thr");
        assert_eq!(
            split_lines(&mut pending, true),
            vec![(b"thr".to_vec(), false)]
        );
        assert!(pending.is_empty());

        let mut long = vec![b'x'; MAX_LOG_LINE * 2 + 10];
        long.push(b'\n');
        let pieces = split_lines(&mut long, false);
        let shape: Vec<(usize, bool)> = pieces.iter().map(|(l, p)| (l.len(), *p)).collect();
        assert_eq!(
            shape,
            vec![(MAX_LOG_LINE, true), (MAX_LOG_LINE, true), (10, false)]
        );
        assert!(long.is_empty());

        // Exactly the limit, newline not yet seen: wait for it.
        let mut exact = vec![b'y'; MAX_LOG_LINE];
        assert!(split_lines(&mut exact, false).is_empty());
        exact.push(b'\n');
        assert_eq!(split_lines(&mut exact, false).len(), 1);
    }

    #[test]
    fn shim_arguments_round_trip() {
        let args = ShimArgs {
            runc: "/usr/sbin/runc".into(),
            runc_root: "/r".into(),
            bundle: "/b".into(),
            id: "c1".into(),
            log: "/l".into(),
            stdin: true,
            stdin_once: false,
            tty: true,
        };
        let strings: Vec<String> = args
            .to_args()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(ShimArgs::parse(&strings), Ok(args));
    }
}
