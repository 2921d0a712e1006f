//! Container logs in the CRI format, read as the kubelet reads them for
//! `GET /containerLogs`: one file per container attempt, each line an entry
//! `<RFC 3339 nanos> <stdout|stderr> <F|P>[:tags] <content>` where `P` marks a partial line
//! that the next entry continues. Reading honours kubelet's log options (follow, tailLines,
//! since, timestamps, limitBytes) and yields the output as a stream of byte chunks.
//!
//! Differences from kubelet, on purpose: `tailLines` and `since` count and filter whole
//! lines (a partial entry belongs to the line its `F` entry ends) where kubelet counts and
//! filters file entries, so a long line split by the runtime is never cut in two.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, FixedOffset, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

/// How often a followed file is looked at again when it has no new data: bounds the delay
/// before an appended line is sent (kubelet waits on inotify; polling keeps this portable).
pub const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// One read of the file going forward.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// The longest entry (file line) read: runtimes split lines at 16 KiB, so a longer entry
/// comes from a broken writer; it is skipped rather than buffered without end.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;
/// Output chunks queued between the file reader and the HTTP writer; beyond this the
/// reader waits (a slow client slows the reading, not the memory).
pub const STREAM_CHANNEL_CHUNKS: usize = 16;
/// One backward read while looking for where the last `tailLines` lines begin.
const TAIL_BLOCK_BYTES: usize = 64 * 1024;
/// Enough of an entry to read its timestamp, stream and tag (a timestamp with an offset
/// and nanoseconds is 35 bytes).
const ENTRY_HEAD_BYTES: usize = 128;

/// The file of one container attempt: `<root>/<namespace>_<pod>_<uid>/<container>/<attempt>.log`,
/// kubelet's layout.
pub fn container_log_path(
    root: &Path,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
    attempt: u32,
) -> PathBuf {
    pod_log_dir(root, namespace, pod, uid)
        .join(container)
        .join(format!("{attempt}.log"))
}

/// The directory of a pod's logs: `<root>/<namespace>_<pod>_<uid>`.
pub fn pod_log_dir(root: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{pod}_{uid}"))
}

/// kubelet's log options (`PodLogOptions` as the kubelet applies them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming appended lines until the container has finished.
    pub follow: bool,
    /// Only the last this many lines; `None` for all.
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this instant (`sinceSeconds` or `sinceTime`).
    pub since: Option<SystemTime>,
    /// Prefix each line with its RFC 3339 time (nanoseconds, trailing zeros trimmed) and a
    /// space.
    pub timestamps: bool,
    /// Stop after this many bytes of output (possibly mid-line); `None` for no limit.
    pub limit_bytes: Option<u64>,
}

/// The stream an entry was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One parsed entry (a line of the file, without its newline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub time: DateTime<FixedOffset>,
    pub stream: LogStream,
    /// `P`: the line continues in the next entry.
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses the head of an entry: timestamp, stream, tag. Returns them and where the
/// content starts (`line.len()` when there is none). `None` if malformed.
fn parse_head(line: &[u8]) -> Option<(DateTime<FixedOffset>, LogStream, bool, usize)> {
    let sp1 = line.iter().position(|&b| b == b' ')?;
    let ts = std::str::from_utf8(&line[..sp1]).ok()?;
    let time = DateTime::parse_from_rfc3339(ts).ok()?;
    let rest = &line[sp1 + 1..];
    let sp2 = rest.iter().position(|&b| b == b' ')?;
    let stream = match &rest[..sp2] {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return None,
    };
    let rest = &rest[sp2 + 1..];
    let (tag, content_at) = match rest.iter().position(|&b| b == b' ') {
        Some(sp3) => (&rest[..sp3], sp1 + 1 + sp2 + 1 + sp3 + 1),
        None => (rest, line.len()),
    };
    // Tags are `:`-separated; the first says whether the line is partial.
    let partial = match tag.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return None,
    };
    Some((time, stream, partial, content_at))
}

/// Parses one entry (a file line without its newline); `None` if malformed.
pub fn parse_entry(line: &[u8]) -> Option<Entry<'_>> {
    let (time, stream, partial, at) = parse_head(line)?;
    Some(Entry {
        time,
        stream,
        partial,
        content: &line[at.min(line.len())..],
    })
}

/// RFC 3339 with nanoseconds and trailing zeros trimmed (Go's `time.RFC3339Nano`, which
/// kubelet writes): `2024-05-01T10:00:00.5Z`, `2024-05-01T12:00:00+02:00`.
pub fn format_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    }
    out
}

/// An instant as the CRI format writes it (UTC, [`format_rfc3339_nano`]).
pub fn cri_timestamp(t: SystemTime) -> String {
    format_rfc3339_nano(&DateTime::<Utc>::from(t).fixed_offset())
}

/// One entry as a CRI log line (with its newline): what a runtime writes.
pub fn cri_line(t: SystemTime, stream: LogStream, partial: bool, content: &[u8]) -> Vec<u8> {
    let stream = match stream {
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
    };
    let tag = if partial { "P" } else { "F" };
    let mut out = format!("{} {stream} {tag} ", cri_timestamp(t)).into_bytes();
    out.extend_from_slice(content);
    out.push(b'\n');
    out
}

/// Turns entries into output: timestamps at line starts, `since` per line, `limitBytes`.
struct Render {
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    /// The next entry begins a line.
    at_line_start: bool,
    /// Whether the line being written passed `since`.
    include: bool,
    /// Bytes still allowed; `None` for no limit.
    remaining: Option<u64>,
}

impl Render {
    fn new(opts: &LogOptions) -> Render {
        Render {
            timestamps: opts.timestamps,
            since: opts.since.map(DateTime::<Utc>::from),
            at_line_start: true,
            include: true,
            remaining: opts.limit_bytes,
        }
    }

    fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Appends `bytes`, cut at the limit.
    fn emit(&mut self, out: &mut BytesMut, bytes: &[u8]) {
        let take = match self.remaining {
            None => bytes.len(),
            Some(r) => {
                let n = usize::try_from(r).unwrap_or(usize::MAX).min(bytes.len());
                self.remaining = Some(r - n as u64);
                n
            }
        };
        out.extend_from_slice(&bytes[..take]);
    }

    fn push(&mut self, e: &Entry<'_>, out: &mut BytesMut) {
        if self.at_line_start {
            self.include = self.since.is_none_or(|s| e.time >= s);
            if self.include && self.timestamps {
                let prefix = format!("{} ", format_rfc3339_nano(&e.time));
                self.emit(out, prefix.as_bytes());
            }
        }
        if self.include {
            self.emit(out, e.content);
            if !e.partial {
                self.emit(out, b"\n");
            }
        }
        self.at_line_start = !e.partial;
    }
}

/// Where reading starts so that the output holds the last `n` lines: the start of the
/// first entry after the `n`-th last full (`F`) entry that is followed by a valid entry,
/// or 0. A trailing run of partial entries counts as a line. Malformed entries are skipped.
fn tail_offset(file: &std::fs::File, len: u64, n: u64) -> io::Result<u64> {
    let mut count = 0u64;
    let mut valid_after = false;
    let mut head = [0u8; ENTRY_HEAD_BYTES];
    // Looks at the entry [start, end); returns the offset to start from once found.
    let mut visit = |start: u64, end: u64| -> io::Result<Option<u64>> {
        if start >= end {
            return Ok(None);
        }
        let size = usize::try_from(end - start)
            .unwrap_or(usize::MAX)
            .min(ENTRY_HEAD_BYTES);
        file.read_exact_at(&mut head[..size], start)?;
        let Some((_, _, partial, _)) = parse_head(&head[..size]) else {
            return Ok(None);
        };
        if !partial && valid_after {
            count += 1;
            if count == n {
                // The line after this entry starts after its newline.
                return Ok(Some(end + 1));
            }
        }
        valid_after = true;
        Ok(None)
    };
    let mut block = vec![0u8; TAIL_BLOCK_BYTES];
    let mut pos = len;
    let mut line_end = len;
    while pos > 0 {
        let start = pos.saturating_sub(TAIL_BLOCK_BYTES as u64);
        let size = (pos - start) as usize;
        file.read_exact_at(&mut block[..size], start)?;
        for i in (0..size).rev() {
            if block[i] == b'\n' {
                let nl = start + i as u64;
                if let Some(at) = visit(nl + 1, line_end)? {
                    return Ok(at);
                }
                line_end = nl;
            }
        }
        pos = start;
    }
    if let Some(at) = visit(0, line_end)? {
        return Ok(at);
    }
    Ok(0)
}

/// Where the last complete entry ends (after its newline), or 0.
fn end_of_complete(file: &std::fs::File, len: u64) -> io::Result<u64> {
    let mut block = vec![0u8; TAIL_BLOCK_BYTES];
    let mut pos = len;
    while pos > 0 {
        let start = pos.saturating_sub(TAIL_BLOCK_BYTES as u64);
        let size = (pos - start) as usize;
        file.read_exact_at(&mut block[..size], start)?;
        if let Some(i) = block[..size].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Streams a container's log file as `opts` asks. The file must exist (`NotFound`
/// otherwise). In follow mode the stream ends once `finished` says the container has
/// finished (or its sender is gone) and the file is drained; it also ends when the
/// receiver is dropped, when `limitBytes` is reached, or on a read error (logged).
pub async fn stream(
    path: &Path,
    opts: LogOptions,
    finished: watch::Receiver<bool>,
) -> io::Result<mpsc::Receiver<Bytes>> {
    let path = path.to_path_buf();
    let tail = opts.tail_lines;
    let follow = opts.follow;
    let (file, start, empty) = tokio::task::spawn_blocking(move || -> io::Result<_> {
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        let (start, empty) = match tail {
            None => (0, false),
            Some(0) if follow => (end_of_complete(&file, len)?, false),
            Some(0) => (len, true),
            Some(n) => (tail_offset(&file, len, n)?, false),
        };
        Ok((file, start, empty))
    })
    .await
    .map_err(io::Error::other)??;
    let (tx, rx) = mpsc::channel(STREAM_CHANNEL_CHUNKS);
    if empty || opts.limit_bytes == Some(0) {
        return Ok(rx);
    }
    let mut file = tokio::fs::File::from_std(file);
    file.seek(io::SeekFrom::Start(start)).await?;
    tokio::spawn(async move {
        if let Err(e) = pump(file, opts, finished, &tx).await {
            tracing::warn!(error = %e, "reading a container log");
        }
    });
    Ok(rx)
}

/// Reads entries from `file` onwards and sends their output until done.
async fn pump(
    mut file: tokio::fs::File,
    opts: LogOptions,
    mut finished: watch::Receiver<bool>,
    tx: &mpsc::Sender<Bytes>,
) -> io::Result<()> {
    let mut render = Render::new(&opts);
    let mut pending: Vec<u8> = Vec::new();
    // Inside an over-long entry: drop bytes up to its newline.
    let mut skipping = false;
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    // The container was seen finished: one more read to the end, then stop.
    let mut last_pass = false;
    loop {
        let n = file.read(&mut chunk).await?;
        if n > 0 {
            let mut out = BytesMut::new();
            let mut data = &chunk[..n];
            while let Some(i) = data.iter().position(|&b| b == b'\n') {
                let piece = &data[..i];
                data = &data[i + 1..];
                if skipping {
                    skipping = false;
                    continue;
                }
                let line: &[u8] = if pending.is_empty() {
                    piece
                } else {
                    pending.extend_from_slice(piece);
                    &pending
                };
                if line.len() <= MAX_ENTRY_BYTES {
                    match parse_entry(line) {
                        Some(e) => render.push(&e, &mut out),
                        None => tracing::debug!("skipping a malformed log entry"),
                    }
                } else {
                    tracing::debug!("skipping an over-long log entry");
                }
                pending.clear();
                if render.exhausted() {
                    break;
                }
            }
            if !render.exhausted() && !skipping {
                pending.extend_from_slice(data);
                if pending.len() > MAX_ENTRY_BYTES {
                    pending.clear();
                    skipping = true;
                }
            }
            if !out.is_empty() && tx.send(out.freeze()).await.is_err() {
                return Ok(());
            }
            if render.exhausted() {
                return Ok(());
            }
            continue;
        }
        // At the end of the file.
        if !opts.follow || last_pass {
            // An unterminated last entry is written out, as kubelet does.
            if !skipping && let Some(e) = parse_entry(&pending) {
                let mut out = BytesMut::new();
                render.push(&e, &mut out);
                if !out.is_empty() {
                    let _ = tx.send(out.freeze()).await;
                }
            }
            return Ok(());
        }
        if *finished.borrow_and_update() {
            last_pass = true;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL_INTERVAL) => {}
            changed = finished.changed() => {
                if changed.is_err() || *finished.borrow_and_update() {
                    last_pass = true;
                }
            }
            _ = tx.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const T0: &str = "2024-05-01T10:00:00.000000001Z";
    const T1: &str = "2024-05-01T10:00:01.5Z";
    const T2: &str = "2024-05-01T10:00:02.25Z";
    const T3: &str = "2024-05-01T10:00:03Z";

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("0.log");
        std::fs::write(&path, text).expect("write log");
        path
    }

    fn done() -> watch::Receiver<bool> {
        watch::channel(true).1
    }

    async fn collect(mut rx: mpsc::Receiver<Bytes>) -> String {
        let mut out = Vec::new();
        while let Some(b) = rx.recv().await {
            out.extend_from_slice(&b);
        }
        String::from_utf8(out).expect("utf-8")
    }

    async fn read(text: &str, opts: LogOptions) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, text);
        collect(stream(&path, opts, done()).await.expect("open")).await
    }

    fn at(ts: &str) -> SystemTime {
        SystemTime::from(DateTime::parse_from_rfc3339(ts).expect("time"))
    }

    fn sample() -> String {
        format!(
            "{T0} stdout F one\n{T1} stderr P tw\n{T1} stderr P o\n{T2} stderr F !\n{T3} stdout F three\n"
        )
    }

    #[test]
    fn the_path_is_kubelets_layout() {
        assert_eq!(
            container_log_path(Path::new("/var/log/pods"), "ns", "p", "u-1", "c", 2),
            PathBuf::from("/var/log/pods/ns_p_u-1/c/2.log")
        );
    }

    #[test]
    fn entries_parse_and_malformed_ones_do_not() {
        let e = parse_entry(b"2024-05-01T10:00:00Z stdout F hello world").expect("entry");
        assert_eq!(e.stream, LogStream::Stdout);
        assert!(!e.partial);
        assert_eq!(e.content, b"hello world");
        let e = parse_entry(b"2024-05-01T10:00:00Z stderr P:x ").expect("entry");
        assert!(e.partial);
        assert_eq!(e.content, b"");
        assert_eq!(
            parse_entry(b"2024-05-01T10:00:00Z stdout F").map(|e| e.content),
            Some(&b""[..])
        );
        for bad in [
            &b""[..],
            b"garbage",
            b"notatime stdout F x",
            b"2024-05-01T10:00:00Z stdin F x",
            b"2024-05-01T10:00:00Z stdout X x",
            b"2024-05-01T10:00:00Z stdout",
            b"\xff\xfe stdout F x",
        ] {
            assert!(parse_entry(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_format_as_go_rfc3339_nano() {
        let f = |s: &str| format_rfc3339_nano(&DateTime::parse_from_rfc3339(s).expect("time"));
        assert_eq!(
            f("2024-05-01T10:00:00.500000000Z"),
            "2024-05-01T10:00:00.5Z"
        );
        assert_eq!(f("2024-05-01T10:00:00Z"), "2024-05-01T10:00:00Z");
        assert_eq!(
            f("2024-05-01T10:00:00.000000001+00:00"),
            "2024-05-01T10:00:00.000000001Z"
        );
        assert_eq!(
            f("2024-05-01T12:00:00.120-05:30"),
            "2024-05-01T12:00:00.12-05:30"
        );
        let line = cri_line(at(T1), LogStream::Stderr, true, b"x");
        assert_eq!(line, format!("{T1} stderr P x\n").into_bytes());
    }

    #[tokio::test]
    async fn partial_lines_are_reassembled() {
        assert_eq!(
            read(&sample(), LogOptions::default()).await,
            "one\ntwo!\nthree\n"
        );
    }

    #[tokio::test]
    async fn timestamps_prefix_each_line_with_its_first_entrys_time() {
        let opts = LogOptions {
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            read(&sample(), opts).await,
            format!("{T0} one\n{T1} two!\n{T3} three\n")
        );
    }

    #[tokio::test]
    async fn tail_counts_whole_lines_across_partials() {
        let tail = |n| LogOptions {
            tail_lines: Some(n),
            ..Default::default()
        };
        assert_eq!(read(&sample(), tail(1)).await, "three\n");
        assert_eq!(read(&sample(), tail(2)).await, "two!\nthree\n");
        assert_eq!(read(&sample(), tail(3)).await, "one\ntwo!\nthree\n");
        assert_eq!(read(&sample(), tail(10)).await, "one\ntwo!\nthree\n");
        assert_eq!(read(&sample(), tail(0)).await, "");
        // A trailing run of partial entries is the last line.
        let text = format!("{T0} stdout F a\n{T1} stdout P b\n{T1} stdout P c\n");
        assert_eq!(read(&text, tail(1)).await, "bc");
        // Malformed entries neither count nor print.
        let text = format!("{T0} stdout F a\nbroken\n{T1} stdout F b\nbroken too\n");
        assert_eq!(read(&text, tail(1)).await, "b\n");
        assert_eq!(read(&text, tail(2)).await, "a\nb\n");
    }

    #[tokio::test]
    async fn tail_scans_back_across_blocks() {
        let mut text = String::new();
        let long = "x".repeat(1000);
        for i in 0..300 {
            text.push_str(&format!("{T0} stdout F {i} {long}\n"));
        }
        let out = read(
            &text,
            LogOptions {
                tail_lines: Some(150),
                ..Default::default()
            },
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 150);
        assert!(lines[0].starts_with("150 "), "{}", &lines[0][..10]);
        assert!(lines[149].starts_with("299 "));
    }

    #[tokio::test]
    async fn since_filters_whole_lines_by_their_first_entry() {
        let since = |t| LogOptions {
            since: Some(at(t)),
            ..Default::default()
        };
        assert_eq!(read(&sample(), since(T1)).await, "two!\nthree\n");
        // The line began before T2, so its last entry at T2 does not bring it back.
        assert_eq!(read(&sample(), since(T2)).await, "three\n");
        assert_eq!(read(&sample(), since("2030-01-01T00:00:00Z")).await, "");
    }

    #[tokio::test]
    async fn limit_bytes_cuts_the_output_mid_line() {
        let limit = |n| LogOptions {
            limit_bytes: Some(n),
            ..Default::default()
        };
        assert_eq!(read(&sample(), limit(6)).await, "one\ntw");
        assert_eq!(read(&sample(), limit(1)).await, "o");
        assert_eq!(read(&sample(), limit(1000)).await, "one\ntwo!\nthree\n");
        let opts = LogOptions {
            limit_bytes: Some(10),
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(read(&sample(), opts).await, &T0[..10]);
    }

    #[tokio::test]
    async fn malformed_and_over_long_entries_are_skipped() {
        let huge = "y".repeat(MAX_ENTRY_BYTES + 10);
        let text = format!(
            "junk\n{T0} stdout F a\n\n{T0} stdout F {huge}\n{T1} bogus F c\n\u{0}\u{1}\n{T2} stdout F d\n"
        );
        assert_eq!(read(&text, LogOptions::default()).await, "a\nd\n");
    }

    #[tokio::test]
    async fn an_unterminated_last_entry_is_read() {
        let text = format!("{T0} stdout F a\n{T1} stdout F b");
        assert_eq!(read(&text, LogOptions::default()).await, "a\nb\n");
    }

    #[tokio::test]
    async fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = stream(&dir.path().join("nope.log"), LogOptions::default(), done())
            .await
            .expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn follow_streams_appended_lines_and_ends_when_finished_and_drained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, &format!("{T0} stdout F first\n"));
        let (finish, finished) = watch::channel(false);
        let opts = LogOptions {
            follow: true,
            ..Default::default()
        };
        let mut rx = stream(&path, opts, finished).await.expect("open");
        assert_eq!(rx.recv().await.as_deref(), Some(&b"first\n"[..]));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        // Half an entry, then the rest: nothing until the newline arrives.
        f.write_all(format!("{T1} stdout P sec").as_bytes())
            .expect("write");
        f.write_all(b"ond\n").expect("write");
        f.write_all(format!("{T1} stdout F !\n").as_bytes())
            .expect("write");
        let mut got = Vec::new();
        while got != b"second!\n" {
            let b = rx.recv().await.expect("more output");
            got.extend_from_slice(&b);
        }
        // Written just before the container is reported finished: still sent.
        f.write_all(format!("{T2} stdout F last\n").as_bytes())
            .expect("write");
        finish.send(true).expect("send");
        assert_eq!(collect(rx).await, "last\n");
    }

    #[tokio::test]
    async fn follow_ends_when_the_finished_sender_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, &sample());
        let (finish, finished) = watch::channel(false);
        let opts = LogOptions {
            follow: true,
            tail_lines: Some(1),
            ..Default::default()
        };
        let rx = stream(&path, opts, finished).await.expect("open");
        drop(finish);
        assert_eq!(collect(rx).await, "three\n");
    }

    #[tokio::test]
    async fn follow_with_tail_zero_starts_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, &sample());
        let (finish, finished) = watch::channel(false);
        let opts = LogOptions {
            follow: true,
            tail_lines: Some(0),
            ..Default::default()
        };
        let mut rx = stream(&path, opts, finished).await.expect("open");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        f.write_all(format!("{T3} stdout F new\n").as_bytes())
            .expect("write");
        assert_eq!(rx.recv().await.as_deref(), Some(&b"new\n"[..]));
        finish.send(true).expect("send");
        assert_eq!(collect(rx).await, "");
    }
}
